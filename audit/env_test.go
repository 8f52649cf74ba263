package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// env is the service's parts on real PostgreSQL and Redis: a repository in
// a schema of its own, a cache under a prefix of its own, the catalog that
// writes through the outbox, and the auditor's log.
type env struct {
	dsn   string
	repo  *sqlstore.Store
	redis *redisstore.Store
	cache *cache.Cache
	cat   *catalog.Catalog
	logs  *syncBuffer
}

// newEnv returns an env on the standalone Redis of TEST_REDIS_URL.
func newEnv(t testing.TB) *env {
	t.Helper()
	ropts, err := redisstore.ParseURL(testenv.Require(t, redistest.EnvRedisURL))
	if err != nil {
		t.Fatal(err)
	}
	return newEnvOn(t, ropts)
}

// deployments are the Redis deployments of the tests that walk keys.
var deployments = []struct {
	name string
	opts func(t *testing.T) redisstore.Options
}{
	{"standalone", func(t *testing.T) redisstore.Options {
		o, err := redisstore.ParseURL(testenv.Require(t, redistest.EnvRedisURL))
		if err != nil {
			t.Fatal(err)
		}
		return o
	}},
	{"cluster", func(t *testing.T) redisstore.Options {
		return redisstore.Options{Addrs: testenv.RequireList(t, redistest.EnvRedisClusterNodes)}
	}},
}

func newEnvOn(t testing.TB, ropts redisstore.Options) *env {
	t.Helper()
	e := &env{dsn: sqltest.PostgresDSN(t), logs: &syncBuffer{}}
	var err error
	if e.repo, err = sqlstore.Open(t.Context(), e.dsn, sqlstore.Options{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.repo.Close() })
	if e.redis, err = redisstore.New(t.Context(), ropts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.redis.Close() })
	prefix := fmt.Sprintf("audit%08x:", rand.Uint32())
	if e.cache, err = cache.New(e.redis, cache.Options{Prefix: prefix}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.cache.DeletePattern(context.Background(), "*") })
	quiet := slog.New(slog.DiscardHandler)
	if e.cat, err = catalog.New(e.repo, e.repo, e.cache, catalog.Options{Logger: quiet}); err != nil {
		t.Fatal(err)
	}
	return e
}

// auditor returns an auditor of the catalog's families that logs to e.logs.
func (e *env) auditor(t testing.TB, opts audit.Options) *audit.Auditor {
	t.Helper()
	return e.auditorOf(t, e.cat.AuditFamilies(), opts)
}

func (e *env) auditorOf(t testing.TB, fams []audit.Family, opts audit.Options) *audit.Auditor {
	t.Helper()
	opts.Logger = slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	a, err := audit.New(e.cache, e.redis, e.repo, fams, opts)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// createCached creates n files through the catalog and reads each once, so
// that the cache holds version 1 of every one.
func (e *env) createCached(t testing.TB, n int) []files.FileMetadata {
	t.Helper()
	out := make([]files.FileMetadata, n)
	for i := range out {
		f, err := e.cat.CreateFile(t.Context(), files.NewFile{Name: fmt.Sprintf("f%03d.pdf", i), Size: 100 + int64(i),
			ContentType: "application/pdf", Tags: []string{"docs"}}, "10.0.0.1")
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.cat.GetFile(t.Context(), f.ID); err != nil {
			t.Fatal(err)
		}
		out[i] = f
	}
	return out
}

// bypass changes file id in the database with SQL, as a script or another
// service would: a new version stamped at updatedAt (an SQL expression),
// no outbox entry, no invalidation.
func (e *env) bypass(t *testing.T, id, updatedAt string) {
	t.Helper()
	sqltest.Exec(t, e.dsn, fmt.Sprintf(
		`UPDATE files SET name = 'changed-by-sql.pdf', name_fold = 'changed-by-sql.pdf', version = version + 1, updated_at = %s WHERE id = '%s'`,
		updatedAt, id))
}

// fileKey returns the store key of file id.
func (e *env) fileKey(t *testing.T, id string) string {
	t.Helper()
	return e.cache.Keyspace().Prefix + catalog.FamilyFile + ":" + id
}

// raw returns what Redis holds at key, or "" when nothing.
func (e *env) raw(t *testing.T, key string) string {
	t.Helper()
	b, err := e.redis.Get(t.Context(), key)
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("GET %s: %v", key, err)
	}
	return string(b)
}

// syncBuffer is the log of the env, searched by lines.
type syncBuffer struct{ testenv.Buffer }

// lines returns the lines of the log that contain s.
func (b *syncBuffer) lines(s string) []string {
	var out []string
	for l := range strings.Lines(b.String()) {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return out
}

// family returns the figures of name in s.
func family(t *testing.T, s audit.Stats, name string) audit.FamilyStats {
	t.Helper()
	for _, f := range s.Families {
		if f.Family == name {
			return f
		}
	}
	t.Fatalf("no family %s in %+v", name, s)
	return audit.FamilyStats{}
}
