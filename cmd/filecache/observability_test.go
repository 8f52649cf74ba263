package main

// Tests of the observability wiring: the service's /metrics after a
// scripted workload (exact counters), the admin report, and the Grafana
// dashboard and alert rules against what the registry really exports.

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/promtest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/outbox"
	"github.com/filecache/filecache/report"
	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
)

const obsAdminToken = "obs-admin-token-0123"

// obsApp opens the service as serve does, from the defaults of the suite
// (a fresh SQLite database, the admin token, no rate limit) and vars.
func obsApp(t *testing.T, vars map[string]string) (*app, http.Handler) {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":          sqltest.SQLiteDSN(t),
		"ADMIN_TOKEN":           obsAdminToken,
		"RATE_LIMIT_PER_MINUTE": "0",
		"LOG_LEVEL":             "warn",
	}
	for k, v := range vars {
		env[k] = v
	}
	cfg := testConfig(t, env)
	return testApp(t, cfg, slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), nil)
}

// obsPrefix returns a CACHE_PREFIX of its own for a test.
func obsPrefix() string { return "obs" + strings.ToLower(rand.Text()[:10]) + ":" }

// obsDo serves one request through h; body, if not nil, is sent as JSON.
func obsDo(t *testing.T, h http.Handler, method, path string, body any, admin bool) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req := httptest.NewRequestWithContext(t.Context(), method, path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+obsAdminToken)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func obsWant(t *testing.T, rec *httptest.ResponseRecorder, status int) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
}

