package files

import "errors"

// ErrNotFound is returned by a Repository when no file has the requested id.
var ErrNotFound = errors.New("files: not found")

// ErrVersionMismatch is returned by Tx.UpdateFile when the caller asked for a
// specific version (If-Match) and the file has moved on to another one.
var ErrVersionMismatch = errors.New("files: version mismatch")

// ErrConflict is returned by Tx.CreateFile when a file with the same id
// already exists.
var ErrConflict = errors.New("files: conflict")

// ErrInvalid matches every *ValidationError: errors.Is(err, ErrInvalid)
// reports whether err is the caller's fault (HTTP 400).
var ErrInvalid = errors.New("files: invalid input")

// ErrBadCursor is returned by Repository.SearchFiles when SearchQuery.Cursor
// was not produced by a previous search (it is malformed or tampered with).
// It always arrives wrapped in a *ValidationError whose Field is "cursor".
var ErrBadCursor = errors.New("files: bad cursor")

// ValidationError reports an input that breaks a rule of the API. Field is
// the JSON name of the offending field ("name", "tags", "limit", "id", ...);
// Message says what is wrong in words fit for a client.
type ValidationError struct {
	Field   string
	Message string
	// Err optionally names a more specific sentinel, such as ErrBadCursor,
	// that errors.Is finds through Unwrap.
	Err error
}

// Error returns "invalid FIELD: MESSAGE".
func (e *ValidationError) Error() string {
	return "invalid " + e.Field + ": " + e.Message
}

// Unwrap returns the more specific sentinel, if any.
func (e *ValidationError) Unwrap() error { return e.Err }

// Is reports whether target is ErrInvalid, so that every ValidationError
// matches errors.Is(err, ErrInvalid).
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, msg string) *ValidationError {
	return &ValidationError{Field: field, Message: msg}
}
