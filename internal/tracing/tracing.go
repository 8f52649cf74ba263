package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.opentelemetry.io/contrib/propagators/autoprop"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
	"go.opentelemetry.io/otel/trace"
)

// DefaultServiceName is the service.name of the traces unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES set one.
const DefaultServiceName = "filecache"

// Variables are the environment variables that configure tracing, in the
// order the README's table lists them. The SDK reads them; New reads the
// first three to decide whether tracing is on and which protocol to use.
var Variables = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL",
	"OTEL_EXPORTER_OTLP_HEADERS",
	"OTEL_EXPORTER_OTLP_TIMEOUT",
	"OTEL_EXPORTER_OTLP_COMPRESSION",
	"OTEL_EXPORTER_OTLP_CERTIFICATE",
	"OTEL_SERVICE_NAME",
	"OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER",
	"OTEL_TRACES_SAMPLER_ARG",
	"OTEL_PROPAGATORS",
	"OTEL_BSP_SCHEDULE_DELAY",
	"OTEL_BSP_MAX_QUEUE_SIZE",
	"OTEL_SDK_DISABLED",
}

// Options tunes New. The zero value of every field means its default.
type Options struct {
	// ServiceVersion is the service.version of the traces. Default: none.
	ServiceVersion string
	// Logger receives the failures to export. Default: discard.
	Logger *slog.Logger
}

// Provider is the tracing of the service: the SDK's tracer provider and
// the propagator of incoming trace contexts. A nil *Provider is tracing
// off: its methods install nothing.
type Provider struct {
	tp       *sdktrace.TracerProvider
	prop     propagation.TextMapPropagator
	endpoint string
}

// Enabled reports whether the environment turns tracing on: an OTLP
// endpoint is set, and neither OTEL_SDK_DISABLED=true nor
// OTEL_TRACES_EXPORTER=none turns it off.
func Enabled() bool {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") ||
		strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")) == "none" {
		return false
	}
	return endpoint() != ""
}

// endpoint returns the OTLP endpoint of traces the environment sets, or "".
func endpoint() string {
	if e := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); e != "" {
		return e
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
}

// ErrUnsupported is wrapped by New's error for a setting this build cannot
// honour (an exporter or protocol other than OTLP over HTTP/protobuf).
var ErrUnsupported = errors.New("tracing: unsupported setting")

// New returns the tracing the environment asks for, or nil (and no error)
// when it asks for none (see Enabled). Spans are exported over OTLP/HTTP
// in batches (OTEL_BSP_*), sampled by OTEL_TRACES_SAMPLER (default:
// parentbased_always_on); incoming trace contexts are read with the
// propagators of OTEL_PROPAGATORS (default: tracecontext,baggage). Call
// Shutdown to export what is left.
func New(ctx context.Context, opts Options) (*Provider, error) {
	if !Enabled() {
		return nil, nil
	}
	if err := checkProtocol(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	exp, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	attrs := []resource.Option{resource.WithAttributes(semconv.ServiceName(DefaultServiceName))}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.ServiceVersion(opts.ServiceVersion)))
	}
	// The environment's attributes come last: they win over the defaults.
	attrs = append(attrs, resource.WithTelemetrySDK(), resource.WithHost(), resource.WithProcessPID(), resource.WithFromEnv())
	res, err := resource.New(ctx, attrs...)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource (OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME): %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(loggedExporter{SpanExporter: exp, log: opts.Logger}),
		sdktrace.WithResource(res),
	)
	return &Provider{tp: tp, prop: autoprop.NewTextMapPropagator(), endpoint: endpoint()}, nil
}

// checkProtocol refuses an exporter or protocol other than OTLP over
// HTTP/protobuf, which would otherwise fail every export.
func checkProtocol() error {
	if e := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); e != "" && e != "otlp" {
		return fmt.Errorf("%w: OTEL_TRACES_EXPORTER=%s: this build exports OTLP only (otlp, or none)", ErrUnsupported, e)
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(os.Getenv(v)); p != "" && p != "http/protobuf" {
			return fmt.Errorf("%w: %s=%s: this build exports OTLP over HTTP/protobuf only (http/protobuf)", ErrUnsupported, v, p)
		}
	}
	return nil
}

// TracerProvider returns the provider to give the libraries, or nil when
// tracing is off.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return nil
	}
	return p.tp
}

// Endpoint returns the OTLP endpoint spans are exported to, or "".
func (p *Provider) Endpoint() string {
	if p == nil {
		return ""
	}
	return p.endpoint
}

// Shutdown exports the spans not exported yet and stops the provider,
// within ctx.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// loggedExporter logs the failures of the exporter it wraps through the
// service's logger (which aggregates repeated warnings), instead of
// OpenTelemetry's global error handler.
type loggedExporter struct {
	sdktrace.SpanExporter
	log *slog.Logger
}

// ExportSpans implements sdktrace.SpanExporter.
func (e loggedExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.log.Warn("traces not exported", "spans", len(spans), "err", err)
	}
	return nil
}
