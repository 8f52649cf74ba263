package consistency

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// maxListed bounds the violations Summary lists per kind.
const maxListed = 5

// Summary returns the report as text: counts, the visibility lag, the
// violations by kind and the first few of each.
func (r *Report) Summary() string {
	var b strings.Builder
	failed := 0
	for _, n := range r.ReadsFailed {
		failed += n
	}
	fmt.Fprintf(&b, "operations     %d (%d writes, %d acknowledged; %d reads, %d answered",
		r.Writes+r.Reads, r.Writes, r.WritesAcked, r.Reads, r.ReadsAnswered)
	if failed > 0 {
		fmt.Fprintf(&b, ", %d failed: %s", failed, countsOf(r.ReadsFailed, func(s int) string {
			if s == 0 {
				return "no answer"
			}
			return fmt.Sprint(s)
		}))
	}
	b.WriteString(")\n")
	if len(r.ReadsByCache) > 0 {
		fmt.Fprintf(&b, "X-Cache        %s\n", countsOf(r.ReadsByCache, func(s string) string { return cmp.Or(s, `""`) }))
	}
	fmt.Fprintf(&b, "stale reads    %d past the allowances (%d on the writing instance, %d on another after %s); %d on another within %s (allowed)\n",
		r.StaleReads(), r.ByKind[ReadYourWrites], r.ByKind[StaleRead], r.StaleAfter, r.StaleAllowed, r.StaleAfter)
	fmt.Fprintf(&b, "visibility lag p50 %s, p99 %s, max %s (acknowledgement to the start of the first read on the other instance returning the version; %d writes observed, %d not)\n",
		ms(Percentile(r.Lag, 50)), ms(Percentile(r.Lag, 99)), ms(Percentile(r.Lag, 100)), len(r.Lag), r.LagUnobserved)
	if r.StaleReads() > 0 {
		fmt.Fprintf(&b, "worst lag      %s (a stale read that long after the acknowledgement)\n", ms(r.WorstLag()))
	}
	var kinds []string
	for _, k := range Kinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, r.ByKind[k]))
	}
	fmt.Fprintf(&b, "violations     %d: %s\n", len(r.Violations), strings.Join(kinds, ", "))
	if r.ByKind[NotConverged] == 0 {
		fmt.Fprintf(&b, "converged      yes, %s after the load\n", ms(r.Settle))
	} else {
		fmt.Fprintf(&b, "converged      no, %s after the load\n", ms(r.Settle))
	}
	listed := map[Kind]int{}
	for _, v := range r.Violations {
		if listed[v.Kind]++; listed[v.Kind] <= maxListed {
			fmt.Fprintf(&b, "  %s\n", v)
		} else if listed[v.Kind] == maxListed+1 {
			fmt.Fprintf(&b, "  %s: %d more\n", v.Kind, r.ByKind[v.Kind]-maxListed)
		}
	}
	return b.String()
}

// countsOf formats a map of counts as "k n, k n", largest first.
func countsOf[K cmp.Ordered](m map[K]int, name func(K) string) string {
	keys := slices.Collect(maps.Keys(m))
	slices.SortFunc(keys, func(a, b K) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", name(k), m[k])
	}
	return strings.Join(parts, ", ")
}
