package metrics

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/outbox"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
)

// Defaults of Options.
const (
	DefaultRedisInfoInterval = 30 * time.Second
	DefaultRedisInfoTimeout  = 2 * time.Second
	DefaultStatsLogInterval  = 5 * time.Minute
	DefaultCollectTimeout    = 2 * time.Second
)

// Breaker states, as exported by cache_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

// Invalidation kinds and reasons of cache_invalidation_total whose series
// exist from the start (at 0); other reasons appear when first seen.
const (
	KindKey     = "key"
	KindTag     = "tag"
	KindPattern = "pattern"
	ReasonWrite = "write"
	ReasonRelay = "relay"
	ReasonAdmin = "admin"
)

const (
	familyAll     = "*" // family label of cache-wide operations
	unknownMethod = "OTHER"
)

// Redis is the Redis deployment the INFO poller watches: a
// *redisstore.Store or *redisstore.Background, whose Client is nil until it
// has connected (the poller skips it meanwhile). If it also has a Retries()
// uint64 method, retries are exported as cache_store_retries_total.
type Redis interface {
	Client() rueidis.Client
}

// Options configures New. The zero value of every field means its default;
// every field is optional.
type Options struct {
	// Logger receives the hit-ratio log line and collection failures.
	// Default: discard.
	Logger *slog.Logger
	// Redis, if set (a nil pointer counts as unset), is polled with INFO on
	// every node. Default: none.
	Redis Redis
	// RedisInfoInterval is how often Run polls INFO; the first poll is at
	// start. Negative turns the poller off. Default: DefaultRedisInfoInterval.
	RedisInfoInterval time.Duration
	// RedisInfoTimeout bounds the INFO of one node. Default:
	// DefaultRedisInfoTimeout.
	RedisInfoTimeout time.Duration
	// StatsLogInterval is how often Run logs the hit ratio per family over
	// the last interval. Negative turns it off. Default:
	// DefaultStatsLogInterval.
	StatsLogInterval time.Duration
	// BreakerState, if set, is read at scrape time as cache_breaker_state:
	// BreakerClosed, BreakerHalfOpen or BreakerOpen. Default: not exported.
	BreakerState func() int
	// Outbox, if set, is called at scrape time (bounded by CollectTimeout)
	// for outbox_pending_entries, outbox_oldest_pending_age_seconds and
	// outbox_set_aside_entries.
	// Default: not exported.
	Outbox func(ctx context.Context) (outbox.Backlog, error)
	// CollectTimeout bounds the calls made at scrape time. Default:
	// DefaultCollectTimeout.
	CollectTimeout time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

// Metrics owns the registry and the collectors of the service. It
// implements cache.Observer and cache.InvalidationObserver. It is safe for
// concurrent use.
type Metrics struct {
	reg  *prometheus.Registry
	opts Options
	log  *slog.Logger

	opDuration      *prometheus.HistogramVec
	opErrors        *prometheus.CounterVec
	invalidations   *prometheus.CounterVec
	invalidatedKeys *prometheus.CounterVec
	httpRequests    *prometheus.CounterVec
	httpDuration    *prometheus.HistogramVec

	redis *redisCollector // nil without Options.Redis
	ops   sync.Map        // opKey -> *opSeries
	https sync.Map        // httpKey -> *httpSeries

	mu    sync.Mutex
	cache StatsSource // set by CollectCache
}

var (
	_ cache.Observer             = (*Metrics)(nil)
	_ cache.InvalidationObserver = (*Metrics)(nil)
)

// OperationBuckets are the buckets of cache_operation_duration_seconds:
// 50µs doubling up to 0.82s.
var OperationBuckets = prometheus.ExponentialBuckets(50e-6, 2, 15)

// HTTPBuckets are the buckets of http_request_duration_seconds.
var HTTPBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New builds the registry with the Go and process collectors, the
// observer's and the HTTP metrics, and the Redis collector when
// Options.Redis is set.
func New(opts Options) (*Metrics, error) {
	if opts.RedisInfoTimeout < 0 || opts.CollectTimeout < 0 {
		return nil, errors.New("metrics: RedisInfoTimeout and CollectTimeout must be >= 0")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if v := reflect.ValueOf(opts.Redis); opts.Redis != nil && v.Kind() == reflect.Pointer && v.IsNil() {
		opts.Redis = nil // a nil *redisstore.Store: no Redis
	}
	opts.RedisInfoInterval = cmp.Or(opts.RedisInfoInterval, DefaultRedisInfoInterval)
	opts.RedisInfoTimeout = cmp.Or(opts.RedisInfoTimeout, DefaultRedisInfoTimeout)
	opts.StatsLogInterval = cmp.Or(opts.StatsLogInterval, DefaultStatsLogInterval)
	opts.CollectTimeout = cmp.Or(opts.CollectTimeout, DefaultCollectTimeout)
	m := &Metrics{
		reg:  prometheus.NewRegistry(),
		opts: opts,
		log:  opts.Logger,
		opDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cache_operation_duration_seconds",
			Help:    "Duration of cache store operations by operation and family (\"*\": cache-wide).",
			Buckets: OperationBuckets,
		}, []string{"operation", "family"}),
		opErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_errors_total",
			Help: "Cache store operations that failed, by operation.",
		}, []string{"operation"}),
		invalidations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_invalidation_total",
			Help: "Invalidations applied, by kind (key, tag, pattern) and reason (write, relay, admin).",
		}, []string{"kind", "reason"}),
		invalidatedKeys: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cache_invalidated_keys_total",
			Help: "Keys deleted by invalidations, by kind and reason.",
		}, []string{"kind", "reason"}),
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests by method, route pattern and status.",
		}, []string{"method", "route", "status"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "HTTP request duration by method and route pattern.",
			Buckets: HTTPBuckets,
		}, []string{"method", "route"}),
	}
	cs := []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.opDuration, m.opErrors, m.invalidations, m.invalidatedKeys, m.httpRequests, m.httpDuration,
		&optionalCollector{m: m},
	}
	if opts.Redis != nil {
		m.redis = newRedisCollector(opts.Redis, opts.RedisInfoTimeout, m.log)
		cs = append(cs, m.redis)
	}
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return nil, err
		}
	}
	// Every kind and reason starts at zero, so that rate() and alerts see
	// the series before the first invalidation.
	for _, k := range []string{KindKey, KindTag, KindPattern} {
		for _, r := range []string{ReasonWrite, ReasonRelay, ReasonAdmin} {
			m.invalidations.WithLabelValues(k, r)
			m.invalidatedKeys.WithLabelValues(k, r)
		}
	}
	return m, nil
}

