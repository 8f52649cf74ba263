package config

import (
	"strconv"
	"strings"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/metrics"
	"github.com/spf13/pflag"
)

// Group is a set of related settings, bound to a command's flags together
// (see [Bind]) and shown together in its --help.
type Group string

// The groups of settings. Every command binds the ones it uses; LOG_LEVEL
// is bound with any group.
const (
	// GroupServer: the HTTP server and the background work of serve.
	GroupServer Group = "Server"
	// GroupCache: TTLs and the behaviour of the cache (serve, warm).
	GroupCache Group = "Cache"
	// GroupDatabase: the SQL database.
	GroupDatabase Group = "Database"
	// GroupRedis: the Redis connection and the key namespace.
	GroupRedis Group = "Redis"
	// groupGeneral: LOG_LEVEL, bound with any group.
	groupGeneral Group = "General"
)

// GroupAnnotation is the pflag annotation that holds the group of a flag
// registered by Bind: flag.Annotations[GroupAnnotation][0].
const GroupAnnotation = "filecache/config-group"

// zeroRule says what a 0 given in the environment or a flag means.
type zeroRule int

const (
	// zeroIsValue: 0 is stored as it is; a negative value is refused.
	zeroIsValue zeroRule = iota
	// zeroOff: 0 turns the setting off and is stored as -1 (the
	// libraries' "off"); a negative value is refused.
	zeroOff
	// zeroRefused: the setting must be positive (a duration at least 1ms).
	zeroRefused
)

// negated is a bool setting stored inverted: REDIS_RETRY_ON_TIMEOUT fills
// redisstore.Options.NoRetryOnTimeout.
type negated struct{ p *bool }

// topology holds the raw Redis settings, resolved into a RedisConfig once
// all sources are read (see resolveRedis).
type topology struct {
	url, cluster, sentinel string
	username               string
	password               Secret
	tls, tlsInsecure       bool
	caFile, certFile       string
	keyFile, serverName    string
}

// floatMax is the largest value of each setting of type float.
var floatMax = map[string]float64{
	"CACHE_TTL_JITTER":    MaxCacheTTLJitter,
	"CACHE_EAGER_REFRESH": 1, // Validate refuses 1 itself
	"CACHE_AUDIT_RATE":    MaxCacheAuditRate,
}

// option is one setting: its environment variable, its flag (the variable
// in kebab case), and the field it fills.
type option struct {
	env   string
	group Group
	usage string
	typ   string   // the flag's type name in --help
	ptr   any      // *string, *Secret, *int, *bool, negated, *float64, *time.Duration, *slog.Level, *[]netip.Prefix
	def   string   // the default shown in --help, read from the constant that applies it
	zero  zeroRule // for numbers
}

// flagName returns the flag of an environment variable: LISTEN_ADDR ->
// listen-addr.
func (o option) flagName() string {
	return strings.ReplaceAll(strings.ToLower(o.env), "_", "-")
}

// secret reports whether o holds a password or token: such a value is taken
// verbatim (not trimmed) and never shown.
func (o option) secret() bool { return o.typ == "secret" }

