-- Where breached records go, who hears about it, and when the joint meeting meets.

-- Named departments a record can be escalated to (街道城管科, 住建局 …). Escalation
-- events refer to them, so they are never deleted.
CREATE TABLE departments (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (community_id, name)
);
CREATE TRIGGER departments_never_deleted BEFORE DELETE ON departments
BEGIN SELECT RAISE(ABORT, 'departments are never deleted'); END;

-- The staff lead(s) of an estate: they receive breach alerts.
CREATE TABLE estate_leads (
    estate_id   INTEGER NOT NULL REFERENCES estates(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    PRIMARY KEY (estate_id, account_id)
);

-- Dates of the joint meeting (红色物业联席会议); the next one is the first not past.
CREATE TABLE joint_meetings (
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    meets_on      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (community_id, meets_on)
);

-- The target of each escalation event, written in the same transaction as the
-- event (record_id, seq). Append-only like the events.
CREATE TABLE record_escalations (
    record_id        INTEGER NOT NULL REFERENCES records(id),
    seq              INTEGER NOT NULL,
    at               TEXT NOT NULL,
    -- 'meeting' or 'department:<id>'.
    target           TEXT NOT NULL,
    -- 'breach' (the sweep) or 'manual'.
    reason           TEXT NOT NULL CHECK (reason IN ('breach', 'manual')),
    overdue_minutes  INTEGER,
    PRIMARY KEY (record_id, seq),
    FOREIGN KEY (record_id, seq) REFERENCES record_events(record_id, seq)
);
CREATE INDEX record_escalations_by_target ON record_escalations(target);
CREATE TRIGGER record_escalations_never_updated BEFORE UPDATE ON record_escalations
BEGIN SELECT RAISE(ABORT, 'record_escalations is append-only'); END;
CREATE TRIGGER record_escalations_never_deleted BEFORE DELETE ON record_escalations
BEGIN SELECT RAISE(ABORT, 'record_escalations is append-only'); END;

-- Alerts for staff (a breach, for the estate's leads). `seen_at` is the only
-- thing that ever changes.
CREATE TABLE staff_alerts (
    id          INTEGER PRIMARY KEY,
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    record_id   INTEGER NOT NULL REFERENCES records(id),
    kind        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    seen_at     TEXT
);
CREATE INDEX staff_alerts_by_account ON staff_alerts(account_id, seen_at, id);
