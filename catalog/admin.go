package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// ErrBadInvalidation is wrapped by the *files.ValidationError that
// Invalidate returns for a key, tag or pattern it refuses (empty, control
// characters, too long).
var ErrBadInvalidation = errors.New("catalog: bad invalidation request")

// ErrConfirmationRequired is wrapped by the *files.ValidationError (field
// "confirm_all") that Invalidate returns for a pattern that can reach keys
// beyond the service's own without InvalidateRequest.ConfirmAll.
var ErrConfirmationRequired = errors.New("catalog: invalidating every key needs confirm_all")

// InvalidateRequest names the cache keys Invalidate deletes.
type InvalidateRequest struct {
	// Keys are deleted as named (as listed by redis-cli, without the cache
	// prefix); glob characters in them are literal.
	Keys []string
	// Tags: every key of each tag is deleted.
	Tags []string
	// Pattern is a Redis glob; the keys under the cache prefix that match
	// it are deleted. Empty means none.
	Pattern string
	// ConfirmAll must be true for a Pattern that starts with a wildcard
	// ("*", "?", "[") while the cache has no prefix: such a pattern can
	// match every key of the Redis database, other services' included.
	// With a prefix, patterns stay inside it and need no confirmation.
	ConfirmAll bool
}

// Invalidate deletes the keys, the keys of the tags, and the keys matching
// the pattern that req names, and reports how many it deleted.
func (c *Catalog) Invalidate(ctx context.Context, req InvalidateRequest) (int, error) {
	prefix := c.cache.Keyspace().Prefix
	full := make([]string, 0, len(req.Keys))
	for _, k := range req.Keys {
		if k == "" || len(k) > 1024 || strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return 0, &files.ValidationError{Field: "keys", Message: "each key must be 1 to 1024 bytes without control characters", Err: ErrBadInvalidation}
		}
		full = append(full, prefix+k)
	}
	if strings.IndexFunc(req.Pattern, unicode.IsControl) >= 0 {
		return 0, &files.ValidationError{Field: "pattern", Message: "must not hold control characters", Err: ErrBadInvalidation}
	}
	if prefix == "" && unanchored(req.Pattern) && !req.ConfirmAll {
		return 0, &files.ValidationError{
			Field:   "confirm_all",
			Message: fmt.Sprintf("the cache has no prefix, so pattern %q can delete every key of the Redis database; send \"confirm_all\": true to do so", req.Pattern),
			Err:     ErrConfirmationRequired,
		}
	}
	n, err := c.cache.Invalidate(ctx, cache.Invalidation{Keys: full, Tags: req.Tags, Pattern: req.Pattern, Reason: "admin"})
	switch {
	case err == nil, errors.Is(err, context.Canceled):
		return n, err
	case errors.Is(err, cache.ErrInvalidKey):
		return n, &files.ValidationError{Field: "tags", Message: "each tag must be non-empty UTF-8 without control characters", Err: ErrBadInvalidation}
	}
	return n, storeUnavailable{err}
}

// storeUnavailable marks a failure of the cache store (Redis down, the
// breaker open) as a temporary unavailability, which the HTTP layer
// answers with 503 and Retry-After.
type storeUnavailable struct{ err error }

func (e storeUnavailable) Error() string             { return "catalog: cache unavailable: " + e.err.Error() }
func (e storeUnavailable) Unwrap() error             { return e.err }
func (e storeUnavailable) RetryAfter() time.Duration { return time.Second }

// unanchored reports whether a glob starts with a wildcard, so that no
// literal beginning confines it to some family of keys.
func unanchored(pattern string) bool {
	return pattern != "" && strings.ContainsRune("*?[", rune(pattern[0]))
}

