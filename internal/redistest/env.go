package redistest

import (
	"fmt"
	"os/exec"
	"sync"
	"testing"

	"github.com/filecache/filecache/internal/testenv"
)

// Environment variables that scripts/test.sh sets for the tests, from what
// cmd/redisenv started. Read them with testenv.Require or
// testenv.RequireList.
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

	// EnvRedisTLSURL is a standalone Redis that accepts only TLS and does
	// not ask for a client certificate, as rediss://127.0.0.1:PORT/0.
	EnvRedisTLSURL = "TEST_REDIS_TLS_URL"
	// EnvRedisMTLSURL is a standalone Redis that accepts only TLS with a
	// client certificate signed by the CA (mutual TLS), as
	// rediss://127.0.0.1:PORT/0.
	EnvRedisMTLSURL = "TEST_REDIS_MTLS_URL"
	// EnvRedisTLSClusterNodes lists the 3 masters (no replicas) of a Redis
	// Cluster that accepts only TLS, as host:port,host:port,host:port.
	EnvRedisTLSClusterNodes = "TEST_REDIS_TLS_CLUSTER_NODES"
	// EnvRedisTLSCAFile is the PEM file of the CA that signed the TLS
	// servers' and the client's certificates.
	EnvRedisTLSCAFile = "TEST_REDIS_TLS_CA_FILE"
	// EnvRedisTLSCertFile is the PEM file of the client certificate.
	EnvRedisTLSCertFile = "TEST_REDIS_TLS_CERT_FILE"
	// EnvRedisTLSKeyFile is the PEM file of the client certificate's key.
	EnvRedisTLSKeyFile = "TEST_REDIS_TLS_KEY_FILE"
)

// MasterName is the name under which the sentinels of Sentinel monitor
// their master.
const MasterName = "filecache"

var lookBinaries = sync.OnceValue(func() error {
	for _, name := range []string{"redis-server", "redis-cli"} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s not found in PATH; `bash scripts/test.sh` installs it when run as root, or apt-get install redis-server redis-tools", name)
		}
	}
	return nil
})

// RequireBinaries skips the test, or fails it if REQUIRE_SERVICES=1, when
// redis-server or redis-cli is not in PATH. Every function that starts
// servers for a test calls it.
func RequireBinaries(t testing.TB) {
	t.Helper()
	if err := lookBinaries(); err != nil {
		testenv.Unavailable(t, "%v", err)
	}
}
