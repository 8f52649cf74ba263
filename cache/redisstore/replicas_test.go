package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// infoField returns field of the INFO section of srv.
func infoField(t testing.TB, srv *redistest.Server, section, field string) string {
	t.Helper()
	for line := range strings.Lines(redisCLI(t, srv, "INFO", section)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// waitCalls returns how many WAITs srv has run.
func waitCalls(t testing.TB, srv *redistest.Server) int {
	t.Helper()
	v, ok := strings.CutPrefix(infoField(t, srv, "commandstats", "cmdstat_wait"), "calls=")
	if !ok {
		return 0
	}
	n, err := strconv.Atoi(v[:strings.IndexByte(v, ',')])
	if err != nil {
		t.Fatalf("cmdstat_wait: %v", err)
	}
	return n
}

// replicated starts a master and a replica of it whose replication link
// passes through a fault proxy, and waits until the master counts the
// replica online.
func replicated(t testing.TB) (master, replica *redistest.Server, link *faultproxy.Proxy) {
	t.Helper()
	master = redistest.Standalone(t)
	link = faultproxy.New(t, master.Addr())
	_, port, _ := net.SplitHostPort(link.Addr())
	replica = redistest.Standalone(t, "--replicaof", "127.0.0.1", port)
	testenv.Until(t, 30*time.Second, "the replica in sync", func() bool {
		return infoField(t, replica, "replication", "master_link_status") == "up" &&
			strings.Contains(infoField(t, master, "replication", "slave0"), "state=online")
	})
	return master, replica, link
}

// TestDeleteWaitsForReplica: on a master with a replica, Delete returns
// once the replica has its UNLINKs (one WAIT), so that a failover cannot
// bring the keys back; a replica that does not acknowledge in time is
// counted, not an error; a master that dies before its replica
// acknowledged fails the Delete, which leaves the invalidation to the
// outbox.
func TestDeleteWaitsForReplica(t *testing.T) {
	ctx := t.Context()
	master, replica, link := replicated(t)
	open := func(wait time.Duration) *redisstore.Store {
		return redisstoretest.Open(t, redisstore.Options{
			Addrs: []string{master.Addr()}, ReplicaWait: wait, ReadTimeout: 2 * time.Minute, MaxRetries: -1,
		})
	}
	s := open(time.Second)

	// In sync: the replica has the deletes when Delete returns.
	for _, k := range []string{"k1", "k2", "k3"} {
		redisCLI(t, master, "SET", k, "v")
	}
	if n, err := s.Delete(ctx, "k1", "k2", "k3"); n != 3 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if got := redisCLI(t, replica, "EXISTS", "k1", "k2", "k3"); got != "0" {
		t.Errorf("the replica still holds %s of the keys after Delete returned", got)
	}
	if n := waitCalls(t, master); n != 1 {
		t.Errorf("%d WAITs for one Delete, want 1", n)
	}
	if n := s.Unreplicated(); n != 0 {
		t.Errorf("Unreplicated = %d with the replica in sync", n)
	}

	// The replication link hangs: the delete succeeds, counted.
	link.Hang()
	redisCLI(t, master, "SET", "k4", "v")
	if n, err := s.Delete(ctx, "k4"); n != 1 || err != nil {
		t.Fatalf("Delete with the replica behind = %d, %v", n, err)
	}
	if n := s.Unreplicated(); n != 1 {
		t.Errorf("Unreplicated = %d, want 1", n)
	}

	// The master dies while a delete waits for the replica: Delete fails.
	long := open(time.Minute)
	redisCLI(t, master, "SET", "k5", "v")
	done := make(chan error, 1)
	go func() {
		_, err := long.Delete(ctx, "k5")
		done <- err
	}()
	testenv.Until(t, 30*time.Second, "the delete waiting for the replica", func() bool {
		return infoField(t, master, "clients", "blocked_clients") == "1"
	})
	master.Kill()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Delete succeeded although its master died before the replica had it")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Delete still waiting 30s after its master died")
	}
}

// TestDeleteWithoutReplicasSendsNoWait: WAIT on a master without replicas
// would block for ReplicaWait on every delete; none is sent.
func TestDeleteWithoutReplicasSendsNoWait(t *testing.T) {
	ctx := t.Context()
	srv := redistest.Standalone(t)
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, ReplicaWait: time.Minute, ReadTimeout: 2 * time.Minute})
	redisCLI(t, srv, "SET", "k", "v")
	if n, err := s.Delete(ctx, "k"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if n := waitCalls(t, srv); n != 0 {
		t.Errorf("%d WAITs on a master without replicas", n)
	}
}

