package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/testenv"
)

const (
	// clusterMasters is the number of masters of every cluster.
	clusterMasters = 3
	// clusterStartTimeout bounds redis-cli --cluster create and the wait
	// for every node to agree afterwards.
	clusterStartTimeout = 30 * time.Second
)

// ClusterOptions says what Group.Cluster starts. The zero value is 3
// masters with a replica each, on plain TCP.
type ClusterOptions struct {
	// NoReplicas starts the 3 masters alone, which saves CPU where no test
	// fails a master over.
	NoReplicas bool
	// TLS, when set, makes every node accept only TLS connections and use
	// TLS on the cluster bus and for replication (tls-cluster yes,
	// tls-replication yes).
	TLS *TLS
}

// ClusterSet is a private Redis Cluster of 3 masters, each with a replica
// unless ClusterOptions.NoReplicas, each node a Server on its own client
// and bus ports, with cluster-node-timeout 2000ms so that a failover takes
// a few seconds. It is safe for concurrent use.
type ClusterSet struct {
	nodes    []*Server
	replicas int // replicas per master
}

// Cluster starts a private Redis Cluster of 3 masters and 3 replicas with
// redis-cli --cluster create, and returns once every node reports
// cluster_state:ok, knows all 6 nodes, and every master has a replica in
// sync. Its nodes are killed in t.Cleanup.
//
// It skips the test, or fails it if REQUIRE_SERVICES=1, when redis-server
// or redis-cli is not installed.
func Cluster(t testing.TB) *ClusterSet {
	t.Helper()
	c, err := testGroup(t).Cluster(t.Context(), ClusterOptions{})
	return must(t, c, err, "cluster")
}

// ClusterTLS is Cluster for 3 masters without replicas that accept only
// TLS connections, configured by conf, and speak TLS on the cluster bus.
func ClusterTLS(t testing.TB, conf TLS) *ClusterSet {
	t.Helper()
	c, err := testGroup(t).Cluster(t.Context(), ClusterOptions{NoReplicas: true, TLS: &conf})
	return must(t, c, err, "TLS cluster")
}

// Cluster starts a Redis Cluster as opts says with redis-cli --cluster
// create, and returns once every node reports cluster_state:ok, knows
// every other node, and every master has its replica in sync.
func (g *Group) Cluster(ctx context.Context, opts ClusterOptions) (*ClusterSet, error) {
	c := &ClusterSet{replicas: 1}
	if opts.NoReplicas {
		c.replicas = 0
	}
	for range clusterMasters * (1 + c.replicas) {
		s, err := g.newServer(ctx, serverSpec{cluster: true, tls: opts.TLS})
		if err != nil {
			return nil, fmt.Errorf("cluster node: %w", err)
		}
		c.nodes = append(c.nodes, s)
	}

	ctx, cancel := context.WithTimeout(ctx, clusterStartTimeout)
	defer cancel()
	var args []string
	if opts.TLS != nil {
		args = opts.TLS.cliArgs()
	}
	args = append(args, "--cluster", "create")
	args = append(args, c.Addrs()...)
	args = append(args, "--cluster-replicas", strconv.Itoa(c.replicas), "--cluster-yes")
	out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("redis-cli --cluster create: %w\n%s", err, out)
	}
	if err := testenv.Poll(ctx, clusterStartTimeout, func() error { return c.checkFormed(ctx) }); err != nil {
		return nil, fmt.Errorf("cluster %v did not form: %w", c.Addrs(), err)
	}
	return c, nil
}

// Addrs returns the addresses of all nodes, "127.0.0.1:PORT", in the order
// given to redis-cli --cluster create, which made the first three masters.
func (c *ClusterSet) Addrs() []string {
	return addrs(c.nodes)
}

// Nodes returns all nodes, in the order of Addrs.
func (c *ClusterSet) Nodes() []*Server {
	return slices.Clone(c.nodes)
}

