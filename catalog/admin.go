package catalog

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
	"golang.org/x/sync/errgroup"
)

// ErrBadInvalidation is wrapped by the *files.ValidationError that
// Invalidate returns for a key, tag or pattern it refuses (empty, control
// characters, too long).
var ErrBadInvalidation = errors.New("catalog: bad invalidation request")

// Invalidate deletes keys (as listed by redis-cli, without the cache
// prefix), every key of tags, and every key matching pattern (a Redis glob,
// confined to the cache prefix). It reports how many keys it deleted.
func (c *Catalog) Invalidate(ctx context.Context, keys, tags []string, pattern string) (int, error) {
	full := make([]string, 0, len(keys))
	for _, k := range keys {
		if k == "" || len(k) > 1024 || strings.IndexFunc(k, unicode.IsControl) >= 0 {
			return 0, &files.ValidationError{Field: "keys", Message: "each key must be 1 to 1024 bytes without control characters", Err: ErrBadInvalidation}
		}
		full = append(full, c.cache.Keyspace().Prefix+k)
	}
	if strings.IndexFunc(pattern, unicode.IsControl) >= 0 {
		return 0, &files.ValidationError{Field: "pattern", Message: "must not hold control characters", Err: ErrBadInvalidation}
	}
	n, err := c.cache.Invalidate(ctx, cache.Invalidation{Keys: full, Tags: tags, Pattern: pattern, Reason: "admin"})
	if errors.Is(err, cache.ErrInvalidKey) {
		return n, &files.ValidationError{Field: "tags", Message: "each tag must be non-empty UTF-8 without control characters", Err: ErrBadInvalidation}
	}
	return n, err
}

// WarmResult reports a cache warming.
type WarmResult struct {
	Files    int           `json:"files"`
	Loaded   int           `json:"loaded"`
	Cached   int           `json:"already_cached"`
	Duration time.Duration `json:"duration_ns"`
}

// Warm loads the limit most downloaded files into the cache. It goes
// through Fetch (leases included), so it never stores a value that a write
// has meanwhile replaced. progress, if not nil, is called after each file.
func (c *Catalog) Warm(ctx context.Context, limit int, progress func(done, total int)) (WarmResult, error) {
	start := c.now()
	popular, err := c.repo.PopularFiles(ctx, limit)
	if err != nil {
		return WarmResult{}, fmt.Errorf("catalog: warm: %w", err)
	}
	res := WarmResult{Files: len(popular)}
	origins := make([]cache.Origin, len(popular))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	var mu sync.Mutex // serializes progress
	done := 0
	for i, f := range popular {
		g.Go(func() error {
			_, origin, err := c.GetFile(gctx, f.ID)
			if err != nil && !errors.Is(err, files.ErrNotFound) { // deleted meanwhile
				return err
			}
			origins[i] = origin
			mu.Lock()
			defer mu.Unlock()
			done++
			if progress != nil {
				progress(done, len(popular))
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return res, fmt.Errorf("catalog: warm: %w", err)
	}
	for _, o := range origins {
		if o == cache.OriginLoad {
			res.Loaded++
		} else {
			res.Cached++
		}
	}
	res.Duration = c.now().Sub(start)
	return res, nil
}

// CacheStats is the snapshot served by GET /admin/cache/stats.
type CacheStats struct {
	Families []FamilyCounters `json:"families"`
	Hits     uint64           `json:"hits"`
	Misses   uint64           `json:"misses"`
	HitRatio float64          `json:"hit_ratio"`
	Outbox   outbox.Backlog   `json:"outbox"`
}

// FamilyCounters is the hit and miss count of one family.
type FamilyCounters struct {
	Family   string  `json:"family"`
	Hits     uint64  `json:"hits"`
	Misses   uint64  `json:"misses"`
	HitRatio float64 `json:"hit_ratio"`
	Loads    uint64  `json:"loads"`
	Corrupt  uint64  `json:"corrupt"`
	Errors   uint64  `json:"errors"`
}

// CacheStats returns the cache statistics and the outbox backlog.
func (c *Catalog) CacheStats(ctx context.Context) (CacheStats, error) {
	var out CacheStats
	for _, s := range c.cache.Stats() {
		out.Families = append(out.Families, FamilyCounters{
			Family: s.Family, Hits: s.Hits, Misses: s.Misses, HitRatio: s.HitRatio(),
			Loads: s.Loads, Corrupt: s.Corrupt, Errors: s.Errors,
		})
		out.Hits += s.Hits
		out.Misses += s.Misses
	}
	if out.Hits+out.Misses > 0 {
		out.HitRatio = float64(out.Hits) / float64(out.Hits+out.Misses)
	}
	b, err := c.outbox.Backlog(ctx)
	if err != nil {
		return out, fmt.Errorf("catalog: outbox backlog: %w", err)
	}
	out.Outbox = b
	return out, nil
}
