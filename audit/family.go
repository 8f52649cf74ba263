package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/filecache/filecache/cache"
)

// Verdict is what a Check concluded about one cached entry.
type Verdict struct {
	// Consistent reports that the cached entry holds what the database
	// holds.
	Consistent bool
	// Cached and Database say what each side holds, for the log: "version
	// 3", "not found", "content 1a2b3c4d".
	Cached, Database string
	// Changed is when the database's side took its value (a row's update
	// time), from which the age of an inconsistency is measured; zero if
	// unknown (a deleted row).
	Changed time.Time
}

// Check compares what the cache holds for id (a value or a cached "not
// found", as Peek saw it) with the database, in one database read. A
// failure to read the database is returned as an error.
type Check[T any] func(ctx context.Context, id string, cached cache.Peeked[T]) (Verdict, error)

// Family is a cache family under audit: its keys, how to read one without
// disturbing the cache, and its Check. Make one with Versioned, Compared or
// Checked; registering a family is one line beside the others.
type Family struct {
	name  string
	tags  []string // tags whose invalidation covers every key of the family
	peek  func(ctx context.Context, key string) (entry, error)
	check func(ctx context.Context, id string, e entry) (Verdict, error)
}

// Name returns the family's name.
func (f Family) Name() string { return f.name }

// entry is a key's content, type-erased.
type entry struct {
	state  cache.PeekState
	raw    []byte
	peeked any // the cache.Peeked[T]
}

// comparable reports whether the entry holds something a reader is served
// and a Check can compare: a value or a cached "not found".
func (e entry) comparable() bool {
	return e.state == cache.PeekValue || e.state == cache.PeekNotFound
}

// Checked audits the family f with check. tags are the tags whose
// invalidation drops every key of f (FamilyOptions.Tags): a pending outbox
// entry with one of them is a write in flight for every key of f.
func Checked[T any](f *cache.Family[T], check Check[T], tags ...string) Family {
	return Family{
		name: f.Name(),
		tags: tags,
		peek: func(ctx context.Context, key string) (entry, error) {
			p, err := f.Peek(ctx, key)
			return entry{state: p.State, raw: p.Raw, peeked: p}, err
		},
		check: func(ctx context.Context, id string, e entry) (Verdict, error) {
			return check(ctx, id, e.peeked.(cache.Peeked[T]))
		},
	}
}

// Versioned audits a family whose values carry a version that grows with
// every change (file rows): the entry is consistent when the cached
// version equals the database's. load reads the database, returning an
// error that wraps cache.ErrNotFound when there is no row (a cache.Loader);
// version returns a value's version and when it was set.
func Versioned[T any](f *cache.Family[T], load cache.Loader[T], version func(T) (int64, time.Time)) Family {
	return described(f, load,
		func(v T) (string, error) {
			n, _ := version(v)
			return "version " + strconv.FormatInt(n, 10), nil
		},
		func(v T) time.Time {
			_, at := version(v)
			return at
		})
}

// Compared audits a family without versions (statistics, settings) by
// content: the entry is consistent when the cached value and the
// database's encode to the same JSON. load is as for Versioned; changed,
// if not nil, returns when a value was set (an update time), for the age
// of an inconsistency.
func Compared[T any](f *cache.Family[T], load cache.Loader[T], changed func(T) time.Time) Family {
	return described(f, load, func(v T) (string, error) { return digest(v) }, changed)
}

// described audits f by a description of each value: the entry is
// consistent when the cached value and the database's are described alike.
// changed is as for Compared.
func described[T any](f *cache.Family[T], load cache.Loader[T], describe func(T) (string, error), changed func(T) time.Time) Family {
	return Checked(f, func(ctx context.Context, id string, cached cache.Peeked[T]) (Verdict, error) {
		db, found, err := loadOptional(ctx, load, id)
		if err != nil {
			return Verdict{}, err
		}
		v := Verdict{Cached: notFound, Database: notFound}
		if cached.State == cache.PeekValue {
			if v.Cached, err = describe(cached.Value); err != nil {
				return Verdict{}, err
			}
		}
		if found {
			if v.Database, err = describe(db); err != nil {
				return Verdict{}, err
			}
			if changed != nil {
				v.Changed = changed(db)
			}
		}
		v.Consistent = v.Cached == v.Database
		return v, nil
	})
}

const notFound = "not found"

// loadOptional runs load and tells "no row" from a failure.
func loadOptional[T any](ctx context.Context, load cache.Loader[T], id string) (T, bool, error) {
	v, err := load(ctx, id)
	switch {
	case err == nil:
		return v, true, nil
	case errors.Is(err, cache.ErrNotFound):
		return v, false, nil
	}
	return v, false, err
}

// digest names a value by its content: "content " and 8 bytes of the
// SHA-256 of its JSON, short enough for a log line.
func digest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("audit: encode %T: %w", v, err)
	}
	sum := sha256.Sum256(b)
	return "content " + hex.EncodeToString(sum[:8]), nil
}
