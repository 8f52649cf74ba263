package audit

import (
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// maxHeld bounds the findings a summary line names; the others are
// counted.
const maxHeld = 10

// findingLog logs inconsistencies without a line per finding: the first of
// a window of Options.LogInterval is logged at once, with its key and both
// sides; the others of the window, each key once, in one summary line when
// it ends. It is safe for concurrent use.
type findingLog struct {
	log      *slog.Logger
	interval time.Duration

	mu    sync.Mutex
	until time.Time // end of the open window; zero: none
	seen  map[string]bool
	held  []Finding
	more  int
}

func (l *findingLog) add(f Finding) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.until.IsZero() || f.Found.After(l.until) {
		l.flushLocked()
		l.until = f.Found.Add(l.interval)
		l.seen = map[string]bool{f.Key: true}
		l.log.Warn("cache inconsistency found", "family", f.Family, "key", f.Key, "cached", f.Cached,
			"database", f.Database, "age", ageText(f), "repaired", f.Repaired)
		return
	}
	if l.seen[f.Key] {
		return
	}
	l.seen[f.Key] = true
	if len(l.held) < maxHeld {
		l.held = append(l.held, f)
	} else {
		l.more++
	}
}

// tick closes the window if it ended by now, logging what it held.
func (l *findingLog) tick(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.until.IsZero() && now.After(l.until) {
		l.flushLocked()
		l.until = time.Time{}
	}
}

// flush logs what the open window holds.
func (l *findingLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.flushLocked()
}

func (l *findingLog) flushLocked() {
	n := len(l.held) + l.more
	if n == 0 {
		return
	}
	names := make([]string, len(l.held))
	for i, f := range l.held {
		names[i] = fmt.Sprintf("%s (cached %s, database %s, age %s, repaired %v)", f.Key, f.Cached, f.Database, ageText(f), f.Repaired)
	}
	l.log.Warn("more cache inconsistencies found", "count", n, "window", l.interval.String(), "findings", names, "not_listed", l.more)
	l.held, l.more = nil, 0
}

func ageText(f Finding) string {
	if !f.AgeKnown {
		return AgeUnknown
	}
	return f.Age.Round(time.Millisecond).String()
}
