package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"
)

// Defaults of Options.
const (
	DefaultTTL       = time.Hour
	DefaultLeaseTTL  = 5 * time.Second
	DefaultLeaseWait = 250 * time.Millisecond
	DefaultJitter    = 0.1
	// DefaultFallbackWait is the default Options.FallbackWait.
	DefaultFallbackWait = 100 * time.Millisecond
)

// Options tunes a Cache. The zero value of every field means its default.
type Options struct {
	// Prefix goes before every key, e.g. "app1:". Default: none.
	Prefix string
	// MaxKeyPart is the longest key part kept verbatim; longer parts are
	// hashed. Default: DefaultMaxKeyPart.
	MaxKeyPart int
	// LeaseTTL bounds how long a loader holds the lease on a missing key and
	// how long one load may run. Default: DefaultLeaseTTL.
	LeaseTTL time.Duration
	// LeaseWait is how long a reader that finds another process' lease waits
	// for its value before it loads without storing. Default: DefaultLeaseWait.
	LeaseWait time.Duration
	// Jitter spreads every TTL uniformly by ±Jitter of itself so that entries
	// written together do not expire together. A negative value turns it
	// off. Default: DefaultJitter.
	Jitter float64
	// NearSize is the capacity, in entries, of the in-process near cache of
	// each family that asks for one (FamilyOptions.Near). The near cache
	// holds decoded values and needs a Store that implements Notifier, so
	// that changes made anywhere drop its entries; with another Store, or
	// with 0, there is no near cache. Default: 0.
	NearSize int
	// FallbackLimit bounds the loads that run concurrently because the
	// store failed (an outage: every read would otherwise reach the source
	// at once). A load beyond it waits up to FallbackWait for a slot, then
	// fails with ErrOverloaded. Default: 0, no limit.
	FallbackLimit int
	// FallbackWait, see FallbackLimit. Default: DefaultFallbackWait.
	FallbackWait time.Duration
	// Observer, if set, is told the duration and error of every operation
	// (and every invalidation if it is an InvalidationObserver).
	Observer Observer
	// Instance names this process in invalidation events.
	// Default: hostname-pid.
	Instance string
	// Logger receives invalidation events (debug) and publish failures.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Observer receives the outcome of every cache operation; metrics/ adapts it
// to Prometheus. ObserveOp is called on the caller's goroutine and must be
// fast and safe for concurrent use.
type Observer interface {
	ObserveOp(op, family string, d time.Duration, err error)
}

// Cache is typed cache-aside over a Store: key building, envelopes, leases
// and statistics shared by its Families. It is safe for concurrent use.
type Cache struct {
	store  Store
	keys   Keyspace
	opts   Options
	flight singleflight.Group
	// gen grows with every tag or pattern invalidation; it is part of the
	// singleflight key so that readers arriving after one never join a load
	// that started before it.
	gen      atomic.Uint64
	mu       sync.Mutex
	families map[string]*counters

	fallbacks chan struct{}            // slots of Options.FallbackLimit; nil: no limit
	notifier  Notifier                 // nil: no near cache
	nears     atomic.Pointer[nearList] // near caches, for notifications
	tokens    atomic.Uint64            // near-cache read reservations
	flushes   atomic.Uint64
}

// New returns a Cache over store.
func New(store Store, opts Options) (*Cache, error) {
	if store == nil {
		return nil, errors.New("cache: nil store")
	}
	if opts.Prefix != "" && EscapeGlob(opts.Prefix) != opts.Prefix {
		return nil, fmt.Errorf("cache: prefix %q holds a glob character", opts.Prefix)
	}
	if opts.LeaseTTL < 0 || opts.LeaseWait < 0 || opts.Jitter > 0.5 {
		return nil, errors.New("cache: LeaseTTL and LeaseWait must be >= 0, Jitter <= 0.5")
	}
	if opts.LeaseTTL == 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.LeaseWait == 0 {
		opts.LeaseWait = DefaultLeaseWait
	}
	switch {
	case opts.Jitter == 0:
		opts.Jitter = DefaultJitter
	case opts.Jitter < 0:
		opts.Jitter = 0
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Instance == "" {
		host, _ := os.Hostname()
		opts.Instance = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	if opts.Logger == nil {
		opts.Logger = discard
	}
	if opts.NearSize < 0 || opts.FallbackLimit < 0 {
		return nil, errors.New("cache: NearSize and FallbackLimit must be >= 0")
	}
	if opts.FallbackWait <= 0 {
		opts.FallbackWait = DefaultFallbackWait
	}
	c := &Cache{
		store:    store,
		keys:     Keyspace{Prefix: opts.Prefix, MaxPart: opts.MaxKeyPart},
		opts:     opts,
		families: make(map[string]*counters),
	}
	if opts.FallbackLimit > 0 {
		c.fallbacks = make(chan struct{}, opts.FallbackLimit)
	}
	if n, ok := store.(Notifier); ok && opts.NearSize > 0 {
		c.notifier = n
		n.Notify(c.notified)
	}
	return c, nil
}

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

// FallbacksInFlight returns how many loads without the cache run now.
func (c *Cache) FallbacksInFlight() int { return len(c.fallbacks) }

// NearEnabled reports whether families that ask for a near cache get one.
func (c *Cache) NearEnabled() bool { return c.notifier != nil }

// Store returns the Store the cache runs on.
func (c *Cache) Store() Store { return c.store }

// Keyspace returns the key builder of the cache.
func (c *Cache) Keyspace() Keyspace { return c.keys }

// DeletePattern removes every key of this cache (inside its prefix) that
// matches the Redis glob pattern, and reports how many it removed. Escape
// user-supplied text in pattern with EscapeGlob.
func (c *Cache) DeletePattern(ctx context.Context, pattern string) (int, error) {
	c.gen.Add(1)
	start := c.opts.Now()
	n, err := c.store.DeletePattern(ctx, EscapeGlob(c.keys.Prefix)+pattern)
	c.flushNear(func(nearSet) bool { return true })
	c.observe("delete_pattern", "", start, err)
	if err != nil {
		return n, fmt.Errorf("cache: delete pattern %q: %w", pattern, err)
	}
	return n, nil
}

// Delete removes raw keys (as built by a Family's Key) and reports how many
// existed.
func (c *Cache) Delete(ctx context.Context, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	c.forget(keys)
	start := c.opts.Now()
	n, err := c.store.Delete(ctx, keys...)
	c.dropNear(keys)
	c.observe("delete", "", start, err)
	if err != nil {
		return n, fmt.Errorf("cache: delete %d keys: %w", len(keys), err)
	}
	return n, nil
}

// tagKey returns the key of the set of members of tag.
func (c *Cache) tagKey(tag string) (string, error) {
	return c.keys.Key("tag", tag)
}

// InvalidateTags deletes every key that joined one of tags (see
// FamilyOptions.Tags) without walking the keyspace, and reports how many
// keys it deleted.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) (int, error) {
	total := 0
	for _, tag := range tags {
		tk, err := c.tagKey(tag)
		if err != nil {
			return total, fmt.Errorf("cache: tag %q: %w", tag, err)
		}
		c.gen.Add(1)
		start := c.opts.Now()
		n, err := c.store.DeleteTag(ctx, tk)
		c.flushNear(func(n nearSet) bool { return n.hasTag(tag) })
		c.observe("invalidate_tag", "", start, err)
		total += n
		if err != nil {
			return total, fmt.Errorf("cache: invalidate tag %q: %w", tag, err)
		}
	}
	return total, nil
}

// Incr counts one event of part in family (e.g. "ratelimit", an IP) in a
// fixed window, and returns the count so far and the time left in the
// window.
func (c *Cache) Incr(ctx context.Context, family, part string, window time.Duration) (int64, time.Duration, error) {
	key, err := c.keys.Key(family, part)
	if err != nil {
		return 0, 0, err
	}
	start := c.opts.Now()
	n, left, err := c.store.Incr(ctx, key, window)
	c.observe("incr", family, start, err)
	if err != nil {
		return 0, 0, fmt.Errorf("cache: incr %s: %w", key, err)
	}
	return n, left, nil
}

// forget detaches loads in flight for keys from later callers: a reader
// that arrives after a delete must not be handed a value loaded before it.
func (c *Cache) forget(keys []string) {
	g := c.gen.Load()
	for _, k := range keys {
		c.flight.Forget(c.flightKey(k, g))
	}
}

func (c *Cache) flightKey(key string, gen uint64) string {
	return strconv.FormatUint(gen, 36) + " " + key
}

// Ping checks that the store answers.
func (c *Cache) Ping(ctx context.Context) error { return c.store.Ping(ctx) }

func (c *Cache) observe(op, family string, start time.Time, err error) {
	if c.opts.Observer != nil {
		c.opts.Observer.ObserveOp(op, family, c.opts.Now().Sub(start), err)
	}
}

// register returns the counters of family, creating them once.
func (c *Cache) register(family string) (*counters, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.families[family]; ok {
		return nil, fmt.Errorf("cache: family %q already exists", family)
	}
	s := new(counters)
	c.families[family] = s
	return s, nil
}

// FamilyStats counts what happened to one family since the Cache was created.
type FamilyStats struct {
	Family     string
	NearHits   uint64 // lookups answered by the near cache
	Hits       uint64 // lookups answered by the store
	Misses     uint64 // lookups the store could not answer
	Loads      uint64 // loader calls
	LoadErrors uint64 // loader calls that failed (not found excluded)
	LeaseWaits uint64 // lookups that waited on another loader's lease
	Corrupt    uint64 // values that could not be decoded and were dropped
	Errors     uint64 // store operations that failed
	NearSize   int    // entries in the near cache now
	Fallbacks  uint64 // loads without the cache because the store failed
	Rejected   uint64 // loads refused by the fallback budget (ErrOverloaded)
	Stale      uint64 // stale values served because the loader failed
}

// HitRatio returns the share of lookups answered by the near cache or the
// store, or 0 before any lookup.
func (s FamilyStats) HitRatio() float64 {
	hits := s.NearHits + s.Hits
	if hits+s.Misses == 0 {
		return 0
	}
	return float64(hits) / float64(hits+s.Misses)
}

// Stats returns a snapshot of every family's counters, sorted by name.
func (c *Cache) Stats() []FamilyStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]FamilyStats, 0, len(c.families))
	for name, s := range c.families {
		out = append(out, s.snapshot(name))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Family < out[j].Family })
	return out
}

type counters struct {
	nearHits, hits, misses, loads, loadErrors, leaseWaits, corrupt, errors atomic.Uint64
	fallbacks, rejected, staleServed                                       atomic.Uint64
	nearSize                                                               func() int
}

func (s *counters) snapshot(name string) FamilyStats {
	n := 0
	if s.nearSize != nil {
		n = s.nearSize()
	}
	return FamilyStats{
		Family:     name,
		NearHits:   s.nearHits.Load(),
		NearSize:   n,
		Hits:       s.hits.Load(),
		Misses:     s.misses.Load(),
		Loads:      s.loads.Load(),
		LoadErrors: s.loadErrors.Load(),
		LeaseWaits: s.leaseWaits.Load(),
		Corrupt:    s.corrupt.Load(),
		Errors:     s.errors.Load(),
		Fallbacks:  s.fallbacks.Load(),
		Rejected:   s.rejected.Load(),
		Stale:      s.staleServed.Load(),
	}
}
