-- Live Q&A: comments and questions on a broadcast, votes, the public event
-- log viewers resume from, per-broadcast chat settings, per-community blocked
-- words and the residents kept from posting.

CREATE TABLE comments (
    id                INTEGER PRIMARY KEY,
    broadcast_id      INTEGER NOT NULL REFERENCES broadcasts(id),
    community_id      INTEGER NOT NULL REFERENCES communities(id),
    author_id         INTEGER NOT NULL REFERENCES accounts(id),
    -- Chosen by the author's client: posting the same id again returns the
    -- comment already stored instead of a second one.
    client_id         TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('chat', 'question')),
    public_name       TEXT NOT NULL,
    anonymous         INTEGER NOT NULL DEFAULT 0,
    -- What is shown (masked, or redacted by a moderator).
    body              TEXT NOT NULL,
    -- The text as typed, kept for staff and the audit when it differs.
    original_body     TEXT,
    -- Matching key for duplicate detection (see chat::filter::duplicate_key).
    dup_key           TEXT NOT NULL,
    -- Comma-separated hold reasons: review, blocked_word, link, duplicate, personal_data, flood.
    hold_reasons      TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL CHECK (state IN ('held', 'approved', 'rejected', 'hidden')),
    status            TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'answering', 'answered')),
    votes             INTEGER NOT NULL DEFAULT 0,
    merged_into       INTEGER REFERENCES comments(id),
    created_at        TEXT NOT NULL,
    decided_by        INTEGER REFERENCES accounts(id),
    decided_at        TEXT,
    reject_reason     TEXT,
    answer            TEXT,
    answering_at      TEXT,
    answered_at       TEXT,
    answer_offset_ms  INTEGER,
    record_id         INTEGER REFERENCES records(id),
    revision          INTEGER NOT NULL DEFAULT 1,
    UNIQUE (author_id, broadcast_id, client_id)
);

-- The moderation queue, and everything of a broadcast in one state.
CREATE INDEX comments_by_state ON comments (broadcast_id, state, id);
-- The questions list, by votes (or time) within a status.
CREATE INDEX comments_questions ON comments (broadcast_id, kind, status, votes DESC, id)
    WHERE merged_into IS NULL;
-- An author's own comments (held/rejected), hide-all-of-user.
CREATE INDEX comments_by_author ON comments (broadcast_id, author_id, id);
-- Duplicate detection: the same text recently.
CREATE INDEX comments_same_text ON comments (broadcast_id, dup_key, created_at);
-- The question being answered (lobby screens ask every few seconds).
CREATE INDEX comments_answering ON comments (broadcast_id) WHERE status = 'answering';
-- A record knows the question it came from.
CREATE UNIQUE INDEX comments_by_record ON comments (record_id) WHERE record_id IS NOT NULL;

-- One vote per account and question.
CREATE TABLE comment_votes (
    comment_id  INTEGER NOT NULL REFERENCES comments(id),
    account_id  INTEGER NOT NULL REFERENCES accounts(id),
    at          TEXT NOT NULL,
    PRIMARY KEY (comment_id, account_id)
) WITHOUT ROWID;
CREATE INDEX comment_votes_by_account ON comment_votes (account_id, comment_id);

-- Every public change, numbered per broadcast, in the order viewers apply
-- them. `body` is the JSON frame as sent. Appended in the same transaction
-- as the change it describes.
CREATE TABLE chat_events (
    broadcast_id  INTEGER NOT NULL REFERENCES broadcasts(id),
    seq           INTEGER NOT NULL,
    at            TEXT NOT NULL,
    body          TEXT NOT NULL,
    PRIMARY KEY (broadcast_id, seq)
) WITHOUT ROWID;

-- Settings of a broadcast's chat; no row means the defaults.
CREATE TABLE chat_settings (
    broadcast_id            INTEGER PRIMARY KEY REFERENCES broadcasts(id),
    questions_premoderated  INTEGER NOT NULL,
    chat_premoderated       INTEGER NOT NULL,
    slow_mode_seconds       INTEGER NOT NULL CHECK (slow_mode_seconds BETWEEN 0 AND 300),
    open                    INTEGER NOT NULL,
    updated_at              TEXT NOT NULL
);

-- The community's editable blocked-word list, one entry per row, as typed.
CREATE TABLE chat_blocked_words (
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    position      INTEGER NOT NULL,
    word          TEXT NOT NULL,
    PRIMARY KEY (community_id, position)
);

-- Time-outs and bans. A sanction is active while not lifted and (for a
-- time-out) before `until`.
CREATE TABLE chat_sanctions (
    id            INTEGER PRIMARY KEY,
    community_id  INTEGER NOT NULL REFERENCES communities(id),
    account_id    INTEGER NOT NULL REFERENCES accounts(id),
    kind          TEXT NOT NULL CHECK (kind IN ('timeout', 'ban')),
    until         TEXT,
    reason        TEXT NOT NULL,
    broadcast_id  INTEGER REFERENCES broadcasts(id),
    by_id         INTEGER REFERENCES accounts(id),
    at            TEXT NOT NULL,
    lifted_at     TEXT,
    lifted_by     INTEGER REFERENCES accounts(id),
    CHECK (kind = 'ban' OR until IS NOT NULL)
);
CREATE INDEX chat_sanctions_active ON chat_sanctions (community_id, account_id)
    WHERE lifted_at IS NULL;
