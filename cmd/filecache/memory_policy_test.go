package main

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/redis/rueidis"
)

// TestRedisMemoryPolicy checks the start-up check of maxmemory and
// maxmemory-policy on real servers: a server unfit for a cache is named in
// a warning, in /readyz and in the report; REDIS_SET_MAXMEMORY_POLICY sets
// the policy where the user may.
func TestRedisMemoryPolicy(t *testing.T) {
	unfit := redistest.Standalone(t, "--maxmemory", "0", "--maxmemory-policy", "noeviction")
	bounded := redistest.Standalone(t, "--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
	for _, tc := range []struct {
		name      string
		srv       *redistest.Server
		set       string
		wantIssue bool
	}{
		{"unfit", unfit, "", true},
		{"policy set at start-up", bounded, "allkeys-lru", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := map[string]string{
				"DATABASE_URL": sqltest.SQLiteDSN(t),
				"REDIS_URL":    tc.srv.URL(),
				"ADMIN_TOKEN":  testAdminToken,
				"CACHE_PREFIX": "mem:",
			}
			if tc.set != "" {
				vars["REDIS_SET_MAXMEMORY_POLICY"] = tc.set
			}
			var logs testenv.Buffer
			a, h := testApp(t, testConfig(t, vars), slog.New(slog.NewJSONHandler(&logs, nil)), nil)
			s := &e2eServer{Server: httptest.NewServer(h), app: a}
			t.Cleanup(s.Close)

			var ready struct {
				Checks readiness `json:"checks"`
			}
			if err := json.Unmarshal(s.do(t, "GET", "/readyz", nil).body, &ready); err != nil {
				t.Fatal(err)
			}
			issues := strings.Join(ready.Checks.RedisMemory, "\n")
			warned := strings.Contains(logs.String(), "Redis memory policy unfit for a cache")
			if !tc.wantIssue {
				if issues != "" || warned {
					t.Errorf("a fit server reported: /readyz %q, log:\n%s", issues, logs.String())
				}
				c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{tc.srv.Addr()}, DisableCache: true})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if got, err := c.Do(t.Context(), c.B().ConfigGet().Parameter("maxmemory-policy").Build()).AsStrMap(); err != nil || got["maxmemory-policy"] != tc.set {
					t.Errorf("maxmemory-policy after start-up: %v, %v; want %s", got, err, tc.set)
				}
				return
			}
			for _, want := range []string{tc.srv.Addr(), "maxmemory 0", "maxmemory-policy noeviction"} {
				if !strings.Contains(issues, want) {
					t.Errorf("/readyz redis_memory %q lacks %q", issues, want)
				}
			}
			if !warned || !strings.Contains(logs.String(), "maxmemory-policy noeviction") {
				t.Errorf("no warning naming maxmemory and maxmemory-policy in the log:\n%s", logs.String())
			}
			var rep struct {
				Recommendations []struct {
					Code string `json:"code"`
				} `json:"recommendations"`
			}
			if err := json.Unmarshal(s.admin(t, "GET", "/admin/cache/report", nil).body, &rep); err != nil {
				t.Fatal(err)
			}
			codes := map[string]bool{}
			for _, r := range rep.Recommendations {
				codes[r.Code] = true
			}
			if !codes["maxmemory_policy"] || !codes["maxmemory_unbounded"] {
				t.Errorf("the report lacks the memory findings: %+v", rep.Recommendations)
			}
		})
	}
}
