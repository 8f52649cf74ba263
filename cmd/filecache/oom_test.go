package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/promtest"
)

// TestRedisOutOfMemory runs the service on a Redis that refuses every
// write for memory (maxmemory reached, noeviction): cached files still
// answer hit, uncached ones are loaded and answered (not stored), writes
// go through and invalidate (deletes are allowed), the refused writes are
// counted, and the breaker stays closed; once memory is back, values are
// stored again.
func TestRedisOutOfMemory(t *testing.T) {
	_, rc, b := privateRedis(t)
	// The lag guard of the near cache is not what this test is about.
	s := startE2EServer(t, b, map[string]string{"CACHE_NEAR_MAX_LAG": "1m"})
	cached := s.create(t, files.NewFile{Name: "cached.txt", Size: 1, ContentType: "text/plain"})
	s.get(t, cached.ID) // stored now
	for _, kv := range [][2]string{{"maxmemory-policy", "noeviction"}, {"maxmemory", "1"}} {
		if err := redisDo(t, rc, "CONFIG", "SET", kv[0], kv[1]).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if err := redisDo(t, rc, "SET", "oom:probe", "x").Error(); err == nil || !strings.Contains(err.Error(), "OOM") {
		t.Fatalf("SET with maxmemory 1: %v, want an OOM reply", err)
	}

	start := time.Now()
	var hits, loads int
	for i := 0; i < 200 || time.Since(start) < 2*time.Second; i++ {
		_, r := s.get(t, cached.ID)
		wantCache(t, r, "hit", "hit-local")
		hits++
		if i%20 == 0 { // a file Redis cannot take
			f := s.create(t, files.NewFile{Name: "new.txt", Size: 1, ContentType: "text/plain"})
			got, r := s.get(t, f.ID)
			wantCache(t, r, "miss")
			if got.ID != f.ID {
				t.Fatalf("GET of a file created under OOM: %+v", got)
			}
			loads++
		}
	}
	// A write of the cached file: the delete goes through, the next read
	// loads the new version (and cannot store it).
	r := s.do(t, "PATCH", "/v1/files/"+cached.ID, map[string]any{"name": "renamed.txt"})
	wantStatus(t, r, http.StatusOK)
	if got, r := s.get(t, cached.ID); got.Name != "renamed.txt" {
		t.Fatalf("GET after a PATCH under OOM: %+v (X-Cache %s), want the new name", got, r.header.Get("X-Cache"))
	}

	st := readOK[adminStatsJSON](t, s.admin(t, "GET", "/admin/cache/stats", nil))
	if st.Breaker != "closed" {
		t.Fatalf("breaker %q under OOM, want closed: error replies are not outages", st.Breaker)
	}
	m := promtest.Scrape(t, s.Config.Handler)
	refused := m[`cache_refused_writes_total{family="file"}`]
	if refused < 1 {
		t.Fatalf("cache_refused_writes_total{family=\"file\"} = %v, want the refused stores counted", refused)
	}
	wantStatus(t, s.do(t, "GET", "/readyz", nil), http.StatusOK)
	t.Logf("Redis out of memory for %v: %d reads of a cached file all hit, %d uncached files loaded and answered, %v writes refused (counted), breaker closed",
		time.Since(start).Round(time.Millisecond), hits, loads, refused)

	// Memory back: the next miss stores again (after the pause on refused
	// writes).
	if err := redisDo(t, rc, "CONFIG", "SET", "maxmemory", "256mb").Error(); err != nil {
		t.Fatal(err)
	}
	f := s.create(t, files.NewFile{Name: "after.txt", Size: 1, ContentType: "text/plain"})
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, r := s.get(t, f.ID)
		if x := r.header.Get("X-Cache"); x == "hit" || x == "hit-local" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no hit 30s after Redis has memory again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
