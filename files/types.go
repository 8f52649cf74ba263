package files

import (
	"fmt"
	"mime"
	"strings"
	"time"
	"unicode/utf8"
)

// UserSession is what the service remembers about a client IP: when it was
// first and last seen within the sliding session window, and how many
// requests it made.
type UserSession struct {
	IP        string    `json:"ip"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Requests  int64     `json:"requests"`
}

// FileStats is the activity of one UTC day. Date is written YYYY-MM-DD.
// UniqueIPs counts the distinct IPs that uploaded or downloaded that day.
type FileStats struct {
	Date          string `json:"date"`
	Uploads       int64  `json:"uploads"`
	Downloads     int64  `json:"downloads"`
	BytesUploaded int64  `json:"bytes_uploaded"`
	UniqueIPs     int64  `json:"unique_ips"`
}

// Defaults of SystemSettings.
const (
	// DefaultMaxFileSize is the default SystemSettings.MaxFileSize: MaxSize,
	// so that only an operator's setting narrows what API.md allows.
	DefaultMaxFileSize = MaxSize
	// MaxAllowedContentTypes is the most entries SystemSettings.AllowedContentTypes holds.
	MaxAllowedContentTypes = 256
	// MaxAnnouncementBytes is the longest SystemSettings.Announcement.
	MaxAnnouncementBytes = 1024
)

// SystemSettings are the knobs an operator turns at run time through
// PUT /v1/settings. A PUT replaces all of them.
type SystemSettings struct {
	// MaxFileSize is the largest file size, in bytes, a client may declare.
	// It must be between 1 and MaxSize.
	MaxFileSize int64 `json:"max_file_size"`
	// AllowedContentTypes lists the media types clients may declare, each
	// "type/subtype", "type/*" or "*/*", without parameters; case does not
	// matter. Empty allows every type.
	AllowedContentTypes []string `json:"allowed_content_types"`
	// MaintenanceMode, when true, asks the service to refuse writes.
	MaintenanceMode bool `json:"maintenance_mode"`
	// Announcement is a message for clients (a banner); empty for none.
	Announcement string `json:"announcement"`
	// UpdatedAt is when the settings were last put; zero for the defaults.
	UpdatedAt time.Time `json:"updated_at"`
}

// DefaultSettings returns the settings in force until an operator puts
// others: files up to DefaultMaxFileSize, every content type, no
// maintenance, no announcement.
func DefaultSettings() SystemSettings {
	return SystemSettings{
		MaxFileSize:         DefaultMaxFileSize,
		AllowedContentTypes: []string{},
	}
}

// Validate reports the first rule s breaks as a *ValidationError, or nil.
func (s SystemSettings) Validate() error {
	if s.MaxFileSize < 1 || s.MaxFileSize > MaxSize {
		return invalid("max_file_size", fmt.Sprintf("must be between 1 and %d", int64(MaxSize)))
	}
	if len(s.AllowedContentTypes) > MaxAllowedContentTypes {
		return invalid("allowed_content_types", fmt.Sprintf("must hold at most %d entries", MaxAllowedContentTypes))
	}
	for i, ct := range s.AllowedContentTypes {
		mt, params, err := mime.ParseMediaType(ct)
		major, minor, slash := strings.Cut(mt, "/")
		if err != nil || len(params) > 0 || !slash || major == "" || minor == "" || strings.TrimSpace(ct) != ct {
			return invalid("allowed_content_types", fmt.Sprintf("entry %d must be a media type such as \"image/png\" or \"image/*\"", i))
		}
	}
	if len(s.Announcement) > MaxAnnouncementBytes {
		return invalid("announcement", fmt.Sprintf("must be at most %d bytes", MaxAnnouncementBytes))
	}
	if !utf8.ValidString(s.Announcement) || strings.IndexByte(s.Announcement, 0) >= 0 {
		return invalid("announcement", "must be valid UTF-8 without NUL")
	}
	return nil
}

// AllowsContentType reports whether ct (which may carry parameters, as in
// "text/plain; charset=utf-8") is allowed by s.AllowedContentTypes. An empty
// list allows everything, including an empty ct; otherwise an empty or
// unparsable ct is not allowed.
func (s SystemSettings) AllowsContentType(ct string) bool {
	if len(s.AllowedContentTypes) == 0 {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	major, _, _ := strings.Cut(mt, "/")
	for _, a := range s.AllowedContentTypes {
		a = strings.ToLower(a)
		if a == mt || a == major+"/*" || a == "*/*" {
			return true
		}
	}
	return false
}

// SearchQuery is a search of files: names containing Q (case-insensitive,
// matched literally: '%', '_' and '*' are ordinary characters) and, when Tag
// is set, carrying Tag. Empty Q and Tag match every file. Cursor continues a
// previous search from its SearchResult.NextCursor.
type SearchQuery struct {
	Q      string `json:"q"`
	Tag    string `json:"tag"`
	Limit  int    `json:"limit"`
	Cursor string `json:"cursor"`
}

// Normalize returns q with defaults filled in (Limit 0 becomes
// DefaultSearchLimit), the form to hash into a cache key.
func (q SearchQuery) Normalize() SearchQuery {
	if q.Limit == 0 {
		q.Limit = DefaultSearchLimit
	}
	return q
}

// Validate reports the first rule q breaks as a *ValidationError, or nil:
// Limit 0 (the default) or 1 to MaxSearchLimit; Q at most MaxQueryBytes of
// valid UTF-8 without NUL; Tag empty or a valid tag; Cursor at most
// MaxCursorBytes. Whether the cursor decodes is for the Repository to say
// (ErrBadCursor).
func (q SearchQuery) Validate() error {
	if q.Limit < 0 || q.Limit > MaxSearchLimit {
		return invalid("limit", fmt.Sprintf("must be between 1 and %d", MaxSearchLimit))
	}
	if len(q.Q) > MaxQueryBytes {
		return invalid("q", fmt.Sprintf("must be at most %d bytes", MaxQueryBytes))
	}
	if !utf8.ValidString(q.Q) || strings.IndexByte(q.Q, 0) >= 0 {
		return invalid("q", "must be valid UTF-8 without NUL")
	}
	if q.Tag != "" {
		if err := validateTag("tag", q.Tag); err != nil {
			return err
		}
	}
	if len(q.Cursor) > MaxCursorBytes {
		return &ValidationError{Field: "cursor", Message: "is too long", Err: ErrBadCursor}
	}
	return nil
}

// SearchResult is one page of a search, newest files first. NextCursor is
// empty on the last page. Items is never nil when returned by a Repository.
type SearchResult struct {
	Items      []FileMetadata `json:"items"`
	NextCursor string         `json:"next_cursor"`
}
