package audit_test

import (
	"testing"

	"github.com/filecache/filecache/audit"
)

// BenchmarkCheck measures one check of a consistent cached file (a Redis
// GET and a PostgreSQL read): the whole cost of one sample, so that the
// cost of the auditor at rate r is r times this per second.
func BenchmarkCheck(b *testing.B) {
	e := newEnv(b)
	f := e.createCached(b, 1)[0]
	a := e.auditor(b, audit.Options{})
	key := e.cache.Keyspace().Prefix + "file:" + f.ID
	b.ReportAllocs()
	for b.Loop() {
		if r, err := a.Check(b.Context(), key); r != audit.Consistent {
			b.Fatalf("Check = %v, %v", r, err)
		}
	}
}
