package audit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Defaults of PassOptions.
const (
	DefaultPassWorkers = 8
	// DefaultPassScanCount is the COUNT hint of a pass's SCAN.
	DefaultPassScanCount = 1000
	// MaxPassFindings bounds the findings a PassResult lists.
	MaxPassFindings = 1000
)

// PassOptions tunes a Pass. The zero value of every field means its
// default.
type PassOptions struct {
	// Families are the names of the families to check. Default: all.
	Families []string
	// Limit is the most keys checked. Default: 0, every key.
	Limit int
	// Workers is how many keys are checked at once. Default:
	// DefaultPassWorkers.
	Workers int
	// Progress, if set, is called after each key with the keys checked
	// and the keys to check: the pass first counts them with a walk that
	// reads no value (a SCAN per 1000 keys), and revises the count if the
	// checking walk finds more. Calls are serialized.
	Progress func(done, total int64)
}

// PassResult is the outcome of a Pass.
type PassResult struct {
	// Checked counts the keys checked; Results splits them by Result name.
	Checked uint64            `json:"checked"`
	Results map[string]uint64 `json:"results"`
	// Inconsistent counts the inconsistencies, Repaired those deleted.
	Inconsistent uint64 `json:"inconsistent"`
	Repaired     uint64 `json:"repaired"`
	// Findings lists up to MaxPassFindings inconsistencies.
	Findings []Finding     `json:"findings"`
	Duration time.Duration `json:"duration_ns"`
}

// Pass checks every cached key of the chosen families against the
// database, without the rate bound: SCAN on every master, then each key as
// a sample does (one database read per key, one more for a suspected
// mismatch). Inconsistencies are counted, logged and repaired as in Run.
// It fails if the keys cannot be walked; keys that cannot be checked are
// counted as Failed.
func (a *Auditor) Pass(ctx context.Context, opts PassOptions) (PassResult, error) {
	start := a.now()
	res := PassResult{Results: map[string]uint64{}, Findings: []Finding{}}
	for _, r := range Results() {
		res.Results[r.String()] = 0
	}
	if a.masters == nil {
		return res, errors.New("audit: a pass needs Redis")
	}
	chosen := map[string]bool{}
	for _, name := range opts.Families {
		if !slices.Contains(a.order, name) {
			return res, fmt.Errorf("audit: no audited family %q (audited: %v)", name, a.order)
		}
		chosen[name] = true
	}
	if opts.Limit < 0 || opts.Workers < 0 {
		return res, errors.New("audit: Limit and Workers must be >= 0")
	}
	if opts.Workers == 0 {
		opts.Workers = DefaultPassWorkers
	}
	want := func(key string) (*Family, string, bool) {
		f, id := a.familyOf(key)
		if f == nil || (len(chosen) > 0 && !chosen[f.name]) || id[0] == '#' {
			return f, id, false
		}
		return f, id, true
	}
	var total int64
	if opts.Progress != nil {
		err := a.walkAll(ctx, func(key string) bool {
			if _, _, ok := want(key); ok {
				total++
			}
			return opts.Limit == 0 || total < int64(opts.Limit)
		})
		if err != nil {
			return res, err
		}
		opts.Progress(0, total)
	}
	keys := make(chan string, DefaultPassScanCount)
	var (
		mu          sync.Mutex // guards res, found, done, total
		found, done int64
		// SCAN may return a key twice (while Redis rehashes); a key is
		// checked once. 8 bytes a key.
		seen = map[uint64]struct{}{}
		seed = maphash.MakeSeed()
	)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		defer close(keys)
		return a.walkAll(gctx, func(key string) bool {
			if f, id, ok := want(key); !ok {
				if f != nil && id[0] == '#' {
					a.stats.skip(SkipHashedKey)
				}
				return true
			}
			h := maphash.String(seed, key)
			mu.Lock()
			if _, dup := seen[h]; dup {
				mu.Unlock()
				return true
			}
			if opts.Limit > 0 && found >= int64(opts.Limit) {
				mu.Unlock()
				return false
			}
			seen[h] = struct{}{}
			found++
			mu.Unlock()
			select {
			case keys <- key:
				return true
			case <-gctx.Done():
				return false
			}
		})
	})
	for range opts.Workers {
		g.Go(func() error {
			for key := range keys {
				f, id := a.familyOf(key)
				r, fd, _ := a.check(gctx, f, key, id, nil, time.Time{})
				if gctx.Err() != nil {
					return gctx.Err()
				}
				mu.Lock()
				res.Checked++
				res.Results[r.String()]++
				if fd != nil {
					res.Inconsistent++
					if fd.Repaired {
						res.Repaired++
					}
					if len(res.Findings) < MaxPassFindings {
						res.Findings = append(res.Findings, *fd)
					}
				}
				done++
				if opts.Progress != nil {
					opts.Progress(done, max(total, found))
				}
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	a.logs.flush()
	res.Duration = a.now().Sub(start)
	slices.SortFunc(res.Findings, func(x, y Finding) int { return x.Found.Compare(y.Found) })
	return res, err
}

// walkAll calls fn with every key of the cache on every master, until fn
// returns false.
func (a *Auditor) walkAll(ctx context.Context, fn func(key string) bool) error {
	nodes, err := a.masters.Masters(ctx)
	if err != nil {
		return fmt.Errorf("audit: masters: %w", err)
	}
	for _, addr := range slices.Sorted(maps.Keys(nodes)) {
		node := nodes[addr]
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(a.pattern).Count(DefaultPassScanCount).Build()).AsScanEntry()
			if err != nil {
				return fmt.Errorf("audit: scan %s: %w", addr, err)
			}
			for _, k := range e.Elements {
				if !fn(k) {
					return ctx.Err()
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	return nil
}
