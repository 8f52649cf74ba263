package main

import (
	"context"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"sync/atomic"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
)

// scenarioNames are the values of --scenarios, in the order they run.
var scenarioNames = []string{"near", "redis", "miss", "batch", "mix", "stampede"}

func isScenario(s string) bool { return slices.Contains(scenarioNames, s) }

// scenario is one line of comparison: rows of libraries doing the same work.
type scenario struct {
	name  string // a value of --scenarios
	title string // as printed
	rows  []row
}

// row is one library in a scenario. ref marks the peer the others are
// compared against.
type row struct {
	library string
	ref     bool
	prepare func(ctx context.Context) (*prepared, error)
}

// prepared is a row ready to run: either op (a timed loop) or the
// stampede's reset and read.
type prepared struct {
	op    op
	close func()
	notes func(m measurement) string // optional

	reset func(ctx context.Context, round int) error
	read  func(ctx context.Context, round, reader int) error
}

func (e *env) scenarios() []scenario {
	var out []scenario
	out = append(out, e.nearHit(), e.redisHit())
	for _, db := range e.dbs {
		out = append(out, e.missLoad(db))
	}
	out = append(out, e.batchGet())
	for _, db := range e.dbs {
		out = append(out, e.mix(db))
	}
	out = append(out, e.stampede())
	return out
}

// readOp returns an op that reads the key of a random index with get and
// checks that it got that key's file.
func (e *env) readOp(get func(ctx context.Context, i int) (files.FileMetadata, error)) op {
	n := len(e.ids)
	read := e.checked(get)
	return op{do: func(ctx context.Context, w *worker) error { return read(ctx, w.key(n)) }}
}

// missOp returns an op that deletes one of the worker's own keys (untimed)
// and then reads it with get, checking that it got that key's file.
func (e *env) missOp(keys []string, get func(ctx context.Context, i int) (files.FileMetadata, error)) op {
	read := e.checked(get)
	return op{
		pre: func(ctx context.Context, w *worker) error { return e.del(ctx, keys[w.cur(w.ownKey())]) },
		do:  func(ctx context.Context, w *worker) error { return read(ctx, w.last) },
	}
}

// checked returns a read of the key of index i with get that checks that
// it got that key's file.
func (e *env) checked(get func(ctx context.Context, i int) (files.FileMetadata, error)) func(ctx context.Context, i int) error {
	return func(ctx context.Context, i int) error {
		v, err := get(ctx, i)
		if err != nil {
			return err
		}
		return checkID(v, e.ids[i])
	}
}

// indexed builds one string per key index.
func (e *env) indexed(f func(i int) string) []string {
	out := make([]string, len(e.ids))
	for i := range out {
		out[i] = f(i)
	}
	return out
}

// seededFilecache connects a filecache instance (see newFilecacheCodec),
// writes every value and, with near, warms the near cache.
func (e *env) seededFilecache(ctx context.Context, near bool, codec cache.Codec[files.FileMetadata]) (*filecache, error) {
	fc, err := e.newFilecacheCodec(ctx, near, codec)
	if err != nil {
		return nil, err
	}
	if err := fc.seed(ctx, e); err != nil {
		fc.Close()
		return nil, err
	}
	if near {
		if err := fc.warmNear(ctx, e); err != nil {
			fc.Close()
			return nil, err
		}
	}
	return fc, nil
}

// filecacheGet prepares a row that gets every key from a seeded filecache.
func (e *env) filecacheGet(near bool, codec cache.Codec[files.FileMetadata]) func(ctx context.Context) (*prepared, error) {
	return func(ctx context.Context) (*prepared, error) {
		fc, err := e.seededFilecache(ctx, near, codec)
		if err != nil {
			return nil, err
		}
		return &prepared{close: fc.Close, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) { return fc.files.Get(ctx, e.ids[i]) })}, nil
	}
}

