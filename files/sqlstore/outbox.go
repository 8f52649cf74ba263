package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/filecache/filecache/files"
)

// Limits of PendingInvalidations.
const (
	defaultPendingLimit = 100
	maxPendingLimit     = 10000
)

// PendingInvalidations returns up to limit outbox entries not marked done,
// oldest first. A limit below 1 means 100; above 10000 means 10000.
func (s *Store) PendingInvalidations(ctx context.Context, limit int) ([]files.OutboxEntry, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if limit < 1 {
		limit = defaultPendingLimit
	}
	limit = min(limit, maxPendingLimit)
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, keys, tags, created_at, attempts FROM outbox
		WHERE done_at IS NULL ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: pending invalidations: %w", err)
	}
	defer rows.Close()
	out := []files.OutboxEntry{}
	for rows.Next() {
		var (
			e          files.OutboxEntry
			keys, tags string
		)
		if err := rows.Scan(&e.ID, &keys, &tags, timeDest{&e.CreatedAt}, &e.Attempts); err != nil {
			return nil, fmt.Errorf("sqlstore: pending invalidations: %w", err)
		}
		if e.Keys, err = parseStrings("outbox keys", keys); err != nil {
			return nil, err
		}
		if e.Tags, err = parseStrings("outbox tags", tags); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlstore: pending invalidations: %w", err)
	}
	return out, nil
}

// OutboxBacklog returns how many outbox entries are pending.
func (s *Store) OutboxBacklog(ctx context.Context) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var n int64
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE done_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlstore: outbox backlog: %w", err)
	}
	return n, nil
}

// MarkInvalidated marks the entries done at the store's clock's time.
// Unknown and already done ids are ignored.
func (s *Store) MarkInvalidated(ctx context.Context, ids ...int64) error {
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

// RetryLater increments the attempts of an outbox entry, which stays
// pending. It returns an error wrapping files.ErrNotFound for an unknown id.
func (s *Store) RetryLater(ctx context.Context, id int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1 WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("sqlstore: retry invalidation %d: %w", id, err)
	}
	return checkAffected(res, fmt.Sprintf("retry invalidation %d", id))
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

// PruneOutbox deletes the entries marked done before doneBefore and
// returns how many it deleted.
func (s *Store) PruneOutbox(ctx context.Context, doneBefore time.Time) (int64, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	res, err := s.wdb.ExecContext(ctx, `DELETE FROM outbox WHERE done_at IS NOT NULL AND done_at < $1`, timeArg(doneBefore))
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("sqlstore: prune outbox: %w", err)
	}
	return n, nil
}
