package main

// End-to-end tests of the service over HTTP: the real configuration,
// repository, cache store, catalog and handler (built by openApp and
// app.handler, as serve builds them) behind an httptest.Server, on every
// pair of {SQLite, PostgreSQL} × {Redis standalone, Redis Cluster}, plus
// SQLite on the in-process store.

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

const testAdminToken = "e2e-admin-token-7f3a"

// e2eBackend is one combination of database and cache store.
type e2eBackend struct {
	name string
	// dsn returns the DATABASE_URL of a fresh database.
	dsn func(testing.TB) string
	// redis returns the Redis variables (REDIS_URL or
	// REDIS_CLUSTER_NODES); nil means the in-process store.
	redis func(testing.TB) map[string]string
	// wantStore is the "store" of the /readyz report.
	wantStore string
}

// e2eBackends returns the matrix of the end-to-end suite.
func e2eBackends() []e2eBackend {
	standalone := func(t testing.TB) map[string]string {
		return map[string]string{"REDIS_URL": testenv.Require(t, redistest.EnvRedisURL)}
	}
	cluster := func(t testing.TB) map[string]string {
		return map[string]string{"REDIS_CLUSTER_NODES": strings.Join(testenv.RequireList(t, redistest.EnvRedisClusterNodes), ",")}
	}
	var out []e2eBackend
	for _, db := range sqltest.Engines() {
		out = append(out,
			e2eBackend{name: db.Name + "/standalone", dsn: db.DSN, redis: standalone, wantStore: "redis standalone"},
			e2eBackend{name: db.Name + "/cluster", dsn: db.DSN, redis: cluster, wantStore: "redis cluster"},
		)
	}
	return append(out, e2eBackend{name: "sqlite/memory", dsn: sqltest.SQLiteDSN, wantStore: "memory"})
}

// e2eServer is the service under test.
type e2eServer struct {
	*httptest.Server
	app *app
}

// startE2EServer builds the service on b from the environment env (on top of
// the defaults of the suite: a fresh database, a unique CACHE_PREFIX, the
// admin token, a high rate limit); a value "" in env unsets the variable.
// testDBTimeout is the DB_TIMEOUT of the servers the tests start: on a busy
// machine a commit can outlast the default 3s. The tests about the deadline
// set their own.
const testDBTimeout = "15s"

func startE2EServer(t testing.TB, b e2eBackend, env map[string]string) *e2eServer {
	t.Helper()
	vars := map[string]string{
		"DATABASE_URL":          b.dsn(t),
		"CACHE_PREFIX":          "e2e" + e2eRandomHex(6) + ":",
		"ADMIN_TOKEN":           testAdminToken,
		"RATE_LIMIT_PER_MINUTE": "100000",
		"LOG_LEVEL":             "warn",
		"DB_TIMEOUT":            testDBTimeout,
	}
	if b.redis != nil {
		for k, v := range b.redis(t) {
			vars[k] = v
		}
	}
	for k, v := range env {
		if v == "" {
			delete(vars, k)
		} else {
			vars[k] = v
		}
	}
	cfg := testConfig(t, vars)
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: cfg.LogLevel}))
	a, err := openApp(t.Context(), cfg, log)
	if err != nil {
		t.Fatalf("openApp: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("app.Close: %v", err)
		}
	})
	// The relay and the session flushes run as under serve: a drain is
	// what readmits cache reads after the app started behind an open
	// breaker or heard a connection drop (Relay.MarkLost).
	bg, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.catalog.Run(bg) })
	t.Cleanup(func() { stop(); wg.Wait() }) // runs before a.Close
	h, err := a.handler()
	if err != nil {
		t.Fatalf("handler: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close) // runs before a.Close
	// On a busy machine the first connection to Redis may time out: the
	// app then connects in the background behind an open breaker. The
	// tests start once it admits cache reads.
	testenv.Eventually(t, 60*time.Second, func() error {
		if st := a.breakerState(); (st != "closed" && st != "none") || a.catalog.CacheReadsSuspended() {
			return fmt.Errorf("cache reads not admitted: breaker %s, reads suspended %v", st, a.catalog.CacheReadsSuspended())
		}
		return nil
	})
	return &e2eServer{Server: srv, app: a}
}

func e2eRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// e2eResponse is an answer read in full.
type e2eResponse struct {
	method, path string
	status       int
	header       http.Header
	body         []byte
}

func (r e2eResponse) String() string {
	return fmt.Sprintf("%s %s: %d %s", r.method, truncateForLog(r.path), r.status, truncateForLog(string(r.body)))
}

func truncateForLog(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// do sends a request. body is nil (none), a string or []byte (sent as is)
// or anything else (sent as JSON). hdr are header name, value pairs; a
// body gets Content-Type application/json unless hdr sets one ("" for
// none).
func (s *e2eServer) do(t testing.TB, method, path string, body any, hdr ...string) e2eResponse {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, s.URL+path, rd)
	if err != nil {
		t.Fatalf("new request %s %s: %v", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Content-Type" && hdr[i+1] == "" {
			req.Header.Del("Content-Type")
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return e2eResponse{method: method, path: path, status: resp.StatusCode, header: resp.Header, body: data}
}

// admin is do with the admin token.
func (s *e2eServer) admin(t testing.TB, method, path string, body any, hdr ...string) e2eResponse {
	t.Helper()
	return s.do(t, method, path, body, append([]string{"Authorization", "Bearer " + testAdminToken}, hdr...)...)
}

// wantStatus fails t unless r has status.
func wantStatus(t testing.TB, r e2eResponse, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%v; want status %d", r, status)
	}
}

// decode checks that r has status and a JSON body, and decodes it.
func decodeAs[T any](t testing.TB, r e2eResponse, status int) T {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%v: Content-Type %q, want application/json", r, ct)
	}
	var v T
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%v: decode %T: %v", r, v, err)
	}
	return v
}

// readOK checks that r has status 200 and decodes the fields of T from its
// JSON body; other fields are allowed, as T may be the part a test reads.
func readOK[T any](t testing.TB, r e2eResponse) T {
	t.Helper()
	wantStatus(t, r, http.StatusOK)
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("%v: decode %T: %v", r, v, err)
	}
	return v
}

// checkErrorBody reports what is wrong with an error response: it must be
// JSON and exactly {"error": {"code": code, "message": "..."}} with a
// non-empty message (any code when code is "").
func checkErrorBody(r e2eResponse, code string) string {
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		return fmt.Sprintf("Content-Type %q, want application/json", ct)
	}
	var body map[string]map[string]any
	dec := json.NewDecoder(bytes.NewReader(r.body))
	if err := dec.Decode(&body); err != nil {
		return fmt.Sprintf("body is not a JSON error object: %v", err)
	}
	e, ok := body["error"]
	if !ok || len(body) != 1 {
		return "body must hold exactly the key \"error\""
	}
	gotCode, _ := e["code"].(string)
	msg, _ := e["message"].(string)
	switch {
	case len(e) != 2:
		return "error must hold exactly code and message"
	case gotCode == "":
		return "error.code is empty"
	case code != "" && gotCode != code:
		return fmt.Sprintf("error.code %q, want %q", gotCode, code)
	case msg == "":
		return "error.message is empty"
	}
	return ""
}