// seededGoCache connects a go-redis/cache instance and sets every value;
// it returns the keys by index.
func (e *env) seededGoCache(ctx context.Context, local bool) (*goCache, []string, error) {
	gc := e.newGoCache(local)
	keys := e.indexed(e.gcKey)
	if err := gc.seed(ctx, e, keys); err != nil { // with local, Set fills the local cache too
		gc.Close()
		return nil, nil, err
	}
	return gc, keys, nil
}

// goCacheGet prepares a row that gets every key from a seeded
// go-redis/cache.
func (e *env) goCacheGet(local bool) func(ctx context.Context) (*prepared, error) {
	return func(ctx context.Context) (*prepared, error) {
		gc, keys, err := e.seededGoCache(ctx, local)
		if err != nil {
			return nil, err
		}
		return &prepared{close: gc.Close, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) {
			var v files.FileMetadata
			err := gc.c.Get(ctx, keys[i], &v)
			return v, err
		})}, nil
	}
}

// (1) Near hit: the value is in process.
func (e *env) nearHit() scenario {
	return scenario{name: "near", title: "near hit", rows: []row{
		{library: "filecache (near cache)", prepare: e.filecacheGet(true, nil)},
		{library: "go-redis/cache (TinyLFU)", ref: true, prepare: e.goCacheGet(true)},
		{library: "rueidis DoCache + JSON", prepare: func(ctx context.Context) (*prepared, error) {
			keys := e.indexed(e.rawKey)
			if err := e.seedRaw(ctx, keys); err != nil {
				return nil, err
			}
			c, err := e.newRueidis(true)
			if err != nil {
				return nil, err
			}
			get := func(ctx context.Context, i int) (files.FileMetadata, bool, error) {
				r := c.DoCache(ctx, c.B().Get().Key(keys[i]).Cache(), valueTTL)
				v, err := decodeJSON(r.AsBytes())
				return v, r.IsCacheHit(), err
			}
			for i := range keys { // warm: the second read of a key is local
				for range 50 {
					_, hit, err := get(ctx, i)
					if err != nil {
						c.Close()
						return nil, err
					}
					if hit {
						break
					}
				}
			}
			return &prepared{close: c.Close, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) {
				v, _, err := get(ctx, i)
				return v, err
			})}, nil
		}},
	}}
}

// (2) Redis hit: one round trip and a decode; no in-process cache.
func (e *env) redisHit() scenario {
	rows := []row{
		{library: "filecache (Redis only)", prepare: e.filecacheGet(false, nil)},
		{library: "filecache (Redis only, msgpack codec)", prepare: e.filecacheGet(false, msgpackCodec{})},
		{library: "go-redis/cache (Redis only)", ref: true, prepare: e.goCacheGet(false)},
		{library: "rueidis GET + JSON", prepare: func(ctx context.Context) (*prepared, error) {
			keys := e.indexed(e.rawKey)
			if err := e.seedRaw(ctx, keys); err != nil {
				return nil, err
			}
			c, err := e.newRueidis(false)
			if err != nil {
				return nil, err
			}
			return &prepared{close: c.Close, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) {
				return decodeJSON(c.Do(ctx, c.B().Get().Key(keys[i]).Build()).AsBytes())
			})}, nil
		}},
		{library: "go-redis GET + JSON", prepare: func(ctx context.Context) (*prepared, error) {
			keys := e.indexed(e.rawKey)
			if err := e.seedRaw(ctx, keys); err != nil {
				return nil, err
			}
			rdb := newGoRedis(e.addr)
			return &prepared{close: func() { rdb.Close() }, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) {
				return decodeJSON(rdb.Get(ctx, keys[i]).Bytes())
			})}, nil
		}},
	}
	for _, db := range e.dbs {
		rows = append(rows, row{library: db.name + " read, no cache", prepare: func(context.Context) (*prepared, error) {
			return &prepared{close: func() {}, op: e.readOp(func(ctx context.Context, i int) (files.FileMetadata, error) { return db.repo.GetFile(ctx, e.ids[i]) })}, nil
		}})
	}
	return scenario{name: "redis", title: "Redis hit", rows: rows}
}

