package main

// End-to-end tests of the edges under faults and hostile clients: sessions
// and admin endpoints while Redis fails, stats per family and tier,
// namespaces of invalidation, client keys and admin authentication
// failures. Each runs the real service (openApp, app.handler) on real
// servers.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// privateRedis starts a redis-server of the test's own (it may be killed,
// or invalidated without a prefix) and returns it, a client of it, and an
// e2e backend on SQLite that uses it.
func privateRedis(t *testing.T) (*redistest.Server, rueidis.Client, e2eBackend) {
	t.Helper()
	srv := redistest.Standalone(t)
	rc := redisClient(t, srv)
	b := e2eBackend{
		name:      "sqlite/private-redis",
		dsn:       sqltest.SQLiteDSN,
		redis:     func(testing.TB) map[string]string { return map[string]string{"REDIS_URL": srv.URL()} },
		wantStore: "redis standalone",
	}
	return srv, rc, b
}

// redisClient returns a client of srv, closed when t ends.
func redisClient(t *testing.T, srv *redistest.Server) rueidis.Client {
	t.Helper()
	rc, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatalf("client of Redis %s: %v", srv.Addr(), err)
	}
	t.Cleanup(rc.Close)
	return rc
}

func redisDo(t *testing.T, rc rueidis.Client, args ...string) rueidis.RedisResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return rc.Do(ctx, rc.B().Arbitrary(args...).Build())
}

func redisKeys(t *testing.T, rc rueidis.Client, pattern string) []string {
	t.Helper()
	keys, err := redisDo(t, rc, "KEYS", pattern).AsStrSlice()
	if err != nil {
		t.Fatalf("KEYS %s: %v", pattern, err)
	}
	return keys
}

// wantRetryLater fails t unless r is 503 with Retry-After.
func wantRetryLater(t *testing.T, r e2eResponse) {
	t.Helper()
	wantError(t, r, http.StatusServiceUnavailable, "")
	if r.header.Get("Retry-After") == "" {
		t.Fatalf("%v: 503 without Retry-After", r)
	}
}

