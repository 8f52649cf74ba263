package cachetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/testenv"
)

// tagTests cover cache.Tagger and tag invalidation through a Cache.
var tagTests = []test{
	{"Tags", testTags},
	{"FamilyTags", testFamilyTags},
	{"TagRaceWithLoad", testTagRaceWithLoad},
	{"TagStaleTakeover", testTagStaleTakeover},
	{"TagFootprintFollowsLiveKeys", testTagFootprint},
	{"TagDeleteRetried", testTagDeleteRetried},
}

// setMembers writes n keys, p+"m0" onwards, in one SetMulti, and returns
// them: members for a tag.
func setMembers(t *testing.T, s cache.Store, p string, n int) []string {
	t.Helper()
	keys := make([]string, n)
	entries := make([]cache.Entry, n)
	for i := range n {
		keys[i] = fmt.Sprintf("%sm%d", p, i)
		entries[i] = cache.Entry{Key: keys[i], Value: []byte("v"), TTL: time.Hour}
	}
	if err := s.SetMulti(t.Context(), entries); err != nil {
		t.Fatal(err)
	}
	return keys
}

// tagSizer is a Tagger that reports the size of a tag's index.
type tagSizer interface {
	TagSize(ctx context.Context, tagKey string) (int, error)
}

func testTags(t *testing.T, s Store, p string) {
	ctx := t.Context()
	// More than one drain batch, and more keys in one call than a Lua
	// script can unpack (about 8000).
	members := setMembers(t, s, p, 9500)
	mustSet(t, s, p+"other", "v", time.Hour)
	if err := as[cache.Tagger](t, s).AddToTag(ctx, p+"tag:{a}", time.Hour, members[:600]...); err != nil {
		t.Fatal(err)
	}
	if err := as[cache.Tagger](t, s).AddToTag(ctx, p+"tag:{a}", time.Minute, members[600:]...); err != nil {
		t.Fatal(err)
	}
	// A member that already expired counts as not existing.
	if err := as[cache.Tagger](t, s).AddToTag(ctx, p+"tag:{a}", time.Minute, p+"gone"); err != nil {
		t.Fatal(err)
	}
	n, err := as[cache.Tagger](t, s).DeleteTag(ctx, p+"tag:{a}")
	if err != nil || n != len(members) {
		t.Fatalf("DeleteTag = %d, %v; want %d", n, err, len(members))
	}
	for _, k := range []string{members[0], members[599], members[600], members[len(members)-1]} {
		wantNotFound(t, s, k)
	}
	mustGet(t, s, p+"other")
	if n, err := as[cache.Tagger](t, s).DeleteTag(ctx, p+"tag:{a}"); err != nil || n != 0 {
		t.Fatalf("second DeleteTag = %d, %v; want 0", n, err)
	}
	if n, err := as[cache.Tagger](t, s).DeleteTag(ctx, p+"tag:{never}"); err != nil || n != 0 {
		t.Fatalf("DeleteTag(unknown) = %d, %v; want 0", n, err)
	}
}

