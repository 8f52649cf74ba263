package ratelimit_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/filecache/filecache/ratelimit"
)

// BenchmarkAllow measures Allow at the service's default, 600 requests per
// minute per client, with clients that stay within the limit (about 400
// requests each, interleaved): the steady state of a busy instance. On a
// private Redis it reports the Redis commands per request (the server's
// total_commands_processed, script internals included); on memstore, the
// cost of the limiter's own work. Both report the share of requests
// refused (0).
//
//	go test -run '^$' -bench Allow -benchtime 200000x ./ratelimit/
func BenchmarkAllow(b *testing.B) {
	b.Run("redis", func(b *testing.B) {
		_, s := newRedis(b)
		total := func() int64 {
			info, err := redisinfo.Fetch(b.Context(), s.Client(), "stats")
			if err != nil {
				b.Fatal(err)
			}
			n, _ := info.Int("total_commands_processed")
			return n
		}
		before := total()
		benchAllow(b, s)
		// The second INFO counts the first one.
		b.ReportMetric(float64(total()-before-1)/float64(b.N), "redis-cmds/op")
	})
	b.Run("memstore", func(b *testing.B) { benchAllow(b, newMem(b)) })
}

func benchAllow(b *testing.B, ctr ratelimit.Counter) {
	const limit, perClient = 600, 400
	l := newLimiter(b, ctr, limit, ratelimit.Options{
		Keys: cache.Keyspace{Prefix: fmt.Sprintf("bench%d:", time.Now().UnixNano())},
	})
	ips := make([]string, b.N/perClient+1)
	for i := range ips {
		ips[i] = fmt.Sprintf("10.%d.%d.%d", i>>16&255, i>>8&255, i&255)
	}
	var next, refused, failed atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			ip := ips[next.Add(1)%int64(len(ips))]
			if _, ok, err := l.Allow(b.Context(), ip); err != nil {
				failed.Add(1)
			} else if !ok {
				refused.Add(1)
			}
		}
	})
	b.StopTimer()
	if failed.Load() > 0 {
		b.Fatalf("%d requests failed", failed.Load())
	}
	b.ReportMetric(float64(refused.Load())/float64(b.N), "refused/op")
}
