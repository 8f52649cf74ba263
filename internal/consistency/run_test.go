package consistency

import (
	"testing"
	"time"
)

// TestFaults runs the checker for every fault, on PostgreSQL: two
// instances, a private Redis (or Cluster), writers and readers on both.
// Any violation of a consistency guarantee fails it; the summary of every
// run is logged. All faults take about 90 s together, the build included
// (-short: about 60 s).
func TestFaults(t *testing.T) {
	bin, err := Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	duration := 8 * time.Second
	if testing.Short() {
		duration = 4 * time.Second
	}
	for _, f := range Faults() {
		t.Run(f.Name, func(t *testing.T) {
			// The promise on another instance is a few milliseconds, and
			// fccheck holds it to 50ms (the README's table, a quiet
			// machine). Here the bound is one a busy CI machine keeps: a
			// writer that cannot invalidate waits up to outbox.DefaultHandoff
			// for another instance to, and a starved process delivers late.
			// Read-your-writes and backward reads have no allowance.
			res, err := Run(t, f, Options{Binary: bin, Duration: duration, StaleAfter: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			r := res.Report
			t.Logf("\n%s", res.Summary())
			// The load ran: writes acknowledged on both instances and
			// seen on the other one.
			if r.WritesAcked < 10 || len(r.Lag) < 10 {
				t.Errorf("%d writes acknowledged, %d seen on the other instance: the load did not run", r.WritesAcked, len(r.Lag))
			}
			if f.Name == "none" && len(r.ReadsFailed) > 0 {
				t.Errorf("reads failed without a fault: %v", r.ReadsFailed)
			}
			if !r.OK() {
				t.Errorf("%d consistency violations (see the summary above)", len(r.Violations))
			}
		})
	}
}
