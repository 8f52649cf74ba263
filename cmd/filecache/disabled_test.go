package main

import (
	"net/http"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/sqltest"
)

// TestCacheDisabledSessionsAndLimits checks that CACHE_DISABLED does what the README says:
// every read goes to the database, and sessions and rate limits, which
// live in the cache, are off (no session counted, no RateLimit-* header)
// even with a rate limit configured.
func TestCacheDisabledSessionsAndLimits(t *testing.T) {
	b := e2eBackend{name: "disabled", dsn: sqltest.SQLiteDSN, wantStore: "none (CACHE_DISABLED)"}
	s := startE2EServer(t, b, map[string]string{"CACHE_DISABLED": "true", "RATE_LIMIT_PER_MINUTE": "3"})
	f := s.create(t, files.NewFile{Name: "uncached.txt"})
	for range 5 { // more requests than the rate limit allows
		_, r := s.get(t, f.ID)
		wantCache(t, r, "miss")
		for _, h := range []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"} {
			if v := r.header.Get(h); v != "" {
				t.Errorf("%s: %q with rate limits off", h, v)
			}
		}
	}
	got := decodeAs[files.UserSession](t, s.do(t, "GET", "/v1/session", nil), http.StatusOK)
	if got.IP != "127.0.0.1" || got.Requests != 0 {
		t.Errorf("session after 7 requests with sessions off: %+v, want 127.0.0.1 with no request counted", got)
	}
	testHealth(t, s, b)
}
