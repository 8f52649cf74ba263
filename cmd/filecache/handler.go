package main

import (
	"context"
	"net/http"
	"time"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/httpapi"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/filecache/filecache/ratelimit"
	"github.com/filecache/filecache/report"
	"github.com/redis/rueidis"
)

// admin adapts the catalog to httpapi.Admin.
type admin struct{ a *app }

func (ad admin) Invalidate(ctx context.Context, keys, tags []string, pattern string) (int, error) {
	return ad.a.catalog.Invalidate(ctx, keys, tags, pattern)
}

func (ad admin) Warm(ctx context.Context, limit int) (httpapi.WarmResult, error) {
	res, err := ad.a.catalog.Warm(ctx, limit, nil)
	return httpapi.WarmResult{Files: res.Files, Duration: res.Duration}, err
}

// adminCacheStats is the body of GET /admin/cache/stats.
type adminCacheStats struct {
	catalog.CacheStats
	Breaker     string        `json:"breaker"`
	CacheReads  string        `json:"cache_reads"`
	RedisMemory []redisMemory `json:"redis_memory,omitempty"`
}

// redisMemory is the memory of one Redis node.
type redisMemory struct {
	Node      string `json:"node"`
	UsedBytes int64  `json:"used_memory_bytes"`
	MaxBytes  int64  `json:"maxmemory_bytes"`
}

func (ad admin) CacheStats(ctx context.Context) (any, error) {
	st, err := ad.a.catalog.CacheStats(ctx)
	if err != nil {
		return nil, err
	}
	out := adminCacheStats{CacheStats: st, Breaker: ad.a.breakerState(), CacheReads: "admitted"}
	if ad.a.catalog.CacheReadsSuspended() {
		out.CacheReads = "suspended until the outbox is replayed"
	}
	if client := ad.a.redisClient(); client != nil {
		for addr, n := range client.Nodes() {
			info, err := redisinfo.Fetch(ctx, n, "memory")
			if err != nil {
				continue // the metrics report unreachable nodes
			}
			used, _ := info.Int("used_memory")
			maxBytes, _ := info.Int("maxmemory")
			out.RedisMemory = append(out.RedisMemory, redisMemory{Node: addr, UsedBytes: used, MaxBytes: maxBytes})
		}
	}
	return out, nil
}

func (ad admin) Report(ctx context.Context) (any, error) { return ad.a.report(ctx, report.Options{}) }

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
	if n := a.cfg.HTTP.RateLimitPerMinute; n > 0 && !a.cfg.Cache.Disabled {
		l, err := ratelimit.New(a.cache, n, time.Minute)
		if err != nil {
			return nil, err
		}
		deps.Limiter = l
	}
	return httpapi.New(deps, httpapi.Options{
		AdminToken:     a.cfg.HTTP.AdminToken.Reveal(),
		TrustedProxies: a.cfg.HTTP.TrustedProxies,
		Observe:        a.metrics.ObserveHTTP,
	})
}
