package consistency

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/jackc/pgx/v5/pgxpool"
)

// instanceNames names the two instances of a run.
var instanceNames = []string{"a", "b"}

// Run starts two filecache instances on a fresh PostgreSQL schema (from
// TEST_DATABASE_URL, through internal/sqltest) and a private Redis, creates
// the files, runs the load with fault f, waits for the instances to settle,
// and checks the history. Everything it starts is stopped in tb's
// cleanups. It returns an error when the run could not be made; a run
// that broke a guarantee is a Result whose Report is not OK.
func Run(tb testing.TB, f Fault, opts Options) (*Result, error) {
	tb.Helper()
	opts = opts.withDefaults()
	if opts.Binary == "" {
		return nil, errors.New("consistency: Options.Binary is required")
	}
	began := time.Now()
	ctx := tb.Context()
	dsn := sqltest.PostgresDSN(tb)
	d, redisEnv, err := deploy(tb, f)
	if err != nil {
		return nil, err
	}
	logs := tb.TempDir()
	prefix := fmt.Sprintf("fccheck%08x:", rand.Uint32())
	var instances []*instance
	for i, name := range instanceNames {
		env := []string{"DATABASE_URL=" + dsn, "CACHE_PREFIX=" + prefix, "RATE_LIMIT_PER_MINUTE=0", redisEnv[i]}
		in, err := startInstance(ctx, name, opts.Binary, filepath.Join(logs, name+".log"), env)
		if err != nil {
			return nil, err
		}
		tb.Cleanup(func() {
			if err := in.stop(); err != nil {
				tb.Errorf("%v; log:\n%s", err, tail(filepath.Join(logs, name+".log")))
			}
		})
		instances = append(instances, in)
	}
	db, err := pgxpool.New(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	defer db.Close()

	c := newClient(time.Now())
	l := &load{c: c, instances: instances, db: db, opts: opts}
	// An instance that could not reach Redis at once (a busy machine)
	// starts with its breaker open and reconnects in the background: the
	// load starts once both admit cache reads, as the faults' cycles do.
	if l.awaitRecovered(ctx, 30*time.Second) < 0 {
		return nil, errors.New("the instances did not report a closed breaker and admitted cache reads within 30s of starting")
	}
	if err := l.setUp(ctx); err != nil {
		return nil, err
	}

	// The load, with the fault injected on this goroutine.
	res := &Result{Fault: f}
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadStart := time.Now()
	workers := l.run(loadCtx)
	var phase atomic.Value // of the progress reports
	phase.Store("load")
	report := func() {
		if opts.Progress != nil {
			opts.Progress(Progress{Phase: phase.Load().(string), Elapsed: time.Since(loadStart), Duration: opts.Duration,
				Reads: l.reads.Load(), Writes: l.writes.Load()})
		}
	}
	stopProgress := every(200*time.Millisecond, report)
	defer stopProgress()
	sleep(ctx, opts.Duration*3/10)
	if err := res.inject(ctx, d, l, loadStart.Add(opts.Duration*7/10), &phase); err != nil {
		return nil, err
	}
	// The load goes on for at least 40% of its duration after the fault.
	sleep(ctx, max(time.Until(loadStart.Add(opts.Duration)), opts.Duration*4/10))
	res.LoadAvg = loadAvg()
	stopLoad()
	workers.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	phase.Store("settle")
	loadEnd := c.since()
	if err := l.settle(ctx, opts.Settle); err != nil {
		return nil, err
	}
	l.history.Settle = c.since() - loadEnd
	stopProgress()
	res.Report = Check(l.history, CheckOptions{StaleAfter: opts.StaleAfter})

	res.Elapsed = time.Since(began)
	return res, nil
}

// deploy starts the Redis of fault f and returns the REDIS_* setting of
// each instance.
func deploy(tb testing.TB, f Fault) (*deployment, []string, error) {
	tb.Helper()
	d := &deployment{tb: tb}
	if f.cluster {
		d.cluster = redistest.Cluster(tb)
		nodes := "REDIS_CLUSTER_NODES=" + strings.Join(d.cluster.Addrs(), ",")
		return d, []string{nodes, nodes}, nil
	}
	d.dataDir = tb.TempDir()
	// Later arguments win: persistence on, in a directory the fault can
	// empty.
	d.redis = redistest.Standalone(tb, "--appendonly", "yes", "--appendfsync", "everysec", "--dir", d.dataDir)
	var env []string
	for range instanceNames {
		p, err := NewProxy(d.redis.Addr())
		if err != nil {
			return nil, nil, err
		}
		tb.Cleanup(func() { _ = p.Close() })
		d.proxies = append(d.proxies, p)
		env = append(env, "REDIS_URL=redis://"+p.Addr()+"/0")
	}
	return d, env, nil
}

// setUp creates the files, alternating between the instances, and reads
// each back at once on every instance, so that the caches hold them and
// the creation's visibility is measured like any write's.
func (l *load) setUp(ctx context.Context) error {
	for i := range l.opts.Files {
		w, err := l.createRetrying(ctx, l.instances[i%len(l.instances)], fmt.Sprintf("setup-%d-v1", i))
		if err != nil {
			return err
		}
		l.files = append(l.files, w.File)
		l.history.Writes = append(l.history.Writes, w)
		for _, in := range l.instances {
			r, _ := l.c.get(ctx, in, "warm@"+in.name, w.File)
			l.history.Reads = append(l.history.Reads, r)
		}
	}
	return nil
}

// setUpRetry bounds how long setUp retries a create answered 503: on a busy
// machine a commit can outlast DB_TIMEOUT. The load itself never retries.
const setUpRetry = 30 * time.Second

// createRetrying is create, retried while the instance answers 503 (a file
// whose commit timed out may exist all the same: it is not one of the
// load's files, which the checks are about).
func (l *load) createRetrying(ctx context.Context, in *instance, name string) (Write, error) {
	deadline := time.Now().Add(setUpRetry)
	for {
		w, err := l.c.create(ctx, in, name)
		if !errors.Is(err, errUnavailable) || time.Now().After(deadline) {
			return w, err
		}
		select {
		case <-ctx.Done():
			return w, err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// dbSettle bounds the retries of settle's database read.
const dbSettle = time.Minute

// settle reads every file on every instance until all answer what the
// database holds, or until timeout; the last round is the history's Final.
func (l *load) settle(ctx context.Context, timeout time.Duration) error {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		values, err := dbValues(ctx, l.db, l.files)
		if err != nil {
			// The database's answer is the reference, not what is
			// checked: a read slower than its deadline on a starved
			// machine (a CI run under two busy loops once saw two in a
			// row past 5 s) is tried again for dbSettle, beyond the
			// settling's own bound.
			if time.Since(start) > max(timeout, dbSettle) || ctx.Err() != nil {
				return fmt.Errorf("%w (settling for %v)", err, time.Since(start).Round(time.Millisecond))
			}
			sleep(ctx, 100*time.Millisecond)
			continue
		}
		var final []Read
		same := true
		for _, in := range l.instances {
			for _, f := range l.files {
				r, _ := l.c.get(ctx, in, "final@"+in.name, f)
				final = append(final, r)
				same = same && r.Status == 200 && r.Value == values[f]
			}
		}
		if same || time.Now().After(deadline) || ctx.Err() != nil {
			l.history.Final, l.history.Database = final, values
			return ctx.Err()
		}
		sleep(ctx, 100*time.Millisecond)
	}
}

// every calls f every d until the returned stop is called; stop may be
// called more than once.
func every(d time.Duration, f func()) (stop func()) {
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				f()
			case <-done:
				return
			}
		}
	}()
	var closed bool
	return func() {
		if !closed {
			closed = true
			close(done)
			<-stopped
		}
	}
}

// loadAvg returns the 1-, 5- and 15-minute load averages, or "".
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}