// (3) Miss and load: the key is deleted (untimed) before every get, and the
// loader reads the row. Each worker has keys of its own, so no two loads
// share a flight.
func (e *env) missLoad(db database) scenario {
	load := func(ctx context.Context, id string) (files.FileMetadata, error) { return db.repo.GetFile(ctx, id) }
	return scenario{name: "miss", title: "miss + load (" + db.name + ")", rows: []row{
		{library: "filecache GetOrLoad", prepare: func(ctx context.Context) (*prepared, error) {
			fc, err := e.newFilecache(ctx, false)
			if err != nil {
				return nil, err
			}
			keys := make([]string, len(e.ids))
			for i, id := range e.ids {
				if keys[i], err = fc.files.Key(id); err != nil {
					return nil, err
				}
			}
			return &prepared{close: fc.Close, op: e.missOp(keys, func(ctx context.Context, i int) (files.FileMetadata, error) {
				return fc.files.GetOrLoad(ctx, e.ids[i], load)
			})}, nil
		}},
		{library: "go-redis/cache Once", prepare: func(ctx context.Context) (*prepared, error) {
			gc := e.newGoCache(false)
			keys := e.indexed(e.gcKey)
			return &prepared{close: gc.Close, op: e.missOp(keys, func(ctx context.Context, i int) (files.FileMetadata, error) {
				return goCacheOnce(ctx, gc.c, keys[i], e.ids[i], load)
			})}, nil
		}},
		{library: "rueidis GET+DB+SET by hand", ref: true, prepare: func(ctx context.Context) (*prepared, error) {
			c, err := e.newRueidis(false)
			if err != nil {
				return nil, err
			}
			keys := e.indexed(e.rawKey)
			return &prepared{close: c.Close, op: e.missOp(keys, func(ctx context.Context, i int) (files.FileMetadata, error) {
				return rueidisGetOrLoad(ctx, c, keys[i], e.ids[i], db.repo)
			})}, nil
		}},
	}}
}

// (4) Batch get of --batch keys that are all in Redis.
func (e *env) batchGet() scenario {
	n, size := len(e.ids), e.cfg.batch
	// A window of the ids repeated twice is a batch without wrapping.
	ids2 := append(slices.Clone(e.ids), e.ids...)
	window := func(w *worker) int { return w.key(n) }
	fcRow := func(near bool) func(ctx context.Context) (*prepared, error) {
		return func(ctx context.Context) (*prepared, error) {
			fc, err := e.seededFilecache(ctx, near, nil)
			if err != nil {
				return nil, err
			}
			return &prepared{close: fc.Close, op: op{do: func(ctx context.Context, w *worker) error {
				off := window(w)
				m, err := fc.files.GetMany(ctx, ids2[off:off+size])
				if err != nil {
					return err
				}
				if len(m) != min(size, n) {
					return errShortBatch
				}
				return nil
			}}}, nil
		}
	}
	rawKeys := func() []string {
		k := e.indexed(e.rawKey)
		return append(k, k...)
	}
	title := fmt.Sprintf("batch get of %d", size)
	return scenario{name: "batch", title: title, rows: []row{
		{library: "filecache GetMany (Redis only)", prepare: fcRow(false)},
		{library: "filecache GetMany (near cache)", prepare: fcRow(true)},
		{library: "go-redis/cache Get loop", ref: true, prepare: func(ctx context.Context) (*prepared, error) {
			gc, keys, err := e.seededGoCache(ctx, false)
			if err != nil {
				return nil, err
			}
			keys = append(keys, keys...)
			return &prepared{close: gc.Close, op: op{do: func(ctx context.Context, w *worker) error {
				off := window(w)
				out := make(map[string]files.FileMetadata, size)
				for _, k := range keys[off : off+size] {
					var v files.FileMetadata
					if err := gc.c.Get(ctx, k, &v); err != nil {
						return err
					}
					out[v.ID] = v
				}
				return nil
			}}}, nil
		}},
		{library: "rueidis MGET + JSON", prepare: func(ctx context.Context) (*prepared, error) {
			keys := rawKeys()
			if err := e.seedRaw(ctx, keys[:n]); err != nil {
				return nil, err
			}
			c, err := e.newRueidis(false)
			if err != nil {
				return nil, err
			}
			return &prepared{close: c.Close, op: op{do: func(ctx context.Context, w *worker) error {
				off := window(w)
				msgs, err := c.Do(ctx, c.B().Mget().Key(keys[off:off+size]...).Build()).ToArray()
				if err != nil {
					return err
				}
				out := make(map[string]files.FileMetadata, size)
				for _, m := range msgs {
					v, err := decodeJSON(m.AsBytes())
					if err != nil {
						return err
					}
					out[v.ID] = v
				}
				return nil
			}}}, nil
		}},
		{library: "go-redis MGET + JSON", prepare: func(ctx context.Context) (*prepared, error) {
			keys := rawKeys()
			if err := e.seedRaw(ctx, keys[:n]); err != nil {
				return nil, err
			}
			rdb := newGoRedis(e.addr)
			return &prepared{close: func() { rdb.Close() }, op: op{do: func(ctx context.Context, w *worker) error {
				off := window(w)
				vals, err := rdb.MGet(ctx, keys[off:off+size]...).Result()
				if err != nil {
					return err
				}
				out := make(map[string]files.FileMetadata, size)
				for _, x := range vals {
					s, ok := x.(string)
					if !ok {
						return errShortBatch
					}
					v, err := decodeJSON([]byte(s), nil)
					if err != nil {
						return err
					}
					out[v.ID] = v
				}
				return nil
			}}}, nil
		}},
	}}
}

