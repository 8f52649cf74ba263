package outbox

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/internal/defaults"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Options.
const (
	DefaultInterval     = time.Second
	DefaultGrace        = time.Second
	DefaultBatch        = 100
	DefaultPruneAfter   = time.Hour
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = time.Second
	DefaultMaxBackoff   = time.Minute
	DefaultHandoff      = 250 * time.Millisecond
	DefaultReplay       = 10 * time.Second
	DefaultMarkDelay    = 20 * time.Millisecond
)

// signalTimeout bounds sending a signal and marking a batch done.
const signalTimeout = 2 * time.Second

// unmarkedMaxAge is how long an entry whose mark failed is remembered as
// delivered: past it a pass may deliver it again, which is harmless.
const unmarkedMaxAge = time.Minute

// markQueue bounds the entries delivered by writers and waiting to be
// marked done; beyond it a writer marks its own.
const markQueue = 4096

// Options tunes a Relay. The zero value of every field means its default.
type Options struct {
	// Interval is how often the outbox is polled when nothing wakes the
	// relay. Default: DefaultInterval.
	Interval time.Duration
	// Grace is how long an entry is left to its writer before a poll
	// delivers it again: the writer delivers it at once, or says it could
	// not (Failed). Default: DefaultGrace.
	Grace time.Duration
	// Batch is how many entries one query fetches. Default: DefaultBatch.
	Batch int
	// PruneAfter is how long done entries are kept. Default:
	// DefaultPruneAfter.
	PruneAfter time.Duration
	// MaxAttempts is how many rejected deliveries (ErrPoison) an entry
	// gets before it is set aside. Default: DefaultMaxAttempts.
	MaxAttempts int
	// RetryBackoff is the wait before the retry of a rejected delivery; it
	// doubles with each attempt up to MaxBackoff. Default:
	// DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxBackoff caps RetryBackoff's doubling. Default: DefaultMaxBackoff.
	MaxBackoff time.Duration
	// Handoff is how long Failed waits, on a store that signals, for
	// another process to deliver the entry: a writer acknowledges only
	// then (or when it gives up), so that the other processes' caches do
	// not hold the old value after the acknowledgement. A negative value
	// turns the wait off. Default: DefaultHandoff.
	Handoff time.Duration
	// Replay is how far back MarkLost reaches: the entries created within
	// Replay before it are delivered again. It must exceed the writes a
	// cache can lose when it dies (Redis with appendfsync everysec: about
	// 2 s; an asynchronous replica that takes over: its lag). Default:
	// DefaultReplay.
	Replay time.Duration
	// MarkDelay is how long the running relay gathers the entries their
	// writers delivered before it marks them done in one statement: under
	// a stream of writes, one statement marks many instead of one per
	// write. It is capped at a tenth of Grace (an entry not marked within
	// its grace may be delivered again by another process's poll; this
	// process's own passes never deliver it again). Default:
	// DefaultMarkDelay.
	MarkDelay time.Duration
	// Logger receives failures and recoveries. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// TracerProvider, if set, makes every delivery by the relay a span
	// linked to the write's (see Entry.TraceParent). Default: nil, no
	// tracing.
	TracerProvider trace.TracerProvider
}

// Deliver applies an invalidation to the cache. An error wrapping ErrPoison
// is about the entry; any other says the cache is unreachable.
type Deliver func(ctx context.Context, inv Invalidation) error

// Stats counts what a Relay did since it was made.
type Stats struct {
	Delivered uint64 // entries delivered by their writer
	Relayed   uint64 // entries delivered by the relay
	Failed    uint64 // writers' deliveries that failed (the cache unreachable from them)
	HandedOff uint64 // of those, the entries another process delivered before the writer acknowledged
	Rejected  uint64 // deliveries the cache rejected (ErrPoison)
	SetAside  uint64 // entries given up on
	Replayed  uint64 // deliveries made again after MarkLost
}

