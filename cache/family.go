package cache

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// FamilyOptions configures a Family. The zero value of every field means its
// default.
type FamilyOptions[T any] struct {
	// Codec encodes values. Default: JSON[T].
	Codec Codec[T]
	// TTL is how long a value is kept. Default: DefaultTTL.
	TTL time.Duration
	// TTLFunc, if set, gives the TTL of each value (dynamic TTL, e.g. by
	// size and popularity); a result <= 0 falls back to TTL.
	TTLFunc func(v T) time.Duration
	// NegativeTTL is how long a loader's ErrNotFound is cached, so that
	// lookups of absent ids do not reach the source every time. Default: 0,
	// not cached.
	NegativeTTL time.Duration
	// Tags are the tags every key of the family joins when it is written or
	// leased, so that Cache.InvalidateTags drops them together (e.g. every
	// search result when any file changes). Default: none.
	Tags []string
	// FailSafe keeps every value this long past its TTL, as stale: when the
	// loader then fails (the database is down), Fetch serves the stale value
	// with OriginStale instead of the error. Default: 0, no fail-safe.
	FailSafe time.Duration
	// Near keeps decoded values in process (see Options.NearSize), so that a
	// hit costs a map lookup and no decode. It is ignored when the Cache has
	// no near cache; NewFamily fails if the store does not notify changes of
	// the family's keys (Notifier.Tracks). Default: false.
	Near bool
}

// Family is a typed view of one key family of a Cache, such as "file" for
// "file:{id}". It is safe for concurrent use.
type Family[T any] struct {
	c       *Cache
	name    string
	opts    FamilyOptions[T] // defaults filled in
	stats   *counters
	tagKeys []string
	near    *near[T] // nil: no near cache
}

