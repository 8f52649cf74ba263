package metrics

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/prometheus/client_golang/prometheus"
)

// redisSeries is one INFO field exported per node.
type redisSeries struct {
	field string
	desc  *prometheus.Desc
	typ   prometheus.ValueType
}

func nodeDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, []string{"node"}, nil)
}

var (
	redisUpDesc   = nodeDesc("redis_up", "Whether the last INFO of the node succeeded (1) or failed (0).")
	redisInfoDesc = prometheus.NewDesc("redis_node_info", "Role, version and maxmemory-policy of the node; always 1.",
		[]string{"node", "role", "version", "maxmemory_policy"}, nil)
	redisRetriesDesc = prometheus.NewDesc("cache_store_retries_total",
		"Redis command attempts retried by the store.", nil, nil)
	redisUnreplicatedDesc = prometheus.NewDesc("cache_store_unreplicated_deletes_total",
		"Deletes that the online replicas of their masters did not all acknowledge within the store's ReplicaWait: a failover then could bring their keys back.", nil, nil)
	redisKeysDesc   = nodeDesc("redis_keys", "Keys held by the node, over all databases.")
	redisSeriesList = []redisSeries{
		{"connected_clients", nodeDesc("redis_connected_clients", "Client connections of the node."), prometheus.GaugeValue},
		{"used_memory", nodeDesc("redis_used_memory_bytes", "Memory used by the node (used_memory)."), prometheus.GaugeValue},
		{"maxmemory", nodeDesc("redis_maxmemory_bytes", "maxmemory of the node; 0 means unbounded."), prometheus.GaugeValue},
		{"evicted_keys", nodeDesc("redis_evicted_keys_total", "Keys evicted by the node for maxmemory."), prometheus.CounterValue},
		{"expired_keys", nodeDesc("redis_expired_keys_total", "Keys expired by the node."), prometheus.CounterValue},
		{"keyspace_hits", nodeDesc("redis_keyspace_hits_total", "Successful key lookups on the node."), prometheus.CounterValue},
		{"keyspace_misses", nodeDesc("redis_keyspace_misses_total", "Failed key lookups on the node."), prometheus.CounterValue},
	}
)

// redisCollector exports the INFO of the last poll of every node.
type redisCollector struct {
	redis   Redis
	timeout time.Duration
	log     *slog.Logger

	mu    sync.Mutex
	nodes map[string]redisinfo.Info // node address to its INFO; nil INFO: the poll failed
}

func newRedisCollector(r Redis, timeout time.Duration, log *slog.Logger) *redisCollector {
	return &redisCollector{redis: r, timeout: timeout, log: log}
}

// poll runs INFO on every node the client knows (every master and replica
// of a Cluster) in parallel and keeps the results for the next scrapes.
func (c *redisCollector) poll(ctx context.Context) {
	client := c.redis.Client()
	if client == nil {
		return // not connected yet
	}
	nodes := client.Nodes()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[string]redisinfo.Info, len(nodes))
	for addr, node := range nodes {
		wg.Go(func() {
			nctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			info, err := redisinfo.Fetch(nctx, node)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("metrics: Redis INFO failed", "node", addr, "err", err)
				}
				info = nil
			}
			mu.Lock()
			out[addr] = info
			mu.Unlock()
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // cancelled: keep the last complete poll
	}
	c.mu.Lock()
	c.nodes = out
	c.mu.Unlock()
}

func (c *redisCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- redisUpDesc
	ch <- redisInfoDesc
	ch <- redisKeysDesc
	for _, s := range redisSeriesList {
		ch <- s.desc
	}
	if _, ok := c.redis.(interface{ Retries() uint64 }); ok {
		ch <- redisRetriesDesc
	}
	if _, ok := c.redis.(interface{ Unreplicated() uint64 }); ok {
		ch <- redisUnreplicatedDesc
	}
}

func (c *redisCollector) Collect(ch chan<- prometheus.Metric) {
	if r, ok := c.redis.(interface{ Retries() uint64 }); ok {
		ch <- prometheus.MustNewConstMetric(redisRetriesDesc, prometheus.CounterValue, float64(r.Retries()))
	}
	if r, ok := c.redis.(interface{ Unreplicated() uint64 }); ok {
		ch <- prometheus.MustNewConstMetric(redisUnreplicatedDesc, prometheus.CounterValue, float64(r.Unreplicated()))
	}
	c.mu.Lock()
	nodes := c.nodes
	c.mu.Unlock()
	for _, addr := range slices.Sorted(maps.Keys(nodes)) {
		info := nodes[addr]
		if info == nil {
			ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, 0, addr)
			continue
		}
		ch <- prometheus.MustNewConstMetric(redisUpDesc, prometheus.GaugeValue, 1, addr)
		ch <- prometheus.MustNewConstMetric(redisInfoDesc, prometheus.GaugeValue, 1,
			addr, info.Role(), info["redis_version"], info["maxmemory_policy"])
		keys, _ := info.Keys()
		ch <- prometheus.MustNewConstMetric(redisKeysDesc, prometheus.GaugeValue, float64(keys), addr)
		for _, s := range redisSeriesList {
			if v, ok := info.Int(s.field); ok {
				ch <- prometheus.MustNewConstMetric(s.desc, s.typ, float64(v), addr)
			}
		}
	}
}
