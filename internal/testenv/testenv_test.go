package testenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRequire(t *testing.T) {
	t.Setenv("TESTENV_SET", " a:1, ,b:2 ")
	t.Setenv("TESTENV_UNSET", "")
	if got := Require(t, "TESTENV_SET"); got != " a:1, ,b:2 " {
		t.Errorf("Require() = %q", got)
	}
	if got := RequireList(t, "TESTENV_SET"); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("RequireList() = %q", got)
	}
	for _, tc := range []struct {
		require   string
		wantFatal bool
	}{
		{require: "", wantFatal: false},
		{require: "0", wantFatal: false},
		{require: "1", wantFatal: true},
	} {
		t.Run("REQUIRE_SERVICES="+tc.require, func(t *testing.T) {
			t.Setenv(EnvRequireServices, tc.require)
			r := run(t, func(r *recorder) { Require(r, "TESTENV_UNSET") })
			if r.fatal != tc.wantFatal || r.skipped == tc.wantFatal {
				t.Errorf("Require of an empty variable: fatal=%v skipped=%v, want fatal=%v", r.fatal, r.skipped, tc.wantFatal)
			}
			if !strings.Contains(r.msg, "TESTENV_UNSET") || !strings.Contains(r.msg, "scripts/test.sh") {
				t.Errorf("message %q does not name the variable and scripts/test.sh", r.msg)
			}
		})
	}
}

func TestConfigTable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	readme := "# x\n| `NOT_HERE` | `1` |\n## Configuration\n\n" +
		"| variable | default | meaning |\n| --- | --- | --- |\n" +
		"| `CACHE_PREFIX` | `fc` | a | b |\n| `OTEL_SERVICE_NAME` |  `filecache`  | c |\n" +
		"## Next\n| `AFTER` | `2` |\n"
	if err := os.WriteFile(path, []byte(readme), 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"CACHE_PREFIX": "`fc`", "OTEL_SERVICE_NAME": "`filecache`"}
	if got := ConfigTable(t, path); !maps.Equal(got, want) {
		t.Errorf("ConfigTable() = %q, want %q", got, want)
	}
	if r := run(t, func(r *recorder) { ConfigTable(r, filepath.Join(t.TempDir(), "none.md")) }); !r.fatal {
		t.Error("ConfigTable of a missing file did not fail the test")
	}
}

func TestPoll(t *testing.T) {
	errNotYet := errors.New("not yet")
	tests := []struct {
		name      string
		timeout   time.Duration
		okAt      int // the call that succeeds, 0 for none
		giveUpAt  int // the call that returns ErrGiveUp, 0 for none
		wantErr   error
		wantCalls int // exact, or 0 for "more than one"
	}{
		{name: "at once", timeout: time.Second, okAt: 1, wantCalls: 1},
		{name: "after retries", timeout: time.Minute, okAt: 5, wantCalls: 5},
		{name: "timeout", timeout: 50 * time.Millisecond, wantErr: errNotYet},
		{name: "give up", timeout: time.Minute, giveUpAt: 2, wantErr: ErrGiveUp, wantCalls: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			start := time.Now()
			err := Poll(t.Context(), tt.timeout, func() error {
				calls++
				switch calls {
				case tt.okAt:
					return nil
				case tt.giveUpAt:
					return fmt.Errorf("process exited: %w", ErrGiveUp)
				}
				return errNotYet
			})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Poll = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCalls != 0 && calls != tt.wantCalls || tt.wantCalls == 0 && calls < 2 {
				t.Errorf("check called %d times, want %d", calls, tt.wantCalls)
			}
			if errors.Is(tt.wantErr, errNotYet) && time.Since(start) < tt.timeout {
				t.Errorf("Poll gave up after %v, before its timeout %v", time.Since(start), tt.timeout)
			}
		})
	}
}

func TestPollContextDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	calls := 0
	err := Poll(ctx, time.Hour, func() error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("not yet")
	})
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "not yet") {
		t.Fatalf("Poll = %v, want context.Canceled with the check's last error", err)
	}
}

func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, time.Minute, func() error {
		if n++; n < 3 {
			return fmt.Errorf("n = %d", n)
		}
		return nil
	})
	r := run(t, func(r *recorder) {
		Eventually(r, 10*time.Millisecond, func() error { return errors.New("the last error") })
	})
	if !r.fatal || !strings.Contains(r.msg, "the last error") {
		t.Errorf("Eventually of a condition never met: fatal=%v, message %q; want a failure with the last error", r.fatal, r.msg)
	}
}

func TestAwait(t *testing.T) {
	ch := make(chan int, 1)
	go func() { ch <- 7 }()
	if got := Await(t, time.Minute, ch); got != 7 {
		t.Errorf("Await = %d, want 7", got)
	}
	for _, tc := range []struct {
		name string
		ch   chan int
	}{
		{name: "nothing sent", ch: make(chan int)},
		{name: "closed", ch: func() chan int { c := make(chan int); close(c); return c }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, func(r *recorder) { Await(r, 10*time.Millisecond, tc.ch) })
			if !r.fatal || !strings.Contains(r.msg, "chan int") {
				t.Errorf("Await: fatal=%v, message %q; want a failure naming the channel", r.fatal, r.msg)
			}
		})
	}
}

// recorder is a testing.TB whose Fatal, Fatalf and Skip record the call and
// end the goroutine, as the real ones do, without ending the test.
type recorder struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatal(args ...any) {
	r.fatal, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Fatalf(format string, args ...any) {
	r.Fatal(fmt.Sprintf(format, args...))
}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

// run calls f with a recorder on a goroutine of its own, since the
// recorder's Fatal ends the goroutine, and returns the recorder.
func run(t *testing.T, f func(r *recorder)) *recorder {
	r := &recorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(r)
	}()
	<-done
	return r
}
