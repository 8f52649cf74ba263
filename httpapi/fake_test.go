package httpapi

// Temporary scaffolding: in-test fakes of the dependencies, until the real
// catalog exists and these tests can run against it.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/ratelimit"
	"github.com/filecache/filecache/report"
)

var fakeNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// fakeCatalog is an in-memory Catalog.
type fakeCatalog struct {
	mu       sync.Mutex
	files    map[string]files.FileMetadata
	settings files.SystemSettings
	touched  []string
	touchErr error
	panicGet bool  // GetFile panics
	getErr   error // GetFile fails with this error
}

var _ Catalog = (*fakeCatalog)(nil)

func newFakeCatalog() *fakeCatalog {
	return &fakeCatalog{files: map[string]files.FileMetadata{}, settings: files.DefaultSettings()}
}

// add stores a file at version 1 and returns it.
func (c *fakeCatalog) add(id, name string, tags ...string) files.FileMetadata {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := files.FileMetadata{ID: id, Name: name, Tags: append([]string{}, tags...), Version: 1, CreatedAt: fakeNow, UpdatedAt: fakeNow}
	c.files[id] = f
	return f
}

func (c *fakeCatalog) GetFile(_ context.Context, id string) (files.FileMetadata, cache.Origin, error) {
	if c.panicGet {
		panic("fakeCatalog: GetFile panics as asked")
	}
	if c.getErr != nil {
		return files.FileMetadata{}, 0, c.getErr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[id]
	if !ok {
		return files.FileMetadata{}, 0, files.ErrNotFound
	}
	return f, cache.OriginLocal, nil
}

func (c *fakeCatalog) GetFileInfo(ctx context.Context, id string) (files.FileInfo, cache.Origin, error) {
	f, origin, err := c.GetFile(ctx, id)
	if err != nil {
		return files.FileInfo{}, origin, err
	}
	return f.Info(), cache.OriginStore, nil
}

func (c *fakeCatalog) GetFileMeta(ctx context.Context, id string) (files.FileMeta, cache.Origin, error) {
	f, origin, err := c.GetFile(ctx, id)
	if err != nil {
		return files.FileMeta{}, origin, err
	}
	return f.Meta(), cache.OriginLoad, nil
}

func (c *fakeCatalog) CreateFile(_ context.Context, nf files.NewFile, ip string) (files.FileMetadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := files.FileMetadata{
		ID: files.NewID(), Name: nf.Name, Size: nf.Size, ContentType: nf.ContentType, Checksum: nf.Checksum,
		Tags: append([]string{}, nf.Tags...), UploaderIP: ip, Version: 1, CreatedAt: fakeNow, UpdatedAt: fakeNow,
	}
	c.files[f.ID] = f
	return f, nil
}

func (c *fakeCatalog) UpdateFile(_ context.Context, id string, p files.FilePatch, ifVersion int64) (files.FileMetadata, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[id]
	if !ok {
		return files.FileMetadata{}, files.ErrNotFound
	}
	if ifVersion > 0 && ifVersion != f.Version {
		return files.FileMetadata{}, files.ErrVersionMismatch
	}
	if p.Name != nil {
		f.Name = *p.Name
	}
	if p.Size != nil {
		f.Size = *p.Size
	}
	if p.ContentType != nil {
		f.ContentType = *p.ContentType
	}
	if p.Checksum != nil {
		f.Checksum = *p.Checksum
	}
	if p.Tags != nil {
		f.Tags = append([]string{}, *p.Tags...)
	}
	f.Version++
	c.files[id] = f
	return f, nil
}

func (c *fakeCatalog) DeleteFile(_ context.Context, id string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.files[id]; !ok {
		return files.ErrNotFound
	}
	delete(c.files, id)
	return nil
}

func (c *fakeCatalog) SearchFiles(_ context.Context, q files.SearchQuery) (files.SearchResult, cache.Origin, error) {
	if q.Cursor != "" {
		return files.SearchResult{}, 0, &files.ValidationError{Field: "cursor", Message: "was not made by a search", Err: files.ErrBadCursor}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	res := files.SearchResult{Items: []files.FileMetadata{}}
	for _, f := range c.files {
		if strings.Contains(strings.ToLower(f.Name), strings.ToLower(q.Q)) && (q.Tag == "" || slices.Contains(f.Tags, q.Tag)) {
			res.Items = append(res.Items, f)
		}
	}
	slices.SortFunc(res.Items, func(a, b files.FileMetadata) int { return strings.Compare(a.ID, b.ID) })
	if len(res.Items) > q.Limit {
		res.Items = res.Items[:q.Limit]
	}
	return res, cache.OriginLoad, nil
}

func (c *fakeCatalog) RecordDownload(_ context.Context, id, _ string) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.files[id]
	if !ok {
		return 0, files.ErrNotFound
	}
	f.DownloadCount++
	c.files[id] = f
	return f.DownloadCount, nil
}

func (c *fakeCatalog) Stats(_ context.Context, day time.Time) (files.FileStats, cache.Origin, error) {
	return files.FileStats{Date: files.Day(day), Uploads: 1}, cache.OriginStore, nil
}

func (c *fakeCatalog) Settings(context.Context) (files.SystemSettings, cache.Origin, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settings, cache.OriginStore, nil
}

func (c *fakeCatalog) PutSettings(_ context.Context, s files.SystemSettings) (files.SystemSettings, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s.UpdatedAt = fakeNow
	c.settings = s
	return s, nil
}

func (c *fakeCatalog) Session(_ context.Context, ip string) (files.UserSession, error) {
	return files.UserSession{IP: ip, FirstSeen: fakeNow, LastSeen: fakeNow, Requests: 1}, nil
}

func (c *fakeCatalog) TouchSession(_ context.Context, ip string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.touched = append(c.touched, ip)
	return c.touchErr
}

func (c *fakeCatalog) touches() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.touched)
}

