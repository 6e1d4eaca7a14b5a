//! Rows of the emergency acknowledgements and notice steps, read the same
//! way on both backends.

use sqlx::FromRow;

use super::Ts;
use crate::domain::{NoticeId, ScreenId};
use crate::store::emergency::{EmergencyAck, NoticeStep};

#[derive(FromRow)]
pub(crate) struct AckRow {
    notice_id: i64,
    screen_id: i64,
    revision: i64,
    shown_at: Ts,
    received_at: Ts,
}

impl From<AckRow> for EmergencyAck {
    fn from(row: AckRow) -> Self {
        Self {
            notice_id: NoticeId(row.notice_id),
            screen_id: ScreenId(row.screen_id),
            revision: row.revision,
            shown_at: row.shown_at.into(),
            received_at: row.received_at.into(),
        }
    }
}

#[derive(FromRow)]
pub(crate) struct StepRow {
    action: String,
    at: Ts,
}

impl From<StepRow> for NoticeStep {
    fn from(row: StepRow) -> Self {
        Self {
            action: row.action,
            at: row.at.into(),
        }
    }
}
