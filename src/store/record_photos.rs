//! What the store keeps of photos on feedback records: one row per photo,
//! tied to the event it was posted with and public exactly when that event
//! is. The files themselves are the feedback capability's business; rows are
//! written in the same transaction as the record or event they come with.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{NewRecordEvent, StoreResult};
use crate::domain::record::{NewRecord, Record};
use crate::domain::{AccountId, Actor, RecordId};

/// A photo to store, already checked, re-encoded and written to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecordPhoto {
    /// SHA-256 of the stored bytes, in hex: the file's name.
    pub sha256: String,
    /// `image/jpeg` or `image/png`.
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    pub uploaded_by: AccountId,
}

/// A stored photo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordPhoto {
    pub id: i64,
    pub record_id: RecordId,
    /// The event it was posted with.
    pub seq: i64,
    pub sha256: String,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub size_bytes: u64,
    pub uploaded_by: AccountId,
    pub created_at: DateTime<Utc>,
    /// The event's public flag: residents and tracking links see only public photos.
    pub public: bool,
}

#[async_trait]
pub trait RecordPhotoStore: Send + Sync + 'static {
    /// `RecordStore::create_record`, with photos on the first event, in one
    /// transaction.
    async fn create_record_with_photos(
        &self,
        actor: &Actor,
        new: &NewRecord,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<Record>;
    /// `RecordStore::append_record_event`, with photos on the new event, in
    /// one transaction; `Conflict` if someone changed the record first.
    async fn append_record_event_with_photos(
        &self,
        id: RecordId,
        expected_version: i64,
        event: &NewRecordEvent,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<Record>;
    /// Adds photos to an event already written (`NotFound` if there is no
    /// such event), for steps that write their event themselves.
    async fn add_record_photos(
        &self,
        id: RecordId,
        seq: i64,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// The record's photos, in event order and then in the order posted.
    async fn record_photos(&self, id: RecordId) -> StoreResult<Vec<RecordPhoto>>;
    /// One photo of the record; `NotFound` if it is another record's.
    async fn record_photo(&self, id: RecordId, photo: i64) -> StoreResult<RecordPhoto>;
}
