package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/internal/tracing"
	"github.com/spf13/cobra"
)

func newServeCmd(e env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the HTTP API",
		Long: `serve runs the file-metadata HTTP API (see API.md) until SIGINT or SIGTERM,
then drains in-flight requests and closes its pools.

With no configuration at all it uses a SQLite file (filecache.db) and an
in-process cache, so it runs on a fresh machine.

The database must answer at start-up; Redis need not: while it is
unreachable, serve answers from the database (at most DB_FALLBACK_LIMIT
loads at once), /readyz says "connecting", and the store connects in the
background; once connected, the outbox is replayed before cache reads are
admitted again. Repeated warnings are logged once per interval, with a
count.

Tracing is off unless an OTLP endpoint is set: with
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) each
request is a trace (the HTTP span, the cache's lookups, Redis commands,
SQL statements and transactions) exported over OTLP/HTTP, configured by
the standard OTEL_* variables (README, "Tracing"), and log lines logged
during a request carry its trace_id.`,
		Example: `  # Embedded defaults on :8080
  filecache serve

  # PostgreSQL and Redis (database 1), admin endpoints enabled
  DATABASE_URL=postgres://app@127.0.0.1:5432/filecache REDIS_URL=redis://127.0.0.1:6379/1 \
  ADMIN_TOKEN=$(openssl rand -hex 32) filecache serve --listen-addr 127.0.0.1:9000

  # Traces to a local OpenTelemetry collector, 10% of requests
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 OTEL_TRACES_SAMPLER=parentbased_traceidratio \
  OTEL_TRACES_SAMPLER_ARG=0.1 filecache serve

  # Redis over mutual TLS, under an ACL user
  REDIS_URL=rediss://filecache@redis.internal:6380/0 REDIS_PASSWORD=... \
  REDIS_TLS_CA_FILE=ca.pem REDIS_TLS_CERT_FILE=client.pem REDIS_TLS_KEY_FILE=client-key.pem filecache serve`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			return serve(cmd.Context(), cfg, nil)
		},
	}
	config.Bind(cmd.Flags(), config.AllGroups()...)
	return cmd
}

// warmOnStartRate bounds the database loads per second of the warming at
// start-up (CACHE_WARM_ON_START): it runs beside the traffic.
const warmOnStartRate = 100

// warmOnStart loads the n most downloaded files into the cache, in the
// background of a serving instance, and logs what it did.
func (a *app) warmOnStart(ctx context.Context, n int) {
	a.log.Info("warming the cache", "files", n, "max_loads_per_second", warmOnStartRate)
	res, err := a.catalog.Warm(ctx, catalog.WarmOptions{Limit: n, Rate: warmOnStartRate})
	if err != nil && ctx.Err() == nil {
		a.log.Warn("cache warming stopped", "files", res.Files, "err", err)
		return
	}
	a.log.Info("cache warmed", "files", res.Files, "loaded", res.Loaded, "already_cached", res.Cached,
		"duration", res.Duration.Round(time.Millisecond).String())
}

// serve runs the service until ctx ends, then shuts down gracefully.
// ready, if not nil, is called with the listening address once the server
// accepts connections (tests listen on port 0).
func serve(ctx context.Context, cfg config.Config, ready func(addr string)) error {
	log := newLogger(os.Stderr, cfg.LogLevel)
	defer flushLog(log)
	tr, err := startTracing(ctx, log)
	if err != nil {
		return err
	}
	if tr != nil {
		defer stopTracing(tr, log)
		log = slog.New(tracing.LogHandler(log.Handler()))
	}
	log.Info("starting filecache", "version", buildVersion(), "config", cfg)
	a, err := openTracedApp(ctx, cfg, log, tr)
	if err != nil {
		return err
	}
	defer a.Close()
	h, err := a.handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTP.ListenAddr)
	if err != nil {
		return fmt.Errorf("LISTEN_ADDR %s: %w", cfg.HTTP.ListenAddr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
	// Invalidations left in the outbox (by a crash, or while Redis was
	// down) reach Redis before the first read trusts it.
	if n, err := a.catalog.Drain(ctx); err != nil {
		a.catalog.SuspendCacheReads()
		log.Warn("outbox not replayed at start; reads bypass the cache until it is", "err", err)
	} else if n > 0 {
		log.Info("outbox replayed at start", "entries", n)
	}
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.catalog.Run(bg) })
	wg.Go(func() { _ = a.metrics.Run(bg) })
	wg.Go(func() { _ = a.audit.Run(bg) })

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready(ln.Addr().String())
	}
	if n := cfg.Cache.WarmOnStart; n > 0 && !cfg.Cache.Disabled {
		wg.Go(func() { a.warmOnStart(bg, n) })
	}

	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down", "timeout", cfg.HTTP.ShutdownTimeout.String())
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.HTTP.ShutdownTimeout)
		err = srv.Shutdown(sctx)
		cancel()
		if serr := <-errc; !errors.Is(serr, http.ErrServerClosed) && err == nil {
			err = serr
		}
	}
	stopBG()
	wg.Wait()
	// Deliver what the outbox still holds before the pools close.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	if _, derr := a.catalog.Drain(dctx); derr != nil {
		log.Warn("outbox not drained at shutdown; another instance will deliver it", "err", derr)
	}
	cancel()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}
