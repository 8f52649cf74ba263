package metrics_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/metrics"
)

// The Metrics is the cache's Observer and reads its Stats at every scrape.
func Example() {
	ctx := context.Background()
	m, err := metrics.New(metrics.Options{})
	if err != nil {
		panic(err)
	}
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		panic(err)
	}
	c, err := cache.New(store, cache.Options{Observer: m})
	if err != nil {
		panic(err)
	}
	if err := m.CollectCache(c); err != nil {
		panic(err)
	}
	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[string]{TTL: time.Hour})
	if err != nil {
		panic(err)
	}
	load := func(ctx context.Context, id string) (string, error) { return "report.pdf", nil }
	for range 3 {
		if _, err := files.GetOrLoad(ctx, "42", load); err != nil {
			panic(err)
		}
	}

	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if strings.HasPrefix(line, `cache_hit_total{family="file"`) || strings.HasPrefix(line, `cache_miss_total{family="file"`) {
			fmt.Print(line)
		}
	}
	// Output:
	// cache_hit_total{family="file",tier="near"} 0
	// cache_hit_total{family="file",tier="stale"} 0
	// cache_hit_total{family="file",tier="store"} 2
	// cache_miss_total{family="file"} 1
}
