package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/files/sqlstore"
	"github.com/filecache/filecache/internal/faultproxy"
	"github.com/filecache/filecache/internal/sqltest"
	"github.com/filecache/filecache/internal/testenv"
)

// slack is what a call may take beyond its deadline on a loaded machine:
// without deadlines the calls below hang until the fault ends.
const slack = 3 * time.Second

// proxiedPostgres is sqltest.ProxiedPostgres with an application_name
// for the Stores of this file.
func proxiedPostgres(t *testing.T) (dsn string, p *faultproxy.Proxy, backends func() int) {
	return sqltest.ProxiedPostgres(t, fmt.Sprintf("sqlstore-deadline-%d", time.Now().UnixNano()))
}

// within runs call and fails t unless it returns an error wrapping
// context.DeadlineExceeded within timeout+slack. (It may come sooner: a
// caller waiting for a connection gets the error of a connect attempt
// made for it by the pool, which started earlier.)
func within(t *testing.T, what string, timeout time.Duration, call func() error) {
	t.Helper()
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		took := time.Since(start)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s: %v after %v; want a deadline error", what, err, took)
		}
		if took > timeout+slack {
			t.Fatalf("%s returned after %v; want its deadline %v", what, took, timeout)
		}
	case <-time.After(timeout + 30*time.Second):
		t.Fatalf("%s still running after %v: no deadline", what, timeout+30*time.Second)
	}
}

func rename(s *sqlstore.Store, id, name string) error {
	return s.WithTx(context.Background(), func(tx files.Tx) error {
		_, err := tx.UpdateFile(context.Background(), id, files.FilePatch{Name: &name}, 0, day0)
		return err
	})
}

