-- Directory: community → estates → buildings → units.
CREATE TABLE communities (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    code        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);

CREATE TABLE estates (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    name          TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    UNIQUE (community_id, name)
);

CREATE TABLE buildings (
    id          INTEGER PRIMARY KEY,
    estate_id   INTEGER NOT NULL REFERENCES estates(id),
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    UNIQUE (estate_id, name)
);

CREATE TABLE units (
    id           INTEGER PRIMARY KEY,
    building_id  INTEGER NOT NULL REFERENCES buildings(id),
    label        TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (building_id, label)
);

CREATE TABLE accounts (
    id             INTEGER PRIMARY KEY,
    username       TEXT NOT NULL UNIQUE,
    display_name   TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('admin', 'secretary', 'moderator', 'staff', 'observer', 'resident')),
    community_id   INTEGER REFERENCES communities(id),
    estate_id      INTEGER REFERENCES estates(id),
    unit_id        INTEGER REFERENCES units(id),
    locale         TEXT,
    disabled_at    TEXT,
    created_at     TEXT NOT NULL,
    CHECK (role <> 'resident' OR unit_id IS NOT NULL)
);
CREATE INDEX accounts_by_unit ON accounts(unit_id);

CREATE TABLE sessions (
    token_hash   TEXT PRIMARY KEY,
    account_id   INTEGER NOT NULL REFERENCES accounts(id),
    csrf_token   TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions(account_id);

CREATE TABLE setup_tokens (
    token_hash  TEXT PRIMARY KEY,
    expires_at  TEXT NOT NULL,
    used_at     TEXT
);

CREATE TABLE registration_codes (
    id          INTEGER PRIMARY KEY,
    unit_id     INTEGER NOT NULL REFERENCES units(id),
    code        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT,
    uses        INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX one_active_code_per_unit ON registration_codes(unit_id) WHERE revoked_at IS NULL;

-- Append-only: who did what, when, with the values before and after.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY,
    at          TEXT NOT NULL,
    actor_id    INTEGER REFERENCES accounts(id),
    actor_name  TEXT NOT NULL,
    action      TEXT NOT NULL,
    entity      TEXT NOT NULL,
    entity_id   TEXT,
    before      TEXT,
    after       TEXT
);
CREATE INDEX audit_log_by_action ON audit_log(action, id);
CREATE INDEX audit_log_by_actor ON audit_log(actor_name, id);

CREATE TRIGGER audit_log_never_updated BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_never_deleted BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