// NewFamily registers the family name in c and returns its typed view. The
// name is lower-case letters, digits, '_', '-' and ':' and must be unique in
// c.
func NewFamily[T any](c *Cache, name string, opts FamilyOptions[T]) (*Family[T], error) {
	if !validFamily(name) {
		return nil, fmt.Errorf("cache: invalid family name %q", name)
	}
	if opts.TTL < 0 || opts.NegativeTTL < 0 || opts.FailSafe < 0 {
		return nil, fmt.Errorf("cache: family %s: negative TTL", name)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Codec == nil {
		opts.Codec = JSON[T]{}
	}
	tagKeys := make([]string, len(opts.Tags))
	for i, tag := range opts.Tags {
		k, err := c.tagKey(tag)
		if err != nil {
			return nil, fmt.Errorf("cache: family %s: tag %q: %w", name, tag, err)
		}
		tagKeys[i] = k
	}
	var nc *near[T]
	if opts.Near && c.notifier != nil {
		prefix := c.keys.Prefix + name + ":"
		if !c.notifier.Tracks(prefix) {
			return nil, fmt.Errorf("cache: family %s: the store does not notify changes of %q keys, so a near cache would serve stale values", name, prefix)
		}
		var err error
		if nc, err = newNear[T](prefix, opts.Tags, c.opts.NearSize, &c.tokens); err != nil {
			return nil, fmt.Errorf("cache: family %s: %w", name, err)
		}
	}
	stats, err := c.register(name)
	if err != nil {
		return nil, err
	}
	if nc != nil {
		stats.nearSize = nc.size
		c.addNear(nc)
	}
	return &Family[T]{c: c, name: name, opts: opts, stats: stats, tagKeys: tagKeys, near: nc}, nil
}

// tag adds key to the family's tags before it is written, so that an
// invalidation of a tag that runs meanwhile deletes the key (or its lease).
func (f *Family[T]) tag(ctx context.Context, ttl time.Duration, keys ...string) error {
	for _, tk := range f.tagKeys {
		if err := f.c.store.AddToTag(ctx, tk, ttl+f.c.opts.LeaseTTL, keys...); err != nil {
			f.stats.errors.Add(1)
			return fmt.Errorf("cache: tag %s: %w", tk, err)
		}
	}
	return nil
}

// Name returns the family name.
func (f *Family[T]) Name() string { return f.name }

// Key returns the key that holds the value of id, e.g. "file:42".
func (f *Family[T]) Key(id string) (string, error) {
	return f.c.keys.Key(f.name, id)
}

// TTLOf returns the TTL a value gets when it is written: the family TTL or
// TTLFunc's, spread by the cache's jitter.
func (f *Family[T]) TTLOf(v T) time.Duration {
	ttl := f.opts.TTL
	if f.opts.TTLFunc != nil {
		if d := f.opts.TTLFunc(v); d > 0 {
			ttl = d
		}
	}
	return f.jitter(ttl)
}

func (f *Family[T]) jitter(ttl time.Duration) time.Duration {
	j := f.c.opts.Jitter
	if j == 0 {
		return ttl
	}
	// Uniform in [ttl*(1-j), ttl*(1+j)); never below a millisecond.
	d := time.Duration(float64(ttl) * (1 + j*(2*rand.Float64()-1)))
	return max(d, time.Millisecond)
}

// state is the outcome of one lookup.
type state int

const (
	stateMiss     state = iota
	stateHit            // a decoded value
	stateNotFound       // a cached "not found"
	stateLeased         // another loader holds the lease
	stateStale          // a value past its TTL, kept for fail-safe
)

// Get returns the cached value of id, or ErrNotFound.
func (f *Family[T]) Get(ctx context.Context, id string) (T, error) {
	var zero T
	part, err := f.c.keys.normalize(id)
	if err != nil {
		return zero, err
	}
	if v, ok := f.nearGet(part); ok {
		return v, nil
	}
	v, st, err := f.lookupNear(ctx, f.keyOf(part), part)
	if err != nil {
		return zero, err
	}
	f.count(st)
	if st != stateHit {
		return zero, ErrNotFound
	}
	return v, nil
}

// keyOf returns the key of a normalized part.
func (f *Family[T]) keyOf(part string) string { return f.c.keys.Prefix + f.name + ":" + part }

// nearGet answers from the near cache, if the family has one.
func (f *Family[T]) nearGet(part string) (T, bool) {
	if f.near != nil {
		if v, ok := f.near.get(part); ok {
			f.stats.nearHits.Add(1)
			return v, true
		}
	}
	var zero T
	return zero, false
}

// lookupNear is lookup that keeps what it finds in the near cache, unless a
// notification about key arrives while it reads.
func (f *Family[T]) lookupNear(ctx context.Context, key, part string) (T, state, error) {
	if f.near == nil {
		v, st, _, err := f.lookup(ctx, key)
		return v, st, err
	}
	token := f.near.reserve(part)
	v, st, expiry, err := f.lookup(ctx, key)
	if err == nil && st == stateHit {
		f.near.fill(part, token, v, expiry.Sub(f.c.opts.Now()))
	} else {
		f.near.release(part, token)
	}
	return v, st, err
}

// lookup reads key and decodes what it holds, with the value's logical
// expiry; it counts errors and corrupt values but not hits and misses, which
// depend on the caller.
func (f *Family[T]) lookup(ctx context.Context, key string) (T, state, time.Time, error) {
	var zero T
	start := f.c.opts.Now()
	raw, err := f.c.store.Get(ctx, key)
	f.c.observe("get", f.name, start, ignoreNotFound(err))
	switch {
	case errors.Is(err, ErrNotFound):
		return zero, stateMiss, time.Time{}, nil
	case err != nil:
		f.stats.errors.Add(1)
		return zero, stateMiss, time.Time{}, fmt.Errorf("cache: get %s: %w", key, err)
	}
	v, st, expiry := f.decode(ctx, key, raw)
	if st == stateHit && f.stale(expiry) {
		st = stateStale
	}
	return v, st, expiry, nil
}

// stale reports whether a value with this logical expiry is past it (it is
// then only kept, by FailSafe, for when the loader fails).
func (f *Family[T]) stale(expiry time.Time) bool {
	return f.opts.FailSafe > 0 && !f.c.opts.Now().Before(expiry)
}

// decode interprets a stored envelope. A corrupt or foreign value is deleted
// and reported as a miss.
func (f *Family[T]) decode(ctx context.Context, key string, raw []byte) (T, state, time.Time) {
	var v T
	env, err := parseEnvelope(raw)
	if err == nil {
		switch env.kind {
		case kindLease:
			return v, stateLeased, time.Time{}
		case kindNotFound:
			return v, stateNotFound, env.expiry
		}
		if err = f.opts.Codec.Unmarshal(env.payload, &v); err == nil {
			return v, stateHit, env.expiry
		}
	}
	f.stats.corrupt.Add(1)
	// Best effort: a failed delete leaves the value to its TTL.
	_, _ = f.c.store.Delete(ctx, key)
	var zero T
	return zero, stateMiss, time.Time{}
}

func (f *Family[T]) count(st state) {
	if st == stateHit || st == stateNotFound {
		f.stats.hits.Add(1)
	} else {
		f.stats.misses.Add(1)
	}
}

// Exists reports whether a value of id is cached.
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

// TTL returns how long the value of id is still kept, or ErrNotFound.
func (f *Family[T]) TTL(ctx context.Context, id string) (time.Duration, error) {
	key, err := f.Key(id)
	if err != nil {
		return 0, err
	}
	d, err := f.c.store.TTL(ctx, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		f.stats.errors.Add(1)
		return 0, fmt.Errorf("cache: ttl %s: %w", key, err)
	}
	return d, err
}

// keep returns how long the store keeps a value of logical TTL ttl.
func (f *Family[T]) keep(ttl time.Duration) time.Duration { return ttl + f.opts.FailSafe }

func (f *Family[T]) encode(v T, ttl time.Duration) ([]byte, error) {
	payload, err := f.opts.Codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cache: encode %s value: %w", f.name, err)
	}
	return appendEnvelope(make([]byte, 0, len(payload)+16), kindValue, f.c.opts.Now().Add(ttl), payload), nil
}

