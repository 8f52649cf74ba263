package sqlstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/filecache/filecache/outbox"
	"github.com/jackc/pgx/v5"
)

// The outbox's signals travel on PostgreSQL's LISTEN/NOTIFY, on a channel
// per schema, so that deployments sharing a database do not wake each
// other. SQLite has no signals: its Store is not an outbox.Notifier in
// effect (Listen returns errNoSignals), and relays poll.

// Backoff of the listening connection's reconnections.
const (
	listenBackoff    = 100 * time.Millisecond
	listenMaxBackoff = 5 * time.Second
)

var errNoSignals = errors.New("sqlstore: SQLite cannot signal other processes")

var _ outbox.Notifier = (*Store)(nil)

// Signals reports whether the store can signal other processes: on
// PostgreSQL, not on SQLite (outbox relays then poll).
func (s *Store) Signals() bool { return s.channel != "" }

// nameChannel names the outbox's notification channel after the current
// schema.
func (s *Store) nameChannel(ctx context.Context) error {
	var schema string
	if err := s.rdb.QueryRowContext(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&schema); err != nil {
		return fmt.Errorf("sqlstore: current schema: %w", err)
	}
	sum := sha256.Sum256([]byte(schema))
	s.channel = "filecache_outbox_" + hex.EncodeToString(sum[:8])
	return nil
}

// Notify implements outbox.Notifier with pg_notify.
func (s *Store) Notify(ctx context.Context, sig outbox.Signal) error {
	if s.channel == "" {
		return errNoSignals
	}
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if _, err := s.wdb.ExecContext(ctx, `SELECT pg_notify($1, $2)`, s.channel, string(sig)); err != nil {
		return fmt.Errorf("sqlstore: notify %s: %w", sig, err)
	}
	return nil
}

// Listen implements outbox.Notifier on a connection of its own (LISTEN
// holds it), reconnecting with backoff when it fails.
func (s *Store) Listen(ctx context.Context, fn func(outbox.Signal), ready func()) error {
	if s.channel == "" {
		return errNoSignals
	}
	backoff := listenBackoff
	for {
		err := s.listenOnce(ctx, fn, ready)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			backoff = listenBackoff
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, listenMaxBackoff)
	}
}

// listenOnce listens on one connection until it fails or ctx ends.
func (s *Store) listenOnce(ctx context.Context, fn func(outbox.Signal), ready func()) error {
	conn, err := pgx.ConnectConfig(ctx, s.pgConfig)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{s.channel}.Sanitize()); err != nil {
		return err
	}
	if ready != nil {
		ready()
	}
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(outbox.Signal(n.Payload))
	}
}
