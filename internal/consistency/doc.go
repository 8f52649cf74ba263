// Package consistency checks filecache's consistency promise from outside:
// a write acknowledged to a client is seen at once by later reads on the
// instance that acknowledged it, and within a few milliseconds on the
// others, through Redis outages too.
//
// Run starts two "filecache serve" processes on one fresh PostgreSQL schema
// and a private Redis (each instance reaching it through a TCP Proxy of its
// own, so that one can be cut off while the other still reaches it), drives
// writers and readers over HTTP on both, injects one Fault, and records
// every write and read in a History. Check judges a History without I/O:
//
//	res, err := consistency.Run(t, consistency.Faults()[1], consistency.Options{Binary: bin})
//	if err != nil { ... }
//	if !res.Report.OK() { t.Error(res.Report.Summary()) }
//
//	report := consistency.Check(history, consistency.CheckOptions{})
//
// Run takes a testing.TB because it builds on internal/redistest and
// internal/sqltest; cmd/fccheck runs it outside a test. Proxy and Check are
// safe for concurrent use; Run must be called from the goroutine that owns
// tb, as t.Fatal requires.
package consistency
