package cachetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/testenv"
)

// loadingTests cover get-or-load: one load per key in a process and across
// processes, races with writes, deadlines, negative caching.
var loadingTests = []test{
	{"GetOrLoadSingleflight", testGetOrLoadSingleflight},
	{"GetOrLoadLeaseAcrossCaches", testLeaseAcrossCaches},
	{"GetOrLoadSlowLoaderAcrossCaches", testSlowLoaderAcrossCaches},
	{"GetOrLoadRaceWithDelete", testLoadRaceWithDelete},
	{"GetOrLoadNegative", testGetOrLoadNegative},
	{"GetOrLoadNegativeTTLWithFailSafe", testNegativeTTLWithFailSafe},
	{"GetOrLoadCallerDeadline", testCallerDeadline},
	{"GetOrLoadReentrant", testReentrant},
	{"GetOrLoadPanic", testLoaderPanic},
}

func testGetOrLoadSingleflight(t *testing.T, s Store, p string) {
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	var calls atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context, id string) (File, error) {
		calls.Add(1)
		<-release
		return File{ID: id, Name: "loaded"}, nil
	}
	const callers = 100
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			started.Done()
			v, err := f.GetOrLoad(t.Context(), "42", load)
			if err == nil && v.Name != "loaded" {
				err = fmt.Errorf("got %+v", v)
			}
			errs <- err
		})
	}
	started.Wait()
	// Let the callers reach the flight before the load returns; a caller
	// that comes after it finds the stored value, which is also one load.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times for %d concurrent callers, want 1", n, callers)
	}
}

func testLeaseAcrossCaches(t *testing.T, s Store, p string) {
	// Two caches on one store stand for two processes: singleflight cannot
	// join them, only the lease in the store can.
	a := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	cb := newCache(t, s, p)
	b := newFamily(t, cb, cache.FamilyOptions[File]{})
	inLoad := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.GetOrLoad(t.Context(), "7", func(context.Context, string) (File, error) {
			close(inLoad)
			<-release
			return File{ID: "7", Name: "from-a"}, nil
		})
		done <- err
	}()
	<-inLoad
	var bCalls atomic.Int32
	got := make(chan File, 1)
	go func() {
		v, err := b.GetOrLoad(t.Context(), "7", func(context.Context, string) (File, error) {
			bCalls.Add(1)
			return File{ID: "7", Name: "from-b"}, nil
		})
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	// b must be waiting on a's lease, not loading: wait until it counted
	// the wait, then let a finish.
	testenv.Until(t, 5*time.Second, "b waiting on the lease", func() bool {
		return cb.Stats()[0].LeaseWaits == 1
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := <-got; v.Name != "from-a" || bCalls.Load() != 0 {
		t.Fatalf("b got %+v with %d loads; want a's value and no load", v, bCalls.Load())
	}
}

func testLoadRaceWithDelete(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	// A slow load reads version 1; while it runs the row is updated and the
	// key invalidated. The load must not store its stale value.
	inLoad := make(chan struct{})
	release := make(chan struct{})
	done := make(chan File, 1)
	go func() {
		v, err := f.GetOrLoad(ctx, "9", func(context.Context, string) (File, error) {
			close(inLoad)
			<-release
			return File{ID: "9", Name: "v1-stale"}, nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	<-inLoad
	if _, err := f.Delete(ctx, "9"); err != nil { // the writer's invalidation
		t.Fatal(err)
	}
	close(release)
	if v := <-done; v.Name != "v1-stale" {
		t.Fatalf("the racing reader got %+v", v)
	}
	if v, err := f.Get(ctx, "9"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("after the race the cache holds %+v (err %v); want nothing", v, err)
	}
	v, err := f.GetOrLoad(ctx, "9", func(context.Context, string) (File, error) { return File{ID: "9", Name: "v2"}, nil })
	if err != nil || v.Name != "v2" {
		t.Fatalf("next GetOrLoad = %+v, %v; want v2", v, err)
	}
	if v, err := f.Get(ctx, "9"); err != nil || v.Name != "v2" {
		t.Fatalf("cached after reload = %+v, %v; want v2", v, err)
	}
}

func testGetOrLoadNegative(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{NegativeTTL: time.Minute})
	var calls atomic.Int32
	missing := func(context.Context, string) (File, error) {
		calls.Add(1)
		return File{}, fmt.Errorf("row: %w", cache.ErrNotFound)
	}
	for range 3 {
		if _, err := f.GetOrLoad(ctx, "404", missing); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("GetOrLoad of a missing id: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times; a not-found answer should be cached", n)
	}
	// Creating the id invalidates the negative entry.
	if _, err := f.Delete(ctx, "404"); err != nil {
		t.Fatal(err)
	}
	v, err := f.GetOrLoad(ctx, "404", func(context.Context, string) (File, error) { return File{ID: "404"}, nil })
	if err != nil || v.ID != "404" {
		t.Fatalf("after create: %+v, %v", v, err)
	}
	// A failing loader is not cached.
	boom := errors.New("db down")
	if _, err := f.GetOrLoad(ctx, "500", func(context.Context, string) (File, error) { return File{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the loader's", err)
	}
	wantNotFound(t, s, p+"file:500")
}

// testSlowLoaderAcrossCaches: a load far slower than any poll interval
// runs once for 2 processes × 100 callers: the waiters on the other
// process wait for the lease's value instead of loading themselves.
func testSlowLoaderAcrossCaches(t *testing.T, s Store, p string) {
	var loads atomic.Int32
	load := func(ctx context.Context, id string) (File, error) {
		loads.Add(1)
		select {
		case <-time.After(600 * time.Millisecond):
		case <-ctx.Done():
			return File{}, ctx.Err()
		}
		return File{ID: id, Name: "slow"}, nil
	}
	fams := []*cache.Family[File]{
		newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{}),
		newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{}),
	}
	var wg sync.WaitGroup
	for i := range 200 {
		f := fams[i%2]
		wg.Go(func() {
			v, err := f.GetOrLoad(t.Context(), "cold", load)
			if err != nil || v.Name != "slow" {
				t.Errorf("caller %d: %+v, %v", i, v, err)
			}
		})
	}
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("a 600ms loader ran %d times for 2 processes × 100 callers, want 1", n)
	}
}

// testNegativeTTLWithFailSafe: a cached "not found" ends at its NegativeTTL
// even with FailSafe set: it is not kept as a stale value.
func testNegativeTTLWithFailSafe(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 })
	f := newFamily(t, c, cache.FamilyOptions[File]{NegativeTTL: 300 * time.Millisecond, FailSafe: time.Hour})
	var calls atomic.Int32
	exists := atomic.Bool{}
	load := func(_ context.Context, id string) (File, error) {
		calls.Add(1)
		if exists.Load() {
			return File{ID: id}, nil
		}
		return File{}, cache.ErrNotFound
	}
	if _, err := f.GetOrLoad(ctx, "new", load); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("first lookup: %v, want ErrNotFound", err)
	}
	if d := ttl(t, s, p+"file:new"); d > 300*time.Millisecond {
		t.Fatalf("the cached not-found is kept %v, want at most its NegativeTTL", d)
	}
	// The id appears in the database without an invalidation (another
	// writer): it must show within NegativeTTL, not after the fail-safe hour.
	exists.Store(true)
	testenv.Until(t, 5*time.Second, "the end of the negative entry", func() bool {
		v, err := f.GetOrLoad(ctx, "new", load)
		return err == nil && v.ID == "new"
	})
	if n := calls.Load(); n != 2 {
		t.Fatalf("loader called %d times, want 2 (one per NegativeTTL)", n)
	}
}

