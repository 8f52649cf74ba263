package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/redis/rueidis"
)

// Store is a cache.Store on Redis standalone, Sentinel or Cluster through one
// rueidis client. It is safe for concurrent use.
type Store struct {
	client  rueidis.Client
	opts    Options
	retries atomic.Uint64

	repl         *replication  // deletes that wait for replicas; nil if ReplicaWait is off
	unreplicated atomic.Uint64 // deletes the replicas did not acknowledge in time

	mu          sync.Mutex                        // serializes Notify and Confirm
	notifyList  atomic.Pointer[[]func([]string)]  // copy-on-write: read by the connections' readers
	confirmList atomic.Pointer[[]func(time.Time)] // copy-on-write: read by the heartbeat
	stop        context.CancelFunc                // ends the heartbeat
	done        sync.WaitGroup
}

var (
	_ cache.Store          = (*Store)(nil)
	_ cache.Tagger         = (*Store)(nil)
	_ cache.PatternDeleter = (*Store)(nil)
)

// compareAndSet sets KEYS[1] to ARGV[2] for ARGV[3] ms if it holds ARGV[1].
var compareAndSet = rueidis.NewLuaScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("SET", KEYS[1], ARGV[2], "PX", ARGV[3])
	return 1
end
return 0`)

// compareAndDelete deletes KEYS[1] if it holds ARGV[1].
var compareAndDelete = rueidis.NewLuaScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then
	redis.call("DEL", KEYS[1])
	return 1
end
return 0`)

// New connects to Redis. It fails if no server answers within DialTimeout.
func New(ctx context.Context, opts Options) (*Store, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Store{opts: opts}
	co := opts.clientOption()
	// Set even without Track: rueidis calls it with nil when a connection
	// is lost, the only sign of a Redis restart that no request saw fail.
	co.OnInvalidations = s.invalidated
	client, err := newClient(co, opts)
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect to %v: %w", opts.Addrs, err)
	}
	s.client = client
	if err := s.Ping(ctx); err != nil {
		client.Close()
		return nil, fmt.Errorf("redisstore: connect to %v: %w", opts.Addrs, err)
	}
	hctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	if opts.ReplicaWait > 0 {
		if err := s.startReplication(ctx, hctx); err != nil {
			stop()
			client.Close()
			return nil, fmt.Errorf("redisstore: connect to %v: %w", opts.Addrs, err)
		}
	}
	if len(opts.Track) > 0 && opts.Heartbeat > 0 {
		s.done.Go(func() { s.heartbeat(hctx) })
	}
	return s, nil
}

// Client returns the underlying rueidis client, for commands the Store does
// not offer (INFO, MEMORY USAGE, DUMP).
func (s *Store) Client() rueidis.Client { return s.client }

// Mode reports "standalone", "cluster" or "sentinel".
func (s *Store) Mode() string { return string(s.client.Mode()) }

// Retries returns how many attempts have been retried since New.
func (s *Store) Retries() uint64 { return s.retries.Load() }

func (s *Store) cmd() rueidis.Builder { return s.client.B() }

// Get implements cache.Store.
func (s *Store) Get(ctx context.Context, key string) ([]byte, error) {
	var v []byte
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		var err error
		v, err = s.client.Do(ctx, s.cmd().Get().Key(key).Build()).AsBytes()
		return err
	})
	if rueidis.IsRedisNil(err) {
		return nil, cache.ErrNotFound
	}
	return v, err
}

