package redisstore

import (
	"context"
	"strings"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

var _ cache.Notifier = (*Store)(nil)

// Notify implements cache.Notifier: fn is called with the keys Redis reports
// as changed under Options.Track, and with nil when a connection is lost
// (Redis does not replay the invalidations a client missed, and a restart
// may lose what it acknowledged last; reported with or without Track) or
// when Redis flushes everything.
func (s *Store) Notify(fn func(keys []string)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var fns []func([]string)
	if cur := s.notifyList.Load(); cur != nil {
		fns = append(fns, *cur...)
	}
	fns = append(fns, fn)
	s.notifyList.Store(&fns)
}

// Tracks implements cache.Notifier.
func (s *Store) Tracks(prefix string) bool {
	for _, p := range s.opts.Track {
		if strings.HasPrefix(prefix, p) {
			return true
		}
	}
	return false
}

// invalidated is rueidis' OnInvalidations hook; it runs on a connection's
// reading goroutine, so it only converts and hands over.
func (s *Store) invalidated(msgs []rueidis.RedisMessage) {
	fns := s.notifyList.Load()
	if fns == nil {
		return
	}
	var keys []string
	if msgs != nil {
		keys = make([]string, 0, len(msgs))
		for _, m := range msgs {
			if k, err := m.ToString(); err == nil {
				keys = append(keys, k)
			}
		}
	}
	for _, fn := range *fns {
		fn(keys)
	}
}

var _ cache.Publisher = (*Store)(nil)

// Publish implements cache.Publisher with PUBLISH (in a Cluster it reaches
// the subscribers of every node).
func (s *Store) Publish(ctx context.Context, channel string, msg []byte) error {
	return s.attempt(ctx, false, func(ctx context.Context) error {
		return s.client.Do(ctx, s.cmd().Publish().Channel(channel).Message(rueidis.BinaryString(msg)).Build()).Error()
	})
}

// Subscribe implements cache.Publisher with SUBSCRIBE. It returns when ctx
// ends or the connection is lost; the caller subscribes again if it wants.
func (s *Store) Subscribe(ctx context.Context, channel string, fn func(msg []byte)) error {
	return s.client.Receive(ctx, s.cmd().Subscribe().Channel(channel).Build(), func(m rueidis.PubSubMessage) {
		fn([]byte(m.Message))
	})
}
