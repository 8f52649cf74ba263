package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"
)

// settleTimeout bounds the store's writes after a load. They run on a
// fresh context: the caller's may have ended, and a stale value must never
// be lost because a load failed or timed out.
const settleTimeout = 2 * time.Second

// refreshed is the outcome of a load under a lease.
type refreshed[T any] struct {
	r    result[T]
	fill *seen[T] // the value stored, for the near cache; nil if none
}

// refresh loads id in the background while holding the lease marker on key
// (taken over stale, nil for none), bounded by HardTimeout, then settles the
// key: it stores the value, the cached "not found", or puts the stale value
// back. The outcome arrives on the channel; nobody needs to read it.
func (f *Family[T]) refresh(ctx context.Context, key, id string, marker []byte, stale *seen[T], load Loader[T]) <-chan refreshed[T] {
	ch := make(chan refreshed[T], 1)
	base := context.WithoutCancel(ctx) // keeps the loading chain
	f.c.workers.run(func() {
		lctx, cancel := context.WithTimeout(base, f.opts.HardTimeout)
		v, err := f.loadOnly(lctx, id, load)
		cancel()
		sctx, cancel := context.WithTimeout(base, settleTimeout)
		defer cancel()
		ch <- f.settle(sctx, key, marker, stale, v, err)
	})
	return ch
}

// settle writes the outcome of a load under the lease marker on key.
func (f *Family[T]) settle(ctx context.Context, key string, marker []byte, stale *seen[T], v T, err error) refreshed[T] {
	switch {
	case err == nil:
		return f.store(ctx, key, marker, stale, v)
	case errors.Is(err, ErrNotFound):
		f.storeNotFound(ctx, key, marker)
		return refreshed[T]{r: result[T]{origin: OriginLoad, err: err}}
	case stale != nil && stale.fresh:
		// An eager refresh failed: keep serving the current value, and
		// do not ask the failing source again for a while.
		f.restore(ctx, key, marker, stale)
		f.pauseEager()
		return refreshed[T]{r: result[T]{v: stale.v, origin: OriginStore}}
	case stale != nil && failSafe(err) && f.putBackStale(ctx, key, marker, stale):
		return refreshed[T]{r: result[T]{v: stale.v, origin: OriginStale}}
	}
	f.release(ctx, key, marker)
	return refreshed[T]{r: result[T]{v: v, origin: OriginLoad, err: err}}
}

// store replaces the lease marker on key with v, unless something else
// replaced the marker meanwhile (a write or an invalidation: its value
// wins). v is served whatever happens to the write.
func (f *Family[T]) store(ctx context.Context, key string, marker []byte, stale *seen[T], v T) refreshed[T] {
	served := refreshed[T]{r: result[T]{v: v, origin: OriginLoad}}
	if f.c.writesRefused() {
		f.restore(ctx, key, marker, stale)
		return served
	}
	ttl := f.TTLOf(v)
	expiry := f.c.opts.Now().Add(ttl)
	data, err := f.encode(v, ttl)
	if err != nil {
		f.restore(ctx, key, marker, stale)
		return served
	}
	if err := f.tag(ctx, f.keep(ttl), key); err != nil {
		f.restore(ctx, key, marker, stale)
		return served
	}
	var (
		own  <-chan struct{}
		done func()
	)
	if f.near != nil {
		// The store's notification of this very write comes back to us
		// (Redis does not spare the writing connection a change made by
		// a script, NOLOOP or not): listen for it before writing.
		own, done = f.c.waiters.wait(key)
		defer func() {
			if done != nil {
				done()
			}
		}()
	}
	start := f.c.opts.Now()
	ok, err := f.c.store.CompareAndSet(ctx, key, marker, data, f.keep(ttl))
	f.c.observe("set", f.name, start, err)
	switch {
	case err != nil:
		f.writeFailed(err)
		f.release(ctx, key, marker)
		return served
	case !ok:
		return served
	}
	if own != nil {
		// In the background: the callers of the flight have their value,
		// and must not wait for the notification's round trip.
		stop := done
		done = nil
		f.c.workers.run(func() {
			defer stop()
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fillStoredTimeout)
			defer cancel()
			f.fillStored(ctx, key, own, data, v, expiry)
		})
	}
	return served
}

// ownNotificationWait bounds how long fillStored waits for the notification
// of the cache's own store; past it the value is not kept in process.
const ownNotificationWait = 100 * time.Millisecond

// fillStoredTimeout bounds a near fill after a store: the wait for the
// notification and the read back.
const fillStoredTimeout = time.Second

// fillStored keeps v, just stored at key as data, in the near cache. The
// store's notification of this write voids any reservation taken before
// it, so: wait for that notification (registered as own before the write),
// reserve, read the key back, and fill only if it still holds data and no
// notification voided the reservation meanwhile: a write made anywhere
// after the read is notified after it and drops the entry.
func (f *Family[T]) fillStored(ctx context.Context, key string, own <-chan struct{}, data []byte, v T, expiry time.Time) {
	t := time.NewTimer(ownNotificationWait)
	defer t.Stop()
	select {
	case <-own:
	case <-t.C:
		return
	case <-ctx.Done():
		return
	}
	part := key[len(f.prefix):]
	token := f.near.reserve(part)
	raw, err := f.c.store.Get(ctx, key)
	if err != nil || !bytes.Equal(raw, data) {
		f.near.release(part, token)
		return
	}
	f.fillNear(part, token, seen[T]{view: viewFresh, v: v, hasValue: true, fresh: true, expiry: expiry})
}

