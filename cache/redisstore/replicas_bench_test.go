package redisstore_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
)

// BenchmarkDelete is the cost of waiting for replicas: Delete of 1 and of
// 100 existing keys on private servers, on a master without a replica, on
// one with a replica in sync with ReplicaWait off, and with it on
// (default); the same on a Cluster of 3 masters with a replica each. Only
// the Delete is timed.
//
//	go test -run '^$' -bench 'Delete$' ./cache/redisstore/
func BenchmarkDelete(b *testing.B) {
	alone := redistest.Standalone(b)
	master, _, _ := replicated(b)
	cluster := redistest.Cluster(b)
	for _, d := range []struct {
		name  string
		addrs []string
		wait  time.Duration
	}{
		{"standalone/no-replica", []string{alone.Addr()}, 0},
		{"standalone/replica/off", []string{master.Addr()}, -1},
		{"standalone/replica/wait", []string{master.Addr()}, 0},
		{"cluster/replicas/off", cluster.Addrs(), -1},
		{"cluster/replicas/wait", cluster.Addrs(), 0},
	} {
		s := redisstoretest.Open(b, redisstore.Options{Addrs: d.addrs, ReplicaWait: d.wait})
		for _, n := range []int{1, 100} {
			b.Run(fmt.Sprintf("%s/keys=%d", d.name, n), func(b *testing.B) {
				keys := make([]string, n)
				entries := make([]cache.Entry, n)
				for i := range keys {
					keys[i] = fmt.Sprintf("bench-delete:%d", i)
					entries[i] = cache.Entry{Key: keys[i], Value: []byte("v"), TTL: time.Hour}
				}
				for b.Loop() {
					b.StopTimer()
					if err := s.SetMulti(b.Context(), entries); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					if got, err := s.Delete(b.Context(), keys...); got != n || err != nil {
						b.Fatalf("Delete = %d, %v, want %d", got, err, n)
					}
				}
				if u := s.Unreplicated(); u > 0 {
					b.Errorf("%d deletes not acknowledged in time", u)
				}
			})
		}
	}
}