// writeShare is the percentage of writes in the mix.
const writeShare = 5

// (5) 95/5 read/write mix: a read is get-or-load; a write updates the row
// in a transaction and then deletes the key, as catalog does (without its
// outbox, which no peer has).
func (e *env) mix(db database) scenario {
	n := len(e.ids)
	load := func(ctx context.Context, id string) (files.FileMetadata, error) { return db.repo.GetFile(ctx, id) }
	names := make([]string, e.cfg.concurrency)
	for i := range names {
		names[i] = fmt.Sprintf("renamed-by-worker-%02d.pdf", i)
	}
	update := func(ctx context.Context, w *worker, id string) error {
		p := files.FilePatch{Name: &names[w.id]}
		return db.repo.WithTx(ctx, func(tx files.Tx) error {
			_, err := tx.UpdateFile(ctx, id, p, 0, time.Now())
			return err
		})
	}
	// mixOp returns an op that writes writeShare% of the time and otherwise
	// reads with get, checking the value.
	mixOp := func(get func(ctx context.Context, i int) (files.FileMetadata, error), invalidate func(ctx context.Context, i int) error) op {
		read := e.checked(get)
		return op{do: func(ctx context.Context, w *worker) error {
			i := w.key(n)
			if w.rng.IntN(100) < writeShare {
				if err := update(ctx, w, e.ids[i]); err != nil {
					return err
				}
				return invalidate(ctx, i)
			}
			return read(ctx, i)
		}}
	}
	return scenario{name: "mix", title: fmt.Sprintf("mix %d/%d (%s)", 100-writeShare, writeShare, db.name), rows: []row{
		{library: "filecache (near cache)", prepare: func(ctx context.Context) (*prepared, error) {
			fc, err := e.newFilecache(ctx, true)
			if err != nil {
				return nil, err
			}
			return &prepared{close: fc.Close, op: mixOp(
				func(ctx context.Context, i int) (files.FileMetadata, error) {
					return fc.files.GetOrLoad(ctx, e.ids[i], load)
				},
				func(ctx context.Context, i int) error { _, err := fc.files.Delete(ctx, e.ids[i]); return err },
			)}, nil
		}},
		{library: "go-redis/cache Once (TinyLFU)", ref: true, prepare: func(ctx context.Context) (*prepared, error) {
			gc := e.newGoCache(true)
			keys := e.indexed(e.gcKey)
			return &prepared{close: gc.Close, op: mixOp(
				func(ctx context.Context, i int) (files.FileMetadata, error) {
					return goCacheOnce(ctx, gc.c, keys[i], e.ids[i], load)
				},
				func(ctx context.Context, i int) error { return gc.c.Delete(ctx, keys[i]) },
			)}, nil
		}},
		{library: "rueidis by hand (GET/DB/SET, DEL)", prepare: func(ctx context.Context) (*prepared, error) {
			c, err := e.newRueidis(false)
			if err != nil {
				return nil, err
			}
			keys := e.indexed(e.rawKey)
			return &prepared{close: c.Close, op: mixOp(
				func(ctx context.Context, i int) (files.FileMetadata, error) {
					return rueidisGetOrLoad(ctx, c, keys[i], e.ids[i], db.repo)
				},
				func(ctx context.Context, i int) error { return c.Do(ctx, c.B().Del().Key(keys[i]).Build()).Error() },
			)}, nil
		}},
		{library: db.name + ", no cache", prepare: func(ctx context.Context) (*prepared, error) {
			return &prepared{close: func() {}, op: mixOp(
				func(ctx context.Context, i int) (files.FileMetadata, error) { return db.repo.GetFile(ctx, e.ids[i]) },
				func(context.Context, int) error { return nil },
			)}, nil
		}},
	}}
}

