package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// backend is one Redis deployment of the shared test servers.
type backend struct {
	name string
	opts func(t testing.TB) redisstore.Options
	mode string
}

var (
	standalone = backend{"standalone", redisstoretest.StandaloneOptions, "standalone"}
	cluster    = backend{"cluster", redisstoretest.ClusterOptions, "cluster"}
	sentinel   = backend{"sentinel", redisstoretest.SentinelOptions, "sentinel"}
)

func TestConformance(t *testing.T) {
	for _, tt := range []backend{standalone, cluster, sentinel} {
		t.Run(tt.name, func(t *testing.T) {
			s := redisstoretest.Open(t, tt.opts(t))
			if got := s.Mode(); got != tt.mode {
				t.Fatalf("Mode() = %q, want %q", got, tt.mode)
			}
			cachetest.Run(t, func(t *testing.T) cachetest.Store { return s })
		})
	}
}

func TestParseURL(t *testing.T) {
	tests := []struct {
		url     string
		want    redisstore.Options
		wantErr bool
	}{
		{url: "redis://127.0.0.1:6379/2", want: redisstore.Options{Addrs: []string{"127.0.0.1:6379"}, DB: 2}},
		{url: "redis://user:s3cret@host:1/0", want: redisstore.Options{Addrs: []string{"host:1"}, Username: "user", Password: "s3cret"}},
		{url: "http://host:1", wantErr: true},
		{url: "redis://:s3cret@host:1/notadb", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := redisstore.ParseURL(tt.url)
			if tt.wantErr {
				if err == nil {
					t.Fatal("no error")
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Fatalf("error %q leaks the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Addrs, ",") != strings.Join(tt.want.Addrs, ",") || got.DB != tt.want.DB ||
				got.Username != tt.want.Username || got.Password != tt.want.Password {
				t.Fatalf("ParseURL = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSentinelFailover kills the master of a private Sentinel deployment and
// checks the same Store serves again once a replica is promoted, with the
// data that was replicated.
func TestSentinelFailover(t *testing.T) {
	ss := redistest.Sentinel(t)
	s := redisstoretest.Open(t, redisstore.Options{Addrs: ss.Addrs(), MasterSet: ss.MasterName(), ReadTimeout: 300 * time.Millisecond})
	ctx := t.Context()
	if err := s.Set(ctx, "before", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// WAIT until the replica has the write, so the failover cannot lose it.
	if err := s.Client().Do(ctx, s.Client().B().Wait().Numreplicas(1).Timeout(5000).Build()).Error(); err != nil {
		t.Fatal(err)
	}
	old := ss.Master().Addr()
	ss.Master().Kill()
	newMaster := ss.WaitFailover(t, 30*time.Second)
	if newMaster == old {
		t.Fatalf("no failover: master still %s", old)
	}
	// The client learns the new master from the sentinels' +switch-master;
	// until then commands fail. Wait for the first success, then require
	// every later command to succeed.
	testenv.Eventually(t, 20*time.Second, func() error {
		if err := s.Set(ctx, "after", []byte("v"), time.Hour); err != nil {
			return fmt.Errorf("client not recovered after promotion of %s: %w", newMaster, err)
		}
		return nil
	})
	for i := range 100 {
		if _, err := s.Get(ctx, "before"); err != nil {
			t.Fatalf("Get #%d after failover: %v", i, err)
		}
	}
	if got, err := s.Get(ctx, "after"); err != nil || string(got) != "v" {
		t.Fatalf("Get(after) = %q, %v", got, err)
	}
}

// TestRetriesBrokenConnection shows a store surviving the kill of its
// connection, and a dead server reported as an error, not a miss.
func TestRetriesBrokenConnection(t *testing.T) {
	srv := redistest.Standalone(t)
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, MaxRetries: 3})
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// Kill the store's connection from outside: the next GET finds it
	// broken and is retried on a new one.
	out, err := exec.Command("redis-cli", "-p", fmt.Sprint(srv.Port()), "CLIENT", "KILL", "TYPE", "normal").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) == "0" {
		t.Fatalf("CLIENT KILL = %q, %v; want our connection killed", out, err)
	}
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get after CLIENT KILL = %q, %v; want a transparent retry", got, err)
	}

	srv.Kill()
	if _, err := s.Get(ctx, "k"); err == nil {
		t.Fatal("Get succeeded with the server dead")
	} else if errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("a dead server reported as a miss: %v", err)
	}
}

// TestRetryOnTimeout blocks the server with DEBUG SLEEP longer than the read
// timeout: an idempotent read is retried until it succeeds, a publish (not
// idempotent: a retry could deliver twice) is not retried.
func TestRetryOnTimeout(t *testing.T) {
	srv := redistest.Standalone(t, "--enable-debug-command", "yes")
	ctx := t.Context()
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 150 * time.Millisecond, MaxRetries: 8})
	if err := s.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	// The probe connects first: a connection made during the sleep would
	// only complete after it.
	probe := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 50 * time.Millisecond, MaxRetries: -1})
	sleep := func() {
		t.Helper()
		cmd := exec.Command("redis-cli", "-p", fmt.Sprint(srv.Port()), "DEBUG", "SLEEP", "0.6")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Wait() })
		// Wait until the server is asleep: a probe with a short timeout
		// stops answering.
		deadline := time.Now().Add(5 * time.Second)
		for probe.Ping(ctx) == nil {
			if time.Now().After(deadline) {
				t.Fatal("DEBUG SLEEP never took effect")
			}
		}
	}
	sleep()
	before := s.Retries()
	if got, err := s.Get(ctx, "k"); err != nil || string(got) != "v" {
		t.Fatalf("Get during DEBUG SLEEP = %q, %v; want success after retries", got, err)
	}
	if s.Retries() == before {
		t.Fatal("Get succeeded without a retry: the server was not asleep")
	}
	sleep()
	before = s.Retries()
	if err := s.Publish(ctx, "chan", []byte("m")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish during DEBUG SLEEP: err = %v, want a timeout without retry", err)
	}
	if s.Retries() != before {
		t.Fatal("Publish was retried")
	}
}
