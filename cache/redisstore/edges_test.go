package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

// The faults of a real Redis at the edges: error replies that are answers,
// commands that ran after their client gave up, a server that is gone.

func redisCLI(t testing.TB, srv *redistest.Server, args ...string) string {
	t.Helper()
	out, err := exec.Command("redis-cli", append([]string{"-p", fmt.Sprint(srv.Port())}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("redis-cli %v: %v: %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

type doc struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// newDocs builds a Cache on s and its family name of docs, failing the test
// on an error.
func newDocs(t *testing.T, s cache.Store, opts cache.Options, name string, fopts cache.FamilyOptions[doc]) (*cache.Cache, *cache.Family[doc]) {
	t.Helper()
	c, err := cache.New(s, opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, name, fopts)
	if err != nil {
		t.Fatal(err)
	}
	return c, f
}

func loadDoc(_ context.Context, id string) (doc, error) { return doc{ID: id, Name: "loaded"}, nil }

// TestDeleteTagRetriedAfterTimeout: a tag invalidation whose first attempt
// times out while Redis holds writes (CLIENT PAUSE WRITE), with tracking
// on, so that rueidis leaves the timed-out commands to run later, is
// retried and leaves no tagged value readable.
func TestDeleteTagRetriedAfterTimeout(t *testing.T) {
	srv := redistest.Standalone(t)
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 100 * time.Millisecond, MaxRetries: -1, Track: []string{"search:"}})
	c, search := newDocs(t, s, cache.Options{NearSize: 100}, "search", cache.FamilyOptions[doc]{Tags: []string{"files"}, Near: true})
	ctx := t.Context()
	for i := range 50 {
		if _, err := search.GetOrLoad(ctx, fmt.Sprint("q", i), loadDoc); err != nil {
			t.Fatal(err)
		}
	}
	redisCLI(t, srv, "CLIENT", "PAUSE", "1500", "WRITE")
	if _, err := c.InvalidateTags(ctx, "files"); err == nil {
		t.Fatal("the invalidation succeeded while Redis held writes; the test needs it to time out")
	}
	// Retried until the pause ends, as the outbox relay would.
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, err := c.InvalidateTags(ctx, "files")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retried invalidation never succeeded: %v", err)
		}
	}
	for i := range 50 {
		if v, err := search.Get(ctx, fmt.Sprint("q", i)); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("q%d = %+v, %v after the retried invalidation; want it gone", i, v, err)
		}
	}
}

// TestForeignValueAtTagKey: a key of another type at a tag's index (SET
// tag:{files} x) is foreign data, deleted on the next use: reads, writes and
// invalidations of the tagged family go on.
func TestForeignValueAtTagKey(t *testing.T) {
	s := redisstoretest.Open(t, redisstoretest.StandaloneOptions(t))
	p := fmt.Sprintf("fv%d:", time.Now().UnixNano())
	c, search := newDocs(t, s, cache.Options{Prefix: p}, "search", cache.FamilyOptions[doc]{Tags: []string{"files"}})
	ctx := t.Context()
	if err := s.Set(ctx, p+"tag:{files}", []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	v, origin, err := search.Fetch(ctx, "q", loadDoc)
	if err != nil || v.Name != "loaded" || origin != cache.OriginLoad {
		t.Fatalf("Fetch with a foreign tag key = %+v, %v, %v", v, origin, err)
	}
	if _, origin, err := search.Fetch(ctx, "q", loadDoc); err != nil || origin != cache.OriginStore {
		t.Fatalf("second Fetch = %v, %v; want a hit: the value was stored", origin, err)
	}
	if err := s.Set(ctx, p+"tag:{files}", []byte("x"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := c.InvalidateTags(ctx, "files"); err != nil {
		t.Fatalf("InvalidateTags with a foreign tag key: %v", err)
	}
	if _, err := search.GetOrLoad(ctx, "q2", loadDoc); err != nil {
		t.Fatal(err)
	}
	if n, err := c.InvalidateTags(ctx, "files"); err != nil || n != 1 {
		t.Fatalf("InvalidateTags after the foreign key was dropped = %d, %v; want 1", n, err)
	}
}

// TestOutOfMemory: Redis at maxmemory with noeviction refuses writes but
// serves reads: cached values are still hits, new loads are served without
// being stored and counted as refused writes, and the breaker stays closed.
func TestOutOfMemory(t *testing.T) {
	srv := redistest.Standalone(t, "--maxmemory", "4mb", "--maxmemory-policy", "noeviction")
	rs := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}})
	s := breaker.New(rs, breaker.Options{})
	c, files := newDocs(t, s, cache.Options{}, "file", cache.FamilyOptions[doc]{})
	ctx := t.Context()
	if _, err := files.GetOrLoad(ctx, "cached", loadDoc); err != nil {
		t.Fatal(err)
	}
	// Fill Redis up to its maxmemory, with smaller and smaller values.
	for _, size := range []int{64 << 10, 1 << 10, 64} {
		for i := 0; ; i++ {
			err := rs.Set(ctx, fmt.Sprintf("fill%d-%d", size, i), make([]byte, size), time.Hour)
			if errors.Is(err, cache.ErrNoMemory) {
				break
			}
			if err != nil || i > 100000 {
				t.Fatalf("filling Redis: %v after %d values", err, i)
			}
		}
	}
	for i := range 50 {
		if _, origin, err := files.Fetch(ctx, "cached", loadDoc); err != nil || origin != cache.OriginStore {
			t.Fatalf("read %d of a cached value at maxmemory: %v, %v; want a hit", i, origin, err)
		}
		v, origin, err := files.Fetch(ctx, fmt.Sprint("new", i), loadDoc)
		if err != nil || v.Name != "loaded" || origin != cache.OriginLoad {
			t.Fatalf("read %d of a new value at maxmemory: %+v, %v, %v; want a load", i, v, origin, err)
		}
	}
	if st := s.State(); st != breaker.Closed {
		t.Fatalf("breaker %v at maxmemory, want closed", st)
	}
	if st := c.Stats()[0]; st.Refused == 0 {
		t.Fatalf("no refused write counted: %+v", st)
	}
}

