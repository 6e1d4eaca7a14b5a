//! Persistence. Callers see the `Store` traits and domain types only; which
//! database sits behind them is chosen from the URL at start-up.

#[cfg(test)]
mod contract;
pub mod copy;
pub mod emergency;
mod error;
mod feedback_settings;
pub mod geography;
mod ingest;
mod personal_data;
pub mod postgres;
mod record_photos;
mod record_reads;
mod rows;
pub mod signals;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::broadcast::{
    Broadcast, BroadcastDetails, BroadcastState, IngestProblem, ReplayState,
};
use crate::domain::chat::{
    ChatSettings, Comment, CommentKind, CommentState, HoldReason, QuestionStatus, Sanction,
    SanctionKind, StoredChatEvent,
};
use crate::domain::notice::{MediaFile, MediaKind, MediaState, Notice, NoticeDraft, NoticeState};
use crate::domain::record::{NewRecord, Record, RecordClass, RecordEvent, RecordState};
use crate::domain::screen::{Heartbeat, Orientation, Play, PlayRow, Screen, ScreenGroup};
use crate::domain::*;

pub use emergency::{EmergencyAck, EmergencyStore, NoticeStep};
pub use error::{StoreError, StoreResult};
pub use feedback_settings::{
    Department, EscalationRow, EscalationStore, NewEscalation, SlaSettingsStore, StaffAlert,
    StoredSlaPolicy,
};
pub use geography::{CapAlertRecord, CapFeed, CapNotice, CapStore, GeographyStore, NewCapAlert};
pub use ingest::{Claimed, IngestClaim, IngestHolder, IngestPhase, IngestStore};
pub use personal_data::{
    PersonalData, PersonalDataStore, PersonalRecord, PersonalVote, ReadMark, SessionFacts,
};
pub use postgres::PgStore;
pub use record_photos::{NewRecordPhoto, RecordPhoto, RecordPhotoStore};
pub use record_reads::{RecordReadStore, RecordUpdate, FILING_SEQ};
pub use signals::{AccountChanges, SignalReceiver, Signals, Topic};
pub use sqlite::SqliteStore;

/// Timestamps are stored as fixed-width UTC text, on both backends, so that
/// they sort and compare as text.
fn ts(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The database was too busy to take a write, even after waiting and
/// retrying: the caller may try again later with the same input.
pub fn is_busy(error: &StoreError) -> bool {
    matches!(error, StoreError::Busy)
}

/// Runs a write again while the database is busy, a few times, with a short
/// pause: the transaction it ran in was rolled back, so nothing is doubled.
/// (PostgreSQL also reports a deadlock between writers as busy.)
async fn retry_busy<T, F, Fut>(mut write: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = StoreResult<T>>,
{
    let mut attempt = 0;
    loop {
        match write().await {
            Err(e) if is_busy(&e) && attempt < 3 => {
                attempt += 1;
                tracing::warn!(attempt, "database busy; retrying a write");
                tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
            }
            other => return other,
        }
    }
}

/// Opens the store named by `url` and brings its schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<Arc<dyn Store>> {
    connect_with(url, std::time::Duration::from_secs(10)).await
}

/// The same; a change waits up to `busy_timeout` for others before it is
/// refused as `StoreError::Busy`.
pub async fn connect_with(
    url: &str,
    busy_timeout: std::time::Duration,
) -> anyhow::Result<Arc<dyn Store>> {
    use anyhow::Context;
    let opening = || format!("cannot open the database {}", without_password(url));
    if url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::open_with(url, busy_timeout)
                .await
                .with_context(opening)?,
        ))
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        Ok(Arc::new(
            PgStore::open_with(url, busy_timeout)
                .await
                .with_context(opening)?,
        ))
    } else {
        anyhow::bail!("unknown database URL scheme in {url:?}; expected sqlite: or postgres:")
    }
}

/// `url` fit for a log or an error message: any password replaced by `***`.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user = user_info
                .split_once(':')
                .map_or(user_info, |(user, _)| user);
            let hidden = if user_info.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{path}")
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        use super::without_password as hide;
        assert_eq!(
            hide("postgres://pav:s3cret@db.example:5432/pavilion"),
            "postgres://pav:***@db.example:5432/pavilion"
        );
        assert_eq!(
            hide("postgres://pav@db/pavilion"),
            "postgres://pav@db/pavilion"
        );
        assert_eq!(hide("sqlite:///srv/p.sqlite"), "sqlite:///srv/p.sqlite");
        assert_eq!(hide("sqlite://data/p.sqlite"), "sqlite://data/p.sqlite");
    }
}

