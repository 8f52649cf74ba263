package files

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits of the API. They are constants, not settings: the database schema
// and the cache keys rely on them.
const (
	// MaxNameBytes is the longest file name, in bytes.
	MaxNameBytes = 255
	// MaxSize is the largest file size accepted, in bytes (1 PiB).
	MaxSize = 1 << 50
	// MaxContentTypeBytes is the longest content type, in bytes.
	MaxContentTypeBytes = 255
	// ChecksumLen is the length of a checksum: a SHA-256 in lowercase hex.
	ChecksumLen = 64
	// MaxTags is the most tags a file can carry.
	MaxTags = 32
	// MaxTagRunes is the longest tag, in characters (runes).
	MaxTagRunes = 64
	// DefaultSearchLimit is the page size of a search that names none.
	DefaultSearchLimit = 50
	// MaxSearchLimit is the largest page size of a search.
	MaxSearchLimit = 200
	// MaxQueryBytes is the longest search text: a longer one could match no
	// name.
	MaxQueryBytes = MaxNameBytes
	// MaxCursorBytes is the longest cursor accepted.
	MaxCursorBytes = 512
	// DateLayout is the layout of a day in URLs and FileStats.Date.
	DateLayout = "2006-01-02"
)

// ValidateID reports whether id is a UUID in canonical form (8-4-4-4-12
// lowercase hex digits). Any other spelling, including upper case, braces or
// a "urn:uuid:" prefix, is a *ValidationError with Field "id", so that one
// file never has two cache keys.
//
// It does not allocate for a valid id: the catalog checks every id it is
// given, on the path of near-cache hits too.
func ValidateID(id string) error {
	if len(id) != 36 {
		return invalid("id", "must be a UUID in canonical lowercase form")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
		if i == 8 || i == 13 || i == 18 || i == 23 {
			ok = c == '-'
		}
		if !ok {
			return invalid("id", "must be a UUID in canonical lowercase form")
		}
	}
	return nil
}

// ValidateName reports whether name is an acceptable file name: 1 to
// MaxNameBytes bytes of valid UTF-8 with no control characters (NUL
// included), no path separator ('/' or '\') and not "." or "..".
func ValidateName(name string) error {
	switch {
	case name == "":
		return invalid("name", "must not be empty")
	case len(name) > MaxNameBytes:
		return invalid("name", fmt.Sprintf("must be at most %d bytes", MaxNameBytes))
	case !utf8.ValidString(name):
		return invalid("name", "must be valid UTF-8")
	case strings.ContainsAny(name, `/\`):
		return invalid("name", "must not contain a path separator")
	case name == "." || name == "..":
		return invalid("name", `must not be "." or ".."`)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return invalid("name", "must not contain control characters")
	}
	return nil
}

// ValidateSize reports whether size is between 0 and MaxSize.
func ValidateSize(size int64) error {
	if size < 0 || size > MaxSize {
		return invalid("size", fmt.Sprintf("must be between 0 and %d", int64(MaxSize)))
	}
	return nil
}

// ValidateContentType reports whether ct is acceptable: empty, or at most
// MaxContentTypeBytes of printable ASCII (a media type such as
// "application/pdf" or "text/plain; charset=utf-8").
func ValidateContentType(ct string) error {
	if len(ct) > MaxContentTypeBytes {
		return invalid("content_type", fmt.Sprintf("must be at most %d bytes", MaxContentTypeBytes))
	}
	for i := 0; i < len(ct); i++ {
		if c := ct[i]; c < 0x20 || c > 0x7e {
			return invalid("content_type", "must be printable ASCII")
		}
	}
	return nil
}

// ValidateChecksum reports whether sum is empty (no checksum) or ChecksumLen
// lowercase hex digits (a SHA-256).
func ValidateChecksum(sum string) error {
	if sum == "" {
		return nil
	}
	if len(sum) != ChecksumLen {
		return invalid("checksum", fmt.Sprintf("must be %d lowercase hex digits", ChecksumLen))
	}
	for i := 0; i < len(sum); i++ {
		if c := sum[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return invalid("checksum", fmt.Sprintf("must be %d lowercase hex digits", ChecksumLen))
		}
	}
	return nil
}

// ValidateTags reports whether tags has at most MaxTags entries and each is
// a valid tag: 1 to MaxTagRunes characters of valid UTF-8 with no control
// characters. Duplicates are allowed; a store keeps one of each.
func ValidateTags(tags []string) error {
	if len(tags) > MaxTags {
		return invalid("tags", fmt.Sprintf("must hold at most %d tags", MaxTags))
	}
	for i, t := range tags {
		if err := validateTag("tags", t); err != nil {
			err.Message = fmt.Sprintf("tag %d %s", i, err.Message)
			return err
		}
	}
	return nil
}

func validateTag(field, tag string) *ValidationError {
	switch {
	case tag == "":
		return invalid(field, "must not be empty")
	case !utf8.ValidString(tag):
		return invalid(field, "must be valid UTF-8")
	case utf8.RuneCountInString(tag) > MaxTagRunes:
		return invalid(field, fmt.Sprintf("must be at most %d characters", MaxTagRunes))
	case strings.IndexFunc(tag, unicode.IsControl) >= 0:
		return invalid(field, "must not contain control characters")
	}
	return nil
}

// ParseDate parses a day written as YYYY-MM-DD and returns its midnight in
// UTC. Anything else is a *ValidationError with Field "date".
func ParseDate(s string) (time.Time, error) {
	if len(s) != len(DateLayout) {
		return time.Time{}, invalid("date", "must be a date written YYYY-MM-DD")
	}
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, invalid("date", "must be a date written YYYY-MM-DD")
	}
	return t, nil
}

// Day returns the UTC day of t written as YYYY-MM-DD: the key of daily
// statistics.
func Day(t time.Time) string {
	return t.UTC().Format(DateLayout)
}
