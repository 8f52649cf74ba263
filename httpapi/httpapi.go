package httpapi

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/ratelimit"
	"github.com/filecache/filecache/report"
)

// Catalog is the file-metadata service behind the /v1 routes. The results
// named origin say where a value came from; they are sent as the X-Cache
// header ("hit-local", "hit" or "miss").
//
// Errors are mapped to statuses with errors.Is and errors.As: a
// *files.ValidationError is 400, files.ErrNotFound 404,
// files.ErrVersionMismatch 412, files.ErrConflict 409, an error with a
// RetryAfter() time.Duration method (an overload, an open breaker) or a
// context deadline 503; anything else is 500.
type Catalog interface {
	// GetFile returns the file, or files.ErrNotFound.
	GetFile(ctx context.Context, id string) (f files.FileMetadata, origin cache.Origin, err error)
	// GetFileInfo returns the file's info view, or files.ErrNotFound.
	GetFileInfo(ctx context.Context, id string) (v files.FileInfo, origin cache.Origin, err error)
	// GetFileMeta returns the file's meta view, or files.ErrNotFound.
	GetFileMeta(ctx context.Context, id string) (v files.FileMeta, origin cache.Origin, err error)
	// CreateFile creates a file uploaded from uploaderIP.
	CreateFile(ctx context.Context, nf files.NewFile, uploaderIP string) (files.FileMetadata, error)
	// UpdateFile applies p; ifVersion > 0 is the version of If-Match (0:
	// unconditional). It returns files.ErrNotFound or files.ErrVersionMismatch.
	UpdateFile(ctx context.Context, id string, p files.FilePatch, ifVersion int64) (files.FileMetadata, error)
	// DeleteFile deletes the file, or returns files.ErrNotFound.
	DeleteFile(ctx context.Context, id string) error
	// SearchFiles returns one page of a search; q is validated and
	// normalized. A cursor it did not make is a *files.ValidationError
	// (wrapping files.ErrBadCursor).
	SearchFiles(ctx context.Context, q files.SearchQuery) (res files.SearchResult, origin cache.Origin, err error)
	// RecordDownload counts a download by ip and returns the file's new
	// download count, or files.ErrNotFound.
	RecordDownload(ctx context.Context, id, ip string) (int64, error)
	// Stats returns the statistics of the UTC day that starts at day.
	Stats(ctx context.Context, day time.Time) (st files.FileStats, origin cache.Origin, err error)
	// Settings returns the settings in force.
	Settings(ctx context.Context) (s files.SystemSettings, origin cache.Origin, err error)
	// PutSettings replaces the settings (already validated) and returns them
	// as stored.
	PutSettings(ctx context.Context, s files.SystemSettings) (files.SystemSettings, error)
	// Session returns the session of the client ip (sliding 30 minutes).
	Session(ctx context.Context, ip string) (files.UserSession, error)
	// TouchSession records a request of ip in its session. The middleware
	// calls it on every /v1 request; an error is logged and ignored.
	TouchSession(ctx context.Context, ip string) error
}

// WarmResult is what Admin.Warm did: how many files it warmed, how many of
// them it loaded from the database (the others were cached), and how long
// it took; or, with Running, how far it got while it goes on.
type WarmResult struct {
	Files    int
	Loaded   int
	Cached   int
	Duration time.Duration
	Running  bool
}

// ErrWarmRunning is what Admin.Warm returns while another warming runs:
// 409.
var ErrWarmRunning = errors.New("a cache warming is already running")

// CacheStats is the body of GET /admin/cache/stats: the catalog's lookups
// per family and tier and its outbox backlog, with the state of the cache
// store. A part that could not be read says so in its "error" field; the
// rest is answered.
type CacheStats struct {
	catalog.CacheStats
	// Breaker is the state of the cache's circuit breaker: "closed",
	// "half-open", "open", or "none" without Redis.
	Breaker string `json:"breaker"`
	// RedisMemory is the memory of each Redis node; empty without Redis.
	RedisMemory []RedisMemory `json:"redis_memory,omitempty"`
	// Audit is what the consistency auditor found: samples,
	// inconsistencies, the oldest one's age.
	Audit *audit.Stats `json:"audit,omitempty"`
}

// RedisMemory is the memory of one Redis node, or why it is unknown.
type RedisMemory struct {
	Node      string `json:"node"`
	UsedBytes *int64 `json:"used_memory_bytes,omitempty"`
	MaxBytes  *int64 `json:"maxmemory_bytes,omitempty"` // 0: no limit
	// Error is set when the node did not answer: "unavailable".
	Error string `json:"error,omitempty"`
}