/// Everything Pavilion persists.
pub trait Store:
    DirectoryStore
    + AccountStore
    + AuditStore
    + RecordStore
    + ApiKeyStore
    + BroadcastStore
    + SignageStore
    + ChatStore
    + SlaSettingsStore
    + EscalationStore
    + DisclosureStore
    + EmergencyStore
    + RecordPhotoStore
    + RecordReadStore
    + PersonalDataStore
    + IngestStore
    + HealthStore
    + SignalStore
    + GeographyStore
    + CapStore
{
}
impl<T> Store for T where
    T: DirectoryStore
        + AccountStore
        + AuditStore
        + RecordStore
        + ApiKeyStore
        + BroadcastStore
        + SignageStore
        + ChatStore
        + SlaSettingsStore
        + EscalationStore
        + DisclosureStore
        + EmergencyStore
        + RecordPhotoStore
        + RecordReadStore
        + PersonalDataStore
        + IngestStore
        + HealthStore
        + SignalStore
        + GeographyStore
        + CapStore
{
}

/// Whether the database answers, for `/healthz`.
#[async_trait]
pub trait HealthStore: Send + Sync + 'static {
    /// Succeeds once the database has answered a query that reads it.
    async fn ping(&self) -> StoreResult<()>;
}

/// The bus that tells the nodes sharing this database that something
/// changed (see [`signals`]): in-process on SQLite, `LISTEN`/`NOTIFY` on
/// PostgreSQL.
pub trait SignalStore: Send + Sync + 'static {
    fn signals(&self) -> &Signals;
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DirectoryCounts {
    pub communities: i64,
    pub estates: i64,
    pub buildings: i64,
    pub units: i64,
    pub accounts: i64,
    pub residents: i64,
}

