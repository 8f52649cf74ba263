// Package memstore is a cache.Store in process memory, on
// github.com/maypok86/otter/v2: bounded, with per-entry TTLs and W-TinyLFU
// eviction.
//
// It is the embedded default of the filecache service when no Redis is
// configured, and a fast Store for tests:
//
//	store, err := memstore.New(memstore.Options{MaxEntries: 10_000})
//	c, err := cache.New(store, cache.Options{})
//
// A Store is safe for concurrent use. It is local to one process: instances
// do not share it.
package memstore
