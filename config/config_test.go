package config_test

import (
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"

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

func TestDefault(t *testing.T) {
	got, err := config.Load(nil, nil)
	if err != nil {
		t.Fatalf("Load(nil, nil): %v", err)
	}
	want := config.Config{
		HTTP: config.HTTPConfig{
			ListenAddr:         ":8080",
			RateLimitPerMinute: 600,
			ShutdownTimeout:    15 * time.Second,
		},
		Database: config.DatabaseConfig{URL: "sqlite:filecache.db"},
		Redis: config.RedisConfig{
			DialTimeout:    5 * time.Second,
			ReadTimeout:    500 * time.Millisecond,
			WriteTimeout:   time.Second,
			KeepAlive:      30 * time.Second,
			PoolSize:       50,
			MaxRetries:     3,
			RetryOnTimeout: true,
		},
		Cache: config.CacheConfig{
			TTLFile:     time.Hour,
			TTLSession:  30 * time.Minute,
			TTLStats:    24 * time.Hour,
			TTLSearch:   5 * time.Minute,
			TTLSettings: 10 * time.Minute,
			TTLJitter:   0.1,
			NearSize:    10000,

			FailSafe:          time.Hour,
			FallbackLimit:     32,
			StatsLogInterval:  5 * time.Minute,
			RedisInfoInterval: 30 * time.Second,
			AuditRate:         1,
		},
		LogLevel: slog.LevelInfo,
	}
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
		t.Errorf("Load(nil, nil) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, config.Default(), cmpPrefix); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if err := config.Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v", err)
	}
	if got.RedisMode() != config.RedisNone {
		t.Errorf("RedisMode() = %q, want none", got.RedisMode())
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
		{"database timeout", map[string]string{"DB_TIMEOUT": "1500ms"}, func(c *config.Config) { c.Database.Timeout = 1500 * time.Millisecond }},
		{"redis url", map[string]string{"REDIS_URL": "redis://localhost"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Addrs = []string{"localhost:6379"}
		}},
		{"rediss url with user, password and db", map[string]string{"REDIS_URL": "rediss://app:p%40ss@cache.example:6380/3"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Addrs = []string{"cache.example:6380"}
			c.Redis.Username = "app"
			c.Redis.Password = "p@ss"
			c.Redis.DB = 3
			c.Redis.TLS = true
		}},
		{"redis url ipv6, password only", map[string]string{"REDIS_URL": "redis://:pw@[::1]/"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Addrs = []string{"[::1]:6379"}
			c.Redis.Password = "pw"
		}},
		{"REDIS_USERNAME and REDIS_PASSWORD win over the URL's", map[string]string{
			"REDIS_URL": "redis://u:p@h:1", "REDIS_USERNAME": "u2", "REDIS_PASSWORD": " p2 ",
		}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Addrs = []string{"h:1"}
			c.Redis.Username = "u2"
			c.Redis.Password = " p2 " // secrets are taken verbatim
		}},
		{"cluster", map[string]string{"REDIS_CLUSTER_NODES": "n1:7000, n2:7001,,n3:7002,", "REDIS_PASSWORD": "pw"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisCluster
			c.Redis.Addrs = []string{"n1:7000", "n2:7001", "n3:7002"}
			c.Redis.Password = "pw"
		}},
		{"sentinel", map[string]string{"REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}, func(c *config.Config) {
			c.Redis.Mode = config.RedisSentinel
			c.Redis.Addrs = []string{"s1:26379", "s2:26379"}
			c.Redis.MasterSet = "mymaster"
		}},
		{"redis knobs", map[string]string{
			"REDIS_URL":              "rediss://h:1",
			"REDIS_DIAL_TIMEOUT":     "2s",
			"REDIS_READ_TIMEOUT":     "250ms",
			"REDIS_WRITE_TIMEOUT":    "500ms",
			"REDIS_KEEPALIVE":        "0",
			"REDIS_POOL_SIZE":        "8",
			"REDIS_MAX_RETRIES":      "0",
			"REDIS_RETRY_ON_TIMEOUT": "false",
			"REDIS_TLS_INSECURE":     "1",
		}, func(c *config.Config) {
			c.Redis.Mode = config.RedisStandalone
			c.Redis.Addrs = []string{"h:1"}
			c.Redis.TLS = true
			c.Redis.DialTimeout = 2 * time.Second
			c.Redis.ReadTimeout = 250 * time.Millisecond
			c.Redis.WriteTimeout = 500 * time.Millisecond
			c.Redis.KeepAlive = 0
			c.Redis.PoolSize = 8
			c.Redis.MaxRetries = 0
			c.Redis.RetryOnTimeout = false
			c.Redis.TLSInsecureSkipVerify = true
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
			"CACHE_AUDIT_RATE":   "2.5",
		}, func(c *config.Config) {
			c.Cache = config.CacheConfig{
				Prefix:      "fc:prod:",
				TTLFile:     2 * time.Hour,
				TTLSession:  15 * time.Minute,
				TTLStats:    48 * time.Hour,
				TTLSearch:   90 * time.Second,
				TTLSettings: time.Minute,
				TTLJitter:   0.5,
				NearSize:    0,

				FailSafe:          time.Hour,
				FallbackLimit:     32,
				StatsLogInterval:  5 * time.Minute,
				RedisInfoInterval: 30 * time.Second,
				AuditRate:         2.5,
			}
		}},
		{"http", map[string]string{
			"ADMIN_TOKEN":           "s3cr3t-token",
			"RATE_LIMIT_PER_MINUTE": "0",
			"TRUSTED_PROXIES":       "10.0.0.0/8, 192.168.1.7,::1, 2001:db8::/32,172.16.5.4/12,::ffff:10.1.2.3",
			"SHUTDOWN_TIMEOUT":      "30s",
		}, func(c *config.Config) {
			c.HTTP.AdminToken = "s3cr3t-token"
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
			if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
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
		"ADMIN_TOKEN":            "from-env",
	})
	args := []string{
		"--listen-addr", ":2222",
		"--redis-url=", // empty flag: back to the default, i.e. no Redis
		"--redis-cluster-nodes=a:1,b:2",
		"--cache-ttl-file=90m",
		"--redis-retry-on-timeout=false",
		"--redis-tls-insecure", // bool flag without a value
		"--admin-token=from-flag",
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
	want.HTTP.AdminToken = "from-flag"
	want.Redis.Mode = config.RedisCluster
	want.Redis.Addrs = []string{"a:1", "b:2"}
	want.Redis.RetryOnTimeout = false
	want.Cache.TTLFile = 90 * time.Minute
	want.LogLevel = slog.LevelError // from the environment
	if diff := cmp.Diff(want, got, cmpPrefix); diff != "" {
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
		{map[string]string{"DB_TIMEOUT": "-1s"}, []string{"DB_TIMEOUT"}, "must not be negative"},
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
		{map[string]string{"REDIS_TLS_INSECURE": "yes"}, []string{"REDIS_TLS_INSECURE"}, "not a boolean"},
		{map[string]string{"REDIS_RETRY_ON_TIMEOUT": "maybe"}, []string{"REDIS_RETRY_ON_TIMEOUT"}, "not a boolean"},
		{map[string]string{"REDIS_DIAL_TIMEOUT": "5"}, []string{"REDIS_DIAL_TIMEOUT"}, "not a duration (e.g. 1h, 30m)"},
		{map[string]string{"REDIS_READ_TIMEOUT": "0s"}, []string{"REDIS_READ_TIMEOUT"}, "at least 1ms"},
		{map[string]string{"REDIS_WRITE_TIMEOUT": "-1s"}, []string{"REDIS_WRITE_TIMEOUT"}, "at least 1ms"},
		{map[string]string{"REDIS_KEEPALIVE": "-1s"}, []string{"REDIS_KEEPALIVE"}, "negative"},
		{map[string]string{"REDIS_POOL_SIZE": "0"}, []string{"REDIS_POOL_SIZE"}, "at least 1"},
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
		{map[string]string{"CACHE_AUDIT_RATE": "-1"}, []string{"CACHE_AUDIT_RATE"}, "between 0 and"},
		{map[string]string{"CACHE_NEAR_SIZE": "lots"}, []string{"CACHE_NEAR_SIZE"}, "not an integer"},
		{map[string]string{"ADMIN_TOKEN": "has space"}, []string{"ADMIN_TOKEN"}, "printable ASCII"},
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
			if err == nil && cfg.RedisMode() != tt.wantMode {
				t.Errorf("RedisMode() = %q, want %q", cfg.RedisMode(), tt.wantMode)
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
			c.Redis.Addrs = []string{"a:1", "b:1"}
		}, []string{"REDIS_URL"}},
		{"cluster db 1", func(c *config.Config) {
			c.Redis.Mode = config.RedisCluster
			c.Redis.Addrs = []string{"a:1"}
			c.Redis.DB = 1
		}, []string{"REDIS_CLUSTER_NODES"}},
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
