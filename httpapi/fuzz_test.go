package httpapi

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
)

// allowedStatus is every status the API may answer with the fakes, which
// never fail on their own.
var allowedStatus = map[int]bool{
	200: true, 201: true, 204: true,
	400: true, 401: true, 403: true, 404: true, 405: true, 409: true,
	412: true, 413: true, 415: true, 429: true,
}

// FuzzRequest sends arbitrary requests through the whole handler: it must
// never panic, never answer 500, answer only statuses of the API, and put a
// JSON error with a code in every 4xx.
func FuzzRequest(f *testing.F) {
	long := strings.Repeat("a", 5000)
	seeds := []struct {
		method, target, body, contentType, auth, ifMatch, xff string
	}{
		{"GET", "/v1/files/" + fileID, "", "", "", "", ""},
		{"GET", "/v1/files/" + fileID + "/info", "", "", "", "", ""},
		{"GET", "/v1/files/info:" + fileID + "/meta", "", "", "", "", ""},
		{"POST", "/v1/files", `{"name":"a.txt","size":1,"tags":["x"]}`, "application/json", "", "", ""},
		{"PATCH", "/v1/files/" + fileID, `{"name":"b"}`, "", "", `"1"`, ""},
		{"PATCH", "/v1/files/" + fileID, `{"size":1}`, "", "", `W/"1"`, ""},
		{"DELETE", "/v1/files/" + fileID, "", "", "", "", ""},
		{"GET", "/v1/files?q=*%3F%5B%5C&tag=%00&limit=99999999999999999999&cursor=%ff", "", "", "", "", ""},
		{"POST", "/v1/files/" + fileID + "/downloads", "", "", "", "", ""},
		{"GET", "/v1/stats/2025-02-30", "", "", "", "", ""},
		{"GET", "/v1/session", "", "", "", "", "1.2.3.4, garbage"},
		{"PUT", "/v1/settings", `{"max_file_size":1}`, "", "Bearer " + testToken, "", ""},
		{"POST", "/admin/cache/invalidate", `{"keys":["*"],"pattern":"[\\"}`, "", "Bearer " + testToken, "", ""},
		{"POST", "/admin/cache/warm?limit=1e3", "", "", "Bearer " + testToken, "", ""},
		{"GET", "/v1/files/../admin/cache/stats", "", "", "", "", ""},
		{"GET", "/v1/files/%2e%2e/%2e%2e/admin", "", "", "", "", ""},
		{"GET", "//v1//files", "", "", "", "", ""},
		{"GET", "/v1/files/" + long, "", "", "", "", ""},
		{"GET", "/v1/files/*?[%5C", "", "", "", "", ""},
		{"GET", "/v1/files/%00", "", "", "", "", ""},
		{"POST", "/v1/files", "{\"name\":\"\xff\xfe\"}", "", "", "", ""},
		{"POST", "/v1/files", `{"name":"a","size":1e999}`, "", "", "", ""},
		{"POST", "/v1/files", `{"name":"a"}{"name":"b"}`, "text/html", "", "", ""},
		{"POST", "/v1/files", "{\"name\":\"a\x00\"}", "", "", "", ""},
		{"OPTIONS", "*", "", "", "", "", ""},
		{"CONNECT", "example.com:443", "", "", "", "", ""},
		{"BREW", "/v1/files", "", "", "Bearer ☃", "", ""},
		{"GET", "http://example.com/v1/files/" + fileID, "", "", "", "", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body), s.contentType, s.auth, s.ifMatch, s.xff)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte, contentType, auth, ifMatch, xff string) {
		// A fresh handler each time, so that state (files, logs) stays small.
		e := newEnv(t, func(d *Deps, o *Options) {
			d.Limiter = &tinyLimiter{limit: 1 << 30, reset: fakeNow.Add(time.Minute)}
			o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			o.MaxBodyBytes = 4096
		})
		r := buildRequest(method, target, body, map[string]string{
			"Content-Type": contentType, "Authorization": auth, "If-Match": ifMatch, "X-Forwarded-For": xff,
		})
		if r == nil {
			// Refused by net/http before any handler runs (see
			// TestUnparsableRequestsRefused); the seeds are all parsable.
			t.Skip("not a request the server would parse")
		}
		r.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		e.h.ServeHTTP(w, r)
		if !allowedStatus[w.Code] {
			t.Fatalf("%s %q: status %d not allowed; body %s", method, target, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var b struct {
				Error struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil || b.Error.Code == "" {
				t.Fatalf("%s %q: status %d with body %q, want a JSON error", method, target, w.Code, w.Body)
			}
		}
		if w.Code == 201 {
			var fm files.FileMetadata
			if err := json.Unmarshal(w.Body.Bytes(), &fm); err != nil || files.ValidateID(fm.ID) != nil {
				t.Fatalf("201 with body %q", w.Body)
			}
		}
	})
}

// buildRequest parses the request the way net/http's server does, from its
// wire form, so that the handler sees only requests a server would pass
// on. It returns nil if the server would reject the request itself.
func buildRequest(method, target string, body []byte, header map[string]string) *http.Request {
	var sb strings.Builder
	sb.WriteString(method + " " + target + " HTTP/1.1\r\nHost: example.com\r\n")
	for k, v := range header {
		if v != "" {
			sb.WriteString(k + ": " + v + "\r\n")
		}
	}
	sb.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n")
	sb.Write(body)
	r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(sb.String())))
	if err != nil {
		return nil
	}
	// The server rejects header values with control characters (other than
	// tab); ReadRequest alone does not.
	for _, vs := range r.Header {
		for _, v := range vs {
			for i := 0; i < len(v); i++ {
				if c := v[i]; (c < 0x20 && c != '\t') || c == 0x7f {
					return nil
				}
			}
		}
	}
	return r
}

// TestUnparsableRequestsRefused sends requests that net/http refuses before
// any handler runs (control characters in header values) to a real server
// over TCP: each is answered 400, and the handler never sees it.
func TestUnparsableRequestsRefused(t *testing.T) {
	e := newEnv(t, nil)
	srv := httptest.NewServer(e.h)
	defer srv.Close()
	for _, raw := range []string{
		"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: application/json; charset=\x00\r\nContent-Length: 2\r\n\r\n{}",
		"PUT /v1/settings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x00\r\nContent-Length: 0\r\n\r\n",
		"GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 1.2.3.4\x7f\r\n\r\n",
	} {
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		conn.Close()
		if err != nil {
			t.Fatalf("%q: %v", raw, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q answered %d, want 400 from net/http", raw, resp.StatusCode)
		}
	}
	if touched := e.cat.touches(); len(touched) != 0 {
		t.Errorf("sessions touched by requests net/http refuses: %v", touched)
	}
}
