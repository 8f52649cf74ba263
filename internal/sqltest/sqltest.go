// Package sqltest gives tests fresh databases: a SQLite file in t.TempDir(),
// or a schema of its own in the PostgreSQL of TEST_DATABASE_URL, dropped
// after the test.
//
//	for _, db := range sqltest.Engines() {
//		t.Run(db.Name, func(t *testing.T) { repo := open(t, db.DSN(t)) })
//	}
//
// When TEST_DATABASE_URL is empty PostgreSQL tests are skipped, or failed
// if REQUIRE_SERVICES=1.
package sqltest

import (
	"context"
	"database/sql"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver of Exec and Scan
	_ "modernc.org/sqlite"             // the "sqlite" driver of Exec and Scan
)

// EnvDatabaseURL names the PostgreSQL database that tests make their
// schemas in, as postgres://user@host:port/db; scripts/test.sh sets it.
const EnvDatabaseURL = "TEST_DATABASE_URL"

// Engine is one kind of database tests run against.
type Engine struct {
	Name string
	// DSN returns the DSN of a fresh, empty database that is removed after t.
	DSN func(t testing.TB) string
}

// Engines returns SQLite and PostgreSQL.
func Engines() []Engine {
	return []Engine{{Name: "sqlite", DSN: SQLiteDSN}, {Name: "postgres", DSN: PostgresDSN}}
}

// SQLiteDSN returns the DSN of a new SQLite file in t.TempDir().
func SQLiteDSN(t testing.TB) string {
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}

// PostgresDSN creates a uniquely named schema in TEST_DATABASE_URL's
// database and returns a DSN whose search_path is that schema; the schema is
// dropped after t.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := testenv.Require(t, EnvDatabaseURL)
	schema := "test_" + strings.ReplaceAll(uuid.NewString(), "-", "")
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
		t.Fatalf("sqltest: create schema: %v", err)
	}
	t.Cleanup(func() {
		// t.Context() is done by now.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := exec(ctx, "DROP SCHEMA "+ident+" CASCADE"); err != nil {
			t.Errorf("sqltest: drop schema: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("sqltest: TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// ProxiedPostgres is PostgresDSN reached through a fault proxy, for tests
// of a database that hangs or drops connections. It returns the DSN, whose
// connections carry the application_name app, the proxy, and a count of
// the server processes serving app, asked on a connection of its own that
// bypasses the proxy.
func ProxiedPostgres(t testing.TB, app string) (dsn string, p *faultproxy.Proxy, backends func() int) {
	t.Helper()
	direct := PostgresDSN(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	p = faultproxy.New(t, u.Host)
	u.Host = p.Addr()
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	backends = func() int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, direct)
		if err != nil {
			t.Fatalf("sqltest: connect to count backends: %v", err)
		}
		defer conn.Close(ctx)
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
			t.Fatalf("sqltest: count backends: %v", err)
		}
		return n
	}
	return u.String(), p, backends
}

// Exec runs stmt on the database of dsn (from SQLiteDSN or PostgresDSN)
// outside any store under test: to break a row on purpose.
func Exec(t testing.TB, dsn, stmt string) {
	t.Helper()
	db := open(t, dsn)
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), stmt); err != nil {
		t.Fatalf("sqltest: %s: %v", stmt, err)
	}
}

// Scan runs query with args on the database of dsn (from SQLiteDSN or
// PostgresDSN) outside any store under test, and scans the one row it
// yields into dest: to see what the tables hold.
func Scan(t testing.TB, dsn string, dest any, query string, args ...any) {
	t.Helper()
	db := open(t, dsn)
	defer db.Close()
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(dest); err != nil {
		t.Fatalf("sqltest: %s: %v", query, err)
	}
}

// open opens the database of dsn with the driver of its engine.
func open(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	driver, source := "pgx", dsn
	if path, ok := strings.CutPrefix(dsn, "sqlite:"); ok {
		driver, source = "sqlite", path
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		t.Fatal(err)
	}
	return db
}
