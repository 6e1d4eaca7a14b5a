-- Keys that let outside systems file records through Open311. Only a
-- fingerprint of each key is stored; the key itself is shown once.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    key_hash    TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