// GetMulti implements cache.Store. On a standalone server it is one MGET; in
// a Cluster, one pipelined GET per key, grouped by node by rueidis, so keys
// of different slots are fine.
func (s *Store) GetMulti(ctx context.Context, keys []string) ([][]byte, error) {
	out := make([][]byte, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	if s.client.Mode() != rueidis.ClientModeCluster {
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			msgs, err := s.client.Do(ctx, s.cmd().Mget().Key(keys...).Build()).ToArray()
			if err != nil {
				return err
			}
			return fill(out, msgs)
		})
		return out, err
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.cmd().Get().Key(k).Build().Pin()
	}
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		for i, r := range s.client.DoMulti(ctx, cmds...) {
			m, err := r.ToMessage()
			if err != nil && !rueidis.IsRedisNil(err) {
				return err
			}
			if out[i], err = valueOrNil(m); err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

// valueOrNil returns the bytes of a GET reply, nil for a missing key.
func valueOrNil(m rueidis.RedisMessage) ([]byte, error) {
	v, err := m.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	return v, err
}

func fill(out [][]byte, msgs []rueidis.RedisMessage) error {
	if len(msgs) != len(out) {
		return fmt.Errorf("redisstore: MGET returned %d values for %d keys", len(msgs), len(out))
	}
	for i, m := range msgs {
		var err error
		if out[i], err = valueOrNil(m); err != nil {
			return err
		}
	}
	return nil
}

func checkTTL(ttl time.Duration) error {
	if ttl < time.Millisecond {
		return fmt.Errorf("redisstore: ttl %v must be at least 1ms", ttl)
	}
	return nil
}

// Set implements cache.Store.
func (s *Store) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL(ttl); err != nil {
		return err
	}
	// Pinned: a retry sends the same command again.
	c := s.cmd().Set().Key(key).Value(rueidis.BinaryString(value)).PxMilliseconds(ttl.Milliseconds()).Build().Pin()
	return s.attempt(ctx, true, func(ctx context.Context) error {
		return s.client.Do(ctx, c).Error()
	})
}

// SetMulti implements cache.Store with one pipelined SET PX per entry.
func (s *Store) SetMulti(ctx context.Context, entries []cache.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	cmds := make(rueidis.Commands, len(entries))
	for i, e := range entries {
		if err := checkTTL(e.TTL); err != nil {
			return fmt.Errorf("%s: %w", e.Key, err)
		}
		cmds[i] = s.cmd().Set().Key(e.Key).Value(rueidis.BinaryString(e.Value)).PxMilliseconds(e.TTL.Milliseconds()).Build().Pin()
	}
	return s.attempt(ctx, true, func(ctx context.Context) error {
		for _, r := range s.client.DoMulti(ctx, cmds...) {
			if err := r.Error(); err != nil {
				return err
			}
		}
		return nil
	})
}

// Delete implements cache.Store with UNLINK (the memory is freed off the
// main thread), one key per command so that keys may live on any node.
// Where their masters have online replicas, it returns once the replicas
// hold the deletes too, or ReplicaWait has passed (see Options.ReplicaWait),
// so that a failover cannot bring the keys back.
func (s *Store) Delete(ctx context.Context, keys ...string) (int, error) {
	if len(keys) == 0 {
		return 0, nil
	}
	if s.repl != nil {
		if t := s.repl.topo.Load(); t != nil && t.waits {
			return s.deleteWaited(ctx, keys)
		}
	}
	cmds := make(rueidis.Commands, len(keys))
	for i, k := range keys {
		cmds[i] = s.cmd().Unlink().Key(k).Build().Pin()
	}
	n := 0
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		n = 0
		for _, r := range s.client.DoMulti(ctx, cmds...) {
			c, err := r.AsInt64()
			if err != nil {
				return err
			}
			n += int(c)
		}
		return nil
	})
	return n, err
}

// TTL returns how long key is still kept, or cache.ErrNotFound. A key
// without expiry reports -1ns.
func (s *Store) TTL(ctx context.Context, key string) (time.Duration, error) {
	var ms int64
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		var err error
		ms, err = s.client.Do(ctx, s.cmd().Pttl().Key(key).Build()).AsInt64()
		return err
	})
	switch {
	case err != nil:
		return 0, err
	case ms == -2:
		return 0, cache.ErrNotFound
	case ms == -1:
		return -1, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// SetNXGet implements cache.Store with SET NX GET PX (Redis 7.0+).
func (s *Store) SetNXGet(ctx context.Context, key string, value []byte, ttl time.Duration) ([]byte, bool, error) {
	if err := checkTTL(ttl); err != nil {
		return nil, false, err
	}
	c := s.cmd().Set().Key(key).Value(rueidis.BinaryString(value)).Nx().Get().PxMilliseconds(ttl.Milliseconds()).Build().Pin()
	var old []byte
	existed := false
	// Retrying is safe: if a lost reply had set the key, the retry finds
	// our own value and that counts as having set it.
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		v, err := s.client.Do(ctx, c).AsBytes()
		switch {
		case rueidis.IsRedisNil(err):
			old, existed = nil, false
			return nil
		case err != nil:
			return err
		}
		if string(v) == string(value) {
			old, existed = nil, false
		} else {
			old, existed = v, true
		}
		return nil
	})
	return old, existed, err
}

