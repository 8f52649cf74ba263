package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/trace"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/filecache/filecache/files"
)

// Defaults of Options.
const (
	// DefaultMaxOpenConns is the default Options.MaxOpenConns for PostgreSQL.
	DefaultMaxOpenConns = 10
	// DefaultSQLiteReaders is the default Options.MaxOpenConns for SQLite.
	DefaultSQLiteReaders = 4
	// DefaultConnMaxLifetime is the default Options.ConnMaxLifetime.
	DefaultConnMaxLifetime = 30 * time.Minute
	// DefaultConnMaxIdleTime is the default Options.ConnMaxIdleTime.
	DefaultConnMaxIdleTime = 5 * time.Minute
	// DefaultBusyTimeout is the default Options.BusyTimeout.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultTimeout is the default Options.Timeout.
	DefaultTimeout = 3 * time.Second
)

// migrateTimeout bounds Migrate: longer than one transaction's Timeout,
// since a migration may rewrite a table, but never unbounded.
const migrateTimeout = time.Minute

// Options tunes a Store. The zero value means every default.
type Options struct {
	// MaxOpenConns caps the open connections. For SQLite it caps the read
	// connections: writes always go through one connection of their own.
	// Default: 10 for PostgreSQL, 4 for SQLite.
	MaxOpenConns int
	// MaxIdleConns caps the idle connections kept for reuse.
	// Default: MaxOpenConns.
	MaxIdleConns int
	// ConnMaxLifetime closes connections older than this (PostgreSQL, and
	// SQLite readers). Default: 30m.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for longer than this.
	// Default: 5m.
	ConnMaxIdleTime time.Duration
	// Timeout bounds every call that touches the database: each read, each
	// transaction of WithTx (from BEGIN to COMMIT), each outbox update, and
	// the wait for a free connection and the connection's set-up within
	// them; PostgreSQL's connect_timeout defaults to it too. A call past it
	// fails with an error wrapping context.DeadlineExceeded, and a
	// PostgreSQL connection it interrupted is closed, never reused, so a
	// database that hangs (or a network that drops packets) costs each
	// caller at most Timeout. Default: 3s.
	Timeout time.Duration
	// BusyTimeout is how long SQLite waits for a lock held by another
	// process before failing with SQLITE_BUSY. Ignored for PostgreSQL.
	// Default: 5s.
	BusyTimeout time.Duration
	// Now is the clock for the few writes whose API takes no time: outbox
	// entries (created_at, done_at) and the migrations' applied_at.
	// Default: time.Now.
	Now func() time.Time
	// TracerProvider, if set, makes the statements and transactions spans
	// of the callers' sampled traces (otelsql), and an outbox entry keeps
	// the trace context of its write (outbox.Entry.TraceParent).
	// Default: nil, no tracing.
	TracerProvider trace.TracerProvider
}

func (o Options) withDefaults(e engine) (Options, error) {
	switch {
	case o.MaxOpenConns < 0:
		return o, fmt.Errorf("sqlstore: MaxOpenConns %d is negative", o.MaxOpenConns)
	case o.MaxIdleConns < 0:
		return o, fmt.Errorf("sqlstore: MaxIdleConns %d is negative", o.MaxIdleConns)
	case o.ConnMaxLifetime < 0:
		return o, fmt.Errorf("sqlstore: ConnMaxLifetime %v is negative", o.ConnMaxLifetime)
	case o.ConnMaxIdleTime < 0:
		return o, fmt.Errorf("sqlstore: ConnMaxIdleTime %v is negative", o.ConnMaxIdleTime)
	case o.BusyTimeout < 0:
		return o, fmt.Errorf("sqlstore: BusyTimeout %v is negative", o.BusyTimeout)
	case o.Timeout < 0:
		return o, fmt.Errorf("sqlstore: Timeout %v is negative", o.Timeout)
	}
	if o.MaxOpenConns == 0 {
		o.MaxOpenConns = DefaultMaxOpenConns
		if e == engineSQLite {
			o.MaxOpenConns = DefaultSQLiteReaders
		}
	}
	if o.MaxIdleConns == 0 || o.MaxIdleConns > o.MaxOpenConns {
		o.MaxIdleConns = o.MaxOpenConns
	}
	o.ConnMaxLifetime = cmp.Or(o.ConnMaxLifetime, DefaultConnMaxLifetime)
	o.ConnMaxIdleTime = cmp.Or(o.ConnMaxIdleTime, DefaultConnMaxIdleTime)
	o.BusyTimeout = cmp.Or(o.BusyTimeout, DefaultBusyTimeout)
	o.Timeout = cmp.Or(o.Timeout, DefaultTimeout)
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Store is a files.Repository on SQLite or PostgreSQL. It is safe for
// concurrent use.
type Store struct {
	engine engine
	name   string  // the DSN with passwords redacted, for errors
	wdb    *sql.DB // writes and transactions
	rdb    *sql.DB // reads; the same as wdb for PostgreSQL
	now    func() time.Time
	// timeout bounds each call: see Options.Timeout.
	timeout time.Duration
	// PostgreSQL: how to open the outbox's listening connection, and its
	// notification channel, named after the schema.
	pgConfig *pgx.ConnConfig
	channel  string
	tracer   trace.Tracer // nil: tracing off
}

var _ files.Repository = (*Store)(nil)

// Open connects to the database named by dsn, brings its schema up to date
// (see Migrate) and returns the Store. dsn is either
//
//	sqlite:PATH            a SQLite file (created if missing), also file:PATH
//	postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=disable   (or postgresql://)
//
// A PostgreSQL URL takes every parameter pgx accepts, including
// search_path. SQLite runs in WAL mode with foreign keys on,
// synchronous=NORMAL and a busy timeout; its writes go through a single
// connection and take the write lock when they begin (BEGIN IMMEDIATE), so
// concurrent writers queue instead of failing with SQLITE_BUSY.
//
// Open returns an error wrapping ErrBadDSN for a DSN it cannot use; no error
// it returns contains a password.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	eng, target, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	opts, err = opts.withDefaults(eng)
	if err != nil {
		return nil, err
	}
	s := &Store{engine: eng, now: opts.Now, timeout: opts.Timeout}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(TracerName)
	}
	if eng == enginePostgres {
		s.name = redactDSN(dsn)
		err = s.openPostgres(target, opts)
	} else {
		s.name = "sqlite:" + target
		err = s.openSQLite(ctx, target, opts)
	}
	if err != nil {
		return nil, err
	}
	if err := s.ping(ctx); err != nil {
		_ = s.Close()
		return nil, fmt.Errorf("sqlstore: open %s: %w", s.name, err)
	}
	if err := s.Migrate(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	if eng == enginePostgres {
		if err := s.nameChannel(ctx); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) openPostgres(dsn string, opts Options) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's error may quote the DSN (pgx redacts it, scrub makes sure).
		return fmt.Errorf("%w: %s", ErrBadDSN, scrub(err.Error(), dsn))
	}
	if cfg.ConnectTimeout == 0 { // the DSN's connect_timeout wins
		cfg.ConnectTimeout = opts.Timeout
	}
	// pgx's default reaction to a context that ends mid-query sets a
	// deadline on the socket, so a call returns at its deadline even when
	// the server never answers; the connection is then closed and
	// database/sql discards it (TestFrozenConnection).
	s.pgConfig = cfg
	db := s.openConnector(stdlib.GetConnector(*cfg), opts.TracerProvider)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(opts.MaxIdleConns)
	db.SetConnMaxLifetime(opts.ConnMaxLifetime)
	db.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	s.wdb, s.rdb = db, db
	return nil
}

