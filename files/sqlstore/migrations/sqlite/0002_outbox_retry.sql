-- Outbox entries the cache rejects are retried with backoff (retry_at),
-- then set aside for an operator (set_aside_at, set_aside_reason); a set
-- aside entry is done (done_at) but never pruned.
ALTER TABLE outbox ADD COLUMN retry_at TEXT;
ALTER TABLE outbox ADD COLUMN set_aside_at TEXT;
ALTER TABLE outbox ADD COLUMN set_aside_reason TEXT NOT NULL DEFAULT '';
CREATE INDEX outbox_set_aside_idx ON outbox (id) WHERE set_aside_at IS NOT NULL;
