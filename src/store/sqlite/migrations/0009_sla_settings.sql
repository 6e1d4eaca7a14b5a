-- SLA settings per community (durations per class, per-category rules, business
-- calendar), one insert-only version per save. A record is judged by the
-- version in force when it was filed (the newest with created_at <= the
-- record's created_at), so past figures never shift when settings change.
CREATE TABLE sla_policies (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    -- The settings document (JSON), checked by the feedback capability.
    settings      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    created_by    INTEGER REFERENCES accounts(id),
    created_by_name TEXT NOT NULL
);
CREATE INDEX sla_policies_by_community ON sla_policies(community_id, created_at);

CREATE TRIGGER sla_policies_never_updated BEFORE UPDATE ON sla_policies
BEGIN SELECT RAISE(ABORT, 'sla_policies is append-only; save a new version'); END;
CREATE TRIGGER sla_policies_never_deleted BEFORE DELETE ON sla_policies
BEGIN SELECT RAISE(ABORT, 'sla_policies is append-only'); END;
