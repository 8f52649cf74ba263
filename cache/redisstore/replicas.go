package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"
)

// Redis replicates asynchronously: a master that acknowledged an UNLINK and
// dies before any replica received it leaves the promoted replica with the
// deleted value, which every instance then reads as current (the
// consistency checker saw it under cluster-master-kill). So where a
// master has online replicas, Delete sends it the UNLINKs of its keys and
// then one WAIT for all of them, on one connection, and returns only once
// they hold the deletes; if the master dies first, Delete fails and the
// invalidation stays in the outbox, to be delivered to the promoted replica.
// Replicas that do not acknowledge within ReplicaWait are counted
// (Unreplicated) and logged in aggregate, not an error: a lagging replica
// must not turn every write into an outage.
//
// These deletes go through a second rueidis client without client-side
// caching: rueidis runs a pipeline that holds a blocking command (WAIT) on
// a dedicated connection, and on the tracking client those carry CLIENT
// TRACKING too, so each would hear this process's own writes, and one
// closed on a timeout would flush every near cache. The masters' WAITs run
// in parallel, one per master however many slots the keys hash to.
// Keys of masters without an online replica take the ordinary routed path.
// This process hears its own waited deletes as invalidations (they come
// from a connection other than its tracking one); they drop again what
// Delete drops anyway.

// DefaultReplicaWait is the default Options.ReplicaWait: a replica in sync
// on the same network acknowledges in well under a millisecond
// (BenchmarkDelete), so 100 ms covers a busy replica and bounds what a
// lagging one adds to a write.
const DefaultReplicaWait = 100 * time.Millisecond

const (
	// replicasRefresh is how often the Store re-reads the masters, their
	// slots and their online replicas.
	replicasRefresh = 5 * time.Second
	// refreshGap is the least time between two refreshes that a failed
	// or redirected delete asks for.
	refreshGap = 50 * time.Millisecond
	// unreplicatedLogEvery is the least time between two log lines about
	// deletes that replicas did not acknowledge in time.
	unreplicatedLogEvery = time.Minute
)

// replication sends the deletes that wait for replicas.
type replication struct {
	client rueidis.Client // without tracking: its dedicated connections hear nothing
	wait   int64          // WAIT timeout, ms
	topo   atomic.Pointer[topology]
	kick   chan struct{} // asks for a refresh now
}

// topology is what the Store knows of the masters at one refresh.
type topology struct {
	masters []master
	slots   []int16 // Cluster: slot to index in masters, -1 unknown; nil elsewhere
	waits   bool    // some master has an online replica
}

// master is one master and how many online replicas follow it.
type master struct {
	addr     string
	client   rueidis.Client // on the untracked client; nil while it does not know addr
	replicas int64
}

// Unreplicated returns how many deletes were not acknowledged by every
// online replica of their masters within ReplicaWait: a failover in that
// window could bring their keys back.
func (s *Store) Unreplicated() uint64 { return s.unreplicated.Load() }

// startReplication opens the untracked client and reads the topology once,
// so that the first delete already knows it; the refresh then runs until
// ctx ends.
func (s *Store) startReplication(ctx, bg context.Context) error {
	co := s.opts.clientOption()
	co.DisableCache = true
	co.ClientTrackingOptions = nil
	co.CacheSizeEachConn = 0
	co.PipelineMultiplex = 0
	if co.ClientName != "" {
		co.ClientName += "-wait"
	}
	// Only CLUSTER SLOTS goes through its routing, so it would rarely
	// learn of a node on its own; Nodes must know the masters.
	co.ClusterOption.ShardsRefreshInterval = replicasRefresh
	client, err := newClient(co, s.opts)
	if err != nil {
		return err
	}
	s.repl = &replication{client: client, wait: max(s.opts.ReplicaWait.Milliseconds(), 1), kick: make(chan struct{}, 1)}
	if err := s.refreshTopology(ctx); err != nil {
		// No WAIT until a refresh succeeds: a master that has no replica
		// would hold every delete for ReplicaWait.
		s.opts.Logger.Warn("redisstore: cannot read the replicas; deletes do not wait for them until it can", "err", err)
	}
	s.done.Go(func() { s.watchTopology(bg) })
	return nil
}

// watchTopology refreshes the topology every replicasRefresh and when a
// delete asks, and logs the deletes replicas did not acknowledge in time,
// at most once per unreplicatedLogEvery, until ctx ends.
func (s *Store) watchTopology(ctx context.Context) {
	t := time.NewTicker(replicasRefresh)
	defer t.Stop()
	var logged uint64
	var loggedAt time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.repl.kick:
		}
		if err := s.refreshTopology(ctx); err != nil && ctx.Err() == nil {
			s.opts.Logger.Debug("redisstore: refresh of the replicas failed", "err", err)
		}
		if n := s.unreplicated.Load(); n > logged && time.Since(loggedAt) >= unreplicatedLogEvery {
			s.opts.Logger.Warn("redisstore: deletes not acknowledged by the replicas within ReplicaWait; a failover could bring their keys back",
				"deletes", n-logged, "total", n, "replica_wait", s.opts.ReplicaWait)
			logged, loggedAt = n, time.Now()
		}
		// Coalesce a burst of requests into one refresh.
		select {
		case <-ctx.Done():
			return
		case <-time.After(refreshGap):
		}
	}
}

