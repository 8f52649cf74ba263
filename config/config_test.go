package config_test

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
)

// env returns a lookup function over m.
func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

var cmpPrefix = cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })

// varsOf returns the variables named by the VarErrors joined in err, sorted.
func varsOf(t *testing.T, err error) []string {
	t.Helper()
	var vars []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		var ve *config.VarError
		if !errors.As(e, &ve) {
			t.Errorf("error %q is not a *config.VarError", e)
			return
		}
		vars = append(vars, ve.Var)
	}
	if err != nil {
		walk(err)
	}
	slices.Sort(vars)
	return vars
}

// cmpTLS compares TLS configurations by what the loader sets.
var cmpTLS = cmp.Comparer(func(a, b *tls.Config) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.MinVersion == b.MinVersion && a.ServerName == b.ServerName && a.InsecureSkipVerify == b.InsecureSkipVerify &&
		len(a.Certificates) == len(b.Certificates) && (a.RootCAs == nil) == (b.RootCAs == nil)
})

var cmpOpts = cmp.Options{cmpPrefix, cmpTLS}

func TestDefault(t *testing.T) {
	got, err := config.Load(nil, nil)
	if err != nil {
		t.Fatalf("Load(nil, nil): %v", err)
	}
	// The service's own defaults are filled in; every library setting is
	// zero, for the library to apply its default.
	want := config.Config{
		HTTP: config.HTTPConfig{
			ListenAddr:         ":8080",
			RateLimitPerMinute: 600,
			ShutdownTimeout:    15 * time.Second,
		},
		Database: config.DatabaseConfig{URL: "sqlite:filecache.db"},
		Cache: config.CacheConfig{
			NearSize:      10000,
			FailSafe:      time.Hour,
			FallbackLimit: 32,
		},
		LogLevel: slog.LevelInfo,
	}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Load(nil, nil) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, config.Default(), cmpOpts); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if err := config.Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if got.Redis.Mode != config.RedisNone {
		t.Errorf("Redis.Mode = %q, want none", got.Redis.Mode)
	}
	if got.Database.Driver() != "sqlite" || got.Database.DSN() != "filecache.db" {
		t.Errorf("Driver, DSN = %q, %q; want sqlite, filecache.db", got.Database.Driver(), got.Database.DSN())
	}
}

