package metrics

import (
	"github.com/filecache/filecache/audit"
	"github.com/prometheus/client_golang/prometheus"
)

// AuditSource is what CollectAudit reads: an *audit.Auditor.
type AuditSource interface {
	Stats() audit.Stats
}

var (
	inconsistencyDesc = prometheus.NewDesc("cache_inconsistency_total",
		"Cached entries found holding what the database no longer holds (and repaired), by family and age: how long after the database changed, as the bucket's lower bound (0s, 1s, 10s, 60s) or unknown.",
		[]string{"family", "age"}, nil)
	inconsistencyAgeDesc = prometheus.NewDesc("cache_inconsistency_oldest_age_seconds",
		"Age of the oldest inconsistency the auditor found since the process started; 0 if none.", nil, nil)
	auditSamplesDesc = prometheus.NewDesc("cache_audit_samples_total",
		"Keys checked by the consistency auditor, by family and result (consistent, empty, in_flight, inconsistent, error).",
		[]string{"family", "result"}, nil)
	auditReadsDesc = prometheus.NewDesc("cache_audit_database_reads_total",
		"Database reads of the consistency auditor (its cost), by family.", []string{"family"}, nil)
	auditRepairedDesc = prometheus.NewDesc("cache_audit_repaired_total",
		"Inconsistent entries the auditor deleted, by family.", []string{"family"}, nil)
	auditSkippedDesc = prometheus.NewDesc("cache_audit_skipped_total",
		"Checks the auditor did not make, by reason (no_key, queue_full, hashed_key).", []string{"reason"}, nil)
	auditFollowUpsDesc = prometheus.NewDesc("cache_audit_followups_total",
		"Checks of the keys of sampled writes at a delay after the write, by delay and result.",
		[]string{"after", "result"}, nil)
	auditWalksDesc = prometheus.NewDesc("cache_audit_walks_total",
		"Complete walks of the keyspace by the auditor's sampler.", nil, nil)
	auditRateDesc = prometheus.NewDesc("cache_audit_rate",
		"Configured database reads per second of the auditor (CACHE_AUDIT_RATE); 0 when off.", nil, nil)
)

// CollectAudit registers the pull-style collector of src's figures: the
// cache_inconsistency_* and cache_audit_* series, read at every scrape.
// Every family, result, age and reason is exported from the start, at 0,
// so that rate() and alerts see the series before the first event.
func (m *Metrics) CollectAudit(src AuditSource) error {
	return m.reg.Register(auditCollector{src})
}

type auditCollector struct{ src AuditSource }

func (auditCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{inconsistencyDesc, inconsistencyAgeDesc, auditSamplesDesc, auditReadsDesc,
		auditRepairedDesc, auditSkippedDesc, auditFollowUpsDesc, auditWalksDesc, auditRateDesc} {
		ch <- d
	}
}

func (c auditCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.src.Stats()
	counter := func(d *prometheus.Desc, n uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(n), labels...)
	}
	for _, f := range s.Families {
		for _, age := range audit.AgeBuckets() {
			counter(inconsistencyDesc, f.Inconsistent[age], f.Family, age)
		}
		for _, r := range audit.Results() {
			counter(auditSamplesDesc, f.Results[r.String()], f.Family, r.String())
		}
		counter(auditReadsDesc, f.DatabaseReads, f.Family)
		counter(auditRepairedDesc, f.Repaired, f.Family)
	}
	for reason, n := range s.Skipped {
		counter(auditSkippedDesc, n, reason)
	}
	for _, fu := range s.FollowUps {
		for _, r := range audit.Results() {
			counter(auditFollowUpsDesc, fu.Results[r.String()], fu.After, r.String())
		}
	}
	counter(auditWalksDesc, s.Walks)
	ch <- prometheus.MustNewConstMetric(inconsistencyAgeDesc, prometheus.GaugeValue, s.OldestAgeSeconds)
	ch <- prometheus.MustNewConstMetric(auditRateDesc, prometheus.GaugeValue, s.Rate)
}
