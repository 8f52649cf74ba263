// Package metrics exports the cache, the HTTP API and Redis to Prometheus
// on one injected *prometheus.Registry (never the global one).
//
//	m, err := metrics.New(metrics.Options{Logger: log, Redis: redisStore})
//	c, err := cache.New(store, cache.Options{Observer: m})
//	err = m.CollectCache(c)
//	h, err := httpapi.New(httpapi.Deps{..., Metrics: m.Handler()},
//		httpapi.Options{Observe: m.ObserveHTTP})
//	go m.Run(ctx) // Redis INFO poller and hit-ratio log, until ctx ends
//
// What it exports:
//
//   - Pull-style, read from Cache.Stats at scrape time: cache_hit_total
//     {family,tier} (tier "store" for FamilyStats.Hits, "near" for
//     NearHits), cache_miss_total, cache_load_total,
//     cache_load_errors_total, cache_lease_wait_total,
//     cache_corrupt_total, cache_store_errors_total (counters) and
//     cache_near_entries (gauge), all {family}; cache_near_flushes_total.
//     Any other integer field a later FamilyStats gains is exported too,
//     as the counter cache_<snake_case>_total{family} (unsigned) or the
//     gauge cache_<snake_case>{family} (signed), so a new counter such as
//     NearEvictions needs no change here.
//   - From the cache.Observer hook: cache_operation_duration_seconds
//     {operation,family} (histogram, 50µs to 0.8s) and
//     cache_errors_total{operation}. Cache-wide operations (Cache.Delete,
//     InvalidateTags) carry family="*".
//   - From the cache.InvalidationObserver hook (Cache.Invalidate):
//     cache_invalidation_total{kind,reason}, one per kind (key, tag,
//     pattern) of each invalidation applied, and
//     cache_invalidated_keys_total{kind,reason}, the keys it deleted.
//     Reasons are those the catalog gives: write, relay, admin.
//   - http_requests_total{method,route,status} and
//     http_request_duration_seconds{method,route} from ObserveHTTP; route
//     is the route pattern without its method ("/v1/files/{id}"), never a
//     raw path.
//   - When Options.Redis is set, per node of the deployment (every master
//     and replica of a Cluster), from INFO polled every RedisInfoInterval:
//     redis_up, redis_connected_clients, redis_used_memory_bytes,
//     redis_maxmemory_bytes, redis_keys, redis_evicted_keys_total,
//     redis_expired_keys_total, redis_keyspace_hits_total,
//     redis_keyspace_misses_total and redis_node_info{role,version,
//     maxmemory_policy} (all {node}); cache_store_retries_total from
//     Retries.
//   - Optional funcs of Options: cache_breaker_state (0 closed, 1
//     half-open, 2 open) and outbox_pending_entries,
//     outbox_oldest_pending_age_seconds.
//   - The Go and process collectors.
//
// Label values are bounded: families and operations come from code, routes
// from the routing table, nodes from the Redis topology; no key, id, path
// or IP is ever a label.
//
// A Metrics is safe for concurrent use.
package metrics
