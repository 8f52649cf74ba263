package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/testenv"
)

const (
	testToken = "s3cret-admin-token"
	fileID    = "0195a3c4-1d2e-7f00-8abc-0123456789ab"
	missingID = "0195a3c4-1d2e-7f00-8abc-ffffffffffff"
	checksum  = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
)

type env struct {
	h       http.Handler
	cat     *fakeCatalog
	admin   *fakeAdmin
	limiter *tinyLimiter
	logs    *testenv.Buffer
}

// newEnv returns the handler on fakes, with the admin token set and no rate
// limit unless change says otherwise.
func newEnv(t testing.TB, change func(*Deps, *Options)) *env {
	t.Helper()
	e := &env{cat: newFakeCatalog(), admin: &fakeAdmin{}, logs: &testenv.Buffer{}}
	e.cat.add(fileID, "report.pdf", "docs")
	deps := Deps{
		Catalog: e.cat,
		Admin:   e.admin,
		Health:  fakeHealth{ok: true},
		Logger:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	opts := Options{AdminToken: testToken, Now: func() time.Time { return fakeNow }}
	if change != nil {
		change(&deps, &opts)
	}
	if l, ok := deps.Limiter.(*tinyLimiter); ok {
		e.limiter = l
	}
	h, err := New(deps, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.h = h
	return e
}

type req struct {
	method, target, body string
	header               map[string]string
	remote               string
}

func (e *env) do(t testing.TB, rq req) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	r := httptest.NewRequestWithContext(t.Context(), rq.method, rq.target, body)
	if rq.remote != "" {
		r.RemoteAddr = rq.remote
	}
	for k, v := range rq.header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// errorCode returns error.code of a JSON error body, failing the test if
// the body is not one.
func errorCode(t testing.TB, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var b struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", w.Body, err)
	}
	if b.Error.Code == "" || b.Error.Message == "" {
		t.Errorf("error body %q lacks code or message", w.Body)
	}
	return b.Error.Code
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestHappyPaths(t *testing.T) {
	type want struct {
		status int
		header map[string]string // "" value: header must be present
		body   string            // a substring of the body
	}
	tests := []struct {
		name string
		req  req
		want want
	}{
		{"create", req{method: "POST", target: "/v1/files", header: map[string]string{"Content-Type": "application/json"},
			body: `{"name":"a.txt","size":3,"content_type":"text/plain","checksum":"` + checksum + `","tags":["x"]}`},
			want{201, map[string]string{"Location": "", "ETag": `"1"`, "Content-Type": "application/json"}, `"uploader_ip":"192.0.2.1"`}},
		{"create without content type", req{method: "POST", target: "/v1/files", body: `{"name":"b.txt"}`},
			want{201, map[string]string{"ETag": `"1"`}, `"name":"b.txt"`}},
		{"create with charset", req{method: "POST", target: "/v1/files", body: `{"name":"b.txt"}`, header: map[string]string{"Content-Type": "application/json; charset=UTF-8"}},
			want{201, nil, `"version":1`}},
		{"get", req{method: "GET", target: "/v1/files/" + fileID},
			want{200, map[string]string{"X-Cache": "hit-local", "ETag": `"1"`}, `"id":"` + fileID + `"`}},
		{"info", req{method: "GET", target: "/v1/files/" + fileID + "/info"},
			want{200, map[string]string{"X-Cache": "hit", "Content-Type": "application/json"}, `"download_count":0,"updated_at":`}},
		{"meta", req{method: "GET", target: "/v1/files/" + fileID + "/meta"},
			want{200, map[string]string{"X-Cache": "miss", "ETag": `"1"`}, `"checksum":"","tags":["docs"],"uploader_ip":"","version":1`}},
		{"head", req{method: "HEAD", target: "/v1/files/" + fileID},
			want{200, map[string]string{"ETag": `"1"`}, ``}},
		{"patch", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"name":"renamed.pdf","tags":[]}`},
			want{200, map[string]string{"ETag": `"2"`}, `"name":"renamed.pdf"`}},
		{"patch if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":7}`, header: map[string]string{"If-Match": `"1"`}},
			want{200, map[string]string{"ETag": `"2"`}, `"size":7`}},
		{"patch if-match star", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":7}`, header: map[string]string{"If-Match": `*`}},
			want{200, map[string]string{"ETag": `"2"`}, `"size":7`}},
		{"delete", req{method: "DELETE", target: "/v1/files/" + fileID}, want{204, nil, ``}},
		{"search", req{method: "GET", target: "/v1/files?q=REPORT&tag=docs&limit=10"},
			want{200, map[string]string{"X-Cache": "miss"}, `"next_cursor":""`}},
		{"search defaults", req{method: "GET", target: "/v1/files"}, want{200, nil, `"items":[{`}},
		{"search glob chars", req{method: "GET", target: "/v1/files?q=%2A%3F%5B%5C"}, want{200, nil, `"items":[]`}},
		{"search limit 200", req{method: "GET", target: "/v1/files?limit=200"}, want{200, nil, `"items":`}},
		{"download", req{method: "POST", target: "/v1/files/" + fileID + "/downloads"}, want{200, nil, `{"download_count":1}`}},
		{"stats", req{method: "GET", target: "/v1/stats/2025-03-14"},
			want{200, map[string]string{"X-Cache": "hit"}, `"date":"2025-03-14"`}},
		{"session", req{method: "GET", target: "/v1/session"}, want{200, nil, `"ip":"192.0.2.1"`}},
		{"settings", req{method: "GET", target: "/v1/settings"}, want{200, map[string]string{"X-Cache": "hit"}, `"max_file_size":1125899906842624`}},
		{"put settings", req{method: "PUT", target: "/v1/settings", header: bearer(testToken),
			body: `{"max_file_size":1024,"allowed_content_types":["image/*"],"maintenance_mode":true,"announcement":"hi"}`},
			want{200, nil, `"maintenance_mode":true`}},
		{"admin stats", req{method: "GET", target: "/admin/cache/stats", header: bearer(testToken)}, want{200, nil, `"hits":3`}},
		{"admin invalidate", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken),
			body: `{"keys":["file:1","file:2"],"tags":["files"],"pattern":"file:*"}`}, want{200, nil, `{"deleted":3}`}},
		{"admin invalidate pattern only", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken),
			body: `{"pattern":"search:*"}`}, want{200, nil, `{"deleted":0}`}},
		{"admin warm", req{method: "POST", target: "/admin/cache/warm", header: bearer(testToken)}, want{200, nil, `{"files":3,"loaded":0,"already_cached":0,"duration_ms":1.5,"running":false}`}},
		{"admin warm limit", req{method: "POST", target: "/admin/cache/warm?limit=1000000", header: bearer(testToken)}, want{200, nil, `"files":3`}},
		{"admin warm unbounded", req{method: "POST", target: "/admin/cache/warm?rate=0", header: bearer(testToken)}, want{200, nil, `"files":3`}},
		{"admin warm goes on", req{method: "POST", target: "/admin/cache/warm?limit=5000", header: bearer(testToken)}, want{202, nil, `"running":true`}},
		{"admin warm running", req{method: "POST", target: "/admin/cache/warm?limit=4000", header: bearer(testToken)}, want{409, nil, `"code":"conflict"`}},
		{"admin report", req{method: "GET", target: "/admin/cache/report", header: map[string]string{"Authorization": "bearer " + testToken}}, want{200, nil, `"hit_ratio":0.75`}},
		{"healthz", req{method: "GET", target: "/healthz"}, want{200, nil, `{"status":"ok"}`}},
		{"readyz", req{method: "GET", target: "/readyz"}, want{200, nil, `"breaker":"closed"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			w := e.do(t, tt.req)
			if w.Code != tt.want.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.want.status, w.Body)
			}
			for k, v := range tt.want.header {
				got, ok := w.Header()[http.CanonicalHeaderKey(k)]
				switch {
				case !ok:
					t.Errorf("header %s missing", k)
				case v != "" && got[0] != v:
					t.Errorf("header %s = %q, want %q", k, got[0], v)
				}
			}
			if !strings.Contains(w.Body.String(), tt.want.body) {
				t.Errorf("body %s does not contain %s", w.Body, tt.want.body)
			}
			if w.Code == 204 && w.Body.Len() != 0 {
				t.Errorf("204 with body %q", w.Body)
			}
		})
	}
}

func TestCreateLocation(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"c.txt","size":1}`})
	if w.Code != 201 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var f files.FileMetadata
	if err := json.Unmarshal(w.Body.Bytes(), &f); err != nil {
		t.Fatal(err)
	}
	if got, want := w.Header().Get("Location"), "/v1/files/"+f.ID; got != want {
		t.Errorf("Location = %q, want %q", got, want)
	}
	g := e.do(t, req{method: "GET", target: w.Header().Get("Location")})
	if g.Code != 200 {
		t.Fatalf("GET Location: %d %s", g.Code, g.Body)
	}
	var got files.FileMetadata
	if err := json.Unmarshal(g.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(f, got); diff != "" {
		t.Errorf("GET after POST (-want +got):\n%s", diff)
	}
}

