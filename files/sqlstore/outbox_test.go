package sqlstore_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/sqltest"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/outbox"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// far is a createdBefore that excludes no entry.
var far = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)

func TestOutbox(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := &fakeClock{now: day0.Add(123456789 * time.Nanosecond)}
		s := e.newStore(t, sqlstore.Options{Now: clock.Now})
		ctx := t.Context()

		invs := []outbox.Invalidation{
			{Keys: []string{"file:a", "file:info:a"}, Tags: []string{"files"}},
			{Keys: []string{"settings"}},
			{Tags: []string{"files", "search"}},
		}
		var ids []int64
		for _, inv := range invs {
			id, err := inTx(t, s, func(tx files.Tx) (int64, error) { return tx.Enqueue(ctx, inv) })
			if err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			ids = append(ids, id)
		}
		at := day0.Add(123456 * time.Microsecond)
		want := []outbox.Entry{
			{ID: ids[0], Invalidation: invs[0], CreatedAt: at},
			{ID: ids[1], Invalidation: outbox.Invalidation{Keys: []string{"settings"}, Tags: []string{}}, CreatedAt: at},
			{ID: ids[2], Invalidation: outbox.Invalidation{Keys: []string{}, Tags: []string{"files", "search"}}, CreatedAt: at},
		}

		steps := []struct {
			name   string
			do     func() error
			limit  int
			before time.Time
			want   []outbox.Entry
		}{
			{name: "pending, oldest first", want: want},
			{name: "limit", limit: 2, want: want[:2]},
			{name: "created before", before: at, want: []outbox.Entry{}},
			{name: "mark the first done", do: func() error { return s.MarkDone(ctx, ids[0]) }, want: want[1:]},
			{name: "marking again and unknown ids is harmless", do: func() error { return s.MarkDone(ctx, ids[0], 999999) }, want: want[1:]},
			{name: "mark nothing", do: func() error { return s.MarkDone(ctx) }, want: want[1:]},
			{
				name: "an entry to retry later is not due",
				do:   func() error { return s.RetryLater(ctx, ids[1], day0.Add(time.Hour)) },
				want: want[2:],
			},
			{
				name: "then due, with its attempt counted",
				do:   func() error { clock.Set(day0.Add(time.Hour)); return nil },
				want: []outbox.Entry{{ID: ids[1], Invalidation: want[1].Invalidation, CreatedAt: at, Attempts: 1}, want[2]},
			},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if st.do != nil {
					if err := st.do(); err != nil {
						t.Fatal(err)
					}
				}
				before := st.before
				if before.IsZero() {
					before = far
				}
				got, err := s.Pending(ctx, st.limit, before)
				if err != nil {
					t.Fatalf("Pending: %v", err)
				}
				if diff := cmp.Diff(st.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("Pending (-want +got):\n%s", diff)
				}
			})
		}

		if err := s.RetryLater(ctx, 999999, day0); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("RetryLater(unknown) error = %v, want ErrNotFound", err)
		}
		if b, err := s.Backlog(ctx); err != nil || b.Pending != 2 || !b.Oldest.Equal(at) || b.SetAside != 0 {
			t.Errorf("Backlog = %+v, %v; want 2 pending since %v", b, err, at)
		}

		// ids[2] is set aside: no longer pending, counted, and kept.
		if err := s.SetAside(ctx, ids[2], strings.Repeat("x", 5000)); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAside(ctx, 999999, "r"); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("SetAside(unknown) error = %v, want ErrNotFound", err)
		}
		if b, err := s.Backlog(ctx); err != nil || b.Pending != 1 || b.SetAside != 1 {
			t.Errorf("Backlog after a set-aside = %+v, %v; want 1 pending, 1 set aside", b, err)
		}

		// ids[0] was marked done at day0; mark ids[1] an hour later.
		if err := s.MarkDone(ctx, ids[1]); err != nil {
			t.Fatal(err)
		}
		prunes := []struct {
			before time.Time
			want   int64
		}{
			{before: day0, want: 0},                       // nothing done before
			{before: day0.Add(time.Minute), want: 1},      // ids[0]
			{before: day0.Add(time.Minute), want: 0},      // already gone
			{before: day0.Add(2 * time.Hour), want: 1},    // ids[1]
			{before: day0.Add(1000 * time.Hour), want: 0}, // ids[2] is set aside: kept
		}
		for _, p := range prunes {
			n, err := s.Prune(ctx, p.before)
			if err != nil {
				t.Fatalf("Prune: %v", err)
			}
			if n != p.want {
				t.Errorf("Prune(%v) = %d, want %d", p.before, n, p.want)
			}
		}
		if b, err := s.Backlog(ctx); err != nil || b.Pending != 0 || !b.Oldest.IsZero() || b.SetAside != 1 {
			t.Errorf("Backlog after prune = %+v, %v; want nothing pending, 1 set aside", b, err)
		}

		// Ids keep growing after a prune.
		id, err := inTx(t, s, func(tx files.Tx) (int64, error) { return tx.Enqueue(ctx, outbox.Invalidation{}) })
		if err != nil {
			t.Fatal(err)
		}
		if id <= ids[2] {
			t.Errorf("new id %d not above %d", id, ids[2])
		}
	})
}

