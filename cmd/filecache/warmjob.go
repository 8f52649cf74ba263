package main

import (
	"context"
	"sync"
	"time"

	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/httpapi"
)

// warmWait is how long POST /admin/cache/warm waits for its warming: a
// longer one answers 202 with the progress so far and goes on.
const warmWait = 10 * time.Second

// warmJobs runs the warmings of POST /admin/cache/warm in the background
// of the app, one at a time: neither the request's deadline nor a client
// that goes away stops one; closing the app does.
type warmJobs struct {
	wait   time.Duration   // how long run waits for its warming: warmWait (under mu)
	life   context.Context // ends when the app closes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	cur    *warmJob // the running warming, nil if none
}

func newWarmJobs() *warmJobs {
	life, cancel := context.WithCancel(context.Background())
	return &warmJobs{wait: warmWait, life: life, cancel: cancel}
}

// close stops the running warming, if any, and waits for it.
func (w *warmJobs) close() {
	w.cancel()
	w.wg.Wait()
}

// warmJob is one warming: its progress, then its outcome.
type warmJob struct {
	done chan struct{} // closed when it ended
	mu   sync.Mutex
	res  catalog.WarmResult // so far, then the outcome
	err  error
}

func (j *warmJob) result() (catalog.WarmResult, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.res, j.err
}

// run starts a warming of c with opts unless one is running
// (httpapi.ErrWarmRunning), and waits for it until w.wait or the end of
// ctx; the result says whether it goes on.
func (w *warmJobs) run(ctx context.Context, c *catalog.Catalog, opts catalog.WarmOptions) (httpapi.WarmResult, error) {
	w.mu.Lock()
	if w.cur != nil {
		w.mu.Unlock()
		return httpapi.WarmResult{}, httpapi.ErrWarmRunning
	}
	j := &warmJob{done: make(chan struct{})}
	w.cur = j
	w.wg.Add(1)
	wait := w.wait
	w.mu.Unlock()

	opts.Progress = func(done catalog.WarmResult, _ int) {
		j.mu.Lock()
		j.res = done
		j.mu.Unlock()
	}
	go func() {
		defer w.wg.Done()
		res, err := c.Warm(w.life, opts)
		j.mu.Lock()
		j.res, j.err = res, err
		j.mu.Unlock()
		w.mu.Lock()
		w.cur = nil
		w.mu.Unlock()
		close(j.done)
	}()

	t := time.NewTimer(wait)
	defer t.Stop()
	running := true
	select {
	case <-j.done:
		running = false
	case <-t.C:
	case <-ctx.Done():
	}
	res, err := j.result()
	return httpapi.WarmResult{Files: res.Files, Loaded: res.Loaded, Cached: res.Cached, Duration: res.Duration, Running: running}, err
}
