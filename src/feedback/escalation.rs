//! What happens when a promise breaks: the watcher pages through every open
//! record (oldest first), alerts the estate's staff lead(s) about each breach
//! and escalates the record to its target, the joint meeting (红色物业联席会议)
//! or a named department, as its category's rule says. Staff may escalate by
//! hand too, and record what the meeting decided. Every step is a new event.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::records::{within_reopen_window, RecordError, Records, SlaBook};
use crate::domain::record::{Record, RecordAction, RecordState};
use crate::domain::{Account, AccountId, Actor, CommunityId, EstateId, Role, Scope};
use crate::store::{AccountFilter, NewEscalation, NewRecordEvent, StoreError};

/// Records per page of a sweep.
const PAGE: i64 = 500;

/// Where an escalated record goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EscalationTarget {
    /// The next joint meeting's agenda.
    JointMeeting,
    /// A department of the community, by id.
    Department(i64),
}

impl EscalationTarget {
    pub fn key(self) -> String {
        match self {
            EscalationTarget::JointMeeting => "meeting".to_owned(),
            EscalationTarget::Department(id) => format!("department:{id}"),
        }
    }

    pub fn parse(key: &str) -> Option<Self> {
        match key {
            "meeting" => Some(EscalationTarget::JointMeeting),
            _ => key
                .strip_prefix("department:")
                .and_then(|id| id.parse().ok())
                .filter(|id| *id > 0)
                .map(EscalationTarget::Department),
        }
    }
}

/// A hand escalation as staff ask for it.
#[derive(Debug, Clone, Copy)]
pub struct ManualEscalation<'a> {
    /// The version the person saw.
    pub expected_version: i64,
    pub target: EscalationTarget,
    pub note: &'a str,
    /// Shown to the resident.
    pub public: bool,
}

/// What one pass of the watcher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Open records past their promise, escalated to their target.
    pub escalated: usize,
    /// Alerts raised to staff leads about those breaches.
    pub alerts: usize,
    /// Resolved records closed because the resident did not answer within the reopen window.
    pub closed: usize,
}

fn system() -> Actor {
    Actor {
        id: None,
        name: "system".into(),
    }
}

impl Records {
    /// The target a breached record of `category` goes to under `book`'s
    /// settings: its category's department while that is not retired (`active`
    /// lists the departments still in service), else the joint meeting.
    fn target_for(book: &SlaBook, record: &Record, active: &[i64]) -> EscalationTarget {
        match book
            .settings_of(record)
            .rule(&record.category)
            .and_then(|r| r.escalate_to.as_deref())
            .and_then(EscalationTarget::parse)
        {
            Some(EscalationTarget::Department(id)) if active.contains(&id) => {
                EscalationTarget::Department(id)
            }
            _ => EscalationTarget::JointMeeting,
        }
    }

    /// Ids of the community's departments that are not retired.
    async fn active_departments(&self, community: CommunityId) -> Result<Vec<i64>, RecordError> {
        Ok(self
            .store
            .departments(community)
            .await?
            .into_iter()
            .filter(|d| !d.retired)
            .map(|d| d.id)
            .collect())
    }

    /// Who hears about a breach in this estate: its leads, or, if it has none,
    /// the community's admins and secretary (so that an alert always reaches someone).
    pub async fn alert_recipients(
        &self,
        estate: EstateId,
        community: CommunityId,
    ) -> Result<Vec<AccountId>, RecordError> {
        let leads = self.store.estate_leads(estate).await?;
        if !leads.is_empty() {
            return Ok(leads);
        }
        let mut out = Vec::new();
        for role in [Role::Admin, Role::Secretary] {
            let accounts = self
                .store
                .list_accounts(&AccountFilter {
                    role: Some(role),
                    search: None,
                    within: Scope::Installation,
                })
                .await?;
            out.extend(
                accounts
                    .into_iter()
                    .filter(|a| !a.disabled && a.scope().reaches(community.into()))
                    .map(|a| a.id),
            );
        }
        Ok(out)
    }

