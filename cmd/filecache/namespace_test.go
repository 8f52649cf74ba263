package main

import (
	"net/http"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
)

// TestPrefixesThatShareABeginning runs two tenants on one Redis with
// CACHE_PREFIX=ns and CACHE_PREFIX=nsB (each without a separator, as an
// operator may write them): the separator the configuration appends keeps
// an invalidation of everything in ns from touching nsB's keys.
func TestPrefixesThatShareABeginning(t *testing.T) {
	srv := redistest.Standalone(t)
	tenant := func(prefix string) *e2eServer {
		b := e2eBackend{name: prefix, dsn: sqltest.SQLiteDSN, redis: func(testing.TB) map[string]string {
			return map[string]string{"REDIS_URL": srv.URL()}
		}}
		// Near caches off: every read shows what Redis holds.
		return startE2EServer(t, b, map[string]string{"CACHE_PREFIX": prefix, "CACHE_NEAR_SIZE": "0"})
	}
	ns, nsB := tenant("ns"), tenant("nsB")
	if ns.app.cfg.Cache.Prefix != "ns:" || nsB.app.cfg.Cache.Prefix != "nsB:" {
		t.Fatalf("prefixes %q and %q; want ns: and nsB:", ns.app.cfg.Cache.Prefix, nsB.app.cfg.Cache.Prefix)
	}
	fa, fb := ns.create(t, files.NewFile{Name: "a.txt"}), nsB.create(t, files.NewFile{Name: "b.txt"})
	for _, s := range []struct {
		srv *e2eServer
		id  string
	}{{ns, fa.ID}, {nsB, fb.ID}} {
		s.srv.get(t, s.id)
		_, r := s.srv.get(t, s.id)
		wantCache(t, r, "hit")
	}
	type invalidated struct {
		Deleted int `json:"deleted"`
	}
	res := decodeAs[invalidated](t, ns.admin(t, "POST", "/admin/cache/invalidate", map[string]any{"pattern": "*"}), http.StatusOK)
	if res.Deleted < 1 {
		t.Errorf("invalidating everything in ns deleted %d keys, want its own", res.Deleted)
	}
	_, r := nsB.get(t, fb.ID)
	wantCache(t, r, "hit") // nsB's key survived
	_, r = ns.get(t, fa.ID)
	wantCache(t, r, "miss")
}
