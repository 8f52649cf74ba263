package consistency

import (
	"cmp"
	"fmt"
	"strings"
	"time"
)

// Result is what a run found.
type Result struct {
	Fault  Fault
	Report *Report
	// Cycles are the fault's injections, in order.
	Cycles  []Cycle
	Elapsed time.Duration // the whole run, set-up included
	// LoadAvg is the machine's load average (/proc/loadavg) at the end of
	// the load, or "" where it is unknown.
	LoadAvg string
}

// Cycle is one injection of a fault.
type Cycle struct {
	// Start and End are when it began and was over, on the clock of the
	// history.
	Start, End time.Duration
	Outage     time.Duration // the outage it was asked for; 0 for a failover
	// Recovered is how long after End both instances reported their
	// breaker closed and cache reads admitted (GET /readyz), or -1 if
	// they did not within 20s.
	Recovered time.Duration
}

// Summary returns the result as text: the fault, its timing, and the
// report.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "fault %s: %s\n", r.Fault.Name, r.Fault.Summary)
	b.WriteString("  ")
	for i, cy := range r.Cycles {
		recovered := "not recovered"
		if cy.Recovered >= 0 {
			recovered = "recovered " + ms(cy.Recovered) + " later"
		}
		outage := ""
		if cy.Outage > 0 {
			outage = "outage " + cy.Outage.Round(time.Millisecond).String() + ", "
		}
		fmt.Fprintf(&b, "cycle %d from %s to %s (%s%s)\n  ", i+1, at(cy.Start), at(cy.End), outage, recovered)
	}
	fmt.Fprintf(&b, "run %s; load average %s\n", r.Elapsed.Round(100*time.Millisecond), cmp.Or(r.LoadAvg, "unknown"))
	for line := range strings.Lines(r.Report.Summary()) {
		b.WriteString("  " + line)
	}
	return b.String()
}
