package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

// ErrNotConnected is returned, wrapped, by the calls of a Background store
// made before it has connected. It wraps cache.ErrUnavailable, so a
// cache.Cache answers from its loader and a circuit breaker counts it as an
// outage.
var ErrNotConnected = fmt.Errorf("redisstore: not connected yet: %w", cache.ErrUnavailable)

// Backoff between the connection attempts of a Background store.
const (
	connectBackoff    = 100 * time.Millisecond
	connectMaxBackoff = 2 * time.Second
)

// Background is a cache.Store, cache.Notifier and cache.Publisher that
// connects to Redis in the background, so that a service can start while
// Redis is unreachable. Until it has connected every call fails at once
// with ErrNotConnected; it retries with exponential backoff (100ms to 2s)
// and, once connected, forwards every call to its Store. Notification
// hooks registered before are registered on the Store before the first
// call reaches it, and are then called with nil (as on a lost connection),
// since Redis reported no change made before.
//
// A Background is safe for concurrent use.
type Background struct {
	opts      Options
	store     atomic.Pointer[Store]
	connected chan struct{} // closed once store is set
	stop      context.CancelFunc
	done      chan struct{} // closed when the connecting goroutine returns

	mu       sync.Mutex            // guards hooks, lastErr, and registering hooks on store
	hooks    []func(keys []string) // Notify hooks registered before connecting
	confirms []func(time.Time)     // Confirm hooks registered before connecting
	lastErr  error
}

var (
	_ cache.Store          = (*Background)(nil)
	_ cache.Tagger         = (*Background)(nil)
	_ cache.PatternDeleter = (*Background)(nil)
	_ cache.Notifier       = (*Background)(nil)
	_ cache.Confirmer      = (*Background)(nil)
	_ cache.Publisher      = (*Background)(nil)
)

// NewBackground makes a first attempt to connect within ctx and returns. It
// fails only on what retrying cannot fix: invalid options, or a first
// attempt refused with ErrAuth, ErrPermission or ErrTLS. Otherwise the
// Background is connected, or keeps trying in the background until Close
// (Err tells why it is not connected yet); failed attempts go to
// opts.Logger.
func NewBackground(ctx context.Context, opts Options) (*Background, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	b := &Background{opts: opts, connected: make(chan struct{}), done: make(chan struct{})}
	s, err := Dial(ctx, opts)
	if permanent(err) {
		return nil, err
	}
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	b.stop = stop
	if err == nil {
		b.connect(s)
		close(b.done)
		return b, nil
	}
	b.setErr(err)
	go b.run(bg)
	return b, nil
}

// run retries until it connects or ctx ends.
func (b *Background) run(ctx context.Context) {
	defer close(b.done)
	backoff := connectBackoff
	for {
		b.opts.Logger.Warn("redis: not connected; retrying in the background",
			"addrs", strings.Join(b.opts.Addrs, ","), "err", b.Err(), "in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, connectMaxBackoff)
		s, err := Dial(ctx, b.opts)
		if err == nil {
			b.connect(s)
			return
		}
		if ctx.Err() != nil {
			return
		}
		b.setErr(err)
	}
}

// connect publishes s, with the hooks registered so far.
func (b *Background) connect(s *Store) {
	b.mu.Lock()
	hooks := b.hooks
	for _, fn := range hooks {
		s.Notify(fn)
	}
	for _, fn := range b.confirms {
		s.Confirm(fn)
	}
	b.hooks, b.confirms, b.lastErr = nil, nil, nil
	b.store.Store(s)
	b.mu.Unlock()
	// Redis reported nothing made before: a flush, before anyone learns
	// that the store is connected.
	for _, fn := range hooks {
		fn(nil)
	}
	close(b.connected)
}

func (b *Background) setErr(err error) {
	b.mu.Lock()
	b.lastErr = err
	b.mu.Unlock()
}

// Err returns why the last attempt to connect failed, or nil once connected.
func (b *Background) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.lastErr
}

// Connected returns a channel closed once the Store has connected.
func (b *Background) Connected() <-chan struct{} { return b.connected }

// Store returns the connected Store, or nil before it has connected.
func (b *Background) Store() *Store { return b.store.Load() }

// Client returns the rueidis client of the connected Store, for commands
// the Store does not offer, or nil before it has connected.
func (b *Background) Client() rueidis.Client {
	if s := b.store.Load(); s != nil {
		return s.Client()
	}
	return nil
}

// Mode reports the Store's mode, or "" before it has connected.
func (b *Background) Mode() string {
	if s := b.store.Load(); s != nil {
		return s.Mode()
	}
	return ""
}

// Retries returns the Store's retries, 0 before it has connected.
func (b *Background) Retries() uint64 {
	if s := b.store.Load(); s != nil {
		return s.Retries()
	}
	return 0
}

// Unreplicated returns the Store's deletes that the replicas did not
// acknowledge in time, 0 before it has connected.
func (b *Background) Unreplicated() uint64 {
	if s := b.store.Load(); s != nil {
		return s.Unreplicated()
	}
	return 0
}

