package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/internal/tracing"
	"github.com/redis/rueidis"
)

// runCLI runs the command line args in process with the environment vars
// and returns its error and what it printed.
func runCLI(t *testing.T, vars map[string]string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := newRootCmd(env{
		lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
		stdout: &out,
		stderr: &errOut,
	})
	root.SetArgs(args)
	err = root.ExecuteContext(t.Context())
	return out.String(), errOut.String(), err
}

// cliOutput runs the command line as runCLI does, logs what it printed on
// stderr, and returns what it printed on stdout.
func cliOutput(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	out, errOut, err := runCLI(t, vars, args...)
	if errOut != "" {
		t.Logf("stderr of %v:\n%s", args, errOut)
	}
	return out, err
}

func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatalf("version: %v", err)
	}
	if !strings.HasPrefix(out, "filecache ") || !strings.HasSuffix(out, "\n") || strings.Count(out, "\n") != 1 {
		t.Errorf("version printed %q, want one line starting with \"filecache \"", out)
	}
	if _, _, err := runCLI(t, nil, "version", "extra"); err == nil {
		t.Errorf("version with an argument: no error")
	}
}

// TestVersionFlag checks that "filecache --version" prints what
// "filecache version" prints.
func TestVersionFlag(t *testing.T) {
	want, _, err := runCLI(t, nil, "version")
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--version"}, {"-v"}} {
		got, _, err := runCLI(t, nil, args...)
		if err != nil || got != want {
			t.Errorf("%v printed %q, %v; want %q like \"filecache version\"", args, got, err, want)
		}
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{
			"Usage:", "filecache [command]", "Available Commands:", "serve", "warm", "version",
			"Examples:", "filecache serve", "REDIS_CLUSTER_NODES=", "DATABASE_URL=", "--version",
		}},
		{[]string{"serve", "--help"}, []string{
			"Usage:", "filecache serve [flags]", "Examples:", "ADMIN_TOKEN=$(openssl rand -hex 32) filecache serve",
			"--listen-addr", "(env LISTEN_ADDR)", "--database-url", "(env DATABASE_URL)",
			"--redis-url", "(env REDIS_URL)", "--redis-cluster-nodes", "(env REDIS_CLUSTER_NODES)",
			"--redis-sentinel-addrs", "(env REDIS_SENTINEL_ADDRS)", "--redis-password", "(env REDIS_PASSWORD)",
			"--cache-prefix", "(env CACHE_PREFIX)", "--cache-ttl-file", "(env CACHE_TTL_FILE)",
			"--cache-near-size", "(env CACHE_NEAR_SIZE)", "--admin-token", "(env ADMIN_TOKEN)",
			"--rate-limit-per-minute", "(env RATE_LIMIT_PER_MINUTE)", "--trusted-proxies", "(env TRUSTED_PROXIES)",
			"--log-level", "(env LOG_LEVEL)", "sqlite:filecache.db", ":8080",
			"--redis-tls-ca-file", "--db-timeout", "--redis-set-maxmemory-policy",
		}},
		{[]string{"help", "serve"}, []string{"filecache serve [flags]", "--redis-url"}},
		{[]string{"warm", "--help"}, []string{"filecache warm [flags]", "Examples:", "--limit", "(env REDIS_URL)", "--cache-ttl-file"}},
		{[]string{"version", "--help"}, []string{"filecache version", "Examples:"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			// The environment must not leak into the help text.
			out, _, err := runCLI(t, map[string]string{"ADMIN_TOKEN": "s3cret-token", "REDIS_URL": "redis://:s3cret-pw@h:1"}, tc.args...)
			if err != nil {
				t.Fatalf("%v: %v", tc.args, err)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%v: output lacks %q:\n%s", tc.args, w, out)
				}
			}
			if strings.Contains(out, "s3cret") {
				t.Errorf("%v: help shows a secret of the environment:\n%s", tc.args, out)
			}
		})
	}
}

