package cache

import (
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Notifier is implemented by a Store that reports changes of keys, including
// changes made by other processes (Redis server-assisted client tracking).
// A Cache keeps decoded values in process (the near cache) only for the keys
// its store notifies.
type Notifier interface {
	// Notify registers fn, called with the keys that changed, or with nil
	// when any key may have changed (the notification channel was lost and
	// notifications may have been missed). fn must be fast and must not call
	// the store.
	Notify(fn func(keys []string))
	// Tracks reports whether changes of every key that starts with prefix
	// are notified.
	Tracks(prefix string) bool
}

// Confirmer is implemented by a Notifier that can prove its notification
// channel is live. A channel can hang without closing; a Cache over a
// Confirmer serves near hits only while the last proof is recent
// (Options.NearMaxLag), so that a hung channel cannot keep stale values
// alive.
type Confirmer interface {
	// Confirm registers fn, called with a time t once every change made
	// before t has been notified (a round trip over the channel, started
	// at t, came back). It reports whether fn will be called: false if the
	// store does not confirm after all (the proof is turned off).
	Confirm(fn func(t time.Time)) bool
}

// nearEntry is a decoded value, or with a non-zero token a read in flight
// that may fill it (a local lease: a notification that removes the entry
// voids the read).
type nearEntry[T any] struct {
	v     T
	token uint64
	ttl   time.Duration
}

// near is the in-process cache of one family's decoded values, bounded and
// evicted by otter (W-TinyLFU). It is keyed by the normalized key part (the
// id), so that a hit builds no key string.
type near[T any] struct {
	prefix string
	tags   []string
	c      *otter.Cache[string, nearEntry[T]]
	tokens *atomic.Uint64
	// reserveTTL bounds how long a read in flight holds its place: the
	// longest a lookup with its load may take.
	reserveTTL time.Duration
}

func newNear[T any](prefix string, tags []string, size int, reserveTTL time.Duration, tokens *atomic.Uint64) (*near[T], error) {
	c, err := otter.New(&otter.Options[string, nearEntry[T]]{
		MaximumSize: size,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, nearEntry[T]]) time.Duration {
			return e.Value.ttl
		}),
	})
	if err != nil {
		return nil, err
	}
	return &near[T]{prefix: prefix, tags: tags, c: c, tokens: tokens, reserveTTL: reserveTTL}, nil
}

func (n *near[T]) get(key string) (T, bool) {
	e, ok := n.c.GetIfPresent(key)
	if !ok || e.token != 0 {
		var zero T
		return zero, false
	}
	return e.v, true
}

// reserve marks key as being read and returns the token that fill needs, or
// 0 if another read of key is already in flight. A value held at key is
// dropped: the read goes to the store because that value was not served
// (its notifications were not confirmed recently), and it cannot be kept.
// The read may take the lease (SET NX), and Redis reports a key changed
// by several clients in one event-loop iteration as changed by the last of
// them only, so a lease taken right after another client's delete (both
// released at once by the end of a CLIENT PAUSE or a stall) hides that
// delete from this process's NOLOOP tracking.
func (n *near[T]) reserve(key string) uint64 {
	token := n.tokens.Add(1)
	reserved := false
	n.c.Compute(key, func(cur nearEntry[T], found bool) (nearEntry[T], otter.ComputeOp) {
		if found && cur.token != 0 {
			return cur, otter.CancelOp // another read is in flight
		}
		reserved = true
		return nearEntry[T]{token: token, ttl: n.reserveTTL}, otter.WriteOp
	})
	if !reserved {
		return 0
	}
	return token
}

// fill stores v under key if the read that reserved it with token is still
// valid: no notification removed the reservation meanwhile.
func (n *near[T]) fill(key string, token uint64, v T, ttl time.Duration) {
	if token == 0 {
		return
	}
	if ttl <= 0 {
		n.c.Invalidate(key)
		return
	}
	n.c.ComputeIfPresent(key, func(cur nearEntry[T]) (nearEntry[T], otter.ComputeOp) {
		if cur.token != token {
			return cur, otter.CancelOp
		}
		return nearEntry[T]{v: v, ttl: ttl}, otter.WriteOp
	})
}

// release drops the reservation of a read that found nothing to keep.
func (n *near[T]) release(key string, token uint64) {
	if token == 0 {
		return
	}
	n.c.ComputeIfPresent(key, func(cur nearEntry[T]) (nearEntry[T], otter.ComputeOp) {
		if cur.token != token {
			return cur, otter.CancelOp
		}
		return cur, otter.InvalidateOp
	})
}

