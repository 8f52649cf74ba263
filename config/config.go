package config

import (
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/durfmt"
	"github.com/filecache/filecache/metrics"
)

// Defaults of the settings that belong to the service itself. Every other
// default is the library's own (catalog.DefaultFileTTL,
// redisstore.DefaultDialTimeout, cache.DefaultJitter, ...): the Config
// leaves those fields zero and the library applies its default.
const (
	DefaultListenAddr         = ":8080"
	DefaultDatabaseURL        = "sqlite:filecache.db"
	DefaultRateLimitPerMinute = 600
	DefaultShutdownTimeout    = 15 * time.Second
	DefaultCacheNearSize      = 10000
	DefaultCacheFailSafe      = time.Hour
	DefaultFallbackLimit      = 32
)

// Limits checked by [Config.Validate].
const (
	// MaxCachePrefixLen is the longest CACHE_PREFIX, in bytes, separator
	// included.
	MaxCachePrefixLen = 64
	// MaxCacheTTLJitter is the largest CACHE_TTL_JITTER (±50%).
	MaxCacheTTLJitter = 0.5
	// MaxCacheAuditRate is the largest CACHE_AUDIT_RATE.
	MaxCacheAuditRate = 10000
	// MinTTL is the shortest cache TTL: Redis expiries have millisecond
	// resolution, so anything shorter would round to "no expiry".
	MinTTL = time.Millisecond
	// MinAdminTokenLen is the shortest ADMIN_TOKEN, in bytes: a shorter
	// one could be guessed.
	MinAdminTokenLen = 16
)

// PrefixSeparator ends every non-empty cache prefix, so that the keys of
// "app" (app:file:1) and those of "app2" (app2:file:1) never share a
// pattern: CACHE_PREFIX=app becomes "app:".
const PrefixSeparator = ":"

// Redis modes, held in [RedisConfig.Mode]: which variable named the servers.
// The empty mode means "no Redis": the service runs on the in-process
// store.
const (
	RedisNone       = ""
	RedisStandalone = "standalone" // REDIS_URL
	RedisCluster    = "cluster"    // REDIS_CLUSTER_NODES
	RedisSentinel   = "sentinel"   // REDIS_SENTINEL_ADDRS
)

// Config is the whole configuration of the service. Build it with
// [FromFlags] (what every command does) or [Load]; a hand-built Config
// should pass [Config.Validate].
//
// The convention of every field: zero means the default, which is the
// library's own (the field's doc names the constant) or, for the settings
// of the service itself, filled in by [Default]; where a setting can be
// turned off, a negative value turns it off. In the environment and on the
// command line, 0 turns such a setting off, and the loader stores it as -1.
type Config struct {
	HTTP     HTTPConfig
	Database DatabaseConfig
	Redis    RedisConfig
	Cache    CacheConfig
	Metrics  MetricsConfig

	// LogLevel is the minimum level logged: debug, info, warn or error.
	// Env LOG_LEVEL. Default: info (the zero slog.Level).
	LogLevel slog.Level
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	// ListenAddr is the host:port the server listens on. Env LISTEN_ADDR.
	// Default: DefaultListenAddr.
	ListenAddr string
	// AdminToken is the bearer token of /admin/* and PUT /v1/settings, at
	// least MinAdminTokenLen bytes; when empty, those answer 403.
	// Env ADMIN_TOKEN. Default: empty.
	AdminToken Secret
	// RateLimitPerMinute is the number of requests a client IP may make per
	// minute; 0 turns rate limiting off. Env RATE_LIMIT_PER_MINUTE.
	// Default: DefaultRateLimitPerMinute.
	RateLimitPerMinute int
	// TrustedProxies are the peers whose X-Forwarded-For is believed. A bare
	// IP becomes a /32 or /128; IPv4-mapped IPv6 addresses are unmapped.
	// Env TRUSTED_PROXIES (comma list). Default: none.
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds the graceful shutdown. Env SHUTDOWN_TIMEOUT.
	// Default: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
}

// DatabaseConfig configures the SQL source of truth.
type DatabaseConfig struct {
	// URL is "sqlite:<path>" (also "sqlite://<path>") or a
	// postgres:// / postgresql:// URL. It is a Secret because it may hold a
	// password; [RedactURL] renders it safely. Env DATABASE_URL.
	// Default: DefaultDatabaseURL.
	URL Secret
	// Timeout bounds each database read and write transaction, the connect
	// and the wait for a pooled connection included (sqlstore.Options.Timeout).
	// Env DB_TIMEOUT. Default: zero, sqlstore.DefaultTimeout.
	Timeout time.Duration
}

// Driver reports the database kind of d.URL: "sqlite", "postgres", or ""
// when the URL has neither scheme.
func (d DatabaseConfig) Driver() string {
	u := d.URL.Reveal()
	switch {
	case hasPrefixFold(u, "sqlite:"):
		return "sqlite"
	case hasPrefixFold(u, "postgres://"), hasPrefixFold(u, "postgresql://"):
		return "postgres"
	}
	return ""
}