// (6) Cold-key stampede: --stampede-readers readers of one cold key at once,
// with a loader that takes --stampede-load and then reads the row. Two
// instances stand for two processes: separate connections, caches and
// singleflight groups.
func (e *env) stampede() scenario {
	n := e.cfg.stampedeReaders
	repo := e.dbs[0].repo
	var loads atomic.Int64
	load := func(ctx context.Context, id string) (files.FileMetadata, error) {
		loads.Add(1)
		t := time.NewTimer(e.cfg.stampedeLoad)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return files.FileMetadata{}, ctx.Err()
		}
		return repo.GetFile(ctx, id)
	}
	notes := func(m measurement) string {
		total := m.ops + m.errs
		if total == 0 {
			return ""
		}
		return fmt.Sprintf("%.1f DB loads per 1,000 readers", float64(loads.Load())*1000/float64(total))
	}
	// A round's cold key is ids[round].
	fcRow := func(instances int) func(ctx context.Context) (*prepared, error) {
		return func(ctx context.Context) (*prepared, error) {
			var fcs []*filecache
			closeAll := func() {
				for _, fc := range fcs {
					fc.Close()
				}
			}
			for range instances {
				fc, err := e.newFilecache(ctx, false)
				if err != nil {
					closeAll()
					return nil, err
				}
				fcs = append(fcs, fc)
			}
			loads.Store(0)
			return &prepared{close: closeAll, notes: notes,
				reset: func(ctx context.Context, round int) error {
					key, err := fcs[0].files.Key(e.ids[round])
					if err != nil {
						return err
					}
					return e.del(ctx, key)
				},
				read: func(ctx context.Context, round, reader int) error {
					v, err := fcs[reader%instances].files.GetOrLoad(ctx, e.ids[round], load)
					if err != nil {
						return err
					}
					return checkID(v, e.ids[round])
				},
			}, nil
		}
	}
	gcRow := func(instances int) func(ctx context.Context) (*prepared, error) {
		return func(ctx context.Context) (*prepared, error) {
			var gcs []*goCache
			for range instances {
				gcs = append(gcs, e.newGoCache(false))
			}
			loads.Store(0)
			return &prepared{notes: notes,
				close: func() {
					for _, gc := range gcs {
						gc.Close()
					}
				},
				reset: func(ctx context.Context, round int) error { return e.del(ctx, e.gcKey(round)) },
				read: func(ctx context.Context, round, reader int) error {
					v, err := goCacheOnce(ctx, gcs[reader%instances].c, e.gcKey(round), e.ids[round], load)
					if err != nil {
						return err
					}
					return checkID(v, e.ids[round])
				},
			}, nil
		}
	}
	return scenario{name: "stampede", title: fmt.Sprintf("stampede, %d readers", n), rows: []row{
		{library: "filecache GetOrLoad, 1 instance", prepare: fcRow(1)},
		{library: "filecache GetOrLoad, 2 instances", prepare: fcRow(2)},
		{library: "go-redis/cache Once, 1 instance", ref: true, prepare: gcRow(1)},
		{library: "go-redis/cache Once, 2 instances", prepare: gcRow(2)},
		{library: "rueidis GET+DB+SET by hand", prepare: func(ctx context.Context) (*prepared, error) {
			c, err := e.newRueidis(false)
			if err != nil {
				return nil, err
			}
			loads.Store(0)
			repoLoad := countingRepo{load: load}
			return &prepared{close: c.Close, notes: notes,
				reset: func(ctx context.Context, round int) error { return e.del(ctx, e.rawKey(round)) },
				read: func(ctx context.Context, round, reader int) error {
					v, err := rueidisGetOrLoad(ctx, c, e.rawKey(round), e.ids[round], repoLoad)
					if err != nil {
						return err
					}
					return checkID(v, e.ids[round])
				},
			}, nil
		}},
	}}
}

