package redisstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/redis/rueidis"
)

// BenchmarkFetchMiss measures a miss and its load from 32 goroutines per
// CPU (64 on the project's two cores), every key new, with a loader that answers at once: the cost of the miss path
// itself (lease, load, store), without a database. It reports the process'
// CPU per operation (cpu-µs/op), which a busy machine disturbs far less
// than ns/op, beside the hand-written GET + SET the library is measured
// against in bench/.
func BenchmarkFetchMiss(b *testing.B) {
	now := time.Now().UTC()
	value := func(id string) benchFile {
		return benchFile{ID: id, Name: "report.pdf", Size: 12345, ContentType: "application/pdf",
			Checksum: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Tags: []string{"docs", "q3"},
			UploaderIP: "203.0.113.7", Version: 1, CreatedAt: now, UpdatedAt: now}
	}
	load := func(_ context.Context, id string) (benchFile, error) { return value(id), nil }
	b.Run("filecache", func(b *testing.B) {
		s := redisstoretest.Open(b, redisstoretest.StandaloneOptions(b))
		c, err := cache.New(s, cache.Options{Prefix: fmt.Sprintf("bench%08x:", rand.Uint32())})
		if err != nil {
			b.Fatal(err)
		}
		f, err := cache.NewFamily(c, "file", cache.FamilyOptions[benchFile]{TTL: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		benchMiss(b, func(ctx context.Context, id string) error {
			_, origin, err := f.Fetch(ctx, id, load)
			if err == nil && origin != cache.OriginLoad {
				err = fmt.Errorf("origin %v, want a miss", origin)
			}
			return err
		})
	})
	b.Run("by-hand", func(b *testing.B) {
		s := redisstoretest.Open(b, redisstoretest.StandaloneOptions(b))
		rc := s.Client()
		prefix := fmt.Sprintf("bench%08x:file:", rand.Uint32())
		benchMiss(b, func(ctx context.Context, id string) error {
			key := prefix + id
			err := rc.Do(ctx, rc.B().Get().Key(key).Build()).Error()
			if !rueidis.IsRedisNil(err) {
				return fmt.Errorf("GET %s: %v, want nil", key, err)
			}
			v, _ := load(ctx, id)
			data, err := json.Marshal(v)
			if err != nil {
				return err
			}
			return rc.Do(ctx, rc.B().Set().Key(key).Value(rueidis.BinaryString(data)).Px(10*time.Second).Build()).Error()
		})
	})
}

// benchMiss runs miss with a new id per operation from 32 goroutines per
// CPU and
// reports the process' CPU time per operation.
func benchMiss(b *testing.B, miss func(ctx context.Context, id string) error) {
	ctx, cancel := context.WithCancel(context.Background()) // callers' contexts can end, as requests' do
	defer cancel()
	run := rand.Uint32()
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("0190a3c4-7d2e-7c4b-%04x-%012d", run&0xffff, next.Add(1))
			if err := miss(ctx, id); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/op")
}

// processCPU returns the CPU time (user and system) the process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
