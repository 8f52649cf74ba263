package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

// TestIncrByNotRetriedOnTimeout blocks the server with DEBUG SLEEP longer
// than the read timeout: IncrBy times out without a retry, and once the
// server wakes up the add has been applied at most once, not once per
// attempt.
func TestIncrByNotRetriedOnTimeout(t *testing.T) {
	srv := redistest.Standalone(t, "--enable-debug-command", "yes")
	ctx := t.Context()
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 150 * time.Millisecond, MaxRetries: 8})
	if n, ttl, err := s.IncrBy(ctx, "n", 5, time.Minute); err != nil || n != 5 || ttl <= 0 || ttl > time.Minute {
		t.Fatalf("IncrBy = %d, %v, %v; want 5 and the minute", n, ttl, err)
	}
	probe := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
	sleep := exec.Command("redis-cli", "-p", fmt.Sprint(srv.Port()), "DEBUG", "SLEEP", "0.6")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for probe.Ping(ctx) == nil {
		if time.Now().After(deadline) {
			t.Fatal("DEBUG SLEEP never took effect")
		}
	}
	before := s.Retries()
	if _, _, err := s.IncrBy(ctx, "n", 5, time.Minute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("IncrBy during DEBUG SLEEP: err = %v, want a timeout", err)
	}
	if err := sleep.Wait(); err != nil {
		t.Fatal(err)
	}
	if s.Retries() != before {
		t.Fatalf("IncrBy was retried %d times", s.Retries()-before)
	}
	// The timed-out add ran at most once: when it was sent before its
	// deadline, once the server woke up (on a connection of its own, so
	// possibly after the next add); when the deadline came first, never.
	n, _, err := s.IncrBy(ctx, "n", 1, time.Minute)
	if err != nil || (n != 6 && n != 11) {
		t.Fatalf("count after the timeout and one more = %d, %v; want 5 + 1 = 6 or 5 + 5 + 1 = 11", n, err)
	}
	if got := redisCLI(t, srv, "GET", "n"); got != "6" && got != "11" {
		t.Fatalf("count = %s; want 6 or 11 (the add applied once at most)", got)
	}
}
