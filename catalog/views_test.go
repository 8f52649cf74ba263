package catalog_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/google/go-cmp/cmp"
)

func mustInfo(t *testing.T, cat *catalog.Catalog, id string, wantOrigin cache.Origin) files.FileInfo {
	t.Helper()
	return mustRead(t, "GetFileInfo", cat.GetFileInfo, id, wantOrigin)
}

func mustMeta(t *testing.T, cat *catalog.Catalog, id string, wantOrigin cache.Origin) files.FileMeta {
	t.Helper()
	return mustRead(t, "GetFileMeta", cat.GetFileMeta, id, wantOrigin)
}

// TestFileViews checks the two views of a file: loaded from the row,
// cached apart from the record, invalidated with it by every write except
// downloads, which leave the meta view alone.
func TestFileViews(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		f := e.create(t, "a.txt")
		if diff := cmp.Diff(f.Info(), mustInfo(t, e.cat, f.ID, cache.OriginLoad)); diff != "" {
			t.Errorf("info (-want +got):\n%s", diff)
		}
		mustInfo(t, e.cat, f.ID, cache.OriginStore)
		if diff := cmp.Diff(f.Meta(), mustMeta(t, e.cat, f.ID, cache.OriginLoad)); diff != "" {
			t.Errorf("meta (-want +got):\n%s", diff)
		}
		mustMeta(t, e.cat, f.ID, cache.OriginStore)
		mustGet(t, e.cat, f.ID, cache.OriginLoad)
		for _, k := range []string{"file:" + f.ID, "file:info:" + f.ID, "file:meta:" + f.ID} {
			if _, err := e.store.(ttler).TTL(ctx, e.cache.Keyspace().Prefix+k); err != nil {
				t.Errorf("key %s: %v", k, err)
			}
		}

		// An edit changes all three at once.
		name := "b.txt"
		up, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustInfo(t, e.cat, f.ID, cache.OriginLoad); got.Name != "b.txt" || !got.UpdatedAt.Equal(up.UpdatedAt) {
			t.Errorf("info after update: %+v", got)
		}
		if got := mustMeta(t, e.cat, f.ID, cache.OriginLoad); got.Version != 2 {
			t.Errorf("meta after update: %+v", got)
		}
		mustGet(t, e.cat, f.ID, cache.OriginLoad)
		mustMeta(t, e.cat, f.ID, cache.OriginStore)

		// A download changes the info view and the record, not the meta.
		if n, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1"); err != nil || n != 1 {
			t.Fatalf("RecordDownload = %d, %v", n, err)
		}
		if got := mustInfo(t, e.cat, f.ID, cache.OriginLoad); got.DownloadCount != 1 {
			t.Errorf("info after a download: %+v", got)
		}
		if got := mustGet(t, e.cat, f.ID, cache.OriginLoad); got.DownloadCount != 1 || got.Version != 2 {
			t.Errorf("record after a download: %+v", got)
		}
		mustMeta(t, e.cat, f.ID, cache.OriginStore)

		// A delete makes all three not found, the second time from the
		// negative cache.
		if err := e.cat.DeleteFile(ctx, f.ID); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			if _, _, err := e.cat.GetFileInfo(ctx, f.ID); !errors.Is(err, files.ErrNotFound) {
				t.Errorf("info after delete: %v", err)
			}
			if _, _, err := e.cat.GetFileMeta(ctx, f.ID); !errors.Is(err, files.ErrNotFound) {
				t.Errorf("meta after delete: %v", err)
			}
		}
		st := map[string]uint64{}
		for _, s := range e.cache.Stats() {
			st[s.Family] = s.Loads
		}
		if st[catalog.FamilyFileInfo] != 4 || st[catalog.FamilyFileMeta] != 3 {
			t.Errorf("loads per family %v, want info 4 (create, update, download, delete) and meta 3", st)
		}

		// Only canonical UUIDs name a file: "info:<id>" would be the key of
		// a view in the record's family.
		for _, id := range []string{"info:" + f.ID, "", "x", "meta:" + f.ID, f.ID + ":"} {
			var ve *files.ValidationError
			if _, _, err := e.cat.GetFile(ctx, id); !errors.As(err, &ve) {
				t.Errorf("GetFile(%q): %v, want a validation error", id, err)
			}
			if _, _, err := e.cat.GetFileInfo(ctx, id); !errors.As(err, &ve) {
				t.Errorf("GetFileInfo(%q): %v", id, err)
			}
			if _, _, err := e.cat.GetFileMeta(ctx, id); !errors.As(err, &ve) {
				t.Errorf("GetFileMeta(%q): %v", id, err)
			}
			if _, err := e.cat.RecordDownload(ctx, id, "198.51.100.1"); !errors.As(err, &ve) {
				t.Errorf("RecordDownload(%q): %v", id, err)
			}
			if _, err := e.cat.UpdateFile(ctx, id, files.FilePatch{Name: &name}, 0); !errors.As(err, &ve) {
				t.Errorf("UpdateFile(%q): %v", id, err)
			}
			if err := e.cat.DeleteFile(ctx, id); !errors.As(err, &ve) {
				t.Errorf("DeleteFile(%q): %v", id, err)
			}
		}
	})
}

