package redistest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Environment variables set by scripts/test.sh for the tests.
const (
	// EnvRedisURL is a standalone Redis, as redis://127.0.0.1:PORT/0.
	EnvRedisURL = "TEST_REDIS_URL"
	// EnvRedisClusterNodes lists every node of a Redis Cluster of 3 masters
	// and 3 replicas, as host:port,host:port,...
	EnvRedisClusterNodes = "TEST_REDIS_CLUSTER_NODES"
	// EnvRedisSentinelAddrs lists the sentinels, as host:port,host:port,...
	EnvRedisSentinelAddrs = "TEST_REDIS_SENTINEL_ADDRS"
	// EnvRedisSentinelMaster is the master name the sentinels monitor.
	EnvRedisSentinelMaster = "TEST_REDIS_SENTINEL_MASTER"
	// EnvDatabaseURL is a PostgreSQL URL, as postgres://user@host:port/db.
	EnvDatabaseURL = "TEST_DATABASE_URL"
	// EnvRequireServices, when "1", turns every skip for a missing service
	// or binary into a test failure. .ci/run sets it.
	EnvRequireServices = "REQUIRE_SERVICES"
)

// MasterName is the name under which Sentinel and scripts/redis-sentinel.sh
// monitor their master.
const MasterName = "filecache"

// ServicesRequired reports whether REQUIRE_SERVICES=1 is set, that is
// whether a missing service fails tests instead of skipping them.
func ServicesRequired() bool {
	return os.Getenv(EnvRequireServices) == "1"
}

// Require returns the value of the environment variable env. When it is
// empty the test is skipped, or failed if REQUIRE_SERVICES=1.
func Require(t testing.TB, env string) string {
	t.Helper()
	if v := os.Getenv(env); v != "" {
		return v
	}
	missing(t, "%s is not set; run the tests with `bash scripts/test.sh`, which starts the services and sets it", env)
	return ""
}

// RequireList is Require for a comma-separated list such as
// TEST_REDIS_CLUSTER_NODES; it trims spaces and drops empty items.
func RequireList(t testing.TB, env string) []string {
	t.Helper()
	var list []string
	for item := range strings.SplitSeq(Require(t, env), ",") {
		if item = strings.TrimSpace(item); item != "" {
			list = append(list, item)
		}
	}
	if len(list) == 0 {
		missing(t, "%s lists no address; run the tests with `bash scripts/test.sh`", env)
	}
	return list
}

var lookBinaries = sync.OnceValue(func() error {
	for _, name := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s not found in PATH; `bash scripts/test.sh` installs it when run as root, or apt-get install redis-server redis-tools", name)
		}
	}
	return nil
})

// RequireBinary skips the test, or fails it if REQUIRE_SERVICES=1, when
// redis-server or redis-cli is not in PATH. Standalone, Cluster and
// Sentinel call it.
func RequireBinary(t testing.TB) {
	t.Helper()
	if err := lookBinaries(); err != nil {
		missing(t, "%v", err)
	}
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if ServicesRequired() {
		t.Fatalf("%s=1: %s", EnvRequireServices, msg)
	}
	t.Skip(msg)
}
