package audit

import (
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/internal/durfmt"
)

// Result is the outcome of one check of a key.
type Result uint8

// The results of a check.
const (
	// Consistent: the cache holds what the database holds.
	Consistent Result = iota
	// Empty: the key holds nothing to compare (absent, expired, a lease
	// with no value, corrupt bytes a reader would drop).
	Empty
	// InFlight: the cache and the database differ, but a write explains
	// it: the outbox still holds an invalidation for the key, or the entry
	// changed while it was checked.
	InFlight
	// Inconsistent: the cache holds what the database no longer holds and
	// no write in flight explains it; the entry is repaired.
	Inconsistent
	// Failed: the store or the database could not be read.
	Failed
	nResults
)

var resultNames = [nResults]string{"consistent", "empty", "in_flight", "inconsistent", "error"}

// String returns the result as it appears in metrics and JSON:
// "consistent", "empty", "in_flight", "inconsistent" or "error".
func (r Result) String() string {
	if r < nResults {
		return resultNames[r]
	}
	return "unknown"
}

// Results lists every Result, in order.
func Results() []Result { return []Result{Consistent, Empty, InFlight, Inconsistent, Failed} }

// Age buckets of inconsistencies: how long after the database changed the
// cache still held the old copy, as the bucket's lower bound (Polaris'
// "inconsistent after t"). AgeUnknown is for a change of unknown time (a
// deleted row, a family without update times).
const (
	Age0s      = "0s"
	Age1s      = "1s"
	Age10s     = "10s"
	Age60s     = "60s"
	AgeUnknown = "unknown"
)

// ageBuckets are the bounded age labels, in order.
var ageBuckets = [...]struct {
	label string
	from  time.Duration
}{{Age0s, 0}, {Age1s, time.Second}, {Age10s, 10 * time.Second}, {Age60s, time.Minute}, {AgeUnknown, -1}}

// AgeBuckets returns the labels of the age buckets, in order.
func AgeBuckets() []string {
	out := make([]string, len(ageBuckets))
	for i, b := range ageBuckets {
		out[i] = b.label
	}
	return out
}

// ageBucket returns the index in ageBuckets of an age; known false means
// unknown.
func ageBucket(age time.Duration, known bool) int {
	if !known {
		return len(ageBuckets) - 1
	}
	i := 0
	for j := 1; j < len(ageBuckets)-1; j++ {
		if age >= ageBuckets[j].from {
			i = j
		}
	}
	return i
}

// Skip reasons: work the auditor wanted to do and did not.
const (
	// SkipNoKey: a sampling round found no key of an audited family
	// within its SCAN budget (an empty cache, or other keys only).
	SkipNoKey = "no_key"
	// SkipQueueFull: a write was not followed because the queue of
	// follow-ups was full.
	SkipQueueFull = "queue_full"
	// SkipHashedKey: a key whose part was hashed (too long to keep) names
	// no id the database can be asked about.
	SkipHashedKey = "hashed_key"
)

var skipReasons = []string{SkipNoKey, SkipQueueFull, SkipHashedKey}

// familyCounters count the checks of one family.
type familyCounters struct {
	results      [nResults]atomic.Uint64
	inconsistent [len(ageBuckets)]atomic.Uint64
	reads        atomic.Uint64 // database reads, outbox reads included
	repaired     atomic.Uint64
}

// followCounters count the follow-up checks made at one delay.
type followCounters struct {
	after   time.Duration
	results [nResults]atomic.Uint64
}

// counters are the auditor's statistics.
type counters struct {
	families map[string]*familyCounters // fixed at New
	follow   []*followCounters          // one per Options.FollowUps
	skipped  map[string]*atomic.Uint64  // by skip reason, fixed at New
	walks    atomic.Uint64
	oldest   atomic.Int64 // nanoseconds
}

func newCounters(families []Family, followUps []time.Duration) *counters {
	c := &counters{families: map[string]*familyCounters{}, skipped: map[string]*atomic.Uint64{}}
	for _, f := range families {
		c.families[f.name] = &familyCounters{}
	}
	for _, d := range followUps {
		c.follow = append(c.follow, &followCounters{after: d})
	}
	for _, r := range skipReasons {
		c.skipped[r] = new(atomic.Uint64)
	}
	return c
}

