package consistency

import (
	"cmp"
	"time"
)

// Options tune a run. The zero value, plus Binary, is the default run.
type Options struct {
	// Binary is the filecache executable (see Build). Required.
	Binary string
	// Duration is how long the load runs. The fault starts at 30% of it
	// and is repeated, once the instances have recovered, while its next
	// cycle would end before 70% of it; the load goes on for at least 40%
	// of it after the last cycle.
	// Default: 10s
	Duration time.Duration
	// Files is how many files the load creates and works on.
	// Default: 32
	Files int
	// Writers is the number of writers per instance; each owns a share of
	// the files, so it always knows their version.
	// Default: 2
	Writers int
	// Readers is the number of readers per instance.
	// Default: 4
	Readers int
	// WriteEvery is a writer's pause between two writes.
	// Default: 10ms
	WriteEvery time.Duration
	// ReadEvery is a reader's pause between two reads.
	// Default: 1ms
	ReadEvery time.Duration
	// StaleAfter is how long after an acknowledgement another instance may
	// still return an older version (CheckOptions.StaleAfter).
	// Default: 50ms
	StaleAfter time.Duration
	// Settle bounds the wait after the load for both instances to answer
	// what the database holds.
	// Default: 10s
	Settle time.Duration
	// Progress, when set, is called about every 200ms while the run goes.
	Progress func(Progress)
}

func (o Options) withDefaults() Options {
	o.Duration = cmp.Or(o.Duration, 10*time.Second)
	o.Files = cmp.Or(o.Files, 32)
	o.Writers = cmp.Or(o.Writers, 2)
	o.Readers = cmp.Or(o.Readers, 4)
	o.WriteEvery = cmp.Or(o.WriteEvery, 10*time.Millisecond)
	o.ReadEvery = cmp.Or(o.ReadEvery, time.Millisecond)
	o.StaleAfter = cmp.Or(o.StaleAfter, DefaultStaleAfter)
	o.Settle = cmp.Or(o.Settle, 10*time.Second)
	return o
}

// Progress is where a run is.
type Progress struct {
	Phase    string        // "load", "fault", "recovery", "settle"
	Elapsed  time.Duration // of the load
	Duration time.Duration // planned for the load
	Reads    int64
	Writes   int64
}