// TestMetricsWorkload runs a scripted workload through the HTTP handler on
// SQLite and Redis (near cache on), then checks that /metrics counts
// exactly what happened: lookups by tier as the X-Cache headers told them,
// invalidations by kind and reason, HTTP requests by route, the outbox.
func TestMetricsWorkload(t *testing.T) {
	redisURL := testenv.Require(t, redistest.EnvRedisURL)
	a, h := obsApp(t, map[string]string{"REDIS_URL": redisURL, "CACHE_PREFIX": obsPrefix()})
	ctx := t.Context()

	var ids []string
	for _, name := range []string{"a.txt", "b.txt"} {
		rec := obsDo(t, h, "POST", "/v1/files", map[string]any{"name": name, "size": 1}, false)
		obsWant(t, rec, http.StatusCreated)
		var f files.FileMetadata
		if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, f.ID)
	}
	a1, b1 := ids[0], ids[1]
	xcache := map[string]int{}
	get := func(id string) {
		t.Helper()
		rec := obsDo(t, h, "GET", "/v1/files/"+id, nil, false)
		obsWant(t, rec, http.StatusOK)
		xcache[rec.Header().Get("X-Cache")]++
	}
	get(a1)
	get(a1)
	get(a1)
	get(b1)
	obsWant(t, obsDo(t, h, "PATCH", "/v1/files/"+a1, map[string]any{"name": "a2.txt"}, false), http.StatusOK)
	get(a1) // a miss again
	obsWant(t, obsDo(t, h, "POST", "/admin/cache/invalidate",
		map[string]any{"keys": []string{"file:" + b1}, "tags": []string{"files"}, "pattern": "search:*"}, true), http.StatusOK)
	obsWant(t, obsDo(t, h, "GET", "/no/such/route", nil, false), http.StatusNotFound)
	t.Logf("X-Cache of the reads: %v", xcache)
	if xcache["miss"] < 3 || xcache["miss"]+xcache["hit"]+xcache["hit-local"] != 5 {
		t.Fatalf("X-Cache of the reads: %v, want at least 3 misses of 5", xcache)
	}

	// An entry left in the outbox (as by a failed invalidation), then
	// delivered by the relay.
	fileKey := a.cfg.Cache.Prefix + "file:" + a1
	if err := a.repo.WithTx(ctx, func(tx files.Tx) error {
		_, err := tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{fileKey}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	before := promtest.Scrape(t, h)
	if before["outbox_pending_entries"] != 1 || before["outbox_oldest_pending_age_seconds"] < 0 {
		t.Errorf("outbox before the relay: %v entries, oldest %vs; want 1", before["outbox_pending_entries"], before["outbox_oldest_pending_age_seconds"])
	}
	if n, err := a.catalog.Drain(ctx); err != nil || n != 1 {
		t.Fatalf("Drain = %d, %v; want 1", n, err)
	}
	// The relay also flushes the sessions counted in memory: one IP.
	if n, err := a.catalog.FlushSessions(ctx); err != nil || n != 1 {
		t.Fatalf("FlushSessions = %d, %v; want 1", n, err)
	}

	got := promtest.Scrape(t, h)
	stats := map[string]int{}
	for _, s := range a.cache.Stats() {
		stats[s.Family+" near"] = int(s.NearHits)
		stats[s.Family+" store"] = int(s.Hits)
		stats[s.Family+" miss"] = int(s.Misses)
	}
	// /v1 requests touch the session of the client IP in memory; the
	// flush reads it once (a miss) and writes it.
	want := map[string]float64{
		`cache_hit_total{family="file",tier="near"}`:  float64(xcache["hit-local"]),
		`cache_hit_total{family="file",tier="store"}`: float64(xcache["hit"]),
		`cache_miss_total{family="file"}`:             float64(xcache["miss"]),
		`cache_load_total{family="file"}`:             float64(xcache["miss"]),
		`cache_hit_total{family="user",tier="store"}`: 0,
		`cache_miss_total{family="user"}`:             1,
		`cache_corrupt_total{family="file"}`:          0,
		`cache_store_errors_total{family="file"}`:     0,
		// 2 creates and 1 patch: their file and stats keys, and tag
		// "files"; only the patch found a key (file:A) to delete.
		`cache_invalidation_total{kind="key",reason="write"}`:     3,
		`cache_invalidation_total{kind="tag",reason="write"}`:     3,
		`cache_invalidated_keys_total{kind="key",reason="write"}`: 1,
		`cache_invalidated_keys_total{kind="tag",reason="write"}`: 0,
		// One admin request with a key (file:B, cached), a tag and a
		// pattern.
		`cache_invalidation_total{kind="key",reason="admin"}`:         1,
		`cache_invalidation_total{kind="tag",reason="admin"}`:         1,
		`cache_invalidation_total{kind="pattern",reason="admin"}`:     1,
		`cache_invalidated_keys_total{kind="key",reason="admin"}`:     1,
		`cache_invalidated_keys_total{kind="pattern",reason="admin"}`: 0,
		// The relay delivered file:A, cached again by the last read.
		`cache_invalidation_total{kind="key",reason="relay"}`:                              1,
		`cache_invalidated_keys_total{kind="key",reason="relay"}`:                          1,
		`cache_invalidation_total{kind="pattern",reason="write"}`:                          0,
		`outbox_pending_entries`:                                                           0,
		`outbox_oldest_pending_age_seconds`:                                                0,
		`http_requests_total{method="POST",route="/v1/files",status="201"}`:                1 + 1,
		`http_requests_total{method="GET",route="/v1/files/{id}",status="200"}`:            5,
		`http_requests_total{method="PATCH",route="/v1/files/{id}",status="200"}`:          1,
		`http_requests_total{method="POST",route="/admin/cache/invalidate",status="200"}`:  1,
		`http_requests_total{method="GET",route="unmatched",status="404"}`:                 1,
		`http_requests_total{method="GET",route="/metrics",status="200"}`:                  1,
		`http_request_duration_seconds_count{method="GET",route="/v1/files/{id}"}`:         5,
		`cache_operation_duration_seconds_count{family="*",operation="delete"}`:            3 + 1 + 1,
		`cache_errors_total{operation="get"}`:                                              0,
		`cache_near_entries{family="file"}`:                                                -1, // checked below
		`cache_operation_duration_seconds_bucket{family="file",operation="get",le="+Inf"}`: -1, // checked below
	}
	gotSub := map[string]float64{}
	for s := range want {
		gotSub[s] = got[s]
	}
	for _, s := range []string{`cache_near_entries{family="file"}`, `cache_operation_duration_seconds_bucket{family="file",operation="get",le="+Inf"}`} {
		if _, ok := got[s]; !ok {
			t.Errorf("%s not exported", s)
		}
		gotSub[s], want[s] = 0, 0
	}
	if diff := cmp.Diff(want, gotSub); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	// The pull-style counters are Cache.Stats itself.
	for _, fam := range []string{"file", "user", "search", "stats", "settings"} {
		for tier, series := range map[string]string{
			"near":  fmt.Sprintf(`cache_hit_total{family=%q,tier="near"}`, fam),
			"store": fmt.Sprintf(`cache_hit_total{family=%q,tier="store"}`, fam),
			"miss":  fmt.Sprintf(`cache_miss_total{family=%q}`, fam),
		} {
			if int(got[series]) != stats[fam+" "+tier] {
				t.Errorf("%s = %v, Cache.Stats says %d", series, got[series], stats[fam+" "+tier])
			}
		}
	}
	// No raw path, id or IP in any label.
	for s := range got {
		if strings.Contains(s, a1) || strings.Contains(s, "/no/such") || strings.Contains(s, "192.0.2.") {
			t.Errorf("unbounded label value in %s", s)
		}
	}

	// The Redis INFO poller, as serve runs it.
	a.metrics.PollRedis(ctx)
	node := strings.TrimSuffix(strings.TrimPrefix(redisURL, "redis://"), "/0")
	if v := promtest.Scrape(t, h)[fmt.Sprintf("redis_up{node=%q}", node)]; v != 1 {
		t.Errorf("redis_up{node=%q} = %v, want 1", node, v)
	}

	// The admin report counts the same lookups.
	get(a1) // a miss: file:A is cached again
	rec := obsDo(t, h, "GET", "/admin/cache/report", nil, true)
	obsWant(t, rec, http.StatusOK)
	var rep report.Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(rep.Families, func(f report.Family) bool { return f.Family == "file" })
	if i < 0 {
		t.Fatalf("no file family in the report: %s", rec.Body)
	}
	f := rep.Families[i]
	lookups := xcache["hit-local"] + xcache["hit"] + xcache["miss"]
	wantRatio := float64(xcache["hit-local"]+xcache["hit"]) / float64(lookups)
	if int(f.NearHits) != xcache["hit-local"] || int(f.StoreHits) != xcache["hit"] || int(f.Misses) != xcache["miss"] ||
		f.HitRatio != float64(int(wantRatio*1e4+0.5))/1e4 {
		t.Errorf("report file family = %+v, want from X-Cache %v (ratio %.4f)", f.Ratio, xcache, wantRatio)
	}
	if f.Keys != 1 || f.Sampled != 1 || rep.Redis == nil || rep.Store != "redis standalone" {
		t.Errorf("report: file keys %d, redis %v, store %q", f.Keys, rep.Redis != nil, rep.Store)
	}
}

// pendingMetrics are referenced by the dashboard and the alerts before the
// service exports them, each with the reason. The dashboard test fails if
// one of them is exported, so that the list only shrinks.
var pendingMetrics = map[string]string{}

// TestDashboardMetricsExported checks that every metric the Grafana
// dashboard and the Prometheus alerts use is exported by the service's
// registry after a small workload.
func TestDashboardMetricsExported(t *testing.T) {
	a, h := obsApp(t, map[string]string{
		"REDIS_URL":    testenv.Require(t, redistest.EnvRedisURL),
		"CACHE_PREFIX": obsPrefix(),
	})
	rec := obsDo(t, h, "POST", "/v1/files", map[string]any{"name": "d.txt", "size": 1}, false)
	obsWant(t, rec, http.StatusCreated)
	var f files.FileMetadata
	if err := json.Unmarshal(rec.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	obsWant(t, obsDo(t, h, "GET", "/v1/files/"+f.ID, nil, false), http.StatusOK)
	a.metrics.PollRedis(t.Context())

	families, err := a.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, mf := range families {
		name := mf.GetName()
		exported[name] = true
		switch mf.GetType() {
		case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
			exported[name+"_bucket"], exported[name+"_sum"], exported[name+"_count"] = true, true, true
		case dto.MetricType_SUMMARY:
			exported[name+"_sum"], exported[name+"_count"] = true, true
		}
	}

	used := map[string][]string{} // metric -> where
	dash, err := os.ReadFile("../../deploy/grafana/filecache.json")
	if err != nil {
		t.Fatal(err)
	}
	exprs, err := dashboardExprs(dash)
	if err != nil {
		t.Fatal(err)
	}
	if len(exprs) < 20 {
		t.Fatalf("only %d expressions found in the dashboard", len(exprs))
	}
	for _, e := range exprs {
		for _, m := range metricNames(e) {
			used[m] = append(used[m], "dashboard")
		}
	}
	alerts, err := os.ReadFile("../../deploy/prometheus/alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	rules := ruleExprs(string(alerts))
	if len(rules) < 5 {
		t.Fatalf("only %d expressions found in alerts.yml", len(rules))
	}
	for _, e := range rules {
		for _, m := range metricNames(e) {
			used[m] = append(used[m], "alerts.yml")
		}
	}
	for _, m := range slices.Sorted(func(yield func(string) bool) {
		for m := range used {
			if !yield(m) {
				return
			}
		}
	}) {
		_, pending := pendingMetrics[m]
		switch {
		case exported[m] && pending:
			t.Errorf("%s is exported now: drop it from pendingMetrics", m)
		case !exported[m] && !pending:
			t.Errorf("%s (used in %s) is not exported by the service", m, strings.Join(slices.Compact(used[m]), ", "))
		}
	}
	for m := range pendingMetrics {
		if _, ok := used[m]; !ok {
			t.Errorf("pendingMetrics lists %s, which neither the dashboard nor the alerts use", m)
		}
	}
}

// dashboardExprs returns every PromQL expression of a Grafana dashboard:
// the "expr" of its targets and the queries of its template variables.
func dashboardExprs(data []byte) ([]string, error) {
	var doc any
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	var out []string
	labelValues := regexp.MustCompile(`label_values\(\s*([^,)]+)`)
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok {
					switch {
					case k == "expr":
						out = append(out, s)
					case k == "query" || k == "definition":
						for _, m := range labelValues.FindAllStringSubmatch(s, -1) {
							out = append(out, m[1])
						}
					}
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return out, nil
}

// ruleExprs returns the expr of every rule of a Prometheus rules file, on
// one line or as a block scalar (| or >-).
func ruleExprs(yaml string) []string {
	var out []string
	lines := strings.Split(yaml, "\n")
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		trimmed := strings.TrimSpace(line)
		if !strings.HasPrefix(trimmed, "expr:") {
			continue
		}
		v := strings.TrimSpace(strings.TrimPrefix(trimmed, "expr:"))
		if v != "|" && v != ">-" && v != ">" && v != "|-" {
			out = append(out, v)
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " "))
		var block []string
		for i+1 < len(lines) {
			next := lines[i+1]
			if strings.TrimSpace(next) != "" && len(next)-len(strings.TrimLeft(next, " ")) <= indent {
				break
			}
			block = append(block, next)
			i++
		}
		out = append(out, strings.Join(block, "\n"))
	}
	return out
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promLabelList = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promVars      = regexp.MustCompile(`\$\{[^}]*\}|\$\w+`)
	promTokens    = regexp.MustCompile(`[0-9][0-9a-zA-Z.+]*|[a-zA-Z_:][a-zA-Z0-9_:]*\s*\(?`)
	promKeywords  = map[string]bool{"and": true, "or": true, "unless": true, "by": true, "without": true, "on": true,
		"ignoring": true, "group_left": true, "group_right": true, "bool": true, "offset": true, "inf": true, "nan": true}
)

// metricNames returns the metric names a PromQL expression selects: the
// identifiers that are not functions, keywords or label names.
func metricNames(expr string) []string {
	e := promVars.ReplaceAllString(expr, " ")
	e = promStrings.ReplaceAllString(e, " ")
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promLabelList.ReplaceAllString(e, " ")
	var out []string
	for _, tok := range promTokens.FindAllString(e, -1) {
		if tok[0] >= '0' && tok[0] <= '9' || strings.HasSuffix(tok, "(") {
			continue // a number, a duration, or a function or aggregation
		}
		tok = strings.TrimSpace(tok)
		if promKeywords[strings.ToLower(tok)] {
			continue
		}
		out = append(out, tok)
	}
	return out
}

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (family) (rate(cache_hit_total{family=~"$family"}[$__rate_interval])) / (sum by (family) (rate(cache_hit_total[5m])) + sum by (family) (rate(cache_miss_total[5m])))`: {"cache_hit_total", "cache_hit_total", "cache_miss_total"},
		`histogram_quantile(0.99, sum by (le, operation) (rate(cache_operation_duration_seconds_bucket[1m])))`:                                                                        {"cache_operation_duration_seconds_bucket"},
		`redis_used_memory_bytes / (redis_maxmemory_bytes > 0) > 0.9`:                                                                                                                 {"redis_used_memory_bytes", "redis_maxmemory_bytes"},
		`max(outbox_pending_entries) > 0 and max(deriv(outbox_pending_entries[10m] offset 5m)) > 1e3`:                                                                                 {"outbox_pending_entries", "outbox_pending_entries"},
		`sum by (route, status) (rate(http_requests_total{status=~"5..|429"}[5m])) or on (route) vector(0)`:                                                                           {"http_requests_total"},
	} {
		if diff := cmp.Diff(want, metricNames(expr)); diff != "" {
			t.Errorf("metricNames(%q) (-want +got):\n%s", expr, diff)
		}
	}
	got := ruleExprs("rules:\n  - alert: A\n    expr: up == 0\n  - alert: B\n    expr: |\n      x\n      > 1\n    for: 1m\n")
	if diff := cmp.Diff([]string{"up == 0", "      x\n      > 1"}, got); diff != "" {
		t.Errorf("ruleExprs (-want +got):\n%s", diff)
	}
}
