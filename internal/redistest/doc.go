// Package redistest gives tests real Redis servers: private ones they own
// and may kill, and the shared ones that scripts/test.sh starts and
// announces through environment variables.
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
// Tests that only need a server read its address from the environment:
//
//	url := redistest.Require(t, redistest.EnvRedisURL)
//
// Require skips the test when the variable is empty, or fails it when
// REQUIRE_SERVICES=1 (as on CI), so a missing service never passes
// silently. Standalone, Cluster and Sentinel do the same when redis-server
// or redis-cli is not installed.
//
// Waits are polls with deadlines, never fixed sleeps. Server, ClusterSet
// and SentinelSet are safe for concurrent use; the functions taking a
// testing.TB must be called from the test's goroutine, as t.Fatal requires.
package redistest
