-- Files, their tags, daily statistics, settings and the invalidation outbox.
-- Times are TEXT in the fixed-width form 2006-01-02T15:04:05.000000Z (UTC), so
-- that they sort as they compare; days are TEXT 2006-01-02.

CREATE TABLE files (
    id             TEXT    PRIMARY KEY NOT NULL,
    name           TEXT    NOT NULL,
    name_fold      TEXT    NOT NULL, -- lower-cased name, for case-insensitive search
    size           INTEGER NOT NULL CHECK (size >= 0),
    content_type   TEXT    NOT NULL DEFAULT '',
    checksum       TEXT    NOT NULL DEFAULT '',
    tags           TEXT    NOT NULL DEFAULT '[]', -- JSON array, as returned
    uploader_ip    TEXT    NOT NULL DEFAULT '',
    download_count INTEGER NOT NULL DEFAULT 0,
    version        INTEGER NOT NULL DEFAULT 1,
    created_at     TEXT    NOT NULL,
    updated_at     TEXT    NOT NULL
) STRICT;

-- Search order (newest first) and popularity.
CREATE INDEX files_created_idx ON files (created_at DESC, id DESC);
CREATE INDEX files_popular_idx ON files (download_count DESC, created_at DESC, id DESC);

-- One row per (tag, file): what tag search reads.
CREATE TABLE file_tags (
    tag     TEXT NOT NULL,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, file_id)
) STRICT, WITHOUT ROWID;
CREATE INDEX file_tags_file_idx ON file_tags (file_id);

CREATE TABLE daily_stats (
    day            TEXT    PRIMARY KEY NOT NULL,
    uploads        INTEGER NOT NULL DEFAULT 0,
    downloads      INTEGER NOT NULL DEFAULT 0,
    bytes_uploaded INTEGER NOT NULL DEFAULT 0
) STRICT;

-- The distinct client IPs of each day, counted for unique_ips.
CREATE TABLE daily_ips (
    day TEXT NOT NULL,
    ip  TEXT NOT NULL,
    PRIMARY KEY (day, ip)
) STRICT, WITHOUT ROWID;

-- A single row (id = 1) holding the SystemSettings as JSON.
CREATE TABLE settings (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    value      TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
) STRICT;

-- AUTOINCREMENT: ids are never reused after a prune, so they order entries.
CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    keys       TEXT    NOT NULL, -- JSON array
    tags       TEXT    NOT NULL, -- JSON array
    created_at TEXT    NOT NULL,
    done_at    TEXT,
    attempts   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE done_at IS NULL;
CREATE INDEX outbox_done_idx ON outbox (done_at) WHERE done_at IS NOT NULL;
