package ratelimit_test

import (
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/ratelimit"
)

func TestAllow(t *testing.T) {
	s, err := memstore.New(memstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(s, cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := ratelimit.New(c, s, 3, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		ok        bool
		remaining int
	}{{true, 2}, {true, 1}, {true, 0}, {false, 0}, {false, 0}} {
		info, ok, err := l.Allow(t.Context(), "203.0.113.7")
		if err != nil || ok != want.ok || info.Remaining != want.remaining || info.Limit != 3 {
			t.Fatalf("request %d: %+v ok=%v err=%v; want ok=%v remaining=%d", i+1, info, ok, err, want.ok, want.remaining)
		}
		if until := time.Until(info.Reset); until <= 50*time.Second || until > time.Minute {
			t.Fatalf("reset in %v, want within the minute window", until)
		}
	}
	if _, ok, _ := l.Allow(t.Context(), "198.51.100.1"); !ok {
		t.Fatal("another key shares the limit")
	}
	if _, err := ratelimit.New(c, s, 0, time.Minute); err == nil {
		t.Fatal("New accepted a zero limit")
	}
}
