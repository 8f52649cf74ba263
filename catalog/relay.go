package catalog

import (
	"context"
	"errors"
	"time"
)

// Defaults of RelayOptions.
const (
	DefaultRelayInterval = time.Second
	DefaultRelayBatch    = 100
	DefaultPruneAfter    = time.Hour
)

// RelayOptions tunes Relay. The zero value of every field means its default.
type RelayOptions struct {
	// Interval is how often the outbox is polled when nothing kicks the
	// relay. Default: DefaultRelayInterval.
	Interval time.Duration
	// Batch is how many entries one pass delivers. Default: DefaultRelayBatch.
	Batch int
	// PruneAfter is how long done entries are kept. Default: DefaultPruneAfter.
	PruneAfter time.Duration
}

// Kick asks the relay to run a pass now.
func (c *Catalog) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Relay delivers the pending invalidations of the outbox, and flushes the
// counted sessions (FlushSessions), until ctx ends:
// entries left by writes whose invalidation failed, or by an instance that
// died between commit and invalidation. Any instance may run it; deleting a
// key twice is harmless.
func (c *Catalog) Relay(ctx context.Context, opts RelayOptions) error {
	if opts.Interval <= 0 {
		opts.Interval = DefaultRelayInterval
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultRelayBatch
	}
	if opts.PruneAfter <= 0 {
		opts.PruneAfter = DefaultPruneAfter
	}
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		if _, err := c.Drain(ctx, opts.Batch); err != nil && ctx.Err() == nil {
			c.log.Warn("outbox relay pass failed", "err", err)
		}
		if _, err := c.FlushSessions(ctx); err != nil && ctx.Err() == nil {
			c.log.Debug("sessions not flushed", "err", err)
		}
		if now := c.now(); now.Sub(lastPrune) >= opts.PruneAfter/4 {
			lastPrune = now
			if n, err := c.repo.PruneOutbox(ctx, now.Add(-opts.PruneAfter)); err != nil && ctx.Err() == nil {
				c.log.Warn("outbox prune failed", "err", err)
			} else if n > 0 {
				c.log.Debug("outbox pruned", "entries", n)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-c.kick:
		}
	}
}

// Drain delivers pending outbox entries, batch at a time, until none is left
// or one fails, and reports how many it delivered. Once the outbox is empty
// it readmits cache reads if a failed invalidation had suspended them.
func (c *Catalog) Drain(ctx context.Context, batch int) (int, error) {
	if batch <= 0 {
		batch = DefaultRelayBatch
	}
	done := 0
	for {
		seen := c.failures.Load()
		entries, err := c.repo.PendingInvalidations(ctx, batch)
		if err != nil {
			return done, err
		}
		if len(entries) == 0 {
			if c.outboxEmpty(seen) {
				c.log.Info("outbox delivered; cache reads readmitted", "entries", done)
			}
			return done, nil
		}
		ids := make([]int64, 0, len(entries))
		var failed error
		for _, e := range entries {
			if err := c.apply(ctx, e.Invalidation, "relay"); err != nil {
				c.SuspendCacheReads()
				failed = err
				if rerr := c.repo.RetryLater(ctx, e.ID); rerr != nil {
					failed = errors.Join(err, rerr)
				}
				break
			}
			ids = append(ids, e.ID)
		}
		if len(ids) > 0 {
			if err := c.repo.MarkInvalidated(ctx, ids...); err != nil {
				return done, err
			}
			done += len(ids)
		}
		if failed != nil {
			return done, failed
		}
	}
}
