package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/rueidis"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

// database is one source of truth the scenarios load from.
type database struct {
	name string // "sqlite" or "postgres"
	repo *sqlstore.Store
}

// env is what every row shares: the Redis server, an admin client for
// seeding and deletes, the databases, and the data set.
type env struct {
	cfg    config
	addr   string         // Redis host:port
	admin  rueidis.Client // seeding, DEL before a miss, cleanup
	prefix string         // before every key of this run
	ids    []string
	values []files.FileMetadata // as seeded; ids[i] holds values[i]
	dbs    []database           // sqlite first, then postgres if asked
	meta   meta

	cleanups []func(log io.Writer) // in reverse order
}

func (e *env) onClose(f func(log io.Writer)) { e.cleanups = append(e.cleanups, f) }

// close deletes the run's keys and stops what setup started.
func (e *env) close(log io.Writer) {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i](log)
	}
}

// setup prepares Redis and the databases and seeds the rows. On error it
// releases what it made.
func setup(ctx context.Context, cfg config, log io.Writer) (_ *env, err error) {
	e := &env{cfg: cfg, prefix: fmt.Sprintf("cachebench:%d:", os.Getpid())}
	defer func() {
		if err != nil {
			e.close(log)
		}
	}()
	e.addr = cfg.redis
	if cfg.startRedis {
		if e.addr, err = e.startRedis(ctx, log); err != nil {
			return nil, err
		}
	} else if err := loopback(e.addr); err != nil {
		return nil, err
	}
	e.admin, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{e.addr}, DisableCache: true})
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", e.addr, err)
	}
	e.onClose(func(log io.Writer) {
		if n, err := e.deletePrefix(context.Background()); err != nil {
			fmt.Fprintf(log, "cachebench: delete keys %s*: %v\n", e.prefix, err)
		} else if !cfg.startRedis {
			fmt.Fprintf(log, "cachebench: deleted %d keys %s*\n", n, e.prefix)
		}
		e.admin.Close()
	})
	e.meta = newMeta(ctx, cfg, e.admin)

	e.ids, e.values = dataset(cfg.keys)
	dir, err := os.MkdirTemp("", "cachebench-")
	if err != nil {
		return nil, err
	}
	e.onClose(func(io.Writer) { os.RemoveAll(dir) })
	if err := e.openDB(ctx, "sqlite", "sqlite:"+filepath.Join(dir, "bench.db")); err != nil {
		return nil, err
	}
	if cfg.postgres != "" {
		dsn, err := e.pgSchema(ctx, cfg.postgres, log)
		if err != nil {
			return nil, err
		}
		if err := e.openDB(ctx, "postgres", dsn); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// loopback refuses a Redis address that is not on this machine: the
// benchmark sends a lot of traffic.
func loopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--redis %q: want host:port", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("--redis %q: only loopback addresses are benchmarked", addr)
	}
	return nil
}

