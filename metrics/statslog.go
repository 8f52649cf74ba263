package metrics

import (
	"context"
	"log/slog"
	"math"

	"github.com/filecache/filecache/cache"
)

// statsLogger logs the hit ratio of each family over the last interval.
type statsLogger struct {
	m    *Metrics
	last map[string]cache.FamilyStats
}

// log writes one line: the hit ratio over the interval, overall and per
// family, with the lookups behind it. It stays silent before CollectCache.
func (l *statsLogger) log(ctx context.Context) {
	src := l.m.source()
	if src == nil {
		return
	}
	stats := src.Stats()
	var hits, lookups uint64
	attrs := make([]any, 0, len(stats)+3)
	attrs = append(attrs, slog.Duration("interval", l.m.opts.StatsLogInterval))
	next := make(map[string]cache.FamilyStats, len(stats))
	for _, s := range stats {
		next[s.Family] = s
		prev := l.last[s.Family]
		h := (s.NearHits + s.Hits) - (prev.NearHits + prev.Hits)
		n := h + s.Misses - prev.Misses
		hits += h
		lookups += n
		attrs = append(attrs, slog.Group(s.Family,
			slog.Float64("hit_ratio", ratio(h, n)),
			slog.Uint64("lookups", n),
			slog.Uint64("near_hits", s.NearHits-prev.NearHits),
			slog.Uint64("loads", s.Loads-prev.Loads),
			slog.Uint64("errors", s.Errors-prev.Errors),
		))
	}
	l.last = next
	attrs = append(attrs, slog.Float64("hit_ratio", ratio(hits, lookups)), slog.Uint64("lookups", lookups))
	l.m.log.InfoContext(ctx, "cache hit ratio", attrs...)
}

// ratio returns a/b rounded to 4 digits, or 0 when b is 0.
func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return math.Round(float64(a)/float64(b)*1e4) / 1e4
}
