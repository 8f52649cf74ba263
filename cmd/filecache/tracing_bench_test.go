package main

import (
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/logagg"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/internal/tracing"
)

// BenchmarkCachedGET measures the service's cached GET /v1/files/{id} (a
// near-cache hit, on a private Redis and SQLite) through the whole handler
// in process, the request log line included (JSON, discarded): with
// tracing off, the default, and with tracing on, every request sampled
// or one in ten, exporting over OTLP/HTTP to a local server that discards
// the spans.
//
//	go test -run '^$' -bench CachedGET -benchmem -count 5 ./cmd/filecache/
func BenchmarkCachedGET(b *testing.B) {
	b.Run("tracing=off", func(b *testing.B) { benchCachedGET(b, nil, noRateLimit) })
	// The configuration users run: rate limiting on (500 requests per
	// client address, so that none is limited).
	b.Run("defaults", func(b *testing.B) { benchCachedGET(b, nil, nil) })
	for _, bc := range []struct{ name, sampler, arg string }{
		{"tracing=on", "always_on", ""},
		{"tracing=on-10%", "parentbased_traceidratio", "0.1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/x-protobuf")
			}))
			b.Cleanup(sink.Close)
			for _, v := range tracing.Variables {
				b.Setenv(v, "")
			}
			b.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", sink.URL)
			b.Setenv("OTEL_TRACES_SAMPLER", bc.sampler)
			b.Setenv("OTEL_TRACES_SAMPLER_ARG", bc.arg)
			tr, err := tracing.New(b.Context(), tracing.Options{})
			if err != nil || tr == nil {
				b.Fatalf("tracing: %v, %v", tr, err)
			}
			b.Cleanup(func() { _ = tr.Shutdown(b.Context()) })
			benchCachedGET(b, tr, noRateLimit)
		})
	}
}

// noRateLimit is the environment of the benchmarks that leave the rate
// limiter out.
var noRateLimit = map[string]string{"RATE_LIMIT_PER_MINUTE": "0"}

// benchCachedGET runs the cached GET with the tracing of tr (nil: off) and
// the extra environment env.
func benchCachedGET(b *testing.B, tr *tracing.Provider, env map[string]string) {
	rds := redistest.Standalone(b)
	vars := map[string]string{
		"DATABASE_URL": sqltest.SQLiteDSN(b),
		"REDIS_URL":    rds.URL(),
		"LOG_LEVEL":    "info",
	}
	maps.Copy(vars, env)
	cfg := testConfig(b, vars)
	log := slog.New(logagg.New(slog.NewJSONHandler(io.Discard, nil), logagg.Options{}))
	if tr != nil {
		log = slog.New(tracing.LogHandler(log.Handler()))
	}
	_, h := testApp(b, cfg, log, tr)
	// Each client address makes 500 requests in a row, under the default
	// 600 a minute, as a busy client would: the limiter reserves from
	// Redis once per budget, not per request (a new address per request
	// would measure the reservations), and no run is long enough to be
	// limited.
	const perClient = 500
	n, client := 0, ""
	serve := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		if n%perClient == 0 {
			i := n / perClient
			client = fmt.Sprintf("10.%d.%d.%d:4321", i>>16&255, i>>8&255, i&255)
		}
		req.RemoteAddr = client
		n++
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}
	w := serve("POST", "/v1/files", `{"name":"a.pdf","size":1234,"content_type":"application/pdf"}`)
	if w.Code != http.StatusCreated {
		b.Fatalf("create: %d %s", w.Code, w.Body)
	}
	id := w.Body.String()[strings.Index(w.Body.String(), `"id":"`)+6:][:36]
	path := "/v1/files/" + id
	testenv.Eventually(b, 10*time.Second, func() error {
		if w := serve("GET", path, ""); w.Header().Get("X-Cache") != "hit-local" {
			return fmt.Errorf("X-Cache %q, want hit-local", w.Header().Get("X-Cache"))
		}
		return nil
	})
	b.ReportAllocs()
	for b.Loop() {
		if w := serve("GET", path, ""); w.Code != http.StatusOK {
			b.Fatalf("GET %d", w.Code)
		}
	}
}
