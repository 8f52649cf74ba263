package sqlstore_test

import (
	"errors"
	"testing"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
)

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
