package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// worker is one concurrent caller. Its random source is seeded by its
// index, so every row replays the same sequence of keys.
type worker struct {
	id   int
	rng  *rand.Rand
	own  []int // indexes of the keys only this worker touches
	last int   // the key an op's pre chose, for its do
	hist *hdrhistogram.Histogram
	ops  int64
	errs int64
	err  error // the first
}

// key returns the index of a random key of the data set.
func (w *worker) key(n int) int { return w.rng.IntN(n) }

// cur remembers i as the key of the op in progress and returns it.
func (w *worker) cur(i int) int { w.last = i; return i }

// ownKey returns the index of a random key that no other worker uses.
func (w *worker) ownKey() int { return w.own[w.rng.IntN(len(w.own))] }

func newHist() *hdrhistogram.Histogram {
	// 1 ns to 60 s at 2 significant digits: 1% resolution, ~60 KB each.
	return hdrhistogram.New(1, int64(60*time.Second), 2)
}

// measurement is the outcome of one row.
type measurement struct {
	ops       int64
	elapsed   time.Duration
	p50, p99  time.Duration
	allocs    float64 // per op, every goroutine of the process included
	cpu       float64 // µs of the process' CPU per op (user and system), every goroutine included
	cmds      float64 // Redis commands per op, every client of the server included
	errs      int64
	firstErr  error
	histogram *hdrhistogram.Histogram
}

func (m measurement) opsPerSec() float64 {
	if m.elapsed <= 0 {
		return 0
	}
	return float64(m.ops) / m.elapsed.Seconds()
}

// runner drives the workers of the rows; it keeps their histograms between
// rows.
type runner struct {
	conc    int
	keys    int
	workers []*worker
	// commands returns the count of commands the Redis server processed
	// so far, or -1.
	commands func() int64
}

func newRunner(conc, keys int, commands func() int64) *runner {
	r := &runner{conc: conc, keys: keys, commands: commands}
	for i := range conc {
		w := &worker{id: i, hist: newHist()}
		for k := i % keys; k < keys; k += conc {
			w.own = append(w.own, k)
		}
		if len(w.own) == 0 { // more workers than keys: share
			w.own = []int{i % keys}
		}
		r.workers = append(r.workers, w)
	}
	return r
}

// op is one operation of a worker: the timed part returns; setup that must
// not be timed (a DEL before a miss) goes in pre.
type op struct {
	pre func(ctx context.Context, w *worker) error // optional, not timed
	do  func(ctx context.Context, w *worker) error
}

// run warms up for warmup, then measures for d: every worker loops on o,
// timing each call.
func (r *runner) run(ctx context.Context, warmup, d time.Duration, o op) (measurement, error) {
	if warmup > 0 {
		r.loop(ctx, warmup, o, false)
	}
	if err := ctx.Err(); err != nil {
		return measurement{}, err
	}
	for _, w := range r.workers {
		w.ops, w.errs, w.err = 0, 0, nil
		w.hist.Reset()
	}
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	c0 := r.commands()
	cpu0 := processCPU()
	elapsed := r.loop(ctx, d, o, true)
	cpu1 := processCPU()
	c1 := r.commands()
	runtime.ReadMemStats(&m1)
	if err := ctx.Err(); err != nil {
		return measurement{}, err
	}
	m := measurement{elapsed: elapsed, histogram: newHist()}
	for _, w := range r.workers {
		m.ops += w.ops
		m.errs += w.errs
		if m.firstErr == nil {
			m.firstErr = w.err
		}
		m.histogram.Merge(w.hist)
	}
	if m.ops > 0 {
		m.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(m.ops)
		m.cpu = float64(cpu1-cpu0) / float64(time.Microsecond) / float64(m.ops)
		m.cmds = perOp(c0, c1, m.ops)
	}
	m.p50 = time.Duration(m.histogram.ValueAtQuantile(50))
	m.p99 = time.Duration(m.histogram.ValueAtQuantile(99))
	return m, nil
}

// loop runs o on every worker for d and returns the wall time until the
// last worker stopped.
func (r *runner) loop(ctx context.Context, d time.Duration, o op, record bool) time.Duration {
	for _, w := range r.workers {
		w.rng = rand.New(rand.NewPCG(uint64(w.id), 0x5eed))
	}
	var stop atomic.Bool
	done := make(chan struct{})
	timer := time.AfterFunc(d, func() { stop.Store(true) })
	go func() {
		select {
		case <-ctx.Done():
			stop.Store(true)
		case <-done:
		}
	}()
	defer close(done)
	defer timer.Stop()
	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range r.workers {
		wg.Go(func() {
			for !stop.Load() {
				if o.pre != nil {
					if err := o.pre(ctx, w); err != nil {
						w.fail(err)
						continue
					}
				}
				t0 := time.Now()
				err := o.do(ctx, w)
				dt := time.Since(t0)
				if !record {
					continue
				}
				if err != nil {
					w.fail(err)
					continue
				}
				w.ops++
				_ = w.hist.RecordValue(int64(dt))
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

func (w *worker) fail(err error) {
	w.errs++
	if w.err == nil {
		w.err = err
	}
}

// stampede runs rounds of n readers released together on one cold key
// each; before a round, reset makes the key cold. read is one reader's call;
// reader is its index in the round.
func (r *runner) stampede(ctx context.Context, rounds, n int, reset func(ctx context.Context, round int) error,
	read func(ctx context.Context, round, reader int) error) (measurement, error) {
	h := newHist()
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	var total time.Duration
	var cmds int64
	var m measurement
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	var cpu time.Duration
	for round := range rounds {
		if err := reset(ctx, round); err != nil {
			return m, fmt.Errorf("reset: %w", err)
		}
		c0 := r.commands()
		var ready, wg sync.WaitGroup
		start := make(chan struct{})
		var t0 time.Time
		ready.Add(n)
		for i := range n {
			wg.Go(func() {
				ready.Done()
				<-start
				errs[i] = read(ctx, round, i)
				lat[i] = time.Since(t0)
			})
		}
		ready.Wait()
		cpu0 := processCPU()
		t0 = time.Now()
		close(start)
		wg.Wait()
		total += time.Since(t0)
		cpu += processCPU() - cpu0
		if c0 >= 0 {
			cmds += r.commands() - c0
		}
		for i := range n {
			if errs[i] != nil {
				m.errs++
				if m.firstErr == nil {
					m.firstErr = errs[i]
				}
				continue
			}
			m.ops++
			_ = h.RecordValue(int64(lat[i]))
		}
		if err := ctx.Err(); err != nil {
			return m, err
		}
	}
	runtime.ReadMemStats(&m1)
	m.elapsed = total
	m.histogram = h
	if m.ops > 0 {
		m.allocs = float64(m1.Mallocs-m0.Mallocs) / float64(m.ops)
		m.cpu = float64(cpu) / float64(time.Microsecond) / float64(m.ops)
		m.cmds = perOp(0, cmds, m.ops)
	}
	m.p50 = time.Duration(h.ValueAtQuantile(50))
	m.p99 = time.Duration(h.ValueAtQuantile(99))
	return m, nil
}

// perOp divides the commands counted between c0 and c1 by ops, or returns
// -1 if they could not be counted.
func perOp(c0, c1, ops int64) float64 {
	if c0 < 0 || c1 < 0 || ops == 0 {
		return -1
	}
	// The two INFO calls that read the counter are not the workload's.
	return float64(max(c1-c0-1, 0)) / float64(ops)
}

// processCPU returns the CPU time (user and system) the process has used,
// or 0 if the system does not tell.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
