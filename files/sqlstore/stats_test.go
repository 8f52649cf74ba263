package sqlstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

func TestDownloadsAndStats(t *testing.T) {
	d1 := time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)
	d2 := d1.AddDate(0, 0, 1)
	type download struct {
		file int // index into the files created
		ip   string
		at   time.Time
	}
	tests := []struct {
		name          string
		uploads       []time.Time // one file of size 100 each, by 192.0.2.1
		downloads     []download
		wantCounts    []int64 // download_count per file
		wantStats     map[time.Time]files.FileStats
		missingDownld bool // also record a download of a missing file
	}{
		{
			name:    "empty day",
			uploads: nil,
			wantStats: map[time.Time]files.FileStats{
				d1: {Date: "2024-03-10"},
			},
		},
		{
			name:    "uploads only",
			uploads: []time.Time{d1.Add(time.Hour), d1.Add(2 * time.Hour)},
			wantStats: map[time.Time]files.FileStats{
				d1: {Date: "2024-03-10", Uploads: 2, BytesUploaded: 200, UniqueIPs: 1},
				d2: {Date: "2024-03-11"},
			},
			wantCounts: []int64{0, 0},
		},
		{
			name:    "downloads count distinct IPs",
			uploads: []time.Time{d1, d1},
			downloads: []download{
				{0, "192.0.2.1", d1.Add(time.Minute)},
				{0, "192.0.2.2", d1.Add(time.Minute)},
				{0, "192.0.2.2", d1.Add(2 * time.Minute)},
				{1, "2001:db8::1", d1.Add(3 * time.Minute)},
			},
			wantCounts: []int64{3, 1},
			wantStats: map[time.Time]files.FileStats{
				d1: {Date: "2024-03-10", Uploads: 2, Downloads: 4, BytesUploaded: 200, UniqueIPs: 3},
			},
		},
		{
			name:    "days split at UTC midnight",
			uploads: []time.Time{d2.Add(-time.Microsecond)},
			downloads: []download{
				{0, "192.0.2.5", d2.Add(-time.Microsecond)},
				{0, "192.0.2.5", d2},
				// 01:00 at UTC+2 is 23:00 UTC the day before.
				{0, "192.0.2.6", time.Date(2024, 3, 11, 1, 0, 0, 0, time.FixedZone("UTC+2", 2*3600))},
			},
			wantCounts: []int64{3},
			wantStats: map[time.Time]files.FileStats{
				d1:                  {Date: "2024-03-10", Uploads: 1, Downloads: 2, BytesUploaded: 100, UniqueIPs: 3},
				d2:                  {Date: "2024-03-11", Downloads: 1, UniqueIPs: 1},
				d2.Add(time.Hour):   {Date: "2024-03-11", Downloads: 1, UniqueIPs: 1}, // any time of the day
				d1.AddDate(0, 0, 5): {Date: "2024-03-15"},
			},
		},
		{
			name:          "a missing file counts nothing",
			uploads:       []time.Time{d1},
			missingDownld: true,
			wantCounts:    []int64{0},
			wantStats: map[time.Time]files.FileStats{
				d1: {Date: "2024-03-10", Uploads: 1, BytesUploaded: 100, UniqueIPs: 1},
			},
		},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := e.newStore(t, sqlstore.Options{})
				var fs []files.FileMetadata
				for _, at := range tc.uploads {
					fs = append(fs, create(t, s, newFile("f"), "192.0.2.1", at))
				}
				for _, d := range tc.downloads {
					before := fs[d.file]
					got, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
						return tx.RecordDownload(t.Context(), before.ID, d.ip, d.at)
					})
					if err != nil {
						t.Fatalf("RecordDownload: %v", err)
					}
					// Only the count moves: not the version, not updated_at.
					want := before
					want.DownloadCount++
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("RecordDownload (-want +got):\n%s", diff)
					}
					fs[d.file] = got
				}
				if tc.missingDownld {
					_, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
						return tx.RecordDownload(t.Context(), files.NewID(), "192.0.2.99", d1)
					})
					if !errors.Is(err, files.ErrNotFound) {
						t.Errorf("RecordDownload(missing) error = %v, want ErrNotFound", err)
					}
				}
				for i, want := range tc.wantCounts {
					f, err := s.GetFile(t.Context(), fs[i].ID)
					if err != nil {
						t.Fatal(err)
					}
					if f.DownloadCount != want {
						t.Errorf("file %d: download_count = %d, want %d", i, f.DownloadCount, want)
					}
				}
				for day, want := range tc.wantStats {
					got, err := s.GetStats(t.Context(), day)
					if err != nil {
						t.Fatalf("GetStats(%v): %v", day, err)
					}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("GetStats(%v) (-want +got):\n%s", day, diff)
					}
				}
			})
		}
	})
}

