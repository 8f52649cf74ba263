package consistency

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// requestTimeout bounds one HTTP request of the load. The service answers
// within its own deadlines (a stale value or 503), so a request that takes
// this long is a failure.
const requestTimeout = 5 * time.Second

// client sends the load's requests and times them on the run's clock.
type client struct {
	http  *http.Client
	start time.Time // the beginning of the run
}

func newClient(start time.Time) *client {
	return &client{start: start, http: &http.Client{
		Timeout:   requestTimeout,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
	}}
}

func (c *client) since() time.Duration { return time.Since(c.start) }

// fileJSON is the part of FileMetadata the load looks at.
type fileJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Version int64  `json:"version"`
}

// do sends one request and returns the status (0 when no answer came),
// the headers and the body. ok is false when ctx ended during the request:
// the load is over and the request is not part of the history.
func (c *client) do(ctx context.Context, method, url, body string, header ...string) (status int, h http.Header, b []byte, ok bool) {
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, ctx.Err() == nil
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, ctx.Err() == nil
	}
	defer resp.Body.Close()
	b, err = io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, ctx.Err() == nil
	}
	return resp.StatusCode, resp.Header, b, true
}

// get reads one file. ok is false when ctx ended first.
func (c *client) get(ctx context.Context, in *instance, reader, file string) (Read, bool) {
	r := Read{Reader: reader, Instance: in.name, File: file, Start: c.since()}
	status, h, body, ok := c.do(ctx, http.MethodGet, in.base+"/v1/files/"+file, "")
	r.End = c.since()
	r.Status = status
	if h != nil {
		r.Cache = h.Get("X-Cache")
	}
	if status == http.StatusOK {
		var f fileJSON
		if err := json.Unmarshal(body, &f); err != nil || f.ID != file {
			// Something no write produced: reported as fabricated.
			f = fileJSON{Version: -1, Name: fmt.Sprintf("undecodable answer %.80q", body)}
		}
		r.Value = Value{Version: f.Version, Name: f.Name}
	}
	return r, ok
}

// errUnavailable is a 503 answer: the instance asks to retry.
var errUnavailable = errors.New("503 Service Unavailable")

// create makes a file at version 1 named name.
func (c *client) create(ctx context.Context, in *instance, name string) (Write, error) {
	w := Write{Instance: in.name, Writer: "setup", Start: c.since(), Value: Value{Version: 1, Name: name}}
	body, _ := json.Marshal(map[string]any{"name": name, "size": 1, "content_type": "text/plain"})
	status, _, b, _ := c.do(ctx, http.MethodPost, in.base+"/v1/files", string(body))
	w.End = c.since()
	var f fileJSON
	if status == http.StatusServiceUnavailable {
		return w, fmt.Errorf("create a file on %s: %w: %s; its log ends:\n%s", in.name, errUnavailable, b, tail(in.log))
	}
	if status != http.StatusCreated || json.Unmarshal(b, &f) != nil {
		return w, fmt.Errorf("create a file on %s: status %d %s; its log ends:\n%s", in.name, status, b, tail(in.log))
	}
	w.File, w.Acked, w.Value = f.ID, true, Value{Version: f.Version, Name: f.Name}
	return w, nil
}

// update sets the name of a file at version from to name, with If-Match.
// The write is in the history whatever the outcome, since one that timed
// out may have committed.
func (c *client) update(ctx context.Context, in *instance, writer, file string, from int64, name string) Write {
	w := Write{File: file, Instance: in.name, Writer: writer, Start: c.since(), Value: Value{Version: from + 1, Name: name}}
	body, _ := json.Marshal(map[string]any{"name": name, "size": from + 1})
	status, _, b, _ := c.do(ctx, http.MethodPatch, in.base+"/v1/files/"+file, string(body), "If-Match", fmt.Sprintf(`"%d"`, from))
	w.End = c.since()
	var f fileJSON
	if status == http.StatusOK && json.Unmarshal(b, &f) == nil {
		w.Acked, w.Value = true, Value{Version: f.Version, Name: f.Name}
	}
	return w
}

// load drives the writers and readers of a run and collects what they saw.
type load struct {
	c         *client
	instances []*instance
	files     []string
	db        *pgxpool.Pool
	opts      Options

	reads, writes atomic.Int64 // for progress

	mu      sync.Mutex
	history History
}

// record adds one worker's writes and reads to the history.
func (l *load) record(ws []Write, rs []Read) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.history.Writes = append(l.history.Writes, ws...)
	l.history.Reads = append(l.history.Reads, rs...)
}

