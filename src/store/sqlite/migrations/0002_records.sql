-- Feedback records. A record row never changes; everything that happens to it
-- is an append-only event. record_heads is a projection of the events kept for
-- fast queue queries, updated in the same transaction as each event.

CREATE TABLE record_serials (
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    year          INTEGER NOT NULL,
    last          INTEGER NOT NULL,
    PRIMARY KEY (community_id, year)
);

CREATE TABLE records (
    id             INTEGER PRIMARY KEY,
    number         TEXT NOT NULL UNIQUE,
    community_id   INTEGER NOT NULL REFERENCES communities(id),
    estate_id      INTEGER NOT NULL REFERENCES estates(id),
    building_id    INTEGER REFERENCES buildings(id),
    category       TEXT NOT NULL,
    class          TEXT NOT NULL CHECK (class IN ('urgent', 'major', 'general', 'complex')),
    title          TEXT NOT NULL,
    description    TEXT NOT NULL,
    location       TEXT NOT NULL,
    source         TEXT NOT NULL CHECK (source IN ('web', 'screen_qr', 'phone', 'live_question', 'open311')),
    reporter_id    INTEGER REFERENCES accounts(id),
    tracking_hash  TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL
);
CREATE INDEX records_by_estate ON records(estate_id, created_at);
CREATE INDEX records_by_reporter ON records(reporter_id);

CREATE TABLE record_events (
    id          INTEGER PRIMARY KEY,
    record_id   INTEGER NOT NULL REFERENCES records(id),
    seq         INTEGER NOT NULL,
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES accounts(id),
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    from_state  TEXT,
    to_state    TEXT,
    note        TEXT NOT NULL DEFAULT '',
    public      INTEGER NOT NULL,
    assignee    TEXT,
    -- The resident's 1–5 satisfaction rating, on the event that closes the record.
    rating      INTEGER CHECK (rating BETWEEN 1 AND 5),
    -- Two people changing one record at once: the second insert fails, nothing is lost.
    UNIQUE (record_id, seq)
);

CREATE TABLE record_heads (
    record_id    INTEGER PRIMARY KEY REFERENCES records(id),
    state        TEXT NOT NULL,
    version      INTEGER NOT NULL,
    assignee     TEXT,
    state_since  TEXT NOT NULL
);
CREATE INDEX record_heads_by_state ON record_heads(state);

CREATE TRIGGER records_never_updated BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'records are never changed; add an event'); END;
CREATE TRIGGER records_never_deleted BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'records are never deleted'); END;
CREATE TRIGGER record_events_never_updated BEFORE UPDATE ON record_events
BEGIN SELECT RAISE(ABORT, 'record_events is append-only'); END;
CREATE TRIGGER record_events_never_deleted BEFORE DELETE ON record_events
BEGIN SELECT RAISE(ABORT, 'record_events is append-only'); END;
