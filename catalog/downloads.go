package catalog

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
)

// DefaultDownloadCoalesce is the default Options.DownloadCoalesce.
const DefaultDownloadCoalesce = 250 * time.Millisecond

// maxDownloadBatch bounds the downloads of one file that one transaction
// commits.
const maxDownloadBatch = 256

// markTimeout bounds marking the entries of a flush delivered: one
// statement each when no relay runs (Run), queued otherwise.
const markTimeout = 5 * time.Second

// downloads are the downloads waiting for a transaction, by file. They
// keep a download cheap at any rate, for the database and the cache:
//
//   - Group commit. The downloads of one file that arrive while a
//     transaction of that file runs wait for it to end, then commit
//     together in the next one (one row lock, one outbox entry and one
//     commit for all of them). A download is acknowledged only after its
//     transaction commits: an acknowledged download is never lost. Each
//     transaction holds one file's row, so transactions of different files
//     (on any instance) take their locks in the same order (file, then the
//     day's statistics) and cannot deadlock.
//   - Coalesced invalidation (coalescer). The outbox entry is written in the
//     transaction, so a crash loses no invalidation; but a key that a
//     download invalidated less than Options.DownloadCoalesce ago is
//     invalidated again only when that time is up. A file downloaded a
//     thousand times a second has its record and info view invalidated
//     four times a second, not a thousand; its meta view not at all.
type downloads struct {
	mu sync.Mutex
	// queues holds a file's queue while a transaction of that file runs.
	queues map[string]*downloadQueue
}

// downloadQueue holds the downloads of one file that arrived while its
// transaction ran.
type downloadQueue struct{ waiting []*download }

// download is one RecordDownload waiting for its transaction.
type download struct {
	ip   string
	now  time.Time
	n    int64 // the count after this download
	err  error
	done chan struct{} // closed when n or err is set
}

func (d *downloads) init() { d.queues = make(map[string]*downloadQueue) }

// RecordDownload counts a download of id by ip and returns the file's new
// download count, or files.ErrNotFound. It returns once the download is
// committed. Reads show it within Options.DownloadCoalesce plus an
// invalidation: at once when the file's keys were not invalidated by a
// download within that time, otherwise with the next batch of the file's
// downloads. Cached searches are not invalidated at all: their download
// counts may lag by up to the search TTL, a trade that keeps downloads
// from flushing every search.
func (c *Catalog) RecordDownload(ctx context.Context, id, ip string) (int64, error) {
	if err := files.ValidateID(id); err != nil {
		return 0, err
	}
	d := &download{ip: ip, now: c.now(), done: make(chan struct{})}
	c.dl.mu.Lock()
	q, busy := c.dl.queues[id]
	if !busy {
		q = &downloadQueue{}
		c.dl.queues[id] = q
	}
	q.waiting = append(q.waiting, d)
	c.dl.mu.Unlock()
	if !busy {
		// The transaction carries other callers' downloads too: it must
		// not end with this request.
		c.commitDownloads(context.WithoutCancel(ctx), id, q)
	}
	select {
	case <-d.done:
		return d.n, d.err
	case <-ctx.Done():
		// Not acknowledged; it may still be counted.
		return 0, ctx.Err()
	}
}

// commitDownloads commits the downloads of q, up to maxDownloadBatch, in
// one transaction, and hands the rest (those that arrived meanwhile) to
// another goroutine, so that its caller gets its answer.
func (c *Catalog) commitDownloads(ctx context.Context, id string, q *downloadQueue) {
	c.dl.mu.Lock()
	n := min(len(q.waiting), maxDownloadBatch)
	batch := q.waiting[:n:n]
	q.waiting = q.waiting[n:]
	c.dl.mu.Unlock()

	c.commitBatch(ctx, id, batch)

	c.dl.mu.Lock()
	defer c.dl.mu.Unlock()
	if len(q.waiting) == 0 {
		delete(c.dl.queues, id)
		return
	}
	go c.commitDownloads(ctx, id, q)
}

