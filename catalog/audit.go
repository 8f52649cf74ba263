package catalog

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// AuditFamilies returns the families the consistency auditor checks
// against the repository, one adapter each: files by version, searches by
// the versions of the files they list, statistics and settings by
// content. Sessions are not audited: they are written behind and live in
// the cache only. A new family is one more line here.
func (c *Catalog) AuditFamilies() []audit.Family {
	return []audit.Family{
		audit.Versioned(c.files, c.loadFile, func(f files.FileMetadata) (int64, time.Time) { return f.Version, f.UpdatedAt }),
		audit.Checked(c.search, c.checkSearch, TagFiles),
		audit.Compared(c.stats, func(ctx context.Context, day string) (files.FileStats, error) {
			d, err := time.Parse(time.DateOnly, day)
			if err != nil {
				return files.FileStats{}, fmt.Errorf("catalog: stats key %q: %w", day, err)
			}
			return c.repo.GetStats(ctx, d)
		}, nil),
		audit.Compared(c.settings, func(ctx context.Context, _ string) (files.SystemSettings, error) {
			return c.repo.GetSettings(ctx)
		}, func(s files.SystemSettings) time.Time { return s.UpdatedAt }),
	}
}

// loadFile reads a file for the auditor: a missing row is
// cache.ErrNotFound. An id that is not a UUID fails the check instead: it
// is the key of another family nested under "file:" (one this process does
// not know, such as a newer version's during a rolling deploy), never a
// file found missing and to be deleted.
func (c *Catalog) loadFile(ctx context.Context, id string) (files.FileMetadata, error) {
	if err := files.ValidateID(id); err != nil {
		return files.FileMetadata{}, err
	}
	f, err := c.repo.GetFile(ctx, id)
	return f, notFound(err)
}

// checkSearch compares a cached search page with the files it lists, in
// one read: every listed file must still exist at the cached version.
// (Files created since, which the page should now list, are not seen: the
// query behind a search key is not kept, only its hash. Download counts
// lag by design; see RecordDownload.)
func (c *Catalog) checkSearch(ctx context.Context, _ string, cached cache.Peeked[files.SearchResult]) (audit.Verdict, error) {
	items := cached.Value.Items
	if len(items) == 0 {
		return audit.Verdict{Consistent: true}, nil
	}
	ids := make([]string, len(items))
	for i, f := range items {
		ids[i] = f.ID
	}
	db, err := c.repo.GetFiles(ctx, ids)
	if err != nil {
		return audit.Verdict{}, err
	}
	var v audit.Verdict
	for _, f := range items {
		cur, ok := db[f.ID]
		switch {
		case ok && cur.Version == f.Version:
			continue
		case !ok && v.Cached == "":
			v.Cached, v.Database = "file "+f.ID+" version "+strconv.FormatInt(f.Version, 10), "no file "+f.ID
		case ok:
			if v.Cached == "" {
				v.Cached = "file " + f.ID + " version " + strconv.FormatInt(f.Version, 10)
				v.Database = "version " + strconv.FormatInt(cur.Version, 10)
			}
			// The page went stale with the first of its files to change.
			if v.Changed.IsZero() || cur.UpdatedAt.Before(v.Changed) {
				v.Changed = cur.UpdatedAt
			}
		}
	}
	v.Consistent = v.Cached == ""
	return v, nil
}
