package main

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/google/uuid"
)

// seedFiles creates n files in the database of dsn, the first downloads of
// them downloaded (file i downloads-i times, so they rank first, in
// order), and returns their ids, oldest first.
func seedFiles(t *testing.T, dsn string, n, downloads int) []string {
	t.Helper()
	ctx := t.Context()
	// Seeding is not about the deadline: a transaction of 500 files
	// outlasted the default 3s with both cores busy.
	repo, err := sqlstore.Open(ctx, dsn, sqlstore.Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	ids := make([]string, n)
	now := time.Now().Add(-time.Hour)
	// Transactions of 500 files.
	for lo := 0; lo < n; lo += 500 {
		err = repo.WithTx(ctx, func(tx files.Tx) error {
			for i := lo; i < min(lo+500, n); i++ {
				ids[i] = uuid.NewString()
				f := files.NewFile{Name: fmt.Sprintf("warm-%05d.bin", i), Size: int64(i + 1),
					ContentType: "application/octet-stream", Checksum: e2eSHA256Hex(ids[i])}
				// Distinct creation times: the ranking's ties go newest first.
				if _, err := tx.CreateFile(ctx, f, ids[i], "192.0.2.1", now.Add(time.Duration(i)*time.Millisecond)); err != nil {
					return err
				}
				if i < downloads {
					if _, err := tx.RecordDownloads(ctx, ids[i], downloads-i, nil, now); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

var warmedLine = regexp.MustCompile(`^warmed (\d+) files: (\d+) loaded, (\d+) already cached, in (\S+)\n$`)

// TestWarmCommand warms 5,000 of 5,200 files: past the ranking's page size
// (500) and the old cap (1,000), within --rate, and a second run loads
// nothing.
func TestWarmCommand(t *testing.T) {
	const (
		total = 5200
		limit = 5000
		rate  = 5000 // database loads a second
	)
	dsn := sqltest.PostgresDSN(t)
	ids := seedFiles(t, dsn, total, 50)
	r := redistest.Standalone(t)
	env := map[string]string{"DATABASE_URL": dsn, "REDIS_URL": r.URL(), "CACHE_PREFIX": "warm:"}

	start := time.Now()
	out, err := cliOutput(t, env, "warm", "--limit", strconv.Itoa(limit), "--rate", strconv.Itoa(rate))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("warm: %v\n%s", err, out)
	}
	t.Logf("first run, %v: %s", elapsed.Round(time.Millisecond), out)
	m := warmedLine.FindStringSubmatch(out)
	if m == nil || m[1] != "5000" || m[2] != "5000" || m[3] != "0" {
		t.Fatalf("first warm printed %q, want 5000 files, 5000 loaded, 0 already cached", out)
	}
	// Each file is three loads (the record and its two views), each page
	// of the ranking one more: at 5000 a second, no less than 3 s.
	loads := 3*limit + limit/500
	if minimum := time.Duration(float64(loads-1) / rate * float64(time.Second)); elapsed < minimum {
		t.Errorf("%d loads took %v, less than %v: more than --rate %d a second", loads, elapsed, minimum, rate)
	}

	rc := redisClient(t, r)
	for _, pat := range []string{"warm:file:info:*", "warm:file:meta:*"} {
		if n := len(redisKeys(t, rc, pat)); n != limit {
			t.Errorf("%d keys match %s, want %d", n, pat, limit)
		}
	}
	// The most downloaded file is warm; the oldest never-downloaded one,
	// last in the ranking, is not.
	for id, want := range map[string]int64{ids[0]: 1, ids[50]: 0} {
		if n, err := redisDo(t, rc, "EXISTS", "warm:file:"+id).AsInt64(); err != nil || n != want {
			t.Errorf("EXISTS warm:file:%s = %d, %v; want %d", id, n, err, want)
		}
	}

	out, err = cliOutput(t, env, "warm", "--limit", strconv.Itoa(limit), "--rate", strconv.Itoa(rate))
	if err != nil {
		t.Fatalf("second warm: %v\n%s", err, out)
	}
	t.Logf("second run: %s", out)
	if m := warmedLine.FindStringSubmatch(out); m == nil || m[1] != "5000" || m[2] != "0" || m[3] != "5000" {
		t.Errorf("second warm printed %q, want 5000 files, 0 loaded, 5000 already cached", out)
	}

	// More than there are: all of them, and a clear count.
	out, err = cliOutput(t, env, "warm", "--limit", "20000", "--rate", "0")
	if err != nil {
		t.Fatalf("warm --limit 20000: %v\n%s", err, out)
	}
	if m := warmedLine.FindStringSubmatch(out); m == nil || m[1] != "5200" || m[2] != "200" || m[3] != "5000" {
		t.Errorf("warm --limit 20000 printed %q, want 5200 files, 200 loaded, 5000 already cached", out)
	}
}

// TestWarmOnStart starts serve with CACHE_WARM_ON_START: it listens at
// once, and the most downloaded files are in Redis soon after.
func TestWarmOnStart(t *testing.T) {
	dsn := sqltest.PostgresDSN(t)
	ids := seedFiles(t, dsn, 30, 10)
	r := redistest.Standalone(t)
	p := startServe(t, map[string]string{"DATABASE_URL": dsn, "REDIS_URL": r.URL(),
		"CACHE_PREFIX": "ws:", "CACHE_WARM_ON_START": "10"})
	rc := redisClient(t, r)
	deadline := time.Now().Add(30 * time.Second)
	for len(p.logged("cache warmed")) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no \"cache warmed\" in 30s; log:\n%v", p.log.snapshot())
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%v", p.logged("cache warmed"))
	for i, id := range ids {
		want := int64(0)
		if i < 10 {
			want = 1
		}
		if n, err := redisDo(t, rc, "EXISTS", "ws:file:"+id, "ws:file:info:"+id, "ws:file:meta:"+id).AsInt64(); err != nil || n != 3*want {
			t.Errorf("file %d (%d downloads): %d of its 3 keys cached, %v; want %d", i, max(10-i, 0), n, err, 3*want)
		}
	}
}

// TestWarmEndpointInBackground: a warming longer than the request waits
// answers 202 with its progress and goes on; another one meanwhile is 409;
// once it ended, the next answers 200 with everything cached.
func TestWarmEndpointInBackground(t *testing.T) {
	dsn := sqltest.PostgresDSN(t)
	seedFiles(t, dsn, 600, 0)
	_, _, b := privateRedis(t)
	b.dsn = func(testing.TB) string { return dsn }
	s := startE2EServer(t, b, nil)
	s.app.warms.mu.Lock()
	s.app.warms.wait = 200 * time.Millisecond // instead of warmWait: 10s
	s.app.warms.mu.Unlock()

	type warm struct {
		Files   int     `json:"files"`
		Loaded  int     `json:"loaded"`
		Cached  int     `json:"already_cached"`
		Running bool    `json:"running"`
		Took    float64 `json:"duration_ms"`
	}
	// 500 files, 1,500 loads at 500 a second: 3 s.
	w := decodeAs[warm](t, s.admin(t, "POST", "/admin/cache/warm?limit=500&rate=500", nil), http.StatusAccepted)
	if !w.Running || w.Files >= 500 {
		t.Fatalf("a 3-s warming after 200ms: %+v, want running with part of the files", w)
	}
	wantError(t, s.admin(t, "POST", "/admin/cache/warm?limit=10", nil), http.StatusConflict, "conflict")
	// The next warming, of cached files, is waited for in full: on a busy
	// machine it outlasts 200ms too.
	s.app.warms.mu.Lock()
	s.app.warms.wait = time.Minute
	s.app.warms.mu.Unlock()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := s.admin(t, "POST", "/admin/cache/warm?limit=500&rate=0", nil)
		if r.status == http.StatusConflict {
			if time.Now().After(deadline) {
				t.Fatal("the warming still runs after 60s")
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		w = decodeAs[warm](t, r, http.StatusOK)
		break
	}
	if w.Running || w.Files != 500 || w.Cached != 500 {
		t.Fatalf("warming again once the first ended: %+v, want 500 files, all already cached", w)
	}
}
