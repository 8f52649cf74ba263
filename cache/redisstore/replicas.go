package redisstore

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// Redis replicates asynchronously: a master that acknowledged an UNLINK and
// dies before its replica received it leaves the promoted replica with the
// deleted value, which every instance then reads as current, long after the
// write it belonged to was acknowledged (the consistency checker saw it
// under cluster-master-kill). So on a deployment whose masters have
// replicas, Delete sends WAIT after its UNLINKs, on the same connection, and
// returns only once a replica holds them; if the master dies first, Delete
// fails and the invalidation stays in the outbox, to be delivered to the
// promoted replica. A replica that does not acknowledge within ReplicaWait
// is counted (Unreplicated), not an error: a lagging or lost replica must
// not turn every write into an outage.

// DefaultReplicaWait is the default Options.ReplicaWait.
const DefaultReplicaWait = 100 * time.Millisecond

// replicasRefresh is how often the Store re-reads whether every master has
// a replica.
const replicasRefresh = 5 * time.Second

// Unreplicated returns how many deletes a replica did not acknowledge
// within ReplicaWait: a failover in that window could bring their keys back.
func (s *Store) Unreplicated() uint64 { return s.unreplicated.Load() }

// watchReplicas re-reads every replicasRefresh whether every master has a
// connected replica, until ctx ends.
func (s *Store) watchReplicas(ctx context.Context) {
	t := time.NewTicker(replicasRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.replicated.Store(s.allReplicated(ctx))
	}
}

// allReplicated reports whether every master has at least one connected
// replica (INFO replication). It reports false when it cannot tell: a WAIT
// on a master without replicas would block for ReplicaWait on every delete.
func (s *Store) allReplicated(ctx context.Context) bool {
	masters, err := s.Masters(ctx)
	if err != nil || len(masters) == 0 {
		return false
	}
	for _, m := range masters {
		var info string
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			var err error
			info, err = m.Do(ctx, m.B().Info().Section("replication").Build()).ToString()
			return err
		})
		if err != nil || connectedReplicas(info) < 1 {
			return false
		}
	}
	return true
}

// connectedReplicas reads connected_slaves from an INFO replication reply,
// or -1.
func connectedReplicas(info string) int {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "connected_slaves:"); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return -1
}

// withWait returns cmds followed, when the masters have replicas, by one
// WAIT per slot of keys: the WAIT goes to the node of its slot, on the
// connection of the UNLINKs before it, and answers once a replica has them.
func (s *Store) withWait(cmds rueidis.Commands, keys []string) rueidis.Commands {
	if s.opts.ReplicaWait < 0 || !s.replicated.Load() {
		return cmds
	}
	ms := max(s.opts.ReplicaWait.Milliseconds(), 1) // WAIT with 0 blocks for ever
	cluster := s.client.Mode() == rueidis.ClientModeCluster
	seen := make(map[uint16]bool, 4)
	for _, k := range keys {
		w := s.cmd().Wait().Numreplicas(1).Timeout(ms).Build().SetSlot(k).Pin()
		if seen[w.Slot()] {
			continue
		}
		seen[w.Slot()] = true
		cmds = append(cmds, w)
		if !cluster {
			break // one server, one connection: one WAIT covers every key
		}
	}
	return cmds
}
