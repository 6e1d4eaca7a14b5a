//! How far residents have read their own records: what the site needs to tell
//! a resident that something new happened to a record they filed.
//!
//! The rule (see `crate::feedback::notifications`): a record is unread for its
//! reporter when its latest public event by someone other than the reporter
//! has a higher seq than the one they have seen; a record they have never
//! opened counts as seen up to its filing event.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::record::{RecordEvent, RecordState};
use crate::domain::{AccountId, RecordId};

/// The seq `RecordStore::create_record` gives a record's filing event: a
/// record its reporter has never opened counts as seen up to here, so that
/// filing (or having a record filed for you) never notifies.
pub const FILING_SEQ: i64 = 1;

/// One of a resident's records with news for them: the record and the latest
/// event they have not seen yet (public, by someone else).
#[derive(Debug, Clone)]
pub struct RecordUpdate {
    pub record_id: RecordId,
    pub number: String,
    pub title: String,
    /// Where the record stands now.
    pub state: RecordState,
    pub latest: RecordEvent,
}

#[async_trait]
pub trait RecordReadStore: Send + Sync + 'static {
    /// How many of the reporter's records are unread: one indexed query.
    async fn unread_record_count(&self, reporter: AccountId) -> StoreResult<i64>;

    /// The reporter's unread records, the newest news first, at most `limit`.
    async fn unread_records(
        &self,
        reporter: AccountId,
        limit: i64,
    ) -> StoreResult<Vec<RecordUpdate>>;

    /// Notes that `reader` has seen the record up to event `seq` (capped at
    /// the record's latest event). Only the record's reporter is tracked:
    /// for anyone else nothing is written. Never moves backwards.
    async fn mark_record_seen(
        &self,
        reader: AccountId,
        record: RecordId,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Notes that the reporter has seen every event of all their records;
    /// returns how many records were unread.
    async fn mark_all_records_seen(
        &self,
        reporter: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<u64>;
}
