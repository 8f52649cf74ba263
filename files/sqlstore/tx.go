package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
)

// WithTx runs fn in one transaction and commits if fn returns nil. If fn
// returns an error, that error is returned unchanged after the rollback; if
// fn panics, the transaction is rolled back and the panic resumed.
//
// The transaction, from BEGIN (and the wait for a connection) to COMMIT,
// ends at the Store's Options.Timeout, and so does every call of the Tx,
// whatever context fn passes to it; fn's own work counts too.
//
// On SQLite the transaction holds the database's write lock from its start
// (BEGIN IMMEDIATE) and transactions run one at a time; on PostgreSQL it
// runs at READ COMMITTED, where each Tx method is a single atomic statement
// or a few that lock the file's row first. fn must not call write methods of
// s (on SQLite they would wait for the connection fn holds).
func (s *Store) WithTx(ctx context.Context, fn func(files.Tx) error) (err error) {
	ctx, sp := s.startTx(ctx)
	defer func() { endTx(sp, err) }()
	ctx, cancel := s.bound(ctx)
	defer cancel()
	deadline, _ := ctx.Deadline()
	sqlTx, err := s.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlstore: begin: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// A rollback error matters less than fn's error or panic; the
		// connection is discarded by database/sql if it is broken.
		_ = sqlTx.Rollback()
	}()
	if err := fn(&tx{tx: sqlTx, now: s.now, deadline: deadline, channel: s.channel, span: sp}); err != nil {
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("sqlstore: commit: %w", err)
	}
	committed = true
	return nil
}

// tx implements files.Tx on a *sql.Tx.
type tx struct {
	tx  *sql.Tx
	now func() time.Time
	// deadline is the transaction's: a statement that ran past it would
	// hold the connection that database/sql needs to roll back.
	deadline time.Time
	channel  string // the outbox's notification channel; empty on SQLite
	// span is the transaction's span, the parent of its statements' spans
	// whatever context fn passes them; nil when not traced.
	span trace.Span
}

// bound returns ctx limited to the transaction's deadline, within the
// transaction's span.
func (t *tx) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if t.span != nil {
		ctx = trace.ContextWithSpan(ctx, t.span)
	}
	return context.WithDeadline(ctx, t.deadline)
}

var _ files.Tx = (*tx)(nil)

// CreateFile stores a new file at version 1 and counts the upload. It
// returns a *files.ValidationError for an invalid f or id, and an error
// wrapping files.ErrConflict when id is taken. An empty uploaderIP is not
// counted among the day's unique IPs.
func (t *tx) CreateFile(ctx context.Context, f files.NewFile, id, uploaderIP string, now time.Time) (files.FileMetadata, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	if err := files.ValidateID(id); err != nil {
		return files.FileMetadata{}, err
	}
	if err := f.Validate(); err != nil {
		return files.FileMetadata{}, err
	}
	tags := dedupe(f.Tags)
	m, err := scanFile(t.tx.QueryRowContext(ctx, `INSERT INTO files
		(id, name, name_fold, size, content_type, checksum, tags, uploader_ip, download_count, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 1, $9, $9)
		ON CONFLICT (id) DO NOTHING
		RETURNING `+fileCols,
		id, f.Name, foldName(f.Name), f.Size, f.ContentType, f.Checksum, jsonStrings(tags), uploaderIP, timeArg(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: create file %q: %w", id, files.ErrConflict)
	}
	if err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: create file %q: %w", id, err)
	}
	if err := t.insertTags(ctx, id, tags); err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: create file %q: %w", id, err)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO daily_stats (day, uploads, downloads, bytes_uploaded)
		VALUES ($1, 1, 0, $2)
		ON CONFLICT (day) DO UPDATE SET
			uploads = daily_stats.uploads + 1,
			bytes_uploaded = daily_stats.bytes_uploaded + excluded.bytes_uploaded`,
		dayArg(now), f.Size); err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: create file %q: count upload: %w", id, err)
	}
	if err := t.countIP(ctx, now, uploaderIP); err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: create file %q: %w", id, err)
	}
	return m, nil
}

func (t *tx) insertTags(ctx context.Context, id string, tags []string) error {
	if len(tags) == 0 {
		return nil
	}
	args := []any{id}
	values := make([]string, len(tags))
	for i, tag := range tags {
		args = append(args, tag)
		values[i] = fmt.Sprintf("($1, $%d)", i+2)
	}
	if _, err := t.tx.ExecContext(ctx,
		`INSERT INTO file_tags (file_id, tag) VALUES `+strings.Join(values, ", "), args...); err != nil {
		return fmt.Errorf("store tags: %w", err)
	}
	return nil
}

func (t *tx) countIP(ctx context.Context, now time.Time, ip string) error {
	if ip == "" {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx,
		`INSERT INTO daily_ips (day, ip) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		dayArg(now), ip); err != nil {
		return fmt.Errorf("count ip: %w", err)
	}
	return nil
}

