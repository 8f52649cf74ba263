package main

// End-to-end tests of the two cached views of a file, GET
// /v1/files/{id}/info (file:info:{id}) and GET /v1/files/{id}/meta
// (file:meta:{id}), beside the record (file:{id}): on one instance over
// every backend of TestE2E, and across two serve processes.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
)

// views are the three cached answers of one file.
type views struct {
	rec  files.FileMetadata
	info files.FileInfo
	meta files.FileMeta
}

// readViews reads the record and both views of id and returns them with
// their X-Cache values (record, info, meta).
func (s *e2eServer) readViews(t *testing.T, id string) (views, [3]string) {
	t.Helper()
	var v views
	r := s.do(t, "GET", "/v1/files/"+id, nil)
	v.rec = decodeAs[files.FileMetadata](t, r, http.StatusOK)
	ri := s.do(t, "GET", "/v1/files/"+id+"/info", nil)
	v.info = decodeAs[files.FileInfo](t, ri, http.StatusOK)
	rm := s.do(t, "GET", "/v1/files/"+id+"/meta", nil)
	v.meta = decodeAs[files.FileMeta](t, rm, http.StatusOK)
	if got, want := rm.header.Get("ETag"), fmt.Sprintf("%q", fmt.Sprint(v.meta.Version)); got != want {
		t.Errorf("meta ETag %s, want %s", got, want)
	}
	return v, [3]string{r.header.Get("X-Cache"), ri.header.Get("X-Cache"), rm.header.Get("X-Cache")}
}

// awaitLocalViews reads the views of rec until all three come from the
// near cache (local), and fails t if a read misses, answers other than
// rec, or 50 reads go by. In a Cluster the replicas' copies of a write's
// notifications come after the master's and may drop a near entry just
// filled: the next read fills it again.
func (s *e2eServer) awaitLocalViews(t *testing.T, rec files.FileMetadata, local, what string) {
	t.Helper()
	for i := range 50 {
		got, xc := s.readViews(t, rec.ID)
		wantViews(t, what, got, rec)
		for j, x := range xc {
			if x != "hit" && x != local {
				t.Fatalf("%s, read %d: X-Cache[%d] %q, want hit or %s", what, i+1, j, x, local)
			}
		}
		if xc == [3]string{local, local, local} {
			return
		}
	}
	t.Fatalf("%s: no %s for the three views in 50 reads", what, local)
}

// wantViews fails t unless got are the views of rec.
func wantViews(t *testing.T, what string, got views, rec files.FileMetadata) {
	t.Helper()
	if diff := cmp.Diff(views{rec, rec.Info(), rec.Meta()}, got, cmp.AllowUnexported(views{})); diff != "" {
		t.Fatalf("%s (-want +got):\n%s", what, diff)
	}
}

