package redisstore

import (
	"cmp"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/filecache/filecache/internal/defaults"
	"github.com/redis/rueidis"
	"go.opentelemetry.io/otel/trace"
)

// Defaults of Options. They follow the knobs of a redis-py deployment
// (pool 50, 3 retries, retry on timeout) translated to rueidis; the README's
// configuration table shows the mapping.
const (
	DefaultDialTimeout  = 5 * time.Second
	DefaultReadTimeout  = 500 * time.Millisecond
	DefaultWriteTimeout = time.Second
	DefaultKeepAlive    = 30 * time.Second
	DefaultPoolSize     = 50
	DefaultMaxRetries   = 3
	DefaultRetryBackoff = 8 * time.Millisecond
	DefaultMaxBackoff   = 512 * time.Millisecond
	DefaultScanCount    = 1000
	DefaultDeleteBatch  = 500
)

// Options configures a Store. Addrs is required; the zero value of every
// other field means its default, and a negative KeepAlive or MaxRetries
// turns that feature off.
//
// Options prints with its password redacted, through fmt (every verb),
// encoding/json and log/slog, so that logging a configuration never shows
// it; the TLS configuration prints as a summary.
type Options struct {
	// Addrs are the server addresses (host:port): one standalone server,
	// any Cluster nodes (the topology is discovered), or the Sentinels when
	// MasterSet is set.
	Addrs []string
	// MasterSet is the Sentinel master name; set it to use Sentinel.
	MasterSet string
	// Username and Password authenticate to Redis (ACL or requirepass).
	Username string
	Password string
	// DB selects a database on a standalone server. Default: 0.
	DB int
	// TLS, if set, is used for every connection (rediss://): to a
	// standalone server, to every Cluster node, and to the Sentinels and
	// the master they name. Default: nil, plain TCP.
	TLS *tls.Config
	// DialTimeout bounds connecting. Default: DefaultDialTimeout.
	DialTimeout time.Duration
	// ReadTimeout bounds one attempt of one command; an attempt that times
	// out is retried when the command is idempotent and RetryOnTimeout is
	// set. Default: DefaultReadTimeout.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing to and hearing back from a connection
	// before it is judged dead (rueidis ConnWriteTimeout).
	// Default: DefaultWriteTimeout.
	WriteTimeout time.Duration
	// KeepAlive is the TCP keepalive period; a negative value turns
	// keep-alive probes off. Default: DefaultKeepAlive.
	KeepAlive time.Duration
	// PoolSize bounds the connections of blocking commands per node (rueidis
	// BlockingPoolSize); other commands are pipelined on shared connections.
	// Default: DefaultPoolSize.
	PoolSize int
	// MaxRetries is how many times a failed attempt is retried, with
	// exponential backoff and jitter. A negative value disables retries.
	// Default: DefaultMaxRetries.
	MaxRetries int
	// NoRetryOnTimeout disables the retry of attempts that timed out.
	NoRetryOnTimeout bool
	// RetryBackoff is the first backoff; it doubles per retry up to
	// MaxBackoff. Default: DefaultRetryBackoff.
	RetryBackoff time.Duration
	// MaxBackoff caps the backoff. Default: DefaultMaxBackoff.
	MaxBackoff time.Duration
	// ScanCount is the COUNT hint of the SCAN of DeletePattern.
	// Default: DefaultScanCount.
	ScanCount int
	// DeleteBatch is how many keys DeletePattern unlinks per round trip.
	// Default: DefaultDeleteBatch.
	DeleteBatch int
	// ClientName is sent with CLIENT SETNAME. Default: "filecache".
	ClientName string
	// Logger receives the failed attempts of a Store connecting in the
	// background (NewBackground). Default: discard.
	Logger *slog.Logger
	// Track lists key prefixes whose changes the Store notifies (Redis
	// server-assisted client tracking in BCAST mode on every connection),
	// which lets a cache.Cache keep a near cache of those keys. A prefix
	// that starts with another ("file:info:" after "file:") is tracked by
	// the shorter one, since Redis refuses overlapping prefixes. Default:
	// none, no tracking.
	Track []string
	// Heartbeat is how often, while Track is set, every master is pinged
	// over the tracking connections to confirm that no invalidation is held
	// up (cache.Confirmer); a negative value turns it off.
	// Default: DefaultHeartbeat.
	Heartbeat time.Duration
	// ReplicaWait is how long Delete waits, on a master with online
	// replicas, for all of them to hold its UNLINKs (WAIT), so that a
	// failover cannot bring deleted keys back; masters without an online
	// replica get no WAIT. A delete that the replicas did not acknowledge in
	// time succeeds and is counted (Unreplicated); one whose master fails
	// first fails. It must be shorter than ReadTimeout; a negative value
	// turns it off. Default: DefaultReplicaWait, or half of a shorter
	// ReadTimeout.
	ReplicaWait time.Duration
	// TracerProvider, if set, makes the Store's Redis commands spans of
	// the callers' sampled traces (see TracerName). Default: nil, no
	// tracing.
	TracerProvider trace.TracerProvider
}