func (s *Store) openSQLite(ctx context.Context, path string, opts Options) error {
	busy := strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)
	common := func(extra ...string) url.Values {
		v := url.Values{}
		v.Add("_pragma", "busy_timeout("+busy+")")
		v.Add("_pragma", "foreign_keys(1)")
		v.Add("_pragma", "synchronous(NORMAL)")
		for _, p := range extra {
			v.Add("_pragma", p)
		}
		return v
	}
	wparams := common("journal_mode(WAL)")
	wparams.Set("_txlock", "immediate")
	wuri, err := sqliteURI(path, wparams)
	if err != nil {
		return err
	}
	ruri, err := sqliteURI(path, common("query_only(1)"))
	if err != nil {
		return err
	}
	w, err := s.openDB("sqlite", wuri, opts.TracerProvider)
	if err != nil {
		return fmt.Errorf("sqlstore: open %s: %w", s.name, err)
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql is cheaper than spinning on SQLITE_BUSY.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// The writer connects first so that the file exists in WAL mode before
	// the readers open it.
	pctx, cancel := s.bound(ctx)
	defer cancel()
	if err := pingSQLite(pctx, w); err != nil {
		_ = w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", s.name, err)
	}
	r, err := s.openDB("sqlite", ruri, opts.TracerProvider)
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("sqlstore: open %s: %w", s.name, err)
	}
	r.SetMaxOpenConns(opts.MaxOpenConns)
	r.SetMaxIdleConns(opts.MaxIdleConns)
	r.SetConnMaxLifetime(opts.ConnMaxLifetime)
	r.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	s.wdb, s.rdb = w, r
	return nil
}

// pingSQLite opens the first connection of w, retrying while the file is
// locked until ctx ends: switching a new file to WAL fails with SQLITE_BUSY
// at once, without the busy handler, while another process does the same
// (TestOpenConcurrently).
func pingSQLite(ctx context.Context, w *sql.DB) error {
	for {
		err := w.PingContext(ctx)
		var se interface{ Code() int }
		if err == nil || !errors.As(err, &se) || se.Code()&0xff != sqliteBusy {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// sqliteBusy is SQLITE_BUSY, the primary result code of a locked file.
const sqliteBusy = 5

// Engine returns "sqlite" or "postgres".
func (s *Store) Engine() string { return s.engine.String() }

// String returns the engine and database of s, with any password redacted.
func (s *Store) String() string { return s.name }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.ping(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

func (s *Store) ping(ctx context.Context) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if err := s.wdb.PingContext(ctx); err != nil {
		return err
	}
	if s.rdb != s.wdb {
		return s.rdb.PingContext(ctx)
	}
	return nil
}

// bound returns ctx limited to the Store's timeout: the deadline of one
// read or one transaction.
func (s *Store) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// Close closes the database connections. Calls after Close fail.
func (s *Store) Close() error {
	var errs []error
	if s.rdb != nil && s.rdb != s.wdb {
		errs = append(errs, s.rdb.Close())
	}
	if s.wdb != nil {
		errs = append(errs, s.wdb.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}
