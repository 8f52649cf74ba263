package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/testenv"
)

// TestInvalidationEvents: every invalidation of one instance reaches the
// event subscribers of another, with its keys, tags, pattern, reason and
// origin.
func TestInvalidationEvents(t *testing.T) {
	for _, tt := range []backend{standalone, cluster} {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts(t)
			prefix := fmt.Sprintf("ev%08x:", rand.Uint32())
			pub, err := cache.New(redisstoretest.Open(t, opts), cache.Options{Prefix: prefix, Instance: "writer-1"})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := cache.New(redisstoretest.Open(t, opts), cache.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			events := make(chan cache.Event, 16)
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- sub.Events(ctx, func(ev cache.Event) { events <- ev }) }()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Events: %v", err)
				}
			}()
			inv := cache.Invalidation{Keys: []string{prefix + "file:1"}, Tags: []string{"files"}, Pattern: "file:9*", Reason: "write"}
			// The subscription starts asynchronously: publish until the
			// first event arrives, then check it.
			var ev cache.Event
			testenv.Eventually(t, 5*time.Second, func() error {
				if _, err := pub.Invalidate(t.Context(), inv); err != nil {
					t.Fatal(err)
				}
				select {
				case ev = <-events:
					return nil
				default:
					return errors.New("no invalidation event reached the subscriber")
				}
			})
			if !slices.Equal(ev.Keys, inv.Keys) || !slices.Equal(ev.Tags, inv.Tags) || ev.Pattern != inv.Pattern ||
				ev.Reason != "write" || ev.Origin != "writer-1" || ev.Time.IsZero() {
				t.Fatalf("event = %+v, want %+v from writer-1", ev, inv)
			}
		})
	}
}