// current returns the Store or ErrNotConnected.
func (b *Background) current() (*Store, error) {
	if s := b.store.Load(); s != nil {
		return s, nil
	}
	return nil, ErrNotConnected
}

// Get implements cache.Store.
func (b *Background) Get(ctx context.Context, key string) ([]byte, error) {
	s, err := b.current()
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, key)
}

// GetMulti implements cache.Store.
func (b *Background) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	s, err := b.current()
	if err != nil {
		return nil, err
	}
	return s.GetMulti(ctx, keys)
}

// Set implements cache.Store.
func (b *Background) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	s, err := b.current()
	if err != nil {
		return err
	}
	return s.Set(ctx, key, value, ttl)
}

// SetMulti implements cache.Store.
func (b *Background) SetMulti(ctx context.Context, entries []cache.Entry) error {
	s, err := b.current()
	if err != nil {
		return err
	}
	return s.SetMulti(ctx, entries)
}

// Delete implements cache.Store.
func (b *Background) Delete(ctx context.Context, keys ...string) (int, error) {
	s, err := b.current()
	if err != nil {
		return 0, err
	}
	return s.Delete(ctx, keys...)
}

// TTL is Store.TTL.
func (b *Background) TTL(ctx context.Context, key string) (time.Duration, error) {
	s, err := b.current()
	if err != nil {
		return 0, err
	}
	return s.TTL(ctx, key)
}

// DeletePattern implements cache.PatternDeleter.
func (b *Background) DeletePattern(ctx context.Context, pattern string) (int, error) {
	s, err := b.current()
	if err != nil {
		return 0, err
	}
	return s.DeletePattern(ctx, pattern)
}

// SetNXGet implements cache.Store.
func (b *Background) SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	s, err := b.current()
	if err != nil {
		return nil, false, err
	}
	return s.SetNXGet(ctx, key, value, ttl)
}

// CompareAndSet implements cache.Store.
func (b *Background) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	s, err := b.current()
	if err != nil {
		return false, err
	}
	return s.CompareAndSet(ctx, key, old, value, ttl)
}

// IncrBy counts like Store.IncrBy (ratelimit's Counter).
func (b *Background) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	s, err := b.current()
	if err != nil {
		return 0, 0, err
	}
	return s.IncrBy(ctx, key, n, window)
}

// AddToTag implements cache.Tagger.
func (b *Background) AddToTag(ctx context.Context, tagKey string, ttl time.Duration, keys ...string) error {
	s, err := b.current()
	if err != nil {
		return err
	}
	return s.AddToTag(ctx, tagKey, ttl, keys...)
}

// DeleteTag implements cache.Tagger.
func (b *Background) DeleteTag(ctx context.Context, tagKey string) (int, error) {
	s, err := b.current()
	if err != nil {
		return 0, err
	}
	return s.DeleteTag(ctx, tagKey)
}

// Ping implements cache.Store.
func (b *Background) Ping(ctx context.Context) error {
	s, err := b.current()
	if err != nil {
		return err
	}
	return s.Ping(ctx)
}

// Close implements cache.Store: it stops connecting and closes the Store.
func (b *Background) Close() error {
	if b.stop != nil {
		b.stop()
	}
	<-b.done
	if s := b.store.Load(); s != nil {
		return s.Close()
	}
	return nil
}

// Notify implements cache.Notifier; see Background.
func (b *Background) Notify(fn func(keys []string)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.store.Load(); s != nil {
		s.Notify(fn)
		return
	}
	b.hooks = append(b.hooks, fn)
}

// Confirm implements cache.Confirmer; see Store.Confirm. Until the Store
// has connected nothing is confirmed, so near hits wait for it.
func (b *Background) Confirm(fn func(t time.Time)) bool {
	if len(b.opts.Track) == 0 || b.opts.Heartbeat < 0 {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.store.Load(); s != nil {
		return s.Confirm(fn)
	}
	b.confirms = append(b.confirms, fn)
	return true
}

// Tracks implements cache.Notifier, from Options.Track.
func (b *Background) Tracks(prefix string) bool {
	for _, p := range b.opts.Track {
		if strings.HasPrefix(prefix, p) {
			return true
		}
	}
	return false
}

// Publish implements cache.Publisher.
func (b *Background) Publish(ctx context.Context, channel string, msg []byte) error {
	s, err := b.current()
	if err != nil {
		return err
	}
	return s.Publish(ctx, channel, msg)
}

// Subscribe implements cache.Publisher. Before the Store has connected it
// waits for the connection (or for ctx to end, or Close).
func (b *Background) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	select {
	case <-b.connected:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.done:
		if b.store.Load() == nil {
			return errors.Join(ErrNotConnected, errors.New("redisstore: closed"))
		}
	}
	return b.store.Load().Subscribe(ctx, channel, fn)
}

// Masters is Store.Masters; before the Store has connected it fails with
// ErrNotConnected.
func (b *Background) Masters(ctx context.Context) (map[string]rueidis.Client, error) {
	s, err := b.current()
	if err != nil {
		return nil, err
	}
	return s.Masters(ctx)
}
