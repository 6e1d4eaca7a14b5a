//! Filing records and moving them through their lifecycle, with the checks
//! that decide who may do what. Every change becomes an event.

use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::accounts::tokens;
use crate::domain::record::{
    IllegalTransition, NewRecord, Record, RecordAction, RecordClass, RecordEvent, RecordSource,
    RecordState,
};
use crate::domain::text::{clean_line, clean_paragraphs, TextError};
use crate::domain::{Account, Actor, BuildingId, EstateId, Role};
use crate::store::{NewRecordEvent, Store, StoreError};

/// How long a resident may reopen a resolved record.
pub const REOPEN_WINDOW_DAYS: i64 = 7;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("{0}")]
    Illegal(#[from] IllegalTransition),
    #[error("not allowed")]
    Forbidden,
    #[error("the reopen window has passed")]
    ReopenWindowPassed,
    #[error("a rating is 1 to 5, given by the resident when closing")]
    BadRating,
    #[error("changed by someone else first")]
    ChangedMeanwhile,
    #[error("bad text in {field}: {error}")]
    BadText {
        field: &'static str,
        error: TextError,
    },
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => RecordError::ChangedMeanwhile,
            e => RecordError::Store(e),
        }
    }
}

impl RecordError {
    pub fn message_key(&self) -> &'static str {
        match self {
            RecordError::Illegal(_) => "error.record.illegal",
            RecordError::Forbidden => "error.forbidden",
            RecordError::ReopenWindowPassed => "error.record.reopen_window",
            RecordError::ChangedMeanwhile => "error.record.changed_meanwhile",
            RecordError::BadRating => "error.record.bad_rating",
            RecordError::BadText { error, .. } => error.message_key(),
            RecordError::Store(_) => "error.internal",
        }
    }
}

/// What a person filed, as typed.
#[derive(Debug, Clone)]
pub struct Filing {
    pub estate_id: EstateId,
    pub building_id: Option<BuildingId>,
    pub category: String,
    pub class: RecordClass,
    pub title: String,
    pub description: String,
    pub location: String,
    pub source: RecordSource,
}

/// A change someone asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub expected_version: i64,
    pub action: Option<RecordAction>,
    pub note: String,
    /// Staff may keep a note internal; resident actions are always public.
    pub public: bool,
    pub assignee: Option<String>,
    /// 1–5, only when a resident closes the record.
    pub rating: Option<u8>,
}

pub struct Records {
    store: Arc<dyn Store>,
    time_zone: chrono_tz::Tz,
}

fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, RecordError> {
    clean_line(raw, min, max).map_err(|error| RecordError::BadText { field, error })
}

/// Multi-line text: each line checked, blank lines kept to at most one.
fn paragraphs(field: &'static str, raw: &str, max: usize) -> Result<String, RecordError> {
    clean_paragraphs(raw, max).map_err(|error| RecordError::BadText { field, error })
}

impl Records {
    pub fn new(store: Arc<dyn Store>, time_zone: chrono_tz::Tz) -> Self {
        Self { store, time_zone }
    }

    /// Files a record; returns it with the private tracking token (shown once, as a link).
    pub async fn file(
        &self,
        by: &Actor,
        reporter: Option<&Account>,
        filing: Filing,
        now: DateTime<Utc>,
    ) -> Result<(Record, String), RecordError> {
        let token = tokens::random_token();
        let new = NewRecord {
            estate_id: filing.estate_id,
            building_id: filing.building_id,
            category: text("category", &filing.category, 1, 40)?,
            class: filing.class,
            title: text("title", &filing.title, 2, 60)?,
            description: paragraphs("description", &filing.description, 2000)?,
            location: if filing.location.trim().is_empty() {
                String::new()
            } else {
                text("location", &filing.location, 1, 80)?
            },
            source: filing.source,
            reporter_id: reporter.map(|a| a.id),
            tracking_hash: tokens::fingerprint(&token),
            filed_year: now.with_timezone(&self.time_zone).year(),
        };
        let record = self.store.create_record(by, &new, now).await?;
        Ok((record, token))
    }

    /// The record behind a tracking link, if the token is genuine.
    pub async fn by_tracking_token(&self, token: &str) -> Result<Record, RecordError> {
        Ok(self
            .store
            .record_by_tracking(&tokens::fingerprint(token))
            .await?)
    }

    /// May `viewer` see this record at all?
    pub fn can_see(viewer: &Account, record: &Record) -> bool {
        match viewer.role {
            Role::Admin | Role::Secretary | Role::Moderator | Role::Staff => {
                viewer.community_id.is_none_or(|c| c == record.community_id)
            }
            Role::Observer => viewer.estate_id.is_some_and(|e| e == record.estate_id),
            Role::Resident => record.reporter_id == Some(viewer.id),
        }
    }

