package tracing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/filecache/filecache/internal/otlptest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/internal/tracing"
)

// clearEnv unsets every variable tracing reads, for the test.
func clearEnv(t *testing.T) {
	for _, v := range append(tracing.Variables, "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") {
		t.Setenv(v, "")
	}
}

// TestEnabled: tracing is on only with an endpoint, and off whenever the
// SDK is disabled or the exporter is none; nil is tracing off.
func TestEnabled(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.env), func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if got := tracing.Enabled(); got != tc.want {
				t.Errorf("Enabled() = %v, want %v", got, tc.want)
			}
			p, err := tracing.New(t.Context(), tracing.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if (p != nil) != tc.want {
				t.Fatalf("New = %v, want a provider: %v", p, tc.want)
			}
			if p == nil {
				h := http.NotFoundHandler()
				if p.TracerProvider() != nil || p.Shutdown(t.Context()) != nil || fmt.Sprint(p.Handler(h)) != fmt.Sprint(h) {
					t.Error("a nil Provider installs something")
				}
				return
			}
			_ = p.Shutdown(t.Context())
		})
	}
}

// TestUnsupported: an exporter or protocol this build cannot honour stops
// start-up, naming the variable.
func TestUnsupported(t *testing.T) {
	for _, kv := range [][2]string{
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"},
		{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/json"},
		{"OTEL_TRACES_EXPORTER", "zipkin"},
	} {
		t.Run(kv[0], func(t *testing.T) {
			clearEnv(t)
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
			t.Setenv(kv[0], kv[1])
			_, err := tracing.New(t.Context(), tracing.Options{})
			if !errors.Is(err, tracing.ErrUnsupported) || !bytes.Contains([]byte(err.Error()), []byte(kv[0])) {
				t.Fatalf("New = %v, want ErrUnsupported naming %s", err, kv[0])
			}
		})
	}
}

// TestExport: a request through Handler is a server span exported over
// OTLP/HTTP to a real receiver, with the service name of the environment,
// continuing the caller's trace; probes are not traced; a log line logged
// with the request's context carries its trace and span ids.
func TestExport(t *testing.T) {
	clearEnv(t)
	rcv := otlptest.Start(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "tracing-test")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	p, err := tracing.New(t.Context(), tracing.Options{ServiceVersion: "v9"})
	if err != nil || p == nil {
		t.Fatalf("New = %v, %v", p, err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	var logs bytes.Buffer
	log := slog.New(tracing.LogHandler(slog.NewJSONHandler(&logs, nil)))
	var inner trace.SpanContext
	srv := httptest.NewServer(p.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		log.InfoContext(r.Context(), "served")
		w.WriteHeader(http.StatusTeapot)
	})))
	t.Cleanup(srv.Close)
	const caller = "0af7651916cd43dd8448eb211c80319c"
	for _, path := range []string{"/healthz", "/v1/x"} {
		req, _ := http.NewRequestWithContext(t.Context(), "GET", srv.URL+path, nil)
		req.Header.Set("traceparent", "00-"+caller+"-b7ad6b7169203331-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	var span otlptest.Span
	testenv.Eventually(t, 10*time.Second, func() error {
		spans := rcv.Trace(caller)
		if len(spans) == 0 {
			return errors.New("no span of the caller's trace received")
		}
		span = spans[0]
		return nil
	})
	if len(rcv.Spans()) != 1 || span.Attr("url.path") != "/v1/x" {
		t.Fatalf("spans %v, want the one of /v1/x (probes are not traced)", rcv.Spans())
	}
	if span.Kind != "server" || span.ParentSpanID != "b7ad6b7169203331" || span.Attr("http.response.status_code") != "418" {
		t.Errorf("server span %v", span)
	}
	for k, v := range map[string]string{"service.name": "tracing-test", "service.version": "v9", "deployment.environment.name": "test"} {
		if fmt.Sprint(span.Resource[k]) != v {
			t.Errorf("resource %s = %v, want %s", k, span.Resource[k], v)
		}
	}
	type line struct {
		TraceID string `json:"trace_id"`
		SpanID  string `json:"span_id"`
	}
	var lines []line
	for _, b := range bytes.Split(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
		var l line
		if err := json.Unmarshal(b, &l); err != nil {
			t.Fatalf("log %q: %v", b, err)
		}
		lines = append(lines, l)
	}
	// The probe's line has no trace; the request's has its span.
	if len(lines) != 2 || lines[0] != (line{}) || lines[1] != (line{caller, span.SpanID}) || inner.SpanID().String() != span.SpanID {
		t.Errorf("log lines %s, want none then trace %s span %s", logs.String(), caller, span.SpanID)
	}
	if r := rcv.Refused(); len(r) > 0 {
		t.Errorf("receiver refused: %v", r)
	}
}
