package catalog

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/filecache/filecache/cache"
	"github.com/filecache/filecache/files"
	"github.com/filecache/filecache/outbox"
)

func (c *Catalog) key(f interface{ Key(string) (string, error) }, id string) string {
	k, err := f.Key(id)
	if err != nil {
		// Ids reaching a write were validated; a failure here is a bug.
		panic(fmt.Sprintf("catalog: key of %q: %v", id, err))
	}
	return k
}

// fileInvalidation is what a write of file id drops: the record, both
// views and every cached search (tag "files"), and with stats the
// statistics of now's day.
func (c *Catalog) fileInvalidation(id string, now time.Time, stats bool) outbox.Invalidation {
	inv := outbox.Invalidation{Keys: []string{c.key(c.files, id), c.key(c.info, id), c.key(c.meta, id)}, Tags: []string{TagFiles}}
	if stats {
		inv.Keys = append(inv.Keys, c.statsKey(now))
	}
	return inv
}

// statsKey returns the key of the statistics of now's UTC day.
func (c *Catalog) statsKey(now time.Time) string {
	return c.key(c.stats, now.UTC().Format(time.DateOnly))
}

// admit checks a file write against the system settings: maintenance mode,
// the largest size and the allowed content types. size and contentType are
// nil when the write does not set them.
func (c *Catalog) admit(ctx context.Context, size *int64, contentType *string) error {
	s, _, err := c.Settings(ctx)
	if err != nil {
		return err
	}
	switch {
	case s.MaintenanceMode:
		return maintenance{}
	case size != nil && *size > s.MaxFileSize:
		return &files.ValidationError{Field: "size", Message: fmt.Sprintf("must be at most %d (max_file_size)", s.MaxFileSize)}
	case contentType != nil && !s.AllowsContentType(*contentType):
		return &files.ValidationError{Field: "content_type", Message: "is not among the allowed_content_types"}
	}
	return nil
}

// CreateFile stores a new file uploaded by uploaderIP.
func (c *Catalog) CreateFile(ctx context.Context, nf files.NewFile, uploaderIP string) (files.FileMetadata, error) {
	if err := c.admit(ctx, &nf.Size, &nf.ContentType); err != nil {
		return files.FileMetadata{}, err
	}
	id := files.NewID()
	now := c.now()
	var out files.FileMetadata
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.CreateFile(ctx, nf, id, uploaderIP, now)
		// The id may be cached as not found; today's stats change.
		return c.fileInvalidation(id, now, true), err
	})
	return out, err
}

// UpdateFile applies p to the file id; ifVersion > 0 makes it conditional.
func (c *Catalog) UpdateFile(ctx context.Context, id string, p files.FilePatch, ifVersion int64) (files.FileMetadata, error) {
	if err := files.ValidateID(id); err != nil {
		return files.FileMetadata{}, err
	}
	if err := c.admit(ctx, p.Size, p.ContentType); err != nil {
		return files.FileMetadata{}, err
	}
	now := c.now()
	var out files.FileMetadata
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.UpdateFile(ctx, id, p, ifVersion, now)
		return c.fileInvalidation(id, now, false), err
	})
	return out, err
}

// DeleteFile deletes the file id.
func (c *Catalog) DeleteFile(ctx context.Context, id string) error {
	if err := files.ValidateID(id); err != nil {
		return err
	}
	if err := c.admit(ctx, nil, nil); err != nil {
		return err
	}
	now := c.now()
	return c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		_, err := tx.DeleteFile(ctx, id)
		return c.fileInvalidation(id, now, false), err
	})
}

// PutSettings replaces the system settings.
func (c *Catalog) PutSettings(ctx context.Context, s files.SystemSettings) (files.SystemSettings, error) {
	now := c.now()
	var out files.SystemSettings
	err := c.write(ctx, func(tx files.Tx) (outbox.Invalidation, error) {
		var err error
		out, err = tx.PutSettings(ctx, s, now)
		return outbox.Invalidation{Keys: []string{c.key(c.settings, settingsID)}}, err
	})
	return out, err
}

// write runs change in a transaction together with the outbox entry of its
// invalidation, then delivers the invalidation. The write is durable once
// committed: if the cache cannot be invalidated now, the entry stays pending
// for the relays of every instance and the write still succeeds. The
// invalidation is the correctness path: it runs to its own deadline whatever
// happens to the request (a client that disconnects right after its write
// must not leave it undone).
func (c *Catalog) write(ctx context.Context, change func(tx files.Tx) (outbox.Invalidation, error)) error {
	var inv outbox.Invalidation
	var entry int64
	var marked []string
	err := c.repo.WithTx(ctx, func(tx files.Tx) error {
		var err error
		if inv, err = change(tx); err != nil {
			return err
		}
		// From before the commit until the invalidation: see inflight.
		if marked == nil {
			marked = slices.Clone(inv.Keys)
			c.writing.add(marked)
		}
		entry, err = tx.Enqueue(ctx, inv)
		return err
	})
	if marked != nil {
		defer c.writing.done(marked)
	}
	if err != nil {
		return classify(err)
	}
	if c.opts.AfterCommit != nil {
		c.opts.AfterCommit()
	}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.InvalidateTimeout)
	defer cancel()
	// The client has its answer only after this: its next read on this
	// instance must not see the old value.
	if err := c.apply(ictx, inv, "write"); err != nil {
		if c.relay.Failed(ictx, entry) {
			c.log.WarnContext(ictx, "invalidation delivered by another instance; reads here bypass the cache until this one reaches it", "entry", entry, "err", err)
		} else {
			c.log.WarnContext(ictx, "invalidation deferred to the outbox relays; reads bypass the cache until it is delivered", "entry", entry, "err", err)
		}
		return nil
	}
	c.relay.Delivered(ictx, entry)
	return nil
}

// apply deletes the keys and the tags of inv from the cache, and announces
// it on the events channel.
func (c *Catalog) apply(ctx context.Context, inv outbox.Invalidation, reason string) error {
	_, err := c.cache.Invalidate(ctx, cache.Invalidation{Keys: inv.Keys, Tags: inv.Tags, Reason: reason})
	return err
}

// deliver is the relay's delivery: a key the cache refuses is the entry's
// fault (outbox.ErrPoison), any other failure the cache's.
func (c *Catalog) deliver(ctx context.Context, inv outbox.Invalidation) error {
	err := c.apply(ctx, inv, "relay")
	if errors.Is(err, cache.ErrInvalidKey) || errors.Is(err, cache.ErrRejected) {
		return fmt.Errorf("%w: %w", outbox.ErrPoison, err)
	}
	return err
}
