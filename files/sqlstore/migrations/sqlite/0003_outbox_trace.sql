-- The W3C traceparent of the write that made an outbox entry (NULL when
-- the write was not traced): the relay that delivers the entry links its
-- span to the write's.
ALTER TABLE outbox ADD COLUMN traceparent TEXT;
