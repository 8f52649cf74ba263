package tracing_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/filecache/filecache/internal/tracing"
)

// TestREADMEVariables: the README's configuration section lists exactly
// the OTEL_* variables tracing honours (Variables), and the default
// service name.
func TestREADMEVariables(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Configuration")
	if start < 0 {
		t.Fatal("README.md has no Configuration section")
	}
	text = text[start+1:]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	rows := map[string]string{}
	for _, m := range regexp.MustCompile("(?m)^\\| `(OTEL_[A-Z_]+)` \\| ([^|]*) \\|").FindAllStringSubmatch(text, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
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
