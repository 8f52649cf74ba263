package breaker

import (
	"context"
	"errors"
	"time"
)

// counter is the counting of ratelimit's Counter.
type counter interface {
	IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error)
}

// IncrBy counts through the breaker if the wrapped store counts.
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (count int64, left time.Duration, err error) {
	c, ok := s.inner.(counter)
	if !ok {
		return 0, 0, errors.New("breaker: the wrapped store does not count")
	}
	err = s.call(false, func() error { count, left, err = c.IncrBy(ctx, key, n, window); return err })
	return count, left, err
}
