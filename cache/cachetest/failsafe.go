package cachetest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/testenv"
)

// failSafeTests cover stale values served while the source fails or is
// slow, and refreshes before expiry.
var failSafeTests = []test{
	{"FailSafe", testFailSafe},
	{"FailSafeAcrossCaches", testFailSafeAcrossCaches},
	{"FailSafeThrottle", testFailSafeThrottle},
	{"FailSafeSoftTimeout", testSoftTimeout},
	{"FailSafeLoadOutlivesLease", testLoadOutlivesLease},
	{"EagerRefresh", testEagerRefresh},
}

var errDBDown = errors.New("database down")

func failing(context.Context, string) (File, error) { return File{}, errDBDown }

// staleFamily returns a family whose values named "old" expire at once and
// are kept an hour as stale; any other value lives an hour.
func staleFamily(t *testing.T, c *cache.Cache, opts cache.FamilyOptions[File]) *cache.Family[File] {
	t.Helper()
	opts.FailSafe = time.Hour
	opts.TTLFunc = func(f File) time.Duration {
		if f.Name == "old" {
			return 50 * time.Millisecond
		}
		return time.Hour
	}
	return newFamily(t, c, opts)
}

// expire sets id to the value named "old" and waits until it is stale.
func expire(t *testing.T, f *cache.Family[File], id string) {
	t.Helper()
	if err := f.Set(t.Context(), id, File{ID: id, Name: "old"}); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 5*time.Second, "the logical expiry", func() bool {
		_, err := f.Get(t.Context(), id)
		return errors.Is(err, cache.ErrNotFound)
	})
}

// testFailSafe: a value past its TTL is kept for FailSafe and served, marked
// stale, when the loader fails; a working loader replaces it.
func testFailSafe(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 })
	f := staleFamily(t, c, cache.FamilyOptions[File]{})
	expire(t, f, "1")
	if d := ttl(t, s, p+"file:1"); d < 59*time.Minute {
		t.Fatalf("kept for %v; want the TTL plus the fail-safe hour", d)
	}
	for range 2 { // served stale, and kept for the next reader
		v, origin, err := f.Fetch(ctx, "1", failing)
		if err != nil || origin != cache.OriginStale || v.Name != "old" {
			t.Fatalf("Fetch with the loader down = %+v, %v, %v; want old, stale", v, origin, err)
		}
	}
	if d := ttl(t, s, p+"file:1"); d < 59*time.Minute {
		t.Fatalf("the stale value is kept %v after a failed refresh; it must keep its fail-safe life", d)
	}
	if got := fmt.Sprint(cache.OriginStale); got != "stale" {
		t.Fatalf("OriginStale prints %q", got)
	}
	// Without a stale value, the loader's error is returned.
	if _, _, err := f.Fetch(ctx, "2", failing); !errors.Is(err, errDBDown) {
		t.Fatalf("Fetch of an uncached id with the loader down: %v", err)
	}
	// A loader saying "not found" is an answer, not a failure.
	expire(t, f, "4")
	gone := func(context.Context, string) (File, error) { return File{}, cache.ErrNotFound }
	if _, _, err := f.Fetch(ctx, "4", gone); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Fetch with the row deleted: %v, want ErrNotFound", err)
	}
	expire(t, f, "3")
	v, origin, err := f.Fetch(ctx, "3", func(context.Context, string) (File, error) { return File{ID: "3", Name: "v2"}, nil })
	if err != nil || origin != cache.OriginLoad || v.Name != "v2" {
		t.Fatalf("Fetch with the loader back = %+v, %v, %v; want v2 loaded", v, origin, err)
	}
	if v, err := f.Get(ctx, "3"); err != nil || v.Name != "v2" {
		t.Fatalf("cached after reload: %+v, %v", v, err)
	}
	if st := c.Stats()[0]; st.Stale != 2 {
		t.Fatalf("Stale = %d, want 2", st.Stale)
	}
}

// testFailSafeAcrossCaches: while a refresh of a stale value fails, callers
// on the same and on another process get the stale value, not an error.
func testFailSafeAcrossCaches(t *testing.T, s Store, p string) {
	ctx := t.Context()
	a := staleFamily(t, newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 }), cache.FamilyOptions[File]{})
	b := staleFamily(t, newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 }), cache.FamilyOptions[File]{})
	expire(t, a, "x")
	inLoad := make(chan struct{})
	release := make(chan struct{})
	first := make(chan error, 1)
	go func() {
		v, origin, err := a.Fetch(ctx, "x", func(context.Context, string) (File, error) {
			close(inLoad)
			<-release
			return File{}, errDBDown
		})
		if err == nil && (origin != cache.OriginStale || v.Name != "old") {
			err = fmt.Errorf("got %+v, %v; want old, stale", v, origin)
		}
		first <- err
	}()
	<-inLoad
	// The refresh runs on a (it holds the lease): callers on both
	// processes wait for it, then get the stale value when it fails.
	results := make(chan error, 2)
	for _, f := range []*cache.Family[File]{a, b} {
		go func() {
			v, origin, err := f.Fetch(ctx, "x", failing)
			if err == nil && (origin != cache.OriginStale || v.Name != "old") {
				err = fmt.Errorf("got %+v, %v; want old, stale", v, origin)
			}
			results <- err
		}()
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Fatalf("a caller during the failing refresh: %v", err)
		}
	}
	if err := <-first; err != nil {
		t.Fatalf("the refreshing caller: %v", err)
	}
}