func TestErrors(t *testing.T) {
	big := `{"name":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}`
	tests := []struct {
		name   string
		req    req
		status int
		code   string
	}{
		{"bad id", req{method: "GET", target: "/v1/files/not-a-uuid"}, 400, "invalid_id"},
		{"upper-case id", req{method: "GET", target: "/v1/files/" + strings.ToUpper(fileID)}, 400, "invalid_id"},
		{"long id", req{method: "GET", target: "/v1/files/" + strings.Repeat("a", 10000)}, 400, "invalid_id"},
		{"glob id", req{method: "DELETE", target: "/v1/files/*"}, 400, "invalid_id"},
		{"bad id patch", req{method: "PATCH", target: "/v1/files/x", body: `{}`}, 400, "invalid_id"},
		{"bad id download", req{method: "POST", target: "/v1/files/%5B%5D/downloads"}, 400, "invalid_id"},
		{"not found", req{method: "GET", target: "/v1/files/" + missingID}, 404, "not_found"},
		{"info not found", req{method: "GET", target: "/v1/files/" + missingID + "/info"}, 404, "not_found"},
		{"meta not found", req{method: "GET", target: "/v1/files/" + missingID + "/meta"}, 404, "not_found"},
		{"bad id info", req{method: "GET", target: "/v1/files/info/info"}, 400, "invalid_id"},
		{"bad id meta", req{method: "GET", target: "/v1/files/" + strings.ToUpper(fileID) + "/meta"}, 400, "invalid_id"},
		{"glob id info", req{method: "GET", target: "/v1/files/%2A/info"}, 400, "invalid_id"},
		{"info method", req{method: "PATCH", target: "/v1/files/" + fileID + "/info", body: `{}`}, 405, "method_not_allowed"},
		{"unknown view", req{method: "GET", target: "/v1/files/" + fileID + "/views"}, 404, "not_found"},
		{"delete not found", req{method: "DELETE", target: "/v1/files/" + missingID}, 404, "not_found"},
		{"download not found", req{method: "POST", target: "/v1/files/" + missingID + "/downloads"}, 404, "not_found"},
		{"patch not found", req{method: "PATCH", target: "/v1/files/" + missingID, body: `{}`}, 404, "not_found"},
		{"bad json", req{method: "POST", target: "/v1/files", body: `{"name":`}, 400, "invalid_json"},
		{"bad json syntax", req{method: "POST", target: "/v1/files", body: `{"name" "x"}`}, 400, "invalid_json"},
		{"empty body", req{method: "POST", target: "/v1/files"}, 400, "invalid_json"},
		{"blank body", req{method: "POST", target: "/v1/files", body: " \n"}, 400, "invalid_json"},
		{"null body", req{method: "POST", target: "/v1/files", body: `null`}, 400, "invalid_json"},
		{"array body", req{method: "POST", target: "/v1/files", body: `[{"name":"a"}]`}, 400, "invalid_json"},
		{"wrong type", req{method: "POST", target: "/v1/files", body: `{"name":"a","size":"3"}`}, 400, "invalid_json"},
		{"huge number", req{method: "POST", target: "/v1/files", body: `{"name":"a","size":99999999999999999999}`}, 400, "invalid_json"},
		{"unknown field", req{method: "POST", target: "/v1/files", body: `{"name":"a","owner":"me"}`}, 400, "unknown_field"},
		{"unknown field patch", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"version":9}`}, 400, "unknown_field"},
		{"trailing data", req{method: "POST", target: "/v1/files", body: `{"name":"a"} {}`}, 400, "invalid_json"},
		{"trailing garbage", req{method: "POST", target: "/v1/files", body: `{"name":"a"}x`}, 400, "invalid_json"},
		{"too large", req{method: "POST", target: "/v1/files", body: big}, 413, "body_too_large"},
		{"too large patch", req{method: "PATCH", target: "/v1/files/" + fileID, body: big}, 413, "body_too_large"},
		{"wrong content type", req{method: "POST", target: "/v1/files", body: `{"name":"a"}`, header: map[string]string{"Content-Type": "text/plain"}}, 415, "unsupported_media_type"},
		{"form content type", req{method: "PATCH", target: "/v1/files/" + fileID, body: `name=a`, header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "unsupported_media_type"},
		{"bad charset", req{method: "POST", target: "/v1/files", body: `{"name":"a"}`, header: map[string]string{"Content-Type": "application/json; charset=latin1"}}, 415, "unsupported_media_type"},
		{"garbled content type", req{method: "POST", target: "/v1/files", body: `{"name":"a"}`, header: map[string]string{"Content-Type": "application/json;;;="}}, 415, "unsupported_media_type"},
		{"invalid name", req{method: "POST", target: "/v1/files", body: `{"name":"a/b"}`}, 400, "validation_failed"},
		{"missing name", req{method: "POST", target: "/v1/files", body: `{"size":1}`}, 400, "validation_failed"},
		{"negative size", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":-1}`}, 400, "validation_failed"},
		{"bad checksum", req{method: "POST", target: "/v1/files", body: `{"name":"a","checksum":"xyz"}`}, 400, "validation_failed"},
		{"stale if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `"7"`}}, 412, "version_mismatch"},
		{"weak if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `W/"1"`}}, 400, "invalid_if_match"},
		{"unquoted if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `1`}}, 400, "invalid_if_match"},
		{"zero if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `"0"`}}, 400, "invalid_if_match"},
		{"list if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `"1", "2"`}}, 400, "invalid_if_match"},
		{"huge if-match", req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"size":1}`, header: map[string]string{"If-Match": `"99999999999999999999"`}}, 400, "invalid_if_match"},
		{"bad date", req{method: "GET", target: "/v1/stats/2025-13-01"}, 400, "invalid_date"},
		{"bad date form", req{method: "GET", target: "/v1/stats/14-03-2025"}, 400, "invalid_date"},
		{"bad date text", req{method: "GET", target: "/v1/stats/today"}, 400, "invalid_date"},
		{"limit 0", req{method: "GET", target: "/v1/files?limit=0"}, 400, "validation_failed"},
		{"limit 201", req{method: "GET", target: "/v1/files?limit=201"}, 400, "validation_failed"},
		{"limit abc", req{method: "GET", target: "/v1/files?limit=abc"}, 400, "validation_failed"},
		{"limit huge", req{method: "GET", target: "/v1/files?limit=99999999999999999999"}, 400, "validation_failed"},
		{"limit negative", req{method: "GET", target: "/v1/files?limit=-1"}, 400, "validation_failed"},
		{"limit empty", req{method: "GET", target: "/v1/files?limit="}, 400, "validation_failed"},
		{"bad cursor", req{method: "GET", target: "/v1/files?cursor=forged"}, 400, "invalid_cursor"},
		{"long cursor", req{method: "GET", target: "/v1/files?cursor=" + strings.Repeat("c", 600)}, 400, "invalid_cursor"},
		{"bad tag", req{method: "GET", target: "/v1/files?tag=" + strings.Repeat("t", 65)}, 400, "validation_failed"},
		{"nul in q", req{method: "GET", target: "/v1/files?q=a%00b"}, 400, "validation_failed"},
		{"bad utf-8 in q", req{method: "GET", target: "/v1/files?q=%ff"}, 400, "validation_failed"},
		{"bad query escape", req{method: "GET", target: "/v1/files?q=%zz"}, 400, "invalid_query"},
		{"bad settings", req{method: "PUT", target: "/v1/settings", header: bearer(testToken), body: `{"max_file_size":0}`}, 400, "validation_failed"},
		{"invalidate nothing", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{}`}, 400, "validation_failed"},
		{"invalidate empty lists", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"keys":[],"tags":[],"pattern":""}`}, 400, "validation_failed"},
		{"invalidate long pattern", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"pattern":"` + strings.Repeat("*", 257) + `"}`}, 400, "validation_failed"},
		{"invalidate empty key", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"keys":[""]}`}, 400, "validation_failed"},
		{"invalidate unknown field", req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"all":true}`}, 400, "unknown_field"},
		{"warm limit 0", req{method: "POST", target: "/admin/cache/warm?limit=0", header: bearer(testToken)}, 400, "validation_failed"},
		{"warm limit 1000001", req{method: "POST", target: "/admin/cache/warm?limit=1000001", header: bearer(testToken)}, 400, "validation_failed"},
		{"warm limit abc", req{method: "POST", target: "/admin/cache/warm?limit=abc", header: bearer(testToken)}, 400, "validation_failed"},
		{"warm rate 1000001", req{method: "POST", target: "/admin/cache/warm?rate=1000001", header: bearer(testToken)}, 400, "validation_failed"},
		{"warm rate x", req{method: "POST", target: "/admin/cache/warm?rate=x", header: bearer(testToken)}, 400, "validation_failed"},
		{"unknown route", req{method: "GET", target: "/v2/files"}, 404, "not_found"},
		{"trailing slash", req{method: "GET", target: "/v1/files/"}, 404, "not_found"},
		{"dot dot", req{method: "GET", target: "/v1/files/../../admin/cache/stats"}, 404, "not_found"},
		{"encoded dot dot", req{method: "GET", target: "/v1/files/%2e%2e/%2e%2e/admin/cache/stats"}, 404, "not_found"},
		{"double slash", req{method: "GET", target: "//v1//files"}, 404, "not_found"},
		{"metrics unset", req{method: "GET", target: "/metrics"}, 404, "not_found"},
		{"wrong method", req{method: "PUT", target: "/v1/files/" + fileID}, 405, "method_not_allowed"},
		{"wrong method collection", req{method: "DELETE", target: "/v1/files"}, 405, "method_not_allowed"},
		{"wrong method admin", req{method: "GET", target: "/admin/cache/invalidate"}, 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			w := e.do(t, tt.req)
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if code := errorCode(t, w); code != tt.code {
				t.Errorf("code = %q, want %q; body %s", code, tt.code, w.Body)
			}
		})
	}
}