// TestViews runs the views' cycle on every backend of TestE2E: miss, then
// hit, then hit-local (with Redis' near cache); an edit changes the three
// answers at once; a download changes the info view and the record but
// leaves the meta view cached; a delete makes all three 404.
func TestViews(t *testing.T) {
	for _, b := range e2eBackends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// A heartbeat late on a loaded machine would turn a near hit
			// into a store hit; the lag guard has its own tests.
			s := startE2EServer(t, b, map[string]string{"CACHE_NEAR_MAX_LAG": "1m"})
			near := b.redis != nil
			local := "hit-local"
			if !near {
				local = "hit" // the in-process store has no near cache
			}
			f := s.create(t, files.NewFile{Name: "report.pdf", Size: 12345, ContentType: "application/pdf",
				Checksum: e2eSHA256Hex("report"), Tags: []string{"docs", "q1"}})

			got, xc := s.readViews(t, f.ID)
			wantViews(t, "first read", got, f)
			if xc != [3]string{"miss", "miss", "miss"} {
				t.Errorf("first read X-Cache %q, want miss for each", xc)
			}
			// The miss filled Redis, and the near cache once Redis confirmed
			// the write: the next reads hit either, and soon the near cache.
			s.awaitLocalViews(t, f, local, "after the first read")

			// An edit: the next answers are the new ones, all three at once,
			// on the instance that acknowledged it.
			r := s.do(t, "PATCH", "/v1/files/"+f.ID, map[string]any{"name": "report-v2.pdf", "tags": []string{"docs"}}, "If-Match", `"1"`)
			up := decodeAs[files.FileMetadata](t, r, http.StatusOK)
			got, xc = s.readViews(t, f.ID)
			wantViews(t, "after PATCH", got, up)
			if xc != [3]string{"miss", "miss", "miss"} {
				t.Errorf("after PATCH X-Cache %q, want miss for each", xc)
			}
			s.awaitLocalViews(t, up, local, "after PATCH")

			// A download: the info view and the record count it (within the
			// coalescing window; this is the file's first download, so at
			// once); the meta view does not change and stays cached.
			d := decodeAs[struct {
				DownloadCount int64 `json:"download_count"`
			}](t, s.do(t, "POST", "/v1/files/"+f.ID+"/downloads", nil), http.StatusOK)
			acked := time.Now()
			up.DownloadCount = d.DownloadCount
			for {
				got, xc = s.readViews(t, f.ID)
				if got.info.DownloadCount == d.DownloadCount && got.rec.DownloadCount == d.DownloadCount {
					break
				}
				if time.Since(acked) > 5*time.Second {
					t.Fatalf("5s after the download: record %d, info %d; want %d", got.rec.DownloadCount, got.info.DownloadCount, d.DownloadCount)
				}
				time.Sleep(10 * time.Millisecond)
			}
			t.Logf("download shown %v after its acknowledgement", time.Since(acked).Round(time.Millisecond))
			wantViews(t, "after the download", got, up)
			// Still cached: a hit, from Redis or the near cache (a Cluster
			// replica's late copy of an older notification may have
			// dropped the near entry), never a miss.
			if xc[2] != local && xc[2] != "hit" {
				t.Errorf("meta after a download: X-Cache %q, want hit or %s (downloads do not invalidate it)", xc[2], local)
			}

			// A delete: 404 for all three, the second time from the
			// negative cache.
			wantStatus(t, s.do(t, "DELETE", "/v1/files/"+f.ID, nil), http.StatusNoContent)
			for range 2 {
				for _, p := range []string{"", "/info", "/meta"} {
					wantError(t, s.do(t, "GET", "/v1/files/"+f.ID+p, nil), http.StatusNotFound, "not_found")
				}
			}

			// Unknown and malformed ids, as for the record.
			missing := uuid.NewString()
			for _, p := range []string{"/info", "/meta"} {
				wantError(t, s.do(t, "GET", "/v1/files/"+missing+p, nil), http.StatusNotFound, "not_found")
				for _, id := range []string{"nope", strings.ToUpper(f.ID), "{" + f.ID + "}", "urn:uuid:" + f.ID, f.ID + "0", "info:" + f.ID, "*", "info"} {
					wantError(t, s.do(t, "GET", "/v1/files/"+url.PathEscape(id)+p, nil), http.StatusBadRequest, "invalid_id")
				}
				wantError(t, s.do(t, "POST", "/v1/files/"+f.ID+p, nil), http.StatusMethodNotAllowed, "method_not_allowed")
			}
		})
	}
}

// viewsOf reads the record and both views of id from process p.
func (p *process) viewsOf(t *testing.T, id string) (views, [3]string) {
	t.Helper()
	var v views
	var xc [3]string
	for i, path := range []string{"", "/info", "/meta"} {
		status, h, body := p.do(t, "GET", "/v1/files/"+id+path, "")
		if status != http.StatusOK {
			t.Fatalf("GET %s%s on %s = %d %s", id, path, p.base, status, body)
		}
		dst := []any{&v.rec, &v.info, &v.meta}[i]
		if err := json.Unmarshal(body, dst); err != nil {
			t.Fatal(err)
		}
		xc[i] = h.Get("X-Cache")
	}
	return v, xc
}

// awaitNearViews reads id on p until all three answers come from its near
// cache.
func (p *process) awaitNearViews(t *testing.T, id string) views {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, xc := p.viewsOf(t, id)
		if xc == [3]string{"hit-local", "hit-local", "hit-local"} {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never answered from its near cache: X-Cache %q", p.base, xc)
		}
	}
}