// Admin is the cache administration behind the /admin/cache routes.
type Admin interface {
	// Invalidate deletes the keys req names (see catalog.InvalidateRequest)
	// and returns how many it deleted. A request it refuses is a
	// *files.ValidationError.
	Invalidate(ctx context.Context, req catalog.InvalidateRequest) (int, error)
	// Warm loads up to limit of the most popular files into the cache, at
	// most rate database loads per second (0: no bound). A long warming
	// may go on after Warm returns (Running); one runs at a time
	// (ErrWarmRunning).
	Warm(ctx context.Context, limit int, rate float64) (WarmResult, error)
	// CacheStats returns the cache statistics. It does not fail: the parts
	// it cannot read are marked in the result.
	CacheStats(ctx context.Context) CacheStats
	// Report returns the cache efficiency report.
	Report(ctx context.Context) (*report.Report, error)
}

// Health answers /readyz.
type Health interface {
	// Ready reports whether the service can serve (the database answers) and
	// a JSON-able report of its dependencies (database, Redis, breaker).
	Ready(ctx context.Context) (ok bool, report any)
}

// Limiter is a per-key request rate limit.
type Limiter interface {
	// Allow counts one request of key in the current window and reports the
	// state, and whether the request is within the limit.
	Allow(ctx context.Context, key string) (ratelimit.Info, bool, error)
}

// Deps are the parts the handler serves from. Catalog, Admin and Health are
// required.
type Deps struct {
	Catalog Catalog
	Admin   Admin
	Health  Health
	// Limiter limits the /v1 requests per client IP. Default: nil, no limit.
	Limiter Limiter
	// Metrics is served at GET /metrics. Default: nil, /metrics is 404.
	Metrics http.Handler
	// Logger receives the request log and the errors. Default: nil, discard.
	Logger *slog.Logger
}

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is the default Options.MaxBodyBytes (1 MiB).
	DefaultMaxBodyBytes = 1 << 20
	// DefaultIPv6PrefixBits is the default Options.IPv6PrefixBits.
	DefaultIPv6PrefixBits = 64
	// DefaultAdminFailureLimit is the default Options.AdminFailureLimit.
	DefaultAdminFailureLimit = 10
)

// AdminFailureWindow is the window in which Options.AdminFailureLimit
// failed admin authentications of one client are counted.
const AdminFailureWindow = time.Minute

// Options are the optional knobs of New; the zero value means defaults.
type Options struct {
	// AdminToken is the bearer token of /admin/* and PUT /v1/settings. When
	// empty, those routes answer 403. Default: empty.
	AdminToken string
	// TrustedProxies are the peers whose X-Forwarded-For header is believed:
	// the client IP is then the rightmost entry not in these prefixes.
	// Default: none, the client IP is the connection's address.
	TrustedProxies []netip.Prefix
	// IPv6PrefixBits is the prefix length by which IPv6 clients share a
	// rate limit and a session: one client commonly holds a /64, and
	// could otherwise take a fresh budget with every address. 128 keys
	// each address. IPv4 clients are keyed by address. Default: 64.
	IPv6PrefixBits int
	// AdminFailureLimit is how many failed admin authentications (a wrong
	// or malformed bearer token) one client may make in AdminFailureWindow;
	// beyond, its admin requests are answered 429 with Retry-After, without
	// looking at the token, until the window ends. Clients are keyed as
	// for rate limits. Negative turns the limit off. Default: 10.
	AdminFailureLimit int
	// MaxBodyBytes is the largest request body; a larger one is 413.
	// Default: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Now is the clock. Default: time.Now.
	Now func() time.Time
	// Observe, when set, is called after every request with its method (one
	// of the standard methods or "OTHER"), its route pattern (see
	// RoutePattern), status and duration: label values of bounded
	// cardinality for metrics. Default: nil.
	Observe func(method, route string, status int, d time.Duration)
}

type server struct {
	cat     Catalog
	admin   Admin
	health  Health
	limiter Limiter
	metrics http.Handler
	log     *slog.Logger

	adminEnabled bool
	adminHash    [sha256.Size]byte
	authFailures *authFailures // nil: no limit
	trusted      []netip.Prefix
	v6bits       int
	maxBody      int64
	now          func() time.Time
	observe      func(method, route string, status int, d time.Duration)

	mux     *http.ServeMux
	methods []string // of the routes, for Allow (see unmatched)
	handler http.Handler
}

