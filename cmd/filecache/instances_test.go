package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// process is a filecache serve started as a child process.
type process struct {
	cmd    *exec.Cmd
	base   string        // http://127.0.0.1:PORT
	exited chan struct{} // closed when the process has exited
	err    error         // its exit status, once exited
	log    logLines      // what it logged
}

// logLines collects the JSON log lines of a process.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(line string) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// snapshot returns the lines logged so far.
func (l *logLines) snapshot() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lines)
}

// tail returns the last n lines the process logged, for a failure message.
func (p *process) tail(n int) string {
	lines := p.log.snapshot()
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}

// stop ends the process with SIGTERM and waits for it.
func (p *process) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if p.err != nil {
			t.Errorf("serve exited with %v after SIGTERM", p.err)
		}
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Error("serve did not stop within 15s of SIGTERM")
	}
}

// startServe runs "filecache serve" (the test binary, see TestMain) with env
// on a free port and waits until it listens and admits cache reads: on a
// busy machine its first connection to Redis may time out, and it then
// starts with its breaker open and connects in the background, which is
// not what the tests that use it are about.
func startServe(t *testing.T, env map[string]string) *process {
	t.Helper()
	p := launchServe(t, env)
	p.awaitReady(t, 60*time.Second, "cache reads admitted", func(b, r string) bool {
		return (b == "closed" || b == "none") && r == "admitted"
	})
	return p
}

// launchServe is startServe without the wait for the cache: it returns once
// serve listens.
func launchServe(t *testing.T, env map[string]string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve")
	// DB_TIMEOUT: on a busy machine a commit can outlast the default 3s;
	// the tests that are about it set their own.
	cmd.Env = append(os.Environ(), runMainEnv+"=1", "LISTEN_ADDR=127.0.0.1:0", "LOG_LEVEL=info", "DB_TIMEOUT="+testDBTimeout)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, exited: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-p.exited: // already stopped, or exited on purpose
		default:
			p.stop(t)
		}
	})
	// The start-up log says where it listens.
	lines := bufio.NewScanner(stderr)
	var log []string
	for lines.Scan() {
		log = append(log, lines.Text())
		p.log.add(lines.Text())
		var rec struct {
			Msg  string `json:"msg"`
			Addr string `json:"addr"`
		}
		if json.Unmarshal(lines.Bytes(), &rec) == nil && rec.Msg == "listening" {
			p.base = "http://" + rec.Addr
			go func() {
				for lines.Scan() {
					p.log.add(lines.Text())
				}
				_, _ = io.Copy(io.Discard, stderr)
				p.err = cmd.Wait()
				close(p.exited)
			}()
			return p
		}
	}
	_ = cmd.Wait()
	close(p.exited)
	t.Fatalf("serve exited before listening:\n%s", strings.Join(log, "\n"))
	return nil
}

var client = &http.Client{Timeout: 10 * time.Second}

