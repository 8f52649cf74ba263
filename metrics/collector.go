package metrics

import (
	"context"
	"reflect"
	"strings"
	"unicode"

	"github.com/filecache/filecache/cache"
	"github.com/prometheus/client_golang/prometheus"
)

// statField is one integer field of cache.FamilyStats and the series it
// becomes.
type statField struct {
	index []int
	desc  *prometheus.Desc
	typ   prometheus.ValueType
	tier  string // the tier label value of cache_hit_total, else ""
}

var (
	hitDesc = prometheus.NewDesc("cache_hit_total",
		"Lookups answered by the cache, by family and tier (store: the Store, e.g. Redis; near: the in-process near cache).",
		[]string{"family", "tier"}, nil)
	nearFlushesDesc = prometheus.NewDesc("cache_near_flushes_total",
		"Whole near-cache flushes (lost tracking connection, pattern or tag invalidations).", nil, nil)
)

// knownFields names the series of the fields of cache.FamilyStats (Hits
// and NearHits aside: cache_hit_total). Any other unsigned field is
// exported as the counter cache_<snake_case>_total{family}, any other
// signed one as the gauge cache_<snake_case>{family}.
var knownFields = map[string]struct{ name, help string }{
	"Misses":     {"cache_miss_total", "Lookups the cache could not answer, by family."},
	"Loads":      {"cache_load_total", "Loader calls (loads from the source of truth), by family."},
	"LoadErrors": {"cache_load_errors_total", "Loader calls that failed (not found excluded), by family."},
	"LeaseWaits": {"cache_lease_wait_total", "Lookups that waited on another loader's lease, by family."},
	"Corrupt":    {"cache_corrupt_total", "Values that could not be decoded and were dropped, by family."},
	"Errors":     {"cache_store_errors_total", "Store operations that failed, by family."},
	"NearSize":   {"cache_near_entries", "Entries held by the near cache, by family."},
}

// statFields maps every integer field of cache.FamilyStats to its series.
// It reads the type, not a value, so a field added to FamilyStats is
// exported without a change here.
func statFields() []statField {
	t := reflect.TypeFor[cache.FamilyStats]()
	var out []statField
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		sf := statField{index: f.Index, typ: prometheus.CounterValue}
		suffix := "_total"
		switch f.Type.Kind() {
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			sf.typ, suffix = prometheus.GaugeValue, ""
		default:
			continue
		}
		switch f.Name {
		case "Hits":
			sf.desc, sf.tier = hitDesc, "store"
		case "NearHits":
			sf.desc, sf.tier = hitDesc, "near"
		default:
			k, ok := knownFields[f.Name]
			if !ok {
				k.name = "cache_" + snakeCase(f.Name) + suffix
				k.help = "FamilyStats." + f.Name + ", by family."
			}
			sf.desc = prometheus.NewDesc(k.name, k.help, []string{"family"}, nil)
		}
		out = append(out, sf)
	}
	return out
}

// snakeCase turns "StaleServed" into "stale_served".
func snakeCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cacheCollector reads Cache.Stats at every scrape.
type cacheCollector struct {
	src    StatsSource
	fields []statField
	descs  []*prometheus.Desc
}

func newCacheCollector(src StatsSource) *cacheCollector {
	c := &cacheCollector{src: src, fields: statFields()}
	seen := map[*prometheus.Desc]bool{}
	for _, f := range c.fields {
		if !seen[f.desc] {
			seen[f.desc] = true
			c.descs = append(c.descs, f.desc)
		}
	}
	if _, ok := src.(interface{ NearFlushes() uint64 }); ok {
		c.descs = append(c.descs, nearFlushesDesc)
	}
	return c
}

func (c *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.src.Stats() {
		v := reflect.ValueOf(s)
		for _, f := range c.fields {
			fv := v.FieldByIndex(f.index)
			var n float64
			if f.typ == prometheus.GaugeValue {
				n = float64(fv.Int())
			} else {
				n = float64(fv.Uint())
			}
			if f.tier != "" {
				ch <- prometheus.MustNewConstMetric(f.desc, f.typ, n, s.Family, f.tier)
			} else {
				ch <- prometheus.MustNewConstMetric(f.desc, f.typ, n, s.Family)
			}
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
