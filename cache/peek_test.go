package cache_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/google/go-cmp/cmp"
)

type peekItem struct {
	ID      string `json:"id"`
	Version int64  `json:"version"`
}

// TestPeek: Peek decodes every kind of envelope as a reader would see it,
// and changes nothing: no statistics, no deletion of a corrupt value, no
// load, no lease.
func TestPeek(t *testing.T) {
	ctx := t.Context()
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	now := time.Now()
	c, err := cache.New(store, cache.Options{Prefix: "p:", Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "item", cache.FamilyOptions[peekItem]{FailSafe: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ms := func(d time.Duration) int64 { return now.Add(d).UnixMilli() }
	v1 := `{"id":"a","version":1}`
	tests := []struct {
		name  string
		raw   string // "" writes nothing
		want  cache.PeekState
		value peekItem
		fresh bool
	}{
		{"absent", "", cache.PeekAbsent, peekItem{}, false},
		{"fresh value", fmt.Sprintf("v:%d:%s", ms(time.Minute), v1), cache.PeekValue, peekItem{"a", 1}, true},
		{"value past expiry, fail-safe", fmt.Sprintf("v:%d:%s", ms(-time.Minute), v1), cache.PeekValue, peekItem{"a", 1}, false},
		{"stale put back", fmt.Sprintf("s:%d:%d:%s", ms(-time.Minute), ms(time.Minute), v1), cache.PeekValue, peekItem{"a", 1}, false},
		{"not found", fmt.Sprintf("n:%d:", ms(time.Minute)), cache.PeekNotFound, peekItem{}, false},
		{"expired not found", fmt.Sprintf("n:%d:", ms(-time.Minute)), cache.PeekAbsent, peekItem{}, false},
		{"lease", fmt.Sprintf("l:%d:tok", ms(time.Second)), cache.PeekLease, peekItem{}, false},
		{"expired lease", fmt.Sprintf("l:%d:tok", ms(-time.Second)), cache.PeekAbsent, peekItem{}, false},
		{"lease over a value", fmt.Sprintf("l:%d:tok:v:%d:%s", ms(time.Second), ms(time.Minute), v1), cache.PeekValue, peekItem{"a", 1}, true},
		{"corrupt", "garbage", cache.PeekCorrupt, peekItem{}, false},
		{"undecodable payload", fmt.Sprintf("v:%d:{not json", ms(time.Minute)), cache.PeekCorrupt, peekItem{}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := fmt.Sprint(i)
			key, err := f.Key(id)
			if err != nil {
				t.Fatal(err)
			}
			if tc.raw != "" {
				if err := store.Set(ctx, key, []byte(tc.raw), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			before := c.Stats()
			got, err := f.Peek(ctx, key)
			if err != nil {
				t.Fatalf("Peek: %v", err)
			}
			if got.State != tc.want || got.Value != tc.value || got.Fresh != tc.fresh {
				t.Errorf("Peek = %v %+v fresh=%v, want %v %+v fresh=%v", got.State, got.Value, got.Fresh, tc.want, tc.value, tc.fresh)
			}
			if string(got.Raw) != tc.raw {
				t.Errorf("Raw = %q, want %q", got.Raw, tc.raw)
			}
			if diff := cmp.Diff(before, c.Stats()); diff != "" {
				t.Errorf("Peek changed the statistics (-before +after):\n%s", diff)
			}
			// Nothing was deleted, replaced or leased.
			after, err := store.Get(ctx, key)
			switch {
			case tc.raw == "" && !errors.Is(err, cache.ErrNotFound):
				t.Errorf("after Peek of an absent key: Get = %q, %v; want not found", after, err)
			case tc.raw != "" && string(after) != tc.raw:
				t.Errorf("after Peek the store holds %q (err %v), want %q", after, err, tc.raw)
			}
		})
	}
}

// TestPeekNearUntouched: on Redis with a near cache, Peek reads the store,
// never the near cache, and does not fill it.
func TestPeekNearUntouched(t *testing.T) {
	ctx := t.Context()
	opts, err := redisstore.ParseURL(testenv.Require(t, redistest.EnvRedisURL))
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("peek%08x:", rand.Uint32())
	opts.Track = []string{prefix + "item:"}
	store, err := redisstore.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c, err := cache.New(store, cache.Options{Prefix: prefix, NearSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "item", cache.FamilyOptions[peekItem]{Near: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeletePattern(context.WithoutCancel(ctx), "*") })
	if err := f.Set(ctx, "a", peekItem{"a", 1}); err != nil {
		t.Fatal(err)
	}
	key, _ := f.Key("a")
	before := c.Stats()
	for range 3 {
		p, err := f.Peek(ctx, key)
		if err != nil || p.State != cache.PeekValue || p.Value != (peekItem{"a", 1}) || !p.Fresh {
			t.Fatalf("Peek = %+v, %v; want a fresh version 1", p, err)
		}
	}
	if diff := cmp.Diff(before, c.Stats()); diff != "" {
		t.Errorf("Peek counted lookups or filled the near cache (-before +after):\n%s", diff)
	}
	// A Get fills the near cache; Peek still reports the store's bytes.
	if _, err := f.Get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if n := nearSize(c); n != 1 {
		t.Fatalf("near entries after Get = %d, want 1", n)
	}
	if _, err := store.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if p, err := f.Peek(ctx, key); err != nil || p.State != cache.PeekAbsent {
		t.Errorf("Peek after the key was deleted in Redis = %+v, %v; want absent", p, err)
	}
}

func nearSize(c *cache.Cache) int {
	n := 0
	for _, s := range c.Stats() {
		n += s.NearSize
	}
	return n
}

func TestPeekForeignKey(t *testing.T) {
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	c, err := cache.New(store, cache.Options{Prefix: "p:"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "item", cache.FamilyOptions[peekItem]{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"item:1", "p:other:1", "p:item:", "p:itemx:1"} {
		if _, err := f.Peek(t.Context(), key); !errors.Is(err, cache.ErrInvalidKey) {
			t.Errorf("Peek(%q) = %v, want ErrInvalidKey", key, err)
		}
	}
}