// TestHelpGroups checks the layout of every command's --help: its own flags
// first, then the shared settings by group, and only the groups the
// command uses (serve-only flags only on serve).
func TestHelpGroups(t *testing.T) {
	tests := []struct {
		cmd      string
		own      []string // in the "Flags:" section
		sections []string // in this order
		absent   []string
	}{
		{"serve", []string{"--log-level"}, []string{"Server flags (serve only):", "Cache flags:", "Database flags:", "Redis flags:"}, nil},
		{"warm", []string{"--limit"}, []string{"Cache flags:", "Database flags:", "Redis flags:"}, []string{"--listen-addr", "--admin-token", "--rate-limit-per-minute", "Server flags"}},
		{"report", []string{"--json", "--sample"}, []string{"Database flags:", "Redis flags:"}, []string{"--listen-addr", "--cache-ttl-file", "Server flags", "Cache flags"}},
		{"backup", []string{"--out", "--match"}, []string{"Redis flags:"}, []string{"--listen-addr", "--database-url", "--rate-limit-per-minute", "--admin-token", "--cache-ttl-file", "Database flags"}},
		{"restore", []string{"--in", "--replace"}, []string{"Redis flags:"}, []string{"--listen-addr", "--database-url", "--admin-token"}},
		{"events", []string{"--json"}, []string{"Redis flags:"}, []string{"--listen-addr", "--database-url", "--admin-token"}},
		{"version", nil, nil, []string{"--redis-url", "--log-level", "Redis flags"}},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			out, _, err := runCLI(t, nil, tc.cmd, "--help")
			if err != nil {
				t.Fatal(err)
			}
			flags := strings.Index(out, "\nFlags:\n")
			if flags < 0 {
				t.Fatalf("no Flags: section:\n%s", out)
			}
			next := len(out)
			at := flags
			for _, sec := range tc.sections {
				i := strings.Index(out, "\n"+sec+"\n")
				if i < at {
					t.Errorf("section %q missing or out of order:\n%s", sec, out)
					continue
				}
				next = min(next, i)
				at = i
			}
			ownPart := out[flags:next]
			for _, f := range tc.own {
				if !strings.Contains(ownPart, f) {
					t.Errorf("own flag %s not in the first section:\n%s", f, ownPart)
				}
			}
			if strings.Contains(ownPart, "--redis-url") {
				t.Errorf("shared flags among the command's own:\n%s", ownPart)
			}
			for _, a := range tc.absent {
				if strings.Contains(out, a) {
					t.Errorf("%s --help shows %s:\n%s", tc.cmd, a, out)
				}
			}
		})
	}
}

// TestServeConfigErrors checks that serve refuses a bad configuration
// before it opens anything, naming the variable and never showing a
// password.
func TestServeConfigErrors(t *testing.T) {
	const pw = "hunter2-secret"
	tests := []struct {
		name    string
		vars    map[string]string
		args    []string
		wantVar string
	}{
		{"redis url scheme", map[string]string{"REDIS_URL": "http://bad"}, nil, "REDIS_URL"},
		{"redis url scheme with password", map[string]string{"REDIS_URL": "http://user:" + pw + "@bad"}, nil, "REDIS_URL"},
		{"redis url port", map[string]string{"REDIS_URL": "redis://host:notaport"}, nil, "REDIS_URL"},
		{"redis url port with password", map[string]string{"REDIS_URL": "redis://user:" + pw + "@host:notaport"}, nil, "REDIS_URL"},
		{"redis url unparsable with password", map[string]string{"REDIS_URL": "redis://:" + pw + "@[::1"}, nil, "REDIS_URL"},
		{"redis url query with password", map[string]string{"REDIS_URL": "redis://:" + pw + "@h:1/0?password=" + pw}, nil, "REDIS_URL"},
		{"redis url flag with password", nil, []string{"--redis-url", "http://u:" + pw + "@bad"}, "REDIS_URL"},
		{"redis url and cluster", map[string]string{"REDIS_URL": "redis://h:1", "REDIS_CLUSTER_NODES": "h:2"}, nil, "REDIS_CLUSTER_NODES"},
		{"database mysql", map[string]string{"DATABASE_URL": "mysql://x"}, nil, "DATABASE_URL"},
		{"database mysql with password", map[string]string{"DATABASE_URL": "mysql://root:" + pw + "@db/files"}, nil, "DATABASE_URL"},
		{"database dsn with password", map[string]string{"DATABASE_URL": "host=db password=" + pw}, nil, "DATABASE_URL"},
		{"rate limit", map[string]string{"RATE_LIMIT_PER_MINUTE": "many"}, nil, "RATE_LIMIT_PER_MINUTE"},
		{"cache prefix", map[string]string{"CACHE_PREFIX": "a*b"}, nil, "CACHE_PREFIX"},
		{"trusted proxies", map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, nil, "TRUSTED_PROXIES"},
		{"short admin token", map[string]string{"ADMIN_TOKEN": "a"}, nil, "ADMIN_TOKEN"},
		{"tls file missing", map[string]string{"REDIS_URL": "rediss://h:1", "REDIS_TLS_CA_FILE": "/nonexistent/ca.pem"}, nil, "REDIS_TLS_CA_FILE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Were serve to start, it would create this database and fail
			// on this busy address instead.
			dir := t.TempDir()
			db := filepath.Join(dir, "never.db")
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			vars := map[string]string{"DATABASE_URL": "sqlite:" + db, "LISTEN_ADDR": busy.Addr().String(), "LOG_LEVEL": "error"}
			for k, v := range tc.vars {
				vars[k] = v
			}
			out, errOut, err := runCLI(t, vars, append([]string{"serve"}, tc.args...)...)
			if err == nil {
				t.Fatalf("serve started")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantVar) {
				t.Errorf("error %q does not name %s", msg, tc.wantVar)
			}
			if strings.Contains(msg, "LISTEN_ADDR") {
				t.Errorf("error %q: serve got as far as listening", msg)
			}
			var ve *config.VarError
			if !errors.As(err, &ve) {
				t.Errorf("error %q holds no *config.VarError", msg)
			}
			for what, s := range map[string]string{"error": msg, "stdout": out, "stderr": errOut} {
				if strings.Contains(s, pw) {
					t.Errorf("%s shows the password: %q", what, s)
				}
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("serve opened the database before failing (stat: %v)", err)
			}
		})
	}
}

