package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/google/go-cmp/cmp"
)

// NewStore returns a Store for one subtest. The suite closes nothing: the
// function registers its own cleanup with t.Cleanup.
type NewStore func(t *testing.T) cache.Store

// Run runs the whole conformance suite against stores from newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s cache.Store, p string)
	}{
		{"GetSetDelete", testGetSetDelete},
		{"BinaryValues", testBinaryValues},
		{"TTL", testTTL},
		{"Expiry", testExpiry},
		{"Multi", testMulti},
		{"DeletePattern", testDeletePattern},
		{"DeletePatternEscaped", testDeletePatternEscaped},
		{"DeletePatternMany", testDeletePatternMany},
		{"SetNXGet", testSetNXGet},
		{"SetNXGetRace", testSetNXGetRace},
		{"CompareAndSet", testCompareAndSet},
		{"Canceled", testCanceled},
		{"FamilyRoundTrip", testFamilyRoundTrip},
		{"FamilyCorruptIsMiss", testFamilyCorrupt},
		{"GetOrLoadSingleflight", testGetOrLoadSingleflight},
		{"GetOrLoadLeaseAcrossCaches", testLeaseAcrossCaches},
		{"GetOrLoadRaceWithDelete", testLoadRaceWithDelete},
		{"GetOrLoadNegative", testGetOrLoadNegative},
		{"FamilyBatch", testFamilyBatch},
		{"FamilyDeletePattern", testFamilyDeletePattern},
		{"Incr", testIncr},
		{"Tags", testTags},
		{"FamilyTags", testFamilyTags},
		{"TagRaceWithLoad", testTagRaceWithLoad},
		{"FetchOrigin", testFetchOrigin},
		{"FailSafe", testFailSafe},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			tt.fn(t, s, prefix(t))
		})
	}
}

