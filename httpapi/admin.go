package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/filecache/filecache/catalog"
)

// Limits of POST /admin/cache/invalidate and POST /admin/cache/warm.
const (
	// MaxInvalidateItems is the most keys, and the most tags, one
	// invalidation names.
	MaxInvalidateItems = 1000
	// MaxInvalidateKeyBytes is the longest key or tag of an invalidation.
	MaxInvalidateKeyBytes = 512
	// MaxPatternBytes is the longest pattern of an invalidation.
	MaxPatternBytes = 256
	// DefaultWarmLimit is the number of files warmed when ?limit= is absent.
	DefaultWarmLimit = 100
	// MaxWarmLimit is the largest ?limit= of a warm.
	MaxWarmLimit = catalog.MaxWarmLimit
	// MaxWarmRate is the largest ?rate= of a warm, in loads per second.
	MaxWarmRate = 1_000_000
)

// requireAdmin lets a request through only with the admin bearer token:
// 403 when no token is configured, 401 (with WWW-Authenticate) without the
// right one. The tokens are compared as SHA-256 digests in constant time,
// which hides their length too. A client that sent wrong tokens too often
// (Options.AdminFailureLimit) is answered 429 with Retry-After, its token
// not compared, until its window ends.
func (s *server) requireAdmin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.adminEnabled {
			s.writeError(w, http.StatusForbidden, "forbidden", "the admin API is disabled: no admin token is configured")
			return
		}
		client := stateOf(r.Context()).key
		if s.authFailures != nil {
			if left, blocked := s.authFailures.blocked(client); blocked {
				retry := max(int64((left+time.Second-1)/time.Second), 1)
				w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
				s.writeError(w, http.StatusTooManyRequests, "rate_limited",
					fmt.Sprintf("too many failed admin authentications; retry in %d s", retry))
				return
			}
		}
		header := r.Header.Get("Authorization")
		scheme, token, found := strings.Cut(header, " ")
		if !found || !strings.EqualFold(scheme, "Bearer") || token == "" {
			s.authFailed(client, header != "")
			w.Header().Set("WWW-Authenticate", `Bearer realm="filecache"`)
			s.writeError(w, http.StatusUnauthorized, "unauthorized", "an admin bearer token is required")
			return
		}
		got := sha256.Sum256([]byte(strings.TrimSpace(token)))
		if subtle.ConstantTimeCompare(got[:], s.adminHash[:]) != 1 {
			s.authFailed(client, true)
			w.Header().Set("WWW-Authenticate", `Bearer realm="filecache", error="invalid_token"`)
			s.writeError(w, http.StatusUnauthorized, "unauthorized", "the admin bearer token is wrong")
			return
		}
		h(w, r)
	}
}

// authFailed counts a failed authentication of client if it was an
// attempt: a request without an Authorization header guesses nothing.
func (s *server) authFailed(client string, attempt bool) {
	if attempt && s.authFailures != nil {
		s.authFailures.fail(client)
	}
}

// GET /admin/cache/stats: answered even while the database or Redis is
// down, the parts that failed marked.
func (s *server) cacheStats(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, s.admin.CacheStats(r.Context()))
}

type invalidateRequest struct {
	Keys       []string `json:"keys"`
	Tags       []string `json:"tags"`
	Pattern    string   `json:"pattern"`
	ConfirmAll bool     `json:"confirm_all"`
}

type invalidateResponse struct {
	Deleted int `json:"deleted"`
}

// POST /admin/cache/invalidate
func (s *server) invalidate(w http.ResponseWriter, r *http.Request) {
	var req invalidateRequest
	if !s.decodeJSON(w, r, &req) {
		return
	}
	if msg := req.validate(); msg != "" {
		s.writeError(w, http.StatusBadRequest, "validation_failed", msg)
		return
	}
	n, err := s.admin.Invalidate(r.Context(), catalog.InvalidateRequest{
		Keys: req.Keys, Tags: req.Tags, Pattern: req.Pattern, ConfirmAll: req.ConfirmAll,
	})
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, invalidateResponse{Deleted: n})
}