func TestLoadEnv(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(c *config.Config)
	}{
		{"empty values mean default", map[string]string{"LISTEN_ADDR": "", "CACHE_TTL_FILE": "  "}, func(*config.Config) {}},
		{"listen addr", map[string]string{"LISTEN_ADDR": "127.0.0.1:9000"}, func(c *config.Config) { c.HTTP.ListenAddr = "127.0.0.1:9000" }},
		{"listen addr ipv6, trimmed", map[string]string{"LISTEN_ADDR": " [::1]:0 \n"}, func(c *config.Config) { c.HTTP.ListenAddr = "[::1]:0" }},
		{"sqlite path", map[string]string{"DATABASE_URL": "sqlite:///var/lib/fc.db"}, func(c *config.Config) { c.Database.URL = "sqlite:///var/lib/fc.db" }},
		{"postgres", map[string]string{"DATABASE_URL": "postgres://fc:pw@db:5432/fc?sslmode=disable"}, func(c *config.Config) {
			c.Database.URL = "postgres://fc:pw@db:5432/fc?sslmode=disable"
		}},
		{"postgresql", map[string]string{"DATABASE_URL": "postgresql://db/fc"}, func(c *config.Config) { c.Database.URL = "postgresql://db/fc" }},
		{"db timeout", map[string]string{"DB_TIMEOUT": "3s"}, func(c *config.Config) { c.Database.Timeout = 3 * time.Second }},
		{"redis url", map[string]string{"REDIS_URL": "redis://localhost"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"localhost:6379"}
		}},
		{"rediss url with user, password and db", map[string]string{"REDIS_URL": "rediss://app:p%40ss@cache.example:6380/3"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"cache.example:6380"}
			c.Redis.Options.Username = "app"
			c.Redis.Options.Password = "p@ss"
			c.Redis.Options.DB = 3
			c.Redis.Options.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}},
		{"redis url ipv6, password only", map[string]string{"REDIS_URL": "redis://:pw@[::1]/"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"[::1]:6379"}
			c.Redis.Options.Password = "pw"
		}},
		{"REDIS_USERNAME and REDIS_PASSWORD win over the URL's", map[string]string{
			"REDIS_URL": "redis://u:p@h:1", "REDIS_USERNAME": "u2", "REDIS_PASSWORD": " p2 ",
		}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"h:1"}
			c.Redis.Options.Username = "u2"
			c.Redis.Options.Password = " p2 " // secrets are taken verbatim
		}},
		{"cluster", map[string]string{"REDIS_CLUSTER_NODES": "n1:7000, n2:7001,,n3:7002,", "REDIS_PASSWORD": "pw"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisCluster
			c.Redis.Options.Addrs = []string{"n1:7000", "n2:7001", "n3:7002"}
			c.Redis.Options.Password = "pw"
		}},
		{"cluster over TLS by scheme", map[string]string{"REDIS_CLUSTER_NODES": "rediss://n1:7000,REDISS://n2:7001", "REDIS_TLS_SERVER_NAME": "redis.internal"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisCluster
			c.Redis.Options.Addrs = []string{"n1:7000", "n2:7001"}
			c.Redis.Options.TLS = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: "redis.internal"}
		}},
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisSentinel
			c.Redis.Options.Addrs = []string{"s1:26379", "s2:26379"}
			c.Redis.Options.MasterSet = "mymaster"
		}},
		{"sentinel over TLS by REDIS_TLS", map[string]string{"REDIS_SENTINEL_ADDRS": "redis://s1:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_TLS": "true"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisSentinel
			c.Redis.Options.Addrs = []string{"s1:26379"}
			c.Redis.Options.MasterSet = "m"
			c.Redis.Options.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}},
		{"redis knobs", map[string]string{
			"REDIS_URL":                  "rediss://h:1",
			"REDIS_DIAL_TIMEOUT":         "2s",
			"REDIS_READ_TIMEOUT":         "250ms",
			"REDIS_WRITE_TIMEOUT":        "500ms",
			"REDIS_KEEPALIVE":            "0",
			"REDIS_POOL_SIZE":            "8",
			"REDIS_MAX_RETRIES":          "0",
			"REDIS_RETRY_ON_TIMEOUT":     "false",
			"REDIS_TLS_INSECURE":         "1",
			"REDIS_SET_MAXMEMORY_POLICY": "allkeys-lru",
		}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.SetMaxmemoryPolicy = "allkeys-lru"
			o := &c.Redis.Options
			o.Addrs = []string{"h:1"}
			o.TLS = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}
			o.DialTimeout = 2 * time.Second
			o.ReadTimeout = 250 * time.Millisecond
			o.WriteTimeout = 500 * time.Millisecond
			o.KeepAlive = -1 // 0 in the environment: off
			o.PoolSize = 8
			o.MaxRetries = -1 // 0 in the environment: off
			o.NoRetryOnTimeout = true
		}},
		{"cache", map[string]string{
			"CACHE_PREFIX":       "fc:prod:",
			"CACHE_TTL_FILE":     "2h",
			"CACHE_TTL_SESSION":  "15m",
			"CACHE_TTL_STATS":    "48h",
			"CACHE_TTL_SEARCH":   "1m30s",
			"CACHE_TTL_SETTINGS": "1m",
			"CACHE_TTL_JITTER":   "0.5",
			"CACHE_NEAR_SIZE":    "0",
			"CACHE_FAIL_SAFE":    "0",
			"DB_FALLBACK_LIMIT":  "0",
			"CACHE_DISABLED":     "true",
		}, func(c *config.Config) {
			c.Cache = config.CacheConfig{
				Prefix: "fc:prod:",
				TTLs: catalog.TTLs{
					File:     2 * time.Hour,
					Session:  15 * time.Minute,
					Stats:    48 * time.Hour,
					Search:   90 * time.Second,
					Settings: time.Minute,
				},
				TTLJitter: 0.5,
				Disabled:  true,
			}
		}},
		{"prefix gets its separator", map[string]string{"CACHE_PREFIX": "tenant-a"}, func(c *config.Config) { c.Cache.Prefix = "tenant-a:" }},
		{"jitter 0 is off", map[string]string{"CACHE_TTL_JITTER": "0"}, func(c *config.Config) { c.Cache.TTLJitter = -1 }},
		{"audit rate 0 is off", map[string]string{"CACHE_AUDIT_RATE": "0"}, func(c *config.Config) { c.Cache.AuditRate = -1 }},
		{"eager refresh 0 is off", map[string]string{"CACHE_EAGER_REFRESH": "0"}, func(c *config.Config) { c.Cache.Loading.EagerRefresh = -1 }},
		{"soft timeout 0 is off", map[string]string{"CACHE_SOFT_TIMEOUT": "0"}, func(c *config.Config) { c.Cache.Loading.SoftTimeout = -1 }},
		{"metrics", map[string]string{"REDIS_INFO_INTERVAL": "0", "CACHE_STATS_LOG_INTERVAL": "1m"}, func(c *config.Config) {
			c.Metrics = config.MetricsConfig{RedisInfoInterval: -1, StatsLogInterval: time.Minute}
		}},
		{"http", map[string]string{
			"ADMIN_TOKEN":           "s3cr3t-token-0123456789",
			"RATE_LIMIT_PER_MINUTE": "0",
			"TRUSTED_PROXIES":       "10.0.0.0/8, 192.168.1.7,::1, 2001:db8::/32,172.16.5.4/12,::ffff:10.1.2.3",
			"SHUTDOWN_TIMEOUT":      "30s",
		}, func(c *config.Config) {
			c.HTTP.AdminToken = "s3cr3t-token-0123456789"
			c.HTTP.RateLimitPerMinute = 0
			c.HTTP.TrustedProxies = []netip.Prefix{
				netip.MustParsePrefix("10.0.0.0/8"),
				netip.MustParsePrefix("192.168.1.7/32"),
				netip.MustParsePrefix("::1/128"),
				netip.MustParsePrefix("2001:db8::/32"),
				netip.MustParsePrefix("172.16.0.0/12"),
				netip.MustParsePrefix("10.1.2.3/32"),
			}
			c.HTTP.ShutdownTimeout = 30 * time.Second
		}},
		{"log level debug", map[string]string{"LOG_LEVEL": "debug"}, func(c *config.Config) { c.LogLevel = slog.LevelDebug }},
		{"log level WARN", map[string]string{"LOG_LEVEL": "WARN"}, func(c *config.Config) { c.LogLevel = slog.LevelWarn }},
		{"log level error", map[string]string{"LOG_LEVEL": "Error"}, func(c *config.Config) { c.LogLevel = slog.LevelError }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := config.Default()
			tt.want(&want)
			got, err := config.Load(nil, env(tt.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("Load mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDatabaseDriverDSN(t *testing.T) {
	tests := []struct{ url, driver, dsn string }{
		{"sqlite:filecache.db", "sqlite", "filecache.db"},
		{"sqlite:///tmp/x.db", "sqlite", "/tmp/x.db"},
		{"sqlite://x.db", "sqlite", "x.db"},
		{"sqlite:file:x.db?mode=memory", "sqlite", "file:x.db?mode=memory"},
		{"postgres://u:p@h/db", "postgres", "postgres://u:p@h/db"},
		{"PostgreSQL://h/db", "postgres", "PostgreSQL://h/db"},
		{"mysql://h/db", "", "mysql://h/db"},
	}
	for _, tt := range tests {
		d := config.DatabaseConfig{URL: config.Secret(tt.url)}
		if got := d.Driver(); got != tt.driver {
			t.Errorf("Driver(%q) = %q, want %q", tt.url, got, tt.driver)
		}
		if got := d.DSN(); got != tt.dsn {
			t.Errorf("DSN(%q) = %q, want %q", tt.url, got, tt.dsn)
		}
	}
}

func TestFlagsBeatEnv(t *testing.T) {
	e := env(map[string]string{
		"LISTEN_ADDR":            ":1111",
		"REDIS_URL":              "redis://envhost:6379",
		"CACHE_TTL_FILE":         "abc", // overridden by the flag, so not an error
		"REDIS_RETRY_ON_TIMEOUT": "true",
		"LOG_LEVEL":              "error",
		"ADMIN_TOKEN":            "from-env-0123456789",
	})
	args := []string{
		"--listen-addr", ":2222",
		"--redis-url=", // empty flag: back to the default, i.e. no Redis
		"--redis-cluster-nodes=a:1,b:2",
		"--cache-ttl-file=90m",
		"--redis-retry-on-timeout=false",
		"--redis-tls-insecure", // bool flag without a value
		"--admin-token=from-flag-0123456789",
	}
	_, err := config.Load(args, e)
	if err == nil {
		t.Fatal("Load: want REDIS_TLS_INSECURE error without TLS, got nil")
	}
	if diff := cmp.Diff([]string{"REDIS_TLS_INSECURE"}, varsOf(t, err)); diff != "" {
		t.Fatalf("error vars (-want +got):\n%s\n%v", diff, err)
	}

	args = slices.DeleteFunc(args, func(s string) bool { return s == "--redis-tls-insecure" })
	got, err := config.Load(args, e)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := config.Default()
	want.HTTP.ListenAddr = ":2222"
	want.HTTP.AdminToken = "from-flag-0123456789"
	want.Redis.Mode = config.RedisCluster
	want.Redis.Options.Addrs = []string{"a:1", "b:2"}
	want.Redis.Options.NoRetryOnTimeout = true
	want.Cache.TTLs.File = 90 * time.Minute
	want.LogLevel = slog.LevelError // from the environment
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Load mismatch (-want +got):\n%s", diff)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		env      map[string]string
		wantVars []string
		wantText string // part of the message
	}{
		{map[string]string{"LISTEN_ADDR": "8080"}, []string{"LISTEN_ADDR"}, "not host:port"},
		{map[string]string{"LISTEN_ADDR": ":99999"}, []string{"LISTEN_ADDR"}, "0 to 65535"},
		{map[string]string{"LISTEN_ADDR": ":http"}, []string{"LISTEN_ADDR"}, "0 to 65535"},
		{map[string]string{"DATABASE_URL": "mysql://h/db"}, []string{"DATABASE_URL"}, "sqlite:, postgres:// or postgresql://"},
		{map[string]string{"DATABASE_URL": "host=db password=pw"}, []string{"DATABASE_URL"}, "must start with"},
		{map[string]string{"DATABASE_URL": "sqlite:"}, []string{"DATABASE_URL"}, "missing file name"},
		{map[string]string{"DATABASE_URL": "postgres://h:x/%zz"}, []string{"DATABASE_URL"}, "not a valid URL"},
		{map[string]string{"REDIS_URL": "http://h:1"}, []string{"REDIS_URL"}, "scheme must be redis or rediss"},
		{map[string]string{"REDIS_URL": "localhost:6379"}, []string{"REDIS_URL"}, "not a valid URL"},
		{map[string]string{"REDIS_URL": "redis://"}, []string{"REDIS_URL"}, "missing host"},
		{map[string]string{"REDIS_URL": "redis://h:99999"}, []string{"REDIS_URL"}, "port"},
		{map[string]string{"REDIS_URL": "redis://h:1/x"}, []string{"REDIS_URL"}, "/<db number>"},
		{map[string]string{"REDIS_URL": "redis://h:1/-1"}, []string{"REDIS_URL"}, "/<db number>"},
		{map[string]string{"REDIS_URL": "redis://h:1/0?dial_timeout=1s"}, []string{"REDIS_URL"}, "query parameters"},
		{map[string]string{"REDIS_URL": "redis://h:bad"}, []string{"REDIS_URL"}, "not a valid URL"},
		{map[string]string{"REDIS_CLUSTER_NODES": "a:1,b"}, []string{"REDIS_CLUSTER_NODES"}, `"b" is not host:port`},
		{map[string]string{"REDIS_CLUSTER_NODES": ":7000"}, []string{"REDIS_CLUSTER_NODES"}, "missing host"},
		{map[string]string{"REDIS_CLUSTER_NODES": "   "}, nil, ""}, // blank is unset
		{map[string]string{"REDIS_CLUSTER_NODES": ",,"}, []string{"REDIS_CLUSTER_NODES"}, "no address"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:1,s:0", "REDIS_SENTINEL_MASTER": "m"}, []string{"REDIS_SENTINEL_ADDRS"}, "1 to 65535"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:1", "REDIS_SENTINEL_MASTER": "my master"}, []string{"REDIS_SENTINEL_MASTER"}, "without spaces"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_TLS_INSECURE": "true"}, []string{"REDIS_TLS_INSECURE"}, "needs TLS"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_TLS_CA_FILE": "/ca.pem"}, []string{"REDIS_TLS_CA_FILE"}, "needs TLS"},
		{map[string]string{"REDIS_CLUSTER_NODES": "h:1", "REDIS_TLS_SERVER_NAME": "x"}, []string{"REDIS_TLS_SERVER_NAME"}, "needs TLS"},
		{map[string]string{"REDIS_URL": "rediss://h", "REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, []string{"REDIS_TLS_CA_FILE"}, "no such file"},
		{map[string]string{"REDIS_URL": "rediss://h", "REDIS_TLS_CERT_FILE": "/c.pem"}, []string{"REDIS_TLS_KEY_FILE"}, "required with REDIS_TLS_CERT_FILE"},
		{map[string]string{"REDIS_URL": "rediss://h", "REDIS_TLS_KEY_FILE": "/k.pem"}, []string{"REDIS_TLS_CERT_FILE"}, "required with REDIS_TLS_KEY_FILE"},
		{map[string]string{"REDIS_URL": "rediss://h", "REDIS_TLS_CERT_FILE": "/nonexistent/c.pem", "REDIS_TLS_KEY_FILE": "/nonexistent/k.pem"}, []string{"REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE"}, "no such file"},
		{map[string]string{"REDIS_TLS": "sure"}, []string{"REDIS_TLS"}, "not a boolean"},
		{map[string]string{"REDIS_CLUSTER_NODES": "rediss://a:1,b:2"}, []string{"REDIS_CLUSTER_NODES"}, "same scheme"},
		{map[string]string{"REDIS_CLUSTER_NODES": "http://a:1"}, []string{"REDIS_CLUSTER_NODES"}, "scheme must be redis or rediss"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "rediss://u:p@a:1", "REDIS_SENTINEL_MASTER": "m"}, []string{"REDIS_SENTINEL_ADDRS"}, "without user"},
		{map[string]string{"REDIS_URL": "redis://h", "REDIS_SET_MAXMEMORY_POLICY": "lru"}, []string{"REDIS_SET_MAXMEMORY_POLICY"}, "not a maxmemory-policy"},
		{map[string]string{"REDIS_SET_MAXMEMORY_POLICY": "allkeys-lru"}, []string{"REDIS_SET_MAXMEMORY_POLICY"}, "without Redis"},
		{map[string]string{"DB_TIMEOUT": "0"}, []string{"DB_TIMEOUT"}, "at least 1ms"},
		{map[string]string{"DB_TIMEOUT": "soon"}, []string{"DB_TIMEOUT"}, "not a duration"},
		{map[string]string{"REDIS_TLS_INSECURE": "yes"}, []string{"REDIS_TLS_INSECURE"}, "not a boolean"},
		{map[string]string{"REDIS_RETRY_ON_TIMEOUT": "maybe"}, []string{"REDIS_RETRY_ON_TIMEOUT"}, "not a boolean"},
		{map[string]string{"REDIS_DIAL_TIMEOUT": "5"}, []string{"REDIS_DIAL_TIMEOUT"}, "not a duration (e.g. 1h, 30m)"},
		{map[string]string{"REDIS_READ_TIMEOUT": "0s"}, []string{"REDIS_READ_TIMEOUT"}, "at least 1ms"},
		{map[string]string{"REDIS_WRITE_TIMEOUT": "-1s"}, []string{"REDIS_WRITE_TIMEOUT"}, "at least 1ms"},
		{map[string]string{"REDIS_KEEPALIVE": "-1s"}, []string{"REDIS_KEEPALIVE"}, "negative"},
		{map[string]string{"REDIS_POOL_SIZE": "0"}, []string{"REDIS_POOL_SIZE"}, "at least 1"},
		{map[string]string{"REDIS_REPLICA_WAIT": "500ms"}, []string{"REDIS_REPLICA_WAIT"}, "shorter than REDIS_READ_TIMEOUT (500ms)"},
		{map[string]string{"REDIS_READ_TIMEOUT": "50ms", "REDIS_REPLICA_WAIT": "50ms"}, []string{"REDIS_REPLICA_WAIT"}, "shorter than REDIS_READ_TIMEOUT (50ms)"},
		{map[string]string{"REDIS_REPLICA_WAIT": "200ms", "REDIS_READ_TIMEOUT": "100ms"}, []string{"REDIS_REPLICA_WAIT"}, "shorter than REDIS_READ_TIMEOUT (100ms)"},
		{map[string]string{"REDIS_INFO_INTERVAL": "-1s"}, []string{"REDIS_INFO_INTERVAL"}, "0 turns it off"},
		{map[string]string{"REDIS_POOL_SIZE": "1e3"}, []string{"REDIS_POOL_SIZE"}, "not an integer"},
		{map[string]string{"REDIS_MAX_RETRIES": "-1"}, []string{"REDIS_MAX_RETRIES"}, "negative"},
		{map[string]string{"CACHE_PREFIX": "a b"}, []string{"CACHE_PREFIX"}, "printable ASCII"},
		{map[string]string{"CACHE_PREFIX": "app*"}, []string{"CACHE_PREFIX"}, "printable ASCII"},
		{map[string]string{"CACHE_PREFIX": `a\b`}, []string{"CACHE_PREFIX"}, "printable ASCII"},
		{map[string]string{"CACHE_PREFIX": "pré"}, []string{"CACHE_PREFIX"}, "printable ASCII"},
		{map[string]string{"CACHE_PREFIX": "a\tb"}, []string{"CACHE_PREFIX"}, "printable ASCII"},
		{map[string]string{"CACHE_PREFIX": strings.Repeat("p", 65)}, []string{"CACHE_PREFIX"}, "at most 64"},
		{map[string]string{"CACHE_TTL_FILE": "abc"}, []string{"CACHE_TTL_FILE"}, `"abc" is not a duration (e.g. 1h, 30m)`},
		{map[string]string{"CACHE_TTL_SESSION": "0"}, []string{"CACHE_TTL_SESSION"}, "at least 1ms"},
		{map[string]string{"CACHE_TTL_STATS": "1d"}, []string{"CACHE_TTL_STATS"}, "not a duration"},
		{map[string]string{"CACHE_TTL_SEARCH": "-5m"}, []string{"CACHE_TTL_SEARCH"}, "at least 1ms"},
		{map[string]string{"CACHE_TTL_SETTINGS": "500us"}, []string{"CACHE_TTL_SETTINGS"}, "at least 1ms"},
		{map[string]string{"CACHE_TTL_JITTER": "0.6"}, []string{"CACHE_TTL_JITTER"}, "between 0 and 0.5"},
		{map[string]string{"CACHE_TTL_JITTER": "-0.1"}, []string{"CACHE_TTL_JITTER"}, "between 0 and 0.5"},
		{map[string]string{"CACHE_TTL_JITTER": "NaN"}, []string{"CACHE_TTL_JITTER"}, "between 0 and 0.5"},
		{map[string]string{"CACHE_TTL_JITTER": "10%"}, []string{"CACHE_TTL_JITTER"}, "not a number"},
		{map[string]string{"CACHE_NEAR_SIZE": "-1"}, []string{"CACHE_NEAR_SIZE"}, "negative"},
		{map[string]string{"CACHE_NEAR_SIZE": "lots"}, []string{"CACHE_NEAR_SIZE"}, "not an integer"},
		{map[string]string{"ADMIN_TOKEN": "has space in a long token"}, []string{"ADMIN_TOKEN"}, "printable ASCII"},
		{map[string]string{"ADMIN_TOKEN": "a"}, []string{"ADMIN_TOKEN"}, "shorter than 16 bytes"},
		{map[string]string{"ADMIN_TOKEN": "0123456789abcde"}, []string{"ADMIN_TOKEN"}, "shorter than 16 bytes"},
		{map[string]string{"ADMIN_TOKEN": "0123456789abcdef"}, nil, ""},
		{map[string]string{"RATE_LIMIT_PER_MINUTE": "-5"}, []string{"RATE_LIMIT_PER_MINUTE"}, "negative"},
		{map[string]string{"RATE_LIMIT_PER_MINUTE": "99999999999999999999"}, []string{"RATE_LIMIT_PER_MINUTE"}, "not an integer"},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.1,proxy.local"}, []string{"TRUSTED_PROXIES"}, `"proxy.local" is not an IP address or CIDR prefix`},
		{map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, []string{"TRUSTED_PROXIES"}, "not an IP address"},
		{map[string]string{"TRUSTED_PROXIES": "fe80::1%eth0"}, []string{"TRUSTED_PROXIES"}, "not an IP address"},
		{map[string]string{"LOG_LEVEL": "verbose"}, []string{"LOG_LEVEL"}, "debug, info, warn or error"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, []string{"SHUTDOWN_TIMEOUT"}, "at least"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, []string{"SHUTDOWN_TIMEOUT"}, "not a duration"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.wantVars, "+")+"/"+tt.wantText, func(t *testing.T) {
			_, err := config.Load(nil, env(tt.env))
			if diff := cmp.Diff(tt.wantVars, varsOf(t, err)); diff != "" {
				t.Fatalf("Load(%q): error vars (-want +got):\n%s\nerror: %v", tt.env, diff, err)
			}
			if err == nil {
				return
			}
			msg := err.Error()
			for _, v := range tt.wantVars {
				if !strings.Contains(msg, "config: "+v+": ") {
					t.Errorf("error %q does not name %s", msg, v)
				}
			}
			if !strings.Contains(msg, tt.wantText) {
				t.Errorf("error %q does not contain %q", msg, tt.wantText)
			}
		})
	}
}

