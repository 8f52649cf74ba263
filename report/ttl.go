package report

import "time"

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

// emptyBuckets returns every TTL bucket, empty.
func emptyBuckets() []Bucket {
	out := make([]Bucket, len(ttlBuckets))
	for i, b := range ttlBuckets {
		out[i].Bucket = b.label
	}
	return out
}
