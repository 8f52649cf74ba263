package config

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// redisDefaultPort is the port of a REDIS_URL without one.
const redisDefaultPort = "6379"

// topology holds the raw Redis connection settings, resolved into a
// RedisConfig once all sources are read.
type topology struct {
	url, cluster, sentinel string
	username               string
	password               Secret
}

// option is one setting: its environment variable, its flag (the variable
// in kebab case), and the field it fills.
type option struct {
	env   string
	usage string
	typ   string // the flag's type name in --help
	ptr   any    // *string, *Secret, *int, *bool, *float64, *time.Duration, *slog.Level, *[]netip.Prefix
}

// flagName returns the flag of an environment variable: LISTEN_ADDR ->
// listen-addr.
func (o option) flagName() string {
	return strings.ReplaceAll(strings.ToLower(o.env), "_", "-")
}

// secret reports whether o holds a password or token: such a value is taken
// verbatim (not trimmed) and never shown.
func (o option) secret() bool { return o.typ == "secret" }

// options lists every setting, pointing into c and t.
func options(c *Config, t *topology) []option {
	return []option{
		{"LISTEN_ADDR", "listen address, host:port", "string", &c.HTTP.ListenAddr},
		{"DATABASE_URL", "database: sqlite:<path> or postgres://...", "url", &c.Database.URL},
		{"DB_TIMEOUT", "deadline of each database read and write transaction, connect included; 0 means 3s", "duration", &c.Database.Timeout},
		{"REDIS_URL", "standalone Redis URL, redis[s]://[user:password@]host[:port][/db]", "url", &t.url},
		{"REDIS_CLUSTER_NODES", "Redis Cluster seed nodes, comma-separated host:port", "addrs", &t.cluster},
		{"REDIS_SENTINEL_ADDRS", "Redis Sentinel addresses, comma-separated host:port", "addrs", &t.sentinel},
		{"REDIS_SENTINEL_MASTER", "name of the master watched by the sentinels", "string", &c.Redis.MasterSet},
		{"REDIS_USERNAME", "Redis ACL user name (wins over REDIS_URL's)", "string", &t.username},
		{"REDIS_PASSWORD", "Redis password (wins over REDIS_URL's; prefer the environment to the command line)", "secret", &t.password},
		{"REDIS_DIAL_TIMEOUT", "Redis connect timeout", "duration", &c.Redis.DialTimeout},
		{"REDIS_READ_TIMEOUT", "Redis per-command timeout", "duration", &c.Redis.ReadTimeout},
		{"REDIS_WRITE_TIMEOUT", "Redis write timeout", "duration", &c.Redis.WriteTimeout},
		{"REDIS_KEEPALIVE", "Redis TCP keep-alive period, 0 turns it off", "duration", &c.Redis.KeepAlive},
		{"REDIS_POOL_SIZE", "Redis connection pool size for blocking commands", "int", &c.Redis.PoolSize},
		{"REDIS_MAX_RETRIES", "Redis retries of a failed command", "int", &c.Redis.MaxRetries},
		{"REDIS_RETRY_ON_TIMEOUT", "retry Redis commands that timed out", "bool", &c.Redis.RetryOnTimeout},
		{"REDIS_TLS_INSECURE", "skip TLS certificate verification of rediss:// (tests only)", "bool", &c.Redis.TLSInsecureSkipVerify},
		{"CACHE_PREFIX", "prefix of every cache key", "string", &c.Cache.Prefix},
		{"CACHE_TTL_FILE", "TTL of file metadata", "duration", &c.Cache.TTLFile},
		{"CACHE_TTL_SESSION", "sliding TTL of user sessions", "duration", &c.Cache.TTLSession},
		{"CACHE_TTL_STATS", "TTL of daily stats", "duration", &c.Cache.TTLStats},
		{"CACHE_TTL_SEARCH", "TTL of search results", "duration", &c.Cache.TTLSearch},
		{"CACHE_TTL_SETTINGS", "TTL of the system settings", "duration", &c.Cache.TTLSettings},
		{"CACHE_TTL_JITTER", "TTL jitter, 0.1 = ±10%, 0 to 0.5", "float", &c.Cache.TTLJitter},
		{"CACHE_NEAR_SIZE", "entries of the in-process near cache, 0 turns it off", "int", &c.Cache.NearSize},
		{"CACHE_DISABLED", "turn the cache off: every read goes to the database (measurements, debugging)", "bool", &c.Cache.Disabled},
		{"CACHE_FAIL_SAFE", "how long values are kept past their TTL, served stale if the database fails; 0 turns it off", "duration", &c.Cache.FailSafe},
		{"DB_FALLBACK_LIMIT", "database loads at once while Redis is down, 0 means no limit", "int", &c.Cache.FallbackLimit},
		{"CACHE_STATS_LOG_INTERVAL", "how often the hit ratio is logged, 0 turns it off", "duration", &c.Cache.StatsLogInterval},
		{"REDIS_INFO_INTERVAL", "how often Redis INFO is polled for metrics, 0 turns it off", "duration", &c.Cache.RedisInfoInterval},
		{"CACHE_AUDIT_RATE", "database reads per second of the consistency auditor, 0 turns it off", "float", &c.Cache.AuditRate},
		{"ADMIN_TOKEN", "bearer token of the admin endpoints; unset answers 403 (prefer the environment to the command line)", "secret", &c.HTTP.AdminToken},
		{"RATE_LIMIT_PER_MINUTE", "requests per minute per client IP, 0 turns it off", "int", &c.HTTP.RateLimitPerMinute},
		{"TRUSTED_PROXIES", "proxies whose X-Forwarded-For is trusted, comma-separated IPs or CIDRs", "cidrs", &c.HTTP.TrustedProxies},
		{"LOG_LEVEL", "log level: debug, info, warn or error", "level", &c.LogLevel},
		{"SHUTDOWN_TIMEOUT", "graceful shutdown timeout", "duration", &c.HTTP.ShutdownTimeout},
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

func (v *flagValue) Set(s string) error { v.text = s; return nil }

func (v *flagValue) Type() string { return v.typ }

// Bind registers one flag per setting on fs: --listen-addr, --redis-url,
// and so on, each with its environment variable and default in the usage
// text. Read them back with [FromFlags] after fs is parsed. Bind panics,
// as pflag does, if fs already has a flag of the same name.
func Bind(fs *pflag.FlagSet) {
	def := Default()
	for _, o := range options(&def, &topology{}) {
		v := &flagValue{text: format(o.ptr), typ: o.typ}
		f := fs.VarPF(v, o.flagName(), "", o.usage+" (env "+o.env+")")
		if o.typ == "bool" {
			f.NoOptDefVal = "true"
		}
	}
}

// FlagSet returns a new flag set named name with every setting bound (see
// [Bind]). It continues on error.
func FlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	Bind(fs)
	return fs
}

// Load builds the configuration from the command-line arguments args
// (flags only, no program name) and the environment seen through lookupEnv
// (os.LookupEnv, or a map in tests; nil means an empty environment).
// A flag that was given wins over the environment, which wins over the
// default. The result is validated; the error joins one [*VarError] per bad
// setting and never contains a secret. With -h or --help in args the error
// wraps [pflag.ErrHelp].
func Load(args []string, lookupEnv func(string) (string, bool)) (Config, error) {
	fs := FlagSet("filecache")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return Config{}, fmt.Errorf("config: %w", err)
		}
		return Config{}, fmt.Errorf("config: %s", scrubArgs(err.Error(), args))
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("config: %d unexpected positional argument(s)", fs.NArg())
	}
	return FromFlags(fs, lookupEnv)
}

