package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// rawRequest is a request written byte for byte on a new connection, so
// that nothing on the client side cleans or escapes it.
type rawRequest struct {
	method, target string
	hdr            []string // name, value pairs
	body           string
	// raw, when set, is sent instead of the request built from the fields
	// above (method is still needed to read the answer).
	raw string
}

func (q rawRequest) bytes() []byte {
	if q.raw != "" {
		return []byte(q.raw)
	}
	var b bytes.Buffer
	// No "Connection: close": with it, net/http closes the connection
	// without draining a body the handler did not read, and the reset that
	// follows may destroy the answer before the client reads it.
	b.WriteString(q.method + " " + q.target + " HTTP/1.1\r\nHost: e2e.test\r\n")
	hasCT := false
	for i := 0; i+1 < len(q.hdr); i += 2 {
		hasCT = hasCT || strings.EqualFold(q.hdr[i], "Content-Type")
		b.WriteString(q.hdr[i] + ": " + q.hdr[i+1] + "\r\n")
	}
	if q.body != "" && !hasCT {
		b.WriteString("Content-Type: application/json\r\n")
	}
	b.WriteString("Content-Length: " + strconv.Itoa(len(q.body)) + "\r\n\r\n")
	b.WriteString(q.body)
	return b.Bytes()
}

// send writes q to the server and reads the answer. It returns an error
// instead of failing t, for the fuzz target.
//
// When net/http refuses a request before its handler reads the body (a
// malformed header, or a handler that answers without reading it) it may
// close the connection with the body unread, and the kernel then resets
// it, destroying the answer. The body did not matter then: send retries
// once without it.
func (s *e2eServer) send(q rawRequest) (e2eResponse, error) {
	r, err := s.sendOnce(q)
	if errors.Is(err, syscall.ECONNRESET) && q.raw == "" && q.body != "" {
		q.body = ""
		return s.sendOnce(q)
	}
	return r, err
}

func (s *e2eServer) sendOnce(q rawRequest) (e2eResponse, error) {
	r := e2eResponse{method: q.method, path: q.target}
	conn, err := net.Dial("tcp", s.Listener.Addr().String())
	if err != nil {
		return r, err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return r, err
	}
	// The server may answer (and close) before it read the whole request:
	// a write error is not the test's concern, the answer is.
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(q.bytes())
		werr <- err
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: q.method})
	if err != nil {
		return r, fmt.Errorf("read answer: %w (write: %v)", err, <-werr)
	}
	defer resp.Body.Close()
	r.status, r.header = resp.StatusCode, resp.Header
	if r.body, err = io.ReadAll(resp.Body); err != nil {
		return r, fmt.Errorf("read body: %w", err)
	}
	_ = conn.Close() // unblocks the writer if the server stopped reading
	<-werr
	return r, nil
}

// byHandler reports whether the handler of the service wrote r (every
// answer of it carries nosniff), rather than net/http's server itself.
func byHandler(r e2eResponse) bool {
	return r.header.Get("X-Content-Type-Options") == "nosniff"
}

// checkAnswer reports what is wrong with any answer of the service: no
// 5xx, and the JSON error body on every error the handler wrote.
func checkAnswer(r e2eResponse) string {
	switch {
	case r.status >= 500:
		return "server error"
	case byHandler(r) && r.status >= 400 && r.method != http.MethodHead: // a HEAD answer has no body
		return checkErrorBody(r, "")
	case !byHandler(r) && r.status != http.StatusOK && r.status != http.StatusBadRequest &&
		r.status != http.StatusRequestHeaderFieldsTooLarge && r.status != http.StatusRequestURITooLong &&
		r.status != http.StatusNotImplemented && r.status != http.StatusHTTPVersionNotSupported:
		return "an answer net/http does not give on its own"
	}
	return ""
}

// nested returns depth opening brackets, closed when closed is true.
func nestedJSON(open, close string, depth int, closed bool) string {
	s := strings.Repeat(open, depth)
	if closed {
		s += strings.Repeat(close, depth)
	}
	return s
}

func manyStrings(n int) string {
	tags := make([]string, n)
	for i := range tags {
		tags[i] = "t" + strconv.Itoa(i)
	}
	b, _ := json.Marshal(tags)
	return string(b)
}

