package breaker

import "github.com/filecache/filecache/cache"

var _ cache.StateReporter = (*Store)(nil)

// StoreState implements cache.StateReporter: the breaker's state ("closed",
// "half-open", "open"), recorded on the cache's spans.
func (s *Store) StoreState() string { return s.State().String() }