// Relay marks delivered entries done and delivers the others. It is safe
// for concurrent use.
type Relay struct {
	store    Store
	notifier Notifier // nil if the store cannot signal
	deliver  Deliver
	opts     Options
	log      *slog.Logger
	tracer   trace.Tracer // nil: tracing off

	full, poll chan struct{} // wake-ups: deliver everything, or what is past its grace
	marks      chan int64
	running    atomic.Bool

	// unmarked holds the entries their writers delivered whose marks are
	// not written yet. A pass marks them done without delivering them
	// again: on a busy machine a mark can outlast the grace, and a second
	// delivery would delete what readers cached since the write.
	umu      sync.Mutex
	unmarked map[int64]time.Time // when delivered

	// A poll after the grace of the newest signalled entry: one timer,
	// re-armed when it fires before pollDue.
	pmu       sync.Mutex
	pollDue   time.Time
	pollTimer *time.Timer // nil: none scheduled

	// delivered is closed and replaced on every SignalDelivered: writers
	// waiting in Failed look again.
	dmu       sync.Mutex
	delivered chan struct{}

	// failures counts failed deliveries; cleared is failures as of the last
	// complete drain that began after them. Pending while they differ.
	failures, cleared atomic.Uint64

	// lost is what MarkLost asks the drains to deliver again.
	lmu  sync.Mutex
	lost lostWindow

	writerDelivered, relayed, failed, handedOff, rejected, setAside, replayed atomic.Uint64
}

// NewRelay returns a Relay over store that delivers with deliver.
func NewRelay(store Store, deliver Deliver, opts Options) *Relay {
	defaults.Positive(&opts.Interval, DefaultInterval)
	defaults.Positive(&opts.Grace, DefaultGrace)
	defaults.Positive(&opts.PruneAfter, DefaultPruneAfter)
	defaults.Positive(&opts.Replay, DefaultReplay)
	defaults.Positive(&opts.RetryBackoff, DefaultRetryBackoff)
	defaults.Positive(&opts.MaxBackoff, DefaultMaxBackoff)
	opts.Handoff = cmp.Or(opts.Handoff, DefaultHandoff)
	defaults.Positive(&opts.Batch, DefaultBatch)
	defaults.Positive(&opts.MaxAttempts, DefaultMaxAttempts)
	defaults.Positive(&opts.MarkDelay, DefaultMarkDelay)
	opts.MarkDelay = min(opts.MarkDelay, opts.Grace/10)
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Relay{
		store: store, deliver: deliver, opts: opts, log: opts.Logger,
		full: make(chan struct{}, 1), poll: make(chan struct{}, 1), marks: make(chan int64, markQueue),
		delivered: make(chan struct{}), unmarked: map[int64]time.Time{},
	}
	if n, ok := store.(Notifier); ok && canSignal(n) {
		r.notifier = n
	}
	if opts.TracerProvider != nil {
		r.tracer = opts.TracerProvider.Tracer(TracerName)
	}
	return r
}

// canSignal reports whether n reaches other processes: a store whose
// signals depend on its backend (SQLite has none) says so with a Signals
// method.
func canSignal(n Notifier) bool {
	s, ok := n.(interface{ Signals() bool })
	return !ok || s.Signals()
}

// Delivered records that the writer of entry id delivered it: the entry is
// marked done with the next batch, off the writer's path.
func (r *Relay) Delivered(ctx context.Context, id int64) {
	r.writerDelivered.Add(1)
	r.umu.Lock()
	r.unmarked[id] = r.opts.Now()
	r.umu.Unlock()
	if r.running.Load() {
		select {
		case r.marks <- id:
			return
		default:
		}
	}
	// No relay runs, or it is behind: mark it now. A failure leaves the
	// entry to be delivered again, which is harmless.
	defer r.forget(id)
	if err := r.store.MarkDone(ctx, id); err != nil {
		r.log.Warn("outbox entry not marked done; it will be delivered again", "entry", id, "err", err)
	}
}

