//! `RecordPhotoStore` for PostgreSQL. Photo rows go into the transaction of
//! the record or event they come with, taking their public flag from the
//! event row (the `record_photos_follow_their_event` trigger checks it).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::domain::record::{NewRecord, Record};
use crate::domain::{Actor, RecordId};
use crate::store::record_photos::{NewRecordPhoto, RecordPhoto, RecordPhotoStore};
use crate::store::rows::record_photos::{PhotoRow, PHOTO_COLUMNS};
use crate::store::ts;
use crate::store::{NewRecordEvent, RecordStore, StoreError, StoreResult};

impl PgStore {
    /// Writes the photos of event `seq` inside the caller's transaction;
    /// `NotFound` if the record has no such event. Events are append-only,
    /// so the event read here cannot change under us.
    async fn insert_photos(
        tx: &mut Transaction<'_, Postgres>,
        id: RecordId,
        seq: i64,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        for photo in photos {
            let written = sqlx::query(
                "INSERT INTO record_photos (record_id, seq, sha256, mime, width, height, size_bytes,
                                            uploaded_by, created_at, public)
                 SELECT e.record_id, e.seq, $1, $2, $3, $4, $5, $6, $7, e.public
                   FROM record_events e WHERE e.record_id = $8 AND e.seq = $9",
            )
            .bind(&photo.sha256)
            .bind(&photo.mime)
            .bind(i64::from(photo.width))
            .bind(i64::from(photo.height))
            .bind(i64::try_from(photo.size_bytes).unwrap_or(i64::MAX))
            .bind(photo.uploaded_by.0)
            .bind(ts(at))
            .bind(id.0)
            .bind(seq)
            .execute(&mut **tx)
            .await?;
            if written.rows_affected() != 1 {
                return Err(StoreError::NotFound);
            }
        }
        Ok(())
    }
}

#[async_trait]
impl RecordPhotoStore for PgStore {
    async fn create_record_with_photos(
        &self,
        actor: &Actor,
        new: &NewRecord,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<Record> {
        let mut tx = self.write_tx().await?;
        let id = Self::insert_record(&mut tx, actor, new, at).await?;
        Self::insert_photos(&mut tx, id, 1, photos, at).await?;
        tx.commit().await?;
        self.record(id).await
    }

    async fn append_record_event_with_photos(
        &self,
        id: RecordId,
        expected_version: i64,
        event: &NewRecordEvent,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<Record> {
        let mut tx = self.write_tx().await?;
        let seq = Self::insert_event(&mut tx, id, expected_version, event, at).await?;
        Self::insert_photos(&mut tx, id, seq, photos, at).await?;
        tx.commit().await?;
        self.record(id).await
    }

    async fn add_record_photos(
        &self,
        id: RecordId,
        seq: i64,
        photos: &[NewRecordPhoto],
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        Self::insert_photos(&mut tx, id, seq, photos, at).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn record_photos(&self, id: RecordId) -> StoreResult<Vec<RecordPhoto>> {
        let rows: Vec<PhotoRow> = sqlx::query_as(&format!(
            "SELECT {PHOTO_COLUMNS} FROM record_photos WHERE record_id = $1 ORDER BY seq, id"
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn record_photo(&self, id: RecordId, photo: i64) -> StoreResult<RecordPhoto> {
        let row: PhotoRow = sqlx::query_as(&format!(
            "SELECT {PHOTO_COLUMNS} FROM record_photos WHERE record_id = $1 AND id = $2"
        ))
        .bind(id.0)
        .bind(photo)
        .fetch_one(self.pool())
        .await?;
        row.try_into()
    }
}