// countingRepo counts the write transactions.
type countingRepo struct {
	files.Repository
	txs  atomic.Int64
	fail atomic.Bool // WithTx fails: the database is unreachable
}

var errDown = errors.New("injected: database unreachable")

func (r *countingRepo) WithTx(ctx context.Context, fn func(files.Tx) error) error {
	r.txs.Add(1)
	if r.fail.Load() {
		return errDown
	}
	return r.Repository.WithTx(ctx, fn)
}

// TestDownloadsGroupCommit counts concurrent downloads of one file: each
// answer is a count of its own, none is lost, and they share transactions.
func TestDownloadsGroupCommit(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		repo := &countingRepo{}
		e := newEnv(t, nil, func(r files.Repository) files.Repository { repo.Repository = r; return repo })
		ctx := t.Context()
		f := e.create(t, "hot.bin")
		other := e.create(t, "other.bin")
		const workers, each = 32, 25
		before := repo.txs.Load()
		var mu sync.Mutex
		var counts []int64
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for range each {
					id := f.ID
					if w == 0 {
						id = other.ID // a file of its own, in transactions of its own
					}
					n, err := e.cat.RecordDownload(ctx, id, "198.51.100.1")
					if err != nil {
						t.Error(err)
						return
					}
					if id == f.ID {
						mu.Lock()
						counts = append(counts, n)
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		txs := repo.txs.Load() - before
		slices.Sort(counts)
		want := make([]int64, (workers-1)*each)
		for i := range want {
			want[i] = int64(i + 1)
		}
		if !slices.Equal(counts, want) {
			t.Fatalf("counts answered: %v, want each of 1..%d once", counts, len(want))
		}
		if err := e.cat.FlushDownloads(ctx); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, e.cat, f.ID, cache.OriginLoad); got.DownloadCount != int64(len(want)) {
			t.Errorf("count read after all: %d, want %d", got.DownloadCount, len(want))
		}
		if got := mustInfo(t, e.cat, other.ID, cache.OriginLoad); got.DownloadCount != each {
			t.Errorf("other file's count: %d, want %d", got.DownloadCount, each)
		}
		t.Logf("%d downloads in %d transactions (%.2f per download)", workers*each, txs, float64(txs)/float64(workers*each))
		if txs >= workers*each {
			t.Errorf("%d transactions for %d concurrent downloads: no group commit", txs, workers*each)
		}
		awaitOutboxEmpty(t, e)

		// A failed transaction fails every download it carried: none is
		// acknowledged, none counted.
		repo.fail.Store(true)
		var failed atomic.Int64
		for range 8 {
			wg.Go(func() {
				if _, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1"); errors.Is(err, errDown) {
					failed.Add(1)
				}
			})
		}
		wg.Wait()
		repo.fail.Store(false)
		if failed.Load() != 8 {
			t.Errorf("%d of 8 downloads failed with the database", failed.Load())
		}
		if got, err := e.repo.GetFile(ctx, f.ID); err != nil || got.DownloadCount != int64(len(want)) {
			t.Errorf("count after failed downloads: %d, %v", got.DownloadCount, err)
		}
	})
}

// TestDownloadsCoalesced downloads one file without pause for 1.5 s while
// reading its views: the info view is invalidated a few times a second, not
// per download, the meta view never, and the last count shows once the
// window is up.
func TestDownloadsCoalesced(t *testing.T) {
	forEach(t, func(t *testing.T, newEnv newEnvFunc) {
		e := newEnv(t, nil, nil)
		ctx := t.Context()
		f := e.create(t, "hot.bin")
		mustMeta(t, e.cat, f.ID, cache.OriginLoad)
		const run = 1500 * time.Millisecond
		var downloads, infoLoads, metaLoads, reads int
		var last int64
		start := time.Now()
		for time.Since(start) < run {
			n, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1")
			if err != nil {
				t.Fatal(err)
			}
			downloads, last = downloads+1, n
			info, origin, err := e.cat.GetFileInfo(ctx, f.ID)
			if err != nil || info.DownloadCount > n {
				t.Fatalf("info = %+v, %v after download %d", info, err, n)
			}
			if origin == cache.OriginLoad {
				infoLoads++
			}
			if _, origin, err := e.cat.GetFileMeta(ctx, f.ID); err != nil || origin == cache.OriginLoad {
				metaLoads++
			}
			reads++
		}
		elapsed := time.Since(start)
		// At most one invalidation per window, plus the first download's.
		limit := int(elapsed/catalog.DefaultDownloadCoalesce) + 2
		t.Logf("%d downloads in %v, %d info reads: %d loaded (limit %d), meta loads %d", downloads, elapsed.Round(time.Millisecond), reads, infoLoads, limit, metaLoads)
		if downloads < 2*limit {
			t.Skipf("only %d downloads in %v: too few to tell coalescing from none", downloads, elapsed)
		}
		if infoLoads > limit {
			t.Errorf("info view loaded %d times for %d downloads in %v; want at most %d", infoLoads, downloads, elapsed, limit)
		}
		if metaLoads != 0 {
			t.Errorf("meta view loaded %d times: downloads must not invalidate it", metaLoads)
		}
		// The last acknowledged download shows once the window is up.
		acked := time.Now()
		for {
			info, _, err := e.cat.GetFileInfo(ctx, f.ID)
			if err != nil {
				t.Fatal(err)
			}
			if info.DownloadCount == last {
				t.Logf("last download shown %v after its acknowledgement", time.Since(acked).Round(time.Millisecond))
				break
			}
			if time.Since(acked) > 5*time.Second {
				t.Fatalf("info shows %d, %v after download %d was acknowledged", info.DownloadCount, time.Since(acked), last)
			}
			time.Sleep(10 * time.Millisecond)
		}
		awaitOutboxEmpty(t, e)
	})
}

