// Package audit measures the consistency of the cache with the database in
// production and repairs what it finds, after Meta's Polaris: no test can
// show that a deployment never serves data its database no longer holds,
// so an auditor inside every instance keeps checking.
//
// An Auditor checks keys three ways:
//
//   - sampling (Run): at Options.Rate database reads per second it walks
//     the cache's keys with SCAN on every master and checks them one by
//     one, so that at rate r a keyspace of n entries is covered every n/r
//     seconds;
//   - follow-ups (Run): for a sample of the writes announced on the
//     invalidation events channel, it checks their keys again 1 s, 10 s and
//     60 s later (Polaris' "consistent after t");
//   - a full pass (Pass, the "filecache audit" command): every key of the
//     chosen families, without the rate bound.
//
// A check reads the key without disturbing the cache (cache.Family.Peek:
// no statistics, no near cache, no deletion, no load), then the database
// (one read, by the family's Check). A mismatch is only suspected: it is
// an inconsistency if the outbox holds no undelivered invalidation of the
// key (one more read) and the key still holds the same bytes. A write in
// flight is thus never counted: its invalidation is either still in the
// outbox or has changed the entry. An inconsistency is counted by family
// and age (how long after the database changed: 0s, 1s, 10s, 60s or
// unknown, the bucket's lower bound), logged without a line per finding,
// and repaired by deleting the key through cache.Invalidate with reason
// "audit".
//
// Families are registered with a small adapter each:
//
//	a, err := audit.New(c, redisStore, repo, []audit.Family{
//		audit.Versioned(files, loadFile, func(f File) (int64, time.Time) { return f.Version, f.UpdatedAt }),
//		audit.Compared(settings, loadSettings, nil),
//	}, audit.Options{})
//	go a.Run(ctx)
//
// An Auditor is safe for concurrent use.
package audit