// ParseURL parses a redis:// or rediss:// URL (user, password, host:port and
// /db) into Options.
func ParseURL(rawURL string) (Options, error) {
	o, err := rueidis.ParseURL(rawURL)
	if err != nil {
		// rueidis' message may quote the URL; never return the password.
		return Options{}, errors.New("redisstore: malformed Redis URL (want redis://[user:password@]host:port[/db] or rediss://)")
	}
	return Options{
		Addrs:    o.InitAddress,
		Username: o.Username,
		Password: o.Password,
		DB:       o.SelectDB,
		TLS:      o.TLSConfig,
	}, nil
}

func (o *Options) setDefaults() error {
	if len(o.Addrs) == 0 {
		return errors.New("redisstore: no address")
	}
	for _, a := range o.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("redisstore: address %q: want host:port", a)
		}
	}
	defaults.Positive(&o.DialTimeout, DefaultDialTimeout)
	defaults.Positive(&o.ReadTimeout, DefaultReadTimeout)
	defaults.Positive(&o.WriteTimeout, DefaultWriteTimeout)
	o.KeepAlive = cmp.Or(o.KeepAlive, DefaultKeepAlive) // negative stays: net.Dialer turns probes off
	defaults.Positive(&o.RetryBackoff, DefaultRetryBackoff)
	defaults.Positive(&o.MaxBackoff, DefaultMaxBackoff)
	o.Heartbeat = cmp.Or(o.Heartbeat, DefaultHeartbeat)
	if o.ReplicaWait == 0 {
		// Within the attempt that carries it, whatever ReadTimeout is.
		o.ReplicaWait = min(DefaultReplicaWait, o.ReadTimeout/2) // negative stays: no WAIT
	}
	if o.ReplicaWait >= o.ReadTimeout {
		// A delete's attempt would time out while WAIT still waits.
		return fmt.Errorf("redisstore: ReplicaWait %v must be shorter than ReadTimeout %v", o.ReplicaWait, o.ReadTimeout)
	}
	defaults.Positive(&o.PoolSize, DefaultPoolSize)
	defaults.OrOff(&o.MaxRetries, DefaultMaxRetries)
	defaults.Positive(&o.ScanCount, DefaultScanCount)
	defaults.Positive(&o.DeleteBatch, DefaultDeleteBatch)
	o.ClientName = cmp.Or(o.ClientName, "filecache")
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	o.Track = disjointPrefixes(o.Track)
	return nil
}

// disjointPrefixes returns the prefixes of ps that start with no other, in
// order, each once: what tracks ps without overlaps.
func disjointPrefixes(ps []string) []string {
	var out []string
	for i, p := range ps {
		covered := false
		for j, q := range ps {
			// A shorter prefix covers p; of equal ones the first stays.
			if j != i && strings.HasPrefix(p, q) && (len(q) < len(p) || j < i) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

func (o Options) clientOption() rueidis.ClientOption {
	dialer := net.Dialer{Timeout: o.DialTimeout, KeepAlive: o.KeepAlive}
	co := rueidis.ClientOption{
		InitAddress:      o.Addrs,
		Username:         o.Username,
		Password:         o.Password,
		SelectDB:         o.DB,
		TLSConfig:        o.TLS,
		Dialer:           dialer,
		ConnWriteTimeout: o.WriteTimeout,
		BlockingPoolSize: o.PoolSize,
		ClientName:       o.ClientName,
		// Retries are ours (retry.go): one policy with a bound, for reads
		// and idempotent writes alike.
		DisableRetry: true,
		DisableCache: true,
	}
	if len(o.Track) > 0 {
		// Tracking needs rueidis' client-side caching machinery on; its
		// own cache stays empty since the Store never calls DoCache.
		co.DisableCache = false
		co.CacheSizeEachConn = 1 << 20
		for _, p := range o.Track {
			co.ClientTrackingOptions = append(co.ClientTrackingOptions, "PREFIX", p)
		}
		// NOLOOP: this process drops its own near entries when it writes,
		// and its own lease and store must not void its near-cache fill
		// of a value it just loaded. NOLOOP spares only the connection
		// that wrote, so one connection per node, which rueidis
		// auto-pipelines.
		co.ClientTrackingOptions = append(co.ClientTrackingOptions, "BCAST", "NOLOOP")
		co.PipelineMultiplex = -1
	}
	if o.MasterSet != "" {
		co.Sentinel = rueidis.SentinelOption{
			MasterSet: o.MasterSet,
			Dialer:    dialer,
			TLSConfig: o.TLS,
			Username:  o.Username,
			Password:  o.Password,
		}
	}
	return co
}
