package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/filecache/filecache/cache/breaker"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/config"
	"github.com/filecache/filecache/internal/redisinfo"
	"github.com/spf13/cobra"
)

// memoryCheckTimeout bounds the start-up check of one node's memory policy.
const memoryCheckTimeout = 2 * time.Second

// openRedis makes the Redis store of a: a first attempt to connect, then,
// when Redis is unreachable and !required, a store that keeps connecting
// in the background behind an open breaker. Credentials, permissions and
// TLS that Redis refuses stop start-up whatever required says: retrying
// cannot fix them.
func (a *app) openRedis(ctx context.Context, required bool) error {
	ro := a.cfg.Redis.Options
	ro.Logger = a.log
	ro.TracerProvider = a.tracing.TracerProvider()
	if a.cfg.Cache.NearSize > 0 {
		for _, f := range catalog.NearFamilies {
			ro.Track = append(ro.Track, a.cfg.Cache.Prefix+f+":")
		}
	}
	b, err := redisstore.NewBackground(ctx, ro)
	if err != nil {
		return redisError(a.cfg, err)
	}
	if required && b.Store() == nil {
		err := b.Err()
		b.Close()
		return redisError(a.cfg, err)
	}
	a.redis = b
	// Not connected: the breaker starts open, so that requests do not pay
	// for calls bound to fail and /readyz says "open".
	a.breaker = breaker.New(b, breaker.Options{OnStateChange: a.breakerChanged, StartOpen: b.Store() == nil})
	a.store = a.breaker
	return nil
}

// watchRedis runs once the catalog exists. Connected, it checks Redis'
// memory policy. Not connected (the breaker started open), it suspends cache
// reads (reads go to the database, within DB_FALLBACK_LIMIT), and when the
// store connects in the background it checks the memory policy and kicks
// the relay: cache reads are admitted again once the relay has replayed
// the outbox and the breaker has closed.
func (a *app) watchRedis(ctx context.Context) {
	// A lost notification connection may be Redis dying with no request
	// in flight to open the breaker: the deletes it acknowledged last may
	// not survive its restart or failover.
	a.redis.Notify(func(keys []string) {
		if keys == nil {
			a.catalog.CacheMayHaveLost()
		}
	})
	if a.redis.Store() != nil {
		a.log.Info("connected to Redis", "mode", a.redis.Mode(), "addrs", a.cfg.Redis.Options.Addrs)
		a.checkRedisMemory(ctx)
		return
	}
	err := a.redis.Err()
	a.log.Warn("Redis unreachable at start-up: reads are answered from the database (at most DB_FALLBACK_LIMIT at once) while the store connects in the background",
		"var", redisVar(a.cfg.Redis.Mode), "addrs", a.cfg.Redis.Options.Addrs, "err", fmt.Sprint(err, tlsHint(a.cfg, err)))
	a.catalog.SuspendCacheReads()
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	a.stopWatch = stop
	a.watchers.Go(func() {
		select {
		case <-a.redis.Connected():
		case <-wctx.Done():
			return
		}
		a.log.Info("connected to Redis in the background; cache reads resume once the outbox is replayed",
			"mode", a.redis.Mode(), "addrs", a.cfg.Redis.Options.Addrs)
		a.checkRedisMemory(wctx)
		a.catalog.Kick()
	})
}

// checkRedisMemory sets maxmemory-policy where REDIS_SET_MAXMEMORY_POLICY
// asks, then reads maxmemory and maxmemory-policy of every node and warns,
// naming both, when they do not suit a cache. The findings go to /readyz.
func (a *app) checkRedisMemory(ctx context.Context) {
	client := a.redis.Client()
	if client == nil {
		return
	}
	var issues []string
	for addr, node := range client.Nodes() {
		cctx, cancel := context.WithTimeout(ctx, memoryCheckTimeout)
		if p := a.cfg.Redis.SetMaxmemoryPolicy; p != "" {
			if err := redisinfo.SetPolicy(cctx, node, p); err != nil {
				a.log.Warn("REDIS_SET_MAXMEMORY_POLICY: CONFIG SET maxmemory-policy refused", "node", addr, "policy", p, "err", err)
			} else {
				a.log.Info("maxmemory-policy set (REDIS_SET_MAXMEMORY_POLICY)", "node", addr, "policy", p)
			}
		}
		m, err := redisinfo.FetchMemory(cctx, node)
		cancel()
		if err != nil {
			a.log.Warn("cannot read maxmemory and maxmemory-policy", "node", addr, "err", err)
			continue
		}
		if p := m.Problem(); p != "" {
			issues = append(issues, addr+": "+p)
		}
	}
	slices.Sort(issues)
	if len(issues) > 0 {
		a.log.Warn("Redis memory policy unfit for a cache: entries may be refused or memory may run out", "nodes", issues)
	}
	a.mu.Lock()
	a.memoryIssues = issues
	a.mu.Unlock()
}

// redisMemoryIssues returns what checkRedisMemory found.
func (a *app) redisMemoryIssues() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.memoryIssues
}

// redisVar names the variable that chose the Redis mode, for errors.
func redisVar(mode string) string {
	switch mode {
	case config.RedisCluster:
		return "REDIS_CLUSTER_NODES"
	case config.RedisSentinel:
		return "REDIS_SENTINEL_ADDRS"
	}
	return "REDIS_URL"
}

// redisError explains a failure to connect: which variables to check, never
// a secret (the store's errors hold addresses, not passwords).
func redisError(cfg config.Config, err error) error {
	v := redisVar(cfg.Redis.Mode)
	switch {
	case errors.Is(err, redisstore.ErrAuth):
		return fmt.Errorf("%s: Redis refused the credentials: check REDIS_PASSWORD and REDIS_USERNAME (or the user and password of REDIS_URL): %w", v, err)
	case errors.Is(err, redisstore.ErrPermission):
		return fmt.Errorf("%s: the Redis user (REDIS_USERNAME) lacks a command filecache needs; see the ACL line in README.md: %w", v, err)
	case errors.Is(err, redisstore.ErrTLS):
		return fmt.Errorf("%s: %w; check REDIS_TLS_CA_FILE (the CA that signs the server's certificate), REDIS_TLS_SERVER_NAME, and REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE when the server asks for a client certificate", v, err)
	}
	return fmt.Errorf("%s: redis (%s, %s): %w%s", v, cfg.Redis.Mode, strings.Join(cfg.Redis.Options.Addrs, ","), err, tlsHint(cfg, err))
}

// tlsHint explains a connection reset over TLS without a client
// certificate: with TLS 1.3 a server that asks for one refuses its absence
// after the handshake, which the client sees as a reset.
func tlsHint(cfg config.Config, err error) string {
	tc := cfg.Redis.Options.TLS
	if err == nil || tc == nil || len(tc.Certificates) > 0 {
		return ""
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return " (a TLS server that asks for a client certificate closes the connection like this: set REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE)"
	}
	return ""
}

// openRedisStore loads the configuration of cmd and connects to the
// configured Redis alone, at once: backup, restore and events need no
// database.
func openRedisStore(cmd *cobra.Command, e env) (config.Config, *redisstore.Store, error) {
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return cfg, nil, err
	}
	if cfg.Redis.Mode == config.RedisNone {
		return cfg, nil, fmt.Errorf("%s needs Redis: set REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINEL_ADDRS (or --redis-url, --redis-cluster-nodes, --redis-sentinel-addrs)", cmd.Name())
	}
	store, err := redisstore.Dial(cmd.Context(), cfg.Redis.Options)
	if err != nil {
		return cfg, nil, redisError(cfg, err)
	}
	return cfg, store, nil
}