func testFamilyTags(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	search, err := cache.NewFamily(c, "search", cache.FamilyOptions[[]string]{Tags: []string{"files"}, TTL: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	files := newFamily(t, c, cache.FamilyOptions[File]{})
	if err := search.Set(ctx, "q1", []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if err := search.SetMany(ctx, map[string][]string{"q2": {"b"}, "q3": nil}); err != nil {
		t.Fatal(err)
	}
	if _, err := search.GetOrLoad(ctx, "q4", func(context.Context, string) ([]string, error) { return []string{"d"}, nil }); err != nil {
		t.Fatal(err)
	}
	if err := files.Set(ctx, "f1", File{ID: "f1"}); err != nil {
		t.Fatal(err)
	}
	n, err := c.InvalidateTags(ctx, "files")
	if err != nil || n != 4 {
		t.Fatalf("InvalidateTags = %d, %v; want 4", n, err)
	}
	for _, q := range []string{"q1", "q2", "q3", "q4"} {
		if ok, _ := search.Exists(ctx, q); ok {
			t.Errorf("search %s survived the tag invalidation", q)
		}
	}
	if ok, _ := files.Exists(ctx, "f1"); !ok {
		t.Error("an untagged family lost its value")
	}
	if _, err := c.InvalidateTags(ctx, "bad\ntag\x00"); !errors.Is(err, cache.ErrInvalidKey) {
		t.Errorf("InvalidateTags(bad) err = %v, want ErrInvalidKey", err)
	}
}

// testTagRaceWithLoad: a search load that started before a write must not
// store its result after the write's tag invalidation.
func testTagRaceWithLoad(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	search, err := cache.NewFamily(c, "search", cache.FamilyOptions[string]{Tags: []string{"files"}})
	if err != nil {
		t.Fatal(err)
	}
	inLoad := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := search.GetOrLoad(ctx, "q", func(context.Context, string) (string, error) {
			close(inLoad)
			<-release
			return "stale", nil
		})
		done <- err
	}()
	<-inLoad
	if _, err := c.InvalidateTags(ctx, "files"); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v, err := search.Get(ctx, "q"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("search result %q stored after the tag invalidation (err %v)", v, err)
	}
}

// testTagStaleTakeover: a reader that refreshes a stale value (FailSafe)
// adds the fresh value to the family's tags, so that the next tag
// invalidation deletes it.
func testTagStaleTakeover(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 })
	search, err := cache.NewFamily(c, "search", cache.FamilyOptions[string]{
		Tags: []string{"files"}, FailSafe: time.Hour,
		// The old value expires at once; the fresh one lives an hour.
		TTLFunc: func(v string) time.Duration {
			if v == "old" {
				return 50 * time.Millisecond
			}
			return time.Hour
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := search.Set(ctx, "q", "old"); err != nil {
		t.Fatal(err)
	}
	testenv.Until(t, 5*time.Second, "the logical expiry of the old value", func() bool {
		_, err := search.Get(ctx, "q")
		return errors.Is(err, cache.ErrNotFound)
	})
	v, origin, err := search.Fetch(ctx, "q", func(context.Context, string) (string, error) { return "fresh", nil })
	if err != nil || v != "fresh" || origin != cache.OriginLoad {
		t.Fatalf("Fetch over the stale value = %q, %v, %v; want fresh, loaded", v, origin, err)
	}
	if v, err := search.Get(ctx, "q"); err != nil || v != "fresh" {
		t.Fatalf("stored after the takeover: %q, %v", v, err)
	}
	if n, err := c.InvalidateTags(ctx, "files"); err != nil || n != 1 {
		t.Fatalf("InvalidateTags = %d, %v; want the fresh value deleted", n, err)
	}
	if v, err := search.Get(ctx, "q"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("the taken-over value %q survived its tag's invalidation (err %v)", v, err)
	}
}

// testTagFootprint: a tag's index follows the live keys: 5,000 tagged keys
// with a short TTL leave at most twice the live keys once they expired.
func testTagFootprint(t *testing.T, s Store, p string) {
	ctx := t.Context()
	sizer, ok := s.(tagSizer)
	if !ok {
		t.Fatalf("%T does not report the size of a tag (TagSize)", s)
	}
	c := newCache(t, s, p, func(o *cache.Options) { o.Jitter = -1 })
	short, err := cache.NewFamily(c, "search", cache.FamilyOptions[string]{Tags: []string{"files"}, TTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	long, err := cache.NewFamily(c, "list", cache.FamilyOptions[string]{Tags: []string{"files"}, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for i := range 5000 {
		values[fmt.Sprint("q", i)] = "v"
	}
	if err := short.SetMany(ctx, values); err != nil {
		t.Fatal(err)
	}
	tagKey := p + "tag:{files}"
	if n, err := sizer.TagSize(ctx, tagKey); err != nil || n < 5000 {
		t.Fatalf("TagSize = %d, %v; want the 5000 members", n, err)
	}
	// Live keys keep being added while the short ones expire; the index
	// must come down to at most twice the live keys.
	live := 0
	testenv.Until(t, 20*time.Second, "the index pruned to the live keys", func() bool {
		if err := long.Set(ctx, fmt.Sprint("l", live), "v"); err != nil {
			t.Fatal(err)
		}
		live++
		n, err := sizer.TagSize(ctx, tagKey)
		if err != nil {
			t.Fatal(err)
		}
		return n <= 2*live
	})
	if n, err := c.InvalidateTags(ctx, "files"); err != nil || n != live {
		t.Fatalf("InvalidateTags = %d, %v; want the %d live keys", n, err, live)
	}
}

// testTagDeleteRetried: a tag invalidation interrupted after it started
// (its context ends midway) and run again deletes every member: none is
// lost between the attempts.
func testTagDeleteRetried(t *testing.T, s Store, p string) {
	ctx := t.Context()
	tg := as[cache.Tagger](t, s)
	keys := setMembers(t, s, p, 3000)
	tagKey := p + "tag:{r}"
	if err := tg.AddToTag(ctx, tagKey, time.Hour, keys...); err != nil {
		t.Fatal(err)
	}
	// Cut the first attempt short at increasing points until one fails
	// midway, then retry to the end.
	for d := time.Microsecond; ; d *= 2 {
		cctx, cancel := context.WithTimeout(ctx, d)
		_, err := tg.DeleteTag(cctx, tagKey)
		cancel()
		if err == nil {
			break
		}
	}
	if _, err := tg.DeleteTag(ctx, tagKey); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetMulti(ctx, keys)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range got {
		if v != nil {
			t.Fatalf("key %s survived the retried tag invalidation", keys[i])
		}
	}
}
