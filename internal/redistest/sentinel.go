package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/testenv"
)

const (
	sentinelCount  = 3
	sentinelQuorum = 2
	// sentinelStartTimeout bounds the wait for the replica to sync and the
	// sentinels to discover it and each other (hello messages every 2s).
	sentinelStartTimeout = 30 * time.Second
)

// SentinelSet is a private Sentinel deployment: a master, a replica, and 3
// sentinels monitoring them as "filecache" with quorum 2,
// down-after-milliseconds 1000 and failover-timeout 3000, so a failover
// takes a few seconds. It is safe for concurrent use.
type SentinelSet struct {
	sentinels []*Server

	mu      sync.Mutex
	master  *Server
	replica *Server
}

// Sentinel starts a master, a replica of it and 3 sentinels, and returns
// once the replica is in sync and every sentinel reports the master, its
// replica and the 2 other sentinels. All are killed in t.Cleanup.
//
// It skips the test, or fails it if REQUIRE_SERVICES=1, when redis-server
// is not installed.
func Sentinel(t testing.TB) *SentinelSet {
	t.Helper()
	s, err := testGroup(t).Sentinel(t.Context())
	return must(t, s, err, "sentinel set")
}

// Sentinel starts a master, a replica of it and 3 sentinels, and returns
// once the replica is in sync and every sentinel reports the master, its
// replica and the 2 other sentinels.
func (g *Group) Sentinel(ctx context.Context) (*SentinelSet, error) {
	master, err := g.newServer(ctx, serverSpec{})
	if err != nil {
		return nil, fmt.Errorf("sentinel master: %w", err)
	}
	replica, err := g.newServer(ctx, serverSpec{args: []string{"--replicaof", "127.0.0.1", fmt.Sprint(master.Port())}})
	if err != nil {
		return nil, fmt.Errorf("sentinel replica: %w", err)
	}
	// Sentinels find replicas in the master's INFO, which they read once
	// on connecting and then every 10s: start them after the sync.
	err = testenv.Poll(ctx, sentinelStartTimeout, func() error {
		info, err := replica.doString(ctx, "INFO", "replication")
		if err != nil {
			return err
		}
		if st := infoField(info, "master_link_status"); st != "up" {
			return fmt.Errorf("replica %s: master_link_status:%s", replica.Addr(), st)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sentinel replica did not sync: %w", err)
	}

	s := &SentinelSet{master: master, replica: replica}
	conf := fmt.Sprintf(`sentinel monitor %[1]s 127.0.0.1 %[2]d %[3]d
sentinel down-after-milliseconds %[1]s 1000
sentinel failover-timeout %[1]s 3000
sentinel parallel-syncs %[1]s 1
`, MasterName, master.Port(), sentinelQuorum)
	for range sentinelCount {
		sn, err := g.newServer(ctx, serverSpec{
			sentinel: true,
			writeConf: func(dir string, _ int) (string, error) {
				path := filepath.Join(dir, "sentinel.conf")
				return path, os.WriteFile(path, []byte(conf), 0o600)
			},
		})
		if err != nil {
			return nil, fmt.Errorf("sentinel: %w", err)
		}
		s.sentinels = append(s.sentinels, sn)
	}

	err = testenv.Poll(ctx, sentinelStartTimeout, func() error {
		for _, sn := range s.sentinels {
			kv, err := sn.doStrings(ctx, "SENTINEL", "MASTER", MasterName)
			if err != nil {
				return err
			}
			m := pairs(kv)
			if m["flags"] != "master" || m["num-slaves"] != "1" || m["num-other-sentinels"] != fmt.Sprint(sentinelCount-1) {
				return fmt.Errorf("sentinel %s: flags=%s num-slaves=%s num-other-sentinels=%s",
					sn.Addr(), m["flags"], m["num-slaves"], m["num-other-sentinels"])
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sentinels did not agree: %w", err)
	}
	return s, nil
}

// Addrs returns the sentinels' addresses, "127.0.0.1:PORT".
func (s *SentinelSet) Addrs() []string {
	return addrs(s.sentinels)
}

// MasterName returns the name the sentinels monitor the master under,
// "filecache".
func (s *SentinelSet) MasterName() string {
	return MasterName
}

// Master returns the master: the one started, or after WaitFailover the
// promoted replica.
func (s *SentinelSet) Master() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.master
}

// Replica returns the replica: the one started, or after WaitFailover the
// former master, which becomes a replica once restarted.
func (s *SentinelSet) Replica() *Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replica
}

// WaitFailover waits until the running sentinels that answer (at least a
// quorum of them) all report, through SENTINEL GET-MASTER-ADDR-BY-NAME, the
// same master address other than Master's, and that server reports the
// master role. It then swaps Master and Replica and returns the new
// master's address. It fails the test after timeout.
func (s *SentinelSet) WaitFailover(t testing.TB, timeout time.Duration) string {
	t.Helper()
	old := s.Master().Addr()
	var addr string
	err := testenv.Poll(t.Context(), timeout, func() error {
		addr = ""
		answered := 0
		for _, sn := range s.sentinels {
			if !sn.Running() {
				continue
			}
			hp, err := sn.doStrings(t.Context(), "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName)
			if err != nil || len(hp) != 2 {
				continue
			}
			answered++
			got := net.JoinHostPort(hp[0], hp[1])
			switch {
			case got == old:
				return fmt.Errorf("sentinel %s still reports master %s", sn.Addr(), old)
			case addr != "" && got != addr:
				return fmt.Errorf("sentinels disagree: %s and %s", addr, got)
			}
			addr = got
		}
		if answered < sentinelQuorum {
			return fmt.Errorf("only %d sentinels answer", answered)
		}
		candidate := s.Replica()
		if candidate.Addr() != addr {
			return fmt.Errorf("sentinels report %s, which is not the replica %s", addr, candidate.Addr())
		}
		role, err := candidate.doStrings(t.Context(), "ROLE")
		if err != nil {
			return err
		}
		if len(role) == 0 || role[0] != "master" {
			return errors.New(addr + " does not report the master role yet")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("redistest: sentinel failover from %s: %v", old, err)
	}
	s.mu.Lock()
	s.master, s.replica = s.replica, s.master
	s.mu.Unlock()
	return addr
}
