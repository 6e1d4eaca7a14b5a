//! A resident's unread records as both backends read them.

use sqlx::FromRow;

use super::records::EventRow;
use crate::domain::RecordId;
use crate::store::record_reads::RecordUpdate;
use crate::store::StoreError;

/// A record with the latest event its reporter has not seen.
#[derive(FromRow)]
pub(crate) struct UpdateRow {
    record_id: i64,
    number: String,
    title: String,
    state: String,
    #[sqlx(flatten)]
    latest: EventRow,
}

impl TryFrom<UpdateRow> for RecordUpdate {
    type Error = StoreError;

    fn try_from(row: UpdateRow) -> Result<Self, StoreError> {
        Ok(RecordUpdate {
            record_id: RecordId(row.record_id),
            number: row.number,
            title: row.title,
            state: super::records::state(&row.state)?,
            latest: row.latest.try_into()?,
        })
    }
}
