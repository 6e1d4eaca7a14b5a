//! `SlaSettingsStore` and `EscalationStore` for PostgreSQL.
//!
//! Settings that are read before they are changed (the SLA version before
//! a save, the figures switch, a department) are read under a lock: the
//! community row (`FOR NO KEY UPDATE`, which leaves rows that merely refer
//! to the community alone) or the department row. An escalation's event
//! takes its sequence number under the record head's row lock.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{Postgres, Transaction};

use super::PgStore;
use crate::domain::record::{Record, RecordState};
use crate::domain::{AccountId, Actor, CommunityId, EstateId, RecordId};
use crate::store::feedback_settings::{
    Department, EscalationRow, EscalationStore, NewEscalation, SlaSettingsStore, StaffAlert,
    StoredSlaPolicy,
};
use crate::store::rows::feedback_settings::{
    escalated_records, meeting_day, parse_meeting_day, records_numbered, DepartmentRow,
    EscalationDbRow, PolicyRow, StaffAlertRow, DEPARTMENT, ESCALATION, POLICY_COLUMNS, STAFF_ALERT,
};
use crate::store::{ts, RecordStore, StoreResult};

/// Serialises changes to one community's settings, so that what a change
/// audits as "before" is what it replaced.
async fn lock_community(
    tx: &mut Transaction<'_, Postgres>,
    community: CommunityId,
) -> StoreResult<()> {
    sqlx::query("SELECT id FROM communities WHERE id = $1 FOR NO KEY UPDATE")
        .bind(community.0)
        .fetch_one(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl SlaSettingsStore for PgStore {
    async fn sla_policies(&self, community: CommunityId) -> StoreResult<Vec<StoredSlaPolicy>> {
        let rows: Vec<PolicyRow> = sqlx::query_as(&format!(
            "SELECT {POLICY_COLUMNS} FROM sla_policies
             WHERE community_id = $1 ORDER BY created_at, id"
        ))
        .bind(community.0)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn add_sla_policy(
        &self,
        actor: &Actor,
        community: CommunityId,
        settings: &serde_json::Value,
        at: DateTime<Utc>,
    ) -> StoreResult<StoredSlaPolicy> {
        let mut tx = self.write_tx().await?;
        lock_community(&mut tx, community).await?;
        let before: Option<String> = sqlx::query_scalar(
            "SELECT settings FROM sla_policies WHERE community_id = $1
             ORDER BY created_at DESC, id DESC LIMIT 1",
        )
        .bind(community.0)
        .fetch_optional(&mut *tx)
        .await?;
        // Versions are only ever added (a trigger refuses changes).
        let row: PolicyRow = sqlx::query_as(&format!(
            "INSERT INTO sla_policies (community_id, settings, created_at, created_by, created_by_name)
             VALUES ($1, $2, $3, $4, $5)
             RETURNING {POLICY_COLUMNS}"
        ))
        .bind(community.0)
        .bind(settings.to_string())
        .bind(ts(at))
        .bind(actor.id.map(|a| a.0))
        .bind(&actor.name)
        .fetch_one(&mut *tx)
        .await?;
        let mut entry = actor
            .entry("sla.save", "community", community.0)
            .after(settings);
        entry.before = before.and_then(|b| serde_json::from_str(&b).ok());
        Self::audit(&mut tx, entry).await?;
        tx.commit().await?;
        row.try_into()
    }

    async fn figures_on_screens(&self, community: CommunityId) -> StoreResult<bool> {
        let shown: Option<bool> =
            sqlx::query_scalar("SELECT shown FROM screen_figures_settings WHERE community_id = $1")
                .bind(community.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(shown.unwrap_or(true))
    }

    async fn set_figures_on_screens(
        &self,
        actor: &Actor,
        community: CommunityId,
        shown: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        lock_community(&mut tx, community).await?;
        let before: Option<bool> =
            sqlx::query_scalar("SELECT shown FROM screen_figures_settings WHERE community_id = $1")
                .bind(community.0)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query(
            "INSERT INTO screen_figures_settings (community_id, shown, updated_at)
             VALUES ($1, $2, $3)
             ON CONFLICT (community_id) DO UPDATE
                SET shown = excluded.shown, updated_at = excluded.updated_at",
        )
        .bind(community.0)
        .bind(shown)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        Self::audit(
            &mut tx,
            actor
                .entry("screen_figures.set", "community", community.0)
                .before(serde_json::json!({ "shown": before.unwrap_or(true) }))
                .after(serde_json::json!({ "shown": shown })),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// The department `id` if it belongs to `community`, locked for a change.
async fn department_in(
    tx: &mut Transaction<'_, Postgres>,
    community: CommunityId,
    id: i64,
) -> StoreResult<Department> {
    let row: DepartmentRow = sqlx::query_as(&format!(
        "{DEPARTMENT} WHERE id = $1 AND community_id = $2 FOR UPDATE"
    ))
    .bind(id)
    .bind(community.0)
    .fetch_one(&mut **tx)
    .await?;
    Ok(row.into())
}

#[async_trait]
impl EscalationStore for PgStore {
    async fn departments(&self, community: CommunityId) -> StoreResult<Vec<Department>> {
        let rows: Vec<DepartmentRow> =
            sqlx::query_as(&format!("{DEPARTMENT} WHERE community_id = $1 ORDER BY id"))
                .bind(community.0)
                .fetch_all(self.pool())
                .await?;
        Ok(rows.into_iter().map(Department::from).collect())
    }

    async fn add_department(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &str,
        at: DateTime<Utc>,
    ) -> StoreResult<Department> {
        let mut tx = self.write_tx().await?;
        // A name taken (here or by a concurrent add) is a unique violation: Conflict.
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO departments (community_id, name, created_at) VALUES ($1, $2, $3)
             RETURNING id",
        )
        .bind(community.0)
        .bind(name)
        .bind(ts(at))
        .fetch_one(&mut *tx)
        .await?;
        let department = Department {
            id,
            community_id: community,
            name: name.to_owned(),
            retired: false,
        };
        Self::audit(
            &mut tx,
            actor
                .entry("department.create", "department", id)
                .after(&department),
        )
        .await?;
        tx.commit().await?;
        Ok(department)
    }

    async fn rename_department(
        &self,
        actor: &Actor,
        community: CommunityId,
        id: i64,
        name: &str,
    ) -> StoreResult<Department> {
        let mut tx = self.write_tx().await?;
        let before = department_in(&mut tx, community, id).await?;
        sqlx::query("UPDATE departments SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let after = Department {
            name: name.to_owned(),
            ..before.clone()
        };
        Self::audit(
            &mut tx,
            actor
                .entry("department.rename", "department", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn set_department_retired(
        &self,
        actor: &Actor,
        community: CommunityId,
        id: i64,
        retired: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<Department> {
        let mut tx = self.write_tx().await?;
        let before = department_in(&mut tx, community, id).await?;
        sqlx::query("UPDATE departments SET retired_at = $1 WHERE id = $2")
            .bind(retired.then(|| ts(at)))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let after = Department {
            retired,
            ..before.clone()
        };
        let action = if retired {
            "department.retire"
        } else {
            "department.restore"
        };
        Self::audit(
            &mut tx,
            actor
                .entry(action, "department", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn estate_leads(&self, estate: EstateId) -> StoreResult<Vec<AccountId>> {
        let rows: Vec<i64> = sqlx::query_scalar(
            "SELECT l.account_id FROM estate_leads l JOIN accounts a ON a.id = l.account_id
             WHERE l.estate_id = $1 AND a.disabled_at IS NULL ORDER BY l.account_id",
        )
        .bind(estate.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(AccountId).collect())
    }

    async fn set_estate_lead(
        &self,
        actor: &Actor,
        estate: EstateId,
        account: AccountId,
        lead: bool,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        // Each is one statement whose row count says whether it changed
        // anything, even with a concurrent twin: only a change is audited.
        let (sql, action) = if lead {
            (
                "INSERT INTO estate_leads (estate_id, account_id) VALUES ($1, $2)
                 ON CONFLICT DO NOTHING",
                "estate.lead_add",
            )
        } else {
            (
                "DELETE FROM estate_leads WHERE estate_id = $1 AND account_id = $2",
                "estate.lead_remove",
            )
        };
        let changed = sqlx::query(sql)
            .bind(estate.0)
            .bind(account.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if changed > 0 {
            Self::audit(
                &mut tx,
                actor
                    .entry(action, "estate", estate.0)
                    .after(serde_json::json!({ "account_id": account.0 })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn joint_meetings(&self, community: CommunityId) -> StoreResult<Vec<NaiveDate>> {
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT meets_on FROM joint_meetings WHERE community_id = $1 ORDER BY meets_on",
        )
        .bind(community.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(|d| parse_meeting_day(d)).collect()
    }

    async fn add_joint_meeting(
        &self,
        actor: &Actor,
        community: CommunityId,
        on: NaiveDate,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let added = sqlx::query(
            "INSERT INTO joint_meetings (community_id, meets_on, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(community.0)
        .bind(meeting_day(on))
        .bind(ts(at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added > 0 {
            Self::audit(
                &mut tx,
                actor
                    .entry("meeting.schedule", "community", community.0)
                    .after(serde_json::json!({ "meets_on": on })),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn records_page(
        &self,
        states: &[RecordState],
        after: Option<RecordId>,
        limit: i64,
    ) -> StoreResult<Vec<Record>> {
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let numbers: Vec<String> = sqlx::query_scalar(
            "SELECT r.number FROM record_heads h JOIN records r ON r.id = h.record_id
             WHERE h.state = ANY($1) AND h.record_id > $2
             ORDER BY h.record_id LIMIT $3",
        )
        .bind(&names)
        .bind(after.map_or(0, |a| a.0))
        .bind(limit.clamp(1, 10_000))
        .fetch_all(self.pool())
        .await?;
        records_numbered(self, numbers).await
    }

    async fn escalate_record(
        &self,
        id: RecordId,
        expected_version: i64,
        escalation: &NewEscalation<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<Record> {
        let event = escalation.event;
        let mut tx = self.write_tx().await?;
        // The same steps as `append_record_event`: the event's sequence
        // number is taken under the record head's row lock (a conditional
        // update on its version; of two escalations, the second finds the
        // version moved on: Conflict). Then the target and the alerts.
        let seq = Self::insert_event(&mut tx, id, expected_version, event, at).await?;
        sqlx::query(
            "INSERT INTO record_escalations (record_id, seq, at, target, reason, overdue_minutes)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0)
        .bind(seq)
        .bind(ts(at))
        .bind(escalation.target)
        .bind(escalation.reason)
        .bind(escalation.overdue_minutes)
        .execute(&mut *tx)
        .await?;
        for account in escalation.alert {
            sqlx::query(
                "INSERT INTO staff_alerts (account_id, record_id, kind, created_at)
                 VALUES ($1, $2, 'breach', $3)",
            )
            .bind(account.0)
            .bind(id.0)
            .bind(ts(at))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.record(id).await
    }

    async fn escalations(
        &self,
        ids: &[RecordId],
    ) -> StoreResult<HashMap<RecordId, Vec<EscalationRow>>> {
        let ids: Vec<i64> = ids.iter().map(|i| i.0).collect();
        let rows: Vec<EscalationDbRow> = sqlx::query_as(&format!(
            "{ESCALATION} WHERE record_id = ANY($1) ORDER BY record_id, seq"
        ))
        .bind(&ids)
        .fetch_all(self.pool())
        .await?;
        let mut out: HashMap<RecordId, Vec<EscalationRow>> = HashMap::new();
        for row in rows {
            let row = EscalationRow::from(row);
            out.entry(row.record_id).or_default().push(row);
        }
        Ok(out)
    }

    async fn escalated_records(&self, community: Option<CommunityId>) -> StoreResult<Vec<Record>> {
        escalated_records(self, community).await
    }

    async fn staff_alerts(&self, account: AccountId, limit: i64) -> StoreResult<Vec<StaffAlert>> {
        let rows: Vec<StaffAlertRow> = sqlx::query_as(&format!(
            "{STAFF_ALERT} WHERE account_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(account.0)
        .bind(limit.clamp(1, 1000))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(StaffAlert::from).collect())
    }

    async fn unseen_alert_count(&self, account: AccountId) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT count(*) FROM staff_alerts WHERE account_id = $1 AND seen_at IS NULL",
        )
        .bind(account.0)
        .fetch_one(self.pool())
        .await?)
    }

    async fn mark_alerts_seen(&self, account: AccountId, at: DateTime<Utc>) -> StoreResult<u64> {
        Ok(sqlx::query(
            "UPDATE staff_alerts SET seen_at = $1 WHERE account_id = $2 AND seen_at IS NULL",
        )
        .bind(ts(at))
        .bind(account.0)
        .execute(self.pool())
        .await?
        .rows_affected())
    }
}