// fakeAdmin is an Admin that records its calls.
type fakeAdmin struct {
	mu        sync.Mutex
	warmRate  float64
	warmLimit int
	keys      []string
	tags      []string
	pattern   string
	confirm   bool
}

func (a *fakeAdmin) Invalidate(_ context.Context, req catalog.InvalidateRequest) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.keys, a.tags, a.pattern, a.confirm = req.Keys, req.Tags, req.Pattern, req.ConfirmAll
	if req.Pattern == "*" && !req.ConfirmAll {
		return 0, &files.ValidationError{Field: "confirm_all", Message: "confirm", Err: catalog.ErrConfirmationRequired}
	}
	return len(req.Keys) + len(req.Tags), nil
}

func (a *fakeAdmin) Warm(_ context.Context, limit int, rate float64) (WarmResult, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.warmLimit, a.warmRate = limit, rate
	switch limit { // the fake's answers: 5000 goes on, 4000 finds it running
	case 5000:
		return WarmResult{Files: 120, Loaded: 120, Duration: 10 * time.Second, Running: true}, nil
	case 4000:
		return WarmResult{}, ErrWarmRunning
	}
	return WarmResult{Files: min(limit, 3), Duration: 1500 * time.Microsecond}, nil
}

func (a *fakeAdmin) CacheStats(context.Context) CacheStats {
	return CacheStats{CacheStats: catalog.CacheStats{Lookups: catalog.Lookups{Hits: 3, StoreHits: 3, Misses: 1, HitRatio: 0.75}}, Breaker: "closed"}
}

func (a *fakeAdmin) Report(context.Context) (*report.Report, error) {
	return &report.Report{Totals: report.Ratio{HitRatio: 0.75}}, nil
}

// fakeHealth is a Health with a fixed answer.
type fakeHealth struct{ ok bool }

func (h fakeHealth) Ready(context.Context) (bool, any) {
	return h.ok, map[string]string{"database": "ok", "redis": "none", "breaker": "closed"}
}

// tinyLimiter allows limit requests per key in one window that ends at
// reset; err, when set, is returned instead.
type tinyLimiter struct {
	mu    sync.Mutex
	limit int
	reset time.Time
	err   error
	count map[string]int
	keys  []string
}

func (l *tinyLimiter) Allow(_ context.Context, key string) (ratelimit.Info, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keys = append(l.keys, key)
	if l.err != nil {
		return ratelimit.Info{}, false, l.err
	}
	if l.count == nil {
		l.count = map[string]int{}
	}
	l.count[key]++
	n := l.count[key]
	return ratelimit.Info{Limit: l.limit, Remaining: l.limit - n, Reset: l.reset}, n <= l.limit, nil
}

// retryErr is an overload error of a dependency.
type retryErr struct{ after time.Duration }

func (e retryErr) Error() string             { return "overloaded" }
func (e retryErr) RetryAfter() time.Duration { return e.after }

var errBoom = errors.New("database exploded at 10.1.2.3:5432")
