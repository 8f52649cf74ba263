package cache_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
)

// downStore fails every read: a store in an outage (the fault a real Redis
// gives when killed, injected here to hold it for as long as the test
// needs).
type downStore struct{ cache.Store }

var errDown = fmt.Errorf("injected: %w", cache.ErrUnavailable)

func (downStore) Get(context.Context, string) ([]byte, error) { return nil, errDown }
func (downStore) SetNXGet(context.Context, string, []byte, time.Duration) ([]byte, bool, error) {
	return nil, false, errDown
}

// TestFallbackBudget: while the store is down, loads run without the cache,
// never more than FallbackLimit at once; the others wait FallbackWait and
// fail with ErrOverloaded, which says when to retry.
func TestFallbackBudget(t *testing.T) {
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 4
	c, err := cache.New(downStore{m}, cache.Options{FallbackLimit: limit, FallbackWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "file", cache.FamilyOptions[string]{})
	if err != nil {
		t.Fatal(err)
	}
	var running, peak atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context, id string) (string, error) {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		running.Add(-1)
		return id, nil
	}
	const callers = 50
	var wg sync.WaitGroup
	var ok, overloaded atomic.Int32
	for i := range callers {
		wg.Go(func() {
			_, err := f.GetOrLoad(t.Context(), fmt.Sprint(i), load)
			var ra interface{ RetryAfter() time.Duration }
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, cache.ErrOverloaded) && errors.As(err, &ra) && ra.RetryAfter() > 0:
				overloaded.Add(1)
			default:
				t.Errorf("caller %d: %v", i, err)
			}
		})
	}
	// The callers beyond the budget give up after FallbackWait; then the
	// loads in flight may finish.
	deadline := time.Now().Add(5 * time.Second)
	for overloaded.Load() < callers-limit {
		if time.Now().After(deadline) {
			t.Fatalf("%d callers overloaded, want %d", overloaded.Load(), callers-limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	wg.Wait()
	if p := peak.Load(); p != limit {
		t.Fatalf("peak concurrent loads = %d, want the budget %d", p, limit)
	}
	if ok.Load() != limit {
		t.Fatalf("%d loads succeeded, want %d", ok.Load(), limit)
	}
	st := c.Stats()[0]
	if st.Fallbacks != limit || st.Rejected != callers-limit {
		t.Fatalf("stats %+v, want %d fallbacks and %d rejected", st, limit, callers-limit)
	}
}