// TestViewsInstances runs two serve processes on one PostgreSQL database
// and one Redis: B holds the record and both views in its near cache; an
// edit acknowledged by A shows in all three answers of B, and a download
// on A in B's record and info view while B's meta view stays a local hit.
// The time from A's acknowledgement to B's first fresh answer is logged;
// the bound asserted is the 1 s of the download promise.
func TestViewsInstances(t *testing.T) {
	for _, tt := range sharedRedis {
		t.Run(tt.name, func(t *testing.T) {
			a, b := startPair(t, "views", tt.serveVar, tt.testVar)
			status, _, body := a.do(t, "POST", "/v1/files", `{"name":"v0.txt","size":1,"content_type":"text/plain","tags":["t0"]}`)
			if status != http.StatusCreated {
				t.Fatalf("create = %d %s", status, body)
			}
			var f files.FileMetadata
			if err := json.Unmarshal(body, &f); err != nil {
				t.Fatal(err)
			}
			const rounds = 20
			var lags [3][]time.Duration // record, info, meta
			for i := 1; i <= rounds; i++ {
				before := b.awaitNearViews(t, f.ID)
				if before.rec.Version != f.Version {
					t.Fatalf("B holds version %d, want %d", before.rec.Version, f.Version)
				}
				status, _, body := a.do(t, "PATCH", "/v1/files/"+f.ID, fmt.Sprintf(`{"name":"v%d.txt","tags":["t%d"]}`, i, i))
				if status != http.StatusOK {
					t.Fatalf("PATCH = %d %s", status, body)
				}
				acked := time.Now()
				var up files.FileMetadata
				if err := json.Unmarshal(body, &up); err != nil {
					t.Fatal(err)
				}
				var fresh [3]bool
				for !fresh[0] || !fresh[1] || !fresh[2] {
					sent := time.Now()
					v, _ := b.viewsOf(t, f.ID)
					for j, ok := range []bool{
						cmp.Equal(v.rec, up),
						cmp.Equal(v.info, up.Info()),
						cmp.Equal(v.meta, up.Meta()),
					} {
						if ok && !fresh[j] {
							fresh[j] = true
							lags[j] = append(lags[j], sent.Sub(acked))
						}
					}
					if time.Since(acked) > 5*time.Second {
						t.Fatalf("round %d: B still serves %+v 5s after the PATCH (fresh %v)", i, v, fresh)
					}
				}
				f = up
			}
			q := func(d []time.Duration, p int) time.Duration {
				d = slices.Clone(d)
				slices.Sort(d)
				return d[(len(d)-1)*p/100].Round(time.Microsecond)
			}
			for j, name := range []string{"record", "info", "meta"} {
				t.Logf("%s: PATCH on A acknowledged → B's first fresh %s answer, %d rounds: p50 %v p99 %v max %v",
					tt.name, name, rounds, q(lags[j], 50), q(lags[j], 99), q(lags[j], 100))
				if m := q(lags[j], 100); m > time.Second {
					t.Errorf("%s: B answered the old %s up to %v after the PATCH was acknowledged", tt.name, name, m)
				}
			}

			// A download on A: B's record and info count it; B's meta view
			// stays in its near cache.
			b.awaitNearViews(t, f.ID)
			status, _, body = a.do(t, "POST", "/v1/files/"+f.ID+"/downloads", "")
			if status != http.StatusOK {
				t.Fatalf("download = %d %s", status, body)
			}
			acked := time.Now()
			for {
				v, xc := b.viewsOf(t, f.ID)
				if v.rec.DownloadCount == 1 && v.info.DownloadCount == 1 {
					if xc[2] != "hit-local" || !cmp.Equal(v.meta, f.Meta()) {
						t.Errorf("B's meta after a download: %+v (X-Cache %s), want %+v from the near cache", v.meta, xc[2], f.Meta())
					}
					t.Logf("%s: download on A shown by B after %v", tt.name, time.Since(acked).Round(time.Microsecond))
					break
				}
				if time.Since(acked) > 5*time.Second {
					t.Fatalf("B: record %d, info %d 5s after a download on A", v.rec.DownloadCount, v.info.DownloadCount)
				}
			}
		})
	}
}
