// Package outbox delivers the cache invalidations of committed writes, the
// transactional outbox pattern: a write inserts its Invalidation into the
// outbox in its own SQL transaction; after commit the writer delivers it
// (deletes the keys and tags in the cache) and hands the entry to the Relay,
// which marks it done in batches. What a writer could not deliver, because
// the cache was unreachable from it or it died between commit and delivery,
// the Relay of any process delivers:
//
//	r := outbox.NewRelay(store, deliver, outbox.Options{})
//	go r.Run(ctx)          // polls, listens, marks done, prunes
//	id, _ := tx.Enqueue(ctx, inv) // in the write's transaction
//	if err := deliver(ctx, inv); err != nil {
//		r.Failed(ctx, id) // every process delivers it at once
//	} else {
//		r.Delivered(id)
//	}
//
// A store that is a Notifier (PostgreSQL LISTEN/NOTIFY) wakes every relay
// when a writer fails to deliver, so that the stale window after an
// acknowledged write is the time until some process reaches the cache, not
// a poll interval. Pending reports whether this process may hold stale
// cache entries: from a failed delivery until a complete drain of the
// outbox (every process's entries) succeeds.
//
// An entry that cannot be decoded, or whose delivery the cache rejects
// (ErrPoison), is retried with backoff and then set aside (dead-lettered),
// counted in Stats, so that the relay moves on to the entries after it.
//
// A Relay is safe for concurrent use.
package outbox
