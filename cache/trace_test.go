package cache_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// recorder is an SDK tracer provider that keeps every ended span.
type recorder struct {
	tp  *sdktrace.TracerProvider
	exp *tracetest.InMemoryExporter
}

func newRecorder(t *testing.T) recorder {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return recorder{tp: tp, exp: exp}
}

// request runs fn inside a recording span, as a traced request would, and
// returns the spans ended under it (itself last).
func (r recorder) request(t *testing.T, fn func(ctx context.Context)) tracetest.SpanStubs {
	t.Helper()
	r.exp.Reset()
	ctx, sp := r.tp.Tracer("test").Start(t.Context(), "request")
	fn(ctx)
	sp.End()
	return r.exp.GetSpans()
}

func attrOf(s tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// only returns the one span named name among spans.
func only(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range spans {
		if s.Name == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %s, want 1; spans: %v", len(found), name, names(spans))
	}
	return found[0]
}

func names(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}

// wantAttrs fails t unless s has every attribute of want (as text) and
// none of absent.
func wantAttrs(t *testing.T, s tracetest.SpanStub, want map[string]string, absent ...string) {
	t.Helper()
	for k, v := range want {
		got, ok := attrOf(s, k)
		if !ok || got.String() != v {
			t.Errorf("span %s: %s = %q (set: %v), want %q", s.Name, k, got.String(), ok, v)
		}
	}
	for _, k := range absent {
		if got, ok := attrOf(s, k); ok {
			t.Errorf("span %s: %s = %q, want none", s.Name, k, got.String())
		}
	}
}

// TestTraceFetch: within a recording span, each lookup that reaches the
// store is a child span saying what happened (origin, lease, fail-safe,
// the breaker's state), a failed load marks it failed and a "not found"
// does not; outside a recording span nothing is traced.
func TestTraceFetch(t *testing.T) {
	rec := newRecorder(t)
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	c, err := cache.New(breaker.New(m, breaker.Options{}), cache.Options{Prefix: "t:", Now: clock, TracerProvider: rec.tp})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "item", cache.FamilyOptions[string]{TTL: time.Minute, FailSafe: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	errDB := errors.New("database down")
	var fail atomic.Bool
	load := func(_ context.Context, id string) (string, error) {
		switch {
		case fail.Load():
			return "", errDB
		case id == "absent":
			return "", cache.ErrNotFound
		}
		return "v" + id, nil
	}
	fetch := func(ctx context.Context, id string, want cache.Origin) {
		t.Helper()
		_, origin, err := f.Fetch(ctx, id, load)
		if origin != want || (err != nil && !errors.Is(err, cache.ErrNotFound)) {
			t.Fatalf("Fetch(%s) = %v, %v; want origin %v", id, origin, err, want)
		}
	}

	spans := rec.request(t, func(ctx context.Context) { fetch(ctx, "1", cache.OriginLoad) })
	s := only(t, spans, "cache.fetch")
	wantAttrs(t, s, map[string]string{
		"cache.family": "item", "cache.key": "t:item:1", "cache.origin": "miss",
		"cache.lease": "taken", "cache.store.state": "closed",
	}, "cache.fail_safe", "cache.fallback")
	if req := only(t, spans, "request"); s.Parent.SpanID() != req.SpanContext.SpanID() {
		t.Errorf("cache.fetch's parent is %v, want the request span", s.Parent.SpanID())
	}

	spans = rec.request(t, func(ctx context.Context) { fetch(ctx, "1", cache.OriginStore) })
	wantAttrs(t, only(t, spans, "cache.fetch"), map[string]string{"cache.origin": "hit"}, "cache.lease")

	spans = rec.request(t, func(ctx context.Context) { fetch(ctx, "absent", cache.OriginLoad) })
	if s := only(t, spans, "cache.fetch"); s.Status.Code == codes.Error {
		t.Errorf("a not found marks the span failed: %v", s.Status)
	}

	// Past the TTL with the database down: the stale value, as fail-safe.
	now.Add(int64(2 * time.Minute))
	fail.Store(true)
	spans = rec.request(t, func(ctx context.Context) { fetch(ctx, "1", cache.OriginStale) })
	wantAttrs(t, only(t, spans, "cache.fetch"), map[string]string{"cache.origin": "stale", "cache.fail_safe": "true", "cache.lease": "taken"})

	spans = rec.request(t, func(ctx context.Context) {
		if _, _, err := f.Fetch(ctx, "2", load); !errors.Is(err, errDB) {
			t.Fatalf("Fetch with the database down = %v, want %v", err, errDB)
		}
	})
	if s := only(t, spans, "cache.fetch"); s.Status.Code != codes.Error || s.Status.Description != errDB.Error() {
		t.Errorf("a failed load: status %+v, want Error %q", s.Status, errDB)
	}
	fail.Store(false)

	// Writes and invalidations.
	spans = rec.request(t, func(ctx context.Context) {
		if err := f.Set(ctx, "3", "v3"); err != nil {
			t.Fatal(err)
		}
		if got, err := f.GetMany(ctx, []string{"3", "4"}); err != nil || len(got) != 1 {
			t.Fatalf("GetMany = %v, %v", got, err)
		}
		key, _ := f.Key("3")
		if _, err := c.Invalidate(ctx, cache.Invalidation{Keys: []string{key}, Reason: "write"}); err != nil {
			t.Fatal(err)
		}
	})
	wantAttrs(t, only(t, spans, "cache.set"), map[string]string{"cache.family": "item", "cache.key": "t:item:3"})
	wantAttrs(t, only(t, spans, "cache.get_many"), map[string]string{"cache.keys": "2", "cache.found": "1"})
	wantAttrs(t, only(t, spans, "cache.invalidate"), map[string]string{
		"cache.invalidation.reason": "write", "cache.keys": "1", "cache.invalidation.deleted": "1"}, "cache.family")

	// No recording span: nothing.
	rec.exp.Reset()
	fetch(context.Background(), "5", cache.OriginLoad)
	unsampled := trace.ContextWithSpanContext(t.Context(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}}))
	fetch(unsampled, "6", cache.OriginLoad)
	if got := rec.exp.GetSpans(); len(got) != 0 {
		t.Errorf("lookups outside a recording span made spans: %v", names(got))
	}
}

