// Package tracing wires OpenTelemetry tracing into the service: the SDK's
// tracer provider with an OTLP/HTTP exporter, configured by the standard
// OTEL_* environment variables (which the SDK reads itself), the HTTP
// server middleware (otelhttp), and trace ids in log lines.
//
// Tracing is off unless an OTLP endpoint is set
// (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT): New
// then returns a nil *Provider, whose methods install nothing, so that the
// libraries get no TracerProvider and trace nothing, at no cost.
//
// The libraries (cache, cache/redisstore, files/sqlstore, outbox) depend
// on the OpenTelemetry API only and take a trace.TracerProvider in their
// options; this package is the one place that imports the SDK, as metrics/
// is for Prometheus.
package tracing