func (p *process) do(t *testing.T, method, path, body string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, p.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

type fileJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// createFile creates a file of size bytes named name through p.
func (p *process) createFile(t *testing.T, name string, size int) fileJSON {
	t.Helper()
	status, _, body := p.do(t, "POST", "/v1/files", fmt.Sprintf(`{"name":%q,"size":%d,"content_type":"text/plain"}`, name, size))
	if status != http.StatusCreated {
		t.Fatalf("create %s on %s = %d %s", name, p.base, status, body)
	}
	var f fileJSON
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func (p *process) getFile(t *testing.T, id string) (fileJSON, string) {
	t.Helper()
	status, h, body := p.do(t, "GET", "/v1/files/"+id, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s on %s = %d %s", id, p.base, status, body)
	}
	var f fileJSON
	if err := json.Unmarshal(body, &f); err != nil {
		t.Fatal(err)
	}
	return f, h.Get("X-Cache")
}

// TestInstancesPropagation runs two service processes on one Redis and one
// PostgreSQL database: every PATCH acknowledged by A is seen by GETs on B,
// whose near cache held the previous version, within the propagation delay
// of Redis' tracking invalidations. The delays are logged (p50, p99).
// sharedRedis are the shared Redis deployments (scripts/test.sh) that two
// serve processes meet on: the variable that names each to serve, and the
// test variable it comes from.
var sharedRedis = []struct{ name, serveVar, testVar string }{
	{"standalone", "REDIS_URL", redistest.EnvRedisURL},
	{"cluster", "REDIS_CLUSTER_NODES", redistest.EnvRedisClusterNodes},
}

// startPair starts two serve processes on one fresh PostgreSQL schema and
// the shared Redis named testVar (serve's variable serveVar), under a
// fresh prefix that starts with name, without rate limits.
func startPair(t *testing.T, name, serveVar, testVar string) (a, b *process) {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":          sqltest.PostgresDSN(t),
		serveVar:                testenv.Require(t, testVar),
		"CACHE_PREFIX":          fmt.Sprintf("%s%08x:", name, rand.Uint32()),
		"RATE_LIMIT_PER_MINUTE": "0",
	}
	return startServe(t, env), startServe(t, env)
}

func TestInstancesPropagation(t *testing.T) {
	for _, tt := range sharedRedis {
		t.Run(tt.name, func(t *testing.T) {
			a, b := startPair(t, "inst", tt.serveVar, tt.testVar)
			f := a.createFile(t, "v0.txt", 1)
			updates := 1000
			if testing.Short() {
				updates = 100
			}
			// window: from A's acknowledgement to the start of the first GET
			// on B that returned the new version (how long B could still
			// serve the old one); fresh: to the end of that GET.
			windows := make([]time.Duration, 0, updates)
			fresh := make([]time.Duration, 0, updates)
			stale := 0
			for i := 1; i <= updates; i++ {
				// B holds the current version in its near cache.
				testenv.Eventually(t, 5*time.Second, func() error {
					got, xc := b.getFile(t, f.ID)
					if got.Version != f.Version {
						t.Fatalf("B serves version %d, want %d", got.Version, f.Version)
					}
					if xc != "hit-local" {
						return fmt.Errorf("B serves the file as %q, not from its near cache", xc)
					}
					return nil
				})
				status, _, body := a.do(t, "PATCH", "/v1/files/"+f.ID, fmt.Sprintf(`{"name":"v%d.txt"}`, i))
				if status != http.StatusOK {
					t.Fatalf("PATCH = %d %s; the last lines A logged:\n%s", status, body, a.tail(20))
				}
				acked := time.Now()
				want := f.Version + 1
				for {
					sent := time.Now()
					got, _ := b.getFile(t, f.ID)
					if got.Version == want {
						windows = append(windows, sent.Sub(acked))
						fresh = append(fresh, time.Since(acked))
						break
					}
					if got.Version != f.Version {
						t.Fatalf("B went from version %d to %d, want %d", f.Version, got.Version, want)
					}
					stale++
					if time.Since(acked) > 5*time.Second {
						t.Fatalf("update %d never reached B", i)
					}
				}
				f.Version = want
			}
			q := func(d []time.Duration, p int) time.Duration {
				slices.Sort(d)
				return d[(len(d)-1)*p/100].Round(time.Microsecond)
			}
			t.Logf("propagation A→B over %d updates (%s): staleness window p50 %v p99 %v max %v; "+
				"time to a fresh response p50 %v p99 %v; stale reads after an ack: %d",
				len(windows), tt.name, q(windows, 50), q(windows, 99), q(windows, 100),
				q(fresh, 50), q(fresh, 99), stale)
			// The goal is under 5ms on loopback (logged above); the bound is
			// one a busy machine keeps.
			if p99 := q(windows, 99); p99 > time.Second {
				t.Errorf("p99 staleness window %v, over a second; the goal is under 5ms on loopback", p99)
			}
			// Writes and reads left both processes healthy.
			for _, p := range []*process{a, b} {
				if status, _, body := p.do(t, "GET", "/readyz", ""); status != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
					t.Fatalf("readyz = %d %s", status, body)
				}
			}
		})
	}
}
