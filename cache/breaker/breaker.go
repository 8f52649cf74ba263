// Package breaker wraps a cache.Store in a circuit breaker
// (github.com/sony/gobreaker/v2), so that an unreachable Redis costs a
// request nothing: while the breaker is open every call fails at once with
// ErrOpen, and a cache.Family answers from its loader (the database).
//
//	store := breaker.New(redis, breaker.Options{OnStateChange: alert})
//	c, err := cache.New(store, cache.Options{})
//
// The breaker counts what says the store is unreachable or unusable:
// transport errors, timeouts, and replies such as LOADING or CLUSTERDOWN.
// An error reply that is an answer (cache.ErrRejected: OOM, WRONGTYPE) is
// a success for the breaker: the store is there, and the cache handles it
// per command.
//
// Recovery is gradual: after OpenTimeout the breaker lets a few probes
// through (half-open); when they succeed it closes, and reads are then
// admitted with a share that grows from RampStart to all over Ramp, so that
// a restarted, empty Redis and the database behind it are not hit by all the
// traffic at once. Deletes are never refused, neither by the ramp nor by an
// open breaker: the invalidation of a committed write is the correctness
// path, so it is always tried (under the caller's deadline), since another
// instance may reach the store while this one's breaker is still open.
//
// A Store is safe for concurrent use.
package breaker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/defaults"
	"github.com/sony/gobreaker/v2"
)

// ErrOpen is returned, wrapped, by every call while the breaker is open or
// while half-open probes are all in flight, and by reads held back by the
// recovery ramp. It wraps cache.ErrUnavailable.
var ErrOpen = fmt.Errorf("breaker: circuit open: %w", cache.ErrUnavailable)

// State is the state of the breaker.
type State int

// The states, in the order of their gauge values.
const (
	Closed State = iota
	HalfOpen
	Open
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case HalfOpen:
		return "half-open"
	case Open:
		return "open"
	}
	return "closed"
}

// Defaults of Options.
const (
	DefaultConsecutiveFailures = 5
	DefaultFailureRatio        = 0.5
	DefaultMinRequests         = 20
	DefaultInterval            = 10 * time.Second
	DefaultOpenTimeout         = 2 * time.Second
	DefaultProbes              = 5
	DefaultRamp                = 10 * time.Second
	DefaultRampStart           = 0.1
)

// Options tunes a Store. The zero value of every field means its default.
type Options struct {
	// ConsecutiveFailures opens the breaker. Default: DefaultConsecutiveFailures.
	ConsecutiveFailures uint32
	// FailureRatio opens the breaker when at least MinRequests calls were
	// made in the current Interval. Default: DefaultFailureRatio.
	FailureRatio float64
	// MinRequests, see FailureRatio. Default: DefaultMinRequests.
	MinRequests uint32
	// Interval is the window over which failures are counted while closed.
	// Default: DefaultInterval.
	Interval time.Duration
	// OpenTimeout is how long the breaker stays open before it probes.
	// Default: DefaultOpenTimeout.
	OpenTimeout time.Duration
	// Probes is how many calls half-open admits, and how many successes in
	// a row close it. Default: DefaultProbes.
	Probes uint32
	// Ramp is how long after closing the share of admitted reads takes to
	// reach all of them; a negative value turns the ramp off.
	// Default: DefaultRamp.
	Ramp time.Duration
	// RampStart is the share of reads admitted right after closing.
	// Default: DefaultRampStart.
	RampStart float64
	// OnStateChange is called on every transition, on the caller's
	// goroutine: log it, alert on it. Default: none.
	OnStateChange func(from, to State)
	// StartOpen starts the breaker open, for a store not connected yet: it
	// probes after OpenTimeout like after a trip. Default: false.
	StartOpen bool
	// Now is the clock of the recovery ramp. Default: time.Now.
	Now func() time.Time
}

// Store is a cache.Store behind a circuit breaker. It passes on the
// cache.Notifier and cache.Publisher of the store it wraps.
type Store struct {
	inner  cache.Store
	cb     *gobreaker.TwoStepCircuitBreaker[struct{}]
	opts   Options
	closed atomic.Int64 // unix nanoseconds of the last close, for the ramp
	held   atomic.Uint64
}