// TestPostgresHangs freezes PostgreSQL behind a proxy, established
// connections included: reads and transactions fail at their deadline
// (the contexts given carry none), the connections stay within the pool's
// bound on both sides, and when the proxy forwards again the same Store
// answers without being reopened, the interrupted connections replaced.
func TestPostgresHangs(t *testing.T) {
	const (
		timeout  = 500 * time.Millisecond
		poolSize = 4
		writers  = 50
	)
	dsn, p, backends := proxiedPostgres(t)
	s := openStore(t, dsn, sqlstore.Options{Timeout: timeout, MaxOpenConns: poolSize})
	f := create(t, s, newFile("before.txt"), "192.0.2.1", day0)
	// Fill the pool, so that the hang freezes established connections.
	var wg sync.WaitGroup
	for range poolSize {
		wg.Go(func() {
			_ = s.WithTx(t.Context(), func(tx files.Tx) error {
				time.Sleep(100 * time.Millisecond)
				return nil
			})
		})
	}
	wg.Wait()
	p.Hang()
	p.ResetPeak()

	// Many writers at once on frozen connections: each fails at its
	// deadline, and the connections stay bounded by the pool.
	errs := make(chan error, writers)
	start := time.Now()
	for range writers {
		wg.Go(func() { errs <- rename(s, f.ID, "during.txt") })
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a write while PostgreSQL hangs: %v; want a deadline error", err)
		}
	}
	// Waiters queue for the pool's connections, each within its own
	// deadline: the last ones give up at theirs, not after the others.
	if took > timeout+slack {
		t.Fatalf("%d writes took %v; want about %v", writers, took, timeout)
	}
	// The pool holds poolSize live connections; each one a deadline
	// interrupted is closed at once for the pool, but pgx's clean-up keeps
	// its socket for up to 15 s (a cancel request on a socket of its own,
	// then Terminate) while the server does not answer. So up to three
	// sockets per pool slot, however many writers.
	if peak := p.PeakConns(); peak > 3*poolSize {
		t.Fatalf("%d connections open at once through the proxy; want at most %d (pool %d)", peak, 3*poolSize, poolSize)
	}
	if n := backends(); n > 3*poolSize {
		t.Fatalf("%d PostgreSQL backends of the Store while it hangs; want at most %d (pool %d)", n, 3*poolSize, poolSize)
	}
	t.Logf("%d writes failed within %v; peak %d connections (pool %d)", writers, took, p.PeakConns(), poolSize)

	within(t, "GetFile", timeout, func() error { _, err := s.GetFile(context.Background(), f.ID); return err })
	within(t, "WithTx", timeout, func() error { return rename(s, f.ID, "during.txt") })
	within(t, "Pending", timeout, func() error {
		_, err := s.Pending(context.Background(), 10, time.Now())
		return err
	})
	within(t, "Ping", timeout, func() error { return s.Ping(context.Background()) })

	p.Forward()
	got, err := s.GetFile(t.Context(), f.ID)
	if err != nil {
		t.Fatalf("GetFile once PostgreSQL answers again: %v", err)
	}
	if got.Name != "before.txt" {
		t.Fatalf("name %q after writes that failed; want before.txt (nothing committed)", got.Name)
	}
	if err := rename(s, f.ID, "after.txt"); err != nil {
		t.Fatalf("write once PostgreSQL answers again: %v", err)
	}
	if got, err := s.GetFile(t.Context(), f.ID); err != nil || got.Name != "after.txt" {
		t.Fatalf("after recovery: %+v, %v", got, err)
	}
	// The connections interrupted by their deadlines are closed by pgx's
	// clean-up (a cancel request, then Terminate), which may still be
	// under way once the proxy forwards again: await their backends' end.
	deadline := time.Now().Add(20 * time.Second)
	for n := backends(); n > poolSize; n = backends() {
		if time.Now().After(deadline) {
			t.Fatalf("%d backends 20s after recovery; the pool holds %d", n, poolSize)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPostgresHangsAtConnect: Open against a server that accepts and never
// answers fails at the connect timeout (Options.Timeout) instead of
// hanging, and so do calls that need a new connection.
func TestPostgresHangsAtConnect(t *testing.T) {
	const timeout = 400 * time.Millisecond
	dsn, p, _ := proxiedPostgres(t)
	p.Hang()
	within(t, "Open", timeout, func() error {
		s, err := sqlstore.Open(context.Background(), dsn, sqlstore.Options{Timeout: timeout})
		if err == nil {
			s.Close()
		}
		return err
	})

	p.Forward()
	// Set-up, not the point: on a busy machine the first connections after
	// the hang can fail ("driver: bad connection", seen in CI under two
	// busy loops) or outlast the short timeout.
	var s *sqlstore.Store
	testenv.Eventually(t, 20*time.Second, func() error {
		var err error
		s, err = sqlstore.Open(t.Context(), dsn, sqlstore.Options{Timeout: timeout, MaxOpenConns: 2})
		return err
	})
	t.Cleanup(func() { s.Close() })
	p.Cut() // the pool's idle connection dies with the server side
	p.Hang()
	// A dead idle connection fails its first use at once (unexpected EOF:
	// database/sql cannot know before); then the pool connects anew, and
	// that connection hangs until the deadline.
	for i := 0; ; i++ {
		start := time.Now()
		_, err := s.GetStats(context.Background(), day0)
		took := time.Since(start)
		if err == nil || took > timeout+slack {
			t.Fatalf("GetStats %d while the server hangs: %v after %v", i, err, took)
		}
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if i == 3 {
			t.Fatalf("GetStats never reached a new connection's deadline: %v", err)
		}
	}
	p.Forward()
	if _, err := s.GetStats(t.Context(), day0); err != nil {
		t.Fatalf("GetStats after recovery: %v", err)
	}
}

// TestSQLiteDeadline: SQLite is local, but its single writer connection is
// a queue; a transaction that cannot get it within the deadline fails
// instead of waiting behind a slow one.
func TestSQLiteDeadline(t *testing.T) {
	const timeout = 300 * time.Millisecond
	s := openStore(t, sqliteDSN(t), sqlstore.Options{Timeout: timeout})
	f := create(t, s, newFile("a.txt"), "", day0)

	holding, release := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- s.WithTx(context.Background(), func(tx files.Tx) error {
			close(holding)
			<-release
			return nil
		})
	}()
	<-holding
	within(t, "WithTx behind a held writer", timeout, func() error { return rename(s, f.ID, "b.txt") })
	close(release)
	<-held
	if err := rename(s, f.ID, "c.txt"); err != nil {
		t.Fatalf("WithTx once the writer is free: %v", err)
	}
}

func TestTimeoutOption(t *testing.T) {
	_, err := sqlstore.Open(t.Context(), sqliteDSN(t), sqlstore.Options{Timeout: -time.Second})
	if err == nil {
		t.Fatal("Open with a negative Timeout succeeded")
	}
}
