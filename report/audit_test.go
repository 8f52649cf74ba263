package report_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/report"
)

// TestAuditSection: the auditor's figures make a section of the report and,
// when it found inconsistencies, a recommendation; without them there is
// no section.
func TestAuditSection(t *testing.T) {
	tests := []struct {
		name      string
		audit     *audit.Stats
		wantText  []string
		recommend bool
	}{
		{"none", nil, nil, false},
		{"clean", &audit.Stats{Rate: 1, Samples: 40, DatabaseReads: 38, Walks: 2,
			Families: []audit.FamilyStats{{Family: "file", Results: map[string]uint64{"consistent": 38, "empty": 2}}}},
			[]string{"CONSISTENCY AUDIT", "40 samples at 1 database reads/s", "0 inconsistencies"}, false},
		{"inconsistent", &audit.Stats{Rate: 2, Samples: 10, DatabaseReads: 12, Inconsistencies: 2, Repaired: 2, OldestAgeSeconds: 95,
			Families: []audit.FamilyStats{{Family: "file", Results: map[string]uint64{"consistent": 8, "inconsistent": 2},
				Inconsistent: map[string]uint64{audit.Age60s: 2}}}},
			[]string{"CONSISTENCY AUDIT", "2 inconsistencies, 2 repaired; oldest 1m35s", "cache_inconsistent"}, true},
		{"not run here", &audit.Stats{Rate: 1}, []string{"no sample taken by this process"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := report.Build(t.Context(), nil, report.Options{Audit: tc.audit})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Audit != tc.audit {
				t.Errorf("Audit = %+v, want %+v", rep.Audit, tc.audit)
			}
			recommended := false
			for _, r := range rep.Recommendations {
				recommended = recommended || r.Code == "cache_inconsistent"
			}
			if recommended != tc.recommend {
				t.Errorf("cache_inconsistent recommended: %v, want %v: %+v", recommended, tc.recommend, rep.Recommendations)
			}
			var text bytes.Buffer
			if err := rep.WriteText(&text); err != nil {
				t.Fatal(err)
			}
			if tc.audit == nil && strings.Contains(text.String(), "CONSISTENCY AUDIT") {
				t.Errorf("a section without figures:\n%s", text.String())
			}
			for _, w := range tc.wantText {
				if !strings.Contains(text.String(), w) {
					t.Errorf("text lacks %q:\n%s", w, text.String())
				}
			}
		})
	}
}
