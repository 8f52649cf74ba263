package report_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/report"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/rueidis"
)

func newClient(t *testing.T, addrs ...string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: addrs, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func do(t *testing.T, c rueidis.Client, cmd rueidis.Completed) rueidis.RedisResult {
	t.Helper()
	res := c.Do(t.Context(), cmd)
	if err := res.Error(); err != nil && !rueidis.IsRedisNil(err) {
		t.Fatal(err)
	}
	return res
}

// set writes n keys of family under prefix with ttl (0: no expiry).
func set(t *testing.T, c rueidis.Client, prefix, family string, n int, ttl time.Duration, value string) {
	t.Helper()
	for i := range n {
		key := fmt.Sprintf("%s%s:%d", prefix, family, i)
		if ttl > 0 {
			do(t, c, c.B().Set().Key(key).Value(value).Px(ttl).Build())
		} else {
			do(t, c, c.B().Set().Key(key).Value(value).Build())
		}
	}
}

func family(t *testing.T, rep *report.Report, name string) report.Family {
	t.Helper()
	for _, f := range rep.Families {
		if f.Family == name {
			return f
		}
	}
	t.Fatalf("no family %q in the report: %+v", name, rep.Families)
	return report.Family{}
}

func buckets(f report.Family) map[string]int {
	out := map[string]int{}
	for _, b := range f.TTL {
		if b.Keys > 0 {
			out[b.Bucket] = b.Keys
		}
	}
	return out
}

func codes(rep *report.Report) map[string]string {
	out := map[string]string{}
	for _, r := range rep.Recommendations {
		out[r.Code+" "+r.Subject] = r.Severity
	}
	return out
}

func TestBuildStandalone(t *testing.T) {
	// Redis' own defaults, which the report must flag.
	srv := redistest.Standalone(t, "--maxmemory", "0", "--maxmemory-policy", "noeviction")
	c := newClient(t, srv.Addr())
	const prefix = "rep:"
	set(t, c, prefix, "file", 30, 50*time.Minute, strings.Repeat("x", 200))
	set(t, c, prefix, "search", 5, 3*time.Minute, "y")
	set(t, c, prefix, "stats", 2, 20*time.Hour, "z")
	set(t, c, prefix, "stats", 0, 0, "")
	do(t, c, c.B().Set().Key(prefix+"legacy:1").Value("forever").Build()) // no TTL
	do(t, c, c.B().Set().Key("other-app:1").Value("not ours").Build())    // outside the prefix
	do(t, c, c.B().Sadd().Key(prefix+"tag:files").Member("a", "b").Build())
	do(t, c, c.B().Pexpire().Key(prefix+"tag:files").Milliseconds(int64(5*time.Minute/time.Millisecond)).Build())
	do(t, c, c.B().ConfigResetstat().Build())
	// 6 hits and 2 misses in Redis' own counters.
	for i := range 6 {
		do(t, c, c.B().Get().Key(fmt.Sprintf("%sfile:%d", prefix, i)).Build())
	}
	for range 2 {
		do(t, c, c.B().Get().Key(prefix+"file:absent").Build())
	}

	stats := []cache.FamilyStats{
		{Family: "file", NearHits: 50, Hits: 40, Misses: 10},
		{Family: "search", Hits: 20, Misses: 180}, // low ratio, short TTL
		{Family: "stats", Hits: 10, Misses: 190},  // low ratio, long TTL
		{Family: "user", Hits: 1, Misses: 9},      // too little traffic
	}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	rep, err := report.Build(t.Context(), c, report.Options{Prefix: prefix, Stats: stats, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}

	if rep.Store != "redis standalone" || !rep.GeneratedAt.Equal(now) {
		t.Errorf("Store, GeneratedAt = %q, %v", rep.Store, rep.GeneratedAt)
	}
	if diff := cmp.Diff(report.Ratio{Lookups: 510, NearHits: 50, StoreHits: 71, Misses: 389, HitRatio: 0.2373, NearHitRatio: 0.098, StoreHitRatio: 0.1392}, rep.Totals); diff != "" {
		t.Errorf("Totals (-want +got):\n%s", diff)
	}
	f := family(t, rep, "file")
	if diff := cmp.Diff(report.Ratio{Lookups: 100, NearHits: 50, StoreHits: 40, Misses: 10, HitRatio: 0.9, NearHitRatio: 0.5, StoreHitRatio: 0.4}, f.Ratio); diff != "" {
		t.Errorf("file ratio (-want +got):\n%s", diff)
	}
	if f.Keys != 30 || f.Sampled != 30 {
		t.Errorf("file keys, sampled = %d, %d; want 30, 30", f.Keys, f.Sampled)
	}
	if f.AvgValueBytes < 200 || f.MemoryBytes != f.AvgValueBytes*30 {
		t.Errorf("file avg size %d, memory %d; want >= 200 and 30 times it", f.AvgValueBytes, f.MemoryBytes)
	}
	if f.AvgTTLSeconds <= 45*60 || f.AvgTTLSeconds > 50*60 {
		t.Errorf("file avg TTL = %vs, want just under 50m", f.AvgTTLSeconds)
	}
	for name, want := range map[string]map[string]int{
		"file":   {"10m-1h": 30},
		"search": {"1m-10m": 5},
		"stats":  {"6h-24h": 2},
		"tag":    {"1m-10m": 1},
		"legacy": {report.NoTTL: 1},
		"user":   {},
	} {
		if diff := cmp.Diff(want, buckets(family(t, rep, name))); diff != "" {
			t.Errorf("%s TTL buckets (-want +got):\n%s", name, diff)
		}
	}
	if got := family(t, rep, "user").Keys; got != 0 {
		t.Errorf("user keys = %d, want 0", got)
	}
	for _, fam := range rep.Families {
		if strings.Contains(fam.Family, "other-app") {
			t.Errorf("a key outside the prefix was counted: %+v", fam)
		}
	}

	r := rep.Redis
	if r == nil || len(r.Nodes) != 1 {
		t.Fatalf("Redis = %+v, want one node", r)
	}
	if r.KeyspaceHits != 6 || r.KeyspaceMisses != 2 || r.HitRatio != 0.75 {
		t.Errorf("keyspace hits, misses, ratio = %d, %d, %v; want 6, 2, 0.75", r.KeyspaceHits, r.KeyspaceMisses, r.HitRatio)
	}
	if n := r.Nodes[0]; n.Addr != srv.Addr() || n.Role != "master" || n.MaxMemoryPolicy != "noeviction" || n.Keys != 40 || n.UsedMemory == 0 {
		t.Errorf("node = %+v", n)
	}
	if r.ScannedKeys != 39 || r.ScanTruncated {
		t.Errorf("scanned %d (truncated %v), want 39 keys under the prefix", r.ScannedKeys, r.ScanTruncated)
	}

	want := map[string]string{
		"ttl_too_short search":              report.SeverityWarning,
		"low_hit_ratio stats":               report.SeverityWarning,
		"maxmemory_policy " + srv.Addr():    report.SeverityWarning,
		"maxmemory_unbounded " + srv.Addr(): report.SeverityWarning,
		"keys_without_ttl legacy":           report.SeverityWarning,
	}
	if diff := cmp.Diff(want, codes(rep)); diff != "" {
		t.Errorf("recommendations (-want +got):\n%s", diff)
	}
	if rep.TopKeys.Available || !strings.Contains(rep.TopKeys.Reason, "LFU") {
		t.Errorf("TopKeys = %+v, want unavailable for want of LFU", rep.TopKeys)
	}

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"FAMILIES", "REDIS (standalone)", "keyspace hit ratio 0.750 (6 hits, 2 misses)", "TOP KEYS", "unavailable:",
		"RECOMMENDATIONS", "[warning] maxmemory_policy (" + srv.Addr() + "): maxmemory-policy is noeviction"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text lacks %q:\n%s", s, text.String())
		}
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`{"bucket":"10m-1h","keys":30}`)) {
		t.Errorf("JSON lacks the file TTL buckets: %s", js)
	}
}

