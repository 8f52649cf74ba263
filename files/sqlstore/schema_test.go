package sqlstore_test

import (
	"strconv"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/sqltest"
)

// rawValue runs query on the database behind dsn, outside the Store, and
// returns the single value it yields as text.
func rawValue(t *testing.T, dsn, query string) string {
	t.Helper()
	var v string
	sqltest.Scan(t, dsn, &v, query)
	return v
}

// TestSchema checks what the tables hold, beyond what the API shows.
func TestSchema(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		dsn := e.dsn(t)
		s := openStore(t, dsn, sqlstore.Options{})
		f := create(t, s, newFile("f", "a", "b"), "192.0.2.1", day0)
		if got := rawValue(t, dsn, "SELECT CAST(count(*) AS TEXT) FROM file_tags"); got != "2" {
			t.Errorf("file_tags rows after create = %s, want 2", got)
		}
		if got := rawValue(t, dsn, "SELECT CAST(count(*) AS TEXT) FROM schema_migrations"); got != "3" {
			t.Errorf("schema_migrations rows = %s, want 3", got)
		}
		if _, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
			return tx.DeleteFile(t.Context(), f.ID)
		}); err != nil {
			t.Fatal(err)
		}
		// The foreign key cascades (on SQLite only with foreign_keys on).
		if got := rawValue(t, dsn, "SELECT CAST(count(*) AS TEXT) FROM file_tags"); got != "0" {
			t.Errorf("file_tags rows after delete = %s, want 0", got)
		}
		if e.name == "sqlite" {
			if got := rawValue(t, dsn, "PRAGMA journal_mode"); got != "wal" {
				t.Errorf("journal_mode = %s, want wal", got)
			}
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
