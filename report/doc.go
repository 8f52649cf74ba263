// Package report builds the cache efficiency report of filecache: what
// GET /admin/cache/report serves as JSON and `filecache report` prints as
// tables.
//
//	rep, err := report.Build(ctx, redisStore.Client(), report.Options{
//		Prefix: "app:",
//		Stats:  c.Stats(),
//	})
//	err = rep.WriteText(os.Stdout)
//
// The report holds:
//
//   - the hit ratio of each family, overall and per tier (near cache,
//     store), from the cache's own counters (Options.Stats: those of the
//     process that builds the report);
//   - from Redis INFO, read first so that the sampling below does not
//     count: per node role, memory, maxmemory and its policy, keys,
//     evictions and keyspace hits and misses, and their sum;
//   - per family, from one SCAN of the cache's keys on every master: the
//     key count, and over a bounded sample (Options.SampleKeys per family)
//     MEMORY USAGE, extrapolated to the key count, and the remaining TTL,
//     as a distribution in buckets;
//   - the hottest keys, from Options.HotKeys when the cache can tell, else
//     from OBJECT FREQ over the sample when the maxmemory-policy is an LFU
//     one, else marked unavailable;
//   - recommendations: a family with a low hit ratio (below
//     Options.LowHitRatio over at least MinLookups lookups), and a TTL
//     likely too short when its sampled keys also have little TTL left; a
//     maxmemory-policy other than allkeys-lru or allkeys-lfu; maxmemory 0
//     (unbounded); memory near maxmemory; evictions; keys without a TTL.
//
// SCAN walks the keyspace without blocking the server and stops after
// Options.MaxScanKeys keys per node, extrapolating the counts then. Build
// reads only; it is safe for concurrent use.
package report