// Set caches v as the value of id with the family's TTL. It replaces any
// lease on the key, so a load racing with this write cannot store over it.
func (f *Family[T]) Set(ctx context.Context, id string, v T) error {
	return f.SetWithTTL(ctx, id, v, 0)
}

// SetWithTTL caches v as the value of id for ttl; ttl <= 0 means the
// family's TTL.
func (f *Family[T]) SetWithTTL(ctx context.Context, id string, v T, ttl time.Duration) error {
	key, err := f.Key(id)
	if err != nil {
		return err
	}
	if ttl <= 0 {
		ttl = f.TTLOf(v)
	}
	data, err := f.encode(v, ttl)
	if err != nil {
		return err
	}
	if err := f.tag(ctx, ttl, key); err != nil {
		return err
	}
	start := f.c.opts.Now()
	err = f.c.store.Set(ctx, key, data, f.keep(ttl))
	f.dropNear(key)
	f.c.observe("set", f.name, start, err)
	if err != nil {
		f.stats.errors.Add(1)
		return fmt.Errorf("cache: set %s: %w", key, err)
	}
	return nil
}

// Delete removes the values of ids (and any lease on them, so that a load in
// flight does not store what it read before the delete). It reports how many
// keys existed.
func (f *Family[T]) Delete(ctx context.Context, ids ...string) (int, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		k, err := f.Key(id)
		if err != nil {
			return 0, err
		}
		keys[i] = k
	}
	f.c.forget(keys)
	start := f.c.opts.Now()
	n, err := f.c.store.Delete(ctx, keys...)
	f.dropNear(keys...)
	f.c.observe("delete", f.name, start, err)
	if err != nil {
		f.stats.errors.Add(1)
		return n, fmt.Errorf("cache: delete %s: %w", f.name, err)
	}
	return n, nil
}

// DeletePattern removes every value of the family whose id matches the Redis
// glob idGlob and reports how many it removed. Escape user-supplied text in
// idGlob with EscapeGlob: f.DeletePattern(ctx, EscapeGlob(dir)+"/*").
func (f *Family[T]) DeletePattern(ctx context.Context, idGlob string) (int, error) {
	pattern := f.c.keys.Pattern(f.name, idGlob)
	f.c.gen.Add(1)
	start := f.c.opts.Now()
	n, err := f.c.store.DeletePattern(ctx, pattern)
	if f.near != nil {
		f.near.flush()
	}
	f.c.observe("delete_pattern", f.name, start, err)
	if err != nil {
		f.stats.errors.Add(1)
		return n, fmt.Errorf("cache: delete pattern %q: %w", pattern, err)
	}
	return n, nil
}

