-- Which node holds each on-air broadcast's encoder (issue 15: several nodes).
-- One row per broadcast from the moment an encoder is accepted until its
-- replay is made. The holder renews `heartbeat_at` about every second; a row
-- whose heartbeat is a few seconds old belongs to a dead node and may be taken
-- over with one conditional statement (see `IngestStore`). No foreign key:
-- the row is runtime state, removed once the broadcast's replay is made.
CREATE TABLE ingest_holders (
    broadcast_id BIGINT PRIMARY KEY,
    -- The node's name (`node.name`): a node restarted under the same name may
    -- take its own rows back at once.
    node         TEXT NOT NULL,
    -- One running process of that node: only it renews the row.
    incarnation  TEXT NOT NULL,
    -- Where other nodes reach it (`node.internal_url`), for live requests.
    internal_url TEXT NOT NULL,
    -- 'publishing' (an encoder is sending), 'waiting' (the encoder dropped;
    -- the grace period runs) or 'finalizing' (ended; the replay is being made).
    phase        TEXT NOT NULL CHECK (phase IN ('publishing', 'waiting', 'finalizing')),
    heartbeat_at TEXT NOT NULL,
    claimed_at   TEXT NOT NULL
);
CREATE INDEX ingest_holders_by_heartbeat ON ingest_holders (heartbeat_at);
CREATE INDEX ingest_holders_by_incarnation ON ingest_holders (incarnation);
