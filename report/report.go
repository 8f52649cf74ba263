package report

import (
	"context"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/redis/rueidis"

	"github.com/filecache/filecache/audit"
)

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

// round rounds a ratio to 4 decimals.
func round(f float64) float64 { return math.Round(f*1e4) / 1e4 }
