package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Loader loads the value of one id from the source of truth. It returns
// ErrNotFound (or an error wrapping it) when the id does not exist.
type Loader[T any] func(ctx context.Context, id string) (T, error)

// Origin says where a value returned by Fetch came from.
type Origin uint8

// The origins of a value.
const (
	// OriginLoad is a value from the loader (a miss).
	OriginLoad Origin = iota
	// OriginStore is a value from the Store (a hit).
	OriginStore
	// OriginLocal is a value from the in-process near cache (a local hit).
	OriginLocal
	// OriginStale is a value past its TTL, served because a refresh failed
	// or is slower than the soft timeout (see FamilyOptions.FailSafe).
	OriginStale
)

// String returns "miss", "hit", "hit-local" or "stale", the values of the
// X-Cache header of the filecache service.
func (o Origin) String() string {
	switch o {
	case OriginStore:
		return "hit"
	case OriginLocal:
		return "hit-local"
	case OriginStale:
		return "stale"
	}
	return "miss"
}

// Polling of another loader's lease: from pollMin, doubling up to pollMax,
// woken earlier by the store's notification when it tracks the key.
const (
	pollMin = 2 * time.Millisecond
	pollMax = 50 * time.Millisecond
)

// GetOrLoad is Fetch without the origin.
func (f *Family[T]) GetOrLoad(ctx context.Context, id string, load Loader[T]) (T, error) {
	v, _, err := f.Fetch(ctx, id, load)
	return v, err
}

// Fetch returns the cached value of id, or loads it with load and caches it,
// and says where the value came from.
//
// One load runs per key across every process: concurrent callers in this
// process share one flight, and across processes the first miss takes a
// lease on the key (a marker written with SET NX) while the others wait for
// its value until the lease ends. A write or delete that races with the
// load removes the lease, so a stale value is never stored.
//
// Every caller returns at its own context's end, with the context's error;
// the load goes on, bounded by HardTimeout, and stores its value for the
// next caller. A loader that asks for its own key gets ErrReentrantLoad.
//
// With FailSafe, a value past its TTL is refreshed under the lease while
// every caller, on any process, gets the stale value (OriginStale) if the
// refresh fails or takes longer than SoftTimeout; after a failure the
// loader is not called again for the key before FailSafeThrottle. If the
// store fails, Fetch answers from load within the fallback budget
// (Options.FallbackLimit), without writing to the cache.
func (f *Family[T]) Fetch(ctx context.Context, id string, load Loader[T]) (_ T, origin Origin, err error) {
	var zero T
	part, err := f.c.keys.normalize(id)
	if err != nil {
		return zero, OriginLoad, err
	}
	if v, ok := f.nearGet(part); ok {
		if f.c.tracer != nil {
			f.traceNearHit(ctx, part)
		}
		return v, OriginLocal, nil
	}
	key := f.keyOf(part)
	if f.c.tracer != nil {
		var sp trace.Span
		ctx, sp = f.c.startSpan(ctx, spanFetch, f.name, key)
		defer func() { endFetch(sp, origin, err) }()
	}
	if reentrant(ctx, f.c, key) {
		f.stats.misses.Add(1)
		return zero, OriginLoad, fmt.Errorf("%w: %s", ErrReentrantLoad, key)
	}
	r, err := flightDo(ctx, f.c, flightCached, key, f.flightTimeout(), func(fctx context.Context) result[T] {
		return f.resolve(fctx, key, part, id, load)
	})
	switch {
	case err != nil:
		f.stats.misses.Add(1)
		return zero, OriginLoad, err
	case r.origin == OriginStore:
		f.stats.hits.Add(1)
	case r.origin == OriginStale:
		f.stats.stale.Add(1)
	default:
		f.stats.misses.Add(1)
	}
	return r.v, r.origin, r.err
}

// flightTimeout bounds one flight: waiting for another loader's lease to
// end, then a load of its own.
func (f *Family[T]) flightTimeout() time.Duration {
	return f.c.opts.LeaseTTL + f.opts.HardTimeout + time.Second
}

// newLease returns a new lease marker, taken over inner (nil for none).
func (f *Family[T]) newLease(inner []byte) []byte {
	return leaseMarker(f.c.opts.Now().Add(f.c.opts.LeaseTTL), f.c.leaseToken(), inner)
}

// leaseKeep is how long the store keeps a lease marker that took over the
// value of s (nil for none): the lease, or the value's own life (its
// expiry and fail-safe) if longer. A marker that holds a value must
// outlive its lease: the load may end with the lease (HardTimeout may be
// LeaseTTL) and put the value back, and a loader that dies leaves the
// value to the next reader, which takes over the dead lease.
func (f *Family[T]) leaseKeep(s *seen[T]) time.Duration {
	ttl := f.c.opts.LeaseTTL
	if s != nil && s.hasValue {
		ttl = max(ttl, s.expiry.Add(f.opts.FailSafe).Sub(f.c.opts.Now()))
	}
	return ttl
}

