-- Lobby notice boards: uploaded media, notices and their targets, screens,
-- pairing codes and proof-of-play.

-- Pictures and videos uploaded for notices. Files live under
-- data/media/signage/{id}/; a video may be `processing` while it is transcoded.
CREATE TABLE signage_media (
    id               INTEGER PRIMARY KEY,
    community_id     INTEGER NOT NULL REFERENCES communities(id),
    kind             TEXT NOT NULL CHECK (kind IN ('image', 'video')),
    state            TEXT NOT NULL CHECK (state IN ('processing', 'ready', 'failed')),
    original_name    TEXT NOT NULL,
    content_type     TEXT NOT NULL,
    size_bytes       INTEGER NOT NULL,
    width            INTEGER,
    height           INTEGER,
    duration_millis  INTEGER,
    error            TEXT,
    uploaded_by      INTEGER NOT NULL REFERENCES accounts(id),
    created_at       TEXT NOT NULL
);

CREATE TABLE notices (
    id                INTEGER PRIMARY KEY,
    community_id      INTEGER NOT NULL REFERENCES communities(id),
    title             TEXT NOT NULL,
    body              TEXT NOT NULL,
    category          TEXT NOT NULL CHECK (category IN ('announcement', 'disclosure', 'outage',
                          'event', 'price_list', 'broadcast_schedule')),
    emergency         INTEGER NOT NULL DEFAULT 0,
    starts_at         TEXT NOT NULL,
    ends_at           TEXT CHECK (ends_at IS NULL OR ends_at > starts_at),
    -- JSON list of {"weekdays":[1..7],"from":"HH:MM:SS","until":"HH:MM:SS"}.
    day_parts         TEXT NOT NULL DEFAULT '[]',
    display_seconds   INTEGER NOT NULL CHECK (display_seconds BETWEEN 5 AND 300),
    priority          INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 9),
    video_id          INTEGER REFERENCES signage_media(id),
    state             TEXT NOT NULL CHECK (state IN ('draft', 'pending', 'published',
                          'rejected', 'withdrawn')),
    rejection_reason  TEXT,
    author_id         INTEGER NOT NULL REFERENCES accounts(id),
    approved_by       INTEGER REFERENCES accounts(id),
    revision          INTEGER NOT NULL DEFAULT 1,
    published_at      TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);

CREATE INDEX notices_by_community ON notices (community_id, state, updated_at);

CREATE TABLE notice_images (
    notice_id  INTEGER NOT NULL REFERENCES notices(id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    media_id   INTEGER NOT NULL REFERENCES signage_media(id),
    PRIMARY KEY (notice_id, position)
);

-- Where a notice shows; none means every screen of its community.
CREATE TABLE notice_targets (
    notice_id  INTEGER NOT NULL REFERENCES notices(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('community', 'estate', 'building', 'screen', 'group')),
    target_id  INTEGER NOT NULL,
    PRIMARY KEY (notice_id, kind, target_id)
);

CREATE TABLE screen_groups (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    name          TEXT NOT NULL,
    UNIQUE (community_id, name)
);

-- A paired lobby screen. Only a fingerprint of its token is kept.
CREATE TABLE screens (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL,
    building_id      INTEGER NOT NULL REFERENCES buildings(id),
    group_id         INTEGER REFERENCES screen_groups(id),
    orientation      TEXT NOT NULL CHECK (orientation IN ('landscape', 'portrait')),
    token_hash       TEXT NOT NULL UNIQUE,
    paired_at        TEXT NOT NULL,
    revoked_at       TEXT,
    last_seen_at     TEXT,
    current_notice   INTEGER,
    client_version   TEXT NOT NULL DEFAULT '',
    uptime_seconds   INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT
);

-- A code a new screen shows until an admin claims it. The screen polls with
-- its secret (fingerprint kept); the token it gets is held here in clear only
-- until the screen has picked it up once.
CREATE TABLE screen_pairings (
    secret_hash   TEXT PRIMARY KEY,
    code          TEXT NOT NULL UNIQUE,
    created_at    TEXT NOT NULL,
    expires_at    TEXT NOT NULL,
    screen_id     INTEGER REFERENCES screens(id),
    token         TEXT,
    delivered_at  TEXT
);

-- Proof of play, as the screens report it. A screen may resend a batch after
-- a network failure; the key makes that harmless.
CREATE TABLE notice_plays (
    screen_id   INTEGER NOT NULL REFERENCES screens(id),
    notice_id   INTEGER NOT NULL REFERENCES notices(id),
    started_at  TEXT NOT NULL,
    ended_at    TEXT NOT NULL,
    PRIMARY KEY (screen_id, notice_id, started_at)
);

CREATE INDEX notice_plays_by_notice ON notice_plays (notice_id, started_at);
