// Package nostore is a cache.Store that keeps nothing: every read misses and
// every write is dropped, so a cache.Cache over it sends every read to its
// loader. It is the "cache off" of the filecache service (CACHE_DISABLED),
// for measuring what the cache saves and for ruling the cache out while
// debugging.
//
// A Store is safe for concurrent use.
package nostore

import (
	"context"
	"time"

	"github.com/filecache/filecache/cache"
)

// Store keeps nothing.
type Store struct{}

var (
	_ cache.Store          = Store{}
	_ cache.Tagger         = Store{}
	_ cache.PatternDeleter = Store{}
)

// Get implements cache.Store: always cache.ErrNotFound.
func (Store) Get(ctx context.Context, _ string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return nil, cache.ErrNotFound
}

// GetMulti implements cache.Store: every key is missing.
func (Store) GetMulti(_ context.Context, keys []string) ([][]byte, error) {
	return make([][]byte, len(keys)), nil
}

// Set implements cache.Store: the value is dropped.
func (Store) Set(context.Context, string, []byte, time.Duration) error { return nil }

// SetMulti implements cache.Store: the values are dropped.
func (Store) SetMulti(context.Context, []cache.Entry) error { return nil }

// Delete implements cache.Store: nothing existed.
func (Store) Delete(context.Context, ...string) (int, error) { return 0, nil }

// DeletePattern implements cache.PatternDeleter: nothing matches.
func (Store) DeletePattern(context.Context, string) (int, error) { return 0, nil }

// SetNXGet implements cache.Store: the lease is granted and forgotten.
func (Store) SetNXGet(context.Context, string, []byte, time.Duration) ([]byte, bool, error) {
	return nil, false, nil
}

// CompareAndSet implements cache.Store: nothing is there to compare.
func (Store) CompareAndSet(context.Context, string, []byte, []byte, time.Duration) (bool, error) {
	return false, nil
}

// AddToTag implements cache.Tagger: dropped.
func (Store) AddToTag(context.Context, string, time.Duration, ...string) error { return nil }

// DeleteTag implements cache.Tagger: no member existed.
func (Store) DeleteTag(context.Context, string) (int, error) { return 0, nil }

// Ping implements cache.Store.
func (Store) Ping(ctx context.Context) error { return ctx.Err() }

// Close implements cache.Store.
func (Store) Close() error { return nil }