// Masters returns the running nodes that report the master role now, by
// asking each one ROLE; nodes that are down or do not answer are left out.
// After a failover this includes promoted replicas, and for a moment a
// restarted former master may still report itself a master.
func (c *ClusterSet) Masters(t testing.TB) []*Server {
	t.Helper()
	var masters []*Server
	for _, n := range c.nodes {
		if !n.Running() {
			continue
		}
		role, err := n.doStrings(t.Context(), "ROLE")
		if err == nil && len(role) > 0 && role[0] == "master" {
			masters = append(masters, n)
		}
	}
	return masters
}

// WaitClusterOK waits until every running node reports cluster_state:ok
// and sees every slot served by a running master that is not flagged as
// failing. After Kill of a master it therefore also waits for a replica to
// take over. It fails the test after timeout.
func (c *ClusterSet) WaitClusterOK(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := testenv.Poll(t.Context(), timeout, func() error { return c.checkOK(t.Context()) }); err != nil {
		t.Fatalf("redistest: cluster %v: %v", c.Addrs(), err)
	}
}

// clusterNode is one line of CLUSTER NODES.
type clusterNode struct {
	addr  string // host:port, without the @busport
	flags []string
	link  string // "connected" or "disconnected"
	slots bool   // whether it serves slots
}

func (n clusterNode) is(flag string) bool { return slices.Contains(n.flags, flag) }

func (n clusterNode) failing() bool {
	return n.is("fail") || n.is("fail?") || n.is("handshake") || n.is("noaddr")
}

func (s *Server) clusterNodes(ctx context.Context) ([]clusterNode, error) {
	out, err := s.doString(ctx, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		a, _, _ := strings.Cut(f[1], "@")
		nodes = append(nodes, clusterNode{
			addr:  a,
			flags: strings.Split(f[2], ","),
			link:  f[7],
			slots: len(f) > 8,
		})
	}
	return nodes, nil
}

// checkOK is WaitClusterOK's condition.
func (c *ClusterSet) checkOK(ctx context.Context) error {
	running := map[string]bool{}
	for _, n := range c.nodes {
		running[n.Addr()] = n.Running()
	}
	for _, n := range c.nodes {
		if !running[n.Addr()] {
			continue
		}
		info, err := n.doString(ctx, "CLUSTER", "INFO")
		if err != nil {
			return err
		}
		if st := infoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.Addr(), st)
		}
		nodes, err := n.clusterNodes(ctx)
		if err != nil {
			return err
		}
		for _, cn := range nodes {
			if cn.is("master") && cn.slots && (cn.failing() || !running[cn.addr]) {
				return fmt.Errorf("%s: slots still served by %s %v", n.Addr(), cn.addr, cn.flags)
			}
		}
	}
	return nil
}

// checkFormed is the start condition: checkOK, plus every node knows the 3
// healthy masters with slots and their connected replicas, and every
// replica reports its link to its master up.
func (c *ClusterSet) checkFormed(ctx context.Context) error {
	if err := c.checkOK(ctx); err != nil {
		return err
	}
	for _, n := range c.nodes {
		nodes, err := n.clusterNodes(ctx)
		if err != nil {
			return err
		}
		var masters, replicas int
		for _, cn := range nodes {
			switch {
			case cn.failing() || cn.link != "connected":
			case cn.is("master") && cn.slots:
				masters++
			case cn.is("slave"):
				replicas++
			}
		}
		if masters != clusterMasters || replicas != clusterMasters*c.replicas {
			return fmt.Errorf("%s sees %d healthy masters and %d replicas", n.Addr(), masters, replicas)
		}
		info, err := n.doString(ctx, "INFO", "replication")
		if err != nil {
			return err
		}
		if infoField(info, "role") == "slave" {
			if st := infoField(info, "master_link_status"); st != "up" {
				return fmt.Errorf("%s: master_link_status:%s", n.Addr(), st)
			}
		}
	}
	return nil
}
