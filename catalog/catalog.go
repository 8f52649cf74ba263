package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
)

// Defaults of TTLs, from DESIGN.md.
const (
	DefaultFileTTL     = time.Hour
	DefaultSessionTTL  = 30 * time.Minute
	DefaultStatsTTL    = 24 * time.Hour
	DefaultSearchTTL   = 5 * time.Minute
	DefaultSettingsTTL = 10 * time.Minute
	DefaultNegativeTTL = 30 * time.Second
	// DefaultInfoTTL is the base TTL of the info view (file:info:{id}),
	// then dynamic (InfoTTL).
	DefaultInfoTTL = 10 * time.Minute
	// DefaultMetaTTL is the TTL of the meta view (file:meta:{id}).
	DefaultMetaTTL = 6 * time.Hour
	// MaxFileTTL caps the dynamic TTL of a file.
	MaxFileTTL = 6 * time.Hour
	// DefaultInvalidateTimeout is the default Options.InvalidateTimeout.
	DefaultInvalidateTimeout = time.Second
	// DefaultSessionFlush is the default Options.SessionFlush.
	DefaultSessionFlush = time.Second
)

// Families and tags, as they appear in keys.
const (
	FamilyFile     = "file"
	FamilyFileInfo = "file:info" // keys file:info:{id}
	FamilyFileMeta = "file:meta" // keys file:meta:{id}
	FamilySearch   = "search"
	FamilyStats    = "stats"
	FamilySettings = "settings"
	FamilySession  = "user"
	TagFiles       = "files"
	settingsID     = "current"
)

// NearFamilies are the families kept in the near cache when the cache has
// one: what is read far more often than it changes. Sessions and rate-limit
// counters change with every request and stay out, so that tracking them
// would not flood every instance with invalidations. The keys of the file
// views start with "file:" too: a store tracking the prefixes of every
// name here tracks "file:" once (see redisstore.Options.Track).
var NearFamilies = []string{FamilyFile, FamilyFileInfo, FamilyFileMeta, FamilySearch, FamilyStats, FamilySettings}

// TTLs are the base TTL of each family. Zero fields mean the defaults.
type TTLs struct {
	File     time.Duration // Default: DefaultFileTTL, then dynamic (FileTTL)
	Info     time.Duration // Default: DefaultInfoTTL, then dynamic (InfoTTL)
	Meta     time.Duration // Default: DefaultMetaTTL
	Session  time.Duration // Default: DefaultSessionTTL, sliding
	Stats    time.Duration // Default: DefaultStatsTTL
	Search   time.Duration // Default: DefaultSearchTTL
	Settings time.Duration // Default: DefaultSettingsTTL
	Negative time.Duration // Default: DefaultNegativeTTL; how long a missing file id is cached
}

// Options tunes a Catalog. The zero value of every field means its default.
type Options struct {
	TTLs TTLs
	// FailSafe keeps values this long past their TTL, served stale when the
	// database fails (cache.FamilyOptions.FailSafe). Default: 0, none.
	FailSafe time.Duration
	// Loading tunes loads and stale values: soft and hard timeouts, the
	// fail-safe throttle, eager refresh. Default: Loading's defaults.
	Loading Loading
	// Logger receives invalidation failures. Default: slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// AfterCommit, if set, runs after a write commits and before its
	// invalidation: a fault-injection point for tests of crash recovery
	// (the service sets it only from FILECACHE_FAILPOINT). Default: none.
	AfterCommit func()
	// InvalidateTimeout bounds the invalidation of a committed write; past
	// it the write is acknowledged anyway and its invalidation left to the
	// outbox relays of every instance. Default: DefaultInvalidateTimeout.
	InvalidateTimeout time.Duration
	// Relay tunes the outbox relay. Default: outbox's defaults.
	Relay outbox.Options
	// SessionFlush is how often counted sessions are written to the cache.
	// Default: DefaultSessionFlush.
	SessionFlush time.Duration
	// DownloadCoalesce is the shortest time between two invalidations of a
	// key by downloads: a download commits (and is acknowledged) at once,
	// but a key that a download invalidated less than DownloadCoalesce ago
	// is invalidated again only when that time is up, together with every
	// download that came meanwhile. A popular file's views thus miss a few
	// times a second, not once per download. Negative: every download
	// invalidates at once. Default: DefaultDownloadCoalesce.
	DownloadCoalesce time.Duration
}

// Catalog reads through the cache and writes through the repository with an
// outbox. It is safe for concurrent use.
type Catalog struct {
	repo     files.Repository
	outbox   outbox.Store
	relay    *outbox.Relay
	cache    *cache.Cache
	files    *cache.Family[files.FileMetadata]
	info     *cache.Family[files.FileInfo]
	meta     *cache.Family[files.FileMeta]
	search   *cache.Family[files.SearchResult]
	stats    *cache.Family[files.FileStats]
	settings *cache.Family[files.SystemSettings]
	sessions *cache.Family[files.UserSession]
	ttls     TTLs
	opts     Options
	log      *slog.Logger
	now      func() time.Time
	touches  sessionBuffer
	dl       downloads
	coalesce coalescer
}

