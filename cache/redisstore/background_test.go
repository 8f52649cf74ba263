package redisstore_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

// notified records what a Notify hook receives.
type notified struct {
	mu      sync.Mutex
	flushes int
	keys    []string
	changed chan struct{}
}

func (n *notified) hook(keys []string) {
	n.mu.Lock()
	if keys == nil {
		n.flushes++
	}
	n.keys = append(n.keys, keys...)
	n.mu.Unlock()
	select {
	case n.changed <- struct{}{}:
	default:
	}
}

func (n *notified) has(key string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.keys, key)
}

// TestBackground starts a Background store while its Redis is down, checks
// that calls fail at once with ErrNotConnected, then starts Redis and
// checks that the store connects by itself, that the hook registered before
// connecting hears both the flush and a change made by another client
// (tracking), and that a subscription made before connecting receives
// messages.
func TestBackground(t *testing.T) {
	srv := redistest.Standalone(t)
	srv.Kill() // its port stays reserved for the restart

	const prefix = "bg:file:"
	b, err := redisstore.NewBackground(t.Context(), redisstore.Options{
		Addrs:       []string{srv.Addr()},
		DialTimeout: 500 * time.Millisecond,
		Track:       []string{prefix},
	})
	if err != nil {
		t.Fatalf("NewBackground with Redis down: %v; want a store connecting in the background", err)
	}
	t.Cleanup(func() { b.Close() })
	if b.Store() != nil || b.Err() == nil || b.Client() != nil || b.Mode() != "" {
		t.Fatalf("connected to a stopped server: store %v, err %v", b.Store(), b.Err())
	}
	start := time.Now()
	_, err = b.Get(t.Context(), prefix+"1")
	if !errors.Is(err, redisstore.ErrNotConnected) || !errors.Is(err, cache.ErrUnavailable) {
		t.Fatalf("Get before connecting: %v; want ErrNotConnected, a cache.ErrUnavailable", err)
	}
	if err := b.Set(t.Context(), prefix+"1", []byte("x"), time.Minute); !errors.Is(err, redisstore.ErrNotConnected) {
		t.Fatalf("Set before connecting: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("calls before connecting took %v; want them to fail at once", d)
	}
	if !b.Tracks(prefix) || b.Tracks("bg:user:") {
		t.Error("Tracks does not follow Options.Track before connecting")
	}

	n := &notified{changed: make(chan struct{}, 1)}
	b.Notify(n.hook)
	msgs := make(chan []byte, 1)
	subCtx, cancelSub := context.WithCancel(t.Context())
	defer cancelSub()
	subscribed := make(chan error, 1)
	go func() {
		subscribed <- b.Subscribe(subCtx, "bg:events", func(m []byte) { msgs <- m })
	}()

	srv.Restart(t)
	select {
	case <-b.Connected():
	case <-time.After(30 * time.Second):
		t.Fatalf("not connected 30s after Redis started; last error: %v", b.Err())
	}
	if b.Store() == nil || b.Err() != nil || b.Mode() != "standalone" || b.Client() == nil {
		t.Fatalf("after connecting: store %v, err %v, mode %q", b.Store(), b.Err(), b.Mode())
	}
	n.mu.Lock()
	flushes := n.flushes
	n.mu.Unlock()
	if flushes < 1 {
		t.Error("the hook registered before connecting was not flushed on connecting")
	}
	if err := b.Set(t.Context(), prefix+"1", []byte("v1"), time.Minute); err != nil {
		t.Fatalf("Set after connecting: %v", err)
	}
	if v, err := b.Get(t.Context(), prefix+"1"); err != nil || string(v) != "v1" {
		t.Fatalf("Get after connecting = %q, %v", v, err)
	}

	// Another client changes a tracked key: the hook hears it.
	other := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}})
	deadline := time.After(10 * time.Second)
	for !n.has(prefix + "1") {
		if err := other.Set(t.Context(), prefix+"1", []byte("v2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		select {
		case <-n.changed:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatal("the hook registered before connecting never heard of a change by another client")
		}
	}

	// The subscription made before connecting is live.
	for delivered := false; !delivered; {
		if err := other.Publish(t.Context(), "bg:events", []byte("hello")); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-msgs:
			if string(m) != "hello" {
				t.Fatalf("subscriber got %q", m)
			}
			delivered = true
		case err := <-subscribed:
			t.Fatalf("Subscribe returned: %v", err)
		case <-time.After(100 * time.Millisecond): // not subscribed yet: publish again
		case <-deadline:
			t.Fatal("the subscription made before connecting received nothing")
		}
	}
}

// TestBackgroundRefusedCredentials checks that credentials Redis refuses
// stop NewBackground at once, as ErrAuth, instead of retrying forever.
func TestBackgroundRefusedCredentials(t *testing.T) {
	srv := redistest.Standalone(t)
	admin := redisstoretest.Open(t, redisstore.Options{Addrs: []string{srv.Addr()}})
	c := admin.Client()
	if err := c.Do(t.Context(), c.B().ConfigSet().ParameterValue().ParameterValue("requirepass", "the-right-one").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"a-wrong-one", ""} {
		// With tracking on several prefixes, Redis drops the connection
		// over the CLIENT TRACKING sent behind the failed HELLO (EOF):
		// the failure must still read as one of authentication.
		for _, track := range [][]string{nil, {"a:file:", "a:search:", "a:stats:", "a:settings:"}} {
			b, err := redisstore.NewBackground(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, Username: "app", Password: pw, Track: track})
			if err == nil {
				b.Close()
				t.Fatalf("password %q, track %q: NewBackground succeeded", pw, track)
			}
			if !errors.Is(err, redisstore.ErrAuth) {
				t.Errorf("password %q, track %q: %v; want ErrAuth", pw, track, err)
			}
		}
	}
}

// TestBackgroundClose checks that Close stops a store still connecting.
func TestBackgroundClose(t *testing.T) {
	srv := redistest.Standalone(t)
	srv.Kill()
	b, err := redisstore.NewBackground(t.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- b.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close of a store still connecting did not return within 10s")
	}
	select {
	case <-b.Connected():
		t.Error("connected after Close")
	default:
	}
}
