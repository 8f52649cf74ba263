package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// DefaultMaxKeyPart is the default length in bytes above which a key part is
// replaced by its hash.
const DefaultMaxKeyPart = 128

// hashMark starts a hashed key part. A part that itself starts with it is
// hashed too, so that no user-supplied part can pose as the hash of another.
const hashMark = "#"

// Keyspace builds the keys of a Cache: Prefix, the family name, a colon and
// the part (an id, an IP, a date, a query hash). The zero value is usable.
type Keyspace struct {
	// Prefix goes before every key, e.g. "app1:". Default: none.
	Prefix string
	// MaxPart is the longest part kept verbatim, in bytes; a longer one is
	// replaced by "#" and the hex SHA-256 of the part.
	// Default: DefaultMaxKeyPart.
	MaxPart int
}

// Key returns the key of part in family. It fails with ErrInvalidKey when part
// is empty, is not valid UTF-8 or holds a control character.
func (k Keyspace) Key(family, part string) (string, error) {
	p, err := k.normalize(part)
	if err != nil {
		return "", err
	}
	return k.Prefix + family + ":" + p, nil
}

// Pattern returns a Redis glob that matches the keys of family whose part
// matches partGlob. The prefix and family are escaped, so the pattern never
// reaches outside the family; partGlob is used as is: escape user-supplied
// text in it with EscapeGlob.
func (k Keyspace) Pattern(family, partGlob string) string {
	return EscapeGlob(k.Prefix+family+":") + partGlob
}

func (k Keyspace) normalize(part string) (string, error) {
	if part == "" {
		return "", fmt.Errorf("%w: empty part", ErrInvalidKey)
	}
	max := k.MaxPart
	if max <= 0 {
		max = DefaultMaxKeyPart
	}
	if len(part) <= max && part[0] != hashMark[0] && printableASCII(part) {
		return part, nil // the common case: ids, IPs, dates, hashes
	}
	if !utf8.ValidString(part) {
		return "", fmt.Errorf("%w: part is not valid UTF-8", ErrInvalidKey)
	}
	if strings.IndexFunc(part, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("%w: part holds a control character", ErrInvalidKey)
	}
	if len(part) > max || strings.HasPrefix(part, hashMark) {
		return hashPart(part), nil
	}
	return part, nil
}

// hashPart returns the hashed form of a key part: "#" and its hex SHA-256.
func hashPart(part string) string {
	sum := sha256.Sum256([]byte(part))
	return hashMark + hex.EncodeToString(sum[:])
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// validFamily reports whether name can name a family: lower-case letters,
// digits, '_', '-' and ':' separators, so that no family name is a glob.
func validFamily(name string) bool {
	if name == "" || len(name) > 64 || name[0] == ':' || name[len(name)-1] == ':' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-', c == ':':
		default:
			return false
		}
	}
	return true
}

// EscapeGlob escapes the Redis glob metacharacters *, ?, [, ] and \ in s, so
// that s matches only itself inside a pattern.
func EscapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\`) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// MatchGlob reports whether s matches the Redis glob pattern, with the
// semantics of Redis' KEYS and SCAN MATCH: * any run of bytes, ? one byte,
// [abc], [^abc] and [a-z] classes, and \ escaping the next byte. It follows
// Redis' own matcher (stringmatchlen in util.c) step by step, corner cases
// included: an unclosed class, a range whose end is ']', a range between
// bytes above 0x7f (compared as signed chars, as Redis does on x86-64 and
// arm64 Linux). cache/redisstore's FuzzMatchGlobRedis holds it against a
// real redis-server.
func MatchGlob(pattern, s string) bool {
	if pattern == "*" {
		return true // KEYS and SCAN match every key without the matcher
	}
	skip := false
	return matchGlob(pattern, s, &skip, 0)
}

// matchGlobMaxNesting is Redis' protection against abusive patterns: a
// deeper recursion does not match.
const matchGlobMaxNesting = 1000

func matchGlob(p, s string, skipLonger *bool, nesting int) bool {
	if nesting > matchGlobMaxNesting {
		return false
	}
	// at returns p[i], or 0 past its end: Redis reads the NUL that ends
	// its strings.
	at := func(p string, i int) byte {
		if i < len(p) {
			return p[i]
		}
		return 0
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 0 && at(p, 1) == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if matchGlob(p[1:], s, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			s = s[1:]
		case '[':
			p = p[1:]
			not := at(p, 0) == '^'
			if not {
				p = p[1:]
			}
			match := false
			for {
				if at(p, 0) == '\\' && len(p) >= 2 {
					p = p[1:]
					if p[0] == s[0] {
						match = true
					}
				} else if at(p, 0) == ']' {
					break
				} else if len(p) == 0 {
					// An unclosed class: Redis steps back so that the
					// step after the switch ends the pattern.
					p = " " // one byte, consumed below
					break
				} else if len(p) >= 3 && p[1] == '-' {
					start, end, c := int8(p[0]), int8(p[2]), int8(s[0])
					if start > end {
						start, end = end, start
					}
					p = p[2:]
					if c >= start && c <= end {
						match = true
					}
				} else if p[0] == s[0] {
					match = true
				}
				p = p[1:]
			}
			if not {
				match = !match
			}
			if !match {
				return false
			}
			s = s[1:]
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if p[0] != s[0] {
				return false
			}
			s = s[1:]
		}
		p = p[1:]
		if len(s) == 0 {
			for at(p, 0) == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}
