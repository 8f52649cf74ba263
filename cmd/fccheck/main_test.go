package main

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSelectFaults(t *testing.T) {
	tests := []struct {
		list    string
		want    []string
		wantErr bool
	}{
		{list: "all", want: []string{"none", "kill-restart-aof", "kill-restart-empty", "client-kill", "client-pause", "proxy-cut", "proxy-hang", "cluster-master-kill"}},
		{list: "proxy-cut, none", want: []string{"proxy-cut", "none"}},
		{list: "proxy-cut,nope", wantErr: true},
		{list: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			faults, err := selectFaults(tt.list)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error %v, want error %v", err, tt.wantErr)
			}
			var got []string
			for _, f := range faults {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("faults (-want +got):\n%s", diff)
			}
		})
	}
}

// The harness runs the function like a test: Fatalf ends it, Skip is a
// failure (the checker needs its services), and cleanups run after it,
// last registered first, with the context already cancelled.
func TestHarness(t *testing.T) {
	root := t.TempDir()
	var order []string
	err := runHarness(t.Context(), "fatal", root, func(tb testing.TB) {
		dir := tb.TempDir()
		if !strings.HasPrefix(dir, root) {
			t.Errorf("TempDir %s is not under %s", dir, root)
		}
		tb.Cleanup(func() { order = append(order, "first") })
		tb.Cleanup(func() {
			order = append(order, "second")
			if tb.Context().Err() == nil {
				t.Error("context not cancelled before the cleanups")
			}
		})
		tb.Errorf("an error")
		tb.Fatalf("fatal %d", 1)
		order = append(order, "after Fatalf")
	})
	if err == nil || !strings.Contains(err.Error(), "an error; fatal 1") {
		t.Errorf("runHarness = %v, want both errors", err)
	}
	if diff := cmp.Diff([]string{"second", "first"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}

	if err := runHarness(t.Context(), "skip", root, func(tb testing.TB) { tb.Skip("no redis-server") }); err == nil {
		t.Error("Skip did not fail the run")
	}
	if err := runHarness(t.Context(), "ok", root, func(tb testing.TB) { tb.Helper() }); err != nil {
		t.Errorf("a clean run failed: %v", err)
	}
}

func TestCommandErrors(t *testing.T) {
	for _, args := range [][]string{{"--fault", "nope"}, {"--duration", "0s"}, {"extra"}} {
		var stdout, stderr bytes.Buffer
		cmd := newRootCmd(&stdout, &stderr)
		cmd.SetArgs(args)
		err := cmd.Execute()
		if err == nil || errors.Is(err, errViolations) {
			t.Errorf("%v: error %v, want a usage error", args, err)
		}
	}
	var stdout bytes.Buffer
	cmd := newRootCmd(&stdout, os.Stderr)
	cmd.SetOut(&stdout)
	cmd.SetArgs([]string{"--help"})
	if err := cmd.Execute(); err != nil || !strings.Contains(stdout.String(), "go run ./cmd/fccheck --fault all") {
		t.Errorf("--help: %v\n%s", err, stdout.String())
	}
}