func TestMethodNotAllowedAllow(t *testing.T) {
	e := newEnv(t, nil)
	for target, want := range map[string][]string{
		"/v1/files/" + fileID: {"GET", "HEAD", "PATCH", "DELETE"},
		"/v1/settings":        {"GET", "HEAD", "PUT"},
	} {
		w := e.do(t, req{method: "POST", target: target})
		if w.Code != 405 {
			t.Fatalf("POST %s: %d", target, w.Code)
		}
		allow := w.Header().Get("Allow")
		for _, m := range want {
			if !strings.Contains(allow, m) {
				t.Errorf("POST %s: Allow = %q, lacks %s", target, allow, m)
			}
		}
	}
}

func TestValidationMessageNamesField(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"ok","tags":[""]}`})
	if w.Code != 400 || !strings.Contains(w.Body.String(), "tags") {
		t.Errorf("got %d %s, want 400 naming tags", w.Code, w.Body)
	}
	w = e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"ok","owner":1}`})
	if !strings.Contains(w.Body.String(), `owner`) {
		t.Errorf("unknown field message %s does not name it", w.Body)
	}
}

func TestDependencyErrors(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"internal", fmt.Errorf("get: %w", errBoom), 500, "internal", ""},
		{"overloaded", fmt.Errorf("load: %w", retryErr{after: 2500 * time.Millisecond}), 503, "unavailable", "3"},
		{"closed", cache.ErrClosed, 503, "unavailable", "1"},
		{"conflict", files.ErrConflict, 409, "conflict", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			e.cat.getErr = tt.err
			w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
			if w.Code != tt.status {
				t.Fatalf("status = %d, want %d", w.Code, tt.status)
			}
			if code := errorCode(t, w); code != tt.code {
				t.Errorf("code = %q, want %q", code, tt.code)
			}
			if got := w.Header().Get("Retry-After"); got != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", got, tt.retryAfter)
			}
			if strings.Contains(w.Body.String(), "10.1.2.3") || strings.Contains(w.Body.String(), "exploded") {
				t.Errorf("body leaks the internal error: %s", w.Body)
			}
		})
	}
}

