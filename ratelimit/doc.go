// Package ratelimit limits requests per client in fixed windows shared by
// every instance through a Counter (Redis), without a round trip per
// request.
//
//	l, err := ratelimit.New(store, 600, ratelimit.Options{Keys: c.Keyspace()})
//	info, ok, err := l.Allow(ctx, clientIP)
//
// A client's window has limit numbered slots, counted in the Counter at
// "ratelimit:{client}". An instance takes slots a chunk at a time (one
// IncrBy of Options.Chunk: a reply of count means slots count-Chunk+1 to
// count are its own, those past the limit no one's) and spends them on the
// client's requests from memory. So, with I instances and a chunk of C:
//
//   - while the Counter answers, no more than the limit is admitted per
//     window, whatever I is: every admitted request spent its own slot;
//   - one instance alone admits exactly the limit;
//   - a request may be refused while up to (I-1)·(C-1) slots sit unspent in
//     other instances (the client is still admitted there);
//   - the Counter sees one IncrBy per C requests of a client, plus one per
//     client, instance and window;
//   - when the Counter fails (Redis down, an open breaker), the instance
//     counts the client alone until the window ends, with the slots it knew
//     were left: requests are still answered, and at most I times the limit
//     is admitted per window;
//   - as for any fixed window, up to twice the limit may be admitted across
//     the boundary of two windows.
//
// The RateLimit-* state is what the instance knows: Remaining is its
// unspent slots plus the slots nobody had reserved at its last reservation
// (exact for one instance), Reset the window's end as the Counter reported
// it, measured from before the call, so never later than the Counter's.
//
// State is kept per client in a bounded otter cache, dropped a window after
// the client's last request; a client evicted early for room loses its
// unspent slots (fewer admitted, never more while the Counter answers).
package ratelimit
