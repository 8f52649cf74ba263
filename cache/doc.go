// Package cache is typed cache-aside over a byte Store: Redis (standalone,
// Sentinel, Cluster) through cache/redisstore, or process memory through
// cache/memstore.
//
// A Cache holds what its families share: the Store, the key prefix, leases
// and statistics. A Family[T] is one key family ("file:{id}",
// "user:{ip}", "stats:{date}") with its Codec (JSON by default) and its TTL
// policy (fixed, or per value with TTLFunc, always with jitter):
//
//	c, err := cache.New(store, cache.Options{Prefix: "app:"})
//	files, err := cache.NewFamily(c, "file", cache.FamilyOptions[File]{TTL: time.Hour})
//	f, err := files.GetOrLoad(ctx, id, func(ctx context.Context, id string) (File, error) {
//		return db.File(ctx, id)
//	})
//
// GetOrLoad is cache-aside with protection against stampedes and stale
// sets: within a process concurrent misses share one load (singleflight);
// across processes the first miss writes a lease marker into the key (SET NX
// GET PX) and stores its value only if the marker is still there (a one-key
// script), so a Delete that races with a load voids it. A loader's
// ErrNotFound can be cached briefly (NegativeTTL). A value that cannot be
// decoded is deleted and reported as a miss, never as an error.
//
// A family with Near keeps decoded values in process, so that a hit is a map
// lookup: over a Store that is a Notifier (redisstore with Redis
// server-assisted tracking) a change made by any process drops the entry,
// and a lost notification channel flushes the near cache. Families with Tags
// are invalidated together by InvalidateTags without walking the keyspace.
// Invalidate deletes keys, tags and patterns at once and publishes an Event
// when the Store is a Publisher.
//
// When the Store fails, Fetch answers from the loader within a budget of
// concurrent loads (Options.FallbackLimit, ErrOverloaded beyond); with
// FailSafe a value past its TTL is kept and served (OriginStale) when the
// loader fails. cache/breaker puts a circuit breaker in front of a Store.
//
// Values are stored in a small text envelope, "v:<expiry ms>:<payload>",
// readable with redis-cli. Every key is written with a TTL.
//
// Keys are built by Keyspace: a user-supplied part is validated (non-empty,
// UTF-8, no control characters) and replaced by its SHA-256 when longer than
// MaxKeyPart. Patterns escape user text with EscapeGlob, so an id can never
// widen a DeletePattern.
//
// The package imports no metrics library: Stats returns counters per family
// and an Observer receives the duration of every operation.
//
// A Cache and its Families are safe for concurrent use.
package cache