func (c *counters) skip(reason string) { c.skipped[reason].Add(1) }

// noteAge records the age of an inconsistency in the oldest-age gauge.
func (c *counters) noteAge(age time.Duration) {
	for {
		old := c.oldest.Load()
		if int64(age) <= old || c.oldest.CompareAndSwap(old, int64(age)) {
			return
		}
	}
}

// Stats is a snapshot of what the auditor did since it was made: the
// figures of GET /admin/cache/stats, the efficiency report and the
// cache_audit_* metrics.
type Stats struct {
	// Rate is the configured sampling rate, in database reads per second;
	// 0 when sampling is off.
	Rate float64 `json:"rate"`
	// Samples counts the keys checked, by sampling and by follow-ups.
	Samples uint64 `json:"samples"`
	// DatabaseReads counts the auditor's database reads: one per sample
	// that found something to compare, one more per suspected mismatch
	// (the outbox).
	DatabaseReads uint64 `json:"database_reads"`
	// Inconsistencies counts the inconsistencies found (and repaired).
	Inconsistencies uint64 `json:"inconsistencies"`
	// Repaired counts the inconsistent entries deleted.
	Repaired uint64 `json:"repaired"`
	// OldestAgeSeconds is the age of the oldest inconsistency found, 0 if
	// none (ages unknown aside).
	OldestAgeSeconds float64 `json:"oldest_age_seconds"`
	// Skipped counts the work not done, by reason (SkipNoKey,
	// SkipQueueFull, SkipHashedKey).
	Skipped map[string]uint64 `json:"skipped"`
	// Walks counts the complete walks of the keyspace by the sampler
	// (every key the walk's SCAN found was checked): at rate r, every
	// cached key is checked once per walk.
	Walks uint64 `json:"walks"`
	// Families are the figures of each audited family.
	Families []FamilyStats `json:"families"`
	// FollowUps are the checks of followed writes, by delay.
	FollowUps []FollowUpStats `json:"follow_ups"`
}

// FamilyStats are the audit figures of one family.
type FamilyStats struct {
	Family string `json:"family"`
	// Results counts the checks by Result name.
	Results map[string]uint64 `json:"results"`
	// Inconsistent counts the inconsistencies by age bucket (AgeBuckets).
	Inconsistent  map[string]uint64 `json:"inconsistent"`
	DatabaseReads uint64            `json:"database_reads"`
	Repaired      uint64            `json:"repaired"`
}

// FollowUpStats count the checks made After a followed write, by Result
// name.
type FollowUpStats struct {
	After   string            `json:"after"`
	Results map[string]uint64 `json:"results"`
}

func (c *counters) snapshot(rate float64, order []string) Stats {
	s := Stats{Rate: rate, Skipped: map[string]uint64{}, Walks: c.walks.Load(),
		OldestAgeSeconds: time.Duration(c.oldest.Load()).Seconds(), Families: []FamilyStats{}, FollowUps: []FollowUpStats{}}
	for r, n := range c.skipped {
		s.Skipped[r] = n.Load()
	}
	for _, name := range order {
		fc := c.families[name]
		fs := FamilyStats{Family: name, Results: map[string]uint64{}, Inconsistent: map[string]uint64{},
			DatabaseReads: fc.reads.Load(), Repaired: fc.repaired.Load()}
		for r := range nResults {
			n := fc.results[r].Load()
			fs.Results[r.String()] = n
			s.Samples += n
		}
		for i, b := range ageBuckets {
			n := fc.inconsistent[i].Load()
			fs.Inconsistent[b.label] = n
			s.Inconsistencies += n
		}
		s.DatabaseReads += fs.DatabaseReads
		s.Repaired += fs.Repaired
		s.Families = append(s.Families, fs)
	}
	for _, f := range c.follow {
		fs := FollowUpStats{After: durfmt.Short(f.after), Results: map[string]uint64{}}
		for r := range nResults {
			fs.Results[r.String()] = f.results[r].Load()
		}
		s.FollowUps = append(s.FollowUps, fs)
	}
	return s
}
