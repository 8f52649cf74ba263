package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
)

// ttlStore is the breaker with the TTL of the store it wraps, for the
// conformance suite.
type ttlStore struct {
	*breaker.Store
	inner *memstore.Store
}

func (s ttlStore) TTL(ctx context.Context, key string) (time.Duration, error) {
	return s.inner.TTL(ctx, key)
}

func (s ttlStore) TagSize(ctx context.Context, tagKey string) (int, error) {
	return s.inner.TagSize(ctx, tagKey)
}

// The breaker is transparent while closed.
func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Store {
		m, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return ttlStore{breaker.New(m, breaker.Options{Ramp: -1}), m}
	})
}

type transitions struct {
	mu   sync.Mutex
	seen []string
	ch   chan breaker.State // every new state, for tests that await one
}

func newTransitions() *transitions { return &transitions{ch: make(chan breaker.State, 100)} }

func (tr *transitions) record(from, to breaker.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seen = append(tr.seen, from.String()+">"+to.String())
	select {
	case tr.ch <- to:
	default:
	}
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
}

// await waits until the breaker enters state, driving it with poke (calls
// that let it notice time passing).
func (tr *transitions) await(t *testing.T, s *breaker.Store, state breaker.State, poke func()) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for s.State() != state {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never reached %v: %v", state, tr.list())
		}
		poke()
		select {
		case <-tr.ch:
		case <-time.After(20 * time.Millisecond): // gobreaker's OpenTimeout runs on its own clock
		}
	}
}

// TestOutageOpensAndRecoveryCloses kills a real Redis: the breaker opens,
// fails fast while open, probes once Redis is back and closes, then ramps
// reads up.
func TestOutageOpensAndRecoveryCloses(t *testing.T) {
	srv := redistest.Standalone(t)
	rs, err := redisstore.New(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	tr := newTransitions()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	s := breaker.New(rs, breaker.Options{OpenTimeout: 100 * time.Millisecond, Probes: 3, Ramp: 10 * time.Second, OnStateChange: tr.record, Now: clock})
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	for i := 0; s.State() != breaker.Open; i++ {
		if i > 50 {
			t.Fatalf("breaker still %v after %d failed calls", s.State(), i)
		}
		if _, err := s.Get(ctx, "k"); err == nil {
			t.Fatal("Get succeeded with Redis dead")
		}
	}
	// Open: calls fail at once with ErrOpen, without reaching the store.
	_, err = s.Get(ctx, "k")
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, cache.ErrUnavailable) {
		t.Fatalf("Get while open: %v, want ErrOpen", err)
	}
	srv.Restart(t)
	tr.await(t, s, breaker.Closed, func() { _ = s.Set(ctx, "probe", []byte("v"), time.Minute) })
	// A probe may still find the reconnection under way and reopen the
	// breaker; the history starts with the trip and ends with the close.
	got := tr.list()
	if len(got) < 3 || got[0] != "closed>open" || got[1] != "open>half-open" || got[len(got)-1] != "half-open>closed" {
		t.Fatalf("transitions = %v, want closed>open, open>half-open, ..., half-open>closed", got)
	}
	// Right after closing some reads are held back; once the ramp's
	// clock has passed, none.
	for range 200 {
		_, _ = s.Get(ctx, "probe")
	}
	if s.Held() == 0 {
		t.Fatal("no read was held back right after recovery")
	}
	now.Add(int64(11 * time.Second))
	held := s.Held()
	for range 200 {
		if _, err := s.Get(ctx, "probe"); err != nil {
			t.Fatalf("Get after the ramp: %v", err)
		}
	}
	if s.Held() != held {
		t.Fatal("reads held back after the ramp")
	}
}

// TestErrorRepliesAreNotOutages: a Redis that answers with errors (a key of
// the wrong type, a write refused for memory) is reachable: the breaker
// stays closed, and every other key keeps working.
func TestErrorRepliesAreNotOutages(t *testing.T) {
	srv := redistest.Standalone(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	rs, err := redisstore.New(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	tr := newTransitions()
	s := breaker.New(rs, breaker.Options{OnStateChange: tr.record})
	ctx := t.Context()
	if err := s.Set(ctx, "good", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := rs.Client().Do(ctx, rs.Client().B().Rpush().Key("list").Element("x").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for range 100 {
		if _, err := s.Get(ctx, "list"); !errors.Is(err, cache.ErrWrongType) {
			t.Fatalf("Get of a list: %v, want ErrWrongType", err)
		}
	}
	// Fill Redis to its maxmemory: writes are refused, reads go on.
	big := make([]byte, 64<<10)
	var oom error
	for i := 0; oom == nil && i < 1000; i++ {
		oom = s.Set(ctx, fmt.Sprint("fill", i), big, time.Hour)
	}
	if !errors.Is(oom, cache.ErrNoMemory) {
		t.Fatalf("filling Redis ended with %v, want ErrNoMemory", oom)
	}
	for i := range 100 {
		if err := s.Set(ctx, fmt.Sprint("more", i), big, time.Hour); err != nil && !errors.Is(err, cache.ErrNoMemory) {
			t.Fatalf("Set at maxmemory: %v, want ErrNoMemory", err)
		}
		if v, err := s.Get(ctx, "good"); err != nil || string(v) != "v" {
			t.Fatalf("Get at maxmemory = %q, %v", v, err)
		}
	}
	if st := s.State(); st != breaker.Closed {
		t.Fatalf("breaker %v after error replies (%v); want closed", st, tr.list())
	}
}

// TestDeletesPassAnOpenBreaker: the delete of an invalidation reaches the
// store even while the breaker is open, since another instance may be
// reading it.
func TestDeletesPassAnOpenBreaker(t *testing.T) {
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	s := breaker.New(m, breaker.Options{StartOpen: true, OpenTimeout: time.Hour})
	if s.State() != breaker.Open {
		t.Fatalf("StartOpen: state %v", s.State())
	}
	ctx := t.Context()
	if err := m.Set(ctx, "k", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k"); !errors.Is(err, breaker.ErrOpen) {
		t.Fatalf("Get while open: %v, want ErrOpen", err)
	}
	if n, err := s.Delete(ctx, "k"); err != nil || n != 1 {
		t.Fatalf("Delete while open = %d, %v; want the key deleted", n, err)
	}
	if err := m.AddToTag(ctx, "tag:{t}", time.Hour, "k2"); err != nil {
		t.Fatal(err)
	}
	if err := m.Set(ctx, "k2", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeleteTag(ctx, "tag:{t}"); err != nil || n != 1 {
		t.Fatalf("DeleteTag while open = %d, %v", n, err)
	}
	if err := m.Set(ctx, "p:1", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	if n, err := s.DeletePattern(ctx, "p:*"); err != nil || n != 1 {
		t.Fatalf("DeletePattern while open = %d, %v", n, err)
	}
}