// storeNotFound caches a loader's "not found" under the lease marker on
// key for NegativeTTL, and no longer: FailSafe does not keep it.
func (f *Family[T]) storeNotFound(ctx context.Context, key string, marker []byte) {
	if f.opts.NegativeTTL <= 0 || f.c.writesRefused() {
		f.release(ctx, key, marker)
		return
	}
	ttl := f.jitter(f.opts.NegativeTTL)
	if f.tag(ctx, ttl, key) != nil {
		f.release(ctx, key, marker)
		return
	}
	data := appendEnvelope(nil, kindNotFound, f.c.opts.Now().Add(ttl), nil)
	if _, err := f.c.store.CompareAndSet(ctx, key, marker, data, ttl); err != nil {
		f.writeFailed(err)
		f.release(ctx, key, marker)
	}
}

// putBackStale replaces the lease marker on key with the stale value, to
// be served without loading for FailSafeThrottle, within the value's
// fail-safe life. It reports whether readers may be served the stale value:
// false when its life is over, or when a write or invalidation replaced
// the marker (a stale value older than a committed write must not be
// served).
func (f *Family[T]) putBackStale(ctx context.Context, key string, marker []byte, stale *seen[T]) bool {
	now := f.c.opts.Now()
	left := stale.expiry.Add(f.opts.FailSafe).Sub(now)
	if left < time.Millisecond {
		return false
	}
	if f.tag(ctx, left, key) != nil {
		return false
	}
	data := appendStale(nil, stale.expiry, now.Add(f.opts.FailSafeThrottle), stale.payload)
	ok, err := f.c.store.CompareAndSet(ctx, key, marker, data, left)
	if err != nil {
		f.writeFailed(err)
		return true // the marker ends with its lease; the store is failing, the value is the best at hand
	}
	return ok
}

// restore puts back the value a lease was taken over (stale, nil for
// none) as it was, within its fail-safe life, or releases the lease.
func (f *Family[T]) restore(ctx context.Context, key string, marker []byte, stale *seen[T]) {
	if stale == nil {
		f.release(ctx, key, marker)
		return
	}
	left := stale.expiry.Add(f.opts.FailSafe).Sub(f.c.opts.Now())
	if left < time.Millisecond || f.tag(ctx, left, key) != nil {
		f.release(ctx, key, marker)
		return
	}
	if _, err := f.c.store.CompareAndSet(ctx, key, marker, stale.valueRaw, left); err != nil {
		f.writeFailed(err)
		f.release(ctx, key, marker)
	}
}

// release deletes the lease marker on key, if it is still there, so that
// waiters need not sit out the lease.
func (f *Family[T]) release(ctx context.Context, key string, marker []byte) {
	if _, err := f.c.store.CompareAndSet(ctx, key, marker, nil, 0); err != nil {
		f.stats.errors.Add(1)
	}
}

// eagerAt returns when the fresh value of s is due for an eager refresh.
func (f *Family[T]) eagerAt(s seen[T]) time.Time {
	return s.expiry.Add(-time.Duration((1 - f.opts.EagerRefresh) * float64(f.baseTTL(s.v))))
}

// pauseEager stops eager refreshes of the family for FailSafeThrottle
// after one failed: the source is failing.
func (f *Family[T]) pauseEager() {
	f.eagerPausedUntil.Store(f.c.opts.Now().Add(f.opts.FailSafeThrottle).UnixNano())
}

// maybeEager starts a background refresh of the fresh value s of key if it
// is due (EagerRefresh): one per key in this process (a flight), and one
// across processes (the lease, taken over the value, which readers keep
// being served meanwhile).
func (f *Family[T]) maybeEager(ctx context.Context, key, id string, s seen[T], load Loader[T]) {
	if f.opts.EagerRefresh <= 0 || f.c.writesRefused() {
		return
	}
	now := f.c.opts.Now()
	if now.Before(f.eagerAt(s)) || now.UnixNano() < f.eagerPausedUntil.Load() {
		return
	}
	base := context.WithoutCancel(ctx)
	// DoChan runs the refresh on a goroutine of its own; its outcome is
	// not awaited.
	f.c.flight.DoChan(f.c.flightKey(flightEager, key, f.c.gen.Load()), func() (r any, _ error) {
		defer func() {
			if p := recover(); p != nil {
				r = fmt.Errorf("cache: eager refresh of %s panicked: %v", key, p)
			}
		}()
		ctx, cancel := context.WithTimeout(base, f.flightTimeout())
		defer cancel()
		marker := f.newLease(s.raw)
		ok, err := f.c.store.CompareAndSet(ctx, key, s.raw, marker, f.leaseKeep(&s))
		if err != nil || !ok {
			return nil, nil // another process refreshes it, or the store fails
		}
		f.stats.eager.Add(1)
		if len(f.tagKeys) > 0 && f.tag(ctx, f.leaseKeep(&s), key) != nil {
			f.restore(ctx, key, marker, &s)
			return nil, nil
		}
		<-f.refresh(ctx, key, id, marker, &s, load)
		return nil, nil
	})
}