// TestServeRedisAuthFailure checks that serve stops at start-up when Redis
// refuses its credentials, saying so and naming the variables, never the
// password: unlike an unreachable Redis, retrying cannot fix that.
func TestServeRedisAuthFailure(t *testing.T) {
	const pw = "hunter2-secret"
	srv := redistest.Standalone(t)
	requirePassword(t, srv.Addr(), "the-right-password")
	for name, url := range map[string]string{
		"wrong password": "redis://user:" + pw + "@" + srv.Addr() + "/0",
		"no password":    "redis://" + srv.Addr() + "/0",
	} {
		t.Run(name, func(t *testing.T) {
			vars := map[string]string{
				"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "db"),
				"REDIS_URL":    url,
				"LISTEN_ADDR":  "127.0.0.1:0",
				"LOG_LEVEL":    "error",
			}
			out, errOut, err := runCLI(t, vars, "serve")
			if err == nil {
				t.Fatal("serve started with credentials Redis refuses")
			}
			msg := err.Error()
			for _, want := range []string{"REDIS_URL", "REDIS_PASSWORD", "refused the credentials"} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lacks %q", msg, want)
				}
			}
			if !errors.Is(err, redisstore.ErrAuth) {
				t.Errorf("error %q does not wrap redisstore.ErrAuth", msg)
			}
			for what, s := range map[string]string{"error": msg, "stdout": out, "stderr": errOut} {
				if strings.Contains(s, pw) {
					t.Errorf("%s shows the password: %q", what, s)
				}
			}
		})
	}
}

// requirePassword makes the server at addr ask for a password.
func requirePassword(t *testing.T, addr, pw string) {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Do(t.Context(), c.B().ConfigSet().ParameterValue().ParameterValue("requirepass", pw).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

// TestServeListenError checks that a busy LISTEN_ADDR is reported by name.
func TestServeListenError(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL": "sqlite:" + filepath.Join(t.TempDir(), "db"),
		"LISTEN_ADDR":  busy.Addr().String(),
		"LOG_LEVEL":    "error",
	})
	called := false
	err = serve(t.Context(), cfg, func(string) { called = true })
	if err == nil || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Errorf("serve on a busy address: %v, want an error naming LISTEN_ADDR", err)
	}
	if called {
		t.Errorf("ready was called")
	}
}

