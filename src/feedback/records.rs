//! Filing records and moving them through their lifecycle, with the checks
//! that decide who may do what. Every change becomes an event.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, Utc};

use crate::accounts::tokens;
use crate::domain::record::{
    IllegalTransition, NewRecord, Record, RecordAction, RecordClass, RecordEvent, RecordSource,
    RecordState,
};
use crate::domain::text::{clean_line, clean_paragraphs, TextError};
use crate::domain::{Account, Actor, BuildingId, CommunityId, EstateId, Permission, Role};
use crate::feedback::sla::{SettingsError, SlaSettings, SlaStatus, StateChange};
use crate::store::{NewRecordEvent, Store, StoreError};

pub use crate::feedback::escalation::{watch, Sweep};

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
    #[error("bad SLA settings: {0}")]
    BadSettings(#[from] SettingsError),
    #[error("the record is not escalated")]
    NotEscalated,
    #[error("no such escalation target")]
    UnknownTarget,
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
            RecordError::BadSettings(error) => error.message_key(),
            RecordError::NotEscalated => "escalation.error.not_escalated",
            RecordError::UnknownTarget => "escalation.error.unknown_target",
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
    /// The form told the filer that the title is shown publicly (masked).
    pub title_public: bool,
    pub description: String,
    pub location: String,
    pub source: RecordSource,
    /// Where it was reported, if the filer gave coordinates (Open311).
    pub point: Option<crate::domain::geo::LatLon>,
}

/// A change someone asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub expected_version: i64,
    pub action: Option<RecordAction>,
    pub note: String,
    /// Staff may keep a note internal; resident actions are always public.
    pub public: bool,
    /// Staff write the note for publication: shown to everyone, masked
    /// (see [`crate::domain::record::PublicRecord`]). Only staff may.
    pub published: bool,
    pub assignee: Option<String>,
    /// 1–5, only when a resident closes the record.
    pub rating: Option<u8>,
}

pub struct Records {
    pub(super) store: Arc<dyn Store>,
    time_zone: chrono_tz::Tz,
    pub(super) disclosures: super::disclosure::DisclosureCache,
}

fn text(field: &'static str, raw: &str, min: usize, max: usize) -> Result<String, RecordError> {
    clean_line(raw, min, max).map_err(|error| RecordError::BadText { field, error })
}

/// Optional multi-line text (a note): empty stays empty.
pub(super) fn paragraphs_of(
    field: &'static str,
    raw: &str,
    max: usize,
) -> Result<String, RecordError> {
    if raw.trim().is_empty() {
        Ok(String::new())
    } else {
        paragraphs(field, raw, max)
    }
}

/// Multi-line text: each line checked, blank lines kept to at most one.
fn paragraphs(field: &'static str, raw: &str, max: usize) -> Result<String, RecordError> {
    clean_paragraphs(raw, max).map_err(|error| RecordError::BadText { field, error })
}

impl Records {
    pub fn new(store: Arc<dyn Store>, time_zone: chrono_tz::Tz) -> Self {
        Self {
            store,
            time_zone,
            disclosures: Default::default(),
        }
    }

    /// Files a record; returns it with the private tracking token (shown once, as a link).
    pub async fn file(
        &self,
        by: &Actor,
        reporter: Option<&Account>,
        filing: Filing,
        now: DateTime<Utc>,
    ) -> Result<(Record, String), RecordError> {
        let (new, token) = self.checked_filing(reporter, filing, now).await?;
        let record = self.store.create_record(by, &new, now).await?;
        Ok((record, token))
    }

