package catalog_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/outbox"
	"github.com/google/go-cmp/cmp"
)

// env is a catalog on a real repository and a real store.
type env struct {
	repo  *sqlstore.Store
	store cache.Store
	cache *cache.Cache
	cat   *catalog.Catalog
}

type storeKind struct {
	name string
	open func(t *testing.T) cache.Store
}

var storeKinds = []storeKind{
	{"memstore", func(t *testing.T) cache.Store {
		s, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"redis", func(t *testing.T) cache.Store {
		return redisstoretest.Open(t, redisstoretest.StandaloneOptions(t))
	}},
}

// forEach runs fn per store kind on SQLite (the repository is not what these
// tests are about; files/sqlstore covers PostgreSQL).
// newEnvFunc makes an env, its cache store wrapped by wrap and its
// repository by repoWrap when they are not nil.
type newEnvFunc func(t *testing.T, wrap func(cache.Store) cache.Store, repoWrap func(files.Repository) files.Repository) *env

// create creates a file named name through the catalog, or fails t.
func (e *env) create(t *testing.T, name string) files.FileMetadata {
	t.Helper()
	f, err := e.cat.CreateFile(t.Context(), newFile(name), "203.0.113.7")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func forEach(t *testing.T, fn func(t *testing.T, newEnv newEnvFunc)) {
	forEachWith(t, catalog.Options{}, fn)
}

// forEachWith is forEach with catalogs made with opts.
func forEachWith(t *testing.T, opts catalog.Options, fn func(t *testing.T, newEnv newEnvFunc)) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			t.Parallel()
			fn(t, func(t *testing.T, wrap func(cache.Store) cache.Store, repoWrap func(files.Repository) files.Repository) *env {
				repo, err := sqlstore.Open(t.Context(), sqltest.SQLiteDSN(t), sqlstore.Options{})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { repo.Close() })
				store := sk.open(t)
				if wrap != nil {
					store = wrap(store)
				}
				c, err := cache.New(store, cache.Options{Prefix: fmt.Sprintf("cat%08x:", rand.Uint32())})
				if err != nil {
					t.Fatal(err)
				}
				var r files.Repository = repo
				if repoWrap != nil {
					r = repoWrap(repo)
				}
				cat, err := catalog.New(r, repo, c, opts)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(cat.Close)
				return &env{repo: repo, store: store, cache: c, cat: cat}
			})
		})
	}
}

func newFile(name string) files.NewFile {
	return files.NewFile{Name: name, Size: 10, ContentType: "text/plain", Tags: []string{"docs"}}
}

func mustGet(t *testing.T, cat *catalog.Catalog, id string, wantOrigin cache.Origin) files.FileMetadata {
	t.Helper()
	return mustRead(t, "GetFile", cat.GetFile, id, wantOrigin)
}

// mustRead returns what get, the catalog method named name, answers for
// id, failing the test on an error or an origin other than wantOrigin.
func mustRead[T any](t *testing.T, name string, get func(ctx context.Context, id string) (T, cache.Origin, error), id string, wantOrigin cache.Origin) T {
	t.Helper()
	v, origin, err := get(t.Context(), id)
	if err != nil {
		t.Fatalf("%s(%s): %v", name, id, err)
	}
	if origin != wantOrigin {
		t.Fatalf("%s(%s) origin = %v, want %v", name, id, origin, wantOrigin)
	}
	return v
}

func TestReadYourWrites(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		created := e.create(t, "a.txt")
		if got := mustGet(t, e.cat, created.ID, cache.OriginLoad); !cmp.Equal(got, created) {
			t.Fatalf("first read (-created +got):\n%s", cmp.Diff(created, got))
		}
		mustGet(t, e.cat, created.ID, cache.OriginStore)
		name := "b.txt"
		updated, err := e.cat.UpdateFile(ctx, created.ID, files.FilePatch{Name: &name}, created.Version)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, e.cat, created.ID, cache.OriginLoad); got.Name != "b.txt" || got.Version != 2 {
			t.Fatalf("read after update = %+v, want b.txt v2", got)
		}
		if n, err := e.cat.RecordDownload(ctx, created.ID, "198.51.100.1"); err != nil || n != 1 {
			t.Fatalf("RecordDownload = %d, %v", n, err)
		}
		if got := mustGet(t, e.cat, created.ID, cache.OriginLoad); got.DownloadCount != 1 || got.Version != updated.Version {
			t.Fatalf("read after download = %+v", got)
		}
		if err := e.cat.DeleteFile(ctx, created.ID); err != nil {
			t.Fatal(err)
		}
		for range 2 { // the second answer comes from the negative cache
			if _, _, err := e.cat.GetFile(ctx, created.ID); !errors.Is(err, files.ErrNotFound) {
				t.Fatalf("read after delete: %v, want files.ErrNotFound", err)
			}
		}
		if err := e.cat.DeleteFile(ctx, created.ID); !errors.Is(err, files.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
		pending, err := e.repo.Pending(ctx, 10, time.Now().Add(time.Hour))
		if err != nil || len(pending) != 0 {
			t.Fatalf("outbox after delivered writes: %v, %v; want empty", pending, err)
		}
	})
}