// validate returns what is wrong with req, naming the field, or "".
func (req invalidateRequest) validate() string {
	if len(req.Keys) == 0 && len(req.Tags) == 0 && req.Pattern == "" {
		return "invalid keys: at least one of keys, tags or pattern must be given"
	}
	for _, f := range []struct {
		name  string
		items []string
	}{{"keys", req.Keys}, {"tags", req.Tags}} {
		if len(f.items) > MaxInvalidateItems {
			return fmt.Sprintf("invalid %s: at most %d entries", f.name, MaxInvalidateItems)
		}
		for i, k := range f.items {
			if msg := checkKeyText(k, MaxInvalidateKeyBytes); msg != "" {
				return fmt.Sprintf("invalid %s: entry %d %s", f.name, i, msg)
			}
		}
	}
	if req.Pattern != "" {
		if msg := checkKeyText(req.Pattern, MaxPatternBytes); msg != "" {
			return "invalid pattern: " + msg
		}
	}
	return ""
}

// checkKeyText returns what is wrong with a key, tag or pattern, or "".
func checkKeyText(s string, maxBytes int) string {
	switch {
	case s == "":
		return "must not be empty"
	case len(s) > maxBytes:
		return fmt.Sprintf("must be at most %d bytes", maxBytes)
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "must not contain control characters"
	}
	return ""
}

type warmResponse struct {
	Files      int     `json:"files"`
	Loaded     int     `json:"loaded"`
	Cached     int     `json:"already_cached"`
	DurationMS float64 `json:"duration_ms"`
	Running    bool    `json:"running"`
}

// POST /admin/cache/warm?limit=&rate=: the limit most downloaded files, at
// most rate database loads per second (absent: catalog.DefaultWarmRate; 0:
// no bound). 200 with the counts when it ended, 202 with the counts so far
// when it goes on in the background, 409 while another one runs.
func (s *server) warm(w http.ResponseWriter, r *http.Request) {
	vals, ok := s.query(w, r)
	if !ok {
		return
	}
	limit := int64(DefaultWarmLimit)
	if l, present := vals["limit"]; present {
		if limit, ok = parseDigits(l[0], 1, MaxWarmLimit); !ok {
			s.writeError(w, http.StatusBadRequest, "validation_failed",
				fmt.Sprintf("invalid limit: must be an integer between 1 and %d", MaxWarmLimit))
			return
		}
	}
	rate := int64(catalog.DefaultWarmRate)
	if v, present := vals["rate"]; present {
		if rate, ok = parseDigits(v[0], 0, MaxWarmRate); !ok {
			s.writeError(w, http.StatusBadRequest, "validation_failed",
				fmt.Sprintf("invalid rate: must be an integer between 0 (no bound) and %d loads per second", MaxWarmRate))
			return
		}
	}
	res, err := s.admin.Warm(r.Context(), int(limit), float64(rate))
	if errors.Is(err, ErrWarmRunning) {
		s.writeError(w, http.StatusConflict, "conflict", "a cache warming is already running; retry when it ends")
		return
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusOK
	if res.Running {
		status = http.StatusAccepted
	}
	s.writeJSON(w, status, warmResponse{
		Files:      res.Files,
		Loaded:     res.Loaded,
		Cached:     res.Cached,
		DurationMS: float64(res.Duration.Round(time.Microsecond)) / float64(time.Millisecond),
		Running:    res.Running,
	})
}

// GET /admin/cache/report
func (s *server) report(w http.ResponseWriter, r *http.Request) {
	rep, err := s.admin.Report(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, rep)
}

type healthResponse struct {
	Status string       `json:"status"`
	Checks any          `json:"checks,omitempty"`
	Error  *errorDetail `json:"error,omitempty"`
}

// GET /healthz: the process runs.
func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	s.writeJSON(w, http.StatusOK, healthResponse{Status: "ok"})
}

// GET /readyz: 200 when the service can serve, 503 otherwise; the body
// carries the report of the dependencies either way, and on 503 the usual
// error object too.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, rep := s.health.Ready(r.Context())
	if ok {
		s.writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Checks: rep})
		return
	}
	w.Header().Set("Retry-After", "1")
	s.writeJSON(w, http.StatusServiceUnavailable, healthResponse{
		Status: "unavailable",
		Checks: rep,
		Error:  &errorDetail{Code: "unavailable", Message: "the service is not ready"},
	})
}
