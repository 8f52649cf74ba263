package outbox

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the relay's spans.
const TracerName = "github.com/filecache/filecache/outbox"

// SpanDeliver is the name of the span of a delivery by the relay.
const SpanDeliver = "outbox.deliver"

// traceDelivery delivers e, as a span of its own when tracing is on: the
// root of a new trace (the relay works for no request), linked to the span
// of the write that made the entry, so that a trace viewer leads from the
// write to the invalidation it caused and back. The cache's and the
// store's spans of the delivery are its children.
func (r *Relay) traceDelivery(ctx context.Context, e Entry) error {
	if r.tracer == nil {
		return r.deliver(ctx, e.Invalidation)
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.Int64("outbox.entry.id", e.ID),
			attribute.Int("outbox.entry.attempts", e.Attempts),
			attribute.Int("outbox.entry.keys", len(e.Keys)),
			attribute.Int("outbox.entry.tags", len(e.Tags)),
			attribute.Float64("outbox.entry.age_seconds", r.opts.Now().Sub(e.CreatedAt).Seconds()),
		),
	}
	if sc := parseTraceParent(e.TraceParent); sc.IsValid() {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: sc,
			Attributes: []attribute.KeyValue{attribute.String("outbox.link", "write")}}))
	}
	ctx, sp := r.tracer.Start(ctx, SpanDeliver, opts...)
	defer sp.End()
	err := r.deliver(ctx, e.Invalidation)
	if err != nil {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	return err
}

// parseTraceParent returns the span context of a W3C traceparent, or an
// invalid one.
func parseTraceParent(tp string) trace.SpanContext {
	if tp == "" {
		return trace.SpanContext{}
	}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": tp})
	return trace.SpanContextFromContext(ctx)
}
