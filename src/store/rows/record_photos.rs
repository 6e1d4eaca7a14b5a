//! Photo rows of feedback records, as both backends read them.

use sqlx::FromRow;

use super::Ts;
use crate::domain::{AccountId, RecordId};
use crate::store::record_photos::RecordPhoto;
use crate::store::StoreError;

#[derive(FromRow)]
pub(crate) struct PhotoRow {
    id: i64,
    record_id: i64,
    seq: i64,
    sha256: String,
    mime: String,
    width: i64,
    height: i64,
    size_bytes: i64,
    uploaded_by: i64,
    created_at: Ts,
    public: bool,
}

pub(crate) const PHOTO_COLUMNS: &str =
    "id, record_id, seq, sha256, mime, width, height, size_bytes, uploaded_by, created_at, public";

impl TryFrom<PhotoRow> for RecordPhoto {
    type Error = StoreError;

    fn try_from(r: PhotoRow) -> Result<Self, StoreError> {
        let number = |what: &str, value: i64| {
            value
                .try_into()
                .map_err(|_| StoreError::Corrupt(format!("photo {} {what} {value}", r.id)))
        };
        Ok(RecordPhoto {
            id: r.id,
            record_id: RecordId(r.record_id),
            seq: r.seq,
            width: number("width", r.width)?,
            height: number("height", r.height)?,
            size_bytes: u64::try_from(r.size_bytes)
                .map_err(|_| StoreError::Corrupt(format!("photo {} size", r.id)))?,
            sha256: r.sha256,
            mime: r.mime,
            uploaded_by: AccountId(r.uploaded_by),
            created_at: r.created_at.0,
            public: r.public,
        })
    }
}
