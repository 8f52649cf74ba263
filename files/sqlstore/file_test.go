package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

func TestCreateGet(t *testing.T) {
	// A time with nanoseconds in another zone: stored as UTC microseconds.
	now := time.Date(2024, 3, 10, 14, 30, 15, 123456789, time.FixedZone("UTC+2", 2*3600))
	wantTime := time.Date(2024, 3, 10, 12, 30, 15, 123456000, time.UTC)
	sum := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

	tests := []struct {
		name string
		in   files.NewFile
		want files.FileMetadata // ID is filled in
	}{
		{
			name: "all fields",
			in:   files.NewFile{Name: "report.pdf", Size: 12345, ContentType: "application/pdf", Checksum: sum, Tags: []string{"docs", "q1"}},
			want: files.FileMetadata{Name: "report.pdf", Size: 12345, ContentType: "application/pdf", Checksum: sum,
				Tags: []string{"docs", "q1"}, UploaderIP: "203.0.113.7", Version: 1, CreatedAt: wantTime, UpdatedAt: wantTime},
		},
		{
			name: "no tags is an empty list",
			in:   files.NewFile{Name: "empty", Size: 0},
			want: files.FileMetadata{Name: "empty", Tags: []string{}, UploaderIP: "203.0.113.7", Version: 1, CreatedAt: wantTime, UpdatedAt: wantTime},
		},
		{
			name: "duplicate tags are stored once",
			in:   files.NewFile{Name: "dup", Size: 1, Tags: []string{"a", "b", "a"}},
			want: files.FileMetadata{Name: "dup", Size: 1, Tags: []string{"a", "b"}, UploaderIP: "203.0.113.7", Version: 1, CreatedAt: wantTime, UpdatedAt: wantTime},
		},
		{
			name: "unicode name",
			in:   files.NewFile{Name: "Ünïcödé 日本.txt", Size: files.MaxSize, Tags: []string{"日本"}},
			want: files.FileMetadata{Name: "Ünïcödé 日本.txt", Size: files.MaxSize, Tags: []string{"日本"}, UploaderIP: "203.0.113.7", Version: 1, CreatedAt: wantTime, UpdatedAt: wantTime},
		},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				created := create(t, s, tc.in, "203.0.113.7", now)
				tc.want.ID = created.ID
				if diff := cmp.Diff(tc.want, created); diff != "" {
					t.Errorf("CreateFile (-want +got):\n%s", diff)
				}
				got, err := s.GetFile(t.Context(), created.ID)
				if err != nil {
					t.Fatalf("GetFile: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("GetFile (-want +got):\n%s", diff)
				}
				if got.CreatedAt.Location() != time.UTC {
					t.Errorf("CreatedAt location = %v, want UTC", got.CreatedAt.Location())
				}
			})
		}
	})
}

func TestCreateErrors(t *testing.T) {
	tests := []struct {
		name    string
		nf      files.NewFile
		id      func(existing string) string
		wantErr error
	}{
		{name: "taken id", nf: newFile("b"), id: func(ex string) string { return ex }, wantErr: files.ErrConflict},
		{name: "invalid name", nf: newFile("a/b"), id: func(string) string { return files.NewID() }, wantErr: files.ErrInvalid},
		{name: "invalid id", nf: newFile("c"), id: func(string) string { return "not-a-uuid" }, wantErr: files.ErrInvalid},
		{name: "negative size", nf: files.NewFile{Name: "d", Size: -1}, id: func(string) string { return files.NewID() }, wantErr: files.ErrInvalid},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		existing := create(t, s, newFile("a"), "198.51.100.1", day0)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.CreateFile(t.Context(), tc.nf, tc.id(existing.ID), "198.51.100.1", day0)
				})
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("CreateFile error = %v, want %v", err, tc.wantErr)
				}
			})
		}
		// Nothing of the failed creations was counted.
		st, err := s.GetStats(t.Context(), day0)
		if err != nil {
			t.Fatal(err)
		}
		if st.Uploads != 1 {
			t.Errorf("uploads = %d, want 1", st.Uploads)
		}
	})
}