func TestBuildLFUTopKeysAndMemory(t *testing.T) {
	// lfu-log-factor 0: every access increments the LFU counter, so the
	// order of the top keys is certain.
	srv := redistest.Standalone(t, "--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0")
	c := newClient(t, srv.Addr())
	set(t, c, "", "file", 5, time.Hour, "v")
	for range 50 {
		do(t, c, c.B().Get().Key("file:3").Build())
	}
	for range 10 {
		do(t, c, c.B().Get().Key("file:1").Build())
	}
	rep, err := report.Build(t.Context(), c, report.Options{TopKeys: 2, MemoryHigh: 1e-9})
	if err != nil {
		t.Fatal(err)
	}
	tk := rep.TopKeys
	if !tk.Available || tk.Source != "OBJECT FREQ (sample)" || len(tk.Keys) != 2 || tk.Keys[0].Key != "file:3" || tk.Keys[1].Key != "file:1" {
		t.Errorf("TopKeys = %+v, want file:3 then file:1", tk)
	}
	got := codes(rep)
	if _, ok := got["maxmemory_policy "+srv.Addr()]; ok {
		t.Error("maxmemory_policy recommended for allkeys-lfu")
	}
	if _, ok := got["maxmemory_unbounded "+srv.Addr()]; ok {
		t.Error("maxmemory_unbounded recommended with maxmemory 64mb")
	}
	if !slices.ContainsFunc(rep.Recommendations, func(r report.Recommendation) bool {
		return r.Code == "memory_near_limit" && strings.HasPrefix(r.Subject, srv.Addr())
	}) {
		t.Errorf("no memory_near_limit with MemoryHigh ~0: %+v", rep.Recommendations)
	}
	if len(rep.Notes) == 0 {
		t.Error("no note on the missing cache counters")
	}
}

