package cache

import (
	"fmt"
	"sort"
	"sync/atomic"
)

// FamilyStats counts what happened to one family since the Cache was created.
// A lookup is answered by exactly one of NearHits, Hits, Stale and Misses.
type FamilyStats struct {
	Family     string
	NearHits   uint64 // lookups answered by the near cache
	Hits       uint64 // lookups answered by the store (a cached "not found" included)
	Misses     uint64 // lookups the cache could not answer: a load ran for them or they failed
	Stale      uint64 // lookups answered with a stale value (fail-safe)
	Loads      uint64 // loader calls
	LoadErrors uint64 // loader calls that failed (not found excluded)
	LeaseWaits uint64 // lookups that waited on another loader's lease
	Eager      uint64 // refreshes started before expiry (EagerRefresh)
	Corrupt    uint64 // values that could not be decoded, or of the wrong type, and were dropped
	Errors     uint64 // store operations that failed
	Refused    uint64 // writes the store refused for lack of memory
	NearSize   int    // entries in the near cache now
	Fallbacks  uint64 // loads without the cache because the store failed
	Rejected   uint64 // loads refused by the fallback budget (ErrOverloaded)
}

// HitRatio returns the share of lookups answered from the cache (near
// cache, store or stale), or 0 before any lookup.
func (s FamilyStats) HitRatio() float64 {
	hits := s.NearHits + s.Hits + s.Stale
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

// NearFlushes returns how many times the store reported lost notifications
// and the near caches were flushed.
func (c *Cache) NearFlushes() uint64 { return c.flushes.Load() }

type counters struct {
	nearHits, hits, misses, stale, loads, loadErrors, leaseWaits atomic.Uint64
	eager, corrupt, errors, refused, fallbacks, rejected         atomic.Uint64
	nearSize                                                     func() int
}

func (s *counters) snapshot(name string) FamilyStats {
	n := 0
	if s.nearSize != nil {
		n = s.nearSize()
	}
	return FamilyStats{
		Family:     name,
		NearHits:   s.nearHits.Load(),
		Hits:       s.hits.Load(),
		Misses:     s.misses.Load(),
		Stale:      s.stale.Load(),
		Loads:      s.loads.Load(),
		LoadErrors: s.loadErrors.Load(),
		LeaseWaits: s.leaseWaits.Load(),
		Eager:      s.eager.Load(),
		Corrupt:    s.corrupt.Load(),
		Errors:     s.errors.Load(),
		Refused:    s.refused.Load(),
		NearSize:   n,
		Fallbacks:  s.fallbacks.Load(),
		Rejected:   s.rejected.Load(),
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
