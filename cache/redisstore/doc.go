// Package redisstore is a cache.Store on Redis through
// github.com/redis/rueidis: one client for a standalone server, a Sentinel
// deployment or a Cluster, with auto-pipelining, per-attempt timeouts, and
// retries with exponential backoff.
//
//	opts, err := redisstore.ParseURL("redis://:secret@127.0.0.1:6379/0")
//	store, err := redisstore.New(ctx, opts)
//	defer store.Close()
//	c, err := cache.New(store, cache.Options{Prefix: "app:"})
//
// Batch operations pipeline one command per key, so keys may hash to
// different Cluster slots. DeletePattern walks every master with SCAN and
// UNLINKs in batches. Leases use SET NX GET PX and a one-key Lua script, so
// they are atomic and Cluster-safe.
//
// A Store is safe for concurrent use.
package redisstore
