package config

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
)

// redacted is what a non-empty Secret prints as.
const redacted = "[redacted]"

// Secret is a string that must not be shown: it prints as "[redacted]"
// through fmt (every verb), encoding/json, encoding.TextMarshaler users and
// log/slog; an empty Secret prints as the empty string, so "unset" stays
// visible. Only [Secret.Reveal] returns the value.
type Secret string

// Reveal returns the secret itself. Call it only where the value is used
// (an AUTH command, a driver DSN, a constant-time compare).
func (s Secret) Reveal() string { return string(s) }

// String returns "[redacted]", or "" for an empty Secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString returns the same as String, so %#v hides the value too.
func (s Secret) GoString() string { return s.String() }

// Format implements [fmt.Formatter] so that no verb (%d, %x, ...) can reach
// the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), s.String())
}

// MarshalJSON encodes the redacted form.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// MarshalText returns the redacted form.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue implements [slog.LogValuer] with the redacted form.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// redactedPassword replaces a password in a URL.
const redactedPassword = "xxxxx"

// RedactURL returns rawURL with the password of its user info replaced by
// "xxxxx" (the user name is kept), as well as the value of every query
// parameter whose name contains "pass" (PostgreSQL's password=).
//
// It works on the text, not on a parsed URL, so that it also hides the
// password of a malformed URL: everything between "://" and the last "@"
// counts as user info, which covers passwords that contain unescaped
// '@', '/', '?' or '#'. Without "://", everything before the last "@" is
// replaced. A string without "@" keeps its user info untouched.
func RedactURL(rawURL string) string {
	s := rawURL
	if at := strings.LastIndexByte(s, '@'); at >= 0 {
		if i := strings.Index(s, "://"); i >= 0 && i < at {
			start := i + len("://")
			if colon := strings.IndexByte(s[start:at], ':'); colon >= 0 {
				s = s[:start+colon+1] + redactedPassword + s[at:]
			}
		} else {
			s = redactedPassword + s[at:]
		}
	}
	return redactQueryPasswords(s)
}

// redactQueryPasswords hides the values of query parameters named like
// "password" or "sslpassword".
func redactQueryPasswords(s string) string {
	q := strings.IndexByte(s, '?')
	if q < 0 {
		return s
	}
	head, query, frag := s[:q+1], s[q+1:], ""
	if h := strings.IndexByte(query, '#'); h >= 0 {
		query, frag = query[:h], query[h:]
	}
	parts := strings.Split(query, "&")
	for i, p := range parts {
		key, _, found := strings.Cut(p, "=")
		if found && strings.Contains(strings.ToLower(key), "pass") {
			parts[i] = key + "=" + redactedPassword
		}
	}
	return head + strings.Join(parts, "&") + frag
}

// VarError is one bad setting. The errors returned by [Load], [FromFlags]
// and [Config.Validate] join one VarError per problem; find them with
// [errors.As] on each joined error. Neither field ever holds a secret.
type VarError struct {
	// Var is the environment variable, or several comma-separated when
	// the problem is their combination.
	Var string
	// Reason says what is wrong, in words for an operator.
	Reason string
}

// Error returns "config: VAR: reason".
func (e *VarError) Error() string { return "config: " + e.Var + ": " + e.Reason }