// Failed records that the writer of entry id could not deliver it: this
// process is Pending, and every relay (through the store's signal) delivers
// the pending entries at once. On a store that signals, Failed then waits up
// to Options.Handoff for another process to deliver the entry, and reports
// whether one did: the writer acknowledges after it, so that no other
// process's cache holds the old value once the client has its answer.
func (r *Relay) Failed(ctx context.Context, id int64) bool {
	r.failed.Add(1)
	r.MarkPending()
	if r.notifier == nil {
		return false
	}
	ctx = context.WithoutCancel(ctx)
	nctx, cancel := context.WithTimeout(ctx, signalTimeout)
	defer cancel()
	if err := r.notifier.Notify(nctx, SignalPending); err != nil {
		r.log.Warn("other instances not signalled of an undelivered invalidation; they poll", "entry", id, "err", err)
		return false
	}
	if r.opts.Handoff < 0 || !r.running.Load() {
		return false
	}
	wctx, cancel := context.WithTimeout(ctx, r.opts.Handoff)
	defer cancel()
	for {
		wake := r.deliveredWake()
		if done, err := r.store.Done(wctx, id); err == nil && done {
			r.handedOff.Add(1)
			return true
		}
		select {
		case <-wake:
		case <-wctx.Done():
			return false
		}
	}
}

// deliveredWake returns the channel closed on the next SignalDelivered.
func (r *Relay) deliveredWake() <-chan struct{} {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	return r.delivered
}

// wakeDelivered wakes the writers waiting in Failed.
func (r *Relay) wakeDelivered() {
	r.dmu.Lock()
	defer r.dmu.Unlock()
	close(r.delivered)
	r.delivered = make(chan struct{})
}

// MarkPending says that invalidations may be undelivered (a delivery
// failed, or the cache became unreachable): Pending holds until a complete
// drain of the outbox succeeds.
func (r *Relay) MarkPending() {
	r.failures.Add(1)
	r.Kick()
}

// Pending reports whether invalidations may be undelivered: since a
// failure, no complete drain has found the outbox empty.
func (r *Relay) Pending() bool { return r.failures.Load() > r.cleared.Load() }

// Kick asks the relay for a complete drain now.
func (r *Relay) Kick() {
	select {
	case r.full <- struct{}{}:
	default:
	}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() Stats {
	return Stats{
		Delivered: r.writerDelivered.Load(),
		Relayed:   r.relayed.Load(),
		Failed:    r.failed.Load(),
		HandedOff: r.handedOff.Load(),
		Rejected:  r.rejected.Load(),
		SetAside:  r.setAside.Load(),
		Replayed:  r.replayed.Load(),
	}
}

// Drain delivers every due entry created before it started, batch after
// batch, and reports how many it delivered. If it ends with none left it
// clears Pending (unless a failure came meanwhile).
func (r *Relay) Drain(ctx context.Context) (int, error) { return r.pass(ctx, true) }

// Run marks delivered entries done, delivers pending ones (everything
// while Pending or when signalled, otherwise what is past its grace),
// prunes done entries, and listens to the store's signals, until ctx ends.
// It leaves entries within their grace to their writers from the start:
// call Drain first to deliver what a previous process left.
func (r *Relay) Run(ctx context.Context) error {
	r.running.Store(true)
	var wg sync.WaitGroup
	defer func() {
		r.running.Store(false)
		wg.Wait()
	}()
	wg.Go(func() { r.markLoop(ctx) })
	if r.notifier != nil {
		wg.Go(func() { r.listen(ctx) })
	}
	t := time.NewTicker(r.opts.Interval)
	defer t.Stop()
	var lastPrune time.Time
	full := false
	for {
		if _, err := r.pass(ctx, full || r.Pending()); err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay pass failed", "err", err)
		}
		if now := r.opts.Now(); now.Sub(lastPrune) >= r.opts.PruneAfter/4 {
			lastPrune = now
			r.forgetUnmarkedBefore(now.Add(-unmarkedMaxAge))
			if n, err := r.store.Prune(ctx, now.Add(-r.opts.PruneAfter)); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox prune failed", "err", err)
			} else if n > 0 {
				r.log.Debug("outbox pruned", "entries", n)
			}
		}
		full = false
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.poll:
		case <-r.full:
			full = true
		}
	}
}

