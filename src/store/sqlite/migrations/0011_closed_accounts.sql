-- Residents may close their account (issue 14, 个人信息保护法): the account
-- stays as an anonymous row so that records, events and votes keep their
-- author, but its name is replaced by a neutral label and its unit link is
-- removed. A resident without a unit was impossible until now, so the table
-- is rebuilt with the rule relaxed for closed accounts (SQLite cannot change
-- a CHECK in place). Numbered into the gap before 0012 so that it runs
-- before any later migration that adds columns to accounts; on databases
-- that already have 0012..0017 it is simply applied next.
--
-- Migrations run in a transaction with foreign keys on, so the swap is done
-- with foreign-key checks deferred to the commit: dropping the old table
-- counts every row that refers to an account as a violation, and inserting
-- the same accounts into the new table (after it has taken the old name)
-- counts each of them as resolved again. The commit fails if anything does
-- not match.
PRAGMA defer_foreign_keys = ON;


CREATE TABLE accounts_new (
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
    -- Set once, when the resident closes the account; never cleared.
    closed_at      TEXT,
    CHECK (role <> 'resident' OR unit_id IS NOT NULL OR closed_at IS NOT NULL),
    CHECK (closed_at IS NULL OR (disabled_at IS NOT NULL AND unit_id IS NULL))
);

CREATE TEMP TABLE accounts_kept AS SELECT * FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_new RENAME TO accounts;
INSERT INTO accounts (id, username, display_name, password_hash, role, community_id,
                      estate_id, unit_id, locale, disabled_at, created_at)
SELECT id, username, display_name, password_hash, role, community_id,
       estate_id, unit_id, locale, disabled_at, created_at
  FROM accounts_kept;
DROP TABLE accounts_kept;
CREATE INDEX accounts_by_unit ON accounts(unit_id);

-- A closed account is never opened again.
CREATE TRIGGER closed_accounts_stay_closed BEFORE UPDATE ON accounts
WHEN OLD.closed_at IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'a closed account is never changed again'); END;