func TestAdminAuth(t *testing.T) {
	routes := []req{
		{method: "GET", target: "/admin/cache/stats"},
		{method: "POST", target: "/admin/cache/invalidate", body: `{"keys":["k"]}`},
		{method: "POST", target: "/admin/cache/warm"},
		{method: "GET", target: "/admin/cache/report"},
		{method: "PUT", target: "/v1/settings", body: `{"max_file_size":10}`},
	}
	tests := []struct {
		name       string
		token      string // configured
		auth       string // Authorization header
		status     int
		code       string
		wwwAuthent bool
	}{
		{"disabled, no header", "", "", 403, "forbidden", false},
		{"disabled, any bearer", "", "Bearer x", 403, "forbidden", false},
		{"disabled, empty bearer", "", "Bearer ", 403, "forbidden", false},
		{"missing", testToken, "", 401, "unauthorized", true},
		{"wrong", testToken, "Bearer nope", 401, "unauthorized", true},
		{"prefix of token", testToken, "Bearer " + testToken[:5], 401, "unauthorized", true},
		{"basic", testToken, "Basic " + testToken, 401, "unauthorized", true},
		{"no scheme", testToken, testToken, 401, "unauthorized", true},
		{"right", testToken, "Bearer " + testToken, 200, "", false},
	}
	for _, tt := range tests {
		for _, rq := range routes {
			t.Run(tt.name+"/"+rq.method+" "+rq.target, func(t *testing.T) {
				e := newEnv(t, func(_ *Deps, o *Options) { o.AdminToken = tt.token })
				if tt.auth != "" {
					rq.header = map[string]string{"Authorization": tt.auth}
				}
				w := e.do(t, rq)
				if w.Code != tt.status {
					t.Fatalf("status = %d, want %d; body %s", w.Code, tt.status, w.Body)
				}
				if tt.code != "" {
					if code := errorCode(t, w); code != tt.code {
						t.Errorf("code = %q, want %q", code, tt.code)
					}
				}
				if got := w.Header().Get("WWW-Authenticate"); (got != "") != tt.wwwAuthent || (got != "" && !strings.HasPrefix(got, "Bearer")) {
					t.Errorf("WWW-Authenticate = %q, want present: %v", got, tt.wwwAuthent)
				}
			})
		}
	}
}