// refreshSoon asks watchTopology for a refresh without waiting for it.
func (r *replication) refreshSoon() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// refreshTopology reads the masters (CLUSTER SLOTS in a Cluster, else the
// one master) and how many online replicas each has (INFO replication).
func (s *Store) refreshTopology(ctx context.Context) error {
	r := s.repl
	old := r.topo.Load()
	t := &topology{}
	if r.client.Mode() != rueidis.ClientModeCluster {
		t.masters = []master{{client: r.client}}
		for addr := range r.client.Nodes() {
			t.masters[0].addr = addr
		}
	} else if err := t.readSlots(ctx, s, r.client); err != nil {
		return err
	}
	var errs []error
	for i := range t.masters {
		m := &t.masters[i]
		if m.client == nil {
			m.replicas = old.replicasOf(m.addr)
			continue
		}
		var info string
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			var err error
			info, err = m.client.Do(ctx, m.client.B().Info().Section("replication").Build()).ToString()
			return err
		})
		if err != nil {
			// Keep what was known: a master that does not answer fails
			// its deletes anyway, and one that answers again still has
			// the replicas it had.
			m.replicas = old.replicasOf(m.addr)
			errs = append(errs, fmt.Errorf("INFO replication of %s: %w", m.addr, err))
			continue
		}
		m.replicas = onlineReplicas(info)
	}
	for _, m := range t.masters {
		t.waits = t.waits || m.replicas > 0
	}
	r.topo.Store(t)
	return errors.Join(errs...)
}

// readSlots fills t from CLUSTER SLOTS: the masters, their clients on
// client's nodes, and the slot map.
func (t *topology) readSlots(ctx context.Context, s *Store, client rueidis.Client) error {
	var ranges []rueidis.RedisMessage
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		var err error
		ranges, err = client.Do(ctx, client.B().ClusterSlots().Build()).ToArray()
		return err
	})
	if err != nil {
		return fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	nodes := client.Nodes()
	index := map[string]int16{}
	t.slots = make([]int16, 16384)
	for i := range t.slots {
		t.slots[i] = -1
	}
	for _, rg := range ranges {
		// [start, end, [ip, port, id, ...], replicas...]
		v, err := rg.ToArray()
		if err != nil || len(v) < 3 {
			continue
		}
		start, err1 := v[0].AsInt64()
		end, err2 := v[1].AsInt64()
		node, err3 := v[2].ToArray()
		if err1 != nil || err2 != nil || err3 != nil || len(node) < 2 || start < 0 || end >= int64(len(t.slots)) {
			continue
		}
		ip, _ := node[0].ToString()
		port, err := node[1].AsInt64()
		if ip == "" || ip == "?" || err != nil {
			continue
		}
		addr := fmt.Sprintf("%s:%d", ip, port)
		if strings.Contains(ip, ":") {
			addr = fmt.Sprintf("[%s]:%d", ip, port)
		}
		i, ok := index[addr]
		if !ok {
			i = int16(len(t.masters))
			index[addr] = i
			t.masters = append(t.masters, master{addr: addr, client: nodes[addr]})
		}
		for slot := start; slot <= end; slot++ {
			t.slots[slot] = i
		}
	}
	if len(t.masters) == 0 {
		return errors.New("CLUSTER SLOTS named no master")
	}
	return nil
}

// replicasOf returns the online replicas t knew for the master at addr.
func (t *topology) replicasOf(addr string) int64 {
	if t == nil {
		return 0
	}
	for _, m := range t.masters {
		if m.addr == addr {
			return m.replicas
		}
	}
	return 0
}

// onlineReplicas counts the replicas of an INFO replication reply whose
// state is online (connected and past the initial sync): a replica still
// loading the master's snapshot does not acknowledge, and WAIT would time
// out on it.
func onlineReplicas(info string) int64 {
	var n int64
	for line := range strings.Lines(info) {
		// slave0:ip=127.0.0.1,port=7001,state=online,offset=123,lag=0
		name, fields, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "slave") || name == "slave_read_only" {
			continue
		}
		for f := range strings.SplitSeq(fields, ",") {
			if f == "state=online" {
				n++
			}
		}
	}
	return n
}

// waitedGroup is the keys of one master that Delete sends with a WAIT.
type waitedGroup struct {
	m    *master
	cmds rueidis.Commands // an UNLINK per key
	keys []string
}

// waitedResult is what a waitedGroup's round trip returned.
type waitedResult struct {
	n     int
	short bool     // fewer replicas acknowledged than the master has
	moved []string // keys the master no longer serves
	err   error
}