/// Communities, estates, buildings, units and their registration codes.
#[async_trait]
pub trait DirectoryStore: Send + Sync + 'static {
    async fn list_communities(&self) -> StoreResult<Vec<Community>>;
    async fn community(&self, id: CommunityId) -> StoreResult<Community>;
    async fn create_community(
        &self,
        actor: &Actor,
        name: &PlaceName,
        code: &CommunityCode,
    ) -> StoreResult<Community>;
    async fn rename_community(
        &self,
        actor: &Actor,
        id: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<Community>;

    async fn list_estates(&self, community: CommunityId) -> StoreResult<Vec<Estate>>;
    async fn estate(&self, id: EstateId) -> StoreResult<Estate>;
    async fn create_estate(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<Estate>;
    async fn rename_estate(
        &self,
        actor: &Actor,
        id: EstateId,
        name: &PlaceName,
    ) -> StoreResult<Estate>;

    async fn list_buildings(&self, estate: EstateId) -> StoreResult<Vec<Building>>;
    async fn building(&self, id: BuildingId) -> StoreResult<Building>;
    async fn create_building(
        &self,
        actor: &Actor,
        estate: EstateId,
        name: &PlaceName,
    ) -> StoreResult<Building>;
    async fn rename_building(
        &self,
        actor: &Actor,
        id: BuildingId,
        name: &PlaceName,
    ) -> StoreResult<Building>;

    async fn list_units(&self, building: BuildingId) -> StoreResult<Vec<Unit>>;
    async fn unit(&self, id: UnitId) -> StoreResult<Unit>;
    /// Adds the units that do not exist yet; returns how many were added.
    async fn add_units(
        &self,
        actor: &Actor,
        building: BuildingId,
        labels: &[UnitLabel],
    ) -> StoreResult<usize>;

    async fn directory_counts(&self) -> StoreResult<DirectoryCounts>;

    /// Each unit of the building with its active code, if it has one.
    async fn codes_for_building(
        &self,
        building: BuildingId,
    ) -> StoreResult<Vec<(Unit, Option<RegistrationCode>)>>;
    /// Gives every unit of the building that has no active code a new one; returns how many.
    async fn issue_missing_codes(
        &self,
        actor: &Actor,
        building: BuildingId,
        new_code: &mut (dyn FnMut() -> String + Send),
    ) -> StoreResult<usize>;
    /// Revokes the unit's active code (if any) and issues `code` in its place.
    async fn reissue_code(
        &self,
        actor: &Actor,
        unit: UnitId,
        code: &str,
    ) -> StoreResult<RegistrationCode>;
    async fn revoke_code(
        &self,
        actor: &Actor,
        id: RegistrationCodeId,
    ) -> StoreResult<RegistrationCode>;
    /// The unit a code (active or revoked) was issued for.
    async fn code_unit(&self, id: RegistrationCodeId) -> StoreResult<UnitId>;
}

#[derive(Debug, Clone)]
pub struct Session {
    pub account_id: AccountId,
    pub csrf_token: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct AccountFilter {
    pub role: Option<Role>,
    pub search: Option<String>,
    /// Only accounts whose scope lies inside this one.
    pub within: Scope,
}

/// Every account: for the server's own work, never for a viewer's list.
impl Default for AccountFilter {
    fn default() -> Self {
        Self {
            role: None,
            search: None,
            within: Scope::Installation,
        }
    }
}

#[derive(Debug, Clone)]
pub struct AccountChange {
    pub display_name: DisplayName,
    pub role: Role,
    pub community_id: Option<CommunityId>,
    pub estate_id: Option<EstateId>,
    pub disabled: bool,
}

/// Accounts, sessions, the one-time setup link and resident registration.
#[async_trait]
pub trait AccountStore: SignalStore {
    async fn create_account(&self, actor: &Actor, new: NewAccount) -> StoreResult<Account>;
    async fn account(&self, id: AccountId) -> StoreResult<Account>;
    /// The account and its password hash, for logging in.
    async fn credentials(&self, username: &Username) -> StoreResult<Option<(Account, String)>>;
    async fn list_accounts(&self, filter: &AccountFilter) -> StoreResult<Vec<Account>>;
    async fn update_account(
        &self,
        actor: &Actor,
        id: AccountId,
        change: &AccountChange,
    ) -> StoreResult<Account>;
    async fn set_password(
        &self,
        actor: &Actor,
        id: AccountId,
        password_hash: &str,
    ) -> StoreResult<()>;
    async fn set_locale(&self, id: AccountId, locale: &str) -> StoreResult<()>;
    async fn count_admins(&self) -> StoreResult<i64>;

    async fn create_session(&self, token_hash: &str, session: &Session) -> StoreResult<()>;
    /// The live session and its (enabled) account; expired sessions are removed.
    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Session, Account)>>;
    async fn delete_session(&self, token_hash: &str) -> StoreResult<()>;
    /// Every account whose sessions, role, place, disabled flag or password
    /// changed, told once the change is stored, by whichever node made it
    /// (stores publish `Topic::Accounts` with the id after the commit). A
    /// listener that lags must treat it as "any account may have changed".
    /// Listeners still re-check a session before acting on it: a notice is
    /// a prompt, not the proof.
    fn account_changes(&self) -> AccountChanges {
        AccountChanges::new(self.signals().subscribe(Topic::Accounts))
    }

    /// Replaces any earlier setup token: only the newest printed link works.
    async fn replace_setup_token(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn setup_token_valid(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<bool>;
    /// Creates the first admin if the token is valid and no admin exists yet.
    async fn complete_setup(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        admin: NewAccount,
    ) -> StoreResult<Account>;

    /// Creates a resident account tied to the unit of an active registration code.
    async fn register_resident(
        &self,
        code: &str,
        username: Username,
        display_name: DisplayName,
        password_hash: String,
    ) -> StoreResult<Account>;
}

#[async_trait]
pub trait AuditStore: Send + Sync + 'static {
    async fn audit_log(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>>;
    /// Distinct action names, for the filter form.
    async fn audit_actions(&self) -> StoreResult<Vec<String>>;
}

/// Which records a queue shows.
#[derive(Debug, Clone, Default)]
pub struct RecordFilter {
    pub community: Option<CommunityId>,
    pub estate: Option<EstateId>,
    pub states: Vec<RecordState>,
    pub class: Option<RecordClass>,
    pub category: Option<String>,
    pub reporter: Option<AccountId>,
    /// Only these record numbers (empty: any).
    pub numbers: Vec<String>,
    /// Filed at or after.
    pub since: Option<DateTime<Utc>>,
    /// Filed before.
    pub until: Option<DateTime<Utc>>,
    /// Whose hands the record is in now (the current assignee).
    pub assignee: Option<AssigneeFilter>,
    /// Only records with an id below this one (the next page, newest first).
    pub before: Option<RecordId>,
    /// Oldest first instead of newest first (ignored for a period).
    pub oldest_first: bool,
    pub limit: i64,
}

/// Records assigned to someone in particular, or to no one yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    Named(String),
    Nobody,
}

/// An event to append, already checked against the lifecycle by the caller.
#[derive(Debug, Clone)]
pub struct NewRecordEvent {
    pub actor: Actor,
    pub action: String,
    pub from_state: Option<RecordState>,
    pub to_state: Option<RecordState>,
    pub note: String,
    /// Shown to the resident.
    pub public: bool,
    /// A staff reply written for publication (see `RecordEvent::published`).
    pub published: bool,
    pub assignee: Option<String>,
    pub rating: Option<u8>,
}

/// Feedback records and their append-only events.
#[async_trait]
pub trait RecordStore: Send + Sync + 'static {
    /// Files a record with its first event (`submitted`) and a fresh number.
    async fn create_record(
        &self,
        actor: &Actor,
        new: &NewRecord,
        at: DateTime<Utc>,
    ) -> StoreResult<Record>;
    async fn record(&self, id: RecordId) -> StoreResult<Record>;
    async fn record_by_tracking(&self, tracking_hash: &str) -> StoreResult<Record>;
    async fn record_events(&self, id: RecordId) -> StoreResult<Vec<RecordEvent>>;
    /// Appends an event if the record is still at `expected_version`;
    /// `StoreError::Conflict` if someone else changed it first.
    async fn append_record_event(
        &self,
        id: RecordId,
        expected_version: i64,
        event: &NewRecordEvent,
        at: DateTime<Utc>,
    ) -> StoreResult<Record>;
    async fn list_records(&self, filter: &RecordFilter) -> StoreResult<Vec<Record>>;
    /// The current assignees of open records in the filter's community or
    /// estate, in name order (for the queue's "assigned to" filter).
    async fn open_record_assignees(&self, filter: &RecordFilter) -> StoreResult<Vec<String>>;
    /// The state changes of several records at once, oldest first, for SLA figures.
    async fn state_changes(
        &self,
        ids: &[RecordId],
    ) -> StoreResult<std::collections::HashMap<RecordId, Vec<crate::feedback::sla::StateChange>>>;
    /// Every event of these records, in record and sequence order (for exports).
    async fn events_of(&self, ids: &[RecordId]) -> StoreResult<Vec<(RecordId, RecordEvent)>>;
    /// The residents' latest 1–5 rating of each of these records that has one.
    async fn ratings(
        &self,
        ids: &[RecordId],
    ) -> StoreResult<std::collections::HashMap<RecordId, u8>>;
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The community its records may be filed into; `None`: any.
    pub community_id: Option<CommunityId>,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// The part of the installation the key files into, as an account's scope.
    pub fn scope(&self) -> Scope {
        Scope::of(self.community_id, None)
    }
}

/// Open311 API keys, issued and revoked by admins (audited).
#[async_trait]
pub trait ApiKeyStore: Send + Sync + 'static {
    async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        key_hash: &str,
        community_id: Option<CommunityId>,
    ) -> StoreResult<ApiKey>;
    async fn revoke_api_key(&self, actor: &Actor, id: i64) -> StoreResult<ApiKey>;
    /// The keys whose scope lies inside `within`, newest first.
    async fn list_api_keys(&self, within: Scope) -> StoreResult<Vec<ApiKey>>;
    async fn api_key_by_id(&self, id: i64) -> StoreResult<ApiKey>;
    /// The active key with this fingerprint, if any.
    async fn api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
}