// CacheStats is the catalog's part of GET /admin/cache/stats: the lookups
// of every family by the tier that answered them, in total, and the
// backlog of the invalidation outbox.
type CacheStats struct {
	// Lookups are the lookups of every family together.
	Lookups
	// Families are the lookups and loads of each family, by name.
	Families []FamilyCounters `json:"families"`
	// Outbox is the invalidation backlog, read from the database.
	Outbox OutboxStats `json:"outbox"`
	// CacheReads says whether reads use the cache ("admitted") or go to
	// the database until the outbox is replayed ("suspended").
	CacheReads string `json:"cache_reads"`
}

// Lookups counts cache lookups by the tier that answered: the near cache
// (decoded values in process memory), the store (Redis, or the in-process
// store without Redis), a stale value (fail-safe), or neither. Hits is
// NearHits + StoreHits + StaleHits, and each ratio is its count over Hits +
// Misses (0 before any lookup).
type Lookups struct {
	Hits          uint64  `json:"hits"`
	NearHits      uint64  `json:"near_hits"`
	StoreHits     uint64  `json:"store_hits"`
	StaleHits     uint64  `json:"stale_hits"`
	Misses        uint64  `json:"misses"`
	HitRatio      float64 `json:"hit_ratio"`
	NearHitRatio  float64 `json:"near_hit_ratio"`
	StoreHitRatio float64 `json:"store_hit_ratio"`
}

func newLookups(near, store, stale, misses uint64) Lookups {
	l := Lookups{Hits: near + store + stale, NearHits: near, StoreHits: store, StaleHits: stale, Misses: misses}
	if n := float64(l.Hits + l.Misses); n > 0 {
		l.HitRatio = float64(l.Hits) / n
		l.NearHitRatio = float64(near) / n
		l.StoreHitRatio = float64(store) / n
	}
	return l
}

// FamilyCounters are the counters of one family.
type FamilyCounters struct {
	Family string `json:"family"`
	Lookups
	Loads   uint64 `json:"loads"`   // loader calls (database reads)
	Corrupt uint64 `json:"corrupt"` // values that could not be decoded
	Errors  uint64 `json:"errors"`  // store operations that failed
}

// OutboxStats is the backlog of the invalidation outbox, or the reason it
// is unknown.
type OutboxStats struct {
	// Pending is the number of entries not yet delivered; absent when
	// Error is set.
	Pending *int64 `json:"pending,omitempty"`
	// OldestQueued is when the oldest pending entry was queued.
	OldestQueued time.Time `json:"oldest_queued,omitzero"`
	// SetAside counts the entries given up on (see outbox.Relay).
	SetAside int64 `json:"set_aside,omitempty"`
	// Error says why the backlog is unknown: "database unavailable".
	Error string `json:"error,omitempty"`
}

// CacheStats returns the cache statistics and the outbox backlog. It
// answers while the database is down, with Outbox.Error set: the cache
// counters live in the process.
func (c *Catalog) CacheStats(ctx context.Context) CacheStats {
	out := CacheStats{Families: []FamilyCounters{}, CacheReads: "admitted"}
	if c.CacheReadsSuspended() {
		out.CacheReads = "suspended"
	}
	var near, store, stale, misses uint64
	for _, s := range c.cache.Stats() {
		out.Families = append(out.Families, FamilyCounters{
			Family: s.Family, Lookups: newLookups(s.NearHits, s.Hits, s.Stale, s.Misses),
			Loads: s.Loads, Corrupt: s.Corrupt, Errors: s.Errors,
		})
		near, store, stale, misses = near+s.NearHits, store+s.Hits, stale+s.Stale, misses+s.Misses
	}
	out.Lookups = newLookups(near, store, stale, misses)
	b, err := c.outbox.Backlog(ctx)
	if err != nil {
		c.log.Debug("outbox backlog unknown", "err", err)
		out.Outbox.Error = "database unavailable"
		return out
	}
	out.Outbox = OutboxStats{Pending: &b.Pending, OldestQueued: b.Oldest, SetAside: b.SetAside}
	return out
}