func TestMultipleErrorsJoined(t *testing.T) {
	_, err := config.Load([]string{"--cache-prefix=a*b"}, env(map[string]string{
		"CACHE_TTL_FILE":     "abc",
		"CACHE_TTL_SESSION":  "-1m",
		"LOG_LEVEL":          "loud",
		"REDIS_URL":          "ftp://h",
		"CACHE_NEAR_SIZE":    "-3",
		"TRUSTED_PROXIES":    "nope",
		"REDIS_POOL_SIZE":    "x",
		"DATABASE_URL":       "oracle://h",
		"CACHE_TTL_JITTER":   "2",
		"SHUTDOWN_TIMEOUT":   "",
		"REDIS_DIAL_TIMEOUT": "1ns",
	}))
	want := []string{
		"CACHE_NEAR_SIZE", "CACHE_PREFIX", "CACHE_TTL_FILE", "CACHE_TTL_JITTER", "CACHE_TTL_SESSION",
		"DATABASE_URL", "LOG_LEVEL", "REDIS_DIAL_TIMEOUT", "REDIS_POOL_SIZE", "REDIS_URL", "TRUSTED_PROXIES",
	}
	if diff := cmp.Diff(want, varsOf(t, err)); diff != "" {
		t.Errorf("error vars (-want +got):\n%s\nerror: %v", diff, err)
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(want) {
		t.Errorf("error has %d lines, want %d:\n%v", n, len(want), err)
	}
}

func TestRedisModes(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantMode string
		wantVars []string
	}{
		{"none", nil, config.RedisNone, nil},
		{"standalone", map[string]string{"REDIS_URL": "redis://h"}, config.RedisStandalone, nil},
		{"cluster", map[string]string{"REDIS_CLUSTER_NODES": "h:1"}, config.RedisCluster, nil},
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "h:1", "REDIS_SENTINEL_MASTER": "m"}, config.RedisSentinel, nil},
		{"url and cluster", map[string]string{"REDIS_URL": "redis://h", "REDIS_CLUSTER_NODES": "h:1"}, "", []string{"REDIS_URL, REDIS_CLUSTER_NODES"}},
		{"cluster and sentinel", map[string]string{"REDIS_CLUSTER_NODES": "h:1", "REDIS_SENTINEL_ADDRS": "h:2", "REDIS_SENTINEL_MASTER": "m"}, "",
			[]string{"REDIS_CLUSTER_NODES, REDIS_SENTINEL_ADDRS"}},
		{"all three", map[string]string{"REDIS_URL": "redis://h", "REDIS_CLUSTER_NODES": "h:1", "REDIS_SENTINEL_ADDRS": "h:2"}, "",
			[]string{"REDIS_URL, REDIS_CLUSTER_NODES, REDIS_SENTINEL_ADDRS"}},
		{"sentinel without master", map[string]string{"REDIS_SENTINEL_ADDRS": "h:1"}, "", []string{"REDIS_SENTINEL_MASTER"}},
		{"master without sentinel", map[string]string{"REDIS_SENTINEL_MASTER": "m"}, "", []string{"REDIS_SENTINEL_MASTER"}},
		{"master with url", map[string]string{"REDIS_URL": "redis://h", "REDIS_SENTINEL_MASTER": "m"}, "", []string{"REDIS_SENTINEL_MASTER"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(nil, env(tt.env))
			if diff := cmp.Diff(tt.wantVars, varsOf(t, err)); diff != "" {
				t.Fatalf("error vars (-want +got):\n%s\nerror: %v", diff, err)
			}
			if err == nil && cfg.Redis.Mode != tt.wantMode {
				t.Errorf("Redis.Mode = %q, want %q", cfg.Redis.Mode, tt.wantMode)
			}
		})
	}
}

