package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"
)

// incrByWindow adds ARGV[1] to KEYS[1] and starts its window of ARGV[2] ms
// when the add creates the key; it returns the count and the window's
// remaining ms. One key, so it runs on any Cluster node; 3 commands
// (EVALSHA, INCRBY, PTTL or PEXPIRE).
var incrByWindow = rueidis.NewLuaScript(`
local n = redis.call("INCRBY", KEYS[1], ARGV[1])
if n == tonumber(ARGV[1]) then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	return {n, tonumber(ARGV[2])}
end
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	ttl = tonumber(ARGV[2])
end
return {n, ttl}`)

// IncrBy adds n to the counter at key and returns the new count and the
// time left before the counter expires. The add that creates the counter
// gives it a lifetime of window; later ones do not extend it (a fixed
// window). It implements ratelimit.Counter.
//
// It is never retried, not even after a timeout: the script may have run,
// and a retry would count twice. It runs within one ReadTimeout.
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if n < 1 {
		return 0, 0, fmt.Errorf("redisstore: incrby %s: n %d must be positive", key, n)
	}
	if window < time.Millisecond {
		return 0, 0, fmt.Errorf("redisstore: incrby %s: window %v must be at least 1ms", key, window)
	}
	args := []string{strconv.FormatInt(n, 10), strconv.FormatInt(window.Milliseconds(), 10)}
	var count, ms int64
	err := s.attempt(ctx, false, func(ctx context.Context) error {
		arr, err := incrByWindow.Exec(ctx, s.client, []string{key}, args).AsIntSlice()
		if err != nil {
			return err
		}
		if len(arr) != 2 {
			return fmt.Errorf("redisstore: incrby %s: unexpected reply %v", key, arr)
		}
		count, ms = arr[0], arr[1]
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("redisstore: incrby %s: %w", key, err)
	}
	return count, time.Duration(ms) * time.Millisecond, nil
}
