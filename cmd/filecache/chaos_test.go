package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// load is a bounded read/write workload against one process that checks
// every answer: no request may fail, and no read may return a version older
// than the last one acknowledged for that file before the read started.
type load struct {
	p       *process
	ids     []string
	acked   []atomic.Int64 // per file: the newest version acknowledged
	ok      atomic.Int64
	hits    atomic.Int64
	stale   atomic.Int64 // reads older than an acknowledged write
	mu      sync.Mutex
	failure []string // the first failures, for the report
	failed  atomic.Int64
}

func (l *load) fail(format string, args ...any) {
	l.failed.Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failure) < 10 {
		l.failure = append(l.failure, fmt.Sprintf(format, args...))
	}
}

// request does one call without t (it runs on worker goroutines).
func (l *load) request(ctx context.Context, method, path, body string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, l.p.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

// file sends one request that must answer 200 with a file; a failure is
// recorded and ok is false. A request cut short by the end of the load is
// not a failure.
func (l *load) file(ctx context.Context, method, path, body string) (f fileJSON, h http.Header, ok bool) {
	status, h, b, err := l.request(ctx, method, path, body)
	if ctx.Err() != nil {
		return f, h, false
	}
	if err == nil && status == http.StatusOK {
		err = json.Unmarshal(b, &f)
	}
	if err != nil || status != http.StatusOK {
		l.fail("%s %s: %d %v %s", method, path, status, err, b)
		return f, h, false
	}
	return f, h, true
}

func (l *load) read(ctx context.Context) {
	i := rand.IntN(len(l.ids))
	floor := l.acked[i].Load()
	f, h, ok := l.file(ctx, "GET", "/v1/files/"+l.ids[i], "")
	if !ok {
		return
	}
	if f.Version < floor {
		l.stale.Add(1)
		l.fail("GET %s: version %d after version %d was acknowledged (X-Cache %s)", l.ids[i], f.Version, floor, h.Get("X-Cache"))
	}
	l.ok.Add(1)
	if xc := h.Get("X-Cache"); xc == "hit" || xc == "hit-local" {
		l.hits.Add(1)
	}
}

func (l *load) write(ctx context.Context) {
	i := rand.IntN(len(l.ids))
	f, _, ok := l.file(ctx, "PATCH", "/v1/files/"+l.ids[i], fmt.Sprintf(`{"name":"n%d.txt"}`, rand.IntN(1e6)))
	if !ok {
		return
	}
	for {
		cur := l.acked[i].Load()
		if f.Version <= cur || l.acked[i].CompareAndSwap(cur, f.Version) {
			break
		}
	}
	l.ok.Add(1)
}

// run drives readers readers and one writer (one write per 20 ms) until ctx
// ends.
func (l *load) run(ctx context.Context, readers int) *sync.WaitGroup {
	var wg sync.WaitGroup
	for range readers {
		wg.Go(func() {
			for ctx.Err() == nil {
				l.read(ctx)
			}
		})
	}
	wg.Go(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				l.write(ctx)
			}
		}
	})
	return &wg
}

// window measures the hit ratio of the reads made during d.
func (l *load) window(d time.Duration) (ratio float64, reads int64) {
	h0, r0 := l.hits.Load(), l.ok.Load()
	time.Sleep(d) // a measurement window, not a synchronisation
	h, r := l.hits.Load()-h0, l.ok.Load()-r0
	if r == 0 {
		return 0, 0
	}
	return float64(h) / float64(r), r
}

func newLoad(t *testing.T, p *process, files int) *load {
	t.Helper()
	l := &load{p: p, acked: make([]atomic.Int64, files)}
	for i := range files {
		f := p.createFile(t, fmt.Sprintf("f%d.txt", i), i)
		l.ids = append(l.ids, f.ID)
		l.acked[i].Store(f.Version)
	}
	return l
}

// chaosLoad starts serve on the Redis of redisVar=redisVal and a fresh
// PostgreSQL schema, creates 200 files, and drives 16 readers and a writer
// until stop, which also waits for them; the test's cleanup stops them too.
func chaosLoad(t *testing.T, redisVar, redisVal string) (*process, *load, func()) {
	t.Helper()
	p := startServe(t, map[string]string{
		"DATABASE_URL":          sqltest.PostgresDSN(t),
		redisVar:                redisVal,
		"RATE_LIMIT_PER_MINUTE": "0",
		"REDIS_READ_TIMEOUT":    "250ms",
	})
	l := newLoad(t, p, 200)
	ctx, cancel := context.WithCancel(t.Context())
	wg := l.run(ctx, 16)
	stop := sync.OnceFunc(func() {
		cancel()
		wg.Wait()
	})
	t.Cleanup(stop)
	return p, l, stop
}

