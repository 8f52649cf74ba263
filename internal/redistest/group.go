package redistest

import (
	"context"
	"errors"
	"os"
	"slices"
	"sync"
	"testing"
)

// A Group starts redis-server processes and owns them: Close kills every
// process it started, by its PID, and nothing else. Each server keeps its
// data directory and log in a directory of its own below the Group's. The
// test functions (Standalone, Cluster, Sentinel, ...) use a Group per call
// that t.Cleanup closes; cmd/redisenv uses one for everything it starts.
//
// A Group is safe for concurrent use: a Cluster and a Sentinel may start
// at the same time.
type Group struct {
	dir string

	mu      sync.Mutex
	servers []*Server
	closed  bool
}

// NewGroup returns a Group that keeps its servers' directories below dir,
// which must exist.
func NewGroup(dir string) *Group {
	return &Group{dir: dir}
}

// Close kills every server of the group and waits until each has exited.
// Servers started after Close are killed at once. Close may be called more
// than once.
func (g *Group) Close() {
	g.mu.Lock()
	servers := g.servers
	g.servers, g.closed = nil, true
	g.mu.Unlock()
	for _, s := range servers {
		s.Kill()
	}
}

// newServer starts a server of the group on fresh ports, retrying on new
// ports when the process exits during startup, typically because another
// process took a port in between.
func (g *Group) newServer(ctx context.Context, spec serverSpec) (*Server, error) {
	var errs []error
	for range startAttempts {
		s, err := g.tryServer(ctx, spec)
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func (g *Group) tryServer(ctx context.Context, spec serverSpec) (*Server, error) {
	n := 1
	if spec.cluster {
		n = 2
	}
	ports, err := freePorts(n)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(g.dir, "redis-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, port: ports[0], args: slices.Clone(spec.args)}
	if spec.cluster {
		s.busPort = ports[1]
	}
	if spec.tls != nil {
		if s.tls, err = spec.tls.clientConfig(); err != nil {
			return nil, err
		}
		s.args = append(spec.tls.serverArgs(spec.cluster), s.args...)
	}
	if spec.writeConf != nil {
		if s.conf, err = spec.writeConf(s.dir, s.port); err != nil {
			return nil, err
		}
	}
	if spec.sentinel {
		s.args = append(s.args, "--sentinel")
	}
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil, errors.New("redistest: group closed")
	}
	g.servers = append(g.servers, s)
	g.mu.Unlock()

	s.mu.Lock()
	err = s.startLocked(ctx)
	s.mu.Unlock()
	if err != nil {
		s.Kill()
		return nil, err
	}
	return s, nil
}

// testGroup returns a Group in t.TempDir() that t.Cleanup closes, after it
// checked that the binaries are installed.
func testGroup(t testing.TB) *Group {
	t.Helper()
	RequireBinaries(t)
	g := NewGroup(t.TempDir())
	t.Cleanup(g.Close)
	return g
}

// must fails t with err, naming what was started.
func must[T any](t testing.TB, v T, err error, what string) T {
	t.Helper()
	if err != nil {
		t.Fatalf("redistest: start %s: %v", what, err)
	}
	return v
}
