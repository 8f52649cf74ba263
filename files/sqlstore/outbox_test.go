package sqlstore_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
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

func TestOutbox(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		clock := &fakeClock{now: day0.Add(123456789 * time.Nanosecond)}
		s := e.newStore(t, sqlstore.Options{Now: clock.Now})
		ctx := t.Context()

		invs := []files.Invalidation{
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
		want := []files.OutboxEntry{
			{ID: ids[0], Invalidation: invs[0], CreatedAt: at},
			{ID: ids[1], Invalidation: files.Invalidation{Keys: []string{"settings"}, Tags: []string{}}, CreatedAt: at},
			{ID: ids[2], Invalidation: files.Invalidation{Keys: []string{}, Tags: []string{"files", "search"}}, CreatedAt: at},
		}

		steps := []struct {
			name  string
			do    func() error
			limit int
			want  []files.OutboxEntry
		}{
			{name: "pending, oldest first", want: want},
			{name: "limit", limit: 2, want: want[:2]},
			{name: "mark the first done", do: func() error { return s.MarkInvalidated(ctx, ids[0]) }, want: want[1:]},
			{name: "marking again and unknown ids is harmless", do: func() error { return s.MarkInvalidated(ctx, ids[0], 999999) }, want: want[1:]},
			{name: "mark nothing", do: func() error { return s.MarkInvalidated(ctx) }, want: want[1:]},
			{
				name: "retry later counts attempts",
				do: func() error {
					if err := s.RetryLater(ctx, ids[1]); err != nil {
						return err
					}
					return s.RetryLater(ctx, ids[1])
				},
				want: []files.OutboxEntry{
					{ID: ids[1], Invalidation: want[1].Invalidation, CreatedAt: at, Attempts: 2},
					want[2],
				},
			},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if st.do != nil {
					if err := st.do(); err != nil {
						t.Fatal(err)
					}
				}
				got, err := s.PendingInvalidations(ctx, st.limit)
				if err != nil {
					t.Fatalf("PendingInvalidations: %v", err)
				}
				if diff := cmp.Diff(st.want, got); diff != "" {
					t.Errorf("PendingInvalidations (-want +got):\n%s", diff)
				}
			})
		}

		if err := s.RetryLater(ctx, 999999); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("RetryLater(unknown) error = %v, want ErrNotFound", err)
		}
		if n, err := s.OutboxBacklog(ctx); err != nil || n != 2 {
			t.Errorf("OutboxBacklog = %d, %v; want 2", n, err)
		}

		// ids[0] was marked done at clock's time; mark ids[1] an hour later.
		clock.Set(day0.Add(time.Hour))
		if err := s.MarkInvalidated(ctx, ids[1]); err != nil {
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
			{before: day0.Add(1000 * time.Hour), want: 0}, // ids[2] is pending: kept
		}
		for _, p := range prunes {
			n, err := s.PruneOutbox(ctx, p.before)
			if err != nil {
				t.Fatalf("PruneOutbox: %v", err)
			}
			if n != p.want {
				t.Errorf("PruneOutbox(%v) = %d, want %d", p.before, n, p.want)
			}
		}
		got, err := s.PendingInvalidations(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want[2:], got); diff != "" {
			t.Errorf("pending after prune (-want +got):\n%s", diff)
		}

		// Ids keep growing after a prune.
		id, err := inTx(t, s, func(tx files.Tx) (int64, error) { return tx.Enqueue(ctx, files.Invalidation{}) })
		if err != nil {
			t.Fatal(err)
		}
		if id <= ids[2] {
			t.Errorf("new id %d not above %d", id, ids[2])
		}
	})
}

func TestMarkInvalidatedMany(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		var ids []int64
		err := s.WithTx(t.Context(), func(tx files.Tx) error {
			for range 1203 {
				id, err := tx.Enqueue(t.Context(), files.Invalidation{Keys: []string{"k"}})
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
		if err := s.MarkInvalidated(t.Context(), ids[:1202]...); err != nil {
			t.Fatal(err)
		}
		got, err := s.PendingInvalidations(t.Context(), 5000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != ids[1202] {
			t.Errorf("pending = %v, want only %d", got, ids[1202])
		}
	})
}
