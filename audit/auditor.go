package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/outbox"
	"github.com/redis/rueidis"
	"golang.org/x/time/rate"
)

// Defaults of Options.
const (
	// DefaultRate is the default Options.Rate: one database read a second.
	DefaultRate = 1.0
	// DefaultLogInterval is the default Options.LogInterval.
	DefaultLogInterval = time.Minute
	// DefaultPendingLimit is the default Options.PendingLimit.
	DefaultPendingLimit = 1000
	// DefaultScanCount is the default Options.ScanCount.
	DefaultScanCount = 100
	// DefaultMaxFollowUps is the default Options.MaxFollowUps.
	DefaultMaxFollowUps = 10000
	// DefaultTimeout is the default Options.Timeout.
	DefaultTimeout = 5 * time.Second
)

// ReasonAudit is the reason of the invalidations that repair
// inconsistencies (cache.Invalidation.Reason).
const ReasonAudit = "audit"

// DefaultFollowUps returns the default Options.FollowUps: 1 s, 10 s and
// 60 s after a write.
func DefaultFollowUps() []time.Duration {
	return []time.Duration{time.Second, 10 * time.Second, time.Minute}
}

// ErrNotAudited is returned by Check for a key of no audited family.
var ErrNotAudited = errors.New("audit: the key belongs to no audited family")