    /// Applies `request` by `who` (a signed-in account) to the record.
    pub async fn change(
        &self,
        who: &Account,
        record: &Record,
        request: Request,
        now: DateTime<Utc>,
    ) -> Result<Record, RecordError> {
        let is_reporter = record.reporter_id == Some(who.id);
        let is_staff = matches!(
            who.role,
            Role::Admin | Role::Secretary | Role::Moderator | Role::Staff
        ) && Self::can_see(who, record);
        let events = self.store.record_events(record.id).await?;
        let (from_state, to_state) = match request.action {
            None => (None, None),
            Some(action) => {
                let allowed = if action.is_residents() {
                    is_reporter || is_staff
                } else {
                    is_staff
                };
                if !allowed {
                    return Err(RecordError::Forbidden);
                }
                if action == RecordAction::Reopen
                    && !is_staff
                    && !within_reopen_window(&events, now)
                {
                    return Err(RecordError::ReopenWindowPassed);
                }
                let to = action.apply(record.state, state_before_waiting(&events))?;
                (Some(record.state), Some(to))
            }
        };
        if request.action.is_none() && !is_staff && !is_reporter {
            return Err(RecordError::Forbidden);
        }
        let note = if request.note.trim().is_empty() {
            String::new()
        } else {
            paragraphs("note", &request.note, 2000)?
        };
        let assignee = match request
            .assignee
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            Some(a) if is_staff => Some(text("assignee", a, 1, 40)?),
            Some(_) => return Err(RecordError::Forbidden),
            None => None,
        };
        let event = NewRecordEvent {
            actor: Actor {
                id: Some(who.id),
                name: who.display_name.clone(),
            },
            action: request
                .action
                .map_or("note", RecordAction::as_str)
                .to_owned(),
            from_state,
            to_state,
            note,
            public: request.public || !is_staff,
            assignee,
            rating: match request.rating {
                Some(r @ 1..=5) if request.action == Some(RecordAction::Close) && is_reporter => {
                    Some(r)
                }
                Some(_) => return Err(RecordError::BadRating),
                None => None,
            },
        };
        Ok(self
            .store
            .append_record_event(record.id, request.expected_version, &event, now)
            .await?)
    }
}

/// The state a waiting record returns to when work resumes.
fn state_before_waiting(events: &[RecordEvent]) -> Option<RecordState> {
    events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(RecordState::WaitingOnResident))
        .and_then(|e| e.from_state)
}

fn within_reopen_window(events: &[RecordEvent], now: DateTime<Utc>) -> bool {
    events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(RecordState::Resolved))
        .is_some_and(|e| now - e.at <= Duration::days(REOPEN_WINDOW_DAYS))
}

/// The record's SLA under the default "5431" policy on a 24×7 clock.
/// (Per-community and per-category policies and business calendars plug in here.)
pub fn sla_of(
    record: &Record,
    changes: &[crate::feedback::sla::StateChange],
    now: DateTime<Utc>,
) -> crate::feedback::sla::SlaStatus {
    use crate::feedback::sla::{evaluate, SlaClock, SlaPolicy};
    evaluate(
        record.class,
        &SlaPolicy::default(),
        &SlaClock::AllHours,
        changes,
        now,
    )
}

/// What one pass of the watcher did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sweep {
    /// Open records past their promise, escalated to the joint meeting agenda.
    pub escalated: usize,
    /// Resolved records closed because the resident did not answer within the reopen window.
    pub closed: usize,
}

impl Records {
    /// Escalates breached records and closes resolved ones whose reopen window has passed.
    /// A record someone changes at the same moment is left for the next pass.
    pub async fn sweep(&self, now: DateTime<Utc>) -> Result<Sweep, RecordError> {
        let system = Actor {
            id: None,
            name: "system".into(),
        };
        let mut sweep = Sweep::default();
        let working: Vec<RecordState> = RecordState::ALL
            .into_iter()
            .filter(|s| s.is_open() && *s != RecordState::Escalated)
            .collect();
        let candidates = self
            .store
            .list_records(&crate::store::RecordFilter {
                states: working,
                limit: 1000,
                ..Default::default()
            })
            .await?;
        let ids: Vec<_> = candidates.iter().map(|r| r.id).collect();
        let changes = self.store.state_changes(&ids).await?;
        for record in candidates {
            let history = changes.get(&record.id).map_or(&[][..], Vec::as_slice);
            let sla = sla_of(&record, history, now);
            if !sla.needs_escalation() {
                continue;
            }
            let overdue = (sla.used - sla.limit).num_minutes();
            let event = NewRecordEvent {
                actor: system.clone(),
                action: RecordAction::Escalate.as_str().to_owned(),
                from_state: Some(record.state),
                to_state: Some(RecordAction::Escalate.apply(record.state, None)?),
                note: format!("SLA {} +{overdue} min", record.class.as_str()),
                public: true,
                assignee: None,
                rating: None,
            };
            match self
                .store
                .append_record_event(record.id, record.version, &event, now)
                .await
            {
                Ok(_) => {
                    tracing::warn!(
                        record = record.number,
                        overdue_minutes = overdue,
                        "SLA breached: escalated"
                    );
                    sweep.escalated += 1;
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        let resolved = self
            .store
            .list_records(&crate::store::RecordFilter {
                states: vec![RecordState::Resolved],
                limit: 1000,
                ..Default::default()
            })
            .await?;
        for record in resolved {
            let events = self.store.record_events(record.id).await?;
            if within_reopen_window(&events, now) {
                continue;
            }
            let event = NewRecordEvent {
                actor: system.clone(),
                action: RecordAction::Close.as_str().to_owned(),
                from_state: Some(record.state),
                to_state: Some(RecordState::Closed),
                note: String::new(),
                public: true,
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
        Ok(sweep)
    }
}

/// Runs `sweep` every `every` until the process ends.
pub async fn watch(records: &Records, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        match records.sweep(Utc::now()).await {
            Ok(s) if s != Sweep::default() => {
                tracing::info!(escalated = s.escalated, closed = s.closed, "record sweep")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "record sweep failed"),
        }
    }
}
