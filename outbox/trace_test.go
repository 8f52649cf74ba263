package outbox_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/outbox"
)

// TestDeliveryLinkedToWrite: an entry written inside a traced write and
// delivered by the relay is delivered in a span of a new trace, linked to
// the write's span (whose context the entry kept), and the delivery's own
// spans are its children; an
// entry written outside any trace is delivered in a span with no link.
func TestDeliveryLinkedToWrite(t *testing.T) {
	for _, db := range sqltest.Engines() {
		t.Run(db.Name, func(t *testing.T) {
			exp := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			s := openStore(t, db.DSN(t))

			ctx, write := tp.Tracer("test").Start(t.Context(), "PATCH")
			var traced int64
			if err := s.WithTx(ctx, func(tx files.Tx) error {
				var err error
				traced, err = tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"traced"}})
				return err
			}); err != nil {
				t.Fatal(err)
			}
			write.End()
			untraced := enqueue(t, s, "untraced")

			c := newCache()
			deliver := func(ctx context.Context, inv outbox.Invalidation) error {
				_, sp := tp.Tracer("test").Start(ctx, "cache.invalidate")
				sp.End()
				return c.deliver(ctx, inv)
			}
			r := outbox.NewRelay(s, deliver, outbox.Options{TracerProvider: tp})
			if n, err := r.Drain(t.Context()); err != nil || n != 2 {
				t.Fatalf("Drain = %d, %v; want 2 delivered", n, err)
			}
			spans := map[int64]tracetest.SpanStub{}
			for _, sp := range exp.GetSpans() {
				if sp.Name == outbox.SpanDeliver {
					spans[intAttr(sp, "outbox.entry.id")] = sp
				}
			}
			d, ok := spans[traced]
			if !ok {
				t.Fatalf("no %s span of entry %d: %v", outbox.SpanDeliver, traced, exp.GetSpans())
			}
			if d.Parent.IsValid() || d.SpanContext.TraceID() == write.SpanContext().TraceID() {
				t.Errorf("the delivery is not the root of a trace of its own: parent %v, trace %v", d.Parent, d.SpanContext.TraceID())
			}
			if d.SpanKind != trace.SpanKindConsumer {
				t.Errorf("delivery span kind %v, want consumer", d.SpanKind)
			}
			if len(d.Links) != 1 {
				t.Fatalf("delivery links %v, want one", d.Links)
			}
			if l := d.Links[0].SpanContext; l.TraceID() != write.SpanContext().TraceID() || l.SpanID() != write.SpanContext().SpanID() {
				t.Errorf("link to %v/%v, want the write's span %v/%v", l.TraceID(), l.SpanID(), write.SpanContext().TraceID(), write.SpanContext().SpanID())
			}
			if u, ok := spans[untraced]; !ok || len(u.Links) != 0 {
				t.Errorf("the untraced entry's delivery: %+v (found %v), want a span with no link", u.Links, ok)
			}
			children := 0
			for _, sp := range exp.GetSpans() {
				if sp.Name != "cache.invalidate" {
					continue
				}
				children++
				if p := sp.Parent.SpanID(); p != d.SpanContext.SpanID() && p != spans[untraced].SpanContext.SpanID() {
					t.Errorf("the delivery's own span has parent %v, not a delivery span", p)
				}
			}
			if children != 2 {
				t.Errorf("%d spans made by deliveries, want 2", children)
			}
		})
	}
}

func intAttr(s tracetest.SpanStub, key string) int64 {
	for _, kv := range s.Attributes {
		if kv.Key == attribute.Key(key) {
			return kv.Value.AsInt64()
		}
	}
	return -1
}
