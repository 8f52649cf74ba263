package catalog

import (
	"time"

	"github.com/filecache/filecache/files"
)

// FileTTL is the dynamic TTL of a file's metadata: popular files (by
// downloads) and large files, whose metadata rarely changes once uploaded,
// are kept longer than base, up to MaxFileTTL. Every write invalidates the
// entry anyway; the TTL only bounds how long an unused entry holds memory.
func FileTTL(base time.Duration, f files.FileMetadata) time.Duration {
	factor := 1.0
	switch {
	case f.DownloadCount >= 1000:
		factor *= 4
	case f.DownloadCount >= 100:
		factor *= 2
	}
	if f.Size >= 1<<30 {
		factor *= 1.5
	}
	return min(time.Duration(float64(base)*factor), max(base, MaxFileTTL))
}

// InfoTTL is the dynamic TTL of a file's info view: the view of a download
// page, kept longer for popular files (×2 at 100 downloads, ×4 at 1000),
// up to MaxFileTTL. It is shorter than the record's because it carries the
// download count: should an invalidation be lost (a failover), the TTL
// bounds how long the count can lag. The size does not matter: the view is
// small.
func InfoTTL(base time.Duration, i files.FileInfo) time.Duration {
	factor := 1.0
	switch {
	case i.DownloadCount >= 1000:
		factor = 4
	case i.DownloadCount >= 100:
		factor = 2
	}
	return min(time.Duration(float64(base)*factor), max(base, MaxFileTTL))
}
