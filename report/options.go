package report

import (
	"cmp"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/defaults"
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
	defaults.Positive(&o.SampleKeys, DefaultSampleKeys)
	defaults.Positive(&o.MaxScanKeys, DefaultMaxScanKeys)
	defaults.Positive(&o.TopKeys, DefaultTopKeys)
	o.MinLookups = cmp.Or(o.MinLookups, DefaultMinLookups)
	defaults.Positive(&o.LowHitRatio, DefaultLowHitRatio)
	defaults.Positive(&o.ShortTTL, DefaultShortTTL)
	defaults.Positive(&o.MemoryHigh, DefaultMemoryHigh)
	if o.Now == nil {
		o.Now = time.Now
	}
}