// awaitOutboxEmpty waits until every outbox entry is marked delivered: a
// flush of the coalescer may still be marking its entries.
func awaitOutboxEmpty(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pending, err := e.repo.Pending(t.Context(), 10, time.Now().Add(time.Hour))
		if err == nil && len(pending) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox: %d entries pending, %v", len(pending), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDownloadFlushFailure breaks the cache while downloads wait for their
// coalesced invalidation: their entries stay in the outbox, reads bypass
// the cache, and the relay delivers them once the cache is back.
func TestDownloadFlushFailure(t *testing.T) {
	// A window no test outlasts: the second download surely waits.
	forEachWith(t, catalog.Options{DownloadCoalesce: time.Hour}, func(t *testing.T, newEnv newEnvFunc) {
		flaky := &flakyStore{}
		e := newEnv(t, func(s cache.Store) cache.Store { flaky.Store = s; return flaky }, nil)
		ctx := t.Context()
		f := e.create(t, "hot.bin")
		if _, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1"); err != nil { // invalidates at once
			t.Fatal(err)
		}
		mustInfo(t, e.cat, f.ID, cache.OriginLoad)
		n, err := e.cat.RecordDownload(ctx, f.ID, "198.51.100.1") // waits for the window
		if err != nil || n != 2 {
			t.Fatalf("second download = %d, %v", n, err)
		}
		flaky.broken.Store(true)
		if err := e.cat.FlushDownloads(ctx); !errors.Is(err, errBroken) {
			t.Fatalf("FlushDownloads with the cache broken: %v", err)
		}
		if !e.cat.CacheReadsSuspended() {
			t.Fatal("cache reads admitted with an undelivered invalidation")
		}
		if got, origin, err := e.cat.GetFileInfo(ctx, f.ID); err != nil || got.DownloadCount != 2 || origin != cache.OriginLoad {
			t.Fatalf("info while suspended = %+v (%v), %v; want count 2 from the database", got, origin, err)
		}
		if pending, _ := e.repo.Pending(ctx, 10, time.Now().Add(time.Hour)); len(pending) != 1 {
			t.Fatalf("outbox: %d pending, want the deferred download's entry", len(pending))
		}
		flaky.broken.Store(false)
		if n, err := e.cat.Drain(ctx); err != nil || n != 1 {
			t.Fatalf("Drain = %d, %v", n, err)
		}
		if got := mustInfo(t, e.cat, f.ID, cache.OriginLoad); got.DownloadCount != 2 {
			t.Fatalf("info after the drain: %+v", got)
		}
	})
}

func TestInfoTTL(t *testing.T) {
	tests := []struct {
		downloads int64
		want      time.Duration
	}{
		{0, 10 * time.Minute},
		{99, 10 * time.Minute},
		{100, 20 * time.Minute},
		{1000, 40 * time.Minute},
		{1 << 40, 40 * time.Minute},
	}
	for _, tt := range tests {
		if got := catalog.InfoTTL(catalog.DefaultInfoTTL, files.FileInfo{DownloadCount: tt.downloads, Size: 1 << 40}); got != tt.want {
			t.Errorf("InfoTTL(%d downloads) = %v, want %v", tt.downloads, got, tt.want)
		}
	}
	if got := catalog.InfoTTL(3*time.Hour, files.FileInfo{DownloadCount: 5000}); got != catalog.MaxFileTTL {
		t.Errorf("InfoTTL(3h base, popular) = %v, want the cap %v", got, catalog.MaxFileTTL)
	}
}
