package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/nostore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/logagg"
	"github.com/filecache/filecache/internal/tracing"
	"github.com/filecache/filecache/metrics"
	"github.com/filecache/filecache/outbox"
	"golang.org/x/term"
)

// app is the service assembled from its configuration: the repository, the
// cache store, the cache and the catalog.
type app struct {
	cfg     config.Config
	log     *slog.Logger
	repo    *sqlstore.Store
	store   cache.Store
	redis   *redisstore.Background // nil without Redis
	breaker *breaker.Store         // around redis; nil without Redis
	cache   *cache.Cache
	catalog *catalog.Catalog
	metrics *metrics.Metrics
	audit   *audit.Auditor
	warms   *warmJobs         // of POST /admin/cache/warm
	tracing *tracing.Provider // nil: tracing off

	mu           sync.Mutex
	memoryIssues []string           // what is wrong with Redis' memory policy, per node
	stopWatch    context.CancelFunc // stops the goroutine waiting for Redis; nil if none
	watchers     sync.WaitGroup
}

// newLogger logs to w, as text on a terminal and JSON otherwise, with
// repeated warnings aggregated (one line per interval with a count).
func newLogger(w *os.File, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if term.IsTerminal(int(w.Fd())) {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(logagg.New(h, logagg.Options{}))
}

// flushLog writes the warnings log still holds back.
func flushLog(log *slog.Logger) {
	if h, ok := log.Handler().(*logagg.Handler); ok {
		h.Flush()
	}
}

// openApp connects everything, as serve needs it; close it with app.Close.
// The database must answer. Redis need not: when it is unreachable the app
// starts with the breaker open and cache reads suspended, answers from the
// database, and connects in the background (see watchRedis).
func openApp(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	return open(ctx, cfg, log, false, nil)
}

// openTracedApp is openApp with the tracing of tr (nil: none) in every
// part: the database, Redis, the cache, the outbox relay and the handler.
func openTracedApp(ctx context.Context, cfg config.Config, log *slog.Logger, tr *tracing.Provider) (*app, error) {
	return open(ctx, cfg, log, false, tr)
}

// openAppConnected is openApp for the commands that work on Redis itself
// (warm, report): an unreachable Redis is an error.
func openAppConnected(ctx context.Context, cfg config.Config, log *slog.Logger) (*app, error) {
	return open(ctx, cfg, log, true, nil)
}

func open(ctx context.Context, cfg config.Config, log *slog.Logger, redisRequired bool, tr *tracing.Provider) (_ *app, err error) {
	a := &app{cfg: cfg, log: log, warms: newWarmJobs(), tracing: tr}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	if a.repo, err = sqlstore.Open(ctx, cfg.Database.URL.Reveal(), sqlstore.Options{
		Timeout:        cfg.Database.Timeout,
		TracerProvider: tr.TracerProvider(),
	}); err != nil {
		return nil, fmt.Errorf("DATABASE_URL %s: the database is required at start-up: %w", config.RedactURL(cfg.Database.URL.Reveal()), err)
	}
	switch {
	case cfg.Cache.Disabled:
		log.Warn("the cache is disabled (CACHE_DISABLED): every read goes to the database; sessions and rate limits are off")
		a.store = nostore.Store{}
	case cfg.Redis.Mode == config.RedisNone:
		log.Info("no Redis configured (REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINEL_ADDRS): using the in-process cache")
		if a.store, err = memstore.New(memstore.Options{}); err != nil {
			return nil, err
		}
	default:
		if err = a.openRedis(ctx, redisRequired); err != nil {
			return nil, err
		}
	}
	if a.metrics, err = a.newMetrics(); err != nil {
		return nil, err
	}
	if a.cache, err = cache.New(a.store, cache.Options{
		Prefix:         cfg.Cache.Prefix,
		Jitter:         cfg.Cache.TTLJitter,
		NearSize:       cfg.Cache.NearSize,
		NearMaxLag:     cfg.Cache.NearMaxLag,
		FallbackLimit:  cfg.Cache.FallbackLimit,
		Observer:       a.metrics,
		Logger:         log,
		TracerProvider: tr.TracerProvider(),
	}); err != nil {
		return nil, err
	}
	if err = a.metrics.CollectCache(a.cache); err != nil {
		return nil, err
	}
	a.catalog, err = catalog.New(a.repo, a.repo, a.cache, catalog.Options{
		TTLs:        cfg.Cache.TTLs,
		FailSafe:    cfg.Cache.FailSafe,
		Loading:     cfg.Cache.Loading,
		Logger:      log,
		AfterCommit: failpoint(log),
		Relay:       outbox.Options{TracerProvider: tr.TracerProvider()},
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
	if a.redis != nil {
		a.watchRedis(ctx)
	}
	return a, nil
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
		// Redis may be dying: what it acknowledged last may not survive.
		a.catalog.CacheMayHaveLost()
	case breaker.Closed:
		a.catalog.Kick() // replay the outbox now, to readmit reads sooner
	}
}

// Close releases the store and the repository.
func (a *app) Close() error {
	var errs []error
	if a.warms != nil {
		a.warms.close()
	}
	if a.stopWatch != nil {
		a.stopWatch()
	}
	if a.catalog != nil {
		a.catalog.Close()
	}
	if a.store != nil {
		errs = append(errs, a.store.Close())
	}
	a.watchers.Wait()
	if a.repo != nil {
		errs = append(errs, a.repo.Close())
	}
	return errors.Join(errs...)
}