// run starts Writers writers and Readers readers per instance; they stop
// when ctx ends, and the returned WaitGroup is done once they have
// recorded their history.
func (l *load) run(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	writers := l.opts.Writers * len(l.instances)
	for i := range writers {
		in := l.instances[i%len(l.instances)]
		var owned []string
		for j := i; j < len(l.files); j += writers {
			owned = append(owned, l.files[j])
		}
		if len(owned) > 0 {
			wg.Go(func() { l.writer(ctx, fmt.Sprintf("w%d", i+1), in, owned) })
		}
	}
	for _, in := range l.instances {
		for i := range l.opts.Readers {
			wg.Go(func() { l.reader(ctx, fmt.Sprintf("r%d@%s", i+1, in.name), in) })
		}
	}
	return &wg
}

// writer updates the files it owns in turn on its instance, each from the
// version it knows; after an acknowledged write it reads the file back on
// its instance and polls the others until they return it.
func (l *load) writer(ctx context.Context, id string, in *instance, owned []string) {
	var ws []Write
	var rs []Read
	defer func() { l.record(ws, rs) }()
	version := map[string]int64{}
	for _, f := range owned {
		version[f] = 1 // as created
	}
	for n := 0; ctx.Err() == nil; n++ {
		f := owned[n%len(owned)]
		name := fmt.Sprintf("%s-%s-v%d-%08x", id, short(f), version[f]+1, rand.Uint32())
		w := l.c.update(ctx, in, id, f, version[f], name)
		ws = append(ws, w)
		l.writes.Add(1)
		if !w.Acked {
			// Failed, refused (412) or timed out: ask the database where
			// the file is now.
			if v, err := l.dbVersion(ctx, f); err == nil {
				version[f] = v
			}
			sleep(ctx, l.opts.WriteEvery)
			continue
		}
		version[f] = w.Value.Version
		rs = l.probe(ctx, rs, id, in, f, w.Value.Version)
		sleep(ctx, l.opts.WriteEvery)
	}
}

// probe reads file back on the writing instance and, at the same time,
// polls every other instance until it returns at least version, for at
// most twice StaleAfter (the readers observe longer windows).
func (l *load) probe(ctx context.Context, rs []Read, id string, own *instance, file string, version int64) []Read {
	var wg sync.WaitGroup
	probes := make([][]Read, len(l.instances))
	for i, in := range l.instances {
		wg.Go(func() {
			deadline := l.c.since() + 2*l.opts.StaleAfter
			for {
				r, ok := l.c.get(ctx, in, id+"@"+in.name, file)
				if !ok {
					return
				}
				probes[i] = append(probes[i], r)
				l.reads.Add(1)
				if in == own || (r.answered() && r.Value.Version >= version) || r.End > deadline {
					return
				}
				sleep(ctx, time.Millisecond)
			}
		})
	}
	wg.Wait()
	for _, p := range probes {
		rs = append(rs, p...)
	}
	return rs
}

// reader reads random files on one instance.
func (l *load) reader(ctx context.Context, id string, in *instance) {
	var rs []Read
	defer func() { l.record(nil, rs) }()
	for ctx.Err() == nil {
		if r, ok := l.c.get(ctx, in, id, l.files[rand.IntN(len(l.files))]); ok {
			rs = append(rs, r)
			l.reads.Add(1)
		}
		sleep(ctx, l.opts.ReadEvery)
	}
}

// dbVersion reads a file's version from the database.
func (l *load) dbVersion(ctx context.Context, file string) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	var v int64
	err := l.db.QueryRow(ctx, "SELECT version FROM files WHERE id = $1", file).Scan(&v)
	return v, err
}

// dbValues reads the value of each of files from the database.
func dbValues(ctx context.Context, db *pgxpool.Pool, files []string) (map[string]Value, error) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	rows, err := db.Query(ctx, "SELECT id, version, name FROM files")
	if err != nil {
		return nil, fmt.Errorf("read the files from the database: %w", err)
	}
	defer rows.Close()
	values := map[string]Value{}
	for rows.Next() {
		var id string
		var v Value
		if err := rows.Scan(&id, &v.Version, &v.Name); err != nil {
			return nil, fmt.Errorf("read the files from the database: %w", err)
		}
		values[id] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the files from the database: %w", err)
	}
	// Only the load's files: a create answered 503 in setUp may have
	// committed all the same, a file nobody reads.
	out := make(map[string]Value, len(files))
	for _, f := range files {
		if v, ok := values[f]; ok {
			out[f] = v
		}
	}
	return out, nil
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
