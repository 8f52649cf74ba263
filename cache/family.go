package cache

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of FamilyOptions.
const (
	DefaultTTL = time.Hour
	// DefaultFailSafeThrottle is how long a stale value put back after a
	// failed refresh is served without calling the loader again.
	DefaultFailSafeThrottle = 30 * time.Second
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
	// lookups of absent ids do not reach the source every time. A cached
	// "not found" is never kept past it (FailSafe does not apply). Default:
	// 0, not cached.
	NegativeTTL time.Duration
	// Tags are the tags every key of the family joins when it is written or
	// leased, so that Cache.InvalidateTags drops them together (e.g. every
	// search result when any file changes). The store must be a Tagger.
	// Default: none.
	Tags []string
	// FailSafe keeps every value this long past its TTL, as stale: when a
	// refresh then fails or is slow (the database is down or hangs), Fetch
	// serves the stale value with OriginStale instead of the error, to
	// every caller on every instance. Default: 0, no fail-safe.
	FailSafe time.Duration
	// FailSafeThrottle is how long a stale value is served without calling
	// the loader again after a refresh failed, so that a failing source is
	// asked once per key and period, not once per read.
	// Default: DefaultFailSafeThrottle.
	FailSafeThrottle time.Duration
	// SoftTimeout bounds how long a caller waits for a refresh when a stale
	// value is at hand (FailSafe): past it the caller gets the stale value
	// and the refresh goes on in the background, up to HardTimeout, and
	// stores its value for the next caller. Default: 0, wait for the
	// refresh.
	SoftTimeout time.Duration
	// HardTimeout bounds one load: past it the loader's context ends and
	// the load counts as failed. It must not exceed Options.LeaseTTL.
	// Default: Options.LeaseTTL.
	HardTimeout time.Duration
	// EagerRefresh, between 0 and 1, refreshes a value in the background
	// once this fraction of its TTL has passed and it is read, so that a hot
	// key is replaced before it expires and its readers never miss. One
	// refresh per key runs across instances (it takes the lease), and the
	// current value is served meanwhile. Default: 0, off.
	EagerRefresh float64
	// Valid, if set, checks a decoded value: a value it refuses (JSON null,
	// a record without its id) is treated as corrupt: deleted, counted,
	// reloaded. Default: every decoded value is valid.
	Valid func(v T) bool
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
	prefix  string           // the keys' prefix: cache prefix, name, ':'
	opts    FamilyOptions[T] // defaults filled in
	stats   *counters
	tagKeys []string
	tagger  Tagger   // the store as a Tagger; nil without Tags
	near    *near[T] // nil: no near cache
	// eagerPausedUntil is when eager refreshes resume after one failed
	// (unix ns).
	eagerPausedUntil atomic.Int64
}

// NewFamily registers the family name in c and returns its typed view. The
// name is lower-case letters, digits, '_', '-' and ':' and must be unique in
// c.
func NewFamily[T any](c *Cache, name string, opts FamilyOptions[T]) (*Family[T], error) {
	if !validFamily(name) {
		return nil, fmt.Errorf("cache: invalid family name %q", name)
	}
	if opts.TTL < 0 || opts.NegativeTTL < 0 || opts.FailSafe < 0 || opts.FailSafeThrottle < 0 ||
		opts.SoftTimeout < 0 || opts.HardTimeout < 0 {
		return nil, fmt.Errorf("cache: family %s: negative duration", name)
	}
	if opts.EagerRefresh < 0 || opts.EagerRefresh >= 1 {
		return nil, fmt.Errorf("cache: family %s: EagerRefresh %v must be in [0, 1)", name, opts.EagerRefresh)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultTTL
	}
	if opts.FailSafeThrottle == 0 {
		opts.FailSafeThrottle = DefaultFailSafeThrottle
	}
	if opts.HardTimeout == 0 {
		opts.HardTimeout = c.opts.LeaseTTL
	}
	if opts.HardTimeout > c.opts.LeaseTTL {
		return nil, fmt.Errorf("cache: family %s: HardTimeout %v exceeds LeaseTTL %v: the lease would end while the load runs", name, opts.HardTimeout, c.opts.LeaseTTL)
	}
	if opts.Codec == nil {
		opts.Codec = JSON[T]{}
	}
	f := &Family[T]{c: c, name: name, prefix: c.keys.Prefix + name + ":", opts: opts}
	if len(opts.Tags) > 0 {
		t, ok := c.store.(Tagger)
		if !ok {
			return nil, fmt.Errorf("cache: family %s: tags need a store that indexes tags (a Tagger)", name)
		}
		f.tagger = t
	}
	for _, tag := range opts.Tags {
		k, err := c.tagKey(tag)
		if err != nil {
			return nil, fmt.Errorf("cache: family %s: tag %q: %w", name, tag, err)
		}
		f.tagKeys = append(f.tagKeys, k)
	}
	if opts.Near && c.notifier != nil {
		if !c.notifier.Tracks(f.prefix) {
			return nil, fmt.Errorf("cache: family %s: the store does not notify changes of %q keys, so a near cache would serve stale values", name, f.prefix)
		}
		var err error
		if f.near, err = newNear[T](f.prefix, opts.Tags, c.opts.NearSize, c.opts.LeaseTTL+time.Second, &c.tokens); err != nil {
			return nil, fmt.Errorf("cache: family %s: %w", name, err)
		}
	}
	stats, err := c.register(name)
	if err != nil {
		return nil, err
	}
	f.stats = stats
	if f.near != nil {
		stats.nearSize = f.near.size
		c.addNear(f.near)
	}
	return f, nil
}

