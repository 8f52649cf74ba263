package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

// A tracking connection can hang without closing (a network path that
// stops passing packets): no invalidation arrives, and rueidis notices only
// when a write times out, about a second later. The heartbeat closes that
// gap: it PINGs every master over the connections that receive the
// invalidations, and a reply to a PING sent at t proves that every
// invalidation Redis sent before t has arrived (the reply follows them on
// the connection). The Cache serves near hits only while that proof is
// recent (cache.Options.NearMaxLag).

// DefaultHeartbeat is the default Options.Heartbeat.
const DefaultHeartbeat = 10 * time.Millisecond

// mastersRefresh is how often the heartbeat re-reads a Cluster's masters.
const mastersRefresh = 5 * time.Second

var _ cache.Confirmer = (*Store)(nil)

// Confirm implements cache.Confirmer: fn is called with t after every
// invalidation sent before t by every master has been delivered. The
// heartbeat runs from New while Track is set, unless Heartbeat is negative.
func (s *Store) Confirm(fn func(t time.Time)) bool {
	if len(s.opts.Track) == 0 || s.opts.Heartbeat < 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var fns []func(time.Time)
	if cur := s.confirmList.Load(); cur != nil {
		fns = append(fns, *cur...)
	}
	fns = append(fns, fn)
	s.confirmList.Store(&fns)
	return true
}

// heartbeat pings the masters every Options.Heartbeat until ctx ends and
// reports each round that every master answered.
func (s *Store) heartbeat(ctx context.Context) {
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	var masters []rueidis.Client
	var refreshed time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if masters == nil || time.Since(refreshed) >= mastersRefresh {
			m, err := s.Masters(ctx)
			if err != nil {
				masters = nil
				continue
			}
			masters = masters[:0]
			for _, c := range m {
				masters = append(masters, c)
			}
			refreshed = time.Now()
		}
		sent := time.Now()
		if !s.pingAll(ctx, masters) {
			continue
		}
		if fns := s.confirmList.Load(); fns != nil {
			for _, fn := range *fns {
				fn(sent)
			}
		}
	}
}

// pingAll PINGs every client at once and reports whether all answered
// within the read timeout.
func (s *Store) pingAll(ctx context.Context, clients []rueidis.Client) bool {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ReadTimeout)
	defer cancel()
	if len(clients) == 1 {
		return clients[0].Do(ctx, clients[0].B().Ping().Build()).Error() == nil
	}
	var wg sync.WaitGroup
	ok := make([]bool, len(clients))
	for i, c := range clients {
		wg.Go(func() { ok[i] = c.Do(ctx, c.B().Ping().Build()).Error() == nil })
	}
	wg.Wait()
	for _, o := range ok {
		if !o {
			return false
		}
	}
	return true
}
