package cache

import "time"

// workerIdle is how long a worker goroutine waits for its next function
// before it exits.
const workerIdle = 2 * time.Second

// workers runs the cache's background functions (flights, refreshes,
// near-cache fills) on goroutines it keeps while they are busy: one that
// has run a flight has the stack the next one needs, where a new goroutine
// grows and copies its stack on every miss (JSON encoding alone takes it to
// tens of kilobytes). BenchmarkFetchMiss (cache/redisstore): 58 → 33 µs of
// CPU per miss. A worker idle for workerIdle exits, so nothing outlives its
// use and a Cache needs no Close.
type workers struct {
	idle chan func() // unbuffered: a send succeeds only when a worker waits
}

func newWorkers() workers { return workers{idle: make(chan func())} }

// run calls f on an idle worker, or on a new one. f must not panic.
func (w *workers) run(f func()) {
	select {
	case w.idle <- f:
	default:
		go w.work(f)
	}
}

func (w *workers) work(f func()) {
	t := time.NewTimer(workerIdle)
	defer t.Stop()
	for {
		f()
		f = nil // what it holds (values, contexts) is not kept while idle
		t.Reset(workerIdle)
		select {
		case f = <-w.idle:
		case <-t.C:
			return
		}
	}
}
