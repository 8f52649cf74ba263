package outbox_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/outbox"
)

// cache stands for the cache the relay delivers to: it records the keys
// delivered, and can be made unreachable or made to reject some keys.
type cache struct {
	mu         sync.Mutex
	deleted    []string
	down       bool
	reject     map[string]bool
	delivered  chan string
	rejections int
}

func newCache() *cache {
	return &cache{reject: map[string]bool{}, delivered: make(chan string, 1000)}
}

var errDown = errors.New("cache unreachable")

func (c *cache) deliver(_ context.Context, inv outbox.Invalidation) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down {
		return errDown
	}
	for _, k := range inv.Keys {
		if c.reject[k] {
			c.rejections++
			return fmt.Errorf("%w: key %s", outbox.ErrPoison, k)
		}
	}
	c.deleted = append(c.deleted, inv.Keys...)
	for _, k := range inv.Keys {
		c.delivered <- k
	}
	return nil
}

func (c *cache) setDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.down = down
}

func (c *cache) has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Contains(c.deleted, key)
}

// await waits until key is delivered.
func (c *cache) await(t *testing.T, key string, within time.Duration) {
	t.Helper()
	deadline := time.After(within)
	for !c.has(key) {
		select {
		case <-c.delivered:
		case <-deadline:
			t.Fatalf("%s not delivered within %v", key, within)
		}
	}
}

