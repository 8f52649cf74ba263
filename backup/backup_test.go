package backup_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/backup"
	"github.com/filecache/filecache/cache/redisstore"
	"github.com/filecache/filecache/internal/redisstoretest"
	"github.com/filecache/filecache/internal/redistest"
	"github.com/redis/rueidis"
)

func newStore(t *testing.T, addrs ...string) *redisstore.Store {
	t.Helper()
	return redisstoretest.Open(t, redisstore.Options{Addrs: addrs})
}

// entry is a key as the tests write it: ttl 0 means none.
type entry struct {
	value []byte
	ttl   time.Duration
}

// fill writes entries in pipelines of 1000.
func fill(t *testing.T, c rueidis.Client, entries map[string]entry) {
	t.Helper()
	cmds := make(rueidis.Commands, 0, 1000)
	flush := func() {
		for _, r := range c.DoMulti(t.Context(), cmds...) {
			if err := r.Error(); err != nil {
				t.Fatal(err)
			}
		}
		cmds = cmds[:0]
	}
	for k, e := range entries {
		set := c.B().Set().Key(k).Value(rueidis.BinaryString(e.value))
		if e.ttl > 0 {
			cmds = append(cmds, set.PxMilliseconds(e.ttl.Milliseconds()).Build())
		} else {
			cmds = append(cmds, set.Build())
		}
		if len(cmds) == cap(cmds) {
			flush()
		}
	}
	flush()
}

// snapshot reads the value and PTTL of keys in pipelines of 1000; a missing
// key has a nil value.
func snapshot(t *testing.T, c rueidis.Client, keys []string) map[string]entry {
	t.Helper()
	out := make(map[string]entry, len(keys))
	for start := 0; start < len(keys); start += 1000 {
		batch := keys[start:min(start+1000, len(keys))]
		cmds := make(rueidis.Commands, 0, 2*len(batch))
		for _, k := range batch {
			cmds = append(cmds, c.B().Get().Key(k).Build(), c.B().Pttl().Key(k).Build())
		}
		res := c.DoMulti(t.Context(), cmds...)
		for i, k := range batch {
			v, err := res[2*i].AsBytes()
			if err != nil && !rueidis.IsRedisNil(err) {
				t.Fatal(err)
			}
			ms, err := res[2*i+1].AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			e := entry{value: v}
			if ms > 0 {
				e.ttl = time.Duration(ms) * time.Millisecond
			}
			out[k] = e
		}
	}
	return out
}

// randomEntries returns n keys under prefix with random binary values of up
// to 256 bytes and a mix of TTLs: none, 2 to 5 minutes, and hours.
func randomEntries(prefix string, n int, rng *rand.Rand) map[string]entry {
	m := make(map[string]entry, n)
	for i := range n {
		v := make([]byte, rng.IntN(256)+1)
		for j := range v {
			v[j] = byte(rng.Uint32())
		}
		var ttl time.Duration
		switch i % 3 {
		case 1:
			// Long enough to outlive a slow run of the test.
			ttl = time.Duration(120+rng.IntN(180)) * time.Second
		case 2:
			ttl = time.Duration(1+rng.IntN(48)) * time.Hour
		}
		m[fmt.Sprintf("%s%d", prefix, i)] = entry{value: v, ttl: ttl}
	}
	return m
}

func keysOf(m map[string]entry) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	return keys
}

func dbsize(t *testing.T, s *redisstore.Store) int64 {
	t.Helper()
	masters, err := s.Masters(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, m := range masters {
		size, err := m.Do(t.Context(), m.B().Dbsize().Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		n += size
	}
	return n
}

// compare checks that got holds want's values, and TTLs from want's less
// below to want's plus above.
func compare(t *testing.T, want, got map[string]entry, below, above time.Duration) {
	t.Helper()
	bad := 0
	for k, w := range want {
		g := got[k]
		var problem string
		switch {
		case w.value == nil:
			if g.value != nil {
				problem = "present, want missing"
			}
		case g.value == nil:
			problem = "missing"
		case !bytes.Equal(g.value, w.value):
			problem = fmt.Sprintf("value %q, want %q", g.value, w.value)
		case (w.ttl == 0) != (g.ttl == 0):
			problem = fmt.Sprintf("ttl %v, want %v", g.ttl, w.ttl)
		case w.ttl != 0 && (g.ttl > w.ttl+above || g.ttl < w.ttl-below):
			problem = fmt.Sprintf("ttl %v, want %v (-%v +%v)", g.ttl, w.ttl, below, above)
		}
		if problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("%s: %s", k, problem)
			}
		}
	}
	if bad > 10 {
		t.Errorf("... %d keys in all are wrong", bad)
	}
}

