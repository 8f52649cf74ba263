package cachetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
)

// Store is what the suite runs against: a cache.Store that also tells a
// key's remaining TTL, so that the suite can check that every key has one.
// Pattern and tag tests need the store to be a cache.PatternDeleter and a
// cache.Tagger, and fail if it is not.
type Store interface {
	cache.Store
	// TTL returns how long key is still kept, or cache.ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)
}

// NewStore returns a Store for one subtest. The suite closes nothing: the
// function registers its own cleanup with t.Cleanup.
type NewStore func(t *testing.T) Store

// test is one subtest of the suite.
type test struct {
	name string
	fn   func(t *testing.T, s Store, p string)
}

// Run runs the whole conformance suite against stores from newStore.
func Run(t *testing.T, newStore NewStore) {
	t.Helper()
	var tests []test
	for _, group := range [][]test{storeTests, patternTests, tagTests, familyTests, loadingTests, failSafeTests} {
		tests = append(tests, group...)
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

// as returns s as an I, such as a cache.Tagger, or fails the test.
func as[I any](t *testing.T, s cache.Store) I {
	t.Helper()
	v, ok := s.(I)
	if !ok {
		t.Fatalf("%T is not a %v", s, reflect.TypeFor[I]())
	}
	return v
}

// File is the typed value of the family tests.
type File struct {
	ID   string   `json:"id"`
	Name string   `json:"name"`
	Size int64    `json:"size"`
	Tags []string `json:"tags"`
}

func newCache(t *testing.T, s cache.Store, p string, opts ...func(*cache.Options)) *cache.Cache {
	t.Helper()
	o := cache.Options{Prefix: p}
	for _, f := range opts {
		f(&o)
	}
	c, err := cache.New(s, o)
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

// ttl returns the remaining TTL of key, failing the test on an error.
func ttl(t *testing.T, s Store, key string) time.Duration {
	t.Helper()
	d, err := s.TTL(t.Context(), key)
	if err != nil {
		t.Fatalf("TTL(%q): %v", key, err)
	}
	return d
}

// loadCounter is a loader that counts its calls and answers with its
// function.
type loadCounter struct {
	calls atomic.Int32
	fn    func(ctx context.Context, id string) (File, error)
}

func (l *loadCounter) load(ctx context.Context, id string) (File, error) {
	l.calls.Add(1)
	return l.fn(ctx, id)
}
