package config

import (
	"log/slog"
	"net/netip"
	"strings"
	"time"
)

// Defaults of the settings that have one.
const (
	DefaultListenAddr         = ":8080"
	DefaultDatabaseURL        = "sqlite:filecache.db"
	DefaultRateLimitPerMinute = 600
	DefaultShutdownTimeout    = 15 * time.Second
	DefaultLogLevel           = slog.LevelInfo

	DefaultCacheTTLFile     = time.Hour
	DefaultCacheTTLSession  = 30 * time.Minute
	DefaultCacheTTLStats    = 24 * time.Hour
	DefaultCacheTTLSearch   = 5 * time.Minute
	DefaultCacheTTLSettings = 10 * time.Minute
	DefaultCacheTTLJitter   = 0.1
	DefaultCacheNearSize    = 10000
	DefaultCacheFailSafe    = time.Hour
	DefaultFallbackLimit    = 32
	DefaultStatsLogInterval = 5 * time.Minute
	DefaultRedisInfoPeriod  = 30 * time.Second
	DefaultCacheAuditRate   = 1.0

	DefaultRedisDialTimeout    = 5 * time.Second
	DefaultRedisReadTimeout    = 500 * time.Millisecond
	DefaultRedisWriteTimeout   = time.Second
	DefaultRedisKeepAlive      = 30 * time.Second
	DefaultRedisPoolSize       = 50
	DefaultRedisMaxRetries     = 3
	DefaultRedisRetryOnTimeout = true
)

// Limits checked by [Config.Validate].
const (
	// MaxCachePrefixLen is the longest CACHE_PREFIX, in bytes.
	MaxCachePrefixLen = 64
	// MaxCacheTTLJitter is the largest CACHE_TTL_JITTER (±50%).
	MaxCacheTTLJitter = 0.5
	// MaxCacheAuditRate is the largest CACHE_AUDIT_RATE.
	MaxCacheAuditRate = 10000
	// MinTTL is the shortest cache TTL: Redis expiries have millisecond
	// resolution, so anything shorter would round to "no expiry".
	MinTTL = time.Millisecond
)

// Redis modes, as returned by [Config.RedisMode] and held in
// [RedisConfig.Mode]. The empty mode means "no Redis": the service runs on
// the in-process store.
const (
	RedisNone       = ""
	RedisStandalone = "standalone"
	RedisCluster    = "cluster"
	RedisSentinel   = "sentinel"
)

// Config is the whole configuration of the service. Build it with [Load],
// [FromFlags] or [Default]; a hand-built Config should pass [Config.Validate].
type Config struct {
	HTTP     HTTPConfig
	Database DatabaseConfig
	Redis    RedisConfig
	Cache    CacheConfig

	// LogLevel is the minimum level logged: debug, info, warn or error.
	// Env LOG_LEVEL. Default: info.
	LogLevel slog.Level
}

// HTTPConfig configures the HTTP server.
type HTTPConfig struct {
	// ListenAddr is the host:port the server listens on. Env LISTEN_ADDR.
	// Default: ":8080".
	ListenAddr string
	// AdminToken is the bearer token of /admin/* and PUT /v1/settings; when
	// empty, those answer 403. Env ADMIN_TOKEN. Default: empty.
	AdminToken Secret
	// RateLimitPerMinute is the number of requests a client IP may make per
	// minute; 0 turns rate limiting off. Env RATE_LIMIT_PER_MINUTE.
	// Default: 600.
	RateLimitPerMinute int
	// TrustedProxies are the peers whose X-Forwarded-For is believed. A bare
	// IP becomes a /32 or /128; IPv4-mapped IPv6 addresses are unmapped.
	// Env TRUSTED_PROXIES (comma list). Default: none.
	TrustedProxies []netip.Prefix
	// ShutdownTimeout bounds the graceful shutdown. Env SHUTDOWN_TIMEOUT.
	// Default: 15s.
	ShutdownTimeout time.Duration
}