func openStore(t *testing.T, dsn string) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// enqueue commits an entry for key, as a write does.
func enqueue(t *testing.T, s *sqlstore.Store, key string) int64 {
	t.Helper()
	var id int64
	err := s.WithTx(t.Context(), func(tx files.Tx) error {
		var err error
		id, err = tx.Enqueue(t.Context(), outbox.Invalidation{Keys: []string{key}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func run(t *testing.T, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func pending(t *testing.T, s *sqlstore.Store) int64 {
	t.Helper()
	b, err := s.Backlog(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return b.Pending
}

// TestDeliveredMarkedInBatches: entries delivered by their writers are
// marked done by the running relay, off the writers' path, many to a
// statement: writes that come one after another within MarkDelay share
// one (the relay marked each write's entry alone before).
func TestDeliveredMarkedInBatches(t *testing.T) {
	for _, db := range sqltest.Engines() {
		t.Run(db.Name, func(t *testing.T) {
			s := openStore(t, db.DSN(t))
			counted := &countMarks{Store: s}
			c := newCache()
			r := outbox.NewRelay(counted, c.deliver, outbox.Options{Interval: time.Hour, Grace: time.Hour, MarkDelay: 500 * time.Millisecond})
			run(t, r)
			const writes = 200
			for i := range writes {
				id := enqueue(t, s, fmt.Sprint("k", i))
				r.Delivered(t.Context(), id)
			}
			// With a poll interval and a grace of an hour, only the marks
			// can empty the outbox of the entries enqueued after the
			// relay's first complete drain.
			testenv.Until(t, 10*time.Second, "every delivered entry marked done", func() bool { return pending(t, s) == 0 })
			// That drain, run when the relay starts listening (on a busy
			// machine, while the entries are being enqueued), may deliver
			// again entries it read before their writers reported them:
			// harmless.
			st := r.Stats()
			if st.Delivered != writes || st.Relayed >= writes {
				t.Fatalf("stats %+v, want %d delivered by writers and marked, not all relayed again", st, writes)
			}
			// A write takes a millisecond or more: in 500 ms, dozens.
			if n := counted.calls.Load(); n > writes/4 {
				t.Fatalf("%d statements marked %d writes' entries, want at most %d", n, writes, writes/4)
			}
			t.Logf("relayed again by the first drain: %d of %d; %d mark statements", st.Relayed, writes, counted.calls.Load())
		})
	}
}

// TestMarksGatheredAtShutdown: entries gathered for a mark when the relay
// stops are marked then, not left to another delivery: with a MarkDelay
// far longer than the test, only the shutdown's flush can mark them.
func TestMarksGatheredAtShutdown(t *testing.T) {
	s := openStore(t, sqltest.SQLiteDSN(t))
	c := newCache()
	r := outbox.NewRelay(s, c.deliver, outbox.Options{Interval: time.Hour, Grace: time.Hour, MarkDelay: time.Hour})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	// Before Run, a writer marks its own entry at once.
	testenv.Until(t, 10*time.Second, "the relay running", r.Running)
	for i := range 3 {
		r.Delivered(t.Context(), enqueue(t, s, fmt.Sprint("k", i)))
	}
	if n := pending(t, s); n != 3 {
		t.Fatalf("%d entries pending while the relay gathers marks, want 3", n)
	}
	cancel()
	<-done
	if n := pending(t, s); n != 0 {
		t.Fatalf("%d entries pending after the relay stopped, want the 3 delivered ones marked", n)
	}
	if st := r.Stats(); st.Relayed != 0 {
		t.Fatalf("stats %+v, want nothing relayed", st)
	}
}

// countMarks is a Store that counts its MarkDone statements. It is not a
// Notifier: the relay over it runs without signals.
type countMarks struct {
	outbox.Store
	calls atomic.Int64
}

func (c *countMarks) MarkDone(ctx context.Context, ids ...int64) error {
	c.calls.Add(1)
	return c.Store.MarkDone(ctx, ids...)
}

// TestSlowMarkNotDeliveredAgain: an entry its writer delivered is not
// delivered again by a pass that comes while its mark is still being
// written (on a busy machine a mark can outlast the grace): the second
// delivery would delete what readers cached since the write. The pass
// marks it done instead.
func TestSlowMarkNotDeliveredAgain(t *testing.T) {
	s := openStore(t, sqltest.SQLiteDSN(t))
	held := &holdFirstMark{Store: s, release: make(chan struct{}), holding: make(chan struct{})}
	t.Cleanup(func() { close(held.release) })
	c := newCache()
	r := outbox.NewRelay(held, c.deliver, outbox.Options{Interval: time.Hour, Grace: time.Hour})
	run(t, r)
	id := enqueue(t, s, "cached-since")
	// Whether the running relay or the writer itself marks it, the mark
	// is held.
	go r.Delivered(t.Context(), id)
	select {
	case <-held.holding:
	case <-time.After(10 * time.Second):
		t.Fatal("the writer's mark was not written within 10s")
	}
	// A pass finds the entry undone while its mark waits.
	if n, err := r.Drain(t.Context()); err != nil || n != 0 {
		t.Fatalf("Drain: %d, %v; want nothing delivered", n, err)
	}
	if n := pending(t, s); n != 0 {
		t.Fatalf("%d entries pending after the drain, want the delivered one marked done", n)
	}
	if c.has("cached-since") {
		t.Fatal("a pass delivered again an entry its writer had delivered")
	}
	if st := r.Stats(); st.Relayed != 0 {
		t.Fatalf("stats %+v, want nothing relayed", st)
	}
}

// TestMarkLostReplaysRecentEntries: after MarkLost (the cache may have
// lost deliveries it acknowledged: Redis restarted from an AOF that misses
// its last second), a drain delivers again the entries done within Replay
// before it, and not those done earlier or created after it; until it has,
// the relay is Pending, and a drain that fails leaves them to the next.
func TestMarkLostReplaysRecentEntries(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	s, err := sqlstore.Open(t.Context(), sqltest.SQLiteDSN(t), sqlstore.Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := newCache()
	r := outbox.NewRelay(s, c.deliver, outbox.Options{Interval: time.Hour, Grace: time.Hour, Replay: 10 * time.Second, Now: now})
	done := func(key string) {
		if err := s.MarkDone(t.Context(), enqueue(t, s, key)); err != nil {
			t.Fatal(err)
		}
	}
	done("old")
	advance(time.Minute)
	done("recent-1")
	done("recent-2")
	enqueue(t, s, "pending") // delivered by the pending pass anyway

	c.setDown(true)
	r.MarkLost()
	advance(time.Second)
	done("after") // created after the loss: its writer reached the cache
	if !r.Pending() {
		t.Fatal("not Pending after MarkLost")
	}
	if _, err := r.Drain(t.Context()); err == nil || !r.Pending() {
		t.Fatalf("drain with the cache down: %v, Pending %v; want an error and Pending", err, r.Pending())
	}
	c.setDown(false)
	if _, err := r.Drain(t.Context()); err != nil || r.Pending() {
		t.Fatalf("drain: %v, Pending %v; want nil and not Pending", err, r.Pending())
	}
	for key, want := range map[string]bool{"old": false, "recent-1": true, "recent-2": true, "pending": true, "after": false} {
		if c.has(key) != want {
			t.Errorf("%s delivered again: %v, want %v (deliveries %q)", key, c.has(key), want, c.deleted)
		}
	}
	if st := r.Stats(); st.Replayed != 3 {
		t.Errorf("stats %+v, want 3 replayed (recent-1, recent-2, pending)", st)
	}
	// Once replayed, a drain does not deliver them again.
	n := len(c.deleted)
	if _, err := r.Drain(t.Context()); err != nil || len(c.deleted) != n {
		t.Fatalf("second drain: %v, deliveries %q; want none more", err, c.deleted[n:])
	}
}

// holdFirstMark is a Store whose first MarkDone waits for release, as a
// mark does on a busy machine.
type holdFirstMark struct {
	outbox.Store
	once             sync.Once
	release, holding chan struct{}
}

func (h *holdFirstMark) MarkDone(ctx context.Context, ids ...int64) error {
	first := false
	h.once.Do(func() { first = true })
	if first {
		close(h.holding)
		select {
		case <-h.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return h.Store.MarkDone(ctx, ids...)
}

// TestFailedDeliveryIsRelayed: an entry its writer could not deliver is
// delivered by the relay once the cache answers, and only then does the
// relay stop being Pending.
func TestFailedDeliveryIsRelayed(t *testing.T) {
	for _, db := range sqltest.Engines() {
		t.Run(db.Name, func(t *testing.T) {
			s := openStore(t, db.DSN(t))
			c := newCache()
			r := outbox.NewRelay(s, c.deliver, outbox.Options{Interval: 50 * time.Millisecond})
			c.setDown(true)
			id := enqueue(t, s, "k1")
			r.Failed(t.Context(), id)
			if !r.Pending() {
				t.Fatal("not Pending after a failed delivery")
			}
			if _, err := r.Drain(t.Context()); !errors.Is(err, errDown) {
				t.Fatalf("Drain with the cache down: %v", err)
			}
			if !r.Pending() {
				t.Fatal("not Pending after a failed drain")
			}
			run(t, r)
			c.setDown(false)
			c.await(t, "k1", 10*time.Second)
			testenv.Until(t, 10*time.Second, "Pending to clear", func() bool { return !r.Pending() })
			if n := pending(t, s); n != 0 {
				t.Fatalf("%d entries pending after the relay delivered them", n)
			}
		})
	}
}

// TestPoisonEntrySetAside: an entry the cache rejects is retried with
// backoff, then set aside; the entries after it are delivered meanwhile.
func TestPoisonEntrySetAside(t *testing.T) {
	for _, db := range sqltest.Engines() {
		t.Run(db.Name, func(t *testing.T) {
			s := openStore(t, db.DSN(t))
			c := newCache()
			c.reject["poison"] = true
			r := outbox.NewRelay(s, c.deliver, outbox.Options{
				Interval: 20 * time.Millisecond, Grace: time.Millisecond,
				MaxAttempts: 3, RetryBackoff: 10 * time.Millisecond,
			})
			enqueue(t, s, "before")
			enqueue(t, s, "poison")
			enqueue(t, s, "after")
			run(t, r)
			c.await(t, "before", 10*time.Second)
			c.await(t, "after", 10*time.Second)
			testenv.Until(t, 20*time.Second, "the poison entry set aside", func() bool {
				b, err := s.Backlog(t.Context())
				return err == nil && b.SetAside == 1 && b.Pending == 0
			})
			// The relay counts after the store wrote: await its count too.
			testenv.Until(t, 10*time.Second, "the set-aside counted", func() bool { return r.Stats().SetAside == 1 })
			if st := r.Stats(); st.SetAside != 1 || st.Rejected != 3 {
				t.Fatalf("stats %+v, want 3 rejections and 1 set aside", st)
			}
			if c.has("poison") {
				t.Fatal("the poison entry was delivered")
			}
		})
	}
}

// TestUnreadableEntrySetAside: a row that cannot be decoded is set aside at
// once and does not stop the relay.
func TestUnreadableEntrySetAside(t *testing.T) {
	for _, db := range sqltest.Engines() {
		t.Run(db.Name, func(t *testing.T) {
			dsn := db.DSN(t)
			s := openStore(t, dsn)
			c := newCache()
			r := outbox.NewRelay(s, c.deliver, outbox.Options{})
			id := enqueue(t, s, "bad")
			enqueue(t, s, "good")
			corrupt(t, dsn, id)
			if n, err := r.Drain(t.Context()); err != nil || n != 1 {
				t.Fatalf("Drain = %d, %v; want the good entry delivered", n, err)
			}
			if b, err := s.Backlog(t.Context()); err != nil || b.Pending != 0 || b.SetAside != 1 {
				t.Fatalf("backlog %+v, %v; want the unreadable entry set aside", b, err)
			}
		})
	}
}

// TestGrace: a poll (and Run's start) leaves entries younger than the
// grace to their writers; a complete drain takes them all.
func TestGrace(t *testing.T) {
	s := openStore(t, sqltest.SQLiteDSN(t))
	c := newCache()
	r := outbox.NewRelay(s, c.deliver, outbox.Options{Interval: 20 * time.Millisecond, Grace: time.Hour})
	enqueue(t, s, "young")
	run(t, r)
	time.Sleep(200 * time.Millisecond) // several polls
	if c.has("young") {
		t.Fatal("a poll delivered an entry within its grace")
	}
	r.Kick()
	c.await(t, "young", 10*time.Second)
}

// TestSignalsWakeOtherInstances: on PostgreSQL a writer's failure wakes the
// relay of another instance at once, and the writer's Failed returns once
// that instance delivered the entry (before the writer acknowledges); an
// entry whose writer died is delivered after its grace; nothing waits for a
// poll.
func TestSignalsWakeOtherInstances(t *testing.T) {
	dsn := sqltest.PostgresDSN(t)
	writer := openStore(t, dsn)
	other := openStore(t, dsn)
	down, up := newCache(), newCache()
	down.setDown(true) // the writer cannot reach the cache
	wr := outbox.NewRelay(writer, down.deliver, outbox.Options{Interval: time.Hour, Handoff: 2 * time.Second})
	or := outbox.NewRelay(other, up.deliver, outbox.Options{Interval: time.Hour, Grace: 500 * time.Millisecond})
	run(t, wr)
	run(t, or)
	// A signal only reaches a relay that listens: probe until one entry is
	// handed off.
	testenvEventually(t, func() bool {
		id := enqueue(t, writer, "probe")
		return wr.Failed(t.Context(), id) && up.has("probe")
	})
	start := time.Now()
	id := enqueue(t, writer, "failed")
	if !wr.Failed(t.Context(), id) {
		t.Fatal("Failed returned before another instance delivered the entry")
	}
	if !up.has("failed") {
		t.Fatal("Failed reported a handoff, but the other instance never delivered the entry")
	}
	t.Logf("an entry its writer could not deliver was delivered by the other instance %v later", time.Since(start))
	if st := wr.Stats(); st.HandedOff < 1 {
		t.Fatalf("stats %+v: no handoff counted", st)
	}
	// A writer that dies after commit: the commit's signal schedules the
	// other instance's poll after the grace.
	enqueue(t, writer, "orphan")
	up.await(t, "orphan", 10*time.Second)
}

// TestPendingSignalSuspendsOtherInstances: a writer's failure makes
// another instance Pending (its cache reads suspended) from the signal
// until its drain has delivered the entry, even while that delivery is
// still under way: its cache may hold what the write changed.
func TestPendingSignalSuspendsOtherInstances(t *testing.T) {
	dsn := sqltest.PostgresDSN(t)
	writer := openStore(t, dsn)
	down, up := newCache(), newCache()
	down.setDown(true) // the writer cannot reach the cache
	var hold atomic.Bool
	release := make(chan struct{})
	var releaseOnce sync.Once
	unhold := func() { releaseOnce.Do(func() { close(release) }) }
	slow := func(ctx context.Context, inv outbox.Invalidation) error {
		if hold.Load() {
			<-release
		}
		return up.deliver(ctx, inv)
	}
	wr := outbox.NewRelay(writer, down.deliver, outbox.Options{Interval: time.Hour, Handoff: 2 * time.Second})
	or := outbox.NewRelay(openStore(t, dsn), slow, outbox.Options{Interval: time.Hour})
	run(t, wr)
	run(t, or)
	t.Cleanup(unhold) // before the relays stop: a held delivery ends
	testenvEventually(t, func() bool {
		id := enqueue(t, writer, "probe")
		return wr.Failed(t.Context(), id) && up.has("probe")
	})
	testenvEventually(t, func() bool { return !or.Pending() })
	hold.Store(true)
	id := enqueue(t, writer, "held")
	go wr.Failed(t.Context(), id)
	testenvEventually(t, or.Pending)
	if up.has("held") {
		t.Fatal("delivered while held")
	}
	unhold()
	up.await(t, "held", 10*time.Second)
	testenvEventually(t, func() bool { return !or.Pending() })
}

// TestSignalsDuringScheduledPoll: a second writer that dies while the
// poll scheduled by a first entry's signal is pending still has its entry
// delivered after its own grace, not at the next poll of the interval.
// (The relay once ignored signals while a poll was scheduled, and that poll
// took only the entries past their grace when it fired.)
func TestSignalsDuringScheduledPoll(t *testing.T) {
	const grace = 500 * time.Millisecond
	writer, up := signalledRelay(t, grace)
	for round := range 3 {
		first, second := fmt.Sprintf("first%d", round), fmt.Sprintf("second%d", round)
		enqueue(t, writer, first)
		// Past a tenth of the grace: the first signal's poll, when it
		// fires, does not take the second entry as due.
		time.Sleep(grace / 2)
		enqueue(t, writer, second)
		up.await(t, first, 10*time.Second)
		up.await(t, second, 10*time.Second)
	}
}

// TestSignalsInSteadyStream: entries whose writers die, signalled more
// often than once a grace, are delivered while the stream goes on, not
// only after it stops.
func TestSignalsInSteadyStream(t *testing.T) {
	const grace = time.Second
	writer, up := signalledRelay(t, grace)
	// An entry every grace/4 for 8 graces: the first is due after one.
	enqueue(t, writer, "stream0")
	delivered := false
	for i := 1; i <= 32 && !delivered; i++ {
		time.Sleep(grace / 4)
		enqueue(t, writer, fmt.Sprintf("stream%d", i))
		delivered = up.has("stream0")
	}
	if !delivered {
		t.Fatal("the stream's first entry was not delivered while entries kept coming for 8 graces")
	}
}

// signalledRelay runs, on PostgreSQL, a relay that only its signals wake
// (the interval is an hour) with grace, and returns a store to write
// entries through and the cache it delivers to, once it listens: a signal
// only reaches a relay that listens, so it probes until the poll one
// entry's signal scheduled has delivered it.
func signalledRelay(t *testing.T, grace time.Duration) (*sqlstore.Store, *cache) {
	t.Helper()
	dsn := sqltest.PostgresDSN(t)
	writer := openStore(t, dsn)
	up := newCache()
	run(t, outbox.NewRelay(openStore(t, dsn), up.deliver, outbox.Options{Interval: time.Hour, Grace: grace}))
	var probes int
	testenvEventually(t, func() bool {
		probes++
		key := fmt.Sprintf("probe%d", probes)
		enqueue(t, writer, key)
		time.Sleep(2 * grace)
		return up.has(key)
	})
	return writer, up
}

// testenvEventually polls cond for up to 10 s.
func testenvEventually(t *testing.T, cond func() bool) {
	t.Helper()
	testenv.Until(t, 10*time.Second, "the relays listening", cond)
}

// corrupt makes the keys of entry id unreadable.
func corrupt(t *testing.T, dsn string, id int64) {
	t.Helper()
	sqltest.Exec(t, dsn, fmt.Sprintf("UPDATE outbox SET keys = 'not json' WHERE id = %d", id))
}