func TestRolledBackWriteLeavesCache(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		f := e.create(t, "a.txt")
		mustGet(t, e.cat, f.ID, cache.OriginLoad)
		// A conditional update on a stale version rolls back.
		name := "stale.txt"
		if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 7); !errors.Is(err, files.ErrVersionMismatch) {
			t.Fatalf("stale If-Match: %v", err)
		}
		// A transaction that changes the row, enqueues its invalidation and
		// then fails rolls back too.
		boom := errors.New("boom")
		err := e.repo.WithTx(ctx, func(tx files.Tx) error {
			if _, err := tx.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0, time.Now()); err != nil {
				return err
			}
			if _, err := tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"file:" + f.ID}}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want boom", err)
		}
		if got := mustGet(t, e.cat, f.ID, cache.OriginStore); !cmp.Equal(got, f) {
			t.Fatalf("cached value changed by a rolled-back write (-want +got):\n%s", cmp.Diff(f, got))
		}
		if db, err := e.repo.GetFile(ctx, f.ID); err != nil || db.Name != "a.txt" {
			t.Fatalf("database after rollback: %+v, %v", db, err)
		}
		if pending, _ := e.repo.Pending(ctx, 10, time.Now().Add(time.Hour)); len(pending) != 0 {
			t.Fatalf("rolled-back outbox rows: %v", pending)
		}
	})
}

// slowRepo blocks GetFile after reading the row, to hold a load open while a
// write commits: a fault no real database produces on demand.
type slowRepo struct {
	files.Repository
	hold    atomic.Bool
	inLoad  chan struct{}
	release chan struct{}
}

func (r *slowRepo) GetFile(ctx context.Context, id string) (files.FileMetadata, error) {
	f, err := r.Repository.GetFile(ctx, id)
	if r.hold.CompareAndSwap(true, false) {
		close(r.inLoad)
		<-r.release
	}
	return f, err
}

func TestSlowLoadRacingUpdateStoresNothingStale(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		slow := &slowRepo{inLoad: make(chan struct{}), release: make(chan struct{})}
		e := newEnv(t, nil, func(r files.Repository) files.Repository { slow.Repository = r; return slow })
		ctx := t.Context()
		f := e.create(t, "v1.txt")
		slow.hold.Store(true)
		read := make(chan files.FileMetadata, 1)
		go func() {
			got, _, err := e.cat.GetFile(ctx, f.ID)
			if err != nil {
				t.Error(err)
			}
			read <- got
		}()
		<-slow.inLoad // the reader holds version 1 and the lease
		name := "v2.txt"
		if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0); err != nil {
			t.Fatal(err)
		}
		// The writer's next read sees its write, even with the load in flight.
		if got := mustGet(t, e.cat, f.ID, cache.OriginLoad); got.Name != "v2.txt" {
			t.Fatalf("read after the acknowledged update = %q", got.Name)
		}
		close(slow.release)
		if got := <-read; got.Name != "v1.txt" {
			t.Fatalf("the racing reader got %q; it read before the update", got.Name)
		}
		// The racing reader's version 1 must not have been stored.
		for range 3 {
			got, _, err := e.cat.GetFile(ctx, f.ID)
			if err != nil || got.Name != "v2.txt" {
				t.Fatalf("after the race: %q, %v; want v2.txt", got.Name, err)
			}
		}
	})
}

// ttler is a store that tells a key's remaining TTL (memstore, redisstore).
type ttler interface {
	TTL(ctx context.Context, key string) (time.Duration, error)
}

// flakyStore fails deletes while broken: an outage of the cache between a
// commit and its invalidation.
type flakyStore struct {
	cache.Store
	broken atomic.Bool
}

var errBroken = errors.New("injected: store unreachable")

