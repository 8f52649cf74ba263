package report

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/filecache/filecache/audit"
)

// addAudit puts the auditor's figures in rep, and a recommendation when
// it found inconsistencies.
func addAudit(rep *Report, s *audit.Stats) {
	if s == nil {
		return
	}
	rep.Audit = s
	if s.Inconsistencies == 0 {
		return
	}
	oldest := time.Duration(s.OldestAgeSeconds * float64(time.Second)).Round(time.Second)
	rep.Recommendations = append(rep.Recommendations, Recommendation{
		Severity: SeverityWarning, Code: "cache_inconsistent", Subject: "audit",
		Message: fmt.Sprintf("the auditor found %d cached entries holding what the database no longer holds (the oldest %v after the change) and deleted them; look for writes that bypass the outbox (SQL run by hand, another service) and for set-aside outbox entries",
			s.Inconsistencies, oldest),
	})
}

// writeAudit writes the auditor's section, if the report has one.
func (r *Report) writeAudit(w io.Writer) {
	s := r.Audit
	if s == nil {
		return
	}
	fmt.Fprintln(w, "\nCONSISTENCY AUDIT")
	switch {
	case s.Rate == 0:
		fmt.Fprintln(w, "sampling off (CACHE_AUDIT_RATE=0, or no Redis)")
	case s.Samples == 0 && s.Walks == 0:
		fmt.Fprintln(w, "no sample taken by this process: the auditor runs in serve (GET /admin/cache/report); `filecache audit` checks every key")
	}
	fmt.Fprintf(w, "%d samples at %s database reads/s (%d reads, %d complete walks of the keyspace); %d inconsistencies, %d repaired; oldest %s\n",
		s.Samples, strconv.FormatFloat(s.Rate, 'g', -1, 64), s.DatabaseReads, s.Walks, s.Inconsistencies, s.Repaired,
		ttl(s.OldestAgeSeconds))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	header := []string{"family"}
	for _, res := range audit.Results() {
		header = append(header, res.String())
	}
	for _, age := range audit.AgeBuckets() {
		header = append(header, "age "+age)
	}
	row(tw, header...)
	for _, f := range s.Families {
		cells := []string{f.Family}
		for _, res := range audit.Results() {
			cells = append(cells, u(f.Results[res.String()]))
		}
		for _, age := range audit.AgeBuckets() {
			cells = append(cells, u(f.Inconsistent[age]))
		}
		row(tw, cells...)
	}
	tw.Flush()
}