// DSN returns what to hand to the driver: the file name (or file: URI) for
// SQLite, the whole URL for PostgreSQL. It reveals the password.
func (d DatabaseConfig) DSN() string {
	u := d.URL.Reveal()
	if d.Driver() != "sqlite" {
		return u
	}
	return strings.TrimPrefix(u[len("sqlite:"):], "//")
}

// RedisConfig is the Redis deployment: the store's own options, and what
// the service does with it at start-up.
type RedisConfig struct {
	// Mode is RedisNone, RedisStandalone, RedisCluster or RedisSentinel:
	// which of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINEL_ADDRS
	// (only one may be set) named the servers.
	Mode string
	// Options are handed to redisstore as they are: zero fields mean
	// redisstore's defaults (redisstore.DefaultDialTimeout, ...).
	// Variables: the addresses and REDIS_SENTINEL_MASTER, REDIS_USERNAME,
	// REDIS_PASSWORD (both win over REDIS_URL's), the database of
	// REDIS_URL's path, REDIS_TLS and REDIS_TLS_* (TLS is built from the
	// files when the configuration is loaded), REDIS_DIAL_TIMEOUT,
	// REDIS_READ_TIMEOUT, REDIS_WRITE_TIMEOUT, REDIS_KEEPALIVE,
	// REDIS_REPLICA_WAIT, REDIS_POOL_SIZE, REDIS_MAX_RETRIES and
	// REDIS_RETRY_ON_TIMEOUT.
	// Options print with the password redacted.
	Options redisstore.Options
	// SetMaxmemoryPolicy, when set, is applied with CONFIG SET
	// maxmemory-policy on every node at start-up, where the user may.
	// Env REDIS_SET_MAXMEMORY_POLICY. Default: empty, the servers' own.
	SetMaxmemoryPolicy string
}

// CacheConfig configures the cache.
type CacheConfig struct {
	// Prefix goes before every key: printable ASCII without spaces or glob
	// characters (*?[]\), ending with PrefixSeparator (appended when
	// missing), at most MaxCachePrefixLen bytes. Env CACHE_PREFIX.
	// Default: none.
	Prefix string
	// TTLs are the base TTL of each family, handed to the catalog as they
	// are: zero fields mean catalog's defaults (catalog.DefaultFileTTL,
	// ...). Env CACHE_TTL_FILE, CACHE_TTL_SESSION, CACHE_TTL_STATS,
	// CACHE_TTL_SEARCH, CACHE_TTL_SETTINGS.
	TTLs catalog.TTLs
	// TTLJitter spreads expiries: 0.1 means ±10%, at most
	// MaxCacheTTLJitter; negative turns jitter off. Env CACHE_TTL_JITTER.
	// Default: zero, cache.DefaultJitter.
	TTLJitter float64
	// NearSize is the capacity of the in-process near cache, in entries; 0
	// turns it off. Env CACHE_NEAR_SIZE. Default: DefaultCacheNearSize.
	NearSize int
	// Disabled turns the cache off: every read goes to the database, and
	// rate limits and sessions, which live in the cache, are off too. For
	// measuring what the cache saves and for debugging.
	// Env CACHE_DISABLED. Default: false.
	Disabled bool
	// FailSafe keeps cached values this long past their TTL, to be served
	// (marked stale) when the database fails; 0 turns it off.
	// Env CACHE_FAIL_SAFE. Default: DefaultCacheFailSafe.
	FailSafe time.Duration
	// FallbackLimit bounds the database loads that run at once while Redis
	// is unavailable; beyond it a request waits briefly, then gets 503 with
	// Retry-After. 0 means no limit. Env DB_FALLBACK_LIMIT.
	// Default: DefaultFallbackLimit.
	FallbackLimit int
	// Loading tunes loads and stale values, handed to the catalog as it
	// is: zero fields mean catalog's defaults, negative ones off. Env
	// CACHE_SOFT_TIMEOUT, CACHE_HARD_TIMEOUT, CACHE_FAIL_SAFE_THROTTLE,
	// CACHE_EAGER_REFRESH.
	Loading catalog.Loading
	// NearMaxLag bounds how stale a near-cache hit may be when Redis'
	// notifications stop without their connection closing (a hung
	// network path). Env CACHE_NEAR_MAX_LAG. Default: zero,
	// cache.DefaultNearMaxLag.
	NearMaxLag time.Duration
	// WarmOnStart is how many of the most downloaded files serve loads
	// into the cache at start-up, in the background; 0 turns it off.
	// Env CACHE_WARM_ON_START. Default: 0.
	WarmOnStart int
	// AuditRate is the consistency auditor's database reads per second
	// (samples of cached entries checked against the database), at most
	// MaxCacheAuditRate; negative turns it off. Env CACHE_AUDIT_RATE.
	// Default: zero, audit.DefaultRate.
	AuditRate float64
}