func (s *flakyStore) Delete(ctx context.Context, keys ...string) (int, error) {
	if s.broken.Load() {
		return 0, errBroken
	}
	return s.Store.Delete(ctx, keys...)
}

func (s *flakyStore) DeleteTag(ctx context.Context, tagKey string) (int, error) {
	if s.broken.Load() {
		return 0, errBroken
	}
	return s.Store.(cache.Tagger).DeleteTag(ctx, tagKey)
}

func (s *flakyStore) AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error {
	return s.Store.(cache.Tagger).AddToTag(ctx, tagKey, ttl, keys...)
}

func TestFailedInvalidationIsReplayedAndNeverServedStale(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		flaky := &flakyStore{}
		e := newEnv(t, func(s cache.Store) cache.Store { flaky.Store = s; return flaky }, nil)
		ctx := t.Context()
		f := e.create(t, "v1.txt")
		mustGet(t, e.cat, f.ID, cache.OriginLoad)
		mustGet(t, e.cat, f.ID, cache.OriginStore)

		flaky.broken.Store(true)
		name := "v2.txt"
		if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0); err != nil {
			t.Fatalf("a committed write must succeed even if its invalidation fails: %v", err)
		}
		// The cache still holds v1; reads bypass it until the outbox is
		// delivered.
		if got := mustGet(t, e.cat, f.ID, cache.OriginLoad); got.Name != "v2.txt" {
			t.Fatalf("read with an undelivered invalidation = %q, want v2.txt", got.Name)
		}
		if n, err := e.cat.Drain(ctx); !errors.Is(err, errBroken) || n != 0 {
			t.Fatalf("Drain while broken = %d, %v", n, err)
		}
		// An unreachable cache is not the entry's fault: no attempt is
		// counted against it, it stays due.
		pending, _ := e.repo.Pending(ctx, 10, time.Now().Add(time.Hour))
		if len(pending) != 1 || pending[0].Attempts != 0 {
			t.Fatalf("pending = %+v, want the one entry, due", pending)
		}
		if st := e.cat.OutboxStats(); st.Failed != 1 {
			t.Fatalf("outbox stats %+v, want the failed delivery counted", st)
		}

		flaky.broken.Store(false)
		if n, err := e.cat.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("Drain after recovery = %d, %v; want 1", n, err)
		}
		mustGet(t, e.cat, f.ID, cache.OriginLoad) // the stale v1 is gone
		if got := mustGet(t, e.cat, f.ID, cache.OriginStore); got.Name != "v2.txt" {
			t.Fatalf("cached after replay = %q", got.Name)
		}
	})
}

func TestSearchStatsSettingsInvalidation(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		q := files.SearchQuery{Q: "report", Limit: 50}
		search := func(wantOrigin cache.Origin) files.SearchResult {
			t.Helper()
			r, origin, err := e.cat.SearchFiles(ctx, q)
			if err != nil || origin != wantOrigin {
				t.Fatalf("SearchFiles = origin %v, %v; want %v", origin, err, wantOrigin)
			}
			return r
		}
		if r := search(cache.OriginLoad); len(r.Items) != 0 {
			t.Fatalf("empty catalog found %d", len(r.Items))
		}
		search(cache.OriginStore)
		f := e.create(t, "Report.pdf")
		if r := search(cache.OriginLoad); len(r.Items) != 1 || r.Items[0].ID != f.ID {
			t.Fatalf("search after create = %+v", r)
		}

		today := time.Now().UTC()
		st, _, err := e.cat.Stats(ctx, today)
		if err != nil || st.Uploads != 1 {
			t.Fatalf("stats = %+v, %v", st, err)
		}
		if _, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.9"); err != nil {
			t.Fatal(err)
		}
		st, origin, err := e.cat.Stats(ctx, today)
		if err != nil || st.Downloads != 1 || st.UniqueIPs != 2 || origin != cache.OriginLoad {
			t.Fatalf("stats after download = %+v (%v), %v", st, origin, err)
		}

		s, _, err := e.cat.Settings(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Announcement = "maintenance at noon"
		if _, err := e.cat.PutSettings(ctx, s); err != nil {
			t.Fatal(err)
		}
		if got, _, err := e.cat.Settings(ctx); err != nil || got.Announcement != s.Announcement {
			t.Fatalf("settings after put = %+v, %v", got, err)
		}
	})
}

