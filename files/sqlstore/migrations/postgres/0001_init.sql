-- Files, their tags, daily statistics, settings and the invalidation outbox.
-- Times are timestamptz (microsecond precision); ids sort bytewise (COLLATE "C")
-- so that keyset pagination and the index agree on every server locale.

CREATE TABLE files (
    id             text COLLATE "C" PRIMARY KEY,
    name           text        NOT NULL,
    name_fold      text        NOT NULL, -- lower-cased name, for case-insensitive search
    size           bigint      NOT NULL CHECK (size >= 0),
    content_type   text        NOT NULL DEFAULT '',
    checksum       text        NOT NULL DEFAULT '',
    tags           text        NOT NULL DEFAULT '[]', -- JSON array, as returned
    uploader_ip    text        NOT NULL DEFAULT '',
    download_count bigint      NOT NULL DEFAULT 0,
    version        bigint      NOT NULL DEFAULT 1,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL
);

-- Search order (newest first) and popularity.
CREATE INDEX files_created_idx ON files (created_at DESC, id DESC);
CREATE INDEX files_popular_idx ON files (download_count DESC, created_at DESC, id DESC);

-- One row per (tag, file): what tag search reads.
CREATE TABLE file_tags (
    tag     text NOT NULL,
    file_id text COLLATE "C" NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    PRIMARY KEY (tag, file_id)
);
CREATE INDEX file_tags_file_idx ON file_tags (file_id);

CREATE TABLE daily_stats (
    day            date   PRIMARY KEY,
    uploads        bigint NOT NULL DEFAULT 0,
    downloads      bigint NOT NULL DEFAULT 0,
    bytes_uploaded bigint NOT NULL DEFAULT 0
);

-- The distinct client IPs of each day, counted for unique_ips.
CREATE TABLE daily_ips (
    day date NOT NULL,
    ip  text NOT NULL,
    PRIMARY KEY (day, ip)
);

-- A single row (id = 1) holding the SystemSettings as JSON.
CREATE TABLE settings (
    id         integer     PRIMARY KEY CHECK (id = 1),
    value      text        NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    keys       text        NOT NULL, -- JSON array
    tags       text        NOT NULL, -- JSON array
    created_at timestamptz NOT NULL,
    done_at    timestamptz,
    attempts   integer     NOT NULL DEFAULT 0
);
CREATE INDEX outbox_pending_idx ON outbox (id) WHERE done_at IS NULL;
CREATE INDEX outbox_done_idx ON outbox (done_at) WHERE done_at IS NOT NULL;