type hot []string

func (h hot) HotKeys(n int) []string { return h[:min(n, len(h))] }

func TestBuildWithoutRedis(t *testing.T) {
	rep, err := report.Build(t.Context(), nil, report.Options{
		Stats:   []cache.FamilyStats{{Family: "file", Hits: 3, Misses: 1}},
		HotKeys: hot{"file:1", "file:2", "file:3"},
		TopKeys: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Store != "memory" || rep.Redis != nil {
		t.Errorf("Store %q, Redis %+v", rep.Store, rep.Redis)
	}
	if f := family(t, rep, "file"); f.HitRatio != 0.75 || len(f.TTL) != 7 {
		t.Errorf("file = %+v", f)
	}
	want := report.TopKeys{Available: true, Source: "cache", Keys: []report.HotKey{{Key: "file:1"}, {Key: "file:2"}}}
	if diff := cmp.Diff(want, rep.TopKeys); diff != "" {
		t.Errorf("TopKeys (-want +got):\n%s", diff)
	}
	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "source: cache") || strings.Contains(text.String(), "REDIS") {
		t.Errorf("text:\n%s", text.String())
	}
}

func TestBuildScanTruncated(t *testing.T) {
	srv := redistest.Standalone(t)
	c := newClient(t, srv.Addr())
	set(t, c, "", "file", 3000, time.Hour, "v")
	rep, err := report.Build(t.Context(), c, report.Options{MaxScanKeys: 500, SampleKeys: 100})
	if err != nil {
		t.Fatal(err)
	}
	f := family(t, rep, "file")
	if !rep.Redis.ScanTruncated || f.Keys != 3000 || f.Sampled != 100 {
		t.Errorf("truncated %v, keys %d, sampled %d; want true, 3000 (extrapolated), 100", rep.Redis.ScanTruncated, f.Keys, f.Sampled)
	}
}

func TestBuildCluster(t *testing.T) {
	addrs := testenv.RequireList(t, redistest.EnvRedisClusterNodes)
	c := newClient(t, addrs...)
	prefix := fmt.Sprintf("rep%d:", time.Now().UnixNano())
	set(t, c, prefix, "file", 100, time.Hour, "v")
	rep, err := report.Build(t.Context(), c, report.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	if f := family(t, rep, "file"); f.Keys != 100 || f.Sampled != 100 {
		t.Errorf("file keys, sampled = %d, %d; want 100 over the 3 masters", f.Keys, f.Sampled)
	}
	if rep.Redis.Mode != "cluster" {
		t.Errorf("mode %q", rep.Redis.Mode)
	}
}

func TestBucketOf(t *testing.T) {
	for ttl, want := range map[time.Duration]string{
		-1: report.NoTTL, 0: "<1m", 59 * time.Second: "<1m", time.Minute: "1m-10m", 59 * time.Minute: "10m-1h",
		time.Hour: "1h-6h", 23 * time.Hour: "6h-24h", 24 * time.Hour: ">=24h", 1000 * time.Hour: ">=24h",
	} {
		if got := report.BucketOf(ttl); got != want {
			t.Errorf("BucketOf(%v) = %q, want %q", ttl, got, want)
		}
	}
}

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 10 << 20: "10.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := report.Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}
