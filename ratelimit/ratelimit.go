package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/maypok86/otter/v2"
)

// Family is the key family of the shared counters: their keys are built by
// Options.Keys as Keys.Key(Family, client).
const Family = "ratelimit"

// Defaults of Options.
const (
	DefaultWindow       = time.Minute
	DefaultChunkDivisor = 10
	DefaultMaxClients   = 100_000
)

// Counter is the shared, fixed-window counter the limiter reserves its
// slots from. cache/redisstore, cache/memstore and cache/breaker implement
// it.
type Counter interface {
	// IncrBy adds n to the counter at key and returns the new count and the
	// time left before the counter expires. The add that creates the
	// counter gives it a lifetime of window; later ones do not extend it.
	// It must not retry an add that may have been applied.
	IncrBy(ctx context.Context, key string, n int64, window time.Duration) (count int64, ttl time.Duration, err error)
}

// Options tunes a Limiter. The zero value of every field means its default.
type Options struct {
	// Window is the length of a fixed window; it starts with the first
	// request of a client that reaches the Counter. Default: DefaultWindow.
	Window time.Duration
	// Chunk is how many slots an instance reserves from the Counter at a
	// time: the Counter sees one IncrBy per Chunk requests of a client, and
	// a request may be refused while up to (instances-1)·(Chunk-1) slots sit
	// unspent in other instances. Default: the limit / DefaultChunkDivisor,
	// at least 1.
	Chunk int
	// Keys builds the Counter's keys (the cache's Keyspace, for its
	// prefix). Default: the zero Keyspace, no prefix.
	Keys cache.Keyspace
	// MaxClients bounds the clients whose state the instance keeps; a
	// client's state is also dropped a Window after its last request.
	// Default: DefaultMaxClients.
	MaxClients int
	// OnError is called, on the caller's goroutine, when a reservation
	// fails and the client is limited by this instance alone until its
	// window ends. Default: none.
	OnError func(err error)
}

// Info is the state of a client's rate limit, as sent in the
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers.
type Info struct {
	Limit     int
	Remaining int
	Reset     time.Time
}

// Limiter allows a limit of requests per client per window, shared by every
// instance on the same Counter, without a round trip per request (see the
// package documentation). It is safe for concurrent use.
type Limiter struct {
	ctr     Counter
	limit   int64
	opts    Options
	clients *otter.Cache[string, *client]
}

// client is what an instance knows of one client's current window.
type client struct {
	key string // the Counter's key

	mu     sync.Mutex
	end    time.Time // end of the window; zero: none yet
	tokens int64     // slots reserved by this instance and not spent
	free   int64     // slots nobody had reserved at the last reservation
}

// New returns a Limiter of limit requests per client per window on ctr.
func New(ctr Counter, limit int, opts Options) (*Limiter, error) {
	if ctr == nil {
		return nil, errors.New("ratelimit: nil Counter")
	}
	if opts.Window == 0 {
		opts.Window = DefaultWindow
	}
	if opts.Chunk == 0 {
		opts.Chunk = max(1, limit/DefaultChunkDivisor)
	}
	if opts.MaxClients == 0 {
		opts.MaxClients = DefaultMaxClients
	}
	switch {
	case limit < 1:
		return nil, fmt.Errorf("ratelimit: limit %d must be at least 1", limit)
	case opts.Window < time.Second:
		return nil, fmt.Errorf("ratelimit: window %v must be at least 1s", opts.Window)
	case opts.Chunk < 1:
		return nil, fmt.Errorf("ratelimit: chunk %d must be at least 1", opts.Chunk)
	case opts.MaxClients < 1:
		return nil, fmt.Errorf("ratelimit: MaxClients %d must be at least 1", opts.MaxClients)
	}
	clients, err := otter.New(&otter.Options[string, *client]{
		MaximumSize: opts.MaxClients,
		// A window ends at most Window after the client's last request
		// here; otter may expire up to a second early.
		ExpiryCalculator: otter.ExpiryAccessing[string, *client](opts.Window + time.Second),
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	return &Limiter{ctr: ctr, limit: int64(limit), opts: opts, clients: clients}, nil
}

// Allow counts one request of key (a client IP) and reports whether it is
// within the limit, with the state this instance knows for the RateLimit-*
// headers: Remaining is the slots it holds plus those nobody had reserved
// at its last reservation, Reset the end of the window as the Counter
// reported it.
//
// Most calls are answered from memory; one in Chunk of a client asks the
// Counter. A Counter failure is not returned: the client is then limited by
// this instance alone until its window ends (fail open, locally limited).
// Allow fails only for a key the Keyspace rejects or a done ctx.
func (l *Limiter) Allow(ctx context.Context, key string) (Info, bool, error) {
	c, err := l.client(key)
	if err != nil {
		return Info{}, true, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := time.Now(); !now.Before(c.end) {
		c.end, c.tokens, c.free = time.Time{}, 0, l.limit
	}
	if c.tokens == 0 && c.free > 0 {
		if err := l.reserve(ctx, c); err != nil {
			return Info{}, true, err
		}
	}
	ok := c.tokens > 0
	if ok {
		c.tokens--
	}
	return Info{Limit: int(l.limit), Remaining: int(c.tokens + c.free), Reset: c.end}, ok, nil
}

// client returns the state of key, created if need be.
func (l *Limiter) client(key string) (*client, error) {
	if c, ok := l.clients.GetIfPresent(key); ok {
		return c, nil
	}
	k, err := l.opts.Keys.Key(Family, key)
	if err != nil {
		return nil, fmt.Errorf("ratelimit: %w", err)
	}
	c, _ := l.clients.SetIfAbsent(key, &client{key: k})
	return c, nil
}

// reserve takes the next chunk of slots of c's window from the Counter,
// or on a Counter failure all the slots c's window has left as this
// instance knows it. c.mu is held.
func (l *Limiter) reserve(ctx context.Context, c *client) error {
	n := min(int64(l.opts.Chunk), c.free)
	sent := time.Now()
	count, ttl, err := l.ctr.IncrBy(ctx, c.key, n, l.opts.Window)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("ratelimit: %w", ctx.Err())
		}
		if c.end.IsZero() {
			c.end = sent.Add(l.opts.Window)
		}
		c.tokens, c.free = c.free, 0
		if l.opts.OnError != nil {
			l.opts.OnError(fmt.Errorf("ratelimit: reserve for %s: %w", c.key, err))
		}
		return nil
	}
	if ttl <= 0 || ttl > l.opts.Window {
		ttl = l.opts.Window
	}
	// Measured from before the call, the end is never later than the
	// Counter's: slots are not spent after the window has rolled over. It
	// moves later only when this add started a new window (the key was
	// lost).
	if end := sent.Add(ttl); count == n || c.end.IsZero() || end.Before(c.end) {
		c.end = end
	}
	// The add made slots count-n+1..count this instance's; those past the
	// limit are no one's.
	c.tokens = max(0, min(count, l.limit)-(count-n))
	c.free = max(0, l.limit-count)
	return nil
}