// testCallerDeadline: a caller returns at its own deadline with its
// context's error while the load goes on; the load then stores its value
// and the next caller hits.
func testCallerDeadline(t *testing.T, s Store, p string) {
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	release := make(chan struct{})
	var loads atomic.Int32
	load := func(ctx context.Context, id string) (File, error) {
		loads.Add(1)
		<-release
		return File{ID: id, Name: "late"}, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := f.Fetch(ctx, "d", load)
	elapsed := time.Since(start)
	// The loader is still blocked: the caller did not wait for it.
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Fetch past its deadline: %v, want context.DeadlineExceeded", err)
	}
	t.Logf("a caller with a 200ms deadline returned after %v", elapsed)
	close(release)
	// The next callers get the late load's value: from its flight while
	// it ends (it stored the value just before), then from the store.
	testenv.Until(t, 5*time.Second, "a hit on the late load's value", func() bool {
		v, origin, err := f.Fetch(t.Context(), "d", load)
		if err != nil || v.Name != "late" {
			t.Fatalf("next caller: %+v, %v, %v; want the late load's value", v, origin, err)
		}
		return origin == cache.OriginStore
	})
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads, want 1", n)
	}
}

// testReentrant: a loader that asks for its own key gets ErrReentrantLoad
// at once instead of waiting for itself, and the key stays usable.
func testReentrant(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	var inner error
	start := time.Now()
	_, err := f.GetOrLoad(ctx, "r", func(ctx context.Context, id string) (File, error) {
		_, inner = f.GetOrLoad(ctx, id, func(context.Context, string) (File, error) { return File{ID: id}, nil })
		return File{}, inner
	})
	if !errors.Is(inner, cache.ErrReentrantLoad) || !errors.Is(err, cache.ErrReentrantLoad) {
		t.Fatalf("re-entrant load: inner %v, outer %v; want ErrReentrantLoad", inner, err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("the re-entrant load took %v", el)
	}
	v, err := f.GetOrLoad(ctx, "r", func(context.Context, string) (File, error) { return File{ID: "r", Name: "ok"}, nil })
	if err != nil || v.Name != "ok" {
		t.Fatalf("the key after a re-entrant load: %+v, %v", v, err)
	}
}

// testLoaderPanic: a loader that panics, or ends its goroutine, fails its
// callers with an error; the process lives on and the key stays usable.
func testLoaderPanic(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	if _, err := f.GetOrLoad(ctx, "p", func(context.Context, string) (File, error) { panic("boom") }); err == nil {
		t.Fatal("a panicking loader returned no error")
	}
	// runtime.Goexit (t.FailNow called by a loader) returns no value: an
	// error, not an empty value served as loaded. (Its lease is not
	// released: the goroutine ended inside the load.)
	if v, err := f.GetOrLoad(ctx, "exit", func(context.Context, string) (File, error) { runtime.Goexit(); return File{}, nil }); err == nil {
		t.Fatalf("a loader that called runtime.Goexit returned %+v and no error", v)
	}
	v, err := f.GetOrLoad(ctx, "p", func(context.Context, string) (File, error) { return File{ID: "p"}, nil })
	if err != nil || v.ID != "p" {
		t.Fatalf("the key after a panic: %+v, %v", v, err)
	}
}