// dropKey drops the entry of a full key if it belongs to this family.
func (n *near[T]) dropKey(key string) {
	if strings.HasPrefix(key, n.prefix) {
		n.c.Invalidate(key[len(n.prefix):])
	}
}

func (n *near[T]) flush()                 { n.c.InvalidateAll() }
func (n *near[T]) size() int              { return n.c.EstimatedSize() }
func (n *near[T]) hasTag(tag string) bool { return slices.Contains(n.tags, tag) }

// nearSet is what the Cache sees of a family's near cache.
type nearSet interface {
	hasTag(tag string) bool
	dropKey(key string)
	flush()
	size() int
}

// nearList is the copy-on-write list of near caches that notifications go
// through without taking a lock.
type nearList struct{ sets []nearSet }

// notified drops the near entries of keys, or every near entry when keys is
// nil. It runs on the store's notification goroutine.
func (c *Cache) notified(keys []string) {
	// Waiters are woken after the near entries are dropped: a waiter may
	// reserve an entry as soon as it wakes.
	defer c.waiters.wake(keys)
	l := c.nears.Load()
	if l == nil {
		return
	}
	if keys == nil {
		c.flushes.Add(1)
		for _, n := range l.sets {
			n.flush()
		}
		return
	}
	for _, k := range keys {
		for _, n := range l.sets {
			n.dropKey(k)
		}
	}
}

func (c *Cache) addNear(n nearSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sets []nearSet
	if l := c.nears.Load(); l != nil {
		sets = append(sets, l.sets...)
	}
	c.nears.Store(&nearList{sets: append(sets, n)})
}

// dropNear drops keys from the near caches at once, for writes made by this
// process: its next read must not see the old value, whenever the store's
// notification arrives.
func (c *Cache) dropNear(keys []string) {
	if c.nears.Load() != nil {
		c.notified(keys)
	}
}

// flushNear drops every near entry of the families that match: a pattern
// or tag invalidation removes keys in the store without naming them.
func (c *Cache) flushNear(match func(nearSet) bool) {
	if l := c.nears.Load(); l != nil {
		for _, n := range l.sets {
			if match(n) {
				n.flush()
			}
		}
	}
}

// nearGet answers from the family's near cache, if it has one and its
// notifications are confirmed recently enough.
func (f *Family[T]) nearGet(part string) (T, bool) {
	if f.near != nil && f.c.nearTrusted() {
		if v, ok := f.near.get(part); ok {
			f.stats.nearHits.Add(1)
			return v, true
		}
	}
	var zero T
	return zero, false
}

// reserveNear reserves the near entry of part before a read of the store,
// so that a notification arriving while the read is in flight voids it.
func (f *Family[T]) reserveNear(part string) uint64 {
	if f.near == nil {
		return 0
	}
	return f.near.reserve(part)
}

func (f *Family[T]) releaseNear(part string, token uint64) {
	if f.near != nil {
		f.near.release(part, token)
	}
}

// fillNear keeps the fresh value of s in the near cache if the read that
// reserved token is still valid, until its expiry or, with EagerRefresh,
// until a refresh is due (so that the next read reaches the store and
// starts it).
func (f *Family[T]) fillNear(part string, token uint64, s seen[T]) {
	if f.near == nil {
		return
	}
	if s.view != viewFresh {
		f.near.release(part, token)
		return
	}
	until := s.expiry
	if f.opts.EagerRefresh > 0 {
		until = f.eagerAt(s)
	}
	f.near.fill(part, token, s.v, until.Sub(f.c.opts.Now()))
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

// NearEnabled reports whether families that ask for a near cache get one.
func (c *Cache) NearEnabled() bool { return c.notifier != nil }

// confirmed records a Confirmer's proof that every change made before t has
// been notified.
func (c *Cache) confirmed(t time.Time) {
	d := t.Sub(c.epoch).Nanoseconds()
	for {
		cur := c.lastConfirm.Load()
		if d <= cur || c.lastConfirm.CompareAndSwap(cur, d) {
			return
		}
	}
}

// nearTrusted reports whether near hits may be served: the store has no
// Confirmer, or it confirmed its notifications within NearMaxLag.
func (c *Cache) nearTrusted() bool {
	if !c.confirms {
		return true
	}
	return time.Since(c.epoch).Nanoseconds()-c.lastConfirm.Load() <= c.opts.NearMaxLag.Nanoseconds()
}
