package httpapi

import (
	"time"

	"github.com/maypok86/otter/v2"
)

// maxAuthClients bounds the clients whose failed admin authentications are
// remembered; beyond, the least used are forgotten.
const maxAuthClients = 10_000

// authFailures counts failed admin authentications per client in fixed
// windows, in process: a guess at the token costs a window's wait after a
// few tries, on every instance. It is safe for concurrent use.
type authFailures struct {
	limit  int
	window time.Duration
	now    func() time.Time
	counts *otter.Cache[string, failureWindow]
}

// failureWindow is the failures of one client since start.
type failureWindow struct {
	start time.Time
	n     int
}

func newAuthFailures(limit int, window time.Duration, now func() time.Time) *authFailures {
	return &authFailures{
		limit:  limit,
		window: window,
		now:    now,
		counts: otter.Must(&otter.Options[string, failureWindow]{
			MaximumSize:      maxAuthClients,
			ExpiryCalculator: otter.ExpiryWriting[string, failureWindow](window),
		}),
	}
}

// blocked reports whether client has used up its failures in the current
// window, and how long until the window ends.
func (a *authFailures) blocked(client string) (time.Duration, bool) {
	w, ok := a.counts.GetIfPresent(client)
	if !ok || w.n < a.limit {
		return 0, false
	}
	left := w.start.Add(a.window).Sub(a.now())
	return left, left > 0
}

// fail counts a failure of client.
func (a *authFailures) fail(client string) {
	now := a.now()
	a.counts.Compute(client, func(w failureWindow, found bool) (failureWindow, otter.ComputeOp) {
		if !found || !now.Before(w.start.Add(a.window)) {
			return failureWindow{start: now, n: 1}, otter.WriteOp
		}
		w.n++
		return w, otter.WriteOp
	})
}
