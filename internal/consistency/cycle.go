package consistency

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
)

// inject runs the cycles of the fault until one would end after until.
func (res *Result) inject(ctx context.Context, d *deployment, l *load, until time.Time, phase *atomic.Value) error {
	if res.Fault.Name == "none" {
		return nil
	}
	for n := 0; ; n++ {
		phase.Store("fault")
		out := outageOf(n)
		if res.Fault.cluster {
			out = 0 // a failover takes what it takes
		}
		cy := Cycle{Outage: out, Start: l.c.since()}
		if err := res.Fault.inject(ctx, d, out); err != nil {
			return fmt.Errorf("inject %s: %w", res.Fault.Name, err)
		}
		cy.End = l.c.since()
		phase.Store("recovery")
		cy.Recovered = l.awaitRecovered(ctx, recoveryTimeout)
		if cy.Recovered >= 0 {
			cy.Recovered -= cy.End
		}
		res.Cycles = append(res.Cycles, cy)
		phase.Store("load")
		if res.Fault.once || time.Now().Add(healthy+outageOf(n+1)).After(until) {
			return nil
		}
		sleep(ctx, healthy)
	}
}

// awaitRecovered polls every instance's /readyz until each reports its
// breaker closed and cache reads admitted, and returns when that was on
// the run's clock, or -1 after timeout.
func (l *load) awaitRecovered(ctx context.Context, timeout time.Duration) time.Duration {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		recovered := true
		for _, in := range l.instances {
			_, _, body, _ := l.c.do(ctx, http.MethodGet, in.base+"/readyz", "")
			var r struct {
				Checks struct {
					Breaker    string `json:"breaker"`
					CacheReads string `json:"cache_reads"`
				} `json:"checks"`
			}
			if json.Unmarshal(body, &r) != nil || r.Checks.Breaker != "closed" || r.Checks.CacheReads != "admitted" {
				recovered = false
				break
			}
		}
		if recovered {
			return l.c.since()
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return -1
}
