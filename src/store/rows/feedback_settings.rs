//! SLA settings and escalations' rows on either backend, and the parts of
//! `EscalationStore` written once in terms of the store itself.

use chrono::NaiveDate;
use sqlx::FromRow;

use super::Ts;
use crate::domain::record::{Record, RecordState};
use crate::domain::{CommunityId, RecordId};
use crate::store::feedback_settings::{
    Department, EscalationRow, EscalationStore, StaffAlert, StoredSlaPolicy,
};
use crate::store::{RecordFilter, RecordStore, StoreError, StoreResult};

#[derive(FromRow)]
pub(crate) struct PolicyRow {
    id: i64,
    community_id: i64,
    settings: String,
    created_at: Ts,
    created_by_name: String,
}

pub(crate) const POLICY_COLUMNS: &str = "id, community_id, settings, created_at, created_by_name";

impl TryFrom<PolicyRow> for StoredSlaPolicy {
    type Error = StoreError;

    fn try_from(r: PolicyRow) -> StoreResult<Self> {
        Ok(StoredSlaPolicy {
            id: r.id,
            community_id: CommunityId(r.community_id),
            settings: serde_json::from_str(&r.settings)
                .map_err(|e| StoreError::Corrupt(format!("sla policy {}: {e}", r.id)))?,
            created_at: r.created_at.0,
            created_by_name: r.created_by_name,
        })
    }
}

#[derive(FromRow)]
pub(crate) struct DepartmentRow {
    id: i64,
    community_id: i64,
    name: String,
    retired: bool,
}

pub(crate) const DEPARTMENT: &str =
    "SELECT id, community_id, name, retired_at IS NOT NULL AS retired FROM departments";

impl From<DepartmentRow> for Department {
    fn from(r: DepartmentRow) -> Self {
        Department {
            id: r.id,
            community_id: CommunityId(r.community_id),
            name: r.name,
            retired: r.retired,
        }
    }
}

/// How a joint meeting's day is kept.
pub(crate) fn meeting_day(on: NaiveDate) -> String {
    on.format("%Y-%m-%d").to_string()
}

pub(crate) fn parse_meeting_day(text: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt(format!("meeting date {text:?}")))
}

#[derive(FromRow)]
pub(crate) struct EscalationDbRow {
    record_id: i64,
    seq: i64,
    at: Ts,
    target: String,
    reason: String,
    overdue_minutes: Option<i64>,
}

pub(crate) const ESCALATION: &str =
    "SELECT record_id, seq, at, target, reason, overdue_minutes FROM record_escalations";

impl From<EscalationDbRow> for EscalationRow {
    fn from(r: EscalationDbRow) -> Self {
        EscalationRow {
            record_id: RecordId(r.record_id),
            seq: r.seq,
            at: r.at.0,
            target: r.target,
            reason: r.reason,
            overdue_minutes: r.overdue_minutes,
        }
    }
}

#[derive(FromRow)]
pub(crate) struct StaffAlertRow {
    id: i64,
    record_id: i64,
    kind: String,
    created_at: Ts,
    seen_at: Option<Ts>,
}

pub(crate) const STAFF_ALERT: &str =
    "SELECT id, record_id, kind, created_at, seen_at FROM staff_alerts";

impl From<StaffAlertRow> for StaffAlert {
    fn from(r: StaffAlertRow) -> Self {
        StaffAlert {
            id: r.id,
            record_id: RecordId(r.record_id),
            kind: r.kind,
            created_at: r.created_at.0,
            seen_at: r.seen_at.map(|s| s.0),
        }
    }
}

/// The records numbered `numbers` (one page of `records_page`), by id.
pub(crate) async fn records_numbered<S: RecordStore + ?Sized>(
    store: &S,
    numbers: Vec<String>,
) -> StoreResult<Vec<Record>> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let mut records = store
        .list_records(&RecordFilter {
            limit: numbers.len() as i64,
            numbers,
            ..Default::default()
        })
        .await?;
    records.sort_by_key(|r| r.id.0);
    Ok(records)
}

/// Every escalated record of `community` (or of all), page by page.
pub(crate) async fn escalated_records<S: EscalationStore + ?Sized>(
    store: &S,
    community: Option<CommunityId>,
) -> StoreResult<Vec<Record>> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .records_page(&[RecordState::Escalated], after, 500)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        out.extend(
            page.into_iter()
                .filter(|r| community.is_none_or(|c| c == r.community_id)),
        );
    }
    Ok(out)
}
