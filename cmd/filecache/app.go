package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/nostore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/metrics"
	"golang.org/x/term"
)

// app is the service assembled from its configuration: the repository, the
// cache store, the cache and the catalog.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	repo    *sqlstore.Store
	store   cache.Store
	redis   *redisstore.Store // nil without Redis
	breaker *breaker.Store    // around redis; nil without Redis
	cache   *cache.Cache
	catalog *catalog.Catalog
	metrics *metrics.Metrics
	audit   *audit.Auditor
}

func newLogger(w *os.File, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if term.IsTerminal(int(w.Fd())) {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// redisOptions maps the configuration onto redisstore.Options.
func redisOptions(r config.RedisConfig) redisstore.Options {
	o := redisstore.Options{
		Addrs:            r.Addrs,
		MasterSet:        r.MasterSet,
		Username:         r.Username,
		Password:         r.Password.Reveal(),
		DB:               r.DB,
		DialTimeout:      r.DialTimeout,
		ReadTimeout:      r.ReadTimeout,
		WriteTimeout:     r.WriteTimeout,
		KeepAlive:        r.KeepAlive,
		PoolSize:         r.PoolSize,
		MaxRetries:       r.MaxRetries,
		NoRetryOnTimeout: !r.RetryOnTimeout,
	}
	if r.KeepAlive == 0 {
		o.KeepAlive = -1 // net.Dialer: negative disables keep-alive probes
	}
	if r.MaxRetries == 0 {
		o.MaxRetries = -1 // redisstore: zero means the default
	}
	if r.TLS {
		o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: r.TLSInsecureSkipVerify}
	}
	return o
}

// openApp connects everything; close it with app.Close.
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.repo, err = sqlstore.Open(ctx, cfg.Database.URL.Reveal(), sqlstore.Options{Timeout: cfg.Database.Timeout}); err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: %w", config.RedactURL(cfg.Database.URL.Reveal()), err)
	}
	switch {
	case cfg.Cache.Disabled:
		log.Warn("the cache is disabled (CACHE_DISABLED): every read goes to the database")
		a.store = nostore.Store{}
	case cfg.RedisMode() == config.RedisNone:
		log.Info("no Redis configured (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINEL_ADDRS): using the in-process cache")
		if a.store, err = memstore.New(memstore.Options{}); err != nil {
			return nil, err
		}
	default:
		ro := redisOptions(cfg.Redis)
		if cfg.Cache.NearSize > 0 {
			for _, f := range catalog.NearFamilies {
				ro.Track = append(ro.Track, cfg.Cache.Prefix+f+":")
			}
		}
		if a.redis, err = redisstore.New(ctx, ro); err != nil {
			return nil, fmt.Errorf("%s: redis (%s): %w", redisVar(cfg.RedisMode()), cfg.RedisMode(), err)
		}
		a.breaker = breaker.New(a.redis, breaker.Options{OnStateChange: a.breakerChanged})
		a.store = a.breaker
		log.Info("connected to Redis", "mode", a.redis.Mode(), "addrs", cfg.Redis.Addrs)
	}
	if a.metrics, err = a.newMetrics(); err != nil {
		return nil, err
	}
	if a.cache, err = cache.New(a.store, cache.Options{
		Prefix:        cfg.Cache.Prefix,
		Jitter:        jitter(cfg.Cache.TTLJitter),
		NearSize:      cfg.Cache.NearSize,
		FallbackLimit: cfg.Cache.FallbackLimit,
		Observer:      a.metrics,
		Logger:        log,
	}); err != nil {
		return nil, err
	}
	if err = a.metrics.CollectCache(a.cache); err != nil {
		return nil, err
	}
	a.catalog, err = catalog.New(a.repo, a.repo, a.cache, catalog.Options{
		TTLs: catalog.TTLs{
			File:     cfg.Cache.TTLFile,
			Session:  cfg.Cache.TTLSession,
			Stats:    cfg.Cache.TTLStats,
			Search:   cfg.Cache.TTLSearch,
			Settings: cfg.Cache.TTLSettings,
		},
		FailSafe:    cfg.Cache.FailSafe,
		Logger:      log,
		AfterCommit: failpoint(log),
	})
	if err != nil {
		return nil, err
	}
	if a.audit, err = a.newAuditor(log); err != nil {
		return nil, err
	}
	if err = a.metrics.CollectAudit(a.audit); err != nil {
		return nil, err
	}
	return a, nil
}

// redisVar names the variable that chose the Redis mode, for errors.
func redisVar(mode string) string {
	switch mode {
	case config.RedisCluster:
		return "REDIS_CLUSTER_NODES"
	case config.RedisSentinel:
		return "REDIS_SENTINEL_ADDRS"
	}
	return "REDIS_URL"
}

// failpointEnv names a fault to inject, for crash-recovery tests only:
// "exit-after-commit" ends the process right after a write commits, before
// its invalidation, as a crash would.
const failpointEnv = "FILECACHE_FAILPOINT"

func failpoint(log *slog.Logger) func() {
	if os.Getenv(failpointEnv) != "exit-after-commit" {
		return nil
	}
	log.Warn("fault injection on: the process exits after the next committed write", "env", failpointEnv)
	return func() { os.Exit(3) }
}

// breakerChanged logs every transition of the breaker (the alert hook; the
// state is also the cache_breaker_state metric) and, when the breaker
// opens, suspends cache reads until the outbox is replayed: writes made
// while Redis was unreachable are invalidated before any read trusts it.
func (a *app) breakerChanged(from, to breaker.State) {
	level := slog.LevelWarn
	if to == breaker.Closed {
		level = slog.LevelInfo
	}
	a.log.Log(context.Background(), level, "cache circuit breaker", "from", from.String(), "to", to.String())
	if a.catalog == nil {
		return
	}
	switch to {
	case breaker.Open:
		a.catalog.SuspendCacheReads()
	case breaker.Closed:
		a.catalog.Kick() // replay the outbox now, to readmit reads sooner
	}
}

// jitter maps the configuration's 0 (no jitter) onto cache.Options, where 0
// means the default.
func jitter(j float64) float64 {
	if j == 0 {
		return -1
	}
	return j
}

// Close releases the store and the repository.
func (a *app) Close() error {
	var errs []error
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	if a.repo != nil {
		errs = append(errs, a.repo.Close())
	}
	return errors.Join(errs...)
}
