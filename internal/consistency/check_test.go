package consistency

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const file = "0b6f7d3c-5a4e-4f7e-9c1d-2a3b4c5d6e7f"

func msec(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func val(v int64) Value { return Value{Version: v, Name: "n" + string(rune('0'+v))} }

// baseHistory is a clean history: the file is created on a (v1), updated
// on a (v2, acknowledged at 100ms) and on b (v3, acknowledged at 300ms);
// readers on both instances see each version in time, and both instances
// end on v3, which the database holds.
func baseHistory() History {
	return History{
		Writes: []Write{
			{File: file, Instance: "a", Writer: "w1", Start: msec(0), End: msec(10), Value: val(1), Acked: true},
			{File: file, Instance: "a", Writer: "w1", Start: msec(90), End: msec(100), Value: val(2), Acked: true},
			{File: file, Instance: "b", Writer: "w2", Start: msec(290), End: msec(300), Value: val(3), Acked: true},
		},
		Reads: []Read{
			{Reader: "r1@a", Instance: "a", File: file, Start: msec(20), End: msec(21), Status: 200, Value: val(1), Cache: "miss"},
			{Reader: "r2@b", Instance: "b", File: file, Start: msec(30), End: msec(31), Status: 200, Value: val(1), Cache: "hit"},
			{Reader: "w1@a", Instance: "a", File: file, Start: msec(101), End: msec(102), Status: 200, Value: val(2), Cache: "miss"},
			// Within 50ms of the acknowledgement b may still serve v1.
			{Reader: "r2@b", Instance: "b", File: file, Start: msec(120), End: msec(121), Status: 200, Value: val(1), Cache: "hit-local"},
			{Reader: "r2@b", Instance: "b", File: file, Start: msec(130), End: msec(132), Status: 200, Value: val(2), Cache: "hit"},
			{Reader: "r1@a", Instance: "a", File: file, Start: msec(305), End: msec(306), Status: 200, Value: val(3), Cache: "hit"},
		},
		Final: []Read{
			{Reader: "final@a", Instance: "a", File: file, Start: msec(1000), Status: 200, Value: val(3)},
			{Reader: "final@b", Instance: "b", File: file, Start: msec(1000), Status: 200, Value: val(3)},
		},
		Database: map[string]Value{file: val(3)},
		Settle:   msec(5),
	}
}

func TestCheckClean(t *testing.T) {
	r := Check(baseHistory(), CheckOptions{})
	if !r.OK() {
		t.Fatalf("clean history reported violations:\n%s", r.Summary())
	}
	if r.StaleAllowed != 1 {
		t.Errorf("StaleAllowed = %d, want 1 (b's v1 20ms after v2's acknowledgement)", r.StaleAllowed)
	}
	// v1 seen on b 20ms after its acknowledgement on a; v2 30ms after; v3
	// on a 5ms after its acknowledgement on b.
	if diff := cmp.Diff([]time.Duration{msec(5), msec(20), msec(30)}, r.Lag); diff != "" {
		t.Errorf("Lag (-want +got):\n%s", diff)
	}
	if got := Percentile(r.Lag, 50); got != msec(20) {
		t.Errorf("p50 = %v, want 20ms", got)
	}
	if got := Percentile(r.Lag, 99); got != msec(30) {
		t.Errorf("p99 = %v, want 30ms", got)
	}

	if r.WritesAcked != 3 || r.ReadsAnswered != 6 {
		t.Errorf("counts: %d writes acknowledged, %d reads answered; want 3 and 6", r.WritesAcked, r.ReadsAnswered)
	}
}

func TestCheckViolations(t *testing.T) {
	tests := []struct {
		name    string
		change  func(h *History)
		want    Kind
		wantLag time.Duration // for stale and read-your-writes
	}{
		{
			name: "stale read 60ms after an acknowledgement on the other instance",
			change: func(h *History) {
				h.Reads = append(h.Reads, Read{Reader: "r3@b", Instance: "b", File: file, Start: msec(160), End: msec(161), Status: 200, Value: val(1), Cache: "hit-local"})
			},
			want: StaleRead, wantLag: msec(60),
		},
		{
			name: "read on the writing instance after its acknowledgement",
			change: func(h *History) {
				h.Reads = append(h.Reads, Read{Reader: "r4@a", Instance: "a", File: file, Start: msec(103), End: msec(104), Status: 200, Value: val(1), Cache: "hit-local"})
			},
			want: ReadYourWrites, wantLag: msec(3),
		},
		{
			name: "not found after the create was acknowledged",
			change: func(h *History) {
				h.Reads = append(h.Reads, Read{Reader: "r4@a", Instance: "a", File: file, Start: msec(15), End: msec(16), Status: 404, Cache: "hit"})
			},
			want: ReadYourWrites, wantLag: msec(5),
		},
		{
			name: "reader sees the version go backwards",
			change: func(h *History) {
				// Allowed as a stale read (20ms after v2's acknowledgement
				// on a), but r2 saw v2 at 130ms.
				h.Reads = append(h.Reads, Read{Reader: "r2@b", Instance: "b", File: file, Start: msec(140), End: msec(141), Status: 200, Value: val(1), Cache: "hit"})
				h.Writes[1].End = msec(125)
			},
			want: BackwardRead,
		},
		{
			name: "value no write produced",
			change: func(h *History) {
				h.Reads = append(h.Reads, Read{Reader: "r1@a", Instance: "a", File: file, Start: msec(400), End: msec(401), Status: 200, Value: Value{Version: 3, Name: "n2"}, Cache: "hit"})
			},
			want: FabricatedValue,
		},
		{
			name: "an instance ends on an old value",
			change: func(h *History) {
				h.Final[1].Value = val(2)
			},
			want: NotConverged,
		},
		{
			name: "an instance fails its final read",
			change: func(h *History) {
				h.Final[0] = Read{Reader: "final@a", Instance: "a", File: file, Status: 503}
			},
			want: NotConverged,
		},
		{
			name: "an instance has no final read",
			change: func(h *History) {
				h.Final = h.Final[:1]
			},
			want: NotConverged,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := baseHistory()
			tt.change(&h)
			r := Check(h, CheckOptions{})
			if diff := cmp.Diff(map[Kind]int{tt.want: 1}, r.ByKind); diff != "" {
				t.Fatalf("violations by kind (-want +got):\n%s\n%s", diff, r.Summary())
			}
			if r.OK() {
				t.Error("OK() is true with a violation")
			}
			if got := r.Violations[0].Lag; got != tt.wantLag {
				t.Errorf("lag = %v, want %v", got, tt.wantLag)
			}
			if s := r.Summary(); !strings.Contains(s, string(tt.want)+": file "+short(file)) {
				t.Errorf("summary does not list the violation:\n%s", s)
			}
		})
	}
}

