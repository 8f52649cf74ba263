package cache

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PeekState is what a key holds, as Peek saw it.
type PeekState uint8

// The states of a peeked key.
const (
	// PeekAbsent: nothing is stored, or only an expired lease or "not
	// found": nothing a reader would be served.
	PeekAbsent PeekState = iota
	// PeekValue: a value, fresh or kept past its expiry (FailSafe), or the
	// value a lease was taken over.
	PeekValue
	// PeekNotFound: a cached "not found" before its expiry.
	PeekNotFound
	// PeekLease: a live lease with no value under it: a load is running.
	PeekLease
	// PeekCorrupt: bytes that are no envelope of this family (a reader
	// would delete them).
	PeekCorrupt
)

var peekStates = [...]string{"absent", "value", "not found", "lease", "corrupt"}

func (s PeekState) String() string {
	if int(s) < len(peekStates) {
		return peekStates[s]
	}
	return fmt.Sprintf("PeekState(%d)", s)
}

// Peeked is the content of a key as Peek saw it.
type Peeked[T any] struct {
	State PeekState
	// Value is the decoded value with PeekValue, else the zero T.
	Value T
	// Fresh reports a value before its logical expiry, not put back stale.
	Fresh bool
	// Expiry is the logical expiry of the value or the "not found".
	Expiry time.Time
	// Raw is the stored bytes (nil when nothing is stored): two peeks that
	// return the same Raw saw the same write.
	Raw []byte
}

// Peek reads key, a key of f (as built by Key), and decodes what it holds
// without any side effect: no statistics are counted, the near cache is
// neither read nor filled, a corrupt value is not deleted, nothing is
// loaded and no lease is taken. It is for observers (the consistency
// auditor) that must see the store as readers do without changing it.
func (f *Family[T]) Peek(ctx context.Context, key string) (Peeked[T], error) {
	var p Peeked[T]
	if !strings.HasPrefix(key, f.prefix) || len(key) == len(f.prefix) {
		return p, fmt.Errorf("%w: %q is not a key of family %s", ErrInvalidKey, key, f.name)
	}
	raw, err := f.c.store.Get(ctx, key)
	switch {
	case errors.Is(err, ErrNotFound):
		return p, nil
	case errors.Is(err, ErrWrongType):
		p.State = PeekCorrupt
		return p, nil
	case err != nil:
		return p, fmt.Errorf("cache: peek %s: %w", key, err)
	}
	p.Raw = raw
	s := f.decode(raw)
	switch s.view {
	case viewFresh, viewStale, viewThrottled:
		p.State = PeekValue
	case viewNotFound:
		p.State = PeekNotFound
		if env, err := parseEnvelope(raw); err == nil {
			p.Expiry = env.at
		}
		return p, nil
	case viewLeased, viewDead:
		// A lease, live or expired, may hold the value it was taken
		// over, which readers serve while the refresh runs; an expired
		// value or "not found" holds nothing a reader would be served.
		switch {
		case s.hasValue:
			p.State = PeekValue
		case s.view == viewLeased:
			p.State = PeekLease
			return p, nil
		default:
			return p, nil
		}
	default: // viewCorrupt; viewAbsent cannot happen with raw != nil
		p.State = PeekCorrupt
		return p, nil
	}
	p.Value, p.Fresh, p.Expiry = s.v, s.fresh, s.expiry
	return p, nil
}
