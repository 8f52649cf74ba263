package cache

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"
)

// Defaults of Options.
const (
	DefaultLeaseTTL = 5 * time.Second
	DefaultJitter   = 0.1
	// DefaultFallbackWait is the default Options.FallbackWait.
	DefaultFallbackWait = 100 * time.Millisecond
	// DefaultRefusedWritesPause is the default Options.RefusedWritesPause.
	DefaultRefusedWritesPause = time.Second
	// DefaultNearMaxLag is the default Options.NearMaxLag.
	DefaultNearMaxLag = 40 * time.Millisecond
)

// Options tunes a Cache. The zero value of every field means its default.
type Options struct {
	// Prefix goes before every key. It must end with ':' so that no other
	// namespace starts with it ("ns:" does not contain "nsB:..."), and hold
	// no glob character. Default: none.
	Prefix string
	// MaxKeyPart is the longest key part kept verbatim; longer parts are
	// hashed. Default: DefaultMaxKeyPart.
	MaxKeyPart int
	// LeaseTTL bounds how long a loader holds the lease on a key: a reader
	// on any instance that finds a lease waits for its value until the
	// lease ends, and only a lease that ends unfulfilled lets another
	// loader in. It must be at least every family's HardTimeout.
	// Default: DefaultLeaseTTL.
	LeaseTTL time.Duration
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
	// NearMaxLag bounds how stale a near hit may be when the store proves
	// its notifications (Confirmer): past it without a proof, lookups skip
	// the near cache and read the store. It is the bound, under a hung
	// notification channel, on the time a write made elsewhere takes to
	// reach this process's reads. Default: DefaultNearMaxLag.
	NearMaxLag time.Duration
	// FallbackLimit bounds the loads that run concurrently because the
	// store failed (an outage: every read would otherwise reach the source
	// at once). A load beyond it waits up to FallbackWait for a slot, then
	// fails with ErrOverloaded. Default: 0, no limit.
	FallbackLimit int
	// FallbackWait, see FallbackLimit. Default: DefaultFallbackWait.
	FallbackWait time.Duration
	// RefusedWritesPause is how long the cache stops writing after the
	// store refused a write for lack of memory (ErrNoMemory): lookups use
	// plain reads and loaded values are served without being stored.
	// Default: DefaultRefusedWritesPause.
	RefusedWritesPause time.Duration
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
	// TracerProvider, if set, traces the cache's operations inside the
	// callers' sampled spans (see TracerName). Default: nil, no tracing.
	TracerProvider trace.TracerProvider
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
	// workers run the flights.
	workers workers
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
	waiters   waiters // readers waiting for another loader's value
	// refusedUntil is when writes resume after an ErrNoMemory (unix ns).
	refusedUntil atomic.Int64
	// Lease tokens: a random prefix of this Cache and a counter, unique
	// across processes without a system call per lease.
	tokenPrefix string
	tokenSeq    atomic.Uint64
	// The store's last proof of its notifications (Confirmer), in
	// monotonic ns since epoch; confirms is whether it gives any.
	epoch       time.Time
	lastConfirm atomic.Int64
	confirms    bool
	tracer      trace.Tracer // nil: tracing off
}