// TestRecordDownloads checks the group commit of downloads: n downloads in
// one call count as n calls of RecordDownload would.
func TestRecordDownloads(t *testing.T) {
	forEachEngine(t, func(t *testing.T, e engine) {
		s := e.newStore(t, sqlstore.Options{})
		f := create(t, s, newFile("hot.iso"), "192.0.2.1", day0)
		for _, tc := range []struct {
			n       int
			ips     []string
			want    int64
			wantErr error
		}{
			{3, []string{"192.0.2.7", "192.0.2.7", "192.0.2.8"}, 3, nil},
			{1, []string{""}, 4, nil},
			{2, nil, 6, nil},
			{0, nil, 6, files.ErrInvalid},
			{-1, []string{"192.0.2.9"}, 6, files.ErrInvalid},
		} {
			got, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
				return tx.RecordDownloads(t.Context(), f.ID, tc.n, tc.ips, day0)
			})
			if !errors.Is(err, tc.wantErr) || (err == nil && (got.DownloadCount != tc.want || got.Version != 1)) {
				t.Fatalf("RecordDownloads(%d, %q) = count %d version %d, %v; want count %d, %v", tc.n, tc.ips, got.DownloadCount, got.Version, err, tc.want, tc.wantErr)
			}
		}
		st, err := s.GetStats(t.Context(), day0)
		if err != nil {
			t.Fatal(err)
		}
		// The uploader and the two distinct downloaders.
		if st.Downloads != 6 || st.UniqueIPs != 3 {
			t.Errorf("stats %+v, want 6 downloads by 3 unique IPs", st)
		}
		if _, err := inTx(t, s, func(tx files.Tx) (files.FileMetadata, error) {
			return tx.RecordDownloads(t.Context(), files.NewID(), 5, nil, day0)
		}); !errors.Is(err, files.ErrNotFound) {
			t.Errorf("RecordDownloads of a missing file: %v, want ErrNotFound", err)
		}
	})
}

func TestSettings(t *testing.T) {
	at := time.Date(2024, 3, 10, 8, 0, 0, 999, time.UTC)
	tests := []struct {
		name    string
		put     files.SystemSettings
		want    files.SystemSettings
		wantErr bool
	}{
		{
			name: "all fields",
			put: files.SystemSettings{MaxFileSize: 1 << 20, AllowedContentTypes: []string{"image/*", "application/pdf"},
				MaintenanceMode: true, Announcement: "Wartung heute Nacht"},
			want: files.SystemSettings{MaxFileSize: 1 << 20, AllowedContentTypes: []string{"image/*", "application/pdf"},
				MaintenanceMode: true, Announcement: "Wartung heute Nacht", UpdatedAt: at.Truncate(time.Microsecond)},
		},
		{
			name: "nil list is stored empty, caller's UpdatedAt ignored",
			put:  files.SystemSettings{MaxFileSize: 5, UpdatedAt: time.Unix(1, 0)},
			want: files.SystemSettings{MaxFileSize: 5, AllowedContentTypes: []string{}, UpdatedAt: at.Truncate(time.Microsecond)},
		},
		{name: "invalid", put: files.SystemSettings{MaxFileSize: 0}, wantErr: true},
	}
	forEachEngine(t, func(t *testing.T, e engine) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				s := e.newStore(t, sqlstore.Options{})
				got, err := s.GetSettings(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(files.DefaultSettings(), got); diff != "" {
					t.Errorf("GetSettings before any put (-want +got):\n%s", diff)
				}
				put, err := inTx(t, s, func(tx files.Tx) (files.SystemSettings, error) {
					return tx.PutSettings(t.Context(), tc.put, at)
				})
				if tc.wantErr {
					if !errors.Is(err, files.ErrInvalid) {
						t.Fatalf("PutSettings error = %v, want ErrInvalid", err)
					}
					got, err := s.GetSettings(t.Context())
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(files.DefaultSettings(), got); diff != "" {
						t.Errorf("GetSettings after a failed put (-want +got):\n%s", diff)
					}
					return
				}
				if err != nil {
					t.Fatalf("PutSettings: %v", err)
				}
				if diff := cmp.Diff(tc.want, put); diff != "" {
					t.Errorf("PutSettings (-want +got):\n%s", diff)
				}
				got, err = s.GetSettings(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tc.want, got); diff != "" {
					t.Errorf("GetSettings (-want +got):\n%s", diff)
				}
				// A second put replaces the first.
				next := files.DefaultSettings()
				next.Announcement = "second"
				if _, err := inTx(t, s, func(tx files.Tx) (files.SystemSettings, error) {
					return tx.PutSettings(t.Context(), next, at.Add(time.Hour))
				}); err != nil {
					t.Fatal(err)
				}
				got, err = s.GetSettings(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				next.UpdatedAt = at.Add(time.Hour).Truncate(time.Microsecond)
				if diff := cmp.Diff(next, got); diff != "" {
					t.Errorf("GetSettings after second put (-want +got):\n%s", diff)
				}
			})
		}
	})
}
