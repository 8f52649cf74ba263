// Package redisstoretest opens the redisstore stores tests run against,
// each closed when its test ends: on the Redis deployments that
// scripts/test.sh starts and announces in TEST_* variables, or on any
// address, such as a private server of internal/redistest.
//
//	s := redisstoretest.Open(t, redisstoretest.ClusterOptions(t))
//	p := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}})
//
// The Options functions skip the test, or fail it if REQUIRE_SERVICES=1,
// when their variable is empty (testenv.Require). They are separate from
// internal/redistest so that the server harness does not depend on the
// store it serves.
package redisstoretest

import (
	"testing"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// Open opens a store with opts and closes it in t.Cleanup.
func Open(t testing.TB, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// StandaloneOptions returns the options of the standalone Redis of
// TEST_REDIS_URL.
func StandaloneOptions(t testing.TB) redisstore.Options {
	t.Helper()
	opts, err := redisstore.ParseURL(testenv.Require(t, redistest.EnvRedisURL))
	if err != nil {
		t.Fatalf("%s: %v", redistest.EnvRedisURL, err)
	}
	return opts
}

// ClusterOptions returns the options of the Redis Cluster of
// TEST_REDIS_CLUSTER_NODES.
func ClusterOptions(t testing.TB) redisstore.Options {
	t.Helper()
	return redisstore.Options{Addrs: testenv.RequireList(t, redistest.EnvRedisClusterNodes)}
}

// SentinelOptions returns the options of the Sentinel deployment of
// TEST_REDIS_SENTINEL_ADDRS and TEST_REDIS_SENTINEL_MASTER.
func SentinelOptions(t testing.TB) redisstore.Options {
	t.Helper()
	return redisstore.Options{
		Addrs:     testenv.RequireList(t, redistest.EnvRedisSentinelAddrs),
		MasterSet: testenv.Require(t, redistest.EnvRedisSentinelMaster),
	}
}
