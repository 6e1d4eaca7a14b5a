//! What the store holds about one person, for the resident's right to a copy
//! of their data and to close their account (个人信息保护法, issue 14).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{RecordPhoto, StoreResult};
use crate::domain::chat::Comment;
use crate::domain::record::{Record, RecordEvent};
use crate::domain::{Account, AccountId, Actor, BroadcastId, CommentId, RecordId};

/// Everything Pavilion keeps about one account, as the person may see it:
/// their own records with the events and photos they can see (staff's
/// internal notes are the office's working papers, not the resident's data),
/// their comments, votes, read marks and sessions.
#[derive(Debug, Clone)]
pub struct PersonalData {
    pub account: Account,
    /// Community, estate, building and unit, when the account has a home.
    pub home: Option<[String; 4]>,
    pub records: Vec<PersonalRecord>,
    pub comments: Vec<(Comment, String)>,
    pub votes: Vec<PersonalVote>,
    pub read_marks: Vec<ReadMark>,
    pub sessions: Vec<SessionFacts>,
}

/// One of the person's records with what they can see of it.
#[derive(Debug, Clone)]
pub struct PersonalRecord {
    pub record: Record,
    pub events: Vec<RecordEvent>,
    pub photos: Vec<RecordPhoto>,
}

#[derive(Debug, Clone)]
pub struct PersonalVote {
    pub comment_id: CommentId,
    pub broadcast_id: BroadcastId,
    pub broadcast_title: String,
    pub at: DateTime<Utc>,
}

/// How far the person has read one of their records.
#[derive(Debug, Clone)]
pub struct ReadMark {
    pub record_id: RecordId,
    pub seen_seq: i64,
    pub seen_at: DateTime<Utc>,
}

/// A signed-in browser: when it started and until when (never the token).
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
pub trait PersonalDataStore: Send + Sync + 'static {
    /// Everything about `id` (see [`PersonalData`]), with an `account.export`
    /// audit entry written by `actor` (no personal data in it).
    async fn export_personal_data(&self, actor: &Actor, id: AccountId)
        -> StoreResult<PersonalData>;

    /// Closes a resident's account for good, in one transaction: disabled,
    /// login name and nickname replaced by `label`, unit link and password
    /// removed, sessions and read marks deleted, comments shown under
    /// `label`. Records, their events, photos and votes stay; every view
    /// shows the label for the account from now on. Writes `account.close`
    /// with the account as actor and `label` as its name. `Rejected` for an
    /// account that is not a resident's or is already closed.
    async fn close_account(&self, id: AccountId, label: &str) -> StoreResult<()>;
}
