package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// readyState is the part of GET /readyz the start-up tests read.
type readyState struct {
	Status string `json:"status"`
	Checks struct {
		Store       string   `json:"store"`
		Breaker     string   `json:"breaker"`
		CacheReads  string   `json:"cache_reads"`
		Redis       string   `json:"redis"`
		RedisMemory []string `json:"redis_memory"`
	} `json:"checks"`
}

func (p *process) ready(t *testing.T) (int, readyState) {
	t.Helper()
	status, _, body := p.do(t, "GET", "/readyz", "")
	var r readyState
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("/readyz: %v: %s", err, body)
	}
	return status, r
}

// logged returns the lines of p's log whose message contains msg.
func (p *process) logged(msg string) []string {
	var out []string
	for _, l := range p.log.snapshot() {
		var rec struct {
			Msg string `json:"msg"`
		}
		if json.Unmarshal([]byte(l), &rec) == nil && strings.Contains(rec.Msg, msg) {
			out = append(out, l)
		}
	}
	return out
}

// warnings counts the WARN and ERROR lines of p's log.
func (p *process) warnings() int {
	n := 0
	for _, l := range p.log.snapshot() {
		if strings.Contains(l, `"level":"WARN"`) || strings.Contains(l, `"level":"ERROR"`) {
			n++
		}
	}
	return n
}

// TestServeStartsWithoutRedis starts serve while its Redis is down: it
// must start, say so in the log and /readyz, answer reads from the
// database, log the outage in a few aggregated lines, and, once a real
// redis-server starts on the configured port, connect by itself, replay
// the outbox and answer the same reads from the cache (X-Cache: hit).
func TestServeStartsWithoutRedis(t *testing.T) {
	srv := redistest.Standalone(t)
	srv.Kill() // the port is known; nothing listens there until Restart
	p := launchServe(t, map[string]string{
		"DATABASE_URL":       sqltest.SQLiteDSN(t),
		"REDIS_URL":          srv.URL(),
		"REDIS_DIAL_TIMEOUT": "500ms",
		"CACHE_PREFIX":       "startup",
		"ADMIN_TOKEN":        "startup-admin-token-0123",
		// The rate limiter counts locally while Redis is down: on, it must
		// not fail requests nor log per request.
		"RATE_LIMIT_PER_MINUTE": "100000",
	})
	if len(p.logged("Redis unreachable at start-up")) == 0 {
		t.Errorf("the log does not say that Redis is unreachable:\n%s", strings.Join(p.log.snapshot(), "\n"))
	}
	status, r := p.ready(t)
	if status != http.StatusOK || !strings.HasPrefix(r.Checks.Redis, "connecting") || r.Checks.Breaker != "open" {
		t.Errorf("/readyz with Redis down: %d %+v; want 200, redis connecting, breaker open", status, r)
	}

	// Reads and writes are answered from the database meanwhile.
	status, _, body := p.do(t, "POST", "/v1/files", `{"name":"while-down.txt","size":1}`)
	if status != http.StatusCreated {
		t.Fatalf("POST with Redis down: %d %s", status, body)
	}
	var f fileJSON
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	// Its invalidation waits in the outbox: cache reads stay suspended
	// until the relay has delivered it to Redis.
	if _, r := p.ready(t); r.Checks.CacheReads != "suspended" {
		t.Errorf("/readyz after a write with Redis down: %+v; want cache reads suspended", r)
	}
	warnBefore := p.warnings()
	const outageReads = 300
	outageStart := time.Now()
	for range outageReads {
		got, xcache := p.getFile(t, f.ID)
		if got.Name != "while-down.txt" || strings.HasPrefix(xcache, "hit") {
			t.Fatalf("GET with Redis down: %+v X-Cache %q; want the file from the database", got, xcache)
		}
	}
	outage := time.Since(outageStart)

	srv.Restart(t)
	restarted := time.Now()
	var xcache string
	for !strings.HasPrefix(xcache, "hit") {
		if time.Since(restarted) > time.Minute {
			_, r := p.ready(t)
			t.Fatalf("no cache hit a minute after Redis started (last X-Cache %q, /readyz %+v)", xcache, r)
		}
		time.Sleep(20 * time.Millisecond)
		_, xcache = p.getFile(t, f.ID) // fails the test on anything but 200
	}
	t.Logf("first X-Cache %s %v after redis-server started", xcache, time.Since(restarted).Round(time.Millisecond))

	// The breaker closes after its half-open probes succeed, which a near
	// hit (no Redis call) does not wait for.
	testenv.Eventually(t, 30*time.Second, func() error {
		status, r := p.ready(t)
		if status != http.StatusOK || r.Checks.Redis != "connected" || r.Checks.Breaker != "closed" || r.Checks.CacheReads != "admitted" || r.Checks.Store != "redis standalone" {
			return fmt.Errorf("/readyz after Redis started: %d %+v; want redis connected, breaker closed, cache reads admitted", status, r)
		}
		return nil
	})
	if len(p.logged("connected to Redis in the background")) == 0 {
		t.Error("the log does not say that Redis connected")
	}
	status, _, body = p.do(t, "GET", "/admin/cache/stats", "", "Authorization", "Bearer startup-admin-token-0123")
	var st struct {
		Outbox struct {
			Pending int `json:"pending"`
		} `json:"outbox"`
	}
	if err := json.Unmarshal(body, &st); status != http.StatusOK || err != nil || st.Outbox.Pending != 0 {
		t.Errorf("/admin/cache/stats: %d %s; want the outbox replayed", status, body)
	}

	// The outage logged a few aggregated lines, not one per request.
	n, since := p.warnings()-warnBefore, time.Since(outageStart)
	t.Logf("%d reads in %v with Redis down, then its return: %d warning lines in %v", outageReads, outage.Round(time.Millisecond), n, since.Round(time.Millisecond))
	if n > 3+3*int(since/time.Second) {
		t.Errorf("%d warning lines in %v; want a few aggregated lines:\n%s", n, since.Round(time.Millisecond), strings.Join(p.log.snapshot(), "\n"))
	}
}
