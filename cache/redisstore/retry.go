package redisstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

// attempt runs fn until it succeeds, fails for good, or runs out of retries.
// Each attempt gets ReadTimeout of its own (bounded by ctx). A timed-out
// attempt is retried only when idempotent and RetryOnTimeout is on; a broken
// connection or a Redis error that says "try again" (LOADING, TRYAGAIN,
// CLUSTERDOWN, MASTERDOWN, READONLY during a failover) is retried in any case
// when the command is idempotent.
func (s *Store) attempt(ctx context.Context, idempotent bool, fn func(ctx context.Context) error) error {
	backoff := s.opts.RetryBackoff
	for try := 0; ; try++ {
		actx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
		err := fn(actx)
		cancel()
		if err == nil || ctx.Err() != nil || try >= s.opts.MaxRetries || !idempotent || !s.retryable(err) {
			if err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
			return classifyReply(err)
		}
		s.retries.Add(1)
		// Equal jitter: half fixed, half random.
		d := backoff/2 + rand.N(backoff/2+1)
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff = min(2*backoff, s.opts.MaxBackoff)
	}
}

func (s *Store) retryable(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return !s.opts.NoRetryOnTimeout
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		if re.IsNil() {
			return false
		}
		if re.IsLoading() || re.IsTryAgain() || re.IsClusterDown() {
			return true
		}
		msg := re.Error()
		return hasPrefix(msg, "MASTERDOWN") || hasPrefix(msg, "READONLY")
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, rueidis.ErrClosing) || errors.Is(err, net.ErrClosed)
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

// classifyReply maps Redis error replies that are answers, not outages, onto the
// cache's sentinels: the store is reachable, so a circuit breaker must not
// count them, and the cache handles them per command. Replies that say the
// server cannot serve now (LOADING, MASTERDOWN, CLUSTERDOWN, TRYAGAIN,
// READONLY during a failover, BUSY) stay outages.
func classifyReply(err error) error {
	re, ok := rueidis.IsRedisErr(err)
	if !ok || re.IsNil() {
		return err
	}
	msg := re.Error()
	switch {
	case re.IsLoading(), re.IsTryAgain(), re.IsClusterDown(),
		hasPrefix(msg, "MASTERDOWN"), hasPrefix(msg, "READONLY"), hasPrefix(msg, "BUSY"):
		return err
	case hasPrefix(msg, "WRONGTYPE"):
		return fmt.Errorf("%w (%w)", cache.ErrWrongType, err)
	case hasPrefix(msg, "OOM"):
		return fmt.Errorf("%w (%w)", cache.ErrNoMemory, err)
	}
	return fmt.Errorf("%w (%w)", cache.ErrRejected, err)
}
