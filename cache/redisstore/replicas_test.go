package redisstore_test

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// infoField returns field of the INFO section of srv.
func infoField(t *testing.T, srv *redistest.Server, section, field string) string {
	t.Helper()
	for line := range strings.Lines(redisCLI(t, srv, "INFO", section)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return v
		}
	}
	return ""
}

// TestDeleteWaitsForReplica: on a master with a replica, Delete returns
// once the replica has its UNLINKs (WAIT), so that a failover cannot bring
// the keys back; a replica that does not acknowledge in time is counted,
// not an error; a master that dies before its replica acknowledged fails
// the Delete, which leaves the invalidation to the outbox.
func TestDeleteWaitsForReplica(t *testing.T) {
	ctx := t.Context()
	master := redistest.Standalone(t)
	link := faultproxy.New(t, master.Addr()) // the replication link
	_, port, _ := net.SplitHostPort(link.Addr())
	replica := redistest.Standalone(t, "--replicaof", "127.0.0.1", port)
	testenv.Until(t, 30*time.Second, "the replica in sync", func() bool {
		return infoField(t, replica, "replication", "master_link_status") == "up" &&
			infoField(t, master, "replication", "connected_slaves") == "1"
	})
	open := func(wait time.Duration) *redisstore.Store {
		s, err := redisstore.New(ctx, redisstore.Options{
			Addrs: []string{master.Addr()}, ReplicaWait: wait, ReadTimeout: 2 * time.Minute, MaxRetries: -1,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s := open(time.Second)

	// In sync: the replica has the delete when Delete returns.
	redisCLI(t, master, "SET", "k1", "v")
	if n, err := s.Delete(ctx, "k1"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if got := redisCLI(t, replica, "EXISTS", "k1"); got != "0" {
		t.Errorf("the replica still holds k1 after Delete returned (EXISTS %s)", got)
	}
	if !strings.Contains(infoField(t, master, "commandstats", "cmdstat_wait"), "calls=1,") {
		t.Errorf("cmdstat_wait = %q, want one WAIT", infoField(t, master, "commandstats", "cmdstat_wait"))
	}
	if n := s.Unreplicated(); n != 0 {
		t.Errorf("Unreplicated = %d with the replica in sync", n)
	}

	// The replication link hangs: the delete succeeds, counted.
	link.Hang()
	redisCLI(t, master, "SET", "k2", "v")
	if n, err := s.Delete(ctx, "k2"); n != 1 || err != nil {
		t.Fatalf("Delete with the replica behind = %d, %v", n, err)
	}
	if n := s.Unreplicated(); n != 1 {
		t.Errorf("Unreplicated = %d, want 1", n)
	}

	// The master dies while a delete waits for the replica: Delete fails.
	long := open(time.Minute)
	redisCLI(t, master, "SET", "k3", "v")
	done := make(chan error, 1)
	go func() {
		_, err := long.Delete(ctx, "k3")
		done <- err
	}()
	testenv.Until(t, 30*time.Second, "the delete waiting for the replica", func() bool {
		return infoField(t, master, "clients", "blocked_clients") == "1"
	})
	master.Kill()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Delete succeeded although its master died before any replica had it")
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
	s, err := redisstore.New(ctx, redisstore.Options{Addrs: []string{srv.Addr()}, ReplicaWait: time.Minute, ReadTimeout: 2 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	redisCLI(t, srv, "SET", "k", "v")
	if n, err := s.Delete(ctx, "k"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if got := infoField(t, srv, "commandstats", "cmdstat_wait"); got != "" {
		t.Errorf("cmdstat_wait = %q, want no WAIT", got)
	}
}

// TestDeleteWaitsOnEveryClusterMaster: in a Cluster whose masters have
// replicas, each master that a Delete touches gets a WAIT after its
// UNLINKs, and the replicas acknowledge them.
func TestDeleteWaitsOnEveryClusterMaster(t *testing.T) {
	ctx := t.Context()
	addrs := testenv.RequireList(t, redistest.EnvRedisClusterNodes)
	s, err := redisstore.New(ctx, redisstore.Options{Addrs: addrs})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	masters, err := s.Masters(ctx)
	if err != nil || len(masters) < 3 {
		t.Fatalf("masters: %d, %v", len(masters), err)
	}
	waits := func() map[string]int64 {
		out := map[string]int64{}
		for addr, m := range masters {
			info, err := m.Do(ctx, m.B().Info().Section("commandstats").Build()).ToString()
			if err != nil {
				t.Fatal(err)
			}
			for line := range strings.Lines(info) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_wait:calls="); ok {
					out[addr], _ = strconv.ParseInt(v[:strings.IndexByte(v, ',')], 10, 64)
				}
			}
		}
		return out
	}
	before := waits()
	// Enough keys that every master holds some.
	keys := make([]string, 60)
	for i := range keys {
		keys[i] = fmt.Sprintf("replicas-test:%d", i)
	}
	if _, err := s.Delete(ctx, keys...); err != nil {
		t.Fatal(err)
	}
	after := waits()
	for addr := range masters {
		if after[addr] <= before[addr] {
			t.Errorf("master %s: WAIT calls %d before the Delete, %d after", addr, before[addr], after[addr])
		}
	}
	if n := s.Unreplicated(); n != 0 {
		t.Errorf("Unreplicated = %d with every replica in sync", n)
	}
}