func mapLookup(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// testConfig builds the configuration that serve builds from the
// environment vars: the binary's own path (loadConfig over serve's flags).
func testConfig(t testing.TB, vars map[string]string) config.Config {
	t.Helper()
	e := env{lookup: mapLookup(vars), stdout: io.Discard, stderr: io.Discard}
	cmd := newServeCmd(e)
	if err := cmd.ParseFlags(nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	return cfg
}

// testApp opens the service on cfg as serve does, with the tracing of tr
// (nil: none), closes it when the test ends, and returns it with its
// handler.
func testApp(t testing.TB, cfg config.Config, log *slog.Logger, tr *tracing.Provider) (*app, http.Handler) {
	t.Helper()
	a, err := openTracedApp(t.Context(), cfg, log, tr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	h, err := a.handler()
	if err != nil {
		t.Fatal(err)
	}
	return a, h
}

// TestServeGracefulShutdown starts serve, holds a request in flight (its
// handler is reading the body), cancels serve's context, and checks that
// the server stops accepting, the request still completes with 200, and
// serve returns nil.
func TestServeGracefulShutdown(t *testing.T) {
	cfg := testConfig(t, map[string]string{
		"DATABASE_URL":          "sqlite:" + filepath.Join(t.TempDir(), "db"),
		"LISTEN_ADDR":           "127.0.0.1:0",
		"LOG_LEVEL":             "error",
		"RATE_LIMIT_PER_MINUTE": "0",
		"SHUTDOWN_TIMEOUT":      "10s",
	})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	addrc := make(chan string, 1)
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, func(addr string) { addrc <- addr }) }()
	var addr string
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("serve returned before listening: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}

	resp, err := http.Post("http://"+addr+"/v1/files", "application/json", strings.NewReader(`{"name":"inflight.txt"}`))
	if err != nil {
		t.Fatal(err)
	}
	var f files.FileMetadata
	err = json.NewDecoder(resp.Body).Decode(&f)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %v", resp.StatusCode, err)
	}

	// A PATCH whose handler waits for its body: with Expect: 100-continue,
	// net/http sends "100 Continue" when the handler starts reading it.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	body := `{"name":"drained.txt"}`
	head := "PATCH /v1/files/" + f.ID + " HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\n" +
		"Expect: 100-continue\r\nIf-Match: \"1\"\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	cont, err := http.ReadResponse(br, nil)
	if err != nil || cont.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", cont, err)
	}

	cancel()
	// Wait until the server no longer accepts connections: Shutdown has
	// closed the listener, with our request still in flight.
	testenv.Eventually(t, 10*time.Second, func() error {
		select {
		case err := <-errc:
			t.Fatalf("serve returned with a request in flight: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return nil
		}
		c.Close()
		return errors.New("the server still accepts connections after its context ended")
	})
	select {
	case err := <-errc:
		t.Fatalf("serve returned with a request in flight: %v", err)
	default:
	}

	if _, err := io.WriteString(conn, body); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("in-flight request: %v", err)
	}
	var got files.FileMetadata
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || got.Version != 2 || got.Name != "drained.txt" {
		t.Fatalf("in-flight PATCH: %d %+v %v; want 200 with version 2", resp.StatusCode, got, err)
	}
	// Then the server closes the connection.
	if n, err := br.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("after the in-flight answer: read %d bytes, %v; want EOF", n, err)
	}

	if err := testenv.Await(t, 20*time.Second, errc); err != nil {
		t.Fatalf("serve: %v, want nil after a graceful shutdown", err)
	}
}

// TestServeDatabaseDown checks that serve, which starts without Redis,
// still needs its database at start-up: an unreachable one stops it with a
// message naming DATABASE_URL, without the password.
func TestServeDatabaseDown(t *testing.T) {
	const pw = "hunter2-secret"
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := closed.Addr().String()
	closed.Close() // nothing listens there now
	vars := map[string]string{
		"DATABASE_URL": "postgres://fc:" + pw + "@" + addr + "/files?connect_timeout=2",
		"LISTEN_ADDR":  "127.0.0.1:0",
		"LOG_LEVEL":    "error",
	}
	out, errOut, err := runCLI(t, vars, "serve")
	if err == nil {
		t.Fatal("serve started without its database")
	}
	if msg := err.Error(); !strings.Contains(msg, "DATABASE_URL") || !strings.Contains(msg, "required") {
		t.Errorf("error %q does not say that DATABASE_URL is required", msg)
	}
	for what, s := range map[string]string{"error": err.Error(), "stdout": out, "stderr": errOut} {
		if strings.Contains(s, pw) {
			t.Errorf("%s shows the password: %q", what, s)
		}
	}
}