// SuspendCacheReads makes reads skip the cache until the outbox has been
// drained: call it when the cache store becomes unreachable, since the
// invalidations of writes made meanwhile (by any instance) wait in the
// outbox and must reach the store before a read trusts it again.
func (c *Catalog) SuspendCacheReads() { c.relay.MarkPending() }

// CacheReadsSuspended reports whether reads skip the cache: an
// invalidation may be undelivered (outbox.Relay.Pending).
func (c *Catalog) CacheReadsSuspended() bool { return c.relay.Pending() }

// New returns a Catalog that reads repo through c and writes through repo
// with its outbox ob (usually the same store). It registers its families in
// c.
func New(repo files.Repository, ob outbox.Store, c *cache.Cache, opts Options) (*Catalog, error) {
	t := &opts.TTLs
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&t.File, DefaultFileTTL)
	def(&t.Info, DefaultInfoTTL)
	def(&t.Meta, DefaultMetaTTL)
	def(&t.Session, DefaultSessionTTL)
	def(&t.Stats, DefaultStatsTTL)
	def(&t.Search, DefaultSearchTTL)
	def(&t.Settings, DefaultSettingsTTL)
	def(&t.Negative, DefaultNegativeTTL)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.InvalidateTimeout <= 0 {
		opts.InvalidateTimeout = DefaultInvalidateTimeout
	}
	if opts.SessionFlush <= 0 {
		opts.SessionFlush = DefaultSessionFlush
	}
	if opts.DownloadCoalesce == 0 {
		opts.DownloadCoalesce = DefaultDownloadCoalesce
	}
	if err := opts.Loading.validate(); err != nil {
		return nil, err
	}
	opts.Loading = opts.Loading.withDefaults()
	if opts.Relay.Logger == nil {
		opts.Relay.Logger = opts.Logger
	}
	cat := &Catalog{repo: repo, outbox: ob, cache: c, ttls: *t, opts: opts, log: opts.Logger, now: opts.Now}
	cat.relay = outbox.NewRelay(ob, cat.deliver, opts.Relay)
	cat.dl.init()
	cat.coalesce.init(cat)
	var err error
	// The record and its two views: three families with TTL policies of
	// their own, which every write of a file invalidates together
	// (fileInvalidation). A value without its id is corrupt (Valid).
	if cat.files, err = cache.NewFamily(c, FamilyFile, cached(opts, cache.FamilyOptions[files.FileMetadata]{
		TTL: t.File, TTLFunc: func(f files.FileMetadata) time.Duration { return FileTTL(t.File, f) }, NegativeTTL: t.Negative,
		Valid: files.FileMetadata.Valid,
	})); err != nil {
		return nil, err
	}
	if cat.info, err = cache.NewFamily(c, FamilyFileInfo, cached(opts, cache.FamilyOptions[files.FileInfo]{
		TTL: t.Info, TTLFunc: func(i files.FileInfo) time.Duration { return InfoTTL(t.Info, i) }, NegativeTTL: t.Negative,
		Valid: files.FileInfo.Valid,
	})); err != nil {
		return nil, err
	}
	if cat.meta, err = cache.NewFamily(c, FamilyFileMeta, cached(opts, cache.FamilyOptions[files.FileMeta]{
		TTL: t.Meta, NegativeTTL: t.Negative, Valid: files.FileMeta.Valid,
	})); err != nil {
		return nil, err
	}
	if cat.search, err = cache.NewFamily(c, FamilySearch, cached(opts, cache.FamilyOptions[files.SearchResult]{
		TTL: t.Search, Tags: []string{TagFiles},
	})); err != nil {
		return nil, err
	}
	if cat.stats, err = cache.NewFamily(c, FamilyStats, cached(opts, cache.FamilyOptions[files.FileStats]{TTL: t.Stats})); err != nil {
		return nil, err
	}
	if cat.settings, err = cache.NewFamily(c, FamilySettings, cached(opts, cache.FamilyOptions[files.SystemSettings]{TTL: t.Settings})); err != nil {
		return nil, err
	}
	if cat.sessions, err = cache.NewFamily(c, FamilySession, cache.FamilyOptions[files.UserSession]{TTL: t.Session}); err != nil {
		return nil, err
	}
	return cat, nil
}