// commitBatch counts the downloads of batch, all of file id, in one
// transaction with one outbox entry, and invalidates the keys they change
// (through the coalescer) before it answers them.
func (c *Catalog) commitBatch(ctx context.Context, id string, batch []*download) {
	var inv outbox.Invalidation
	var entry int64
	err := c.repo.WithTx(ctx, func(tx files.Tx) error {
		// The record and the info view show download_count; the meta
		// view does not change.
		inv = outbox.Invalidation{Keys: []string{c.key(c.files, id), c.key(c.info, id)}}
		// One statement set per UTC day (a batch spans two at midnight).
		for _, day := range splitByDay(batch) {
			ips := make([]string, len(day))
			for i, d := range day {
				ips[i] = d.ip
			}
			f, err := tx.RecordDownloads(ctx, id, len(day), ips, day[0].now)
			if err != nil {
				return err
			}
			for i, d := range day { // in arrival order
				d.n = f.DownloadCount - int64(len(day)-1-i)
			}
			inv.Keys = append(inv.Keys, c.statsKey(day[0].now))
		}
		var err error
		entry, err = tx.Enqueue(ctx, inv)
		return err
	})
	if err == nil {
		if c.opts.AfterCommit != nil {
			c.opts.AfterCommit()
		}
		c.coalesce.invalidate(ctx, entry, inv.Keys)
	}
	for _, d := range batch {
		if err != nil {
			d.n, d.err = 0, classify(err)
		}
		close(d.done)
	}
}

// splitByDay splits batch, in arrival order, into runs of one UTC day.
func splitByDay(batch []*download) [][]*download {
	var out [][]*download
	start := 0
	for i := 1; i <= len(batch); i++ {
		if i == len(batch) || batch[i].now.UTC().YearDay() != batch[start].now.UTC().YearDay() ||
			batch[i].now.UTC().Year() != batch[start].now.UTC().Year() {
			out = append(out, batch[start:i])
			start = i
		}
	}
	return out
}

// coalescer invalidates the keys of downloads at most once per
// Options.DownloadCoalesce each: the first download that changes a key
// invalidates it at once; those that follow within that time are
// invalidated together when it is up. An outbox entry is marked delivered
// only once every key of it was deleted after it committed; after any
// failure it is left to the relays, whole.
type coalescer struct {
	cat   *Catalog
	every time.Duration // <= 0: no coalescing
	timer *time.Timer   // runs flushFromTimer; armed while scheduled

	mu       sync.Mutex
	last     map[string]time.Time // when a download last invalidated a key
	deferred map[string]struct{}  // keys waiting for the flush
	// parts counts, per outbox entry, the deletes it still waits for: its
	// keys invalidated at once (while in flight) and its deferred keys.
	parts map[int64]int
	// waiting are the entries with deferred keys, for the next flush.
	waiting   []int64
	scheduled bool
	swept     time.Time
	closed    bool           // no timer flush from now on
	flushing  sync.WaitGroup // the timer's flush in progress
}

func (co *coalescer) init(c *Catalog) {
	co.cat = c
	co.every = c.opts.DownloadCoalesce
	co.last = make(map[string]time.Time)
	co.deferred = make(map[string]struct{})
	co.parts = make(map[int64]int)
	co.timer = time.AfterFunc(time.Hour, co.flushFromTimer)
	co.timer.Stop()
}

// invalidate invalidates keys, the keys of outbox entry, now or with the
// next flush (see coalescer).
func (co *coalescer) invalidate(ctx context.Context, entry int64, keys []string) {
	c := co.cat
	now := c.now()
	cold := keys
	co.mu.Lock()
	if co.every > 0 {
		cold = nil
		var due time.Time
		for _, k := range keys {
			// A key waiting for a flush that is late (a busy machine)
			// waits for it still: it is not invalidated twice.
			_, waits := co.deferred[k]
			if t, ok := co.last[k]; waits || ok && now.Sub(t) < co.every {
				co.deferred[k] = struct{}{}
				if d := t.Add(co.every); due.IsZero() || d.Before(due) {
					due = d
				}
				continue
			}
			co.last[k] = now
			cold = append(cold, k)
		}
		if !due.IsZero() {
			co.parts[entry]++
			co.waiting = append(co.waiting, entry)
			if !co.scheduled && !co.closed {
				co.scheduled = true
				co.timer.Reset(due.Sub(now))
			}
		}
		co.sweep(now)
	}
	deferred := co.parts[entry] > 0
	if deferred && len(cold) > 0 {
		co.parts[entry]++
	}
	co.mu.Unlock()
	if len(cold) == 0 {
		return
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.InvalidateTimeout)
	defer cancel()
	if err := c.apply(ictx, outbox.Invalidation{Keys: cold}, "download"); err != nil {
		co.mu.Lock()
		delete(co.parts, entry) // the flush must not mark it delivered
		co.mu.Unlock()
		c.relay.Failed(ictx, entry)
		c.log.WarnContext(ictx, "invalidation of a download deferred to the outbox relays; reads bypass the cache until it is delivered", "entry", entry, "err", err)
		return
	}
	if deferred && !co.done(entry) {
		return
	}
	c.relay.Delivered(ictx, entry)
}

