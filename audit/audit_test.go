package audit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/audit"
	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/catalog"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/internal/testenv"
	"github.com/filecache/filecache/outbox"
	"github.com/google/go-cmp/cmp"
	"github.com/redis/rueidis"
)

// TestStaleEntriesFoundAndRepaired: rows changed with SQL behind the
// outbox's back leave stale copies in Redis; the sampler finds every one
// within one walk of the keyspace, counts each with its age, logs them
// without a line per finding, and repairs them; the entries that agree
// with the database are not counted; the database reads stay within the
// rate.
func TestStaleEntriesFoundAndRepaired(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	fs := e.createCached(t, 20)
	// The other families are cached too: a search listing the files,
	// today's statistics, the settings.
	search, _, err := e.cat.SearchFiles(ctx, files.SearchQuery{Tag: "docs", Limit: 100})
	if err != nil || len(search.Items) != 20 {
		t.Fatalf("search: %d items, %v", len(search.Items), err)
	}
	if _, _, err := e.cat.Stats(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.cat.Settings(ctx); err != nil {
		t.Fatal(err)
	}
	e.bypass(t, fs[3].ID, "now() - interval '30 seconds'")
	e.bypass(t, fs[11].ID, "now() - interval '5 minutes'")
	e.bypass(t, fs[17].ID, "now() - interval '5 minutes'")
	staleKeys := []string{e.fileKey(t, fs[3].ID), e.fileKey(t, fs[11].ID), e.fileKey(t, fs[17].ID)}
	// The search page lists the three old versions: stale as well, since
	// the SQL did not invalidate the "files" tag either.
	const wantInconsistent = 4

	// 23 keys at 10 reads/s: a walk takes about 2.7 s.
	const rate = 10
	a := e.auditor(t, audit.Options{Rate: rate})
	rctx, stop := context.WithCancel(ctx)
	start := time.Now()
	done := make(chan error)
	go func() { done <- a.Run(rctx) }()
	var walks uint64
	testenv.Until(t, 60*time.Second, "the inconsistencies were not all found", func() bool {
		s := a.Stats()
		walks = s.Walks
		return s.Inconsistencies >= wantInconsistent
	})
	// A walk counts once every key it found was checked (1 here if the
	// poll came late).
	if walks > 1 {
		t.Errorf("the inconsistencies were found after %d complete walks, want within the first", walks)
	}
	// One more walk: nothing else is counted.
	testenv.Until(t, 60*time.Second, "no further walk", func() bool { return a.Stats().Walks >= walks+1 })
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	elapsed := time.Since(start)

	s := a.Stats()
	if s.Inconsistencies != wantInconsistent || s.Repaired != wantInconsistent {
		t.Errorf("inconsistencies %d, repaired %d; want %d", s.Inconsistencies, s.Repaired, wantInconsistent)
	}
	file := family(t, s, catalog.FamilyFile)
	want := map[string]uint64{audit.Age0s: 0, audit.Age1s: 0, audit.Age10s: 1, audit.Age60s: 2, audit.AgeUnknown: 0}
	if diff := cmp.Diff(want, file.Inconsistent); diff != "" {
		t.Errorf("file inconsistencies by age (-want +got):\n%s", diff)
	}
	want[audit.Age10s], want[audit.Age60s] = 0, 1
	if diff := cmp.Diff(want, family(t, s, catalog.FamilySearch).Inconsistent); diff != "" {
		t.Errorf("search inconsistencies by age (-want +got):\n%s", diff)
	}
	if s.OldestAgeSeconds < 300 {
		t.Errorf("oldest age %.1f s, want at least 300", s.OldestAgeSeconds)
	}
	for _, name := range []string{catalog.FamilyStats, catalog.FamilySettings} {
		f := family(t, s, name)
		if f.Results["consistent"] == 0 || f.Results["inconsistent"] != 0 || f.Results["error"] != 0 {
			t.Errorf("%s results %v: want consistent only", name, f.Results)
		}
	}
	if file.Results["consistent"] < 17 || file.Results["error"] != 0 {
		t.Errorf("file results %v: want the 17 others consistent, no error", file.Results)
	}
	// The cost: one read per compared sample, one more per suspect, within
	// the rate (and its burst of one).
	compared := uint64(0)
	for _, f := range s.Families {
		compared += f.Results["consistent"] + f.Results["inconsistent"] + f.Results["in_flight"]
	}
	// (A check the stop interrupted read the database but has no result.)
	if r := s.DatabaseReads; r != compared+wantInconsistent && r != compared+wantInconsistent+1 {
		t.Errorf("database reads %d, want %d (one per compared sample) + %d (one per suspect), +1 for an interrupted check", r, compared, wantInconsistent)
	}
	if limit := rate*elapsed.Seconds() + 1; float64(s.DatabaseReads) > limit {
		t.Errorf("%d database reads in %v: over the rate of %d/s", s.DatabaseReads, elapsed, rate)
	}

	// Repaired: the keys are gone, and the next read loads the database.
	for _, k := range append(staleKeys, e.cache.Keyspace().Prefix+"search:"+catalog.SearchKey(files.SearchQuery{Tag: "docs", Limit: 100})) {
		if v := e.raw(t, k); v != "" {
			t.Errorf("%s still holds %q", k, v)
		}
	}
	got, _, err := e.cat.GetFile(ctx, fs[3].ID)
	if err != nil || got.Version != 2 || got.Name != "changed-by-sql.pdf" {
		t.Errorf("GetFile after the repair = version %d %q, %v; want version 2", got.Version, got.Name, err)
	}

	// Logged once, not a line per finding: the first at once with the key
	// and both versions, the others of the window in one line.
	first := e.logs.lines("cache inconsistency found")
	if len(first) != 1 {
		t.Fatalf("%d first-finding lines, want 1:\n%s", len(first), e.logs)
	}
	if !strings.Contains(first[0], "cached=") || !strings.Contains(first[0], "database=") || !strings.Contains(first[0], "key=") {
		t.Errorf("first finding lacks the key or a side: %s", first[0])
	}
	if strings.Contains(first[0], "family=file") &&
		(!strings.Contains(first[0], `cached="version 1"`) || !strings.Contains(first[0], `database="version 2"`)) {
		t.Errorf("file finding lacks both versions: %s", first[0])
	}
	rest := e.logs.lines("more cache inconsistencies found")
	if len(rest) != 1 || !strings.Contains(rest[0], "count=3") {
		t.Errorf("summary lines %q, want one with count=3:\n%s", rest, e.logs)
	}
	for _, k := range staleKeys {
		if n := strings.Count(e.logs.String(), k); n != 1 {
			t.Errorf("key %s logged %d times, want once", k, n)
		}
	}
}

// TestWriteInFlightNotCounted: a mismatch that a write explains, because
// its invalidation is still in the outbox or lands while the key is being
// checked, is not an inconsistency; the same mismatch without a write is.
func TestWriteInFlightNotCounted(t *testing.T) {
	version := func(f files.FileMetadata) (int64, time.Time) { return f.Version, f.UpdatedAt }
	tests := []struct {
		name string
		// change runs between the check's cache read and its database
		// read, or before the check when before is set.
		change func(t *testing.T, e *env, id string)
		before bool
		want   audit.Result
	}{
		{
			name:   "committed, invalidation still in the outbox",
			before: true,
			change: func(t *testing.T, e *env, id string) { e.commitUndelivered(t, id) },
			want:   audit.InFlight,
		},
		{
			name:   "committed during the sample, invalidation still in the outbox",
			change: func(t *testing.T, e *env, id string) { e.commitUndelivered(t, id) },
			want:   audit.InFlight,
		},
		{
			name: "written and invalidated during the sample",
			change: func(t *testing.T, e *env, id string) {
				name := "renamed.pdf"
				if _, err := e.cat.UpdateFile(context.WithoutCancel(t.Context()), id, files.FilePatch{Name: &name}, 0); err != nil {
					t.Error(err)
				}
			},
			want: audit.InFlight,
		},
		{
			name:   "control: changed behind the outbox",
			before: true,
			change: func(t *testing.T, e *env, id string) { e.bypass(t, id, "now()") },
			want:   audit.Inconsistent,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			f := e.createCached(t, 1)[0]
			key := e.fileKey(t, f.ID)
			before := e.raw(t, key)
			if before == "" {
				t.Fatal("the file is not cached")
			}
			// The auditor as another process sees the keys: its own
			// cache over the same store and prefix, whose database read
			// lets the change in first.
			c2, err := cache.New(e.redis, cache.Options{Prefix: e.cache.Keyspace().Prefix})
			if err != nil {
				t.Fatal(err)
			}
			f2, err := cache.NewFamily(c2, catalog.FamilyFile, cache.FamilyOptions[files.FileMetadata]{})
			if err != nil {
				t.Fatal(err)
			}
			var once sync.Once
			load := func(ctx context.Context, id string) (files.FileMetadata, error) {
				if !tc.before {
					once.Do(func() { tc.change(t, e, id) })
				}
				v, err := e.repo.GetFile(ctx, id)
				if errors.Is(err, files.ErrNotFound) {
					err = cache.ErrNotFound
				}
				return v, err
			}
			a := e.auditorOf(t, []audit.Family{audit.Versioned(f2, load, version)}, audit.Options{})
			if tc.before {
				tc.change(t, e, f.ID)
			}
			r, err := a.Check(t.Context(), key)
			if r != tc.want {
				t.Fatalf("Check = %v (%v), want %v", r, err, tc.want)
			}
			s := a.Stats()
			if tc.want == audit.InFlight {
				if s.Inconsistencies != 0 || s.Repaired != 0 || e.logs.String() != "" {
					t.Errorf("a write in flight was counted: %+v\nlog: %s", s, e.logs)
				}
				if tc.before && e.raw(t, key) != before {
					t.Errorf("the entry was touched: %q, want %q", e.raw(t, key), before)
				}
				// Once the outbox is delivered the entry is gone: nothing
				// to compare.
				if _, err := e.cat.Drain(t.Context()); err != nil {
					t.Fatal(err)
				}
				if r, err := a.Check(t.Context(), key); r != audit.Empty {
					t.Errorf("Check after delivery = %v (%v), want empty", r, err)
				}
				return
			}
			if s.Inconsistencies != 1 || s.Repaired != 1 || e.raw(t, key) != "" {
				t.Errorf("control not counted and repaired: %+v, key holds %q", s, e.raw(t, key))
			}
		})
	}
}