// FileTTL is the dynamic TTL of a file's metadata: popular files (by
// downloads) and large files, whose metadata rarely changes once uploaded,
// are kept longer than base, up to MaxFileTTL. Every write invalidates the
// entry anyway; the TTL only bounds how long an unused entry holds memory.
func FileTTL(base time.Duration, f files.FileMetadata) time.Duration {
	factor := 1.0
	switch {
	case f.DownloadCount >= 1000:
		factor *= 4
	case f.DownloadCount >= 100:
		factor *= 2
	}
	if f.Size >= 1<<30 {
		factor *= 1.5
	}
	return min(time.Duration(float64(base)*factor), max(base, MaxFileTTL))
}

// InfoTTL is the dynamic TTL of a file's info view: the view of a download
// page, kept longer for popular files (×2 at 100 downloads, ×4 at 1000),
// up to MaxFileTTL. It is shorter than the record's because it carries the
// download count: should an invalidation be lost (a failover), the TTL
// bounds how long the count can lag. The size does not matter: the view is
// small.
func InfoTTL(base time.Duration, i files.FileInfo) time.Duration {
	factor := 1.0
	switch {
	case i.DownloadCount >= 1000:
		factor = 4
	case i.DownloadCount >= 100:
		factor = 2
	}
	return min(time.Duration(float64(base)*factor), max(base, MaxFileTTL))
}

// notFound makes a repository's not-found answer a cache miss to remember.
func notFound(err error) error {
	if errors.Is(err, files.ErrNotFound) {
		return fmt.Errorf("%w: %w", files.ErrNotFound, cache.ErrNotFound)
	}
	return err
}

// fromCache maps the cache's not-found (which a cached negative answer
// carries alone) back to the domain's.
func fromCache(err error) error {
	if errors.Is(err, cache.ErrNotFound) && !errors.Is(err, files.ErrNotFound) {
		return files.ErrNotFound
	}
	return err
}

// unavailable marks a failure of the repository itself (not an answer such
// as "not found" or "version mismatch") as a temporary unavailability, which
// the HTTP layer answers with 503 and Retry-After.
type unavailable struct{ err error }

func (e unavailable) Error() string             { return "catalog: database unavailable: " + e.err.Error() }
func (e unavailable) Unwrap() error             { return e.err }
func (e unavailable) RetryAfter() time.Duration { return time.Second }

// classify wraps err in unavailable unless it is an answer of the domain,
// a cancellation, or already says when to retry.
func classify(err error) error {
	var ra interface{ RetryAfter() time.Duration }
	switch {
	case err == nil,
		errors.Is(err, files.ErrNotFound), errors.Is(err, files.ErrVersionMismatch),
		errors.Is(err, files.ErrConflict), errors.Is(err, files.ErrInvalid),
		errors.Is(err, cache.ErrNotFound), errors.Is(err, cache.ErrInvalidKey),
		errors.Is(err, context.Canceled), errors.As(err, &ra):
		return err
	}
	return unavailable{err}
}

// fetch reads id of family through the cache, or straight from load while
// the cache may be stale (see Catalog.CacheReadsSuspended).
func fetch[T any](ctx context.Context, c *Catalog, f *cache.Family[T], id string, load cache.Loader[T]) (T, cache.Origin, error) {
	if c.CacheReadsSuspended() {
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

func (c *Catalog) key(f interface{ Key(string) (string, error) }, id string) string {
	k, err := f.Key(id)
	if err != nil {
		// Ids reaching a write were validated; a failure here is a bug.
		panic(fmt.Sprintf("catalog: key of %q: %v", id, err))
	}
	return k
}

// fileInvalidation is what a write of file id drops: the record, both
// views and every cached search (tag "files"), and with stats the
// statistics of now's day.
func (c *Catalog) fileInvalidation(id string, now time.Time, stats bool) outbox.Invalidation {
	inv := outbox.Invalidation{Keys: []string{c.key(c.files, id), c.key(c.info, id), c.key(c.meta, id)}, Tags: []string{TagFiles}}
	if stats {
		inv.Keys = append(inv.Keys, c.statsKey(now))
	}
	return inv
}

// statsKey returns the key of the statistics of now's UTC day.
func (c *Catalog) statsKey(now time.Time) string {
	return c.key(c.stats, now.UTC().Format(time.DateOnly))
}

// ErrMaintenance is returned for writes while the settings say
// maintenance_mode; it says when to retry.
var ErrMaintenance = errors.New("catalog: maintenance mode: writes are refused")

type maintenance struct{}

func (maintenance) Error() string             { return ErrMaintenance.Error() }
func (maintenance) Is(target error) bool      { return target == ErrMaintenance }
func (maintenance) RetryAfter() time.Duration { return time.Minute }

// admit checks a file write against the system settings: maintenance mode,
// the largest size and the allowed content types. size and contentType are
// nil when the write does not set them.
func (c *Catalog) admit(ctx context.Context, size *int64, contentType *string) error {
	s, _, err := c.Settings(ctx)
	if err != nil {
		return err
	}
	switch {
	case s.MaintenanceMode:
		return maintenance{}
	case size != nil && *size > s.MaxFileSize:
		return &files.ValidationError{Field: "size", Message: fmt.Sprintf("must be at most %d (max_file_size)", s.MaxFileSize)}
	case contentType != nil && !s.AllowsContentType(*contentType):
		return &files.ValidationError{Field: "content_type", Message: "is not among the allowed_content_types"}
	}
	return nil
}

// CreateFile stores a new file uploaded by uploaderIP.
func (c *Catalog) CreateFile(ctx context.Context, nf files.NewFile, uploaderIP string) (files.FileMetadata, error) {
	if err := c.admit(ctx, &nf.Size, &nf.ContentType); err != nil {
		return files.FileMetadata{}, err
	}
	id := files.NewID()
	now := c.now()
	var out files.FileMetadata
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.CreateFile(ctx, nf, id, uploaderIP, now)
		// The id may be cached as not found; today's stats change.
		return c.fileInvalidation(id, now, true), err
	})
	return out, err
}

