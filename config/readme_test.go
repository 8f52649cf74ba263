package config_test

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/filecache/filecache/internal/testenv"
)

// TestREADMEConfigTable checks the configuration table of README.md
// against the settings: every variable has a row, no row names a variable
// that does not exist, and each default is the one --help shows (read from
// the library constants).
func TestREADMEConfigTable(t *testing.T) {
	rows := testenv.ConfigTable(t, "../README.md")
	for env := range rows {
		if strings.HasPrefix(env, "OTEL_") {
			delete(rows, env) // read by the OpenTelemetry SDK; internal/tracing checks them
		}
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