// testHostile sends hostile requests through the real stack: none may be
// a 5xx or escape the JSON error format, none may reach a route it should
// not, and the service must stay healthy.
func testHostile(t *testing.T, s *e2eServer, _ e2eBackend) {
	id := s.create(t, files.NewFile{Name: "victim.txt", Size: 1}).ID
	auth := []string{"Authorization", "Bearer " + testAdminToken}
	longID := strings.Repeat("a", 8000)
	cases := []struct {
		name   string
		req    rawRequest
		status int
		code   string // the error code, when the handler answers an error
		server bool   // net/http's server answers, not the handler
	}{
		// Path tricks never reach another route, nor the admin API.
		{"dotdot", rawRequest{method: "GET", target: "/v1/files/../admin/cache/stats", hdr: auth}, 404, "not_found", false},
		{"dotdot encoded", rawRequest{method: "GET", target: "/v1/files/%2e%2e/admin/cache/stats", hdr: auth}, 404, "not_found", false},
		{"dotdot encoded upper", rawRequest{method: "GET", target: "/v1/files/%2E%2E%2Fadmin%2Fcache%2Fstats", hdr: auth}, 404, "not_found", false},
		{"dotdot id", rawRequest{method: "GET", target: "/v1/files/%2e%2e"}, 404, "not_found", false},
		{"dot", rawRequest{method: "GET", target: "/v1/files/."}, 404, "not_found", false},
		{"dot segment", rawRequest{method: "GET", target: "/./v1/files"}, 404, "not_found", false},
		{"double slash", rawRequest{method: "GET", target: "//v1//files"}, 404, "not_found", false},
		{"double slash admin", rawRequest{method: "GET", target: "//admin/cache/stats", hdr: auth}, 404, "not_found", false},
		{"trailing slash", rawRequest{method: "GET", target: "/v1/files/" + id + "/"}, 404, "not_found", false},
		{"encoded slash id", rawRequest{method: "GET", target: "/v1/files/a%2Fb"}, 400, "invalid_id", false},
		{"encoded slash delete", rawRequest{method: "DELETE", target: "/v1/files/" + id + "%2F"}, 400, "invalid_id", false},
		{"backslash", rawRequest{method: "GET", target: `/v1/files/..\admin`}, 400, "invalid_id", false},
		{"asterisk target", rawRequest{method: "GET", target: "*"}, 404, "not_found", false},
		{"options asterisk", rawRequest{method: "OPTIONS", target: "*"}, 200, "", true},
		{"absolute form", rawRequest{method: "GET", target: "http://evil.example/v1/files/" + id}, 200, "", false},
		{"absolute form admin", rawRequest{method: "GET", target: "http://evil.example/admin/cache/stats"}, 401, "unauthorized", false},
		{"fragment", rawRequest{method: "GET", target: "/v1/files#x"}, 404, "not_found", false},
		{"bad escape", rawRequest{method: "GET", target: "/v1/files/%zz"}, 400, "", true},
		{"lower-case method", rawRequest{method: "get", target: "/v1/files"}, 405, "method_not_allowed", false},
		{"odd method", rawRequest{method: "PROPFIND", target: "/v1/files/" + id}, 405, "method_not_allowed", false},
		{"no host", rawRequest{method: "GET", raw: "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n"}, 400, "", true},

		// Very long input.
		{"long id", rawRequest{method: "GET", target: "/v1/files/" + longID}, 400, "invalid_id", false},
		{"long id delete", rawRequest{method: "DELETE", target: "/v1/files/" + longID}, 400, "invalid_id", false},
		{"long path", rawRequest{method: "GET", target: strings.Repeat("/x", 30000)}, 404, "not_found", false},
		{"long query", rawRequest{method: "GET", target: "/v1/files?q=" + strings.Repeat("q", 50000)}, 400, "validation_failed", false},
		{"long date", rawRequest{method: "GET", target: "/v1/stats/" + strings.Repeat("2", 10000)}, 400, "invalid_date", false},
		{"long token", rawRequest{method: "GET", target: "/admin/cache/stats", hdr: []string{"Authorization", "Bearer " + strings.Repeat("t", 100000)}}, 401, "unauthorized", false},
		{"huge header", rawRequest{method: "GET", target: "/healthz", hdr: []string{"X-Big", strings.Repeat("b", 1100000)}}, 431, "", true},

		// Invalid UTF-8.
		{"raw utf-8 garbage id", rawRequest{method: "GET", target: "/v1/files/\xff\xfe"}, 400, "invalid_id", false},
		{"escaped utf-8 garbage id", rawRequest{method: "GET", target: "/v1/files/%ff%fe"}, 400, "invalid_id", false},
		{"utf-8 id", rawRequest{method: "GET", target: "/v1/files/ünïcödé"}, 400, "invalid_id", false},
		{"raw utf-8 garbage query", rawRequest{method: "GET", target: "/v1/files?q=\xff"}, 400, "validation_failed", false},
		{"escaped utf-8 garbage query", rawRequest{method: "GET", target: "/v1/files?q=%c3%28&tag=%ff"}, 400, "validation_failed", false},
		{"utf-8 garbage cursor", rawRequest{method: "GET", target: "/v1/files?cursor=%ff"}, 400, "invalid_cursor", false},
		{"utf-8 garbage date", rawRequest{method: "GET", target: "/v1/stats/%ff%ff%ff%ff-01-01"}, 400, "invalid_date", false},
		// encoding/json turns invalid UTF-8 into U+FFFD: a valid name.
		{"utf-8 garbage name", rawRequest{method: "POST", target: "/v1/files", body: "{\"name\":\"\xff\xfe\"}"}, 201, "", false},
		{"utf-8 garbage field", rawRequest{method: "POST", target: "/v1/files", body: "{\"\xff\":1}"}, 400, "unknown_field", false},
		{"utf-8 garbage tag", rawRequest{method: "PATCH", target: "/v1/files/" + id, body: "{\"tags\":[\"\xc3\"],\"name\":\"\xff\"}"}, 200, "", false},

		// NUL bytes.
		{"NUL id", rawRequest{method: "GET", target: "/v1/files/%00"}, 400, "invalid_id", false},
		{"NUL raw target", rawRequest{method: "GET", target: "/v1/files/\x00"}, 400, "", true},
		{"NUL query", rawRequest{method: "GET", target: "/v1/files?q=a%00b"}, 400, "validation_failed", false},
		{"NUL tag", rawRequest{method: "GET", target: "/v1/files?tag=%00"}, 400, "validation_failed", false},
		{"NUL name", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a\u0000b"}`}, 400, "validation_failed", false},
		{"NUL raw in JSON", rawRequest{method: "POST", target: "/v1/files", body: "{\"name\":\"a\x00b\"}"}, 400, "invalid_json", false},
		{"NUL after JSON", rawRequest{method: "POST", target: "/v1/files", body: "{\"name\":\"a\"}\x00"}, 400, "invalid_json", false},
		{"NUL header", rawRequest{method: "GET", target: "/admin/cache/stats", hdr: []string{"Authorization", "Bearer \x00"}}, 400, "", true},
		{"NUL key", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"keys":["file:\u0000*"]}`}, 400, "validation_failed", false},
		{"NUL settings", rawRequest{method: "PUT", target: "/v1/settings", hdr: auth, body: `{"max_file_size":1,"allowed_content_types":["a/b\u0000"]}`}, 400, "validation_failed", false},

		// Glob and LIKE characters.
		{"glob id", rawRequest{method: "GET", target: "/v1/files/*"}, 400, "invalid_id", false},
		{"glob id delete", rawRequest{method: "DELETE", target: "/v1/files/*"}, 400, "invalid_id", false},
		{"glob id patch", rawRequest{method: "PATCH", target: "/v1/files/" + id[:35] + "*", body: `{"name":"x"}`}, 400, "invalid_id", false},
		{"glob id downloads", rawRequest{method: "POST", target: "/v1/files/%5B*%5D/downloads"}, 400, "invalid_id", false},
		{"question id", rawRequest{method: "GET", target: "/v1/files/%3F"}, 400, "invalid_id", false},
		{"backslash id", rawRequest{method: "GET", target: "/v1/files/%5C"}, 400, "invalid_id", false},
		{"percent id", rawRequest{method: "GET", target: "/v1/files/%25"}, 400, "invalid_id", false},
		{"glob query", rawRequest{method: "GET", target: "/v1/files?q=*%3F%5B%5C%25_&tag=*"}, 200, "", false},
		{"glob cursor", rawRequest{method: "GET", target: "/v1/files?cursor=*"}, 400, "invalid_cursor", false},
		{"glob date", rawRequest{method: "GET", target: "/v1/stats/2026-0*-01"}, 400, "invalid_date", false},
		{"glob tag invalidation", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"tags":["*","[a-z]*","\\"]}`}, 200, "", false},
		{"glob key invalidation", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"keys":["*","file:*","\\*"]}`}, 200, "", false},
		{"unbalanced pattern", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"pattern":"[\\"}`}, 200, "", false},

		// Huge numbers.
		{"size 1e999", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","size":1e999}`}, 400, "invalid_json", false},
		{"size 2^64", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","size":18446744073709551616}`}, 400, "invalid_json", false},
		{"size float", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","size":1.5}`}, 400, "invalid_json", false},
		{"size min int64", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","size":-9223372036854775808}`}, 400, "validation_failed", false},
		{"size max int64", rawRequest{method: "PATCH", target: "/v1/files/" + id, body: `{"size":9223372036854775807}`}, 400, "validation_failed", false},
		{"limit 2^64", rawRequest{method: "GET", target: "/v1/files?limit=18446744073709551616"}, 400, "validation_failed", false},
		{"limit digits", rawRequest{method: "GET", target: "/v1/files?limit=" + strings.Repeat("9", 5000)}, 400, "validation_failed", false},
		{"warm limit", rawRequest{method: "POST", target: "/admin/cache/warm?limit=99999999999999999999", hdr: auth}, 400, "validation_failed", false},
		{"if-match huge", rawRequest{method: "PATCH", target: "/v1/files/" + id, hdr: []string{"If-Match", `"` + strings.Repeat("9", 400) + `"`}, body: `{"name":"x"}`}, 400, "invalid_if_match", false},
		{"settings huge", rawRequest{method: "PUT", target: "/v1/settings", hdr: auth, body: `{"max_file_size":1e300}`}, 400, "invalid_json", false},
		{"content-length huge", rawRequest{method: "POST", raw: "POST /v1/files HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}"}, 400, "", true},

		// Deep nesting.
		{"nested arrays", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","tags":` + nestedJSON("[", "]", 100000, true) + `}`}, 400, "invalid_json", false},
		{"nested objects", rawRequest{method: "POST", target: "/v1/files", body: `{"name":` + nestedJSON(`{"a":`, "}", 20000, false) + "1" + strings.Repeat("}", 20001)}, 400, "invalid_json", false},
		{"nested unclosed", rawRequest{method: "PATCH", target: "/v1/files/" + id, body: nestedJSON("[", "", 500000, false)}, 400, "invalid_json", false},
		{"nested in settings", rawRequest{method: "PUT", target: "/v1/settings", hdr: auth, body: `{"allowed_content_types":` + nestedJSON("[", "]", 50000, true) + `}`}, 400, "invalid_json", false},
		{"nested invalidation", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"keys":` + nestedJSON("[", "]", 50000, true) + `}`}, 400, "invalid_json", false},

		// Many items.
		{"10k tags", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","tags":` + manyStrings(10000) + `}`}, 400, "validation_failed", false},
		{"10k tags patch", rawRequest{method: "PATCH", target: "/v1/files/" + id, body: `{"tags":` + manyStrings(10000) + `}`}, 400, "validation_failed", false},
		{"10k keys", rawRequest{method: "POST", target: "/admin/cache/invalidate", hdr: auth, body: `{"keys":` + manyStrings(10000) + `}`}, 400, "validation_failed", false},
		{"10k content types", rawRequest{method: "PUT", target: "/v1/settings", hdr: auth, body: `{"max_file_size":1,"allowed_content_types":` + manyStrings(10000) + `}`}, 400, "validation_failed", false},
		{"1k query params", rawRequest{method: "GET", target: "/v1/files?" + strings.Repeat("tag=a&", 1000) + "q=b"}, 200, "", false},
		// net/url refuses more than 10000 parameters.
		{"10k query params", rawRequest{method: "GET", target: "/v1/files?" + strings.Repeat("tag=a&", 10000) + "q=b"}, 400, "invalid_query", false},
		{"duplicate keys", rawRequest{method: "POST", target: "/v1/files", body: `{"name":"a","name":"b","size":1,"size":-1}`}, 400, "validation_failed", false},

		// Headers.
		{"spoofed X-Forwarded-For", rawRequest{method: "GET", target: "/v1/session", hdr: []string{"X-Forwarded-For", "203.0.113.9, ::1, garbage"}}, 200, "", false},
		{"weak If-Match", rawRequest{method: "PATCH", target: "/v1/files/" + id, hdr: []string{"If-Match", `W/"1"`}, body: `{"name":"x"}`}, 400, "invalid_if_match", false},
		{"two If-Match", rawRequest{method: "PATCH", target: "/v1/files/" + id, hdr: []string{"If-Match", `"1"`, "If-Match", `"2"`}, body: `{"name":"x"}`}, 400, "invalid_if_match", false},
		{"two content types", rawRequest{method: "POST", target: "/v1/files", hdr: []string{"Content-Type", "application/json", "Content-Type", "text/plain"}, body: `{"name":"a"}`}, 201, "", false},
		{"chunked", rawRequest{method: "POST", raw: "POST /v1/files HTTP/1.1\r\nHost: e2e\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"nam\r\nZZ\r\n"}, 400, "invalid_json", false},
	}
	created := 1
	for _, tc := range cases {
		r, err := s.send(tc.req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if r.status != tc.status {
			t.Errorf("%s: %v; want %d", tc.name, r, tc.status)
		}
		if msg := checkAnswer(r); msg != "" {
			t.Errorf("%s: %v: %s", tc.name, r, msg)
		}
		if byHandler(r) == tc.server {
			t.Errorf("%s: %v: answered by the handler %v, want %v", tc.name, r, byHandler(r), !tc.server)
		}
		if tc.code != "" && byHandler(r) && r.status >= 400 {
			if msg := checkErrorBody(r, tc.code); msg != "" {
				t.Errorf("%s: %v: %s", tc.name, r, msg)
			}
		}
		if r.status == http.StatusCreated {
			created++
		}
		if tc.name == "spoofed X-Forwarded-For" && r.status == 200 {
			var us files.UserSession
			if err := json.Unmarshal(r.body, &us); err != nil || us.IP != "127.0.0.1" {
				t.Errorf("%s: session %s, want the connection's IP 127.0.0.1 (no trusted proxy)", tc.name, r.body)
			}
		}
	}

	// Still healthy, and still correct.
	wantStatus(t, s.do(t, "GET", "/healthz", nil), http.StatusOK)
	wantStatus(t, s.do(t, "GET", "/readyz", nil), http.StatusOK)
	res, _ := s.search(t, url.Values{"limit": {"200"}})
	if len(res.Items) != created {
		t.Errorf("%d files exist, want the %d created", len(res.Items), created)
	}
	f, _ := s.get(t, id)
	if f.Version != 2 || f.Name != "\uFFFD" || len(f.Tags) != 1 || f.Tags[0] != "\uFFFD" {
		t.Errorf("the victim is %+v, want version 2 with the U+FFFD name and tag of the one valid PATCH", f)
	}
	g := s.create(t, files.NewFile{Name: "after.txt"})
	if got, _ := s.get(t, g.ID); got.Name != "after.txt" {
		t.Errorf("created after the hostile requests: %+v", got)
	}
}

// FuzzE2E sends arbitrary requests, on the wire, to the real service (on
// SQLite and the standalone Redis of TEST_REDIS_URL, or the in-process
// store without it): no 5xx, JSON errors from the handler, and /healthz
// answers after each. The seed corpus runs with go test.
func FuzzE2E(f *testing.F) {
	b := e2eBackend{name: "sqlite/memory", dsn: sqltest.SQLiteDSN}
	if testenv.ServicesRequired() || redisURLSet() {
		b.redis = func(t testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": testenv.Require(t, redistest.EnvRedisURL)}
		}
	}
	s := startE2EServer(f, b, map[string]string{"RATE_LIMIT_PER_MINUTE": "0", "LOG_LEVEL": "error"})
	id := s.create(f, files.NewFile{Name: "seed.txt", Size: 3, Tags: []string{"seed"}}).ID
	const missing = "0190d8c4-7a3e-7bbb-8000-000000000000"
	bearer := "Bearer " + testAdminToken

	seeds := []struct{ method, target, body, contentType, auth, ifMatch string }{
		{"GET", "/v1/files/{id}", "", "", "", ""},
		{"GET", "/v1/files/{id}/info", "", "", "", ""},
		{"GET", "/v1/files/{id}/meta", "", "", "", ""},
		{"GET", "/v1/files/info:{id}/meta", "", "", "", ""},
		{"GET", "/v1/files/" + missing, "", "", "", ""},
		{"POST", "/v1/files", `{"name":"a.txt","size":1,"tags":["x"]}`, "application/json", "", ""},
		{"PATCH", "/v1/files/{id}", `{"name":"b"}`, "", "", `"1"`},
		{"PATCH", "/v1/files/{id}", `{"size":1}`, "", "", `W/"1"`},
		{"DELETE", "/v1/files/" + missing, "", "", "", ""},
		{"GET", "/v1/files?q=*%3F%5B%5C&tag=%00&limit=99999999999999999999&cursor=%ff", "", "", "", ""},
		{"GET", "/v1/files?q=see&tag=seed&limit=1", "", "", "", ""},
		{"POST", "/v1/files/{id}/downloads", "", "", "", ""},
		{"GET", "/v1/stats/2025-02-30", "", "", "", ""},
		{"GET", "/v1/stats/2026-01-01", "", "", "", ""},
		{"GET", "/v1/session", "", "", "", ""},
		{"GET", "/v1/settings", "", "", "", ""},
		{"PUT", "/v1/settings", `{"max_file_size":1}`, "", bearer, ""},
		{"PUT", "/v1/settings", `{"max_file_size":1}`, "", "Bearer x", ""},
		{"POST", "/admin/cache/invalidate", `{"keys":["*"],"pattern":"[\\"}`, "", bearer, ""},
		{"POST", "/admin/cache/invalidate", `{"tags":["files"],"pattern":"file:*"}`, "", bearer, ""},
		{"POST", "/admin/cache/warm?limit=1e3", "", "", bearer, ""},
		{"GET", "/admin/cache/stats", "", "", bearer, ""},
		{"GET", "/admin/cache/report", "", "", bearer, ""},
		{"GET", "/v1/files/../admin/cache/stats", "", "", bearer, ""},
		{"GET", "/v1/files/%2e%2e/%2e%2e/admin", "", "", "", ""},
		{"GET", "//v1//files", "", "", "", ""},
		{"GET", "/v1/files/" + strings.Repeat("a", 5000), "", "", "", ""},
		{"GET", "/v1/files/*?[%5C", "", "", "", ""},
		{"GET", "/v1/files/%00", "", "", "", ""},
		{"POST", "/v1/files", "{\"name\":\"\xff\xfe\"}", "", "", ""},
		{"POST", "/v1/files", `{"name":"a","size":1e999}`, "", "", ""},
		{"POST", "/v1/files", `{"name":"a"}{"name":"b"}`, "text/html", "", ""},
		{"POST", "/v1/files", "{\"name\":\"a\x00\"}", "application/json; charset=\x00", "", ""},
		{"POST", "/v1/files", `{"tags":` + nestedJSON("[", "]", 20000, true) + `}`, "", "", ""},
		{"OPTIONS", "*", "", "", "", ""},
		{"CONNECT", "example.com:443", "", "", "", ""},
		{"BREW", "/v1/files", "", "", "Bearer ☃", ""},
		{"GET", "http://example.com/v1/files/{id}", "", "", "", ""},
		{"HEAD", "/v1/files/{id}", "", "", "", ""},
		{"GET", "/readyz", "", "", "", ""},
	}
	for _, sd := range seeds {
		f.Add(sd.method, sd.target, []byte(sd.body), sd.contentType, sd.auth, sd.ifMatch)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte, contentType, auth, ifMatch string) {
		// "{id}" stands for the id of a file of this process (fuzzing
		// workers each have their own service).
		target = strings.ReplaceAll(target, "{id}", id)
		// Keep the request line and headers the ones given: a CR or LF
		// would make other requests of them.
		for _, v := range []string{method, target, contentType, auth, ifMatch} {
			if strings.ContainsAny(v, "\r\n") {
				t.Skip()
			}
		}
		if method == "" || strings.ContainsAny(method, " \t") || target == "" || strings.ContainsAny(target, " \t") {
			t.Skip()
		}
		q := rawRequest{method: method, target: target, body: string(body)}
		for _, h := range [][2]string{{"Content-Type", contentType}, {"Authorization", auth}, {"If-Match", ifMatch}} {
			if h[1] != "" {
				q.hdr = append(q.hdr, h[0], h[1])
			}
		}
		if contentType == "" {
			q.hdr = append(q.hdr, "Content-Type", "application/json")
		}
		r, err := s.send(q)
		if err != nil {
			t.Fatalf("%s %q: %v", method, target, err)
		}
		if msg := checkAnswer(r); msg != "" {
			t.Fatalf("%v: %s", r, msg)
		}
		if r.status == http.StatusCreated {
			var fm files.FileMetadata
			if err := json.Unmarshal(r.body, &fm); err != nil || files.ValidateID(fm.ID) != nil {
				t.Fatalf("%v: not a created file", r)
			}
		}
		h, err := s.send(rawRequest{method: "GET", target: "/healthz"})
		if err != nil || h.status != http.StatusOK {
			t.Fatalf("after %v: /healthz %v, %v", r, h, err)
		}
	})
}

// redisURLSet reports whether the standalone Redis of the tests is set.
func redisURLSet() bool {
	return os.Getenv(redistest.EnvRedisURL) != ""
}
