package metrics

import (
	"context"

	"github.com/filecache/filecache/cache"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	hitDesc = prometheus.NewDesc("cache_hit_total",
		"Lookups answered by the cache, by family and tier (store: the Store, e.g. Redis; near: the in-process near cache; stale: a value past its TTL, served because a refresh failed or was slow).",
		[]string{"family", "tier"}, nil)
	nearFlushesDesc = prometheus.NewDesc("cache_near_flushes_total",
		"Whole near-cache flushes (lost tracking connection, pattern or tag invalidations).", nil, nil)
)

// familySeries is one series of cache.FamilyStats, by family.
type familySeries struct {
	desc *prometheus.Desc
	typ  prometheus.ValueType
	get  func(cache.FamilyStats) float64
}

func familyCounter(name, help string, get func(cache.FamilyStats) uint64) familySeries {
	return familySeries{
		desc: prometheus.NewDesc(name, help, []string{"family"}, nil),
		typ:  prometheus.CounterValue,
		get:  func(s cache.FamilyStats) float64 { return float64(get(s)) },
	}
}

// familyMetrics are the series of cache.FamilyStats besides the hits
// (cache_hit_total, by tier).
var familyMetrics = []familySeries{
	familyCounter("cache_miss_total", "Lookups the cache could not answer, by family.",
		func(s cache.FamilyStats) uint64 { return s.Misses }),
	familyCounter("cache_load_total", "Loader calls (loads from the source of truth), by family.",
		func(s cache.FamilyStats) uint64 { return s.Loads }),
	familyCounter("cache_load_errors_total", "Loader calls that failed (not found excluded), by family.",
		func(s cache.FamilyStats) uint64 { return s.LoadErrors }),
	familyCounter("cache_lease_wait_total", "Lookups that waited on another loader's lease, by family.",
		func(s cache.FamilyStats) uint64 { return s.LeaseWaits }),
	familyCounter("cache_eager_refresh_total", "Refreshes started before expiry (eager refresh), by family.",
		func(s cache.FamilyStats) uint64 { return s.Eager }),
	familyCounter("cache_corrupt_total", "Values that could not be decoded, or of the wrong type, and were dropped, by family.",
		func(s cache.FamilyStats) uint64 { return s.Corrupt }),
	familyCounter("cache_store_errors_total", "Store operations that failed, by family.",
		func(s cache.FamilyStats) uint64 { return s.Errors }),
	familyCounter("cache_refused_writes_total", "Writes the store refused for lack of memory (Redis maxmemory with noeviction), by family.",
		func(s cache.FamilyStats) uint64 { return s.Refused }),
	familyCounter("cache_fallback_total", "Loads made without the cache because the store failed, by family.",
		func(s cache.FamilyStats) uint64 { return s.Fallbacks }),
	familyCounter("cache_rejected_total", "Loads refused by the budget of loads while the store is down (503), by family.",
		func(s cache.FamilyStats) uint64 { return s.Rejected }),
	{
		desc: prometheus.NewDesc("cache_near_entries", "Entries held by the near cache, by family.", []string{"family"}, nil),
		typ:  prometheus.GaugeValue,
		get:  func(s cache.FamilyStats) float64 { return float64(s.NearSize) },
	},
}

// cacheCollector reads Cache.Stats at every scrape.
type cacheCollector struct{ src StatsSource }

func newCacheCollector(src StatsSource) *cacheCollector { return &cacheCollector{src: src} }

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- hitDesc
	for _, m := range familyMetrics {
		ch <- m.desc
	}
	if _, ok := c.src.(interface{ NearFlushes() uint64 }); ok {
		ch <- nearFlushesDesc
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Stats() {
		ch <- prometheus.MustNewConstMetric(hitDesc, prometheus.CounterValue, float64(s.Hits), s.Family, "store")
		ch <- prometheus.MustNewConstMetric(hitDesc, prometheus.CounterValue, float64(s.NearHits), s.Family, "near")
		ch <- prometheus.MustNewConstMetric(hitDesc, prometheus.CounterValue, float64(s.Stale), s.Family, "stale")
		for _, m := range familyMetrics {
			ch <- prometheus.MustNewConstMetric(m.desc, m.typ, m.get(s), s.Family)
		}
	}
	if nf, ok := c.src.(interface{ NearFlushes() uint64 }); ok {
		ch <- prometheus.MustNewConstMetric(nearFlushesDesc, prometheus.CounterValue, float64(nf.NearFlushes()))
	}
}

var (
	breakerDesc = prometheus.NewDesc("cache_breaker_state",
		"State of the circuit breaker in front of the cache store: 0 closed, 1 half-open, 2 open.", nil, nil)
	outboxPendingDesc = prometheus.NewDesc("outbox_pending_entries",
		"Invalidations committed to the outbox and not yet delivered to the cache.", nil, nil)
	outboxAgeDesc = prometheus.NewDesc("outbox_oldest_pending_age_seconds",
		"Age of the oldest undelivered outbox entry (replay lag); 0 when the outbox is empty.", nil, nil)
	outboxSetAsideDesc = prometheus.NewDesc("outbox_set_aside_entries",
		"Outbox entries given up on after the cache rejected them repeatedly; their keys expire by their TTL.", nil, nil)
)

// optionalCollector exports the values of Options' funcs at scrape time.
type optionalCollector struct{ m *Metrics }

func (c *optionalCollector) Describe(ch chan<- *prometheus.Desc) {
	if c.m.opts.BreakerState != nil {
		ch <- breakerDesc
	}
	if c.m.opts.Outbox != nil {
		ch <- outboxPendingDesc
		ch <- outboxAgeDesc
		ch <- outboxSetAsideDesc
	}
}

func (c *optionalCollector) Collect(ch chan<- prometheus.Metric) {
	o := c.m.opts
	if o.BreakerState != nil {
		ch <- prometheus.MustNewConstMetric(breakerDesc, prometheus.GaugeValue, float64(o.BreakerState()))
	}
	if o.Outbox != nil {
		// A scrape has no context of its own: this call is the root.
		ctx, cancel := context.WithTimeout(context.Background(), o.CollectTimeout)
		defer cancel()
		st, err := o.Outbox(ctx)
		if err != nil {
			c.m.log.Warn("metrics: outbox backlog not collected", "err", err)
			ch <- prometheus.NewInvalidMetric(outboxPendingDesc, err)
			return
		}
		age := 0.0
		if st.Pending > 0 && !st.Oldest.IsZero() {
			age = max(0, o.Now().Sub(st.Oldest).Seconds())
		}
		ch <- prometheus.MustNewConstMetric(outboxPendingDesc, prometheus.GaugeValue, float64(st.Pending))
		ch <- prometheus.MustNewConstMetric(outboxAgeDesc, prometheus.GaugeValue, age)
		ch <- prometheus.MustNewConstMetric(outboxSetAsideDesc, prometheus.GaugeValue, float64(st.SetAside))
	}
}
