package files_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/filecache/filecache/files"
)

// FuzzValidateNewFile checks that Validate never panics, that every error
// is a *ValidationError, and that what it accepts keeps the promises the
// store and the cache keys rely on. tags is a comma-separated list.
func FuzzValidateNewFile(f *testing.F) {
	f.Add("report.pdf", int64(12345), "application/pdf", sum, "docs,q1")
	f.Add("", int64(0), "", "", "")
	f.Add("a/b", int64(-1), "text/plain\n", "ABC", ",")
	f.Add("ÄPFEL.txt", int64(1<<50), "text/plain; charset=utf-8", "", "日本,x")
	f.Add("..", int64(1), "a", strings.Repeat("0", 64), strings.Repeat("t,", 40))
	f.Add("a\x00b\xff", int64(1<<62), "\x7f", strings.Repeat("g", 64), "\x00")
	f.Fuzz(func(t *testing.T, name string, size int64, contentType, checksum, tags string) {
		nf := files.NewFile{Name: name, Size: size, ContentType: contentType, Checksum: checksum}
		if tags != "" {
			nf.Tags = strings.Split(tags, ",")
		}
		err := nf.Validate()
		if err != nil {
			var ve *files.ValidationError
			if !errors.As(err, &ve) || ve.Field == "" || ve.Message == "" || !errors.Is(err, files.ErrInvalid) {
				t.Fatalf("error %v is not a complete *ValidationError", err)
			}
			return
		}
		switch {
		case name == "" || len(name) > files.MaxNameBytes || !utf8.ValidString(name):
			t.Fatalf("accepted name %q", name)
		case strings.ContainsAny(name, "/\\\x00\n\r"):
			t.Fatalf("accepted name %q with a separator or control character", name)
		case size < 0 || size > files.MaxSize:
			t.Fatalf("accepted size %d", size)
		case strings.ContainsAny(contentType, "\x00\r\n") || !utf8.ValidString(contentType):
			t.Fatalf("accepted content type %q", contentType)
		case checksum != "" && (len(checksum) != 64 || strings.Trim(checksum, "0123456789abcdef") != ""):
			t.Fatalf("accepted checksum %q", checksum)
		case len(nf.Tags) > files.MaxTags:
			t.Fatalf("accepted %d tags", len(nf.Tags))
		}
		for _, tag := range nf.Tags {
			if tag == "" || !utf8.ValidString(tag) || utf8.RuneCountInString(tag) > files.MaxTagRunes || strings.ContainsRune(tag, 0) {
				t.Fatalf("accepted tag %q", tag)
			}
		}
		// A valid file is a valid patch too.
		p := files.FilePatch{Name: &nf.Name, Size: &nf.Size, ContentType: &nf.ContentType, Checksum: &nf.Checksum, Tags: &nf.Tags}
		if err := p.Validate(); err != nil {
			t.Fatalf("valid NewFile, invalid FilePatch: %v", err)
		}
	})
}

// FuzzValidateID checks that ValidateID accepts exactly the canonical
// spelling: 36 bytes, lowercase hex and dashes at fixed places.
func FuzzValidateID(f *testing.F) {
	f.Add("0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b")
	f.Add("0190A6B2-7C3E-7D4F-8A1B-2C3D4E5F6A7B")
	f.Add("urn:uuid:0190a6b2-7c3e-7d4f-8a1b-2c3d4e5f6a7b")
	f.Add("")
	f.Fuzz(func(t *testing.T, id string) {
		err := files.ValidateID(id)
		canonical := len(id) == 36
		for i := 0; canonical && i < len(id); i++ {
			c := id[i]
			if i == 8 || i == 13 || i == 18 || i == 23 {
				canonical = c == '-'
			} else {
				canonical = c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
			}
		}
		if (err == nil) != canonical {
			t.Fatalf("ValidateID(%q) = %v, canonical = %v", id, err, canonical)
		}
	})
}
