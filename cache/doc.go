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
// # Loading
//
// GetOrLoad (and Fetch, which also says where the value came from) runs one
// load per key across every process, whatever the load's duration: within a
// process concurrent callers share one flight; across processes the lookup
// itself (SET NX GET) writes a lease marker into an absent key, and readers
// that find a lease wait for its value until the lease ends (woken by the
// store's change notifications, or polling); only a lease that ends
// unfulfilled lets another loader in. The loaded value is stored only if
// the marker is still there (a one-key script), so a Delete that races with
// a load voids it. Every caller returns at its own context's end; the load
// goes on, bounded by HardTimeout, and stores its value for the next
// caller. A loader that asks for its own key gets ErrReentrantLoad. A
// loader's ErrNotFound can be cached for NegativeTTL. A value that cannot
// be decoded, that Valid refuses, or that is of the wrong type in Redis is
// deleted and reported as a miss, never as an error.
//
// # Fail-safe and refresh
//
// With FailSafe a value is kept past its TTL, as stale. A read past the TTL
// takes the lease over the stale value, which stays in the lease marker, so
// that every caller on every process is served the stale value
// (OriginStale) while the refresh fails or takes longer than SoftTimeout;
// after a failure the stale value is put back for FailSafeThrottle, and the
// loader is not asked again meanwhile. A stale value is never deleted
// because a load failed. EagerRefresh refreshes a value read late in its
// TTL in the background, through the lease, while the current value keeps
// being served.
//
// # Near cache and invalidation
//
// A family with Near keeps decoded values in process, so that a hit is a map
// lookup: over a Store that is a Notifier (redisstore with Redis
// server-assisted tracking) a change made by any process drops the entry, a
// lost notification channel flushes the near cache, and over a Confirmer a
// channel that stops confirming itself (it hangs without closing) stops near
// hits within NearMaxLag. Families with Tags are invalidated together by
// InvalidateTags without walking the keyspace (the store is a Tagger).
// Invalidate deletes keys, tags and patterns at once and publishes an Event
// when the Store is a Publisher.
//
// # Failures
//
// When the Store fails, Fetch answers from the loader within a budget of
// concurrent loads (Options.FallbackLimit, ErrOverloaded beyond), one load
// per key. A store that answers with an error reply is not down: a key of
// the wrong type is dropped like a corrupt value, and a store out of memory
// (ErrNoMemory) makes the cache stop writing for RefusedWritesPause while
// reads go on. cache/breaker puts a circuit breaker in front of a Store that
// counts only unreachability.
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