// startRedis starts a private redis-server on a free loopback port, with no
// persistence, and registers its stop (by PID).
func (e *env) startRedis(ctx context.Context, log io.Writer) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", errors.New("--start-redis: redis-server not found in PATH (apt-get install redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "cachebench-redis-")
	if err != nil {
		return "", err
	}
	pidfile := filepath.Join(dir, "redis.pid")
	out, err := exec.CommandContext(ctx, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "yes", "--pidfile", pidfile,
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log")).CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("start redis-server: %v: %s", err, out)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var pid int
	deadline := time.Now().Add(5 * time.Second)
	for pid == 0 && time.Now().Before(deadline) {
		if b, err := os.ReadFile(pidfile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if pid == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.onClose(func(log io.Writer) {
		if pid > 0 {
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				fmt.Fprintf(log, "cachebench: stop redis-server (pid %d): %v\n", pid, err)
			}
			for range 100 { // wait up to 2s for it to exit
				if syscall.Kill(pid, 0) != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		os.RemoveAll(dir)
	})
	if pid == 0 {
		return "", fmt.Errorf("redis-server on %s wrote no pid file", addr)
	}
	fmt.Fprintf(log, "cachebench: started redis-server on %s (pid %d)\n", addr, pid)
	return addr, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// pgSchema creates a fresh schema for the run in the database of rawURL,
// registers its drop, and returns a DSN whose search_path is that schema.
func (e *env) pgSchema(ctx context.Context, rawURL string, log io.Writer) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", errors.New("--postgres: want a postgres:// URL")
	}
	conn, err := pgx.Connect(ctx, rawURL)
	if err != nil {
		return "", fmt.Errorf("--postgres: %w", err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("cachebench_%d_%d", os.Getpid(), time.Now().Unix())
	ident := pgx.Identifier{schema}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+ident); err != nil {
		return "", fmt.Errorf("--postgres: create schema: %w", err)
	}
	e.onClose(func(log io.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, rawURL)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP SCHEMA "+ident+" CASCADE")
			conn.Close(ctx)
		}
		if err != nil {
			fmt.Fprintf(log, "cachebench: drop schema %s: %v\n", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// openDB opens a repository, seeds the data set into it in one
// transaction, and registers its close.
func (e *env) openDB(ctx context.Context, name, dsn string) error {
	repo, err := sqlstore.Open(ctx, dsn, sqlstore.Options{})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	e.onClose(func(io.Writer) { repo.Close() })
	err = repo.WithTx(ctx, func(tx files.Tx) error {
		for i, v := range e.values {
			nf := files.NewFile{Name: v.Name, Size: v.Size, ContentType: v.ContentType, Checksum: v.Checksum, Tags: v.Tags}
			f, err := tx.CreateFile(ctx, nf, v.ID, v.UploaderIP, v.CreatedAt)
			if err != nil {
				return err
			}
			e.values[i] = f // as the database returns it
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: seed: %w", name, err)
	}
	e.dbs = append(e.dbs, database{name: name, repo: repo})
	return nil
}

// dataset returns n deterministic files shaped like the service's (about
// 300 bytes of JSON each) and their ids.
func dataset(n int) ([]string, []files.FileMetadata) {
	ids := make([]string, n)
	vals := make([]files.FileMetadata, n)
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range n {
		ids[i] = fmt.Sprintf("0190a3c4-7d2e-7c4b-9a2f-%012d", i)
		vals[i] = files.FileMetadata{
			ID:          ids[i],
			Name:        fmt.Sprintf("quarterly-report-%04d.pdf", i),
			Size:        int64(1<<20 + i*4096),
			ContentType: "application/pdf",
			Checksum:    "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
			Tags:        []string{"docs", "finance", "q3"},
			UploaderIP:  "203.0.113.7",
			Version:     1,
			CreatedAt:   at.Add(time.Duration(i) * time.Second),
			UpdatedAt:   at.Add(time.Duration(i) * time.Second),
		}
	}
	return ids, vals
}

// deletePrefix unlinks every key of the run.
func (e *env) deletePrefix(ctx context.Context) (int, error) {
	total := 0
	var cursor uint64
	for {
		res, err := e.admin.Do(ctx, e.admin.B().Scan().Cursor(cursor).Match(e.prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return total, err
		}
		if len(res.Elements) > 0 {
			n, err := e.admin.Do(ctx, e.admin.B().Unlink().Key(res.Elements...).Build()).AsInt64()
			if err != nil {
				return total, err
			}
			total += int(n)
		}
		if cursor = res.Cursor; cursor == 0 {
			return total, nil
		}
	}
}

// redisCommands returns the server's total_commands_processed, or -1.
func (e *env) redisCommands(ctx context.Context) int64 {
	info, err := e.admin.Do(ctx, e.admin.B().Info().Section("stats").Build()).ToString()
	if err != nil {
		return -1
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				return n
			}
		}
	}
	return -1
}
