package tracing_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/internal/tracing"
)

// TestREADMEVariables: the README's configuration section lists exactly
// the OTEL_* variables tracing honours (Variables), and the default
// service name.
func TestREADMEVariables(t *testing.T) {
	rows := testenv.ConfigTable(t, "../../README.md")
	for v := range rows {
		if !strings.HasPrefix(v, "OTEL_") {
			delete(rows, v) // the service's own settings; config checks them
		}
	}
	for _, v := range tracing.Variables {
		if _, ok := rows[v]; !ok {
			t.Errorf("README's configuration has no row for %s", v)
		}
	}
	for v := range rows {
		if !slices.Contains(tracing.Variables, v) {
			t.Errorf("README lists %s, which tracing.Variables does not", v)
		}
	}
	if d := rows["OTEL_SERVICE_NAME"]; !strings.HasPrefix(d, "`"+tracing.DefaultServiceName+"`") {
		t.Errorf("README: OTEL_SERVICE_NAME default %q, want %q", d, tracing.DefaultServiceName)
	}
}
