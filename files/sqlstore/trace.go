package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/XSAM/otelsql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// TracerName is the instrumentation scope of the transaction spans.
const TracerName = "github.com/filecache/filecache/files/sqlstore"

// spanTx is the span of a WithTx transaction: its statements, BEGIN and
// COMMIT are its children.
const spanTx = "db.transaction"

// otelOptions are the options of otelsql (github.com/XSAM/otelsql), which
// makes every statement, BEGIN, COMMIT and connect a span when tracing is
// on. Statements outside a recording span (the outbox relay's polls,
// session flushes, a trace not sampled) make none: a background job does
// not start a trace of its own. Rows are not spans, and the statements'
// arguments are never recorded, their text is (db.query.text).
func (s *Store) otelOptions(tp trace.TracerProvider) []otelsql.Option {
	return []otelsql.Option{
		otelsql.WithTracerProvider(tp),
		otelsql.WithMeterProvider(noop.NewMeterProvider()),
		otelsql.WithAttributes(attribute.String("db.system.name", s.engine.systemName())),
		otelsql.WithSpanOptions(otelsql.SpanOptions{
			DisableErrSkip:       true,
			OmitConnResetSession: true,
			OmitRows:             true,
			SpanFilter: func(ctx context.Context, _ otelsql.Method, _ string, _ []driver.NamedValue) bool {
				return trace.SpanFromContext(ctx).IsRecording()
			},
		}),
	}
}

// systemName is the engine's OpenTelemetry db.system.name.
func (e engine) systemName() string {
	if e == enginePostgres {
		return "postgresql"
	}
	return "sqlite"
}

// openDB opens a database/sql pool of driver on dsn, traced when tp is
// set.
func (s *Store) openDB(driverName, dsn string, tp trace.TracerProvider) (*sql.DB, error) {
	if tp == nil {
		return sql.Open(driverName, dsn)
	}
	return otelsql.Open(driverName, dsn, s.otelOptions(tp)...)
}

// openConnector opens a database/sql pool on c, traced when tp is set.
func (s *Store) openConnector(c driver.Connector, tp trace.TracerProvider) *sql.DB {
	if tp == nil {
		return sql.OpenDB(c)
	}
	return otelsql.OpenDB(c, s.otelOptions(tp)...)
}

// startTx starts the span of a transaction inside ctx's span if it
// records; sp is nil otherwise.
func (s *Store) startTx(ctx context.Context) (_ context.Context, sp trace.Span) {
	if s.tracer == nil || !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	return s.tracer.Start(ctx, spanTx, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system.name", s.engine.systemName())))
}

// endTx ends the span of a transaction (nil: not traced) that returned
// err.
func endTx(sp trace.Span, err error) {
	if sp == nil {
		return
	}
	if err != nil {
		sp.RecordError(err)
		sp.SetStatus(codes.Error, err.Error())
	}
	sp.End()
}

// traceParent returns the W3C traceparent of ctx's span, or NULL when
// ctx carries none: stored with an outbox entry, it lets the relay that
// delivers the entry link its span to the write's.
func traceParent(ctx context.Context) sql.NullString {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return sql.NullString{}
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return sql.NullString{String: c["traceparent"], Valid: c["traceparent"] != ""}
}
