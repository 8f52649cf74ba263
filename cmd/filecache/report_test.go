package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/report"
)

// TestReportCommand loads a private Redis through the catalog, then checks
// the numbers of `filecache report --json` against the workload: the Redis
// keyspace hit ratio, the keys and their TTL bucket, and the
// recommendations for the test server's noeviction policy and unbounded
// maxmemory.
func TestReportCommand(t *testing.T) {
	srv := redistest.Standalone(t, "--maxmemory", "0", "--maxmemory-policy", "noeviction") // Redis' own defaults
	vars := map[string]string{
		"DATABASE_URL":     sqltest.SQLiteDSN(t),
		"REDIS_URL":        srv.URL(),
		"CACHE_PREFIX":     "rpt:",
		"CACHE_TTL_JITTER": "0", // every file key gets exactly 1h
		"CACHE_NEAR_SIZE":  "0", // every read reaches Redis
		"CACHE_FAIL_SAFE":  "0", // kept exactly their TTL
		"LOG_LEVEL":        "warn",
	}
	cfg := testConfig(t, vars)
	ctx := t.Context()
	a, err := openApp(ctx, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	const nFiles, reads, sessions = 12, 3, 4
	var ids []string
	for i := range nFiles {
		f, err := a.catalog.CreateFile(ctx, files.NewFile{Name: fmt.Sprintf("f%d.txt", i), Size: 1}, "203.0.113.9")
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
		if _, _, err := a.catalog.GetFile(ctx, f.ID); err != nil { // a miss: loads and caches it
			t.Fatal(err)
		}
	}
	// From here Redis counts only the workload: one GET hit per cached
	// read, one GET miss per unknown session.
	c := a.redis.Client()
	if err := c.Do(ctx, c.B().ConfigResetstat().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for range reads {
		for _, id := range ids {
			if _, origin, err := a.catalog.GetFile(ctx, id); err != nil || origin.String() != "hit" {
				t.Fatalf("GetFile: origin %v, %v; want a hit", origin, err)
			}
		}
	}
	for i := range sessions {
		if _, err := a.catalog.Session(ctx, fmt.Sprintf("198.51.100.%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}

	out, err := cliOutput(t, vars, "report", "--json")
	if err != nil {
		t.Fatalf("report --json: %v\n%s", err, out)
	}
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("report --json printed no report: %v\n%s", err, out)
	}
	r := rep.Redis
	if r == nil || rep.Store != "redis standalone" {
		t.Fatalf("store %q, redis %+v", rep.Store, r)
	}
	hits, misses := int64(nFiles*reads), int64(sessions)
	if r.KeyspaceHits != hits || r.KeyspaceMisses != misses || r.HitRatio != float64(hits)/float64(hits+misses) {
		t.Errorf("keyspace hits %d, misses %d, ratio %v; want %d, %d, %v",
			r.KeyspaceHits, r.KeyspaceMisses, r.HitRatio, hits, misses, float64(hits)/float64(hits+misses))
	}
	i := slices.IndexFunc(rep.Families, func(f report.Family) bool { return f.Family == "file" })
	if i < 0 {
		t.Fatalf("no file family: %s", out)
	}
	f := rep.Families[i]
	if f.Keys != nFiles || f.Sampled != nFiles || f.MemoryBytes <= 0 {
		t.Errorf("file keys %d, sampled %d, memory %d; want %d, %d, > 0", f.Keys, f.Sampled, f.MemoryBytes, nFiles, nFiles)
	}
	for _, b := range f.TTL {
		want := 0
		if b.Bucket == "10m-1h" {
			want = nFiles
		}
		if b.Keys != want {
			t.Errorf("file TTL bucket %s holds %d keys, want %d", b.Bucket, b.Keys, want)
		}
	}
	codes := map[string]bool{}
	for _, rec := range rep.Recommendations {
		codes[rec.Code+" "+rec.Subject] = true
	}
	for _, want := range []string{"maxmemory_policy " + srv.Addr(), "maxmemory_unbounded " + srv.Addr()} {
		if !codes[want] {
			t.Errorf("no recommendation %q in %+v", want, rep.Recommendations)
		}
	}
	if rep.TopKeys.Available {
		t.Errorf("top keys available under noeviction: %+v", rep.TopKeys)
	}

	// The tables. (The sampling of the first report counted as keyspace
	// hits: MEMORY USAGE looks keys up.)
	out, err = cliOutput(t, vars, "report", "--sample", "5")
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	for _, want := range []string{"FAMILIES", "REDIS (standalone)", "keyspace hit ratio 0.", fmt.Sprintf(" hits, %d misses)", misses),
		"[warning] maxmemory_policy (" + srv.Addr() + "): maxmemory-policy is noeviction", "TOP KEYS"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "  file  ") {
		t.Errorf("no file row:\n%s", out)
	}
}

func TestReportCommandFlags(t *testing.T) {
	for _, args := range [][]string{{"report", "--sample", "0"}, {"report", "--top", "0"}, {"report", "extra"}} {
		if _, err := cliOutput(t, nil, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	out, err := cliOutput(t, nil, "report", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"filecache report [flags]", "--json", "--sample", "--top", "(env REDIS_URL)", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	// On the in-process store: the hit ratios only.
	out, err = cliOutput(t, map[string]string{"DATABASE_URL": sqltest.SQLiteDSN(t), "LOG_LEVEL": "warn"}, "report")
	if err != nil || !strings.Contains(out, "store: memory") || !strings.Contains(out, "in-process store") {
		t.Errorf("report on the in-process store: %v\n%s", err, out)
	}
}
