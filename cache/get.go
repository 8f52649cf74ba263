package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// view is what a stored envelope means to a reader.
type view uint8

const (
	viewAbsent    view = iota // nothing stored
	viewFresh                 // a value before its expiry
	viewNotFound              // a cached "not found" before its expiry
	viewStale                 // a value kept past its expiry (FailSafe): a refresh is due
	viewThrottled             // a stale value within its fail-safe throttle: serve it, do not load
	viewLeased                // a live lease, possibly taken over a value
	viewDead                  // an expired lease or "not found": to be taken over
	viewCorrupt               // not an envelope of this family: to be deleted
)

// seen is a decoded envelope.
type seen[T any] struct {
	view     view
	v        T         // the value: fresh, stale, or the one a lease was taken over
	hasValue bool      // v holds a value (for leases: one was taken over)
	fresh    bool      // v is before its expiry
	expiry   time.Time // v's logical expiry
	leaseEnd time.Time // the end of a lease
	raw      []byte    // the stored bytes, for CompareAndSet
	valueRaw []byte    // the envelope of v (raw, or a lease's inner)
	payload  []byte    // the encoded v
}

// decode interprets raw, the bytes stored at a key of the family.
func (f *Family[T]) decode(raw []byte) seen[T] {
	s := seen[T]{raw: raw}
	if raw == nil {
		return s
	}
	env, err := parseEnvelope(raw)
	if err != nil {
		s.view = viewCorrupt
		return s
	}
	now := f.c.opts.Now()
	switch env.kind {
	case kindNotFound:
		s.view = viewNotFound
		if !now.Before(env.at) {
			s.view = viewDead
		}
		return s
	case kindLease:
		s.leaseEnd = env.at
		s.view = viewLeased
		// A lease past its end, or ending further than any lease of this
		// cache could (a foreign marker), is dead.
		if !now.Before(env.at) || env.at.After(now.Add(f.c.opts.LeaseTTL+time.Second)) {
			s.view = viewDead
		}
		if env.inner == nil {
			return s
		}
		inner, err := parseEnvelope(env.inner)
		if err != nil || !f.decodeValue(&s, inner, env.inner, now) {
			s.view = viewCorrupt
		}
		return s
	}
	if !f.decodeValue(&s, env, raw, now) {
		s.view = viewCorrupt
		return s
	}
	switch {
	case s.fresh:
		s.view = viewFresh
	case f.opts.FailSafe <= 0:
		// Kept past its expiry only by clock skew: nothing to fall back on.
		s.view = viewDead
		s.hasValue = false
	case env.kind == kindStale && now.Before(env.until):
		s.view = viewThrottled
	default:
		s.view = viewStale
	}
	return s
}

// decodeValue decodes the value envelope env (a v: or s: envelope) into s.
func (f *Family[T]) decodeValue(s *seen[T], env envelope, raw []byte, now time.Time) bool {
	if env.kind != kindValue && env.kind != kindStale {
		return false
	}
	if err := f.opts.Codec.Unmarshal(env.payload, &s.v); err != nil {
		return false
	}
	if f.opts.Valid != nil && !f.opts.Valid(s.v) {
		return false
	}
	s.hasValue = true
	s.valueRaw = raw
	s.payload = env.payload
	s.expiry = env.at
	s.fresh = env.kind == kindValue && now.Before(env.at)
	return true
}

// drop deletes a corrupt or wrong-typed value at key, if it still holds raw
// (nil: whatever it holds), and counts it. A failure leaves it to its TTL.
func (f *Family[T]) drop(ctx context.Context, key string, raw []byte) {
	f.stats.corrupt.Add(1)
	if raw == nil {
		_, _ = f.c.store.Delete(ctx, key)
		f.dropNear(key) // this process's own delete is not notified to it
		return
	}
	_, _ = f.c.store.CompareAndSet(ctx, key, raw, nil, 0)
}