// wantError fails t unless r has status and the JSON error body with code
// (any code when code is "").
func wantError(t testing.TB, r e2eResponse, status int, code string) {
	t.Helper()
	wantStatus(t, r, status)
	if msg := checkErrorBody(r, code); msg != "" {
		t.Fatalf("%v: %s", r, msg)
	}
}

// wantCache fails t unless r has one of the X-Cache values.
func wantCache(t testing.TB, r e2eResponse, want ...string) {
	t.Helper()
	if got := r.header.Get("X-Cache"); !slices.Contains(want, got) {
		t.Fatalf("%v: X-Cache %q, want one of %q", r, got, want)
	}
}

func e2eSHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// create posts nf and returns the created file.
func (s *e2eServer) create(t testing.TB, nf files.NewFile) files.FileMetadata {
	t.Helper()
	return decodeAs[files.FileMetadata](t, s.do(t, "POST", "/v1/files", nf), http.StatusCreated)
}

func (s *e2eServer) get(t testing.TB, id string) (files.FileMetadata, e2eResponse) {
	t.Helper()
	r := s.do(t, "GET", "/v1/files/"+id, nil)
	return decodeAs[files.FileMetadata](t, r, http.StatusOK), r
}

func (s *e2eServer) search(t testing.TB, q url.Values) (files.SearchResult, e2eResponse) {
	t.Helper()
	r := s.do(t, "GET", "/v1/files?"+q.Encode(), nil)
	return decodeAs[files.SearchResult](t, r, http.StatusOK), r
}

func fileNames(fs []files.FileMetadata) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	slices.Sort(out)
	return out
}

// e2eCase is one end-to-end test: it gets a service of its own, started
// with env over the test's backend.
type e2eCase struct {
	name string
	env  map[string]string
	run  func(t *testing.T, s *e2eServer, b e2eBackend)
}

// e2eSuite is what TestE2E runs on every backend, in this order.
var e2eSuite = []e2eCase{
	{"files", nil, testFiles},
	{"file_validation", nil, testFileValidation},
	{"search", nil, testSearch},
	{"search_invalidation", nil, testSearchInvalidation},
	{"downloads_stats", nil, testDownloadsStats},
	{"session", nil, testSession},
	{"settings", nil, testSettings},
	{"health", nil, testHealth},
	{"admin", nil, testAdmin},
	{"admin_warm", nil, testAdminWarm},
	{"admin_disabled", map[string]string{"ADMIN_TOKEN": ""}, testAdminDisabled},
	{"bodies_routes", nil, testBodiesAndRoutes},
	{"rate_limit", map[string]string{"RATE_LIMIT_PER_MINUTE": "5"}, testRateLimit},
	{"hostile", nil, testHostile},
}

// e2eCases returns the cases of e2eSuite with these names, in the suite's
// order.
func e2eCases(names ...string) []e2eCase {
	var out []e2eCase
	for _, c := range e2eSuite {
		if slices.Contains(names, c.name) {
			out = append(out, c)
		}
	}
	return out
}

// TestE2E runs the whole suite on every backend. Each subtest has a
// service (and a database and a cache prefix) of its own, so they run in
// parallel.
func TestE2E(t *testing.T) {
	suite := e2eSuite
	for _, b := range e2eBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range suite {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, startE2EServer(t, b, tc.env), b)
				})
			}
		})
	}
}

