package redistest

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/testenv"
)

const (
	// startTimeout bounds how long a new or restarted server may take to
	// answer PING.
	startTimeout = 10 * time.Second
	// stopTimeout bounds how long Stop waits after SIGTERM before SIGKILL.
	stopTimeout = 10 * time.Second
	// startAttempts is how often a new server is tried on fresh ports.
	startAttempts = 3
)

// Server is one redis-server process owned by a Group: a standalone
// server, a cluster node, a replica or a sentinel. It listens on 127.0.0.1
// only, with TLS only if it was started with TLS, and keeps no data on
// disk. It is safe for concurrent use.
type Server struct {
	dir     string      // data directory; holds redis.log and nodes.conf
	port    int         // client port, kept across restarts
	busPort int         // cluster bus port, or 0 when not a cluster node
	conf    string      // config file given first on the command line, or ""
	args    []string    // extra arguments, appended last
	tls     *tls.Config // the harness's client configuration, nil without TLS

	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when not started or after Kill/Stop
	exited chan struct{} // closed when cmd has exited
}

// serverSpec says how to start a Server; ports are chosen by the Group.
type serverSpec struct {
	cluster  bool // cluster node: also pick a bus port
	sentinel bool // sentinel: writeConf must produce its config file
	tls      *TLS // accept TLS connections only
	// writeConf, when set, writes the config file in dir for the chosen
	// port and returns its path.
	writeConf func(dir string, port int) (string, error)
	args      []string
}

// Standalone starts a private redis-server on a free loopback port with no
// persistence and the memory settings of a cache (maxmemory 256mb,
// allkeys-lru), waits until it answers PING, and kills it in t.Cleanup.
// args are extra redis-server arguments, such as "--maxmemory", "10mb";
// they come last and so override the defaults.
//
// It skips the test, or fails it if REQUIRE_SERVICES=1, when redis-server
// is not installed.
func Standalone(t testing.TB, args ...string) *Server {
	t.Helper()
	s, err := testGroup(t).Standalone(t.Context(), args...)
	return must(t, s, err, "redis-server")
}

// StandaloneTLS is Standalone for a server that accepts only TLS
// connections, configured by conf; its URL is rediss://.
func StandaloneTLS(t testing.TB, conf TLS, args ...string) *Server {
	t.Helper()
	s, err := testGroup(t).StandaloneTLS(t.Context(), conf, args...)
	return must(t, s, err, "TLS redis-server")
}

// Standalone starts a redis-server on a free loopback port with no
// persistence and waits until it answers PING. args are extra
// redis-server arguments; they come last and so override the defaults.
func (g *Group) Standalone(ctx context.Context, args ...string) (*Server, error) {
	return g.newServer(ctx, serverSpec{args: args})
}

// StandaloneTLS is Standalone for a server that accepts only TLS
// connections, configured by conf.
func (g *Group) StandaloneTLS(ctx context.Context, conf TLS, args ...string) (*Server, error) {
	return g.newServer(ctx, serverSpec{tls: &conf, args: args})
}

// Addr returns the server's address, "127.0.0.1:PORT".
func (s *Server) Addr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// addrs returns the addresses of servers, in their order.
func addrs(servers []*Server) []string {
	out := make([]string, len(servers))
	for i, s := range servers {
		out[i] = s.Addr()
	}
	return out
}

// URL returns the server's address as "redis://127.0.0.1:PORT/0", or
// "rediss://127.0.0.1:PORT/0" when it speaks TLS.
func (s *Server) URL() string {
	if s.tls != nil {
		return "rediss://" + s.Addr() + "/0"
	}
	return "redis://" + s.Addr() + "/0"
}

// Port returns the server's client port.
func (s *Server) Port() int {
	return s.port
}

// PID returns the process ID of the running server, or 0 when it has been
// killed or stopped, or has exited by itself.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.runningLocked() {
		return 0
	}
	return s.cmd.Process.Pid
}

// Running reports whether the server process is alive.
func (s *Server) Running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.runningLocked()
}

// Kill sends SIGKILL to the server and waits until the process has exited.
// It does nothing when the server is not running, so it may be called
// more than once.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

// Stop shuts the server down with SIGTERM and waits until it has exited,
// sending SIGKILL if it takes longer than 10s. It does nothing when the
// server is not running.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		s.cmd = nil
	case <-time.After(stopTimeout):
		s.killLocked()
	}
}

// Restart starts the server again on the same port and with the same data
// directory, stopping it first if it is running, and waits until it
// answers PING. A restarted cluster node keeps its node ID.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.startLocked(t.Context()); err != nil {
		s.killLocked()
		t.Fatalf("redistest: restart %v", err)
	}
}

// LogTail returns the last lines of the server's log file, for failure
// messages.
func (s *Server) LogTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

func (s *Server) runningLocked() bool {
	if s.cmd == nil {
		return false
	}
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// startLocked starts the process and waits until it answers PING.
func (s *Server) startLocked(ctx context.Context) error {
	var argv []string
	if s.conf != "" {
		argv = append(argv, s.conf)
	}
	if s.tls != nil {
		argv = append(argv, "--port", "0", "--tls-port", strconv.Itoa(s.port))
	} else {
		argv = append(argv, "--port", strconv.Itoa(s.port))
	}
	argv = append(argv,
		"--bind", "127.0.0.1",
		"--daemonize", "no",
		"--dir", s.dir,
		"--logfile", filepath.Join(s.dir, "redis.log"),
		"--save", "",
		"--appendonly", "no",
		// Replicas sync at once instead of after the default 5s.
		"--repl-diskless-sync-delay", "0",
		// What a cache deployment runs (and what filecache warms about
		// otherwise, in every test's log); the tests of other policies
		// pass their own.
		"--maxmemory", "256mb",
		"--maxmemory-policy", "allkeys-lru",
	)
	if s.busPort != 0 {
		argv = append(argv,
			"--cluster-enabled", "yes",
			"--cluster-port", strconv.Itoa(s.busPort),
			"--cluster-config-file", filepath.Join(s.dir, "nodes.conf"),
			"--cluster-node-timeout", "2000",
		)
	}
	argv = append(argv, s.args...)

	cmd := exec.Command("redis-server", argv...)
	cmd.Dir = s.dir
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited

	err := testenv.Poll(ctx, startTimeout, func() error {
		select {
		case <-exited:
			return fmt.Errorf("%w: the process exited", testenv.ErrGiveUp)
		default:
		}
		_, err := s.doString(ctx, "PING")
		return err
	})
	if err != nil {
		return fmt.Errorf("redis-server on %s: %w; log:\n%s", s.Addr(), err, s.LogTail())
	}
	return nil
}

// freePorts returns n distinct loopback TCP ports that were free a moment
// ago. They are held open together so they differ from each other; a
// server that then fails to bind one is retried on new ports.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
