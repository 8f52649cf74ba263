// Package ratelimit limits requests per client with a fixed window counted
// in the cache store ("ratelimit:{ip}"), so that every instance sharing a
// Redis shares the limit.
//
//	l, err := ratelimit.New(c, 600, time.Minute)
//	info, ok, err := l.Allow(ctx, clientIP)
//
// A Limiter is safe for concurrent use.
package ratelimit

import (
	"context"
	"errors"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// Family is the key family of the counters.
const Family = "ratelimit"

// Counter counts events per key in a fixed window shared by every
// instance: the cache stores implement it.
type Counter interface {
	// IncrBy adds n to the counter at key, creating it with a lifetime of
	// window, and returns the count and the time left in the window.
	IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error)
}

// Limiter allows Limit requests per key per Window.
type Limiter struct {
	c      *cache.Cache
	store  Counter
	limit  int
	window time.Duration
	now    func() time.Time
}

// New returns a Limiter of limit requests per window on c.
func New(c *cache.Cache, store Counter, limit int, window time.Duration) (*Limiter, error) {
	if limit < 1 || window < time.Second {
		return nil, errors.New("ratelimit: limit must be >= 1 and window >= 1s")
	}
	return &Limiter{c: c, store: store, limit: limit, window: window, now: time.Now}, nil
}

// Allow counts one request of key and reports whether it is within the
// limit, with the state to send in the RateLimit-* headers.
func (l *Limiter) Allow(ctx context.Context, key string) (files.RateLimitInfo, bool, error) {
	k, err := l.c.Keyspace().Key(Family, key)
	if err != nil {
		return files.RateLimitInfo{}, true, err
	}
	n, left, err := l.store.IncrBy(ctx, k, 1, l.window)
	if err != nil {
		return files.RateLimitInfo{}, true, err
	}
	info := files.RateLimitInfo{
		Limit:     l.limit,
		Remaining: max(0, l.limit-int(n)),
		Reset:     l.now().Add(left),
	}
	return info, n <= int64(l.limit), nil
}
