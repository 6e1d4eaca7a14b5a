-- How far each resident has read their own records, so that the site can tell
-- them when something new happened (issue 7). A record is unread for its
-- reporter when a public event by someone else has a higher seq than
-- seen_seq; a record without a row here counts as read up to its filing
-- event (seq 1). Rows exist only for a record's reporter.

CREATE TABLE record_reads (
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    record_id   INTEGER NOT NULL REFERENCES records(id),
    seen_seq    INTEGER NOT NULL CHECK (seen_seq >= 1),
    seen_at     TEXT NOT NULL,
    PRIMARY KEY (account_id, record_id)
) WITHOUT ROWID;

-- The unread check runs on every page a signed-in resident opens: for each of
-- their records (records_by_reporter), is there a public event past seen_seq
-- by someone else? This partial index answers that from the index alone
-- (`public` is always 1 in it, but SQLite only skips the table when every
-- column the query names is in the index).
CREATE INDEX record_events_public_by_record ON record_events(record_id, seq, actor_id, public)
WHERE public = 1;

-- Everything that happened before residents could be told about it counts as
-- read: nobody opens the site to a badge for records settled long ago.
INSERT INTO record_reads (account_id, record_id, seen_seq, seen_at)
SELECT r.reporter_id, r.id, h.version, strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
  FROM records r JOIN record_heads h ON h.record_id = r.id
 WHERE r.reporter_id IS NOT NULL;