// options lists every setting, pointing into c and t, in the order of
// --help.
func options(c *Config, t *topology) []option {
	r := &c.Redis.Options
	return []option{
		{"LISTEN_ADDR", GroupServer, "listen address, host:port", "string", &c.HTTP.ListenAddr, DefaultListenAddr, zeroIsValue},
		{"ADMIN_TOKEN", GroupServer, "bearer token of the admin endpoints, at least 16 bytes; unset answers 403 (prefer the environment to the command line)", "secret", &c.HTTP.AdminToken, "", zeroIsValue},
		{"RATE_LIMIT_PER_MINUTE", GroupServer, "requests per minute per client IP, 0 turns it off", "int", &c.HTTP.RateLimitPerMinute, strconv.Itoa(DefaultRateLimitPerMinute), zeroIsValue},
		{"TRUSTED_PROXIES", GroupServer, "proxies whose X-Forwarded-For is trusted, comma-separated IPs or CIDRs", "cidrs", &c.HTTP.TrustedProxies, "", zeroIsValue},
		{"SHUTDOWN_TIMEOUT", GroupServer, "graceful shutdown timeout", "duration", &c.HTTP.ShutdownTimeout, dur(DefaultShutdownTimeout), zeroRefused},
		{"CACHE_STATS_LOG_INTERVAL", GroupServer, "how often the hit ratio is logged, 0 turns it off", "duration", &c.Metrics.StatsLogInterval, dur(metrics.DefaultStatsLogInterval), zeroOff},
		{"REDIS_INFO_INTERVAL", GroupServer, "how often Redis INFO is polled for metrics, 0 turns it off", "duration", &c.Metrics.RedisInfoInterval, dur(metrics.DefaultRedisInfoInterval), zeroOff},
		{"CACHE_AUDIT_RATE", GroupServer, "consistency auditor: cached entries checked against the database per second, 0 turns it off", "float", &c.Cache.AuditRate, strconv.FormatFloat(audit.DefaultRate, 'g', -1, 64), zeroOff},
		{"REDIS_SET_MAXMEMORY_POLICY", GroupServer, "maxmemory-policy to set with CONFIG SET at start-up, e.g. allkeys-lru; unset leaves the servers' own", "string", &c.Redis.SetMaxmemoryPolicy, "", zeroIsValue},

		{"CACHE_TTL_FILE", GroupCache, "TTL of file metadata (then longer for popular and large files)", "duration", &c.Cache.TTLs.File, dur(catalog.DefaultFileTTL), zeroRefused},
		{"CACHE_TTL_SESSION", GroupCache, "sliding TTL of user sessions", "duration", &c.Cache.TTLs.Session, dur(catalog.DefaultSessionTTL), zeroRefused},
		{"CACHE_TTL_STATS", GroupCache, "TTL of daily stats", "duration", &c.Cache.TTLs.Stats, dur(catalog.DefaultStatsTTL), zeroRefused},
		{"CACHE_TTL_SEARCH", GroupCache, "TTL of search results", "duration", &c.Cache.TTLs.Search, dur(catalog.DefaultSearchTTL), zeroRefused},
		{"CACHE_TTL_INFO", GroupCache, "base TTL of the info view of a file (longer for popular files)", "duration", &c.Cache.TTLs.Info, dur(catalog.DefaultInfoTTL), zeroRefused},
		{"CACHE_TTL_META", GroupCache, "TTL of the meta view of a file", "duration", &c.Cache.TTLs.Meta, dur(catalog.DefaultMetaTTL), zeroRefused},
		{"CACHE_TTL_SETTINGS", GroupCache, "TTL of the system settings", "duration", &c.Cache.TTLs.Settings, dur(catalog.DefaultSettingsTTL), zeroRefused},
		{"CACHE_TTL_JITTER", GroupCache, "TTL jitter, 0.1 = ±10%, 0 to 0.5, 0 turns it off", "float", &c.Cache.TTLJitter, strconv.FormatFloat(cache.DefaultJitter, 'g', -1, 64), zeroOff},
		{"CACHE_NEAR_SIZE", GroupCache, "entries of the in-process near cache, 0 turns it off", "int", &c.Cache.NearSize, strconv.Itoa(DefaultCacheNearSize), zeroIsValue},
		{"CACHE_DISABLED", GroupCache, "turn the cache off: every read goes to the database, and sessions and rate limits are off (measurements, debugging)", "bool", &c.Cache.Disabled, "false", zeroIsValue},
		{"CACHE_FAIL_SAFE", GroupCache, "how long values are kept past their TTL, served stale if the database fails; 0 turns it off", "duration", &c.Cache.FailSafe, dur(DefaultCacheFailSafe), zeroIsValue},
		{"CACHE_SOFT_TIMEOUT", GroupCache, "with a stale value at hand, how long a read waits for the database before it answers stale; 0 turns it off", "duration", &c.Cache.Loading.SoftTimeout, dur(catalog.DefaultSoftTimeout), zeroOff},
		{"CACHE_HARD_TIMEOUT", GroupCache, "the longest one load from the database may run (at most the lease, 5s)", "duration", &c.Cache.Loading.HardTimeout, dur(cache.DefaultLeaseTTL), zeroRefused},
		{"CACHE_FAIL_SAFE_THROTTLE", GroupCache, "after a failed refresh, how long the stale value is served before the database is asked again", "duration", &c.Cache.Loading.FailSafeThrottle, dur(catalog.DefaultFailSafeThrottle), zeroRefused},
		{"CACHE_EAGER_REFRESH", GroupCache, "refresh a value read after this fraction of its TTL, in the background (below 1); 0 turns it off", "float", &c.Cache.Loading.EagerRefresh, strconv.FormatFloat(catalog.DefaultEagerRefresh, 'g', -1, 64), zeroOff},
		{"CACHE_NEAR_MAX_LAG", GroupCache, "the most a near-cache hit may lag behind Redis when its notifications hang", "duration", &c.Cache.NearMaxLag, dur(cache.DefaultNearMaxLag), zeroRefused},
		{"CACHE_WARM_ON_START", GroupServer, "most downloaded files to load into the cache at start-up, in the background; 0 turns it off", "int", &c.Cache.WarmOnStart, "0", zeroIsValue},
		{"DB_FALLBACK_LIMIT", GroupCache, "database loads at once while Redis is down, 0 means no limit", "int", &c.Cache.FallbackLimit, strconv.Itoa(DefaultFallbackLimit), zeroIsValue},

		{"DATABASE_URL", GroupDatabase, "database: sqlite:<path> or postgres://...", "url", &c.Database.URL, DefaultDatabaseURL, zeroIsValue},
		{"DB_TIMEOUT", GroupDatabase, "deadline of each database read and write transaction", "duration", &c.Database.Timeout, sqlstore.DefaultTimeout.String(), zeroRefused},

		{"REDIS_URL", GroupRedis, "standalone Redis URL, redis[s]://[user:password@]host[:port][/db]", "url", &t.url, "", zeroIsValue},
		{"REDIS_CLUSTER_NODES", GroupRedis, "Redis Cluster seed nodes, comma-separated host:port (rediss://host:port for TLS)", "addrs", &t.cluster, "", zeroIsValue},
		{"REDIS_SENTINEL_ADDRS", GroupRedis, "Redis Sentinel addresses, comma-separated host:port (rediss://host:port for TLS)", "addrs", &t.sentinel, "", zeroIsValue},
		{"REDIS_SENTINEL_MASTER", GroupRedis, "name of the master watched by the sentinels", "string", &r.MasterSet, "", zeroIsValue},
		{"REDIS_USERNAME", GroupRedis, "Redis ACL user name (wins over REDIS_URL's)", "string", &t.username, "", zeroIsValue},
		{"REDIS_PASSWORD", GroupRedis, "Redis password (wins over REDIS_URL's; prefer the environment to the command line)", "secret", &t.password, "", zeroIsValue},
		{"CACHE_PREFIX", GroupRedis, `namespace before every cache key; ":" is appended when missing`, "string", &c.Cache.Prefix, "", zeroIsValue},
		{"REDIS_TLS", GroupRedis, "connect with TLS (also implied by rediss://)", "bool", &t.tls, "false", zeroIsValue},
		{"REDIS_TLS_CA_FILE", GroupRedis, "PEM file of the CA certificates that sign the servers' (default: the system's)", "file", &t.caFile, "", zeroIsValue},
		{"REDIS_TLS_CERT_FILE", GroupRedis, "PEM file of the client certificate, for mutual TLS (with REDIS_TLS_KEY_FILE)", "file", &t.certFile, "", zeroIsValue},
		{"REDIS_TLS_KEY_FILE", GroupRedis, "PEM file of the client certificate's private key", "file", &t.keyFile, "", zeroIsValue},
		{"REDIS_TLS_SERVER_NAME", GroupRedis, "name the servers' certificates must hold (default: the host dialed)", "string", &t.serverName, "", zeroIsValue},
		{"REDIS_TLS_INSECURE", GroupRedis, "skip TLS certificate verification (tests only)", "bool", &t.tlsInsecure, "false", zeroIsValue},
		{"REDIS_DIAL_TIMEOUT", GroupRedis, "Redis connect timeout", "duration", &r.DialTimeout, dur(redisstore.DefaultDialTimeout), zeroRefused},
		{"REDIS_READ_TIMEOUT", GroupRedis, "Redis per-attempt command timeout", "duration", &r.ReadTimeout, dur(redisstore.DefaultReadTimeout), zeroRefused},
		{"REDIS_WRITE_TIMEOUT", GroupRedis, "Redis write timeout: a connection silent that long is closed", "duration", &r.WriteTimeout, dur(redisstore.DefaultWriteTimeout), zeroRefused},
		{"REDIS_KEEPALIVE", GroupRedis, "Redis TCP keep-alive period, 0 turns it off", "duration", &r.KeepAlive, dur(redisstore.DefaultKeepAlive), zeroOff},
		{"REDIS_REPLICA_WAIT", GroupRedis, "how long an invalidation waits for the online replicas of its masters to hold it (WAIT); 0 turns it off", "duration", &r.ReplicaWait, dur(redisstore.DefaultReplicaWait), zeroOff},
		{"REDIS_POOL_SIZE", GroupRedis, "Redis connection pool size for blocking commands", "int", &r.PoolSize, strconv.Itoa(redisstore.DefaultPoolSize), zeroRefused},
		{"REDIS_MAX_RETRIES", GroupRedis, "Redis retries of a failed idempotent command, 0 turns them off", "int", &r.MaxRetries, strconv.Itoa(redisstore.DefaultMaxRetries), zeroOff},
		{"REDIS_RETRY_ON_TIMEOUT", GroupRedis, "retry Redis commands that timed out", "bool", negated{&r.NoRetryOnTimeout}, "true", zeroIsValue},

		{"LOG_LEVEL", groupGeneral, "log level: debug, info, warn or error", "level", &c.LogLevel, "info", zeroIsValue},
	}
}

