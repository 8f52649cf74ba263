package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/redis/rueidis"
)

// Defaults of Options.
const (
	DefaultSampleKeys  = 1000
	DefaultMaxScanKeys = 1_000_000
	DefaultTopKeys     = 10
	DefaultMinLookups  = 100
	DefaultLowHitRatio = 0.5
	DefaultShortTTL    = 10 * time.Minute
	DefaultMemoryHigh  = 0.9
	// maxFamilies bounds the groups of keys of unknown families; the rest
	// are counted under OtherFamily.
	maxFamilies = 64
)

// OtherFamily groups the keys that belong to no known family.
const OtherFamily = "(other)"

// HotKeys is implemented by a cache that knows its most accessed keys.
type HotKeys interface {
	// HotKeys returns up to n keys, the most accessed first.
	HotKeys(n int) []string
}

// Options configures Build. The zero value of every field means its
// default.
type Options struct {
	// Prefix is the cache's key prefix; only keys under it are scanned.
	// Default: none, every key of the database.
	Prefix string
	// Families are the key families to classify keys into, besides those of
	// Stats and "tag" (the tag sets). Default: none.
	Families []string
	// Stats are the cache's counters (Cache.Stats) for the hit ratios.
	// Default: none, the hit ratios are unknown.
	Stats []cache.FamilyStats
	// Audit, if set, are the consistency auditor's figures of the process
	// (see audit.Stats). Default: none, the report has no audit section.
	Audit *audit.Stats
	// HotKeys, if set, gives the top keys. Default: OBJECT FREQ when the
	// maxmemory-policy is an LFU one.
	HotKeys HotKeys
	// SampleKeys is how many keys per family are sampled with MEMORY USAGE
	// and PTTL. Default: DefaultSampleKeys.
	SampleKeys int
	// MaxScanKeys bounds the keys SCAN walks per node. Default:
	// DefaultMaxScanKeys.
	MaxScanKeys int
	// TopKeys is how many top keys are listed. Default: DefaultTopKeys.
	TopKeys int
	// MinLookups is the traffic a family needs before its hit ratio counts
	// for a recommendation. Default: DefaultMinLookups.
	MinLookups uint64
	// LowHitRatio is the hit ratio below which a family is flagged.
	// Default: DefaultLowHitRatio.
	LowHitRatio float64
	// ShortTTL is the mean remaining TTL below which a family with a low
	// hit ratio is told its TTL is likely too short. Default:
	// DefaultShortTTL.
	ShortTTL time.Duration
	// MemoryHigh is the used_memory/maxmemory share flagged as near the
	// limit. Default: DefaultMemoryHigh.
	MemoryHigh float64
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *Options) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.SampleKeys, DefaultSampleKeys)
	def(&o.MaxScanKeys, DefaultMaxScanKeys)
	def(&o.TopKeys, DefaultTopKeys)
	if o.MinLookups == 0 {
		o.MinLookups = DefaultMinLookups
	}
	if o.LowHitRatio <= 0 {
		o.LowHitRatio = DefaultLowHitRatio
	}
	if o.ShortTTL <= 0 {
		o.ShortTTL = DefaultShortTTL
	}
	if o.MemoryHigh <= 0 {
		o.MemoryHigh = DefaultMemoryHigh
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Report is the cache efficiency report.
type Report struct {
	GeneratedAt     time.Time        `json:"generated_at"`
	Store           string           `json:"store"` // "redis standalone", "redis cluster", "memory"
	Totals          Ratio            `json:"totals"`
	Families        []Family         `json:"families"`
	Redis           *Redis           `json:"redis,omitempty"`
	TopKeys         TopKeys          `json:"top_keys"`
	Recommendations []Recommendation `json:"recommendations"`
	Notes           []string         `json:"notes,omitempty"`
	Audit           *audit.Stats     `json:"audit,omitempty"`
}

// Ratio is hits and misses by tier, and the hit ratios they make.
type Ratio struct {
	Lookups       uint64  `json:"lookups"`
	NearHits      uint64  `json:"near_hits"`
	StoreHits     uint64  `json:"store_hits"`
	Misses        uint64  `json:"misses"`
	HitRatio      float64 `json:"hit_ratio"`       // (near + store hits) / lookups
	NearHitRatio  float64 `json:"near_hit_ratio"`  // near hits / lookups
	StoreHitRatio float64 `json:"store_hit_ratio"` // store hits / lookups
}

func newRatio(near, store, misses uint64) Ratio {
	r := Ratio{NearHits: near, StoreHits: store, Misses: misses, Lookups: near + store + misses}
	if r.Lookups > 0 {
		n := float64(r.Lookups)
		r.HitRatio = round(float64(near+store) / n)
		r.NearHitRatio = round(float64(near) / n)
		r.StoreHitRatio = round(float64(store) / n)
	}
	return r
}

// Family is what the report knows of one key family.
type Family struct {
	Family string `json:"family"`
	Ratio
	// Keys is the number of keys of the family in Redis: counted, or
	// estimated when the scan was truncated.
	Keys int64 `json:"keys"`
	// Sampled is how many keys MemoryBytes, AvgValueBytes, AvgTTLSeconds
	// and TTL come from.
	Sampled       int     `json:"sampled"`
	MemoryBytes   int64   `json:"memory_bytes"` // AvgValueBytes * Keys
	AvgValueBytes int64   `json:"avg_value_bytes"`
	AvgTTLSeconds float64 `json:"avg_ttl_seconds"` // mean remaining TTL of the sampled keys with one
	// TTL is the distribution of the remaining TTL of the sampled keys.
	TTL []Bucket `json:"ttl"`
}

// Bucket is one range of remaining TTLs and how many sampled keys fall in
// it.
type Bucket struct {
	Bucket string `json:"bucket"`
	Keys   int    `json:"keys"`
}

// The TTL buckets, in order; NoTTL holds the keys without an expiry.
const NoTTL = "no_ttl"

var ttlBuckets = []struct {
	label string
	below time.Duration // upper bound, exclusive; 0: none
}{
	{"<1m", time.Minute},
	{"1m-10m", 10 * time.Minute},
	{"10m-1h", time.Hour},
	{"1h-6h", 6 * time.Hour},
	{"6h-24h", 24 * time.Hour},
	{">=24h", 0},
	{NoTTL, -1},
}

// BucketOf returns the label of the TTL bucket of ttl; a negative ttl means
// no expiry.
func BucketOf(ttl time.Duration) string {
	if ttl < 0 {
		return NoTTL
	}
	for _, b := range ttlBuckets {
		if b.below > 0 && ttl < b.below {
			return b.label
		}
	}
	return ">=24h"
}

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

// TopKeys are the most accessed keys, when some source can tell.
type TopKeys struct {
	Available bool     `json:"available"`
	Source    string   `json:"source,omitempty"` // "cache", "OBJECT FREQ (sample)"
	Reason    string   `json:"reason,omitempty"` // why they are unavailable
	Keys      []HotKey `json:"keys,omitempty"`
}

// HotKey is one top key; Freq is the LFU counter of OBJECT FREQ (0 when
// the source gives no count).
type HotKey struct {
	Key  string `json:"key"`
	Freq int64  `json:"freq,omitempty"`
}

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

// Build gathers the report. client is the Redis deployment (nil with the
// in-process store: the report then holds the hit ratios only). It fails
// only when no Redis node answers.
func Build(ctx context.Context, client rueidis.Client, opts Options) (*Report, error) {
	opts.setDefaults()
	rep := &Report{GeneratedAt: opts.Now().UTC(), Store: "memory", Families: []Family{}, Recommendations: []Recommendation{}}
	fams := map[string]*Family{}
	family := func(name string) *Family {
		f, ok := fams[name]
		if !ok {
			f = &Family{Family: name}
			fams[name] = f
		}
		return f
	}
	var near, store, misses uint64
	for _, s := range opts.Stats {
		f := family(s.Family)
		f.Ratio = newRatio(s.NearHits, s.Hits, s.Misses)
		near, store, misses = near+s.NearHits, store+s.Hits, misses+s.Misses
	}
	rep.Totals = newRatio(near, store, misses)
	if len(opts.Stats) == 0 || rep.Totals.Lookups == 0 {
		rep.Notes = append(rep.Notes, "no cache lookups counted by this process: per-family hit ratios come from the counters of the process that builds the report (GET /admin/cache/report on a serving instance); the Redis keyspace hit ratio covers every client")
	}

	var samples map[string]*sample
	if client != nil {
		rep.Store = "redis " + string(client.Mode())
		r, masters, err := readInfo(ctx, client)
		if err != nil {
			return nil, err
		}
		rep.Redis = r
		known := slices.Concat(opts.Families, []string{"tag"})
		for _, s := range opts.Stats {
			known = append(known, s.Family)
		}
		samples, err = scanKeys(ctx, masters, known, &opts, r)
		if err != nil {
			return nil, err
		}
		for name, s := range samples {
			s.fill(family(name))
		}
	} else {
		rep.Notes = append(rep.Notes, "in-process store: key counts, memory and TTLs are sampled only on Redis")
	}
	for _, name := range slices.Sorted(maps.Keys(fams)) {
		f := fams[name]
		if f.TTL == nil {
			f.TTL = emptyBuckets()
		}
		rep.Families = append(rep.Families, *f)
	}
	rep.TopKeys = topKeys(&opts, rep.Redis, samples)
	rep.Recommendations = recommend(rep, &opts, samples)
	addAudit(rep, opts.Audit)
	return rep, nil
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

func emptyBuckets() []Bucket {
	out := make([]Bucket, len(ttlBuckets))
	for i, b := range ttlBuckets {
		out[i].Bucket = b.label
	}
	return out
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

// topKeys lists the most accessed keys from the cache, or from OBJECT FREQ
// over the sample.
func topKeys(opts *Options, r *Redis, samples map[string]*sample) TopKeys {
	if opts.HotKeys != nil {
		keys := opts.HotKeys.HotKeys(opts.TopKeys)
		out := TopKeys{Available: true, Source: "cache"}
		for _, k := range keys {
			out.Keys = append(out.Keys, HotKey{Key: k})
		}
		return out
	}
	var hot []HotKey
	lfu := false
	for _, s := range samples {
		if s.freq == nil {
			continue
		}
		lfu = true
		for i, k := range s.names {
			if s.ttl[i] != -2 {
				hot = append(hot, HotKey{Key: k, Freq: s.freq[i]})
			}
		}
	}
	if !lfu {
		reason := "the cache does not track hot keys, and OBJECT FREQ needs an LFU maxmemory-policy (allkeys-lfu)"
		if r == nil {
			reason = "the cache does not track hot keys"
		}
		return TopKeys{Reason: reason}
	}
	slices.SortFunc(hot, func(a, b HotKey) int { return cmp.Or(cmp.Compare(b.Freq, a.Freq), cmp.Compare(a.Key, b.Key)) })
	if len(hot) > opts.TopKeys {
		hot = hot[:opts.TopKeys]
	}
	return TopKeys{Available: true, Source: "OBJECT FREQ (sample)", Keys: hot}
}

func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }
