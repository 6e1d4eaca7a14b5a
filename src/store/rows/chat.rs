//! Rows of the chat tables, read alike by both backends.

use sqlx::FromRow;

use super::Stamp;
use crate::domain::chat::{
    reasons_from_text, ChatSettings, Comment, CommentKind, CommentState, QuestionStatus, Sanction,
    SanctionKind, StoredChatEvent,
};
use crate::domain::*;
use crate::store::{ChatAuthor, StoreError};

#[derive(FromRow)]
pub(crate) struct CommentRow {
    id: i64,
    broadcast_id: i64,
    community_id: i64,
    author_id: i64,
    client_id: String,
    kind: String,
    public_name: String,
    anonymous: bool,
    body: String,
    original_body: Option<String>,
    hold_reasons: String,
    state: String,
    status: String,
    votes: i64,
    merged_into: Option<i64>,
    created_at: Stamp,
    decided_by: Option<i64>,
    decided_at: Option<Stamp>,
    reject_reason: Option<String>,
    answer: Option<String>,
    answering_at: Option<Stamp>,
    answered_at: Option<Stamp>,
    answer_offset_ms: Option<i64>,
    record_id: Option<i64>,
    revision: i64,
}

/// Selects every column of [`CommentRow`]; append `WHERE …`.
pub(crate) const COMMENT: &str =
    "SELECT id, broadcast_id, community_id, author_id, client_id, kind,
        public_name, anonymous, body, original_body, hold_reasons, state, status, votes,
        merged_into, created_at, decided_by, decided_at, reject_reason, answer, answering_at,
        answered_at, answer_offset_ms, record_id, revision
    FROM comments";

impl TryFrom<CommentRow> for Comment {
    type Error = StoreError;

    fn try_from(r: CommentRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("comment {}: {what}", r.id));
        Ok(Comment {
            id: CommentId(r.id),
            broadcast_id: BroadcastId(r.broadcast_id),
            community_id: CommunityId(r.community_id),
            author_id: AccountId(r.author_id),
            kind: CommentKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            state: CommentState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            status: QuestionStatus::parse(&r.status).ok_or_else(|| corrupt("status"))?,
            hold_reasons: reasons_from_text(&r.hold_reasons)
                .ok_or_else(|| corrupt("hold reasons"))?,
            public_name: r.public_name,
            anonymous: r.anonymous,
            body: r.body,
            original_body: r.original_body,
            votes: r.votes,
            merged_into: r.merged_into.map(CommentId),
            created_at: r.created_at.0,
            decided_by: r.decided_by.map(AccountId),
            decided_at: r.decided_at.map(Into::into),
            reject_reason: r.reject_reason,
            answer: r.answer,
            answering_at: r.answering_at.map(Into::into),
            answered_at: r.answered_at.map(Into::into),
            answer_offset_ms: r.answer_offset_ms,
            record_id: r.record_id.map(RecordId),
            client_id: r.client_id,
            revision: r.revision,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct SanctionRow {
    id: i64,
    community_id: i64,
    account_id: i64,
    kind: String,
    until: Option<Stamp>,
    reason: String,
    broadcast_id: Option<i64>,
    by_id: Option<i64>,
    at: Stamp,
}

/// Selects every column of [`SanctionRow`]; append `WHERE …`.
pub(crate) const SANCTION: &str =
    "SELECT id, community_id, account_id, kind, until, reason, broadcast_id,
        by_id, at
    FROM chat_sanctions";

impl TryFrom<SanctionRow> for Sanction {
    type Error = StoreError;

    fn try_from(r: SanctionRow) -> Result<Self, StoreError> {
        Ok(Sanction {
            id: r.id,
            community_id: CommunityId(r.community_id),
            account_id: AccountId(r.account_id),
            kind: SanctionKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("sanction {}: kind", r.id)))?,
            until: r.until.map(Into::into),
            reason: r.reason,
            broadcast_id: r.broadcast_id.map(BroadcastId),
            by: r.by_id.map(AccountId),
            at: r.at.0,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct EventRow {
    broadcast_id: i64,
    seq: i64,
    at: Stamp,
    body: String,
}

/// Selects every column of [`EventRow`]; append `WHERE …`.
pub(crate) const EVENT: &str = "SELECT broadcast_id, seq, at, body FROM chat_events";

impl From<EventRow> for StoredChatEvent {
    fn from(r: EventRow) -> Self {
        StoredChatEvent {
            broadcast_id: BroadcastId(r.broadcast_id),
            seq: r.seq,
            at: r.at.0,
            body: r.body,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct SettingsRow {
    questions_premoderated: bool,
    chat_premoderated: bool,
    slow_mode_seconds: i64,
    open: bool,
}

/// Selects every column of [`SettingsRow`]; append `WHERE broadcast_id = …`.
pub(crate) const SETTINGS: &str =
    "SELECT questions_premoderated, chat_premoderated, slow_mode_seconds, open
    FROM chat_settings";

impl From<SettingsRow> for ChatSettings {
    fn from(r: SettingsRow) -> Self {
        ChatSettings {
            questions_premoderated: r.questions_premoderated,
            chat_premoderated: r.chat_premoderated,
            slow_mode_seconds: u32::try_from(r.slow_mode_seconds).unwrap_or(0),
            open: r.open,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct AuthorRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    estate_id: Option<i64>,
    estate: Option<String>,
    building_id: Option<i64>,
    building: Option<String>,
    unit_label: Option<String>,
}

/// Selects [`AuthorRow`]s; append the ids and `)`.
pub(crate) const AUTHORS_IN: &str = "SELECT a.id, a.username, a.display_name, a.role,
        COALESCE(b.estate_id, a.estate_id) AS estate_id, e.name AS estate,
        u.building_id, b.name AS building, u.label AS unit_label
    FROM accounts a
    LEFT JOIN units u ON u.id = a.unit_id
    LEFT JOIN buildings b ON b.id = u.building_id
    LEFT JOIN estates e ON e.id = COALESCE(b.estate_id, a.estate_id)
    WHERE a.id IN (";

impl TryFrom<AuthorRow> for ChatAuthor {
    type Error = StoreError;

    fn try_from(r: AuthorRow) -> Result<Self, StoreError> {
        Ok(ChatAuthor {
            id: AccountId(r.id),
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::Corrupt(format!("account {}: role", r.id)))?,
            username: r.username,
            display_name: r.display_name,
            estate_id: r.estate_id.map(EstateId),
            estate: r.estate,
            building_id: r.building_id.map(BuildingId),
            building: r.building,
            unit_label: r.unit_label,
        })
    }
}
