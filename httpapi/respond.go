package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	gojson "github.com/goccy/go-json"
)

// statusClientClosedRequest is logged (and "sent") when the client went away
// before the answer was ready, as nginx does.
const statusClientClosedRequest = 499

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// internalBody is the answer when even encoding the answer failed.
var internalBody = []byte(`{"error":{"code":"internal","message":"internal error"}}`)

// writeJSON writes v as the JSON body of a response with the given status.
// It is the only place that writes a JSON body.
func (s *server) writeJSON(w http.ResponseWriter, status int, v any) {
	// goccy/go-json writes what encoding/json writes (HTML-escaped too),
	// in a third of the time: on a near hit the encoding was the largest
	// cost of the handler.
	b, err := gojson.Marshal(v)
	if err != nil {
		s.log.Error("encode response", slog.Any("error", err))
		status, b = http.StatusInternalServerError, internalBody
	}
	h := w.Header()
	h[hdrContentType] = jsonContentType
	h[hdrContentTypeOptions] = nosniff
	delete(h, hdrContentLength)
	w.WriteHeader(status)
	// The newline is a write of its own: appending it to b would copy
	// the body (goccy returns a slice without spare room); both land in
	// the response's buffer.
	_, _ = w.Write(b)
	_, _ = w.Write(newline)
}

var newline = []byte("\n")

// writeError writes the error body {"error": {"code", "message"}}.
func (s *server) writeError(w http.ResponseWriter, status int, code, msg string) {
	s.writeJSON(w, status, errorBody{Error: errorDetail{Code: code, Message: msg}})
}

// retryAfterer is an error that knows when to retry: an overload or an open
// circuit breaker. It is answered 503 with Retry-After.
type retryAfterer interface {
	RetryAfter() time.Duration
}

// fail answers err, an error of a dependency, with its status. Only an error
// that is none of the documented ones is a 500; it is logged, and its text
// is not sent.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		ve *files.ValidationError
		ra retryAfterer
	)
	switch {
	case errors.As(err, &ve):
		s.writeError(w, http.StatusBadRequest, codeOf(ve), ve.Error())
	case errors.Is(err, files.ErrInvalid):
		s.writeError(w, http.StatusBadRequest, "validation_failed", "invalid input")
	case errors.Is(err, files.ErrNotFound):
		s.writeError(w, http.StatusNotFound, "not_found", "not found")
	case errors.Is(err, files.ErrVersionMismatch):
		s.writeError(w, http.StatusPreconditionFailed, "version_mismatch", "the file is not at the version of If-Match")
	case errors.Is(err, files.ErrConflict):
		s.writeError(w, http.StatusConflict, "conflict", "the file already exists")
	case errors.As(err, &ra):
		w.Header().Set("Retry-After", strconv.FormatInt(max(int64((ra.RetryAfter()+time.Second-1)/time.Second), 1), 10))
		s.writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is overloaded; retry later")
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "request refused", slog.String("route", RoutePattern(r)), slog.Any("error", err))
	case errors.Is(err, cache.ErrClosed):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusServiceUnavailable, "unavailable", "the service is shutting down")
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads this answer.
		s.writeError(w, statusClientClosedRequest, "canceled", "request canceled")
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", "1")
		s.writeError(w, http.StatusServiceUnavailable, "unavailable", "the request timed out")
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "request timed out", slog.String("route", RoutePattern(r)), slog.Any("error", err))
	default:
		s.log.LogAttrs(r.Context(), slog.LevelError, "request failed",
			slog.String("method", r.Method), slog.String("route", RoutePattern(r)), slog.Any("error", err))
		s.writeError(w, http.StatusInternalServerError, "internal", "internal error")
	}
}

// codeOf returns the error code of a validation error: a few fields have
// their own, the rest are validation_failed.
func codeOf(ve *files.ValidationError) string {
	switch {
	case ve.Field == "id":
		return "invalid_id"
	case ve.Field == "date":
		return "invalid_date"
	case ve.Field == "cursor" || errors.Is(ve, files.ErrBadCursor):
		return "invalid_cursor"
	case ve.Field == "confirm_all":
		return "confirmation_required"
	}
	return "validation_failed"
}

// truncate returns at most n bytes of s, cut at a rune boundary, with
// invalid UTF-8 replaced: safe to echo in a message or a log.
func truncate(s string, n int) string {
	if len(s) > n {
		i := n
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i] + "…"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// cleanPath returns the canonical form of p, as http.ServeMux computes it:
// "." and ".." resolved, repeated slashes removed, a trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