func TestSessionSlides(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		const ip = "203.0.113.7"
		touch := func(n int) {
			t.Helper()
			for range n {
				if err := e.cat.TouchSession(ctx, ip); err != nil {
					t.Fatal(err)
				}
			}
		}
		want := func(requests int64) {
			t.Helper()
			s, err := e.cat.Session(ctx, ip)
			if err != nil || s.Requests != requests || s.IP != ip || s.FirstSeen.After(s.LastSeen) || s.FirstSeen.IsZero() {
				t.Fatalf("session = %+v, %v; want %d requests", s, err, requests)
			}
		}
		touch(3)
		want(3) // counted before the flush
		key, _ := e.cache.Keyspace().Key(catalog.FamilySession, ip)
		if _, err := e.store.(ttler).TTL(ctx, key); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("session stored before a flush: %v", err)
		}
		if n, err := e.cat.FlushSessions(ctx); err != nil || n != 1 {
			t.Fatalf("FlushSessions = %d, %v", n, err)
		}
		want(3)
		if ttl, err := e.store.(ttler).TTL(ctx, key); err != nil || ttl > 31*time.Minute || ttl < 25*time.Minute {
			t.Fatalf("session TTL = %v, %v; want about 30m", ttl, err)
		}
		touch(2)
		want(5) // stored and pending together
		if _, err := e.cat.FlushSessions(ctx); err != nil {
			t.Fatal(err)
		}
		want(5)
		if s, err := e.cat.Session(ctx, "198.51.100.1"); err != nil || s.Requests != 0 || s.IP != "198.51.100.1" {
			t.Fatalf("unknown IP: %+v, %v", s, err)
		}
	})
}

func TestWarm(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		var ids []string
		for i := range 5 {
			f, err := e.cat.CreateFile(ctx, newFile(fmt.Sprintf("f%d", i)), "203.0.113.7")
			if err != nil {
				t.Fatal(err)
			}
			for range i {
				if _, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1"); err != nil {
					t.Fatal(err)
				}
			}
			ids = append(ids, f.ID)
		}
		var calls int
		res, err := e.cat.Warm(ctx, catalog.WarmOptions{Limit: 3, Progress: func(catalog.WarmResult, int) { calls++ }})
		if err != nil || res.Files != 3 || res.Loaded != 3 || calls != 3 {
			t.Fatalf("Warm = %+v, %v (%d progress calls)", res, err, calls)
		}
		for _, id := range ids[2:] { // the three most downloaded
			mustGet(t, e.cat, id, cache.OriginStore)
		}
		mustGet(t, e.cat, ids[0], cache.OriginLoad)
		if res, err := e.cat.Warm(ctx, catalog.WarmOptions{Limit: 3}); err != nil || res.Cached != 3 {
			t.Fatalf("second Warm = %+v, %v; want all already cached", res, err)
		}
	})
}

func TestFileTTL(t *testing.T) {
	tests := []struct {
		downloads, size int64
		want            time.Duration
	}{
		{0, 10, time.Hour},
		{100, 10, 2 * time.Hour},
		{1000, 10, 4 * time.Hour},
		{0, 2 << 30, 90 * time.Minute},
		{5000, 2 << 30, catalog.MaxFileTTL},
	}
	for _, tt := range tests {
		got := catalog.FileTTL(time.Hour, files.FileMetadata{DownloadCount: tt.downloads, Size: tt.size})
		if got != tt.want {
			t.Errorf("FileTTL(%d downloads, %d bytes) = %v, want %v", tt.downloads, tt.size, got, tt.want)
		}
	}
}

func TestSettingsAreEnforced(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		f := e.create(t, "a.txt")
		put := func(s files.SystemSettings) {
			t.Helper()
			if _, err := e.cat.PutSettings(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		s := files.DefaultSettings()
		s.MaxFileSize = 100
		s.AllowedContentTypes = []string{"image/*"}
		put(s)
		var ve *files.ValidationError
		big := files.NewFile{Name: "big.png", Size: 200, ContentType: "image/png"}
		if _, err := e.cat.CreateFile(ctx, big, "203.0.113.7"); !errors.As(err, &ve) || ve.Field != "size" {
			t.Fatalf("create over max_file_size: %v", err)
		}
		if _, err := e.cat.CreateFile(ctx, newFile("b.txt"), "203.0.113.7"); !errors.As(err, &ve) || ve.Field != "content_type" {
			t.Fatalf("create of a type not allowed: %v", err)
		}
		if _, err := e.cat.CreateFile(ctx, files.NewFile{Name: "ok.png", Size: 50, ContentType: "image/png"}, "203.0.113.7"); err != nil {
			t.Fatalf("allowed create: %v", err)
		}
		s.MaintenanceMode = true
		put(s)
		var ra interface{ RetryAfter() time.Duration }
		name := "c.txt"
		if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0); !errors.Is(err, catalog.ErrMaintenance) || !errors.As(err, &ra) {
			t.Fatalf("update in maintenance mode: %v", err)
		}
		if err := e.cat.DeleteFile(ctx, f.ID); !errors.Is(err, catalog.ErrMaintenance) {
			t.Fatalf("delete in maintenance mode: %v", err)
		}
		if _, _, err := e.cat.GetFile(ctx, f.ID); err != nil {
			t.Fatalf("reads go on in maintenance mode: %v", err)
		}
	})
}