// done counts one delete of entry and reports whether it was the last it
// waited for (false also if a failure left it to the relays).
func (co *coalescer) done(entry int64) bool {
	co.mu.Lock()
	defer co.mu.Unlock()
	n, ok := co.parts[entry]
	if !ok {
		return false
	}
	if n > 1 {
		co.parts[entry] = n - 1
		return false
	}
	delete(co.parts, entry)
	return true
}

// sweep forgets the keys invalidated longer than every ago, once per
// every, so that last holds only the keys of files downloaded lately.
func (co *coalescer) sweep(now time.Time) {
	if now.Sub(co.swept) < co.every {
		return
	}
	co.swept = now
	for k, t := range co.last {
		if now.Sub(t) >= co.every {
			delete(co.last, k)
		}
	}
}

// flushFromTimer is the flush the timer runs when the first deferred key
// is due. It is no request's: its context is its own.
func (co *coalescer) flushFromTimer() {
	co.mu.Lock()
	if co.closed {
		co.mu.Unlock()
		return
	}
	co.flushing.Add(1)
	co.mu.Unlock()
	defer co.flushing.Done()
	ctx, cancel := context.WithTimeout(context.Background(), co.cat.opts.InvalidateTimeout)
	defer cancel()
	_ = co.flush(ctx)
}

// close stops the timer's flushes and waits for one in progress: the
// deferred keys are left to FlushDownloads or, their entries pending, to
// the relays.
func (co *coalescer) close() {
	co.mu.Lock()
	co.closed = true
	co.timer.Stop()
	co.scheduled = false
	co.mu.Unlock()
	co.flushing.Wait()
}

// flush invalidates every deferred key now, and marks delivered the
// entries that waited for nothing else.
func (co *coalescer) flush(ctx context.Context) error {
	c := co.cat
	co.mu.Lock()
	if co.scheduled {
		co.timer.Stop()
		co.scheduled = false
	}
	keys := slices.Collect(maps.Keys(co.deferred))
	entries := co.waiting
	clear(co.deferred)
	co.waiting = nil
	now := c.now()
	for _, k := range keys {
		co.last[k] = now
	}
	co.mu.Unlock()
	if len(keys) == 0 {
		return nil
	}
	if err := c.apply(ctx, outbox.Invalidation{Keys: keys}, "download"); err != nil {
		co.mu.Lock()
		for _, e := range entries {
			delete(co.parts, e)
		}
		co.mu.Unlock()
		if len(entries) > 0 {
			c.relay.Failed(ctx, entries[0]) // every relay drains them all
		}
		c.log.Warn("coalesced invalidation of downloads deferred to the outbox relays; reads bypass the cache until it is delivered",
			"entries", len(entries), "keys", len(keys), "err", err)
		return err
	}
	// Marking is not bounded by the invalidation's deadline: a mark that
	// fails makes the relays deliver the entry again.
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), markTimeout)
	defer cancel()
	for _, e := range entries {
		if co.done(e) {
			c.relay.Delivered(mctx, e)
		}
	}
	return nil
}

// FlushDownloads invalidates at once the keys of the downloads whose
// invalidation waits (see Options.DownloadCoalesce), for a caller about to
// load values that must count them (Warm does). Run calls it when it
// stops.
func (c *Catalog) FlushDownloads(ctx context.Context) error { return c.coalesce.flush(ctx) }
