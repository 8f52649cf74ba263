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
// A file is cached as its record (file:{id}) and two views, each a family
// of its own: the info view of a download page (file:info:{id}) and the
// descriptive meta view (file:meta:{id}). Every write invalidates the three
// together, except downloads, which leave the meta view alone; downloads of
// one file are committed together and their invalidations coalesced (see
// Options.DownloadCoalesce), so that a popular file stays cached.
//
//	cat, err := catalog.New(repo, repo, c, catalog.Options{})
//	f, origin, err := cat.GetFile(ctx, id)
//	info, origin, err := cat.GetFileInfo(ctx, id)
//
// A Catalog is safe for concurrent use.
package catalog