// commitUndelivered changes file id and queues its invalidation in the
// outbox in one transaction, as a write does, and stops there: the moment
// between a write's commit and its delete.
func (e *env) commitUndelivered(t *testing.T, id string) {
	t.Helper()
	err := e.repo.WithTx(context.WithoutCancel(t.Context()), func(tx files.Tx) error {
		name := "in-flight.pdf"
		if _, err := tx.UpdateFile(t.Context(), id, files.FilePatch{Name: &name}, 0, time.Now()); err != nil {
			return err
		}
		_, err := tx.Enqueue(t.Context(), outbox.Invalidation{Keys: []string{e.fileKey(t, id)}, Tags: []string{catalog.TagFiles}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFollowUps: the keys of a sampled write are checked again at each
// delay; a copy that went stale behind the write's back is caught by a
// follow-up and counted there.
func TestFollowUps(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.createCached(t, 1)[0]
	key := e.fileKey(t, f.ID)
	delays := []time.Duration{300 * time.Millisecond, time.Second, 3 * time.Second}
	// No keys to walk: the sampler would find the stale copy before the
	// follow-ups do.
	opts := audit.Options{Rate: 60, FollowUps: delays, Logger: slog.New(slog.NewTextHandler(e.logs, nil))}
	a, err := audit.New(e.cache, noMasters{}, e.repo, e.cat.AuditFamilies(), opts)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error)
	go func() { done <- a.Run(rctx) }()
	defer func() { stop(); <-done }()
	followed := func() uint64 {
		var n uint64
		for _, fu := range a.Stats().FollowUps {
			for _, c := range fu.Results {
				n += c
			}
		}
		return n
	}
	// Writes until one is followed: the subscription to the events is up.
	name := "v.pdf"
	testenv.Until(t, 30*time.Second, "no write was followed", func() bool {
		if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond)
		return followed() > 0
	})
	// Let the followed writes' checks end: no new one for longer than
	// the longest delay.
	last, since := followed(), time.Now()
	testenv.Until(t, 60*time.Second, "follow-ups never settled", func() bool {
		if n := followed(); n != last {
			last, since = n, time.Now()
		}
		return time.Since(since) > 3500*time.Millisecond
	})
	before := followed()
	// A write, read back into the cache, then changed behind the outbox.
	if _, err := e.cat.UpdateFile(ctx, f.ID, files.FilePatch{Name: &name}, 0); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.cat.GetFile(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	e.bypass(t, f.ID, "now()")
	testenv.Until(t, 30*time.Second, "the follow-ups of the write did not run", func() bool { return followed() >= before+3 })
	s := a.Stats()
	var inconsistent uint64
	for _, fu := range s.FollowUps {
		inconsistent += fu.Results["inconsistent"]
	}
	if inconsistent != 1 || s.Inconsistencies != 1 {
		t.Errorf("follow-ups found %d inconsistencies (total %d), want 1: %+v", inconsistent, s.Inconsistencies, s.FollowUps)
	}
	if got := slices.Collect(func(yield func(string) bool) {
		for _, fu := range s.FollowUps {
			if !yield(fu.After) {
				return
			}
		}
	}); !slices.Equal(got, []string{"300ms", "1s", "3s"}) {
		t.Errorf("follow-up delays %v", got)
	}
	if e.raw(t, key) != "" {
		t.Errorf("the stale entry was not repaired: %q", e.raw(t, key))
	}
}

// TestPass: a full pass checks every key of a family once (on every master
// of a Cluster), reports its progress, and counts and repairs exactly the
// stale entries.
func TestPass(t *testing.T) {
	for _, d := range deployments {
		t.Run(d.name, func(t *testing.T) { testPass(t, newEnvOn(t, d.opts(t))) })
	}
}

func testPass(t *testing.T, e *env) {
	ctx := t.Context()
	fs := e.createCached(t, 300)
	var stale []string
	for _, i := range []int{0, 50, 99, 150, 299} {
		e.bypass(t, fs[i].ID, "now()")
		stale = append(stale, e.fileKey(t, fs[i].ID))
	}
	a := e.auditor(t, audit.Options{})
	// The progress knows the total from the start (the pass counts the
	// keys first) and ends there.
	var calls, lastDone int64
	var bad []string
	res, err := a.Pass(ctx, audit.PassOptions{Families: []string{catalog.FamilyFile}, Progress: func(done, total int64) {
		if done != calls || total != 300 {
			bad = append(bad, fmt.Sprintf("call %d: %d of %d", calls, done, total))
		}
		calls++
		lastDone = done
	}})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 301 || lastDone != 300 || len(bad) > 0 {
		t.Errorf("progress: %d calls ending at %d, irregular: %v; want 0 to 300 of 300", calls, lastDone, bad)
	}
	want := map[string]uint64{"consistent": 295, "empty": 0, "in_flight": 0, "inconsistent": 5, "error": 0}
	if res.Checked != 300 || res.Inconsistent != 5 || res.Repaired != 5 {
		t.Errorf("pass checked %d, inconsistent %d, repaired %d; want 300, 5, 5", res.Checked, res.Inconsistent, res.Repaired)
	}
	if diff := cmp.Diff(want, res.Results); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	var got []string
	for _, f := range res.Findings {
		got = append(got, f.Key)
		if f.Cached != "version 1" || f.Database != "version 2" || !f.Repaired || !f.AgeKnown {
			t.Errorf("finding %+v", f)
		}
	}
	slices.Sort(got)
	slices.Sort(stale)
	if diff := cmp.Diff(stale, got); diff != "" {
		t.Errorf("inconsistent keys (-want +got):\n%s", diff)
	}
	// Again: everything agrees now (the repaired keys are gone).
	res, err = a.Pass(ctx, audit.PassOptions{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 100 || res.Inconsistent != 0 {
		t.Errorf("second pass with --limit 100: checked %d, inconsistent %d; want 100, 0", res.Checked, res.Inconsistent)
	}
	if _, err := a.Pass(ctx, audit.PassOptions{Families: []string{"nope"}}); err == nil {
		t.Error("a pass of an unknown family did not fail")
	}
}

// noMasters is a deployment with no key to walk.
type noMasters struct{}

func (noMasters) Masters(context.Context) (map[string]rueidis.Client, error) { return nil, nil }

func TestNewRefuses(t *testing.T) {
	e := newEnv(t)
	fams := e.cat.AuditFamilies()
	tests := []struct {
		name string
		fams []audit.Family
		opts audit.Options
	}{
		{"twice the same family", append(fams, fams[0]), audit.Options{}},
		{"a zero Family", []audit.Family{{}}, audit.Options{}},
		{"a follow-up at 0", fams, audit.Options{FollowUps: []time.Duration{0}}},
		{"a negative limit", fams, audit.Options{PendingLimit: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := audit.New(e.cache, e.redis, e.repo, tc.fams, tc.opts); err == nil {
				t.Error("New accepted it")
			}
		})
	}
	// Off: Run returns at once.
	a, err := audit.New(e.cache, e.redis, e.repo, fams, audit.Options{Rate: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(t.Context()); err != nil || a.Stats().Rate != 0 {
		t.Errorf("Run with Rate -1 = %v, rate %v", err, a.Stats().Rate)
	}
	if _, err := a.Check(t.Context(), "elsewhere:1"); !errors.Is(err, audit.ErrNotAudited) {
		t.Errorf("Check of a foreign key = %v, want ErrNotAudited", err)
	}
}

// TestViewKeysNotTakenForFiles: the keys of the file views that are not
// audited (file:info:{id}, file:meta:{id}) start with the audited file
// family's name; a check must leave them alone, not compare them with the
// file "info:{id}" that the database does not hold and delete them.
func TestViewKeysNotTakenForFiles(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	f := e.createCached(t, 1)[0]
	if _, _, err := e.cat.GetFileMeta(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.cat.GetFileInfo(ctx, f.ID); err != nil {
		t.Fatal(err)
	}
	a := e.auditor(t, audit.Options{Rate: -1})
	prefix := e.cache.Keyspace().Prefix
	for _, family := range []string{catalog.FamilyFileMeta, catalog.FamilyFileInfo} {
		key := prefix + family + ":" + f.ID
		if _, err := a.Check(ctx, key); !errors.Is(err, audit.ErrNotAudited) {
			t.Errorf("Check(%s) = %v, want ErrNotAudited", key, err)
		}
		if e.raw(t, key) == "" {
			t.Errorf("%s was deleted", key)
		}
	}
	if res, err := a.Check(ctx, e.fileKey(t, f.ID)); err != nil || res != audit.Consistent {
		t.Errorf("Check of the file's own key = %v, %v, want Consistent", res, err)
	}
	// A family this process does not register (a newer version's, in a
	// rolling deploy) nested under the file family: its key fails the
	// check, it is not deleted as a file found missing.
	thumb := prefix + catalog.FamilyFile + ":thumb:" + f.ID
	if err := e.redis.Set(ctx, thumb, []byte(e.raw(t, e.fileKey(t, f.ID))), time.Hour); err != nil {
		t.Fatal(err)
	}
	if res, err := a.Check(ctx, thumb); err == nil || res == audit.Inconsistent {
		t.Errorf("Check(%s) = %v, %v, want a failed check", thumb, res, err)
	}
	if e.raw(t, thumb) == "" {
		t.Errorf("%s was deleted", thumb)
	}
}
