package cache

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the cache's spans.
//
// The cache records its operations through the OpenTelemetry API alone
// (go.opentelemetry.io/otel/trace): the application chooses the SDK, the
// exporter and the sampler, and passes a TracerProvider in Options. A
// lookup that misses the near cache is a span, "cache.fetch", saying what
// happened to it (attributes cache.family, cache.key, cache.origin,
// cache.lease, cache.fail_safe, cache.fallback, cache.store.state); a
// near-cache hit, which costs less than a span would, is an event of the
// caller's span; GetMany, Set, SetMany and Invalidate are spans too. The
// store's calls (Redis commands) and the loader's (database queries) are
// their children when the store and the loader are traced.
//
// Operations are traced only inside a span that records: a background job
// with no trace, or a request whose trace was not sampled, costs one
// context lookup per operation and makes no trace of its own.
const TracerName = "github.com/filecache/filecache/cache"

// The names of the cache's spans and near-hit events.
const (
	spanFetch      = "cache.fetch"
	spanGetMany    = "cache.get_many"
	spanSet        = "cache.set"
	spanSetMany    = "cache.set_many"
	spanInvalidate = "cache.invalidate"
)

// The attributes of the cache's spans.
const (
	attrFamily   = attribute.Key("cache.family")
	attrKey      = attribute.Key("cache.key")
	attrOrigin   = attribute.Key("cache.origin")    // miss, hit, hit-local, stale
	attrLease    = attribute.Key("cache.lease")     // taken (this lookup loads), waited (another loader's)
	attrFailSafe = attribute.Key("cache.fail_safe") // a stale value was served
	attrFallback = attribute.Key("cache.fallback")  // loaded without the cache: the store failed or is not trusted
	attrStore    = attribute.Key("cache.store.state")
	attrCount    = attribute.Key("cache.keys")
	attrFound    = attribute.Key("cache.found")
	attrReason   = attribute.Key("cache.invalidation.reason")
	attrTags     = attribute.Key("cache.invalidation.tags")
	attrPattern  = attribute.Key("cache.invalidation.pattern")
	attrDeleted  = attribute.Key("cache.invalidation.deleted")
)

var (
	leaseTaken  = attrLease.String("taken")
	leaseWaited = attrLease.String("waited")
	fellBack    = attrFallback.Bool(true)
)

// StateReporter is implemented by a Store whose state is worth recording
// on every traced operation: a circuit breaker's "closed", "half-open" or
// "open" (cache/breaker).
type StateReporter interface {
	StoreState() string
}

// newTracer returns the cache's tracer of tp, or nil when tp is nil:
// tracing off, and no cost.
func newTracer(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(TracerName)
}

// startSpan starts span name of an operation on family and key (either
// may be empty) as a child of ctx's span, if that span records; otherwise it
// returns ctx and nil. Call it only when c.tracer is not nil.
func (c *Cache) startSpan(ctx context.Context, name, family, key string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	if family != "" {
		attrs = append(attrs, attrFamily.String(family))
	}
	if key != "" {
		attrs = append(attrs, attrKey.String(key))
	}
	if s, ok := c.store.(StateReporter); ok {
		attrs = append(attrs, attrStore.String(s.StoreState()))
	}
	return c.tracer.Start(ctx, name, trace.WithAttributes(attrs...))
}

// note records kv on ctx's span, if tracing is on and the span records:
// what a lookup did inside its flight (a lease, a fallback).
func (c *Cache) note(ctx context.Context, kv attribute.KeyValue) {
	if c.tracer == nil {
		return
	}
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.SetAttributes(kv)
	}
}

// traceNearHit records a near-cache hit of part as an event of ctx's span.
func (f *Family[T]) traceNearHit(ctx context.Context, part string) {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.AddEvent(spanFetch, trace.WithAttributes(
			attrFamily.String(f.name), attrKey.String(f.keyOf(part)), attrOrigin.String(OriginLocal.String())))
	}
}

// endFetch ends the span of a Fetch (nil: not traced) with its origin and
// error. A "not found" is an answer, not an error.
func endFetch(sp trace.Span, origin Origin, err error) {
	if sp == nil {
		return
	}
	sp.SetAttributes(attrOrigin.String(origin.String()))
	if origin == OriginStale {
		sp.SetAttributes(attrFailSafe.Bool(true))
	}
	endSpan(sp, err)
}

// endSpan ends sp (nil: not traced), marked failed by err unless err is
// nil or a "not found".
func endSpan(sp trace.Span, err error, kv ...attribute.KeyValue) {
	if sp == nil {
		return
	}
	if len(kv) > 0 {
		sp.SetAttributes(kv...)
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// invalidationAttrs describes inv on its span.
func invalidationAttrs(inv Invalidation) []attribute.KeyValue {
	kv := []attribute.KeyValue{attrReason.String(inv.Reason), attrCount.Int(len(inv.Keys))}
	if len(inv.Tags) > 0 {
		kv = append(kv, attrTags.StringSlice(inv.Tags))
	}
	if inv.Pattern != "" {
		kv = append(kv, attrPattern.String(inv.Pattern))
	}
	return kv
}
