package audit

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/redis/rueidis"
)

// maxScansPerSample bounds the SCAN calls one sample may make to find a
// key of an audited family, so that a keyspace of other keys (sessions,
// another service's) costs a bounded amount of Redis work per sample.
const maxScansPerSample = 8

// walker walks the cache's keys with SCAN, one master after another, and
// hands them out one at a time: at the auditor's rate every key of an
// audited family is sampled once per walk. It is used by Run's goroutine
// only.
type walker struct {
	masters Masters
	pattern string
	count   int64
	keep    func(key string) bool // an audited key
	walks   *atomic.Uint64        // complete walks: every key checked

	nodes  map[string]rueidis.Client // nil: start a walk
	addrs  []string                  // sorted
	i      int                       // the master being scanned
	cursor uint64
	found  bool     // the current walk found a key
	ended  bool     // the SCAN of a walk ended; its keys may be in buf
	buf    []string // keys found, not sampled yet
}

// next returns the next key to sample, or "" when none was found within
// maxScansPerSample SCANs or a whole walk (an empty cache).
func (w *walker) next(ctx context.Context) (string, error) {
	for scans := 0; len(w.buf) == 0; scans++ {
		if scans == maxScansPerSample {
			return "", nil
		}
		wrapped, err := w.scan(ctx)
		if err != nil {
			return "", err
		}
		if wrapped && !w.found && len(w.buf) == 0 {
			return "", nil
		}
	}
	k := w.buf[0]
	w.buf = w.buf[1:]
	return k, nil
}

// scan runs one SCAN on the current master and keeps the audited keys it
// returns. wrapped reports that it ended a walk.
func (w *walker) scan(ctx context.Context) (wrapped bool, err error) {
	if w.ended {
		// scan runs only once buf is empty and the sample before it
		// ended: every key of the last walk has been checked.
		w.walks.Add(1)
		w.ended = false
	}
	if w.nodes == nil {
		if w.nodes, err = w.masters.Masters(ctx); err != nil {
			w.nodes = nil
			return false, err
		}
		if len(w.nodes) == 0 {
			w.nodes = nil
			return false, errors.New("audit: no Redis master to scan")
		}
		w.addrs = slices.Sorted(maps.Keys(w.nodes))
		w.i, w.cursor, w.found = 0, 0, false
	}
	node := w.nodes[w.addrs[w.i]]
	e, err := node.Do(ctx, node.B().Scan().Cursor(w.cursor).Match(w.pattern).Count(w.count).Build()).AsScanEntry()
	if err != nil {
		w.nodes = nil // the topology may have changed: start over
		return false, err
	}
	for _, k := range e.Elements {
		if w.keep(k) {
			w.buf = append(w.buf, k)
			w.found = true
		}
	}
	w.cursor = e.Cursor
	if w.cursor != 0 {
		return false, nil
	}
	w.i++
	w.cursor = 0
	if w.i < len(w.addrs) {
		return false, nil
	}
	// A walk's SCAN ends: the next one asks for the masters again (a
	// failover may have moved them).
	w.ended = true
	w.nodes = nil
	return true, nil
}
