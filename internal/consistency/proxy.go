package consistency

import (
	"fmt"
	"net"
	"sync"
	"time"
)

// Mode is what a Proxy does with the traffic it carries.
type Mode int

// The modes of a Proxy.
const (
	// Forward passes bytes both ways.
	Forward Mode = iota
	// Cut closes every connection, and every new one as soon as it is
	// accepted: the peer sees its connections drop and cannot reconnect.
	Cut
	// Hang keeps connections open and accepts new ones but passes nothing
	// either way, like a network path that silently drops packets. Bytes
	// held back flow again when the mode returns to Forward, as TCP would
	// deliver them after a partition heals.
	Hang
)

// String returns "forward", "cut" or "hang".
func (m Mode) String() string {
	switch m {
	case Forward:
		return "forward"
	case Cut:
		return "cut"
	case Hang:
		return "hang"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// proxyDialTimeout bounds the proxy's connection to its target.
const proxyDialTimeout = 2 * time.Second

// Proxy is a TCP proxy on a loopback port in front of one target address,
// whose Mode can be switched at any time. It is safe for concurrent use.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu    sync.Mutex
	mode  Mode
	open  chan struct{} // closed unless the mode is Hang
	done  chan struct{} // closed by Close
	conns map[net.Conn]struct{}
}

// NewProxy listens on a free loopback port and forwards every connection to
// target.
func NewProxy(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("proxy to %s: %w", target, err)
	}
	open := make(chan struct{})
	close(open)
	p := &Proxy{target: target, ln: ln, open: open, done: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	return p, nil
}

// Addr returns the address clients connect to, "127.0.0.1:PORT".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// SetMode switches the proxy to m.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if m == p.mode {
		return
	}
	if m == Cut {
		p.closeConnsLocked()
	}
	// Connections waiting for the end of a hang go on only after a cut has
	// closed them, so that nothing slips through.
	switch {
	case m == Hang:
		p.open = make(chan struct{})
	case p.mode == Hang:
		close(p.open)
	}
	p.mode = m
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return nil
	default:
	}
	close(p.done)
	err := p.ln.Close()
	p.closeConnsLocked()
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
}

// track registers c, or closes it and returns false when the proxy is
// cutting or closed.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		_ = c.Close()
		return false
	default:
	}
	if p.mode == Cut {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// wait blocks while the proxy hangs; it returns false once it is closed.
func (p *Proxy) wait() bool {
	p.mu.Lock()
	open := p.open
	p.mu.Unlock()
	select {
	case <-open:
		return true
	case <-p.done:
		return false
	}
}

func (p *Proxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if p.track(c) {
			p.wg.Go(func() { p.serve(c) })
		}
	}
}

// serve carries one client connection.
func (p *Proxy) serve(client net.Conn) {
	defer p.untrack(client)
	if !p.wait() {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil || !p.track(server) {
		return
	}
	defer p.untrack(server)
	var wg sync.WaitGroup
	// When either side ends, both connections close, which ends the other
	// direction too.
	wg.Go(func() { p.pipe(server, client); _ = server.Close(); _ = client.Close() })
	wg.Go(func() { p.pipe(client, server); _ = server.Close(); _ = client.Close() })
	wg.Wait()
}

// pipe copies src to dst, holding every chunk back while the proxy hangs.
func (p *Proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, or a connection closed by the other direction or a cut
		}
	}
}