// testFiles is the curl cycle: create, read (miss, then hit),
// update with If-Match, read the new version, delete, 404.
func testFiles(t *testing.T, s *e2eServer, _ e2eBackend) {
	sum := e2eSHA256Hex("report")
	before := time.Now().UTC().Add(-time.Second)
	r := s.do(t, "POST", "/v1/files", files.NewFile{
		Name: "report.pdf", Size: 12345, ContentType: "application/pdf", Checksum: sum, Tags: []string{"docs", "q1"},
	})
	created := decodeAs[files.FileMetadata](t, r, http.StatusCreated)
	after := time.Now().UTC().Add(time.Second)
	if err := files.ValidateID(created.ID); err != nil {
		t.Fatalf("created id %q: %v", created.ID, err)
	}
	if got, want := r.header.Get("Location"), "/v1/files/"+created.ID; got != want {
		t.Errorf("Location %q, want %q", got, want)
	}
	if got := r.header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag %q, want \"1\"", got)
	}
	want := files.FileMetadata{
		ID: created.ID, Name: "report.pdf", Size: 12345, ContentType: "application/pdf", Checksum: sum,
		Tags: []string{"docs", "q1"}, UploaderIP: "127.0.0.1", DownloadCount: 0, Version: 1,
		CreatedAt: created.CreatedAt, UpdatedAt: created.UpdatedAt,
	}
	if diff := cmp.Diff(want, created); diff != "" {
		t.Errorf("created (-want +got):\n%s", diff)
	}
	if created.CreatedAt.Before(before) || created.CreatedAt.After(after) || created.CreatedAt.Location() != time.UTC {
		t.Errorf("created_at %v, want UTC between %v and %v", created.CreatedAt, before, after)
	}

	// Read through the cache: a miss, then a hit.
	got, r := s.get(t, created.ID)
	wantCache(t, r, "miss")
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GET after create (-want +got):\n%s", diff)
	}
	if r.header.Get("ETag") != `"1"` {
		t.Errorf("GET ETag %q, want \"1\"", r.header.Get("ETag"))
	}
	got, r = s.get(t, created.ID)
	wantCache(t, r, "hit", "hit-local")
	if diff := cmp.Diff(created, got); diff != "" {
		t.Errorf("GET from the cache (-want +got):\n%s", diff)
	}

	// PATCH with the current version.
	r = s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"name": "report-v2.pdf", "tags": []string{"docs"}}, "If-Match", `"1"`)
	updated := decodeAs[files.FileMetadata](t, r, http.StatusOK)
	if updated.Version != 2 || updated.Name != "report-v2.pdf" || !slices.Equal(updated.Tags, []string{"docs"}) ||
		updated.Size != 12345 || !updated.CreatedAt.Equal(created.CreatedAt) || updated.UpdatedAt.Before(created.UpdatedAt) {
		t.Errorf("PATCH answered %+v", updated)
	}
	if r.header.Get("ETag") != `"2"` {
		t.Errorf("PATCH ETag %q, want \"2\"", r.header.Get("ETag"))
	}
	// The next read sees the new version (the write invalidated the entry).
	got, r = s.get(t, created.ID)
	wantCache(t, r, "miss")
	if diff := cmp.Diff(updated, got); diff != "" {
		t.Errorf("GET after PATCH (-want +got):\n%s", diff)
	}
	got, r = s.get(t, created.ID)
	wantCache(t, r, "hit", "hit-local")
	if got.Version != 2 {
		t.Errorf("cached version %d, want 2", got.Version)
	}

	// A stale If-Match changes nothing.
	wantError(t, s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"name": "stale.pdf"}, "If-Match", `"1"`),
		http.StatusPreconditionFailed, "version_mismatch")
	for _, im := range []string{`W/"2"`, `2`, `"two"`, `"2", "3"`, `""`, `"-1"`, `"99999999999999999999"`} {
		wantError(t, s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"name": "bad.pdf"}, "If-Match", im),
			http.StatusBadRequest, "invalid_if_match")
	}
	if got, _ := s.get(t, created.ID); got.Version != 2 || got.Name != "report-v2.pdf" {
		t.Errorf("after refused PATCHes: %+v, want version 2 report-v2.pdf", got)
	}
	// If-Match: * and no If-Match are unconditional.
	if u := decodeAs[files.FileMetadata](t, s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"size": 1}, "If-Match", "*"), http.StatusOK); u.Version != 3 || u.Size != 1 {
		t.Errorf("PATCH If-Match *: %+v, want version 3 size 1", u)
	}
	if u := decodeAs[files.FileMetadata](t, s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"checksum": ""}), http.StatusOK); u.Version != 4 || u.Checksum != "" {
		t.Errorf("PATCH without If-Match: %+v, want version 4 without checksum", u)
	}

	// 404s and 400s of the id.
	missing := uuid.NewString()
	for _, path := range []string{"/v1/files/" + missing, "/v1/files/" + missing} { // twice: the negative entry
		wantError(t, s.do(t, "GET", path, nil), http.StatusNotFound, "not_found")
	}
	wantError(t, s.do(t, "PATCH", "/v1/files/"+missing, map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	wantError(t, s.do(t, "PATCH", "/v1/files/"+missing, map[string]any{"name": "x"}, "If-Match", `"1"`), http.StatusNotFound, "not_found")
	wantError(t, s.do(t, "DELETE", "/v1/files/"+missing, nil), http.StatusNotFound, "not_found")
	wantError(t, s.do(t, "POST", "/v1/files/"+missing+"/downloads", nil), http.StatusNotFound, "not_found")
	for _, id := range []string{"nope", strings.ToUpper(created.ID), "{" + created.ID + "}", "urn:uuid:" + created.ID, created.ID + "0"} {
		p := "/v1/files/" + url.PathEscape(id)
		wantError(t, s.do(t, "GET", p, nil), http.StatusBadRequest, "invalid_id")
		wantError(t, s.do(t, "PATCH", p, map[string]any{"name": "x"}), http.StatusBadRequest, "invalid_id")
		wantError(t, s.do(t, "DELETE", p, nil), http.StatusBadRequest, "invalid_id")
		wantError(t, s.do(t, "POST", p+"/downloads", nil), http.StatusBadRequest, "invalid_id")
	}

	// DELETE, then 404 everywhere.
	r = s.do(t, "DELETE", "/v1/files/"+created.ID, nil)
	wantStatus(t, r, http.StatusNoContent)
	if len(r.body) != 0 {
		t.Errorf("DELETE body %q, want none", r.body)
	}
	for range 2 {
		wantError(t, s.do(t, "GET", "/v1/files/"+created.ID, nil), http.StatusNotFound, "not_found")
	}
	wantError(t, s.do(t, "DELETE", "/v1/files/"+created.ID, nil), http.StatusNotFound, "not_found")
	wantError(t, s.do(t, "PATCH", "/v1/files/"+created.ID, map[string]any{"name": "x"}), http.StatusNotFound, "not_found")
	wantError(t, s.do(t, "POST", "/v1/files/"+created.ID+"/downloads", nil), http.StatusNotFound, "not_found")
}

// testFileValidation checks the rules of POST and PATCH bodies.
func testFileValidation(t *testing.T, s *e2eServer, _ e2eBackend) {
	tags33 := make([]string, 33)
	for i := range tags33 {
		tags33[i] = "t" + strconv.Itoa(i)
	}
	bad := []struct {
		name string
		body map[string]any
	}{
		{"empty name", map[string]any{"name": ""}},
		{"no name", map[string]any{"size": 1}},
		{"slash", map[string]any{"name": "a/b"}},
		{"backslash", map[string]any{"name": `a\b`}},
		{"dotdot", map[string]any{"name": ".."}},
		{"NUL", map[string]any{"name": "a\x00b"}},
		{"long name", map[string]any{"name": strings.Repeat("n", 256)}},
		{"negative size", map[string]any{"name": "a", "size": -1}},
		{"huge size", map[string]any{"name": "a", "size": int64(files.MaxSize) + 1}},
		{"short checksum", map[string]any{"name": "a", "checksum": "abc"}},
		{"upper checksum", map[string]any{"name": "a", "checksum": strings.ToUpper(e2eSHA256Hex("x"))}},
		{"content type", map[string]any{"name": "a", "content_type": "text/é"}},
		{"33 tags", map[string]any{"name": "a", "tags": tags33}},
		{"empty tag", map[string]any{"name": "a", "tags": []string{""}}},
		{"long tag", map[string]any{"name": "a", "tags": []string{strings.Repeat("é", 65)}}},
	}
	f := s.create(t, files.NewFile{Name: "ok.txt", Size: 1, Tags: []string{strings.Repeat("é", 64)}})
	for _, tc := range bad {
		wantError(t, s.do(t, "POST", "/v1/files", tc.body), http.StatusBadRequest, "validation_failed")
		if _, ok := tc.body["name"]; !ok {
			continue // a patch may omit the name
		}
		wantError(t, s.do(t, "PATCH", "/v1/files/"+f.ID, tc.body), http.StatusBadRequest, "validation_failed")
	}
	// Nothing was created nor changed.
	res, _ := s.search(t, url.Values{"limit": {"200"}})
	if len(res.Items) != 1 || res.Items[0].ID != f.ID || res.Items[0].Version != 1 {
		t.Errorf("after refused writes the files are %+v, want only %s at version 1", res.Items, f.ID)
	}
	// Edge values that are valid.
	s.create(t, files.NewFile{Name: strings.Repeat("n", 255), Size: files.MaxSize, Tags: make32Tags()})
	s.create(t, files.NewFile{Name: "zero", Size: 0})
}

func make32Tags() []string {
	tags := make([]string, 32)
	for i := range tags {
		tags[i] = "tag-" + strconv.Itoa(i)
	}
	return tags
}

// testSearch pages through results and checks the limits, cursors and
// that search text is matched literally.
func testSearch(t *testing.T, s *e2eServer, _ e2eBackend) {
	var paged []string
	for i := range 7 {
		paged = append(paged, s.create(t, files.NewFile{Name: fmt.Sprintf("page-%d.bin", i), Size: int64(i), Tags: []string{"paged"}}).ID)
	}
	special := []string{"a%b.txt", "a_b.txt", "a*b.txt", "a?b.txt", "a[b].txt", "plain.txt"}
	for _, n := range special {
		s.create(t, files.NewFile{Name: n, Tags: []string{"special"}})
	}

	// Pages of 3: 3, 3, 1; every file once; newest first.
	var seen []string
	cursor := ""
	var sizes []int
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("more pages than files: %d", page)
		}
		q := url.Values{"tag": {"paged"}, "limit": {"3"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		res, _ := s.search(t, q)
		sizes = append(sizes, len(res.Items))
		for _, f := range res.Items {
			seen = append(seen, f.ID)
		}
		if res.NextCursor == "" {
			break
		}
		cursor = res.NextCursor
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", sizes)
	}
	want := slices.Clone(paged)
	slices.Reverse(want)
	if !slices.Equal(seen, want) {
		t.Errorf("paged ids %v, want newest first %v", seen, want)
	}
	// A page that fits everything has no next cursor.
	if res, _ := s.search(t, url.Values{"limit": {"200"}}); len(res.Items) != 13 || res.NextCursor != "" {
		t.Errorf("limit=200: %d items, next_cursor %q; want 13 and none", len(res.Items), res.NextCursor)
	}
	if res, _ := s.search(t, url.Values{}); len(res.Items) != 13 {
		t.Errorf("default limit: %d items, want 13", len(res.Items))
	}
	if res, _ := s.search(t, url.Values{"tag": {"special"}, "limit": {"1"}}); len(res.Items) != 1 || res.NextCursor == "" {
		t.Errorf("limit=1: %d items, next_cursor %q; want 1 and a cursor", len(res.Items), res.NextCursor)
	}

	// Search text is literal: LIKE and glob characters are ordinary.
	literal := []struct {
		q    string
		want []string
	}{
		{"%", []string{"a%b.txt"}},
		{"_", []string{"a_b.txt"}},
		{"*", []string{"a*b.txt"}},
		{"?", []string{"a?b.txt"}},
		{"[", []string{"a[b].txt"}},
		{"[b]", []string{"a[b].txt"}},
		{"a*b", []string{"a*b.txt"}},
		{"A_B", []string{"a_b.txt"}},
		{`\`, nil},
		{`%_`, nil},
		{".TXT", []string{"a%b.txt", "a*b.txt", "a?b.txt", "a[b].txt", "a_b.txt", "plain.txt"}},
		{"page-", []string{"page-0.bin", "page-1.bin", "page-2.bin", "page-3.bin", "page-4.bin", "page-5.bin", "page-6.bin"}},
	}
	for _, tc := range literal {
		for range 2 { // the second answer comes from the cache
			res, _ := s.search(t, url.Values{"q": {tc.q}})
			if got := fileNames(res.Items); !slices.Equal(got, tc.want) {
				t.Errorf("q=%q: %q, want %q", tc.q, got, tc.want)
			}
		}
	}
	if res, _ := s.search(t, url.Values{"q": {"a"}, "tag": {"special"}, "limit": {"200"}}); len(res.Items) != 6 {
		t.Errorf("q=a&tag=special: %q, want the 6 special files", fileNames(res.Items))
	}
	if res, _ := s.search(t, url.Values{"tag": {"nothing"}}); len(res.Items) != 0 || res.Items == nil {
		t.Errorf("unknown tag: %+v, want an empty (non-null) list", res)
	}

	// Bad parameters.
	for _, raw := range []string{
		"limit=0", "limit=201", "limit=abc", "limit=-1", "limit=1.5", "limit=", "limit=99999999999999999999", "limit=%2B5",
	} {
		wantError(t, s.do(t, "GET", "/v1/files?"+raw, nil), http.StatusBadRequest, "validation_failed")
	}
	for _, raw := range []string{"cursor=garbage", "cursor=" + strings.Repeat("A", 100), "cursor=%ff%fe", "cursor=" + strings.Repeat("x", 600)} {
		wantError(t, s.do(t, "GET", "/v1/files?"+raw, nil), http.StatusBadRequest, "invalid_cursor")
	}
	for _, raw := range []string{"q=%00", "q=%ff", "q=" + strings.Repeat("q", 256), "tag=%ff", "tag=" + strings.Repeat("t", 65), "tag=%01"} {
		wantError(t, s.do(t, "GET", "/v1/files?"+raw, nil), http.StatusBadRequest, "validation_failed")
	}
	wantError(t, s.do(t, "GET", "/v1/files?q=%zz", nil), http.StatusBadRequest, "invalid_query")
}

// testSearchInvalidation checks that a cached search shows the writes made
// after it: creating, renaming and deleting files invalidate tag "files".
func testSearchInvalidation(t *testing.T, s *e2eServer, _ e2eBackend) {
	q := url.Values{"tag": {"fresh"}}
	res, r := s.search(t, q)
	wantCache(t, r, "miss")
	if len(res.Items) != 0 {
		t.Fatalf("fresh database: %+v", res.Items)
	}
	_, r = s.search(t, q)
	wantCache(t, r, "hit", "hit-local")

	f := s.create(t, files.NewFile{Name: "new.txt", Tags: []string{"fresh"}})
	res, r = s.search(t, q)
	wantCache(t, r, "miss")
	if len(res.Items) != 1 || res.Items[0].ID != f.ID {
		t.Fatalf("search after create: %+v, want %s", res.Items, f.ID)
	}
	byName := url.Values{"q": {"renamed"}}
	if res, _ := s.search(t, byName); len(res.Items) != 0 {
		t.Fatalf("q=renamed before the rename: %+v", res.Items)
	}
	decodeAs[files.FileMetadata](t, s.do(t, "PATCH", "/v1/files/"+f.ID, map[string]any{"name": "renamed.txt"}), http.StatusOK)
	if res, _ := s.search(t, byName); len(res.Items) != 1 || res.Items[0].Version != 2 {
		t.Fatalf("q=renamed after the rename: %+v, want the file at version 2", res.Items)
	}
	if res, _ := s.search(t, q); len(res.Items) != 1 || res.Items[0].Name != "renamed.txt" {
		t.Fatalf("tag=fresh after the rename: %+v", res.Items)
	}
	wantStatus(t, s.do(t, "DELETE", "/v1/files/"+f.ID, nil), http.StatusNoContent)
	if res, _ := s.search(t, q); len(res.Items) != 0 {
		t.Fatalf("search after delete: %+v, want none", res.Items)
	}
}

// testDownloadsStats counts downloads and checks that today's statistics
// follow uploads and downloads, through their cache.
func testDownloadsStats(t *testing.T, s *e2eServer, _ e2eBackend) {
	today := time.Now().UTC().Format(files.DateLayout)
	defer func() {
		if now := time.Now().UTC().Format(files.DateLayout); now != today {
			t.Skipf("the UTC day changed during the test (%s -> %s)", today, now)
		}
	}()
	stats := func(wantCacheVals ...string) files.FileStats {
		t.Helper()
		r := s.do(t, "GET", "/v1/stats/"+today, nil)
		st := decodeAs[files.FileStats](t, r, http.StatusOK)
		if len(wantCacheVals) > 0 {
			wantCache(t, r, wantCacheVals...)
		}
		return st
	}
	if got := stats("miss"); got != (files.FileStats{Date: today}) {
		t.Fatalf("stats of a fresh database: %+v", got)
	}
	stats("hit", "hit-local")

	a := s.create(t, files.NewFile{Name: "a.bin", Size: 100})
	b := s.create(t, files.NewFile{Name: "b.bin", Size: 50})
	if got, want := stats("miss"), (files.FileStats{Date: today, Uploads: 2, BytesUploaded: 150, UniqueIPs: 1}); got != want {
		t.Errorf("stats after 2 uploads: %+v, want %+v", got, want)
	}
	for i := 1; i <= 3; i++ {
		d := decodeAs[struct {
			DownloadCount int64 `json:"download_count"`
		}](t, s.do(t, "POST", "/v1/files/"+a.ID+"/downloads", nil), http.StatusOK)
		if d.DownloadCount != int64(i) {
			t.Errorf("download %d: count %d", i, d.DownloadCount)
		}
	}
	s.do(t, "POST", "/v1/files/"+b.ID+"/downloads", nil)
	if got, _ := s.get(t, a.ID); got.DownloadCount != 3 || got.Version != 1 {
		t.Errorf("file after 3 downloads: count %d version %d, want 3 and 1", got.DownloadCount, got.Version)
	}
	if got, want := stats(), (files.FileStats{Date: today, Uploads: 2, Downloads: 4, BytesUploaded: 150, UniqueIPs: 1}); got != want {
		t.Errorf("stats after 4 downloads: %+v, want %+v", got, want)
	}
	// Another day is untouched; days far away are valid.
	for _, d := range []string{"2000-01-01", "9999-12-31", "0001-01-01"} {
		if got := decodeAs[files.FileStats](t, s.do(t, "GET", "/v1/stats/"+d, nil), http.StatusOK); got != (files.FileStats{Date: d}) {
			t.Errorf("stats of %s: %+v, want zeros", d, got)
		}
	}
	for _, d := range []string{
		"2026-02-30", "2026-1-1", "2026-13-01", "2026-00-10", "99999-01-01", "123456789012-01-01", "+2026-01-01",
		"2026-01-01x", "today", "2026%2F01%2F01", "%00", "%ff", "2026-01-01T00:00:00Z", strings.Repeat("9", 5000),
	} {
		wantError(t, s.do(t, "GET", "/v1/stats/"+d, nil), http.StatusBadRequest, "invalid_date")
	}
}

// testSession checks that /v1 requests count in the caller's session.
func testSession(t *testing.T, s *e2eServer, _ e2eBackend) {
	type session = files.UserSession
	first := decodeAs[session](t, s.do(t, "GET", "/v1/session", nil), http.StatusOK)
	if first.IP != "127.0.0.1" || first.Requests != 1 || first.FirstSeen.IsZero() || first.LastSeen.Before(first.FirstSeen) {
		t.Fatalf("first session: %+v, want 127.0.0.1 with 1 request", first)
	}
	s.do(t, "GET", "/v1/settings", nil)
	s.do(t, "GET", "/v1/files/"+uuid.NewString(), nil) // a 404 counts too
	s.do(t, "GET", "/healthz", nil)                    // not /v1: does not count
	s.do(t, "GET", "/admin/cache/stats", nil)          // idem
	got := decodeAs[session](t, s.do(t, "GET", "/v1/session", nil), http.StatusOK)
	if got.Requests != 4 || !got.FirstSeen.Equal(first.FirstSeen) || got.LastSeen.Before(first.LastSeen) {
		t.Errorf("session after 3 more /v1 requests: %+v, want 4 requests since %v", got, first.FirstSeen)
	}
	wantError(t, s.do(t, "POST", "/v1/session", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

// testSettings checks GET and PUT /v1/settings and its admin guard.
func testSettings(t *testing.T, s *e2eServer, _ e2eBackend) {
	def := decodeAs[files.SystemSettings](t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK)
	if diff := cmp.Diff(files.DefaultSettings(), def); diff != "" {
		t.Errorf("default settings (-want +got):\n%s", diff)
	}
	s.do(t, "GET", "/v1/settings", nil) // now cached

	put := files.SystemSettings{
		MaxFileSize: 1 << 20, AllowedContentTypes: []string{"image/*", "application/pdf"},
		MaintenanceMode: true, Announcement: "maintenance at 22:00 — back soon",
	}
	for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Basic " + testAdminToken, testAdminToken, "Bearer " + testAdminToken + "x"} {
		r := s.do(t, "PUT", "/v1/settings", put, "Authorization", auth)
		wantError(t, r, http.StatusUnauthorized, "unauthorized")
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("401 with WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
		}
	}
	if got := decodeAs[files.SystemSettings](t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK); !cmp.Equal(got, def) {
		t.Errorf("settings changed by refused PUTs: %+v", got)
	}
	stored := decodeAs[files.SystemSettings](t, s.admin(t, "PUT", "/v1/settings", put), http.StatusOK)
	if stored.UpdatedAt.IsZero() {
		t.Errorf("PUT answered updated_at zero")
	}
	put.UpdatedAt = stored.UpdatedAt
	if diff := cmp.Diff(put, stored); diff != "" {
		t.Errorf("PUT answer (-want +got):\n%s", diff)
	}
	// Visible at once, though the old value was cached.
	for range 2 {
		if diff := cmp.Diff(put, decodeAs[files.SystemSettings](t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK)); diff != "" {
			t.Errorf("GET after PUT (-want +got):\n%s", diff)
		}
	}
	for _, body := range []any{
		map[string]any{"max_file_size": 0},
		map[string]any{"max_file_size": files.MaxSize + 1},
		map[string]any{"max_file_size": 1, "allowed_content_types": []string{"bad"}},
		map[string]any{"max_file_size": 1, "allowed_content_types": []string{"text/plain; charset=utf-8"}},
		map[string]any{"max_file_size": 1, "announcement": strings.Repeat("a", 1025)},
		map[string]any{"max_file_size": 1, "announcement": "a\x00"},
	} {
		wantError(t, s.admin(t, "PUT", "/v1/settings", body), http.StatusBadRequest, "validation_failed")
	}
	wantError(t, s.admin(t, "PUT", "/v1/settings", `{"max_file_size":1,"color":"red"}`), http.StatusBadRequest, "unknown_field")
	if diff := cmp.Diff(put, decodeAs[files.SystemSettings](t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK)); diff != "" {
		t.Errorf("settings changed by invalid PUTs (-want +got):\n%s", diff)
	}
}

// testHealth checks /healthz and /readyz.
func testHealth(t *testing.T, s *e2eServer, b e2eBackend) {
	h := decodeAs[map[string]any](t, s.do(t, "GET", "/healthz", nil), http.StatusOK)
	if h["status"] != "ok" {
		t.Errorf("/healthz: %v", h)
	}
	type ready struct {
		Status string `json:"status"`
		Checks struct {
			Database string `json:"database"`
			Cache    string `json:"cache"`
			Store    string `json:"store"`
		} `json:"checks"`
	}
	resp := s.do(t, "GET", "/readyz", nil)
	wantStatus(t, resp, http.StatusOK)
	var r ready
	if err := json.Unmarshal(resp.body, &r); err != nil {
		t.Fatalf("%v: %v", resp, err)
	}
	if r.Status != "ok" || r.Checks.Database != "ok" || r.Checks.Cache != "ok" || r.Checks.Store != b.wantStore {
		t.Errorf("/readyz: %+v, want ok with store %q", r, b.wantStore)
	}
	m := s.do(t, "GET", "/metrics", nil)
	wantStatus(t, m, http.StatusOK)
	if ct := m.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") || !bytes.Contains(m.body, []byte("# TYPE ")) {
		t.Errorf("/metrics: Content-Type %q, body %q; want the Prometheus text format", ct, truncateForLog(string(m.body)))
	}
	wantError(t, s.do(t, "POST", "/healthz", nil), http.StatusMethodNotAllowed, "method_not_allowed")
	wantError(t, s.do(t, "DELETE", "/readyz", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

type e2eFamilyStats struct {
	Family string `json:"family"`
	Hits   uint64 `json:"hits"`
	Misses uint64 `json:"misses"`
}

// e2eCacheStats is the part of GET /admin/cache/stats the tests read.
type e2eCacheStats struct {
	Families []e2eFamilyStats `json:"families"`
	Hits     uint64           `json:"hits"`
	Misses   uint64           `json:"misses"`
	HitRatio float64          `json:"hit_ratio"`
	Outbox   struct {
		Pending int `json:"pending"`
	} `json:"outbox"`
	Breaker     string `json:"breaker"`
	RedisMemory []struct {
		Node      string `json:"node"`
		UsedBytes int64  `json:"used_memory_bytes"`
	} `json:"redis_memory"`
}

// testAdmin checks the cache administration: stats, invalidation by key,
// tag and pattern, the report, and the token guard.
func testAdmin(t *testing.T, s *e2eServer, b e2eBackend) {
	for _, path := range []string{"/admin/cache/stats", "/admin/cache/report"} {
		wantError(t, s.do(t, "GET", path, nil), http.StatusUnauthorized, "unauthorized")
		wantError(t, s.do(t, "GET", path, nil, "Authorization", "Bearer nope"), http.StatusUnauthorized, "unauthorized")
	}
	for _, path := range []string{"/admin/cache/invalidate", "/admin/cache/warm"} {
		wantError(t, s.do(t, "POST", path, `{"pattern":"*"}`, "Authorization", "Bearer nope"), http.StatusUnauthorized, "unauthorized")
	}

	f := s.create(t, files.NewFile{Name: "cached.txt", Size: 7})
	g := s.create(t, files.NewFile{Name: "other.txt", Size: 8})
	miss := func(id string) {
		t.Helper()
		_, r := s.get(t, id)
		wantCache(t, r, "miss")
	}
	hit := func(id string) {
		t.Helper()
		_, r := s.get(t, id)
		wantCache(t, r, "hit", "hit-local")
	}
	miss(f.ID)
	hit(f.ID)
	st := readOK[e2eCacheStats](t, s.admin(t, "GET", "/admin/cache/stats", nil))
	i := slices.IndexFunc(st.Families, func(c e2eFamilyStats) bool { return c.Family == "file" })
	if i < 0 || st.Families[i].Hits != 1 || st.Families[i].Misses != 1 || st.Hits < 1 || st.Misses < 1 || st.HitRatio <= 0 || st.HitRatio >= 1 {
		t.Errorf("cache stats after a miss and a hit: %s", s.admin(t, "GET", "/admin/cache/stats", nil).body)
	}
	// The writes delivered their entries; the relay marks them done
	// within its MarkDelay.
	testenv.Eventually(t, 10*time.Second, func() error {
		if n := readOK[e2eCacheStats](t, s.admin(t, "GET", "/admin/cache/stats", nil)).Outbox.Pending; n != 0 {
			return fmt.Errorf("outbox backlog %d, want 0", n)
		}
		return nil
	})
	if st.Breaker == "" {
		t.Errorf("cache stats without the breaker state")
	}
	if b.redis != nil && (len(st.RedisMemory) == 0 || st.RedisMemory[0].UsedBytes <= 0 || st.RedisMemory[0].Node == "") {
		t.Errorf("cache stats on Redis without its memory: %+v", st.RedisMemory)
	}
	rep := decodeAs[map[string]any](t, s.admin(t, "GET", "/admin/cache/report", nil), http.StatusOK)
	if _, ok := rep["families"]; !ok {
		t.Errorf("report without families: %v", rep)
	}
	if store, ok := rep["store"]; ok && store != b.wantStore {
		t.Errorf("report of store %v, want %q", store, b.wantStore)
	}

	invalidate := func(body any) int {
		t.Helper()
		return decodeAs[struct {
			Deleted int `json:"deleted"`
		}](t, s.admin(t, "POST", "/admin/cache/invalidate", body), http.StatusOK).Deleted
	}
	// By key: the next read is a miss.
	if n := invalidate(map[string]any{"keys": []string{"file:" + f.ID}}); n != 1 {
		t.Errorf("invalidate file:%s deleted %d, want 1", f.ID, n)
	}
	miss(f.ID)
	hit(f.ID)
	// A key is literal: glob characters in it widen nothing.
	for _, k := range []string{"file:*", "*", "file:?" + f.ID[1:], "file:[" + f.ID[:1] + "]" + f.ID[1:]} {
		if n := invalidate(map[string]any{"keys": []string{k}}); n != 0 {
			t.Errorf("invalidate key %q deleted %d, want 0", k, n)
		}
	}
	hit(f.ID)
	// By tag.
	q := url.Values{"q": {"cached"}}
	s.search(t, q)
	if _, r := s.search(t, q); r.header.Get("X-Cache") == "miss" {
		t.Fatalf("search not cached")
	}
	if n := invalidate(map[string]any{"tags": []string{"files"}}); n < 1 {
		t.Errorf("invalidate tag files deleted %d, want >= 1", n)
	}
	if _, r := s.search(t, q); r.header.Get("X-Cache") != "miss" {
		t.Errorf("search after invalidating its tag: X-Cache %q, want miss", r.header.Get("X-Cache"))
	}
	hit(f.ID) // not tagged
	// By pattern, with glob characters: only the file of f matches (ids
	// are UUIDv7: they share their leading time digits, not their tail).
	miss(g.ID)
	pat := "file:*" + cacheGlobEscape(f.ID[26:35]) + "[" + f.ID[35:] + "]"
	if n := invalidate(map[string]any{"pattern": pat}); n != 1 {
		t.Errorf("invalidate pattern %q deleted %d, want 1", pat, n)
	}
	miss(f.ID)
	hit(g.ID)
	if n := invalidate(map[string]any{"pattern": "file:?"}); n != 0 {
		t.Errorf("pattern file:? deleted %d, want 0", n)
	}
	hit(f.ID)
	// A pattern stays inside the cache prefix: "*" on another service
	// sharing the store deletes none of ours.
	other := startE2EServer(t, b, nil)
	if n := decodeAs[struct {
		Deleted int `json:"deleted"`
	}](t, other.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": "*"}), http.StatusOK).Deleted; n != 0 {
		t.Errorf("pattern * on an empty prefix deleted %d, want 0", n)
	}
	hit(f.ID)
	hit(g.ID)
	// The settings are cached: every write checks them.
	if n := invalidate(map[string]any{"pattern": "file:*", "keys": []string{"settings:current"}}); n != 3 {
		t.Errorf("pattern file:* and key settings:current deleted %d, want the 2 files and the settings", n)
	}
	miss(f.ID)

	// Bad bodies.
	longKeys := make([]string, 1001)
	for i := range longKeys {
		longKeys[i] = "k" + strconv.Itoa(i)
	}
	for _, tc := range []struct {
		body any
		code string
	}{
		{`{}`, "validation_failed"},
		{`{"keys":[],"tags":[],"pattern":""}`, "validation_failed"},
		{`{"keys":[""]}`, "validation_failed"},
		{`{"tags":[""]}`, "validation_failed"},
		{`{"keys":["a\u0001"]}`, "validation_failed"},
		{`{"keys":["\ud800"]}`, ""}, // a lone surrogate decodes to U+FFFD: valid
		{`{"pattern":"a\nb"}`, "validation_failed"},
		{map[string]any{"pattern": strings.Repeat("*", 257)}, "validation_failed"},
		{map[string]any{"keys": []string{strings.Repeat("k", 513)}}, "validation_failed"},
		{map[string]any{"keys": longKeys}, "validation_failed"},
		{`{"keys":"file:x"}`, "invalid_json"},
		{`{"keys":[1]}`, "invalid_json"},
		{`{"bogus":1}`, "unknown_field"},
		{`{"pattern":"*"} {"pattern":"*"}`, "invalid_json"},
		{`[]`, "invalid_json"},
		{``, "invalid_json"},
	} {
		r := s.admin(t, "POST", "/admin/cache/invalidate", tc.body)
		if tc.code == "" {
			wantStatus(t, r, http.StatusOK)
			continue
		}
		wantError(t, r, http.StatusBadRequest, tc.code)
	}
	wantError(t, s.admin(t, "POST", "/admin/cache/invalidate", `{"pattern":"*"}`, "Content-Type", "text/plain"), http.StatusUnsupportedMediaType, "unsupported_media_type")
	wantError(t, s.admin(t, "GET", "/admin/cache/invalidate", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

// cacheGlobEscape escapes the Redis glob characters of s.
func cacheGlobEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// testAdminWarm checks that warming loads the most downloaded files.
func testAdminWarm(t *testing.T, s *e2eServer, _ e2eBackend) {
	a := s.create(t, files.NewFile{Name: "a"})
	b := s.create(t, files.NewFile{Name: "b"})
	c := s.create(t, files.NewFile{Name: "c"})
	for _, id := range []string{a.ID, a.ID, b.ID} {
		wantStatus(t, s.do(t, "POST", "/v1/files/"+id+"/downloads", nil), http.StatusOK)
	}
	type warm struct {
		Files      int     `json:"files"`
		Loaded     int     `json:"loaded"`
		Cached     int     `json:"already_cached"`
		DurationMS float64 `json:"duration_ms"`
		Running    bool    `json:"running"`
	}
	if w := decodeAs[warm](t, s.admin(t, "POST", "/admin/cache/warm?limit=2", nil), http.StatusOK); w.Files != 2 || w.Loaded+w.Cached != 2 || w.DurationMS < 0 {
		t.Errorf("warm limit=2: %+v, want 2 files", w)
	}
	for _, tc := range []struct {
		id   string
		want []string
	}{{a.ID, []string{"hit", "hit-local"}}, {b.ID, []string{"hit", "hit-local"}}, {c.ID, []string{"miss"}}} {
		_, r := s.get(t, tc.id)
		wantCache(t, r, tc.want...)
	}
	if w := decodeAs[warm](t, s.admin(t, "POST", "/admin/cache/warm", nil), http.StatusOK); w.Files != 3 {
		t.Errorf("warm with the default limit: %+v, want the 3 files", w)
	}
	for _, l := range []string{"0", "1000001", "x", "-1", "", "1e3"} {
		wantError(t, s.admin(t, "POST", "/admin/cache/warm?limit="+l, nil), http.StatusBadRequest, "validation_failed")
	}
	wantError(t, s.admin(t, "GET", "/admin/cache/warm", nil), http.StatusMethodNotAllowed, "method_not_allowed")
}

// testAdminDisabled checks that without ADMIN_TOKEN every admin route is
// 403, whatever the request carries.
func testAdminDisabled(t *testing.T, s *e2eServer, _ e2eBackend) {
	routes := []struct{ method, path, body string }{
		{"GET", "/admin/cache/stats", ""},
		{"POST", "/admin/cache/invalidate", `{"pattern":"*"}`},
		{"POST", "/admin/cache/warm", ""},
		{"GET", "/admin/cache/report", ""},
		{"PUT", "/v1/settings", `{"max_file_size":1}`},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer ", "Bearer " + testAdminToken, "Bearer anything"} {
			var body any
			if rt.body != "" {
				body = rt.body
			}
			wantError(t, s.do(t, rt.method, rt.path, body, "Authorization", auth), http.StatusForbidden, "forbidden")
		}
	}
	if got := decodeAs[files.SystemSettings](t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK); got.MaxFileSize != files.DefaultMaxFileSize {
		t.Errorf("settings changed: %+v", got)
	}
}

// testBodiesAndRoutes checks the decoding of bodies and the router's
// answers.
func testBodiesAndRoutes(t *testing.T, s *e2eServer, _ e2eBackend) {
	f := s.create(t, files.NewFile{Name: "body.txt"})
	// Each route that takes a body, with a valid body and a string field.
	for _, target := range []struct{ method, path, valid, field string }{
		{"POST", "/v1/files", `{"name":"a"}`, "name"},
		{"PATCH", "/v1/files/" + f.ID, `{"name":"a"}`, "name"},
		{"PUT", "/v1/settings", `{"max_file_size":1}`, "announcement"},
		{"POST", "/admin/cache/invalidate", `{"pattern":"x"}`, "pattern"},
	} {
		fld := `"` + target.field + `"`
		cases := []struct {
			name   string
			body   string
			ct     string
			status int
			code   string
		}{
			{"malformed", `{` + fld + `:`, "", 400, "invalid_json"},
			{"syntax", `{` + fld + ` "a"}`, "", 400, "invalid_json"},
			{"unknown field", `{` + fld + `:"a","bogus":1}`, "", 400, "unknown_field"},
			{"wrong type", `{` + fld + `:1}`, "", 400, "invalid_json"},
			{"trailing object", target.valid + " " + target.valid, "", 400, "invalid_json"},
			{"trailing garbage", target.valid + "x", "", 400, "invalid_json"},
			{"array", "[" + target.valid + "]", "", 400, "invalid_json"},
			{"string", `"a"`, "", 400, "invalid_json"},
			{"null", `null`, "", 400, "invalid_json"},
			{"empty", ``, "", 400, "invalid_json"},
			{"spaces", " \n\t ", "", 400, "invalid_json"},
			{"oversized", `{` + fld + `:"` + strings.Repeat("x", 1<<20) + `"}`, "", 413, "body_too_large"},
			{"text/plain", target.valid, "text/plain", 415, "unsupported_media_type"},
			{"form", target.field + "=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"},
			{"latin1", target.valid, "application/json; charset=latin1", 415, "unsupported_media_type"},
			{"bad media type", target.valid, "application/json; ===", 415, "unsupported_media_type"},
		}
		for _, tc := range cases {
			ct := tc.ct
			if ct == "" {
				ct = "application/json"
			}
			r := s.admin(t, target.method, target.path, tc.body, "Content-Type", ct)
			if r.status != tc.status {
				t.Errorf("%s %s %s: %v; want %d", target.method, target.path, tc.name, r, tc.status)
				continue
			}
			if msg := checkErrorBody(r, tc.code); msg != "" {
				t.Errorf("%s %s %s: %v: %s", target.method, target.path, tc.name, r, msg)
			}
		}
	}
	// Accepted spellings of the Content-Type, and none at all.
	for _, ct := range []string{"", "application/json; charset=UTF-8", "application/vnd.filecache+json", "Application/JSON"} {
		r := s.do(t, "POST", "/v1/files", `{"name":"ct.txt"}`, "Content-Type", ct)
		wantStatus(t, r, http.StatusCreated)
	}
	// Exactly at the limit is fine (and then fails validation, not size).
	exact := `{"name":"a","content_type":"` + strings.Repeat("x", 1<<20-len(`{"name":"a","content_type":""}`)) + `"}`
	if len(exact) != 1<<20 {
		t.Fatalf("exact body is %d bytes", len(exact))
	}
	wantError(t, s.do(t, "POST", "/v1/files", exact), http.StatusBadRequest, "validation_failed")
	// The file is unchanged by all of this.
	if got, _ := s.get(t, f.ID); got.Version != 1 || got.Name != "body.txt" {
		t.Errorf("file after bad PATCH bodies: %+v", got)
	}

	// Routes.
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
		allow        string // a method the Allow header must list
	}{
		{"GET", "/", 404, "not_found", ""},
		{"GET", "/v2/files", 404, "not_found", ""},
		{"GET", "/v1", 404, "not_found", ""},
		{"GET", "/v1/", 404, "not_found", ""},
		{"GET", "/v1/files/", 404, "not_found", ""},
		{"GET", "/v1/files/" + f.ID + "/", 404, "not_found", ""},
		{"GET", "/v1/files/" + f.ID + "/downloads", 405, "method_not_allowed", "POST"},
		{"GET", "/v1/files/" + f.ID + "/x", 404, "not_found", ""},
		{"GET", "/admin", 404, "not_found", ""},
		{"GET", "/admin/cache", 404, "not_found", ""},
		{"GET", "/metrics.php", 404, "not_found", ""},
		{"GET", "/v1/stats", 404, "not_found", ""},
		{"PUT", "/v1/files", 405, "method_not_allowed", "POST"},
		{"DELETE", "/v1/files", 405, "method_not_allowed", "GET"},
		{"PUT", "/v1/files/" + f.ID, 405, "method_not_allowed", "PATCH"},
		{"POST", "/v1/files/" + f.ID, 405, "method_not_allowed", "DELETE"},
		{"DELETE", "/v1/settings", 405, "method_not_allowed", "PUT"},
		{"POST", "/v1/stats/2026-01-01", 405, "method_not_allowed", "GET"},
		{"PATCH", "/admin/cache/stats", 405, "method_not_allowed", "GET"},
		{"BREW", "/v1/files", 405, "method_not_allowed", "POST"},
	} {
		r := s.do(t, tc.method, tc.path, nil)
		wantError(t, r, tc.status, tc.code)
		if tc.allow != "" && !strings.Contains(r.header.Get("Allow"), tc.allow) {
			t.Errorf("%v: Allow %q, want it to list %s", r, r.header.Get("Allow"), tc.allow)
		}
	}
}

// testRateLimit checks that the 6th request of a minute with a limit of 5
// is refused, with the headers of API.md.
func testRateLimit(t *testing.T, s *e2eServer, _ e2eBackend) {
	for i := 1; i <= 5; i++ {
		r := s.do(t, "GET", "/v1/settings", nil)
		wantStatus(t, r, http.StatusOK)
		if got, want := r.header.Get("RateLimit-Remaining"), strconv.Itoa(5-i); got != want || r.header.Get("RateLimit-Limit") != "5" {
			t.Errorf("request %d: RateLimit-Limit %q, RateLimit-Remaining %q; want 5 and %s", i, r.header.Get("RateLimit-Limit"), got, want)
		}
	}
	for _, path := range []string{"/v1/settings", "/v1/files/" + uuid.NewString(), "/v1/nowhere"} {
		r := s.do(t, "GET", path, nil)
		wantError(t, r, http.StatusTooManyRequests, "rate_limited")
		for _, h := range []string{"Retry-After", "RateLimit-Reset"} {
			n, err := strconv.Atoi(r.header.Get(h))
			if err != nil || n < 0 || n > 60 || (h == "Retry-After" && n < 1) {
				t.Errorf("%v: %s %q, want seconds within the minute", r, h, r.header.Get(h))
			}
		}
		if r.header.Get("RateLimit-Limit") != "5" || r.header.Get("RateLimit-Remaining") != "0" {
			t.Errorf("%v: RateLimit-Limit %q, RateLimit-Remaining %q; want 5 and 0", r, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	// Operations and admin routes are not limited.
	wantStatus(t, s.do(t, "GET", "/healthz", nil), http.StatusOK)
	wantStatus(t, s.do(t, "GET", "/readyz", nil), http.StatusOK)
	wantStatus(t, s.admin(t, "GET", "/admin/cache/stats", nil), http.StatusOK)
}