// TestSessionAndAdminUnderRedisFaults: GET /v1/session answers 200 from
// what the instance has while its stored session cannot be read (a
// wrong-typed user: key, Redis killed, the breaker open), and the admin
// endpoints answer without a 500: stats with the Redis part marked, report
// and invalidation 503 with Retry-After; all recover with Redis.
func TestSessionAndAdminUnderRedisFaults(t *testing.T) {
	srv, rc, b := privateRedis(t)
	s := startE2EServer(t, b, nil)
	session := func() files.UserSession {
		t.Helper()
		return decodeAs[files.UserSession](t, s.do(t, "GET", "/v1/session", nil), http.StatusOK)
	}
	for range 3 {
		wantStatus(t, s.do(t, "GET", "/v1/settings", nil), http.StatusOK)
	}
	if _, err := s.app.catalog.FlushSessions(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := session(); got.Requests != 4 || got.IP != "127.0.0.1" {
		t.Fatalf("session with Redis up: %+v, want 4 requests of 127.0.0.1", got)
	}

	key := s.app.cfg.Cache.Prefix + "user:127.0.0.1"
	if err := redisDo(t, rc, "DEL", key).Error(); err != nil {
		t.Fatal(err)
	}
	if err := redisDo(t, rc, "RPUSH", key, "x").Error(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 { // enough to open the breaker if such errors count
		if got := session(); got.IP != "127.0.0.1" || got.Requests < 1 {
			t.Fatalf("session %d with a wrong-typed %s: %+v", i, key, got)
		}
	}
	_ = redisDo(t, rc, "DEL", key)

	srv.Kill()
	for i := range 30 {
		if got := session(); got.IP != "127.0.0.1" || got.Requests < 1 {
			t.Fatalf("session %d with Redis killed: %+v", i, got)
		}
	}
	start := time.Now()
	r := s.admin(t, "GET", "/admin/cache/stats", nil)
	took := time.Since(start)
	st := readOK[adminStatsJSON](t, r)
	if len(st.RedisMemory) != 1 || st.RedisMemory[0].Error != "unavailable" || st.RedisMemory[0].UsedBytes != nil ||
		st.Outbox.Pending == nil || st.Outbox.Error != "" || st.Hits == nil {
		t.Fatalf("stats with Redis killed: %s; want the database side, and Redis marked", r.body)
	}
	if took > adminRedisTimeout+hangSlack {
		t.Fatalf("stats with Redis killed took %v", took)
	}
	t.Logf("admin stats with Redis killed: 200 in %v, breaker %s", took.Round(time.Millisecond), st.Breaker)
	wantRetryLater(t, s.admin(t, "GET", "/admin/cache/report", nil))
	wantRetryLater(t, s.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"keys": []string{"file:x"}}))
	if r := s.admin(t, "POST", "/admin/cache/warm", nil); r.status != http.StatusOK {
		wantRetryLater(t, r)
	}

	srv.Restart(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := readOK[adminStatsJSON](t, s.admin(t, "GET", "/admin/cache/stats", nil))
		if len(st.RedisMemory) == 1 && st.RedisMemory[0].Error == "" && st.RedisMemory[0].UsedBytes != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stats after Redis restarted: %+v", st.RedisMemory)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		r := s.admin(t, "GET", "/admin/cache/report", nil)
		if r.status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("report after Redis restarted: %v", r)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tierStats is GET /admin/cache/stats as the tier test reads it.
type tierStats struct {
	Hits          uint64  `json:"hits"`
	NearHits      uint64  `json:"near_hits"`
	StoreHits     uint64  `json:"store_hits"`
	Misses        uint64  `json:"misses"`
	HitRatio      float64 `json:"hit_ratio"`
	NearHitRatio  float64 `json:"near_hit_ratio"`
	StoreHitRatio float64 `json:"store_hit_ratio"`
}

// check reports what is inconsistent in s.
func (s tierStats) check() string {
	ratio := func(n uint64) float64 {
		if s.Hits+s.Misses == 0 {
			return 0
		}
		return float64(n) / float64(s.Hits+s.Misses)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	switch {
	case s.Hits != s.NearHits+s.StoreHits:
		return "hits is not near_hits + store_hits"
	case !near(s.HitRatio, ratio(s.Hits)), !near(s.NearHitRatio, ratio(s.NearHits)), !near(s.StoreHitRatio, ratio(s.StoreHits)):
		return "a ratio disagrees with the counts"
	}
	return ""
}

// TestAdminStatsPerTier reads one file many times and checks that the
// stats count exactly what X-Cache said, per tier, and that the totals,
// the families and their ratios agree.
func TestAdminStatsPerTier(t *testing.T) {
	for _, b := range []e2eBackend{
		{name: "sqlite/standalone", dsn: sqltest.SQLiteDSN, redis: func(t testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": testenv.Require(t, redistest.EnvRedisURL)}
		}},
		{name: "sqlite/memory", dsn: sqltest.SQLiteDSN},
	} {
		t.Run(b.name, func(t *testing.T) {
			s := startE2EServer(t, b, nil)
			f := s.create(t, files.NewFile{Name: "tiers.txt", Size: 1})
			seen := map[string]uint64{}
			for range 40 {
				_, r := s.get(t, f.ID)
				seen[r.header.Get("X-Cache")]++
			}
			r := s.admin(t, "GET", "/admin/cache/stats", nil)
			wantStatus(t, r, http.StatusOK)
			var st struct {
				tierStats
				Families []struct {
					Family string `json:"family"`
					tierStats
				} `json:"families"`
			}
			if err := json.Unmarshal(r.body, &st); err != nil {
				t.Fatal(err)
			}
			if msg := st.check(); msg != "" {
				t.Fatalf("totals: %s: %s", msg, r.body)
			}
			var sum tierStats
			var file *tierStats
			for i, fam := range st.Families {
				if msg := fam.check(); msg != "" {
					t.Fatalf("family %s: %s: %s", fam.Family, msg, r.body)
				}
				sum.Hits += fam.Hits
				sum.NearHits += fam.NearHits
				sum.StoreHits += fam.StoreHits
				sum.Misses += fam.Misses
				if fam.Family == "file" {
					file = &st.Families[i].tierStats
				}
			}
			if sum.Hits != st.Hits || sum.NearHits != st.NearHits || sum.StoreHits != st.StoreHits || sum.Misses != st.Misses {
				t.Fatalf("totals %+v are not the sum of the families %+v", st.tierStats, sum)
			}
			if file == nil {
				t.Fatalf("no file family: %s", r.body)
			}
			if file.NearHits != seen["hit-local"] || file.StoreHits != seen["hit"] || file.Misses != seen["miss"] {
				t.Fatalf("file family %+v; the answers said %v", *file, seen)
			}
			t.Logf("40 reads: X-Cache %v; file family hit ratio %.3f (near %.3f, store %.3f)", seen, file.HitRatio, file.NearHitRatio, file.StoreHitRatio)
		})
	}
}

// TestInvalidateNamespaces: with a prefix, "*" stays inside it, even
// against a prefix that shares its beginning (ns: and nsB:); without one,
// a pattern that could match every key needs "confirm_all".
func TestInvalidateNamespaces(t *testing.T) {
	_, rc, b := privateRedis(t)
	a := startE2EServer(t, b, map[string]string{"CACHE_PREFIX": "ns:"})
	bb := startE2EServer(t, b, map[string]string{"CACHE_PREFIX": "nsB:"})
	fa := a.create(t, files.NewFile{Name: "a.txt"})
	fb := bb.create(t, files.NewFile{Name: "b.txt"})
	a.get(t, fa.ID)
	bb.get(t, fb.ID)
	_, r := bb.get(t, fb.ID)
	wantCache(t, r, "hit", "hit-local")
	keysB := redisKeys(t, rc, "nsB:*")
	if len(keysB) == 0 || len(redisKeys(t, rc, "ns:*")) == 0 {
		t.Fatalf("nothing cached: ns: %q, nsB: %q", redisKeys(t, rc, "ns:*"), keysB)
	}

	n := decodeAs[struct {
		Deleted int `json:"deleted"`
	}](t, a.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": "*"}), http.StatusOK).Deleted
	if n < 1 {
		t.Fatalf("pattern * under ns: deleted %d", n)
	}
	if left := redisKeys(t, rc, "ns:*"); len(left) != 0 {
		t.Fatalf("keys of ns: left after its *: %q", left)
	}
	if after := redisKeys(t, rc, "nsB:*"); len(after) != len(keysB) {
		t.Fatalf("nsB: keys %q after * under ns:, want %q", after, keysB)
	}
	_, r = bb.get(t, fb.ID)
	wantCache(t, r, "hit", "hit-local")
	_, r = a.get(t, fa.ID)
	wantCache(t, r, "miss")

	// No prefix: the Redis database may hold other services' keys.
	c := startE2EServer(t, b, map[string]string{"CACHE_PREFIX": ""})
	fc := c.create(t, files.NewFile{Name: "c.txt"})
	c.get(t, fc.ID)
	if err := redisDo(t, rc, "SET", "other-app:data", "v").Error(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"*", "**", "?*", "[a-z]*", "*:data"} {
		r := c.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": p})
		wantError(t, r, http.StatusBadRequest, "confirmation_required")
		r = c.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": p, "confirm_all": false})
		wantError(t, r, http.StatusBadRequest, "confirmation_required")
	}
	if v, err := redisDo(t, rc, "GET", "other-app:data").ToString(); err != nil || v != "v" {
		t.Fatalf("other-app:data after refused patterns: %q, %v", v, err)
	}
	// A pattern that starts with a literal is confined by it.
	if n := decodeAs[struct {
		Deleted int `json:"deleted"`
	}](t, c.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": "file:*"}), http.StatusOK).Deleted; n != 1 {
		t.Fatalf("pattern file:* without a prefix deleted %d, want 1", n)
	}
	total := len(redisKeys(t, rc, "*"))
	n = decodeAs[struct {
		Deleted int `json:"deleted"`
	}](t, c.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": "*", "confirm_all": true}), http.StatusOK).Deleted
	if n != total || len(redisKeys(t, rc, "*")) != 0 {
		t.Fatalf("confirmed * deleted %d of %d keys; %q left", n, total, redisKeys(t, rc, "*"))
	}
}

// TestClientKeys: an X-Forwarded-For entry that is not an address stops
// the walk, so a client cannot escape its rate limit by writing addresses
// before it; the addresses of one IPv6 /64 share a limit and a session;
// and failed admin authentications are limited per client.
func TestClientKeys(t *testing.T) {
	s := startE2EServer(t, e2eBackend{name: "sqlite/memory", dsn: sqltest.SQLiteDSN}, map[string]string{
		"TRUSTED_PROXIES":       "127.0.0.1",
		"RATE_LIMIT_PER_MINUTE": "10",
	})
	limited := func(xff func(i int) string) (passed int) {
		t.Helper()
		for i := range 15 {
			r := s.do(t, "GET", "/v1/settings", nil, "X-Forwarded-For", xff(i))
			switch r.status {
			case http.StatusOK:
				passed++
			case http.StatusTooManyRequests:
			default:
				t.Fatalf("%v", r)
			}
		}
		return passed
	}
	if n := limited(func(i int) string { return fmt.Sprintf("6.6.6.%d, unknown", i) }); n != 10 {
		t.Errorf("15 requests with a chosen entry before \"unknown\": %d passed a limit of 10", n)
	}
	if n := limited(func(i int) string { return fmt.Sprintf("2001:db8:aa:bb::%x", i+1) }); n != 10 {
		t.Errorf("15 requests from 15 addresses of one /64: %d passed a limit of 10", n)
	}
	if n := limited(func(i int) string { return fmt.Sprintf("203.0.113.%d", i+1) }); n != 15 {
		t.Errorf("15 requests from 15 IPv4 clients: %d passed, want all", n)
	}
	for i, want := range []int64{1, 2} {
		xff := "2001:db8:cc:dd::" + strconv.Itoa(i+1)
		us := decodeAs[files.UserSession](t, s.do(t, "GET", "/v1/session", nil, "X-Forwarded-For", xff), http.StatusOK)
		if us.IP != "2001:db8:cc:dd::/64" || us.Requests != want {
			t.Errorf("session of %s: %+v, want %d requests of 2001:db8:cc:dd::/64", xff, us, want)
		}
	}

	for i := range 10 {
		wantError(t, s.do(t, "GET", "/admin/cache/stats", nil, "Authorization", "Bearer guess-"+strconv.Itoa(i)), http.StatusUnauthorized, "unauthorized")
	}
	r := s.admin(t, "GET", "/admin/cache/stats", nil)
	wantError(t, r, http.StatusTooManyRequests, "rate_limited")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 60 {
		t.Fatalf("%v: Retry-After %q", r, r.header.Get("Retry-After"))
	}
	// Another client (through the trusted proxy) still gets in.
	wantStatus(t, s.admin(t, "GET", "/admin/cache/stats", nil, "X-Forwarded-For", "198.51.100.7"), http.StatusOK)
}