// TestClientGoneAfterCommit: a client that disconnects right after its
// write committed (its request context ends) does not cancel the write's
// invalidation: the cache drops the old value and the instance keeps its
// cache reads.
func TestClientGoneAfterCommit(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			reqCtx, hangUp := context.WithCancel(t.Context())
			var hungUp atomic.Bool
			cat := openCatalog(t, sk, catalog.Options{
				// The client goes away between the commit and the
				// invalidation.
				AfterCommit: func() {
					if hungUp.Load() {
						hangUp()
					}
				},
			})
			f, err := cat.CreateFile(t.Context(), newFile("v1.txt"), "203.0.113.7")
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, cat, f.ID, cache.OriginLoad)
			mustGet(t, cat, f.ID, cache.OriginStore)
			hungUp.Store(true)
			name := "v2.txt"
			if _, err := cat.UpdateFile(reqCtx, f.ID, files.FilePatch{Name: &name}, 0); err != nil {
				t.Fatalf("the committed write failed for its gone client: %v", err)
			}
			if reqCtx.Err() == nil {
				t.Fatal("the request context was not cancelled: the test proves nothing")
			}
			if cat.CacheReadsSuspended() {
				t.Fatal("a client that hung up after its write suspended the instance's cache reads")
			}
			if got := mustGet(t, cat, f.ID, cache.OriginLoad); got.Name != "v2.txt" {
				t.Fatalf("read after the write = %q, want v2.txt", got.Name)
			}
		})
	}
}

// TestReadBetweenCommitAndInvalidation: a read on the writing instance
// after the commit and before the invalidation answers the committed
// version, not the cached one: a reader that got the new version from the
// database must not get the old one next (fccheck's proxy-cut saw v38,
// then v37 as a near hit, on the instance whose write was in flight).
func TestReadBetweenCommitAndInvalidation(t *testing.T) {
	for _, sk := range storeKinds {
		t.Run(sk.name, func(t *testing.T) {
			var cat *catalog.Catalog
			var id string
			var during []string
			cat = openCatalog(t, sk, catalog.Options{
				AfterCommit: func() {
					if id == "" {
						return
					}
					f, origin, err := cat.GetFile(t.Context(), id)
					if err != nil {
						t.Errorf("read during the write: %v", err)
					}
					during = append(during, fmt.Sprintf("%s (%v)", f.Name, origin))
				},
			})
			f, err := cat.CreateFile(t.Context(), newFile("v1.txt"), "203.0.113.7")
			if err != nil {
				t.Fatal(err)
			}
			mustGet(t, cat, f.ID, cache.OriginLoad)
			mustGet(t, cat, f.ID, cache.OriginStore)
			id = f.ID
			name := "v2.txt"
			if _, err := cat.UpdateFile(t.Context(), f.ID, files.FilePatch{Name: &name}, 0); err != nil {
				t.Fatal(err)
			}
			if len(during) != 1 || during[0] != "v2.txt (miss)" {
				t.Fatalf("read between the commit and the invalidation: %q; want the committed v2.txt from the database", during)
			}
			if got := mustGet(t, cat, f.ID, cache.OriginLoad); got.Name != "v2.txt" {
				t.Fatalf("read after the write = %q, want v2.txt", got.Name)
			}
		})
	}
}

// openCatalog returns a catalog with opts over SQLite and a cache of kind
// sk under a prefix of its own, closed when t ends.
func openCatalog(t *testing.T, sk storeKind, opts catalog.Options) *catalog.Catalog {
	t.Helper()
	repo, err := sqlstore.Open(t.Context(), sqltest.SQLiteDSN(t), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { repo.Close() })
	c, err := cache.New(sk.open(t), cache.Options{Prefix: fmt.Sprintf("cat%08x:", rand.Uint32())})
	if err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	cat, err := catalog.New(repo, repo, c, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cat.Close)
	return cat
}