var (
	_ cache.Store          = (*Store)(nil)
	_ cache.Tagger         = (*Store)(nil)
	_ cache.PatternDeleter = (*Store)(nil)
	_ cache.Notifier       = (*Store)(nil)
	_ cache.Confirmer      = (*Store)(nil)
	_ cache.Publisher      = (*Store)(nil)
)

// New wraps inner.
func New(inner cache.Store, opts Options) *Store {
	opts.ConsecutiveFailures = cmp.Or(opts.ConsecutiveFailures, DefaultConsecutiveFailures)
	defaults.Positive(&opts.FailureRatio, DefaultFailureRatio)
	opts.MinRequests = cmp.Or(opts.MinRequests, DefaultMinRequests)
	defaults.Positive(&opts.Interval, DefaultInterval)
	defaults.Positive(&opts.OpenTimeout, DefaultOpenTimeout)
	opts.Probes = cmp.Or(opts.Probes, DefaultProbes)
	opts.Ramp = cmp.Or(opts.Ramp, DefaultRamp)
	if opts.RampStart <= 0 || opts.RampStart > 1 {
		opts.RampStart = DefaultRampStart
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{inner: inner, opts: opts}
	s.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "cache",
		MaxRequests: opts.Probes,
		Interval:    opts.Interval,
		Timeout:     opts.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool {
			return c.ConsecutiveFailures >= opts.ConsecutiveFailures ||
				(c.Requests >= opts.MinRequests && float64(c.TotalFailures) >= opts.FailureRatio*float64(c.Requests))
		},
		IsSuccessful: func(err error) bool {
			return err == nil || errors.Is(err, cache.ErrNotFound) || errors.Is(err, cache.ErrRejected)
		},
		// A caller that gave up says nothing about the store.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateClosed {
				s.closed.Store(opts.Now().UnixNano())
			}
			if opts.OnStateChange != nil {
				opts.OnStateChange(state(from), state(to))
			}
		},
	})
	if opts.StartOpen {
		for range opts.ConsecutiveFailures {
			if done, err := s.cb.Allow(); err == nil {
				done(errStartOpen)
			}
		}
	}
	return s
}

var errStartOpen = fmt.Errorf("breaker: started open: %w", cache.ErrUnavailable)

func state(s gobreaker.State) State {
	switch s {
	case gobreaker.StateHalfOpen:
		return HalfOpen
	case gobreaker.StateOpen:
		return Open
	}
	return Closed
}

// State returns the breaker's state.
func (s *Store) State() State { return state(s.cb.State()) }

// Held returns how many reads the recovery ramp has sent to the loader.
func (s *Store) Held() uint64 { return s.held.Load() }

// admitted reports whether a read may reach the store during the ramp.
func (s *Store) admitted() bool {
	if s.opts.Ramp < 0 {
		return true
	}
	closed := s.closed.Load()
	if closed == 0 {
		return true
	}
	since := time.Duration(s.opts.Now().UnixNano() - closed)
	if since >= s.opts.Ramp {
		return true
	}
	share := s.opts.RampStart + (1-s.opts.RampStart)*float64(since)/float64(s.opts.Ramp)
	return rand.Float64() < share
}

// call runs fn through the breaker; reads are also subject to the ramp.
func (s *Store) call(read bool, fn func() error) error {
	if read && !s.admitted() {
		s.held.Add(1)
		return ErrOpen
	}
	done, err := s.cb.Allow()
	if err != nil {
		return ErrOpen
	}
	err = fn()
	done(err)
	return err
}

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) (v []byte, err error) {
	err = s.call(true, func() error { v, err = s.inner.Get(ctx, key); return err })
	return v, err
}

// GetMulti implements cache.Store.
func (s *Store) GetMulti(ctx context.Context, keys []string) (v [][]byte, err error) {
	err = s.call(true, func() error { v, err = s.inner.GetMulti(ctx, keys); return err })
	return v, err
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return s.call(false, func() error { return s.inner.Set(ctx, key, value, ttl) })
}

