package config_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// TestREADMEConfigTable checks the configuration table of README.md
// against the settings: every variable has a row, no row names a variable
// that does not exist, and each default is the one --help shows (read from
// the library constants).
func TestREADMEConfigTable(t *testing.T) {
	b, err := os.ReadFile("../README.md")
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
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([^|]*) \\|")
	rows := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(text, -1) {
		if strings.HasPrefix(m[1], "OTEL_") {
			continue // read by the OpenTelemetry SDK; internal/tracing checks them
		}
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	fs := flagSet()
	fs.VisitAll(func(f *pflag.Flag) {
		env := strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		def, ok := rows[env]
		delete(rows, env)
		switch {
		case !ok:
			t.Errorf("README's configuration table has no row for %s", env)
		case f.DefValue == "" && !strings.HasPrefix(def, "–") && !strings.HasPrefix(def, "the store's"):
			t.Errorf("README: %s default %q; --help shows none", env, def)
		case f.DefValue != "" && !strings.HasPrefix(def, "`"+f.DefValue+"`"):
			t.Errorf("README: %s default %q; --help shows %q", env, def, f.DefValue)
		}
	})
	for env := range rows {
		t.Errorf("README's configuration table lists %s, which is no setting", env)
	}
}
