package main

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/filecache/filecache/internal/testenv"
)

// TestRun starts a standalone server, reads its variable, and shows that
// the end of standard input stops the server.
func TestRun(t *testing.T) {
	redistest.RequireBinaries(t)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(t.Context(), []string{"-standalone"}, stdinR, stdoutW, io.Discard) }()

	vars := map[string]string{}
	sc := bufio.NewScanner(stdoutR) // ends when run closes its output
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			t.Fatalf("line %q is not KEY=VALUE", sc.Text())
		}
		vars[k] = v
	}
	u, err := url.Parse(vars[redistest.EnvRedisURL])
	if err != nil || u.Scheme != "redis" || len(vars) != 1 {
		t.Fatalf("printed %v; want only %s=redis://...", vars, redistest.EnvRedisURL)
	}
	if reply := ping(t, u.Host); reply != "+PONG\r\n" {
		t.Fatalf("PING %s = %q", u.Host, reply)
	}

	stdinW.Close()
	if err := testenv.Await(t, time.Minute, done); err != nil {
		t.Fatalf("run = %v after the end of stdin, want nil", err)
	}
	if c, err := net.Dial("tcp", u.Host); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after run returned", u.Host)
	}
}

func TestRunUsage(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string // "" for success
	}{
		{args: []string{"-help"}},
		{args: nil, wantErr: "nothing to start"},
		{args: []string{"-tls"}, wantErr: "-tls needs -tls-dir"},
		{args: []string{"-standalone", "extra"}, wantErr: `unexpected argument "extra"`},
		{args: []string{"-nosuchflag"}, wantErr: "not defined"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := &closeBuffer{}
			err := run(context.Background(), tt.args, nil, out, io.Discard)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("run = %v", err)
			case tt.wantErr == "" && !strings.Contains(out.String(), "Examples:"):
				t.Fatalf("help printed %q; want the usage with examples", out)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("run = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// ping sends an inline PING to addr and returns the raw reply.
func ping(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		t.Fatal(err)
	}
	reply, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

type closeBuffer struct{ strings.Builder }

func (*closeBuffer) Close() error { return nil }
