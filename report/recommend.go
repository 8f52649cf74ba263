package report

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/filecache/filecache/internal/redisinfo"
)

// Severities of a Recommendation.
const (
	SeverityWarning = "warning"
	SeverityInfo    = "info"
)

// Recommendation is one finding and what to do about it.
type Recommendation struct {
	Severity string `json:"severity"`
	Code     string `json:"code"` // low_hit_ratio, ttl_too_short, maxmemory_policy, maxmemory_unbounded, memory_near_limit, evictions, keys_without_ttl, node_unreachable
	Subject  string `json:"subject"`
	Message  string `json:"message"`
}

// recommend derives the recommendations from what the report found.
func recommend(rep *Report, opts *Options, samples map[string]*sample) []Recommendation {
	out := []Recommendation{}
	add := func(sev, code, subject, format string, args ...any) {
		out = append(out, Recommendation{Severity: sev, Code: code, Subject: subject, Message: fmt.Sprintf(format, args...)})
	}
	for _, f := range rep.Families {
		if f.Lookups < opts.MinLookups || f.HitRatio >= opts.LowHitRatio {
			continue
		}
		avgTTL := time.Duration(f.AvgTTLSeconds * float64(time.Second))
		if f.Sampled > 0 && f.AvgTTLSeconds > 0 && avgTTL < opts.ShortTTL {
			add(SeverityWarning, "ttl_too_short", f.Family,
				"hit ratio %.2f over %d lookups while its keys have %v of TTL left on average: entries likely expire before they are read again; raise the family's TTL",
				f.HitRatio, f.Lookups, avgTTL.Round(time.Second))
			continue
		}
		add(SeverityWarning, "low_hit_ratio", f.Family,
			"hit ratio %.2f over %d lookups (below %.2f): little reuse, or invalidations too frequent; check the access pattern, the TTL, and whether caching this family pays",
			f.HitRatio, f.Lookups, opts.LowHitRatio)
	}
	if r := rep.Redis; r != nil {
		policies := map[string][]string{}
		var unbounded, high []string
		for _, n := range r.Nodes {
			if n.Error != "" {
				add(SeverityWarning, "node_unreachable", n.Addr, "INFO failed: %s", n.Error)
				continue
			}
			if n.Role != "master" && n.Role != "" {
				continue
			}
			// The check serve runs at start-up and shows in /readyz.
			if p := n.MaxMemoryPolicy; !redisinfo.CachePolicy(p) {
				policies[p] = append(policies[p], n.Addr)
			}
			if n.MaxMemory == 0 {
				unbounded = append(unbounded, n.Addr)
			} else if float64(n.UsedMemory) >= opts.MemoryHigh*float64(n.MaxMemory) {
				high = append(high, fmt.Sprintf("%s (%s of %s)", n.Addr, Bytes(n.UsedMemory), Bytes(n.MaxMemory)))
			}
		}
		for _, p := range slices.Sorted(maps.Keys(policies)) {
			add(SeverityWarning, "maxmemory_policy", strings.Join(policies[p], ", "),
				"maxmemory-policy is %s: %s; a cache should evict any key, least recently or least frequently used: set maxmemory-policy allkeys-lru (or allkeys-lfu, which also lets this report list hot keys)",
				p, policyEffect(p))
		}
		if len(unbounded) > 0 {
			add(SeverityWarning, "maxmemory_unbounded", strings.Join(unbounded, ", "),
				"maxmemory is 0 (unbounded): the cache grows until the machine runs out of memory; set maxmemory below the memory available to Redis")
		}
		if len(high) > 0 {
			add(SeverityWarning, "memory_near_limit", strings.Join(high, ", "),
				"used memory is at least %.0f%% of maxmemory: evictions are near or happening; raise maxmemory or shorten TTLs", opts.MemoryHigh*100)
		}
		if r.EvictedKeys > 0 {
			add(SeverityInfo, "evictions", "redis",
				"%d keys evicted since the servers started: memory pressure drops entries before their TTL", r.EvictedKeys)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(samples)) {
		s := samples[name]
		n := 0
		for i := range s.names {
			if s.ttl[i] == -1 {
				n++
			}
		}
		if n > 0 {
			add(SeverityWarning, "keys_without_ttl", name,
				"%d of %d sampled keys have no expiry: every cache key must have a TTL, or a stale value can live forever", n, len(s.names))
		}
	}
	return out
}

func policyEffect(p string) string {
	switch {
	case p == "noeviction":
		return "when memory is full, writes fail with OOM errors instead of evicting"
	case strings.HasPrefix(p, "volatile-"):
		return "only keys with a TTL are evicted"
	}
	return "entries are evicted without regard to their use"
}

// Bytes formats n bytes with a binary unit: 512 B, 1.5 KiB, 12.0 MiB.
func Bytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