    /// The record a filing makes, checked, and its new tracking token.
    pub(super) async fn checked_filing(
        &self,
        reporter: Option<&Account>,
        filing: Filing,
        now: DateTime<Utc>,
    ) -> Result<(NewRecord, String), RecordError> {
        let token = tokens::random_token();
        // A category's configured class replaces its built-in one; a class the
        // filer chose on purpose (another than the built-in) is kept.
        let community = self.store.estate(filing.estate_id).await?.community_id;
        let settings = self.settings_at(community, now).await?;
        let class = match crate::feedback::category_class(&filing.category) {
            Some(default) if default == filing.class => {
                settings.class_for(&filing.category, default)
            }
            _ => filing.class,
        };
        let new = NewRecord {
            estate_id: filing.estate_id,
            building_id: filing.building_id,
            category: text("category", &filing.category, 1, 40)?,
            class,
            title: text("title", &filing.title, 2, 60)?,
            title_public: filing.title_public,
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
            point: filing.point,
        };
        Ok((new, token))
    }

    /// The record behind a tracking link, if the token is genuine.
    pub async fn by_tracking_token(&self, token: &str) -> Result<Record, RecordError> {
        Ok(self
            .store
            .record_by_tracking(&tokens::fingerprint(token))
            .await?)
    }

    /// Whether a tracking link shows `viewer` all the reporter sees, or only
    /// the public view ([`crate::domain::record::PublicRecord`]): a link can
    /// be forwarded, so its holder is taken for the reporter only when the
    /// reporter has no account (a phone call, an Open311 request); a
    /// resident's record shows everything to that resident, signed in, alone.
    pub fn tracking_link_shows_all(viewer: Option<&Account>, record: &Record) -> bool {
        match record.reporter_id {
            None => true,
            Some(reporter) => viewer.is_some_and(|v| v.id == reporter),
        }
    }

    /// May `who` change this record as staff (act, note, assign)? Checked
    /// again by every change; handlers ask first, before costly work such
    /// as decoding photos.
    pub fn may_act_as_staff(who: &Account, record: &Record) -> bool {
        who.may(Permission::WorkRecords, record.place())
    }

