package ratelimit_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/cache/memstore"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/redis/rueidis"
)

// newRedis starts a private redis-server (so that its command counts are
// the test's alone) and returns it with a store on it.
func newRedis(tb testing.TB) (*redistest.Server, *redisstore.Store) {
	tb.Helper()
	srv := redistest.Standalone(tb)
	return srv, connect(tb, srv)
}

// connect returns a new store (an instance's own client) on srv.
func connect(tb testing.TB, srv *redistest.Server) *redisstore.Store {
	tb.Helper()
	s, err := redisstore.New(tb.Context(), redisstore.Options{
		Addrs:       []string{srv.Addr()},
		ReadTimeout: 200 * time.Millisecond,
		MaxRetries:  -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

func newMem(tb testing.TB) *memstore.Store {
	tb.Helper()
	m, err := memstore.New(memstore.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}

// commands returns the calls of each command the server has processed
// (INFO commandstats, commands inside scripts included), e.g. "incrby".
func commands(tb testing.TB, c rueidis.Client) map[string]int64 {
	tb.Helper()
	info, err := redisinfo.Fetch(tb.Context(), c, "commandstats")
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]int64{}
	for k, v := range info {
		name, ok := strings.CutPrefix(k, "cmdstat_")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(v, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			tb.Fatalf("commandstats %s: %q", k, v)
		}
		out[name] = n
	}
	return out
}

// limiterCommands is how many commands the limiter's script ran between
// two commands snapshots: the script call and the commands inside it.
func limiterCommands(before, after map[string]int64) int64 {
	var n int64
	for _, c := range []string{"eval", "evalsha", "incrby", "pttl", "pexpire"} {
		n += after[c] - before[c]
	}
	return n
}
