package consistency

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// Kind is a class of consistency violation.
type Kind string

// The kinds of violation Check reports.
const (
	// ReadYourWrites: a read on the instance that acknowledged a write,
	// started after the acknowledgement, returned an older version.
	ReadYourWrites Kind = "read-your-writes"
	// StaleRead: a read on another instance, started more than
	// CheckOptions.StaleAfter after an acknowledgement, returned an older
	// version.
	StaleRead Kind = "stale-read"
	// BackwardRead: a reader saw a file's version go down.
	BackwardRead Kind = "backward-read"
	// FabricatedValue: a read returned a version and name that no write
	// produced.
	FabricatedValue Kind = "fabricated-value"
	// NotConverged: after the load an instance still answers something
	// other than the database's value.
	NotConverged Kind = "not-converged"
)

// Kinds lists every Kind in the order reports print them.
var Kinds = []Kind{ReadYourWrites, StaleRead, BackwardRead, FabricatedValue, NotConverged}

// DefaultStaleAfter is how long another instance may keep serving a
// version older than an acknowledged write.
const DefaultStaleAfter = 50 * time.Millisecond

// CheckOptions tune Check.
type CheckOptions struct {
	// StaleAfter is how long after an acknowledgement a read on another
	// instance may still return an older version.
	// Default: 50ms (DefaultStaleAfter).
	StaleAfter time.Duration
}

// Violation is one read that breaks a guarantee.
type Violation struct {
	Kind Kind
	Read Read
	// Want is the value the read should at least have returned: the
	// acknowledged write it missed, the newer version the reader saw
	// before, or the database's value.
	Want Value
	// Ack is the write the read missed (ReadYourWrites, StaleRead).
	Ack Write
	// Lag is, for ReadYourWrites and StaleRead, how long before the read
	// started the first newer write had been acknowledged.
	Lag time.Duration
}

// String describes v on one line.
func (v Violation) String() string {
	r := v.Read
	got := fmt.Sprintf("got %s", v.Read.Value)
	if r.Status != 200 && r.Status != 404 {
		got = fmt.Sprintf("got status %d", r.Status)
	}
	head := fmt.Sprintf("%s: file %s on %s, reader %s, read at %s: %s (X-Cache %q)",
		v.Kind, short(r.File), r.Instance, r.Reader, at(r.Start), got, r.Cache)
	switch v.Kind {
	case ReadYourWrites, StaleRead:
		return fmt.Sprintf("%s; %s acknowledged by %s at %s, lag %s",
			head, v.Ack.Value, v.Ack.Instance, at(v.Ack.End), ms(v.Lag))
	case BackwardRead:
		return fmt.Sprintf("%s; the reader had seen %s", head, v.Want)
	case NotConverged:
		return fmt.Sprintf("%s; the database holds %s", head, v.Want)
	default:
		return head + "; no write produced it"
	}
}

// String formats a value as v<version> "<name>", or "not found".
func (v Value) String() string {
	if v.Version == 0 {
		return "not found"
	}
	return fmt.Sprintf("v%d %q", v.Version, v.Name)
}

// Report is Check's verdict on a History.
type Report struct {
	Writes        int // writes sent
	WritesAcked   int // acknowledged
	Reads         int // reads sent during the load
	ReadsAnswered int // answered 200 or 404
	// ReadsFailed counts the other reads by status (0: no answer).
	ReadsFailed map[int]int
	// ReadsByCache counts the answered reads by X-Cache.
	ReadsByCache map[string]int
	// StaleAllowed counts reads on another instance that returned an older
	// version than a write acknowledged at most StaleAfter before.
	StaleAllowed int

	// Lag holds, per acknowledged write and other instance, the time from
	// the acknowledgement to the start of the first read there that
	// returned that version or a newer one; sorted.
	Lag []time.Duration
	// LagUnobserved counts the (write, other instance) pairs for which no
	// read returned the version during the load.
	LagUnobserved int

	Violations []Violation // ordered by kind, then read start
	ByKind     map[Kind]int
	StaleAfter time.Duration
	Settle     time.Duration // History.Settle
}

