package files_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/filecache/filecache/files"
)

const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"

// checkField fails t unless err is a *files.ValidationError naming
// wantField, or nil when wantField is empty.
func checkField(t *testing.T, err error, wantField string) {
	t.Helper()
	if wantField == "" {
		if err != nil {
			t.Fatalf("error = %v, want nil", err)
		}
		return
	}
	var ve *files.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v, want a *files.ValidationError", err)
	}
	if ve.Field != wantField {
		t.Errorf("Field = %q, want %q (error %v)", ve.Field, wantField, err)
	}
	if ve.Message == "" {
		t.Error("empty Message")
	}
	if !errors.Is(err, files.ErrInvalid) {
		t.Error("errors.Is(err, ErrInvalid) = false")
	}
}

func TestValidateID(t *testing.T) {
	tests := []struct {
		id    string
		valid bool
	}{
		{"0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b", true},
		{"123e4567-e89b-12d3-a456-426614174000", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{files.NewID(), true},
		{"123E4567-E89B-12D3-A456-426614174000", false}, // upper case
		{"{123e4567-e89b-12d3-a456-426614174000}", false},
		{"urn:uuid:123e4567-e89b-12d3-a456-426614174000", false},
		{"123e4567e89b12d3a456426614174000", false}, // no dashes
		{"123e4567-e89b-12d3-a456-42661417400", false},
		{"123e4567-e89b-12d3-a456-4266141740000", false},
		{"123e4567-e89b-12d3-a456-42661417400g", false},
		{"123e4567+e89b-12d3-a456-426614174000", false},
		{"", false},
		{"../../etc/passwd", false},
		{"*", false},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			want := "id"
			if tc.valid {
				want = ""
			}
			checkField(t, files.ValidateID(tc.id), want)
		})
	}
}

