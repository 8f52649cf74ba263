package main

import (
	"context"

	"github.com/filecache/filecache/metrics"
	"github.com/filecache/filecache/report"
)

// newMetrics builds the registry of a: the Redis INFO poller when a runs on
// Redis and the outbox backlog. Run it with a.metrics.Run(ctx) to poll and
// log. It is the cache's Observer; CollectCache adds the cache's counters
// once the cache exists.
func (a *app) newMetrics() (*metrics.Metrics, error) {
	opts := metrics.Options{
		Logger:            a.log,
		Outbox:            a.outboxState,
		RedisInfoInterval: a.cfg.Metrics.RedisInfoInterval,
		StatsLogInterval:  a.cfg.Metrics.StatsLogInterval,
	}
	if a.redis != nil {
		opts.Redis = a.redis
		opts.BreakerState = func() int { return int(a.breaker.State()) }
	}
	return metrics.New(opts)
}

// outboxState is the backlog of the outbox and the age of its oldest entry.
func (a *app) outboxState(ctx context.Context) (metrics.OutboxState, error) {
	n, err := a.repo.OutboxBacklog(ctx)
	if err != nil || n == 0 {
		return metrics.OutboxState{Pending: n}, err
	}
	oldest, err := a.repo.PendingInvalidations(ctx, 1)
	if err != nil {
		return metrics.OutboxState{}, err
	}
	st := metrics.OutboxState{Pending: n}
	if len(oldest) > 0 {
		st.Oldest = oldest[0].CreatedAt
	}
	return st, nil
}

// report builds the cache efficiency report of a: the hit ratios from a's
// own counters, the rest from Redis.
func (a *app) report(ctx context.Context, opts report.Options) (*report.Report, error) {
	opts.Prefix = a.cfg.Cache.Prefix
	opts.Stats = a.cache.Stats()
	if h, ok := any(a.cache).(report.HotKeys); ok {
		opts.HotKeys = h
	}
	client := a.redisClient()
	rep, err := report.Build(ctx, client, opts)
	if err == nil && a.redis != nil && client == nil {
		rep.Store = "redis (" + a.cfg.Redis.Mode + ", not connected)"
		rep.Notes = append(rep.Notes, "Redis is not connected yet: the store connects in the background")
	}
	return rep, err
}
