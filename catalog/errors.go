package catalog

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// notFound makes a repository's not-found answer a cache miss to remember.
func notFound(err error) error {
	if errors.Is(err, files.ErrNotFound) {
		return fmt.Errorf("%w: %w", files.ErrNotFound, cache.ErrNotFound)
	}
	return err
}

// fromCache maps the cache's not-found (which a cached negative answer
// carries alone) back to the domain's.
func fromCache(err error) error {
	if errors.Is(err, cache.ErrNotFound) && !errors.Is(err, files.ErrNotFound) {
		return files.ErrNotFound
	}
	return err
}

// unavailable marks a failure of the repository itself (not an answer such
// as "not found" or "version mismatch") as a temporary unavailability, which
// the HTTP layer answers with 503 and Retry-After.
type unavailable struct{ err error }

func (e unavailable) Error() string             { return "catalog: database unavailable: " + e.err.Error() }
func (e unavailable) Unwrap() error             { return e.err }
func (e unavailable) RetryAfter() time.Duration { return time.Second }

// classify wraps err in unavailable unless it is an answer of the domain,
// a cancellation, or already says when to retry.
func classify(err error) error {
	var ra interface{ RetryAfter() time.Duration }
	switch {
	case err == nil,
		errors.Is(err, files.ErrNotFound), errors.Is(err, files.ErrVersionMismatch),
		errors.Is(err, files.ErrConflict), errors.Is(err, files.ErrInvalid),
		errors.Is(err, cache.ErrNotFound), errors.Is(err, cache.ErrInvalidKey),
		errors.Is(err, context.Canceled), errors.As(err, &ra):
		return err
	}
	return unavailable{err}
}

// ErrMaintenance is returned for writes while the settings say
// maintenance_mode; it says when to retry.
var ErrMaintenance = errors.New("catalog: maintenance mode: writes are refused")

type maintenance struct{}

func (maintenance) Error() string             { return ErrMaintenance.Error() }
func (maintenance) Is(target error) bool      { return target == ErrMaintenance }
func (maintenance) RetryAfter() time.Duration { return time.Minute }