// The acceptance test: 100,000 keys from a Cluster to a standalone Redis,
// values equal and TTLs within a second.
func TestBackupRoundTripClusterToStandalone(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000 keys")
	}
	clusterStart := time.Now()
	cl := redistest.Cluster(t)
	sa := redistest.Standalone(t)
	src := newStore(t, cl.Addrs()...)
	dst := newStore(t, sa.Addr())
	if src.Mode() != "cluster" {
		t.Fatalf("source mode %q, want cluster", src.Mode())
	}

	rng := rand.New(rand.NewPCG(1, 2))
	want := randomEntries("fc:file:", 100_000, rng)
	filled := time.Now()
	fill(t, src.Client(), want)
	t.Logf("cluster up in %v, filled in %v", filled.Sub(clusterStart), time.Since(filled))
	// Keys outside the prefix stay out of the backup.
	fill(t, src.Client(), randomEntries("other:", 100, rng))

	path := filepath.Join(t.TempDir(), "cache.fcbk")
	start := time.Now()
	var calls int
	wst, err := backup.WriteFile(t.Context(), path, src, backup.WriteOptions{
		Prefix:   "fc:",
		Progress: func(done, total int64) { calls++ },
	})
	if err != nil {
		t.Fatal(err)
	}
	backupTook := time.Since(start)
	if wst.Records != 100_000 || wst.Vanished != 0 || calls == 0 {
		t.Fatalf("backup stats %+v after %d progress calls, want 100000 records", wst, calls)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != wst.Bytes || fi.Mode().Perm() != 0o600 {
		t.Fatalf("backup file %v, %v; want %d bytes, mode 0600", fi, err, wst.Bytes)
	}
	if m, _ := filepath.Glob(path + "*.tmp"); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	start = time.Now()
	rst, err := backup.RestoreFile(t.Context(), path, dst, backup.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restoreTook := time.Since(start)
	if rst.Records != 100_000 || rst.Restored != 100_000 || rst.Expired+rst.Existing+rst.Failed != 0 {
		t.Fatalf("restore stats %+v, want 100000 restored", rst)
	}
	t.Logf("100,000 keys, %d bytes: backup %v, restore %v", wst.Bytes, backupTook, restoreTook)

	// The TTLs of source and destination, read batch by batch, must agree
	// within a second, plus the time between reading a batch from the
	// source and from the destination (a busy machine may take seconds).
	checked := time.Now()
	keys := keysOf(want)
	srcNow, got := map[string]entry{}, map[string]entry{}
	var lag time.Duration
	for i := 0; i < len(keys); i += 1000 {
		batch := keys[i:min(i+1000, len(keys))]
		read := time.Now()
		maps.Copy(srcNow, snapshot(t, src.Client(), batch))
		maps.Copy(got, snapshot(t, dst.Client(), batch))
		lag = max(lag, time.Since(read))
	}
	compare(t, srcNow, got, time.Second+lag, time.Second)
	// And against the TTLs set, less the time since.
	compare(t, want, got, time.Since(filled)+time.Second, 0)
	t.Logf("compared in %v", time.Since(checked))
	if n := dbsize(t, dst); n != 100_000 {
		t.Errorf("destination holds %d keys, want 100000", n)
	}

	// Restore into the Cluster too (sharing it saves starting another).
	t.Run("into cluster", func(t *testing.T) {
		more := randomEntries("in:", 3000, rng)
		data := writeBackup(t, more)
		st, err := backup.Restore(t.Context(), bytes.NewReader(data), src, backup.RestoreOptions{})
		if err != nil || st.Restored != 3000 {
			t.Fatalf("Restore = %+v, %v; want 3000 restored", st, err)
		}
		compare(t, more, snapshot(t, src.Client(), keysOf(more)), time.Since(checked)+time.Second, 0)
	})
}

func TestBackupMatch(t *testing.T) {
	srv := redistest.Standalone(t)
	s := newStore(t, srv.Addr())
	rng := rand.New(rand.NewPCG(3, 4))
	files := randomEntries("fc:file:", 50, rng)
	fill(t, s.Client(), files)
	fill(t, s.Client(), randomEntries("fc:user:", 50, rng))
	// A prefix's glob characters are escaped: "f?:" matches only itself.
	fill(t, s.Client(), randomEntries("fx:file:", 50, rng))

	var buf bytes.Buffer
	st, err := backup.Write(t.Context(), &buf, s, backup.WriteOptions{Prefix: "f?:", Match: "file:*"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 0 {
		t.Errorf("prefix f?: backed up %d keys, want 0", st.Records)
	}
	buf.Reset()
	st, err = backup.Write(t.Context(), &buf, s, backup.WriteOptions{Prefix: "fc:", Match: "file:*", Batch: 7, ScanCount: 10})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 50 || st.Bytes != int64(buf.Len()) {
		t.Fatalf("stats %+v for %d bytes, want 50 records", st, buf.Len())
	}
	r, err := backup.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if h := r.Header(); h.Pattern != "fc:file:*" || h.Mode != "standalone" || h.RedisVersion == "" {
		t.Errorf("header %+v", h)
	}
	seen := map[string]bool{}
	for _, rec := range readAll(t, r) {
		if _, ok := files[rec.Key]; !ok || seen[rec.Key] {
			t.Errorf("unexpected or repeated key %q", rec.Key)
		}
		seen[rec.Key] = true
	}
	if len(seen) != 50 {
		t.Errorf("read %d keys, want 50", len(seen))
	}
}

// writeBackup backs up entries through a private standalone Redis.
func writeBackup(t *testing.T, entries map[string]entry) []byte {
	t.Helper()
	s := newStore(t, redistest.Standalone(t).Addr())
	fill(t, s.Client(), entries)
	var buf bytes.Buffer
	if _, err := backup.Write(t.Context(), &buf, s, backup.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRestoreSkipsExpired(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	want := randomEntries("k:", 300, rng) // 100 none, 100 of minutes, 100 of hours
	filled := time.Now()
	data := writeBackup(t, want)

	dst := newStore(t, redistest.Standalone(t).Addr())
	// Restore as if ten minutes had passed: the keys of minutes expired,
	// the others lost ten minutes.
	later := 10 * time.Minute
	st, err := backup.Restore(t.Context(), bytes.NewReader(data), dst, backup.RestoreOptions{
		Now: func() time.Time { return time.Now().Add(later) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Records != 300 || st.Restored != 200 || st.Expired != 100 {
		t.Fatalf("stats %+v, want 200 restored, 100 expired", st)
	}
	got := snapshot(t, dst.Client(), keysOf(want))
	for k, e := range want {
		if e.ttl > 0 && e.ttl < time.Hour {
			if got[k].value != nil {
				t.Errorf("%s: restored after its expiry", k)
			}
			delete(want, k)
			continue
		}
		if e.ttl > 0 {
			e.ttl -= later
			want[k] = e
		}
	}
	// Within a second of the TTLs set less the time since, however long
	// the machine took.
	compare(t, want, got, time.Since(filled)+time.Second, 0)
}

func TestRestoreReplace(t *testing.T) {
	data := writeBackup(t, map[string]entry{
		"a": {value: []byte("new a"), ttl: time.Hour},
		"b": {value: []byte("new b")},
	})
	dst := newStore(t, redistest.Standalone(t).Addr())
	fill(t, dst.Client(), map[string]entry{"a": {value: []byte("old a")}})

	st, err := backup.Restore(t.Context(), bytes.NewReader(data), dst, backup.RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != 1 || st.Existing != 1 {
		t.Errorf("without Replace: %+v, want 1 restored, 1 existing", st)
	}
	if got := snapshot(t, dst.Client(), []string{"a"})["a"]; string(got.value) != "old a" || got.ttl != 0 {
		t.Errorf("without Replace a = %q ttl %v, want the old value", got.value, got.ttl)
	}

	st, err = backup.Restore(t.Context(), bytes.NewReader(data), dst, backup.RestoreOptions{Replace: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Restored != 2 || st.Existing != 0 {
		t.Errorf("with Replace: %+v, want 2 restored", st)
	}
	got := snapshot(t, dst.Client(), []string{"a", "b"})
	if string(got["a"].value) != "new a" || got["a"].ttl < 59*time.Minute || string(got["b"].value) != "new b" || got["b"].ttl != 0 {
		t.Errorf("with Replace: %+v", got)
	}
}

func TestRestoreCountsRefusedPayloads(t *testing.T) {
	// A valid file whose payload Redis cannot read.
	var buf bytes.Buffer
	w, _ := backup.NewWriter(&buf, backup.Header{Mode: "standalone", RedisVersion: "99.0.0"})
	_ = w.Write(backup.Record{Key: "bad", Payload: []byte("not a dump payload")})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	dst := newStore(t, redistest.Standalone(t).Addr())
	st, err := backup.Restore(t.Context(), bytes.NewReader(buf.Bytes()), dst, backup.RestoreOptions{})
	if err == nil || st.Failed != 1 || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Restore = %+v, %v; want 1 failed and an error naming the key", st, err)
	}
	t.Log(err)
}

func TestRestoreRejectsDamaged(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	data := writeBackup(t, randomEntries("k:", 200, rng))
	dst := newStore(t, redistest.Standalone(t).Addr())
	for _, tc := range damaged(data) {
		t.Run(tc.name, func(t *testing.T) {
			st, err := backup.Restore(t.Context(), bytes.NewReader(tc.data), dst, backup.RestoreOptions{})
			if !isAny(err, tc.want) || !strings.Contains(err.Error(), "nothing was restored") {
				t.Fatalf("Restore = %v, want one of %v saying nothing was restored", err, tc.want)
			}
			if st.Restored != 0 {
				t.Errorf("stats %+v", st)
			}
			if n := dbsize(t, dst); n != 0 {
				t.Fatalf("the destination holds %d keys", n)
			}
		})
	}
}

func TestBackupWriteFileFailureLeavesNothing(t *testing.T) {
	srv := redistest.Standalone(t)
	s := newStore(t, srv.Addr())
	fill(t, s.Client(), randomEntries("k:", 10, rand.New(rand.NewPCG(9, 10))))
	dir := t.TempDir()
	path := filepath.Join(dir, "cache.fcbk")
	if err := os.WriteFile(path, []byte("previous"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	_, err := backup.WriteFile(t.Context(), path, s, backup.WriteOptions{Retries: -1, Timeout: time.Second})
	if err == nil {
		t.Fatal("WriteFile succeeded with Redis down")
	}
	if b, _ := os.ReadFile(path); string(b) != "previous" {
		t.Errorf("the previous file became %q", b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// A restore that stops half-way says so and how far it got.
func TestRestoreStoppedHalfway(t *testing.T) {
	data := writeBackup(t, randomEntries("k:", 50, rand.New(rand.NewPCG(13, 14))))
	srv := redistest.Standalone(t)
	dst := newStore(t, srv.Addr())
	st, err := backup.Restore(t.Context(), bytes.NewReader(data), dst, backup.RestoreOptions{
		Batch:    10,
		Progress: func(done, total int64) { srv.Kill() },
	})
	if err == nil || !strings.Contains(err.Error(), "partial restore") || st.Restored != 10 || st.Records != 20 {
		t.Fatalf("Restore = %+v, %v; want a partial restore of 10 after 20 records", st, err)
	}
	t.Log(err)
}