// An unacknowledged write may have committed: its value is no fabrication,
// and it sets no deadline for readers.
func TestCheckUnacknowledgedWrite(t *testing.T) {
	h := baseHistory()
	h.Writes = append(h.Writes, Write{File: file, Instance: "a", Writer: "w1", Start: msec(400), End: msec(900), Value: val(4)})
	h.Reads = append(h.Reads,
		Read{Reader: "r1@a", Instance: "a", File: file, Start: msec(950), End: msec(951), Status: 200, Value: val(3), Cache: "hit"},
		Read{Reader: "r1@a", Instance: "a", File: file, Start: msec(960), End: msec(961), Status: 200, Value: val(4), Cache: "miss"},
	)
	h.Final[0].Value, h.Final[1].Value, h.Database[file] = val(4), val(4), val(4)
	if r := Check(h, CheckOptions{}); !r.OK() {
		t.Fatalf("violations:\n%s", r.Summary())
	}
}

// StaleAfter moves the line between an allowed and a stale read.
func TestCheckStaleAfter(t *testing.T) {
	h := baseHistory()
	h.Reads = append(h.Reads, Read{Reader: "r3@b", Instance: "b", File: file, Start: msec(160), End: msec(161), Status: 200, Value: val(1)})
	if r := Check(h, CheckOptions{StaleAfter: 100 * time.Millisecond}); !r.OK() || r.StaleAllowed != 2 {
		t.Fatalf("with StaleAfter 100ms: OK %v, %d allowed; want true, 2\n%s", r.OK(), r.StaleAllowed, r.Summary())
	}
}