// UpdateFile applies p, increments the version and sets updated_at. With
// ifVersion > 0 it changes nothing unless the file is at that version. It
// returns a *files.ValidationError for an invalid p or a negative
// ifVersion, and errors wrapping files.ErrNotFound or
// files.ErrVersionMismatch.
func (t *tx) UpdateFile(ctx context.Context, id string, p files.FilePatch, ifVersion int64, now time.Time) (files.FileMetadata, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	if err := p.Validate(); err != nil {
		return files.FileMetadata{}, err
	}
	if ifVersion < 0 {
		return files.FileMetadata{}, &files.ValidationError{Field: "version", Message: "must not be negative"}
	}
	var (
		sets []string
		args []any
		tags []string
	)
	set := func(col string, v any) {
		args = append(args, v)
		sets = append(sets, fmt.Sprintf("%s = $%d", col, len(args)))
	}
	set("updated_at", timeArg(now))
	if p.Name != nil {
		set("name", *p.Name)
		set("name_fold", foldName(*p.Name))
	}
	if p.Size != nil {
		set("size", *p.Size)
	}
	if p.ContentType != nil {
		set("content_type", *p.ContentType)
	}
	if p.Checksum != nil {
		set("checksum", *p.Checksum)
	}
	if p.Tags != nil {
		tags = dedupe(*p.Tags)
		set("tags", jsonStrings(tags))
	}
	args = append(args, id)
	where := fmt.Sprintf("id = $%d", len(args))
	if ifVersion > 0 {
		args = append(args, ifVersion)
		where += fmt.Sprintf(" AND version = $%d", len(args))
	}
	// On PostgreSQL the UPDATE locks the row, so concurrent updates of one
	// file queue and each sees the version the previous one committed.
	m, err := scanFile(t.tx.QueryRowContext(ctx,
		`UPDATE files SET version = version + 1, `+strings.Join(sets, ", ")+
			` WHERE `+where+` RETURNING `+fileCols, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return files.FileMetadata{}, t.whyNoRow(ctx, "update", id)
	}
	if err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: update file %q: %w", id, err)
	}
	if p.Tags != nil {
		if _, err := t.tx.ExecContext(ctx, `DELETE FROM file_tags WHERE file_id = $1`, id); err != nil {
			return files.FileMetadata{}, fmt.Errorf("sqlstore: update file %q: replace tags: %w", id, err)
		}
		if err := t.insertTags(ctx, id, tags); err != nil {
			return files.FileMetadata{}, fmt.Errorf("sqlstore: update file %q: %w", id, err)
		}
	}
	return m, nil
}

// whyNoRow tells a missing file from a version mismatch after a
// conditional UPDATE matched no row.
func (t *tx) whyNoRow(ctx context.Context, op, id string) error {
	var one int
	err := t.tx.QueryRowContext(ctx, `SELECT 1 FROM files WHERE id = $1`, id).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s file %q: %w", op, id, files.ErrNotFound)
	case err != nil:
		return fmt.Errorf("sqlstore: %s file %q: %w", op, id, err)
	}
	return fmt.Errorf("sqlstore: %s file %q: %w", op, id, files.ErrVersionMismatch)
}