/// Which broadcasts a list shows, newest start first unless `upcoming_first`.
#[derive(Debug, Clone, Default)]
pub struct BroadcastFilter {
    pub community: Option<CommunityId>,
    /// Empty: any state.
    pub states: Vec<BroadcastState>,
    /// Empty: any replay state.
    pub replays: Vec<ReplayState>,
    /// Soonest start first (schedules) instead of newest first (archives).
    pub upcoming_first: bool,
    pub limit: i64,
}

/// Broadcasts: scheduling by staff (audited), life-cycle changes by the
/// ingest server (audited as the system).
#[async_trait]
pub trait BroadcastStore: Send + Sync + 'static {
    async fn create_broadcast(
        &self,
        actor: &Actor,
        owner: AccountId,
        details: &BroadcastDetails,
        stream_key: &str,
    ) -> StoreResult<Broadcast>;
    async fn update_broadcast(
        &self,
        actor: &Actor,
        id: BroadcastId,
        details: &BroadcastDetails,
    ) -> StoreResult<Broadcast>;
    async fn broadcast(&self, id: BroadcastId) -> StoreResult<Broadcast>;
    async fn broadcast_by_key(&self, stream_key: &str) -> StoreResult<Option<Broadcast>>;
    async fn list_broadcasts(&self, filter: &BroadcastFilter) -> StoreResult<Vec<Broadcast>>;
    /// Replaces the key; the old one stops working at once.
    async fn rotate_stream_key(
        &self,
        actor: &Actor,
        id: BroadcastId,
        stream_key: &str,
    ) -> StoreResult<Broadcast>;
    /// Moves the broadcast to `to` if it is still in one of `from`;
    /// `StoreError::Rejected` otherwise (someone else moved it first).
    async fn set_broadcast_state(
        &self,
        actor: &Actor,
        id: BroadcastId,
        from: &[BroadcastState],
        to: BroadcastState,
        at: DateTime<Utc>,
    ) -> StoreResult<Broadcast>;
    async fn set_replay(
        &self,
        actor: &Actor,
        id: BroadcastId,
        replay: ReplayState,
        millis: Option<i64>,
    ) -> StoreResult<Broadcast>;
    async fn set_recording_error(&self, id: BroadcastId, error: &str) -> StoreResult<Broadcast>;
    /// Records why the last encoder was turned away for what it sent (at
    /// `at`), or clears it (`None`).
    async fn set_ingest_problem(
        &self,
        id: BroadcastId,
        problem: Option<&IngestProblem>,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
}

