package redistest

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestStandaloneKillRestart(t *testing.T) {
	t.Parallel()
	s := Standalone(t, "--maxmemory", "10mb")
	kv, err := s.doStrings(t.Context(), "CONFIG", "GET", "maxmemory")
	if err != nil || len(kv) != 2 || kv[1] != "10485760" {
		t.Fatalf("CONFIG GET maxmemory = %v, %v; want the extra argument applied", kv, err)
	}
	if _, err := s.do(t.Context(), "SET", "k", "v"); err != nil {
		t.Fatalf("SET: %v", err)
	}
	pid := s.PID()
	if pid == 0 || !s.Running() {
		t.Fatalf("PID() = %d, Running() = %v after start", pid, s.Running())
	}
	if s.URL() != "redis://"+s.Addr()+"/0" {
		t.Errorf("URL() = %q", s.URL())
	}

	s.Kill()
	if s.PID() != 0 || s.Running() {
		t.Fatalf("PID() = %d, Running() = %v after Kill", s.PID(), s.Running())
	}
	if _, err := s.doString(t.Context(), "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Kill() // a second Kill is a no-op

	s.Restart(t)
	if s.PID() == 0 || s.PID() == pid {
		t.Fatalf("PID() = %d after Restart, was %d", s.PID(), pid)
	}
	if got, err := s.do(t.Context(), "GET", "k"); !errors.Is(err, rueidis.Nil) {
		t.Fatalf("GET k after Restart = %v, %v; want rueidis.Nil: no persistence", got, err)
	}
	var re *rueidis.RedisError
	if _, err := s.do(t.Context(), "NOSUCHCOMMAND"); !errors.As(err, &re) || re.IsNil() {
		t.Errorf("NOSUCHCOMMAND: error %v, want an error reply as *rueidis.RedisError", err)
	}

	s.Stop()
	if s.Running() {
		t.Fatal("Running() after Stop")
	}
}

func TestCluster(t *testing.T) {
	t.Parallel()
	start := time.Now()
	c := Cluster(t)
	t.Logf("cluster start took %v", time.Since(start).Round(time.Millisecond))
	if len(c.Addrs()) != 6 || len(c.Nodes()) != 6 {
		t.Fatalf("Addrs() = %v, want 6 nodes", c.Addrs())
	}
	for _, n := range c.Nodes() {
		info, err := n.doString(t.Context(), "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			t.Errorf("%s: cluster_state:%s", n.Addr(), st)
		}
	}
	masters := c.Masters(t)
	if len(masters) != 3 {
		t.Fatalf("Masters() = %d nodes, want 3", len(masters))
	}

	// Failover: kill a master; its replica takes over its slots.
	start = time.Now()
	masters[0].Kill()
	c.WaitClusterOK(t, 20*time.Second)
	t.Logf("cluster failover took %v", time.Since(start).Round(time.Millisecond))
	after := c.Masters(t)
	if len(after) != 3 || slices.Contains(after, masters[0]) {
		t.Fatalf("Masters() after failover = %v, want 3 without the killed one", addrs(after))
	}

	// The killed master comes back as a replica.
	masters[0].Restart(t)
	c.WaitClusterOK(t, 20*time.Second)
}

func TestSentinel(t *testing.T) {
	t.Parallel()
	start := time.Now()
	s := Sentinel(t)
	t.Logf("sentinel start took %v", time.Since(start).Round(time.Millisecond))
	if len(s.Addrs()) != 3 || s.MasterName() != "filecache" {
		t.Fatalf("Addrs() = %v, MasterName() = %q", s.Addrs(), s.MasterName())
	}
	oldMaster, oldReplica := s.Master(), s.Replica()
	for _, sn := range s.sentinels {
		hp, err := sn.doStrings(t.Context(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName())
		if err != nil || len(hp) != 2 || net.JoinHostPort(hp[0], hp[1]) != oldMaster.Addr() {
			t.Fatalf("sentinel %s reports master %v, %v; want %s", sn.Addr(), hp, err, oldMaster.Addr())
		}
	}

	start = time.Now()
	oldMaster.Kill()
	got := s.WaitFailover(t, 20*time.Second)
	t.Logf("sentinel failover took %v", time.Since(start).Round(time.Millisecond))
	if got != oldReplica.Addr() {
		t.Fatalf("WaitFailover() = %s, want the replica %s", got, oldReplica.Addr())
	}
	if s.Master() != oldReplica || s.Replica() != oldMaster {
		t.Fatal("Master and Replica were not swapped")
	}
}