func TestValidateHandBuilt(t *testing.T) {
	tests := []struct {
		name     string
		edit     func(c *config.Config)
		wantVars []string
	}{
		{"default", func(*config.Config) {}, nil},
		{"unknown mode", func(c *config.Config) { c.Redis.Mode = "ring" }, []string{"REDIS_URL"}},
		{"standalone without addr", func(c *config.Config) { c.Redis.Mode = config.RedisStandalone }, []string{"REDIS_URL"}},
		{"standalone with two addrs", func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"a:1", "b:1"}
		}, []string{"REDIS_URL"}},
		{"cluster db 1", func(c *config.Config) {
			c.Redis.Mode = config.RedisCluster
			c.Redis.Options.Addrs = []string{"a:1"}
			c.Redis.Options.DB = 1
		}, []string{"REDIS_CLUSTER_NODES"}},
		{"addresses without a mode", func(c *config.Config) { c.Redis.Options.Addrs = []string{"a:1"} }, []string{"REDIS_URL"}},
		{"zero library settings are defaults", func(c *config.Config) { c.Cache = config.CacheConfig{}; c.Metrics = config.MetricsConfig{} }, nil},
		{"negative settings are off", func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Options.Addrs = []string{"a:1"}
			c.Redis.Options.KeepAlive = -1
			c.Redis.Options.MaxRetries = -1
			c.Cache.TTLJitter = -1
			c.Metrics = config.MetricsConfig{RedisInfoInterval: -1, StatsLogInterval: -1}
		}, nil},
		{"prefix without separator", func(c *config.Config) { c.Cache.Prefix = "app" }, []string{"CACHE_PREFIX"}},
		{"negative ttl", func(c *config.Config) { c.Cache.TTLs.Search = -time.Second }, []string{"CACHE_TTL_SEARCH"}},
		{"short admin token", func(c *config.Config) { c.HTTP.AdminToken = "short" }, []string{"ADMIN_TOKEN"}},
		{"invalid prefix", func(c *config.Config) { c.HTTP.TrustedProxies = []netip.Prefix{{}} }, []string{"TRUSTED_PROXIES"}},
		{"odd log level", func(c *config.Config) { c.LogLevel = slog.LevelInfo + 2 }, []string{"LOG_LEVEL"}},
		{"empty listen addr", func(c *config.Config) { c.HTTP.ListenAddr = "" }, []string{"LISTEN_ADDR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config.Default()
			tt.edit(&c)
			if diff := cmp.Diff(tt.wantVars, varsOf(t, c.Validate())); diff != "" {
				t.Errorf("Validate() vars (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadBadArgs(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--no-such-flag=hunter2-secret"}, "unknown flag: --no-such-flag"},
		{[]string{"serve"}, "1 unexpected positional argument(s)"},
		{[]string{"--listen-addr"}, "flag needs an argument"},
	}
	for _, tt := range tests {
		_, err := config.Load(tt.args, nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2-secret") {
			t.Errorf("Load(%q) error %q shows a flag value", tt.args, err)
		}
	}
	if _, err := config.Load([]string{"--help"}, nil); !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("Load(--help) = %v, want pflag.ErrHelp", err)
	}
}