// TestInvalidateConfirmAll: confirm_all reaches the Admin, and its refusal
// is a 400 with a code of its own.
func TestInvalidateConfirmAll(t *testing.T) {
	e := newEnv(t, nil)
	w := e.do(t, req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"pattern":"*"}`})
	if w.Code != 400 || errorCode(t, w) != "confirmation_required" {
		t.Fatalf("pattern * unconfirmed: %d %s", w.Code, w.Body)
	}
	w = e.do(t, req{method: "POST", target: "/admin/cache/invalidate", header: bearer(testToken), body: `{"pattern":"*","confirm_all":true}`})
	if w.Code != 200 || !e.admin.confirm {
		t.Fatalf("pattern * confirmed: %d %s, confirm passed: %v", w.Code, w.Body, e.admin.confirm)
	}
}

func TestRateLimit(t *testing.T) {
	lim := &tinyLimiter{limit: 2, reset: fakeNow.Add(30*time.Second - time.Millisecond)}
	e := newEnv(t, func(d *Deps, _ *Options) { d.Limiter = lim })
	for i, wantRemaining := range []string{"1", "0"} {
		w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
		if w.Code != 200 {
			t.Fatalf("request %d: status %d", i, w.Code)
		}
		want := http.Header{"Ratelimit-Limit": {"2"}, "Ratelimit-Remaining": {wantRemaining}, "Ratelimit-Reset": {"30"}}
		for k, v := range want {
			if got := w.Header().Values(k); !cmp.Equal(got, v) {
				t.Errorf("request %d: %s = %q, want %q", i, k, got, v)
			}
		}
	}
	w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
	if w.Code != 429 {
		t.Fatalf("third request: status %d, want 429", w.Code)
	}
	if code := errorCode(t, w); code != "rate_limited" {
		t.Errorf("code = %q", code)
	}
	want := map[string]string{"Retry-After": "30", "RateLimit-Limit": "2", "RateLimit-Remaining": "0", "RateLimit-Reset": "30"}
	for k, v := range want {
		if got := w.Header().Get(k); got != v {
			t.Errorf("429: %s = %q, want %q", k, got, v)
		}
	}
	// Not limited: operations and admin routes.
	for _, target := range []string{"/healthz", "/readyz", "/admin/cache/stats"} {
		w := e.do(t, req{method: "GET", target: target, header: bearer(testToken)})
		if w.Code != 200 || w.Header().Get("RateLimit-Limit") != "" {
			t.Errorf("GET %s: status %d, RateLimit-Limit %q; want 200 unlimited", target, w.Code, w.Header().Get("RateLimit-Limit"))
		}
	}
	// Another IP has its own budget.
	if w := e.do(t, req{method: "GET", target: "/v1/session", remote: "198.51.100.9:4000"}); w.Code != 200 {
		t.Errorf("other IP: status %d", w.Code)
	}
	if got, want := lim.keys, []string{"192.0.2.1", "192.0.2.1", "192.0.2.1", "198.51.100.9"}; !cmp.Equal(got, want) {
		t.Errorf("limiter keys = %q, want %q", got, want)
	}
}

func TestRateLimitResetPassed(t *testing.T) {
	lim := &tinyLimiter{limit: 0, reset: fakeNow.Add(-time.Second)}
	e := newEnv(t, func(d *Deps, _ *Options) { d.Limiter = lim })
	w := e.do(t, req{method: "GET", target: "/v1/session"})
	if w.Code != 429 {
		t.Fatalf("status %d", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
}

func TestRateLimiterErrorFailsOpen(t *testing.T) {
	lim := &tinyLimiter{err: errors.New("redis down")}
	e := newEnv(t, func(d *Deps, _ *Options) { d.Limiter = lim })
	w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
	if w.Code != 200 {
		t.Fatalf("status %d, want 200 (fail open)", w.Code)
	}
	if got := w.Header().Get("RateLimit-Limit"); got != "" {
		t.Errorf("RateLimit-Limit = %q without limiter state", got)
	}
	if !strings.Contains(e.logs.String(), "redis down") {
		t.Errorf("limiter error not logged:\n%s", e.logs)
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name   string
		remote string
		xff    []string
		want   string
	}{
		{"direct", "203.0.113.7:1234", nil, "203.0.113.7"},
		{"untrusted peer ignores xff", "203.0.113.7:1234", []string{"1.2.3.4"}, "203.0.113.7"},
		{"trusted peer, one hop", "10.0.0.1:80", []string{"198.51.100.2"}, "198.51.100.2"},
		{"rightmost untrusted", "10.0.0.1:80", []string{"1.1.1.1, 198.51.100.2, 10.0.0.5"}, "198.51.100.2"},
		{"spoofed left part", "10.0.0.1:80", []string{"6.6.6.6, 198.51.100.2"}, "198.51.100.2"},
		{"several headers", "10.0.0.1:80", []string{"6.6.6.6", "198.51.100.2, 10.0.0.9"}, "198.51.100.2"},
		// An entry that is no address stops the walk: a trusted proxy wrote
		// it for the client it saw, and what is left of it is the client's
		// own (6.6.6.6 would otherwise escape its limit).
		{"malformed stops the walk", "10.0.0.1:80", []string{"198.51.100.2, not-an-ip, , 10.0.0.5"}, "10.0.0.1"},
		{"unknown stops the walk", "10.0.0.1:80", []string{"6.6.6.6, unknown, 10.0.0.5"}, "10.0.0.1"},
		{"empty entry stops the walk", "10.0.0.1:80", []string{"6.6.6.6,, 10.0.0.5"}, "10.0.0.1"},
		{"untrusted before malformed", "10.0.0.1:80", []string{"unknown, 198.51.100.2, 10.0.0.5"}, "198.51.100.2"},
		{"blank header line ignored", "10.0.0.1:80", []string{"198.51.100.2", "  "}, "198.51.100.2"},
		{"entry with port", "10.0.0.1:80", []string{"198.51.100.2:5555"}, "198.51.100.2"},
		{"ipv6 entry", "10.0.0.1:80", []string{"2001:db8::1"}, "2001:db8::1"},
		{"bracketed ipv6 entry", "10.0.0.1:80", []string{"[2001:db8::1]:443"}, "2001:db8::1"},
		{"all trusted: leftmost", "10.0.0.1:80", []string{"10.1.1.1, 10.2.2.2"}, "10.1.1.1"},
		{"all malformed: peer", "10.0.0.1:80", []string{"garbage, ???"}, "10.0.0.1"},
		{"empty header: peer", "10.0.0.1:80", []string{""}, "10.0.0.1"},
		{"ipv6 trusted peer", "[fd00::1]:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"mapped peer", "[::ffff:10.0.0.1]:80", []string{"203.0.113.9"}, "203.0.113.9"},
		{"mapped entry", "10.0.0.1:80", []string{"::ffff:203.0.113.9"}, "203.0.113.9"},
		{"zone dropped", "[fe80::1%eth0]:80", nil, "fe80::1"},
		{"bad peer", "pipe", []string{"203.0.113.9"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := clientIP(tt.remote, tt.xff, trusted)
			gotS := ""
			if got.IsValid() {
				gotS = got.String()
			}
			if gotS != tt.want {
				t.Errorf("clientIP(%q, %q) = %q, want %q", tt.remote, tt.xff, gotS, tt.want)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	tests := []struct {
		addr string
		bits int
		want string
	}{
		{"203.0.113.7", 64, "203.0.113.7"},
		{"2001:db8:1:2:aaaa::1", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:2:bbbb::2", 64, "2001:db8:1:2::/64"},
		{"2001:db8:1:3::1", 64, "2001:db8:1:3::/64"},
		{"2001:db8:1:2:aaaa::1", 48, "2001:db8:1::/48"},
		{"2001:db8:1:2:aaaa::1", 128, "2001:db8:1:2:aaaa::1"},
	}
	for _, tt := range tests {
		if got := clientKey(netip.MustParseAddr(tt.addr), tt.bits); got != tt.want {
			t.Errorf("clientKey(%s, %d) = %q, want %q", tt.addr, tt.bits, got, tt.want)
		}
	}
	if got := clientKey(netip.Addr{}, 64); got != "" {
		t.Errorf("clientKey(zero) = %q", got)
	}
}

// TestIPv6ClientsShareTheirPrefix: the addresses of one /64 share a rate
// limit and a session; Options.IPv6PrefixBits 128 separates them.
func TestIPv6ClientsShareTheirPrefix(t *testing.T) {
	for _, tt := range []struct {
		bits     int
		wantKeys []string
	}{
		{0, []string{"2001:db8:1:2::/64", "2001:db8:1:2::/64", "2001:db8:1:3::/64", "192.0.2.1"}},
		{128, []string{"2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:3::a", "192.0.2.1"}},
	} {
		t.Run(fmt.Sprint(tt.bits), func(t *testing.T) {
			lim := &tinyLimiter{limit: 100, reset: fakeNow.Add(time.Minute)}
			e := newEnv(t, func(d *Deps, o *Options) { d.Limiter = lim; o.IPv6PrefixBits = tt.bits })
			var sessions []string
			for _, remote := range []string{"[2001:db8:1:2::a]:1", "[2001:db8:1:2::b]:1", "[2001:db8:1:3::a]:1", "192.0.2.1:1"} {
				w := e.do(t, req{method: "GET", target: "/v1/session", remote: remote})
				var us files.UserSession
				if err := json.Unmarshal(w.Body.Bytes(), &us); err != nil || w.Code != 200 {
					t.Fatalf("session of %s: %d %s", remote, w.Code, w.Body)
				}
				sessions = append(sessions, us.IP)
			}
			if !cmp.Equal(lim.keys, tt.wantKeys) {
				t.Errorf("limiter keys %q, want %q", lim.keys, tt.wantKeys)
			}
			if !cmp.Equal(e.cat.touches(), tt.wantKeys) || !cmp.Equal(sessions, tt.wantKeys) {
				t.Errorf("sessions touched %q, answered %q; want %q", e.cat.touches(), sessions, tt.wantKeys)
			}
			// The uploader is the address itself, whatever the key.
			w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"x"}`, remote: "[2001:db8:1:2::a]:1"})
			if !strings.Contains(w.Body.String(), `"uploader_ip":"2001:db8:1:2::a"`) {
				t.Errorf("upload from 2001:db8:1:2::a: %s", w.Body)
			}
		})
	}
}

