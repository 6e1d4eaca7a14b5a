-- Proof that an emergency notice is on a screen's glass: the screen says when
-- it painted the notice (its revision), once per notice revision. One row per
-- (notice, screen): the newest revision acknowledged, at its earliest time.
CREATE TABLE emergency_acks (
    notice_id    INTEGER NOT NULL REFERENCES notices(id),
    screen_id    INTEGER NOT NULL REFERENCES screens(id),
    revision     INTEGER NOT NULL,
    shown_at     TEXT NOT NULL,
    received_at  TEXT NOT NULL,
    PRIMARY KEY (notice_id, screen_id)
);

-- The CAP feed tells an alert from its updates and its cancel by the notice's
-- workflow steps in the audit log: one notice's entries, by key.
CREATE INDEX audit_log_by_entity ON audit_log(entity, entity_id, id);