// UpdateFile applies p to the file id; ifVersion > 0 makes it conditional.
func (c *Catalog) UpdateFile(ctx context.Context, id string, p files.FilePatch, ifVersion int64) (files.FileMetadata, error) {
	if err := files.ValidateID(id); err != nil {
		return files.FileMetadata{}, err
	}
	if err := c.admit(ctx, p.Size, p.ContentType); err != nil {
		return files.FileMetadata{}, err
	}
	now := c.now()
	var out files.FileMetadata
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.UpdateFile(ctx, id, p, ifVersion, now)
		return c.fileInvalidation(id, now, false), err
	})
	return out, err
}

// DeleteFile deletes the file id.
func (c *Catalog) DeleteFile(ctx context.Context, id string) error {
	if err := files.ValidateID(id); err != nil {
		return err
	}
	if err := c.admit(ctx, nil, nil); err != nil {
		return err
	}
	now := c.now()
	return c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		_, err := tx.DeleteFile(ctx, id)
		return c.fileInvalidation(id, now, false), err
	})
}

// PutSettings replaces the system settings.
func (c *Catalog) PutSettings(ctx context.Context, s files.SystemSettings) (files.SystemSettings, error) {
	now := c.now()
	var out files.SystemSettings
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.PutSettings(ctx, s, now)
		return outbox.Invalidation{Keys: []string{c.key(c.settings, settingsID)}}, err
	})
	return out, err
}

// write runs change in a transaction together with the outbox entry of its
// invalidation, then delivers the invalidation. The write is durable once
// committed: if the cache cannot be invalidated now, the entry stays pending
// for the relays of every instance and the write still succeeds. The
// invalidation is the correctness path: it runs to its own deadline whatever
// happens to the request (a client that disconnects right after its write
// must not leave it undone).
func (c *Catalog) write(ctx context.Context, change func(tx files.Tx) (outbox.Invalidation, error)) error {
	var inv outbox.Invalidation
	var entry int64
	err := c.repo.WithTx(ctx, func(tx files.Tx) error {
		var err error
		if inv, err = change(tx); err != nil {
			return err
		}
		entry, err = tx.Enqueue(ctx, inv)
		return err
	})
	if err != nil {
		return classify(err)
	}
	if c.opts.AfterCommit != nil {
		c.opts.AfterCommit()
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.InvalidateTimeout)
	defer cancel()
	// The client has its answer only after this: its next read on this
	// instance must not see the old value.
	if err := c.apply(ictx, inv, "write"); err != nil {
		if c.relay.Failed(ictx, entry) {
			c.log.WarnContext(ictx, "invalidation delivered by another instance; reads here bypass the cache until this one reaches it", "entry", entry, "err", err)
		} else {
			c.log.WarnContext(ictx, "invalidation deferred to the outbox relays; reads bypass the cache until it is delivered", "entry", entry, "err", err)
		}
		return nil
	}
	c.relay.Delivered(ictx, entry)
	return nil
}

// apply deletes the keys and the tags of inv from the cache, and announces
// it on the events channel.
func (c *Catalog) apply(ctx context.Context, inv outbox.Invalidation, reason string) error {
	_, err := c.cache.Invalidate(ctx, cache.Invalidation{Keys: inv.Keys, Tags: inv.Tags, Reason: reason})
	return err
}

// deliver is the relay's delivery: a key the cache refuses is the entry's
// fault (outbox.ErrPoison), any other failure the cache's.
func (c *Catalog) deliver(ctx context.Context, inv outbox.Invalidation) error {
	err := c.apply(ctx, inv, "relay")
	if errors.Is(err, cache.ErrInvalidKey) || errors.Is(err, cache.ErrRejected) {
		return fmt.Errorf("%w: %w", outbox.ErrPoison, err)
	}
	return err
}
