package tracing

import (
	"net/http"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/metric/noop"
)

// untracedPaths are polled by probes and Prometheus: spans of them would
// bury the requests in traces of their own.
var untracedPaths = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// Handler returns h with a server span per request (otelhttp), continuing
// the caller's trace when the request carries one (OTEL_PROPAGATORS), or h
// itself when tracing is off. The span is named after the method until the
// handler names it after its route (httpapi does).
func (p *Provider) Handler(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return otelhttp.NewHandler(h, "http.server",
		otelhttp.WithTracerProvider(p.tp),
		otelhttp.WithPropagators(p.prop),
		// The HTTP metrics are Prometheus' (metrics/).
		otelhttp.WithMeterProvider(noop.NewMeterProvider()),
		otelhttp.WithFilter(func(r *http.Request) bool { return !untracedPaths[r.URL.Path] }),
	)
}
