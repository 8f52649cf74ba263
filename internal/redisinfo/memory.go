package redisinfo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/rueidis"
)

// Memory is how one Redis node bounds its memory.
type Memory struct {
	// MaxMemory is maxmemory in bytes; 0 means unbounded.
	MaxMemory int64
	// Policy is maxmemory-policy, such as allkeys-lru.
	Policy string
	// Source is how they were read: "CONFIG GET", or "INFO" where the
	// user may not run CONFIG.
	Source string
}

// CachePolicy reports whether a maxmemory-policy suits a cache: it evicts
// any key, least recently or least frequently used.
func CachePolicy(policy string) bool { return policy == "allkeys-lru" || policy == "allkeys-lfu" }

// Problem says what is wrong with m for a cache, naming maxmemory and
// maxmemory-policy, or returns "" when both are fit.
func (m Memory) Problem() string {
	bounded, evicts := m.MaxMemory > 0, CachePolicy(m.Policy)
	if bounded && evicts {
		return ""
	}
	var why string
	switch {
	case !bounded && !evicts:
		why = "memory is unbounded and keys are not evicted by use"
	case !bounded:
		why = "memory is unbounded: the cache grows until the machine runs out of memory"
	case m.Policy == "noeviction":
		why = "when memory is full, writes fail with OOM instead of evicting"
	default:
		why = "eviction does not pick any key by use"
	}
	return fmt.Sprintf("maxmemory %d, maxmemory-policy %s: %s; a cache needs maxmemory > 0 and maxmemory-policy allkeys-lru or allkeys-lfu (redis.conf, or REDIS_SET_MAXMEMORY_POLICY=allkeys-lru)",
		m.MaxMemory, m.Policy, why)
}

// FetchMemory reads maxmemory and maxmemory-policy of node with CONFIG GET,
// or from INFO memory when CONFIG is refused (a restricted ACL user, a
// managed Redis that renames it).
func FetchMemory(ctx context.Context, node rueidis.Client) (Memory, error) {
	kv, cerr := node.Do(ctx, node.B().ConfigGet().Parameter("maxmemory", "maxmemory-policy").Build()).AsStrMap()
	if cerr == nil {
		n, err := strconv.ParseInt(kv["maxmemory"], 10, 64)
		if err == nil && kv["maxmemory-policy"] != "" {
			return Memory{MaxMemory: n, Policy: kv["maxmemory-policy"], Source: "CONFIG GET"}, nil
		}
	}
	info, err := Fetch(ctx, node, "memory")
	if err != nil {
		return Memory{}, fmt.Errorf("CONFIG GET: %v; INFO memory: %w", cerr, err)
	}
	n, ok := info.Int("maxmemory")
	if !ok || info["maxmemory_policy"] == "" {
		return Memory{}, fmt.Errorf("INFO memory has no maxmemory or maxmemory_policy")
	}
	return Memory{MaxMemory: n, Policy: info["maxmemory_policy"], Source: "INFO"}, nil
}

// SetPolicy sets maxmemory-policy on node with CONFIG SET.
func SetPolicy(ctx context.Context, node rueidis.Client, policy string) error {
	return node.Do(ctx, node.B().ConfigSet().ParameterValue().ParameterValue("maxmemory-policy", policy).Build()).Error()
}
