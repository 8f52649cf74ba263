package memstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/maypok86/otter/v2"
)

// DefaultMaxEntries is the default bound on the number of entries.
const DefaultMaxEntries = 100_000

// Options tunes a Store. The zero value of every field means its default.
type Options struct {
	// MaxEntries bounds the number of entries; beyond it otter evicts the
	// least valuable (W-TinyLFU). Default: DefaultMaxEntries.
	MaxEntries int
}

type item struct {
	data    []byte
	expires time.Time
}

func newItem(data []byte, ttl time.Duration) item {
	return item{data: bytes.Clone(data), expires: time.Now().Add(ttl)}
}

// tagSet is the index of one tag: its member keys and until when each is
// kept.
type tagSet struct {
	members   map[string]time.Time
	earliest  time.Time // the earliest member's time, or zero
	pruned    int       // members left by the last pruning
	lastPrune time.Time
}

// Store is a cache.Store in process memory. It is safe for concurrent use.
type Store struct {
	c      *otter.Cache[string, item]
	closed atomic.Bool

	mu   sync.Mutex // guards tags
	tags map[string]*tagSet
}

var (
	_ cache.Store          = (*Store)(nil)
	_ cache.Tagger         = (*Store)(nil)
	_ cache.PatternDeleter = (*Store)(nil)
)

// New returns an empty Store.
func New(opts Options) (*Store, error) {
	if opts.MaxEntries < 0 {
		return nil, errors.New("memstore: MaxEntries must be >= 0")
	}
	if opts.MaxEntries == 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	c, err := otter.New(&otter.Options[string, item]{
		MaximumSize: opts.MaxEntries,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, item]) time.Duration {
			return time.Until(e.Value.expires)
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("memstore: %w", err)
	}
	return &Store{c: c, tags: make(map[string]*tagSet)}, nil
}

func (s *Store) check(ctx context.Context) error {
	if s.closed.Load() {
		return cache.ErrClosed
	}
	return ctx.Err()
}

func validTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memstore: ttl %v must be positive", ttl)
	}
	return nil
}

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	it, ok := s.c.GetIfPresent(key)
	if !ok {
		return nil, cache.ErrNotFound
	}
	return bytes.Clone(it.data), nil
}

// GetMulti implements cache.Store.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	if err := s.check(ctx); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if it, ok := s.c.GetIfPresent(k); ok {
			out[i] = bytes.Clone(it.data)
		}
	}
	return out, nil
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validTTL(ttl); err != nil {
		return err
	}
	s.c.Set(key, newItem(value, ttl))
	return nil
}

// SetMulti implements cache.Store.
func (s *Store) SetMulti(ctx context.Context, entries []cache.Entry) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	for _, e := range entries {
		if err := validTTL(e.TTL); err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
	}
	for _, e := range entries {
		s.c.Set(e.Key, newItem(e.Value, e.TTL))
	}
	return nil
}

// Delete implements cache.Store.
func (s *Store) Delete(ctx context.Context, keys ...string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		if _, ok := s.c.Invalidate(k); ok {
			n++
		}
	}
	return n, nil
}

// TTL returns how long key is still kept, or cache.ErrNotFound.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	e, ok := s.c.GetEntryQuietly(key)
	if !ok {
		return 0, cache.ErrNotFound
	}
	return e.ExpiresAfter(), nil
}

// DeletePattern implements cache.PatternDeleter. It walks a snapshot of the keys, so
// keys written while it runs may survive.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	n := 0
	for k := range s.c.Keys() {
		if cache.MatchGlob(pattern, k) {
			if _, ok := s.c.Invalidate(k); ok {
				n++
			}
		}
	}
	return n, nil
}

// SetNXGet implements cache.Store.
func (s *Store) SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	if err := validTTL(ttl); err != nil {
		return nil, false, err
	}
	var old []byte
	existed := false
	s.c.Compute(key, func(cur item, found bool) (item, otter.ComputeOp) {
		if found {
			old, existed = bytes.Clone(cur.data), true
			return cur, otter.CancelOp
		}
		return newItem(value, ttl), otter.WriteOp
	})
	return old, existed, nil
}

// CompareAndSet implements cache.Store.
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if value != nil {
		if err := validTTL(ttl); err != nil {
			return false, err
		}
	}
	swapped := false
	s.c.ComputeIfPresent(key, func(cur item) (item, otter.ComputeOp) {
		if !bytes.Equal(cur.data, old) {
			return cur, otter.CancelOp
		}
		swapped = true
		if value == nil {
			return cur, otter.InvalidateOp
		}
		return newItem(value, ttl), otter.WriteOp
	})
	return swapped, nil
}

// AddToTag implements cache.Tagger. Members past their time are pruned
// when the index has doubled since the last pruning or its earliest member
// expired more than pruneEvery ago, so that its size follows the live keys
// at an amortized constant cost per add.
func (s *Store) AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := validTTL(ttl); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	ts := s.tags[tagKey]
	if ts == nil {
		ts = &tagSet{members: make(map[string]time.Time)}
		s.tags[tagKey] = ts
	}
	until := now.Add(ttl)
	for _, k := range keys {
		if cur, ok := ts.members[k]; !ok || until.After(cur) {
			ts.members[k] = until
		}
		if ts.earliest.IsZero() || until.Before(ts.earliest) {
			ts.earliest = until
		}
	}
	if len(ts.members) >= 2*ts.pruned+16 || (now.After(ts.earliest) && now.Sub(ts.lastPrune) >= pruneEvery) {
		ts.prune(now)
	}
	return nil
}

// pruneEvery bounds how often an index is pruned because members expired.
const pruneEvery = time.Second

// prune drops the members past their time.
func (ts *tagSet) prune(now time.Time) {
	ts.earliest = time.Time{}
	for k, until := range ts.members {
		if !now.Before(until) {
			delete(ts.members, k)
			continue
		}
		if ts.earliest.IsZero() || until.Before(ts.earliest) {
			ts.earliest = until
		}
	}
	ts.pruned = len(ts.members)
	ts.lastPrune = now
}

// TagSize returns the number of members of the index at tagKey, for tests
// of its bound and for operators.
func (s *Store) TagSize(ctx context.Context, tagKey string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.tags[tagKey]; ts != nil {
		return len(ts.members), nil
	}
	return 0, nil
}

// DeleteTag implements cache.Tagger: the index is taken out at once, under
// the lock, so that members added meanwhile start a new one.
func (s *Store) DeleteTag(ctx context.Context, tagKey string) (int, error) {
	if err := s.check(ctx); err != nil {
		return 0, err
	}
	s.mu.Lock()
	ts := s.tags[tagKey]
	delete(s.tags, tagKey)
	s.mu.Unlock()
	if ts == nil {
		return 0, nil
	}
	n := 0
	for k := range ts.members {
		if _, ok := s.c.Invalidate(k); ok {
			n++
		}
	}
	return n, nil
}

// Ping implements cache.Store.
func (s *Store) Ping(ctx context.Context) error { return s.check(ctx) }

// Close implements cache.Store: it drops every entry.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.c.InvalidateAll()
	s.c.StopAllGoroutines()
	s.mu.Lock()
	clear(s.tags)
	s.mu.Unlock()
	return nil
}

// Len returns the number of entries, expired ones not yet removed included.
func (s *Store) Len() int { return s.c.EstimatedSize() }