// TestOutboxCorruptRow: a row that cannot be decoded comes back with its
// Err set, and the rows after it are still returned.
func TestOutboxCorruptRow(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		dsn := e.dsn(t)
		s := openStore(t, dsn, sqlstore.Options{})
		ctx := t.Context()
		var ids []int64
		for range 3 {
			id, err := inTx(t, s, func(tx files.Tx) (int64, error) {
				return tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"k"}})
			})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		sqltest.Exec(t, dsn, `UPDATE outbox SET keys = 'not json' WHERE id = `+itoa(ids[1]))
		got, err := s.Pending(ctx, 10, far)
		if err != nil {
			t.Fatalf("Pending with a corrupt row: %v", err)
		}
		if len(got) != 3 || got[0].Err != nil || got[1].Err == nil || got[2].Err != nil || got[2].ID != ids[2] {
			t.Fatalf("Pending = %+v; want the middle entry with its Err and the others intact", got)
		}
	})
}

func TestMarkDoneMany(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		// 1,203 inserts in one transaction: under -race on a busy machine
		// they outlast the default 3-s deadline, which is not the point.
		s := e.newStore(t, sqlstore.Options{Timeout: time.Minute})
		var ids []int64
		err := s.WithTx(t.Context(), func(tx files.Tx) error {
			for range 1203 {
				id, err := tx.Enqueue(t.Context(), outbox.Invalidation{Keys: []string{"k"}})
				if err != nil {
					return err
				}
				ids = append(ids, id)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.MarkDone(t.Context(), ids[:1202]...); err != nil {
			t.Fatal(err)
		}
		got, err := s.Pending(t.Context(), 5000, far)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != ids[1202] {
			t.Errorf("pending = %v, want only %d", got, ids[1202])
		}
	})
}

// TestOutboxSince: Since returns the entries done from a time on or
// pending, created up to a time, not set aside, page by page after an id.
func TestOutboxSince(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		start := time.Now().Add(-time.Minute)
		var ids []int64
		for _, k := range []string{"done", "pending", "aside", "last"} {
			err := s.WithTx(t.Context(), func(tx files.Tx) error {
				id, err := tx.Enqueue(t.Context(), outbox.Invalidation{Keys: []string{k}})
				ids = append(ids, id)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := s.MarkDone(t.Context(), ids[0]); err != nil {
			t.Fatal(err)
		}
		if err := s.SetAside(t.Context(), ids[2], "test"); err != nil {
			t.Fatal(err)
		}
		keys := func(es []outbox.Entry) (out []string) {
			for _, e := range es {
				out = append(out, e.Keys...)
			}
			return out
		}
		end := time.Now().Add(time.Minute)
		got, err := s.Since(t.Context(), start, end, 0, 2)
		if err != nil || !slices.Equal(keys(got), []string{"done", "pending"}) {
			t.Fatalf("first page: %q, %v; want done, pending", keys(got), err)
		}
		got, err = s.Since(t.Context(), start, end, got[1].ID, 2)
		if err != nil || !slices.Equal(keys(got), []string{"last"}) {
			t.Fatalf("second page: %q, %v; want last (not the entry set aside)", keys(got), err)
		}
		// Done before doneFrom: only the pending entries.
		if got, err := s.Since(t.Context(), end, end, 0, 10); err != nil || !slices.Equal(keys(got), []string{"pending", "last"}) {
			t.Fatalf("entries done from a minute ahead: %q, %v; want the pending ones", keys(got), err)
		}
		// Created after createdTo: none.
		if got, err := s.Since(t.Context(), start, start, 0, 10); err != nil || len(got) != 0 {
			t.Fatalf("entries created before %v: %q, %v; want none", start, keys(got), err)
		}
	})
}

// TestOutboxSignals: on PostgreSQL every listener hears a committed entry
// (not a rolled-back one) and a writer's Notify; listeners on another
// schema hear nothing.
func TestOutboxSignals(t *testing.T) {
	dsn := postgresDSN(t)
	s := openStore(t, dsn, sqlstore.Options{})
	other := openStore(t, postgresDSN(t), sqlstore.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	listen := func(s *sqlstore.Store) (<-chan outbox.Signal, <-chan struct{}) {
		sigs := make(chan outbox.Signal, 10)
		ready := make(chan struct{}, 10)
		go func() {
			_ = s.Listen(ctx, func(sig outbox.Signal) { sigs <- sig }, func() { ready <- struct{}{} })
		}()
		return sigs, ready
	}
	sigs, ready := listen(s)
	otherSigs, otherReady := listen(other)
	<-ready
	<-otherReady
	expect := func(want outbox.Signal) {
		t.Helper()
		select {
		case got := <-sigs:
			if got != want {
				t.Fatalf("signal %q, want %q", got, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no %q signal", want)
		}
	}
	errRollback := errors.New("rollback")
	if err := s.WithTx(ctx, func(tx files.Tx) error {
		if _, err := tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"k"}}); err != nil {
			return err
		}
		return errRollback
	}); !errors.Is(err, errRollback) {
		t.Fatal(err)
	}
	if _, err := inTx(t, s, func(tx files.Tx) (int64, error) { return tx.Enqueue(ctx, outbox.Invalidation{Keys: []string{"k"}}) }); err != nil {
		t.Fatal(err)
	}
	expect(outbox.SignalNew) // the committed one; the rolled-back one sent nothing
	if err := s.Notify(ctx, outbox.SignalPending); err != nil {
		t.Fatal(err)
	}
	expect(outbox.SignalPending)
	select {
	case sig := <-sigs:
		t.Fatalf("unexpected signal %q", sig)
	case sig := <-otherSigs:
		t.Fatalf("a store on another schema heard %q", sig)
	default:
	}
}
