package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestKeyspaceKey(t *testing.T) {
	long := strings.Repeat("x", 129)
	tests := []struct {
		name    string
		ks      Keyspace
		family  string
		part    string
		want    string
		wantErr error
	}{
		{"plain", Keyspace{}, "file", "42", "file:42", nil},
		{"prefix", Keyspace{Prefix: "app:"}, "file", "42", "app:file:42", nil},
		{"ip", Keyspace{}, "user", "203.0.113.7", "user:203.0.113.7", nil},
		{"glob chars kept in keys", Keyspace{}, "file", "a*b?[c]\\", "file:a*b?[c]\\", nil},
		{"at the limit", Keyspace{}, "search", strings.Repeat("x", 128), "search:" + strings.Repeat("x", 128), nil},
		{"over the limit is hashed", Keyspace{}, "search", long, "search:#" + sha(long), nil},
		{"custom limit", Keyspace{MaxPart: 4}, "f", "12345", "f:#" + sha("12345"), nil},
		{"hash mark is hashed", Keyspace{}, "f", "#abc", "f:#" + sha("#abc"), nil},
		{"empty", Keyspace{}, "file", "", "", ErrInvalidKey},
		{"invalid utf8", Keyspace{}, "file", "a\xffb", "", ErrInvalidKey},
		{"control char", Keyspace{}, "file", "a\nb", "", ErrInvalidKey},
		{"nul", Keyspace{}, "file", "a\x00", "", ErrInvalidKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ks.Key(tt.family, tt.part)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Key err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("Key = %q, want %q", got, tt.want)
			}
		})
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestKeyspacePattern(t *testing.T) {
	ks := Keyspace{Prefix: "a*:"}
	if got, want := ks.Pattern("file", EscapeGlob("x?")+"*"), `a\*:file:x\?*`; got != want {
		t.Fatalf("Pattern = %q, want %q", got, want)
	}
}

func TestMatchGlob(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "anything", true},
		{"file:*", "file:1", true},
		{"file:*", "user:1", false},
		{"f?le", "file", true},
		{"f?le", "fle", false},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"h[^e]llo", "hallo", true},
		{"h[^e]llo", "hello", false},
		{"h[a-c]llo", "hbllo", true},
		{"h[c-a]llo", "hbllo", true},
		{`a\*`, "a*", true},
		{`a\*`, "ab", false},
		{`a\`, `a\`, true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"[abc", "b", true},
		{`[\]]`, "]", true},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := MatchGlob(tt.pattern, tt.s); got != tt.want {
			t.Errorf("MatchGlob(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestValidFamily(t *testing.T) {
	for name, want := range map[string]bool{
		"file": true, "file:info": true, "rate_limit": true, "a-b": true,
		"": false, "File": false, "file*": false, ":file": false, "file:": false, "fi le": false,
	} {
		if got := validFamily(name); got != want {
			t.Errorf("validFamily(%q) = %v, want %v", name, got, want)
		}
	}
}

// FuzzKey checks the key builder's promises on any input: a key is built or
// ErrInvalidKey returned; a built key is valid UTF-8, bounded, starts with
// the family, and distinct parts give distinct keys; an escaped part, as a
// pattern, matches its own key and only it.
func FuzzKey(f *testing.F) {
	for _, s := range []string{"42", "203.0.113.7", "a*b", "[x]", `\`, "#h", "", "\xff", strings.Repeat("é", 100)} {
		f.Add(s, "other")
	}
	ks := Keyspace{Prefix: "p:"}
	f.Fuzz(func(t *testing.T, part, other string) {
		key, err := ks.Key("file", part)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("Key(%q) err = %v, not ErrInvalidKey", part, err)
			}
			return
		}
		if !utf8.ValidString(key) || !strings.HasPrefix(key, "p:file:") {
			t.Fatalf("Key(%q) = %q", part, key)
		}
		if len(key) > len("p:file:")+DefaultMaxKeyPart+1 && len(key) != len("p:file:#")+64 {
			t.Fatalf("Key(%q) = %q is too long", part, key)
		}
		if !MatchGlob(EscapeGlob(key), key) {
			t.Fatalf("escaped key %q does not match itself", key)
		}
		if okey, err := ks.Key("file", other); err == nil && other != part {
			if okey == key {
				t.Fatalf("parts %q and %q share key %q", part, other, key)
			}
			if MatchGlob(EscapeGlob(key), okey) {
				t.Fatalf("escaped key %q matches the key %q of another part", key, okey)
			}
		}
	})
}

// FuzzMatchGlob checks the matcher never panics and that an escaped string
// matches exactly itself.
func FuzzMatchGlob(f *testing.F) {
	f.Add("a*b?[c-d]\\", "axbyc\\")
	f.Add("[^", "x")
	f.Add("\\", "\\")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		_ = MatchGlob(pattern, s) // must not panic
		if !MatchGlob(EscapeGlob(s), s) {
			t.Fatalf("EscapeGlob(%q) does not match itself", s)
		}
		if MatchGlob(EscapeGlob(pattern), s) != (pattern == s) {
			t.Fatalf("EscapeGlob(%q) vs %q: escaped pattern matched another string", pattern, s)
		}
	})
}
