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
// [abc], [^abc] and [a-z] classes, and \ escaping the next byte.
func MatchGlob(pattern, s string) bool {
	// Iterative matching with one backtrack point for the last '*', which is
	// enough for glob patterns and bounds the work to O(len(pattern)*len(s)).
	px, sx := 0, 0
	starP, starS := -1, -1
	for sx < len(s) {
		if px < len(pattern) {
			switch pattern[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if ok, next := matchClass(pattern, px, s[sx]); ok {
					px, sx = next, sx+1
					continue
				}
			case '\\':
				if px+1 < len(pattern) {
					if pattern[px+1] == s[sx] {
						px, sx = px+2, sx+1
						continue
					}
				} else if s[sx] == '\\' {
					px, sx = px+1, sx+1
					continue
				}
			default:
				if pattern[px] == s[sx] {
					px, sx = px+1, sx+1
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		starS++
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// matchClass matches c against the class that starts at pattern[open] == '['
// and returns whether it matched and the index just after the class.
func matchClass(pattern string, open int, c byte) (bool, int) {
	i := open + 1
	negate := i < len(pattern) && pattern[i] == '^'
	if negate {
		i++
	}
	matched := false
	for i < len(pattern) && pattern[i] != ']' {
		switch {
		case pattern[i] == '\\' && i+1 < len(pattern):
			i++
			if pattern[i] == c {
				matched = true
			}
			i++
		case i+2 < len(pattern) && pattern[i+1] == '-' && pattern[i+2] != ']':
			lo, hi := pattern[i], pattern[i+2]
			if lo > hi {
				lo, hi = hi, lo
			}
			if c >= lo && c <= hi {
				matched = true
			}
			i += 3
		default:
			if pattern[i] == c {
				matched = true
			}
			i++
		}
	}
	// Like Redis, an unterminated class runs to the end of the pattern.
	next := i
	if i < len(pattern) {
		next = i + 1
	}
	return matched != negate, next
}
