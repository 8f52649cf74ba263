package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/testenv"
)

// storeTests cover the byte-level contract of cache.Store.
var storeTests = []test{
	{"GetSetDelete", testGetSetDelete},
	{"BinaryValues", testBinaryValues},
	{"TTL", testTTL},
	{"Expiry", testExpiry},
	{"Multi", testMulti},
	{"SetNXGet", testSetNXGet},
	{"SetNXGetRace", testSetNXGetRace},
	{"CompareAndSet", testCompareAndSet},
	{"Canceled", testCanceled},
}

func testGetSetDelete(t *testing.T, s Store, p string) {
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

func testBinaryValues(t *testing.T, s Store, p string) {
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

func testTTL(t *testing.T, s Store, p string) {
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

func testExpiry(t *testing.T, s Store, p string) {
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
	testenv.Until(t, 3*time.Second, "expiry of a 150ms key", func() bool {
		_, err := s.Get(ctx, p+"short")
		return errors.Is(err, cache.ErrNotFound)
	})
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("key expired after %v, before its TTL", el)
	}
	testenv.Until(t, 3*time.Second, "expiry of a 150ms lease", func() bool {
		_, err := s.Get(ctx, p+"lease")
		return errors.Is(err, cache.ErrNotFound)
	})
	mustGet(t, s, p+"long")
}

func testMulti(t *testing.T, s Store, p string) {
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

func testSetNXGet(t *testing.T, s Store, p string) {
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

func testSetNXGetRace(t *testing.T, s Store, p string) {
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

func testCompareAndSet(t *testing.T, s Store, p string) {
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

func testCanceled(t *testing.T, s Store, p string) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Get(ctx, p+"k"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get with a canceled context: err = %v, want context.Canceled", err)
	}
	if err := s.Set(ctx, p+"k", []byte("v"), time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Set with a canceled context: err = %v, want context.Canceled", err)
	}
}
