package main

import (
	"context"
	"net/http"
	"time"

	"github.com/filecache/filecache/httpapi"
	"github.com/filecache/filecache/ratelimit"
	"github.com/filecache/filecache/report"
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

func (ad admin) CacheStats(ctx context.Context) (any, error) { return ad.a.catalog.CacheStats(ctx) }

func (ad admin) Report(ctx context.Context) (any, error) { return ad.a.report(ctx, report.Options{}) }

// readiness is the report of GET /readyz.
type readiness struct {
	Database string `json:"database"`
	Cache    string `json:"cache"`
	Store    string `json:"store"`
}

// Ready implements httpapi.Health: the service is ready when the database
// answers; without the cache it still serves, from the database.
func (a *app) Ready(ctx context.Context) (bool, any) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r := readiness{Database: "ok", Cache: "ok", Store: "memory"}
	if a.redis != nil {
		r.Store = "redis " + a.redis.Mode()
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

// handler returns the HTTP API of a.
func (a *app) handler() (http.Handler, error) {
	deps := httpapi.Deps{Catalog: a.catalog, Admin: admin{a}, Health: a, Logger: a.log, Metrics: a.metrics.Handler()}
	if n := a.cfg.HTTP.RateLimitPerMinute; n > 0 {
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
