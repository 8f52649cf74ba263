package audit

import (
	"container/heap"
	"context"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
)

// maxKeysFollowed bounds the keys of one write that are followed.
const maxKeysFollowed = 4

// Backoff of the subscription to invalidation events after it fails.
const (
	listenBackoff    = time.Second
	listenMaxBackoff = 30 * time.Second
)

// followUp is one check due at a time after a write.
type followUp struct {
	due     time.Time
	written time.Time // when the write's event arrived
	key     string
	step    int // index in Options.FollowUps
}

// listen follows writes: it subscribes to the invalidation events of every
// instance and, for a sample of the writes (the admit budget), queues
// checks of their keys at each delay of Options.FollowUps. It
// resubscribes after a failure until ctx ends.
func (a *Auditor) listen(ctx context.Context) {
	wait := listenBackoff
	for ctx.Err() == nil {
		start := a.now()
		err := a.cache.Events(ctx, func(ev cache.Event) { a.follow(ev) })
		if ctx.Err() != nil {
			return
		}
		if a.now().Sub(start) > listenMaxBackoff {
			wait = listenBackoff // it ran for a while: a new failure
		}
		a.opts.Logger.Debug("audit: invalidation events unavailable; retrying", "err", err, "in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, listenMaxBackoff)
	}
}

// follow queues the follow-ups of a write's event, if it is sampled.
func (a *Auditor) follow(ev cache.Event) {
	if ev.Reason != "write" && ev.Reason != "relay" {
		return // repairs, admin deletes: not writes of the data
	}
	var keys []string
	for _, k := range ev.Keys {
		if f, _ := a.familyOf(k); f != nil && len(keys) < maxKeysFollowed {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 || !a.admit.Allow() {
		return
	}
	now := a.now()
	items := make([]followUp, 0, len(keys)*len(a.opts.FollowUps))
	for _, k := range keys {
		for i, d := range a.opts.FollowUps {
			items = append(items, followUp{due: now.Add(d), written: now, key: k, step: i})
		}
	}
	if !a.queue.push(items) {
		a.stats.skip(SkipQueueFull)
	}
}

// followUp runs one follow-up check.
func (a *Auditor) followUp(ctx context.Context, fu followUp) {
	f, id := a.familyOf(fu.key)
	r, _, _ := a.check(ctx, f, fu.key, id, a.limit, fu.written)
	if ctx.Err() == nil || r != Failed {
		a.stats.follow[fu.step].results[r].Add(1)
	}
}

// followQueue holds the follow-ups by due time, at most max of them. It is
// safe for concurrent use.
type followQueue struct {
	mu    sync.Mutex
	max   int
	items followHeap
}

// push adds every item, or none if they do not all fit.
func (q *followQueue) push(items []followUp) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items)+len(items) > q.max {
		return false
	}
	for _, it := range items {
		heap.Push(&q.items, it)
	}
	return true
}

// popDue removes and returns the earliest follow-up if it is due at now.
func (q *followQueue) popDue(now time.Time) (followUp, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 || q.items[0].due.After(now) {
		return followUp{}, false
	}
	return heap.Pop(&q.items).(followUp), true
}

// followHeap is a min-heap of follow-ups by due time.
type followHeap []followUp

func (h followHeap) Len() int           { return len(h) }
func (h followHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h followHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *followHeap) Push(x any)        { *h = append(*h, x.(followUp)) }
func (h *followHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
