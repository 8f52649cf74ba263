package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
)

// clock is a settable clock for the examples.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) Now() time.Time      { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// options are the cache options of the examples: their clock, no jitter.
func (c *clock) options() cache.Options { return cache.Options{Now: c.Now, Jitter: -1} }

func newStore() *memstore.Store {
	s, _ := memstore.New(memstore.Options{})
	return s
}

// version shows a value and where it came from.
func version(f File, o cache.Origin) string { return fmt.Sprintf("%s (%v)", f.Name, o) }

// With FailSafe a value is kept past its TTL; when the refresh fails (the
// database is down) the stale value is served instead of the error, and
// FailSafeThrottle keeps the failing loader from being asked again on
// every read.
func ExampleFamilyOptions_failSafe() {
	ctx := context.Background()
	clk := newClock()
	c, _ := cache.New(newStore(), clk.options())
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{
		TTL:              time.Minute,
		FailSafe:         time.Hour,        // keep values an hour past their TTL
		FailSafeThrottle: 30 * time.Second, // after a failure, ask again in 30s
	})
	up := func(ctx context.Context, id string) (File, error) { return File{ID: id, Name: "v1"}, nil }
	down := func(ctx context.Context, id string) (File, error) {
		fmt.Println("  query fails")
		return File{}, errors.New("database down")
	}
	f, o, _ := files.Fetch(ctx, "42", up)
	fmt.Println(version(f, o))
	clk.Add(2 * time.Minute) // past the TTL
	for range 2 {
		f, o, err := files.Fetch(ctx, "42", down)
		fmt.Println(version(f, o), err)
	}
	clk.Add(31 * time.Second) // past the throttle
	f, o, _ = files.Fetch(ctx, "42", down)
	fmt.Println(version(f, o))
	// Output:
	// v1 (miss)
	//   query fails
	// v1 (stale) <nil>
	// v1 (stale) <nil>
	//   query fails
	// v1 (stale)
}

// SoftTimeout bounds how long a caller waits for a slow refresh when a
// stale value is at hand: it gets the stale value, and the refresh goes on
// (up to HardTimeout) and stores the fresh one for the next caller.
func ExampleFamilyOptions_softTimeout() {
	ctx := context.Background()
	clk := newClock()
	c, _ := cache.New(newStore(), clk.options())
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{
		TTL:         time.Minute,
		FailSafe:    time.Hour,
		SoftTimeout: 50 * time.Millisecond, // with a stale value, wait no longer
		HardTimeout: 5 * time.Second,       // a load never runs longer
	})
	_ = files.Set(ctx, "42", File{ID: "42", Name: "v1"})
	clk.Add(2 * time.Minute)
	release := make(chan struct{})
	slow := func(ctx context.Context, id string) (File, error) {
		<-release // a database that takes its time
		return File{ID: id, Name: "v2"}, nil
	}
	f, o, _ := files.Fetch(ctx, "42", slow)
	fmt.Println(version(f, o))
	close(release)
	for {
		if f, err := files.Get(ctx, "42"); err == nil && f.Name == "v2" {
			break // stored by the refresh that went on
		}
		time.Sleep(time.Millisecond)
	}
	f, o, _ = files.Fetch(ctx, "42", slow)
	fmt.Println(version(f, o))
	// Output:
	// v1 (stale)
	// v2 (hit)
}

// EagerRefresh refreshes a value read after this fraction of its TTL, in
// the background, while the current value keeps being served: a hot key is
// replaced before it expires, and its readers never miss.
func ExampleFamilyOptions_eagerRefresh() {
	ctx := context.Background()
	clk := newClock()
	c, _ := cache.New(newStore(), clk.options())
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{
		TTL:          time.Minute,
		EagerRefresh: 0.8, // refresh when read in the last 20% of the TTL
	})
	n := 0
	load := func(ctx context.Context, id string) (File, error) {
		n++
		return File{ID: id, Name: fmt.Sprint("v", n)}, nil
	}
	f, o, _ := files.Fetch(ctx, "42", load)
	fmt.Println(version(f, o))
	clk.Add(50 * time.Second) // past 80% of the minute
	f, o, _ = files.Fetch(ctx, "42", load)
	fmt.Println(version(f, o), "and a refresh starts")
	for {
		if f, err := files.Get(ctx, "42"); err == nil && f.Name == "v2" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	clk.Add(20 * time.Second) // past the first value's TTL
	f, o, _ = files.Fetch(ctx, "42", load)
	fmt.Println(version(f, o))
	// Output:
	// v1 (miss)
	// v1 (hit) and a refresh starts
	// v2 (hit)
}

// Valid refuses decoded values that cannot be right (JSON null, a record
// without its id): they are dropped like corrupt values and reloaded.
func ExampleFamilyOptions_valid() {
	ctx := context.Background()
	store := newStore()
	c, _ := cache.New(store, cache.Options{})
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{
		Valid: func(f File) bool { return f.ID != "" },
	})
	key, _ := files.Key("42")
	_ = store.Set(ctx, key, fmt.Appendf(nil, "v:%d:null", time.Now().Add(time.Hour).UnixMilli()), time.Hour)
	_, err := files.Get(ctx, "42")
	fmt.Println(err, c.Stats()[0].Corrupt)
	// Output:
	// cache: not found 1
}

// A loader that asks for the key it is loading gets ErrReentrantLoad at
// once instead of waiting for itself.
func ExampleErrReentrantLoad() {
	ctx := context.Background()
	c, _ := cache.New(newStore(), cache.Options{})
	files, _ := cache.NewFamily(c, "file", cache.FamilyOptions[File]{})
	var load cache.Loader[File]
	load = func(ctx context.Context, id string) (File, error) {
		return files.GetOrLoad(ctx, id, load) // a bug: it asks for itself
	}
	_, err := files.GetOrLoad(ctx, "42", load)
	fmt.Println(errors.Is(err, cache.ErrReentrantLoad))
	// Output:
	// true
}
