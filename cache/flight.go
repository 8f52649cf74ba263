package cache

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrReentrantLoad is returned when a loader asks the cache for the key it
// is loading (directly, or through loads it starts): waiting for itself
// would never end. The key stays usable.
var ErrReentrantLoad = errors.New("cache: a loader asked for the key it is loading")

// The kinds of flight: a Fetch, or a load without the cache. They never
// share a flight: a reader that must not trust the cache must not join a
// flight that reads it.
const (
	flightCached = 'c'
	flightDirect = 'd'
	flightEager  = 'e' // a background refresh before expiry
)

// result is what one flight hands to every caller that shared it.
type result[T any] struct {
	v      T
	origin Origin
	err    error
}

// flightKey names the flight of key: its kind, the invalidation
// generation, the key.
func (c *Cache) flightKey(kind byte, key string, gen uint64) string {
	b := make([]byte, 0, len(key)+16)
	b = append(b, kind)
	b = strconv.AppendUint(b, gen, 36)
	b = append(b, ' ')
	return string(append(b, key...))
}

// flightDo runs fn once for the concurrent callers of (kind, key), on a
// goroutine detached from the callers' contexts and bounded by timeout, so
// that one caller giving up fails no other and the work still completes
// (a load still stores its value for the next caller). Each caller returns
// at its own context's end with the context's error. A panic in fn becomes
// the flight's error: it must not kill the process from a goroutine that no
// handler can recover.
//
// fn runs on one of c.workers' kept goroutines, not on the one singleflight
// starts per flight, which only waits for it: a flight decodes, encodes and
// calls the loader and its driver, whose stack grows to tens of kilobytes,
// and a new goroutine copied its stack that far on every miss.
func flightDo[T any](ctx context.Context, c *Cache, kind byte, key string, timeout time.Duration, fn func(ctx context.Context) result[T]) (result[T], error) {
	ch := c.flight.DoChan(c.flightKey(kind, key, c.gen.Load()), func() (any, error) {
		done := make(chan result[T], 1)
		c.workers.run(func() {
			var r result[T]
			returned := false
			defer func() {
				switch p := recover(); {
				case p != nil:
					r = result[T]{err: fmt.Errorf("cache: load of %s panicked: %v", key, p)}
				case !returned:
					// runtime.Goexit (t.FailNow in a test's loader): no
					// value, and the callers must not wait for one.
					r = result[T]{err: fmt.Errorf("cache: load of %s exited without returning", key)}
				}
				done <- r
			}()
			fctx, cancel := context.WithTimeout(withLoading(context.WithoutCancel(ctx), c, key), timeout)
			defer cancel()
			r = fn(fctx)
			returned = true
		})
		return <-done, nil
	})
	select {
	case r := <-ch:
		return r.Val.(result[T]), nil
	case <-ctx.Done():
		return result[T]{}, ctx.Err()
	}
}

// forget detaches the flights of keys from later callers: a reader that
// arrives after a delete must not be handed a value read before it. It runs
// before the delete and again after it, since a flight may start between
// the first forget and the delete and read the old value.
func (c *Cache) forget(keys []string) {
	g := c.gen.Load()
	for _, k := range keys {
		c.flight.Forget(c.flightKey(flightCached, k, g))
		c.flight.Forget(c.flightKey(flightDirect, k, g))
	}
}

// loading is the chain of keys being loaded by the flights that led to a
// context, carried by the context given to loaders.
type loading struct {
	c      *Cache
	key    string
	parent *loading
}

type loadingKey struct{}

func withLoading(ctx context.Context, c *Cache, key string) context.Context {
	parent, _ := ctx.Value(loadingKey{}).(*loading)
	return context.WithValue(ctx, loadingKey{}, &loading{c: c, key: key, parent: parent})
}

// reentrant reports whether ctx belongs to a load of key in c.
func reentrant(ctx context.Context, c *Cache, key string) bool {
	for l, _ := ctx.Value(loadingKey{}).(*loading); l != nil; l = l.parent {
		if l.c == c && l.key == key {
			return true
		}
	}
	return false
}

// waiters are the readers waiting for another process' load of a key,
// woken by the store's change notifications (when it tracks the key) and
// otherwise polling.
type waiters struct {
	n  atomic.Int32 // waiting readers, so that notifications skip the map when there are none
	mu sync.Mutex
	m  map[string]*waitEntry
}

type waitEntry struct {
	ch chan struct{}
	n  int
}

// wait returns a channel closed when key is reported as changed; call done
// when no longer waiting.
func (w *waiters) wait(key string) (ch <-chan struct{}, done func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]*waitEntry)
	}
	e, ok := w.m[key]
	if !ok {
		e = &waitEntry{ch: make(chan struct{})}
		w.m[key] = e
	}
	e.n++
	w.n.Add(1)
	return e.ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.n.Add(-1)
		if e.n--; e.n == 0 && w.m[key] == e {
			delete(w.m, key)
		}
	}
}

// wake closes the channels of keys, or of every key when keys is nil.
func (w *waiters) wake(keys []string) {
	if w.n.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if keys == nil {
		for k, e := range w.m {
			close(e.ch)
			delete(w.m, k)
		}
		return
	}
	for _, k := range keys {
		if e, ok := w.m[k]; ok {
			close(e.ch)
			delete(w.m, k)
		}
	}
}