// GetMany returns the cached values of ids in one round trip per node;
// missing ids are absent from the map.
func (f *Family[T]) GetMany(ctx context.Context, ids []string) (map[string]T, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		k, err := f.Key(id)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	out := make(map[string]T, len(ids))
	if f.near != nil {
		// Answer what the near cache holds; ask the store for the rest.
		var restIDs, restKeys []string
		for i, k := range keys {
			if v, ok := f.nearGet(k[len(f.near.prefix):]); ok {
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
		st := stateMiss
		var v T
		if raw != nil {
			var expiry time.Time
			if v, st, expiry = f.decode(ctx, keys[i], raw); st == stateHit && f.stale(expiry) {
				st = stateMiss
			}
		}
		f.count(st)
		if st == stateHit {
			out[ids[i]] = v
		}
	}
	return out, nil
}

// dropNear drops keys from the family's near cache, for a write of this
// process: its next read must not see the old value.
func (f *Family[T]) dropNear(keys ...string) {
	if f.near != nil {
		for _, k := range keys {
			f.near.dropKey(k)
		}
	}
}

// SetMany caches every value of values (by id) in one round trip per node.
func (f *Family[T]) SetMany(ctx context.Context, values map[string]T) error {
	entries := make([]Entry, 0, len(values))
	keys := make([]string, 0, len(values))
	var maxTTL time.Duration
	for id, v := range values {
		key, err := f.Key(id)
		if err != nil {
			return err
		}
		ttl := f.TTLOf(v)
		data, err := f.encode(v, ttl)
		if err != nil {
			return err
		}
		entries = append(entries, Entry{Key: key, Value: data, TTL: f.keep(ttl)})
		keys = append(keys, key)
		maxTTL = max(maxTTL, f.keep(ttl))
	}
	if err := f.tag(ctx, maxTTL, keys...); err != nil {
		return err
	}
	start := f.c.opts.Now()
	err := f.c.store.SetMulti(ctx, entries)
	f.dropNear(keys...)
	f.c.observe("set_many", f.name, start, err)
	if err != nil {
		f.stats.errors.Add(1)
		return fmt.Errorf("cache: set many %s: %w", f.name, err)
	}
	return nil
}

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
	// OriginStale is a value past its TTL, served because the loader
	// failed (see FamilyOptions.FailSafe).
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

// GetOrLoad is Fetch without the origin.
func (f *Family[T]) GetOrLoad(ctx context.Context, id string, load Loader[T]) (T, error) {
	v, _, err := f.Fetch(ctx, id, load)
	return v, err
}

// Fetch returns the cached value of id or loads it with load and caches
// it, and says where the value came from. Concurrent callers in this process share one load (singleflight); across
// processes a lease on the key lets one loader run while the others wait for
// its value, and a write or delete that races with the load voids the lease,
// so a stale value is never stored. If the store fails, GetOrLoad still
// answers from load, without writing to the cache.
func (f *Family[T]) Fetch(ctx context.Context, id string, load Loader[T]) (T, Origin, error) {
	var zero T
	part, err := f.c.keys.normalize(id)
	if err != nil {
		return zero, OriginLoad, err
	}
	if v, ok := f.nearGet(part); ok {
		return v, OriginLocal, nil
	}
	key := f.keyOf(part)
	v, st, err := f.lookupNear(ctx, key, part)
	switch {
	case err != nil:
		v, err := f.fallback(ctx, id, load)
		return v, OriginLoad, err
	case st == stateHit:
		f.stats.hits.Add(1)
		return v, OriginStore, nil
	case st == stateNotFound:
		f.stats.hits.Add(1)
		return zero, OriginStore, ErrNotFound
	}
	f.stats.misses.Add(1)
	// Do, not DoChan: the load runs on the first caller's goroutine instead
	// of a new one; a caller that gives up still waits for the shared load,
	// which LeaseTTL bounds.
	r, err, _ := f.c.flight.Do(f.c.flightKey(key, f.c.gen.Load()), func() (any, error) {
		// Detached from the first caller: one caller giving up must not
		// fail the others sharing the flight.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.c.opts.LeaseTTL)
		defer cancel()
		return f.leaseAndLoad(fctx, key, id, load)
	})
	if err != nil {
		if st == stateStale && failSafe(err) {
			f.stats.staleServed.Add(1)
			return v, OriginStale, nil
		}
		return zero, OriginLoad, err
	}
	v, _ = r.(T) // nil when T is an interface type
	return v, OriginLoad, nil
}

// failSafe reports whether a load error may be answered with a stale value:
// the source failed, as opposed to saying the id does not exist.
func failSafe(err error) bool {
	return !errors.Is(err, ErrNotFound) && !errors.Is(err, context.Canceled)
}

// LoadWithoutCache calls load for id without touching the cache, within the
// cache's budget of loads made without it (Options.FallbackLimit): for a
// caller that knows the cache cannot be trusted right now.
func (f *Family[T]) LoadWithoutCache(ctx context.Context, id string, load Loader[T]) (T, error) {
	return f.fallback(ctx, id, load)
}

// fallback loads without the cache, which failed, within the cache's budget
// of such loads (Options.FallbackLimit), so that an outage of the store
// does not turn into a flood of the source.
func (f *Family[T]) fallback(ctx context.Context, id string, load Loader[T]) (T, error) {
	release, err := f.c.acquireFallback(ctx)
	if err != nil {
		f.stats.rejected.Add(1)
		var zero T
		return zero, err
	}
	defer release()
	f.stats.fallbacks.Add(1)
	return f.loadOnly(ctx, id, load)
}

// loadOnly calls load without touching the cache: the path taken when the
// store failed.
func (f *Family[T]) loadOnly(ctx context.Context, id string, load Loader[T]) (T, error) {
	f.stats.loads.Add(1)
	v, err := load(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		f.stats.loadErrors.Add(1)
	}
	return v, err
}

func (f *Family[T]) leaseAndLoad(ctx context.Context, key, id string, load Loader[T]) (T, error) {
	var zero T
	marker := leaseMarker(crand.Text())
	deadline := f.c.opts.Now().Add(f.c.opts.LeaseWait)
	backoff := 2 * time.Millisecond
	waited := false
	for {
		raw, existed, err := f.c.store.SetNXGet(ctx, key, marker, f.c.opts.LeaseTTL)
		if err != nil {
			f.stats.errors.Add(1)
			return f.fallback(ctx, id, load)
		}
		if !existed {
			if f.tag(ctx, f.opts.TTL, key) != nil {
				// Untagged, a stored value could outlive a tag
				// invalidation: serve the load without storing it.
				_, _ = f.c.store.CompareAndSet(ctx, key, marker, nil, 0)
				return f.loadOnly(ctx, id, load)
			}
			return f.loadAndStore(ctx, key, id, marker, load, nil, time.Time{})
		}
		v, st, expiry := f.decode(ctx, key, raw)
		if st == stateHit && f.stale(expiry) {
			// Take the lease over the stale value, and put the value back
			// if the load fails, for the next reader's fail-safe.
			ok, err := f.c.store.CompareAndSet(ctx, key, raw, marker, f.c.opts.LeaseTTL)
			if err != nil {
				f.stats.errors.Add(1)
				return f.fallback(ctx, id, load)
			}
			if !ok {
				continue // changed meanwhile: look again
			}
			return f.loadAndStore(ctx, key, id, marker, load, raw, expiry.Add(f.opts.FailSafe))
		}
		switch st {
		case stateHit:
			return v, nil
		case stateNotFound:
			return zero, ErrNotFound
		case stateMiss: // a corrupt value, now deleted: take the lease
			continue
		}
		// Another process is loading: wait for its value, then give up
		// waiting and load without storing.
		if !waited {
			waited = true
			f.stats.leaseWaits.Add(1)
		}
		if !f.c.opts.Now().Before(deadline) {
			return f.loadOnly(ctx, id, load)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return zero, ctx.Err()
		}
		backoff = min(2*backoff, 50*time.Millisecond)
	}
}

// loadAndStore runs load while holding the lease marker on key and stores the
// result only if the marker is still there. If the load fails and stale (a
// value the lease replaced) is given, it is put back until keepUntil, for the
// next reader's fail-safe.
func (f *Family[T]) loadAndStore(ctx context.Context, key, id string, marker []byte, load Loader[T], stale []byte, keepUntil time.Time) (T, error) {
	v, err := f.loadOnly(ctx, id, load)
	var data []byte
	var ttl time.Duration
	switch {
	case err == nil:
		ttl = f.TTLOf(v)
		data, err = f.encode(v, ttl)
		if err != nil {
			return v, nil // served, not cached
		}
	case errors.Is(err, ErrNotFound) && f.opts.NegativeTTL > 0:
		ttl = f.jitter(f.opts.NegativeTTL)
		data = appendEnvelope(nil, kindNotFound, f.c.opts.Now().Add(ttl), nil)
	default:
		// Release the lease at once so waiters do not sit out LeaseTTL.
		if left := keepUntil.Sub(f.c.opts.Now()); stale != nil && failSafe(err) && left > 0 {
			_, _ = f.c.store.CompareAndSet(ctx, key, marker, stale, left)
		} else {
			_, _ = f.c.store.CompareAndSet(ctx, key, marker, nil, 0)
		}
		return v, err
	}
	start := f.c.opts.Now()
	_, serr := f.c.store.CompareAndSet(ctx, key, marker, data, f.keep(ttl))
	f.c.observe("set", f.name, start, serr)
	if serr != nil {
		f.stats.errors.Add(1)
	}
	return v, err
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
