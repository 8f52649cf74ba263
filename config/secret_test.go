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

func TestSecret(t *testing.T) {
	s := config.Secret("hunter2")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10s", "%T"} {
		got := fmt.Sprintf(verb, s)
		if strings.Contains(got, "hunter2") || strings.Contains(got, fmt.Sprintf("%x", "hunter2")) {
			t.Errorf("Sprintf(%q) = %q shows the secret", verb, got)
		}
	}
	if got := fmt.Sprint(s); got != "[redacted]" {
		t.Errorf("Sprint = %q, want [redacted]", got)
	}
	if got := s.GoString(); got != "[redacted]" {
		t.Errorf("GoString = %q, want [redacted]", got)
	}
	if got, _ := json.Marshal(s); string(got) != `"[redacted]"` {
		t.Errorf("json = %s, want \"[redacted]\"", got)
	}
	if got := s.LogValue().String(); got != "[redacted]" {
		t.Errorf("LogValue = %q, want [redacted]", got)
	}
	if got := s.Reveal(); got != "hunter2" {
		t.Errorf("Reveal = %q, want hunter2", got)
	}

	var empty config.Secret
	if got := fmt.Sprintf("%v|%s|%#v", empty, empty, empty); got != `||""` {
		t.Errorf("empty Secret prints %q, want ||\"\"", got)
	}
	if got, _ := json.Marshal(empty); string(got) != `""` {
		t.Errorf("empty Secret json = %s", got)
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"sqlite:filecache.db", "sqlite:filecache.db"},
		{"redis://localhost:6379/0", "redis://localhost:6379/0"},
		{"redis://user@h", "redis://user@h"},
		{"redis://user:pw@h:1/2", "redis://user:xxxxx@h:1/2"},
		{"rediss://:pw@h", "rediss://:xxxxx@h"},
		{"redis://u:p@ss/w#rd?@h:1", "redis://u:xxxxx@h:1"},
		{"postgres://fc:pw@db/fc?sslmode=require&password=pw2&sslpassword=pw3", "postgres://fc:xxxxx@db/fc?sslmode=require&password=xxxxx&sslpassword=xxxxx"},
		{"postgres://db/fc?PASSWORD=pw#frag", "postgres://db/fc?PASSWORD=xxxxx#frag"},
		{"user:pw@host", "xxxxx@host"},
	}
	for _, tt := range tests {
		if got := config.RedactURL(tt.in); got != tt.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// The secrets of secretEnv, each distinctive.
var secrets = []string{"Adm1nTok3n-zq-0123", "r3disPassw0rd-zq", "urlPassw0rd-zq", "dbPassw0rd-zq", "qryPassw0rd-zq"}

func secretEnv() map[string]string {
	return map[string]string{
		"ADMIN_TOKEN":  "Adm1nTok3n-zq-0123",
		"REDIS_URL":    "rediss://app:urlPassw0rd-zq@cache:6380/1",
		"DATABASE_URL": "postgres://fc:dbPassw0rd-zq@db/fc?password=qryPassw0rd-zq",
	}
}

func assertNoSecret(t *testing.T, where, s string) {
	t.Helper()
	for _, secret := range secrets {
		if strings.Contains(s, secret) {
			t.Errorf("%s shows secret %q:\n%s", where, secret, s)
		}
	}
}

func TestRedaction(t *testing.T) {
	for _, withRedisPassword := range []bool{false, true} {
		e := secretEnv()
		if withRedisPassword {
			e["REDIS_PASSWORD"] = "r3disPassw0rd-zq"
		}
		cfg, err := config.Load(nil, env(e))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		// The secrets are there, for whoever asks explicitly.
		if cfg.HTTP.AdminToken.Reveal() != "Adm1nTok3n-zq-0123" || !strings.Contains(cfg.Database.DSN(), "dbPassw0rd-zq") {
			t.Fatalf("secrets lost: %q %q", cfg.HTTP.AdminToken.Reveal(), cfg.Database.DSN())
		}
		if pw := cfg.Redis.Options.Password; pw != "urlPassw0rd-zq" && pw != "r3disPassw0rd-zq" {
			t.Fatalf("redis password = %q", pw)
		}

		assertNoSecret(t, "fmt", fmt.Sprintf("%v %+v %#v %v %+v %#v", cfg, cfg, cfg, &cfg, cfg.Redis, cfg.Database))

		js, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "json.Marshal", string(js))

		var buf bytes.Buffer
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("starting", "config", cfg, "redis", cfg.Redis, "token", cfg.HTTP.AdminToken)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("starting", "config", cfg, "redis", cfg.Redis, "db", cfg.Database)
		out := buf.String()
		assertNoSecret(t, "slog", out)
		for _, want := range []string{`"admin_token":"[redacted]"`, `"password":"[redacted]"`, `"url":"postgres://fc:xxxxx@db/fc?password=xxxxx"`, `"addrs":["cache:6380"]`, `"ttl_file":"1h"`} {
			if !strings.Contains(out, want) {
				t.Errorf("slog output lacks %s:\n%s", want, out)
			}
		}
	}
}

