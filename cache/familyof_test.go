package cache_test

import (
	"testing"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
)

// TestFamilyOf: a key belongs to the longest registered family name it
// starts with, under the cache's prefix.
func TestFamilyOf(t *testing.T) {
	store, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(store, cache.Options{Prefix: "app:"})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"file", "file:meta", "stats"} {
		if _, err := cache.NewFamily(c, name, cache.FamilyOptions[string]{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		key, family, part string
		ok                bool
	}{
		{"app:file:1", "file", "1", true},
		{"app:file:meta:1", "file:meta", "1", true},
		{"app:file:info:1", "file", "info:1", true}, // no family "file:info"
		{"app:file:meta:", "file", "meta:", true},   // "file:meta" with an empty part is not its key
		{"app:stats:2026-11-30", "stats", "2026-11-30", true},
		{"app:file:", "", "", false},
		{"app:files:1", "", "", false},
		{"file:1", "", "", false}, // another prefix
		{"app:tag:files", "", "", false},
	}
	for _, tc := range tests {
		family, part, ok := c.FamilyOf(tc.key)
		if family != tc.family || part != tc.part || ok != tc.ok {
			t.Errorf("FamilyOf(%q) = %q, %q, %v; want %q, %q, %v", tc.key, family, part, ok, tc.family, tc.part, tc.ok)
		}
	}
}
