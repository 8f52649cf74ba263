package consistency

import "time"

// Value is what a file held as one read or write saw it: its version and
// its name, which every write of the load makes unique. Version 0 is "not
// found".
type Value struct {
	Version int64
	Name    string
}

// Write is one create or update sent to an instance.
type Write struct {
	File     string
	Instance string // the instance that was asked
	Writer   string
	// Start and End are when the request was sent and its answer arrived,
	// since the beginning of the run. End is the acknowledgement.
	Start, End time.Duration
	Value      Value // what the write stores
	// Acked is true when the instance answered with success. A write that
	// failed or timed out may still have committed: its value counts as
	// produced, but it sets no deadline for readers.
	Acked bool
}

// Read is one GET of a file.
type Read struct {
	// Reader is one client of one instance; its reads are sequential.
	Reader   string
	Instance string
	File     string
	// Start and End are when the request was sent and its answer arrived,
	// since the beginning of the run.
	Start, End time.Duration
	// Status is the HTTP status, or 0 when no answer came. Only 200 (a
	// value) and 404 (Version 0) are judged.
	Status int
	Value  Value
	Cache  string // the X-Cache header
}

// answered reports whether the read returned something to judge.
func (r Read) answered() bool { return r.Status == 200 || r.Status == 404 }

// History is everything a run observed.
type History struct {
	Writes []Write
	Reads  []Read // during the load
	// Final holds the reads made on every instance after the load, one per
	// file and instance.
	Final []Read
	// Database is each file's value in the database after the load.
	Database map[string]Value
	// Settle is how long after the load the Final reads were made.
	Settle time.Duration
}
