package files_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
)

// wantJSON checks that v marshals to want.
func wantJSON(t *testing.T, v any, want string) {
	t.Helper()
	got, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
}

// TestJSON pins the wire form of the API's values (API.md).
func TestJSON(t *testing.T) {
	at := time.Date(2024, 3, 10, 12, 30, 15, 123456000, time.UTC)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{
			name: "FileMetadata",
			in: files.FileMetadata{ID: "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b", Name: "report.pdf", Size: 12345,
				ContentType: "application/pdf", Checksum: sum, Tags: []string{"docs"}, UploaderIP: "203.0.113.7",
				DownloadCount: 2, Version: 1, CreatedAt: at, UpdatedAt: at},
			want: `{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","name":"report.pdf","size":12345,"content_type":"application/pdf","checksum":"` + sum + `","tags":["docs"],"uploader_ip":"203.0.113.7","download_count":2,"version":1,"created_at":"2024-03-10T12:30:15.123456Z","updated_at":"2024-03-10T12:30:15.123456Z"}`,
		},
		{
			name: "UserSession",
			in:   files.UserSession{IP: "203.0.113.7", FirstSeen: at, LastSeen: at, Requests: 3},
			want: `{"ip":"203.0.113.7","first_seen":"2024-03-10T12:30:15.123456Z","last_seen":"2024-03-10T12:30:15.123456Z","requests":3}`,
		},
		{
			name: "FileStats",
			in:   files.FileStats{Date: "2024-03-10", Uploads: 1, Downloads: 2, BytesUploaded: 3, UniqueIPs: 4},
			want: `{"date":"2024-03-10","uploads":1,"downloads":2,"bytes_uploaded":3,"unique_ips":4}`,
		},
		{
			name: "SearchResult",
			in:   files.SearchResult{Items: []files.FileMetadata{}, NextCursor: ""},
			want: `{"items":[],"next_cursor":""}`,
		},
		{
			name: "DefaultSettings",
			in:   files.DefaultSettings(),
			want: `{"max_file_size":1125899906842624,"allowed_content_types":[],"maintenance_mode":false,"announcement":"","updated_at":"0001-01-01T00:00:00Z"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantJSON(t, tc.in, tc.want) })
	}
}

func TestFilePatchJSON(t *testing.T) {
	var p files.FilePatch
	if err := json.Unmarshal([]byte(`{"name":"n","tags":[],"checksum":""}`), &p); err != nil {
		t.Fatal(err)
	}
	if p.Name == nil || *p.Name != "n" || p.Tags == nil || len(*p.Tags) != 0 || p.Checksum == nil || *p.Checksum != "" {
		t.Errorf("decoded %+v", p)
	}
	if p.Size != nil || p.ContentType != nil {
		t.Errorf("absent fields set: %+v", p)
	}
}

// TestViews pins the two views of a file: their fields (API.md), their
// wire form, and what their Valid funcs refuse.
func TestViews(t *testing.T) {
	at := time.Date(2024, 3, 10, 12, 30, 15, 123456000, time.UTC)
	later := at.Add(time.Hour)
	f := files.FileMetadata{ID: "0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b", Name: "report.pdf", Size: 12345,
		ContentType: "application/pdf", Checksum: sum, Tags: []string{"docs"}, UploaderIP: "203.0.113.7",
		DownloadCount: 2, Version: 3, CreatedAt: at, UpdatedAt: later}
	for _, tc := range []struct {
		name string
		in   any
		want string
	}{
		{"info", f.Info(), `{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","name":"report.pdf","size":12345,"content_type":"application/pdf","download_count":2,"updated_at":"2024-03-10T13:30:15.123456Z"}`},
		{"meta", f.Meta(), `{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","checksum":"` + sum + `","tags":["docs"],"uploader_ip":"203.0.113.7","version":3,"created_at":"2024-03-10T12:30:15.123456Z","updated_at":"2024-03-10T13:30:15.123456Z"}`},
		{"meta without tags", files.FileMetadata{ID: f.ID}.Meta(), `{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","checksum":"","tags":[],"uploader_ip":"","version":0,"created_at":"0001-01-01T00:00:00Z","updated_at":"0001-01-01T00:00:00Z"}`},
	} {
		t.Run(tc.name, func(t *testing.T) { wantJSON(t, tc.in, tc.want) })
	}

	for _, tc := range []struct {
		name string
		json string
		want bool
	}{
		{"whole", `{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","tags":[],"version":1}`, true},
		{"null", `null`, false},
		{"empty object", `{}`, false},
		{"no id", `{"tags":[],"version":1}`, false},
		{"id not canonical", `{"id":"0190A6B2-7C3E-7D4F-8A1B-2C3D4E5F6A7B","tags":[],"version":1}`, false},
	} {
		t.Run("valid/"+tc.name, func(t *testing.T) {
			var (
				rec  files.FileMetadata
				info files.FileInfo
				meta files.FileMeta
			)
			for _, v := range []any{&rec, &info, &meta} {
				if err := json.Unmarshal([]byte(tc.json), v); err != nil {
					t.Fatal(err)
				}
			}
			if rec.Valid() != tc.want || info.Valid() != tc.want || meta.Valid() != tc.want {
				t.Errorf("Valid of %s: record %v, info %v, meta %v; want %v", tc.json, rec.Valid(), info.Valid(), meta.Valid(), tc.want)
			}
		})
	}
	// What only the record and the meta view carry.
	var meta files.FileMeta
	if err := json.Unmarshal([]byte(`{"id":"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b","tags":null,"version":1}`), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Valid() {
		t.Errorf("meta with null tags is valid")
	}
	meta.Tags, meta.Version = []string{}, 0
	if meta.Valid() {
		t.Errorf("meta at version 0 is valid")
	}
	if (files.FileMetadata{ID: f.ID}).Valid() {
		t.Errorf("record with nil tags is valid")
	}
}
