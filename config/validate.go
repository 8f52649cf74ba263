package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
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
	if tok := c.HTTP.AdminToken.Reveal(); !printableNoSpace(tok) {
		v.fail("ADMIN_TOKEN", "must be printable ASCII without spaces")
	}

	c.validateDatabase(v)
	c.validateRedis(v)

	if p := c.Cache.Prefix; len(p) > MaxCachePrefixLen {
		v.fail("CACHE_PREFIX", "%s is %d bytes, at most %d allowed", quote(p), len(p), MaxCachePrefixLen)
	} else if !printableNoSpace(p) || strings.ContainsAny(p, `*?[]\`) {
		v.fail("CACHE_PREFIX", `%s must be printable ASCII without spaces or the characters *?[]\`, quote(p))
	}
	v.positive("CACHE_TTL_FILE", c.Cache.TTLFile, MinTTL)
	v.positive("CACHE_TTL_SESSION", c.Cache.TTLSession, MinTTL)
	v.positive("CACHE_TTL_STATS", c.Cache.TTLStats, MinTTL)
	v.positive("CACHE_TTL_SEARCH", c.Cache.TTLSearch, MinTTL)
	v.positive("CACHE_TTL_SETTINGS", c.Cache.TTLSettings, MinTTL)
	if j := c.Cache.TTLJitter; !(j >= 0 && j <= MaxCacheTTLJitter) { // also catches NaN
		v.fail("CACHE_TTL_JITTER", "%v must be between 0 and %v", j, MaxCacheTTLJitter)
	}
	v.nonNegative("CACHE_NEAR_SIZE", c.Cache.NearSize)
	if r := c.Cache.AuditRate; !(r >= 0 && r <= MaxCacheAuditRate) { // also catches NaN
		v.fail("CACHE_AUDIT_RATE", "%v must be between 0 and %v", r, MaxCacheAuditRate)
	}
	v.nonNegative("DB_FALLBACK_LIMIT", c.Cache.FallbackLimit)
	for _, d := range []struct {
		env string
		d   time.Duration
	}{{"DB_TIMEOUT", c.Database.Timeout}, {"CACHE_FAIL_SAFE", c.Cache.FailSafe}, {"CACHE_STATS_LOG_INTERVAL", c.Cache.StatsLogInterval}, {"REDIS_INFO_INTERVAL", c.Cache.RedisInfoInterval}} {
		if d.d < 0 {
			v.fail(d.env, "%v must not be negative", d.d)
		}
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
}

func (c Config) validateRedis(v *validator) {
	r := c.Redis
	addrsEnv := ""
	switch r.Mode {
	case RedisNone:
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
		v.fail("REDIS_URL", "unknown Redis mode %q", r.Mode)
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
		case r.Mode == RedisSentinel && r.MasterSet == "":
			v.fail("REDIS_SENTINEL_MASTER", "required with REDIS_SENTINEL_ADDRS")
		case r.Mode != RedisSentinel && r.MasterSet != "":
			v.fail("REDIS_SENTINEL_MASTER", "set without REDIS_SENTINEL_ADDRS")
		}
	}
	if r.MasterSet != "" && !printableNoSpace(r.MasterSet) {
		v.fail("REDIS_SENTINEL_MASTER", "%s must be printable ASCII without spaces", quote(r.MasterSet))
	}
	if r.TLSInsecureSkipVerify && !r.TLS && r.Mode != RedisNone {
		v.fail("REDIS_TLS_INSECURE", "needs TLS (a rediss:// REDIS_URL)")
	}
	v.positive("REDIS_DIAL_TIMEOUT", r.DialTimeout, time.Millisecond)
	v.positive("REDIS_READ_TIMEOUT", r.ReadTimeout, time.Millisecond)
	v.positive("REDIS_WRITE_TIMEOUT", r.WriteTimeout, time.Millisecond)
	if r.KeepAlive < 0 {
		v.fail("REDIS_KEEPALIVE", "%s must not be negative", r.KeepAlive)
	}
	if r.PoolSize < 1 {
		v.fail("REDIS_POOL_SIZE", "%d must be at least 1", r.PoolSize)
	}
	v.nonNegative("REDIS_MAX_RETRIES", r.MaxRetries)
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
