package catalog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Defaults of WarmOptions and of its callers.
const (
	// DefaultWarmRate is the database loads per second of a warming that
	// states none: fast, but not enough to crowd out the traffic.
	DefaultWarmRate = 500
	// MaxWarmLimit is the most files its callers let one warming take.
	MaxWarmLimit = 1_000_000
	// DefaultWarmBatch is how many files one page of the ranking holds.
	DefaultWarmBatch = 500
	// warmWorkers is how many files are warmed at once.
	warmWorkers = 8
)

// WarmOptions says what to warm and how fast.
type WarmOptions struct {
	// Limit is how many of the most downloaded files to warm. Required.
	Limit int
	// Rate bounds the database loads per second (each file is up to three
	// loads: the record and its two views; the ranking's pages are one
	// more each). 0 means no bound.
	Rate float64
	// Batch is how many files are read from the ranking at a time.
	// Default: DefaultWarmBatch.
	Batch int
	// Progress, if set, is called after each file with what is done so
	// far and the files to do (Limit, or fewer once the ranking ran out).
	Progress func(done WarmResult, total int)
}

// WarmResult reports a cache warming.
type WarmResult struct {
	Files    int           `json:"files"`
	Loaded   int           `json:"loaded"`
	Cached   int           `json:"already_cached"`
	Duration time.Duration `json:"duration_ns"`
}

// Warm loads the most downloaded files into the cache, their records and
// both views, page by page of the ranking, within the rate of database
// loads. It goes through Fetch (leases included), so it never stores a
// value that a write has meanwhile replaced, and it loads nothing already
// cached.
func (c *Catalog) Warm(ctx context.Context, opts WarmOptions) (WarmResult, error) {
	if opts.Limit < 1 {
		return WarmResult{}, fmt.Errorf("catalog: warm: limit %d: want at least 1", opts.Limit)
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultWarmBatch
	}
	start := c.now()
	// Downloads choose what is popular, and their invalidations may wait:
	// a value loaded now must not be dropped by them right after. A flush
	// that fails leaves them to the relays and suspends cache reads, so
	// the loads below bypass the cache.
	_ = c.FlushDownloads(ctx)
	limiter := rate.NewLimiter(rate.Inf, 0)
	if opts.Rate > 0 {
		limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	w := warmer{c: c, limiter: limiter, opts: opts, total: opts.Limit, start: start}
	var after *files.FileMetadata
	for w.res.Files < opts.Limit {
		if err := limiter.Wait(ctx); err != nil {
			return w.done(start), fmt.Errorf("catalog: warm: %w", err)
		}
		page, err := c.repo.PopularFiles(ctx, after, min(opts.Batch, opts.Limit-w.res.Files))
		if err != nil {
			return w.done(start), fmt.Errorf("catalog: warm: %w", classify(err))
		}
		if len(page) == 0 {
			break
		}
		if len(page) < min(opts.Batch, opts.Limit-w.res.Files) {
			w.total = w.res.Files + len(page) // the ranking ends here
		}
		if err := w.page(ctx, page); err != nil {
			return w.done(start), err
		}
		after = &page[len(page)-1]
	}
	return w.done(start), nil
}

// warmer warms pages of files and counts what it did.
type warmer struct {
	c       *Catalog
	limiter *rate.Limiter
	opts    WarmOptions
	mu      sync.Mutex // guards res and total
	res     WarmResult
	total   int
	start   time.Time
}

// page warms the files of one page, warmWorkers at a time.
func (w *warmer) page(ctx context.Context, page []files.FileMetadata) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(warmWorkers)
	for _, f := range page {
		g.Go(func() error {
			origin, err := w.file(gctx, f.ID)
			if err != nil && !errors.Is(err, files.ErrNotFound) { // deleted meanwhile
				return fmt.Errorf("catalog: warm: %w", err)
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			w.res.Files++
			if origin == cache.OriginLoad {
				w.res.Loaded++
			} else {
				w.res.Cached++
			}
			if w.opts.Progress != nil {
				done := w.res
				done.Duration = w.c.now().Sub(w.start)
				w.opts.Progress(done, w.total)
			}
			return nil
		})
	}
	return g.Wait()
}

// file warms the record of id and its two views and says where the
// record came from. Only their loads wait for the rate: what is cached
// costs the database nothing, and a second warming goes at Redis' pace.
func (w *warmer) file(ctx context.Context, id string) (cache.Origin, error) {
	ctx = context.WithValue(ctx, loadLimiterKey{}, w.limiter)
	_, origin, err := w.c.GetFile(ctx, id)
	if err != nil {
		return origin, err
	}
	if _, _, err := w.c.GetFileInfo(ctx, id); err != nil {
		return origin, err
	}
	_, _, err = w.c.GetFileMeta(ctx, id)
	return origin, err
}

// loadLimiterKey is the context key of the rate a warming bounds its
// database loads to.
type loadLimiterKey struct{}

// waitLoad waits until the warming that ctx belongs to, if any, may load
// from the database. A loader runs on a context detached from its
// caller's cancellation, but with its values.
func waitLoad(ctx context.Context) error {
	if l, ok := ctx.Value(loadLimiterKey{}).(*rate.Limiter); ok {
		return l.Wait(ctx)
	}
	return nil
}

func (w *warmer) done(start time.Time) WarmResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.res.Duration = w.c.now().Sub(start)
	return w.res
}
