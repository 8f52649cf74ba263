package breaker

import (
	"context"
	"errors"
	"time"
)

// ErrNoCounter is returned by IncrBy when the wrapped store keeps no
// counters.
var ErrNoCounter = errors.New("breaker: the wrapped store keeps no counters")

// counter is what IncrBy needs of the wrapped store (ratelimit.Counter).
type counter interface {
	IncrBy(ctx context.Context, key string, n int64, window time.Duration) (int64, time.Duration, error)
}

// IncrBy passes ratelimit.Counter's IncrBy on to the wrapped store through
// the breaker: while it is open, IncrBy fails at once with ErrOpen, and its
// failures count towards opening it. It is a write for the recovery ramp
// (never held back).
func (s *Store) IncrBy(ctx context.Context, key string, n int64, window time.Duration) (count int64, left time.Duration, err error) {
	c, ok := s.inner.(counter)
	if !ok {
		return 0, 0, ErrNoCounter
	}
	err = s.call(false, func() error { count, left, err = c.IncrBy(ctx, key, n, window); return err })
	return count, left, err
}
