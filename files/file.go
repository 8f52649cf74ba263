package files

import (
	"time"

	"github.com/google/uuid"
)

// FileMetadata describes one stored file. Its JSON form is the one of the
// HTTP API. Times are UTC with microsecond precision. A FileMetadata returned
// by a Repository always has a non-nil Tags slice.
type FileMetadata struct {
	ID            string    `json:"id"`
	Name          string    `json:"name"`
	Size          int64     `json:"size"`
	ContentType   string    `json:"content_type"`
	Checksum      string    `json:"checksum"`
	Tags          []string  `json:"tags"`
	UploaderIP    string    `json:"uploader_ip"`
	DownloadCount int64     `json:"download_count"`
	Version       int64     `json:"version"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// NewFile is the body of POST /v1/files: what a client says about a file it
// creates. The server adds the id, uploader IP, version and times.
type NewFile struct {
	Name        string   `json:"name"`
	Size        int64    `json:"size"`
	ContentType string   `json:"content_type"`
	Checksum    string   `json:"checksum"`
	Tags        []string `json:"tags"`
}

// Validate reports the first rule f breaks as a *ValidationError, or nil.
// See ValidateName, ValidateSize, ValidateContentType, ValidateChecksum and
// ValidateTags for the rules.
func (f NewFile) Validate() error {
	if err := ValidateName(f.Name); err != nil {
		return err
	}
	if err := ValidateSize(f.Size); err != nil {
		return err
	}
	if err := ValidateContentType(f.ContentType); err != nil {
		return err
	}
	if err := ValidateChecksum(f.Checksum); err != nil {
		return err
	}
	return ValidateTags(f.Tags)
}

// FilePatch is the body of PATCH /v1/files/{id}. A nil field is left as it
// is; a non-nil field replaces the stored value. Tags pointing to an empty
// (or nil) slice removes all tags; Checksum pointing to "" clears the
// checksum.
type FilePatch struct {
	Name        *string   `json:"name,omitempty"`
	ContentType *string   `json:"content_type,omitempty"`
	Size        *int64    `json:"size,omitempty"`
	Checksum    *string   `json:"checksum,omitempty"`
	Tags        *[]string `json:"tags,omitempty"`
}

// IsEmpty reports whether p changes no field.
func (p FilePatch) IsEmpty() bool {
	return p.Name == nil && p.ContentType == nil && p.Size == nil && p.Checksum == nil && p.Tags == nil
}

// Validate reports the first rule a non-nil field of p breaks as a
// *ValidationError, or nil. The rules are those of NewFile.Validate. An
// empty patch is valid.
func (p FilePatch) Validate() error {
	if p.Name != nil {
		if err := ValidateName(*p.Name); err != nil {
			return err
		}
	}
	if p.Size != nil {
		if err := ValidateSize(*p.Size); err != nil {
			return err
		}
	}
	if p.ContentType != nil {
		if err := ValidateContentType(*p.ContentType); err != nil {
			return err
		}
	}
	if p.Checksum != nil {
		if err := ValidateChecksum(*p.Checksum); err != nil {
			return err
		}
	}
	if p.Tags != nil {
		return ValidateTags(*p.Tags)
	}
	return nil
}

// NewID returns a new file id: a UUID (version 7, so that ids created close
// together sort close together in database indexes) in canonical lowercase
// form. It panics only if the system's random source fails.
func NewID() string {
	return uuid.Must(uuid.NewV7()).String()
}
