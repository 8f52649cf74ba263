package main

import (
	"context"
	"crypto/md5"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

// TestAuditCommand: `filecache audit` over 10,000 cached files, 10 of
// them changed in the database by hand, checks every key once, finds and
// repairs exactly those 10, stays quiet on stderr in a pipe, and a second
// pass finds nothing.
func TestAuditCommand(t *testing.T) {
	const n, stale = 10000, 10
	dsn := sqltest.PostgresDSN(t)
	repo, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{}) // migrates
	if err != nil {
		t.Fatal(err)
	}
	repo.Close()
	// Ids are UUIDs made of md5(i); file i is the (i)th most downloaded.
	sqltest.Exec(t, dsn, fmt.Sprintf(`INSERT INTO files (id, name, name_fold, size, content_type, tags, uploader_ip, download_count, version, created_at, updated_at)
		SELECT md5(i::text)::uuid::text, 'f' || i || '.pdf', 'f' || i || '.pdf', i, 'application/pdf', '[]', '10.0.0.1', %d - i, 1, now(), now()
		FROM generate_series(1, %d) AS i`, n+1, n))
	vars := map[string]string{
		"DATABASE_URL": dsn,
		"REDIS_URL":    testenv.Require(t, redistest.EnvRedisURL),
		"CACHE_PREFIX": "auditcmd" + e2eRandomHex(6) + ":",
		"LOG_LEVEL":    "warn",
	}
	t.Cleanup(func() { dropKeys(t, vars["REDIS_URL"], vars["CACHE_PREFIX"]) })
	// Cache every file through the service's read path (warm stops at
	// the 1000 most popular).
	start := time.Now()
	cfg, err := config.Load(nil, mapLookup(vars))
	if err != nil {
		t.Fatal(err)
	}
	a, err := openApp(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	g, ctx := errgroup.WithContext(t.Context())
	g.SetLimit(16)
	for i := 1; i <= n; i++ {
		g.Go(func() error {
			sum := md5.Sum([]byte(strconv.Itoa(i)))
			_, _, err := a.catalog.GetFile(ctx, uuid.UUID(sum).String())
			return err
		})
	}
	err = g.Wait()
	a.Close()
	if err != nil {
		t.Fatalf("caching the files: %v", err)
	}
	t.Logf("cached %d files in %v", n, time.Since(start).Round(time.Millisecond))
	sqltest.Exec(t, dsn, fmt.Sprintf(`UPDATE files SET version = 2, name = 'edited-by-hand.pdf', updated_at = now() - interval '2 minutes'
		WHERE id IN (SELECT md5(i::text)::uuid::text FROM generate_series(1, %d) AS i)`, stale))

	start = time.Now()
	out, errOut, err := runCLI(t, vars, "audit")
	if err != nil {
		t.Fatalf("audit: %v\n%s%s", err, out, errOut)
	}
	t.Logf("audit of %d keys in %v:\n%s", n, time.Since(start).Round(time.Millisecond), out)
	want := fmt.Sprintf(`^checked %d keys in \S+: %d consistent, 0 empty, 0 in flight, %d inconsistent \(%d repaired\), 0 failed$`, n, n-stale, stale, stale)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(want).MatchString(lines[0]) {
		t.Errorf("summary %q, want %s", lines[0], want)
	}
	finding := regexp.MustCompile(`^  auditcmd[0-9a-f]+:file:[0-9a-f-]{36}: cached version 1, database version 2, stale for 2m\d+s, repaired$`)
	found := 0
	for _, l := range lines[1:] {
		if finding.MatchString(l) {
			found++
		} else {
			t.Errorf("unexpected line %q", l)
		}
	}
	if found != stale {
		t.Errorf("%d findings listed, want %d:\n%s", found, stale, out)
	}
	if errOut != "" {
		t.Errorf("stderr is not a terminal, yet audit wrote to it:\n%s", errOut)
	}

	// Repaired: a second pass, of one family and bounded, finds nothing.
	out, errOut, err = runCLI(t, vars, "audit", "--family", "file", "--limit", "500")
	if err != nil {
		t.Fatalf("second audit: %v\n%s%s", err, out, errOut)
	}
	if !regexp.MustCompile(`^checked 500 keys in \S+: 500 consistent, 0 empty, 0 in flight, 0 inconsistent \(0 repaired\), 0 failed\n$`).MatchString(out) {
		t.Errorf("second pass printed %q", out)
	}
}

// dropKeys deletes the keys under prefix from the shared Redis of url.
func dropKeys(t *testing.T, url, prefix string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // t.Context() is done
	defer cancel()
	opts, err := redisstore.ParseURL(url)
	if err != nil {
		t.Error(err)
		return
	}
	s, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Error(err)
		return
	}
	defer s.Close()
	if _, err := s.DeletePattern(ctx, cache.EscapeGlob(prefix)+"*"); err != nil {
		t.Error(err)
	}
}

func TestAuditCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want string
	}{
		{"no Redis", map[string]string{"DATABASE_URL": sqltest.SQLiteDSN(t)}, nil, "audit needs Redis"},
		{"negative limit", map[string]string{"REDIS_URL": "redis://127.0.0.1:1"}, []string{"--limit", "-1"}, "--limit -1"},
		{"unknown family", map[string]string{"DATABASE_URL": sqltest.SQLiteDSN(t), "REDIS_URL": testenv.Require(t, redistest.EnvRedisURL),
			"CACHE_PREFIX": "auditerr" + e2eRandomHex(6) + ":"}, []string{"--family", "user"}, `no audited family "user"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runCLI(t, tc.vars, append([]string{"audit"}, tc.args...)...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("audit %v = %v, want an error with %q", tc.args, err, tc.want)
			}
		})
	}
	out, _, err := runCLI(t, nil, "audit", "--help")
	for _, w := range []string{"filecache audit [flags]", "Examples:", "--family", "--limit", "(env REDIS_URL)", "filecache audit --family file --limit 10000"} {
		if err != nil || !strings.Contains(out, w) {
			t.Errorf("audit --help lacks %q (%v):\n%s", w, err, out)
		}
	}
}

// TestServeAudits: serve runs the auditor; a row changed by hand behind a
// cached file is found, repaired, and shown by /admin/cache/stats,
// /admin/cache/report and /metrics.
func TestServeAudits(t *testing.T) {
	vars := map[string]string{
		"DATABASE_URL":          sqltest.PostgresDSN(t),
		"REDIS_URL":             testenv.Require(t, redistest.EnvRedisURL),
		"CACHE_PREFIX":          "auditserve" + e2eRandomHex(6) + ":",
		"ADMIN_TOKEN":           testAdminToken,
		"RATE_LIMIT_PER_MINUTE": "0",
		"CACHE_AUDIT_RATE":      "20",
	}
	t.Cleanup(func() { dropKeys(t, vars["REDIS_URL"], vars["CACHE_PREFIX"]) })
	p := startServe(t, vars)
	call := func(method, path, body string) (int, []byte) {
		t.Helper()
		status, _, b := p.do(t, method, path, body, "Authorization", "Bearer "+testAdminToken)
		return status, b
	}
	status, body := call("POST", "/v1/files", `{"name":"a.pdf","size":1,"content_type":"application/pdf"}`)
	var f files.FileMetadata
	if status != http.StatusCreated || json.Unmarshal(body, &f) != nil {
		t.Fatalf("create: %d %s", status, body)
	}
	if status, body := call("GET", "/v1/files/"+f.ID, ""); status != http.StatusOK {
		t.Fatalf("get: %d %s", status, body)
	}
	sqltest.Exec(t, vars["DATABASE_URL"], `UPDATE files SET version = 2, name = 'by-hand.pdf', updated_at = now() - interval '20 seconds' WHERE id = '`+f.ID+`'`)

	var stats struct {
		Audit *audit.Stats `json:"audit"`
	}
	waitAudit := time.Now().Add(60 * time.Second)
	for {
		status, body := call("GET", "/admin/cache/stats", "")
		if status != http.StatusOK || json.Unmarshal(body, &stats) != nil || stats.Audit == nil {
			t.Fatalf("stats: %d %s", status, body)
		}
		if stats.Audit.Inconsistencies > 0 {
			break
		}
		if time.Now().After(waitAudit) {
			t.Fatalf("no inconsistency found in 60 s: %s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if a := stats.Audit; a.Inconsistencies != 1 || a.Repaired != 1 || a.Rate != 20 || a.Samples == 0 || a.OldestAgeSeconds < 20 {
		t.Errorf("audit stats %+v", a)
	}
	if _, body := call("GET", "/v1/files/"+f.ID, ""); !strings.Contains(string(body), `"by-hand.pdf"`) {
		t.Errorf("after the repair GET returns %s", body)
	}
	_, body = call("GET", "/metrics", "")
	for _, want := range []string{
		`cache_inconsistency_total{age="10s",family="file"} 1`,
		`cache_inconsistency_total{age="0s",family="search"} 0`,
		`cache_audit_repaired_total{family="file"} 1`,
		`cache_audit_rate 20`,
		`cache_audit_database_reads_total{family="file"}`,
		`cache_invalidation_total{kind="key",reason="audit"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	status, body = call("GET", "/admin/cache/report", "")
	if status != http.StatusOK || !strings.Contains(string(body), `"cache_inconsistent"`) || !strings.Contains(string(body), `"audit":{`) {
		t.Errorf("report: %d, want an audit section and a cache_inconsistent recommendation: %.2000s", status, body)
	}
}