// MetricsConfig configures the metrics' pollers and log lines.
type MetricsConfig struct {
	// RedisInfoInterval is how often Redis INFO is polled for the metrics;
	// negative turns the poller off. Env REDIS_INFO_INTERVAL.
	// Default: zero, metrics.DefaultRedisInfoInterval.
	RedisInfoInterval time.Duration
	// StatsLogInterval is how often the hit ratio is logged; negative
	// turns it off. Env CACHE_STATS_LOG_INTERVAL.
	// Default: zero, metrics.DefaultStatsLogInterval.
	StatsLogInterval time.Duration
}

// Default returns the configuration used when nothing is set: SQLite, no
// Redis (the in-process store), the service's own defaults filled in and
// every library setting zero (the library's default).
func Default() Config {
	return Config{
		HTTP: HTTPConfig{
			ListenAddr:         DefaultListenAddr,
			RateLimitPerMinute: DefaultRateLimitPerMinute,
			ShutdownTimeout:    DefaultShutdownTimeout,
		},
		Database: DatabaseConfig{URL: DefaultDatabaseURL},
		Cache: CacheConfig{
			NearSize:      DefaultCacheNearSize,
			FailSafe:      DefaultCacheFailSafe,
			FallbackLimit: DefaultFallbackLimit,
		},
	}
}

// LogValue renders the configuration for the start-up log line, with every
// secret redacted and the effective value of every setting: a library's
// default where the field is zero, "off" where it is turned off. It
// implements [slog.LogValuer].
func (c Config) LogValue() slog.Value {
	proxies := make([]string, len(c.HTTP.TrustedProxies))
	for i, p := range c.HTTP.TrustedProxies {
		proxies[i] = p.String()
	}
	mode := c.Redis.Mode
	if mode == RedisNone {
		mode = "none"
	}
	redis := []slog.Attr{slog.String("mode", mode)}
	if c.Redis.Mode != RedisNone {
		redis = append(redis, c.Redis.Options.LogValue().Group()...)
		redis = append(redis, slog.String("set_maxmemory_policy", c.Redis.SetMaxmemoryPolicy))
	}
	t := c.Cache.TTLs
	return slog.GroupValue(
		slog.Group("http",
			slog.String("listen_addr", c.HTTP.ListenAddr),
			slog.Any("admin_token", c.HTTP.AdminToken),
			slog.Int("rate_limit_per_minute", c.HTTP.RateLimitPerMinute),
			slog.Any("trusted_proxies", proxies),
			slog.String("shutdown_timeout", dur(c.HTTP.ShutdownTimeout)),
		),
		slog.Group("database",
			slog.String("driver", c.Database.Driver()),
			slog.String("url", RedactURL(c.Database.URL.Reveal())),
			slog.String("timeout", effective(c.Database.Timeout, sqlstore.DefaultTimeout)),
		),
		slog.Attr{Key: "redis", Value: slog.GroupValue(redis...)},
		slog.Group("cache",
			slog.String("prefix", c.Cache.Prefix),
			slog.String("ttl_file", effective(t.File, catalog.DefaultFileTTL)),
			slog.String("ttl_session", effective(t.Session, catalog.DefaultSessionTTL)),
			slog.String("ttl_stats", effective(t.Stats, catalog.DefaultStatsTTL)),
			slog.String("ttl_search", effective(t.Search, catalog.DefaultSearchTTL)),
			slog.String("ttl_settings", effective(t.Settings, catalog.DefaultSettingsTTL)),
			slog.String("ttl_jitter", effectiveJitter(c.Cache.TTLJitter)),
			slog.Int("near_size", c.Cache.NearSize),
			slog.Bool("disabled", c.Cache.Disabled),
			slog.String("fail_safe", dur(c.Cache.FailSafe)),
			slog.Int("fallback_limit", c.Cache.FallbackLimit),
		),
		slog.Group("metrics",
			slog.String("redis_info_interval", effective(c.Metrics.RedisInfoInterval, metrics.DefaultRedisInfoInterval)),
			slog.String("stats_log_interval", effective(c.Metrics.StatsLogInterval, metrics.DefaultStatsLogInterval)),
		),
		slog.String("log_level", strings.ToLower(c.LogLevel.String())),
	)
}

// dur renders a duration as --help and the logged configuration show it:
// 15s, 5m, 1h30m.
func dur(d time.Duration) string { return durfmt.Short(d) }

// effective renders a duration setting: its default when zero ("default"
// when def is unknown here), "off" when negative.
func effective(d, def time.Duration) string {
	switch {
	case d < 0:
		return "off"
	case d == 0 && def == 0:
		return "default"
	case d == 0:
		return dur(def)
	}
	return dur(d)
}

// effectiveJitter renders CACHE_TTL_JITTER like effective.
func effectiveJitter(j float64) string {
	switch {
	case j < 0:
		return "off"
	case j == 0:
		j = cache.DefaultJitter
	}
	return strconv.FormatFloat(j, 'g', -1, 64)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
