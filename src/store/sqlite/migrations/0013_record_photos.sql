-- Photos on feedback records (issue 7): the resident's pictures with their
-- filing, staff's before/after pictures with a note or an action. Each photo
-- belongs to the event it was posted with (record_id, seq) and is public
-- exactly when that event is: a photo on an internal note is for staff and
-- observers only. The files live under the data directory, named by the
-- SHA-256 of their (re-encoded, metadata-free) bytes; a row is written only
-- after its file, in the same transaction as its event.
--
-- Like records and their events, photos are never changed or deleted.

CREATE TABLE record_photos (
    id           INTEGER PRIMARY KEY,
    record_id    INTEGER NOT NULL REFERENCES records(id),
    seq          INTEGER NOT NULL,
    sha256       TEXT NOT NULL CHECK (length(sha256) = 64),
    mime         TEXT NOT NULL CHECK (mime IN ('image/jpeg', 'image/png')),
    width        INTEGER NOT NULL CHECK (width > 0),
    height       INTEGER NOT NULL CHECK (height > 0),
    size_bytes   INTEGER NOT NULL CHECK (size_bytes > 0),
    uploaded_by  INTEGER NOT NULL REFERENCES accounts(id),
    created_at   TEXT NOT NULL,
    public       INTEGER NOT NULL,
    FOREIGN KEY (record_id, seq) REFERENCES record_events(record_id, seq)
);
CREATE INDEX record_photos_by_record ON record_photos(record_id, seq);

CREATE TRIGGER record_photos_follow_their_event BEFORE INSERT ON record_photos
WHEN NEW.public IS NOT (SELECT public FROM record_events WHERE record_id = NEW.record_id AND seq = NEW.seq)
BEGIN SELECT RAISE(ABORT, 'a photo is public exactly when its event is'); END;

CREATE TRIGGER record_photos_never_updated BEFORE UPDATE ON record_photos
BEGIN SELECT RAISE(ABORT, 'record_photos is append-only'); END;
CREATE TRIGGER record_photos_never_deleted BEFORE DELETE ON record_photos
BEGIN SELECT RAISE(ABORT, 'record_photos is append-only'); END;
