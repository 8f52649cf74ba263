package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

// hangSlack is what an answer may take beyond DB_TIMEOUT on a loaded
// machine; without deadlines these requests hang as long as the fault.
const hangSlack = 4 * time.Second

// proxiedPostgresBackend is PostgreSQL reached through a fault proxy (its
// connections marked with an application_name of their own), with the
// shared standalone Redis.
func proxiedPostgresBackend(t *testing.T) (e2eBackend, *faultproxy.Proxy, func() int) {
	t.Helper()
	dsn, p, backends := sqltest.ProxiedPostgres(t, "filecache-dbhang-"+e2eRandomHex(4))
	b := e2eBackend{
		name: "postgres-via-proxy/standalone",
		dsn:  func(testing.TB) string { return dsn },
		redis: func(t testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": testenv.Require(t, redistest.EnvRedisURL)}
		},
	}
	return b, p, backends
}

// timed sends a request and returns its answer and how long it took.
func (s *e2eServer) timed(t *testing.T, method, path string, body any, admin bool) (e2eResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	var r e2eResponse
	if admin {
		r = s.admin(t, method, path, body)
	} else {
		r = s.do(t, method, path, body)
	}
	return r, time.Since(start)
}

// wantUnavailable fails t unless r is 503 with Retry-After, answered
// within timeout+hangSlack.
func wantUnavailable(t *testing.T, r e2eResponse, took, timeout time.Duration) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("%v: 503 without Retry-After", r)
	}
	if took > timeout+hangSlack {
		t.Fatalf("%v answered after %v; want within DB_TIMEOUT %v", r, took, timeout)
	}
}

// adminStatsJSON is GET /admin/cache/stats as the fault tests read it.
type adminStatsJSON struct {
	Hits     *uint64 `json:"hits"`
	Families []struct {
		Family string `json:"family"`
	} `json:"families"`
	Outbox struct {
		Pending *int   `json:"pending"`
		Error   string `json:"error"`
	} `json:"outbox"`
	Breaker     string `json:"breaker"`
	RedisMemory []struct {
		Node      string `json:"node"`
		UsedBytes *int64 `json:"used_memory_bytes"`
		Error     string `json:"error"`
	} `json:"redis_memory"`
}

