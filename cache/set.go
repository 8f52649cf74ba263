package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Set caches v as the value of id with the family's TTL. It replaces any
// lease on the key, so a load racing with this write cannot store over it.
func (f *Family[T]) Set(ctx context.Context, id string, v T) error {
	return f.SetWithTTL(ctx, id, v, 0)
}

// SetWithTTL caches v as the value of id for ttl; ttl <= 0 means the
// family's TTL. A store out of memory (ErrNoMemory) is counted, and its
// error returned.
func (f *Family[T]) SetWithTTL(ctx context.Context, id string, v T, ttl time.Duration) (err error) {
	key, err := f.Key(id)
	if err != nil {
		return err
	}
	if f.c.tracer != nil {
		var sp trace.Span
		ctx, sp = f.c.startSpan(ctx, spanSet, f.name, key)
		defer func() { endSpan(sp, err) }()
	}
	if ttl <= 0 {
		ttl = f.TTLOf(v)
	}
	data, err := f.encode(v, ttl)
	if err != nil {
		return err
	}
	if err := f.tag(ctx, f.keep(ttl), key); err != nil {
		return err
	}
	start := f.c.opts.Now()
	err = f.c.store.Set(ctx, key, data, f.keep(ttl))
	f.dropNear(key)
	f.c.observe("set", f.name, start, err)
	if err != nil {
		f.writeFailed(err)
		return fmt.Errorf("cache: set %s: %w", key, err)
	}
	return nil
}

// writeFailed counts a failed write: refused for memory, or an error.
func (f *Family[T]) writeFailed(err error) {
	if f.c.noteRefused(err) {
		f.stats.refused.Add(1)
		return
	}
	f.stats.errors.Add(1)
}

// SetMany caches every value of values (by id) in one round trip per node.
func (f *Family[T]) SetMany(ctx context.Context, values map[string]T) (err error) {
	if f.c.tracer != nil {
		var sp trace.Span
		ctx, sp = f.c.startSpan(ctx, spanSetMany, f.name, "")
		defer func() { endSpan(sp, err, attrCount.Int(len(values))) }()
	}
	entries := make([]Entry, 0, len(values))
	keys := make([]string, 0, len(values))
	var longest time.Duration
	for id, v := range values {
		key, err := f.Key(id)
		if err != nil {
			return err
		}
		ttl := f.TTLOf(v)
		data, err := f.encode(v, ttl)
		if err != nil {
			return err
		}
		entries = append(entries, Entry{Key: key, Value: data, TTL: f.keep(ttl)})
		keys = append(keys, key)
		longest = max(longest, f.keep(ttl))
	}
	if err := f.tag(ctx, longest, keys...); err != nil {
		return err
	}
	start := f.c.opts.Now()
	err = f.c.store.SetMulti(ctx, entries)
	f.dropNear(keys...)
	f.c.observe("set_many", f.name, start, err)
	if err != nil {
		f.writeFailed(err)
		return fmt.Errorf("cache: set many %s: %w", f.name, err)
	}
	return nil
}

// Delete removes the values of ids (and any lease on them, so that a load in
// flight does not store what it read before the delete). It reports how many
// keys existed.
func (f *Family[T]) Delete(ctx context.Context, ids ...string) (int, error) {
	keys, err := f.keys(ids)
	if err != nil {
		return 0, err
	}
	n, err := f.c.deleteKeys(ctx, f.name, keys)
	if err != nil {
		f.stats.errors.Add(1)
		return n, fmt.Errorf("cache: delete %s: %w", f.name, err)
	}
	return n, nil
}

// DeletePattern removes every value of the family whose id matches the Redis
// glob idGlob and reports how many it removed. Escape user-supplied text in
// idGlob with EscapeGlob: f.DeletePattern(ctx, EscapeGlob(dir)+"/*"). The
// store must be a PatternDeleter.
func (f *Family[T]) DeletePattern(ctx context.Context, idGlob string) (int, error) {
	pattern := f.c.keys.Pattern(f.name, idGlob)
	n, err := f.c.deletePattern(ctx, f.name, pattern, func(n nearSet) bool { return n == nearSet(f.near) })
	if err != nil {
		f.stats.errors.Add(1)
		return n, fmt.Errorf("cache: delete pattern %q: %w", pattern, err)
	}
	return n, nil
}

// deleteKeys deletes keys from the store and from the near caches of this
// process, and detaches their flights before and after, so that no reader
// arriving after it joins a load that read the old values.
func (c *Cache) deleteKeys(ctx context.Context, family string, keys []string) (int, error) {
	c.forget(keys)
	start := c.opts.Now()
	n, err := c.store.Delete(ctx, keys...)
	c.dropNear(keys)
	c.forget(keys)
	c.observe("delete", family, start, err)
	return n, err
}

// errNoPatterns is returned by pattern deletes on a store that cannot walk
// its keys.
var errNoPatterns = errors.New("cache: the store cannot delete by pattern")

// deletePattern deletes the keys matching pattern and flushes the near
// caches that match (a pattern names no keys to drop one by one). The
// generation grows before and after, for the same reason deleteKeys
// forgets flights twice.
func (c *Cache) deletePattern(ctx context.Context, family, pattern string, near func(nearSet) bool) (int, error) {
	pd, ok := c.store.(PatternDeleter)
	if !ok {
		return 0, errNoPatterns
	}
	c.gen.Add(1)
	start := c.opts.Now()
	n, err := pd.DeletePattern(ctx, pattern)
	c.flushNear(near)
	c.gen.Add(1)
	c.observe("delete_pattern", family, start, err)
	return n, err
}
