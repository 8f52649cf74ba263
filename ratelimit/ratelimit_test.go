package ratelimit_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/nostore"
	"github.com/filecache/filecache/ratelimit"
)

func newLimiter(tb testing.TB, ctr ratelimit.Counter, limit int, opts ratelimit.Options) *ratelimit.Limiter {
	tb.Helper()
	l, err := ratelimit.New(ctr, limit, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// counters are the stores the service runs the limiter on.
func counters(t *testing.T) []struct {
	name string
	new  func(t *testing.T) ratelimit.Counter
} {
	return []struct {
		name string
		new  func(t *testing.T) ratelimit.Counter
	}{
		{"memstore", func(t *testing.T) ratelimit.Counter { return newMem(t) }},
		{"redis", func(t *testing.T) ratelimit.Counter { _, s := newRedis(t); return s }},
		{"breaker+redis", func(t *testing.T) ratelimit.Counter {
			_, s := newRedis(t)
			return breaker.New(s, breaker.Options{})
		}},
	}
}

// TestCounters checks IncrBy on every store: counts add up, the window
// starts with the first add and is not extended, and a new window starts
// once it expired.
func TestCounters(t *testing.T) {
	for _, tc := range counters(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctr := tc.new(t)
			ctx := t.Context()
			const window = 300 * time.Millisecond
			n, ttl, err := ctr.IncrBy(ctx, "c", 5, window)
			if err != nil || n != 5 || ttl <= 0 || ttl > window {
				t.Fatalf("first IncrBy = %d, %v, %v; want 5 within %v", n, ttl, err, window)
			}
			n, ttl2, err := ctr.IncrBy(ctx, "c", 3, time.Hour)
			if err != nil || n != 8 || ttl2 > ttl {
				t.Fatalf("second IncrBy = %d, %v, %v; want 8 within the first window (%v)", n, ttl2, err, ttl)
			}
			if _, _, err := ctr.IncrBy(ctx, "c", 0, window); err == nil {
				t.Fatal("IncrBy accepted n = 0")
			}
			// The window ends: the next add starts a new one.
			deadline := time.Now().Add(10 * time.Second)
			for {
				n, ttl, err = ctr.IncrBy(ctx, "c", 1, time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("count %d: the window never expired", n)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if ttl <= time.Second || ttl > time.Minute {
				t.Fatalf("new window's ttl %v, want the minute", ttl)
			}
		})
	}
	t.Run("breaker+nostore", func(t *testing.T) {
		s := breaker.New(nostore.Store{}, breaker.Options{})
		if _, _, err := s.IncrBy(t.Context(), "c", 1, time.Minute); !errors.Is(err, breaker.ErrNoCounter) {
			t.Fatalf("IncrBy through a store without counters: %v, want ErrNoCounter", err)
		}
	})
}

// TestAllowAlone: one limiter alone admits exactly the limit, in chunks,
// with exact headers, and keys the counter under the cache's prefix.
func TestAllowAlone(t *testing.T) {
	const limit, chunk = 25, 4
	for _, tc := range counters(t) {
		t.Run(tc.name, func(t *testing.T) {
			ctr := tc.new(t)
			keys := cache.Keyspace{Prefix: "app1:"}
			l := newLimiter(t, ctr, limit, ratelimit.Options{Chunk: chunk, Keys: keys})
			start := time.Now()
			var reset time.Time
			for i := 1; i <= limit+5; i++ {
				info, ok, err := l.Allow(t.Context(), "203.0.113.7")
				if err != nil {
					t.Fatal(err)
				}
				want := ratelimit.Info{Limit: limit, Remaining: max(0, limit-i)}
				if ok != (i <= limit) || info.Limit != want.Limit || info.Remaining != want.Remaining {
					t.Fatalf("request %d: %+v ok=%v; want %+v ok=%v", i, info, ok, want, i <= limit)
				}
				if !info.Reset.After(start) || info.Reset.After(time.Now().Add(time.Minute)) {
					t.Fatalf("request %d: reset %v, want within the minute from %v", i, info.Reset, start)
				}
				if i > 1 && info.Reset.After(reset) {
					t.Fatalf("request %d: reset moved later, from %v to %v", i, reset, info.Reset)
				}
				reset = info.Reset
			}
			// The shared counter holds the slots handed out: the limit,
			// in chunks, and nothing for the refused requests.
			k, _ := keys.Key(ratelimit.Family, "203.0.113.7")
			if n, _, err := ctr.IncrBy(t.Context(), k, 1, time.Minute); err != nil || n != limit+1 {
				t.Fatalf("counter %s = %d, %v; want %d", k, n-1, err, limit)
			}
			if info, ok, err := l.Allow(t.Context(), "198.51.100.1"); err != nil || !ok || info.Remaining != limit-1 {
				t.Fatalf("another client: %+v ok=%v err=%v; want a budget of its own", info, ok, err)
			}
		})
	}
}

// instanceResult is one answer of one instance.
type instanceResult struct {
	instance int
	info     ratelimit.Info
	ok       bool
}

// TestInstancesShareLimit runs several limiters (instances, each with its
// own Redis client) on one Redis and one client IP: together they admit
// exactly the limit, the first refusal comes after at least
// limit - (instances-1)·(chunk-1) admissions, and each instance's headers
// are consistent.
func TestInstancesShareLimit(t *testing.T) {
	const limit = 100
	for _, tc := range []struct {
		instances, chunk int
		concurrent       bool
	}{
		{2, 10, false},
		{3, 7, false},
		{2, 10, true},
		{4, 9, true},
	} {
		t.Run(fmt.Sprintf("instances=%d,chunk=%d,concurrent=%v", tc.instances, tc.chunk, tc.concurrent), func(t *testing.T) {
			srv, _ := newRedis(t)
			ls := make([]*ratelimit.Limiter, tc.instances)
			for i := range ls {
				ls[i] = newLimiter(t, connect(t, srv), limit, ratelimit.Options{Chunk: tc.chunk})
			}
			start := time.Now()
			var results []instanceResult
			if tc.concurrent {
				results = hammer(t, ls)
			} else {
				results = roundRobin(t, ls, 3*limit)
			}
			admitted, firstRefusal := 0, -1
			last := make([]*instanceResult, len(ls))
			for i, r := range results {
				if r.ok {
					admitted++
				} else if firstRefusal < 0 {
					firstRefusal = i
				}
				if r.info.Limit != limit || r.info.Remaining < 0 || (!r.ok && r.info.Remaining != 0) {
					t.Fatalf("answer %d of instance %d: %+v ok=%v", i, r.instance, r.info, r.ok)
				}
				if !r.info.Reset.After(start) || r.info.Reset.After(time.Now().Add(time.Minute)) {
					t.Fatalf("answer %d: reset %v not within the window", i, r.info.Reset)
				}
				if p := last[r.instance]; p != nil && r.info.Remaining > p.info.Remaining {
					t.Fatalf("instance %d: remaining rose from %d to %d", r.instance, p.info.Remaining, r.info.Remaining)
				}
				last[r.instance] = &results[i]
			}
			if admitted != limit {
				t.Fatalf("admitted %d, want exactly the limit %d", admitted, limit)
			}
			if bound := limit - (tc.instances-1)*(tc.chunk-1); !tc.concurrent && firstRefusal < bound {
				t.Fatalf("first refusal after %d admissions, bound %d", firstRefusal, bound)
			}
			// Every instance saw the same window, from the same counter.
			for i, r := range last {
				if d := r.info.Reset.Sub(last[0].info.Reset).Abs(); d > 2*time.Second {
					t.Fatalf("instance %d's reset is %v off instance 0's", i, d)
				}
			}
		})
	}
}

// roundRobin sends n requests of one client to the instances in turn.
func roundRobin(t *testing.T, ls []*ratelimit.Limiter, n int) []instanceResult {
	var out []instanceResult
	for i := range n {
		info, ok, err := ls[i%len(ls)].Allow(t.Context(), "192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, instanceResult{i % len(ls), info, ok})
	}
	return out
}

// hammer asks every instance from a goroutine of its own until it refuses,
// and returns the answers in the order each instance gave them.
func hammer(t *testing.T, ls []*ratelimit.Limiter) []instanceResult {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		out  []instanceResult
		errs atomic.Int64
	)
	for i, l := range ls {
		wg.Go(func() {
			for {
				info, ok, err := l.Allow(t.Context(), "192.0.2.1")
				if err != nil {
					errs.Add(1)
					return
				}
				mu.Lock()
				out = append(out, instanceResult{i, info, ok})
				mu.Unlock()
				if !ok {
					return
				}
			}
		})
	}
	wg.Wait()
	if errs.Load() > 0 {
		t.Fatalf("%d errors", errs.Load())
	}
	return out
}

// TestRemainingAcrossInstances: an instance that starts after another has
// spent whole chunks sees the shared count in RateLimit-Remaining.
func TestRemainingAcrossInstances(t *testing.T) {
	srv, _ := newRedis(t)
	a := newLimiter(t, connect(t, srv), 100, ratelimit.Options{Chunk: 10})
	b := newLimiter(t, connect(t, srv), 100, ratelimit.Options{Chunk: 10})
	for range 50 {
		if _, ok, err := a.Allow(t.Context(), "192.0.2.1"); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if info, ok, err := b.Allow(t.Context(), "192.0.2.1"); !ok || err != nil || info.Remaining != 49 {
		t.Fatalf("other instance: %+v ok=%v err=%v; want remaining 100 - 51 = 49", info, ok, err)
	}
}

// TestFastPath counts the Redis commands behind the limiter: one script
// (3 commands) per chunk of a client, none for the requests in between and
// none for refusals once the window's slots are all handed out.
func TestFastPath(t *testing.T) {
	_, s := newRedis(t)
	l := newLimiter(t, s, 600, ratelimit.Options{}) // chunk 60
	before := commands(t, s.Client())
	for range 700 {
		if _, _, err := l.Allow(t.Context(), "192.0.2.1"); err != nil {
			t.Fatal(err)
		}
	}
	const clients, each = 50, 120
	for range each {
		for c := range clients {
			if _, ok, err := l.Allow(t.Context(), fmt.Sprintf("10.0.0.%d", c)); !ok || err != nil {
				t.Fatal(ok, err)
			}
		}
	}
	after := commands(t, s.Client())
	// 600/60 = 10 reservations, then 100 refusals without a round trip;
	// 2 reservations per other client.
	if got, want := after["incrby"]-before["incrby"], int64(10+clients*each/60); got != want {
		t.Fatalf("%d INCRBY, want %d", got, want)
	}
	requests := 700 + clients*each
	if n := limiterCommands(before, after); float64(n)/float64(requests) > 0.1 {
		t.Fatalf("%d commands for %d requests: %.3f per request, want <= 0.1", n, requests, float64(n)/float64(requests))
	}
}

// TestRedisKilled kills the private Redis under the limiter (through the
// breaker, as the service runs it): every request is still answered, each
// client limited by the instance alone, and once Redis is back new windows
// are counted there again.
func TestRedisKilled(t *testing.T) {
	srv, s := newRedis(t)
	br := breaker.New(s, breaker.Options{OpenTimeout: 100 * time.Millisecond, Probes: 1})
	var failures atomic.Int64
	var sawOpen atomic.Bool
	l := newLimiter(t, br, 10, ratelimit.Options{Chunk: 3, OnError: func(err error) {
		failures.Add(1)
		if errors.Is(err, breaker.ErrOpen) {
			sawOpen.Store(true)
		}
	}})
	ctx := t.Context()
	allow := func(ip string) (ratelimit.Info, bool) {
		t.Helper()
		info, ok, err := l.Allow(ctx, ip)
		if err != nil {
			t.Fatalf("%s: %v, want an answer without Redis", ip, err)
		}
		return info, ok
	}
	// A known client: 4 requests reserve slots 1-6 in Redis.
	for range 4 {
		allow("192.0.2.1")
	}
	srv.Kill()
	// It spends its 2 reserved slots, then counts alone the 4 slots it knew
	// were left: 10 in all, then it is refused.
	for i := 5; i <= 12; i++ {
		info, ok := allow("192.0.2.1")
		if ok != (i <= 10) || info.Remaining != max(0, 10-i) {
			t.Fatalf("request %d with Redis down: %+v ok=%v", i, info, ok)
		}
	}
	// New clients: each gets the whole limit from this instance, until the
	// breaker opens and beyond.
	for c := range 8 {
		ip := fmt.Sprintf("198.51.100.%d", c)
		for i := 1; i <= 11; i++ {
			if info, ok := allow(ip); ok != (i <= 10) || info.Remaining != max(0, 10-i) {
				t.Fatalf("%s request %d with Redis down: %+v ok=%v", ip, i, info, ok)
			}
		}
	}
	if failures.Load() != 9 || !sawOpen.Load() || br.State() != breaker.Open {
		t.Fatalf("%d failures reported, open seen %v, breaker %v; want 9, true, open", failures.Load(), sawOpen.Load(), br.State())
	}
	srv.Restart(t)
	// Once the breaker closes, new windows reserve from Redis again.
	deadline := time.Now().Add(15 * time.Second)
	for c := 0; ; c++ {
		ip := fmt.Sprintf("203.0.113.%d", c%250)
		before := failures.Load()
		allow(ip)
		if failures.Load() == before {
			k, _ := cache.Keyspace{}.Key(ratelimit.Family, ip)
			if n, _, err := s.IncrBy(ctx, k, 1, time.Minute); err != nil || n != 4 {
				t.Fatalf("counter of %s after recovery = %d, %v; want 3 + 1", ip, n, err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the limiter never reached Redis again (breaker %v)", br.State())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestMaxClients: the per-client state stays bounded.
func TestMaxClients(t *testing.T) {
	l := newLimiter(t, newMem(t), 10, ratelimit.Options{MaxClients: 100})
	for c := range 5000 {
		if _, ok, err := l.Allow(t.Context(), fmt.Sprintf("10.1.%d.%d", c/250, c%250)); !ok || err != nil {
			t.Fatal(ok, err)
		}
	}
	if n := ratelimit.Clients(l); n > 100 {
		t.Fatalf("%d clients kept, want at most 100", n)
	}
}

func TestInvalidKey(t *testing.T) {
	l := newLimiter(t, newMem(t), 10, ratelimit.Options{})
	for _, key := range []string{"", "a\x00b"} {
		if _, _, err := l.Allow(t.Context(), key); !errors.Is(err, cache.ErrInvalidKey) {
			t.Errorf("Allow(%q): %v, want ErrInvalidKey", key, err)
		}
	}
}

func TestNew(t *testing.T) {
	m := newMem(t)
	for _, tc := range []struct {
		name  string
		ctr   ratelimit.Counter
		limit int
		opts  ratelimit.Options
	}{
		{"nil counter", nil, 10, ratelimit.Options{}},
		{"zero limit", m, 0, ratelimit.Options{}},
		{"short window", m, 10, ratelimit.Options{Window: time.Millisecond}},
		{"negative chunk", m, 10, ratelimit.Options{Chunk: -1}},
		{"negative MaxClients", m, 10, ratelimit.Options{MaxClients: -1}},
	} {
		if _, err := ratelimit.New(tc.ctr, tc.limit, tc.opts); err == nil {
			t.Errorf("%s: New accepted it", tc.name)
		}
	}
}
