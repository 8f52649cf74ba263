package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/filecache/filecache/files"
)

// fileCols are the columns scanFile reads, in order.
const fileCols = `id, name, size, content_type, checksum, tags, uploader_ip, download_count, version, created_at, updated_at`

// Limits of list reads.
const (
	defaultPopularLimit = 10
	maxPopularLimit     = 1000
	// idsPerQuery bounds the ids of one IN list (SQLite allows 32766
	// parameters; PostgreSQL 65535). A power of two: see padIn.
	idsPerQuery = 512
)

type scanner interface {
	Scan(dest ...any) error
}

func scanFile(sc scanner) (files.FileMetadata, error) {
	var (
		f    files.FileMetadata
		tags string
	)
	err := sc.Scan(&f.ID, &f.Name, &f.Size, &f.ContentType, &f.Checksum, &tags,
		&f.UploaderIP, &f.DownloadCount, &f.Version, timeDest{&f.CreatedAt}, timeDest{&f.UpdatedAt})
	if err != nil {
		return files.FileMetadata{}, err
	}
	if f.Tags, err = parseStrings("tags", tags); err != nil {
		return files.FileMetadata{}, err
	}
	return f, nil
}

func scanFiles(rows *sql.Rows) ([]files.FileMetadata, error) {
	defer rows.Close()
	out := []files.FileMetadata{}
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// GetFile returns the file with the given id, or an error wrapping
// files.ErrNotFound.
func (s *Store) GetFile(ctx context.Context, id string) (files.FileMetadata, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	f, err := scanFile(s.rdb.QueryRowContext(ctx, `SELECT `+fileCols+` FROM files WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: get file %q: %w", id, files.ErrNotFound)
	}
	if err != nil {
		return files.FileMetadata{}, fmt.Errorf("sqlstore: get file %q: %w", id, err)
	}
	return f, nil
}

// GetFiles returns the files with the given ids, keyed by id; ids with no
// file are absent. Duplicate ids are fine.
func (s *Store) GetFiles(ctx context.Context, ids []string) (map[string]files.FileMetadata, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	out := make(map[string]files.FileMetadata, len(ids))
	uniq := dedupe(ids)
	for start := 0; start < len(uniq); start += idsPerQuery {
		chunk := uniq[start:min(start+idsPerQuery, len(uniq))]
		args := padIn(nil, chunk)
		rows, err := s.rdb.QueryContext(ctx,
			`SELECT `+fileCols+` FROM files WHERE id IN (`+placeholders(1, len(args))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: get %d files: %w", len(uniq), err)
		}
		fs, err := scanFiles(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlstore: get %d files: %w", len(uniq), err)
		}
		for _, f := range fs {
			out[f.ID] = f
		}
	}
	return out, nil
}

// SearchFiles returns one page of the files whose name contains q.Q and
// that carry q.Tag, newest first; see files.Repository. An invalid query is
// a *files.ValidationError; a cursor it did not make also wraps
// files.ErrBadCursor.
func (s *Store) SearchFiles(ctx context.Context, q files.SearchQuery) (files.SearchResult, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	q = q.Normalize()
	if err := q.Validate(); err != nil {
		return files.SearchResult{}, err
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.Q != "" {
		where = append(where, `f.name_fold LIKE `+arg(likeContains(foldName(q.Q)))+` ESCAPE '\'`)
	}
	if q.Tag != "" {
		where = append(where, `EXISTS (SELECT 1 FROM file_tags t WHERE t.file_id = f.id AND t.tag = `+arg(q.Tag)+`)`)
	}
	if q.Cursor != "" {
		at, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return files.SearchResult{}, err
		}
		where = append(where, `(f.created_at, f.id) < (`+arg(timeArg(at))+`, `+arg(id)+`)`)
	}
	query := `SELECT ` + prefixCols("f.", fileCols) + ` FROM files f`
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	// One more than asked: whether it exists says whether a next page does.
	query += ` ORDER BY f.created_at DESC, f.id DESC LIMIT ` + arg(q.Limit+1)

	rows, err := s.rdb.QueryContext(ctx, query, args...)
	if err != nil {
		return files.SearchResult{}, fmt.Errorf("sqlstore: search files: %w", err)
	}
	items, err := scanFiles(rows)
	if err != nil {
		return files.SearchResult{}, fmt.Errorf("sqlstore: search files: %w", err)
	}
	res := files.SearchResult{Items: items}
	if len(items) > q.Limit {
		res.Items = items[:q.Limit]
		res.NextCursor = encodeCursor(res.Items[q.Limit-1])
	}
	return res, nil
}

// prefixCols qualifies each column of a comma-separated list with prefix.
func prefixCols(prefix, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = prefix + p
	}
	return strings.Join(parts, ", ")
}

// PopularFiles returns up to limit files, most downloaded first (ties:
// newest first, then by id), after the file after (nil: from the top): a
// keyset page of the ranking. A limit below 1 means 10; above 1000 means
// 1000.
func (s *Store) PopularFiles(ctx context.Context, after *files.FileMetadata, limit int) ([]files.FileMetadata, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if limit < 1 {
		limit = defaultPopularLimit
	}
	limit = min(limit, maxPopularLimit)
	where, args := "", []any{limit}
	if after != nil {
		// The ranking's order, descending on every column: a row comes
		// after the cursor when its tuple is smaller.
		where = `WHERE (download_count, created_at, id) < ($2, $3, $4)`
		args = append(args, after.DownloadCount, timeArg(after.CreatedAt), after.ID)
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+fileCols+` FROM files `+where+`
		ORDER BY download_count DESC, created_at DESC, id DESC LIMIT $1`, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: popular files: %w", err)
	}
	out, err := scanFiles(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: popular files: %w", err)
	}
	return out, nil
}

// GetStats returns the statistics of the UTC day containing day; zeros for
// a day without activity.
func (s *Store) GetStats(ctx context.Context, day time.Time) (files.FileStats, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	st := files.FileStats{Date: dayArg(day)}
	// One statement, so that the counts come from one snapshot.
	err := s.rdb.QueryRowContext(ctx, `SELECT
		coalesce((SELECT uploads FROM daily_stats WHERE day = $1), 0),
		coalesce((SELECT downloads FROM daily_stats WHERE day = $1), 0),
		coalesce((SELECT bytes_uploaded FROM daily_stats WHERE day = $1), 0),
		(SELECT count(*) FROM daily_ips WHERE day = $1)`, st.Date).
		Scan(&st.Uploads, &st.Downloads, &st.BytesUploaded, &st.UniqueIPs)
	if err != nil {
		return files.FileStats{}, fmt.Errorf("sqlstore: stats of %s: %w", st.Date, err)
	}
	return st, nil
}

// GetSettings returns the settings last put, or files.DefaultSettings().
// Fields added to SystemSettings after the settings were put keep their
// defaults.
func (s *Store) GetSettings(ctx context.Context) (files.SystemSettings, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	var raw string
	err := s.rdb.QueryRowContext(ctx, `SELECT value FROM settings WHERE id = 1`).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return files.DefaultSettings(), nil
	}
	if err != nil {
		return files.SystemSettings{}, fmt.Errorf("sqlstore: get settings: %w", err)
	}
	return decodeSettings(raw)
}

func decodeSettings(raw string) (files.SystemSettings, error) {
	st := files.DefaultSettings()
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return files.SystemSettings{}, fmt.Errorf("sqlstore: bad settings in database: %w", err)
	}
	if st.AllowedContentTypes == nil {
		st.AllowedContentTypes = []string{}
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	return st, nil
}