// testFailSafeThrottle: after a refresh fails, the stale value is served
// without calling the loader again until the throttle ends, on every
// process.
func testFailSafeThrottle(t *testing.T, s Store, p string) {
	ctx := t.Context()
	opts := cache.FamilyOptions[File]{FailSafeThrottle: time.Minute}
	a := staleFamily(t, newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 }), opts)
	b := staleFamily(t, newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 }), opts)
	expire(t, a, "t")
	lc := &loadCounter{fn: failing}
	for i := range 10 {
		f := []*cache.Family[File]{a, b}[i%2]
		v, origin, err := f.Fetch(ctx, "t", lc.load)
		if err != nil || origin != cache.OriginStale || v.Name != "old" {
			t.Fatalf("read %d: %+v, %v, %v; want old, stale", i, v, origin, err)
		}
	}
	if n := lc.calls.Load(); n != 1 {
		t.Fatalf("the failing loader ran %d times for 10 reads within the throttle, want 1", n)
	}
}

// testSoftTimeout: with a stale value at hand, a caller waits for a slow
// refresh only until SoftTimeout, gets the stale value, and the refresh
// still stores the fresh value when it ends.
func testSoftTimeout(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 })
	f := staleFamily(t, c, cache.FamilyOptions[File]{SoftTimeout: 100 * time.Millisecond})
	expire(t, f, "s")
	release := make(chan struct{})
	slow := func(_ context.Context, id string) (File, error) {
		<-release
		return File{ID: id, Name: "fresh"}, nil
	}
	start := time.Now()
	v, origin, err := f.Fetch(ctx, "s", slow)
	// The refresh is still blocked: the caller did not wait for it.
	if err != nil || origin != cache.OriginStale || v.Name != "old" {
		t.Fatalf("Fetch with a slow refresh = %+v, %v, %v; want old, stale", v, origin, err)
	}
	t.Logf("stale value served after %v with a 100ms soft timeout", time.Since(start))
	close(release)
	testenv.Until(t, 5*time.Second, "the fresh value stored", func() bool {
		v, err := f.Get(ctx, "s")
		return err == nil && v.Name == "fresh"
	})
}

// testLoadOutlivesLease: a refresh of a stale value that hangs until its
// HardTimeout, as long as the lease, ends after the lease: the value is
// still in the store (the lease marker that holds it lives as long as the
// value), served stale to every reader meanwhile and after.
func testLoadOutlivesLease(t *testing.T, s Store, p string) {
	ctx := t.Context()
	const lease = 500 * time.Millisecond
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter, o.LeaseTTL = -1, lease })
	f := staleFamily(t, c, cache.FamilyOptions[File]{SoftTimeout: 20 * time.Millisecond, HardTimeout: lease})
	expire(t, f, "h")
	ended := make(chan struct{})
	hang := func(ctx context.Context, _ string) (File, error) {
		<-ctx.Done() // a database that never answers
		close(ended)
		return File{}, ctx.Err()
	}
	v, origin, err := f.Fetch(ctx, "h", hang)
	if err != nil || origin != cache.OriginStale || v.Name != "old" {
		t.Fatalf("Fetch with a hanging refresh = %+v, %v, %v; want old, stale", v, origin, err)
	}
	if d := ttl(t, s, p+"file:h"); d < 59*time.Minute {
		t.Fatalf("the lease marker holding the stale value is kept %v; want the value's fail-safe hour", d)
	}
	<-ended
	time.Sleep(lease) // the event is the lease's end: past it, whatever the put-back did
	for i := range 3 {
		v, origin, err := f.Fetch(ctx, "h", failing)
		if err != nil || origin != cache.OriginStale || v.Name != "old" {
			t.Fatalf("read %d after the hanging refresh ended: %+v, %v, %v; want old, stale", i, v, origin, err)
		}
	}
}

// testEagerRefresh: a hot key read steadily is refreshed before it
// expires, so no read at its expiry misses; without EagerRefresh some do.
func testEagerRefresh(t *testing.T, s Store, p string) {
	for _, tt := range []struct {
		name  string
		eager float64
	}{{"off", 0}, {"on", 0.5}} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			c := newCache(t, s, p+tt.name+":", func(o *cache.Options) { o.Jitter = -1 })
			f := newFamily(t, c, cache.FamilyOptions[File]{TTL: 2 * time.Second, EagerRefresh: tt.eager})
			var loads atomic.Int32
			load := func(_ context.Context, id string) (File, error) {
				n := loads.Add(1)
				return File{ID: id, Name: fmt.Sprint("v", n)}, nil
			}
			misses := 0
			start := time.Now()
			for i := 0; time.Since(start) < 5*time.Second; i++ {
				_, origin, err := f.Fetch(ctx, "hot", load)
				if err != nil {
					t.Fatal(err)
				}
				if i > 0 && origin == cache.OriginLoad {
					misses++
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("EagerRefresh %v: %d misses after the first read, %d loads", tt.eager, misses, loads.Load())
			switch {
			case tt.eager > 0 && misses != 0:
				t.Fatalf("%d reads missed at expiry with eager refresh, want 0", misses)
			case tt.eager == 0 && misses == 0:
				t.Fatal("no read missed at expiry without eager refresh: the test cannot tell")
			}
			if tt.eager > 0 && loads.Load() < 2 {
				t.Fatalf("%d loads: the value was never refreshed", loads.Load())
			}
		})
	}
}