// Get returns the cached value of id, or ErrNotFound. It never loads: a
// value past its TTL, or a cached "not found", is ErrNotFound.
func (f *Family[T]) Get(ctx context.Context, id string) (T, error) {
	var zero T
	part, err := f.c.keys.normalize(id)
	if err != nil {
		return zero, err
	}
	if v, ok := f.nearGet(part); ok {
		return v, nil
	}
	key := f.keyOf(part)
	token := f.reserveNear(part)
	s, err := f.read(ctx, key)
	if err != nil {
		f.releaseNear(part, token)
		return zero, err
	}
	switch {
	case s.view == viewFresh:
		f.stats.hits.Add(1)
		f.fillNear(part, token, s)
		return s.v, nil
	case s.view == viewLeased && s.fresh:
		f.stats.hits.Add(1)
		f.releaseNear(part, token)
		return s.v, nil
	case s.view == viewNotFound:
		f.stats.hits.Add(1)
	default:
		f.stats.misses.Add(1)
	}
	f.releaseNear(part, token)
	return zero, ErrNotFound
}

// read gets and decodes key; a corrupt or wrong-typed value is dropped and
// read as absent.
func (f *Family[T]) read(ctx context.Context, key string) (seen[T], error) {
	start := f.c.opts.Now()
	raw, err := f.c.store.Get(ctx, key)
	f.c.observe("get", f.name, start, ignoreNotFound(err))
	switch {
	case errors.Is(err, ErrNotFound):
		return seen[T]{}, nil
	case errors.Is(err, ErrWrongType):
		f.drop(ctx, key, nil)
		return seen[T]{}, nil
	case err != nil:
		f.stats.errors.Add(1)
		return seen[T]{}, fmt.Errorf("cache: get %s: %w", key, err)
	}
	s := f.decode(raw)
	if s.view == viewCorrupt {
		f.drop(ctx, key, raw)
		return seen[T]{}, nil
	}
	return s, nil
}

// Exists reports whether a fresh value of id is cached.
func (f *Family[T]) Exists(ctx context.Context, id string) (bool, error) {
	_, err := f.Get(ctx, id)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// GetMany returns the cached values of ids in one round trip per node;
// missing ids are absent from the map.
func (f *Family[T]) GetMany(ctx context.Context, ids []string) (out map[string]T, err error) {
	keys, err := f.keys(ids)
	if err != nil {
		return nil, err
	}
	if f.c.tracer != nil {
		var sp trace.Span
		ctx, sp = f.c.startSpan(ctx, spanGetMany, f.name, "")
		n := len(ids)
		defer func() { endSpan(sp, err, attrCount.Int(n), attrFound.Int(len(out))) }()
	}
	out = make(map[string]T, len(ids))
	if f.near != nil {
		// Answer what the near cache holds; ask the store for the rest.
		var restIDs, restKeys []string
		for i, k := range keys {
			if v, ok := f.nearGet(k[len(f.prefix):]); ok {
				out[ids[i]] = v
				continue
			}
			restIDs, restKeys = append(restIDs, ids[i]), append(restKeys, k)
		}
		ids, keys = restIDs, restKeys
		if len(keys) == 0 {
			return out, nil
		}
	}
	start := f.c.opts.Now()
	raws, err := f.c.store.GetMulti(ctx, keys)
	f.c.observe("get_many", f.name, start, err)
	if err != nil {
		f.stats.errors.Add(1)
		return nil, fmt.Errorf("cache: get many %s: %w", f.name, err)
	}
	for i, raw := range raws {
		s := f.decode(raw)
		switch {
		case s.view == viewCorrupt:
			f.drop(ctx, keys[i], raw)
			f.stats.misses.Add(1)
		case s.view == viewFresh, s.view == viewLeased && s.fresh:
			f.stats.hits.Add(1)
			out[ids[i]] = s.v
		case s.view == viewNotFound:
			f.stats.hits.Add(1)
		default:
			f.stats.misses.Add(1)
		}
	}
	return out, nil
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
