package cachetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
)

// patternTests cover cache.PatternDeleter and the pattern deletes of a
// Cache built on it.
var patternTests = []test{
	{"DeletePattern", testDeletePattern},
	{"DeletePatternEscaped", testDeletePatternEscaped},
	{"DeletePatternMany", testDeletePatternMany},
	{"FamilyDeletePattern", testFamilyDeletePattern},
}

func testDeletePattern(t *testing.T, s Store, p string) {
	ctx := t.Context()
	for _, k := range []string{"file:a1", "file:a2", "file:b1", "user:a1", "file:a"} {
		mustSet(t, s, p+k, "v", time.Hour)
	}
	n, err := as[cache.PatternDeleter](t, s).DeletePattern(ctx, cache.EscapeGlob(p)+"file:a?")
	if err != nil || n != 2 {
		t.Fatalf("DeletePattern = %d, %v; want 2", n, err)
	}
	wantNotFound(t, s, p+"file:a1")
	wantNotFound(t, s, p+"file:a2")
	for _, k := range []string{"file:b1", "user:a1", "file:a"} {
		mustGet(t, s, p+k)
	}
	if n, err := as[cache.PatternDeleter](t, s).DeletePattern(ctx, cache.EscapeGlob(p)+"nothing:*"); err != nil || n != 0 {
		t.Fatalf("DeletePattern(no match) = %d, %v", n, err)
	}
}

func testDeletePatternEscaped(t *testing.T, s Store, p string) {
	ctx := t.Context()
	ids := []string{"a*", "a?", "a[b]", `a\`, "ab", "a", "a[", "a]", "aXb", `a\*`, "*"}
	for _, part := range ids {
		t.Run(part, func(t *testing.T) {
			for _, id := range ids {
				mustSet(t, s, p+part+"|"+id, "v", time.Hour)
			}
			// A user-supplied part, escaped, deletes only its own key.
			n, err := as[cache.PatternDeleter](t, s).DeletePattern(ctx, cache.EscapeGlob(p+part+"|"+part))
			if err != nil || n != 1 {
				t.Fatalf("DeletePattern(escaped %q) = %d, %v; want 1", part, n, err)
			}
			for _, id := range ids {
				_, err := s.Get(ctx, p+part+"|"+id)
				if gone := errors.Is(err, cache.ErrNotFound); gone != (id == part) {
					t.Errorf("key %q gone=%v after deleting %q", id, gone, part)
				}
			}
		})
	}
}

func testDeletePatternMany(t *testing.T, s Store, p string) {
	ctx := t.Context()
	const n = 2500
	var entries []cache.Entry
	for i := range n {
		entries = append(entries, cache.Entry{Key: fmt.Sprintf("%sdel:%d", p, i), Value: []byte("v"), TTL: time.Hour})
		if i%10 == 0 {
			entries = append(entries, cache.Entry{Key: fmt.Sprintf("%skeep:%d", p, i), Value: []byte("v"), TTL: time.Hour})
		}
	}
	if err := s.SetMulti(ctx, entries); err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	got, err := as[cache.PatternDeleter](t, s).DeletePattern(ctx, cache.EscapeGlob(p)+"del:*")
	if err != nil || got != n {
		t.Fatalf("DeletePattern = %d, %v; want %d", got, err, n)
	}
	if left, err := as[cache.PatternDeleter](t, s).DeletePattern(ctx, cache.EscapeGlob(p)+"keep:*"); err != nil || left != n/10 {
		t.Fatalf("keep:* removed %d, %v; want %d left untouched before", left, err, n/10)
	}
}

func testFamilyDeletePattern(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	files := newFamily(t, c, cache.FamilyOptions[File]{})
	users, err := cache.NewFamily[File](c, "user", cache.FamilyOptions[File]{})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"dir/a", "dir/b", "dir*/a", "dir2/a"}
	for _, id := range ids {
		if err := files.Set(ctx, id, File{ID: id}); err != nil {
			t.Fatal(err)
		}
		if err := users.Set(ctx, id, File{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	// The user-supplied directory "dir*" must not widen to "dir" and "dir2".
	n, err := files.DeletePattern(ctx, cache.EscapeGlob("dir*")+"/*")
	if err != nil || n != 1 {
		t.Fatalf("DeletePattern = %d, %v; want 1", n, err)
	}
	var left []string
	for _, id := range ids {
		if ok, _ := files.Exists(ctx, id); ok {
			left = append(left, id)
		}
		if ok, _ := users.Exists(ctx, id); !ok {
			t.Errorf("user %q deleted by a file pattern", id)
		}
	}
	if want := []string{"dir/a", "dir/b", "dir2/a"}; !slices.Equal(left, want) {
		t.Fatalf("left %v, want %v", left, want)
	}
	if n, err := c.DeletePattern(ctx, "*"); err != nil || n != 7 {
		t.Fatalf("Cache.DeletePattern(*) = %d, %v; want the 7 keys left in this prefix", n, err)
	}
}