func TestNewFileValidate(t *testing.T) {
	valid := files.NewFile{Name: "report.pdf", Size: 12345, ContentType: "application/pdf", Checksum: sum, Tags: []string{"docs"}}
	with := func(f func(*files.NewFile)) files.NewFile {
		nf := valid
		nf.Tags = append([]string(nil), valid.Tags...)
		f(&nf)
		return nf
	}
	manyTags := make([]string, files.MaxTags)
	for i := range manyTags {
		manyTags[i] = "t"
	}
	tests := []struct {
		name      string
		in        files.NewFile
		wantField string
	}{
		{name: "valid", in: valid},
		{name: "minimal", in: files.NewFile{Name: "a"}},
		{name: "name of 255 bytes", in: with(func(f *files.NewFile) { f.Name = strings.Repeat("a", 255) })},
		{name: "multibyte name of 255 bytes", in: with(func(f *files.NewFile) { f.Name = strings.Repeat("€", 85) })},
		{name: "name with spaces and dots", in: with(func(f *files.NewFile) { f.Name = " my .file. " })},
		{name: "name ...", in: with(func(f *files.NewFile) { f.Name = "..." })},
		{name: "empty name", in: with(func(f *files.NewFile) { f.Name = "" }), wantField: "name"},
		{name: "name of 256 bytes", in: with(func(f *files.NewFile) { f.Name = strings.Repeat("a", 256) }), wantField: "name"},
		{name: "multibyte name over 255 bytes", in: with(func(f *files.NewFile) { f.Name = strings.Repeat("€", 86) }), wantField: "name"},
		{name: "slash", in: with(func(f *files.NewFile) { f.Name = "a/b" }), wantField: "name"},
		{name: "backslash", in: with(func(f *files.NewFile) { f.Name = `a\b` }), wantField: "name"},
		{name: "NUL", in: with(func(f *files.NewFile) { f.Name = "a\x00b" }), wantField: "name"},
		{name: "newline", in: with(func(f *files.NewFile) { f.Name = "a\nb" }), wantField: "name"},
		{name: "C1 control", in: with(func(f *files.NewFile) { f.Name = "a\u0085b" }), wantField: "name"},
		{name: "invalid UTF-8", in: with(func(f *files.NewFile) { f.Name = "a\xffb" }), wantField: "name"},
		{name: "dot", in: with(func(f *files.NewFile) { f.Name = "." }), wantField: "name"},
		{name: "dot dot", in: with(func(f *files.NewFile) { f.Name = ".." }), wantField: "name"},
		{name: "size 0", in: with(func(f *files.NewFile) { f.Size = 0 })},
		{name: "max size", in: with(func(f *files.NewFile) { f.Size = files.MaxSize })},
		{name: "negative size", in: with(func(f *files.NewFile) { f.Size = -1 }), wantField: "size"},
		{name: "size over max", in: with(func(f *files.NewFile) { f.Size = files.MaxSize + 1 }), wantField: "size"},
		{name: "no content type", in: with(func(f *files.NewFile) { f.ContentType = "" })},
		{name: "content type with parameters", in: with(func(f *files.NewFile) { f.ContentType = "text/plain; charset=utf-8" })},
		{name: "content type with newline", in: with(func(f *files.NewFile) { f.ContentType = "text/plain\r\nX: y" }), wantField: "content_type"},
		{name: "content type non-ASCII", in: with(func(f *files.NewFile) { f.ContentType = "text/plän" }), wantField: "content_type"},
		{name: "content type too long", in: with(func(f *files.NewFile) { f.ContentType = strings.Repeat("a", 256) }), wantField: "content_type"},
		{name: "no checksum", in: with(func(f *files.NewFile) { f.Checksum = "" })},
		{name: "upper-case checksum", in: with(func(f *files.NewFile) { f.Checksum = strings.ToUpper(sum) }), wantField: "checksum"},
		{name: "short checksum", in: with(func(f *files.NewFile) { f.Checksum = sum[:63] }), wantField: "checksum"},
		{name: "long checksum", in: with(func(f *files.NewFile) { f.Checksum = sum + "0" }), wantField: "checksum"},
		{name: "non-hex checksum", in: with(func(f *files.NewFile) { f.Checksum = sum[:63] + "g" }), wantField: "checksum"},
		{name: "no tags", in: with(func(f *files.NewFile) { f.Tags = nil })},
		{name: "32 tags", in: with(func(f *files.NewFile) { f.Tags = manyTags })},
		{name: "33 tags", in: with(func(f *files.NewFile) { f.Tags = append(manyTags, "x") }), wantField: "tags"},
		{name: "tag of 64 runes", in: with(func(f *files.NewFile) { f.Tags = []string{strings.Repeat("ä", 64)} })},
		{name: "tag of 65 runes", in: with(func(f *files.NewFile) { f.Tags = []string{strings.Repeat("a", 65)} }), wantField: "tags"},
		{name: "empty tag", in: with(func(f *files.NewFile) { f.Tags = []string{"ok", ""} }), wantField: "tags"},
		{name: "tag with NUL", in: with(func(f *files.NewFile) { f.Tags = []string{"a\x00"} }), wantField: "tags"},
		{name: "tag invalid UTF-8", in: with(func(f *files.NewFile) { f.Tags = []string{"\xc3"} }), wantField: "tags"},
		{name: "duplicate tags", in: with(func(f *files.NewFile) { f.Tags = []string{"a", "a"} })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
		})
	}
}

func TestFilePatchValidate(t *testing.T) {
	ptr := func(s string) *string { return &s }
	size := func(n int64) *int64 { return &n }
	tags := func(ts ...string) *[]string { return &ts }
	tests := []struct {
		name      string
		in        files.FilePatch
		wantField string
		wantEmpty bool
	}{
		{name: "empty", in: files.FilePatch{}, wantEmpty: true},
		{name: "all valid", in: files.FilePatch{Name: ptr("n"), ContentType: ptr("a/b"), Size: size(1), Checksum: ptr(sum), Tags: tags("x")}},
		{name: "clear checksum", in: files.FilePatch{Checksum: ptr("")}},
		{name: "clear tags", in: files.FilePatch{Tags: tags()}},
		{name: "empty name", in: files.FilePatch{Name: ptr("")}, wantField: "name"},
		{name: "path name", in: files.FilePatch{Name: ptr("../x")}, wantField: "name"},
		{name: "negative size", in: files.FilePatch{Size: size(-5)}, wantField: "size"},
		{name: "bad content type", in: files.FilePatch{ContentType: ptr("\x7f")}, wantField: "content_type"},
		{name: "bad checksum", in: files.FilePatch{Checksum: ptr("abc")}, wantField: "checksum"},
		{name: "bad tag", in: files.FilePatch{Tags: tags("")}, wantField: "tags"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
			if got := tc.in.IsEmpty(); got != tc.wantEmpty {
				t.Errorf("IsEmpty = %v, want %v", got, tc.wantEmpty)
			}
		})
	}
}