// TestWaitedDeleteKeepsNearCache: the deletes that wait for a replica run
// on connections without tracking, so that however many there are, and
// even when one is closed while it waits, this process keeps its near
// cache and does not hear its own writes back.
func TestWaitedDeleteKeepsNearCache(t *testing.T) {
	ctx := t.Context()
	master, _, link := replicated(t)
	prefix := "echo:"
	inst := newInstance(t, redisstore.Options{Addrs: []string{master.Addr()}, ReplicaWait: time.Second, ReadTimeout: time.Minute}, prefix)
	var (
		mu      sync.Mutex
		heard   = map[string]int{}
		flushed int
	)
	inst.store.Notify(func(keys []string) {
		mu.Lock()
		defer mu.Unlock()
		if keys == nil {
			flushed++
		}
		for _, k := range keys {
			heard[k]++
		}
	})

	// An unrelated key, a near hit.
	if err := inst.files.Set(ctx, "kept", file{ID: "kept", Version: 1}); err != nil {
		t.Fatal(err)
	}
	nearHit := func() bool {
		before := inst.cache.Stats()[0].NearHits
		if v, err := inst.files.Get(ctx, "kept"); err != nil || v.Version != 1 {
			t.Fatalf("Get kept = %+v, %v", v, err)
		}
		return inst.cache.Stats()[0].NearHits > before
	}
	testenv.Until(t, 10*time.Second, "kept a near hit", nearHit)
	flushes := inst.cache.NearFlushes()

	// Many waited deletes, in parallel so that the pool grows.
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			id := fmt.Sprint("gone", i)
			if err := inst.files.Set(ctx, id, file{ID: id, Version: 1}); err != nil {
				t.Error(err)
			}
			if _, err := inst.files.Delete(ctx, id); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := waitCalls(t, master); n < 100 {
		t.Fatalf("%d WAITs for 100 deletes: the deletes did not wait", n)
	}
	// Deletes whose context ends while WAIT waits: rueidis closes their
	// connections.
	link.Hang()
	for i := range 3 {
		k := fmt.Sprintf("%sfile:cut%d", prefix, i)
		redisCLI(t, master, "SET", k, "v") // something to replicate
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		if _, err := inst.store.Delete(dctx, k); err == nil {
			t.Error("a Delete waiting for a hung replica outlived its 50ms context")
		}
		cancel()
	}
	link.Forward()

	// Own writes, then another client's: once that one is heard, an echo
	// of ours would have been heard before it (one tracking connection,
	// in order).
	for i := range 20 {
		id := fmt.Sprint("own", i)
		if err := inst.files.Set(ctx, id, file{ID: id, Version: 1}); err != nil {
			t.Fatal(err)
		}
	}
	redisCLI(t, master, "SET", prefix+"file:fence", "v")
	testenv.Until(t, 10*time.Second, "the fence heard", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return heard[prefix+"file:fence"] > 0
	})

	mu.Lock()
	for i := range 20 {
		if k := fmt.Sprintf("%sfile:own%d", prefix, i); heard[k] > 0 {
			t.Errorf("own write of %s heard back %d times", k, heard[k])
		}
	}
	if flushed > 0 {
		t.Errorf("the near cache was told to flush %d times", flushed)
	}
	mu.Unlock()
	if n := inst.cache.NearFlushes(); n != flushes {
		t.Errorf("near flushes: %d before the deletes, %d after", flushes, n)
	}
	if !nearHit() {
		t.Error("the unrelated key is no longer a near hit after the deletes")
	}
	// One connection of this process tracks keys: the deletes' are not.
	tracking := 0
	for line := range strings.Lines(redisCLI(t, master, "CLIENT", "LIST")) {
		for f := range strings.FieldsSeq(line) {
			if v, ok := strings.CutPrefix(f, "flags="); ok && strings.Contains(v, "t") {
				tracking++
			}
		}
	}
	if tracking != 1 {
		t.Errorf("%d tracking connections on the master, want 1\n%s", tracking, redisCLI(t, master, "CLIENT", "LIST"))
	}
}

// TestDeleteWithoutWaitPermission: an ACL user that may not run WAIT
// still deletes; the deletes count as unreplicated.
func TestDeleteWithoutWaitPermission(t *testing.T) {
	ctx := t.Context()
	master, _, _ := replicated(t)
	redisCLI(t, master, "ACL", "SETUSER", "nowait", "on", ">pw", "~*", "&*", "+@all", "-wait")
	s := redisstoretest.Open(t, redisstore.Options{Addrs: []string{master.Addr()}, Username: "nowait", Password: "pw"})
	redisCLI(t, master, "SET", "k", "v")
	if n, err := s.Delete(ctx, "k"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if n := s.Unreplicated(); n != 1 {
		t.Errorf("Unreplicated = %d, want 1", n)
	}
}
