package catalog

import (
	"cmp"
	"fmt"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/defaults"
)

// Defaults of Loading, for a file-metadata service: a reader with a stale
// value at hand waits at most a tenth of a second for the database; a
// failing database is asked again for a key every ten seconds; a hot value
// is refreshed in the last tenth of its TTL so that it never expires under
// its readers.
const (
	DefaultSoftTimeout      = 100 * time.Millisecond
	DefaultFailSafeThrottle = 10 * time.Second
	DefaultEagerRefresh     = 0.9
)

// Loading tunes how the catalog's cached families load and serve stale
// values (see cache.FamilyOptions). Zero fields mean the defaults, negative
// ones turn the setting off.
type Loading struct {
	// SoftTimeout bounds how long a read waits for a refresh when a stale
	// value is at hand (FailSafe). Default: DefaultSoftTimeout.
	SoftTimeout time.Duration
	// HardTimeout bounds one load; it must not exceed the cache's
	// LeaseTTL. Default: the cache's LeaseTTL (cache.DefaultLeaseTTL).
	HardTimeout time.Duration
	// FailSafeThrottle is how long a stale value is served without asking
	// the database again after a refresh failed.
	// Default: DefaultFailSafeThrottle.
	FailSafeThrottle time.Duration
	// EagerRefresh, below 1, refreshes a value read after this fraction of
	// its TTL, in the background. Default: DefaultEagerRefresh.
	EagerRefresh float64
}

// validate reports a setting out of range.
func (l Loading) validate() error {
	if l.FailSafeThrottle < 0 || l.HardTimeout < 0 {
		return fmt.Errorf("catalog: FailSafeThrottle %v and HardTimeout %v must not be negative", l.FailSafeThrottle, l.HardTimeout)
	}
	if l.EagerRefresh >= 1 {
		return fmt.Errorf("catalog: EagerRefresh %v must be below 1", l.EagerRefresh)
	}
	return nil
}

// withDefaults returns l with its defaults filled in and "off" as zero, as
// cache.FamilyOptions takes them.
func (l Loading) withDefaults() Loading {
	defaults.OrOff(&l.SoftTimeout, DefaultSoftTimeout)
	l.FailSafeThrottle = cmp.Or(l.FailSafeThrottle, DefaultFailSafeThrottle)
	defaults.OrOff(&l.EagerRefresh, DefaultEagerRefresh)
	return l
}

// cached returns the options of a cached family of the catalog: base with
// the fail-safe and loading settings.
func cached[T any](o Options, base cache.FamilyOptions[T]) cache.FamilyOptions[T] {
	base.FailSafe = o.FailSafe
	base.SoftTimeout = o.Loading.SoftTimeout
	base.HardTimeout = o.Loading.HardTimeout
	base.FailSafeThrottle = o.Loading.FailSafeThrottle
	base.EagerRefresh = o.Loading.EagerRefresh
	base.Near = true
	return base
}