// TestWrongTypeHeals: a key of the wrong type (RPUSH file:x) is dropped and
// counted like a corrupt value, and replaced by a loaded one; other keys
// and the breaker are not affected.
func TestWrongTypeHeals(t *testing.T) {
	rs := redisstoretest.Open(t, redisstoretest.StandaloneOptions(t))
	s := breaker.New(rs, breaker.Options{})
	p := fmt.Sprintf("wt%d:", time.Now().UnixNano())
	c, files := newDocs(t, s, cache.Options{Prefix: p}, "file", cache.FamilyOptions[doc]{})
	ctx := t.Context()
	if _, err := files.GetOrLoad(ctx, "ok", loadDoc); err != nil {
		t.Fatal(err)
	}
	for i := range 40 {
		if err := rs.Client().Do(ctx, rs.Client().B().Rpush().Key(p+"file:x").Element("x").Build()).Error(); err != nil {
			t.Fatal(err)
		}
		if v, err := files.GetOrLoad(ctx, "x", loadDoc); err != nil || v.Name != "loaded" {
			t.Fatalf("read %d of a wrong-typed key: %+v, %v", i, v, err)
		}
		if _, origin, err := files.Fetch(ctx, "ok", loadDoc); err != nil || origin != cache.OriginStore {
			t.Fatalf("another key: %v, %v", origin, err)
		}
		if _, err := files.Delete(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}
	if _, origin, err := files.Fetch(ctx, "x", loadDoc); err != nil || origin != cache.OriginLoad {
		t.Fatalf("after the foreign values: %v, %v", origin, err)
	}
	if _, origin, err := files.Fetch(ctx, "x", loadDoc); err != nil || origin != cache.OriginStore {
		t.Fatalf("healed key: %v, %v; want a hit", origin, err)
	}
	if st := s.State(); st != breaker.Closed {
		t.Fatalf("breaker %v after wrong-typed keys, want closed", st)
	}
	if st := c.Stats()[0]; st.Corrupt != 40 {
		t.Fatalf("Corrupt = %d, want 40", st.Corrupt)
	}
}

// TestOutageOneLoadPerKey: with Redis killed, concurrent callers of one key
// in one process share one load (within the fallback budget).
func TestOutageOneLoadPerKey(t *testing.T) {
	srv := redistest.Standalone(t)
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, MaxRetries: -1})
	_, files := newDocs(t, s, cache.Options{FallbackLimit: 4}, "file", cache.FamilyOptions[doc]{})
	srv.Kill()
	var loads atomic.Int32
	release := make(chan struct{})
	load := func(_ context.Context, id string) (doc, error) {
		loads.Add(1)
		<-release
		return doc{ID: id, Name: "db"}, nil
	}
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(20)
	for range 20 {
		wg.Go(func() {
			started.Done()
			v, err := files.GetOrLoad(t.Context(), "k", load)
			if err != nil || v.Name != "db" {
				t.Errorf("GetOrLoad with Redis down: %+v, %v", v, err)
			}
		})
	}
	started.Wait()
	// The callers join the one flight while its load is blocked; one that
	// came after the flight ended would start another, so give them a
	// generous second to arrive.
	for loads.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(time.Second)
	close(release)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads for 20 concurrent callers of one key with Redis down, want 1", n)
	}
}