func TestSearchQuery(t *testing.T) {
	tests := []struct {
		name      string
		in        files.SearchQuery
		wantNorm  files.SearchQuery
		wantField string
	}{
		{name: "zero gets the default limit", in: files.SearchQuery{}, wantNorm: files.SearchQuery{Limit: 50}},
		{name: "limit 1", in: files.SearchQuery{Limit: 1}, wantNorm: files.SearchQuery{Limit: 1}},
		{name: "limit 200", in: files.SearchQuery{Q: "a", Tag: "t", Limit: 200, Cursor: "c"}, wantNorm: files.SearchQuery{Q: "a", Tag: "t", Limit: 200, Cursor: "c"}},
		{name: "limit 201", in: files.SearchQuery{Limit: 201}, wantNorm: files.SearchQuery{Limit: 201}, wantField: "limit"},
		{name: "negative limit", in: files.SearchQuery{Limit: -1}, wantNorm: files.SearchQuery{Limit: -1}, wantField: "limit"},
		{name: "wildcards are fine", in: files.SearchQuery{Q: `%_*?[]\`}, wantNorm: files.SearchQuery{Q: `%_*?[]\`, Limit: 50}},
		{name: "q too long", in: files.SearchQuery{Q: strings.Repeat("q", 256)}, wantNorm: files.SearchQuery{Q: strings.Repeat("q", 256), Limit: 50}, wantField: "q"},
		{name: "q with NUL", in: files.SearchQuery{Q: "\x00"}, wantNorm: files.SearchQuery{Q: "\x00", Limit: 50}, wantField: "q"},
		{name: "bad tag", in: files.SearchQuery{Tag: "\n"}, wantNorm: files.SearchQuery{Tag: "\n", Limit: 50}, wantField: "tag"},
		{name: "cursor too long", in: files.SearchQuery{Cursor: strings.Repeat("c", 513)}, wantNorm: files.SearchQuery{Cursor: strings.Repeat("c", 513), Limit: 50}, wantField: "cursor"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			norm := tc.in.Normalize()
			if diff := cmp.Diff(tc.wantNorm, norm); diff != "" {
				t.Errorf("Normalize (-want +got):\n%s", diff)
			}
			checkField(t, tc.in.Validate(), tc.wantField)
			checkField(t, norm.Validate(), tc.wantField)
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "2024-03-10", want: time.Date(2024, 3, 10, 0, 0, 0, 0, time.UTC)},
		{in: "2024-02-29", want: time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{in: "0001-01-01", want: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2023-02-29", wantErr: true},
		{in: "2024-3-10", wantErr: true},
		{in: "2024-03-1", wantErr: true},
		{in: "2024-13-01", wantErr: true},
		{in: "2024/03/10", wantErr: true},
		{in: "2024-03-10T00:00:00Z", wantErr: true},
		{in: " 2024-03-10", wantErr: true},
		{in: "+024-03-10", wantErr: true},
		{in: "", wantErr: true},
		{in: "today", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := files.ParseDate(tc.in)
			if tc.wantErr {
				checkField(t, err, "date")
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(tc.want) || got.Location() != time.UTC {
				t.Errorf("ParseDate = %v, want %v", got, tc.want)
			}
			if files.Day(got) != tc.in {
				t.Errorf("Day(ParseDate(%q)) = %q", tc.in, files.Day(got))
			}
		})
	}
}

func TestSettingsValidate(t *testing.T) {
	with := func(f func(*files.SystemSettings)) files.SystemSettings {
		s := files.DefaultSettings()
		f(&s)
		return s
	}
	tests := []struct {
		name      string
		in        files.SystemSettings
		wantField string
	}{
		{name: "defaults", in: files.DefaultSettings()},
		{name: "content types", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{"image/*", "application/pdf", "*/*"} })},
		{name: "zero max size", in: with(func(s *files.SystemSettings) { s.MaxFileSize = 0 }), wantField: "max_file_size"},
		{name: "max size over the limit", in: with(func(s *files.SystemSettings) { s.MaxFileSize = files.MaxSize + 1 }), wantField: "max_file_size"},
		{name: "bad content type", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{"pdf"} }), wantField: "allowed_content_types"},
		{name: "content type with params", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{"text/plain; charset=utf-8"} }), wantField: "allowed_content_types"},
		{name: "upper-case content type", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{"Image/PNG"} })},
		{name: "content type with spaces", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{" image/png"} }), wantField: "allowed_content_types"},
		{name: "content type without subtype", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{"image/"} }), wantField: "allowed_content_types"},
		{name: "empty content type", in: with(func(s *files.SystemSettings) { s.AllowedContentTypes = []string{""} }), wantField: "allowed_content_types"},
		{name: "announcement too long", in: with(func(s *files.SystemSettings) { s.Announcement = strings.Repeat("a", 1025) }), wantField: "announcement"},
		{name: "announcement invalid", in: with(func(s *files.SystemSettings) { s.Announcement = "\xff" }), wantField: "announcement"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkField(t, tc.in.Validate(), tc.wantField)
		})
	}
}

func TestAllowsContentType(t *testing.T) {
	tests := []struct {
		allowed []string
		ct      string
		want    bool
	}{
		{allowed: nil, ct: "anything/at-all", want: true},
		{allowed: nil, ct: "", want: true},
		{allowed: []string{"image/png"}, ct: "image/png", want: true},
		{allowed: []string{"image/png"}, ct: "IMAGE/PNG", want: true},
		{allowed: []string{"Image/PNG"}, ct: "image/png", want: true},
		{allowed: []string{"image/png"}, ct: "image/jpeg", want: false},
		{allowed: []string{"image/*"}, ct: "image/jpeg", want: true},
		{allowed: []string{"image/*"}, ct: "imagex/jpeg", want: false},
		{allowed: []string{"text/plain"}, ct: "text/plain; charset=utf-8", want: true},
		{allowed: []string{"*/*"}, ct: "video/mp4", want: true},
		{allowed: []string{"image/*"}, ct: "", want: false},
		{allowed: []string{"image/*"}, ct: "garbage", want: false},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.allowed, ",")+" "+tc.ct, func(t *testing.T) {
			s := files.SystemSettings{AllowedContentTypes: tc.allowed}
			if got := s.AllowsContentType(tc.ct); got != tc.want {
				t.Errorf("AllowsContentType(%q) = %v, want %v", tc.ct, got, tc.want)
			}
		})
	}
}

func TestValidationErrorUnwrap(t *testing.T) {
	err := error(&files.ValidationError{Field: "cursor", Message: "bad", Err: files.ErrBadCursor})
	if !errors.Is(err, files.ErrBadCursor) || !errors.Is(err, files.ErrInvalid) {
		t.Errorf("errors.Is: cursor error does not match both sentinels")
	}
	if errors.Is(err, files.ErrNotFound) {
		t.Errorf("errors.Is(err, ErrNotFound) = true")
	}
	if got, want := err.Error(), "invalid cursor: bad"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// TestValidateIDAllocs holds ValidateID to no allocation for a valid id:
// the catalog checks every id, near-cache hits included.
func TestValidateIDAllocs(t *testing.T) {
	id := files.NewID()
	if n := testing.AllocsPerRun(100, func() { _ = files.ValidateID(id) }); n != 0 {
		t.Errorf("ValidateID allocates %v times per call", n)
	}
}