// flagValue is the pflag.Value of every setting. It keeps the text as given
// and never fails, so that all bad values are reported together, by
// variable name, when the configuration is built.
type flagValue struct {
	text string
	typ  string
}

// String returns the text, with secrets and URL passwords hidden.
func (v *flagValue) String() string {
	switch {
	case v.typ == "secret" && v.text != "":
		return redacted
	case v.typ == "url":
		return RedactURL(v.text)
	}
	return v.text
}

// Set implements pflag.Value; it never fails (see flagValue).
func (v *flagValue) Set(s string) error { v.text = s; return nil }

// Type implements pflag.Value.
func (v *flagValue) Type() string { return v.typ }

// Bind registers on fs one flag per setting of the given groups, or of
// every group when none is given (--listen-addr, --redis-url, ...), each
// with its environment variable and default in the usage text and its
// group in the GroupAnnotation annotation; LOG_LEVEL comes with any group.
// Read them back with [FromFlags] after fs is parsed. Bind panics, as pflag
// does, if fs already has a flag of the same name.
func Bind(fs *pflag.FlagSet, groups ...Group) {
	if len(groups) == 0 {
		groups = AllGroups()
	}
	want := map[Group]bool{groupGeneral: true}
	for _, g := range groups {
		want[g] = true
	}
	for _, o := range options(&Config{}, &topology{}) {
		if !want[o.group] {
			continue
		}
		v := &flagValue{text: o.def, typ: o.typ}
		f := fs.VarPF(v, o.flagName(), "", o.usage+" (env "+o.env+")")
		f.Annotations = map[string][]string{GroupAnnotation: {string(o.group)}}
		if o.typ == "bool" {
			f.NoOptDefVal = "true"
		}
	}
}

// AllGroups returns every group, for a command that uses every setting.
func AllGroups() []Group { return []Group{GroupServer, GroupCache, GroupDatabase, GroupRedis} }