// TestAdminFailuresLimited: after AdminFailureLimit wrong tokens in a
// window, a client's admin requests are 429 with Retry-After, the right
// token included, until the window ends; other clients are not affected,
// and requests without a token do not count.
func TestAdminFailuresLimited(t *testing.T) {
	now := fakeNow
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	e := newEnv(t, func(_ *Deps, o *Options) { o.Now = clock })
	stats := func(remote, token string) *httptest.ResponseRecorder {
		t.Helper()
		rq := req{method: "GET", target: "/admin/cache/stats", remote: remote}
		if token != "" {
			rq.header = bearer(token)
		}
		return e.do(t, rq)
	}
	const attacker, admin = "203.0.113.66:1", "198.51.100.5:1"
	for range 20 { // no Authorization: not an attempt
		if w := stats(attacker, ""); w.Code != 401 {
			t.Fatalf("without a token: %d", w.Code)
		}
	}
	for i := range DefaultAdminFailureLimit {
		if w := stats(attacker, fmt.Sprintf("guess-%d", i)); w.Code != 401 {
			t.Fatalf("wrong token %d: status %d, want 401", i, w.Code)
		}
	}
	advance(20 * time.Second)
	for _, token := range []string{"guess-more", testToken} {
		w := stats(attacker, token)
		if w.Code != 429 || errorCode(t, w) != "rate_limited" {
			t.Fatalf("token %q after %d failures: %d %s, want 429", token, DefaultAdminFailureLimit, w.Code, w.Body)
		}
		if got := w.Header().Get("Retry-After"); got != "40" {
			t.Errorf("Retry-After = %q, want 40 (the window's rest)", got)
		}
	}
	if w := stats(admin, testToken); w.Code != 200 {
		t.Fatalf("another client: %d, want 200", w.Code)
	}
	// An IPv6 attacker cannot escape by changing addresses within its /64.
	for i := range DefaultAdminFailureLimit {
		stats(fmt.Sprintf("[2001:db8::%x]:1", i+1), "guess")
	}
	if w := stats("[2001:db8::ffff]:1", testToken); w.Code != 429 {
		t.Fatalf("a fresh address in the attacker's /64: %d, want 429", w.Code)
	}
	advance(40 * time.Second)
	if w := stats(attacker, testToken); w.Code != 200 {
		t.Fatalf("after the window: %d, want 200", w.Code)
	}

	off := newEnv(t, func(_ *Deps, o *Options) { o.AdminFailureLimit = -1 })
	for i := range 3 * DefaultAdminFailureLimit {
		if w := off.do(t, req{method: "GET", target: "/admin/cache/stats", header: bearer("guess"), remote: attacker}); w.Code != 401 {
			t.Fatalf("limit off, wrong token %d: %d, want 401", i, w.Code)
		}
	}
}

