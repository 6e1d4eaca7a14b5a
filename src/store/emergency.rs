//! What the outside sees of emergency notices: each screen's proof that an
//! emergency is on its glass, and the workflow steps of a notice that tell
//! an alert from its updates and its cancel (for the CAP feed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::{NoticeId, ScreenId};

/// A screen's word that it painted revision `revision` of an emergency notice
/// at `shown_at` (its clock, corrected to the server's; see kiosk.js).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmergencyAck {
    pub notice_id: NoticeId,
    pub screen_id: ScreenId,
    pub revision: i64,
    pub shown_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
}

/// A step of a notice's workflow, from the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeStep {
    /// The audit action, e.g. `notice.approve`.
    pub action: String,
    pub at: DateTime<Utc>,
}

/// Audit actions that put a notice on the screens.
pub const PUBLISHING_ACTIONS: [&str; 3] = [
    "notice.publish",
    "notice.publish_emergency",
    "notice.approve",
];
/// Audit actions that take a published notice off the screens (an edit sends
/// it back to draft until it is published again).
pub const UNPUBLISHING_ACTIONS: [&str; 2] = ["notice.withdraw", "notice.update"];

/// Most steps read for one notice; a notice edited more often than this
/// keeps its latest steps.
pub const NOTICE_STEPS_MAX: i64 = 200;

#[async_trait]
pub trait EmergencyStore: Send + Sync + 'static {
    /// Keeps the acknowledgement, per (notice, screen) the newest revision
    /// at its earliest time: a repeat, or an older revision arriving late,
    /// changes nothing.
    async fn record_emergency_ack(&self, ack: &EmergencyAck) -> StoreResult<()>;

    /// Every screen's acknowledgement of the notice.
    async fn emergency_acks(&self, notice: NoticeId) -> StoreResult<Vec<EmergencyAck>>;

    /// The notice's publishing and unpublishing steps (see
    /// [`PUBLISHING_ACTIONS`], [`UNPUBLISHING_ACTIONS`]), oldest first, the
    /// latest [`NOTICE_STEPS_MAX`] at most.
    async fn notice_steps(&self, notice: NoticeId) -> StoreResult<Vec<NoticeStep>>;
}
