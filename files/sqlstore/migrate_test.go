package sqlstore_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

func TestMigrateTwice(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		dsn := e.dsn(t)
		s1, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{})
		if err != nil {
			t.Fatalf("first Open: %v", err)
		}
		f := create(t, s1, newFile("survivor"), "", day0)
		v1, err := s1.SchemaVersion(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v1 < 1 {
			t.Fatalf("SchemaVersion = %d after Open", v1)
		}
		if err := s1.Close(); err != nil {
			t.Fatal(err)
		}

		// Reopening runs the migrations again: a no-op (applying the first
		// one twice would fail on the existing tables).
		s2 := openStore(t, dsn, sqlstore.Options{})
		if err := s2.Migrate(t.Context()); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
		v2, err := s2.SchemaVersion(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v2 != v1 {
			t.Errorf("SchemaVersion = %d after reopening, want %d", v2, v1)
		}
		if _, err := s2.GetFile(t.Context(), f.ID); err != nil {
			t.Errorf("file lost by reopening: %v", err)
		}
	})
}

// TestOpenConcurrently starts several stores on one fresh database at once,
// as several processes would: the migrations run once, and all open.
func TestOpenConcurrently(t *testing.T) {
	const n = 6
	forEachEngine(t, func(t *testing.T, e engine) {
		dsn := e.dsn(t)
		var wg sync.WaitGroup
		stores := make([]*sqlstore.Store, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				stores[i], errs[i] = sqlstore.Open(t.Context(), dsn, sqlstore.Options{MaxOpenConns: 2})
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("Open %d: %v", i, err)
				continue
			}
			defer stores[i].Close()
		}
		if t.Failed() {
			return
		}
		// Every store sees the others' writes.
		f := create(t, stores[0], newFile("shared"), "", day0)
		for i, s := range stores {
			if _, err := s.GetFile(t.Context(), f.ID); err != nil {
				t.Errorf("store %d: GetFile: %v", i, err)
			}
		}
		// Stores write at once without SQLITE_BUSY or lost updates, as
		// processes sharing the database would.
		const perStore = 5
		var ww sync.WaitGroup
		for _, s := range stores {
			for range perStore {
				ww.Go(func() {
					if err := download(t, s, f.ID); err != nil {
						t.Errorf("RecordDownload: %v", err)
					}
				})
			}
		}
		ww.Wait()
		got, err := stores[n-1].GetFile(t.Context(), f.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.DownloadCount != n*perStore {
			t.Errorf("download_count = %d, want %d", got.DownloadCount, n*perStore)
		}
	})
}

func TestOpenOptions(t *testing.T) {
	tests := []struct {
		name string
		opts sqlstore.Options
	}{
		{name: "negative MaxOpenConns", opts: sqlstore.Options{MaxOpenConns: -1}},
		{name: "negative MaxIdleConns", opts: sqlstore.Options{MaxIdleConns: -1}},
		{name: "negative ConnMaxLifetime", opts: sqlstore.Options{ConnMaxLifetime: -1}},
		{name: "negative ConnMaxIdleTime", opts: sqlstore.Options{ConnMaxIdleTime: -1}},
		{name: "negative BusyTimeout", opts: sqlstore.Options{BusyTimeout: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sqlstore.Open(t.Context(), sqliteDSN(t), tc.opts)
			if err == nil || !strings.Contains(err.Error(), "negative") {
				t.Errorf("Open error = %v, want one about a negative option", err)
			}
		})
	}
}

func TestOpenBadDSN(t *testing.T) {
	const secret = "s3cr3t-pw"
	tests := []struct {
		name   string
		dsn    string
		badDSN bool // wraps ErrBadDSN (else: a connection error)
	}{
		{name: "empty", dsn: "", badDSN: true},
		{name: "unknown scheme", dsn: "mysql://root:" + secret + "@localhost/db", badDSN: true},
		{name: "no scheme", dsn: "/var/lib/filecache.db", badDSN: true},
		{name: "sqlite without path", dsn: "sqlite:", badDSN: true},
		{name: "sqlite in memory", dsn: "sqlite::memory:", badDSN: true},
		{name: "sqlite with parameters", dsn: "sqlite:x.db?_pragma=foo", badDSN: true},
		{name: "postgres bad port", dsn: "postgres://u:" + secret + "@localhost:99999999/db", badDSN: true},
		{name: "postgres bad url", dsn: "postgres://u:" + secret + "@[::1/db", badDSN: true},
		{name: "postgres bad sslmode", dsn: "postgres://u:" + secret + "@localhost/db?sslmode=bogus", badDSN: true},
		{name: "postgres password parameter", dsn: "postgresql://localhost/db?password=" + secret + "&sslmode=bogus", badDSN: true},
		{name: "postgres percent-encoded password", dsn: "postgres://u:" + secret + "%21@localhost:x/db", badDSN: true},
		{name: "postgres unreachable", dsn: "postgres://u:" + secret + "@127.0.0.1:1/db?connect_timeout=2&sslmode=disable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.Open(t.Context(), tc.dsn, sqlstore.Options{})
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tc.dsn)
			}
			if got := errors.Is(err, sqlstore.ErrBadDSN); got != tc.badDSN {
				t.Errorf("errors.Is(err, ErrBadDSN) = %v, want %v; err = %v", got, tc.badDSN, err)
			}
			for e := error(err); e != nil; e = errors.Unwrap(e) {
				if strings.Contains(e.Error(), secret) {
					t.Errorf("error text contains the password: %v", e)
				}
			}
		})
	}
}

func TestEngine(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		if got := s.Engine(); got != e.name {
			t.Errorf("Engine() = %q, want %q", got, e.name)
		}
		if err := s.Ping(t.Context()); err != nil {
			t.Errorf("Ping: %v", err)
		}
	})
}

func TestClosed(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s, err := sqlstore.Open(t.Context(), e.dsn(t), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(t.Context()); err == nil {
			t.Error("Ping after Close succeeded")
		}
		if _, err := s.GetFile(t.Context(), files.NewID()); err == nil || errors.Is(err, files.ErrNotFound) {
			t.Errorf("GetFile after Close: error = %v, want a closed-database error", err)
		}
	})
}
