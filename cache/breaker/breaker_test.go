package breaker_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/cachetest"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
)

// The breaker is transparent while closed.
func TestConformance(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cache.Store {
		m, err := memstore.New(memstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return breaker.New(m, breaker.Options{Ramp: -1})
	})
}

type transitions struct {
	mu   sync.Mutex
	seen []string
}

func (tr *transitions) record(from, to breaker.State) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.seen = append(tr.seen, from.String()+">"+to.String())
}

func (tr *transitions) list() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.seen)
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
	var tr transitions
	s := breaker.New(rs, breaker.Options{OpenTimeout: 100 * time.Millisecond, Probes: 3, Ramp: 300 * time.Millisecond, OnStateChange: tr.record})
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
	start := time.Now()
	_, err = s.Get(ctx, "k")
	if !errors.Is(err, breaker.ErrOpen) || !errors.Is(err, cache.ErrUnavailable) {
		t.Fatalf("Get while open: %v, want ErrOpen", err)
	}
	if el := time.Since(start); el > 10*time.Millisecond {
		t.Fatalf("Get while open took %v; it must fail at once", el)
	}
	srv.Restart(t)
	deadline := time.Now().Add(10 * time.Second)
	for s.State() != breaker.Closed {
		if time.Now().After(deadline) {
			t.Fatalf("breaker never closed after Redis came back: %v", tr.list())
		}
		_ = s.Set(ctx, "probe", []byte("v"), time.Minute) // writes probe; reads may be held
		time.Sleep(10 * time.Millisecond)                 // awaiting OpenTimeout, a timer inside gobreaker
	}
	// A probe may still find the reconnection under way and reopen the
	// breaker; the history starts with the trip and ends with the close.
	got := tr.list()
	if len(got) < 3 || got[0] != "closed>open" || got[1] != "open>half-open" || got[len(got)-1] != "half-open>closed" {
		t.Fatalf("transitions = %v, want closed>open, open>half-open, ..., half-open>closed", got)
	}
	// Right after closing some reads are held back; after the ramp none.
	for range 200 {
		_, _ = s.Get(ctx, "probe")
	}
	if s.Held() == 0 {
		t.Fatal("no read was held back right after recovery")
	}
	for time.Since(start) < 2*time.Second && s.Held() > 0 {
		before := s.Held()
		time.Sleep(350 * time.Millisecond) // past the ramp
		for range 200 {
			if _, err := s.Get(ctx, "probe"); err != nil {
				t.Fatalf("Get after the ramp: %v", err)
			}
		}
		if s.Held() == before {
			break
		}
	}
}