func TestUpdateFile(t *testing.T) {
	later := day0.Add(time.Hour)
	sum := "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	tests := []struct {
		name      string
		patch     files.FilePatch
		ifVersion func(current int64) int64
		missing   bool // update an id that does not exist
		wantErr   error
		want      func(m files.FileMetadata) files.FileMetadata
	}{
		{
			name:  "rename, unconditional",
			patch: files.FilePatch{Name: ptr("new.txt")},
			want: func(m files.FileMetadata) files.FileMetadata {
				m.Name, m.Version, m.UpdatedAt = "new.txt", m.Version+1, later
				return m
			},
		},
		{
			name:      "every field, matching version",
			patch:     files.FilePatch{Name: ptr("x"), ContentType: ptr("image/png"), Size: ptr(int64(7)), Checksum: ptr(sum), Tags: ptr([]string{"n1", "n2", "n1"})},
			ifVersion: func(v int64) int64 { return v },
			want: func(m files.FileMetadata) files.FileMetadata {
				m.Name, m.ContentType, m.Size, m.Checksum, m.Tags = "x", "image/png", 7, sum, []string{"n1", "n2"}
				m.Version, m.UpdatedAt = m.Version+1, later
				return m
			},
		},
		{
			name:  "clear tags and checksum",
			patch: files.FilePatch{Tags: ptr([]string(nil)), Checksum: ptr("")},
			want: func(m files.FileMetadata) files.FileMetadata {
				m.Tags, m.Checksum, m.Version, m.UpdatedAt = []string{}, "", m.Version+1, later
				return m
			},
		},
		{
			name:  "empty patch still bumps the version",
			patch: files.FilePatch{},
			want: func(m files.FileMetadata) files.FileMetadata {
				m.Version, m.UpdatedAt = m.Version+1, later
				return m
			},
		},
		{
			name:      "stale version",
			patch:     files.FilePatch{Name: ptr("lost")},
			ifVersion: func(v int64) int64 { return v - 1 },
			wantErr:   files.ErrVersionMismatch,
		},
		{
			name:      "future version",
			patch:     files.FilePatch{Name: ptr("lost")},
			ifVersion: func(v int64) int64 { return v + 5 },
			wantErr:   files.ErrVersionMismatch,
		},
		{name: "missing file", patch: files.FilePatch{Name: ptr("x")}, missing: true, wantErr: files.ErrNotFound},
		{
			name:      "missing file with a version",
			patch:     files.FilePatch{Name: ptr("x")},
			ifVersion: func(int64) int64 { return 1 },
			missing:   true,
			wantErr:   files.ErrNotFound,
		},
		{name: "invalid patch", patch: files.FilePatch{Checksum: ptr("XYZ")}, wantErr: files.ErrInvalid},
		{name: "negative version", patch: files.FilePatch{}, ifVersion: func(int64) int64 { return -1 }, wantErr: files.ErrInvalid},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				// Each case starts from a file at version 2 with tags.
				orig := create(t, s, files.NewFile{Name: "orig.txt", Size: 10, Tags: []string{"t1", "t2"}, Checksum: sum}, "192.0.2.1", day0)
				orig, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.UpdateFile(t.Context(), orig.ID, files.FilePatch{}, 1, day0)
				})
				if err != nil {
					t.Fatalf("setup update: %v", err)
				}
				id := orig.ID
				if tc.missing {
					id = files.NewID()
				}
				var ifVersion int64
				if tc.ifVersion != nil {
					ifVersion = tc.ifVersion(orig.Version)
				}
				got, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
					return tx.UpdateFile(t.Context(), id, tc.patch, ifVersion, later)
				})
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("UpdateFile error = %v, want %v", err, tc.wantErr)
					}
					if !tc.missing {
						// The file is unchanged.
						stored, err := s.GetFile(t.Context(), id)
						if err != nil {
							t.Fatal(err)
						}
						if diff := cmp.Diff(orig, stored); diff != "" {
							t.Errorf("file changed by a failed update (-want +got):\n%s", diff)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("UpdateFile: %v", err)
				}
				want := tc.want(orig)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("UpdateFile (-want +got):\n%s", diff)
				}
				stored, err := s.GetFile(t.Context(), id)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(want, stored); diff != "" {
					t.Errorf("GetFile after update (-want +got):\n%s", diff)
				}
			})
		}
	})
}

