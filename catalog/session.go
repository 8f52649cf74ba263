package catalog

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// maxPendingSessions bounds the IPs whose requests wait in memory for the
// next flush; beyond it a touch writes through at once.
const maxPendingSessions = 100_000

// sessionBuffer holds the requests counted since the last flush, per IP.
// Sessions are written behind: one read-modify-write per IP and flush
// (every relay pass, about a second) instead of two round trips per request.
type sessionBuffer struct {
	mu      sync.Mutex
	pending map[string]*pendingSession
}

type pendingSession struct {
	first, last time.Time
	requests    int64
}

// merge adds p to s (a stored session, or the zero value for none).
func (p pendingSession) merge(ip string, s files.UserSession) files.UserSession {
	if s.IP == "" {
		s = files.UserSession{IP: ip, FirstSeen: p.first}
	}
	if p.last.After(s.LastSeen) {
		s.LastSeen = p.last
	}
	s.Requests += p.requests
	return s
}

// TouchSession counts a request of ip and slides its session window. The
// count reaches the cache at the next flush (FlushSessions, run by the
// relay); Session includes it at once. A crash loses up to a flush interval
// of counts, and two instances flushing one IP at once may lose one's: the
// session is a hint, not a record.
func (c *Catalog) TouchSession(ctx context.Context, ip string) error {
	now := c.now().UTC()
	b := &c.touches
	b.mu.Lock()
	if b.pending == nil {
		b.pending = make(map[string]*pendingSession)
	}
	p, ok := b.pending[ip]
	if !ok && len(b.pending) >= maxPendingSessions {
		b.mu.Unlock()
		return c.storeSession(ctx, ip, pendingSession{first: now, last: now, requests: 1})
	}
	if !ok {
		p = &pendingSession{first: now}
		b.pending[ip] = p
	}
	p.last = now
	p.requests++
	b.mu.Unlock()
	return nil
}

// Session returns the session of ip, with the requests not yet flushed; a
// client never seen in the window gets a session that starts now. When the
// cache cannot be read (Redis down, the breaker open, a value that cannot
// be decoded) it answers from what this instance holds, the requests since
// its last flush, rather than fail: the session is a hint. Its only error
// is a canceled ctx.
func (c *Catalog) Session(ctx context.Context, ip string) (files.UserSession, error) {
	s, err := c.sessions.Get(ctx, ip)
	switch {
	case err == nil:
	case errors.Is(err, cache.ErrNotFound):
		s = files.UserSession{}
	case ctx.Err() != nil:
		return files.UserSession{}, ctx.Err()
	default:
		c.log.Debug("session read from the cache failed; answering from this instance's counts", "err", err)
		s = files.UserSession{}
	}
	c.touches.mu.Lock()
	p, ok := c.touches.pending[ip]
	var pending pendingSession
	if ok {
		pending = *p
	}
	c.touches.mu.Unlock()
	if ok {
		s = pending.merge(ip, s)
	}
	if s.IP == "" {
		now := c.now().UTC()
		s = files.UserSession{IP: ip, FirstSeen: now, LastSeen: now}
	}
	return s, nil
}

// FlushSessions writes the pending requests of every IP to the cache and
// reports how many sessions it wrote. Sessions it cannot write are dropped:
// the store is failing, and sessions are hints.
func (c *Catalog) FlushSessions(ctx context.Context) (int, error) {
	c.touches.mu.Lock()
	pending := c.touches.pending
	c.touches.pending = nil
	c.touches.mu.Unlock()
	var errs []error
	n := 0
	for ip, p := range pending {
		if err := c.storeSession(ctx, ip, *p); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// storeSession merges p into the stored session of ip, sliding its TTL.
func (c *Catalog) storeSession(ctx context.Context, ip string, p pendingSession) error {
	s, err := c.sessions.Get(ctx, ip)
	if err != nil && !errors.Is(err, cache.ErrNotFound) {
		return err
	}
	if errors.Is(err, cache.ErrNotFound) {
		s = files.UserSession{}
	}
	return c.sessions.SetWithTTL(ctx, ip, p.merge(ip, s), c.ttls.Session)
}