// OK reports whether the history broke no guarantee.
func (r *Report) OK() bool { return len(r.Violations) == 0 }

// StaleReads counts the reads that returned a version older than one
// acknowledged before they started, beyond what the guarantees allow.
func (r *Report) StaleReads() int { return r.ByKind[ReadYourWrites] + r.ByKind[StaleRead] }

// Percentile returns the p-th percentile (0 < p ≤ 100, nearest rank) of
// sorted durations such as Lag, or 0 when there are none.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*p/100)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// WorstLag returns the largest lag of a ReadYourWrites or StaleRead
// violation, or 0.
func (r *Report) WorstLag() time.Duration {
	var worst time.Duration
	for _, v := range r.Violations {
		worst = max(worst, v.Lag)
	}
	return worst
}

// Check judges h: it never does I/O, so hand-made histories test it.
func Check(h History, opts CheckOptions) *Report {
	staleAfter := cmp.Or(opts.StaleAfter, DefaultStaleAfter)
	r := &Report{
		ReadsFailed:  map[int]int{},
		ReadsByCache: map[string]int{},
		ByKind:       map[Kind]int{},
		StaleAfter:   staleAfter,
		Settle:       h.Settle,
		Writes:       len(h.Writes),
		Reads:        len(h.Reads),
	}

	// Acknowledged writes per file, in acknowledgement order.
	acked := map[string][]Write{}
	produced := map[fileValue]bool{}
	for _, w := range h.Writes {
		produced[fileValue{w.File, w.Value}] = true
		if w.Acked {
			r.WritesAcked++
			acked[w.File] = append(acked[w.File], w)
		}
	}
	for _, ws := range acked {
		slices.SortStableFunc(ws, func(a, b Write) int { return cmp.Compare(a.End, b.End) })
	}

	for _, rd := range h.Reads {
		if !rd.answered() {
			r.ReadsFailed[rd.Status]++
			continue
		}
		r.ReadsAnswered++
		r.ReadsByCache[rd.Cache]++
		if rd.Status == 200 && !produced[fileValue{rd.File, rd.Value}] {
			r.add(Violation{Kind: FabricatedValue, Read: rd})
			continue
		}
		r.checkFloor(rd, acked[rd.File], staleAfter)
	}
	r.checkMonotonic(h.Reads)
	r.checkConverged(h)
	r.measureLag(h.Reads, acked)

	slices.SortStableFunc(r.Violations, func(a, b Violation) int {
		return cmp.Or(cmp.Compare(slices.Index(Kinds, a.Kind), slices.Index(Kinds, b.Kind)),
			cmp.Compare(a.Read.Start, b.Read.Start))
	})
	return r
}

type fileValue struct {
	file  string
	value Value
}

func (r *Report) add(v Violation) {
	r.Violations = append(r.Violations, v)
	r.ByKind[v.Kind]++
}

// checkFloor judges one read against the acknowledged writes of its file.
func (r *Report) checkFloor(rd Read, writes []Write, staleAfter time.Duration) {
	// The first write newer than what the read returned that it had to see:
	// acknowledged by its own instance before it started, or by any
	// instance more than staleAfter before it started.
	var ryw, stale, allowed *Write
	for i := range writes {
		w := &writes[i]
		if w.End >= rd.Start {
			break
		}
		if w.Value.Version <= rd.Value.Version {
			continue
		}
		switch {
		case w.Instance == rd.Instance:
			if ryw == nil {
				ryw = w
			}
		case w.End+staleAfter < rd.Start:
			if stale == nil {
				stale = w
			}
		default:
			if allowed == nil {
				allowed = w
			}
		}
	}
	switch {
	case ryw != nil:
		r.add(Violation{Kind: ReadYourWrites, Read: rd, Want: ryw.Value, Ack: *ryw, Lag: rd.Start - ryw.End})
	case stale != nil:
		r.add(Violation{Kind: StaleRead, Read: rd, Want: stale.Value, Ack: *stale, Lag: rd.Start - stale.End})
	case allowed != nil:
		r.StaleAllowed++
	}
}

