package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

func backupCLIStore(t *testing.T, addr string) *redisstore.Store {
	t.Helper()
	return redisstoretest.Open(t, redisstore.Options{Addrs: []string{addr}})
}

func TestBackupRestoreCommands(t *testing.T) {
	src := redistest.Standalone(t)
	dst := redistest.Standalone(t)
	s := backupCLIStore(t, src.Addr())
	for i := range 20 {
		if err := s.Set(t.Context(), fmt.Sprintf("fc:file:%d", i), []byte{0, byte(i), 0xff}, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(t.Context(), fmt.Sprintf("fc:user:%d", i), []byte("u"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(t.Context(), fmt.Sprintf("other:%d", i), []byte("x"), time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "cache.fcbk")
	srcEnv := map[string]string{"REDIS_URL": src.URL(), "CACHE_PREFIX": "fc:"}
	dstEnv := map[string]string{"REDIS_URL": dst.URL()}

	out, err := cliOutput(t, srcEnv, "backup", "--out", path, "--match", "file:*")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "backed up 20 keys (") || !strings.Contains(out, "from standalone Redis to "+path) {
		t.Errorf("backup printed %q", out)
	}

	out, err = cliOutput(t, nil, "restore", "--in", path, "--check")
	if err != nil || !strings.Contains(out, ": ok, format 1, 20 keys") || !strings.Contains(out, `pattern "fc:file:*"`) {
		t.Errorf("restore --check = %q, %v", out, err)
	}

	tests := []struct {
		args []string
		want string
	}{
		{nil, "restored 20 of 20 keys into standalone Redis in "},
		{nil, "restored 0 of 20 keys"},
		{[]string{"--replace"}, "restored 20 of 20 keys"},
	}
	for _, tt := range tests {
		out, err := cliOutput(t, dstEnv, append([]string{"restore", "--in", path}, tt.args...)...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out, tt.want) {
			t.Errorf("restore %v printed %q, want %q...", tt.args, out, tt.want)
		}
		t.Logf("restore %v: %s", tt.args, out)
	}
	d := backupCLIStore(t, dst.Addr())
	v, err := d.Get(t.Context(), "fc:file:7")
	if err != nil || !bytes.Equal(v, []byte{0, 7, 0xff}) {
		t.Errorf("restored fc:file:7 = %q, %v", v, err)
	}
	if ttl, err := d.TTL(t.Context(), "fc:file:7"); err != nil || ttl < 59*time.Minute || ttl > time.Hour {
		t.Errorf("restored fc:file:7 ttl %v, %v; want about 1h", ttl, err)
	}
	if _, err := d.Get(t.Context(), "fc:user:1"); err == nil {
		t.Error("fc:user:1 restored, though --match file:* left it out")
	}
}

func TestBackupRestoreCommandErrors(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.fcbk")
	if err := os.WriteFile(corrupt, []byte("FCBK\x01garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := redistest.Standalone(t)
	withRedis := map[string]string{"REDIS_URL": srv.URL()}
	tests := []struct {
		name string
		vars map[string]string
		args []string
		want []string
	}{
		{"backup without Redis", nil, []string{"backup", "--out", filepath.Join(dir, "x")}, []string{"backup needs Redis", "REDIS_URL"}},
		{"restore without Redis", nil, []string{"restore", "--in", corrupt}, []string{"restore needs Redis", "REDIS_URL"}},
		{"backup without --out", withRedis, []string{"backup"}, []string{"--out FILE is required"}},
		{"restore without --in", withRedis, []string{"restore"}, []string{"--in FILE is required"}},
		{"restore of a corrupt file", withRedis, []string{"restore", "--in", corrupt}, []string{"truncated", "nothing was restored", corrupt}},
		{"check of a corrupt file", nil, []string{"restore", "--in", corrupt, "--check"}, []string{"truncated", corrupt}},
		{"restore of a missing file", withRedis, []string{"restore", "--in", filepath.Join(dir, "missing")}, []string{"no such file", "nothing was restored"}},
		{"backup into a missing directory", withRedis, []string{"backup", "--out", filepath.Join(dir, "no", "x")}, []string{"no such file", "was not written"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := cliOutput(t, tt.vars, tt.args...)
			if err == nil {
				t.Fatalf("succeeded, printing %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	c := backupCLIStore(t, srv.Addr()).Client()
	if n, err := c.Do(t.Context(), c.B().Dbsize().Build()).AsInt64(); err != nil || n != 0 {
		t.Errorf("Redis holds %d keys (%v) after failed restores", n, err)
	}
}

func TestBackupRestoreHelp(t *testing.T) {
	for _, name := range []string{"backup", "restore"} {
		out, err := cliOutput(t, nil, name, "--help")
		if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "--redis-url") {
			t.Errorf("%s --help = %q, %v", name, out, err)
		}
	}
}
