package config

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
)

// Validate checks every setting and returns one [*VarError] per problem,
// joined with [errors.Join], or nil. [Load] and [FromFlags] call it; call it
// yourself on a Config built by hand.
func (c Config) Validate() error { return errors.Join(c.validate(nil)...) }

// validator collects problems, skipping variables that already failed to
// parse (their field holds the default, so a second error would mislead).
type validator struct {
	skip map[string]bool
	errs []error
}

func (v *validator) fail(env, format string, args ...any) {
	if v.skip[env] {
		return
	}
	v.errs = append(v.errs, &VarError{Var: env, Reason: fmt.Sprintf(format, args...)})
}

func (c Config) validate(skip map[string]bool) []error {
	v := &validator{skip: skip}

	if reason := checkHostPort(c.HTTP.ListenAddr, 0); reason != "" {
		v.fail("LISTEN_ADDR", "%s", reason)
	}
	v.nonNegative("RATE_LIMIT_PER_MINUTE", c.HTTP.RateLimitPerMinute)
	for _, p := range c.HTTP.TrustedProxies {
		if !p.IsValid() {
			v.fail("TRUSTED_PROXIES", "invalid prefix %q", p.String())
		}
	}
	v.positive("SHUTDOWN_TIMEOUT", c.HTTP.ShutdownTimeout, time.Nanosecond)
	switch tok := c.HTTP.AdminToken.Reveal(); {
	case !printableNoSpace(tok):
		v.fail("ADMIN_TOKEN", "must be printable ASCII without spaces")
	case tok != "" && len(tok) < MinAdminTokenLen:
		v.fail("ADMIN_TOKEN", "is shorter than %d bytes; use a random token, e.g. the output of `openssl rand -hex 32`", MinAdminTokenLen)
	}

	c.validateDatabase(v)
	c.validateRedis(v)

	switch p := c.Cache.Prefix; {
	case len(p) > MaxCachePrefixLen:
		v.fail("CACHE_PREFIX", "%s is %d bytes, at most %d allowed", quote(p), len(p), MaxCachePrefixLen)
	case !printableNoSpace(p) || strings.ContainsAny(p, `*?[]\`):
		v.fail("CACHE_PREFIX", `%s must be printable ASCII without spaces or the characters *?[]\`, quote(p))
	case p != "" && !strings.HasSuffix(p, PrefixSeparator):
		v.fail("CACHE_PREFIX", "%s must end with %q, so that no other prefix starts with it", quote(p), PrefixSeparator)
	}
	t := c.Cache.TTLs
	v.ttl("CACHE_TTL_FILE", t.File)
	v.ttl("CACHE_TTL_SESSION", t.Session)
	v.ttl("CACHE_TTL_STATS", t.Stats)
	v.ttl("CACHE_TTL_SEARCH", t.Search)
	v.ttl("CACHE_TTL_SETTINGS", t.Settings)
	if j := c.Cache.TTLJitter; j > MaxCacheTTLJitter || math.IsNaN(j) {
		v.fail("CACHE_TTL_JITTER", "%v must be between 0 and %v", j, MaxCacheTTLJitter)
	}
	if r := c.Cache.AuditRate; r > MaxCacheAuditRate || math.IsNaN(r) {
		v.fail("CACHE_AUDIT_RATE", "%v must be between 0 and %v reads per second", r, MaxCacheAuditRate)
	}
	v.nonNegative("CACHE_NEAR_SIZE", c.Cache.NearSize)
	v.nonNegative("CACHE_WARM_ON_START", c.Cache.WarmOnStart)
	if e := c.Cache.Loading.EagerRefresh; e >= 1 || math.IsNaN(e) {
		v.fail("CACHE_EAGER_REFRESH", "%v must be below 1 (a fraction of the TTL)", e)
	}
	if h := c.Cache.Loading.HardTimeout; h > cache.DefaultLeaseTTL {
		v.fail("CACHE_HARD_TIMEOUT", "%v must be at most the lease, %v", h, cache.DefaultLeaseTTL)
	}
	v.nonNegative("DB_FALLBACK_LIMIT", c.Cache.FallbackLimit)
	if c.Cache.FailSafe < 0 {
		v.fail("CACHE_FAIL_SAFE", "%v must not be negative", c.Cache.FailSafe)
	}

	switch c.LogLevel {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
	default:
		v.fail("LOG_LEVEL", "%s is not a log level (debug, info, warn or error)", c.LogLevel)
	}
	return v.errs
}

func (c Config) validateDatabase(v *validator) {
	const env = "DATABASE_URL"
	raw := c.Database.URL.Reveal()
	switch c.Database.Driver() {
	case "sqlite":
		if c.Database.DSN() == "" {
			v.fail(env, "missing file name after sqlite:")
		}
	case "postgres":
		if _, err := url.Parse(raw); err != nil {
			v.fail(env, "%s is not a valid URL (percent-encode reserved characters in the user name and password)", quote(RedactURL(raw)))
		}
	default:
		// The value may be a key=value DSN with a password: do not show it.
		v.fail(env, "must start with sqlite:, postgres:// or postgresql://")
	}
	if d := c.Database.Timeout; d < 0 || (d > 0 && d < time.Millisecond) {
		v.fail("DB_TIMEOUT", "%s must be at least 1ms", d)
	}
}

// maxmemoryPolicies are the values of Redis' maxmemory-policy.
var maxmemoryPolicies = []string{
	"noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
	"volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
}

func (c Config) validateRedis(v *validator) {
	r := c.Redis.Options
	addrsEnv := ""
	switch c.Redis.Mode {
	case RedisNone:
		if len(r.Addrs) > 0 {
			v.fail("REDIS_URL", "addresses without a Redis mode")
		}
	case RedisStandalone:
		addrsEnv = "REDIS_URL"
		if len(r.Addrs) != 1 {
			v.fail(addrsEnv, "standalone mode needs exactly one address, got %d", len(r.Addrs))
		}
		if r.DB < 0 {
			v.fail(addrsEnv, "db %d must not be negative", r.DB)
		}
	case RedisCluster:
		addrsEnv = "REDIS_CLUSTER_NODES"
		if len(r.Addrs) == 0 {
			v.fail(addrsEnv, "no address")
		}
		if r.DB != 0 {
			v.fail(addrsEnv, "Redis Cluster has only db 0, got db %d", r.DB)
		}
	case RedisSentinel:
		addrsEnv = "REDIS_SENTINEL_ADDRS"
		if len(r.Addrs) == 0 {
			v.fail(addrsEnv, "no address")
		}
		if r.DB < 0 {
			v.fail(addrsEnv, "db %d must not be negative", r.DB)
		}
	default:
		v.fail("REDIS_URL", "unknown Redis mode %q", c.Redis.Mode)
	}
	if addrsEnv != "" {
		for _, a := range r.Addrs {
			if reason := checkHostPort(a, 1); reason != "" {
				v.fail(addrsEnv, "%s", reason)
			}
		}
	}
	if !v.skip["REDIS_SENTINEL_ADDRS"] {
		switch {
		case c.Redis.Mode == RedisSentinel && r.MasterSet == "":
			v.fail("REDIS_SENTINEL_MASTER", "required with REDIS_SENTINEL_ADDRS")
		case c.Redis.Mode != RedisSentinel && r.MasterSet != "":
			v.fail("REDIS_SENTINEL_MASTER", "set without REDIS_SENTINEL_ADDRS")
		}
	}
	if r.MasterSet != "" && !printableNoSpace(r.MasterSet) {
		v.fail("REDIS_SENTINEL_MASTER", "%s must be printable ASCII without spaces", quote(r.MasterSet))
	}
	if p := c.Redis.SetMaxmemoryPolicy; p != "" {
		switch {
		case c.Redis.Mode == RedisNone:
			v.fail("REDIS_SET_MAXMEMORY_POLICY", "set without Redis")
		case !slices.Contains(maxmemoryPolicies, p):
			v.fail("REDIS_SET_MAXMEMORY_POLICY", "%s is not a maxmemory-policy (%s)", quote(p), strings.Join(maxmemoryPolicies, ", "))
		}
	}
	v.atLeast("REDIS_DIAL_TIMEOUT", r.DialTimeout, time.Millisecond)
	v.atLeast("REDIS_READ_TIMEOUT", r.ReadTimeout, time.Millisecond)
	v.atLeast("REDIS_WRITE_TIMEOUT", r.WriteTimeout, time.Millisecond)
	v.nonNegative("REDIS_POOL_SIZE", r.PoolSize)
	if read := cmp.Or(r.ReadTimeout, redisstore.DefaultReadTimeout); r.ReplicaWait >= read {
		// The attempt that carries the WAIT would time out first.
		v.fail("REDIS_REPLICA_WAIT", "%v must be shorter than REDIS_READ_TIMEOUT (%v)", r.ReplicaWait, read)
	}
}

// ttl checks a cache TTL: zero (the default) or at least MinTTL.
func (v *validator) ttl(env string, d time.Duration) {
	if d != 0 {
		v.positive(env, d, MinTTL)
	}
}

// atLeast checks a duration that is zero (the default) or at least least.
func (v *validator) atLeast(env string, d, least time.Duration) {
	if d != 0 {
		v.positive(env, d, least)
	}
}

func (v *validator) positive(env string, d, least time.Duration) {
	if d < least {
		v.fail(env, "%s must be at least %s", d, least)
	}
}

func (v *validator) nonNegative(env string, n int) {
	if n < 0 {
		v.fail(env, "%d must not be negative", n)
	}
}

// checkHostPort checks a host:port address (the host may be empty only for
// a listen address, i.e. when minPort is 0) and returns why it is bad, or "".
func checkHostPort(addr string, minPort int) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return quote(addr) + " is not host:port"
	}
	if host == "" && minPort > 0 {
		return "missing host in " + quote(addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < minPort || n > 65535 || port[0] == '+' || port[0] == '-' {
		return fmt.Sprintf("port of %s must be a number from %d to 65535", quote(addr), minPort)
	}
	return ""
}

// printableNoSpace reports whether s is printable ASCII without spaces.
func printableNoSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}
