package redisstore_test

import (
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redistest"
)

// BenchmarkInvalidate10kOf1M invalidates 10,000 keys among 1,000,000: by
// tag (a set of member keys: SPOP + UNLINK, no keyspace walk) and by pattern
// (SCAN MATCH over the whole keyspace + UNLINK), on a private Redis.
//
//	go test -run '^$' -bench Invalidate10kOf1M -benchtime 5x ./cache/redisstore/
func BenchmarkInvalidate10kOf1M(b *testing.B) {
	srv := redistest.Standalone(b, "--enable-debug-command", "yes")
	// 1,000,000 unrelated keys ("key:0" ... "key:999999").
	if out, err := exec.Command("redis-cli", "-p", fmt.Sprint(srv.Port()), "DEBUG", "POPULATE", "1000000", "key", "64").CombinedOutput(); err != nil {
		b.Fatalf("DEBUG POPULATE: %s %v", out, err)
	}
	s, err := redisstore.New(b.Context(), redisstore.Options{Addrs: []string{srv.Addr()}, ReadTimeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	c, err := cache.New(s, cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	search, err := cache.NewFamily(c, "search", cache.FamilyOptions[string]{Tags: []string{"files"}, TTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	const members = 10_000
	fill := func(b *testing.B) {
		b.Helper()
		values := make(map[string]string, members)
		for i := range members {
			values[fmt.Sprint(i)] = "result"
		}
		if err := search.SetMany(b.Context(), values); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, invalidate func(b *testing.B) int) {
		for b.Loop() {
			b.StopTimer()
			fill(b)
			b.StartTimer()
			if n := invalidate(b); n != members {
				b.Fatalf("deleted %d keys, want %d", n, members)
			}
		}
	}
	b.Run("tag", func(b *testing.B) {
		run(b, func(b *testing.B) int {
			n, err := c.InvalidateTags(b.Context(), "files")
			if err != nil {
				b.Fatal(err)
			}
			return n
		})
	})
	b.Run("scan-pattern", func(b *testing.B) {
		run(b, func(b *testing.B) int {
			n, err := search.DeletePattern(b.Context(), "*")
			if err != nil {
				b.Fatal(err)
			}
			return n
		})
	})
}