func TestErrorsHideSecrets(t *testing.T) {
	bad := []map[string]string{
		{"REDIS_URL": "http://app:urlPassw0rd-zq@cache:6380"},
		{"REDIS_URL": "redis://app:urlPassw0rd-zq@cache:99999"},
		{"REDIS_URL": "redis://app:urlPassw0rd-zq@cache:1/x"},
		{"REDIS_URL": "redis://app:urlPassw0rd-zq@cache:1/?x=1"},
		{"REDIS_URL": "redis://app:urlPassw0rd-zq@"},
		{"REDIS_URL": "redis://:urlPa/ssw0rd-zq@cache"},           // unescaped '/' in the password
		{"REDIS_URL": "redis://:urlPassw0rd-zq#frag@cache"},       // unescaped '#'
		{"REDIS_URL": "redis://:urlPassw0rd-zq@cache:1/%zz"},      // bad escape
		{"REDIS_URL": "redis:app:urlPassw0rd-zq@cache"},           // opaque
		{"REDIS_URL": "redis://app:urlPassw0rd-zq @ cache"},       // spaces
		{"REDIS_URL": "redis://app:urlPassw0rd-zq\x7f@cache:1/0"}, // control character
		{"DATABASE_URL": "postgres://fc:dbPassw0rd-zq@db:x/fc"},
		{"DATABASE_URL": "postgres://fc:dbPassw0rd-zq@db/%zz?password=qryPassw0rd-zq"},
		{"DATABASE_URL": "host=db password=dbPassw0rd-zq"},
		{"DATABASE_URL": "mysql://fc:dbPassw0rd-zq@db/fc"},
		{"ADMIN_TOKEN": "Adm1nTok3n-zq-0123 with spaces"},
		{"ADMIN_TOKEN": "Adm1nTok3n-zq-0123\n"},
		{"REDIS_PASSWORD": "r3disPassw0rd-zq", "REDIS_URL": "redis://h:0"},
	}
	for _, e := range bad {
		_, err := config.Load(nil, env(e))
		if err == nil {
			t.Errorf("Load(%q) = nil error, want one", e)
			continue
		}
		assertNoSecret(t, "error", err.Error())
		assertNoSecret(t, "error", fmt.Sprintf("%+v %#v", err, err))
	}
	// Secrets given as flags do not leak through errors either.
	_, err := config.Load([]string{"--admin-token=Adm1nTok3n-zq-0123 x", "--redis-password", "r3disPassw0rd-zq", "--redis-url=redis://:urlPassw0rd-zq@h:0"}, nil)
	if err == nil {
		t.Fatal("Load: want error")
	}
	assertNoSecret(t, "error", err.Error())
}

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
