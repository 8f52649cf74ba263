package cache

import (
	"context"
	"errors"
	"time"
)

// ErrOverloaded is returned, wrapped, when a load cannot run because the
// budget of loads without the cache is spent (Options.FallbackLimit). The
// error has a RetryAfter() time.Duration method.
var ErrOverloaded = errors.New("cache: too many loads while the store is unavailable")

type overloaded struct{ after time.Duration }

func (e overloaded) Error() string             { return ErrOverloaded.Error() }
func (e overloaded) Is(target error) bool      { return target == ErrOverloaded }
func (e overloaded) RetryAfter() time.Duration { return e.after }

// acquireFallback takes a slot of the fallback budget.
func (c *Cache) acquireFallback(ctx context.Context) (release func(), err error) {
	if c.fallbacks == nil {
		return func() {}, nil
	}
	release = func() { <-c.fallbacks }
	select {
	case c.fallbacks <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(c.opts.FallbackWait)
	defer t.Stop()
	select {
	case c.fallbacks <- struct{}{}:
		return release, nil
	case <-t.C:
		return nil, overloaded{after: time.Second}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fallback loads without the cache, which failed, within the cache's budget
// of such loads (Options.FallbackLimit), so that an outage of the store
// does not turn into a flood of the source. It runs inside the key's
// flight: concurrent callers share it.
func (f *Family[T]) fallback(ctx context.Context, id string, load Loader[T]) (T, error) {
	release, err := f.c.acquireFallback(ctx)
	if err != nil {
		f.stats.rejected.Add(1)
		var zero T
		return zero, err
	}
	defer release()
	f.stats.fallbacks.Add(1)
	f.c.note(ctx, fellBack)
	return f.loadOnly(ctx, id, load)
}

// LoadWithoutCache calls load for id without reading or writing the cache,
// within the cache's budget of loads made without it (Options.FallbackLimit):
// for a caller that knows the cache cannot be trusted right now (the
// invalidations of recent writes have not reached it). Concurrent callers
// for one id share one load, and every caller returns at its own deadline.
func (f *Family[T]) LoadWithoutCache(ctx context.Context, id string, load Loader[T]) (T, error) {
	var zero T
	part, err := f.c.keys.normalize(id)
	if err != nil {
		return zero, err
	}
	key := f.keyOf(part)
	if reentrant(ctx, f.c, key) {
		return zero, ErrReentrantLoad
	}
	r, err := flightDo(ctx, f.c, flightDirect, key, f.opts.HardTimeout, func(fctx context.Context) result[T] {
		v, err := f.fallback(fctx, id, load)
		return result[T]{v: v, origin: OriginLoad, err: err}
	})
	if err != nil {
		return zero, err
	}
	return r.v, r.err
}
