-- The disclosure reads an estate-month as one range of record_facts' key.
-- On SQLite the table is that key's B-tree, so the range is a few adjacent
-- pages; a PostgreSQL heap keeps rows in arrival order instead, where the
-- estates' filings interleave, and an estate-month of 2,000 records sat on
-- some 2,300 heap pages (116 ms cold at one million records). The key's
-- index now carries every other column, so the range is read from the index
-- alone (about 180 pages, ~10 ms): same key, same uniqueness.
ALTER TABLE record_facts
    DROP CONSTRAINT record_facts_pkey,
    ADD CONSTRAINT record_facts_pkey PRIMARY KEY (estate_id, filed_at, record_id, seq)
        INCLUDE (community_id, class, category, at, to_state, rating);
