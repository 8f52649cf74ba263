package catalog

import (
	"sync"
	"sync/atomic"
)

// inflight holds the keys of this process's writes that are committed and
// not yet invalidated. A read of one goes to the database: it must not
// answer the committed version (from the database, on a miss or while
// reads are suspended) and then the old one (from the near cache or
// Redis, until the invalidation reaches them) to the same reader.
// fccheck's proxy-cut saw that once: a reader on b got v38, then v37 as a
// near hit, both before b's write of v38 was acknowledged.
type inflight struct {
	n  atomic.Int32 // writes in flight, so that reads skip the map when none
	mu sync.Mutex
	m  map[string]int
}

// add marks keys as written; done unmarks them.
func (w *inflight) add(keys []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = make(map[string]int)
	}
	for _, k := range keys {
		w.m[k]++
	}
	w.n.Add(1)
}

func (w *inflight) done(keys []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		if w.m[k] <= 1 {
			delete(w.m, k)
		} else {
			w.m[k]--
		}
	}
	w.n.Add(-1)
}

// has reports whether key is being written; key is made only when some
// write is in flight.
func (w *inflight) has(key func() string) bool {
	if w.n.Load() == 0 {
		return false
	}
	k := key()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.m[k] > 0
}
