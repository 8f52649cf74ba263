package sqlstore_test

import (
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/sqltest"
)

// engine is one database the tests run against.
type engine struct {
	name string
	// dsn returns the DSN of a fresh, empty database (a temp file for
	// SQLite, a new schema for PostgreSQL) that is removed after t.
	dsn func(t *testing.T) string
}

var engines = []engine{
	{name: "sqlite", dsn: sqliteDSN},
	{name: "postgres", dsn: postgresDSN},
}

// forEachEngine runs fn as a parallel subtest per engine.
func forEachEngine(t *testing.T, fn func(t *testing.T, e engine)) {
	t.Helper()
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// newStore opens a Store on a fresh database of e, closed after t.
func (e engine) newStore(t *testing.T, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	return openStore(t, e.dsn(t), opts)
}

func openStore(t *testing.T, dsn string, opts sqlstore.Options) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func sqliteDSN(t *testing.T) string { return sqltest.SQLiteDSN(t) }

func postgresDSN(t *testing.T) string { return sqltest.PostgresDSN(t) }

// day0 is the time most tests run at.
var day0 = time.Date(2024, 3, 10, 12, 0, 0, 0, time.UTC)

func newFile(name string, tags ...string) files.NewFile {
	return files.NewFile{Name: name, Size: 100, ContentType: "text/plain", Tags: tags}
}

// create stores nf under a new id in its own transaction.
func create(t *testing.T, s *sqlstore.Store, nf files.NewFile, ip string, now time.Time) files.FileMetadata {
	t.Helper()
	var m files.FileMetadata
	err := s.WithTx(t.Context(), func(tx files.Tx) error {
		var err error
		m, err = tx.CreateFile(t.Context(), nf, files.NewID(), ip, now)
		return err
	})
	if err != nil {
		t.Fatalf("CreateFile(%q): %v", nf.Name, err)
	}
	return m
}

// inTx runs fn in a transaction of s and returns its error.
func inTx[T any](t *testing.T, s *sqlstore.Store, fn func(tx files.Tx) (T, error)) (T, error) {
	t.Helper()
	var v T
	err := s.WithTx(t.Context(), func(tx files.Tx) error {
		var err error
		v, err = fn(tx)
		return err
	})
	return v, err
}

// download records a download of id in a transaction of s.
func download(t *testing.T, s *sqlstore.Store, id string) error {
	_, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
		return tx.RecordDownload(t.Context(), id, "192.0.2.1", day0)
	})
	return err
}

// concurrently runs n calls of f at once and returns their errors.
func concurrently(n int, f func() error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs[i] = f() })
	}
	wg.Wait()
	return errs
}

func ptr[T any](v T) *T { return &v }