func TestClientIPThroughHandler(t *testing.T) {
	e := newEnv(t, func(_ *Deps, o *Options) {
		o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::ffff:172.16.0.0/108")}
	})
	for _, tt := range []struct{ remote, xff, want string }{
		{"10.9.9.9:1", "203.0.113.5, 10.0.0.2", "203.0.113.5"},
		{"172.16.0.3:1", "203.0.113.6", "203.0.113.6"}, // mapped trusted prefix applies to IPv4 peers
		{"198.51.100.1:1", "203.0.113.5", "198.51.100.1"},
	} {
		w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"x"}`, remote: tt.remote, header: map[string]string{"X-Forwarded-For": tt.xff}})
		if !strings.Contains(w.Body.String(), `"uploader_ip":"`+tt.want+`"`) {
			t.Errorf("peer %s, XFF %q: body %s, want uploader_ip %s", tt.remote, tt.xff, w.Body, tt.want)
		}
	}
}

func TestPanicBecomes500(t *testing.T) {
	e := newEnv(t, nil)
	e.cat.panicGet = true
	w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
	if w.Code != 500 {
		t.Fatalf("status %d, want 500", w.Code)
	}
	if code := errorCode(t, w); code != "internal" {
		t.Errorf("code %q", code)
	}
	if strings.Contains(w.Body.String(), "fakeCatalog") {
		t.Errorf("body leaks the panic: %s", w.Body)
	}
	logs := e.logs.String()
	for _, want := range []string{"panic serving request", "GetFile panics as asked", "goroutine", "status=500", `route="GET /v1/files/{id}"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	// The handler still serves.
	e.cat.panicGet = false
	if w := e.do(t, req{method: "GET", target: "/v1/files/" + fileID}); w.Code != 200 {
		t.Errorf("after panic: status %d", w.Code)
	}
}

func TestSessionTouch(t *testing.T) {
	e := newEnv(t, nil)
	e.cat.touchErr = errors.New("redis down")
	for _, target := range []string{"/v1/files/" + fileID, "/v1/nope", "/healthz", "/readyz"} {
		e.do(t, req{method: "GET", target: target, remote: "203.0.113.1:9"})
	}
	if got, want := e.cat.touches(), []string{"203.0.113.1", "203.0.113.1"}; !cmp.Equal(got, want) {
		t.Errorf("touched %q, want %q", got, want)
	}
	if !strings.Contains(e.logs.String(), "session touch failed") {
		t.Errorf("touch error not logged at debug:\n%s", e.logs)
	}
}