// scrubArgs hides the values of args in a flag parsing error message.
func scrubArgs(msg string, args []string) string {
	for _, a := range args {
		if _, v, ok := strings.Cut(a, "="); ok && v != "" {
			msg = strings.ReplaceAll(msg, v, redactedPassword)
		}
	}
	return msg
}

// FromFlags builds the configuration from the flags registered on fs by
// [Bind] (after fs has parsed the command line) and the environment seen
// through lookupEnv (nil means an empty environment). A flag that was given
// wins over the environment, which wins over the default; an empty value
// means the default. Flags missing from fs are skipped. The result is
// validated like [Load]'s.
func FromFlags(fs *pflag.FlagSet, lookupEnv func(string) (string, bool)) (Config, error) {
	cfg := Default()
	var t topology
	var errs []error
	failed := map[string]bool{}
	fail := func(env, format string, args ...any) {
		for _, name := range strings.Split(env, ", ") {
			failed[name] = true
		}
		errs = append(errs, &VarError{Var: env, Reason: fmt.Sprintf(format, args...)})
	}
	for _, o := range options(&cfg, &t) {
		text := lookup(fs, lookupEnv, o)
		if !o.secret() {
			text = strings.TrimSpace(text)
		}
		if text == "" {
			continue
		}
		if reason := set(o.ptr, text); reason != "" {
			fail(o.env, "%s", reason)
		}
	}
	resolveRedis(&cfg.Redis, t, fail)
	if err := errors.Join(append(errs, cfg.validate(failed)...)...); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// lookup returns the text of o: the flag's when given, else the
// environment's.
func lookup(fs *pflag.FlagSet, lookupEnv func(string) (string, bool), o option) string {
	if fs != nil {
		if f := fs.Lookup(o.flagName()); f != nil && f.Changed {
			if v, ok := f.Value.(*flagValue); ok {
				return v.text
			}
			return f.Value.String()
		}
	}
	if lookupEnv != nil {
		if v, ok := lookupEnv(o.env); ok {
			return v
		}
	}
	return ""
}

// set parses text into ptr and returns why it cannot, or "". A reason may
// quote text, so secrets (kept verbatim) must never fail here.
func set(ptr any, text string) string {
	switch p := ptr.(type) {
	case *string:
		*p = text
	case *Secret:
		*p = Secret(text)
	case *int:
		n, err := strconv.Atoi(text)
		if err != nil {
			return quote(text) + " is not an integer"
		}
		*p = n
	case *bool:
		b, err := strconv.ParseBool(text)
		if err != nil {
			return quote(text) + " is not a boolean (true or false)"
		}
		*p = b
	case *float64:
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return quote(text) + " is not a number"
		}
		*p = f
	case *time.Duration:
		d, err := time.ParseDuration(text)
		if err != nil {
			return quote(text) + " is not a duration (e.g. 1h, 30m)"
		}
		*p = d
	case *slog.Level:
		l, ok := parseLevel(text)
		if !ok {
			return quote(text) + " is not a log level (debug, info, warn or error)"
		}
		*p = l
	case *[]netip.Prefix:
		var ps []netip.Prefix
		for _, item := range splitList(text) {
			pf, ok := parsePrefix(item)
			if !ok {
				return quote(item) + " is not an IP address or CIDR prefix"
			}
			ps = append(ps, pf)
		}
		*p = ps
	default:
		panic(fmt.Sprintf("config: no parser for %T", ptr))
	}
	return ""
}

