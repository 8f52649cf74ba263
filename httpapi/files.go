package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// fileID returns the validated {id} of the path, or answers 400 and
// returns false.
func (s *server) fileID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if err := files.ValidateID(id); err != nil {
		s.fail(w, r, err)
		return "", false
	}
	return id, true
}

// setCache sets X-Cache to where the value came from, and marks a stale
// value (served because the database failed) with a Warning as well.
func setCache(w http.ResponseWriter, origin cache.Origin) {
	w.Header()[hdrXCache] = xCache(origin)
	if origin == cache.OriginStale {
		w.Header().Set("Warning", `110 - "Response is Stale"`)
	}
}

// POST /v1/files
func (s *server) createFile(w http.ResponseWriter, r *http.Request) {
	var nf files.NewFile
	if !s.decodeJSON(w, r, &nf) {
		return
	}
	if err := nf.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.cat.CreateFile(r.Context(), nf, ClientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/v1/files/"+url.PathEscape(f.ID))
	w.Header()[hdrETag] = []string{etag(f.Version)}
	s.writeJSON(w, http.StatusCreated, f)
}

// GET /v1/files/{id}
func (s *server) getFile(w http.ResponseWriter, r *http.Request) {
	getView(s, w, r, s.cat.GetFile, func(f files.FileMetadata) int64 { return f.Version })
}

// GET /v1/files/{id}/info
func (s *server) getFileInfo(w http.ResponseWriter, r *http.Request) {
	getView(s, w, r, s.cat.GetFileInfo, nil)
}

// GET /v1/files/{id}/meta
func (s *server) getFileMeta(w http.ResponseWriter, r *http.Request) {
	getView(s, w, r, s.cat.GetFileMeta, func(v files.FileMeta) int64 { return v.Version })
}

// getView answers a GET of one view of the file {id}, read with get: the
// view, where it came from (X-Cache) and, when version is not nil, its
// ETag.
func getView[T any](s *server, w http.ResponseWriter, r *http.Request, get func(ctx context.Context, id string) (T, cache.Origin, error), version func(T) int64) {
	id, ok := s.fileID(w, r)
	if !ok {
		return
	}
	v, origin, err := get(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setCache(w, origin)
	if version != nil {
		w.Header()[hdrETag] = []string{etag(version(v))}
	}
	s.writeJSON(w, http.StatusOK, v)
}

// PATCH /v1/files/{id}
func (s *server) updateFile(w http.ResponseWriter, r *http.Request) {
	id, ok := s.fileID(w, r)
	if !ok {
		return
	}
	ifVersion, err := parseIfMatch(r.Header)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "invalid_if_match", err.Error())
		return
	}
	var p files.FilePatch
	if !s.decodeJSON(w, r, &p) {
		return
	}
	if err := p.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	f, err := s.cat.UpdateFile(r.Context(), id, p, ifVersion)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header()[hdrETag] = []string{etag(f.Version)}
	s.writeJSON(w, http.StatusOK, f)
}

// DELETE /v1/files/{id}
func (s *server) deleteFile(w http.ResponseWriter, r *http.Request) {
	id, ok := s.fileID(w, r)
	if !ok {
		return
	}
	if err := s.cat.DeleteFile(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// GET /v1/files?q=&tag=&limit=&cursor=
func (s *server) searchFiles(w http.ResponseWriter, r *http.Request) {
	vals, ok := s.query(w, r)
	if !ok {
		return
	}
	q := files.SearchQuery{Q: vals.Get("q"), Tag: vals.Get("tag"), Cursor: vals.Get("cursor")}
	if l, present := vals["limit"]; present {
		n, ok := parseDigits(l[0], 1, files.MaxSearchLimit)
		if !ok {
			s.writeError(w, http.StatusBadRequest, "validation_failed",
				fmt.Sprintf("invalid limit: must be an integer between 1 and %d", files.MaxSearchLimit))
			return
		}
		q.Limit = int(n)
	}
	if err := q.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	res, origin, err := s.cat.SearchFiles(r.Context(), q.Normalize())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if res.Items == nil {
		res.Items = []files.FileMetadata{}
	}
	setCache(w, origin)
	s.writeJSON(w, http.StatusOK, res)
}

// query parses the query string strictly: a malformed one is 400 rather
// than silently shortened.
func (s *server) query(w http.ResponseWriter, r *http.Request) (url.Values, bool) {
	vals, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		s.writeError(w, http.StatusBadRequest, "invalid_query", "the query string is malformed")
		return nil, false
	}
	return vals, true
}

type downloadResponse struct {
	DownloadCount int64 `json:"download_count"`
}

// POST /v1/files/{id}/downloads
func (s *server) recordDownload(w http.ResponseWriter, r *http.Request) {
	id, ok := s.fileID(w, r)
	if !ok {
		return
	}
	n, err := s.cat.RecordDownload(r.Context(), id, ClientIP(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, downloadResponse{DownloadCount: n})
}

// GET /v1/stats/{date}
func (s *server) stats(w http.ResponseWriter, r *http.Request) {
	day, err := files.ParseDate(r.PathValue("date"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	st, origin, err := s.cat.Stats(r.Context(), day)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setCache(w, origin)
	s.writeJSON(w, http.StatusOK, st)
}

// GET /v1/session: the session of the client's key, its IPv6 prefix for
// an IPv6 client (Options.IPv6PrefixBits).
func (s *server) session(w http.ResponseWriter, r *http.Request) {
	us, err := s.cat.Session(r.Context(), stateOf(r.Context()).key)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, us)
}

// GET /v1/settings
func (s *server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, origin, err := s.cat.Settings(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	setCache(w, origin)
	s.writeJSON(w, http.StatusOK, st)
}

// PUT /v1/settings (admin)
func (s *server) putSettings(w http.ResponseWriter, r *http.Request) {
	var st files.SystemSettings
	if !s.decodeJSON(w, r, &st) {
		return
	}
	if err := st.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	out, err := s.cat.PutSettings(r.Context(), st)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, out)
}
