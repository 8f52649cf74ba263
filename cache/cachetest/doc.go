// Package cachetest is the conformance suite of cache.Store: every Store
// implementation runs it from its own tests against a real backend.
//
//	func TestConformance(t *testing.T) {
//		cachetest.Run(t, func(t *testing.T) cache.Store { return newStore(t) })
//	}
//
// Run covers the byte-level contract (get, set with TTL and real expiry,
// batches across Cluster slots, pattern delete with escaped user text,
// SetNXGet and CompareAndSet under concurrency) and the cache built on it
// (get-or-load with singleflight and leases, races of loads with writes,
// corrupt values). Each subtest works under a key prefix of its own, so
// stores on a shared server do not see each other's keys.
package cachetest
