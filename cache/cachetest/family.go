package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/google/go-cmp/cmp"
)

// familyTests cover the typed Family over a Store: round trips, batches,
// corrupt and foreign values.
var familyTests = []test{
	{"FamilyRoundTrip", testFamilyRoundTrip},
	{"FamilyCorruptIsMiss", testFamilyCorrupt},
	{"FamilyInvalidValueIsMiss", testFamilyInvalid},
	{"FamilyForeignLease", testFamilyForeignLease},
	{"FamilyBatch", testFamilyBatch},
	{"FetchOrigin", testFetchOrigin},
}

func testFamilyRoundTrip(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	f := newFamily(t, c, cache.FamilyOptions[File]{TTL: 10 * time.Minute})
	want := File{ID: "1", Name: "report.pdf", Size: 42, Tags: []string{"docs"}}
	if _, err := f.Get(ctx, "1"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get before Set: %v", err)
	}
	if ok, err := f.Exists(ctx, "1"); ok || err != nil {
		t.Fatalf("Exists before Set = %v, %v", ok, err)
	}
	if err := f.Set(ctx, "1", want); err != nil {
		t.Fatal(err)
	}
	got, err := f.Get(ctx, "1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Get (-want +got):\n%s", diff)
	}
	if ok, err := f.Exists(ctx, "1"); !ok || err != nil {
		t.Fatalf("Exists after Set = %v, %v", ok, err)
	}
	// Jitter (10%) spreads the TTL around 10 minutes.
	if d := ttl(t, s, p+"file:1"); d < 8*time.Minute || d > 11*time.Minute {
		t.Fatalf("TTL = %v; want 10m ± 10%%", d)
	}
	raw := mustGet(t, s, p+"file:1")
	if !bytes.Contains(raw, []byte(`"name":"report.pdf"`)) {
		t.Errorf("stored value %q is not readable JSON", raw)
	}
	if n, err := f.Delete(ctx, "1"); n != 1 || err != nil {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if _, err := f.Get(ctx, "1"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
	if st := c.Stats()[0]; st.Hits != 2 || st.Misses != 3 {
		t.Errorf("stats = %+v, want 2 hits and 3 misses", st)
	}
}

func testFamilyCorrupt(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	f := newFamily(t, c, cache.FamilyOptions[File]{})
	for i, raw := range []string{"garbage", "v:notanumber:{}", `v:1:{"id":`, "x:1:{}", "", "v:", `v:99:"a string"`} {
		id := fmt.Sprint("c", i)
		mustSet(t, s, p+"file:"+id, raw, time.Hour)
		if _, err := f.Get(ctx, id); !errors.Is(err, cache.ErrNotFound) {
			t.Errorf("Get of corrupt %q: err = %v, want ErrNotFound", raw, err)
		}
		// The corrupt value is dropped, so the next load can store a good one.
		wantNotFound(t, s, p+"file:"+id)
		v, err := f.GetOrLoad(ctx, id, func(context.Context, string) (File, error) { return File{ID: id}, nil })
		if err != nil || v.ID != id {
			t.Errorf("GetOrLoad after corrupt = %+v, %v", v, err)
		}
	}
	if st := c.Stats()[0]; st.Corrupt != 7 {
		t.Errorf("Corrupt = %d, want 7", st.Corrupt)
	}
}

func testFamilyBatch(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	want := map[string]File{}
	var ids []string
	for i := range 100 {
		id := fmt.Sprint("id-", i)
		ids = append(ids, id)
		if i%3 != 0 {
			want[id] = File{ID: id, Size: int64(i)}
		}
	}
	if err := f.SetMany(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := f.GetMany(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("GetMany (-want +got):\n%s", diff)
	}
	if _, err := f.GetMany(ctx, []string{"ok", ""}); !errors.Is(err, cache.ErrInvalidKey) {
		t.Fatalf("GetMany with an empty id: %v, want ErrInvalidKey", err)
	}
}

func testFetchOrigin(t *testing.T, s Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	load := func(_ context.Context, id string) (File, error) { return File{ID: id}, nil }
	for i, want := range []cache.Origin{cache.OriginLoad, cache.OriginStore, cache.OriginStore} {
		_, got, err := f.Fetch(ctx, "x", load)
		if err != nil || got != want {
			t.Fatalf("Fetch #%d origin = %v, %v; want %v", i, got, err, want)
		}
	}
	if got := fmt.Sprint(cache.OriginLoad, cache.OriginStore, cache.OriginLocal); got != "miss hit hit-local" {
		t.Fatalf("origins print as %q", got)
	}
}

// testFamilyInvalid: a value that decodes but that the family refuses
// (JSON null, a record without its id) is corrupt: dropped, counted,
// reloaded, and never kept in process.
func testFamilyInvalid(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p)
	f := newFamily(t, c, cache.FamilyOptions[File]{Valid: func(f File) bool { return f.ID != "" }})
	future := time.Now().Add(time.Hour).UnixMilli()
	for i, payload := range []string{"null", `{"name":"no id"}`} {
		id := fmt.Sprint("n", i)
		mustSet(t, s, p+"file:"+id, fmt.Sprintf("v:%d:%s", future, payload), time.Hour)
		if v, err := f.Get(ctx, id); !errors.Is(err, cache.ErrNotFound) {
			t.Errorf("Get of %s = %+v, %v; want ErrNotFound", payload, v, err)
		}
		wantNotFound(t, s, p+"file:"+id)
		mustSet(t, s, p+"file:"+id, fmt.Sprintf("v:%d:%s", future, payload), time.Hour)
		v, origin, err := f.Fetch(ctx, id, func(context.Context, string) (File, error) { return File{ID: id}, nil })
		if err != nil || v.ID != id || origin != cache.OriginLoad {
			t.Errorf("Fetch over %s = %+v, %v, %v; want a load", payload, v, origin, err)
		}
	}
	if st := c.Stats()[0]; st.Corrupt != 4 {
		t.Errorf("Corrupt = %d, want 4", st.Corrupt)
	}
}

// testFamilyForeignLease: a lease marker that no loader of this cache could
// hold (no expiry, or one further than LeaseTTL) is expired at once: a
// reader takes the key over instead of waiting.
func testFamilyForeignLease(t *testing.T, s Store, p string) {
	ctx := t.Context()
	c := newCache(t, s, p, func(o *cache.Options) { o.LeaseTTL = time.Minute })
	f := newFamily(t, c, cache.FamilyOptions[File]{})
	far := time.Now().Add(24 * time.Hour).UnixMilli()
	for i, marker := range []string{"l:token", fmt.Sprintf("l:%d:token", far), "l:1:token"} {
		id := fmt.Sprint("l", i)
		mustSet(t, s, p+"file:"+id, marker, time.Hour)
		start := time.Now()
		v, origin, err := f.Fetch(ctx, id, func(context.Context, string) (File, error) { return File{ID: id}, nil })
		if err != nil || v.ID != id || origin != cache.OriginLoad {
			t.Fatalf("Fetch over %q = %+v, %v, %v; want a load", marker, v, origin, err)
		}
		// It did not wait for the marker's lease (a minute, or a day).
		if el := time.Since(start); el > 30*time.Second {
			t.Fatalf("Fetch over %q waited %v", marker, el)
		}
		if got, err := f.Get(ctx, id); err != nil || got.ID != id {
			t.Fatalf("after the takeover the cache holds %+v, %v", got, err)
		}
	}
	if st := c.Stats()[0]; st.LeaseWaits != 0 {
		t.Errorf("LeaseWaits = %d, want 0: no reader should wait on a foreign marker", st.LeaseWaits)
	}
}
