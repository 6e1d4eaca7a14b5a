-- The open records (submitted … escalated) with their place: a small index
-- table so that the staff queue finds an estate's open records without
-- walking every record it ever had. Like record_heads it is a projection of
-- the events, kept by triggers on record_heads in the same transaction; rows
-- come and go as records close and reopen (the history stays in
-- record_events, which never changes).
CREATE TABLE open_records (
    record_id     INTEGER PRIMARY KEY REFERENCES records(id),
    community_id  INTEGER NOT NULL,
    estate_id     INTEGER NOT NULL
);
CREATE INDEX open_records_by_estate ON open_records(estate_id, record_id);
CREATE INDEX open_records_by_community ON open_records(community_id, record_id);

CREATE TRIGGER open_records_on_filing AFTER INSERT ON record_heads
WHEN NEW.state IN ('submitted', 'accepted', 'dispatched', 'on_site', 'planned', 'waiting_on_resident', 'escalated')
BEGIN
    INSERT OR IGNORE INTO open_records (record_id, community_id, estate_id)
    SELECT id, community_id, estate_id FROM records WHERE id = NEW.record_id;
END;

CREATE TRIGGER open_records_on_change AFTER UPDATE OF state ON record_heads
BEGIN
    DELETE FROM open_records WHERE record_id = NEW.record_id
        AND NEW.state NOT IN ('submitted', 'accepted', 'dispatched', 'on_site', 'planned', 'waiting_on_resident', 'escalated');
    INSERT OR IGNORE INTO open_records (record_id, community_id, estate_id)
    SELECT id, community_id, estate_id FROM records
    WHERE id = NEW.record_id
        AND NEW.state IN ('submitted', 'accepted', 'dispatched', 'on_site', 'planned', 'waiting_on_resident', 'escalated');
END;

INSERT INTO open_records (record_id, community_id, estate_id)
SELECT r.id, r.community_id, r.estate_id
FROM record_heads h JOIN records r ON r.id = h.record_id
WHERE h.state IN ('submitted', 'accepted', 'dispatched', 'on_site', 'planned', 'waiting_on_resident', 'escalated');
