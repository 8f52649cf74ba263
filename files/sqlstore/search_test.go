package sqlstore_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

// searchAll follows the cursors of q to the end and returns the names
// found, in order. It fails on a page larger than the limit or a loop.
func searchAll(t *testing.T, s *sqlstore.Store, q files.SearchQuery) []string {
	t.Helper()
	var names []string
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("search %+v: more than 1000 pages", q)
		}
		res, err := s.SearchFiles(t.Context(), q)
		if err != nil {
			t.Fatalf("SearchFiles(%+v): %v", q, err)
		}
		if q.Limit > 0 && len(res.Items) > q.Limit {
			t.Fatalf("page of %d items, limit %d", len(res.Items), q.Limit)
		}
		for _, f := range res.Items {
			names = append(names, f.Name)
		}
		if res.NextCursor == "" {
			return names
		}
		if len(res.Items) == 0 {
			t.Fatalf("empty page with a next cursor")
		}
		q.Cursor = res.NextCursor
	}
}

func TestSearchFiles(t *testing.T) {
	// Created one second apart in this order, so newest first is the
	// reverse.
	corpus := []files.NewFile{
		newFile("Report.PDF", "docs", "2024"),
		newFile("report-draft.txt", "docs"),
		newFile("holiday.jpg", "photos", "2024"),
		newFile("ÄPFEL und Birnen.txt", "docs"),
		newFile("100%_done.txt"),
		newFile("100x-done.txt"),
		newFile("a_b.txt"),
		newFile("axb.txt"),
		newFile("star*.txt", "glob"),
		newFile("star1.txt", "glob"),
		newFile("what?.txt"),
		newFile("[abc].txt"),
		newFile("b.txt"),
		newFile("o'brien.txt", "it's"),
		newFile("Résumé.doc", "Docs"),
	}
	tests := []struct {
		name string
		q    files.SearchQuery
		want []string
	}{
		{name: "everything", q: files.SearchQuery{}, want: []string{"Résumé.doc", "o'brien.txt", "b.txt", "[abc].txt", "what?.txt", "star1.txt", "star*.txt", "axb.txt", "a_b.txt", "100x-done.txt", "100%_done.txt", "ÄPFEL und Birnen.txt", "holiday.jpg", "report-draft.txt", "Report.PDF"}},
		{name: "substring, case-insensitive", q: files.SearchQuery{Q: "REPORT"}, want: []string{"report-draft.txt", "Report.PDF"}},
		{name: "substring in the middle", q: files.SearchQuery{Q: "port-d"}, want: []string{"report-draft.txt"}},
		{name: "non-ASCII case folding", q: files.SearchQuery{Q: "äpfel"}, want: []string{"ÄPFEL und Birnen.txt"}},
		{name: "non-ASCII case folding, other way", q: files.SearchQuery{Q: "RÉSUMÉ"}, want: []string{"Résumé.doc"}},
		{name: "tag", q: files.SearchQuery{Tag: "docs"}, want: []string{"ÄPFEL und Birnen.txt", "report-draft.txt", "Report.PDF"}},
		{name: "tags are case-sensitive", q: files.SearchQuery{Tag: "Docs"}, want: []string{"Résumé.doc"}},
		{name: "substring and tag", q: files.SearchQuery{Q: "report", Tag: "2024"}, want: []string{"Report.PDF"}},
		{name: "substring and tag, disjoint", q: files.SearchQuery{Q: "holiday", Tag: "docs"}, want: nil},
		{name: "unknown tag", q: files.SearchQuery{Tag: "nope"}, want: nil},
		{name: "percent is literal", q: files.SearchQuery{Q: "%"}, want: []string{"100%_done.txt"}},
		{name: "percent in the middle is literal", q: files.SearchQuery{Q: "100%"}, want: []string{"100%_done.txt"}},
		{name: "underscore is literal", q: files.SearchQuery{Q: "a_b"}, want: []string{"a_b.txt"}},
		{name: "lone underscore is literal", q: files.SearchQuery{Q: "_"}, want: []string{"a_b.txt", "100%_done.txt"}},
		{name: "star is literal", q: files.SearchQuery{Q: "star*"}, want: []string{"star*.txt"}},
		{name: "question mark is literal", q: files.SearchQuery{Q: "?"}, want: []string{"what?.txt"}},
		{name: "brackets are literal", q: files.SearchQuery{Q: "[a"}, want: []string{"[abc].txt"}},
		{name: "backslash matches nothing", q: files.SearchQuery{Q: `\`}, want: nil},
		{name: "backslash escape is not an escape", q: files.SearchQuery{Q: `\%`}, want: nil},
		{name: "quote", q: files.SearchQuery{Q: "o'b", Tag: "it's"}, want: []string{"o'brien.txt"}},
		{name: "paged by 1", q: files.SearchQuery{Q: "star", Limit: 1}, want: []string{"star1.txt", "star*.txt"}},
		{name: "paged by 4", q: files.SearchQuery{Q: ".txt", Limit: 4}, want: []string{"o'brien.txt", "b.txt", "[abc].txt", "what?.txt", "star1.txt", "star*.txt", "axb.txt", "a_b.txt", "100x-done.txt", "100%_done.txt", "ÄPFEL und Birnen.txt", "report-draft.txt"}},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		for i, nf := range corpus {
			create(t, s, nf, "192.0.2.1", day0.Add(time.Duration(i)*time.Second))
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got := searchAll(t, s, tc.q)
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("search %+v (-want +got):\n%s", tc.q, diff)
				}
			})
		}
	})
}

// TestSearchPagination pages through files that share creation times (so
// the id breaks ties) while new files are added between pages: every file
// that existed at the start is seen exactly once, in (created_at, id)
// descending order.
func TestSearchPagination(t *testing.T) {
	tests := []struct {
		name  string
		limit int
		q     files.SearchQuery
	}{
		{name: "limit 1", limit: 1},
		{name: "limit 7", limit: 7},
		{name: "limit 50", limit: 50},
		{name: "limit 200, one page", limit: 200},
		{name: "with tag", limit: 3, q: files.SearchQuery{Tag: "even"}},
		{name: "with text", limit: 4, q: files.SearchQuery{Q: "file-1"}},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		var all []files.FileMetadata
		for i := range 60 {
			tag := "odd"
			if i%2 == 0 {
				tag = "even"
			}
			// Five files per timestamp.
			at := day0.Add(time.Duration(i/5) * time.Millisecond)
			all = append(all, create(t, s, newFile(fmt.Sprintf("file-%02d", i), tag), "", at))
		}
		slices.SortFunc(all, func(a, b files.FileMetadata) int {
			if c := b.CreatedAt.Compare(a.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(b.ID, a.ID)
		})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var want []string
				for _, f := range all {
					if (tc.q.Tag == "" || f.Tags[0] == tc.q.Tag) && strings.Contains(f.Name, tc.q.Q) {
						want = append(want, f.ID)
					}
				}
				q := tc.q
				q.Limit = tc.limit
				var got []string
				seen := map[string]bool{}
				addedHere := map[string]bool{}
				for page := 0; ; page++ {
					res, err := s.SearchFiles(t.Context(), q)
					if err != nil {
						t.Fatalf("page %d: %v", page, err)
					}
					for _, f := range res.Items {
						if seen[f.ID] {
							t.Fatalf("page %d: %s seen twice", page, f.Name)
						}
						seen[f.ID] = true
						// Files added between pages are newer than any
						// cursor: they must not show up. Those added by
						// earlier cases are not part of want.
						if addedHere[f.Name] {
							t.Fatalf("page %d: new file %s on a later page", page, f.Name)
						}
						if strings.HasPrefix(f.Name, "late-") {
							continue
						}
						got = append(got, f.ID)
					}
					if res.NextCursor == "" {
						break
					}
					// A newer file arrives between pages.
					late := fmt.Sprintf("late-%s-%d", tc.name, page)
					create(t, s, newFile(late, "even", "odd"), "", day0.Add(time.Hour))
					addedHere[late] = true
					q.Cursor = res.NextCursor
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("ids in page order (-want +got):\n%s", diff)
				}
			})
		}
	})
}

func TestSearchInvalid(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	id := files.NewID()
	tests := []struct {
		name       string
		q          files.SearchQuery
		wantField  string
		wantCursor bool // also wraps ErrBadCursor
	}{
		{name: "not base64", q: files.SearchQuery{Cursor: "!!!"}, wantField: "cursor", wantCursor: true},
		{name: "padded base64", q: files.SearchQuery{Cursor: base64.URLEncoding.EncodeToString([]byte("v1:1:" + id))}, wantField: "cursor", wantCursor: true},
		{name: "garbage", q: files.SearchQuery{Cursor: b64("hello")}, wantField: "cursor", wantCursor: true},
		{name: "wrong version", q: files.SearchQuery{Cursor: b64("v9:1:" + id)}, wantField: "cursor", wantCursor: true},
		{name: "bad time", q: files.SearchQuery{Cursor: b64("v1:x:" + id)}, wantField: "cursor", wantCursor: true},
		{name: "time out of range", q: files.SearchQuery{Cursor: b64("v1:9223372036854775807:" + id)}, wantField: "cursor", wantCursor: true},
		{name: "bad id", q: files.SearchQuery{Cursor: b64("v1:1:'; DROP TABLE files")}, wantField: "cursor", wantCursor: true},
		{name: "extra part", q: files.SearchQuery{Cursor: b64("v1:1:" + id + ":x")}, wantField: "cursor", wantCursor: true},
		{name: "too long", q: files.SearchQuery{Cursor: strings.Repeat("A", 1000)}, wantField: "cursor", wantCursor: true},
		{name: "limit too large", q: files.SearchQuery{Limit: 201}, wantField: "limit"},
		{name: "negative limit", q: files.SearchQuery{Limit: -1}, wantField: "limit"},
		{name: "bad tag", q: files.SearchQuery{Tag: strings.Repeat("t", 65)}, wantField: "tag"},
		{name: "NUL in q", q: files.SearchQuery{Q: "a\x00b"}, wantField: "q"},
		{name: "invalid UTF-8 in q", q: files.SearchQuery{Q: "\xff"}, wantField: "q"},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		create(t, s, newFile("x"), "", day0)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := s.SearchFiles(t.Context(), tc.q)
				var ve *files.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("SearchFiles error = %v, want a *files.ValidationError", err)
				}
				if ve.Field != tc.wantField {
					t.Errorf("Field = %q, want %q", ve.Field, tc.wantField)
				}
				if got := errors.Is(err, files.ErrBadCursor); got != tc.wantCursor {
					t.Errorf("errors.Is(err, ErrBadCursor) = %v, want %v", got, tc.wantCursor)
				}
				if !errors.Is(err, files.ErrInvalid) {
					t.Errorf("errors.Is(err, ErrInvalid) = false")
				}
			})
		}
	})
}

func TestPopularFiles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		downloads := map[string]int{"none": 0, "three": 3, "one": 1, "five": 5, "also-one": 1}
		for _, name := range []string{"none", "three", "one", "five", "also-one"} {
			f := create(t, s, newFile(name), "", day0.Add(time.Duration(len(name))*time.Second))
			for range downloads[name] {
				if _, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.RecordDownload(t.Context(), f.ID, "192.0.2.9", day0)
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		tests := []struct {
			limit int
			want  []string
		}{
			{limit: 2, want: []string{"five", "three"}},
			// Ties: newest first ("also-one" was created later).
			{limit: 4, want: []string{"five", "three", "also-one", "one"}},
			{limit: 0, want: []string{"five", "three", "also-one", "one", "none"}},
			{limit: 100, want: []string{"five", "three", "also-one", "one", "none"}},
		}
		for _, tc := range tests {
			t.Run(fmt.Sprint("limit ", tc.limit), func(t *testing.T) {
				fs, err := s.PopularFiles(t.Context(), nil, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range fs {
					got = append(got, f.Name)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("PopularFiles (-want +got):\n%s", diff)
				}
			})
		}
		// Page by page, two at a time, the ranking is walked once.
		var got []string
		var after *files.FileMetadata
		for {
			page, err := s.PopularFiles(t.Context(), after, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, f := range page {
				got = append(got, f.Name)
			}
			after = &page[len(page)-1]
		}
		if diff := cmp.Diff([]string{"five", "three", "also-one", "one", "none"}, got); diff != "" {
			t.Errorf("PopularFiles by pages (-want +got):\n%s", diff)
		}
	})
}
