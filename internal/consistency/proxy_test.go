package consistency

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/redistest"
	"github.com/redis/rueidis"
)

// ping sends PING through addr on a client of its own, within timeout.
func ping(t *testing.T, addr string, timeout time.Duration) error {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{addr}, ForceSingleClient: true, DisableCache: true, DisableRetry: true,
		ClientSetInfo: rueidis.DisableClientSetInfo, Dialer: net.Dialer{Timeout: timeout}, ConnWriteTimeout: timeout,
	})
	if client != nil {
		defer client.Close()
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	return client.Do(ctx, client.B().Ping().Build()).Error()
}

// TestProxy switches one of two proxies in front of a real Redis between
// its modes: the other one keeps forwarding throughout.
func TestProxy(t *testing.T) {
	srv := redistest.Standalone(t)
	a, err := NewProxy(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := NewProxy(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	// A client connected before the fault, to see what happens to an open
	// connection.
	open, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{a.Addr()}, ForceSingleClient: true, DisableCache: true, DisableRetry: true,
		ClientSetInfo: rueidis.DisableClientSetInfo,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer open.Close()
	pingOpen := func(timeout time.Duration) error {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		defer cancel()
		return open.Do(ctx, open.B().Ping().Build()).Error()
	}

	const quick, patient = 300 * time.Millisecond, 5 * time.Second
	steps := []struct {
		mode     Mode
		wantOK   bool // whether a new client through a gets PONG
		openOK   bool // whether the open connection gets PONG
		openWait time.Duration
	}{
		{Forward, true, true, patient},
		{Hang, false, false, quick},
		// The PING held back during the hang is answered, and the
		// connection carries on.
		{Forward, true, true, patient},
		{Cut, false, false, patient},
		{Forward, true, true, patient}, // the open client has reconnected
	}
	for _, st := range steps {
		a.SetMode(st.mode)
		if got := a.Mode(); got != st.mode {
			t.Fatalf("Mode() = %v after SetMode(%v)", got, st.mode)
		}
		timeout := patient
		if !st.wantOK {
			timeout = quick
		}
		if err := ping(t, a.Addr(), timeout); (err == nil) != st.wantOK {
			t.Errorf("%v: new client PING error %v, want success %v", st.mode, err, st.wantOK)
		}
		var err error
		for deadline := time.Now().Add(st.openWait); ; {
			// After a cut, rueidis reconnects on the next command.
			if err = pingOpen(st.openWait); err == nil || !st.openOK || time.Now().After(deadline) {
				break
			}
		}
		if (err == nil) != st.openOK {
			t.Errorf("%v: open connection PING error %v, want success %v", st.mode, err, st.openOK)
		}
		if err := ping(t, b.Addr(), patient); err != nil {
			t.Errorf("%v on a: PING through b: %v", st.mode, err)
		}
	}
	if err := a.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := ping(t, a.Addr(), quick); err == nil {
		t.Error("PING through a closed proxy succeeded")
	}
}