// New returns a Cache over store.
func New(store Store, opts Options) (*Cache, error) {
	if store == nil {
		return nil, errors.New("cache: nil store")
	}
	if opts.Prefix != "" && EscapeGlob(opts.Prefix) != opts.Prefix {
		return nil, fmt.Errorf("cache: prefix %q holds a glob character", opts.Prefix)
	}
	if opts.Prefix != "" && opts.Prefix[len(opts.Prefix)-1] != ':' {
		return nil, fmt.Errorf("cache: prefix %q must end with ':', or it would share keys with every namespace that starts with it", opts.Prefix)
	}
	if opts.LeaseTTL < 0 || opts.Jitter > 0.5 {
		return nil, errors.New("cache: LeaseTTL must be >= 0, Jitter <= 0.5")
	}
	if opts.NearSize < 0 || opts.FallbackLimit < 0 || opts.FallbackWait < 0 || opts.RefusedWritesPause < 0 || opts.NearMaxLag < 0 {
		return nil, errors.New("cache: NearSize, NearMaxLag, FallbackLimit, FallbackWait and RefusedWritesPause must be >= 0")
	}
	opts.NearMaxLag = cmp.Or(opts.NearMaxLag, DefaultNearMaxLag)
	opts.LeaseTTL = cmp.Or(opts.LeaseTTL, DefaultLeaseTTL)
	switch {
	case opts.Jitter == 0:
		opts.Jitter = DefaultJitter
	case opts.Jitter < 0:
		opts.Jitter = 0
	}
	opts.FallbackWait = cmp.Or(opts.FallbackWait, DefaultFallbackWait)
	opts.RefusedWritesPause = cmp.Or(opts.RefusedWritesPause, DefaultRefusedWritesPause)
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
	c := &Cache{
		store:    store,
		keys:     Keyspace{Prefix: opts.Prefix, MaxPart: opts.MaxKeyPart},
		opts:     opts,
		families: make(map[string]*counters),
		workers:  newWorkers(),
		epoch:    time.Now(),
		// 16 base32 characters: 80 random bits.
		tokenPrefix: rand.Text()[:16],
		tracer:      newTracer(opts.TracerProvider),
	}
	if opts.FallbackLimit > 0 {
		c.fallbacks = make(chan struct{}, opts.FallbackLimit)
	}
	if n, ok := store.(Notifier); ok {
		// Waiters on another loader's lease are woken by notifications
		// too, with or without a near cache.
		if opts.NearSize > 0 {
			c.notifier = n
		}
		n.Notify(c.notified)
		if cf, ok := store.(Confirmer); ok && c.notifier != nil {
			c.confirms = cf.Confirm(c.confirmed)
		}
	}
	return c, nil
}

// Keyspace returns the key builder of the cache.
func (c *Cache) Keyspace() Keyspace { return c.keys }

// FamilyOf returns the registered family that key belongs to and the part
// after its name, or ok false for a key of no family. Family names may
// nest ("file" and "file:meta"): the longest name that key starts with
// wins, so "file:meta:1" is part "1" of "file:meta", never part "meta:1"
// of "file".
func (c *Cache) FamilyOf(key string) (family, part string, ok bool) {
	rest, found := strings.CutPrefix(key, c.keys.Prefix)
	if !found {
		return "", "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.families {
		if len(name) <= len(family) {
			continue
		}
		if p, found := strings.CutPrefix(rest, name+":"); found && p != "" {
			family, part, ok = name, p, true
		}
	}
	return family, part, ok
}

// Ping checks that the store answers.
func (c *Cache) Ping(ctx context.Context) error { return c.store.Ping(ctx) }

func (c *Cache) observe(op, family string, start time.Time, err error) {
	if c.opts.Observer != nil {
		c.opts.Observer.ObserveOp(op, family, c.opts.Now().Sub(start), err)
	}
}

// leaseToken returns a token no other lease of any process holds.
func (c *Cache) leaseToken() string {
	return c.tokenPrefix + strconv.FormatUint(c.tokenSeq.Add(1), 36)
}

// writesRefused reports whether the store recently refused a write for
// lack of memory, so that the cache should not write for now.
func (c *Cache) writesRefused() bool {
	until := c.refusedUntil.Load()
	return until != 0 && c.opts.Now().UnixNano() < until
}

// noteRefused records that the store refused a write for lack of memory if
// err says so, and reports whether it did.
func (c *Cache) noteRefused(err error) bool {
	if !errors.Is(err, ErrNoMemory) {
		return false
	}
	c.refusedUntil.Store(c.opts.Now().Add(c.opts.RefusedWritesPause).UnixNano())
	return true
}

var discard = slog.New(slog.DiscardHandler)