// DeleteFile deletes the file and returns it as it was, or an error
// wrapping files.ErrNotFound. Its tags go with it; statistics stay.
func (t *tx) DeleteFile(ctx context.Context, id string) (files.FileMetadata, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	m, err := scanFile(t.tx.QueryRowContext(ctx, `DELETE FROM files WHERE id = $1 RETURNING `+fileCols, id))
	if errors.Is(err, sql.ErrNoRows) {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: delete file %q: %w", id, files.ErrNotFound)
	}
	if err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: delete file %q: %w", id, err)
	}
	return m, nil
}

// RecordDownload increments the file's download count (not its version or
// update time) and the downloads of now's UTC day, and adds ip (unless
// empty) to the day's unique IPs. It returns the file after the increment,
// or an error wrapping files.ErrNotFound.
func (t *tx) RecordDownload(ctx context.Context, id, ip string, now time.Time) (files.FileMetadata, error) {
	return t.RecordDownloads(ctx, id, 1, []string{ip}, now)
}

// RecordDownloads is RecordDownload n times in three statements and one
// per distinct IP: the file's row, the day's row, the day's IPs.
func (t *tx) RecordDownloads(ctx context.Context, id string, n int, ips []string, now time.Time) (files.FileMetadata, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	if n < 1 {
		return files.FileMetadata{}, &files.ValidationError{Field: "downloads", Message: fmt.Sprintf("must be at least 1, not %d", n)}
	}
	m, err := scanFile(t.tx.QueryRowContext(ctx,
		`UPDATE files SET download_count = download_count + $2 WHERE id = $1 RETURNING `+fileCols, id, n))
	if errors.Is(err, sql.ErrNoRows) {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: record download of %q: %w", id, files.ErrNotFound)
	}
	if err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: record download of %q: %w", id, err)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO daily_stats (day, uploads, downloads, bytes_uploaded)
		VALUES ($1, 0, $2, 0)
		ON CONFLICT (day) DO UPDATE SET downloads = daily_stats.downloads + $2`,
		dayArg(now), n); err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: record download of %q: %w", id, err)
	}
	seen := make(map[string]bool, 1)
	for _, ip := range ips {
		if seen[ip] {
			continue
		}
		seen[ip] = true
		if err := t.countIP(ctx, now, ip); err != nil {
			return files.FileMetadata{}, fmt.Errorf("sqlstore: record download of %q: %w", id, err)
		}
	}
	return m, nil
}

// PutSettings replaces the settings, stamped with now, and returns them as
// stored. It returns a *files.ValidationError for invalid settings.
func (t *tx) PutSettings(ctx context.Context, st files.SystemSettings, now time.Time) (files.SystemSettings, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	if err := st.Validate(); err != nil {
		return files.SystemSettings{}, err
	}
	st.UpdatedAt = truncTime(now)
	if st.AllowedContentTypes == nil {
		st.AllowedContentTypes = []string{}
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return files.SystemSettings{}, fmt.Errorf("sqlstore: put settings: %w", err)
	}
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO settings (id, value, updated_at) VALUES (1, $1, $2)
		ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
		string(raw), timeArg(now)); err != nil {
		return files.SystemSettings{}, fmt.Errorf("sqlstore: put settings: %w", err)
	}
	return decodeSettings(string(raw))
}

// Enqueue adds inv to the outbox, stamped with the store's clock and with
// the trace context of ctx (if any), and returns the entry's id. On PostgreSQL the same statement sends
// outbox.SignalNew, which PostgreSQL delivers when the transaction commits.
func (t *tx) Enqueue(ctx context.Context, inv outbox.Invalidation) (int64, error) {
	ctx, cancel := t.bound(ctx)
	defer cancel()
	var id int64
	query := `INSERT INTO outbox (keys, tags, created_at, attempts, traceparent) VALUES ($1, $2, $3, 0, $4) RETURNING id`
	args := []any{jsonStrings(inv.Keys), jsonStrings(inv.Tags), timeArg(t.now()), traceParent(ctx)}
	if t.channel != "" {
		query = `WITH entry AS (` + query + `) SELECT id FROM entry, pg_notify($5, $6)`
		args = append(args, t.channel, string(outbox.SignalNew))
	}
	err := t.tx.QueryRowContext(ctx, query, args...).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: enqueue invalidation: %w", err)
	}
	return id, nil
}