// listen wakes the relay on the store's signals: Pending and a complete
// drain when a writer failed (a complete drain when signals may have been
// lost), a poll after the grace of a new entry in case its writer died
// before delivering it.
func (r *Relay) listen(ctx context.Context) {
	err := r.notifier.Listen(ctx, func(s Signal) {
		switch s {
		case SignalPending:
			// Another instance could not invalidate after its commit: what
			// is cached here may be older than that write until a drain
			// delivers it, so Pending holds from now, not from a failure
			// of this instance's own delivery.
			r.MarkPending()
		case SignalDelivered:
			r.wakeDelivered()
		case SignalNew:
			r.schedulePoll(time.Now().Add(r.opts.Grace + r.opts.Grace/10))
		}
	}, r.Kick)
	if err != nil && ctx.Err() == nil {
		r.log.Warn("outbox signals lost; the relay polls", "err", err)
	}
}

// schedulePoll asks for a poll at due or later. Signals that come while
// a poll is scheduled are not dropped: the timer polls at the first due
// time and again at the newest entry's, since a poll takes only the
// entries past their grace, and one that fired for the first of a burst
// would leave the rest to the interval.
func (r *Relay) schedulePoll(due time.Time) {
	r.pmu.Lock()
	defer r.pmu.Unlock()
	if due.After(r.pollDue) {
		r.pollDue = due
	}
	if r.pollTimer == nil {
		r.pollTimer = time.AfterFunc(time.Until(due), r.firePoll)
	}
}

// firePoll wakes Run for a poll, and re-arms the timer if a later signal
// moved the due time: under a steady stream of signals the relay polls
// about once a grace, never only once the stream stops.
func (r *Relay) firePoll() {
	r.pmu.Lock()
	if wait := time.Until(r.pollDue); wait > 0 {
		r.pollTimer.Reset(wait)
	} else {
		r.pollTimer = nil
	}
	r.pmu.Unlock()
	select {
	case r.poll <- struct{}{}:
	default:
	}
}

// markLoop marks the entries delivered by writers done, until ctx ends;
// then it marks what is left. After the first entry of a batch it gathers
// for MarkDelay (or until the batch is full), then marks them all in one
// statement.
func (r *Relay) markLoop(ctx context.Context) {
	batch := make([]int64, 0, 1000)
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		mctx, cancel := context.WithTimeout(ctx, signalTimeout)
		defer cancel()
		if err := r.store.MarkDone(mctx, batch...); err != nil {
			// They stay unmarked: the next pass marks them.
			r.log.Warn("outbox entries not marked done; the relay marks them", "entries", len(batch), "err", err)
		} else {
			r.forget(batch...)
		}
		batch = batch[:0]
	}
	for {
		select {
		case id := <-r.marks:
			batch = append(batch, id)
			// Gather what the writers deliver within MarkDelay: at
			// hundreds of writes a second, one statement instead of
			// one per write (with a database round trip each).
			delay := time.NewTimer(r.opts.MarkDelay)
		more:
			for len(batch) < cap(batch) {
				select {
				case id := <-r.marks:
					batch = append(batch, id)
				case <-delay.C:
					break more
				case <-ctx.Done():
					break more
				}
			}
			delay.Stop()
			// Not cut by the end of ctx (signalTimeout bounds it): a
			// failed mark costs another delivery of the entries.
			flush(context.WithoutCancel(ctx))
		case <-ctx.Done():
			for {
				select {
				case id := <-r.marks:
					batch = append(batch, id)
					continue
				default:
				}
				break
			}
			flush(context.WithoutCancel(ctx))
			return
		}
	}
}

