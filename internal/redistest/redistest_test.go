package redistest

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

func TestStandaloneKillRestart(t *testing.T) {
	t.Parallel()
	s := Standalone(t, "--maxmemory", "10mb")
	kv, err := doStrings(t.Context(), s.Addr(), "CONFIG", "GET", "maxmemory")
	if err != nil || len(kv) != 2 || kv[1] != "10485760" {
		t.Fatalf("CONFIG GET maxmemory = %v, %v; want the extra argument applied", kv, err)
	}
	if _, err := do(t.Context(), s.Addr(), "SET", "k", "v"); err != nil {
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
	if _, err := doString(t.Context(), s.Addr(), "PING"); err == nil {
		t.Fatal("PING answered after Kill")
	}
	s.Kill() // a second Kill is a no-op

	s.Restart(t)
	if s.PID() == 0 || s.PID() == pid {
		t.Fatalf("PID() = %d after Restart, was %d", s.PID(), pid)
	}
	if got, err := do(t.Context(), s.Addr(), "GET", "k"); !errors.Is(err, rueidis.Nil) {
		t.Fatalf("GET k after Restart = %v, %v; want rueidis.Nil: no persistence", got, err)
	}
	var re *rueidis.RedisError
	if _, err := do(t.Context(), s.Addr(), "NOSUCHCOMMAND"); !errors.As(err, &re) || re.IsNil() {
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
	for _, addr := range c.Addrs() {
		info, err := doString(t.Context(), addr, "CLUSTER", "INFO")
		if err != nil {
			t.Fatal(err)
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			t.Errorf("%s: cluster_state:%s", addr, st)
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
		t.Fatalf("Masters() after failover = %v, want 3 without the killed one", addrsOf(after))
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
	for _, addr := range s.Addrs() {
		hp, err := doStrings(t.Context(), addr, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", s.MasterName())
		if err != nil || len(hp) != 2 || net.JoinHostPort(hp[0], hp[1]) != oldMaster.Addr() {
			t.Fatalf("sentinel %s reports master %v, %v; want %s", addr, hp, err, oldMaster.Addr())
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

func TestRequire(t *testing.T) {
	t.Setenv("REDISTEST_SET", " a:1, ,b:2 ")
	t.Setenv("REDISTEST_UNSET", "")
	if got := Require(t, "REDISTEST_SET"); got != " a:1, ,b:2 " {
		t.Errorf("Require() = %q", got)
	}
	if got := RequireList(t, "REDISTEST_SET"); !slices.Equal(got, []string{"a:1", "b:2"}) {
		t.Errorf("RequireList() = %q", got)
	}
	for _, tc := range []struct {
		require   string
		wantFatal bool
	}{
		{require: "", wantFatal: false},
		{require: "0", wantFatal: false},
		{require: "1", wantFatal: true},
	} {
		t.Run("REQUIRE_SERVICES="+tc.require, func(t *testing.T) {
			t.Setenv(EnvRequireServices, tc.require)
			r := &recorder{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				Require(r, "REDISTEST_UNSET")
			}()
			<-done
			if r.fatal != tc.wantFatal || r.skipped == tc.wantFatal {
				t.Errorf("Require of an empty variable: fatal=%v skipped=%v, want fatal=%v", r.fatal, r.skipped, tc.wantFatal)
			}
			if !strings.Contains(r.msg, "REDISTEST_UNSET") || !strings.Contains(r.msg, "scripts/test.sh") {
				t.Errorf("message %q does not name the variable and scripts/test.sh", r.msg)
			}
		})
	}
}

// recorder is a testing.TB whose Fatalf and Skip record the call and end
// the goroutine, as the real ones do, without ending the test.
type recorder struct {
	testing.TB
	fatal, skipped bool
	msg            string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.fatal, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func addrsOf(servers []*Server) []string {
	var addrs []string
	for _, s := range servers {
		addrs = append(addrs, s.Addr())
	}
	return addrs
}
