package catalog

import (
	"context"
	"sync"
	"time"

	"github.com/filecache/filecache/outbox"
)

// Kick asks the outbox relay for a complete drain now.
func (c *Catalog) Kick() { c.relay.Kick() }

// Drain delivers every pending outbox entry (any instance's) and reports how
// many it delivered. Once the outbox is empty it readmits cache reads if a
// failed invalidation had suspended them.
func (c *Catalog) Drain(ctx context.Context) (int, error) { return c.relay.Drain(ctx) }

// OutboxStats returns the counters of the outbox relay.
func (c *Catalog) OutboxStats() outbox.Stats { return c.relay.Stats() }

// Outbox returns the backlog of the outbox.
func (c *Catalog) Outbox(ctx context.Context) (outbox.Backlog, error) { return c.outbox.Backlog(ctx) }

// Run runs the outbox relay (see outbox.Relay.Run) and flushes the counted
// sessions (FlushSessions) every SessionFlush, until ctx ends; then it
// flushes them a last time, and the invalidations of downloads that wait
// (FlushDownloads).
func (c *Catalog) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.relay.Run(ctx) })
	t := time.NewTicker(c.opts.SessionFlush)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			_, _ = c.FlushSessions(fctx)
			_ = c.FlushDownloads(fctx)
			return nil
		case <-t.C:
			if _, err := c.FlushSessions(ctx); err != nil && ctx.Err() == nil {
				c.log.Debug("sessions not flushed", "err", err)
			}
		}
	}
}
