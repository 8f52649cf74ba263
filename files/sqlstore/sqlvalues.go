package sqlstore

import (
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/filecache/filecache/files"
)

// timeLayout is how times travel to the database: UTC, microseconds, fixed
// width. SQLite stores this text as is (fixed width, so text order is time
// order); PostgreSQL parses it into timestamptz. Either way the value read
// back equals the value written.
const timeLayout = "2006-01-02T15:04:05.000000Z"

// timeArg returns t as a query argument, in UTC truncated to the
// microsecond.
func timeArg(t time.Time) string {
	return truncTime(t).Format(timeLayout)
}

// truncTime returns t in UTC truncated to the microsecond: the precision
// both engines store.
func truncTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}

// dayArg returns the UTC day of t as a query argument, YYYY-MM-DD.
func dayArg(t time.Time) string { return files.Day(t) }

// timeDest scans a time column: time.Time from PostgreSQL, text in
// timeLayout from SQLite. The result is in UTC.
type timeDest struct{ t *time.Time }

var _ sql.Scanner = timeDest{}

func (d timeDest) Scan(src any) error {
	switch v := src.(type) {
	case time.Time:
		*d.t = v.UTC()
		return nil
	case string:
		return d.parse(v)
	case []byte:
		return d.parse(string(v))
	}
	return fmt.Errorf("sqlstore: cannot scan %T into a time", src)
}

func (d timeDest) parse(s string) error {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		// Accept other RFC 3339 spellings written by hand.
		if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("sqlstore: bad time %q in database: %w", s, err)
		}
	}
	*d.t = t.UTC()
	return nil
}

// jsonStrings encodes a string list for a JSON text column; nil is "[]".
func jsonStrings(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	if err != nil { // cannot happen for []string
		panic(err)
	}
	return string(b)
}

// parseStrings decodes a JSON text column into a non-nil string list.
func parseStrings(col, s string) ([]string, error) {
	out := []string{}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("sqlstore: bad %s %q in database: %w", col, s, err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// dedupe returns ss without duplicates, in first-seen order, never
// nil.
func dedupe(ss []string) []string {
	out := make([]string, 0, len(ss))
	seen := make(map[string]bool, len(ss))
	for _, t := range ss {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// foldName is the case-insensitive form of a name, stored in name_fold and
// applied to search text. It folds Unicode in Go so that both engines agree
// (SQLite's lower() folds ASCII only).
func foldName(s string) string { return strings.ToLower(s) }

// likeContains returns a LIKE pattern, for use with ESCAPE '\', that
// matches strings containing s literally.
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// padIn appends the values of an IN list to args, repeating the last one up
// to the next power of two. Repeats do not change what IN matches, and the
// few distinct list lengths keep PostgreSQL's per-connection statement
// cache from churning. vs must not be empty.
func padIn[T any](args []any, vs []T) []any {
	n := 1
	for n < len(vs) {
		n *= 2
	}
	for i := range n {
		args = append(args, vs[min(i, len(vs)-1)])
	}
	return args
}

// placeholders returns "$from, $from+1, ..." for n arguments.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

// A cursor is the position after the last item of a page: its created_at
// (Unix microseconds) and id, as "v1:MICROS:ID" in unpadded base64url.
const cursorVersion = "v1"

func encodeCursor(f files.FileMetadata) string {
	raw := cursorVersion + ":" + strconv.FormatInt(f.CreatedAt.UnixMicro(), 10) + ":" + f.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeCursor(c string) (time.Time, string, error) {
	bad := func() (time.Time, string, error) {
		return time.Time{}, "", &files.ValidationError{
			Field:   "cursor",
			Message: "is not a cursor returned by a previous search",
			Err:     files.ErrBadCursor,
		}
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return bad()
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return bad()
	}
	micros, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || files.ValidateID(parts[2]) != nil {
		return bad()
	}
	t := time.UnixMicro(micros).UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		return bad()
	}
	return t, parts[2], nil
}