// DatabaseConfig configures the SQL source of truth.
type DatabaseConfig struct {
	// URL is "sqlite:<path>" (also "sqlite://<path>") or a
	// postgres:// / postgresql:// URL. It is a Secret because it may hold a
	// password; [RedactURL] renders it safely. Env DATABASE_URL.
	// Default: "sqlite:filecache.db".
	URL Secret
	// Timeout bounds each read and each write transaction, the connect and
	// the wait for a pooled connection included (sqlstore.Options.Timeout);
	// 0 means sqlstore.DefaultTimeout (3s). Env DB_TIMEOUT.
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

// RedisConfig holds everything needed to build a Redis client. Only one of
// REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINEL_ADDRS may be set; which
// one decides Mode. When Mode is [RedisNone] the other fields are ignored.
type RedisConfig struct {
	// Mode is RedisNone, RedisStandalone, RedisCluster or RedisSentinel.
	Mode string
	// Addrs are host:port addresses: the server (standalone, from
	// REDIS_URL), the seed nodes (cluster, REDIS_CLUSTER_NODES) or the
	// sentinels (sentinel, REDIS_SENTINEL_ADDRS).
	Addrs []string
	// MasterSet is the name of the master the sentinels watch. Required in
	// sentinel mode, forbidden otherwise. Env REDIS_SENTINEL_MASTER.
	MasterSet string
	// Username is the ACL user. Env REDIS_USERNAME, which wins over a user
	// name in REDIS_URL. Default: none.
	Username string
	// Password is the AUTH password. Env REDIS_PASSWORD, which wins over a
	// password in REDIS_URL. Default: none.
	Password Secret
	// DB is the database number, from the path of REDIS_URL (/3). Always 0
	// in cluster mode. Default: 0.
	DB int
	// TLS is true for a rediss:// REDIS_URL.
	TLS bool
	// TLSInsecureSkipVerify skips certificate verification; for tests only.
	// It needs TLS. Env REDIS_TLS_INSECURE. Default: false.
	TLSInsecureSkipVerify bool
	// DialTimeout bounds connecting. Env REDIS_DIAL_TIMEOUT. Default: 5s.
	DialTimeout time.Duration
	// ReadTimeout is the per-command timeout. Env REDIS_READ_TIMEOUT.
	// Default: 500ms.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a command. Env REDIS_WRITE_TIMEOUT.
	// Default: 1s.
	WriteTimeout time.Duration
	// KeepAlive is the TCP keep-alive period; 0 turns keep-alive probes off.
	// Env REDIS_KEEPALIVE. Default: 30s.
	KeepAlive time.Duration
	// PoolSize is the size of the pool of connections for blocking commands
	// (rueidis BlockingPoolSize). Env REDIS_POOL_SIZE. Default: 50.
	PoolSize int
	// MaxRetries is how often a failed idempotent command is retried.
	// Env REDIS_MAX_RETRIES. Default: 3.
	MaxRetries int
	// RetryOnTimeout allows retrying a command that timed out.
	// Env REDIS_RETRY_ON_TIMEOUT. Default: true.
	RetryOnTimeout bool
}

// CacheConfig configures the cache library.
type CacheConfig struct {
	// Prefix goes before every key: printable ASCII without spaces or glob
	// characters (*?[]\), at most MaxCachePrefixLen bytes. Env CACHE_PREFIX.
	// Default: none.
	Prefix string
	// TTLFile is the base TTL of file metadata. Env CACHE_TTL_FILE.
	// Default: 1h.
	TTLFile time.Duration
	// TTLSession is the sliding TTL of user sessions. Env CACHE_TTL_SESSION.
	// Default: 30m.
	TTLSession time.Duration
	// TTLStats is the TTL of daily stats. Env CACHE_TTL_STATS. Default: 24h.
	TTLStats time.Duration
	// TTLSearch is the TTL of search results. Env CACHE_TTL_SEARCH.
	// Default: 5m.
	TTLSearch time.Duration
	// TTLSettings is the TTL of the system settings. Env CACHE_TTL_SETTINGS.
	// Default: 10m.
	TTLSettings time.Duration
	// TTLJitter spreads expiries: 0.1 means ±10%. 0 to MaxCacheTTLJitter.
	// Env CACHE_TTL_JITTER. Default: 0.1.
	TTLJitter float64
	// NearSize is the capacity of the in-process near cache, in entries; 0
	// turns it off. Env CACHE_NEAR_SIZE. Default: 10000.
	NearSize int
	// Disabled turns the cache off: every read goes to the database, and
	// rate limits and sessions, which live in the cache, are off too. For
	// measuring what the cache saves and for debugging.
	// Env CACHE_DISABLED. Default: false.
	Disabled bool
	// FailSafe keeps cached values this long past their TTL, to be served
	// (marked stale) when the database fails; 0 turns it off.
	// Env CACHE_FAIL_SAFE. Default: 1h.
	FailSafe time.Duration
	// FallbackLimit bounds the database loads that run at once while Redis
	// is unavailable; beyond it a request waits briefly, then gets 503 with
	// Retry-After. 0 means no limit. Env DB_FALLBACK_LIMIT. Default: 32.
	FallbackLimit int
	// StatsLogInterval is how often the hit ratio is logged; 0 turns it
	// off. Env CACHE_STATS_LOG_INTERVAL. Default: 5m.
	StatsLogInterval time.Duration
	// RedisInfoInterval is how often Redis INFO is polled for the metrics;
	// 0 turns the poller off. Env REDIS_INFO_INTERVAL. Default: 30s.
	RedisInfoInterval time.Duration
	// AuditRate is the consistency auditor's database reads per second
	// (samples of cached entries against the database); 0 turns it off.
	// Env CACHE_AUDIT_RATE. Default: 1.
	AuditRate float64
}

// Default returns the configuration used when nothing is set: SQLite, no
// Redis (the in-process store), and the documented defaults.
func Default() Config {
	return Config{
		HTTP: HTTPConfig{
			ListenAddr:         DefaultListenAddr,
			RateLimitPerMinute: DefaultRateLimitPerMinute,
			ShutdownTimeout:    DefaultShutdownTimeout,
		},
		Database: DatabaseConfig{URL: DefaultDatabaseURL},
		Redis: RedisConfig{
			DialTimeout:    DefaultRedisDialTimeout,
			ReadTimeout:    DefaultRedisReadTimeout,
			WriteTimeout:   DefaultRedisWriteTimeout,
			KeepAlive:      DefaultRedisKeepAlive,
			PoolSize:       DefaultRedisPoolSize,
			MaxRetries:     DefaultRedisMaxRetries,
			RetryOnTimeout: DefaultRedisRetryOnTimeout,
		},
		Cache: CacheConfig{
			TTLFile:     DefaultCacheTTLFile,
			TTLSession:  DefaultCacheTTLSession,
			TTLStats:    DefaultCacheTTLStats,
			TTLSearch:   DefaultCacheTTLSearch,
			TTLSettings: DefaultCacheTTLSettings,
			TTLJitter:   DefaultCacheTTLJitter,
			NearSize:    DefaultCacheNearSize,

			FailSafe:          DefaultCacheFailSafe,
			FallbackLimit:     DefaultFallbackLimit,
			StatsLogInterval:  DefaultStatsLogInterval,
			RedisInfoInterval: DefaultRedisInfoPeriod,
			AuditRate:         DefaultCacheAuditRate,
		},
		LogLevel: DefaultLogLevel,
	}
}

// RedisMode reports how Redis is used: RedisNone (""), RedisStandalone,
// RedisCluster or RedisSentinel.
func (c Config) RedisMode() string { return c.Redis.Mode }

// LogValue renders the configuration for the start-up log line, with every
// secret redacted. It implements [slog.LogValuer].
func (c Config) LogValue() slog.Value {
	proxies := make([]string, len(c.HTTP.TrustedProxies))
	for i, p := range c.HTTP.TrustedProxies {
		proxies[i] = p.String()
	}
	mode := c.Redis.Mode
	if mode == RedisNone {
		mode = "none"
	}
	return slog.GroupValue(
		slog.Group("http",
			slog.String("listen_addr", c.HTTP.ListenAddr),
			slog.Any("admin_token", c.HTTP.AdminToken),
			slog.Int("rate_limit_per_minute", c.HTTP.RateLimitPerMinute),
			slog.Any("trusted_proxies", proxies),
			slog.String("shutdown_timeout", shortDuration(c.HTTP.ShutdownTimeout)),
		),
		slog.Group("database",
			slog.String("driver", c.Database.Driver()),
			slog.String("url", RedactURL(c.Database.URL.Reveal())),
			slog.String("timeout", shortDuration(c.Database.Timeout)),
		),
		slog.Group("redis",
			slog.String("mode", mode),
			slog.Any("addrs", c.Redis.Addrs),
			slog.String("master_set", c.Redis.MasterSet),
			slog.String("username", c.Redis.Username),
			slog.Any("password", c.Redis.Password),
			slog.Int("db", c.Redis.DB),
			slog.Bool("tls", c.Redis.TLS),
			slog.Bool("tls_insecure", c.Redis.TLSInsecureSkipVerify),
			slog.String("dial_timeout", shortDuration(c.Redis.DialTimeout)),
			slog.String("read_timeout", shortDuration(c.Redis.ReadTimeout)),
			slog.String("write_timeout", shortDuration(c.Redis.WriteTimeout)),
			slog.String("keepalive", shortDuration(c.Redis.KeepAlive)),
			slog.Int("pool_size", c.Redis.PoolSize),
			slog.Int("max_retries", c.Redis.MaxRetries),
			slog.Bool("retry_on_timeout", c.Redis.RetryOnTimeout),
		),
		slog.Group("cache",
			slog.String("prefix", c.Cache.Prefix),
			slog.String("ttl_file", shortDuration(c.Cache.TTLFile)),
			slog.String("ttl_session", shortDuration(c.Cache.TTLSession)),
			slog.String("ttl_stats", shortDuration(c.Cache.TTLStats)),
			slog.String("ttl_search", shortDuration(c.Cache.TTLSearch)),
			slog.String("ttl_settings", shortDuration(c.Cache.TTLSettings)),
			slog.Float64("ttl_jitter", c.Cache.TTLJitter),
			slog.Int("near_size", c.Cache.NearSize),
			slog.Bool("disabled", c.Cache.Disabled),
			slog.String("fail_safe", shortDuration(c.Cache.FailSafe)),
			slog.Int("fallback_limit", c.Cache.FallbackLimit),
			slog.Float64("audit_rate", c.Cache.AuditRate),
		),
		slog.String("log_level", strings.ToLower(c.LogLevel.String())),
	)
}

// shortDuration formats d without zero trailing units: 1h, 30m, 1h30m, 15s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