/// A file being added to the media library.
#[derive(Debug, Clone)]
pub struct NewMedia {
    pub community_id: CommunityId,
    pub kind: MediaKind,
    pub state: MediaState,
    pub original_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_millis: Option<i64>,
    pub uploaded_by: AccountId,
}

/// What processing found out about a file, once it is done.
#[derive(Debug, Clone)]
pub struct MediaOutcome {
    pub state: MediaState,
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_millis: Option<i64>,
    pub error: Option<String>,
}

/// Which notices a list shows, most recently changed first.
#[derive(Debug, Clone, Default)]
pub struct NoticeFilter {
    pub community: Option<CommunityId>,
    /// Empty: any state.
    pub states: Vec<NoticeState>,
    /// Only these (empty: any).
    pub ids: Vec<NoticeId>,
    pub limit: i64,
}

/// A workflow step: the notice must be at `revision` (when given) and in one
/// of `from`, or the step is refused (someone else changed it first).
#[derive(Debug, Clone)]
pub struct NoticeTransition<'a> {
    pub from: &'a [NoticeState],
    pub to: NoticeState,
    pub revision: Option<i64>,
    /// The rejection reason, kept with a rejected notice.
    pub reason: Option<&'a str>,
    /// The audit action, e.g. `notice.approve`.
    pub action: &'static str,
}

/// Where a screen hangs and how it is named; set when it is paired or moved.
#[derive(Debug, Clone)]
pub struct ScreenSetup {
    pub name: String,
    pub building_id: BuildingId,
    pub group_id: Option<ScreenGroupId>,
    pub orientation: Orientation,
}

/// What a pairing secret currently unlocks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingStatus {
    /// Shown on the screen, not yet claimed by an admin.
    Waiting { code: String },
    /// Claimed: the screen's token, handed out once.
    Paired { token: String },
    /// Expired, already picked up, or never issued.
    Gone,
}

/// Which proof-of-play rows an export holds.
#[derive(Debug, Clone, Default)]
pub struct PlayFilter {
    pub community: Option<CommunityId>,
    pub notice: Option<NoticeId>,
    pub screen: Option<ScreenId>,
    /// Started at or after.
    pub since: Option<DateTime<Utc>>,
    /// Started before.
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
}

/// What became of a screen's report of plays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordedPlays {
    /// New plays stored.
    pub added: usize,
    /// Plays not stored: unknown notice, or too close to another play.
    /// (Plays stored already are neither.)
    pub refused: usize,
}