// Name returns the family name.
func (f *Family[T]) Name() string { return f.name }

// Key returns the key that holds the value of id, e.g. "file:42".
func (f *Family[T]) Key(id string) (string, error) {
	return f.c.keys.Key(f.name, id)
}

// keyOf returns the key of a normalized part.
func (f *Family[T]) keyOf(part string) string { return f.prefix + part }

// keys returns the keys of ids.
func (f *Family[T]) keys(ids []string) ([]string, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		k, err := f.Key(id)
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
}

// baseTTL returns the TTL of v before jitter.
func (f *Family[T]) baseTTL(v T) time.Duration {
	if f.opts.TTLFunc != nil {
		if d := f.opts.TTLFunc(v); d > 0 {
			return d
		}
	}
	return f.opts.TTL
}

// TTLOf returns the TTL a value gets when it is written: the family TTL or
// TTLFunc's, spread by the cache's jitter.
func (f *Family[T]) TTLOf(v T) time.Duration { return f.jitter(f.baseTTL(v)) }

func (f *Family[T]) jitter(ttl time.Duration) time.Duration {
	j := f.c.opts.Jitter
	if j == 0 {
		return ttl
	}
	// Uniform in [ttl*(1-j), ttl*(1+j)); never below a millisecond.
	d := time.Duration(float64(ttl) * (1 + j*(2*rand.Float64()-1)))
	return max(d, time.Millisecond)
}

// keep returns how long the store keeps a value of logical TTL ttl.
func (f *Family[T]) keep(ttl time.Duration) time.Duration { return ttl + f.opts.FailSafe }

// encode returns the envelope of v, fresh for ttl.
func (f *Family[T]) encode(v T, ttl time.Duration) ([]byte, error) {
	payload, err := f.opts.Codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cache: encode %s value: %w", f.name, err)
	}
	return appendEnvelope(make([]byte, 0, len(payload)+16), kindValue, f.c.opts.Now().Add(ttl), payload), nil
}

// tag adds keys to the family's tags for ttl, before they are written or
// leased, so that an invalidation of a tag that runs meanwhile deletes the
// key (or its lease).
func (f *Family[T]) tag(ctx context.Context, ttl time.Duration, keys ...string) error {
	for _, tk := range f.tagKeys {
		if err := f.tagger.AddToTag(ctx, tk, ttl, keys...); err != nil {
			f.stats.errors.Add(1)
			f.c.noteRefused(err)
			return fmt.Errorf("cache: tag %s: %w", tk, err)
		}
	}
	return nil
}

// tagKey returns the key of the index of tag: "tag:{name}", a Redis hash
// tag, so that a store may keep helper keys in the same Cluster slot. A tag
// holding a brace is hashed, so that the hash tag is always the whole name.
func (c *Cache) tagKey(tag string) (string, error) {
	part, err := c.keys.normalize(tag)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(part, "{}") {
		part = hashPart(part)
	}
	return c.keys.Prefix + "tag:{" + part + "}", nil
}
