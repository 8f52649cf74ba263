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
		Outbox:            a.repo.Backlog,
		RedisInfoInterval: a.cfg.Metrics.RedisInfoInterval,
		StatsLogInterval:  a.cfg.Metrics.StatsLogInterval,
	}
	if a.redis != nil {
		opts.Redis = a.redis
		opts.BreakerState = func() int { return int(a.breaker.State()) }
	}
	return metrics.New(opts)
}

// report builds the cache efficiency report of a: the hit ratios from a's
// own counters, the rest from Redis.
func (a *app) report(ctx context.Context, opts report.Options) (*report.Report, error) {
	opts.Prefix = a.cfg.Cache.Prefix
	opts.Stats = a.cache.Stats()
	opts.Audit = a.auditStats()
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
