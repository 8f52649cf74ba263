package sqlstore

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn        string
		wantEngine engine
		wantTarget string
		wantErr    bool
	}{
		{dsn: "sqlite:filecache.db", wantEngine: engineSQLite, wantTarget: "filecache.db"},
		{dsn: "sqlite:/var/lib/fc.db", wantEngine: engineSQLite, wantTarget: "/var/lib/fc.db"},
		{dsn: "sqlite:///var/lib/fc.db", wantEngine: engineSQLite, wantTarget: "/var/lib/fc.db"},
		{dsn: "SQLite:fc.db", wantEngine: engineSQLite, wantTarget: "fc.db"},
		{dsn: "file:fc.db", wantEngine: engineSQLite, wantTarget: "fc.db"},
		{dsn: "sqlite:dir with space/fc.db", wantEngine: engineSQLite, wantTarget: "dir with space/fc.db"},
		{dsn: "postgres://u@h/db", wantEngine: enginePostgres, wantTarget: "postgres://u@h/db"},
		{dsn: "postgresql://u@h/db", wantEngine: enginePostgres, wantTarget: "postgresql://u@h/db"},
		{dsn: "sqlite:", wantErr: true},
		{dsn: "sqlite://", wantErr: true},
		{dsn: "sqlite::memory:", wantErr: true},
		{dsn: "sqlite:a.db?mode=memory", wantErr: true},
		{dsn: "sqlite:a#b", wantErr: true},
		{dsn: "redis://h", wantErr: true},
		{dsn: "host=h dbname=db", wantErr: true},
		{dsn: "", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			e, target, err := parseDSN(tc.dsn)
			if tc.wantErr {
				if !errors.Is(err, ErrBadDSN) {
					t.Fatalf("parseDSN error = %v, want ErrBadDSN", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e != tc.wantEngine || target != tc.wantTarget {
				t.Errorf("parseDSN = %v, %q; want %v, %q", e, target, tc.wantEngine, tc.wantTarget)
			}
		})
	}
}

func TestRedactDSN(t *testing.T) {
	tests := []struct{ dsn, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=pw&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable"},
		{"postgres://h/db?sslpassword=pw", "postgres://h/db?sslpassword=xxxxx"},
		{"postgres://u:pw@[::1/db", "postgres://(unparsable)"},
		{"sqlite:fc.db", "sqlite:fc.db"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			if got := redactDSN(tc.dsn); got != tc.want {
				t.Errorf("redactDSN = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestScrub(t *testing.T) {
	tests := []struct {
		dsn, msg, want string
	}{
		{"postgres://u:pw1@h/db", "bad postgres://u:pw1@h/db", "bad postgres://u:xxxxx@h/db"},
		{"postgres://u:p%40ss@h/db", "bad p%40ss and p@ss", "bad xxxxx and xxxxx"},
		{"postgres://u:p@ss@h/db", "bad p@ss", "bad xxxxx"},
		{"postgres://u:pw2@[::1/db", "bad pw2", "bad xxxxx"},
		{"postgres://h/db?password=pw3&x=1", "bad pw3", "bad xxxxx"},
		{"postgres://u@h/db", "nothing secret", "nothing secret"},
	}
	for _, tc := range tests {
		t.Run(tc.dsn, func(t *testing.T) {
			if got := scrub(tc.msg, tc.dsn); got != tc.want {
				t.Errorf("scrub = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSQLiteURI(t *testing.T) {
	dir := t.TempDir()
	got, err := sqliteURI(filepath.Join(dir, "a%b?c#d.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "file:" + filepath.ToSlash(dir) + "/a%25b%3Fc%23d.db?"
	if got != want {
		t.Errorf("sqliteURI = %q, want %q", got, want)
	}
	rel, err := sqliteURI("rel.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rel, "file:/") {
		t.Errorf("relative path not made absolute: %q", rel)
	}
}

func TestCursorRoundTrip(t *testing.T) {
	id := "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b"
	for _, at := range []string{
		"2024-03-10T12:00:00.123456Z",
		"1970-01-01T00:00:00.000000Z",
		"1969-12-31T23:59:59.999999Z",
		"9999-12-31T23:59:59.999999Z",
	} {
		t.Run(at, func(t *testing.T) {
			when, err := time.Parse(timeLayout, at)
			if err != nil {
				t.Fatal(err)
			}
			c := encodeCursor(files.FileMetadata{ID: id, CreatedAt: when})
			gotAt, gotID, err := decodeCursor(c)
			if err != nil {
				t.Fatalf("decodeCursor(%q): %v", c, err)
			}
			if !gotAt.Equal(when) || gotID != id || timeArg(gotAt) != at {
				t.Errorf("round trip: got %v %s", gotAt, gotID)
			}
		})
	}
}

func TestPadIn(t *testing.T) {
	tests := []struct {
		in   []int64
		want []any
	}{
		{in: []int64{1}, want: []any{int64(1)}},
		{in: []int64{1, 2}, want: []any{int64(1), int64(2)}},
		{in: []int64{1, 2, 3}, want: []any{int64(1), int64(2), int64(3), int64(3)}},
		{in: []int64{1, 2, 3, 4, 5}, want: []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(5), int64(5), int64(5)}},
	}
	for _, tc := range tests {
		got := padIn([]any{"first"}, tc.in)
		if diff := cmp.Diff(append([]any{"first"}, tc.want...), got); diff != "" {
			t.Errorf("padIn(%v) (-want +got):\n%s", tc.in, diff)
		}
	}
}

func TestLikeContains(t *testing.T) {
	tests := []struct{ in, want string }{
		{"abc", "%abc%"},
		{"100%", `%100\%%`},
		{"a_b", `%a\_b%`},
		{`a\b`, `%a\\b%`},
		{"*?[", "%*?[%"},
		{"", "%%"},
	}
	for _, tc := range tests {
		if got := likeContains(tc.in); got != tc.want {
			t.Errorf("likeContains(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