// SetMulti implements cache.Store.
func (s *Store) SetMulti(ctx context.Context, entries []cache.Entry) error {
	return s.call(false, func() error { return s.inner.SetMulti(ctx, entries) })
}

// invalidate runs a delete through the breaker while it admits calls, and
// straight to the store while it does not: a delete is never refused.
func (s *Store) invalidate(fn func() error) error {
	done, err := s.cb.Allow()
	if err != nil {
		return fn()
	}
	err = fn()
	done(err)
	return err
}

// Delete implements cache.Store; an open breaker does not refuse it.
func (s *Store) Delete(ctx context.Context, keys ...string) (n int, err error) {
	err = s.invalidate(func() error { n, err = s.inner.Delete(ctx, keys...); return err })
	return n, err
}

// DeletePattern implements cache.PatternDeleter if the wrapped store does;
// an open breaker does not refuse it.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (n int, err error) {
	pd, ok := s.inner.(cache.PatternDeleter)
	if !ok {
		return 0, errors.New("breaker: the wrapped store cannot delete by pattern")
	}
	err = s.invalidate(func() error { n, err = pd.DeletePattern(ctx, pattern); return err })
	return n, err
}

// SetNXGet implements cache.Store; it counts as a read for the ramp (it is
// the first step of a load).
func (s *Store) SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) (old []byte, existed bool, err error) {
	err = s.call(true, func() error { old, existed, err = s.inner.SetNXGet(ctx, key, value, ttl); return err })
	return old, existed, err
}

// CompareAndSet implements cache.Store.
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (ok bool, err error) {
	err = s.call(false, func() error { ok, err = s.inner.CompareAndSet(ctx, key, old, value, ttl); return err })
	return ok, err
}

// AddToTag implements cache.Tagger if the wrapped store does.
func (s *Store) AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error {
	t, ok := s.inner.(cache.Tagger)
	if !ok {
		return errNoTags
	}
	return s.call(false, func() error { return t.AddToTag(ctx, tagKey, ttl, keys...) })
}

// DeleteTag implements cache.Tagger if the wrapped store does; an open
// breaker does not refuse it.
func (s *Store) DeleteTag(ctx context.Context, tagKey string) (n int, err error) {
	t, ok := s.inner.(cache.Tagger)
	if !ok {
		return 0, errNoTags
	}
	err = s.invalidate(func() error { n, err = t.DeleteTag(ctx, tagKey); return err })
	return n, err
}

var errNoTags = errors.New("breaker: the wrapped store does not index tags")

// Ping implements cache.Store. It bypasses the breaker: readiness checks
// must see the store itself.
func (s *Store) Ping(ctx context.Context) error { return s.inner.Ping(ctx) }

// Close implements cache.Store.
func (s *Store) Close() error { return s.inner.Close() }

// Notify implements cache.Notifier if the wrapped store does.
func (s *Store) Notify(fn func(keys []string)) {
	if n, ok := s.inner.(cache.Notifier); ok {
		n.Notify(fn)
	}
}

// Tracks implements cache.Notifier: false if the wrapped store is none.
func (s *Store) Tracks(prefix string) bool {
	n, ok := s.inner.(cache.Notifier)
	return ok && n.Tracks(prefix)
}

// Confirm implements cache.Confirmer if the wrapped store does.
func (s *Store) Confirm(fn func(t time.Time)) bool {
	c, ok := s.inner.(cache.Confirmer)
	return ok && c.Confirm(fn)
}

// Publish implements cache.Publisher if the wrapped store does.
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	p, ok := s.inner.(cache.Publisher)
	if !ok {
		return errors.New("breaker: the wrapped store does not publish")
	}
	return s.call(false, func() error { return p.Publish(ctx, channel, msg) })
}

// Subscribe implements cache.Publisher if the wrapped store does.
func (s *Store) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	p, ok := s.inner.(cache.Publisher)
	if !ok {
		return errors.New("breaker: the wrapped store does not publish")
	}
	return p.Subscribe(ctx, channel, fn)
}
