package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/filecache/filecache/config"
)

// twin maps every letter and digit of s to another of the same kind (hex
// letters to hex letters), so that a URL built with twin(s) parses the same
// way as one built with s.
func twin(s string) string {
	b := []byte(s)
	rot := func(c, lo, hi byte) byte {
		if c == hi {
			return lo
		}
		return c + 1
	}
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'f':
			b[i] = rot(c, 'a', 'f')
		case c >= 'g' && c <= 'z':
			b[i] = rot(c, 'g', 'z')
		case c >= 'A' && c <= 'F':
			b[i] = rot(c, 'A', 'F')
		case c >= 'G' && c <= 'Z':
			b[i] = rot(c, 'G', 'Z')
		case c >= '0' && c <= '9':
			b[i] = rot(c, '0', '9')
		}
	}
	return string(b)
}

// FuzzLoad fuzzes the environment. Load must not panic, and the password
// (used as REDIS_PASSWORD, ADMIN_TOKEN and inside REDIS_URL and
// DATABASE_URL) must not show in an error or in the printed configuration.
// Where the password also occurs legitimately (in fixed message text, or in
// another fuzzed value), the same run with a twin password shows it too, so
// a leak is: shown with the password, not shown with its twin.
func FuzzLoad(f *testing.F) {
	f.Add("s3cret-pass", uint8(0), "redis", "cache:6379/0", "db/fc", "1h", "fc:", "10.0.0.0/8", "a:1,b:2", "info", "0.1", ":8080")
	f.Add("p@ss/w#rd?x", uint8(0), "rediss", "h", "db", "abc", "a b", "x", "", "loud", "NaN", "8080")
	f.Add("hunter2hunter2", uint8(1), "redis", "h:99999/x?y=1", "db:x/%zz", "-1s", "*", "::1,fe80::1%eth0", "n1:7000, :1", "DEBUG", "0.6", "[::1]:0")
	f.Add("%41%zz:pw", uint8(2), "http", "", "", "0", strings.Repeat("p", 65), "1.2.3.4/33", "h", "warn", "-1", ":http")
	f.Add("xxxxx-xxxxx", uint8(0), "redis", "[::1]:1/2", "db/fc?password=xxxxx-xxxxx", "5m", "", "", "", "", "", "")

	f.Fuzz(func(t *testing.T, pw string, mode uint8, scheme, redisRest, dbRest, ttl, prefix, proxies, nodes, level, jitter, listen string) {
		build := func(pw string) map[string]string {
			e := map[string]string{
				"ADMIN_TOKEN":      pw,
				"REDIS_PASSWORD":   pw,
				"DATABASE_URL":     "postgres://fc:" + pw + "@" + dbRest,
				"CACHE_TTL_FILE":   ttl,
				"CACHE_PREFIX":     prefix,
				"TRUSTED_PROXIES":  proxies,
				"LOG_LEVEL":        level,
				"CACHE_TTL_JITTER": jitter,
				"LISTEN_ADDR":      listen,
			}
			if mode%3 != 1 {
				e["REDIS_URL"] = scheme + "://user:" + pw + "@" + redisRest
			}
			if mode%3 != 0 {
				e["REDIS_CLUSTER_NODES"] = nodes
			}
			return e
		}
		render := func(cfg config.Config, err error) string {
			if err != nil {
				return fmt.Sprintf("%v\n%+v\n%#v", err, err, err)
			}
			var buf bytes.Buffer
			slog.New(slog.NewJSONHandler(&buf, nil)).Info("start", "config", cfg)
			slog.New(slog.NewTextHandler(&buf, nil)).Info("start", "config", cfg)
			js, jerr := json.Marshal(cfg)
			if jerr != nil {
				t.Fatalf("json.Marshal: %v", jerr)
			}
			return fmt.Sprintf("%v %+v %#v\n%s\n%s", cfg, cfg, cfg, buf.String(), js)
		}

		got := render(config.Load(nil, env(build(pw))))
		if len(pw) < 6 || twin(pw) == pw || !strings.Contains(got, pw) {
			return
		}
		if other := render(config.Load(nil, env(build(twin(pw))))); !strings.Contains(other, pw) {
			t.Errorf("password %q shows in:\n%s", pw, got)
		}
	})
}