// Options tunes an Auditor. The zero value of every field means its
// default.
type Options struct {
	// Rate bounds the database reads of Run, per second: a sample that
	// finds an entry costs one, the confirmation of a suspected mismatch
	// one more, and follow-ups of writes share the budget (they get at
	// most half of it). Negative turns Run off. Default: DefaultRate.
	Rate float64
	// FollowUps are the delays after a write (an invalidation event) at
	// which its keys are checked again. Default: DefaultFollowUps().
	FollowUps []time.Duration
	// MaxFollowUps bounds the follow-up checks waiting for their time;
	// writes beyond it are not followed (SkipQueueFull). Default:
	// DefaultMaxFollowUps.
	MaxFollowUps int
	// LogInterval is the window of the inconsistency log: the first
	// inconsistency of a window is logged at once, the others of the
	// window in one line when it ends. Default: DefaultLogInterval.
	LogInterval time.Duration
	// PendingLimit is how many pending outbox entries are read to find a
	// write in flight; a backlog that long is taken to explain any
	// mismatch. Default: DefaultPendingLimit.
	PendingLimit int
	// ScanCount is the COUNT hint of the SCAN that walks the keys.
	// Default: DefaultScanCount.
	ScanCount int
	// Timeout bounds one check of a key. Default: DefaultTimeout.
	Timeout time.Duration
	// Logger receives the inconsistencies. Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Masters is the Redis deployment whose keys the auditor walks: a
// *redisstore.Store.
type Masters interface {
	// Masters returns a client per master node.
	Masters(ctx context.Context) (map[string]rueidis.Client, error)
}

// Outbox tells writes in flight: an outbox.Store (files/sqlstore).
type Outbox interface {
	// Pending returns up to limit undelivered entries created before
	// createdBefore, oldest first.
	Pending(ctx context.Context, limit int, createdBefore time.Time) ([]outbox.Entry, error)
}

// Finding is one inconsistency.
type Finding struct {
	Family string
	Key    string // the key in the store
	// Cached and Database say what each side held (Verdict).
	Cached, Database string
	// Age is how long after the database changed the cache still held the
	// old copy; AgeKnown is false when the change time is unknown.
	Age      time.Duration
	AgeKnown bool
	// Repaired reports that the entry was deleted.
	Repaired bool
	Found    time.Time
}

// AgeBucket returns the label of f's age bucket (see AgeBuckets).
func (f Finding) AgeBucket() string { return ageBuckets[ageBucket(f.Age, f.AgeKnown)].label }

// Auditor checks cached entries against the database: a sampler that
// walks the keyspace at Options.Rate, follow-ups of writes, and full
// passes (Pass). It is safe for concurrent use.
type Auditor struct {
	cache    *cache.Cache
	masters  Masters // nil: nothing to walk, no events
	outbox   Outbox  // nil: no writes in flight to look for
	families []*Family
	order    []string // family names, sorted
	pattern  string   // SCAN MATCH of the cache's keys
	opts     Options
	now      func() time.Time
	limit    *rate.Limiter // the database reads of Run; nil: Run is off
	admit    *rate.Limiter // writes followed
	stats    *counters
	logs     *findingLog
	queue    *followQueue
	walker   *walker
}

// New returns an Auditor of the families of c. masters walks the keys and
// carries the invalidation events (nil without Redis: Run then does
// nothing, Pass fails); ob tells writes in flight (nil: only a change of
// the entry during its check does).
func New(c *cache.Cache, masters Masters, ob Outbox, families []Family, opts Options) (*Auditor, error) {
	if c == nil {
		return nil, errors.New("audit: nil cache")
	}
	if opts.Rate == 0 {
		opts.Rate = DefaultRate
	}
	if opts.FollowUps == nil {
		opts.FollowUps = DefaultFollowUps()
	}
	for _, d := range opts.FollowUps {
		if d <= 0 {
			return nil, fmt.Errorf("audit: follow-up delay %v must be positive", d)
		}
	}
	if opts.MaxFollowUps < 0 || opts.LogInterval < 0 || opts.PendingLimit < 0 || opts.ScanCount < 0 || opts.Timeout < 0 {
		return nil, errors.New("audit: MaxFollowUps, LogInterval, PendingLimit, ScanCount and Timeout must be >= 0")
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&opts.MaxFollowUps, DefaultMaxFollowUps)
	def(&opts.PendingLimit, DefaultPendingLimit)
	def(&opts.ScanCount, DefaultScanCount)
	if opts.LogInterval == 0 {
		opts.LogInterval = DefaultLogInterval
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &Auditor{
		cache: c, masters: masters, outbox: ob, opts: opts, now: opts.Now,
		pattern: cache.EscapeGlob(c.Keyspace().Prefix) + "*",
		stats:   newCounters(families, opts.FollowUps),
		logs:    &findingLog{log: opts.Logger, interval: opts.LogInterval},
		queue:   &followQueue{max: opts.MaxFollowUps},
	}
	seen := map[string]bool{}
	for _, f := range families {
		if f.check == nil {
			return nil, errors.New("audit: a Family must be made by Versioned, Compared or Checked")
		}
		if seen[f.name] {
			return nil, fmt.Errorf("audit: family %s registered twice", f.name)
		}
		seen[f.name] = true
		a.families = append(a.families, &f)
		a.order = append(a.order, f.name)
	}
	slices.Sort(a.order)
	if opts.Rate > 0 {
		a.limit = rate.NewLimiter(rate.Limit(opts.Rate), 1)
		if n := len(opts.FollowUps); n > 0 {
			// A followed write costs len(FollowUps) checks: at most half
			// the budget goes to follow-ups.
			a.admit = rate.NewLimiter(rate.Limit(opts.Rate/float64(2*n)), 1)
		}
	}
	if masters != nil {
		a.walker = &walker{masters: masters, pattern: a.pattern, count: int64(opts.ScanCount), keep: a.audited, walks: &a.stats.walks}
	}
	return a, nil
}

// Stats returns a snapshot of the auditor's figures. Its Rate is 0 when
// Run does not sample (Rate negative, or no Redis).
func (a *Auditor) Stats() Stats {
	r := a.opts.Rate
	if a.limit == nil || a.masters == nil {
		r = 0
	}
	return a.stats.snapshot(r, a.order)
}

// familyOf returns the audited family of key and the id it names, or nil.
// The cache says which family a key belongs to, so that the key of a view
// that is not audited ("file:meta:1") is never taken for an audited
// family's ("meta:1" of "file").
func (a *Auditor) familyOf(key string) (*Family, string) {
	name, id, ok := a.cache.FamilyOf(key)
	if !ok {
		return nil, ""
	}
	for _, f := range a.families {
		if f.name == name {
			return f, id
		}
	}
	return nil, ""
}

// audited reports whether key is worth a check: a key of an audited family
// whose id is not hashed.
func (a *Auditor) audited(key string) bool {
	f, id := a.familyOf(key)
	if f == nil {
		return false
	}
	if strings.HasPrefix(id, "#") {
		a.stats.skip(SkipHashedKey)
		return false
	}
	return true
}

// Check audits key now, outside the rate bound, as a sample does: a
// mismatch that no write in flight explains is counted, logged and
// repaired. It returns ErrNotAudited for a key of no audited family, and
// the cause of a Failed result.
func (a *Auditor) Check(ctx context.Context, key string) (Result, error) {
	f, id := a.familyOf(key)
	if f == nil {
		return Failed, fmt.Errorf("%w: %q", ErrNotAudited, key)
	}
	r, _, err := a.check(ctx, f, key, id, nil, time.Time{})
	return r, err
}

// check audits key of f. It reads the cache without disturbing it, then the
// database; a mismatch is suspected, and confirmed only if the outbox holds
// no invalidation for the key and the cache still holds the same bytes:
// every write committed before the database read has then had its
// invalidation delivered (an entry is marked done after its delete), yet
// the old copy is still there. extra, if not nil, is waited on before the
// confirmation's database read (the rate budget). written, if known, is
// when the followed write happened: the change time when the family cannot
// tell one.
func (a *Auditor) check(ctx context.Context, f *Family, key, id string, extra *rate.Limiter, written time.Time) (Result, *Finding, error) {
	r, fd, err := a.compare(ctx, f, key, id, extra, written)
	if ctx.Err() != nil && r == Failed {
		return r, nil, err // shutting down: not a finding of the cache
	}
	fc := a.stats.families[f.name]
	fc.results[r].Add(1)
	if fd != nil {
		fc.inconsistent[ageBucket(fd.Age, fd.AgeKnown)].Add(1)
		if fd.AgeKnown {
			a.stats.noteAge(fd.Age)
		}
		if fd.Repaired {
			fc.repaired.Add(1)
		}
		a.logs.add(*fd)
	}
	return r, fd, err
}

func (a *Auditor) compare(parent context.Context, f *Family, key, id string, extra *rate.Limiter, written time.Time) (Result, *Finding, error) {
	ctx, cancel := context.WithTimeout(parent, a.opts.Timeout)
	defer cancel()
	fc := a.stats.families[f.name]
	first, err := f.peek(ctx, key)
	if err != nil {
		return Failed, nil, err
	}
	if !first.comparable() {
		return Empty, nil, nil
	}
	fc.reads.Add(1)
	v, err := f.check(ctx, id, first)
	if err != nil {
		return Failed, nil, fmt.Errorf("audit: %s: %w", key, err)
	}
	if v.Consistent {
		return Consistent, nil, nil
	}
	if extra != nil {
		// The wait is not part of the check's time.
		if err := extra.Wait(parent); err != nil {
			return Failed, nil, err
		}
		cancel()
		ctx, cancel = context.WithTimeout(parent, a.opts.Timeout)
		defer cancel()
	}
	if a.outbox != nil {
		fc.reads.Add(1)
		pending, err := a.writeInFlight(ctx, f, key)
		if err != nil {
			return Failed, nil, fmt.Errorf("audit: outbox: %w", err)
		}
		if pending {
			return InFlight, nil, nil
		}
	}
	second, err := f.peek(ctx, key)
	if err != nil {
		return Failed, nil, err
	}
	if !bytes.Equal(first.raw, second.raw) {
		return InFlight, nil, nil // deleted or replaced meanwhile
	}
	now := a.now()
	fd := &Finding{Family: f.name, Key: key, Cached: v.Cached, Database: v.Database, Found: now}
	changed := v.Changed
	if changed.IsZero() {
		changed = written
	}
	if !changed.IsZero() {
		fd.Age, fd.AgeKnown = max(now.Sub(changed), 0), true
	}
	_, err = a.cache.Invalidate(ctx, cache.Invalidation{Keys: []string{key}, Reason: ReasonAudit})
	fd.Repaired = err == nil
	if err != nil {
		err = fmt.Errorf("audit: repair %s: %w", key, err)
	}
	return Inconsistent, fd, err
}

// writeInFlight reports whether the outbox holds an undelivered
// invalidation of key (by key, or by a tag of its family).
func (a *Auditor) writeInFlight(ctx context.Context, f *Family, key string) (bool, error) {
	// Every entry, whatever its age: createdBefore is in the future.
	entries, err := a.outbox.Pending(ctx, a.opts.PendingLimit, a.now().Add(time.Hour))
	if err != nil {
		return false, err
	}
	if len(entries) >= a.opts.PendingLimit {
		return true, nil // a backlog this long can explain anything
	}
	for _, e := range entries {
		if slices.Contains(e.Keys, key) {
			return true, nil
		}
		for _, t := range f.tags {
			if slices.Contains(e.Tags, t) {
				return true, nil
			}
		}
	}
	return false, nil
}

// Run samples cached entries and follows writes until ctx ends: every
// 1/Rate seconds it checks the next due follow-up, or else the next key
// of the walk over the keyspace (SCAN on every master). It returns nil
// when ctx ends, at once if Rate is negative or there is no Redis. Call it
// once per Auditor.
func (a *Auditor) Run(ctx context.Context) error {
	if a.limit == nil || a.masters == nil {
		return nil
	}
	var wg sync.WaitGroup
	if a.admit != nil {
		wg.Go(func() { a.listen(ctx) })
	}
	defer func() {
		wg.Wait()
		a.logs.flush()
	}()
	for {
		if err := a.limit.Wait(ctx); err != nil {
			return nil
		}
		now := a.now()
		a.logs.tick(now)
		if fu, ok := a.queue.popDue(now); ok {
			a.followUp(ctx, fu)
			continue
		}
		key, err := a.walker.next(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			a.opts.Logger.Debug("audit: scan failed", "err", err)
		case key == "" && err == nil:
			a.stats.skip(SkipNoKey)
		case key != "":
			f, id := a.familyOf(key)
			_, _, _ = a.check(ctx, f, key, id, a.limit, time.Time{})
		}
	}
}
