//! What the SLA and escalation settings keep: versions of a community's SLA
//! settings, departments, estate leads, joint-meeting dates, the target of each
//! escalation and the alerts staff receive.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};

use super::{NewRecordEvent, StoreResult};
use crate::domain::record::{Record, RecordState};
use crate::domain::{AccountId, Actor, CommunityId, EstateId, RecordId};

/// One saved version of a community's SLA settings (insert-only).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StoredSlaPolicy {
    pub id: i64,
    pub community_id: CommunityId,
    /// The settings document; the feedback capability reads and checks it.
    pub settings: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub created_by_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Department {
    pub id: i64,
    pub community_id: CommunityId,
    pub name: String,
    /// Retired departments stay for the records sent to them, but are no
    /// longer offered as an escalation target.
    pub retired: bool,
}

/// Where one escalation event sent a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalationRow {
    pub record_id: RecordId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    /// `meeting` or `department:<id>`.
    pub target: String,
    /// `breach` or `manual`.
    pub reason: String,
    pub overdue_minutes: Option<i64>,
}

/// An escalation to write with its event.
#[derive(Debug, Clone)]
pub struct NewEscalation<'a> {
    pub event: &'a NewRecordEvent,
    pub target: &'a str,
    pub reason: &'static str,
    pub overdue_minutes: Option<i64>,
    /// Staff who get an alert about it.
    pub alert: &'a [AccountId],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffAlert {
    pub id: i64,
    pub record_id: RecordId,
    pub kind: String,
    pub created_at: DateTime<Utc>,
    pub seen_at: Option<DateTime<Utc>>,
}

#[async_trait]
pub trait SlaSettingsStore: Send + Sync + 'static {
    /// Every saved version of the community's settings, oldest first.
    async fn sla_policies(&self, community: CommunityId) -> StoreResult<Vec<StoredSlaPolicy>>;
    /// Saves a new version (audited as `sla.save` with the versions before and after).
    async fn add_sla_policy(
        &self,
        actor: &Actor,
        community: CommunityId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> StoreResult<StoredSlaPolicy>;

    /// Whether the community's lobby screens show the computed disclosure
    /// figures (yes unless someone switched them off).
    async fn figures_on_screens(&self, community: CommunityId) -> StoreResult<bool>;
    /// Switches the figures on screens on or off (audited as `screen_figures.set`).
    async fn set_figures_on_screens(
        &self,
        actor: &Actor,
        community: CommunityId,
        shown: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

#[async_trait]
pub trait EscalationStore: Send + Sync + 'static {
    async fn departments(&self, community: CommunityId) -> StoreResult<Vec<Department>>;
    /// Audited; `Conflict` if the community already has a department of that name.
    async fn add_department(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Department>;
    /// Renames a department of the community (audited); `NotFound` if it is
    /// not the community's, `Conflict` if the name is taken.
    async fn rename_department(
        &self,
        actor: &Actor,
        community: CommunityId,
        id: i64,
        name: &str,
    ) -> StoreResult<Department>;
    /// Retires a department or brings it back (audited); `NotFound` if it is
    /// not the community's.
    async fn set_department_retired(
        &self,
        actor: &Actor,
        community: CommunityId,
        id: i64,
        retired: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<Department>;

    async fn estate_leads(&self, estate: EstateId) -> StoreResult<Vec<AccountId>>;
    /// Adds or removes a lead of the estate (audited).
    async fn set_estate_lead(
        &self,
        actor: &Actor,
        estate: EstateId,
        account: AccountId,
        lead: bool,
    ) -> StoreResult<()>;

    /// Meeting dates of the community, earliest first.
    async fn joint_meetings(&self, community: CommunityId) -> StoreResult<Vec<NaiveDate>>;
    async fn add_joint_meeting(
        &self,
        actor: &Actor,
        community: CommunityId,
        on: NaiveDate,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Records in one of `states` with an id above `after`, oldest first, at
    /// most `limit`: for sweeps that must see every record, page by page.
    async fn records_page(
        &self,
        states: &[RecordState],
        after: Option<RecordId>,
        limit: i64,
    ) -> StoreResult<Vec<Record>>;

    /// Appends the escalation event if the record is still at
    /// `expected_version`, with its target and the alerts, in one transaction;
    /// `Conflict` if someone changed the record first.
    async fn escalate_record(
        &self,
        id: RecordId,
        expected_version: i64,
        escalation: &NewEscalation<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<Record>;
    /// The escalations of these records, oldest first.
    async fn escalations(
        &self,
        ids: &[RecordId],
    ) -> StoreResult<HashMap<RecordId, Vec<EscalationRow>>>;
    /// Escalated records (state `escalated`) of a community, or all if `None`.
    async fn escalated_records(&self, community: Option<CommunityId>) -> StoreResult<Vec<Record>>;

    /// The account's alerts, newest first.
    async fn staff_alerts(&self, account: AccountId, limit: i64) -> StoreResult<Vec<StaffAlert>>;
    async fn unseen_alert_count(&self, account: AccountId) -> StoreResult<i64>;
    /// Marks all of the account's alerts seen; returns how many were unseen.
    async fn mark_alerts_seen(&self, account: AccountId, at: DateTime<Utc>) -> StoreResult<u64>;
}
