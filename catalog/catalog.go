package catalog

import (
	"cmp"
	"log/slog"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/defaults"
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
	writing  inflight
}

// SuspendCacheReads makes reads skip the cache until the outbox has been
// drained: call it when the cache store becomes unreachable, since the
// invalidations of writes made meanwhile (by any instance) wait in the
// outbox and must reach the store before a read trusts it again.
func (c *Catalog) SuspendCacheReads() { c.relay.MarkPending() }

// Close stops the catalog's background work that no Run owns (the timer
// of coalesced download invalidations) and waits for it. Call it before
// the cache and the repository close.
func (c *Catalog) Close() { c.coalesce.close() }

// CacheMayHaveLost is SuspendCacheReads for a store that may also have lost
// deletes it acknowledged: Redis died and restarts from a snapshot or an
// AOF that misses its last writes, or a replica that lagged takes over.
// The drain then delivers again the invalidations of the last seconds
// (outbox.Options.Replay) before cache reads resume.
func (c *Catalog) CacheMayHaveLost() { c.relay.MarkLost() }

// CacheReadsSuspended reports whether reads skip the cache: an
// invalidation may be undelivered (outbox.Relay.Pending).
func (c *Catalog) CacheReadsSuspended() bool { return c.relay.Pending() }

// New returns a Catalog that reads repo through c and writes through repo
// with its outbox ob (usually the same store). It registers its families in
// c.
func New(repo files.Repository, ob outbox.Store, c *cache.Cache, opts Options) (*Catalog, error) {
	t := &opts.TTLs
	defaults.Positive(&t.File, DefaultFileTTL)
	defaults.Positive(&t.Info, DefaultInfoTTL)
	defaults.Positive(&t.Meta, DefaultMetaTTL)
	defaults.Positive(&t.Session, DefaultSessionTTL)
	defaults.Positive(&t.Stats, DefaultStatsTTL)
	defaults.Positive(&t.Search, DefaultSearchTTL)
	defaults.Positive(&t.Settings, DefaultSettingsTTL)
	defaults.Positive(&t.Negative, DefaultNegativeTTL)
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	defaults.Positive(&opts.InvalidateTimeout, DefaultInvalidateTimeout)
	defaults.Positive(&opts.SessionFlush, DefaultSessionFlush)
	opts.DownloadCoalesce = cmp.Or(opts.DownloadCoalesce, DefaultDownloadCoalesce)
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