// resolve answers one flight: from the store, from another loader's lease,
// or from a load under a lease of its own. It keeps what it read or stored
// in the near cache unless a notification voided the read meanwhile.
func (f *Family[T]) resolve(ctx context.Context, key, part, id string, load Loader[T]) result[T] {
	waited := false
	poll := pollMin
	for tries := 0; ; tries++ {
		if err := ctx.Err(); err != nil {
			return result[T]{err: fmt.Errorf("cache: fetch %s: %w", key, err)}
		}
		token := f.reserveNear(part)
		o := f.step(ctx, key, id, load, tries)
		if o.fill != nil {
			f.fillNear(part, token, *o.fill)
		} else {
			f.releaseNear(part, token)
		}
		switch o.next {
		case stepDone:
			return o.r
		case stepWait:
			if !waited {
				waited = true
				f.stats.leaseWaits.Add(1)
				f.c.note(ctx, leaseWaited)
			}
			f.wait(ctx, key, o.lease, &poll)
		}
	}
}

// outcome is what one step of resolve found or did.
type outcome[T any] struct {
	r     result[T]
	fill  *seen[T] // a fresh value the store holds, for the near cache
	lease *seen[T] // the lease another loader holds (stepWait)
	next  stepNext
}

// stepNext says what resolve does after a step.
type stepNext uint8

const (
	stepDone  stepNext = iota // r is the answer
	stepRetry                 // the key changed under the step: look again
	stepWait                  // another loader holds the lease: wait, then look again
)

func finish[T any](r result[T], fill *seen[T]) outcome[T] {
	return outcome[T]{r: r, fill: fill, next: stepDone}
}

// step looks key up and acts on what it finds.
func (f *Family[T]) step(ctx context.Context, key, id string, load Loader[T], tries int) outcome[T] {
	refused := f.c.writesRefused()
	var raw, marker []byte
	existed := true
	var err error
	start := f.c.opts.Now()
	if refused {
		// The store refuses writes: no lease, plain reads.
		raw, err = f.c.store.Get(ctx, key)
		if errors.Is(err, ErrNotFound) {
			existed, err = false, nil
		}
	} else {
		// The lookup takes the lease when the key is absent: one command
		// for a hit and for the first step of a miss.
		marker = f.newLease(nil)
		raw, existed, err = f.c.store.SetNXGet(ctx, key, marker, f.c.opts.LeaseTTL)
	}
	f.c.observe("get", f.name, start, err)
	switch {
	case err == nil:
	case f.c.noteRefused(err):
		f.stats.refused.Add(1)
		return outcome[T]{next: stepRetry}
	case errors.Is(err, ErrWrongType) && tries < 3:
		f.drop(ctx, key, nil)
		return outcome[T]{next: stepRetry}
	default:
		f.stats.errors.Add(1)
		return finish(f.loadWithStale(ctx, id, load, nil, true), nil)
	}
	if !existed {
		if refused {
			return finish(f.loadWithStale(ctx, id, load, nil, false), nil)
		}
		f.c.note(ctx, leaseTaken)
		return finish(f.loadLeased(ctx, key, id, marker, nil, load))
	}
	s := f.decode(raw)
	switch s.view {
	case viewFresh:
		f.maybeEager(ctx, key, id, s, load)
		return finish(result[T]{v: s.v, origin: OriginStore}, &s)
	case viewNotFound:
		return finish(result[T]{origin: OriginStore, err: ErrNotFound}, nil)
	case viewThrottled:
		return finish(result[T]{v: s.v, origin: OriginStale}, nil)
	case viewLeased:
		switch {
		case s.hasValue && s.fresh:
			// An eager refresh runs elsewhere: the value is still good.
			return finish(result[T]{v: s.v, origin: OriginStore}, nil)
		case s.hasValue && f.softDue(s):
			return finish(result[T]{v: s.v, origin: OriginStale}, nil)
		}
		return outcome[T]{lease: &s, next: stepWait}
	case viewCorrupt:
		if tries < 3 {
			f.drop(ctx, key, raw)
			return outcome[T]{next: stepRetry}
		}
		return finish(f.loadWithStale(ctx, id, load, nil, false), nil)
	}
	// viewStale or viewDead: take the key over, keeping the value it holds
	// (if any) in the lease for the readers of other processes.
	var stale *seen[T]
	if s.hasValue {
		stale = &s
	}
	if refused {
		return finish(f.loadWithStale(ctx, id, load, stale, false), nil)
	}
	marker = f.newLease(s.valueRaw)
	ok, err := f.c.store.CompareAndSet(ctx, key, raw, marker, f.leaseKeep(stale))
	switch {
	case err != nil:
		f.writeFailed(err)
		return finish(f.loadWithStale(ctx, id, load, stale, true), nil)
	case !ok:
		return outcome[T]{next: stepRetry} // changed meanwhile
	}
	f.c.note(ctx, leaseTaken)
	return finish(f.loadLeased(ctx, key, id, marker, stale, load))
}

