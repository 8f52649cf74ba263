package outbox

import (
	"context"
	"errors"
	"time"
)

// Invalidation names the cache keys and tags to drop after a write. It is
// stored in the outbox in the transaction of the write and delivered after
// commit.
type Invalidation struct {
	Keys []string `json:"keys"`
	Tags []string `json:"tags"`
}

// Entry is an Invalidation in the outbox: ID orders entries (oldest
// first), Attempts counts the deliveries the cache rejected.
type Entry struct {
	ID int64 `json:"id"`
	Invalidation
	CreatedAt time.Time `json:"created_at"`
	Attempts  int       `json:"attempts"`
	// TraceParent is the W3C traceparent of the write that made the entry,
	// or "": the relay's delivery span links to it.
	TraceParent string `json:"traceparent,omitempty"`
	// Err is why the entry could not be read back from the store (a
	// corrupt row); such an entry is set aside.
	Err error `json:"-"`
}

// Backlog is the state of the outbox.
type Backlog struct {
	// Pending counts the entries not yet delivered.
	Pending int64 `json:"pending"`
	// Oldest is when the oldest pending entry was created; zero if none.
	Oldest time.Time `json:"oldest_queued,omitzero"`
	// SetAside counts the entries given up after repeated rejections.
	SetAside int64 `json:"set_aside"`
}

// Store is the outbox's storage. files/sqlstore implements it on the SQL
// table the writes insert into.
type Store interface {
	// Pending returns up to limit entries created before createdBefore that
	// are neither done nor set aside, and due (not waiting for a retry),
	// oldest first.
	Pending(ctx context.Context, limit int, createdBefore time.Time) ([]Entry, error)
	// Since returns up to limit entries marked done at or after doneFrom,
	// or not done, created at or before createdTo, with an id above
	// afterID, and not set aside, oldest first: the deliveries a cache
	// that died may have lost.
	Since(ctx context.Context, doneFrom, createdTo time.Time, afterID int64, limit int) ([]Entry, error)
	// MarkDone marks entries delivered. Unknown and done ids are ignored.
	MarkDone(ctx context.Context, ids ...int64) error
	// RetryLater counts a rejected delivery of entry id and makes it due
	// again at at.
	RetryLater(ctx context.Context, id int64, at time.Time) error
	// SetAside gives up on entry id: it is no longer pending, and is kept
	// with reason for an operator.
	SetAside(ctx context.Context, id int64, reason string) error
	// Prune deletes the entries done before doneBefore and returns how many.
	Prune(ctx context.Context, doneBefore time.Time) (int64, error)
	// Backlog reports the pending and set-aside entries.
	Backlog(ctx context.Context) (Backlog, error)
	// Done reports whether entry id is done (delivered or set aside); an
	// unknown id is done (pruned).
	Done(ctx context.Context, id int64) (bool, error)
}

// Signal is a message between the relays of the processes sharing a store.
type Signal string

// The signals.
const (
	// SignalNew is sent by a write's transaction when it commits an entry.
	SignalNew Signal = "new"
	// SignalPending is sent by a writer that could not deliver its entry:
	// every relay delivers the pending entries at once.
	SignalPending Signal = "pending"
	// SignalDelivered is sent by a relay that delivered entries on a
	// SignalPending: the writers waiting for them may acknowledge.
	SignalDelivered Signal = "delivered"
)

// Notifier is implemented by a Store that can signal every process using
// it (PostgreSQL LISTEN/NOTIFY).
type Notifier interface {
	// Listen calls fn with every signal until ctx ends. It reconnects when
	// its connection fails; ready, if not nil, is called each time it
	// listens again (signals sent meanwhile were lost).
	Listen(ctx context.Context, fn func(Signal), ready func()) error
	// Notify sends s to every listening process, this one included.
	Notify(ctx context.Context, s Signal) error
}

// ErrPoison is wrapped by a delivery error that is about the entry, not
// the cache's availability (a key the cache refuses): the entry is retried
// with backoff and then set aside, and the relay goes on with the others.
var ErrPoison = errors.New("outbox: the cache rejects this invalidation")
