package metrics_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/promtest"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/metrics"
)

// nodeSeries returns the per-node series of the poller for node.
func nodeSeries(node string) []string {
	var out []string
	for _, name := range []string{"redis_up", "redis_connected_clients", "redis_used_memory_bytes",
		"redis_maxmemory_bytes", "redis_keys", "redis_evicted_keys_total", "redis_expired_keys_total",
		"redis_keyspace_hits_total", "redis_keyspace_misses_total"} {
		out = append(out, fmt.Sprintf("%s{node=%q}", name, node))
	}
	return out
}

func TestRedisInfoPoller(t *testing.T) {
	opts := redisstoretest.StandaloneOptions(t)
	store := redisstoretest.Open(t, opts)
	m := newMetrics(t, metrics.Options{Redis: store})
	before := promtest.Scrape(t, m.Handler())
	if _, ok := before[fmt.Sprintf("redis_up{node=%q}", opts.Addrs[0])]; ok {
		t.Error("redis_up exported before the first poll")
	}
	m.PollRedis(t.Context())
	samples := promtest.Scrape(t, m.Handler())
	node := opts.Addrs[0]
	for _, s := range nodeSeries(node) {
		if _, ok := samples[s]; !ok {
			t.Errorf("%s not exported", s)
		}
	}
	if got := samples[fmt.Sprintf("redis_up{node=%q}", node)]; got != 1 {
		t.Errorf("redis_up = %v, want 1", got)
	}
	if got := samples[fmt.Sprintf("redis_connected_clients{node=%q}", node)]; got < 1 {
		t.Errorf("redis_connected_clients = %v, want >= 1", got)
	}
	if got := samples[fmt.Sprintf("redis_used_memory_bytes{node=%q}", node)]; got < 1<<10 {
		t.Errorf("redis_used_memory_bytes = %v, want > 1 KiB", got)
	}
	if _, ok := samples["cache_store_retries_total"]; !ok {
		t.Error("cache_store_retries_total not exported")
	}
	masters, err := store.Masters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	c := masters[node]
	policy, err := c.Do(t.Context(), c.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap()
	if err != nil {
		t.Fatal(err)
	}
	if !hasPrefixed(samples, fmt.Sprintf(`redis_node_info{maxmemory_policy=%q,node=%q,role="master",version="`, policy["maxmemory-policy"], node)) {
		t.Errorf("no redis_node_info of a %s master for %s", policy["maxmemory-policy"], node)
	}
}

func hasPrefixed(samples map[string]float64, prefix string) bool {
	for s := range samples {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// TestRedisInfoPollerRunAndDown runs the poller on a private server: the
// first poll happens at start, values are those of the server, and a dead
// server shows as redis_up 0 at the next poll.
func TestRedisInfoPollerRunAndDown(t *testing.T) {
	srv := redistest.Standalone(t, "--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru")
	store := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}, MaxRetries: -1})
	m := newMetrics(t, metrics.Options{Redis: store, RedisInfoInterval: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()

	up := fmt.Sprintf("redis_up{node=%q}", srv.Addr())
	var samples map[string]float64
	testenv.Eventually(t, 10*time.Second, func() error {
		if samples = promtest.Scrape(t, m.Handler()); samples[up] != 1 {
			return fmt.Errorf("redis_up = %v after Run started, want 1", samples[up])
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
	if got := samples[fmt.Sprintf("redis_maxmemory_bytes{node=%q}", srv.Addr())]; got != 10<<20 {
		t.Errorf("redis_maxmemory_bytes = %v, want %d", got, 10<<20)
	}
	if !hasPrefixed(samples, fmt.Sprintf(`redis_node_info{maxmemory_policy="allkeys-lru",node=%q,role="master"`, srv.Addr())) {
		t.Error("no redis_node_info with maxmemory_policy allkeys-lru")
	}

	srv.Kill()
	m.PollRedis(t.Context())
	samples = promtest.Scrape(t, m.Handler())
	if got, ok := samples[up]; !ok || got != 0 {
		t.Errorf("redis_up after Kill = %v (present %v), want 0", got, ok)
	}
	if _, ok := samples[fmt.Sprintf("redis_used_memory_bytes{node=%q}", srv.Addr())]; ok {
		t.Error("redis_used_memory_bytes of a dead node still exported")
	}
}

func TestRedisInfoPollerCluster(t *testing.T) {
	addrs := testenv.RequireList(t, redistest.EnvRedisClusterNodes)
	// rueidis leaves out replicas that are not yet "online" (still
	// syncing right after the cluster formed) until its next topology
	// refresh: reconnect until the client knows all 6 nodes.
	var store *redisstore.Store
	testenv.Eventually(t, 20*time.Second, func() error {
		s, err := redisstore.New(t.Context(), redisstore.Options{Addrs: addrs})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(s.Client().Nodes()); n != len(addrs) {
			s.Close()
			return fmt.Errorf("the client knows %d of the %d nodes", n, len(addrs))
		}
		store = s
		t.Cleanup(func() { s.Close() })
		return nil
	})
	m := newMetrics(t, metrics.Options{Redis: store})
	m.PollRedis(t.Context())
	samples := promtest.Scrape(t, m.Handler())
	roles := map[string]int{}
	for s, v := range samples {
		if !strings.HasPrefix(s, "redis_node_info{") || v != 1 {
			continue
		}
		for _, role := range []string{"master", "slave"} {
			if strings.Contains(s, `role="`+role+`"`) {
				roles[role]++
			}
		}
	}
	if roles["master"] != 3 || roles["slave"] != 3 {
		t.Errorf("redis_node_info roles = %v, want 3 masters and 3 replicas", roles)
	}
	for _, node := range addrs {
		if got := samples[fmt.Sprintf("redis_up{node=%q}", node)]; got != 1 {
			t.Errorf("redis_up{node=%q} = %v, want 1", node, got)
		}
	}
}
