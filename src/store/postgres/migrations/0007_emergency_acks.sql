-- Proof that an emergency notice is on a screen's glass (see SQLite's
-- 0026_emergency_acks.sql): one row per (notice, screen), the newest revision
-- acknowledged, at its earliest time.
CREATE TABLE emergency_acks (
    notice_id    BIGINT NOT NULL REFERENCES notices(id),
    screen_id    BIGINT NOT NULL REFERENCES screens(id),
    revision     BIGINT NOT NULL,
    shown_at     TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (notice_id, screen_id)
);

-- One notice's audit entries by key, for the CAP feed's message history.
CREATE INDEX audit_log_by_entity ON audit_log(entity, entity_id, id);
