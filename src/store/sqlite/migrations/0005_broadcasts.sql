-- Live broadcasts. The stream key is kept in clear because its owner must be
-- able to read it again to paste into OBS; it is shown to nobody else.
CREATE TABLE broadcasts (
    id               INTEGER PRIMARY KEY,
    community_id     INTEGER NOT NULL REFERENCES communities(id),
    title            TEXT NOT NULL,
    description      TEXT NOT NULL,
    starts_at        TEXT NOT NULL,
    owner_id         INTEGER NOT NULL REFERENCES accounts(id),
    state            TEXT NOT NULL DEFAULT 'scheduled'
                     CHECK (state IN ('scheduled', 'live', 'reconnecting', 'ended')),
    stream_key       TEXT NOT NULL UNIQUE,
    rendition_low    INTEGER NOT NULL DEFAULT 0,
    rendition_audio  INTEGER NOT NULL DEFAULT 0,
    went_live_at     TEXT,
    ended_at         TEXT,
    replay           TEXT NOT NULL DEFAULT 'none'
                     CHECK (replay IN ('none', 'processing', 'published', 'unpublished', 'deleted')),
    replay_millis    INTEGER,
    recording_error  TEXT,
    created_at       TEXT NOT NULL
);

CREATE INDEX broadcasts_by_community ON broadcasts (community_id, starts_at);
CREATE INDEX broadcasts_on_air ON broadcasts (state) WHERE state IN ('live', 'reconnecting');

-- The estates a broadcast concerns; none means the whole community.
CREATE TABLE broadcast_estates (
    broadcast_id  INTEGER NOT NULL REFERENCES broadcasts(id) ON DELETE CASCADE,
    estate_id     INTEGER NOT NULL REFERENCES estates(id),
    PRIMARY KEY (broadcast_id, estate_id)
);
