package logagg_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/internal/logagg"
	"github.com/filecache/filecache/internal/testenv"
)

// lines is a concurrency-safe buffer of JSON log lines.
type lines struct{ testenv.Buffer }

type record struct {
	Time     time.Time `json:"time"`
	Msg      string    `json:"msg"`
	Err      string    `json:"err"`
	Repeated int       `json:"repeated"`
	Interval string    `json:"interval"`
	Node     string    `json:"node"`
}

func (l *lines) records(t *testing.T) []record {
	t.Helper()
	var out []record
	for line := range strings.Lines(l.String()) {
		var r record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("bad log line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

// TestBurst logs a burst of identical warnings from several goroutines for
// about a second, as every request of an outage would, and checks that
// they come out as a few lines per interval whose counts add up.
func TestBurst(t *testing.T) {
	const interval = 200 * time.Millisecond
	var out lines
	h := logagg.New(slog.NewJSONHandler(&out, nil), logagg.Options{Interval: interval})
	log := slog.New(h)

	const workers = 8
	start := time.Now()
	var sent sync.WaitGroup
	counts := make([]int, workers)
	for w := range workers {
		sent.Go(func() {
			for i := 0; time.Since(start) < time.Second; i++ {
				log.Warn("cache read failed", "err", fmt.Errorf("dial tcp: connection refused (%d/%d)", w, i))
				counts[w]++
			}
		})
	}
	sent.Wait()
	elapsed := time.Since(start)
	h.Flush()

	total := 0
	for _, c := range counts {
		total += c
	}
	recs := out.records(t)
	logged := 0
	for i, r := range recs {
		if r.Msg != "cache read failed" {
			t.Errorf("line %d: msg %q", i, r.Msg)
		}
		if i == 0 && r.Repeated != 0 {
			t.Errorf("the first line is held back: repeated=%d", r.Repeated)
		}
		if i > 0 && (r.Repeated < 1 || r.Interval != interval.String()) {
			t.Errorf("line %d: repeated=%d interval=%q, want a count and %v", i, r.Repeated, r.Interval, interval)
		}
		if !strings.HasPrefix(r.Err, "dial tcp: connection refused") {
			t.Errorf("line %d: err %q, want the last error", i, r.Err)
		}
		logged += 1 + r.Repeated
		if i > 0 {
			logged--
		}
	}
	if logged != total {
		t.Errorf("the lines account for %d warnings, %d were logged", logged, total)
	}
	// One line at once, then one per interval, and the flush.
	if max := int(elapsed/interval) + 3; len(recs) > max {
		t.Errorf("%d warnings in %v made %d lines, want at most %d", total, elapsed.Round(time.Millisecond), len(recs), max)
	}
	if total < 100 {
		t.Fatalf("only %d warnings sent: the test did not make a burst", total)
	}
	t.Logf("%d warnings in %v: %d lines", total, elapsed.Round(time.Millisecond), len(recs))
}

// TestPassThrough checks what is not aggregated: records below the level,
// distinct messages, and a message again after a quiet interval.
func TestPassThrough(t *testing.T) {
	const interval = 50 * time.Millisecond
	var out lines
	h := logagg.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}), logagg.Options{Interval: interval})
	log := slog.New(h).With("node", "a")
	for range 3 {
		log.Info("request")
	}
	log.Warn("first", "err", errors.New("x"))
	log.Warn("second", "err", errors.New("y"))
	log.Error("first", "err", errors.New("z")) // another level
	// After a quiet interval (the entry ends), the same message passes again.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		errText := fmt.Sprintf("again-%d", i)
		log.Warn("first", "err", errors.New(errText))
		passed := false
		for _, r := range out.records(t) {
			passed = passed || (r.Err == errText && r.Repeated == 0)
		}
		if passed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a message held back for 10s")
		}
		time.Sleep(3 * interval)
	}
	recs := out.records(t)
	var msgs []string
	for _, r := range recs[:6] {
		msgs = append(msgs, r.Msg)
		if r.Node != "a" {
			t.Errorf("%q lost the logger's attributes: %+v", r.Msg, r)
		}
	}
	if got, want := strings.Join(msgs, ","), "request,request,request,first,second,first"; got != want {
		t.Errorf("lines %s, want %s", got, want)
	}
}
