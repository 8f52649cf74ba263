package report

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/redis/rueidis"
)

// Redis is what INFO and SCAN told of the deployment.
type Redis struct {
	Mode           string  `json:"mode"`
	Nodes          []Node  `json:"nodes"`
	KeyspaceHits   int64   `json:"keyspace_hits"`
	KeyspaceMisses int64   `json:"keyspace_misses"`
	HitRatio       float64 `json:"hit_ratio"` // keyspace_hits / (hits + misses), every node
	EvictedKeys    int64   `json:"evicted_keys"`
	ExpiredKeys    int64   `json:"expired_keys"`
	UsedMemory     int64   `json:"used_memory_bytes"` // masters
	MaxMemory      int64   `json:"maxmemory_bytes"`   // masters; 0 when any is unbounded
	ScannedKeys    int64   `json:"scanned_keys"`
	ScanTruncated  bool    `json:"scan_truncated,omitempty"`
}

// Node is the INFO of one node.
type Node struct {
	Addr             string `json:"addr"`
	Role             string `json:"role,omitempty"`
	Version          string `json:"version,omitempty"`
	MaxMemoryPolicy  string `json:"maxmemory_policy,omitempty"`
	UsedMemory       int64  `json:"used_memory_bytes"`
	MaxMemory        int64  `json:"maxmemory_bytes"`
	Keys             int64  `json:"keys"`
	ConnectedClients int64  `json:"connected_clients"`
	EvictedKeys      int64  `json:"evicted_keys"`
	ExpiredKeys      int64  `json:"expired_keys"`
	KeyspaceHits     int64  `json:"keyspace_hits"`
	KeyspaceMisses   int64  `json:"keyspace_misses"`
	Error            string `json:"error,omitempty"`
}

// readInfo runs INFO on every node and returns the masters to scan.
func readInfo(ctx context.Context, client rueidis.Client) (*Redis, map[string]rueidis.Client, error) {
	nodes := client.Nodes()
	r := &Redis{Mode: string(client.Mode())}
	var mu sync.Mutex
	var wg sync.WaitGroup
	infos := map[string]redisinfo.Info{}
	for addr, node := range nodes {
		wg.Go(func() {
			info, err := redisinfo.Fetch(ctx, node)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				r.Nodes = append(r.Nodes, Node{Addr: addr, Error: err.Error()})
				return
			}
			infos[addr] = info
		})
	}
	wg.Wait()
	if len(infos) == 0 {
		return nil, nil, fmt.Errorf("report: no Redis node answered INFO (%d nodes)", len(nodes))
	}
	masters := map[string]rueidis.Client{}
	anyUnbounded := false
	for addr, info := range infos {
		get := func(k string) int64 { n, _ := info.Int(k); return n }
		keys, _ := info.Keys()
		n := Node{
			Addr: addr, Role: info.Role(), Version: info["redis_version"], MaxMemoryPolicy: info["maxmemory_policy"],
			UsedMemory: get("used_memory"), MaxMemory: get("maxmemory"), Keys: keys,
			ConnectedClients: get("connected_clients"), EvictedKeys: get("evicted_keys"), ExpiredKeys: get("expired_keys"),
			KeyspaceHits: get("keyspace_hits"), KeyspaceMisses: get("keyspace_misses"),
		}
		r.Nodes = append(r.Nodes, n)
		r.KeyspaceHits += n.KeyspaceHits
		r.KeyspaceMisses += n.KeyspaceMisses
		r.EvictedKeys += n.EvictedKeys
		r.ExpiredKeys += n.ExpiredKeys
		if n.Role == "master" || n.Role == "" {
			masters[addr] = nodes[addr]
			r.UsedMemory += n.UsedMemory
			r.MaxMemory += n.MaxMemory
			anyUnbounded = anyUnbounded || n.MaxMemory == 0
		}
	}
	if anyUnbounded {
		r.MaxMemory = 0
	}
	if t := r.KeyspaceHits + r.KeyspaceMisses; t > 0 {
		r.HitRatio = round(float64(r.KeyspaceHits) / float64(t))
	}
	slices.SortFunc(r.Nodes, func(a, b Node) int {
		return cmp.Or(cmp.Compare(roleOrder(a.Role), roleOrder(b.Role)), cmp.Compare(a.Addr, b.Addr))
	})
	return r, masters, nil
}

func roleOrder(role string) int {
	switch role {
	case "master":
		return 0
	case "slave":
		return 1
	}
	return 2
}
