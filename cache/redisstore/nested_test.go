package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
)

// TestDisjointTrack checks that overlapping tracking prefixes are tracked
// by the shortest: Redis refuses a CLIENT TRACKING whose prefixes overlap.
func TestDisjointTrack(t *testing.T) {
	for _, tc := range []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{"file:", "search:"}, []string{"file:", "search:"}},
		{[]string{"file:", "file:info:", "file:meta:", "search:"}, []string{"file:", "search:"}},
		{[]string{"file:info:", "file:"}, []string{"file:"}},
		{[]string{"file:", "file:"}, []string{"file:"}},
		{[]string{"p:file:", "p:files:"}, []string{"p:file:", "p:files:"}},
	} {
		if got := redisstore.DisjointPrefixes(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("disjointPrefixes(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

type fileView struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// nested is one process with the families "file" and "file:info" near
// cached: the keys of the second start with the prefix of the first.
type nested struct {
	cache      *cache.Cache
	file, info *cache.Family[fileView]
}

func newNested(t *testing.T, opts redisstore.Options, prefix string) *nested {
	t.Helper()
	opts.Track = []string{prefix + "file:", prefix + "file:info:"}
	s := redisstoretest.Open(t, opts)
	if !s.Tracks(prefix + "file:info:") {
		t.Fatal("file:info: keys not tracked")
	}
	// The test is about which entries a notification drops, not about the
	// lag guard: a heartbeat late on a loaded machine must not turn a near
	// hit into a store hit.
	c, err := cache.New(s, cache.Options{Prefix: prefix, NearSize: 100, NearMaxLag: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	n := &nested{cache: c}
	if n.file, err = cache.NewFamily(c, "file", cache.FamilyOptions[fileView]{Near: true, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n.info, err = cache.NewFamily(c, "file:info", cache.FamilyOptions[fileView]{Near: true, TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	return n
}

func fetchView(t *testing.T, f *cache.Family[fileView], id string) (fileView, cache.Origin) {
	t.Helper()
	v, o, err := f.Fetch(t.Context(), id, func(_ context.Context, id string) (fileView, error) {
		return fileView{}, fmt.Errorf("load of %s: %w", id, cache.ErrNotFound)
	})
	if err != nil {
		t.Fatalf("%s %s: %v", f.Name(), id, err)
	}
	return v, o
}

// awaitNear fetches id from f until its near cache answers want, within
// 5 s: the event awaited is the tracking notification of a write.
func awaitNear(t *testing.T, f *cache.Family[fileView], id string, want fileView) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, o := fetchView(t, f, id)
		if v == want && o == cache.OriginLocal {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s: %+v (%v), want %+v from the near cache", f.Name(), id, v, o, want)
		}
	}
}

// wantNear fails t unless f's near cache answers want at once.
func wantNear(t *testing.T, f *cache.Family[fileView], id string, want fileView) {
	t.Helper()
	if v, o := fetchView(t, f, id); v != want || o != cache.OriginLocal {
		t.Fatalf("%s %s: %+v (%v), want %+v from the near cache", f.Name(), id, v, o, want)
	}
}

// TestNestedFamiliesNear runs the families "file" and "file:info" on two
// processes: a change of file:info:{id} drops only the info view's near
// entry of id, a change of file:{id} only the record's, although "file:"
// is a prefix of both keys (and the only prefix Redis tracks). In a
// Cluster, only the arrival of the notifications is checked: a replica
// sends its own copy of each write's notification, after the master's,
// and that copy of an earlier write may drop an entry just filled (the
// next read fills it again), so that "kept" cannot be told from
// "dropped and filled again" there; which entries a notification drops
// does not depend on the deployment.
func TestNestedFamiliesNear(t *testing.T) {
	for _, tt := range []backend{standalone, cluster} {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts(t)
			prefix := fmt.Sprintf("nest%08x:", rand.Uint32())
			a, b := newNested(t, opts, prefix), newNested(t, opts, prefix)
			ctx := t.Context()
			const id = "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"
			rec1, info1 := fileView{ID: id, Name: "record v1"}, fileView{ID: id, Name: "info v1"}
			if err := a.file.Set(ctx, id, rec1); err != nil {
				t.Fatal(err)
			}
			if err := a.info.Set(ctx, id, info1); err != nil {
				t.Fatal(err)
			}
			awaitNear(t, b.file, id, rec1)
			awaitNear(t, b.info, id, info1)

			info2 := fileView{ID: id, Name: "info v2"}
			if err := a.info.Set(ctx, id, info2); err != nil {
				t.Fatal(err)
			}
			awaitNear(t, b.info, id, info2) // the notification came
			if tt.mode == "standalone" {
				wantNear(t, b.file, id, rec1) // and kept the record: not its key
			}

			rec2 := fileView{ID: id, Name: "record v2"}
			if err := a.file.Set(ctx, id, rec2); err != nil {
				t.Fatal(err)
			}
			awaitNear(t, b.file, id, rec2)
			if tt.mode == "standalone" {
				wantNear(t, b.info, id, info2)
			}
		})
	}
}
