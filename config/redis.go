package config

import (
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/filecache/filecache/cache/redisstore"
)

// redisDefaultPort is the port of a REDIS_URL without one.
const redisDefaultPort = "6379"

// resolveRedis decides the Redis mode from the raw settings and fills r,
// TLS included. It reports what Validate cannot see on the typed result:
// conflicting modes, a malformed address, TLS files that do not load, TLS
// settings without TLS.
func resolveRedis(r *RedisConfig, t topology, fail func(env, format string, args ...any)) {
	// One variable names the servers; its parser fills o.
	sources := []struct {
		env, value, mode string
		parse            func(string, *redisstore.Options) (rediss bool, reason string)
	}{
		{"REDIS_URL", t.url, RedisStandalone, parseRedisURL},
		{"REDIS_CLUSTER_NODES", t.cluster, RedisCluster, parseAddrList},
		{"REDIS_SENTINEL_ADDRS", t.sentinel, RedisSentinel, parseAddrList},
	}
	var set []string
	for _, src := range sources {
		if src.value != "" {
			set = append(set, src.env)
		}
	}
	if len(set) > 1 {
		fail(strings.Join(set, ", "), "only one of REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINEL_ADDRS may be set")
		return
	}
	o := &r.Options
	useTLS := t.tls
	for _, src := range sources {
		if src.value == "" {
			continue
		}
		r.Mode = src.mode
		rediss, reason := src.parse(src.value, o)
		if reason != "" {
			fail(src.env, "%s", reason)
		}
		useTLS = useTLS || rediss
	}
	if t.username != "" {
		o.Username = t.username
	}
	if t.password != "" {
		o.Password = t.password.Reveal()
	}
	if !useTLS || r.Mode == RedisNone {
		for _, s := range []struct {
			env string
			set bool
		}{
			{"REDIS_TLS_CA_FILE", t.caFile != ""}, {"REDIS_TLS_CERT_FILE", t.certFile != ""},
			{"REDIS_TLS_KEY_FILE", t.keyFile != ""}, {"REDIS_TLS_SERVER_NAME", t.serverName != ""},
			{"REDIS_TLS_INSECURE", t.tlsInsecure},
		} {
			if s.set && r.Mode != RedisNone {
				fail(s.env, "needs TLS: REDIS_TLS=true, or rediss:// addresses")
			}
		}
		return
	}
	o.TLS = loadTLS(t, fail)
}

// loadTLS builds the TLS configuration of t, reading its PEM files.
func loadTLS(t topology, fail func(env, format string, args ...any)) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.serverName, InsecureSkipVerify: t.tlsInsecure}
	if t.caFile != "" {
		pem, err := os.ReadFile(t.caFile)
		switch {
		case err != nil:
			fail("REDIS_TLS_CA_FILE", "%v", err)
		default:
			c.RootCAs = x509.NewCertPool()
			if !c.RootCAs.AppendCertsFromPEM(pem) {
				fail("REDIS_TLS_CA_FILE", "%s holds no PEM certificate", quote(t.caFile))
			}
		}
	}
	switch {
	case t.certFile != "" && t.keyFile != "":
		cert, err := tls.LoadX509KeyPair(t.certFile, t.keyFile)
		if err != nil {
			// The error names files and PEM blocks, never key material.
			fail("REDIS_TLS_CERT_FILE, REDIS_TLS_KEY_FILE", "%v", err)
		} else {
			c.Certificates = []tls.Certificate{cert}
		}
	case t.certFile != "":
		fail("REDIS_TLS_KEY_FILE", "required with REDIS_TLS_CERT_FILE")
	case t.keyFile != "":
		fail("REDIS_TLS_CERT_FILE", "required with REDIS_TLS_KEY_FILE")
	}
	return c
}

// parseAddrList fills o.Addrs from a comma-separated list of host:port,
// each optionally with a redis:// or rediss:// scheme (one scheme for all),
// and reports whether they asked for TLS. Checking each address is left to
// Validate.
func parseAddrList(list string, o *redisstore.Options) (rediss bool, reason string) {
	scheme := ""
	for i, item := range splitList(list) {
		s, addr, found := strings.Cut(item, "://")
		if !found {
			s, addr = "", item
		}
		s = strings.ToLower(s)
		switch {
		case s != "" && s != "redis" && s != "rediss":
			return false, "scheme must be redis or rediss, got " + quote(item)
		case i > 0 && s != scheme:
			return false, "every address must use the same scheme (all host:port or redis://, or all rediss://)"
		case strings.ContainsAny(addr, "/@?#"):
			return false, quote(item) + " must be host:port, without user, path or query (use REDIS_USERNAME, REDIS_PASSWORD)"
		}
		scheme = s
		o.Addrs = append(o.Addrs, addr)
	}
	return scheme == "rediss", ""
}

// parseRedisURL fills o from a redis:// or rediss:// URL, reports whether
// it asked for TLS, and returns why it cannot, or "". The reason shows the
// URL only through RedactURL.
func parseRedisURL(raw string, o *redisstore.Options) (rediss bool, reason string) {
	shown := quote(RedactURL(raw))
	u, err := url.Parse(raw)
	if err != nil || u.Opaque != "" {
		return false, shown + " is not a valid URL: want redis[s]://[user:password@]host[:port][/db], with reserved characters in the user name and password percent-encoded"
	}
	switch strings.ToLower(u.Scheme) {
	case "redis":
	case "rediss":
		rediss = true
	default:
		return false, "scheme must be redis or rediss, got " + shown
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return rediss, "missing host in " + shown
	}
	if port == "" {
		port = redisDefaultPort
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return rediss, "query parameters are not supported in " + shown + "; use the REDIS_* variables"
	}
	if p := strings.TrimPrefix(u.Path, "/"); p != "" {
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return rediss, "path must be /<db number> in " + shown
		}
		o.DB = db
	}
	o.Addrs = []string{joinHostPort(host, port)}
	if u.User != nil {
		o.Username = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			o.Password = pw
		}
	}
	return rediss, ""
}

func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}
