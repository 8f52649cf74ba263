package redisstore_test

import (
	"os"
	"strings"
	"testing"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/redisstore"
)

// requireEnv returns the value of env, or fails (REQUIRE_SERVICES=1) or
// skips the test when it is unset.
func requireEnv(t *testing.T, env string) string {
	t.Helper()
	v := os.Getenv(env)
	if v == "" {
		if os.Getenv("REQUIRE_SERVICES") == "1" {
			t.Fatalf("%s is not set; run the tests with scripts/test.sh", env)
		}
		t.Skipf("%s is not set; run the tests with scripts/test.sh", env)
	}
	return v
}

func newStore(t *testing.T, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func standaloneOptions(t *testing.T) redisstore.Options {
	opts, err := redisstore.ParseURL(requireEnv(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func clusterOptions(t *testing.T) redisstore.Options {
	return redisstore.Options{Addrs: strings.Split(requireEnv(t, "TEST_REDIS_CLUSTER_NODES"), ",")}
}

func sentinelOptions(t *testing.T) redisstore.Options {
	return redisstore.Options{
		Addrs:     strings.Split(requireEnv(t, "TEST_REDIS_SENTINEL_ADDRS"), ","),
		MasterSet: requireEnv(t, "TEST_REDIS_SENTINEL_MASTER"),
	}
}

func TestConformance(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(t *testing.T) redisstore.Options
		mode string
	}{
		{"standalone", standaloneOptions, "standalone"},
		{"cluster", clusterOptions, "cluster"},
		{"sentinel", sentinelOptions, "sentinel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts(t)
			s := newStore(t, opts)
			if got := s.Mode(); got != tt.mode {
				t.Fatalf("Mode() = %q, want %q", got, tt.mode)
			}
			cachetest.Run(t, func(t *testing.T) cache.Store { return s })
		})
	}
}
