package outbox

import (
	"context"
	"errors"
	"slices"
	"time"
)

// lostWindow is what MarkLost asks the drains to deliver again: the
// entries done from `from` on (or not done) and created up to `to`, past
// the id `after` that the replay reached. gen counts the MarkLost calls,
// so that a replay records its progress only in the window it read.
type lostWindow struct {
	from, to time.Time // zero from: nothing to deliver again
	after    int64
	gen      uint64
}

// MarkLost says that the cache may have lost deliveries it acknowledged
// (Redis died: it restarts from a snapshot or an AOF that misses its last
// second or two, or a replica that lagged takes over). It is MarkPending,
// and the next complete drain first delivers again the entries done within
// Options.Replay before now (or not done yet) and created before now: a
// lost delete would otherwise bring back the value a write replaced, and
// nothing would remove it before its TTL. A MarkLost during a replay
// starts it over, since the cache may have lost what it delivered.
func (r *Relay) MarkLost() {
	now := r.opts.Now()
	r.lmu.Lock()
	if from := now.Add(-r.opts.Replay); r.lost.from.IsZero() || from.Before(r.lost.from) {
		r.lost.from = from
	}
	r.lost.to = now
	r.lost.after = 0
	r.lost.gen++
	r.lmu.Unlock()
	r.MarkPending()
}

// replay delivers again the entries MarkLost asked for, a batch per
// delivery, recording its progress: a failure leaves the rest to the next
// drain (the relay stays Pending), which goes on from there.
func (r *Relay) replay(ctx context.Context) error {
	for {
		r.lmu.Lock()
		w := r.lost
		r.lmu.Unlock()
		if w.from.IsZero() {
			return nil
		}
		entries, err := r.store.Since(ctx, w.from, w.to, w.after, r.opts.Batch)
		if err == nil {
			err = r.redeliver(ctx, entries)
		}
		if err != nil {
			r.failures.Add(1)
			return err
		}
		r.lmu.Lock()
		if r.lost.gen == w.gen { // else a MarkLost came: its window, from the start
			if len(entries) == 0 {
				r.lost = lostWindow{gen: w.gen}
			} else {
				r.lost.after = entries[len(entries)-1].ID
			}
		}
		r.lmu.Unlock()
	}
}

// redeliver delivers entries again as one invalidation of all their keys
// and tags; if the cache rejects it (ErrPoison), entry by entry, skipping
// those it rejects (the pending passes set them aside).
func (r *Relay) redeliver(ctx context.Context, entries []Entry) error {
	var inv Invalidation
	n := 0
	for _, e := range entries {
		if e.Err == nil {
			inv.Keys = append(inv.Keys, e.Keys...)
			inv.Tags = append(inv.Tags, e.Tags...)
			n++
		}
	}
	if n == 0 {
		return nil
	}
	slices.Sort(inv.Keys)
	inv.Keys = slices.Compact(inv.Keys)
	slices.Sort(inv.Tags)
	inv.Tags = slices.Compact(inv.Tags)
	err := r.deliver(ctx, inv)
	if err == nil {
		r.replayed.Add(uint64(n))
		return nil
	}
	if !errors.Is(err, ErrPoison) {
		return err
	}
	for _, e := range entries {
		if e.Err != nil {
			continue
		}
		switch err := r.deliver(ctx, e.Invalidation); {
		case err == nil:
			r.replayed.Add(1)
		case !errors.Is(err, ErrPoison):
			return err
		}
	}
	return nil
}