// deleteWaited is Delete where some master has online replicas: per such
// master, its UNLINKs and one WAIT on one dedicated connection of the
// untracked client, masters in parallel; the other keys, and those a
// master redirected (MOVED, ASK: a slot that moved since the last
// refresh), take the routed path without WAIT.
func (s *Store) deleteWaited(ctx context.Context, keys []string) (int, error) {
	r := s.repl
	n, short := 0, false
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		t := r.topo.Load()
		groups, routed, unknown := t.group(r, keys)
		n, short = 0, unknown
		res := make([]waitedResult, len(groups))
		var wg sync.WaitGroup
		for i := range groups {
			wg.Go(func() { res[i] = r.send(ctx, groups[i]) })
		}
		var errs []error
		if len(routed) > 0 {
			c, err := s.unlinkRouted(ctx, routed)
			n += c
			errs = append(errs, err)
		}
		wg.Wait()
		var moved []string
		for _, g := range res {
			n += g.n
			short = short || g.short
			moved = append(moved, g.moved...)
			errs = append(errs, g.err)
		}
		if len(moved) > 0 {
			c, err := s.unlinkRouted(ctx, unlinks(s.cmd(), moved))
			n += c
			short = true // no WAIT covered them
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			r.refreshSoon()
			return err
		}
		return nil
	})
	if err == nil && short {
		s.unreplicated.Add(1)
		r.refreshSoon() // a replica gone or behind: count again
	}
	return n, err
}

// group splits keys into the groups of masters with online replicas and
// the UNLINKs of the rest.
func (t *topology) group(r *replication, keys []string) (groups []waitedGroup, routed rueidis.Commands, short bool) {
	b := r.client.B() // in a Cluster, it computes each command's slot
	if t.slots == nil {
		// One master: the untracked client itself, which follows a
		// Sentinel failover.
		m := &t.masters[0]
		if m.replicas == 0 {
			return nil, unlinks(b, keys), false
		}
		return []waitedGroup{{m: m, cmds: unlinks(b, keys), keys: keys}}, nil, false
	}
	byMaster := make(map[int16]*waitedGroup, len(t.masters))
	for _, k := range keys {
		c := b.Unlink().Key(k).Build()
		i := t.slots[c.Slot()]
		if i < 0 || t.masters[i].replicas == 0 || t.masters[i].client == nil {
			// A master with replicas that the untracked client does
			// not know yet gets no WAIT: counted.
			short = short || (i >= 0 && t.masters[i].replicas > 0)
			routed = append(routed, c)
			continue
		}
		g := byMaster[i]
		if g == nil {
			g = &waitedGroup{m: &t.masters[i]}
			byMaster[i] = g
		}
		g.cmds = append(g.cmds, c)
		g.keys = append(g.keys, k)
	}
	for _, g := range byMaster {
		groups = append(groups, *g)
	}
	return groups, routed, short
}

// unlinks returns an UNLINK per key.
func unlinks(b rueidis.Builder, keys []string) rueidis.Commands {
	cmds := make(rueidis.Commands, len(keys), len(keys)+1)
	for i, k := range keys {
		cmds[i] = b.Unlink().Key(k).Build()
	}
	return cmds
}

// send runs g on one dedicated connection of its master (rueidis runs a
// pipeline that holds a blocking command on one), so that the WAIT covers
// the UNLINKs before it.
func (r *replication) send(ctx context.Context, g waitedGroup) waitedResult {
	var res waitedResult
	cmds := append(g.cmds, g.m.client.B().Wait().Numreplicas(g.m.replicas).Timeout(r.wait).Build())
	rs := g.m.client.DoMulti(ctx, cmds...)
	for i, k := range g.keys {
		c, err := rs[i].AsInt64()
		if err != nil {
			if re, ok := rueidis.IsRedisErr(err); ok {
				if _, moved := re.IsMoved(); moved {
					res.moved = append(res.moved, k)
					continue
				}
				if _, ask := re.IsAsk(); ask {
					res.moved = append(res.moved, k)
					continue
				}
			}
			res.err = fmt.Errorf("unlink on %s: %w", g.m.addr, err)
			return res
		}
		res.n += int(c)
	}
	acked, err := rs[len(g.keys)].AsInt64()
	if re, ok := rueidis.IsRedisErr(err); ok && hasPrefix(re.Error(), "NOPERM") {
		// An ACL user without WAIT: the deletes stand, unconfirmed.
		res.short = true
		return res
	}
	if err != nil {
		// The master failed before its replicas acknowledged: the deletes
		// may be lost in a failover, so the caller must deliver again.
		res.err = fmt.Errorf("wait for the replicas of %s: %w", g.m.addr, err)
		return res
	}
	res.short = acked < g.m.replicas
	return res
}

// unlinkRouted sends UNLINKs on the tracking client, which routes each to
// its node (following redirects) and spares this process the echo.
func (s *Store) unlinkRouted(ctx context.Context, cmds rueidis.Commands) (int, error) {
	n := 0
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		c, err := r.AsInt64()
		if err != nil {
			return n, err
		}
		n += int(c)
	}
	return n, nil
}
