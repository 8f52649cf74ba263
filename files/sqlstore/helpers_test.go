package sqlstore_test

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
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

func sqliteDSN(t *testing.T) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// postgresDSN creates a uniquely named schema in TEST_DATABASE_URL's
// database and returns a DSN whose search_path is that schema; the schema
// is dropped after t.
func postgresDSN(t *testing.T) string {
	t.Helper()
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("REQUIRE_SERVICES") == "1" {
			t.Fatalf("TEST_DATABASE_URL is not set and REQUIRE_SERVICES=1")
		}
		t.Skipf("TEST_DATABASE_URL is not set")
	}
	schema := "sqlstore_test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	ident := pgx.Identifier{schema}.Sanitize()
	exec := func(ctx context.Context, sql string) error {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer conn.Close(context.Background())
		_, err = conn.Exec(ctx, sql)
		return err
	}
	if err := exec(t.Context(), "CREATE SCHEMA "+ident); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

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

func ptr[T any](v T) *T { return &v }
