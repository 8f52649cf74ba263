package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// fetch reads id of family through the cache, or straight from load while
// the cache may be stale (see Catalog.CacheReadsSuspended).
func fetch[T any](ctx context.Context, c *Catalog, f *cache.Family[T], id string, load cache.Loader[T]) (T, cache.Origin, error) {
	if c.CacheReadsSuspended() || c.writing.has(func() string { return c.key(f, id) }) {
		v, err := f.LoadWithoutCache(ctx, id, load)
		return v, cache.OriginLoad, classify(err)
	}
	v, origin, err := f.Fetch(ctx, id, load)
	return v, origin, classify(err)
}

// GetFile returns the file with id and where it came from, or
// files.ErrNotFound. An id that is not a canonical UUID is a
// *files.ValidationError: the keys of the file views start with the
// record's ("file:info:x" could be the record of id "info:x"), so only
// UUIDs may name a file.
func (c *Catalog) GetFile(ctx context.Context, id string) (files.FileMetadata, cache.Origin, error) {
	return getView(ctx, c, c.files, id, func(f files.FileMetadata) files.FileMetadata { return f })
}

// GetFileInfo returns the info view of the file with id (cached as
// file:info:{id}) and where it came from, or files.ErrNotFound. Downloads
// change it: see Options.DownloadCoalesce for when they show.
func (c *Catalog) GetFileInfo(ctx context.Context, id string) (files.FileInfo, cache.Origin, error) {
	return getView(ctx, c, c.info, id, files.FileMetadata.Info)
}

// GetFileMeta returns the meta view of the file with id (cached as
// file:meta:{id}) and where it came from, or files.ErrNotFound.
func (c *Catalog) GetFileMeta(ctx context.Context, id string) (files.FileMeta, cache.Origin, error) {
	return getView(ctx, c, c.meta, id, files.FileMetadata.Meta)
}

// getView reads a view of the file id through family f, loading it from
// the file's row: each view is loaded from the database, not from the
// cached record, so that it is never older than the row it was read from.
func getView[T any](ctx context.Context, c *Catalog, f *cache.Family[T], id string, view func(files.FileMetadata) T) (T, cache.Origin, error) {
	if err := files.ValidateID(id); err != nil {
		var zero T
		return zero, cache.OriginLoad, err
	}
	v, origin, err := fetch(ctx, c, f, id, func(ctx context.Context, id string) (T, error) {
		var zero T
		if err := waitLoad(ctx); err != nil {
			return zero, err
		}
		rec, err := c.repo.GetFile(ctx, id)
		if err != nil {
			return zero, notFound(err)
		}
		return view(rec), nil
	})
	return v, origin, fromCache(err)
}

// SearchKey returns the id of a search in the search family: the SHA-256 of
// the normalized query, so that equivalent queries share an entry.
func SearchKey(q files.SearchQuery) string {
	norm := strings.Join([]string{strings.ToLower(q.Q), q.Tag, strconv.Itoa(q.Limit), q.Cursor}, "\x00")
	sum := sha256.Sum256([]byte(norm))
	return hex.EncodeToString(sum[:])
}

// SearchFiles returns one page of a search; results are cached under tag
// "files", which every file write invalidates.
func (c *Catalog) SearchFiles(ctx context.Context, q files.SearchQuery) (files.SearchResult, cache.Origin, error) {
	return fetch(ctx, c, c.search, SearchKey(q), func(ctx context.Context, _ string) (files.SearchResult, error) {
		return c.repo.SearchFiles(ctx, q)
	})
}

// Stats returns the statistics of the UTC day of day.
func (c *Catalog) Stats(ctx context.Context, day time.Time) (files.FileStats, cache.Origin, error) {
	return fetch(ctx, c, c.stats, day.UTC().Format(time.DateOnly), func(ctx context.Context, _ string) (files.FileStats, error) {
		return c.repo.GetStats(ctx, day)
	})
}

// Settings returns the system settings.
func (c *Catalog) Settings(ctx context.Context) (files.SystemSettings, cache.Origin, error) {
	return fetch(ctx, c, c.settings, settingsID, func(ctx context.Context, _ string) (files.SystemSettings, error) {
		return c.repo.GetSettings(ctx)
	})
}
