package files

import "time"

// FileInfo is the small public view of a file that a download page needs:
// GET /v1/files/{id}/info, cached apart from the full record as
// "file:info:{id}". It changes with every edit and every download.
type FileInfo struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Size          int64     `json:"size"`
	ContentType   string    `json:"content_type"`
	DownloadCount int64     `json:"download_count"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// FileMeta is the descriptive metadata of a file: GET
// /v1/files/{id}/meta, cached as "file:meta:{id}". Downloads do not change
// it (they change neither the version nor the update time), only edits do.
// Its Tags are never nil.
type FileMeta struct {
	ID         string    `json:"id"`
	Checksum   string    `json:"checksum"`
	Tags       []string  `json:"tags"`
	UploaderIP string    `json:"uploader_ip"`
	Version    int64     `json:"version"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Info returns the info view of f.
func (f FileMetadata) Info() FileInfo {
	return FileInfo{
		ID: f.ID, Name: f.Name, Size: f.Size, ContentType: f.ContentType,
		DownloadCount: f.DownloadCount, UpdatedAt: f.UpdatedAt,
	}
}

// Meta returns the meta view of f. Its Tags share f's backing array.
func (f FileMetadata) Meta() FileMeta {
	tags := f.Tags
	if tags == nil {
		tags = []string{}
	}
	return FileMeta{
		ID: f.ID, Checksum: f.Checksum, Tags: tags, UploaderIP: f.UploaderIP,
		Version: f.Version, CreatedAt: f.CreatedAt, UpdatedAt: f.UpdatedAt,
	}
}

// Valid reports whether f can be a stored file: it has a canonical id and
// its Tags are not nil. A cache treats a value it refuses as corrupt (see
// cache.FamilyOptions.Valid): JSON null or a foreign object decodes
// without error into a FileMetadata with no id.
func (f FileMetadata) Valid() bool { return ValidateID(f.ID) == nil && f.Tags != nil }

// Valid reports whether i can be the info view of a stored file: it has a
// canonical id.
func (i FileInfo) Valid() bool { return ValidateID(i.ID) == nil }

// Valid reports whether m can be the meta view of a stored file: it has a
// canonical id, a version and non-nil Tags.
func (m FileMeta) Valid() bool { return ValidateID(m.ID) == nil && m.Version > 0 && m.Tags != nil }