// Registry returns the registry every metric is registered on; register
// further collectors on it.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats, for
// httpapi.Deps.Metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		ErrorHandling:     promhttp.ContinueOnError,
		Registry:          m.reg,
		EnableOpenMetrics: true,
	})
}

// StatsSource is what CollectCache reads: a *cache.Cache. If the source
// also has NearFlushes() uint64, it is exported as
// cache_near_flushes_total.
type StatsSource interface {
	Stats() []cache.FamilyStats
}

// CollectCache registers the pull-style collector of src's statistics: they
// are read at every scrape, so the counters are exactly those of
// Cache.Stats. Call it once, after cache.New (whose Options.Observer may be
// m).
func (m *Metrics) CollectCache(src StatsSource) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cache != nil {
		return errors.New("metrics: CollectCache called twice")
	}
	if err := m.reg.Register(newCacheCollector(src)); err != nil {
		return err
	}
	m.cache = src
	return nil
}

// ObserveOp implements cache.Observer: it feeds
// cache_operation_duration_seconds and cache_errors_total.
func (m *Metrics) ObserveOp(op, family string, d time.Duration, err error) {
	if family == "" {
		family = familyAll
	}
	k := opKey{op, family}
	c, ok := m.ops.Load(k)
	if !ok {
		// The error counter of an operation exists, at 0, from its first
		// call: rate() and alerts see it before the first error.
		c, _ = m.ops.LoadOrStore(k, &opSeries{
			duration: m.opDuration.WithLabelValues(op, family),
			errors:   m.opErrors.WithLabelValues(op),
		})
	}
	s := c.(*opSeries)
	s.duration.Observe(d.Seconds())
	if err != nil {
		s.errors.Inc()
	}
}

type opKey struct{ op, family string }

// opSeries are the series of one operation of one family.
type opSeries struct {
	duration prometheus.Observer
	errors   prometheus.Counter
}

// ObserveInvalidation implements cache.InvalidationObserver: one
// invalidation of kind ("key", "tag", "pattern") for reason ("write",
// "relay", "admin") that deleted n keys. It feeds cache_invalidation_total
// and cache_invalidated_keys_total.
func (m *Metrics) ObserveInvalidation(kind, reason string, n int) {
	if reason == "" {
		reason = "unknown"
	}
	m.invalidations.WithLabelValues(kind, reason).Inc()
	if n > 0 {
		m.invalidatedKeys.WithLabelValues(kind, reason).Add(float64(n))
	}
}

// httpKey names the series of one kind of request: its labels are bounded
// (methods, routes and statuses), and so is the map of them.
type httpKey struct {
	method, route string
	status        int
}

// httpSeries are the series of one kind of request.
type httpSeries struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

// ObserveHTTP counts one request; it fits httpapi.Options.Observe. route is
// a route pattern ("GET /v1/files/{id}"); its method part is dropped, the
// method being a label of its own.
func (m *Metrics) ObserveHTTP(method, route string, status int, d time.Duration) {
	// Every request comes here: the series are looked up once per kind,
	// not hashed from their label values each time.
	k := httpKey{method, route, status}
	s, ok := m.https.Load(k)
	if !ok {
		if _, path, ok := strings.Cut(route, " "); ok {
			route = path
		}
		if method == "" {
			method = unknownMethod
		}
		s, _ = m.https.LoadOrStore(k, &httpSeries{
			requests: m.httpRequests.WithLabelValues(method, route, strconv.Itoa(status)),
			duration: m.httpDuration.WithLabelValues(method, route),
		})
	}
	hs := s.(*httpSeries)
	hs.requests.Inc()
	hs.duration.Observe(d.Seconds())
}

// Run polls Redis INFO (at once, then every RedisInfoInterval) and logs the
// hit ratio every StatsLogInterval, until ctx ends. It returns nil then.
func (m *Metrics) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if m.redis != nil && m.opts.RedisInfoInterval > 0 {
		wg.Go(func() { every(ctx, m.opts.RedisInfoInterval, true, func() { m.redis.poll(ctx) }) })
	}
	if m.opts.StatsLogInterval > 0 {
		l := &statsLogger{m: m}
		wg.Go(func() { every(ctx, m.opts.StatsLogInterval, false, func() { l.log(ctx) }) })
	}
	wg.Wait()
	return nil
}

// PollRedis polls INFO on every node once, as Run does; the next scrape
// exports what it found. It does nothing without Options.Redis.
func (m *Metrics) PollRedis(ctx context.Context) {
	if m.redis != nil {
		m.redis.poll(ctx)
	}
}

// every calls fn every d until ctx ends, and once at start if now is set.
func every(ctx context.Context, d time.Duration, now bool, fn func()) {
	if now {
		fn()
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

func (m *Metrics) source() StatsSource {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cache
}
