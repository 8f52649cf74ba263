//go:build unix

package redisstore_test

import (
	"fmt"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

// TestDeleteWaitsOncePerClusterMaster: in a Cluster whose masters have
// replicas, a Delete of keys over many slots sends each master one WAIT
// behind its UNLINKs, the masters in parallel, and the replicas hold the
// deletes when it returns. With the replicas stopped, so that every WAIT
// runs to its timeout, the Delete costs about one timeout, not one per
// slot (300 keys: about 100 slots per master).
func TestDeleteWaitsOncePerClusterMaster(t *testing.T) {
	ctx := t.Context()
	c := redistest.Cluster(t)
	const wait = 300 * time.Millisecond
	s := redisstoretest.Open(t, redisstore.Options{Addrs: c.Addrs(), ReplicaWait: wait, ReadTimeout: time.Minute})
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("%d masters, want 3", len(masters))
	}
	var replicas []*redistest.Server
	for _, n := range c.Nodes() {
		if !slices.Contains(masters, n) {
			replicas = append(replicas, n)
		}
	}
	waits := func() []int {
		out := make([]int, len(masters))
		for i, m := range masters {
			out[i] = waitCalls(t, m)
		}
		return out
	}
	set := func(round string) []string {
		keys := make([]string, 300)
		for i := range keys {
			keys[i] = fmt.Sprintf("wait-%s:%d", round, i)
			if err := s.Set(ctx, keys[i], []byte("v"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
		return keys
	}
	// A master that deleted something waited once; one that did not
	// (every key elsewhere) might not have: none here, with 300 keys.
	oneEach := func(before, after []int) {
		t.Helper()
		for i := range masters {
			if after[i]-before[i] != 1 {
				t.Errorf("master %s ran %d WAITs for one Delete, want 1", masters[i].Addr(), after[i]-before[i])
			}
		}
	}

	keys := set("sync")
	before := waits()
	if n, err := s.Delete(ctx, keys...); n != len(keys) || err != nil {
		t.Fatalf("Delete = %d, %v, want %d", n, err, len(keys))
	}
	oneEach(before, waits())
	for _, r := range replicas {
		if n := redisCLI(t, r, "DBSIZE"); n != "0" {
			t.Errorf("replica %s holds %s keys after Delete returned", r.Addr(), n)
		}
	}
	if n := s.Unreplicated(); n != 0 {
		t.Errorf("Unreplicated = %d with every replica in sync", n)
	}

	// Every replica stopped: every WAIT times out.
	keys = set("stopped")
	for _, r := range replicas {
		pid := r.PID()
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	}
	before = waits()
	start := time.Now()
	n, err := s.Delete(ctx, keys...)
	took := time.Since(start)
	for _, r := range replicas {
		_ = syscall.Kill(r.PID(), syscall.SIGCONT)
	}
	if n != len(keys) || err != nil {
		t.Fatalf("Delete with the replicas stopped = %d, %v, want %d", n, err, len(keys))
	}
	oneEach(before, waits())
	t.Logf("300 keys on 3 masters, every replica stopped: Delete took %v (WAIT timeout %v)", took, wait)
	if took < wait || took >= 10*wait {
		t.Errorf("Delete took %v, want about one WAIT timeout (%v), at most 10", took, wait)
	}
	if n := s.Unreplicated(); n != 1 {
		t.Errorf("Unreplicated = %d, want 1", n)
	}
}
