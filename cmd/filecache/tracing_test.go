package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/otlptest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// traceTree is the spans of one trace, indexed for the checks.
type traceTree []otlptest.Span

// named returns the spans named name.
func (tr traceTree) named(name string) []otlptest.Span {
	var out []otlptest.Span
	for _, s := range tr {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// children returns the spans whose parent is parent.
func (tr traceTree) children(parent otlptest.Span) traceTree {
	var out traceTree
	for _, s := range tr {
		if s.ParentSpanID == parent.SpanID {
			out = append(out, s)
		}
	}
	return out
}

func (tr traceTree) String() string {
	var b strings.Builder
	for _, s := range tr {
		fmt.Fprintf(&b, "\n  parent %-16s %v", s.ParentSpanID, s)
	}
	return b.String()
}

// one returns the one span named name, or an error.
func (tr traceTree) one(name string) (otlptest.Span, error) {
	s := tr.named(name)
	if len(s) != 1 {
		return otlptest.Span{}, fmt.Errorf("%d spans named %q, want 1", len(s), name)
	}
	return s[0], nil
}

// attrs checks that s has the attributes of want.
func attrs(s otlptest.Span, want map[string]string) error {
	for k, v := range want {
		if got := s.Attr(k); got != v {
			return fmt.Errorf("span %s: %s = %q, want %q", s.Name, k, got, v)
		}
	}
	return nil
}

// tracedRequest is a request sent inside a trace of the test's: the
// service's spans of it are in trace, under the test's span parent.
type tracedRequest struct {
	trace, parent string
	status        int
	xcache        string
}

func newTraceIDs() (traceID, spanID string) { return e2eRandomHex(16), e2eRandomHex(8) }

// send sends a request to p with a traceparent of a new trace.
func send(t *testing.T, p *process, method, path, body string) tracedRequest {
	t.Helper()
	tid, sid := newTraceIDs()
	status, h, b := p.do(t, method, path, body, "traceparent", "00-"+tid+"-"+sid+"-01")
	if status >= 300 {
		t.Fatalf("%s %s = %d %s", method, path, status, b)
	}
	return tracedRequest{trace: tid, parent: sid, status: status, xcache: h.Get("X-Cache")}
}

// awaitTrace waits until check accepts the spans received of trace id:
// spans arrive in batches, each when the exporter's schedule comes.
func awaitTrace(t *testing.T, rcv *otlptest.Receiver, id string, check func(traceTree) error) traceTree {
	t.Helper()
	var tr traceTree
	err := testenv.Poll(t.Context(), 30*time.Second, func() error {
		tr = rcv.Trace(id)
		return check(tr)
	})
	if err != nil {
		t.Fatalf("trace %s: %v; spans:%v", id, err, tr)
	}
	t.Logf("trace %s:%v", id, tr)
	return tr
}

// server finds the server span of req in tr: the child of the test's span,
// named after the route, with its route and status.
func server(tr traceTree, req tracedRequest, name string) (otlptest.Span, error) {
	s, err := tr.one(name)
	if err != nil {
		return s, err
	}
	_, route, _ := strings.Cut(name, " ")
	if s.Kind != "server" || s.ParentSpanID != req.parent {
		return s, fmt.Errorf("span %v is not the server span under the caller's %s", s, req.parent)
	}
	return s, attrs(s, map[string]string{"http.route": route, "http.response.status_code": fmt.Sprint(req.status)})
}

// redisChildren checks that parent has Redis command spans among its
// children, and returns their names.
func redisChildren(tr traceTree, parent otlptest.Span) ([]string, error) {
	var cmds []string
	for _, s := range tr.children(parent) {
		if s.Attr("db.system.name") == "redis" {
			if s.Kind != "client" || s.Attr("db.operation.name") != s.Name {
				return nil, fmt.Errorf("Redis span %v", s)
			}
			cmds = append(cmds, s.Name)
		}
	}
	if len(cmds) == 0 {
		return nil, fmt.Errorf("no Redis command under %s", parent.Name)
	}
	return cmds, nil
}

// sqlChildren returns the first words of the SQL statements under parent.
func sqlChildren(tr traceTree, parent otlptest.Span) []string {
	var out []string
	for _, s := range tr.children(parent) {
		if s.Attr("db.system.name") == "sqlite" {
			q := s.Attr("db.query.text")
			if strings.Contains(q, "INSERT INTO outbox") {
				q = "OUTBOX"
			}
			w, _, _ := strings.Cut(strings.TrimSpace(q), " ")
			out = append(out, s.Name+" "+w)
		}
	}
	return out
}

// awaitLogLine waits for p's request log line of the trace of req and
// returns its span id.
func awaitLogLine(t *testing.T, p *process, req tracedRequest, route string) string {
	t.Helper()
	var spanID string
	testenv.Eventually(t, 10*time.Second, func() error {
		for _, l := range p.log.snapshot() {
			var rec struct {
				Msg     string `json:"msg"`
				Route   string `json:"route"`
				TraceID string `json:"trace_id"`
				SpanID  string `json:"span_id"`
			}
			if json.Unmarshal([]byte(l), &rec) == nil && rec.Msg == "http request" && rec.TraceID == req.trace {
				if rec.Route != route {
					return fmt.Errorf("log line of trace %s: route %q, want %q", req.trace, rec.Route, route)
				}
				spanID = rec.SpanID
				return nil
			}
		}
		return fmt.Errorf("no request log line with trace_id %s", req.trace)
	})
	return spanID
}

// TestTracing runs service processes that export traces over OTLP/HTTP to
// a real receiver started by the test, on a private Redis and SQLite, and
// follows requests sent inside traces of the test's (W3C traceparent):
//
//   - a miss: the server span, named after its route, with a cache.fetch
//     child (origin miss, lease taken, breaker closed) whose children are
//     the Redis commands (the lease's SET, the store's EVALSHA) and the
//     database query of the load;
//   - a hit on another instance: cache.fetch with origin hit, one Redis
//     command, no query; then a near-cache hit: the server span alone, with
//     a cache.fetch event (origin hit-local);
//   - a PATCH: its transaction (a span whose children are BEGIN, the
//     UPDATE, the outbox INSERT and COMMIT) and its invalidation
//     (cache.invalidate, reason write, with the Redis commands);
//   - a PATCH whose instance dies between commit and invalidation: the
//     relay of another instance delivers it in an outbox.deliver span,
//     root of a new trace, linked to the PATCH's trace, and the version
//     another instance had cached is replaced;
//
// and finds each request's trace id and server span id in its request log
// line.
func TestTracing(t *testing.T) {
	redistest.RequireBinaries(t)
	rcv := otlptest.Start(t)
	rds := redistest.Standalone(t)
	prefix := "tr" + e2eRandomHex(4) + ":"
	env := func(instance string, extra ...string) map[string]string {
		m := map[string]string{
			"DATABASE_URL":                sqltest.SQLiteDSN(t),
			"REDIS_URL":                   rds.URL(),
			"CACHE_PREFIX":                prefix,
			"RATE_LIMIT_PER_MINUTE":       "0", // no limiter's commands in the traces
			"OTEL_EXPORTER_OTLP_ENDPOINT": rcv.URL,
			"OTEL_SERVICE_NAME":           "filecache-test",
			"OTEL_RESOURCE_ATTRIBUTES":    "service.instance.id=" + instance,
			"OTEL_TRACES_SAMPLER":         "always_on",
			"OTEL_BSP_SCHEDULE_DELAY":     "100",
			"LOG_LEVEL":                   "debug", // a line per request, not only 4xx and slow ones
		}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	base := env("a")
	dsn := base["DATABASE_URL"]
	a := startServe(t, base)
	b := startServe(t, env("b", "DATABASE_URL", dsn))
	f := a.createFile(t, "report.pdf", 1234)
	path := "/v1/files/" + f.ID
	const getRoute, patchRoute = "GET /v1/files/{id}", "PATCH /v1/files/{id}"

	// A miss on b.
	miss := send(t, b, "GET", path, "")
	if miss.xcache != "miss" {
		t.Fatalf("first GET X-Cache %q, want miss", miss.xcache)
	}
	tr := awaitTrace(t, rcv, miss.trace, func(tr traceTree) error {
		srv, err := server(tr, miss, getRoute)
		if err != nil {
			return err
		}
		if srv.Resource["service.name"] != "filecache-test" || srv.Resource["service.instance.id"] != "b" {
			return fmt.Errorf("resource %v", srv.Resource)
		}
		fetch, err := tr.one("cache.fetch")
		if err != nil {
			return err
		}
		if fetch.ParentSpanID != srv.SpanID {
			return fmt.Errorf("cache.fetch is not a child of the server span")
		}
		if err := attrs(fetch, map[string]string{"cache.family": "file", "cache.key": prefix + "file:" + f.ID,
			"cache.origin": "miss", "cache.lease": "taken", "cache.store.state": "closed"}); err != nil {
			return err
		}
		cmds, err := redisChildren(tr, fetch)
		if err != nil {
			return err
		}
		if !slices.Contains(cmds, "SET") || !slices.Contains(cmds, "EVALSHA") {
			return fmt.Errorf("Redis commands of the miss %v, want the lease's SET and the store's EVALSHA", cmds)
		}
		if q := sqlChildren(tr, fetch); !slices.Contains(q, "sql.conn.query SELECT") {
			return fmt.Errorf("queries of the load %v, want a SELECT", q)
		}
		return nil
	})
	srv, _ := tr.one(getRoute)
	if id := awaitLogLine(t, b, miss, getRoute); id != srv.SpanID {
		t.Errorf("b's request log line has span_id %q, want the server span's %s", id, srv.SpanID)
	}

	// A hit on a, from Redis: a's near cache has never held the file.
	hit := send(t, a, "GET", path, "")
	if hit.xcache != "hit" {
		t.Fatalf("GET on the other instance X-Cache %q, want hit", hit.xcache)
	}
	awaitTrace(t, rcv, hit.trace, func(tr traceTree) error {
		if _, err := server(tr, hit, getRoute); err != nil {
			return err
		}
		fetch, err := tr.one("cache.fetch")
		if err != nil {
			return err
		}
		if err := attrs(fetch, map[string]string{"cache.origin": "hit", "cache.lease": ""}); err != nil {
			return err
		}
		if cmds, err := redisChildren(tr, fetch); err != nil || !slices.Equal(cmds, []string{"SET"}) {
			return fmt.Errorf("Redis commands of a hit %v (%v), want the one lookup (SET NX GET)", cmds, err)
		}
		if q := sqlChildren(tr, fetch); len(q) > 0 {
			return fmt.Errorf("a hit queried the database: %v", q)
		}
		return nil
	})

	// Then a near-cache hit on a (the near cache is filled in the
	// background after the hit).
	var local tracedRequest
	testenv.Eventually(t, 10*time.Second, func() error {
		local = send(t, a, "GET", path, "")
		if local.xcache != "hit-local" {
			return fmt.Errorf("X-Cache %q", local.xcache)
		}
		return nil
	})
	awaitTrace(t, rcv, local.trace, func(tr traceTree) error {
		srv, err := server(tr, local, getRoute)
		if err != nil {
			return err
		}
		if len(tr) != 1 {
			return fmt.Errorf("a near hit made %d spans, want the server span alone", len(tr))
		}
		for _, e := range srv.Events {
			if e.Name == "cache.fetch" && e.Attrs["cache.origin"] == "hit-local" && e.Attrs["cache.family"] == "file" {
				return nil
			}
		}
		return fmt.Errorf("no hit-local event on the server span")
	})

	// A PATCH on a: its transaction and its invalidation.
	patch := send(t, a, "PATCH", path, `{"name":"r2.pdf"}`)
	tr = awaitTrace(t, rcv, patch.trace, func(tr traceTree) error {
		srv, err := server(tr, patch, patchRoute)
		if err != nil {
			return err
		}
		tx, err := tr.one("db.transaction")
		if err != nil {
			return err
		}
		if tx.ParentSpanID != srv.SpanID {
			return errors.New("db.transaction is not a child of the server span")
		}
		q := sqlChildren(tr, tx)
		for _, want := range []string{"sql.conn.begin_tx ", "sql.conn.query UPDATE", "sql.conn.query OUTBOX", "sql.tx.commit "} {
			if !slices.Contains(q, want) {
				return fmt.Errorf("transaction's statements %q lack %q", q, want)
			}
		}
		inv, err := tr.one("cache.invalidate")
		if err != nil {
			return err
		}
		if inv.ParentSpanID != srv.SpanID {
			return errors.New("cache.invalidate is not a child of the server span")
		}
		if err := attrs(inv, map[string]string{"cache.invalidation.reason": "write", "cache.keys": "3",
			"cache.invalidation.tags": "[files]", "cache.store.state": "closed"}); err != nil {
			return err
		}
		if inv.Start < tx.End {
			return errors.New("the invalidation started before the commit")
		}
		_, err = redisChildren(tr, inv)
		return err
	})
	srv, _ = tr.one(patchRoute)
	if id := awaitLogLine(t, a, patch, patchRoute); id != srv.SpanID {
		t.Errorf("a's request log line has span_id %q, want the server span's %s", id, srv.SpanID)
	}

	// A PATCH whose instance dies after its commit: another instance's
	// relay delivers its invalidation, in a trace linked to the PATCH's.
	// b caches the current version first, which only that invalidation
	// can replace.
	testenv.Eventually(t, 10*time.Second, func() error {
		if got, _ := b.getFile(t, f.ID); got.Name != "r2.pdf" {
			return fmt.Errorf("b serves %q, want r2.pdf", got.Name)
		}
		return nil
	})
	c := startServe(t, env("c", "DATABASE_URL", dsn, failpointEnv, "exit-after-commit"))
	crashTrace, crashParent := newTraceIDs()
	req, _ := http.NewRequestWithContext(t.Context(), "PATCH", c.base+path, strings.NewReader(`{"name":"r3.pdf"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+crashTrace+"-"+crashParent+"-01")
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("PATCH on the crashing instance answered %d", resp.StatusCode)
	}
	<-c.exited
	if exit := (*exec.ExitError)(nil); !errors.As(c.err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("crashing instance exited with %v, want status 3", c.err)
	}
	var deliver otlptest.Span
	testenv.Eventually(t, 30*time.Second, func() error {
		for _, s := range rcv.Spans() {
			if s.Name == "outbox.deliver" && len(s.Links) == 1 && s.Links[0].TraceID == crashTrace {
				deliver = s
				return nil
			}
		}
		return errors.New("no outbox.deliver span linked to the crashed PATCH's trace")
	})
	if deliver.ParentSpanID != "" || deliver.TraceID == crashTrace || deliver.Kind != "consumer" {
		t.Errorf("delivery span %v: want the consumer root of a trace of its own", deliver)
	}
	if in := deliver.Resource["service.instance.id"]; in != "a" && in != "b" {
		t.Errorf("delivered by %v, want a surviving instance", in)
	}
	awaitTrace(t, rcv, deliver.TraceID, func(tr traceTree) error {
		inv, err := tr.one("cache.invalidate")
		if err != nil {
			return err
		}
		if inv.ParentSpanID != deliver.SpanID {
			return errors.New("cache.invalidate is not a child of outbox.deliver")
		}
		if err := attrs(inv, map[string]string{"cache.invalidation.reason": "relay", "cache.keys": "3"}); err != nil {
			return err
		}
		_, err = redisChildren(tr, inv)
		return err
	})
	testenv.Eventually(t, 10*time.Second, func() error {
		if got, _ := b.getFile(t, f.ID); got.Name != "r3.pdf" {
			return fmt.Errorf("after the relay, b serves %q, want r3.pdf", got.Name)
		}
		return nil
	})
	if r := rcv.Refused(); len(r) > 0 {
		t.Errorf("the receiver refused exports: %v", r)
	}
}
