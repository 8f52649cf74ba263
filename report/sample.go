package report

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

// sample is what SCAN and the sampling found of one family.
type sample struct {
	keys   int64           // keys counted by SCAN
	nodes  []string        // node of each sampled key
	names  []string        // sampled keys
	memory []int64         // MEMORY USAGE, -1 when gone
	ttl    []time.Duration // PTTL; -1: no expiry; -2: gone
	freq   []int64         // OBJECT FREQ, when LFU
	scale  float64         // keys found per key counted (>1 when the scan was truncated)
}

func (s *sample) fill(f *Family) {
	f.Keys = int64(math.Round(float64(s.keys) * s.scale))
	counts := map[string]int{}
	var mem, ttlSum int64
	var withMem, withTTL int
	for i := range s.names {
		if s.ttl[i] == -2 || s.memory[i] < 0 {
			continue // expired meanwhile
		}
		f.Sampled++
		counts[BucketOf(s.ttl[i])]++
		mem += s.memory[i]
		withMem++
		if s.ttl[i] >= 0 {
			ttlSum += int64(s.ttl[i])
			withTTL++
		}
	}
	if withMem > 0 {
		f.AvgValueBytes = mem / int64(withMem)
		f.MemoryBytes = f.AvgValueBytes * f.Keys
	}
	if withTTL > 0 {
		f.AvgTTLSeconds = math.Round(time.Duration(ttlSum/int64(withTTL)).Seconds()*10) / 10
	}
	f.TTL = emptyBuckets()
	for i := range f.TTL {
		f.TTL[i].Keys = counts[f.TTL[i].Bucket]
	}
}

// classify returns the family of key (without the prefix): the longest
// known family it starts with (followed by ':'), else its first segment.
func classify(key string, known []string) string {
	best := ""
	for _, f := range known {
		if len(f) > len(best) && strings.HasPrefix(key, f) && len(key) > len(f) && key[len(f)] == ':' {
			best = f
		}
	}
	if best != "" {
		return best
	}
	if i := strings.IndexByte(key, ':'); i > 0 {
		return key[:i]
	}
	return OtherFamily
}

// scanKeys walks the cache's keys on every master, counts them by family,
// keeps the first SampleKeys of each, and samples their memory and TTL.
func scanKeys(ctx context.Context, masters map[string]rueidis.Client, known []string, opts *Options, r *Redis) (map[string]*sample, error) {
	lfu := false
	for _, n := range r.Nodes {
		if n.Role == "master" && strings.HasSuffix(n.MaxMemoryPolicy, "-lfu") {
			lfu = true
		}
	}
	samples := map[string]*sample{}
	pattern := cache.EscapeGlob(opts.Prefix) + "*"
	for _, addr := range slices.Sorted(maps.Keys(masters)) {
		node := masters[addr]
		var cursor uint64
		var scanned int64
		nodeCounts := map[string]int64{}
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return nil, fmt.Errorf("report: scan %s: %w", addr, err)
			}
			for _, k := range e.Elements {
				name := classify(strings.TrimPrefix(k, opts.Prefix), known)
				s, ok := samples[name]
				if !ok {
					if len(samples) >= maxFamilies && !slices.Contains(known, name) {
						name = OtherFamily
						s = samples[name]
					}
					if s == nil {
						s = &sample{scale: 1}
						samples[name] = s
					}
				}
				nodeCounts[name]++
				if len(s.names) < opts.SampleKeys {
					s.names = append(s.names, k)
					s.nodes = append(s.nodes, addr)
				}
			}
			scanned += int64(len(e.Elements))
			cursor = e.Cursor
			if cursor == 0 {
				break
			}
			if scanned >= int64(opts.MaxScanKeys) {
				r.ScanTruncated = true
				break
			}
		}
		r.ScannedKeys += scanned
		scale := 1.0
		if cursor != 0 {
			// Truncated: extrapolate this node's counts to its key count.
			for _, n := range r.Nodes {
				if n.Addr == addr && scanned > 0 && n.Keys > scanned {
					scale = float64(n.Keys) / float64(scanned)
				}
			}
		}
		for name, c := range nodeCounts {
			s := samples[name]
			// Merge the node's scale into the family's: a weighted mean.
			total := float64(s.keys)*s.scale + float64(c)*scale
			s.keys += c
			s.scale = total / float64(s.keys)
		}
	}
	for _, s := range samples {
		if err := s.measure(ctx, masters, lfu); err != nil {
			return nil, err
		}
	}
	return samples, nil
}

// measure pipelines MEMORY USAGE, PTTL (and OBJECT FREQ when lfu) for the
// sampled keys, node by node.
func (s *sample) measure(ctx context.Context, masters map[string]rueidis.Client, lfu bool) error {
	s.memory = make([]int64, len(s.names))
	s.ttl = make([]time.Duration, len(s.names))
	if lfu {
		s.freq = make([]int64, len(s.names))
	}
	const batch = 200
	for start := 0; start < len(s.names); start += batch {
		end := min(start+batch, len(s.names))
		byNode := map[string][]int{}
		for i := start; i < end; i++ {
			byNode[s.nodes[i]] = append(byNode[s.nodes[i]], i)
		}
		for addr, idx := range byNode {
			node := masters[addr]
			per := 2
			if lfu {
				per = 3
			}
			cmds := make(rueidis.Commands, 0, per*len(idx))
			for _, i := range idx {
				cmds = append(cmds,
					node.B().MemoryUsage().Key(s.names[i]).Build(),
					node.B().Pttl().Key(s.names[i]).Build())
				if lfu {
					cmds = append(cmds, node.B().ObjectFreq().Key(s.names[i]).Build())
				}
			}
			res := node.DoMulti(ctx, cmds...)
			for j, i := range idx {
				mem, err := res[per*j].AsInt64()
				switch {
				case rueidis.IsRedisNil(err):
					mem = -1
				case err != nil:
					return fmt.Errorf("report: MEMORY USAGE on %s: %w", addr, err)
				}
				ms, err := res[per*j+1].AsInt64()
				if err != nil {
					return fmt.Errorf("report: PTTL on %s: %w", addr, err)
				}
				s.memory[i] = mem
				switch ms {
				case -1, -2:
					s.ttl[i] = time.Duration(ms)
				default:
					s.ttl[i] = time.Duration(ms) * time.Millisecond
				}
				if lfu {
					// An error (a node not in LFU mode, a key gone) leaves 0.
					s.freq[i], _ = res[per*j+2].AsInt64()
				}
			}
		}
	}
	return nil
}