// countingRepo is the one Repository method rueidisGetOrLoad calls, routed
// to the stampede's counting loader.
type countingRepo struct {
	files.Repository
	load func(ctx context.Context, id string) (files.FileMetadata, error)
}

func (r countingRepo) GetFile(ctx context.Context, id string) (files.FileMetadata, error) {
	return r.load(ctx, id)
}

// runAll runs the selected scenarios, row after row, and reports progress
// on log.
func runAll(ctx context.Context, e *env, log io.Writer) (*report, error) {
	rep := &report{Meta: e.meta}
	r := newRunner(e.cfg.concurrency, len(e.ids), func() int64 { return e.redisCommands(ctx) })
	for _, sc := range e.scenarios() {
		if e.cfg.scenarios != nil && !e.cfg.scenarios[sc.name] {
			continue
		}
		var results []result
		for _, rw := range sc.rows {
			res, err := e.runRow(ctx, r, sc, rw)
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				res = result{Scenario: sc.title, Library: rw.library, Ref: rw.ref, Notes: "failed: " + err.Error()}
			}
			fmt.Fprintf(log, "cachebench: %-22s %-36s %12.0f ops/s  p50 %-9s p99 %-9s %s\n",
				sc.title, rw.library, res.OpsPerSec, fmtDur(time.Duration(res.P50)), fmtDur(time.Duration(res.P99)), res.Notes)
			results = append(results, res)
		}
		rep.Results = append(rep.Results, withRatios(results)...)
	}
	return rep, nil
}

func (e *env) runRow(ctx context.Context, r *runner, sc scenario, rw row) (result, error) {
	p, err := rw.prepare(ctx)
	if err != nil {
		return result{}, err
	}
	defer p.close()
	var m measurement
	// Labels let a --cpuprofile be split by row: pprof -tagfocus library=...
	pprof.Do(ctx, pprof.Labels("scenario", sc.title, "library", rw.library), func(ctx context.Context) {
		if p.read != nil {
			m, err = r.stampede(ctx, e.cfg.stampedeRounds, e.cfg.stampedeReaders, p.reset, p.read)
		} else {
			m, err = r.run(ctx, e.cfg.warmup, e.cfg.duration, p.op)
		}
	})
	if err != nil {
		return result{}, err
	}
	res := newResult(sc.title, rw.library, rw.ref, m)
	if p.notes != nil {
		res.Notes = p.notes(m)
	}
	if m.errs > 0 {
		if res.Notes != "" {
			res.Notes += "; "
		}
		res.Notes += fmt.Sprintf("%d errors, first: %v", m.errs, m.firstErr)
	}
	return res, nil
}
