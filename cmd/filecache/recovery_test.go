package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// tcpProxy forwards connections to a target until Cut, which closes every
// connection and refuses new ones: a database that goes away, a fault the
// real PostgreSQL cannot produce on demand without disturbing other tests.
type tcpProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
}

func newTCPProxy(t *testing.T, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target}
	t.Cleanup(p.Cut)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

// Cut closes the listener and every connection.
func (p *tcpProxy) Cut() {
	p.ln.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// TestDatabaseDownServesStale cuts the database away while entries are
// cached: reads of cached files keep answering, with the value past its TTL
// marked stale (X-Cache: stale and a Warning), instead of errors; a read of
// an uncached file is 503 with Retry-After, and /readyz reports the database.
func TestDatabaseDownServesStale(t *testing.T) {
	dsn, err := url.Parse(sqltest.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	proxy := newTCPProxy(t, dsn.Host)
	dsn.Host = proxy.ln.Addr().String()
	backend := e2eBackend{
		name: "postgres-via-proxy/standalone",
		dsn:  func(testing.TB) string { return dsn.String() },
		redis: func(t testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": testenv.Require(t, redistest.EnvRedisURL)}
		},
	}
	s := startE2EServer(t, backend, map[string]string{
		"CACHE_TTL_FILE":   "500ms",
		"CACHE_TTL_JITTER": "0",
		"CACHE_FAIL_SAFE":  "1h",
	})
	f := s.create(t, files.NewFile{Name: "kept.txt", Size: 1, ContentType: "text/plain"})
	s.get(t, f.ID) // cached now

	proxy.Cut()
	// The 500ms TTL passes: the value is served stale.
	testenv.Eventually(t, 10*time.Second, func() error {
		got, r := s.get(t, f.ID) // 200 throughout: fresh, then stale
		if got.Version != f.Version || got.Name != "kept.txt" {
			t.Fatalf("served %+v", got)
		}
		if xc := r.header.Get("X-Cache"); xc != "stale" {
			return errors.New("not served stale yet; X-Cache " + xc)
		}
		if w := r.header.Get("Warning"); !strings.Contains(w, "110") {
			t.Fatalf("stale answer without a Warning: %q", w)
		}
		return nil
	})
	r := s.do(t, "GET", "/v1/files/"+files.NewID(), nil)
	wantError(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.header.Get("Retry-After") == "" {
		t.Fatal("503 without Retry-After")
	}
	if r := s.do(t, "GET", "/readyz", nil); r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with the database down = %d", r.status)
	}
}

// TestOutboxReplayedAfterCrash kills the service between a commit and its
// invalidation (a fault injected with FILECACHE_FAILPOINT): Redis keeps the
// old value, the outbox keeps the invalidation, and the next instance
// replays it before it serves, so the old value is never served.
func TestOutboxReplayedAfterCrash(t *testing.T) {
	env := map[string]string{
		"DATABASE_URL":          sqltest.PostgresDSN(t),
		"REDIS_URL":             testenv.Require(t, redistest.EnvRedisURL),
		"CACHE_PREFIX":          "crash" + e2eRandomHex(4) + ":",
		"RATE_LIMIT_PER_MINUTE": "0",
	}
	a := startServe(t, env)
	f := a.createFile(t, "v1.txt", 1)
	// Cached: on a busy machine a store can time out, so read until a hit.
	testenv.Eventually(t, 10*time.Second, func() error {
		if _, xc := a.getFile(t, f.ID); xc != "hit" && xc != "hit-local" {
			return fmt.Errorf("read X-Cache %q, want a hit", xc)
		}
		return nil
	})
	a.stop(t)

	crashEnv := map[string]string{"FILECACHE_FAILPOINT": "exit-after-commit"}
	for k, v := range env {
		crashEnv[k] = v
	}
	b := startServe(t, crashEnv)
	req, _ := http.NewRequestWithContext(t.Context(), "PATCH", b.base+"/v1/files/"+f.ID, strings.NewReader(`{"name":"v2.txt"}`))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PATCH on the crashing instance answered %d", resp.StatusCode)
	}
	<-b.exited
	var exit *exec.ExitError
	if !errors.As(b.err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("crashing instance exited with %v, want status 3", b.err)
	}

	// The commit is durable, its invalidation pending, Redis still stale.
	repo, err := sqlstore.Open(t.Context(), env["DATABASE_URL"], sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer repo.Close()
	if pending, err := repo.Pending(t.Context(), 10, time.Now().Add(time.Hour)); err != nil || len(pending) != 1 {
		t.Fatalf("outbox after the crash: %v, %v; want one pending entry", pending, err)
	}
	opts, err := redisstore.ParseURL(env["REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	rs := redisstoretest.Open(t, opts)
	raw, err := rs.Get(t.Context(), env["CACHE_PREFIX"]+"file:"+f.ID)
	if err != nil || !strings.Contains(string(raw), "v1.txt") {
		t.Fatalf("Redis after the crash holds %q, %v; want the old v1\nfirst instance:\n%s\ncrashing instance:\n%s", raw, err, a.tail(40), b.tail(40))
	}

	c := startServe(t, env)
	got, _ := c.getFile(t, f.ID)
	if got.Name != "v2.txt" {
		t.Fatalf("the next instance served %q, want the committed v2.txt", got.Name)
	}
	if pending, err := repo.Pending(t.Context(), 10, time.Now().Add(time.Hour)); err != nil || len(pending) != 0 {
		t.Fatalf("outbox after the replay: %v, %v; want empty", pending, err)
	}
}

// TestCacheDisabled: with CACHE_DISABLED every read goes to the database.
func TestCacheDisabled(t *testing.T) {
	s := startE2EServer(t, e2eBackend{name: "sqlite/none", dsn: sqltest.SQLiteDSN}, map[string]string{"CACHE_DISABLED": "true"})
	f := s.create(t, files.NewFile{Name: "a.txt", Size: 1, ContentType: "text/plain"})
	for range 3 {
		_, r := s.get(t, f.ID)
		if r.header.Get("X-Cache") != "miss" {
			t.Fatalf("X-Cache %q with the cache disabled", r.header.Get("X-Cache"))
		}
		// Rate limits live in the cache: off, and not announced.
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if v := r.header.Get(h); v != "" {
				t.Fatalf("%s: %q with the cache disabled", h, v)
			}
		}
	}
	if r := s.do(t, "GET", "/readyz", nil); !strings.Contains(string(r.body), "CACHE_DISABLED") {
		t.Fatalf("readyz does not say the cache is off: %s", r.body)
	}
}

// TestRedisRestartLosesDeletes: Redis dies and comes back from a snapshot
// taken before a write's delete, as a restart from an AOF misses its last
// second or a lagging replica that takes over misses its master's last
// writes: the value the write replaced is back in Redis, and nothing would
// remove it before its TTL. Neither instance may serve it: losing their
// connections suspends their cache reads until the invalidations of the
// last seconds are delivered again (outbox.Relay.MarkLost). No request is
// in flight meanwhile, so no breaker opens; without a near cache there is
// no tracking connection either, and the lost command connections alone
// must tell.
func TestRedisRestartLosesDeletes(t *testing.T) {
	for _, tc := range []struct {
		name, nearSize, warm string
	}{
		{"near", "", "hit-local"},
		{"redis-only", "0", "hit"},
	} {
		t.Run(tc.name, func(t *testing.T) { testRedisRestartLosesDeletes(t, tc.nearSize, tc.warm) })
	}
}

func testRedisRestartLosesDeletes(t *testing.T, nearSize, warm string) {
	srv, rc, _ := privateRedis(t)
	// The instances reach Redis through a proxy, cut while Redis restarts,
	// so that the test sees what Redis came back with before they do.
	px := faultproxy.New(t, srv.Addr())
	env := map[string]string{
		"DATABASE_URL":          sqltest.PostgresDSN(t),
		"REDIS_URL":             "redis://" + px.Addr() + "/0",
		"CACHE_PREFIX":          "restart:",
		"RATE_LIMIT_PER_MINUTE": "0",
	}
	if nearSize != "" {
		env["CACHE_NEAR_SIZE"] = nearSize
	}
	a, b := startServe(t, env), startServe(t, env)
	f := a.createFile(t, "v1.txt", 1)
	for _, p := range []*process{a, b} {
		testenv.Eventually(t, 10*time.Second, func() error {
			if _, xc := p.getFile(t, f.ID); xc != warm {
				return fmt.Errorf("X-Cache %q on %s, want %s", xc, p.base, warm)
			}
			return nil
		})
	}
	if err := redisDo(t, rc, "SAVE").Error(); err != nil {
		t.Fatal(err)
	}
	if status, _, body := a.do(t, "PATCH", "/v1/files/"+f.ID, `{"name":"v2.txt"}`); status != http.StatusOK {
		t.Fatalf("PATCH = %d %s", status, body)
	}

	px.Cut()
	srv.Kill()
	srv.Restart(t)
	key := env["CACHE_PREFIX"] + "file:" + f.ID
	var raw string
	testenv.Eventually(t, 10*time.Second, func() error { // the test's client reconnects
		var err error
		raw, err = redisDo(t, rc, "GET", key).ToString()
		return err
	})
	if !strings.Contains(raw, "v1.txt") {
		t.Fatalf("Redis restarted with %q at %s; want the v1 of its snapshot", raw, key)
	}
	px.Forward()

	// Every read answers v2; both instances get back to their cache.
	for _, p := range []*process{a, b} {
		testenv.Eventually(t, 30*time.Second, func() error {
			got, xc := p.getFile(t, f.ID)
			if got.Name != "v2.txt" {
				t.Fatalf("%s served %q (X-Cache %s) after Redis came back; want the acknowledged v2.txt\n%s", p.base, got.Name, xc, p.tail(20))
			}
			if xc != "hit" && xc != "hit-local" {
				return fmt.Errorf("X-Cache %q on %s, want a hit", xc, p.base)
			}
			return nil
		})
	}
}