// pass delivers the due entries created before now (full) or before now
// minus the grace, and reports how many it delivered.
func (r *Relay) pass(ctx context.Context, full bool) (int, error) {
	seen := r.failures.Load()
	if full {
		if err := r.replay(ctx); err != nil {
			return 0, err
		}
	}
	before := r.opts.Now()
	if !full {
		before = before.Add(-r.opts.Grace)
	}
	done := 0
	for {
		entries, err := r.store.Pending(ctx, r.opts.Batch, before)
		if err != nil {
			return done, err
		}
		if len(entries) == 0 {
			if full {
				r.clear(seen, done)
			}
			return done, nil
		}
		var ok, marked []int64
		var failed error
		for _, e := range entries {
			if r.isUnmarked(e.ID) {
				marked = append(marked, e.ID)
				continue
			}
			if e.Err != nil {
				r.giveUp(ctx, e, e.Err)
				continue
			}
			err := r.traceDelivery(ctx, e)
			switch {
			case err == nil:
				ok = append(ok, e.ID)
			case errors.Is(err, ErrPoison):
				r.reject(ctx, e, err)
			default:
				failed = err
			}
			if failed != nil {
				break
			}
		}
		if len(ok)+len(marked) > 0 {
			if err := r.store.MarkDone(ctx, append(ok, marked...)...); err != nil {
				return done, err
			}
			r.forget(marked...)
		}
		if len(ok) > 0 {
			done += len(ok)
			r.relayed.Add(uint64(len(ok)))
			r.signalDelivered(ctx)
		}
		if failed != nil {
			// The cache is unreachable from here: what is left stays
			// pending, and so does this process.
			r.failures.Add(1)
			return done, failed
		}
	}
}

// isUnmarked reports whether the writer of entry id delivered it and its
// mark is not written yet.
func (r *Relay) isUnmarked(id int64) bool {
	r.umu.Lock()
	defer r.umu.Unlock()
	_, ok := r.unmarked[id]
	return ok
}

// forgetUnmarkedBefore drops the unmarked entries delivered before t: their
// marks failed, and another process may have marked them since, so that no
// pass of this one would find them pending and forget them.
func (r *Relay) forgetUnmarkedBefore(t time.Time) {
	r.umu.Lock()
	defer r.umu.Unlock()
	for id, at := range r.unmarked {
		if at.Before(t) {
			delete(r.unmarked, id)
		}
	}
}

// forget drops ids, marked done, from the unmarked entries.
func (r *Relay) forget(ids ...int64) {
	r.umu.Lock()
	defer r.umu.Unlock()
	for _, id := range ids {
		delete(r.unmarked, id)
	}
}

// clear ends Pending if no failure came since seen was read, before a
// complete drain that found the outbox empty.
func (r *Relay) clear(seen uint64, delivered int) {
	for {
		cur := r.cleared.Load()
		if cur >= seen {
			return
		}
		if r.cleared.CompareAndSwap(cur, seen) {
			if !r.Pending() {
				r.log.Info("outbox delivered; cache reads readmitted", "entries", delivered)
			}
			return
		}
	}
}

// reject records a delivery the cache rejected: the entry is retried with
// backoff, then set aside.
func (r *Relay) reject(ctx context.Context, e Entry, err error) {
	r.rejected.Add(1)
	attempts := e.Attempts + 1
	if attempts >= r.opts.MaxAttempts {
		r.giveUp(ctx, e, err)
		return
	}
	backoff := r.opts.RetryBackoff << (attempts - 1)
	if backoff <= 0 || backoff > r.opts.MaxBackoff {
		backoff = r.opts.MaxBackoff
	}
	if rerr := r.store.RetryLater(ctx, e.ID, r.opts.Now().Add(backoff)); rerr != nil {
		r.log.Warn("outbox entry rejected and not rescheduled", "entry", e.ID, "err", err, "reschedule_err", rerr)
	}
}

// giveUp sets entry e aside, for an operator.
func (r *Relay) giveUp(ctx context.Context, e Entry, err error) {
	if serr := r.store.SetAside(ctx, e.ID, err.Error()); serr != nil {
		r.log.Warn("outbox entry not set aside", "entry", e.ID, "err", err, "set_aside_err", serr)
		return
	}
	r.setAside.Add(1)
	r.log.Error("outbox entry set aside after it failed for good; its keys expire by their TTL", "entry", e.ID,
		"keys", e.Keys, "tags", e.Tags, "attempts", e.Attempts, "err", err)
}

// signalDelivered tells the writers waiting in Failed, on any process, that
// entries were delivered.
func (r *Relay) signalDelivered(ctx context.Context) {
	if r.notifier == nil {
		return
	}
	nctx, cancel := context.WithTimeout(ctx, signalTimeout)
	defer cancel()
	if err := r.notifier.Notify(nctx, SignalDelivered); err != nil {
		r.log.Debug("delivery not signalled", "err", err)
	}
}