/// Lobby notice boards: media, notices and their workflow (audited), screens
/// and what they report.
#[async_trait]
pub trait SignageStore: Send + Sync + 'static {
    async fn create_media(&self, actor: &Actor, new: &NewMedia) -> StoreResult<MediaFile>;
    async fn finish_media(&self, id: MediaId, outcome: &MediaOutcome) -> StoreResult<MediaFile>;
    async fn media(&self, id: MediaId) -> StoreResult<MediaFile>;
    async fn list_media(&self, community: CommunityId, limit: i64) -> StoreResult<Vec<MediaFile>>;
    /// Videos a previous run left half-processed.
    async fn unfinished_media(&self) -> StoreResult<Vec<MediaFile>>;

    /// Stores a new notice in `state` (draft or pending).
    async fn create_notice(
        &self,
        actor: &Actor,
        author: AccountId,
        draft: &NoticeDraft,
        state: NoticeState,
    ) -> StoreResult<Notice>;
    /// Replaces the content of a notice still at `revision`, moving it to
    /// `state`; `StoreError::Conflict` when someone else changed it first.
    async fn update_notice(
        &self,
        actor: &Actor,
        id: NoticeId,
        revision: i64,
        draft: &NoticeDraft,
        state: NoticeState,
    ) -> StoreResult<Notice>;
    /// `StoreError::Rejected` when the notice is not in one of `from`;
    /// `StoreError::Conflict` when it is not at the expected revision.
    async fn transition_notice(
        &self,
        actor: &Actor,
        id: NoticeId,
        step: &NoticeTransition<'_>,
    ) -> StoreResult<Notice>;
    async fn notice(&self, id: NoticeId) -> StoreResult<Notice>;
    async fn list_notices(&self, filter: &NoticeFilter) -> StoreResult<Vec<Notice>>;
    /// A value that changes whenever any notice is created or changed: a
    /// cheap check, made every few seconds, that no change was missed (a
    /// node killed before it could tell the others).
    async fn notices_marker(&self) -> StoreResult<String>;
    /// Published notices of the community whose validity has not ended, as
    /// screens get them: a video whose processing failed is left out.
    async fn current_notices(
        &self,
        community: CommunityId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Notice>>;

    async fn create_pairing(
        &self,
        code: &str,
        secret_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// What the screen polling with this secret gets; a token is handed out once.
    async fn take_pairing(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<PairingStatus>;
    /// Creates the screen for an unexpired, unclaimed code; `NotFound` otherwise.
    async fn claim_pairing(
        &self,
        actor: &Actor,
        code: &str,
        setup: &ScreenSetup,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Screen>;
    /// The active (not revoked) screen holding this token.
    async fn screen_by_token(&self, token_hash: &str) -> StoreResult<Option<Screen>>;
    async fn screen(&self, id: ScreenId) -> StoreResult<Screen>;
    async fn list_screens(&self, community: Option<CommunityId>) -> StoreResult<Vec<Screen>>;
    async fn update_screen(
        &self,
        actor: &Actor,
        id: ScreenId,
        setup: &ScreenSetup,
    ) -> StoreResult<Screen>;
    async fn revoke_screen(&self, actor: &Actor, id: ScreenId) -> StoreResult<Screen>;
    async fn record_heartbeat(
        &self,
        id: ScreenId,
        heartbeat: &Heartbeat,
        at: DateTime<Utc>,
    ) -> StoreResult<()>;
    /// Stores the plays not stored yet, except those of unknown notices and
    /// those starting within `min_gap` of another play of the screen.
    async fn record_plays(
        &self,
        id: ScreenId,
        plays: &[Play],
        min_gap: chrono::Duration,
    ) -> StoreResult<RecordedPlays>;
    async fn plays(&self, filter: &PlayFilter) -> StoreResult<Vec<PlayRow>>;

    async fn list_screen_groups(&self, community: CommunityId) -> StoreResult<Vec<ScreenGroup>>;
    async fn create_screen_group(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<ScreenGroup>;
}

/// A comment to store, already cleaned, filtered and named.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub broadcast_id: BroadcastId,
    pub community_id: CommunityId,
    pub author_id: AccountId,
    pub client_id: String,
    pub kind: CommentKind,
    pub public_name: String,
    pub anonymous: bool,
    pub body: String,
    pub original_body: Option<String>,
    /// Matching key for duplicate detection.
    pub dup_key: String,
    pub hold_reasons: Vec<HoldReason>,
    pub state: CommentState,
    pub at: DateTime<Utc>,
    /// Slow mode: when the author's previous comment in the broadcast is
    /// younger than this at `at`, nothing is stored and the post is refused
    /// with [`StoreError::TooSoon`]. Checked under the broadcast's write
    /// lock, so two posts sent at once through two nodes cannot both pass.
    pub slow_mode: Option<std::time::Duration>,
}

impl NewComment {
    /// How long the author must still wait, given when their previous
    /// comment in the broadcast was made (slow mode; see `slow_mode`).
    pub(crate) fn slow_mode_wait(
        &self,
        previous: Option<DateTime<Utc>>,
    ) -> Option<std::time::Duration> {
        let gap = self.slow_mode.filter(|gap| !gap.is_zero())?;
        // A clock a little ahead on another node counts as "just now".
        let since = (self.at - previous?).to_std().unwrap_or_default();
        (since < gap).then(|| gap - since)
    }
}

/// What one chat change did: every comment it changed (before, after) and
/// the public events appended for it, in sequence order.
#[derive(Debug, Clone, Default)]
pub struct ChatChange {
    pub comments: Vec<(Option<Comment>, Comment)>,
    pub events: Vec<StoredChatEvent>,
}

impl ChatChange {
    /// The comment this change was about (the last one changed).
    pub fn comment(&self) -> Option<&Comment> {
        self.comments.last().map(|(_, after)| after)
    }
}

/// A posted comment: `created` is false when the author's client had
/// already posted it (same client id) and the stored one is returned.
#[derive(Debug, Clone)]
pub struct PostedComment {
    pub comment: Comment,
    pub created: bool,
    pub events: Vec<StoredChatEvent>,
}

/// A moderator's decision on one comment. Approve and reject need the
/// comment still held, hide needs it shown: a comment someone else decided
/// first gives `StoreError::Conflict`.
#[derive(Debug, Clone, Copy)]
pub enum Moderation<'a> {
    Approve,
    Reject {
        reason: Option<&'a str>,
    },
    /// Replaces the shown text, keeping the text as typed.
    Redact {
        body: &'a str,
    },
    Hide,
}

/// The secretary's step on a question; `StoreError::Conflict` when the
/// question is no longer where the step starts from.
#[derive(Debug, Clone, Copy)]
pub enum AnswerStep<'a> {
    /// Open → answering (any other answering question goes back to open).
    Now { offset_ms: Option<i64> },
    /// Open or answering → answered, with an optional written answer.
    Answered { answer: Option<&'a str> },
    /// Answering or answered → open.
    Restore,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CommentOrder {
    #[default]
    Oldest,
    Newest,
    /// Most votes first, then oldest.
    Votes,
}

/// Which comments of a broadcast a list shows.
#[derive(Debug, Clone)]
pub struct CommentFilter {
    pub broadcast: BroadcastId,
    /// Empty: any state.
    pub states: Vec<CommentState>,
    pub kind: Option<CommentKind>,
    /// Empty: any status.
    pub statuses: Vec<QuestionStatus>,
    pub author: Option<AccountId>,
    /// Leave out comments merged into another.
    pub unmerged_only: bool,
    pub order: CommentOrder,
    pub limit: i64,
}

impl CommentFilter {
    pub fn of(broadcast: BroadcastId) -> Self {
        Self {
            broadcast,
            states: Vec::new(),
            kind: None,
            statuses: Vec::new(),
            author: None,
            unmerged_only: false,
            order: CommentOrder::Oldest,
            limit: 500,
        }
    }
}

/// What the chat needs to know about an author: the public name rule's
/// facts and, for staff, where they live.
#[derive(Debug, Clone)]
pub struct ChatAuthor {
    pub id: AccountId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub estate_id: Option<EstateId>,
    pub estate: Option<String>,
    pub building_id: Option<BuildingId>,
    pub building: Option<String>,
    pub unit_label: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewSanction {
    pub community_id: CommunityId,
    pub account_id: AccountId,
    pub kind: SanctionKind,
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
    pub broadcast_id: Option<BroadcastId>,
    pub at: DateTime<Utc>,
}

/// What a viewer joining gets, read in one transaction so that it is
/// exactly the state after event `seq`.
#[derive(Debug, Clone, Default)]
pub struct ChatSnapshotRows {
    pub seq: i64,
    /// The newest shown comments, oldest first.
    pub recent: Vec<Comment>,
    /// Shown questions, most votes first.
    pub questions: Vec<Comment>,
    pub answering: Option<CommentId>,
}

/// Live Q&A: comments, votes, the moderation queue (audited), sanctions and
/// the public event log. Every change that viewers must see appends its
/// events in the same transaction, numbered per broadcast.
#[async_trait]
pub trait ChatStore: Send + Sync + 'static {
    /// The broadcast's settings (the defaults if never changed).
    async fn chat_settings(&self, broadcast: BroadcastId) -> StoreResult<ChatSettings>;
    async fn set_chat_settings(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        settings: &ChatSettings,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;
    /// The community's blocked words, in the order they were entered.
    async fn blocked_words(&self, community: CommunityId) -> StoreResult<Vec<String>>;
    async fn set_blocked_words(
        &self,
        actor: &Actor,
        community: CommunityId,
        words: &[String],
    ) -> StoreResult<Vec<String>>;

    /// Authors of comments (missing accounts are left out).
    async fn chat_authors(&self, accounts: &[AccountId]) -> StoreResult<Vec<ChatAuthor>>;

    /// Stores a comment, or returns the one this author already posted with
    /// the same client id (`created` false, nothing appended).
    async fn post_comment(&self, new: &NewComment) -> StoreResult<PostedComment>;
    async fn comment(&self, id: CommentId) -> StoreResult<Comment>;
    async fn comment_by_client_id(
        &self,
        author: AccountId,
        broadcast: BroadcastId,
        client_id: &str,
    ) -> StoreResult<Option<Comment>>;
    async fn comments(&self, filter: &CommentFilter) -> StoreResult<Vec<Comment>>;
    /// Author and time of each comment of the broadcast with this duplicate
    /// key posted at or after `since`.
    async fn same_text_posts(
        &self,
        broadcast: BroadcastId,
        dup_key: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(AccountId, DateTime<Utc>)>>;

    async fn moderate_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        step: Moderation<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;
    /// Hides `duplicate` as merged into `into` (an open question of the same
    /// broadcast) and gives `into` the union of both questions' voters.
    async fn merge_comments(
        &self,
        actor: &Actor,
        duplicate: CommentId,
        into: CommentId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;
    /// Hides every held or shown comment of `author` in the broadcast.
    async fn hide_comments_of(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        author: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;

    /// Adds (`up`) or withdraws a vote. `Rejected("not votable")` unless the
    /// comment is a shown, unmerged question; `Rejected("own question")` for
    /// its author. Voting twice changes nothing.
    async fn vote(
        &self,
        voter: AccountId,
        comment: CommentId,
        up: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;
    /// The comments of the broadcast this account voted for.
    async fn votes_of(
        &self,
        voter: AccountId,
        broadcast: BroadcastId,
    ) -> StoreResult<Vec<CommentId>>;

    async fn answer_question(
        &self,
        actor: &Actor,
        id: CommentId,
        step: AnswerStep<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange>;
    /// The shown questions being answered now in these broadcasts.
    async fn answering_questions(&self, broadcasts: &[BroadcastId]) -> StoreResult<Vec<Comment>>;

    /// Links the question to the record made from it; `Conflict` if it already has one.
    async fn link_record(
        &self,
        actor: &Actor,
        id: CommentId,
        record: RecordId,
    ) -> StoreResult<Comment>;
    async fn comment_of_record(&self, record: RecordId) -> StoreResult<Option<Comment>>;

    async fn add_sanction(&self, actor: &Actor, new: &NewSanction) -> StoreResult<Sanction>;
    /// Lifts every active sanction of the account in the community; returns how many.
    async fn lift_sanctions(
        &self,
        actor: &Actor,
        community: CommunityId,
        account: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<usize>;
    /// The sanction keeping the account from posting now: a ban first, else
    /// the time-out that ends last.
    async fn active_sanction(
        &self,
        community: CommunityId,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Sanction>>;

    /// Public events after `after_seq`, in order, at most `limit`.
    async fn chat_events_after(
        &self,
        broadcast: BroadcastId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredChatEvent>>;
    async fn chat_snapshot(
        &self,
        broadcast: BroadcastId,
        recent: i64,
        questions: i64,
    ) -> StoreResult<ChatSnapshotRows>;
}

/// What the public figures need of one record, and nothing more: its class
/// and category, when it was filed, its state changes in order and its rating.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordFacts {
    pub id: RecordId,
    pub community_id: CommunityId,
    pub class: RecordClass,
    pub category: String,
    pub created_at: DateTime<Utc>,
    pub changes: Vec<crate::feedback::sla::StateChange>,
    /// The resident's last 1–5 rating, if any.
    pub rating: Option<u8>,
}

/// How far an estate-month's facts have grown. `record_facts` is append-only,
/// so the same version means the same facts, and the same figures: a cheap
/// check (one range count on the facts' key) before reusing figures worked
/// out earlier, valid across nodes since it asks the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FactsVersion {
    /// Rows of facts (state changes and ratings) of the estate-month's records.
    pub rows: i64,
    /// When the latest of them happened.
    pub latest: Option<DateTime<Utc>>,
}

/// The records behind the public disclosure (阳光公示).
#[async_trait]
pub trait DisclosureStore: Send + Sync + 'static {
    /// The version of what `record_facts` would read for the same range.
    async fn facts_version(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<FactsVersion>;

    /// Every record of the estate filed in `[since, until)`, however many,
    /// oldest first, in one lean read.
    async fn record_facts(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<RecordFacts>>;
}
