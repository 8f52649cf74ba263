package sqlstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/outbox"
)

// TestTracing: with a TracerProvider, a transaction inside a recording
// span is a span whose children are its statements, BEGIN and COMMIT, and
// its outbox entry keeps the trace context (the W3C traceparent of the
// transaction's span); reads are statement spans; work outside a
// recording span (the relay's polls) makes no span, and an entry written
// outside a trace has no traceparent.
func TestTracing(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		exp := tracetest.NewInMemoryExporter()
		tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
		t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		s := e.newStore(t, sqlstore.Options{TracerProvider: tp})
		f := create(t, s, newFile("a.txt"), "", day0) // outside any span
		if n := len(exp.GetSpans()); n != 0 {
			t.Fatalf("a write outside a span made %d spans", n)
		}

		ctx, req := tp.Tracer("test").Start(t.Context(), "request")
		var entry int64
		err := s.WithTx(ctx, func(tx files.Tx) error {
			if _, err := tx.UpdateFile(ctx, f.ID, files.FilePatch{Name: ptr("b.txt")}, 0, day0); err != nil {
				return err
			}
			var err error
			entry, err = tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"file:" + f.ID}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetFile(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		req.End()
		spans := exp.GetSpans()
		var txSpan tracetest.SpanStub
		for _, sp := range spans {
			if sp.Name == "db.transaction" {
				txSpan = sp
			}
		}
		if !txSpan.SpanContext.IsValid() || txSpan.Parent.SpanID() != req.SpanContext().SpanID() {
			t.Fatalf("no db.transaction span under the request: %v", spanNames(spans))
		}
		var inTx, outside []string
		for _, sp := range spans {
			switch sp.Parent.SpanID() {
			case txSpan.SpanContext.SpanID():
				name := sp.Name + " " + firstWord(attr(sp, "db.query.text"))
				if strings.Contains(attr(sp, "db.query.text"), "INSERT INTO outbox") {
					name = sp.Name + " outbox"
				}
				inTx = append(inTx, name)
				if attr(sp, "db.system.name") != map[string]string{"sqlite": "sqlite", "postgres": "postgresql"}[e.name] {
					t.Errorf("span %s: db.system.name %q", sp.Name, attr(sp, "db.system.name"))
				}
			case req.SpanContext().SpanID():
				if sp.Name != "db.transaction" {
					outside = append(outside, sp.Name+" "+firstWord(attr(sp, "db.query.text")))
				}
			}
		}
		for _, want := range []string{"sql.conn.begin_tx ", "sql.conn.query UPDATE", "sql.conn.query outbox", "sql.tx.commit "} {
			if !contains(inTx, want) {
				t.Errorf("transaction's children %q lack %q", inTx, want)
			}
		}
		if !contains(outside, "sql.conn.query SELECT") {
			t.Errorf("the read outside the transaction: spans %q, want a SELECT", outside)
		}

		pending, err := s.Pending(t.Context(), 10, day0.AddDate(100, 0, 0))
		if err != nil {
			t.Fatal(err)
		}
		traced := map[int64]string{}
		for _, p := range pending {
			traced[p.ID] = p.TraceParent
		}
		want := fmt.Sprintf("00-%s-%s-01", txSpan.SpanContext.TraceID(), txSpan.SpanContext.SpanID())
		if traced[entry] != want {
			t.Errorf("entry %d traceparent %q, want the transaction's %q", entry, traced[entry], want)
		}
		if n := len(exp.GetSpans()); n != len(spans) {
			t.Errorf("Pending outside a span made %d spans", n-len(spans))
		}
	})
}

func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func spanNames(spans tracetest.SpanStubs) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name)
	}
	return out
}
