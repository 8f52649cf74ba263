package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/promtest"
	"github.com/filecache/filecache/metrics"
	"github.com/filecache/filecache/outbox"
	"github.com/google/go-cmp/cmp"
)

// pick returns the samples of series, 0 for those absent.
func pick(samples map[string]float64, series ...string) map[string]float64 {
	out := make(map[string]float64, len(series))
	for _, s := range series {
		out[s] = samples[s]
	}
	return out
}

type file struct{ Name string }

func newCache(t *testing.T, opts cache.Options) (*cache.Cache, *memstore.Store) {
	t.Helper()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, store
}

func newMetrics(t *testing.T, opts metrics.Options) *metrics.Metrics {
	t.Helper()
	m, err := metrics.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCacheCountersAndObserver(t *testing.T) {
	ctx := t.Context()
	m := newMetrics(t, metrics.Options{})
	c, store := newCache(t, cache.Options{Observer: m})
	if err := m.CollectCache(c); err != nil {
		t.Fatal(err)
	}
	if err := m.CollectCache(c); err == nil {
		t.Error("second CollectCache: no error")
	}
	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[file]{TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cache.NewFamily(c, "search", cache.FamilyOptions[file]{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	load := func(ctx context.Context, id string) (file, error) { return file{Name: id}, nil }
	// 3 ids: 3 misses (and loads), then 2 more reads each: 6 hits; one
	// Get of an absent id: 1 miss.
	for range 3 {
		for _, id := range []string{"a", "b", "c"} {
			if _, err := files.GetOrLoad(ctx, id, load); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := files.Get(ctx, "absent"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get(absent) = %v", err)
	}
	if _, err := c.Invalidate(ctx, cache.Invalidation{Keys: []string{"file:a", "file:absent"}, Reason: "admin"}); err != nil {
		t.Fatal(err)
	}
	// A closed store fails: one get error.
	store.Close()
	if _, err := files.Get(ctx, "a"); err == nil {
		t.Fatal("Get on a closed store: no error")
	}

	got := pick(promtest.Scrape(t, m.Handler()),
		`cache_hit_total{family="file",tier="store"}`,
		`cache_miss_total{family="file"}`,
		`cache_load_total{family="file"}`,
		`cache_load_errors_total{family="file"}`,
		`cache_lease_wait_total{family="file"}`,
		`cache_corrupt_total{family="file"}`,
		`cache_store_errors_total{family="file"}`,
		`cache_hit_total{family="search",tier="store"}`,
		`cache_miss_total{family="search"}`,
		`cache_operation_duration_seconds_count{family="file",operation="get"}`,
		`cache_operation_duration_seconds_count{family="*",operation="delete"}`,
		`cache_errors_total{operation="get"}`,
		`cache_invalidation_total{kind="key",reason="admin"}`,
		`cache_invalidated_keys_total{kind="key",reason="admin"}`,
	)
	want := map[string]float64{
		`cache_hit_total{family="file",tier="store"}`:                           6,
		`cache_miss_total{family="file"}`:                                       4,
		`cache_load_total{family="file"}`:                                       3,
		`cache_load_errors_total{family="file"}`:                                0,
		`cache_lease_wait_total{family="file"}`:                                 0,
		`cache_corrupt_total{family="file"}`:                                    0,
		`cache_store_errors_total{family="file"}`:                               1,
		`cache_hit_total{family="search",tier="store"}`:                         0,
		`cache_miss_total{family="search"}`:                                     0,
		`cache_operation_duration_seconds_count{family="file",operation="get"}`: 3*3 + 1 + 1,
		`cache_operation_duration_seconds_count{family="*",operation="delete"}`: 1,
		`cache_errors_total{operation="get"}`:                                   1,
		`cache_invalidation_total{kind="key",reason="admin"}`:                   1,
		`cache_invalidated_keys_total{kind="key",reason="admin"}`:               1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
}

func TestInvalidationsAndHTTP(t *testing.T) {
	m := newMetrics(t, metrics.Options{})
	m.ObserveInvalidation(metrics.KindKey, metrics.ReasonWrite, 2)
	m.ObserveInvalidation(metrics.KindKey, metrics.ReasonWrite, 1)
	m.ObserveInvalidation(metrics.KindTag, metrics.ReasonRelay, 1)
	m.ObserveInvalidation(metrics.KindPattern, metrics.ReasonAdmin, 0)
	m.ObserveHTTP("GET", "GET /v1/files/{id}", 200, 3*time.Millisecond)
	m.ObserveHTTP("GET", "GET /v1/files/{id}", 404, time.Millisecond)
	m.ObserveHTTP("OTHER", "unmatched", 405, time.Millisecond)

	got := pick(promtest.Scrape(t, m.Handler()),
		`cache_invalidation_total{kind="key",reason="write"}`,
		`cache_invalidation_total{kind="tag",reason="relay"}`,
		`cache_invalidation_total{kind="pattern",reason="admin"}`,
		`cache_invalidated_keys_total{kind="key",reason="write"}`,
		`cache_invalidated_keys_total{kind="tag",reason="relay"}`,
		`cache_invalidated_keys_total{kind="pattern",reason="admin"}`,
		`http_requests_total{method="GET",route="/v1/files/{id}",status="200"}`,
		`http_requests_total{method="GET",route="/v1/files/{id}",status="404"}`,
		`http_requests_total{method="OTHER",route="unmatched",status="405"}`,
		`http_request_duration_seconds_count{method="GET",route="/v1/files/{id}"}`,
		`http_request_duration_seconds_bucket{method="GET",route="/v1/files/{id}",le="0.001"}`,
	)
	want := map[string]float64{
		`cache_invalidation_total{kind="key",reason="write"}`:                                  2,
		`cache_invalidation_total{kind="tag",reason="relay"}`:                                  1,
		`cache_invalidation_total{kind="pattern",reason="admin"}`:                              1,
		`cache_invalidated_keys_total{kind="key",reason="write"}`:                              3,
		`cache_invalidated_keys_total{kind="tag",reason="relay"}`:                              1,
		`cache_invalidated_keys_total{kind="pattern",reason="admin"}`:                          0,
		`http_requests_total{method="GET",route="/v1/files/{id}",status="200"}`:                1,
		`http_requests_total{method="GET",route="/v1/files/{id}",status="404"}`:                1,
		`http_requests_total{method="OTHER",route="unmatched",status="405"}`:                   1,
		`http_request_duration_seconds_count{method="GET",route="/v1/files/{id}"}`:             2,
		`http_request_duration_seconds_bucket{method="GET",route="/v1/files/{id}",le="0.001"}`: 1,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	// Every kind and reason exists from the start.
	if _, ok := promtest.Scrape(t, m.Handler())[`cache_invalidation_total{kind="pattern",reason="relay"}`]; !ok {
		t.Error("cache_invalidation_total{kind=pattern,reason=relay} not exported before use")
	}
}

func TestOptionalFuncs(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	state := metrics.BreakerOpen
	backlog := outbox.Backlog{Pending: 7, Oldest: now.Add(-90 * time.Second), SetAside: 2}
	var outboxErr error
	m := newMetrics(t, metrics.Options{
		Now:          func() time.Time { return now },
		BreakerState: func() int { return state },
		Outbox: func(ctx context.Context) (outbox.Backlog, error) {
			if _, ok := ctx.Deadline(); !ok {
				t.Error("Outbox called without a deadline")
			}
			return backlog, outboxErr
		},
	})
	series := []string{"cache_breaker_state", "outbox_pending_entries", "outbox_oldest_pending_age_seconds"}
	got := pick(promtest.Scrape(t, m.Handler()), series...)
	want := map[string]float64{"cache_breaker_state": 2, "outbox_pending_entries": 7, "outbox_oldest_pending_age_seconds": 90}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}

	state, backlog = metrics.BreakerClosed, outbox.Backlog{}
	got = pick(promtest.Scrape(t, m.Handler()), series...)
	want = map[string]float64{"cache_breaker_state": 0, "outbox_pending_entries": 0, "outbox_oldest_pending_age_seconds": 0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}

	// A failing outbox query drops its series, not the scrape.
	outboxErr = errors.New("database down")
	samples := promtest.Scrape(t, m.Handler())
	if _, ok := samples["outbox_pending_entries"]; ok {
		t.Error("outbox_pending_entries exported although the query failed")
	}
	if samples["cache_breaker_state"] != 0 {
		t.Errorf("cache_breaker_state = %v", samples["cache_breaker_state"])
	}

	// Without the funcs, the series do not exist.
	samples = promtest.Scrape(t, newMetrics(t, metrics.Options{}).Handler())
	for _, s := range series {
		if _, ok := samples[s]; ok {
			t.Errorf("%s exported without its func", s)
		}
	}
}

func TestGoAndProcessCollectors(t *testing.T) {
	var none *redisstore.Store // as an app without Redis would pass it
	m := newMetrics(t, metrics.Options{Redis: none})
	m.PollRedis(t.Context()) // does nothing
	samples := promtest.Scrape(t, m.Handler())
	for _, s := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if _, ok := samples[s]; !ok {
			t.Errorf("%s not exported", s)
		}
	}
}

// syncBuffer is a bytes.Buffer for a logger written by Run's goroutine.
type syncBuffer struct {
	ch chan string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.ch <- string(bytes.Clone(p))
	return len(p), nil
}

func TestRunLogsHitRatio(t *testing.T) {
	buf := &syncBuffer{ch: make(chan string, 16)}
	m := newMetrics(t, metrics.Options{
		Logger:           slog.New(slog.NewTextHandler(buf, nil)),
		StatsLogInterval: 10 * time.Millisecond,
	})
	c, _ := newCache(t, cache.Options{})
	if err := m.CollectCache(c); err != nil {
		t.Fatal(err)
	}
	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[file]{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if err := files.Set(ctx, "a", file{}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "a", "a", "b"} {
		_, _ = files.Get(ctx, id)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(rctx) }()
	line := <-buf.ch
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	for _, want := range []string{"msg=\"cache hit ratio\"", "file.hit_ratio=0.75", "file.lookups=4", " hit_ratio=0.75", " lookups=4"} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %q", line, want)
		}
	}
}
