package cache

import (
	"context"
	"errors"
	"fmt"
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
// (an open circuit breaker, a store not connected yet): the caller should
// not wait for it.
var ErrUnavailable = errors.New("cache: store unavailable")

// ErrClosed is returned by a Store that has been closed.
var ErrClosed = errors.New("cache: store closed")

// ErrRejected is wrapped by errors of a Store that answered but refused one
// command (a Redis error reply such as OOM, WRONGTYPE or NOPERM). The store
// is reachable: a circuit breaker must not count such an error as an
// outage, and the Cache handles it per command.
var ErrRejected = errors.New("cache: command rejected by the store")

// ErrWrongType is returned, wrapped, when a key holds a value of another
// type than the command expects (a foreign list where a string should be).
// A Family deletes the key and counts it as a corrupt value.
var ErrWrongType = fmt.Errorf("cache: key holds a value of the wrong type: %w", ErrRejected)

// ErrNoMemory is returned, wrapped, when the store refuses a write because
// it is out of memory (Redis maxmemory with the noeviction policy). Reads
// still work: a Cache skips its writes for a while and keeps serving.
var ErrNoMemory = fmt.Errorf("cache: store out of memory: %w", ErrRejected)

// Entry is one key, its value and its time to live, as written by
// Store.SetMulti.
type Entry struct {
	Key   string
	Value []byte
	TTL   time.Duration
}

// Store is the byte-level storage a Cache runs on: get, set, delete and the
// two lease primitives. Implementations are cache/redisstore (Redis
// standalone, Sentinel or Cluster) and cache/memstore (in process);
// cache/cachetest holds the conformance suite both pass. Optional
// interfaces add what not every store can do: Tagger, PatternDeleter,
// Notifier and Publisher.
//
// Every value written has a TTL greater than zero. Keys are passed as built by
// the Cache. Implementations must be safe for concurrent use.
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
	// SetNXGet sets key to value for ttl only if key is absent. It returns
	// the previous value and true if key existed (nothing was written), or
	// nil and false if value was written. It is the lease primitive, and
	// the first command of a Fetch: a hit costs no more than a Get.
	SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) (old []byte, existed bool, err error)
	// CompareAndSet replaces the value of key with value for ttl only if it
	// currently equals old, and reports whether it did. A nil value deletes
	// the key instead (compare-and-delete); ttl is then ignored.
	CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error)
	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}

// Tagger is implemented by a Store that indexes keys by tag, so that a tag
// is invalidated without walking the keyspace. A tag key holds a Redis hash
// tag ("tag:{name}"), so that a store may keep helper keys in its slot.
type Tagger interface {
	// AddToTag records keys as members of the tag index at tagKey for ttl
	// (how long the store keeps them). The index lives at least as long as
	// its longest-lived member, and members past their time are pruned, so
	// its size follows the live keys.
	AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error
	// DeleteTag deletes every member of the index at tagKey, and the index,
	// and reports how many member keys existed. It is safe to retry after
	// any failure, including a timeout after which the store went on: a
	// member leaves the index only once it is deleted. Members added while
	// it runs are deleted too or stay indexed.
	DeleteTag(ctx context.Context, tagKey string) (int, error)
}

// PatternDeleter is implemented by a Store that can delete the keys
// matching a glob.
type PatternDeleter interface {
	// DeletePattern removes every key matching the Redis glob pattern and
	// reports how many it removed. It must not block the server while it
	// walks the keyspace.
	DeletePattern(ctx context.Context, pattern string) (int, error)
}