// TestTraceLeaseWaitAndFallback: a lookup that waits for another cache's
// load says so, and one that loads without the store (it failed) too.
func TestTraceLeaseWaitAndFallback(t *testing.T) {
	rec := newRecorder(t)
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	family := func(store cache.Store) (*cache.Cache, *cache.Family[string]) {
		c, err := cache.New(store, cache.Options{TracerProvider: rec.tp})
		if err != nil {
			t.Fatal(err)
		}
		f, err := cache.NewFamily(c, "item", cache.FamilyOptions[string]{})
		if err != nil {
			t.Fatal(err)
		}
		return c, f
	}
	_, a := family(m)
	cb, b := family(m)
	release := make(chan struct{})
	loading := make(chan struct{})
	go func() {
		_, _ = a.GetOrLoad(context.Background(), "1", func(context.Context, string) (string, error) {
			close(loading)
			<-release
			return "a", nil
		})
	}()
	<-loading
	spans := rec.request(t, func(ctx context.Context) {
		go func() {
			// Release a's load once b waits for it.
			testenv.Eventually(t, 10*time.Second, func() error {
				for _, st := range cb.Stats() {
					if st.LeaseWaits > 0 {
						return nil
					}
				}
				return errors.New("b does not wait")
			})
			close(release)
		}()
		v, origin, err := b.Fetch(ctx, "1", func(context.Context, string) (string, error) { return "b", nil })
		if v != "a" || origin != cache.OriginStore || err != nil {
			t.Errorf("b.Fetch = %q, %v, %v; want a's value from the store", v, origin, err)
		}
	})
	wantAttrs(t, only(t, spans, "cache.fetch"), map[string]string{"cache.lease": "waited", "cache.origin": "hit"})

	_, down := family(downStore{m})
	spans = rec.request(t, func(ctx context.Context) {
		if _, err := down.GetOrLoad(ctx, "1", func(context.Context, string) (string, error) { return "db", nil }); err != nil {
			t.Fatal(err)
		}
	})
	wantAttrs(t, only(t, spans, "cache.fetch"), map[string]string{"cache.fallback": "true", "cache.origin": "miss"}, "cache.lease")
}

// TestTraceNearHit: a near-cache hit is no span but an event of the
// caller's span, on a real Redis whose tracking keeps the near cache.
func TestTraceNearHit(t *testing.T) {
	rec := newRecorder(t)
	srv := redistest.Standalone(t)
	store, err := redisstore.New(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, Track: []string{"n:item:"}, TracerProvider: rec.tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c, err := cache.New(store, cache.Options{Prefix: "n:", NearSize: 100, TracerProvider: rec.tp})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "item", cache.FamilyOptions[string]{Near: true})
	if err != nil {
		t.Fatal(err)
	}
	load := func(context.Context, string) (string, error) { return "v", nil }
	spans := rec.request(t, func(ctx context.Context) {
		if _, err := f.GetOrLoad(ctx, "1", load); err != nil {
			t.Fatal(err)
		}
	})
	fetch := only(t, spans, "cache.fetch")
	// The Redis commands are its children: the lease (SET NX GET) and the
	// store of the value (a script).
	var cmds []string
	for _, s := range spans {
		if s.Parent.SpanID() == fetch.SpanContext.SpanID() {
			cmds = append(cmds, s.Name)
			wantAttrs(t, s, map[string]string{"db.system.name": "redis", "db.operation.name": s.Name})
			if s.SpanKind != trace.SpanKindClient {
				t.Errorf("span %s is %v, want a client span", s.Name, s.SpanKind)
			}
		}
	}
	if !slices.Contains(cmds, "SET") || !slices.Contains(cmds, "EVALSHA") {
		t.Errorf("Redis spans under cache.fetch: %v, want SET and EVALSHA", cmds)
	}

	testenv.Eventually(t, 10*time.Second, func() error {
		spans = rec.request(t, func(ctx context.Context) {
			if _, _, err := f.Fetch(ctx, "1", load); err != nil {
				t.Fatal(err)
			}
		})
		if slices.Contains(names(spans), "cache.fetch") {
			return errors.New("not a near hit yet")
		}
		return nil
	})
	req := only(t, spans, "request")
	if len(spans) != 1 || len(req.Events) != 1 {
		t.Fatalf("near hit: spans %v, events %v; want the request span alone with one event", names(spans), req.Events)
	}
	ev := req.Events[0]
	got := map[string]string{}
	for _, kv := range ev.Attributes {
		got[string(kv.Key)] = kv.Value.String()
	}
	if ev.Name != "cache.fetch" || got["cache.origin"] != "hit-local" || got["cache.family"] != "item" || got["cache.key"] != "n:item:1" {
		t.Errorf("near-hit event %s %v", ev.Name, got)
	}
}
