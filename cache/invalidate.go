package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Publisher is implemented by a Store that can broadcast messages to every
// process using it (Redis Pub/Sub).
type Publisher interface {
	// Publish sends msg to the subscribers of channel.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe calls fn with every message of channel until ctx ends or
	// the subscription fails.
	Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error
}

// EventsChannel is the Pub/Sub channel of invalidation events, after the
// cache prefix.
const EventsChannel = "filecache:invalidations"

// Invalidation names what to drop from the cache, and why.
type Invalidation struct {
	Keys    []string // keys as built by a Family's Key
	Tags    []string // tags, see FamilyOptions.Tags
	Pattern string   // a Redis glob within the cache prefix (see DeletePattern)
	Reason  string   // e.g. "write", "relay", "admin"; free text, short
}

// Event is what Invalidate publishes on the events channel, as JSON.
type Event struct {
	Keys    []string  `json:"keys,omitempty"`
	Tags    []string  `json:"tags,omitempty"`
	Pattern string    `json:"pattern,omitempty"`
	Reason  string    `json:"reason"`
	Origin  string    `json:"origin"`
	Deleted int       `json:"deleted"`
	Time    time.Time `json:"time"`
}

// InvalidationObserver, implemented by an Observer, is told every
// invalidation: kind is "key", "tag" or "pattern"; n is how many keys the
// store deleted for it.
type InvalidationObserver interface {
	ObserveInvalidation(kind, reason string, n int)
}

// Invalidate deletes inv's keys, the keys of its tags and the keys matching
// its pattern, drops them from this process's near caches before it
// returns, and publishes an Event on EventsChannel when the store is a
// Publisher (a failed publish is logged, not returned: the deletes are what
// matters). It reports how many keys were deleted. Every step is safe to
// repeat: after an error, invalidate again.
func (c *Cache) Invalidate(ctx context.Context, inv Invalidation) (total int, err error) {
	if c.tracer != nil {
		var sp trace.Span
		ctx, sp = c.startSpan(ctx, spanInvalidate, "", "")
		defer func() { endSpan(sp, err, append(invalidationAttrs(inv), attrDeleted.Int(total))...) }()
	}
	var nKeys, nTags, nPattern int
	var errs []error
	if len(inv.Keys) > 0 {
		n, err := c.Delete(ctx, inv.Keys...)
		nKeys, total = n, total+n
		errs = append(errs, err)
	}
	if len(inv.Tags) > 0 && !failed(errs) {
		n, err := c.InvalidateTags(ctx, inv.Tags...)
		nTags, total = n, total+n
		errs = append(errs, err)
	}
	if inv.Pattern != "" && !failed(errs) {
		n, err := c.DeletePattern(ctx, inv.Pattern)
		nPattern, total = n, total+n
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return total, err
	}
	if o, ok := c.opts.Observer.(InvalidationObserver); ok {
		if len(inv.Keys) > 0 {
			o.ObserveInvalidation("key", inv.Reason, nKeys)
		}
		if len(inv.Tags) > 0 {
			o.ObserveInvalidation("tag", inv.Reason, nTags)
		}
		if inv.Pattern != "" {
			o.ObserveInvalidation("pattern", inv.Reason, nPattern)
		}
	}
	c.publish(ctx, Event{Keys: inv.Keys, Tags: inv.Tags, Pattern: inv.Pattern, Reason: inv.Reason,
		Origin: c.opts.Instance, Deleted: total, Time: c.opts.Now().UTC()})
	return total, nil
}

// Delete removes raw keys (as built by a Family's Key) and reports how many
// existed.
func (c *Cache) Delete(ctx context.Context, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	n, err := c.deleteKeys(ctx, "", keys)
	if err != nil {
		return n, fmt.Errorf("cache: delete %d keys: %w", len(keys), err)
	}
	return n, nil
}

// DeletePattern removes every key of this cache (inside its prefix) that
// matches the Redis glob pattern, and reports how many it removed. Escape
// user-supplied text in pattern with EscapeGlob. The store must be a
// PatternDeleter.
func (c *Cache) DeletePattern(ctx context.Context, pattern string) (int, error) {
	n, err := c.deletePattern(ctx, "", EscapeGlob(c.keys.Prefix)+pattern, func(nearSet) bool { return true })
	if err != nil {
		return n, fmt.Errorf("cache: delete pattern %q: %w", pattern, err)
	}
	return n, nil
}

// InvalidateTags deletes every key that joined one of tags (see
// FamilyOptions.Tags) without walking the keyspace, and reports how many
// keys it deleted. The store must be a Tagger.
func (c *Cache) InvalidateTags(ctx context.Context, tags ...string) (int, error) {
	t, ok := c.store.(Tagger)
	if !ok {
		return 0, errors.New("cache: the store does not index tags")
	}
	total := 0
	for _, tag := range tags {
		tk, err := c.tagKey(tag)
		if err != nil {
			return total, fmt.Errorf("cache: tag %q: %w", tag, err)
		}
		// As for patterns, a generation before and after.
		c.gen.Add(1)
		start := c.opts.Now()
		n, err := t.DeleteTag(ctx, tk)
		c.flushNear(func(n nearSet) bool { return n.hasTag(tag) })
		c.gen.Add(1)
		c.observe("invalidate_tag", "", start, err)
		total += n
		if err != nil {
			return total, fmt.Errorf("cache: invalidate tag %q: %w", tag, err)
		}
	}
	return total, nil
}

// publish announces ev to every process using the store, if it publishes.
func (c *Cache) publish(ctx context.Context, ev Event) {
	c.opts.Logger.Debug("cache invalidation", "keys", ev.Keys, "tags", ev.Tags, "pattern", ev.Pattern,
		"reason", ev.Reason, "deleted", ev.Deleted)
	p, ok := c.store.(Publisher)
	if !ok {
		return
	}
	msg, err := json.Marshal(ev)
	if err == nil {
		err = p.Publish(ctx, c.keys.Prefix+EventsChannel, msg)
	}
	if err != nil {
		c.opts.Logger.WarnContext(ctx, "invalidation event not published", "err", err)
	}
}

func failed(errs []error) bool { return errors.Join(errs...) != nil }

// Events calls fn with every invalidation event published by any process
// using the same store and prefix, until ctx ends. It needs a Publisher
// store.
func (c *Cache) Events(ctx context.Context, fn func(Event)) error {
	p, ok := c.store.(Publisher)
	if !ok {
		return errors.New("cache: the store does not publish events (Redis only)")
	}
	err := p.Subscribe(ctx, c.keys.Prefix+EventsChannel, func(msg []byte) {
		var ev Event
		if json.Unmarshal(msg, &ev) == nil {
			fn(ev)
		}
	})
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("cache: events: %w", err)
}
