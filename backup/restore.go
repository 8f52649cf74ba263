package backup

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/filecache/filecache/internal/defaults"
	"github.com/redis/rueidis"
)

// Destination is where Restore writes keys; *redisstore.Store is one.
type Destination interface {
	// Client returns the client that routes a key's commands to its node.
	Client() rueidis.Client
}

// RestoreOptions configures Restore. The zero value restores every key that
// does not exist yet.
type RestoreOptions struct {
	// Replace overwrites keys that exist (RESTORE REPLACE); without it they
	// are left as they are and counted in Stats.Existing.
	Replace bool
	// Batch is how many RESTOREs one pipeline sends. Default: DefaultBatch.
	Batch int
	// Timeout bounds one pipeline. Default: DefaultTimeout.
	Timeout time.Duration
	// Progress, if set, is called after each batch with the records done
	// and the records of the file, on the goroutine of Restore.
	Progress func(done, total int64)
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o *RestoreOptions) setDefaults() {
	defaults.Positive(&o.Batch, DefaultBatch)
	defaults.Positive(&o.Timeout, DefaultTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Verify reads a whole backup and checks its header, every length, the
// record count and the SHA-256 of the trailer. The error wraps ErrNotBackup,
// ErrVersion, ErrTruncated or ErrCorrupt when the file is at fault.
func Verify(r io.Reader) (Header, Stats, error) {
	rd, err := NewReader(r)
	if err != nil {
		return Header{}, Stats{}, err
	}
	for {
		if _, err := rd.Next(); err != nil {
			st := Stats{Records: rd.Count(), Bytes: rd.Offset()}
			if err == io.EOF {
				return rd.Header(), st, nil
			}
			return rd.Header(), st, err
		}
	}
}

// Restore verifies the whole backup in r first and refuses a damaged one
// without writing anything; then it seeks r back to where it was, reads it
// again and pipelines RESTORE for each record: with the TTL left until the
// record's expiry (records that expired meanwhile are skipped), with REPLACE
// if opts.Replace. A key that exists without Replace, or a payload that Redis
// refuses, is counted and does not stop the restore; Restore then returns an
// error that says how many failed and why. Any other error stops it, and
// the error says how far it got.
func Restore(ctx context.Context, r io.ReadSeeker, dst Destination, opts RestoreOptions) (Stats, error) {
	opts.setDefaults()
	start := opts.Now()
	origin, err := r.Seek(0, io.SeekCurrent)
	if err != nil {
		return Stats{}, fmt.Errorf("backup: %w; nothing was restored", err)
	}
	hdr, vst, err := Verify(r)
	if err != nil {
		return Stats{}, fmt.Errorf("%w; nothing was restored", err)
	}
	if _, err := r.Seek(origin, io.SeekStart); err != nil {
		return Stats{}, fmt.Errorf("backup: rewind: %w; nothing was restored", err)
	}
	rd, err := NewReader(r)
	if err != nil {
		return Stats{}, fmt.Errorf("backup: the file changed after it was verified: %w; nothing was restored", err)
	}
	rs := &restorer{client: dst.Client(), opts: opts, hdr: hdr, total: vst.Records}
	st := &rs.st
	st.Bytes = vst.Bytes
	stopped := func(err error) (Stats, error) {
		st.Duration = opts.Now().Sub(start)
		return *st, fmt.Errorf("backup: restore stopped after %d of %d records (%d restored; Redis now holds a partial restore, run it again with Replace (--replace) to complete it): %w",
			st.Records, vst.Records, st.Restored, err)
	}
	batch := make([]Record, 0, opts.Batch)
	for {
		rec, err := rd.Next()
		switch {
		case err == nil:
			batch = append(batch, rec)
			if len(batch) < opts.Batch {
				continue
			}
		case err != io.EOF:
			return stopped(fmt.Errorf("the file changed after it was verified: %w", err))
		}
		if len(batch) > 0 {
			if err := rs.restore(ctx, batch); err != nil {
				return stopped(err)
			}
			batch = batch[:0]
		}
		if err == io.EOF {
			break
		}
	}
	st.Duration = opts.Now().Sub(start)
	if st.Failed > 0 {
		return *st, fmt.Errorf("backup: Redis refused %d of %d records (%d restored), the first %q: %w",
			st.Failed, st.Records, st.Restored, rs.firstKey, rs.firstErr)
	}
	return *st, nil
}

// RestoreFile is Restore from the file at path.
func RestoreFile(ctx context.Context, path string, dst Destination, opts RestoreOptions) (Stats, error) {
	f, err := os.Open(path)
	if err != nil {
		return Stats{}, fmt.Errorf("backup: %w; nothing was restored", err)
	}
	defer f.Close()
	return Restore(ctx, f, dst, opts)
}

type restorer struct {
	client   rueidis.Client
	opts     RestoreOptions
	hdr      Header
	total    int64
	st       Stats
	firstKey string
	firstErr error
}

func (rs *restorer) restore(ctx context.Context, batch []Record) error {
	cmds := make(rueidis.Commands, 0, len(batch))
	keys := make([]string, 0, len(batch))
	now := rs.opts.Now()
	for _, rec := range batch {
		var ttl int64
		if !rec.ExpireAt.IsZero() {
			ttl = rec.ExpireAt.Sub(now).Milliseconds()
			if ttl < 1 {
				rs.st.Expired++
				continue
			}
		}
		c := rs.client.B().Restore().Key(rec.Key).Ttl(ttl).SerializedValue(rueidis.BinaryString(rec.Payload))
		if rs.opts.Replace {
			cmds = append(cmds, c.Replace().Build())
		} else {
			cmds = append(cmds, c.Build())
		}
		keys = append(keys, rec.Key)
	}
	defer func() {
		rs.st.Records += int64(len(batch))
		if rs.opts.Progress != nil {
			rs.opts.Progress(rs.st.Records, rs.total)
		}
	}()
	if len(cmds) == 0 {
		return nil
	}
	tctx, cancel := context.WithTimeout(ctx, rs.opts.Timeout)
	defer cancel()
	// Not retried: without REPLACE a retry of a RESTORE whose reply was
	// lost would find its own key and count it as existing.
	res := rs.client.DoMulti(tctx, cmds...)
	var fatal error
	for i, r := range res {
		err := r.Error()
		re, isRedis := rueidis.IsRedisErr(err)
		switch {
		case err == nil:
			rs.st.Restored++
		case isRedis && strings.HasPrefix(re.Error(), "BUSYKEY"):
			rs.st.Existing++
		case isRedis:
			rs.st.Failed++
			if rs.firstErr == nil {
				rs.firstKey, rs.firstErr = keys[i], rs.explain(err)
			}
		default:
			// The connection failed: whether this RESTORE ran is unknown.
			if fatal == nil {
				fatal = fmt.Errorf("restore %q: %w", keys[i], err)
			}
		}
	}
	if fatal != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return fatal
}

// explain adds a hint to the error Redis gives for a payload it cannot read.
func (rs *restorer) explain(err error) error {
	if strings.Contains(err.Error(), "payload version") && rs.hdr.RedisVersion != "" {
		return fmt.Errorf("%w (the backup is of Redis %s; restore it into that version or a newer one)", err, rs.hdr.RedisVersion)
	}
	return err
}
