package redisstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/redisstoretest"
)

// benchFile is the value the service caches most.
type benchFile = files.FileMetadata

func newBenchFamily(b *testing.B, near bool) (*cache.Family[benchFile], []string) {
	b.Helper()
	opts := redisstoretest.StandaloneOptions(b)
	prefix := fmt.Sprintf("bench%08x:", rand.Uint32())
	nearSize := 0
	if near {
		opts.Track = []string{prefix + "file:"}
		nearSize = 10_000
	}
	s := redisstoretest.Open(b, opts)
	c, err := cache.New(s, cache.Options{Prefix: prefix, NearSize: nearSize})
	if err != nil {
		b.Fatal(err)
	}
	f, err := cache.NewFamily(c, "file", cache.FamilyOptions[benchFile]{Near: near})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, 1000)
	now := time.Now().UTC()
	for i := range ids {
		ids[i] = fmt.Sprintf("0190a3c4-7d2e-7c4b-9a2f-%012d", i)
		v := benchFile{ID: ids[i], Name: "report.pdf", Size: 12345, ContentType: "application/pdf",
			Checksum: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Tags: []string{"docs", "q3"},
			UploaderIP: "203.0.113.7", Version: 1, CreatedAt: now, UpdatedAt: now}
		if err := f.Set(b.Context(), ids[i], v); err != nil {
			b.Fatal(err)
		}
	}
	return f, ids
}

func benchGet(b *testing.B, f *cache.Family[benchFile], ids []string, warm func()) {
	if warm != nil {
		warm()
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32) // 64 goroutines on 2 cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(ids))
		for pb.Next() {
			if _, err := f.Get(ctx, ids[i%len(ids)]); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkGet compares a near-cache hit (decoded value in process) with a
// Redis hit (a round trip and a JSON decode) of a FileMetadata-shaped
// value, from 64 goroutines.
func BenchmarkGet(b *testing.B) {
	b.Run("near-hit", func(b *testing.B) {
		f, ids := newBenchFamily(b, true)
		benchGet(b, f, ids, func() {
			// Read every id until it is answered locally.
			for _, id := range ids {
				for range 10 {
					_, origin, _ := f.Fetch(b.Context(), id, nil)
					if origin == cache.OriginLocal {
						break
					}
				}
			}
		})
	})
	b.Run("redis-hit", func(b *testing.B) {
		f, ids := newBenchFamily(b, false)
		benchGet(b, f, ids, nil)
	})
}
