// Package sqlstore implements files.Repository on SQL: SQLite through
// modernc.org/sqlite (pure Go, the embedded default) and PostgreSQL through
// github.com/jackc/pgx/v5. Both engines run the same queries through
// database/sql; only the embedded migrations differ per engine.
//
// Usage:
//
//	st, err := sqlstore.Open(ctx, "sqlite:filecache.db", sqlstore.Options{})
//	// or "postgres://user:pass@host:5432/db?sslmode=disable"
//	if err != nil { ... }
//	defer st.Close()
//	err = st.WithTx(ctx, func(tx files.Tx) error {
//		f, err := tx.CreateFile(ctx, nf, files.NewID(), clientIP, time.Now())
//		if err != nil {
//			return err
//		}
//		_, err = tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"file:" + f.ID}, Tags: []string{"files"}})
//		return err
//	})
//
// Open applies the embedded migrations (see Store.Migrate). Times are
// stored in UTC with microsecond precision and read back identically on
// both engines. Tags are stored twice: as a JSON array on the file row (what
// reads return) and one row per tag in file_tags (what tag search reads).
// Name search is case-insensitive on a lower-cased copy of the name folded
// in Go, so both engines agree on non-ASCII names; it is a substring scan,
// fine for the sizes this service holds but not indexed.
//
// Driver errors are translated at the boundary: a missing row becomes
// files.ErrNotFound, a taken id files.ErrConflict, a stale If-Match
// files.ErrVersionMismatch; anything else is returned wrapped with the
// operation.
//
// Every call that touches the database is bounded by Options.Timeout
// (default 3s): a read, a whole transaction, the wait for a pooled
// connection and the connection's set-up within them. A database that hangs
// instead of refusing (a stuck primary, a network that drops packets) makes
// calls fail at that deadline with an error wrapping
// context.DeadlineExceeded; the PostgreSQL connections they interrupted are
// closed and replaced, so the Store recovers by itself when the database
// answers again. The pool is bounded by Options.MaxOpenConns.
//
// A Store is safe for concurrent use. On SQLite, writes and transactions go
// through a single connection and reads through a pool of read-only
// connections (WAL mode lets them proceed while a write is in progress).
package sqlstore
