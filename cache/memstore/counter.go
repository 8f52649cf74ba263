package memstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/maypok86/otter/v2"
)

// IncrBy adds n to the counter at key and returns the new count and the
// time left before the counter expires. The add that creates the counter
// gives it a lifetime of window; later ones do not extend it (a fixed
// window). It implements ratelimit.Counter.
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error) {
	if err := s.check(ctx); err != nil {
		return 0, 0, err
	}
	if n < 1 {
		return 0, 0, fmt.Errorf("memstore: incrby %s: n %d must be positive", key, n)
	}
	if window <= 0 {
		return 0, 0, fmt.Errorf("memstore: incrby %s: window %v must be positive", key, window)
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
			bad = fmt.Errorf("memstore: incrby %s: value is not an integer", key)
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
