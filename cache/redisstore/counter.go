package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"
)

// incrBy adds ARGV[1] to KEYS[1] and starts its window of ARGV[2] ms on
// creation; it returns the count and the window's remaining ms.
var incrBy = rueidis.NewLuaScript(`
local n = redis.call("INCRBY", KEYS[1], ARGV[1])
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
	redis.call("PEXPIRE", KEYS[1], ARGV[2])
	ttl = tonumber(ARGV[2])
end
return {n, ttl}`)

// IncrBy adds n to the counter at key in a fixed window (ratelimit's
// Counter). It is not retried: a retry could count twice.
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if err := checkTTL(window); err != nil {
		return 0, 0, err
	}
	var count, ms int64
	err := s.attempt(ctx, false, func(ctx context.Context) error {
		arr, err := incrBy.Exec(ctx, s.client, []string{key}, []string{fmt.Sprint(n), fmt.Sprint(window.Milliseconds())}).AsIntSlice()
		if err != nil {
			return err
		}
		if len(arr) != 2 {
			return fmt.Errorf("redisstore: incr %s: unexpected reply", key)
		}
		count, ms = arr[0], arr[1]
		return nil
	})
	return count, time.Duration(ms) * time.Millisecond, err
}