// New returns the handler of the whole HTTP API: the routes of API.md
// behind the middleware (recover, log, client IP, rate limit, session). It
// returns an error if a required dependency is missing or an option is
// invalid.
func New(deps Deps, opts Options) (http.Handler, error) {
	switch {
	case deps.Catalog == nil:
		return nil, errors.New("httpapi: Deps.Catalog is required")
	case deps.Admin == nil:
		return nil, errors.New("httpapi: Deps.Admin is required")
	case deps.Health == nil:
		return nil, errors.New("httpapi: Deps.Health is required")
	case opts.MaxBodyBytes < 0:
		return nil, fmt.Errorf("httpapi: Options.MaxBodyBytes is %d, want >= 0", opts.MaxBodyBytes)
	case opts.IPv6PrefixBits < 0 || opts.IPv6PrefixBits > 128:
		return nil, fmt.Errorf("httpapi: Options.IPv6PrefixBits is %d, want 1 to 128 (0: the default)", opts.IPv6PrefixBits)
	}
	s := &server{
		cat:     deps.Catalog,
		admin:   deps.Admin,
		health:  deps.Health,
		limiter: deps.Limiter,
		metrics: deps.Metrics,
		log:     deps.Logger,
		maxBody: opts.MaxBodyBytes,
		v6bits:  opts.IPv6PrefixBits,
		now:     opts.Now,
		observe: opts.Observe,
		mux:     http.NewServeMux(),
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody == 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.v6bits == 0 {
		s.v6bits = DefaultIPv6PrefixBits
	}
	if opts.AdminToken != "" {
		s.adminEnabled = true
		s.adminHash = sha256.Sum256([]byte(opts.AdminToken))
		limit := opts.AdminFailureLimit
		if limit == 0 {
			limit = DefaultAdminFailureLimit
		}
		if limit > 0 {
			s.authFailures = newAuthFailures(limit, AdminFailureWindow, s.now)
		}
	}
	for i, p := range opts.TrustedProxies {
		if !p.IsValid() {
			return nil, fmt.Errorf("httpapi: Options.TrustedProxies[%d] is not a valid prefix", i)
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			// Client addresses are unmapped; so are the prefixes they are checked against.
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		s.trusted = append(s.trusted, p.Masked())
	}
	s.routes()
	s.handler = s.withState(s.recoverer(s.logRequests(s.resolveClientIP(s.rateLimit(s.touchSession(http.HandlerFunc(s.dispatch)))))))
	return s.handler, nil
}

// routes is the routing table: every route of the API, in one place.
func (s *server) routes() {
	s.handle("POST /v1/files", s.createFile)
	s.handle("GET /v1/files", s.searchFiles)
	s.handle("GET /v1/files/{id}", s.getFile)
	s.handle("GET /v1/files/{id}/info", s.getFileInfo)
	s.handle("GET /v1/files/{id}/meta", s.getFileMeta)
	s.handle("PATCH /v1/files/{id}", s.updateFile)
	s.handle("DELETE /v1/files/{id}", s.deleteFile)
	s.handle("POST /v1/files/{id}/downloads", s.recordDownload)
	s.handle("GET /v1/stats/{date}", s.stats)
	s.handle("GET /v1/session", s.session)
	s.handle("GET /v1/settings", s.getSettings)
	s.handle("PUT /v1/settings", s.requireAdmin(s.putSettings))

	s.handle("GET /admin/cache/stats", s.requireAdmin(s.cacheStats))
	s.handle("POST /admin/cache/invalidate", s.requireAdmin(s.invalidate))
	s.handle("POST /admin/cache/warm", s.requireAdmin(s.warm))
	s.handle("GET /admin/cache/report", s.requireAdmin(s.report))

	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	if s.metrics != nil {
		s.handle("GET /metrics", s.metrics.ServeHTTP)
	}
	// Not through handle: the route of what it answers is UnmatchedRoute.
	s.mux.HandleFunc(catchAll, s.unmatched)
}

// catchAll is the pattern of unmatched.
const catchAll = "/"

// handle registers h for pattern and records the pattern of every request
// it serves, for the request log, RoutePattern and the request's span.
func (s *server) handle(pattern string, h http.HandlerFunc) {
	if m, _, ok := strings.Cut(pattern, " "); ok {
		s.addMethod(m)
		if m == http.MethodGet {
			s.addMethod(http.MethodHead) // a GET route serves HEAD
		}
	}
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if st := stateOf(r.Context()); st != nil {
			st.route = r.Pattern
		}
		nameSpan(r)
		h(w, r)
	})
}

// addMethod adds m to the methods unmatched tries for Allow.
func (s *server) addMethod(m string) {
	if !slices.Contains(s.methods, m) {
		s.methods = append(s.methods, m)
	}
}

// dispatch routes r. Paths that are not in canonical form are 404 (no
// redirects: an API client should send the path it means); the router
// matches each request once, and what no route matches goes to unmatched.
func (s *server) dispatch(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "" || p[0] != '/' || cleanPath(p) != p {
		s.writeError(w, http.StatusNotFound, "not_found", "no route for this path")
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unmatched, the router's catch-all, answers a request that no route
// matched: 405 with Allow when the path has routes for other methods,
// else 404. Finding the methods costs a match per method of the routing
// table, on this error path only.
func (s *server) unmatched(w http.ResponseWriter, r *http.Request) {
	var allow []string
	probe := r.WithContext(r.Context())
	for _, m := range s.methods {
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != catchAll {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		s.writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "method "+truncate(r.Method, 32)+" is not allowed on this path")
		return
	}
	s.writeError(w, http.StatusNotFound, "not_found", "no route for this path")
}
