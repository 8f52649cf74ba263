package sqlstore

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrBadDSN is returned by Open when the data source name cannot be used:
// an unknown scheme, a malformed URL or an unsupported SQLite path. The
// error text never contains a password.
var ErrBadDSN = errors.New("sqlstore: bad data source name")

// engine names the SQL dialect a Store speaks.
type engine int

const (
	engineSQLite engine = iota + 1
	enginePostgres
)

func (e engine) String() string {
	switch e {
	case engineSQLite:
		return "sqlite"
	case enginePostgres:
		return "postgres"
	}
	return "unknown"
}

// parseDSN splits dsn into its engine and what that engine opens: a file
// path for SQLite, the URL itself for PostgreSQL.
func parseDSN(dsn string) (engine, string, error) {
	switch {
	case hasPrefixFold(dsn, "postgres://"), hasPrefixFold(dsn, "postgresql://"):
		return enginePostgres, dsn, nil
	case hasPrefixFold(dsn, "sqlite:"), hasPrefixFold(dsn, "file:"):
		_, path, _ := strings.Cut(dsn, ":")
		// sqlite:///abs/path and sqlite://rel/path name files too.
		path = strings.TrimPrefix(path, "//")
		switch {
		case path == "":
			return 0, "", fmt.Errorf("%w: sqlite: empty path", ErrBadDSN)
		case path == ":memory:":
			return 0, "", fmt.Errorf("%w: sqlite: in-memory databases are not supported; use a file", ErrBadDSN)
		case strings.ContainsAny(path, "?#"):
			return 0, "", fmt.Errorf("%w: sqlite: %q: parameters are not supported (the store sets its own pragmas)", ErrBadDSN, path)
		}
		return engineSQLite, path, nil
	}
	scheme, _, ok := strings.Cut(dsn, ":")
	if !ok || scheme == "" || strings.ContainsAny(scheme, "/@ \\") {
		return 0, "", fmt.Errorf("%w: no scheme; want sqlite:PATH or postgres://USER@HOST/DB", ErrBadDSN)
	}
	return 0, "", fmt.Errorf("%w: unknown scheme %q; want sqlite:PATH or postgres://USER@HOST/DB", ErrBadDSN, scheme)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// sqliteURI returns the URI modernc.org/sqlite opens for path with the given
// query parameters. The path is made absolute and the characters that
// SQLite's URI parser would interpret are escaped.
func sqliteURI(path string, params url.Values) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("%w: sqlite: %q: %v", ErrBadDSN, path, err)
	}
	esc := strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(filepath.ToSlash(abs))
	return "file:" + esc + "?" + params.Encode(), nil
}

// redactDSN returns dsn with every password replaced by "xxxxx", fit for
// errors and logs. A DSN it cannot parse is reduced to its scheme.
func redactDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		scheme, _, _ := strings.Cut(dsn, ":")
		if strings.ContainsAny(scheme, "/@ ") {
			return "(unparsable)"
		}
		return scheme + "://(unparsable)"
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isSecretParam(k) {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// secretsOf returns the secret substrings of dsn, raw and decoded, so that
// they can be scrubbed from error texts of the drivers.
func secretsOf(dsn string) []string {
	var out []string
	add := func(s string) {
		if s != "" {
			out = append(out, s)
			if d, err := url.PathUnescape(s); err == nil && d != s {
				out = append(out, d)
			}
		}
	}
	// The userinfo, located by hand so that this works on URLs url.Parse
	// rejects: between "://" and the last "@" before the path.
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			rest = rest[:i]
		}
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if _, pw, ok := strings.Cut(rest[:at], ":"); ok {
				add(pw)
			}
		}
	}
	if _, query, ok := strings.Cut(dsn, "?"); ok {
		for kv := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if isSecretParam(k) {
				add(v)
			}
		}
	}
	return out
}

func isSecretParam(k string) bool {
	k = strings.ToLower(k)
	return k == "password" || k == "sslpassword"
}

// scrub returns msg with every secret of dsn replaced by "xxxxx".
func scrub(msg, dsn string) string {
	for _, s := range secretsOf(dsn) {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}
