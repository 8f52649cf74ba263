package consistency

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
)

const (
	// outage is how long the first cycle of a fault keeps Redis, or one
	// instance's path to it, away: long enough for the breakers to open
	// (5 failures) and to reach their first half-open probe (after 2 s).
	outage = 2 * time.Second
	// outageSpread is the range of the later cycles' outages, from
	// outage - outageSpread/4: Redis then comes back at different moments
	// around the instances' first probes, which is when the instances may
	// leave the outage at different times.
	outageSpread = 400 * time.Millisecond
	// recoveryTimeout bounds the wait after a cycle for both instances to
	// report their breaker closed and cache reads admitted.
	recoveryTimeout = 20 * time.Second
	// healthy is how long the load runs on a recovered cache before the
	// next cycle.
	healthy = time.Second
	// clientKillEvery is the period of CLIENT KILL during its outage.
	clientKillEvery = 500 * time.Millisecond
	// failoverTimeout bounds the wait for a Cluster replica to take over.
	failoverTimeout = 30 * time.Second
)

// Fault is one disturbance a run injects into its Redis while the load
// runs, in cycles: from 30% of the load's duration, and again once both
// instances have recovered, while the cycle would end before 70% of it.
type Fault struct {
	Name    string
	Summary string
	// cluster: the run uses a private 3-master Cluster, which the instances
	// reach directly (its nodes announce their own addresses, so there is
	// no proxy), instead of a standalone server behind one proxy per
	// instance.
	cluster bool
	// once: the fault is injected in one cycle only.
	once bool
	// inject disturbs d for about outage and returns once the fault is
	// over. It runs on the goroutine of Run, which may call tb's Fatal.
	inject func(ctx context.Context, d *deployment, outage time.Duration) error
}

// deployment is the Redis of one run, as a fault sees it.
type deployment struct {
	tb      testing.TB
	redis   *redistest.Server // standalone, with an AOF in dataDir
	dataDir string
	proxies []*Proxy // one per instance, in the order of the instances
	cluster *redistest.ClusterSet
}

// Faults returns every fault, "none" (the steady state) first.
func Faults() []Fault {
	return []Fault{
		{Name: "none", Summary: "steady state, no fault", once: true,
			inject: func(context.Context, *deployment, time.Duration) error { return nil }},
		{Name: "kill-restart-aof", Summary: "Redis killed with SIGKILL, restarted from its AOF after about 2s",
			inject: func(ctx context.Context, d *deployment, outage time.Duration) error {
				return d.killRestart(ctx, outage, false)
			}},
		{Name: "kill-restart-empty", Summary: "Redis killed with SIGKILL, restarted empty after about 2s",
			inject: func(ctx context.Context, d *deployment, outage time.Duration) error {
				return d.killRestart(ctx, outage, true)
			}},
		{Name: "client-kill", Summary: fmt.Sprintf("CLIENT KILL of every client connection every %v for about 2s", clientKillEvery),
			inject: clientKill},
		{Name: "client-pause", Summary: "CLIENT PAUSE ALL for about 2s",
			inject: func(ctx context.Context, d *deployment, outage time.Duration) error {
				if err := redisDo(ctx, d.redis.Addr(), "CLIENT", "PAUSE", fmt.Sprint(outage.Milliseconds()), "ALL"); err != nil {
					return err
				}
				sleep(ctx, outage)
				return nil
			}},
		{Name: "proxy-cut", Summary: "instance a cut from Redis for about 2s (connections closed, new ones refused); b still reaches it",
			inject: func(ctx context.Context, d *deployment, outage time.Duration) error {
				return d.proxyFault(ctx, outage, Cut)
			}},
		{Name: "proxy-hang", Summary: "instance a's path to Redis hangs for about 2s (connections open, nothing passes); b still reaches it",
			inject: func(ctx context.Context, d *deployment, outage time.Duration) error {
				return d.proxyFault(ctx, outage, Hang)
			}},
		{Name: "cluster-master-kill", Summary: "a master of a 3-master Cluster killed with SIGKILL; its replica takes over",
			cluster: true, once: true, inject: clusterMasterKill},
	}
}

// outageOf returns the outage of cycle n: outage first, then spread
// evenly at random over [outage - outageSpread/4, outage + 3*outageSpread/4).
func outageOf(n int) time.Duration {
	if n == 0 {
		return outage
	}
	return outage - outageSpread/4 + rand.N(outageSpread)
}

// FaultByName returns the fault called name.
func FaultByName(name string) (Fault, bool) {
	for _, f := range Faults() {
		if f.Name == name {
			return f, true
		}
	}
	return Fault{}, false
}

// killRestart kills Redis, waits the outage, and starts it again on the
// same port, from its AOF or with no data at all.
func (d *deployment) killRestart(ctx context.Context, outage time.Duration, empty bool) error {
	d.redis.Kill()
	sleep(ctx, outage)
	if empty {
		entries, err := os.ReadDir(d.dataDir)
		if err != nil {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(d.dataDir, e.Name())); err != nil {
				return err
			}
		}
	}
	d.redis.Restart(d.tb)
	return nil
}

// clientKill closes every client connection of Redis at once, then again
// every clientKillEvery until the outage is over.
func clientKill(ctx context.Context, d *deployment, outage time.Duration) error {
	end := time.Now().Add(outage)
	for {
		// SKIPME yes (the default) spares the connection that sends it.
		for _, typ := range []string{"normal", "pubsub"} {
			if err := redisDo(ctx, d.redis.Addr(), "CLIENT", "KILL", "TYPE", typ); err != nil {
				return err
			}
		}
		if time.Until(end) < clientKillEvery {
			return nil
		}
		sleep(ctx, clientKillEvery)
	}
}

// proxyFault puts the first instance's proxy in mode m for the outage.
func (d *deployment) proxyFault(ctx context.Context, outage time.Duration, m Mode) error {
	d.proxies[0].SetMode(m)
	sleep(ctx, outage)
	d.proxies[0].SetMode(Forward)
	return nil
}

// clusterMasterKill kills a master and waits until its replica serves its
// slots.
func clusterMasterKill(_ context.Context, d *deployment, _ time.Duration) error {
	masters := d.cluster.Masters(d.tb)
	if len(masters) == 0 {
		return fmt.Errorf("cluster %v: no master answers", d.cluster.Addrs())
	}
	masters[0].Kill()
	d.cluster.WaitClusterOK(d.tb, failoverTimeout)
	return nil
}
