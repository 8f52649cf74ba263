package memstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"
)

// IncrBy adds n to the counter at key in a fixed window (ratelimit's
// Counter).
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, 0, err
	}
	if err := validTTL(window); err != nil {
		return 0, 0, err
	}
	var count int64
	var bad error
	now := time.Now()
	it, _ := s.c.Compute(key, func(cur item, found bool) (item, otter.ComputeOp) {
		if !found || !now.Before(cur.expires) {
			count = n
			return item{data: strconv.AppendInt(nil, n, 10), expires: now.Add(window)}, otter.WriteOp
		}
		v, err := strconv.ParseInt(string(cur.data), 10, 64)
		if err != nil {
			bad = fmt.Errorf("memstore: incr %s: value is not an integer", key)
			return cur, otter.CancelOp
		}
		count = v + n
		return item{data: strconv.AppendInt(nil, count, 10), expires: cur.expires}, otter.WriteOp
	})
	if bad != nil {
		return 0, 0, bad
	}
	return count, it.expires.Sub(now), nil
}