// format renders the value at ptr the way set parses it, for --help.
func format(ptr any) string {
	switch p := ptr.(type) {
	case *string:
		return *p
	case *Secret:
		return p.Reveal() // only defaults are formatted, and they hold no secret
	case *int:
		return strconv.Itoa(*p)
	case *bool:
		return strconv.FormatBool(*p)
	case *float64:
		return strconv.FormatFloat(*p, 'g', -1, 64)
	case *time.Duration:
		return shortDuration(*p)
	case *slog.Level:
		return strings.ToLower(p.String())
	case *[]netip.Prefix:
		s := make([]string, len(*p))
		for i, pf := range *p {
			s[i] = pf.String()
		}
		return strings.Join(s, ",")
	}
	panic(fmt.Sprintf("config: no formatter for %T", ptr))
}

// quote quotes a (non-secret) value for an error message, cut to a sane
// length.
func quote(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		return strconv.Quote(s[:maxLen]) + "..."
	}
	return strconv.Quote(s)
}

// parseLevel accepts the LOG_LEVEL names, in any case.
func parseLevel(s string) (slog.Level, bool) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, true
	case "info":
		return slog.LevelInfo, true
	case "warn":
		return slog.LevelWarn, true
	case "error":
		return slog.LevelError, true
	}
	return 0, false
}

// splitList splits a comma-separated list, trimming items and dropping
// empty ones (so a trailing comma is harmless).
func splitList(s string) []string {
	var out []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// parsePrefix parses an IP (as a single-address prefix) or a CIDR prefix,
// masked, with IPv4-mapped IPv6 unmapped. Zones are refused.
func parsePrefix(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		p = p.Masked()
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p, true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// resolveRedis decides the Redis mode from the raw settings and fills r.
// It reports only what Validate cannot see on the typed result: conflicting
// modes and a malformed REDIS_URL.
func resolveRedis(r *RedisConfig, t topology, fail func(env, format string, args ...any)) {
	var set []string
	if t.url != "" {
		set = append(set, "REDIS_URL")
	}
	if t.cluster != "" {
		set = append(set, "REDIS_CLUSTER_NODES")
	}
	if t.sentinel != "" {
		set = append(set, "REDIS_SENTINEL_ADDRS")
	}
	switch {
	case len(set) > 1:
		fail(strings.Join(set, ", "), "only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINEL_ADDRS may be set")
		return
	case t.url != "":
		r.Mode = RedisStandalone
		if reason := parseRedisURL(t.url, r); reason != "" {
			fail("REDIS_URL", "%s", reason)
		}
	case t.cluster != "":
		r.Mode = RedisCluster
		r.Addrs = splitList(t.cluster)
	case t.sentinel != "":
		r.Mode = RedisSentinel
		r.Addrs = splitList(t.sentinel)
	}
	if t.username != "" {
		r.Username = t.username
	}
	if t.password != "" {
		r.Password = t.password
	}
}

// parseRedisURL fills r from a redis:// or rediss:// URL and returns why it
// cannot, or "". The reason shows the URL only through RedactURL.
func parseRedisURL(raw string, r *RedisConfig) string {
	shown := quote(RedactURL(raw))
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return shown + " is not a valid URL: want redis[s]://[user:password@]host[:port][/db], with reserved characters in the user name and password percent-encoded"
	}
	switch strings.ToLower(u.Scheme) {
	case "redis":
	case "rediss":
		r.TLS = true
	default:
		return "scheme must be redis or rediss, got " + shown
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "missing host in " + shown
	}
	if port == "" {
		port = redisDefaultPort
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "query parameters are not supported in " + shown + "; use the REDIS_* variables"
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return "path must be /<db number> in " + shown
		}
		r.DB = db
	}
	r.Addrs = []string{joinHostPort(host, port)}
	if u.User != nil {
		r.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			r.Password = Secret(pw)
		}
	}
	return ""
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