    /// Escalates breached records (alerting the leads) and closes resolved ones
    /// whose reopen window has passed, looking at every record, oldest first.
    /// A record someone changes at the same moment is left for the next pass.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Sweep, RecordError> {
        let mut sweep = Sweep::default();
        let mut book = SlaBook::default();
        let mut recipients: HashMap<EstateId, Vec<AccountId>> = HashMap::new();
        let mut departments: HashMap<CommunityId, Vec<i64>> = HashMap::new();
        let working: Vec<RecordState> = RecordState::ALL
            .into_iter()
            .filter(|s| s.is_open() && *s != RecordState::Escalated)
            .collect();
        let mut after = None;
        loop {
            let page = self.store.records_page(&working, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            let ids: Vec<_> = page.iter().map(|r| r.id).collect();
            let changes = self.store.state_changes(&ids).await?;
            let escalations = self.store.escalations(&ids).await?;
            self.load_sla_settings(&mut book, page.iter().map(|r| r.community_id))
                .await?;
            for record in page {
                let history = changes.get(&record.id).map_or(&[][..], Vec::as_slice);
                let sla = book.status(&record, history, now);
                if !sla.needs_escalation() {
                    continue;
                }
                // Once per promise: a record escalated since its clock (re)started
                // and then worked on again is not escalated a second time.
                let already = escalations.get(&record.id).is_some_and(|list| {
                    list.iter()
                        .any(|e| sla.started.is_none_or(|start| e.at >= start))
                });
                if already {
                    continue;
                }
                let alert = match recipients.get(&record.estate_id) {
                    Some(list) => list.clone(),
                    None => {
                        let list = self
                            .alert_recipients(record.estate_id, record.community_id)
                            .await?;
                        recipients.insert(record.estate_id, list.clone());
                        list
                    }
                };
                let active = match departments.get(&record.community_id) {
                    Some(active) => active.clone(),
                    None => {
                        let active = self.active_departments(record.community_id).await?;
                        departments.insert(record.community_id, active.clone());
                        active
                    }
                };
                let target = Self::target_for(&book, &record, &active).key();
                let overdue = (sla.used - sla.limit).num_minutes();
                let event = NewRecordEvent {
                    actor: system(),
                    action: RecordAction::Escalate.as_str().to_owned(),
                    from_state: Some(record.state),
                    to_state: Some(RecordAction::Escalate.apply(record.state, None)?),
                    note: String::new(),
                    public: true,
                    published: false,
                    assignee: None,
                    rating: None,
                };
                let escalation = NewEscalation {
                    event: &event,
                    target: &target,
                    reason: "breach",
                    overdue_minutes: Some(overdue),
                    alert: &alert,
                };
                match self
                    .store
                    .escalate_record(record.id, record.version, &escalation, now)
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(
                            record = record.number,
                            overdue_minutes = overdue,
                            target,
                            "SLA breached: escalated"
                        );
                        sweep.escalated += 1;
                        sweep.alerts += alert.len();
                    }
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let mut after = None;
        loop {
            let page = self
                .store
                .records_page(&[RecordState::Resolved], after, PAGE)
                .await?;
            let Some(last) = page.last() else { break };
            after = Some(last.id);
            for record in page {
                let events = self.store.record_events(record.id).await?;
                if within_reopen_window(&events, now) {
                    continue;
                }
                let event = NewRecordEvent {
                    actor: system(),
                    action: RecordAction::Close.as_str().to_owned(),
                    from_state: Some(record.state),
                    to_state: Some(RecordState::Closed),
                    note: String::new(),
                    public: true,
                    published: false,
                    assignee: None,
                    rating: None,
                };
                match self
                    .store
                    .append_record_event(record.id, record.version, &event, now)
                    .await
                {
                    Ok(_) => sweep.closed += 1,
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(sweep)
    }

    fn may_work(who: &Account, record: &Record) -> bool {
        who.role.can(crate::domain::Permission::WorkRecords) && Self::can_see(who, record)
    }

    /// Staff escalate a record by hand to a target (a department of the record's community).
    pub async fn escalate(
        &self,
        who: &Account,
        record: &Record,
        request: ManualEscalation<'_>,
        now: DateTime<Utc>,
    ) -> Result<Record, RecordError> {
        let ManualEscalation {
            expected_version,
            target,
            note,
            public,
        } = request;
        if !Self::may_work(who, record) {
            return Err(RecordError::Forbidden);
        }
        if let EscalationTarget::Department(id) = target {
            if !self
                .active_departments(record.community_id)
                .await?
                .contains(&id)
            {
                return Err(RecordError::UnknownTarget);
            }
        }
        let to = RecordAction::Escalate.apply(record.state, None)?;
        let note = super::records::paragraphs_of("note", note, 2000)?;
        let event = NewRecordEvent {
            actor: Actor {
                id: Some(who.id),
                name: who.display_name.clone(),
            },
            action: RecordAction::Escalate.as_str().to_owned(),
            from_state: Some(record.state),
            to_state: Some(to),
            note,
            public,
            published: false,
            assignee: None,
            rating: None,
        };
        let target = target.key();
        let escalation = NewEscalation {
            event: &event,
            target: &target,
            reason: "manual",
            overdue_minutes: None,
            alert: &[],
        };
        Ok(self
            .store
            .escalate_record(record.id, expected_version, &escalation, now)
            .await?)
    }

    /// Records that the joint meeting (or department) discussed an escalated
    /// record on `meeting`, with its decision: a new public event.
    pub async fn mark_discussed(
        &self,
        who: &Account,
        record: &Record,
        expected_version: i64,
        meeting: NaiveDate,
        decision: &str,
        now: DateTime<Utc>,
    ) -> Result<Record, RecordError> {
        if !Self::may_work(who, record) {
            return Err(RecordError::Forbidden);
        }
        let escalated = self
            .store
            .escalations(&[record.id])
            .await?
            .contains_key(&record.id);
        if !escalated || record.state.is_final() {
            return Err(RecordError::NotEscalated);
        }
        let decision = super::records::paragraphs_of("note", decision, 2000)?;
        let note = if decision.is_empty() {
            meeting.format("%Y-%m-%d").to_string()
        } else {
            format!("{}\n{decision}", meeting.format("%Y-%m-%d"))
        };
        let event = NewRecordEvent {
            actor: Actor {
                id: Some(who.id),
                name: who.display_name.clone(),
            },
            action: DISCUSSED.to_owned(),
            from_state: None,
            to_state: None,
            note,
            public: true,
            published: false,
            assignee: None,
            rating: None,
        };
        Ok(self
            .store
            .append_record_event(record.id, expected_version, &event, now)
            .await?)
    }
}

/// The event action of "discussed at the meeting".
pub const DISCUSSED: &str = "discussed";

/// Runs `sweep` every `every` until the process ends.
pub async fn watch(records: &Records, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match records.sweep(Utc::now()).await {
            Ok(s) if s != Sweep::default() => {
                tracing::info!(
                    escalated = s.escalated,
                    alerts = s.alerts,
                    closed = s.closed,
                    "record sweep"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "record sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_junk_is_refused() {
        for target in [
            EscalationTarget::JointMeeting,
            EscalationTarget::Department(7),
        ] {
            assert_eq!(EscalationTarget::parse(&target.key()), Some(target));
        }
        for junk in ["", "department:", "department:x", "department:-1", "dept:1"] {
            assert_eq!(EscalationTarget::parse(junk), None, "{junk:?}");
        }
    }
}
