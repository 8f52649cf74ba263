package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/internal/tracing"
)

// tracingShutdownTimeout bounds the export of the last spans at shutdown:
// an unreachable collector must not hold the process.
const tracingShutdownTimeout = 5 * time.Second

// startTracing returns the tracing the OTEL_* variables ask for, or nil
// when they set no OTLP endpoint. Export failures are logged to log.
func startTracing(ctx context.Context, log *slog.Logger) (*tracing.Provider, error) {
	tr, err := tracing.New(ctx, tracing.Options{ServiceVersion: version, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("OTEL_* (tracing): %w", err)
	}
	if tr != nil {
		sampler := os.Getenv("OTEL_TRACES_SAMPLER")
		if sampler == "" {
			sampler = "parentbased_always_on"
		}
		log.Info("tracing on: spans exported over OTLP/HTTP", "endpoint", config.RedactURL(tr.Endpoint()), "sampler", sampler)
	}
	return tr, nil
}

// stopTracing exports the spans left, within tracingShutdownTimeout.
func stopTracing(tr *tracing.Provider, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), tracingShutdownTimeout)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		log.Warn("spans not exported at shutdown", "err", err)
	}
}