// TestUpdateTagsSearch checks that a tag patch replaces what tag search
// sees, not only the JSON on the row.
func TestUpdateTagsSearch(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		f := create(t, s, newFile("f", "old"), "", day0)
		if _, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
			return tx.UpdateFile(t.Context(), f.ID, files.FilePatch{Tags: ptr([]string{"new"})}, 0, day0)
		}); err != nil {
			t.Fatal(err)
		}
		for tag, want := range map[string]int{"old": 0, "new": 1} {
			res, err := s.SearchFiles(t.Context(), files.SearchQuery{Tag: tag})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Items) != want {
				t.Errorf("search tag %q: %d items, want %d", tag, len(res.Items), want)
			}
		}
	})
}

func TestDeleteFile(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		f := create(t, s, newFile("gone.txt", "x"), "192.0.2.1", day0)

		deleted, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
			return tx.DeleteFile(t.Context(), f.ID)
		})
		if err != nil {
			t.Fatalf("DeleteFile: %v", err)
		}
		if diff := cmp.Diff(f, deleted); diff != "" {
			t.Errorf("DeleteFile returned (-want +got):\n%s", diff)
		}
		if _, err := s.GetFile(t.Context(), f.ID); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("GetFile after delete: error = %v, want ErrNotFound", err)
		}
		if _, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
			return tx.DeleteFile(t.Context(), f.ID)
		}); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("second DeleteFile: error = %v, want ErrNotFound", err)
		}
		res, err := s.SearchFiles(t.Context(), files.SearchQuery{Tag: "x"})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Items) != 0 {
			t.Errorf("tag search finds a deleted file: %v", res.Items)
		}
	})
}

func TestGetFiles(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		a := create(t, s, newFile("a"), "", day0)
		b := create(t, s, newFile("b"), "", day0)
		missing := files.NewID()
		tests := []struct {
			name string
			ids  []string
			want map[string]files.FileMetadata
		}{
			{name: "none", ids: nil, want: map[string]files.FileMetadata{}},
			{name: "all present", ids: []string{a.ID, b.ID}, want: map[string]files.FileMetadata{a.ID: a, b.ID: b}},
			{name: "missing absent", ids: []string{missing, a.ID}, want: map[string]files.FileMetadata{a.ID: a}},
			{name: "duplicates", ids: []string{b.ID, b.ID, "not even an id"}, want: map[string]files.FileMetadata{b.ID: b}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.GetFiles(t.Context(), tc.ids)
				if err != nil {
					t.Fatalf("GetFiles: %v", err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("GetFiles (-want +got):\n%s", diff)
				}
			})
		}
		t.Run("more than one query's worth", func(t *testing.T) {
			ids := []string{a.ID}
			for range 1200 {
				ids = append(ids, files.NewID())
			}
			ids = append(ids, b.ID)
			got, err := s.GetFiles(t.Context(), ids)
			if err != nil {
				t.Fatalf("GetFiles: %v", err)
			}
			if diff := cmp.Diff(map[string]files.FileMetadata{a.ID: a, b.ID: b}, got); diff != "" {
				t.Errorf("GetFiles (-want +got):\n%s", diff)
			}
		})
	})
}

func TestGetFileNotFound(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		for _, id := range []string{files.NewID(), "", "'; DROP TABLE files; --"} {
			if _, err := s.GetFile(t.Context(), id); !errors.Is(err, files.ErrNotFound) {
				t.Errorf("GetFile(%q) error = %v, want ErrNotFound", id, err)
			}
		}
	})
}
