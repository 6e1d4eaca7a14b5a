-- What the public disclosure (阳光公示) needs of each record, laid out by estate
-- and filing time so that an estate-month is one contiguous range: one row per
-- state change or rating. Derived from records and record_events by a trigger
-- in the same transaction as each event, and, like them, never changed or
-- deleted.

CREATE TABLE record_facts (
    estate_id     INTEGER NOT NULL,
    filed_at      TEXT NOT NULL,
    record_id     INTEGER NOT NULL,
    seq           INTEGER NOT NULL,
    community_id  INTEGER NOT NULL,
    class         TEXT NOT NULL,
    category      TEXT NOT NULL,
    at            TEXT NOT NULL,
    to_state      TEXT,
    rating        INTEGER,
    PRIMARY KEY (estate_id, filed_at, record_id, seq)
) WITHOUT ROWID;

INSERT INTO record_facts (estate_id, filed_at, record_id, seq, community_id, class, category, at, to_state, rating)
SELECT r.estate_id, r.created_at, e.record_id, e.seq, r.community_id, r.class, r.category, e.at, e.to_state, e.rating
  FROM record_events e JOIN records r ON r.id = e.record_id
 WHERE e.to_state IS NOT NULL OR e.rating IS NOT NULL;

CREATE TRIGGER record_facts_follow_events AFTER INSERT ON record_events
WHEN NEW.to_state IS NOT NULL OR NEW.rating IS NOT NULL
BEGIN
    INSERT INTO record_facts (estate_id, filed_at, record_id, seq, community_id, class, category, at, to_state, rating)
    SELECT r.estate_id, r.created_at, NEW.record_id, NEW.seq, r.community_id, r.class, r.category, NEW.at, NEW.to_state, NEW.rating
      FROM records r WHERE r.id = NEW.record_id;
END;

CREATE TRIGGER record_facts_never_updated BEFORE UPDATE ON record_facts
BEGIN SELECT RAISE(ABORT, 'record_facts is derived from append-only events'); END;
CREATE TRIGGER record_facts_never_deleted BEFORE DELETE ON record_facts
BEGIN SELECT RAISE(ABORT, 'record_facts is derived from append-only events'); END;
