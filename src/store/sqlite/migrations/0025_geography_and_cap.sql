-- Where estates and buildings are, and the CAP 1.2 alert feeds a community
-- follows. Coordinates are WGS84 in millionths of a degree (about 0.1 m),
-- held as integers so that both backends and `db copy` carry them exactly.

CREATE TABLE estate_geography (
    estate_id   INTEGER PRIMARY KEY REFERENCES estates(id),
    lat_e6      INTEGER NOT NULL,
    lon_e6      INTEGER NOT NULL,
    -- The outline, one "lat,long" a line, a closed ring; NULL: none given.
    outline     TEXT,
    -- An administrative division code (e.g. 110105), matched against CAP geocodes.
    geocode     TEXT,
    updated_at  TEXT NOT NULL
);

CREATE TABLE building_locations (
    building_id  INTEGER PRIMARY KEY REFERENCES buildings(id),
    lat_e6       INTEGER NOT NULL,
    lon_e6       INTEGER NOT NULL,
    updated_at   TEXT NOT NULL
);

CREATE TABLE cap_feeds (
    id              INTEGER PRIMARY KEY,
    community_id    INTEGER NOT NULL REFERENCES communities(id),
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    -- Who subscribed: notices made from the feed's alerts carry them as author.
    created_by      INTEGER NOT NULL REFERENCES accounts(id),
    created_at      TEXT NOT NULL,
    removed_at      TEXT,
    -- The next poll is due; a node claims a poll by moving it on first.
    next_poll_at    TEXT NOT NULL,
    last_polled_at  TEXT,
    last_outcome    TEXT,
    UNIQUE (community_id, url)
);

-- Every alert a feed delivered, once: the unique key is what makes exactly
-- one node act on an alert, however many poll the feed.
CREATE TABLE cap_alerts (
    id           INTEGER PRIMARY KEY,
    feed_id      INTEGER NOT NULL REFERENCES cap_feeds(id),
    sender       TEXT NOT NULL,
    identifier   TEXT NOT NULL,
    sent         TEXT NOT NULL,
    msg_type     TEXT NOT NULL,
    headline     TEXT NOT NULL,
    -- What came of it: published, updated, cancelled, expired, out_of_area,
    -- not_actual, unknown_reference.
    outcome      TEXT NOT NULL,
    notice_id    INTEGER REFERENCES notices(id),
    received_at  TEXT NOT NULL,
    UNIQUE (feed_id, sender, identifier)
);
CREATE INDEX cap_alerts_by_notice ON cap_alerts (notice_id);

-- The notice a chain of alerts (alert, updates, cancel) keeps on the screens,
-- with the line the secretary added for the community.
CREATE TABLE cap_notices (
    notice_id   INTEGER PRIMARY KEY REFERENCES notices(id),
    feed_id     INTEGER NOT NULL REFERENCES cap_feeds(id),
    local_line  TEXT
);
