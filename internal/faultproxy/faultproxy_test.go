package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/faultproxy"
)

// echoServer answers every line with the same line.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

type client struct {
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{c: c, r: bufio.NewReader(c)}
}

// echo sends line and returns what came back within d.
func (c *client) echo(t *testing.T, line string, d time.Duration) (string, error) {
	t.Helper()
	if line != "" {
		if _, err := c.c.Write([]byte(line + "\n")); err != nil {
			return "", err
		}
	}
	_ = c.c.SetReadDeadline(time.Now().Add(d))
	return c.r.ReadString('\n')
}

func TestForwardHangCut(t *testing.T) {
	p := faultproxy.New(t, echoServer(t))
	a := dial(t, p.Addr())
	if got, err := a.echo(t, "one", 5*time.Second); err != nil || got != "one\n" {
		t.Fatalf("forwarding: %q, %v", got, err)
	}

	p.Hang()
	b := dial(t, p.Addr()) // accepted while hanging
	for _, c := range []*client{a, b} {
		got, err := c.echo(t, "held", 200*time.Millisecond)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("while hanging: %q, %v; want a read timeout", got, err)
		}
	}
	if n := p.Conns(); n != 2 {
		t.Fatalf("Conns while hanging = %d, want 2 (nothing is closed)", n)
	}

	p.Forward()
	for _, c := range []*client{a, b} {
		if got, err := c.echo(t, "", 5*time.Second); err != nil || got != "held\n" {
			t.Fatalf("after Forward: %q, %v; want the held line", got, err)
		}
	}
	if p.PeakConns() != 2 {
		t.Fatalf("PeakConns = %d, want 2", p.PeakConns())
	}

	p.Cut()
	if got, err := a.echo(t, "x", 5*time.Second); err == nil {
		t.Fatalf("after Cut: %q, want the connection closed", got)
	}
	c := dial(t, p.Addr())
	if got, err := c.echo(t, "x", 5*time.Second); err == nil {
		t.Fatalf("new connection after Cut: %q, want it closed", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Conns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Conns after Cut = %d, want 0", p.Conns())
		}
		runtime.Gosched()
	}

	p.Forward()
	d := dial(t, p.Addr())
	if got, err := d.echo(t, "again", 5*time.Second); err != nil || got != "again\n" {
		t.Fatalf("forwarding after Cut: %q, %v", got, err)
	}
}

// TestHangClientGivesUp: a client that closes while its bytes are held
// frees the pair at once, goroutines included.
func TestHangClientGivesUp(t *testing.T) {
	p := faultproxy.New(t, echoServer(t))
	p.Hang()
	before := runtime.NumGoroutine()
	for range 20 {
		c := dial(t, p.Addr())
		_, _ = c.c.Write([]byte("lost\n"))
		c.c.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.Conns() != 0 || runtime.NumGoroutine() > before+2 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 clients gave up: %d connections, %d goroutines (%d before)", p.Conns(), runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
