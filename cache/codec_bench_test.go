package cache_test

import (
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// codecFile is the value the service caches most.
type codecFile = files.FileMetadata

// BenchmarkJSONDecode measures the default codec on a FileMetadata-shaped
// value: the main cost of a Redis hit after the round trip.
func BenchmarkJSONDecode(b *testing.B) {
	now := time.Now().UTC()
	v := codecFile{ID: "0190a3c4-7d2e-7c4b-9a2f-3b6f0e1d2c3b", Name: "report.pdf", Size: 12345, ContentType: "application/pdf",
		Checksum: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Tags: []string{"docs", "q3"},
		UploaderIP: "203.0.113.7", Version: 1, CreatedAt: now, UpdatedAt: now}
	var codec cache.JSON[codecFile]
	data, err := codec.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var out codecFile
		if err := codec.Unmarshal(data, &out); err != nil {
			b.Fatal(err)
		}
	}
}
