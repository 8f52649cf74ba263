// Package catalog is the file catalog of the filecache service: file
// metadata, searches, daily statistics, settings and per-IP sessions, read
// through the cache and written through the SQL repository.
//
// Reads are cache-aside with leases (cache.Family.Fetch). Every write changes
// the rows and records an outbox entry of the keys and tags to invalidate in
// the same transaction; after the commit the catalog invalidates them at once
// (so the writer's next read sees its write) and marks the entry done. An
// invalidation that fails stays in the outbox, and the Relay delivers it with
// retries. A rolled-back transaction leaves the cache untouched.
//
//	cat, err := catalog.New(repo, c, catalog.Options{})
//	f, origin, err := cat.GetFile(ctx, id)
//
// A Catalog is safe for concurrent use.
package catalog
