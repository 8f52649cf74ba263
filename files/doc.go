// Package files holds the domain of the file-metadata service: the values the
// service stores and caches (FileMetadata, UserSession, FileStats,
// SystemSettings, SearchResult), the rules that say which input
// is valid, and the Repository interface that a SQL store implements.
//
// The package does no I/O. Validation is pure and errors are values:
// every rejected input is a *ValidationError naming the JSON field, and
// errors.Is(err, ErrInvalid) holds for all of them, so the HTTP layer can
// answer 400 without string matching:
//
//	var nf files.NewFile
//	if err := json.NewDecoder(r.Body).Decode(&nf); err != nil { ... }
//	if err := nf.Validate(); err != nil {
//		var ve *files.ValidationError
//		errors.As(err, &ve) // ve.Field == "name", ve.Message == "..."
//	}
//
// Repository methods report a missing file with ErrNotFound and a stale
// If-Match version with ErrVersionMismatch.
//
// All types are plain values; the functions in this package are safe for
// concurrent use.
package files