    /// May `viewer` see this record at all?
    pub fn can_see(viewer: &Account, record: &Record) -> bool {
        match viewer.role {
            Role::Resident => record.reporter_id == Some(viewer.id),
            // Observers watch one estate; one tied to none sees nothing.
            Role::Observer if viewer.estate_id.is_none() => false,
            _ => viewer.may(Permission::ReadRecords, record.place()),
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
        let event = self.checked_change(who, record, &request, now).await?;
        Ok(self
            .store
            .append_record_event(record.id, request.expected_version, &event, now)
            .await?)
    }

    /// The event `request` by `who` makes, checked against the lifecycle and
    /// against what `who` may do.
    pub(super) async fn checked_change(
        &self,
        who: &Account,
        record: &Record,
        request: &Request,
        now: DateTime<Utc>,
    ) -> Result<NewRecordEvent, RecordError> {
        let is_reporter = record.reporter_id == Some(who.id);
        let is_staff = Self::may_act_as_staff(who, record);
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
        // Residents' own words are never published.
        if request.published && !is_staff {
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
            public: request.public || request.published || !is_staff,
            published: request.published,
            assignee,
            rating: match request.rating {
                Some(r @ 1..=5) if request.action == Some(RecordAction::Close) && is_reporter => {
                    Some(r)
                }
                Some(_) => return Err(RecordError::BadRating),
                None => None,
            },
        };
        Ok(event)
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

pub(super) fn within_reopen_window(events: &[RecordEvent], now: DateTime<Utc>) -> bool {
    events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(RecordState::Resolved))
        .is_some_and(|e| now - e.at <= Duration::days(REOPEN_WINDOW_DAYS))
}

/// The SLA settings in force for records of some communities, every saved
/// version of each: a record is judged by the version in force when it was
/// filed (the 5431 defaults on a 24×7 clock before any was saved).
#[derive(Debug, Clone, Default)]
pub struct SlaBook {
    versions: HashMap<CommunityId, Vec<(DateTime<Utc>, SlaSettings)>>,
    default: SlaSettings,
}

impl SlaBook {
    /// The settings in force in `community` at `at`.
    pub fn settings_at(&self, community: CommunityId, at: DateTime<Utc>) -> &SlaSettings {
        self.versions
            .get(&community)
            .and_then(|versions| versions.iter().rev().find(|(since, _)| *since <= at))
            .map_or(&self.default, |(_, settings)| settings)
    }

    /// The settings a record is judged by.
    pub fn settings_of(&self, record: &Record) -> &SlaSettings {
        self.settings_at(record.community_id, record.created_at)
    }

    /// The record's SLA at `now`.
    pub fn status(
        &self,
        record: &Record,
        changes: &[StateChange],
        now: DateTime<Utc>,
    ) -> SlaStatus {
        self.settings_of(record)
            .evaluate(record.class, &record.category, changes, now)
    }

    fn knows(&self, community: CommunityId) -> bool {
        self.versions.contains_key(&community)
    }
}

impl Records {
    /// Loads the saved settings of these communities into `book` (those not loaded yet).
    pub async fn load_sla_settings(
        &self,
        book: &mut SlaBook,
        communities: impl IntoIterator<Item = CommunityId>,
    ) -> Result<(), RecordError> {
        for community in communities {
            if book.knows(community) {
                continue;
            }
            let mut versions = Vec::new();
            for stored in self.store.sla_policies(community).await? {
                match serde_json::from_value::<SlaSettings>(stored.settings) {
                    Ok(settings) => versions.push((stored.created_at, settings)),
                    // Never expected (saved settings were checked); fall back to the defaults.
                    Err(e) => {
                        tracing::error!(policy = stored.id, error = %e, "unreadable SLA settings")
                    }
                }
            }
            book.versions.insert(community, versions);
        }
        Ok(())
    }

    /// The settings book for these communities.
    pub async fn sla_book(
        &self,
        communities: impl IntoIterator<Item = CommunityId>,
    ) -> Result<SlaBook, RecordError> {
        let mut book = SlaBook::default();
        self.load_sla_settings(&mut book, communities).await?;
        Ok(book)
    }

    /// Each record with its SLA at `now`, judged under its own community's
    /// settings in force when it was filed (one read of the state changes
    /// and settings for all of them).
    pub async fn judge(
        &self,
        records: Vec<Record>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Record, SlaStatus)>, RecordError> {
        let ids: Vec<_> = records.iter().map(|r| r.id).collect();
        let changes = self.store.state_changes(&ids).await?;
        let book = self
            .sla_book(records.iter().map(|r| r.community_id))
            .await?;
        Ok(records
            .into_iter()
            .map(|r| {
                let history = changes.get(&r.id).map_or(&[][..], Vec::as_slice);
                let sla = book.status(&r, history, now);
                (r, sla)
            })
            .collect())
    }

    /// The SLA of one record at `now`, under the settings in force when it was filed.
    pub async fn sla_of(
        &self,
        record: &Record,
        changes: &[StateChange],
        now: DateTime<Utc>,
    ) -> Result<SlaStatus, RecordError> {
        Ok(self
            .sla_book([record.community_id])
            .await?
            .status(record, changes, now))
    }

    /// The community's settings in force at `at`.
    pub async fn settings_at(
        &self,
        community: CommunityId,
        at: DateTime<Utc>,
    ) -> Result<SlaSettings, RecordError> {
        Ok(self
            .sla_book([community])
            .await?
            .settings_at(community, at)
            .clone())
    }

    /// Saves a new version of the community's settings (audited). Records
    /// filed from `now` on are judged by it; earlier ones keep theirs.
    pub async fn save_settings(
        &self,
        actor: &Actor,
        community: CommunityId,
        settings: &SlaSettings,
        now: DateTime<Utc>,
    ) -> Result<(), RecordError> {
        settings.check()?;
        let document = serde_json::to_value(settings)
            .map_err(|e| RecordError::Store(StoreError::Corrupt(e.to_string())))?;
        self.store
            .add_sla_policy(actor, community, &document, now)
            .await?;
        Ok(())
    }
}
