package main

import (
	"context"
	"time"

	"github.com/filecache/filecache/metrics"
	"github.com/filecache/filecache/report"
	"github.com/redis/rueidis"
)

// newMetrics builds the registry of a: the Redis INFO poller when a runs on
// Redis and the outbox backlog. Run it with a.metrics.Run(ctx) to poll and
// log. It is the cache's Observer; CollectCache adds the cache's counters
// once the cache exists.
func (a *app) newMetrics() (*metrics.Metrics, error) {
	opts := metrics.Options{
		Logger:            a.log,
		Outbox:            a.repo.Backlog,
		RedisInfoInterval: offIfZero(a.cfg.Cache.RedisInfoInterval),
		StatsLogInterval:  offIfZero(a.cfg.Cache.StatsLogInterval),
	}
	if a.redis != nil {
		opts.Redis = a.redis
		opts.BreakerState = func() int { return int(a.breaker.State()) }
	}
	return metrics.New(opts)
}

// offIfZero maps the configuration's 0 (off) onto metrics.Options, where 0
// means the default and a negative value off.
func offIfZero(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
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
	var client rueidis.Client
	if a.redis != nil {
		client = a.redis.Client()
	}
	return report.Build(ctx, client, opts)
}
