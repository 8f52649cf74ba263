package cache

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a key holds no value: it was never set, it
// expired, it was deleted, or (for a Family) it held a value that could not be
// decoded. A cached "not found" answer of a loader is also reported as
// ErrNotFound.
var ErrNotFound = errors.New("cache: not found")

// ErrInvalidKey is returned when a key part is empty, is not valid UTF-8 or
// holds a control character.
var ErrInvalidKey = errors.New("cache: invalid key")

// ErrUnavailable is wrapped by errors of a Store that is known to be down
// (an open circuit breaker): the caller should not wait for it.
var ErrUnavailable = errors.New("cache: store unavailable")

// ErrClosed is returned by a Store that has been closed.
var ErrClosed = errors.New("cache: store closed")

// Entry is one key, its value and its time to live, as written by
// Store.SetMulti.
type Entry struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// Store is the byte-level storage a Cache runs on. Implementations are
// cache/redisstore (Redis standalone, Sentinel or Cluster) and cache/memstore
// (in process); cache/cachetest holds the conformance suite both pass.
//
// Every value written has a TTL greater than zero. Keys are passed as built by
// the Cache: a Store never interprets them except as glob subjects in
// DeletePattern. Implementations must be safe for concurrent use.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// GetMulti returns the values of keys in order; a missing key yields nil.
	// Keys may belong to different Cluster slots.
	GetMulti(ctx context.Context, keys []string) ([][]byte, error)
	// Set writes value under key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetMulti writes every entry; keys may belong to different Cluster slots.
	SetMulti(ctx context.Context, entries []Entry) error
	// Delete removes keys and reports how many existed.
	Delete(ctx context.Context, keys ...string) (int, error)
	// TTL returns how long key is still kept, or ErrNotFound.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// DeletePattern removes every key matching the Redis glob pattern and
	// reports how many it removed. It must not block the server while it
	// walks the keyspace.
	DeletePattern(ctx context.Context, pattern string) (int, error)
	// SetNXGet sets key to value for ttl only if key is absent. It returns
	// the previous value and true if key existed (nothing was written), or
	// nil and false if value was written. It is the lease primitive.
	SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) (old []byte, existed bool, err error)
	// CompareAndSet replaces the value of key with value for ttl only if it
	// currently equals old, and reports whether it did. A nil value deletes
	// the key instead (compare-and-delete); ttl is then ignored.
	CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Incr adds one to the counter at key and returns the new count and the
	// time left before the counter expires. The first increment creates the
	// counter with a lifetime of window; later ones do not extend it (a
	// fixed window).
	Incr(ctx context.Context, key string, window time.Duration) (int64, time.Duration, error)
	// AddToTag adds keys to the tag set at tagKey and makes the set live at
	// least ttl, so that it outlives its members.
	AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error
	// DeleteTag deletes every member of the tag set at tagKey, and the set,
	// without walking the keyspace. It reports how many member keys existed.
	// Members added while it runs are deleted too or stay in the set.
	DeleteTag(ctx context.Context, tagKey string) (int, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
