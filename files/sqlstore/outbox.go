package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
)

var _ outbox.Store = (*Store)(nil)

// Limits of Pending.
const (
	defaultPendingLimit = 100
	maxPendingLimit     = 10000
	// maxReasonBytes bounds the reason kept with an entry set aside.
	maxReasonBytes = 1000
)

// Pending implements outbox.Store. A row that cannot be decoded comes back
// with its Err set, so that the relay sets it aside instead of failing
// every pass. A limit below 1 means 100; above 10000 means 10000.
func (s *Store) Pending(ctx context.Context, limit int, createdBefore time.Time) ([]outbox.Entry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	return s.entries(ctx, "pending invalidations", `SELECT id, keys, tags, created_at, attempts, traceparent FROM outbox
		WHERE done_at IS NULL AND created_at < $1 AND (retry_at IS NULL OR retry_at <= $2)
		ORDER BY id LIMIT $3`, timeArg(createdBefore), timeArg(s.now()), entryLimit(limit))
}

// Since implements outbox.Store. It finds the ids first, the done entries
// through the index on done_at and the pending ones through the index of
// pending entries, and then reads those rows: a query ordered by id would
// walk the hour of done entries the outbox keeps (PostgreSQL chose that
// plan for every form of the query tried, 0.2 s at 10^6 entries). A limit
// below 1 means 100; above 512 means 512.
func (s *Store) Since(ctx context.Context, doneFrom, createdTo time.Time, afterID int64, limit int) ([]outbox.Entry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	rows, err := s.rdb.QueryContext(ctx, `SELECT id FROM outbox WHERE done_at >= $1 AND created_at <= $2 AND id > $3 AND set_aside_at IS NULL
		UNION ALL SELECT id FROM outbox WHERE done_at IS NULL AND created_at <= $2 AND id > $3 AND set_aside_at IS NULL`,
		timeArg(doneFrom), timeArg(createdTo), afterID)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: recent invalidations: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlstore: recent invalidations: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: recent invalidations: %w", err)
	}
	if len(ids) == 0 {
		return []outbox.Entry{}, nil
	}
	slices.Sort(ids)
	ids = ids[:min(len(ids), entryLimit(limit), idsPerQuery)]
	return s.entries(ctx, "recent invalidations", `SELECT id, keys, tags, created_at, attempts, traceparent FROM outbox
		WHERE id IN (`+placeholders(1, len(padIn(nil, ids)))+`) ORDER BY id`, padIn(nil, ids)...)
}

// entryLimit is limit within the limits of Pending and Since.
func entryLimit(limit int) int {
	if limit < 1 {
		return defaultPendingLimit
	}
	return min(limit, maxPendingLimit)
}

// entries runs query, which selects the columns of an outbox.Entry. A row
// that cannot be decoded comes back with its Err set.
func (s *Store) entries(ctx context.Context, what, query string, args ...any) ([]outbox.Entry, error) {
	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	defer rows.Close()
	out := []outbox.Entry{}
	for rows.Next() {
		var (
			e          outbox.Entry
			keys, tags string
			created    string
			trace      sql.NullString
		)
		if err := rows.Scan(&e.ID, &keys, &tags, &created, &e.Attempts, &trace); err != nil {
			// A NULL or mistyped column: the row is unreadable, not
			// the query.
			e.Err = fmt.Errorf("sqlstore: outbox entry %d: %w", e.ID, err)
			out = append(out, e)
			continue
		}
		e.TraceParent = trace.String
		if err := (timeDest{&e.CreatedAt}).Scan(created); err != nil {
			e.Err = err
		}
		if e.Keys, err = parseStrings("outbox keys", keys); err != nil {
			e.Err = err
		}
		if e.Tags, err = parseStrings("outbox tags", tags); err != nil {
			e.Err = err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: %s: %w", what, err)
	}
	return out, nil
}

// Backlog implements outbox.Store.
func (s *Store) Backlog(ctx context.Context) (outbox.Backlog, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var b outbox.Backlog
	var oldest sql.NullString
	err := s.rdb.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM outbox WHERE done_at IS NULL),
		(SELECT min(`+s.timeText("created_at")+`) FROM outbox WHERE done_at IS NULL),
		(SELECT count(*) FROM outbox WHERE set_aside_at IS NOT NULL)`).Scan(&b.Pending, &oldest, &b.SetAside)
	if err != nil {
		return b, fmt.Errorf("sqlstore: outbox backlog: %w", err)
	}
	if oldest.Valid {
		if err := (timeDest{&b.Oldest}).Scan(oldest.String); err != nil {
			return b, err
		}
	}
	return b, nil
}

// timeText returns a SQL expression of a time column as text in the form
// timeDest parses, for aggregates that lose the column's type.
func (s *Store) timeText(col string) string {
	if s.engine == enginePostgres {
		return `to_char(` + col + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`
	}
	return col
}

// MarkDone implements outbox.Store: the entries are marked done at the
// store's clock's time, as many per statement as an IN list takes.
func (s *Store) MarkDone(ctx context.Context, ids ...int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	now := timeArg(s.now())
	for start := 0; start < len(ids); start += idsPerQuery {
		chunk := ids[start:min(start+idsPerQuery, len(ids))]
		args := padIn([]any{now}, chunk)
		if _, err := s.wdb.ExecContext(ctx, `UPDATE outbox SET done_at = $1
			WHERE done_at IS NULL AND id IN (`+placeholders(2, len(args)-1)+`)`, args...); err != nil {
			return fmt.Errorf("sqlstore: mark %d invalidations done: %w", len(ids), err)
		}
	}
	return nil
}

// RetryLater implements outbox.Store. It returns an error wrapping
// files.ErrNotFound for an unknown id.
func (s *Store) RetryLater(ctx context.Context, id int64, at time.Time) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, retry_at = $1 WHERE id = $2`, timeArg(at), id)
	if err != nil {
		return fmt.Errorf("sqlstore: retry invalidation %d: %w", id, err)
	}
	return checkAffected(res, fmt.Sprintf("retry invalidation %d", id))
}

// SetAside implements outbox.Store: the entry is done and kept, with its
// reason, for an operator. It returns an error wrapping files.ErrNotFound
// for an unknown id.
func (s *Store) SetAside(ctx context.Context, id int64, reason string) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if len(reason) > maxReasonBytes {
		reason = reason[:maxReasonBytes]
	}
	now := timeArg(s.now())
	res, err := s.wdb.ExecContext(ctx, `UPDATE outbox SET done_at = $1, set_aside_at = $1, set_aside_reason = $2 WHERE id = $3`, now, reason, id)
	if err != nil {
		return fmt.Errorf("sqlstore: set invalidation %d aside: %w", id, err)
	}
	return checkAffected(res, fmt.Sprintf("set invalidation %d aside", id))
}

func checkAffected(res sql.Result, op string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: %s: %w", op, files.ErrNotFound)
	}
	return nil
}

// Prune implements outbox.Store. Entries set aside are kept.
func (s *Store) Prune(ctx context.Context, doneBefore time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < $1 AND set_aside_at IS NULL`, timeArg(doneBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	return n, nil
}

// Done implements outbox.Store.
func (s *Store) Done(ctx context.Context, id int64) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var pending int
	err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE id = $1 AND done_at IS NULL`, id).Scan(&pending)
	if err != nil {
		return false, fmt.Errorf("sqlstore: outbox entry %d: %w", id, err)
	}
	return pending == 0, nil
}
