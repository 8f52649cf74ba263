// Package backup saves the keys of a Redis cache (standalone, Sentinel or
// Cluster) to one file and restores them, with their remaining TTLs, into
// any Redis of the same or a newer version.
//
//	store, err := redisstore.New(ctx, opts)
//	st, err := backup.WriteFile(ctx, "cache.fcbk", store, backup.WriteOptions{Prefix: "fc:"})
//	...
//	st, err = backup.RestoreFile(ctx, "cache.fcbk", other, backup.RestoreOptions{})
//	fmt.Println(st.Restored, st.Expired, st.Existing, st.Failed)
//
// Write walks every master with SCAN MATCH (the prefix is escaped, so the
// pattern never reaches past it) and reads each batch of keys with one
// pipeline of PTTL and DUMP, routed by key slot in a Cluster. Keys that
// vanish between SCAN and DUMP are counted in Stats.Vanished. A backup is
// not a point-in-time snapshot: keys written while it runs may or may not be
// in it, and a key that SCAN returns twice (it may, while a hash table
// grows) is saved twice.
//
// The file (see format.go) is a header ("FCBK", version, creation time,
// source mode, pattern, Redis version), one record per key (key, absolute
// expiry in Unix milliseconds or 0, DUMP payload) and a trailer (record
// count and the SHA-256 of everything before it). The expiry is absolute so
// that a restore skips keys that expired since the backup and gives the
// others exactly the time they had left. WriteFile writes a temporary file
// and renames it when complete, so an interrupted backup never leaves a
// file that looks whole.
//
// Restore reads the file twice: first it verifies it all (magic, version,
// bounded lengths, record count, checksum) and refuses a truncated or
// corrupt file before it writes anything; then it pipelines RESTORE with
// the TTL left until each record's expiry, computed on the restoring host's
// clock just before each batch is sent (so the clocks of the Redis servers
// do not matter, only that the hosts that took and restore the backup
// agree). Keys that exist are skipped unless Replace is set. If Restore
// stops half-way, its error says so and how far it got.
//
// Reader and Writer give record-level access to the format. Reading never
// allocates much more than the data it has read, whatever the lengths in a
// corrupt file say.
//
// Write, Verify and Restore are safe to call concurrently on different
// writers and readers; a Reader or a Writer is not safe for concurrent use.
// Progress callbacks run on the caller's goroutine.
package backup