// checkMonotonic reports every read that returned an older version of a
// file than its reader had seen before.
func (r *Report) checkMonotonic(reads []Read) {
	type readerFile struct{ reader, file string }
	byReader := map[string][]Read{}
	for _, rd := range reads {
		if rd.answered() {
			byReader[rd.Reader] = append(byReader[rd.Reader], rd)
		}
	}
	seen := map[readerFile]Value{}
	for _, rs := range byReader {
		slices.SortStableFunc(rs, func(a, b Read) int { return cmp.Compare(a.Start, b.Start) })
		for _, rd := range rs {
			k := readerFile{rd.Reader, rd.File}
			if before, ok := seen[k]; ok && rd.Value.Version < before.Version {
				r.add(Violation{Kind: BackwardRead, Read: rd, Want: before})
				continue
			}
			seen[k] = rd.Value
		}
	}
}

// checkConverged compares every instance's final read of every file with
// the database.
func (r *Report) checkConverged(h History) {
	type instanceFile struct{ instance, file string }
	final := map[instanceFile]Read{}
	instances := map[string]bool{}
	for _, rd := range h.Final {
		final[instanceFile{rd.Instance, rd.File}] = rd
		instances[rd.Instance] = true
	}
	for _, w := range h.Writes {
		instances[w.Instance] = true
	}
	for _, rd := range h.Reads {
		instances[rd.Instance] = true
	}
	for _, inst := range sortedKeys(instances) {
		for _, file := range sortedKeys(h.Database) {
			want := h.Database[file]
			rd, ok := final[instanceFile{inst, file}]
			if !ok {
				rd = Read{Instance: inst, File: file, Reader: "final", Start: h.Settle}
			}
			if !rd.answered() || rd.Value != want {
				r.add(Violation{Kind: NotConverged, Read: rd, Want: want})
			}
		}
	}
}

// measureLag fills r.Lag: for every acknowledged write and every other
// instance, the time from the acknowledgement to the start of the first
// read there that returned at least its version.
func (r *Report) measureLag(reads []Read, acked map[string][]Write) {
	type instanceFile struct{ instance, file string }
	byPlace := map[instanceFile][]Read{}
	instances := map[string]bool{}
	for _, rd := range reads {
		if rd.answered() {
			k := instanceFile{rd.Instance, rd.File}
			byPlace[k] = append(byPlace[k], rd)
			instances[rd.Instance] = true
		}
	}
	for _, rs := range byPlace {
		slices.SortStableFunc(rs, func(a, b Read) int { return cmp.Compare(a.Start, b.Start) })
	}
	for _, ws := range acked {
		for _, w := range ws {
			for inst := range instances {
				if inst == w.Instance {
					continue
				}
				rs := byPlace[instanceFile{inst, w.File}]
				i, _ := slices.BinarySearchFunc(rs, w.End, func(rd Read, t time.Duration) int { return cmp.Compare(rd.Start, t) })
				j := slices.IndexFunc(rs[i:], func(rd Read) bool { return rd.Value.Version >= w.Value.Version })
				if j < 0 {
					r.LagUnobserved++
					continue
				}
				r.Lag = append(r.Lag, rs[i+j].Start-w.End)
			}
		}
	}
	slices.Sort(r.Lag)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// short abbreviates a file id for messages: the last 8 characters, since
// the ids are UUIDv7 whose first characters are a timestamp.
func short(id string) string {
	return id[max(0, len(id)-8):]
}

// at formats a time since the start of the run in seconds.
func at(d time.Duration) string {
	return fmt.Sprintf("%.3fs", d.Seconds())
}

// ms formats d in milliseconds with one decimal.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}
