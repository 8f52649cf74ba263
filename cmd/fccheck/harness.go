package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// harness lets the checker, built on internal/redistest and
// internal/sqltest, run outside a test: it is the testing.TB they are
// given. It implements what they call (Helper, Context, TempDir, Cleanup,
// Errorf, Fatalf, Skip and their kin); the embedded TB is nil, so any
// other method panics, which a new use in those packages would show at
// once.
type harness struct {
	testing.TB
	name string
	root string // parent of every TempDir
	ctx  context.Context

	mu       sync.Mutex
	cleanups []func()
	errs     []string
}

// runHarness calls f with a harness on a goroutine of its own, as the
// testing package runs a test, so that Fatalf can end it with
// runtime.Goexit; then it cancels the harness' context and runs the
// cleanups, last registered first. It returns the errors reported, joined.
func runHarness(ctx context.Context, name, root string, f func(tb testing.TB)) error {
	ctx, cancel := context.WithCancel(ctx)
	h := &harness{name: name, root: root, ctx: ctx}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(h)
	}()
	<-done
	cancel()
	h.mu.Lock()
	cleanups := slices.Clone(h.cleanups)
	h.mu.Unlock()
	for _, c := range slices.Backward(cleanups) {
		c()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.errs) > 0 {
		return fmt.Errorf("%s: %s", name, strings.Join(h.errs, "; "))
	}
	return nil
}

func (h *harness) Helper()                  {}
func (h *harness) Name() string             { return h.name }
func (h *harness) Context() context.Context { return h.ctx }

func (h *harness) TempDir() string {
	dir, err := os.MkdirTemp(h.root, "")
	if err != nil {
		h.Fatalf("temporary directory: %v", err)
	}
	return dir
}

func (h *harness) Cleanup(f func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cleanups = append(h.cleanups, f)
}

func (h *harness) Failed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.errs) > 0
}

func (h *harness) Errorf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.errs = append(h.errs, fmt.Sprintf(format, args...))
}

func (h *harness) Error(args ...any) { h.Errorf("%s", fmt.Sprint(args...)) }

// Fatalf records the error and ends the calling goroutine, which must be
// the one runHarness started (or one of its callees), as with a test.
func (h *harness) Fatalf(format string, args ...any) {
	h.Errorf(format, args...)
	runtime.Goexit()
}

func (h *harness) Fatal(args ...any) { h.Fatalf("%s", fmt.Sprint(args...)) }

// Skip is a failure here: a test skips when a service is missing, but the
// checker cannot do without it.
func (h *harness) Skip(args ...any)                 { h.Fatal(args...) }
func (h *harness) Skipf(format string, args ...any) { h.Fatalf(format, args...) }
func (h *harness) SkipNow()                         { h.Fatal("skipped") }

func (h *harness) Log(args ...any)                 {}
func (h *harness) Logf(format string, args ...any) {}
