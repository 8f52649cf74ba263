package httpapi

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// UnmatchedRoute is the route pattern of a request that matched no route
// (a 404 or 405 of the router).
const UnmatchedRoute = "unmatched"

// reqState is what the middleware learns about a request, shared by
// pointer through its context. It is that context: a context.Context that
// answers stateKey with itself saves the request a separate allocation
// for context.WithValue; the response's statusWriter lives in it for the
// same reason. (Work that outlives the request on a context derived from
// it, such as a refresh, keeps the response writer reachable until it
// ends.)
type reqState struct {
	context.Context
	start time.Time
	route string       // pattern of the matched route, set by the route's handler
	ip    string       // client IP resolved by resolveClientIP; "" if unknown
	key   string       // the client's rate-limit and session key (see clientKey)
	w     statusWriter // the response, as every layer after withState sees it
}

type stateKey struct{}

// Value answers stateKey with the state and passes other keys on.
func (st *reqState) Value(key any) any {
	if key == (stateKey{}) {
		return st
	}
	return st.Context.Value(key)
}

func stateOf(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

// RoutePattern returns the pattern of the route that served r, such as
// "GET /v1/files/{id}", or UnmatchedRoute. It is meant for metric labels:
// its values are the bounded set of the routing table. It works on any
// request derived from the one the handler of New received, once routing is
// done (inside a handler or after it returned).
func RoutePattern(r *http.Request) string {
	if st := stateOf(r.Context()); st != nil && st.route != "" {
		return st.route
	}
	return UnmatchedRoute
}

// ClientIP returns the client IP that New's handler resolved for r (see
// Options.TrustedProxies), or "" if it is unknown.
func ClientIP(r *http.Request) string {
	if st := stateOf(r.Context()); st != nil {
		return st.ip
	}
	return ""
}

// statusWriter records the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// withState is the outermost layer: it attaches the request state and the
// status-recording writer that the other layers share.
func (s *server) withState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{Context: r.Context(), start: s.now()}
		st.w.ResponseWriter = w
		next.ServeHTTP(&st.w, r.WithContext(st))
	})
}

// recoverer turns a panic into a logged 500: the service keeps running and
// the client gets a JSON error (if nothing was written yet).
// http.ErrAbortHandler is passed on, as net/http expects.
func (s *server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic serving request",
				slog.String("method", r.Method),
				slog.String("route", RoutePattern(r)),
				slog.String("panic", fmt.Sprint(p)),
				slog.String("stack", string(debug.Stack())),
			)
			if sw, ok := w.(*statusWriter); !ok || sw.status == 0 {
				s.writeError(w, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// slowRequest is how long a request takes before its log line is at Info
// whatever its status.
const slowRequest = time.Second

// logRequests logs one line per request: at Debug, or Info for 4xx and
// slow requests, Error for 5xx. It logs in a deferred call so that a
// request that panics is logged too (as the 500 it becomes).
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, _ := w.(*statusWriter)
		st := stateOf(r.Context())
		done := false
		defer func() {
			status, size := http.StatusOK, int64(0)
			if sw != nil {
				status, size = sw.status, sw.bytes
			}
			if !done && status == 0 {
				status = http.StatusInternalServerError // panicking: recoverer answers 500
			}
			if status == 0 {
				status = http.StatusOK
			}
			d := s.now().Sub(st.start)
			route := RoutePattern(r)
			// Every request is counted in the metrics; a line each is for
			// debugging: at 20,000 requests a second the lines cost more
			// than a near hit. Info keeps what an operator reads.
			level := slog.LevelDebug
			switch {
			case status >= 500:
				level = slog.LevelError
			case status >= 400 || d >= slowRequest:
				level = slog.LevelInfo
			}
			if s.log.Enabled(r.Context(), level) { // the attributes cost, even when dropped
				s.log.LogAttrs(r.Context(), level, "http request",
					slog.String("method", truncate(r.Method, 32)),
					slog.String("route", route),
					slog.String("path", truncate(r.URL.Path, 256)),
					slog.Int("status", status),
					slog.Duration("duration", d),
					slog.Int64("bytes", size),
					slog.String("client_ip", st.ip),
				)
			}
			if s.observe != nil {
				s.observe(methodLabel(r.Method), route, status, d)
			}
		}()
		next.ServeHTTP(w, r)
		done = true
	})
}

// methodLabel maps a method to a bounded set of label values.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}

// resolveClientIP stores the client IP in the request state.
func (s *server) resolveClientIP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := stateOf(r.Context())
		if a := clientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), s.trusted); a.IsValid() {
			st.ip = a.String()
			st.key = st.ip // an IPv4 client's key is its address (clientKey)
			if a.Is6() {
				st.key = clientKey(a, s.v6bits)
			}
		} else {
			st.key = "unknown"
		}
		next.ServeHTTP(w, r)
	})
}

// isV1 reports whether r is a request of the /v1 API, the part that is rate
// limited and counted in sessions.
func isV1(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/v1/") || r.URL.Path == "/v1"
}

// rateLimit limits /v1 requests per client IP. A Limiter error lets the
// request through (fail open): losing the limiter must not take the API
// down.
func (s *server) rateLimit(next http.Handler) http.Handler {
	if s.limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isV1(r) {
			next.ServeHTTP(w, r)
			return
		}
		st := stateOf(r.Context())
		info, ok, err := s.limiter.Allow(r.Context(), st.key)
		if err != nil {
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "rate limiter failed; request allowed",
				slog.String("client_ip", st.ip), slog.Any("error", err))
			next.ServeHTTP(w, r)
			return
		}
		reset := secondsUntil(s.now(), info.Reset)
		if info.Limit > 0 {
			// Under canonical keys (Header.Set would copy each key to
			// canonicalize it), values from a table (see countValue).
			h := w.Header()
			h[hdrRateLimitLimit] = countValue(int64(info.Limit))
			h[hdrRateLimitRemaining] = countValue(int64(max(info.Remaining, 0)))
			h[hdrRateLimitReset] = countValue(reset)
		}
		if !ok {
			retry := max(reset, 1)
			w.Header().Set("Retry-After", strconv.FormatInt(retry, 10))
			s.writeError(w, http.StatusTooManyRequests, "rate_limited",
				fmt.Sprintf("rate limit exceeded; retry in %d s", retry))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// secondsUntil returns the whole seconds from now until t, rounded up, and
// 0 if t is not after now.
func secondsUntil(now, t time.Time) int64 {
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// touchSession records every /v1 request in the client's session (keyed
// as rate limits are), best effort: a failure is logged at debug level and
// the request goes on.
func (s *server) touchSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if st := stateOf(r.Context()); st.ip != "" && isV1(r) {
			if err := s.cat.TouchSession(r.Context(), st.key); err != nil {
				s.log.LogAttrs(r.Context(), slog.LevelDebug, "session touch failed",
					slog.String("client_ip", st.ip), slog.Any("error", err))
			}
		}
		next.ServeHTTP(w, r)
	})
}