func TestReadyzUnavailable(t *testing.T) {
	e := newEnv(t, func(d *Deps, _ *Options) { d.Health = fakeHealth{ok: false} })
	w := e.do(t, req{method: "GET", target: "/readyz"})
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
	if code := errorCode(t, w); code != "unavailable" {
		t.Errorf("code %q", code)
	}
	if !strings.Contains(w.Body.String(), `"database":"ok"`) {
		t.Errorf("503 body lacks the report: %s", w.Body)
	}
}

func TestMetricsDelegates(t *testing.T) {
	e := newEnv(t, func(d *Deps, _ *Options) {
		d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = io.WriteString(w, "# HELP up\nup 1\n")
		})
	})
	w := e.do(t, req{method: "GET", target: "/metrics"})
	if w.Code != 200 || w.Body.String() != "# HELP up\nup 1\n" {
		t.Errorf("GET /metrics: %d %q", w.Code, w.Body)
	}
}

func TestObserveRoutes(t *testing.T) {
	type obs struct {
		method, route string
		status        int
	}
	var got []obs
	e := newEnv(t, func(_ *Deps, o *Options) {
		o.Observe = func(method, route string, status int, _ time.Duration) {
			got = append(got, obs{method, route, status})
		}
	})
	e.do(t, req{method: "GET", target: "/v1/files/" + fileID})
	e.do(t, req{method: "GET", target: "/v1/files/" + missingID})
	e.do(t, req{method: "BREW", target: "/coffee"})
	e.do(t, req{method: "POST", target: "/healthz"})
	want := []obs{
		{"GET", "GET /v1/files/{id}", 200},
		{"GET", "GET /v1/files/{id}", 404},
		{"OTHER", UnmatchedRoute, 404},
		{"POST", UnmatchedRoute, 405},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(obs{})); diff != "" {
		t.Errorf("observations (-want +got):\n%s", diff)
	}
}

func TestRoutePatternInHandler(t *testing.T) {
	var route string
	e := newEnv(t, func(d *Deps, _ *Options) {
		d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			route = RoutePattern(r)
			w.WriteHeader(204)
		})
	})
	e.do(t, req{method: "GET", target: "/metrics"})
	if route != "GET /metrics" {
		t.Errorf("RoutePattern = %q", route)
	}
	if got := RoutePattern(httptest.NewRequest("GET", "/", nil)); got != UnmatchedRoute {
		t.Errorf("RoutePattern outside the handler = %q", got)
	}
}

func TestRequestLog(t *testing.T) {
	e := newEnv(t, nil)
	e.do(t, req{method: "PATCH", target: "/v1/files/" + fileID, body: `{"name":"n"}`})
	logs := e.logs.String()
	for _, want := range []string{"http request", "method=PATCH", `route="PATCH /v1/files/{id}"`, "status=200", "duration=", "bytes=", "client_ip=192.0.2.1"} {
		if !strings.Contains(logs, want) {
			t.Errorf("request log lacks %q:\n%s", want, logs)
		}
	}
}

// TestRequestLogLevels: a successful request's line is at Debug (the
// metrics count every request), a 4xx at Info, so that the default level
// costs no line per request served.
func TestRequestLogLevels(t *testing.T) {
	tests := []struct {
		target, level string
	}{
		{"/v1/files/" + fileID, "level=DEBUG"},
		{"/v1/files/" + missingID, "level=INFO"},
		{"/v1/files/not-a-uuid", "level=INFO"},
	}
	for _, tt := range tests {
		e := newEnv(t, nil)
		e.do(t, req{method: "GET", target: tt.target})
		var line string
		for _, l := range strings.Split(e.logs.String(), "\n") {
			if strings.Contains(l, `msg="http request"`) {
				line = l
			}
		}
		if !strings.Contains(line, tt.level) {
			t.Errorf("GET %s: request log line %q, want %s", tt.target, line, tt.level)
		}
	}
}

func TestNewValidates(t *testing.T) {
	ok := Deps{Catalog: newFakeCatalog(), Admin: &fakeAdmin{}, Health: fakeHealth{}}
	tests := []struct {
		name string
		deps Deps
		opts Options
	}{
		{"no catalog", Deps{Admin: ok.Admin, Health: ok.Health}, Options{}},
		{"no admin", Deps{Catalog: ok.Catalog, Health: ok.Health}, Options{}},
		{"no health", Deps{Catalog: ok.Catalog, Admin: ok.Admin}, Options{}},
		{"negative body", ok, Options{MaxBodyBytes: -1}},
		{"invalid prefix", ok, Options{TrustedProxies: []netip.Prefix{{}}}},
		{"negative ipv6 prefix", ok, Options{IPv6PrefixBits: -1}},
		{"ipv6 prefix too long", ok, Options{IPv6PrefixBits: 129}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.deps, tt.opts); err == nil {
				t.Error("New succeeded, want an error")
			}
		})
	}
	if _, err := New(ok, Options{}); err != nil {
		t.Errorf("New with defaults: %v", err)
	}
}

func TestMaxBodyBytesOption(t *testing.T) {
	e := newEnv(t, func(_ *Deps, o *Options) { o.MaxBodyBytes = 16 })
	if w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"0123456789"}`}); w.Code != 413 {
		t.Errorf("17-byte body: status %d, want 413", w.Code)
	}
	if w := e.do(t, req{method: "POST", target: "/v1/files", body: `{"name":"01234"}`}); w.Code != 201 {
		t.Errorf("16-byte body: status %d, want 201", w.Code)
	}
}
