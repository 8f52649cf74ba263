package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	gocache "github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/files"
)

// valueTTL is the TTL every library writes with.
const valueTTL = time.Hour

// nearSize is the capacity of every in-process cache (filecache's near
// cache, go-redis/cache's TinyLFU, rueidis' client-side cache is sized in
// bytes): ten times the data set, so nothing is evicted.
func (e *env) nearSize() int { return 10 * len(e.ids) }

// filecache is one filecache instance (one "process"): its own rueidis
// connection, Cache and file family.
type filecache struct {
	store *redisstore.Store
	cache *cache.Cache
	files *cache.Family[files.FileMetadata]
}

func (e *env) fcPrefix() string { return e.prefix + "fc:" }

// newFilecache connects a filecache instance; near turns on the near cache
// (and Redis tracking of the family's keys), as the service does.
func (e *env) newFilecache(ctx context.Context, near bool) (*filecache, error) {
	return e.newFilecacheCodec(ctx, near, nil)
}

// newFilecacheCodec is newFilecache with a codec other than the default
// JSON (nil: JSON).
func (e *env) newFilecacheCodec(ctx context.Context, near bool, codec cache.Codec[files.FileMetadata]) (*filecache, error) {
	opts := redisstore.Options{Addrs: []string{e.addr}}
	nearSize := 0
	if near {
		opts.Track = []string{e.fcPrefix() + "file:"}
		nearSize = e.nearSize()
	}
	s, err := redisstore.New(ctx, opts)
	if err != nil {
		return nil, err
	}
	c, err := cache.New(s, cache.Options{Prefix: e.fcPrefix(), NearSize: nearSize})
	if err != nil {
		s.Close()
		return nil, err
	}
	f, err := cache.NewFamily(c, "file", cache.FamilyOptions[files.FileMetadata]{TTL: valueTTL, Near: near, Codec: codec})
	if err != nil {
		s.Close()
		return nil, err
	}
	return &filecache{store: s, cache: c, files: f}, nil
}

func (f *filecache) Close() { f.store.Close() }

// seed writes every value in one pipelined batch.
func (f *filecache) seed(ctx context.Context, e *env) error {
	m := make(map[string]files.FileMetadata, len(e.ids))
	for i, id := range e.ids {
		m[id] = e.values[i]
	}
	return f.files.SetMany(ctx, m)
}

// warmNear reads every id until the near cache answers it.
func (f *filecache) warmNear(ctx context.Context, e *env) error {
	for _, id := range e.ids {
		local := false
		for range 50 {
			_, origin, err := f.files.Fetch(ctx, id, nil)
			if err != nil {
				return err
			}
			if local = origin == cache.OriginLocal; local {
				break
			}
		}
		if !local {
			return fmt.Errorf("filecache: %s never became a near hit", id)
		}
	}
	return nil
}

// msgpackCodec is a cache.Codec with the encoding go-redis/cache uses
// (msgpack, without its s2 compression), to show what the codec costs on a
// Redis hit.
type msgpackCodec struct{}

func (msgpackCodec) Marshal(v files.FileMetadata) ([]byte, error) { return msgpack.Marshal(&v) }

func (msgpackCodec) Unmarshal(b []byte, v *files.FileMetadata) error { return msgpack.Unmarshal(b, v) }

// goCache is one go-redis/cache instance over its own go-redis client,
// with go-redis' and go-redis/cache's defaults (msgpack, s2 compression of
// values over 64 bytes, go-redis pool of 10 per CPU).
type goCache struct {
	rdb *redis.Client
	c   *gocache.Cache
}

func (e *env) gcKey(i int) string { return e.prefix + "gc:file:" + e.ids[i] }

func (e *env) newGoCache(local bool) *goCache {
	rdb := newGoRedis(e.addr)
	opts := &gocache.Options{Redis: rdb}
	if local {
		opts.LocalCache = gocache.NewTinyLFU(e.nearSize(), valueTTL)
	}
	return &goCache{rdb: rdb, c: gocache.New(opts)}
}

func (g *goCache) Close() { g.rdb.Close() }

func (g *goCache) seed(ctx context.Context, e *env, keys []string) error {
	for i := range e.ids {
		if err := g.c.Set(&gocache.Item{Ctx: ctx, Key: keys[i], Value: &e.values[i], TTL: valueTTL}); err != nil {
			return err
		}
	}
	return nil
}

func newGoRedis(addr string) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr})
}

// Raw clients store plain JSON under their own keys, as a user of a bare
// client would.
func (e *env) rawKey(i int) string { return e.prefix + "raw:file:" + e.ids[i] }

func (e *env) newRueidis(clientCache bool) (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{e.addr}, DisableCache: !clientCache})
}

// seedRaw writes every value as JSON under keys with one MSET and EXPIREs.
func (e *env) seedRaw(ctx context.Context, keys []string) error {
	cmds := make(rueidis.Commands, 0, len(keys))
	for i, k := range keys {
		b, err := json.Marshal(e.values[i])
		if err != nil {
			return err
		}
		cmds = append(cmds, e.admin.B().Set().Key(k).Value(rueidis.BinaryString(b)).Ex(valueTTL).Build())
	}
	for _, r := range e.admin.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			return err
		}
	}
	return nil
}

// del deletes a key through the admin client.
func (e *env) del(ctx context.Context, key string) error {
	return e.admin.Do(ctx, e.admin.B().Del().Key(key).Build()).Error()
}

// rueidisGetOrLoad is cache-aside by hand with rueidis: GET, and on a miss
// read the database and SET the JSON with a TTL. No singleflight, no lease.
func rueidisGetOrLoad(ctx context.Context, c rueidis.Client, key, id string, repo files.Repository) (files.FileMetadata, error) {
	var v files.FileMetadata
	b, err := c.Do(ctx, c.B().Get().Key(key).Build()).AsBytes()
	if err == nil {
		return v, json.Unmarshal(b, &v)
	}
	if !rueidis.IsRedisNil(err) {
		return v, err
	}
	if v, err = repo.GetFile(ctx, id); err != nil {
		return v, err
	}
	if b, err = json.Marshal(v); err != nil {
		return v, err
	}
	return v, c.Do(ctx, c.B().Set().Key(key).Value(rueidis.BinaryString(b)).Ex(valueTTL).Build()).Error()
}

// goCacheOnce is go-redis/cache's get-or-load.
func goCacheOnce(ctx context.Context, g *gocache.Cache, key, id string, load func(ctx context.Context, id string) (files.FileMetadata, error)) (files.FileMetadata, error) {
	var v files.FileMetadata
	err := g.Once(&gocache.Item{
		Ctx:   ctx,
		Key:   key,
		Value: &v,
		TTL:   valueTTL,
		Do: func(it *gocache.Item) (any, error) {
			return load(it.Ctx, id)
		},
	})
	return v, err
}

// checkID guards against a library answering the wrong value.
func checkID(v files.FileMetadata, id string) error {
	if v.ID != id {
		return fmt.Errorf("got value of %q for %q", v.ID, id)
	}
	return nil
}

var errShortBatch = errors.New("batch returned fewer values than keys")

// decodeJSON decodes a value a raw client read, passing on its error.
func decodeJSON(b []byte, err error) (files.FileMetadata, error) {
	var v files.FileMetadata
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	return v, err
}
