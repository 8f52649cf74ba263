package nostore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/nostore"
)

// Every read through a cache over nostore reaches the loader.
func TestEveryReadLoads(t *testing.T) {
	c, err := cache.New(nostore.Store{}, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := cache.NewFamily(c, "file", cache.FamilyOptions[string]{NegativeTTL: 1e9})
	if err != nil {
		t.Fatal(err)
	}
	loads := 0
	load := func(_ context.Context, id string) (string, error) { loads++; return id, nil }
	for range 3 {
		v, origin, err := f.Fetch(t.Context(), "a", load)
		if err != nil || v != "a" || origin != cache.OriginLoad {
			t.Fatalf("Fetch = %q, %v, %v", v, origin, err)
		}
	}
	if loads != 3 {
		t.Fatalf("%d loads for 3 reads, want 3", loads)
	}
	if _, err := f.Get(t.Context(), "a"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get = %v, want ErrNotFound", err)
	}
}
