package cache_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
)

// FuzzFamilyGet stores arbitrary bytes under a family's key: a read must
// return a value or ErrNotFound (a corrupt value is a miss), never panic or
// fail otherwise.
func FuzzFamilyGet(f *testing.F) {
	f.Add([]byte(`v:99999999999999:{"id":"x","name":"n","size":1,"tags":["a"],"created_at":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`v:1:{"id":`))
	f.Add([]byte(`v:99999999999999:{"size":"not a number"}`))
	f.Add([]byte(`v:99999999999999:{"created_at":"yesterday"}`))
	f.Add([]byte(`v:99999999999999:[1,2,3]`))
	f.Add([]byte("v:99999999999999:\xff\xfe"))
	f.Add([]byte(`n:99999999999999:`))
	f.Add([]byte(`l:token`))
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	c, err := cache.New(store, cache.Options{})
	if err != nil {
		f.Fatal(err)
	}
	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[codecFile]{})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ctx := context.Background()
		if err := store.Set(ctx, "file:k", raw, time.Minute); err != nil {
			t.Fatal(err)
		}
		if _, err := files.Get(ctx, "k"); err != nil && !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Get of %q: %v", raw, err)
		}
	})
}