// softDue reports whether readers of a lease taken over the stale value of
// s have waited SoftTimeout since the refresh began, and get the stale
// value now.
func (f *Family[T]) softDue(s seen[T]) bool {
	if f.opts.SoftTimeout <= 0 {
		return false
	}
	began := s.leaseEnd.Add(-f.c.opts.LeaseTTL)
	return !f.c.opts.Now().Before(began.Add(f.opts.SoftTimeout))
}

// wait sleeps while another process holds the lease on key: until the
// store notifies a change of key, poll elapses (it doubles up to pollMax),
// the lease ends, the soft timeout of a stale value is due, or ctx ends.
func (f *Family[T]) wait(ctx context.Context, key string, lease *seen[T], poll *time.Duration) {
	d := *poll
	*poll = min(2**poll, pollMax)
	if lease != nil {
		now := f.c.opts.Now()
		d = min(d, max(lease.leaseEnd.Sub(now), time.Millisecond))
		if lease.hasValue && f.opts.SoftTimeout > 0 {
			due := lease.leaseEnd.Add(-f.c.opts.LeaseTTL + f.opts.SoftTimeout)
			d = min(d, max(due.Sub(now), time.Millisecond))
		}
	}
	woken, done := f.c.waiters.wait(key)
	defer done()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-woken:
	case <-t.C:
	case <-ctx.Done():
	}
}

// loadWithStale loads without storing (the cache cannot take a lease now),
// within the fallback budget if the store failed, and answers with stale if
// the load fails and fail-safe allows.
func (f *Family[T]) loadWithStale(ctx context.Context, id string, load Loader[T], stale *seen[T], storeFailed bool) result[T] {
	var v T
	var err error
	if storeFailed {
		v, err = f.fallback(ctx, id, load)
	} else {
		v, err = f.loadOnly(ctx, id, load)
	}
	if err != nil && stale != nil && failSafe(err) {
		return result[T]{v: stale.v, origin: OriginStale}
	}
	return result[T]{v: v, origin: OriginLoad, err: err}
}

// loadLeased loads id while holding the lease marker on key, taken over
// stale (nil for none), and waits for the outcome: a caller with a stale
// value at hand waits only until SoftTimeout. The load goes on in the
// background regardless and settles the key.
func (f *Family[T]) loadLeased(ctx context.Context, key, id string, marker []byte, stale *seen[T], load Loader[T]) (result[T], *seen[T]) {
	if len(f.tagKeys) > 0 {
		// Joined before the load, a tag invalidation running meanwhile
		// deletes the lease and voids the load's store.
		if err := f.tag(ctx, f.leaseKeep(stale), key); err != nil {
			f.restore(context.WithoutCancel(ctx), key, marker, stale)
			return f.loadWithStale(ctx, id, load, stale, false), nil
		}
	}
	if stale == nil {
		// No stale value to answer early with: load on this flight's
		// goroutine, which is already detached from the callers and
		// bounded; HardTimeout bounds the load, and what is left of the
		// flight's time (at least LeaseTTL) the store's writes.
		lctx, cancel := context.WithTimeout(ctx, f.opts.HardTimeout)
		v, err := f.loadOnly(lctx, id, load)
		cancel()
		o := f.settle(context.WithoutCancel(ctx), key, marker, nil, v, err)
		return o.r, o.fill
	}
	done := f.refresh(ctx, key, id, marker, stale, load)
	var soft <-chan time.Time
	if stale != nil && f.opts.SoftTimeout > 0 {
		t := time.NewTimer(f.opts.SoftTimeout)
		defer t.Stop()
		soft = t.C
	}
	select {
	case o := <-done:
		return o.r, o.fill
	case <-soft:
		if stale.fresh {
			return result[T]{v: stale.v, origin: OriginStore}, nil
		}
		return result[T]{v: stale.v, origin: OriginStale}, nil
	case <-ctx.Done():
		return result[T]{err: fmt.Errorf("cache: fetch %s: %w", key, ctx.Err())}, nil
	}
}

// failSafe reports whether a load error may be answered with a stale value:
// the source failed, as opposed to saying the id does not exist.
func failSafe(err error) bool {
	return !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled) && !errors.Is(err, ErrReentrantLoad)
}

// loadOnly calls load without touching the cache, and counts it.
func (f *Family[T]) loadOnly(ctx context.Context, id string, load Loader[T]) (v T, err error) {
	f.stats.loads.Add(1)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cache: load of %s %q panicked: %v", f.name, id, p)
		}
		if err != nil && !errors.Is(err, ErrNotFound) {
			f.stats.loadErrors.Add(1)
		}
	}()
	return load(ctx, id)
}