// awaitReady polls /readyz until cond holds on its report, and returns how
// long that took.
func (p *process) awaitReady(t *testing.T, within time.Duration, what string, cond func(breaker, reads string) bool) time.Duration {
	t.Helper()
	start := time.Now()
	testenv.Eventually(t, within, func() error {
		_, _, body := p.do(t, "GET", "/readyz", "")
		var r struct {
			Checks struct {
				Breaker    string `json:"breaker"`
				CacheReads string `json:"cache_reads"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatalf("readyz: %v %s", err, body)
		}
		if !cond(r.Checks.Breaker, r.Checks.CacheReads) {
			return fmt.Errorf("%s has not happened: readyz %s", what, body)
		}
		return nil
	})
	return time.Since(start)
}

// TestChaosRedisKilled kills the Redis of a serving instance under load,
// keeps the load on, restarts Redis (with its data: AOF), and checks that no
// request failed, the breaker opened and closed, no update made during the
// outage was served stale afterwards (the outbox replay), and the hit ratio
// came back to at least 90% of what it was.
func TestChaosRedisKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: seconds of load")
	}
	srv := redistest.Standalone(t, "--appendonly", "yes", "--appendfsync", "always")
	p, l, stop := chaosLoad(t, "REDIS_URL", srv.URL())

	l.window(time.Second) // warm up
	before, n := l.window(2 * time.Second)
	t.Logf("before the fault: hit ratio %.3f over %d requests", before, n)

	srv.Kill()
	opened := p.awaitReady(t, 10*time.Second, "breaker open", func(b, _ string) bool { return b == "open" })
	during, n := l.window(3 * time.Second)
	t.Logf("Redis killed: breaker open after %v; during the outage hit ratio %.3f over %d requests", opened, during, n)

	srv.Restart(t)
	closed := p.awaitReady(t, 30*time.Second, "breaker closed and reads readmitted", func(b, r string) bool {
		return b == "closed" && r == "admitted"
	})
	t.Logf("Redis restarted: breaker closed and outbox replayed after %v", closed)
	start := time.Now()
	var after float64
	for {
		after, n = l.window(time.Second)
		if after >= 0.9*before || time.Since(start) > 30*time.Second {
			break
		}
	}
	t.Logf("after recovery: hit ratio %.3f over %d requests, %v after the breaker closed", after, n, time.Since(start))
	stop()
	t.Logf("total: %d requests answered, %d failed, %d stale reads", l.ok.Load(), l.failed.Load(), l.stale.Load())
	if l.failed.Load() != 0 {
		t.Fatalf("%d requests failed: %v", l.failed.Load(), l.failure)
	}
	if after < 0.9*before {
		t.Fatalf("hit ratio %.3f after recovery, want at least 90%% of %.3f", after, before)
	}
}

// TestChaosClusterMasterKilled kills a master of a 3+3 Cluster under load:
// no request fails while its replica is promoted.
func TestChaosClusterMasterKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test: seconds of load")
	}
	cl := redistest.Cluster(t)
	p, l, stop := chaosLoad(t, "REDIS_CLUSTER_NODES", strings.Join(cl.Addrs(), ","))
	before, n := l.window(2 * time.Second)
	t.Logf("before the fault: hit ratio %.3f over %d requests", before, n)

	cl.Masters(t)[0].Kill()
	start := time.Now()
	cl.WaitClusterOK(t, 30*time.Second)
	t.Logf("replica promoted after %v", time.Since(start))
	p.awaitReady(t, 30*time.Second, "breaker closed", func(b, r string) bool { return b == "closed" && r == "admitted" })
	after, n := l.window(2 * time.Second)
	t.Logf("after the failover: hit ratio %.3f over %d requests", after, n)
	stop()
	t.Logf("total: %d requests answered, %d failed, %d stale reads", l.ok.Load(), l.failed.Load(), l.stale.Load())
	if l.failed.Load() != 0 {
		t.Fatalf("%d requests failed: %v", l.failed.Load(), l.failure)
	}
}
