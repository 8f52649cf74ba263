package testenv

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

const (
	// firstPause is the pause after the first failed check; each later
	// pause doubles, up to maxPause.
	firstPause = time.Millisecond
	maxPause   = 100 * time.Millisecond
)

// ErrGiveUp, wrapped in the error a check returns, ends Poll and
// Eventually at once: the condition can no longer become true, as when the
// process waited for has exited.
var ErrGiveUp = errors.New("giving up")

// Poll calls check until it returns nil, and then returns nil. It pauses
// between calls with a backoff from 1ms doubling to 100ms. It returns
// check's last error, wrapped, once timeout has passed or ctx is done, and
// at once when the error wraps ErrGiveUp.
func Poll(ctx context.Context, timeout time.Duration, check func() error) error {
	start := time.Now()
	pause := firstPause
	for {
		err := check()
		switch {
		case err == nil:
			return nil
		case errors.Is(err, ErrGiveUp):
			return err
		}
		waited := time.Since(start)
		if waited >= timeout {
			return fmt.Errorf("not met within %v: %w", timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not met when the wait ended (%w): %w", context.Cause(ctx), err)
		case <-time.After(min(pause, timeout-waited)):
		}
		pause = min(2*pause, maxPause)
	}
}

// Eventually polls check as Poll does until it returns nil, and fails the
// test with check's last error if that does not happen within timeout. check
// runs on the test's goroutine, so it may call t.Fatal itself for a state
// that waiting cannot mend.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := Poll(t.Context(), timeout, check); err != nil {
		t.Fatal(err)
	}
}

// Until is Eventually for a condition that has no error of its own: the
// test fails naming what when cond does not hold within timeout.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if cond() {
			return nil
		}
		return errors.New(what)
	})
}

// Await receives one value from ch and returns it, failing the test if
// none arrives within timeout or ch is closed first.
func Await[T any](t testing.TB, timeout time.Duration, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case v, ok := <-ch:
		if !ok {
			t.Fatalf("%T closed while awaited", ch)
		}
		return v
	case <-timer.C:
		t.Fatalf("nothing arrived on the %T within %v", ch, timeout)
	case <-t.Context().Done():
		t.Fatalf("the test ended while awaiting the %T: %v", ch, context.Cause(t.Context()))
	}
	var zero T
	return zero
}
