package files

import (
	"context"
	"time"

	"github.com/filecache/filecache/outbox"
)

// Repository is the source of truth for file metadata, daily statistics,
// settings and the invalidation outbox. files/sqlstore implements it on
// SQLite and PostgreSQL. Implementations are safe for concurrent use.
//
// Reads return what is committed. Every change of data happens inside
// WithTx, so that the change and its outbox entry commit together (the
// outbox's own bookkeeping is outbox.Store's). Methods that can fail
// because of the database return its error wrapped with the operation; the
// sentinels of this package are returned (wrapped) only where documented.
type Repository interface {
	// GetFile returns the file with the given id, or ErrNotFound.
	GetFile(ctx context.Context, id string) (FileMetadata, error)
	// GetFiles returns the files with the given ids, keyed by id. Ids with
	// no file are absent from the map; that is not an error.
	GetFiles(ctx context.Context, ids []string) (map[string]FileMetadata, error)
	// SearchFiles returns one page of the files whose name contains q.Q
	// (case-insensitive, literally) and, when q.Tag is set, that carry q.Tag,
	// ordered by (created_at, id) descending. The result's NextCursor, passed
	// back as q.Cursor, continues after the last item (keyset pagination: no
	// duplicates or gaps while files are added). It returns a
	// *ValidationError for an invalid q, wrapping ErrBadCursor for a cursor
	// it did not make.
	SearchFiles(ctx context.Context, q SearchQuery) (SearchResult, error)
	// PopularFiles returns up to limit files by download count, most
	// downloaded first (ties: newest first, then by id), starting after
	// the file after (nil: from the top), so that the ranking is walked
	// page by page. A limit below 1 means 10; above 1000 means 1000.
	PopularFiles(ctx context.Context, after *FileMetadata, limit int) ([]FileMetadata, error)
	// GetStats returns the statistics of the UTC day that contains day. A day
	// with no activity has zero counts; that is not an error.
	GetStats(ctx context.Context, day time.Time) (FileStats, error)
	// GetSettings returns the settings last put, or DefaultSettings() if
	// none ever were.
	GetSettings(ctx context.Context) (SystemSettings, error)
	// WithTx runs fn in one SQL transaction and commits if fn returns nil.
	// If fn returns an error (or panics) the transaction is rolled back and
	// that error returned (or the panic resumed). fn must not use the Tx
	// after it returns, nor call write methods of the Repository itself.
	WithTx(ctx context.Context, fn func(Tx) error) error
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the database. Calls after Close fail.
	Close() error
}

// Tx is the write side of a Repository, valid only inside the function
// passed to Repository.WithTx. Times passed as now are stored in UTC,
// truncated to the microsecond. A Tx is not safe for concurrent use.
type Tx interface {
	// CreateFile stores a new file with the given id at version 1 and counts
	// an upload in the statistics of now's UTC day (uploads, bytes uploaded
	// and uploaderIP among the unique IPs). Duplicate tags are stored once.
	// It returns a *ValidationError if f is invalid and ErrConflict if id
	// is taken.
	CreateFile(ctx context.Context, f NewFile, id, uploaderIP string, now time.Time) (FileMetadata, error)
	// UpdateFile applies p to the file, increments its version and sets its
	// update time to now. With ifVersion > 0 the update happens only if the
	// file is at that version (If-Match); ifVersion 0 is unconditional. It
	// returns a *ValidationError if p is invalid, ErrNotFound and
	// ErrVersionMismatch. The upload statistics are not changed.
	UpdateFile(ctx context.Context, id string, p FilePatch, ifVersion int64, now time.Time) (FileMetadata, error)
	// DeleteFile deletes the file and returns it as it was (the caller needs
	// its tags and name to invalidate caches), or ErrNotFound.
	DeleteFile(ctx context.Context, id string) (FileMetadata, error)
	// RecordDownload counts a download of the file by ip at now: the file's
	// download count grows by one, and so do the downloads of now's UTC day,
	// whose unique IPs include ip. It does not change the file's version or
	// update time: a download is not an edit, so it must not make a client's
	// If-Match stale. It returns the file after the increment, or ErrNotFound.
	RecordDownload(ctx context.Context, id, ip string, now time.Time) (FileMetadata, error)
	// RecordDownloads counts n >= 1 downloads of the file at now, as n
	// calls of RecordDownload would, by the clients of ips (each counted
	// among the day's unique IPs; empty ones skipped), in a fixed number of
	// statements: the group commit of a popular file's downloads. It
	// returns the file after the increments, or ErrNotFound.
	RecordDownloads(ctx context.Context, id string, n int, ips []string, now time.Time) (FileMetadata, error)
	// PutSettings replaces the settings, stamping them with now, and returns
	// them as stored. It returns a *ValidationError if s is invalid.
	PutSettings(ctx context.Context, s SystemSettings, now time.Time) (SystemSettings, error)
	// Enqueue adds inv to the outbox, to be delivered after commit, and
	// returns the new entry's id; a store that signals (outbox.Notifier)
	// sends outbox.SignalNew when the transaction commits. Ids grow in the order entries are added
	// (not necessarily the order they commit) and are never reused. The
	// entry exists only if the transaction commits. Its CreatedAt comes
	// from the Repository's clock.
	Enqueue(ctx context.Context, inv outbox.Invalidation) (int64, error)
}
