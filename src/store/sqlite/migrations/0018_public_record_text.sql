-- What of a record the public may read (issue 14). A record's title is shown
-- publicly only when the filing form told the resident so; a staff note is
-- shown publicly only when staff wrote it for publication. Records and
-- notes from before this know neither, so nothing of their text is public.
ALTER TABLE records ADD COLUMN title_public INTEGER NOT NULL DEFAULT 0;
ALTER TABLE record_events ADD COLUMN published INTEGER NOT NULL DEFAULT 0;
