package main

import (
	"os"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	tests := []struct {
		file     string
		args     []string
		wantCode int
		want     []string // in this order
		notWant  []string
	}{
		{
			file:     "testdata/pass.json",
			wantCode: 0,
			want:     []string{"ok  \tgithub.com/filecache/filecache/internal/testenv", "tests passed, 0 failed, 0 skipped", "Slowest 3 tests:", "internal/testenv.Test"},
			notWant:  []string{"=== RUN", "Failed:"},
			args:     []string{"-slowest", "3"},
		},
		{
			file:     "testdata/pass.json",
			args:     []string{"-v"},
			wantCode: 0,
			want:     []string{"=== RUN   TestRequire", "--- PASS: TestRequire", "ok  \t"},
		},
		{
			file:     "testdata/mixed.json",
			wantCode: 1,
			want: []string{
				// the failed test's whole output, then its package's
				"=== RUN   TestFail", "context line", "boom", "--- FAIL: TestFail ", "FAIL\texample.com/tr/a",
				"panic: oops", "FAIL\texample.com/tr/b",
				"undefined: undefinedThing", "FAIL\texample.com/tr/c [build failed]",
				"1 tests passed, 3 failed, 1 skipped",
				"Skipped:", "example.com/tr/a.TestSkip: a_test.go:5: TEST_X is not set",
				"Slowest 4 tests:",
				"Failed:", "example.com/tr/a.TestFail ", "example.com/tr/b.TestPanic", "package example.com/tr/c",
			},
			notWant: []string{"a_test.go:3: fine"}, // a passing test's log stays quiet
		},
	}
	for _, tt := range tests {
		t.Run(tt.file+strings.Join(tt.args, ""), func(t *testing.T) {
			in, err := os.Open(tt.file)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			var out strings.Builder
			code, err := run(tt.args, in, &out)
			if err != nil || code != tt.wantCode {
				t.Fatalf("run = %d, %v; want %d", code, err, tt.wantCode)
			}
			got := out.String()
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order):\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			for _, w := range tt.notWant {
				if strings.Contains(got, w) {
					t.Errorf("output has %q:\n%s", w, got)
				}
			}
		})
	}
}

func TestRunUsage(t *testing.T) {
	var out strings.Builder
	if code, err := run([]string{"-help"}, strings.NewReader(""), &out); code != 0 || err != nil || !strings.Contains(out.String(), "Examples:") {
		t.Errorf("-help: %d, %v, %q", code, err, out.String())
	}
	if code, err := run([]string{"-nosuch"}, strings.NewReader(""), &out); code != 2 || err == nil {
		t.Errorf("-nosuch: %d, %v; want 2 and an error", code, err)
	}
}
