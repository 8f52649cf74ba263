// Package faultproxy is a TCP proxy for tests that inject network faults
// between a client and a real server (PostgreSQL, Redis): it forwards, hangs
// (accepts connections and stops forwarding, also on connections already
// established: a server that froze or a network that drops packets), or
// cuts (closes every connection and refuses new ones), on demand.
//
//	p := faultproxy.New(t, "127.0.0.1:5432")
//	dsn := "postgres://postgres@" + p.Addr() + "/test"
//	p.Hang()    // every byte held; nothing is closed
//	p.Forward() // held bytes flow again
//	p.Cut()     // every connection closed; new ones closed at once
//
// A Proxy is safe for concurrent use. It listens on loopback and is closed
// by t.Cleanup.
package faultproxy

import (
	"net"
	"slices"
	"sync"
	"testing"
)

// Mode is what a Proxy does with the bytes it receives.
type Mode int

const (
	// Forward passes bytes both ways.
	Forward Mode = iota
	// Hang holds every byte: connections stay open and new ones are
	// accepted, but nothing reaches the other side until Forward.
	Hang
	// Cut closes every connection and each new one as soon as it is
	// accepted.
	Cut
)

func (m Mode) String() string {
	switch m {
	case Forward:
		return "forward"
	case Hang:
		return "hang"
	case Cut:
		return "cut"
	}
	return "unknown"
}

// Proxy forwards loopback connections to a target address.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed and replaced at every mode change
	conns   map[*pair]struct{}
	peak    int // most client connections open at once
	closed  bool
	wg      sync.WaitGroup
}

// New starts a proxy to target in Forward mode; it is closed when t ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, changed: make(chan struct{}), conns: map[*pair]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr is the proxy's address, host:port, to give the client in place of
// the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Forward passes bytes again, those held by Hang first.
func (p *Proxy) Forward() { p.setMode(Forward) }

// Hang holds every byte from now on, on open and new connections alike.
func (p *Proxy) Hang() { p.setMode(Hang) }

// Cut closes every open connection; connections accepted until Forward
// or Hang are closed at once.
func (p *Proxy) Cut() { p.setMode(Cut) }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// Conns returns the number of client connections open now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// PeakConns returns the most client connections that were open at once.
func (p *Proxy) PeakConns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// ResetPeak sets the peak to the connections open now.
func (p *Proxy) ResetPeak() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.peak = len(p.conns)
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.closeAllLocked()
	close(p.changed) // wakes held pipes; they see closed and stop
	p.mu.Unlock()
	p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) setMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.mode = m
	if m == Cut {
		p.closeAllLocked()
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *Proxy) closeAllLocked() {
	for c := range p.conns {
		c.close()
	}
	clear(p.conns)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.mode == Cut || p.closed
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		// The upstream connection is opened at once even while hanging:
		// the hang is in the bytes, as when a network drops packets.
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		if p.closed || p.mode == Cut {
			p.mu.Unlock()
			c.Close()
			up.Close()
			continue
		}
		pr := &pair{client: c, up: up, done: make(chan struct{})}
		p.conns[pr] = struct{}{}
		p.peak = max(p.peak, len(p.conns))
		p.mu.Unlock()
		p.wg.Add(2)
		go p.pipe(pr, up, c)
		go p.pipe(pr, c, up)
	}
}

// pair is a client connection and its upstream connection.
type pair struct {
	client, up net.Conn
	once       sync.Once
	done       chan struct{} // closed with the connections
}

func (c *pair) close() {
	c.once.Do(func() {
		c.client.Close()
		c.up.Close()
		close(c.done)
	})
}

// pipe copies src to dst while the mode allows, then closes the pair. It
// reads src all the time, holding what it cannot forward, so that a peer
// that closes while the proxy hangs frees the pair at once.
func (p *Proxy) pipe(c *pair, dst, src net.Conn) {
	defer p.wg.Done()
	defer p.drop(c)
	chunks := make(chan []byte, 64)
	eof := make(chan struct{}) // src is done: closed or failed
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(chunks)
		defer close(eof)
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				select {
				case chunks <- slices.Clone(buf[:n]):
				case <-c.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for b := range chunks {
		if !p.awaitForward(c, eof) {
			return
		}
		if _, err := dst.Write(b); err != nil {
			return
		}
	}
}

// awaitForward blocks while the proxy hangs; it reports false when the
// bytes must be dropped: cut, closed, the pair closed, or its source done
// while the bytes are held.
func (p *Proxy) awaitForward(c *pair, eof <-chan struct{}) bool {
	for {
		p.mu.Lock()
		mode, closed, changed := p.mode, p.closed, p.changed
		p.mu.Unlock()
		switch {
		case closed || mode == Cut:
			return false
		case mode == Forward:
			return true
		}
		select {
		case <-changed:
		case <-c.done:
			return false
		case <-eof:
			return false
		}
	}
}

func (p *Proxy) drop(c *pair) {
	c.close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}
