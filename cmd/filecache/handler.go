package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/httpapi"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/filecache/filecache/ratelimit"
	"github.com/filecache/filecache/report"
)

// admin adapts the catalog to httpapi.Admin.
type admin struct{ a *app }

// adminRedisTimeout bounds the Redis part of GET /admin/cache/stats, so
// that an unreachable Redis delays the answer by at most this.
const adminRedisTimeout = 2 * time.Second

func (ad admin) Invalidate(ctx context.Context, req catalog.InvalidateRequest) (int, error) {
	return ad.a.catalog.Invalidate(ctx, req)
}

func (ad admin) Warm(ctx context.Context, limit int, rate float64) (httpapi.WarmResult, error) {
	return ad.a.warms.run(ctx, ad.a.catalog, catalog.WarmOptions{Limit: limit, Rate: rate})
}

// CacheStats reads the database side (the outbox) and the Redis side (the
// memory of each node) at once; each marks its own failure, so the answer
// comes whichever is down, within the slower of their deadlines.
func (ad admin) CacheStats(ctx context.Context) httpapi.CacheStats {
	out := httpapi.CacheStats{Breaker: ad.a.breakerState(), Audit: ad.a.auditStats()}
	var wg sync.WaitGroup
	wg.Go(func() { out.CacheStats = ad.a.catalog.CacheStats(ctx) })
	if client := ad.a.redisClient(); client != nil {
		wg.Go(func() { out.RedisMemory = redisMemory(ctx, client) })
	}
	wg.Wait()
	return out
}

// redisMemory asks every node of client for its memory, all at once.
func redisMemory(ctx context.Context, client rueidis.Client) []httpapi.RedisMemory {
	ctx, cancel := context.WithTimeout(ctx, adminRedisTimeout)
	defer cancel()
	nodes := client.Nodes()
	addrs := slices.Sorted(maps.Keys(nodes))
	out := make([]httpapi.RedisMemory, len(addrs))
	var wg sync.WaitGroup
	for i, addr := range addrs {
		wg.Go(func() {
			out[i].Node = addr
			info, err := redisinfo.Fetch(ctx, nodes[addr], "memory")
			if err != nil {
				out[i].Error = "unavailable"
				return
			}
			used, _ := info.Int("used_memory")
			maxBytes, _ := info.Int("maxmemory")
			out[i].UsedBytes, out[i].MaxBytes = &used, &maxBytes
		})
	}
	wg.Wait()
	return out
}

// Report builds the efficiency report. It needs Redis: while no node
// answers it is a temporary unavailability (503 with Retry-After).
func (ad admin) Report(ctx context.Context) (*report.Report, error) {
	rep, err := ad.a.report(ctx, report.Options{})
	if err != nil && ctx.Err() == nil {
		return nil, storeUnavailable{err}
	}
	return rep, err
}

// storeUnavailable is a failure of the cache store that the HTTP layer
// answers with 503 and Retry-After.
type storeUnavailable struct{ err error }

func (e storeUnavailable) Error() string             { return "cache store unavailable: " + e.err.Error() }
func (e storeUnavailable) Unwrap() error             { return e.err }
func (e storeUnavailable) RetryAfter() time.Duration { return time.Second }

// readiness is the report of GET /readyz.
type readiness struct {
	Database   string `json:"database"`
	Cache      string `json:"cache"`
	Store      string `json:"store"`
	Breaker    string `json:"breaker"`
	CacheReads string `json:"cache_reads"`
	// Redis is "connected", or "connecting" with the last error while the
	// store connects in the background; absent without Redis.
	Redis string `json:"redis,omitempty"`
	// RedisMemory lists the nodes whose maxmemory or maxmemory-policy do
	// not suit a cache.
	RedisMemory []string `json:"redis_memory,omitempty"`
}

// breakerState is the breaker's state, or "none" without Redis.
func (a *app) breakerState() string {
	if a.breaker == nil {
		return "none"
	}
	return a.breaker.State().String()
}

// Ready implements httpapi.Health: the service is ready when the database
// answers; without the cache it still serves, from the database.
func (a *app) Ready(ctx context.Context) (bool, any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r := readiness{Database: "ok", Cache: "ok", Store: "memory", Breaker: a.breakerState(), CacheReads: "admitted"}
	if a.catalog.CacheReadsSuspended() {
		r.CacheReads = "suspended"
	}
	switch {
	case a.redis != nil && a.redis.Store() != nil:
		r.Store = "redis " + a.redis.Mode()
		r.Redis = "connected"
		r.RedisMemory = a.redisMemoryIssues()
	case a.redis != nil:
		r.Store = "redis (" + a.cfg.Redis.Mode + ", not connected)"
		r.Redis = "connecting"
		if err := a.redis.Err(); err != nil {
			r.Redis += ": " + err.Error()
		}
	case a.cfg.Cache.Disabled:
		r.Store = "none (CACHE_DISABLED)"
	}
	ok := true
	if err := a.repo.Ping(ctx); err != nil {
		r.Database, ok = "unavailable", false
	}
	if err := a.cache.Ping(ctx); err != nil {
		r.Cache = "unavailable"
	}
	return ok, r
}

// redisClient returns the client of the connected Redis store, or nil.
func (a *app) redisClient() rueidis.Client {
	if a.redis == nil {
		return nil
	}
	return a.redis.Client()
}

// withoutSessions is the catalog seen by the HTTP API when the cache is
// disabled: sessions live in the cache, so none is kept, and
// GET /v1/session answers a session that starts now with no requests.
type withoutSessions struct{ *catalog.Catalog }

// TouchSession keeps nothing.
func (withoutSessions) TouchSession(context.Context, string) error { return nil }

// Session returns the session of a client never seen.
func (w withoutSessions) Session(_ context.Context, ip string) (files.UserSession, error) {
	now := time.Now().UTC()
	return files.UserSession{IP: ip, FirstSeen: now, LastSeen: now}, nil
}

// handler returns the HTTP API of a. With CACHE_DISABLED, sessions and
// rate limits, which live in the cache, are off: no session is counted and
// no RateLimit-* header is sent.
func (a *app) handler() (http.Handler, error) {
	deps := httpapi.Deps{Catalog: a.catalog, Admin: admin{a}, Health: a, Logger: a.log, Metrics: a.metrics.Handler()}
	if a.cfg.Cache.Disabled {
		deps.Catalog = withoutSessions{a.catalog}
	}
	// The counters live in the store: no limit, and no RateLimit-* header,
	// with CACHE_DISABLED.
	if n := a.cfg.HTTP.RateLimitPerMinute; n > 0 && !a.cfg.Cache.Disabled {
		ctr, ok := a.store.(ratelimit.Counter)
		if !ok {
			return nil, fmt.Errorf("rate limit: the cache store %T keeps no counters", a.store)
		}
		l, err := ratelimit.New(ctr, n, ratelimit.Options{
			Window: time.Minute,
			Keys:   a.cache.Keyspace(),
			// The breaker logs the outage; this is per client and window.
			OnError: func(err error) { a.log.Debug("rate limit counted locally", "error", err) },
		})
		if err != nil {
			return nil, err
		}
		deps.Limiter = l
	}
	h, err := httpapi.New(deps, httpapi.Options{
		AdminToken:     a.cfg.HTTP.AdminToken.Reveal(),
		TrustedProxies: a.cfg.HTTP.TrustedProxies,
		Observe:        a.metrics.ObserveHTTP,
	})
	if err != nil {
		return nil, err
	}
	return a.tracing.Handler(h), nil
}