// CompareAndSet implements cache.Store with a Lua script on the one key, so
// it is atomic and Cluster-safe.
func (s *Store) CompareAndSet(ctx context.Context, key string, old, value []byte, ttl time.Duration) (bool, error) {
	var n int64
	err := s.attempt(ctx, true, func(ctx context.Context) error {
		var r rueidis.RedisResult
		if value == nil {
			r = compareAndDelete.Exec(ctx, s.client, []string{key}, []string{rueidis.BinaryString(old)})
		} else {
			if err := checkTTL(ttl); err != nil {
				return err
			}
			r = compareAndSet.Exec(ctx, s.client, []string{key},
				[]string{rueidis.BinaryString(old), rueidis.BinaryString(value), strconv.FormatInt(ttl.Milliseconds(), 10)})
		}
		var err error
		n, err = r.AsInt64()
		return err
	})
	return n == 1, err
}

// Ping implements cache.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.attempt(ctx, true, func(ctx context.Context) error {
		return s.client.Do(ctx, s.cmd().Ping().Build()).Error()
	})
}

// Close implements cache.Store.
func (s *Store) Close() error {
	s.stop()
	s.done.Wait()
	if s.repl != nil {
		s.repl.client.Close()
	}
	s.client.Close()
	return nil
}

// Masters returns a client per master node: the one server of a standalone
// or Sentinel deployment, every master of a Cluster.
func (s *Store) Masters(ctx context.Context) (map[string]rueidis.Client, error) {
	nodes := s.client.Nodes()
	if s.client.Mode() != rueidis.ClientModeCluster {
		return nodes, nil
	}
	masters := make(map[string]rueidis.Client, len(nodes))
	for addr, n := range nodes {
		var role string
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			arr, err := n.Do(ctx, n.B().Role().Build()).ToArray()
			if err != nil {
				return err
			}
			if len(arr) == 0 {
				return errors.New("empty ROLE reply")
			}
			role, err = arr[0].ToString()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("redisstore: role of %s: %w", addr, err)
		}
		if role == "master" {
			masters[addr] = n
		}
	}
	return masters, nil
}

// DeletePattern implements cache.PatternDeleter: SCAN MATCH on every master (never
// KEYS, which blocks the server), and UNLINK of what it finds in batches.
func (s *Store) DeletePattern(ctx context.Context, pattern string) (int, error) {
	masters, err := s.Masters(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	for addr, node := range masters {
		n, err := s.deleteOnNode(ctx, node, pattern)
		total += n
		if err != nil {
			return total, fmt.Errorf("redisstore: delete pattern on %s: %w", addr, err)
		}
	}
	return total, nil
}

func (s *Store) deleteOnNode(ctx context.Context, node rueidis.Client, pattern string) (int, error) {
	total := 0
	var batch []string
	flush := func() error {
		n, err := s.Delete(ctx, batch...)
		total += n
		batch = batch[:0]
		return err
	}
	var cursor uint64
	for {
		var e rueidis.ScanEntry
		err := s.attempt(ctx, true, func(ctx context.Context) error {
			var err error
			e, err = node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(int64(s.opts.ScanCount)).Build()).AsScanEntry()
			return err
		})
		if err != nil {
			return total, err
		}
		for _, k := range e.Elements {
			batch = append(batch, k)
			if len(batch) >= s.opts.DeleteBatch {
				if err := flush(); err != nil {
					return total, err
				}
			}
		}
		cursor = e.Cursor
		if cursor == 0 {
			break
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return total, err
		}
	}
	return total, nil
}
