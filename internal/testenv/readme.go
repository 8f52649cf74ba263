package testenv

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// configRow is a row of the configuration table: | `VARIABLE` | default | ...
var configRow = regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([^|]*) \\|")

// ConfigTable returns the configuration table of the README at path (its
// "## Configuration" section): each variable with its default column,
// trimmed. Tests that hold the README to the code read it here, so the
// table is parsed one way.
func ConfigTable(t testing.TB, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	start := strings.Index(text, "\n## Configuration")
	if start < 0 {
		t.Fatalf("%s has no Configuration section", path)
	}
	text = text[start+1:]
	if end := strings.Index(text, "\n## "); end >= 0 {
		text = text[:end]
	}
	rows := map[string]string{}
	for _, m := range configRow.FindAllStringSubmatch(text, -1) {
		rows[m[1]] = strings.TrimSpace(m[2])
	}
	return rows
}
