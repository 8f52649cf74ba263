// Package redistest is the one Redis test harness: it starts real
// redis-server processes for tests, and, through cmd/redisenv, the shared
// deployments that scripts/test.sh announces in TEST_* variables.
//
// Private servers are started from the redis-server binary on free
// loopback ports, without persistence, in t.TempDir(), and are killed by
// their PID in t.Cleanup. Use them for tests that inject faults:
//
//	srv := redistest.Standalone(t)
//	client := newClient(t, srv.Addr())
//	srv.Kill()       // SIGKILL, waits until the process is gone
//	srv.Restart(t)   // same port, returns once it answers PING
//
//	cl := redistest.Cluster(t)     // 3 masters + 3 replicas
//	cl.Masters(t)[0].Kill()
//	cl.WaitClusterOK(t, 15*time.Second) // waits for the failover
//
//	ss := redistest.Sentinel(t)    // master, replica, 3 sentinels
//	ss.Master().Kill()
//	addr := ss.WaitFailover(t, 15*time.Second)
//
//	files := redistest.RequireTLSFiles(t) // the test CA of scripts/test.sh
//	tls := redistest.StandaloneTLS(t, redistest.TLS{Files: files, AuthClients: true})
//	conf, err := files.ClientConfig(true) // trusts the CA, presents the client pair
//
// Tests that only need a server read its address from the environment,
// with the names declared here (EnvRedisURL, EnvRedisClusterNodes, ...):
//
//	url := testenv.Require(t, redistest.EnvRedisURL)
//
// testenv.Require skips the test when the variable is empty, or fails it
// when REQUIRE_SERVICES=1 (as on CI), so a missing service never passes
// silently. Standalone, Cluster and Sentinel do the same when redis-server
// or redis-cli is not installed.
//
// Outside a test, a Group starts the same deployments with a context and
// returns errors; Group.Close kills every process it started, and only
// those. cmd/redisenv is such a Group behind a command line.
//
// Waits are testenv.Poll with deadlines, never fixed sleeps. Group, Server,
// ClusterSet and SentinelSet are safe for concurrent use; the functions
// taking a testing.TB must be called from the test's goroutine, as t.Fatal
// requires.
package redistest
