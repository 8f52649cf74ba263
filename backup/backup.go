package backup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/internal/defaults"
	"github.com/redis/rueidis"
)

// Defaults of WriteOptions and RestoreOptions.
const (
	DefaultScanCount = 1000
	DefaultBatch     = 1000
	DefaultTimeout   = 30 * time.Second
	DefaultRetries   = 3
)

// Source is where Write reads keys from; *redisstore.Store is one.
type Source interface {
	// Client returns the client that routes a key's commands to its node.
	Client() rueidis.Client
	// Masters returns a client per master node, to SCAN each.
	Masters(ctx context.Context) (map[string]rueidis.Client, error)
	// Mode reports "standalone", "cluster" or "sentinel".
	Mode() string
}

// WriteOptions configures Write. The zero value backs up every key.
type WriteOptions struct {
	// Prefix confines the backup to keys that start with it (CACHE_PREFIX);
	// its glob characters are escaped. Default: none.
	Prefix string
	// Match is a SCAN MATCH glob for the rest of the key, after Prefix.
	// Default: "*".
	Match string
	// ScanCount is the COUNT hint of SCAN. Default: DefaultScanCount.
	ScanCount int
	// Batch is how many keys one pipeline of PTTL and DUMP reads.
	// Default: DefaultBatch.
	Batch int
	// Timeout bounds one round trip: a SCAN or one pipeline.
	// Default: DefaultTimeout.
	Timeout time.Duration
	// Retries is how often a round trip that failed on the connection is
	// retried (every command of a backup is a read). A negative value
	// disables retries. Default: DefaultRetries.
	Retries int
	// Progress, if set, is called after each batch with the keys written
	// so far and an estimate of the total (the keys of every master, of
	// which the pattern may select fewer), on the goroutine of Write.
	Progress func(done, total int64)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *WriteOptions) setDefaults() {
	o.Match = cmp.Or(o.Match, "*")
	defaults.Positive(&o.ScanCount, DefaultScanCount)
	defaults.Positive(&o.Batch, DefaultBatch)
	defaults.Positive(&o.Timeout, DefaultTimeout)
	defaults.OrOff(&o.Retries, DefaultRetries)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Pattern returns the SCAN MATCH pattern of o: the escaped Prefix and Match.
func (o WriteOptions) Pattern() string {
	return cache.EscapeGlob(o.Prefix) + cmp.Or(o.Match, "*")
}

// Stats counts what Write, Verify or Restore did.
type Stats struct {
	// Records is how many records were written (Write) or read (Verify,
	// Restore).
	Records int64
	// Bytes is the size of the file.
	Bytes int64
	// Vanished counts keys that SCAN listed but that expired or were
	// deleted before DUMP (Write).
	Vanished int64
	// Restored counts keys restored (Restore).
	Restored int64
	// Expired counts records whose expiry passed before they could be
	// restored (Restore).
	Expired int64
	// Existing counts records not restored because their key exists and
	// Replace was off (Restore).
	Existing int64
	// Failed counts records Redis refused (Restore), such as a payload of
	// a newer Redis version.
	Failed int64
	// Duration is how long the operation took.
	Duration time.Duration
}

// Write backs up the keys of src that match opts' pattern to w: it walks
// every master with SCAN and reads each batch of keys with one pipeline of
// PTTL and DUMP through src.Client(), which routes each key to its node.
// Keys that vanish between SCAN and DUMP are counted and left out. The
// backup is not a point-in-time snapshot: keys written during it may or may
// not be in it.
//
// On error, what was written to w is incomplete (it has no trailer, so
// Verify rejects it); WriteFile never leaves such a file behind.
func Write(ctx context.Context, w io.Writer, src Source, opts WriteOptions) (Stats, error) {
	opts.setDefaults()
	start := opts.Now()
	b := &backuper{src: src, client: src.Client(), opts: opts}
	cw := &countWriter{w: w}
	var st Stats
	finish := func(err error) (Stats, error) {
		st.Bytes = cw.n
		st.Duration = opts.Now().Sub(start)
		return st, err
	}

	masters, err := src.Masters(ctx)
	if err != nil {
		return finish(fmt.Errorf("backup: list masters: %w", err))
	}
	if len(masters) == 0 {
		return finish(errors.New("backup: no master node to read from"))
	}
	addrs := slices.Sorted(maps.Keys(masters))
	total, version := b.survey(ctx, addrs, masters)

	bw, err := NewWriter(cw, Header{Created: start, Mode: src.Mode(), Pattern: opts.Pattern(), RedisVersion: version})
	if err != nil {
		return finish(err)
	}
	b.w = bw
	b.st = &st
	b.total = total
	for _, addr := range addrs {
		if err := b.scanNode(ctx, masters[addr]); err != nil {
			return finish(fmt.Errorf("backup: on %s: %w", addr, err))
		}
	}
	if err := bw.Close(); err != nil {
		return finish(err)
	}
	st.Records = bw.Count()
	return finish(nil)
}

type backuper struct {
	src    Source
	client rueidis.Client
	opts   WriteOptions
	w      *Writer
	st     *Stats
	total  int64
}

// survey returns the number of keys on the masters (for progress) and the
// Redis version of the first one; both are best effort.
func (b *backuper) survey(ctx context.Context, addrs []string, masters map[string]rueidis.Client) (total int64, version string) {
	for _, addr := range addrs {
		n := masters[addr]
		err := b.roundTrip(ctx, func(ctx context.Context) error {
			size, err := n.Do(ctx, n.B().Dbsize().Build()).AsInt64()
			total += size
			return err
		})
		if err != nil {
			total = -1
			break
		}
	}
	n := masters[addrs[0]]
	_ = b.roundTrip(ctx, func(ctx context.Context) error {
		info, err := n.Do(ctx, n.B().Info().Section("server").Build()).ToString()
		for line := range strings.Lines(info) {
			if v, ok := strings.CutPrefix(line, "redis_version:"); ok {
				version = strings.TrimSpace(v)
			}
		}
		return err
	})
	return total, version
}

func (b *backuper) scanNode(ctx context.Context, node rueidis.Client) error {
	batch := make([]string, 0, b.opts.Batch+b.opts.ScanCount)
	var cursor uint64
	for {
		var e rueidis.ScanEntry
		err := b.roundTrip(ctx, func(ctx context.Context) error {
			var err error
			e, err = node.Do(ctx, node.B().Scan().Cursor(cursor).Match(b.opts.Pattern()).Count(int64(b.opts.ScanCount)).Build()).AsScanEntry()
			return err
		})
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		batch = append(batch, e.Elements...)
		for len(batch) >= b.opts.Batch {
			if err := b.dump(ctx, batch[:b.opts.Batch]); err != nil {
				return err
			}
			batch = append(batch[:0], batch[b.opts.Batch:]...)
		}
		cursor = e.Cursor
		if cursor == 0 {
			break
		}
	}
	if len(batch) > 0 {
		return b.dump(ctx, batch)
	}
	return nil
}

// dump reads keys with one pipeline of PTTL and DUMP per key and writes
// them.
func (b *backuper) dump(ctx context.Context, keys []string) error {
	cmds := make(rueidis.Commands, 0, 2*len(keys))
	for _, k := range keys {
		// Pinned: a retry sends the same commands again.
		cmds = append(cmds, b.client.B().Pttl().Key(k).Build().Pin(), b.client.B().Dump().Key(k).Build().Pin())
	}
	var (
		res []rueidis.RedisResult
		t0  time.Time
	)
	err := b.roundTrip(ctx, func(ctx context.Context) error {
		// The clock is read before PTTL runs, so the expiry computed from
		// it is never later than the real one.
		t0 = b.opts.Now()
		res = b.client.DoMulti(ctx, cmds...)
		for _, r := range res {
			if err := r.NonRedisError(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	for i, k := range keys {
		pttl, err := res[2*i].AsInt64()
		if err != nil {
			return fmt.Errorf("pttl %q: %w", k, err)
		}
		payload, err := res[2*i+1].AsBytes()
		if rueidis.IsRedisNil(err) || pttl == -2 {
			b.st.Vanished++
			continue
		}
		if err != nil {
			return fmt.Errorf("dump %q: %w", k, err)
		}
		rec := Record{Key: k, Payload: payload}
		if pttl >= 0 {
			rec.ExpireAt = t0.Add(time.Duration(pttl) * time.Millisecond)
		}
		if err := b.w.Write(rec); err != nil {
			return err
		}
	}
	if b.opts.Progress != nil {
		b.opts.Progress(b.w.Count(), b.total)
	}
	return nil
}

// roundTrip runs fn with its own timeout, and again after a backoff when it
// failed on the connection rather than with a Redis error.
func (b *backuper) roundTrip(ctx context.Context, fn func(ctx context.Context) error) error {
	backoff := 100 * time.Millisecond
	for try := 0; ; try++ {
		tctx, cancel := context.WithTimeout(ctx, b.opts.Timeout)
		err := fn(tctx)
		cancel()
		if err == nil || try >= b.opts.Retries || ctx.Err() != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if _, isRedis := rueidis.IsRedisErr(err); isRedis {
			return err
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		backoff *= 2
	}
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// WriteFile is Write to a new file at path. It writes a temporary file in
// the same directory (mode 0600: a backup holds cached data), syncs it and
// renames it to path only when the backup is complete, so that path holds
// either a complete backup or what it held before.
func WriteFile(ctx context.Context, path string, src Source, opts WriteOptions) (_ Stats, err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, base+".*.tmp")
	if err != nil {
		return Stats{}, fmt.Errorf("backup: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	st, err := Write(ctx, f, src, opts)
	if err != nil {
		return st, err
	}
	if err := f.Sync(); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	if err := f.Close(); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return st, fmt.Errorf("backup: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; best effort
		d.Close()
	}
	return st, nil
}