// prefix returns a key prefix unique to the test, free of glob characters.
func prefix(t *testing.T) string {
	name := strings.NewReplacer("/", ".", "*", "", "?", "", "[", "", "]", "", `\`, "").Replace(t.Name())
	return fmt.Sprintf("ct.%s.%08x:", name, rand.Uint32())
}

func mustGet(t *testing.T, s cache.Store, key string) []byte {
	t.Helper()
	v, err := s.Get(t.Context(), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func mustSet(t *testing.T, s cache.Store, key, value string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(t.Context(), key, []byte(value), ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func wantNotFound(t *testing.T, s cache.Store, key string) {
	t.Helper()
	if v, err := s.Get(t.Context(), key); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want ErrNotFound", key, v, err)
	}
}

func testGetSetDelete(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	k1, k2 := p+"a", p+"b"
	wantNotFound(t, s, k1)
	mustSet(t, s, k1, "one", time.Hour)
	if got := mustGet(t, s, k1); string(got) != "one" {
		t.Fatalf("Get = %q, want one", got)
	}
	mustSet(t, s, k1, "uno", time.Hour)
	if got := mustGet(t, s, k1); string(got) != "uno" {
		t.Fatalf("Get after overwrite = %q, want uno", got)
	}
	mustSet(t, s, k2, "two", time.Hour)
	n, err := s.Delete(ctx, k1, k2, p+"missing")
	if err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v; want 2, nil", n, err)
	}
	wantNotFound(t, s, k1)
	wantNotFound(t, s, k2)
	if n, err := s.Delete(ctx, k1); err != nil || n != 0 {
		t.Fatalf("second Delete = %d, %v; want 0, nil", n, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func testBinaryValues(t *testing.T, s cache.Store, p string) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := bytes.Repeat([]byte("x"), 1<<20)
	for name, v := range map[string][]byte{"bytes": all, "1MiB": big, "utf8": []byte("héllo ✓")} {
		if err := s.Set(t.Context(), p+name, v, time.Hour); err != nil {
			t.Fatalf("Set %s: %v", name, err)
		}
		if got := mustGet(t, s, p+name); !bytes.Equal(got, v) {
			t.Errorf("%s: value changed in a round trip (len %d, want %d)", name, len(got), len(v))
		}
	}
}

func testTTL(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	if _, err := s.TTL(ctx, p+"missing"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("TTL(missing) err = %v, want ErrNotFound", err)
	}
	mustSet(t, s, p+"k", "v", time.Hour)
	d, err := s.TTL(ctx, p+"k")
	if err != nil {
		t.Fatalf("TTL: %v", err)
	}
	if d <= 59*time.Minute || d > time.Hour {
		t.Fatalf("TTL = %v, want within (59m, 1h]", d)
	}
	for _, ttl := range []time.Duration{0, -time.Second} {
		if err := s.Set(ctx, p+"bad", []byte("v"), ttl); err == nil {
			t.Errorf("Set with ttl %v succeeded; every key must have a TTL", ttl)
		}
	}
}

// eventually polls cond until it holds or the deadline passes: the event
// awaited is a server-side expiry, which no notification announces.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, within)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testExpiry(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	mustSet(t, s, p+"short", "v", 150*time.Millisecond)
	mustSet(t, s, p+"long", "v", time.Hour)
	if _, _, err := s.SetNXGet(ctx, p+"lease", []byte("l"), 150*time.Millisecond); err != nil {
		t.Fatalf("SetNXGet: %v", err)
	}
	if got := mustGet(t, s, p+"short"); string(got) != "v" {
		t.Fatalf("fresh key = %q", got)
	}
	start := time.Now()
	eventually(t, 3*time.Second, "expiry of a 150ms key", func() bool {
		_, err := s.Get(ctx, p+"short")
		return errors.Is(err, cache.ErrNotFound)
	})
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("key expired after %v, before its TTL", el)
	}
	eventually(t, 3*time.Second, "expiry of a 150ms lease", func() bool {
		_, err := s.Get(ctx, p+"lease")
		return errors.Is(err, cache.ErrNotFound)
	})
	mustGet(t, s, p+"long")
}

func testMulti(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	// 64 keys spread over many Cluster slots; every other one is written.
	var keys []string
	var entries []cache.Entry
	for i := range 64 {
		k := fmt.Sprintf("%sk%d", p, i)
		keys = append(keys, k)
		if i%2 == 0 {
			entries = append(entries, cache.Entry{Key: k, Value: []byte(fmt.Sprint("v", i)), TTL: time.Hour})
		}
	}
	if err := s.SetMulti(ctx, entries); err != nil {
		t.Fatalf("SetMulti: %v", err)
	}
	got, err := s.GetMulti(ctx, keys)
	if err != nil {
		t.Fatalf("GetMulti: %v", err)
	}
	if len(got) != len(keys) {
		t.Fatalf("GetMulti returned %d values for %d keys", len(got), len(keys))
	}
	for i, v := range got {
		want := ""
		if i%2 == 0 {
			want = fmt.Sprint("v", i)
		}
		if (v == nil) != (want == "") || string(v) != want {
			t.Errorf("key %d = %q, want %q", i, v, want)
		}
	}
	if d, err := s.TTL(ctx, keys[0]); err != nil || d <= 59*time.Minute {
		t.Errorf("TTL after SetMulti = %v, %v; want about 1h", d, err)
	}
	if got, err := s.GetMulti(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("GetMulti(nil) = %v, %v", got, err)
	}
	if err := s.SetMulti(ctx, nil); err != nil {
		t.Errorf("SetMulti(nil) = %v", err)
	}
}

func testDeletePattern(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	for _, k := range []string{"file:a1", "file:a2", "file:b1", "user:a1", "file:a"} {
		mustSet(t, s, p+k, "v", time.Hour)
	}
	n, err := s.DeletePattern(ctx, cache.EscapeGlob(p)+"file:a?")
	if err != nil || n != 2 {
		t.Fatalf("DeletePattern = %d, %v; want 2", n, err)
	}
	wantNotFound(t, s, p+"file:a1")
	wantNotFound(t, s, p+"file:a2")
	for _, k := range []string{"file:b1", "user:a1", "file:a"} {
		mustGet(t, s, p+k)
	}
	if n, err := s.DeletePattern(ctx, cache.EscapeGlob(p)+"nothing:*"); err != nil || n != 0 {
		t.Fatalf("DeletePattern(no match) = %d, %v", n, err)
	}
}

func testDeletePatternEscaped(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	ids := []string{"a*", "a?", "a[b]", `a\`, "ab", "a", "a[", "a]", "aXb", `a\*`, "*"}
	for _, part := range ids {
		t.Run(part, func(t *testing.T) {
			for _, id := range ids {
				mustSet(t, s, p+part+"|"+id, "v", time.Hour)
			}
			// A user-supplied part, escaped, deletes only its own key.
			n, err := s.DeletePattern(ctx, cache.EscapeGlob(p+part+"|"+part))
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

func testDeletePatternMany(t *testing.T, s cache.Store, p string) {
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
	got, err := s.DeletePattern(ctx, cache.EscapeGlob(p)+"del:*")
	if err != nil || got != n {
		t.Fatalf("DeletePattern = %d, %v; want %d", got, err, n)
	}
	if left, err := s.DeletePattern(ctx, cache.EscapeGlob(p)+"keep:*"); err != nil || left != n/10 {
		t.Fatalf("keep:* removed %d, %v; want %d left untouched before", left, err, n/10)
	}
}

func testSetNXGet(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	old, existed, err := s.SetNXGet(ctx, p+"k", []byte("first"), time.Hour)
	if err != nil || existed || old != nil {
		t.Fatalf("SetNXGet(absent) = %q, %v, %v; want nil, false, nil", old, existed, err)
	}
	old, existed, err = s.SetNXGet(ctx, p+"k", []byte("second"), time.Hour)
	if err != nil || !existed || string(old) != "first" {
		t.Fatalf("SetNXGet(present) = %q, %v, %v; want first, true, nil", old, existed, err)
	}
	if got := mustGet(t, s, p+"k"); string(got) != "first" {
		t.Fatalf("value = %q, want first (SetNXGet must not overwrite)", got)
	}
	if d, err := s.TTL(ctx, p+"k"); err != nil || d <= 59*time.Minute {
		t.Fatalf("TTL = %v, %v; want about 1h", d, err)
	}
}

func testSetNXGetRace(t *testing.T, s cache.Store, p string) {
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			_, existed, err := s.SetNXGet(t.Context(), p+"k", []byte(fmt.Sprint(i)), time.Hour)
			if err != nil {
				t.Error(err)
			}
			if !existed {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if w := wins.Load(); w != 1 {
		t.Fatalf("%d callers won SetNXGet, want exactly 1", w)
	}
}

func testCompareAndSet(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	tests := []struct {
		name    string
		initial string // "" means absent
		old     string
		wantOK  bool
		want    string // value afterwards; "" means absent
	}{
		{"match", "lease", "lease", true, "value"},
		{"mismatch", "other", "lease", false, "other"},
		{"absent", "", "lease", false, ""},
		{"delete", "lease", "lease", true, ""},
		{"delete mismatch", "other", "lease", false, "other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := p + tt.name
			if tt.initial != "" {
				mustSet(t, s, k, tt.initial, time.Hour)
			}
			var value []byte // nil deletes
			if !strings.HasPrefix(tt.name, "delete") {
				value = []byte("value")
			}
			ok, err := s.CompareAndSet(ctx, k, []byte(tt.old), value, 30*time.Minute)
			if err != nil || ok != tt.wantOK {
				t.Fatalf("CompareAndSet = %v, %v; want %v", ok, err, tt.wantOK)
			}
			got, err := s.Get(ctx, k)
			if tt.want == "" {
				if !errors.Is(err, cache.ErrNotFound) {
					t.Fatalf("key holds %q, want it absent", got)
				}
				return
			}
			if string(got) != tt.want {
				t.Fatalf("value = %q, want %q", got, tt.want)
			}
			d, _ := s.TTL(ctx, k)
			if tt.wantOK && (d > 30*time.Minute || d < 29*time.Minute) {
				t.Fatalf("TTL after swap = %v, want about 30m", d)
			}
		})
	}
}

func testCanceled(t *testing.T, s cache.Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(ctx, p+"k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: err = %v, want context.Canceled", err)
	}
	if err := s.Set(ctx, p+"k", []byte("v"), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a canceled context: err = %v, want context.Canceled", err)
	}
}

// File is the typed value of the family tests.
type File struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Size int64    `json:"size"`
	Tags []string `json:"tags"`
}

func newCache(t *testing.T, s cache.Store, p string) *cache.Cache {
	t.Helper()
	c, err := cache.New(s, cache.Options{Prefix: p})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newFamily(t *testing.T, c *cache.Cache, opts cache.FamilyOptions[File]) *cache.Family[File] {
	t.Helper()
	f, err := cache.NewFamily(c, "file", opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func testFamilyRoundTrip(t *testing.T, s cache.Store, p string) {
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
	if d, err := f.TTL(ctx, "1"); err != nil || d < 8*time.Minute || d > 11*time.Minute {
		t.Fatalf("TTL = %v, %v; want 10m ± 10%%", d, err)
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

func testFamilyCorrupt(t *testing.T, s cache.Store, p string) {
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

func testGetOrLoadSingleflight(t *testing.T, s cache.Store, p string) {
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	var calls atomic.Int32
	release := make(chan struct{})
	load := func(ctx context.Context, id string) (File, error) {
		calls.Add(1)
		<-release
		return File{ID: id, Name: "loaded"}, nil
	}
	const callers = 100
	var wg sync.WaitGroup
	var started sync.WaitGroup
	started.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			started.Done()
			v, err := f.GetOrLoad(t.Context(), "42", load)
			if err == nil && v.Name != "loaded" {
				err = fmt.Errorf("got %+v", v)
			}
			errs <- err
		})
	}
	started.Wait()
	// Let the callers reach the flight before the load returns; a caller
	// that comes after it finds the stored value, which is also one load.
	time.Sleep(20 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times for %d concurrent callers, want 1", n, callers)
	}
}

func testLeaseAcrossCaches(t *testing.T, s cache.Store, p string) {
	// Two caches on one store stand for two processes: singleflight cannot
	// join them, only the lease in the store can.
	a := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	cb, err := cache.New(s, cache.Options{Prefix: p, LeaseWait: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	b := newFamily(t, cb, cache.FamilyOptions[File]{})
	inLoad := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		_, err := a.GetOrLoad(t.Context(), "7", func(context.Context, string) (File, error) {
			close(inLoad)
			<-release
			return File{ID: "7", Name: "from-a"}, nil
		})
		done <- err
	}()
	<-inLoad
	var bCalls atomic.Int32
	got := make(chan File, 1)
	go func() {
		v, err := b.GetOrLoad(t.Context(), "7", func(context.Context, string) (File, error) {
			bCalls.Add(1)
			return File{ID: "7", Name: "from-b"}, nil
		})
		if err != nil {
			t.Error(err)
		}
		got <- v
	}()
	// b must be waiting on a's lease, not loading: wait until it counted
	// the wait, then let a finish.
	eventually(t, 5*time.Second, "b waiting on the lease", func() bool {
		return cb.Stats()[0].LeaseWaits == 1
	})
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := <-got; v.Name != "from-a" || bCalls.Load() != 0 {
		t.Fatalf("b got %+v with %d loads; want a's value and no load", v, bCalls.Load())
	}
}

func testLoadRaceWithDelete(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{})
	// A slow load reads version 1; while it runs the row is updated and the
	// key invalidated. The load must not store its stale value.
	inLoad := make(chan struct{})
	release := make(chan struct{})
	done := make(chan File, 1)
	go func() {
		v, err := f.GetOrLoad(ctx, "9", func(context.Context, string) (File, error) {
			close(inLoad)
			<-release
			return File{ID: "9", Name: "v1-stale"}, nil
		})
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	<-inLoad
	if _, err := f.Delete(ctx, "9"); err != nil { // the writer's invalidation
		t.Fatal(err)
	}
	close(release)
	if v := <-done; v.Name != "v1-stale" {
		t.Fatalf("the racing reader got %+v", v)
	}
	if v, err := f.Get(ctx, "9"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("after the race the cache holds %+v (err %v); want nothing", v, err)
	}
	v, err := f.GetOrLoad(ctx, "9", func(context.Context, string) (File, error) { return File{ID: "9", Name: "v2"}, nil })
	if err != nil || v.Name != "v2" {
		t.Fatalf("next GetOrLoad = %+v, %v; want v2", v, err)
	}
	if v, err := f.Get(ctx, "9"); err != nil || v.Name != "v2" {
		t.Fatalf("cached after reload = %+v, %v; want v2", v, err)
	}
}

func testGetOrLoadNegative(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	f := newFamily(t, newCache(t, s, p), cache.FamilyOptions[File]{NegativeTTL: time.Minute})
	var calls atomic.Int32
	missing := func(context.Context, string) (File, error) {
		calls.Add(1)
		return File{}, fmt.Errorf("row: %w", cache.ErrNotFound)
	}
	for range 3 {
		if _, err := f.GetOrLoad(ctx, "404", missing); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("GetOrLoad of a missing id: %v", err)
		}
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("loader called %d times; a not-found answer should be cached", n)
	}
	// Creating the id invalidates the negative entry.
	if _, err := f.Delete(ctx, "404"); err != nil {
		t.Fatal(err)
	}
	v, err := f.GetOrLoad(ctx, "404", func(context.Context, string) (File, error) { return File{ID: "404"}, nil })
	if err != nil || v.ID != "404" {
		t.Fatalf("after create: %+v, %v", v, err)
	}
	// A failing loader is not cached.
	boom := errors.New("db down")
	if _, err := f.GetOrLoad(ctx, "500", func(context.Context, string) (File, error) { return File{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the loader's", err)
	}
	wantNotFound(t, s, p+"file:500")
}

func testFamilyBatch(t *testing.T, s cache.Store, p string) {
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

func testFamilyDeletePattern(t *testing.T, s cache.Store, p string) {
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

func testIncr(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	for want := int64(1); want <= 3; want++ {
		n, left, err := s.Incr(ctx, p+"rl", time.Minute)
		if err != nil || n != want {
			t.Fatalf("Incr = %d, %v; want %d", n, err, want)
		}
		if left <= 50*time.Second || left > time.Minute {
			t.Fatalf("window left = %v, want about 1m (fixed from the first hit)", left)
		}
	}
	// The window really ends: a short one expires and the count restarts.
	if n, _, err := s.Incr(ctx, p+"short", 100*time.Millisecond); err != nil || n != 1 {
		t.Fatalf("Incr(short) = %d, %v", n, err)
	}
	eventually(t, 3*time.Second, "the end of a 100ms window", func() bool {
		n, _, err := s.Incr(ctx, p+"short", 100*time.Millisecond)
		return err == nil && n == 1
	})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if _, _, err := s.Incr(ctx, p+"conc", time.Minute); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n, _, _ := s.Incr(ctx, p+"conc", time.Minute); n != 51 {
		t.Fatalf("after 50 concurrent increments the next is %d, want 51", n)
	}
}

func testTags(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	// More than one SPOP batch, and more keys in one call than a Lua
	// script can unpack (about 8000).
	var members []string
	var entries []cache.Entry
	for i := range 9500 {
		k := fmt.Sprintf("%sm%d", p, i)
		members = append(members, k)
		entries = append(entries, cache.Entry{Key: k, Value: []byte("v"), TTL: time.Hour})
	}
	if err := s.SetMulti(ctx, entries); err != nil {
		t.Fatal(err)
	}
	mustSet(t, s, p+"other", "v", time.Hour)
	if err := s.AddToTag(ctx, p+"tag:a", time.Hour, members[:600]...); err != nil {
		t.Fatal(err)
	}
	if err := s.AddToTag(ctx, p+"tag:a", time.Minute, members[600:]...); err != nil {
		t.Fatal(err)
	}
	// A member that already expired counts as not existing.
	if err := s.AddToTag(ctx, p+"tag:a", time.Minute, p+"gone"); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteTag(ctx, p+"tag:a")
	if err != nil || n != len(members) {
		t.Fatalf("DeleteTag = %d, %v; want %d", n, err, len(members))
	}
	for _, k := range []string{members[0], members[599], members[600], members[len(members)-1]} {
		wantNotFound(t, s, k)
	}
	mustGet(t, s, p+"other")
	if n, err := s.DeleteTag(ctx, p+"tag:a"); err != nil || n != 0 {
		t.Fatalf("second DeleteTag = %d, %v; want 0", n, err)
	}
	if n, err := s.DeleteTag(ctx, p+"tag:never"); err != nil || n != 0 {
		t.Fatalf("DeleteTag(unknown) = %d, %v; want 0", n, err)
	}
}

func testFamilyTags(t *testing.T, s cache.Store, p string) {
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
func testTagRaceWithLoad(t *testing.T, s cache.Store, p string) {
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

func testFetchOrigin(t *testing.T, s cache.Store, p string) {
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

// testFailSafe: a value past its TTL is kept for FailSafe and served, marked
// stale, when the loader fails; a working loader replaces it.
func testFailSafe(t *testing.T, s cache.Store, p string) {
	ctx := t.Context()
	c, err := cache.New(s, cache.Options{Prefix: p, Jitter: -1})
	if err != nil {
		t.Fatal(err)
	}
	f := newFamily(t, c, cache.FamilyOptions[File]{TTL: 150 * time.Millisecond, FailSafe: time.Hour})
	if err := f.Set(ctx, "1", File{ID: "1", Name: "v1"}); err != nil {
		t.Fatal(err)
	}
	if d, err := f.TTL(ctx, "1"); err != nil || d < 59*time.Minute {
		t.Fatalf("kept for %v, %v; want the TTL plus the fail-safe hour", d, err)
	}
	eventually(t, 3*time.Second, "the logical expiry", func() bool {
		_, err := f.Get(ctx, "1")
		return errors.Is(err, cache.ErrNotFound)
	})
	dbDown := errors.New("database down")
	failing := func(context.Context, string) (File, error) { return File{}, dbDown }
	for range 2 { // served stale, and kept for the next reader
		v, origin, err := f.Fetch(ctx, "1", failing)
		if err != nil || origin != cache.OriginStale || v.Name != "v1" {
			t.Fatalf("Fetch with the loader down = %+v, %v, %v; want v1, stale", v, origin, err)
		}
	}
	if got := fmt.Sprint(cache.OriginStale); got != "stale" {
		t.Fatalf("OriginStale prints %q", got)
	}
	// Without a stale value, the loader's error is returned.
	if _, _, err := f.Fetch(ctx, "2", failing); !errors.Is(err, dbDown) {
		t.Fatalf("Fetch of an uncached id with the loader down: %v", err)
	}
	// A loader saying "not found" is an answer, not a failure.
	gone := func(context.Context, string) (File, error) { return File{}, cache.ErrNotFound }
	if _, _, err := f.Fetch(ctx, "1", gone); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Fetch with the row deleted: %v, want ErrNotFound", err)
	}
	if err := f.Set(ctx, "3", File{ID: "3", Name: "v1"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the logical expiry", func() bool {
		_, err := f.Get(ctx, "3")
		return errors.Is(err, cache.ErrNotFound)
	})
	v, origin, err := f.Fetch(ctx, "3", func(context.Context, string) (File, error) { return File{ID: "3", Name: "v2"}, nil })
	if err != nil || origin != cache.OriginLoad || v.Name != "v2" {
		t.Fatalf("Fetch with the loader back = %+v, %v, %v; want v2 loaded", v, origin, err)
	}
	if v, err := f.Get(ctx, "3"); err != nil || v.Name != "v2" {
		t.Fatalf("cached after reload: %+v, %v", v, err)
	}
	if st := c.Stats()[0]; st.Stale != 2 {
		t.Fatalf("Stale = %d, want 2", st.Stale)
	}
}