// TestDatabaseHangs freezes PostgreSQL behind a proxy (established
// connections included) under a running service: writes answer 503 with
// Retry-After within DB_TIMEOUT; 200 concurrent writes keep the database
// connections within the pool's bound and leave no goroutine behind; cached
// reads keep answering; the admin endpoints answer what they can; and when
// the proxy forwards again everything works without a restart.
func TestDatabaseHangs(t *testing.T) {
	const (
		timeout = time.Second
		writers = 200
		pool    = sqlstore.DefaultMaxOpenConns
	)
	b, proxy, backends := proxiedPostgresBackend(t)
	s := startE2EServer(t, b, map[string]string{"DB_TIMEOUT": timeout.String()})
	f := s.create(t, files.NewFile{Name: "kept.txt", Size: 1, ContentType: "text/plain"})
	s.get(t, f.ID) // cached now
	readOK[adminStatsJSON](t, s.admin(t, "GET", "/admin/cache/stats", nil))

	proxy.Hang()
	r, took := s.timed(t, "PATCH", "/v1/files/"+f.ID, map[string]any{"name": "lost.txt"}, false)
	wantUnavailable(t, r, took, timeout)
	t.Logf("PATCH while PostgreSQL hangs: %d after %v (DB_TIMEOUT %v)", r.status, took.Round(time.Millisecond), timeout)

	r, took = s.timed(t, "POST", "/admin/cache/warm", nil, true)
	wantUnavailable(t, r, took, timeout)
	r, took = s.timed(t, "GET", "/admin/cache/stats", nil, true)
	st := readOK[adminStatsJSON](t, r)
	if st.Outbox.Error != "database unavailable" || st.Outbox.Pending != nil || st.Hits == nil || len(st.Families) == 0 || len(st.RedisMemory) == 0 || st.RedisMemory[0].UsedBytes == nil {
		t.Fatalf("stats while PostgreSQL hangs: %s; want the cache side, and the outbox marked", r.body)
	}
	if took > timeout+hangSlack {
		t.Fatalf("stats answered after %v", took)
	}
	if r := s.do(t, "GET", "/readyz", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz while PostgreSQL hangs: %v", r)
	}

	// 200 writes at once, each on a connection of its own.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	defer client.CloseIdleConnections()
	s.Client().CloseIdleConnections()
	before, connsBefore := runtime.NumGoroutine(), proxy.Conns()
	proxy.ResetPeak()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		slowest time.Duration
		bad     []string
		peakG   int
	)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			mu.Lock()
			peakG = max(peakG, runtime.NumGoroutine())
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	for i := range writers {
		wg.Go(func() {
			body := fmt.Sprintf(`{"name":"w%d.txt","size":1,"content_type":"text/plain"}`, i)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/v1/files", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			t0 := time.Now()
			resp, err := client.Do(req)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			slowest = max(slowest, d)
			if err != nil {
				bad = append(bad, err.Error())
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
				bad = append(bad, fmt.Sprintf("status %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After")))
			}
		})
	}
	// Cached reads go on meanwhile.
	_, cached := s.get(t, f.ID)
	wantCache(t, cached, "hit", "hit-local")
	wg.Wait()
	all := time.Since(start)
	close(stop)
	<-sampled
	if len(bad) > 0 {
		t.Fatalf("%d of %d writes while PostgreSQL hangs were not 503 + Retry-After: %q", len(bad), writers, bad[:min(len(bad), 5)])
	}
	if slowest > timeout+hangSlack {
		t.Fatalf("the slowest of %d writes took %v; want within DB_TIMEOUT %v", writers, slowest, timeout)
	}
	// The pool holds `pool` live connections; a connection interrupted by
	// its deadline is closed for the pool at once, but pgx's clean-up (a
	// cancel request, then Terminate) keeps up to two sockets for up to
	// 15 s while the server does not answer: 3 per pool slot at most,
	// however many writers.
	peakConns, server := proxy.PeakConns(), backends()
	if peakConns > 3*pool || server > 3*pool { // server: the backends whose start-up got through
		t.Fatalf("%d writes: %d connections through the proxy at once, %d PostgreSQL backends; want at most %d (pool %d)",
			writers, peakConns, server, 3*pool, pool)
	}
	t.Logf("%d concurrent POSTs while PostgreSQL hangs: all 503 + Retry-After within %v (slowest %v); %d connections to PostgreSQL at most (pool %d); goroutines %d before, %d at the peak (client and server)",
		writers, all.Round(time.Millisecond), slowest.Round(time.Millisecond), peakConns, pool, before, peakG)

	// The proxy forwards again: the same process serves, the stats read
	// the outbox, and every goroutine of the storm is gone (pgx's clean-up
	// of the interrupted connections included).
	proxy.Forward()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := s.do(t, "PATCH", "/v1/files/"+f.ID, map[string]any{"name": "after.txt"})
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PATCH after PostgreSQL answers again: %v", r)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got, _ := s.get(t, f.ID); got.Name != "after.txt" {
		t.Fatalf("GET after recovery: %+v", got)
	}
	st = readOK[adminStatsJSON](t, s.admin(t, "GET", "/admin/cache/stats", nil))
	if st.Outbox.Error != "" || st.Outbox.Pending == nil {
		t.Fatalf("stats after recovery: outbox %+v", st.Outbox)
	}
	wantStatus(t, s.admin(t, "POST", "/admin/cache/warm", nil), http.StatusOK)
	wantStatus(t, s.do(t, "GET", "/readyz", nil), http.StatusOK)
	client.CloseIdleConnections()
	s.Client().CloseIdleConnections()
	// The pool may keep more connections than before the storm (at most
	// `pool`), and the proxy runs 4 goroutines per connection: those are
	// the test's, not the service's.
	deadline = time.Now().Add(20 * time.Second)
	for {
		allowed := before + 4*(proxy.Conns()-connsBefore) + 20
		if runtime.NumGoroutine() <= allowed {
			break
		}
		if time.Now().After(deadline) {
			var stacks strings.Builder
			_ = pprof.Lookup("goroutine").WriteTo(&stacks, 1)
			t.Fatalf("goroutines %d after recovery, want at most %d (%d before the storm):\n%s", runtime.NumGoroutine(), allowed, before, stacks.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The pool, and the relay's LISTEN connection of its own. A backend
	// whose client pgx closed during the hang exits once PostgreSQL
	// notices, which a busy machine delays: the count must come down to
	// that, not be there at once.
	testenv.Eventually(t, 20*time.Second, func() error {
		if n := backends(); n > pool+1 {
			return fmt.Errorf("%d PostgreSQL backends after recovery; the pool holds %d, the relay's listener 1", n, pool)
		}
		return nil
	})
}

// TestDatabaseHangsStale freezes PostgreSQL behind a proxy while a cached
// file is past its TTL: every read answers the stale value (X-Cache:
// stale) within the soft timeout, not after DB_TIMEOUT or the hard
// timeout, through the load that times out and the throttle after it; the
// value stays in Redis; when the proxy forwards again, reads are fresh.
func TestDatabaseHangsStale(t *testing.T) {
	const (
		ttl      = time.Second
		soft     = 100 * time.Millisecond
		hard     = 5 * time.Second // the most it may be (the lease)
		throttle = 2 * time.Second
		// What a read may take beyond the soft timeout on a loaded
		// machine: well under the hard timeout, which a read that did not
		// honour the soft timeout would wait.
		slack = 2 * time.Second
	)
	b, proxy, _ := proxiedPostgresBackend(t)
	srv, rc, _ := privateRedis(t)
	b.redis = func(testing.TB) map[string]string { return map[string]string{"REDIS_URL": srv.URL()} }
	s := startE2EServer(t, b, map[string]string{
		"CACHE_PREFIX": "hang:", "CACHE_TTL_FILE": ttl.String(), "CACHE_TTL_JITTER": "0",
		"CACHE_SOFT_TIMEOUT": soft.String(), "CACHE_HARD_TIMEOUT": hard.String(),
		"CACHE_FAIL_SAFE_THROTTLE": throttle.String(),
		// Longer than the whole fault: only the soft timeout can answer.
		"DB_TIMEOUT": "30s",
	})
	f := s.create(t, files.NewFile{Name: "kept.txt", Size: 1, ContentType: "text/plain"})
	_, r := s.get(t, f.ID)
	wantCache(t, r, "miss")
	cachedAt := time.Now()
	time.Sleep(ttl + 200*time.Millisecond - time.Since(cachedAt)) // the event is the expiry

	proxy.Hang()
	hung := time.Now()
	var reads int
	var slowest time.Duration
	// Past the hard timeout (the load fails) and into the throttle.
	for time.Since(hung) < hard+throttle/2 || reads < 3 {
		got, r, took := func() (files.FileMetadata, e2eResponse, time.Duration) {
			start := time.Now()
			got, r := s.get(t, f.ID)
			return got, r, time.Since(start)
		}()
		reads++
		slowest = max(slowest, took)
		wantCache(t, r, "stale")
		if diff := cmp.Diff(f, got); diff != "" {
			t.Fatalf("read %d while PostgreSQL hangs (-want +got):\n%s", reads, diff)
		}
		if took > soft+slack {
			t.Fatalf("read %d while PostgreSQL hangs answered after %v; want within the soft timeout %v", reads, took, soft)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("PostgreSQL hanging: %d reads in %v of a file past its TTL, all stale, slowest %v (soft timeout %v, hard %v, DB_TIMEOUT 30s)",
		reads, time.Since(hung).Round(time.Millisecond), slowest.Round(time.Millisecond), soft, hard)
	if n, err := redisDo(t, rc, "EXISTS", "hang:file:"+f.ID).AsInt64(); err != nil || n != 1 {
		t.Fatalf("EXISTS hang:file:%s after the failed loads = %d, %v; want the stale value kept", f.ID, n, err)
	}

	proxy.Forward()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, r := s.get(t, f.ID)
		if x := r.header.Get("X-Cache"); x != "stale" {
			wantCache(t, r, "miss", "hit", "hit-local")
			if diff := cmp.Diff(f, got); diff != "" {
				t.Fatalf("after the fault (-want +got):\n%s", diff)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still stale 30s after PostgreSQL answers again")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
