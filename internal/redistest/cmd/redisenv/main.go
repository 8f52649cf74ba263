// Command redisenv starts the private Redis deployments the tests use and
// prints their TEST_* variables; scripts/test.sh runs it. It is the
// command-line face of the Go harness internal/redistest, so the tests and
// the script start servers the same way.
//
// Run "redisenv -help" for the flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"golang.org/x/sync/errgroup"
	"golang.org/x/term"
)

const usage = `Usage: redisenv [flags]

Starts private redis-server deployments on free 127.0.0.1 ports, all at
once, without persistence, and prints one KEY=VALUE line per test variable
on standard output, which it then closes. It keeps them running until it
gets SIGTERM or SIGINT or its standard input (a pipe or a terminal) is
closed, then kills every process it started, by PID, and exits 0. If a
deployment fails to start it stops what it started and exits 1.

Flags:
  -standalone    a redis-server                  TEST_REDIS_URL
  -cluster       3 masters + 3 replicas          TEST_REDIS_CLUSTER_NODES
  -sentinel      master, replica, 3 sentinels    TEST_REDIS_SENTINEL_ADDRS
                                                 TEST_REDIS_SENTINEL_MASTER
  -tls           TLS, server verified only       TEST_REDIS_TLS_URL
  -mtls          TLS with client certificates    TEST_REDIS_MTLS_URL
  -tls-cluster   TLS Cluster of 3 masters        TEST_REDIS_TLS_CLUSTER_NODES
  -tls-dir DIR   the PEM files of the TLS servers: ca.crt, server.crt,
                 server.key, client.crt, client.key (scripts/test.sh makes
                 them with openssl); a TLS flag also prints
                 TEST_REDIS_TLS_CA_FILE, TEST_REDIS_TLS_CERT_FILE and
                 TEST_REDIS_TLS_KEY_FILE (the client's pair)
  -dir DIR       where the servers keep their logs (default: a temporary
                 directory, removed at exit)

Progress goes to standard error when it is a terminal.

Examples:
  # A standalone server and a Cluster; Ctrl-C stops them.
  go run ./internal/redistest/cmd/redisenv -standalone -cluster

  # From a script: read the variables up to the end of the output, run
  # the tests, stop the servers. (Build first: a "go run" would keep the
  # output open.)
  go build -o /tmp/redisenv ./internal/redistest/cmd/redisenv
  coproc REDISENV { exec /tmp/redisenv -standalone; }
  while read -r line <&"${REDISENV[0]}"; do export "$line"; done
  go test ./cache/redisstore/
  kill "$REDISENV_PID"; wait "$REDISENV_PID"
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var stdin io.Reader
	if watchable(os.Stdin) {
		stdin = os.Stdin
	}
	if err := run(ctx, os.Args[1:], stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "redisenv:", err)
		stop()
		os.Exit(1)
	}
}

// watchable reports whether the end of f means that the parent is done
// with us: a pipe or a terminal, not /dev/null or a file.
func watchable(f *os.File) bool {
	st, err := f.Stat()
	if err != nil {
		return false
	}
	return st.Mode()&os.ModeNamedPipe != 0 || term.IsTerminal(int(f.Fd()))
}

// deployment is one thing redisenv can start.
type deployment struct {
	flag  string
	tls   bool // needs -tls-dir
	start func(ctx context.Context, g *redistest.Group, tls redistest.TLSFiles) ([]string, error)
}

var deployments = []deployment{
	{flag: "standalone", start: func(ctx context.Context, g *redistest.Group, _ redistest.TLSFiles) ([]string, error) {
		s, err := g.Standalone(ctx)
		if err != nil {
			return nil, err
		}
		return []string{redistest.EnvRedisURL + "=" + s.URL()}, nil
	}},
	{flag: "cluster", start: func(ctx context.Context, g *redistest.Group, _ redistest.TLSFiles) ([]string, error) {
		c, err := g.Cluster(ctx, redistest.ClusterOptions{})
		if err != nil {
			return nil, err
		}
		return []string{redistest.EnvRedisClusterNodes + "=" + strings.Join(c.Addrs(), ",")}, nil
	}},
	{flag: "sentinel", start: func(ctx context.Context, g *redistest.Group, _ redistest.TLSFiles) ([]string, error) {
		s, err := g.Sentinel(ctx)
		if err != nil {
			return nil, err
		}
		return []string{
			redistest.EnvRedisSentinelAddrs + "=" + strings.Join(s.Addrs(), ","),
			redistest.EnvRedisSentinelMaster + "=" + s.MasterName(),
		}, nil
	}},
	{flag: "tls", tls: true, start: func(ctx context.Context, g *redistest.Group, files redistest.TLSFiles) ([]string, error) {
		s, err := g.StandaloneTLS(ctx, redistest.TLS{Files: files})
		if err != nil {
			return nil, err
		}
		return []string{redistest.EnvRedisTLSURL + "=" + s.URL()}, nil
	}},
	{flag: "mtls", tls: true, start: func(ctx context.Context, g *redistest.Group, files redistest.TLSFiles) ([]string, error) {
		s, err := g.StandaloneTLS(ctx, redistest.TLS{Files: files, AuthClients: true})
		if err != nil {
			return nil, err
		}
		return []string{redistest.EnvRedisMTLSURL + "=" + s.URL()}, nil
	}},
	{flag: "tls-cluster", tls: true, start: func(ctx context.Context, g *redistest.Group, files redistest.TLSFiles) ([]string, error) {
		c, err := g.Cluster(ctx, redistest.ClusterOptions{NoReplicas: true, TLS: &redistest.TLS{Files: files}})
		if err != nil {
			return nil, err
		}
		return []string{redistest.EnvRedisTLSClusterNodes + "=" + strings.Join(c.Addrs(), ",")}, nil
	}},
}

// run starts what args ask for, writes the variables to stdout and closes
// it, and waits until ctx is done or stdin (unless nil) reaches its end;
// then it stops everything.
func run(ctx context.Context, args []string, stdin io.Reader, stdout io.WriteCloser, stderr io.Writer) error {
	fs := flag.NewFlagSet("redisenv", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	wanted := make(map[string]*bool, len(deployments))
	for _, d := range deployments {
		wanted[d.flag] = fs.Bool(d.flag, false, "")
	}
	tlsDir := fs.String("tls-dir", "", "")
	dir := fs.String("dir", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err = io.WriteString(stdout, usage)
			return err
		}
		return fmt.Errorf("%w\n\n%s", err, usage)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q; see -help", fs.Arg(0))
	}
	var todo []deployment
	for _, d := range deployments {
		if !*wanted[d.flag] {
			continue
		}
		if d.tls && *tlsDir == "" {
			return fmt.Errorf("-%s needs -tls-dir", d.flag)
		}
		todo = append(todo, d)
	}
	if len(todo) == 0 {
		return errors.New("nothing to start; see -help")
	}
	files := redistest.TLSFilesIn(*tlsDir)

	if *dir == "" {
		tmp, err := os.MkdirTemp("", "redisenv-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	}
	g := redistest.NewGroup(*dir)
	defer g.Close()

	progress := io.Discard
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		progress = stderr
	}
	lines := make([][]string, len(todo))
	eg, egCtx := errgroup.WithContext(ctx)
	for i, d := range todo {
		eg.Go(func() error {
			start := time.Now()
			l, err := d.start(egCtx, g, files)
			if err != nil {
				return fmt.Errorf("-%s: %w", d.flag, err)
			}
			fmt.Fprintf(progress, "redisenv: -%s ready in %v\n", d.flag, time.Since(start).Round(time.Millisecond))
			lines[i] = l
			return nil
		})
	}
	if err := eg.Wait(); err != nil {
		return err
	}

	var out strings.Builder
	for _, l := range lines {
		for _, kv := range l {
			out.WriteString(kv + "\n")
		}
	}
	if anyTLS(todo) {
		for _, kv := range [][2]string{
			{redistest.EnvRedisTLSCAFile, files.CAFile},
			{redistest.EnvRedisTLSCertFile, files.ClientCertFile},
			{redistest.EnvRedisTLSKeyFile, files.ClientKeyFile},
		} {
			out.WriteString(kv[0] + "=" + kv[1] + "\n")
		}
	}
	if _, err := io.WriteString(stdout, out.String()); err != nil {
		return err
	}
	if err := stdout.Close(); err != nil {
		return err
	}
	fmt.Fprintln(progress, "redisenv: running; stop with Ctrl-C, SIGTERM or the end of standard input")

	if stdin != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			_, _ = io.Copy(io.Discard, stdin)
			cancel()
		}()
	}
	<-ctx.Done()
	fmt.Fprintln(progress, "redisenv: stopping")
	return nil
}

func anyTLS(ds []deployment) bool {
	for _, d := range ds {
		if d.tls {
			return true
		}
	}
	return false
}
