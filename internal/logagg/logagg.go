// Package logagg aggregates repeated log records, so that a failure hit by
// every request logs one line per interval instead of one per request.
//
// A Handler wraps another slog.Handler. The first record of a message at
// Warn level or above passes at once; the records of the same level and
// message that follow within Interval are counted, and when the interval
// ends the last of them is written once, with the attributes repeated=N
// (how many were held back) and interval. Callers keep calling
// log.Warn("...", "err", err) as before:
//
//	log := slog.New(logagg.New(slog.NewJSONHandler(os.Stderr, nil), logagg.Options{}))
//	defer log.Handler().(*logagg.Handler).Flush()
//
// A Handler is safe for concurrent use; the handlers derived from it with
// WithAttrs and WithGroup share its counts.
package logagg

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/filecache/filecache/internal/defaults"
)

// Defaults of Options.
const (
	DefaultInterval = 5 * time.Second
	DefaultMaxKeys  = 1000
)

// Options tunes a Handler. The zero value of every field means its default.
type Options struct {
	// Level is the least level aggregated; records below pass through.
	// Default: slog.LevelWarn.
	Level slog.Leveler
	// Interval is how long records of one message are counted before the
	// last is written. Default: DefaultInterval.
	Interval time.Duration
	// MaxKeys bounds the messages counted at once; the records of other
	// messages pass through. Default: DefaultMaxKeys.
	MaxKeys int
}

// Handler is a slog.Handler that aggregates repeated records (see the
// package doc).
type Handler struct {
	inner slog.Handler
	st    *state
}

var _ slog.Handler = (*Handler)(nil)

// key identifies the records aggregated together.
type key struct {
	level slog.Level
	msg   string
}

// state is shared by a Handler and the handlers derived from it.
type state struct {
	opts    Options
	mu      sync.Mutex
	entries map[key]*entry
}

// entry counts the records of one key in the current interval.
type entry struct {
	held  int          // records held back in this interval
	last  slog.Record  // the last of them
	to    slog.Handler // the handler that received it
	timer *time.Timer  // ends the interval
}

// New returns a Handler that writes to inner.
func New(inner slog.Handler, opts Options) *Handler {
	if opts.Level == nil {
		opts.Level = slog.LevelWarn
	}
	defaults.Positive(&opts.Interval, DefaultInterval)
	defaults.Positive(&opts.MaxKeys, DefaultMaxKeys)
	return &Handler{inner: inner, st: &state{opts: opts, entries: map[key]*entry{}}}
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

// Handle implements slog.Handler: it writes r at once, or counts it when a
// record of the same level and message was written within the interval.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	st := h.st
	if r.Level < st.opts.Level.Level() {
		return h.inner.Handle(ctx, r)
	}
	k := key{r.Level, r.Message}
	st.mu.Lock()
	if e, ok := st.entries[k]; ok {
		e.held++
		e.last, e.to = r.Clone(), h.inner
		st.mu.Unlock()
		return nil
	}
	if len(st.entries) < st.opts.MaxKeys {
		e := &entry{}
		e.timer = time.AfterFunc(st.opts.Interval, func() { st.endInterval(k, e) })
		st.entries[k] = e
	}
	st.mu.Unlock()
	return h.inner.Handle(ctx, r)
}

// endInterval writes the last record held back for k, if any, and starts
// the next interval; after an interval with none, k starts afresh.
func (st *state) endInterval(k key, e *entry) {
	st.mu.Lock()
	if st.entries[k] != e {
		st.mu.Unlock() // flushed meanwhile
		return
	}
	if e.held == 0 {
		delete(st.entries, k)
		st.mu.Unlock()
		return
	}
	rec, to, held := e.last, e.to, e.held
	e.held, e.last, e.to = 0, slog.Record{}, nil
	e.timer.Reset(st.opts.Interval)
	st.mu.Unlock()
	st.write(to, rec, held)
}

func (st *state) write(to slog.Handler, rec slog.Record, held int) {
	rec.AddAttrs(slog.Int("repeated", held), slog.String("interval", st.opts.Interval.String()))
	_ = to.Handle(context.Background(), rec)
}

// Flush writes every record held back now and forgets the counts, for
// a clean exit.
func (h *Handler) Flush() {
	st := h.st
	var pending []entry
	st.mu.Lock()
	for _, e := range st.entries {
		e.timer.Stop()
		if e.held > 0 {
			pending = append(pending, *e)
		}
	}
	st.entries = map[key]*entry{}
	st.mu.Unlock()
	for _, e := range pending {
		st.write(e.to, e.last, e.held)
	}
}

// WithAttrs implements slog.Handler; the new handler shares h's counts.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{inner: h.inner.WithAttrs(attrs), st: h.st}
}

// WithGroup implements slog.Handler; the new handler shares h's counts.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), st: h.st}
}
