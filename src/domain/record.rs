//! Feedback records (诉求记录): the lifecycle from DESIGN.md as a state machine.
//! A record's state is never stored on its own: it is the `to` of its last
//! event, and every change is a new event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::geo::LatLon;
use super::ids::{AccountId, BuildingId, CommunityId, EstateId, RecordId};
use super::personal_data::mask_personal_data;

/// Where a record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    Submitted,
    Accepted,
    Dispatched,
    OnSite,
    /// A complex case with a written plan attached.
    Planned,
    /// Waiting for the resident; the SLA clock is paused.
    WaitingOnResident,
    /// Sent to the joint meeting (红色物业联席会议) or a named department; still worked on.
    Escalated,
    Resolved,
    Closed,
    Duplicate,
    NotResponsible,
    Withdrawn,
}

impl RecordState {
    pub const ALL: [RecordState; 12] = [
        RecordState::Submitted,
        RecordState::Accepted,
        RecordState::Dispatched,
        RecordState::OnSite,
        RecordState::Planned,
        RecordState::WaitingOnResident,
        RecordState::Escalated,
        RecordState::Resolved,
        RecordState::Closed,
        RecordState::Duplicate,
        RecordState::NotResponsible,
        RecordState::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Submitted => "submitted",
            RecordState::Accepted => "accepted",
            RecordState::Dispatched => "dispatched",
            RecordState::OnSite => "on_site",
            RecordState::Planned => "planned",
            RecordState::WaitingOnResident => "waiting_on_resident",
            RecordState::Escalated => "escalated",
            RecordState::Resolved => "resolved",
            RecordState::Closed => "closed",
            RecordState::Duplicate => "duplicate",
            RecordState::NotResponsible => "not_responsible",
            RecordState::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// No further change is possible (a closed record is corrected only by a new record).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RecordState::Closed
                | RecordState::Duplicate
                | RecordState::NotResponsible
                | RecordState::Withdrawn
        )
    }

    /// Staff are still working on it.
    pub fn is_open(self) -> bool {
        !self.is_final() && self != RecordState::Resolved
    }
}

/// The "5431" response classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordClass {
    /// Staff on site within 5 minutes.
    Urgent,
    /// Solved within 4 hours.
    Major,
    /// Solved within 30 minutes.
    General,
    /// A written plan within 1 day.
    Complex,
}

impl RecordClass {
    pub const ALL: [RecordClass; 4] = [
        RecordClass::Urgent,
        RecordClass::Major,
        RecordClass::General,
        RecordClass::Complex,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordClass::Urgent => "urgent",
            RecordClass::Major => "major",
            RecordClass::General => "general",
            RecordClass::Complex => "complex",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|class| class.as_str() == s)
    }

    /// Entering this state meets the class's promise and stops its clock.
    pub fn target_state(self) -> RecordState {
        match self {
            RecordClass::Urgent => RecordState::OnSite,
            RecordClass::Major | RecordClass::General => RecordState::Resolved,
            RecordClass::Complex => RecordState::Planned,
        }
    }
}

/// Something a person does to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordAction {
    Accept,
    Dispatch,
    ArriveOnSite,
    AttachPlan,
    WaitForResident,
    /// Work goes on after waiting for the resident.
    Resume,
    Escalate,
    Resolve,
    /// The resident confirms the fix (with a rating), or the 7-day window passes.
    Close,
    /// The resident says it is not fixed, within 7 days of the resolution.
    Reopen,
    MarkDuplicate,
    MarkNotResponsible,
    Withdraw,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{action:?} is not possible while the record is {from:?}")]
pub struct IllegalTransition {
    pub from: RecordState,
    pub action: RecordAction,
}

impl RecordAction {
    pub const ALL: [RecordAction; 13] = [
        RecordAction::Accept,
        RecordAction::Dispatch,
        RecordAction::ArriveOnSite,
        RecordAction::AttachPlan,
        RecordAction::WaitForResident,
        RecordAction::Resume,
        RecordAction::Escalate,
        RecordAction::Resolve,
        RecordAction::Close,
        RecordAction::Reopen,
        RecordAction::MarkDuplicate,
        RecordAction::MarkNotResponsible,
        RecordAction::Withdraw,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RecordAction::Accept => "accept",
            RecordAction::Dispatch => "dispatch",
            RecordAction::ArriveOnSite => "arrive_on_site",
            RecordAction::AttachPlan => "attach_plan",
            RecordAction::WaitForResident => "wait_for_resident",
            RecordAction::Resume => "resume",
            RecordAction::Escalate => "escalate",
            RecordAction::Resolve => "resolve",
            RecordAction::Close => "close",
            RecordAction::Reopen => "reopen",
            RecordAction::MarkDuplicate => "mark_duplicate",
            RecordAction::MarkNotResponsible => "mark_not_responsible",
            RecordAction::Withdraw => "withdraw",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The state this action leads to from `from`. `resume_to` is the state the
    /// record was in before it started waiting on the resident.
    pub fn apply(
        self,
        from: RecordState,
        resume_to: Option<RecordState>,
    ) -> Result<RecordState, IllegalTransition> {
        use RecordAction as A;
        use RecordState as S;
        let illegal = Err(IllegalTransition { from, action: self });
        let working = matches!(
            from,
            S::Accepted | S::Dispatched | S::OnSite | S::Planned | S::Escalated
        );
        let to = match self {
            A::Accept if from == S::Submitted => S::Accepted,
            A::Dispatch if working && from != S::OnSite => S::Dispatched,
            A::ArriveOnSite if working => S::OnSite,
            A::AttachPlan if working => S::Planned,
            A::WaitForResident if working => S::WaitingOnResident,
            A::Resume if from == S::WaitingOnResident => {
                resume_to.filter(|s| s.is_open()).unwrap_or(S::Accepted)
            }
            A::Escalate if working || from == S::Submitted || from == S::WaitingOnResident => {
                S::Escalated
            }
            A::Resolve if working => S::Resolved,
            A::Close if from == S::Resolved => S::Closed,
            A::Reopen if from == S::Resolved => S::Accepted,
            A::MarkDuplicate | A::MarkNotResponsible if from == S::Submitted || working => {
                if self == A::MarkDuplicate {
                    S::Duplicate
                } else {
                    S::NotResponsible
                }
            }
            A::Withdraw if from.is_open() => S::Withdrawn,
            _ => return illegal,
        };
        if to == from {
            return illegal;
        }
        Ok(to)
    }

    /// Actions a resident may take on their own record; everything else is staff work.
    pub fn is_residents(self) -> bool {
        matches!(
            self,
            RecordAction::Close
                | RecordAction::Reopen
                | RecordAction::Withdraw
                | RecordAction::Resume
        )
    }
}

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordSource {
    /// The resident web form.
    Web,
    /// The form opened from a lobby screen's QR code.
    ScreenQr,
    /// Staff typing in a phone call.
    Phone,
    /// A question from a live broadcast.
    LiveQuestion,
    /// Filed through the Open311 API.
    Open311,
}

impl RecordSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordSource::Web => "web",
            RecordSource::ScreenQr => "screen_qr",
            RecordSource::Phone => "phone",
            RecordSource::LiveQuestion => "live_question",
            RecordSource::Open311 => "open311",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Web,
            Self::ScreenQr,
            Self::Phone,
            Self::LiveQuestion,
            Self::Open311,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// The short human number of a record, e.g. `XF-2026-000123`.
pub fn record_number(community_code: &str, year: i32, serial: i64) -> String {
    format!("{community_code}-{year}-{serial:06}")
}

/// A record as filed. It never changes; what happens to it are its events.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Record {
    pub id: RecordId,
    pub number: String,
    pub community_id: CommunityId,
    pub estate_id: EstateId,
    pub building_id: Option<BuildingId>,
    pub category: String,
    pub class: RecordClass,
    pub title: String,
    /// The filing form told the resident that the title is shown publicly
    /// (masked); without it, public outputs show a title made from the
    /// category and the place instead.
    pub title_public: bool,
    pub description: String,
    pub location: String,
    pub source: RecordSource,
    #[serde(skip)]
    pub reporter_id: Option<AccountId>,
    pub created_at: DateTime<Utc>,
    /// Derived from the events: the `to` of the last state change.
    pub state: RecordState,
    /// Derived from the events: how many there are (the version for concurrent edits).
    pub version: i64,
    pub assignee: Option<String>,
    /// Where it was reported, if its filer gave coordinates (Open311).
    #[serde(skip)]
    pub point: Option<LatLon>,
}

impl Record {
    /// Where the record lives, for scope checks.
    pub fn place(&self) -> crate::domain::scope::Place {
        crate::domain::scope::Place::estate(self.community_id, self.estate_id)
    }
}

/// Something that happened to a record: a state change, a note, an assignment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RecordEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_name: String,
    #[serde(skip)]
    pub actor_id: Option<AccountId>,
    pub action: String,
    pub from_state: Option<RecordState>,
    pub to_state: Option<RecordState>,
    pub note: String,
    /// Shown to the resident on their timeline (never to anyone else: see
    /// `published`).
    pub public: bool,
    /// A staff reply written for publication: its note (masked) is shown to
    /// everyone, in Open311 and on the public view of the record. Residents'
    /// own notes are never published.
    pub published: bool,
    /// The resident's 1–5 satisfaction rating, on the closing event.
    pub rating: Option<u8>,
    /// Who the record was handed to with this event, if anyone.
    pub assignee: Option<String>,
}

/// A new record, checked.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub estate_id: EstateId,
    pub building_id: Option<BuildingId>,
    pub category: String,
    pub class: RecordClass,
    pub title: String,
    /// The filing form told the resident that the title is shown publicly.
    pub title_public: bool,
    pub description: String,
    pub location: String,
    pub source: RecordSource,
    pub reporter_id: Option<AccountId>,
    /// Fingerprint of the private tracking link's token.
    pub tracking_hash: String,
    /// The local calendar year that goes into the record number.
    pub filed_year: i32,
    /// Where it was reported, if its filer gave coordinates.
    pub point: Option<LatLon>,
}

/// A change to append to a record's history.
#[derive(Debug, Clone)]
pub struct RecordChange {
    /// The version the person saw; the change is refused if the record has moved on.
    pub expected_version: i64,
    pub action: Option<RecordAction>,
    pub note: String,
    pub public: bool,
    pub assignee: Option<String>,
}

/// What anyone may read of a record: Open311, the record's page in the hands
/// of someone other than its reporter. Every public output is made from this
/// and from nothing else of the record.
///
/// - The title, masked, only if the filing form told the resident it is
///   shown publicly; otherwise `None`, and outputs show a neutral title made
///   from the category and the place.
/// - Never the description, the location, who acted, nor any note of the
///   resident or internal note of staff.
/// - The steps: every change of state, and the staff replies written for
///   publication (`published`), their text masked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicRecord {
    pub id: RecordId,
    pub number: String,
    pub estate_id: EstateId,
    pub building_id: Option<BuildingId>,
    pub category: String,
    pub class: RecordClass,
    pub state: RecordState,
    pub title: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The last change of any kind (also one not shown).
    pub updated_at: DateTime<Utc>,
    pub steps: Vec<PublicStep>,
    /// Where it was reported: only for Open311 filings, which the standard
    /// publishes with the point their client sent (other records have none).
    pub point: Option<LatLon>,
}

/// One public step of a record: a change of state, a published staff reply, or both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicStep {
    pub at: DateTime<Utc>,
    pub to_state: Option<RecordState>,
    /// A staff reply written for publication, masked.
    pub reply: Option<String>,
}

impl PublicRecord {
    /// The public view of `record` with its `events` (oldest first).
    pub fn of(record: &Record, events: &[RecordEvent]) -> Self {
        let steps = events
            .iter()
            .filter_map(|e| {
                let reply = (e.published
                    && e.actor_id.is_some()
                    && e.actor_id != record.reporter_id
                    && !e.note.trim().is_empty())
                .then(|| mask_personal_data(&e.note).text);
                (e.to_state.is_some() || reply.is_some()).then_some(PublicStep {
                    at: e.at,
                    to_state: e.to_state,
                    reply,
                })
            })
            .collect();
        Self {
            id: record.id,
            number: record.number.clone(),
            estate_id: record.estate_id,
            building_id: record.building_id,
            category: record.category.clone(),
            class: record.class,
            state: record.state,
            title: record
                .title_public
                .then(|| mask_personal_data(&record.title).text),
            created_at: record.created_at,
            updated_at: events.last().map_or(record.created_at, |e| e.at),
            steps,
            point: record
                .point
                .filter(|_| record.source == RecordSource::Open311),
        }
    }

    /// The latest staff reply written for publication, masked.
    pub fn latest_reply(&self) -> Option<&str> {
        self.steps.iter().rev().find_map(|s| s.reply.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordAction as A;
    use RecordState as S;

    #[test]
    fn the_usual_path_reaches_closed() {
        let mut state = S::Submitted;
        for action in [
            A::Accept,
            A::Dispatch,
            A::ArriveOnSite,
            A::Resolve,
            A::Close,
        ] {
            state = action.apply(state, None).unwrap();
        }
        assert_eq!(state, S::Closed);
    }

    #[test]
    fn final_states_accept_nothing() {
        for state in RecordState::ALL.into_iter().filter(|s| s.is_final()) {
            for action in RecordAction::ALL {
                assert!(
                    action.apply(state, None).is_err(),
                    "{action:?} from {state:?}"
                );
            }
        }
    }

    #[test]
    fn illegal_steps_are_refused() {
        assert!(
            A::Resolve.apply(S::Submitted, None).is_err(),
            "must be accepted first"
        );
        assert!(
            A::Close.apply(S::OnSite, None).is_err(),
            "must be resolved first"
        );
        assert!(A::Reopen.apply(S::Closed, None).is_err());
        assert!(
            A::ArriveOnSite.apply(S::WaitingOnResident, None).is_err(),
            "resume first"
        );
        assert!(A::Accept.apply(S::Accepted, None).is_err());
    }

    #[test]
    fn waiting_resumes_where_it_left_off() {
        let waiting = A::WaitForResident.apply(S::OnSite, None).unwrap();
        assert_eq!(waiting, S::WaitingOnResident);
        assert_eq!(
            A::Resume.apply(waiting, Some(S::OnSite)).unwrap(),
            S::OnSite
        );
        assert_eq!(A::Resume.apply(waiting, None).unwrap(), S::Accepted);
    }

    #[test]
    fn reopening_goes_back_to_work() {
        assert_eq!(A::Reopen.apply(S::Resolved, None).unwrap(), S::Accepted);
    }

    fn filed(title_public: bool) -> Record {
        Record {
            id: RecordId(1),
            number: "XF-2026-000001".into(),
            community_id: CommunityId(1),
            estate_id: EstateId(1),
            building_id: Some(BuildingId(3)),
            category: "repairs".into(),
            class: RecordClass::General,
            title: "3-502门口灯坏了 电话13912345678".into(),
            title_public,
            description: "我是王小明，住3-502".into(),
            location: "3-502门口".into(),
            source: RecordSource::Web,
            reporter_id: Some(AccountId(7)),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            state: S::Accepted,
            version: 4,
            assignee: None,
            point: None,
        }
    }

    fn event(seq: i64, actor: i64, note: &str, to: Option<RecordState>) -> RecordEvent {
        RecordEvent {
            seq,
            at: DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(seq),
            actor_name: format!("account {actor}"),
            actor_id: Some(AccountId(actor)),
            action: if to.is_some() { "accept" } else { "note" }.into(),
            from_state: None,
            to_state: to,
            note: note.into(),
            public: true,
            published: false,
            rating: None,
            assignee: None,
        }
    }

    #[test]
    fn the_public_view_has_state_changes_and_published_staff_replies_only() {
        let record = filed(false);
        let events = [
            event(1, 7, "", Some(S::Submitted)),
            // The resident's own note, even if something marked it published.
            RecordEvent {
                published: true,
                ..event(2, 7, "我的电话13912345678 住3-502 王小明", None)
            },
            // An internal staff note.
            RecordEvent {
                public: false,
                ..event(3, 2, "住户王小明身份证11010519491231002X", None)
            },
            // A reply to the resident only, with a state change.
            event(4, 2, "王先生您好，明天上午去3-502", Some(S::Accepted)),
            // A reply written for publication.
            RecordEvent {
                published: true,
                ..event(5, 2, "师傅明早到3-502，有事请打13812345678", None)
            },
        ];
        let public = PublicRecord::of(&record, &events);
        assert_eq!(
            public.title, None,
            "the form did not say the title is public"
        );
        assert_eq!(
            public.steps,
            [
                PublicStep {
                    at: events[0].at,
                    to_state: Some(S::Submitted),
                    reply: None
                },
                PublicStep {
                    at: events[3].at,
                    to_state: Some(S::Accepted),
                    reply: None
                },
                PublicStep {
                    at: events[4].at,
                    to_state: None,
                    reply: Some("师傅明早到3-***，有事请打138****5678".into())
                },
            ]
        );
        assert_eq!(
            public.latest_reply(),
            Some("师傅明早到3-***，有事请打138****5678")
        );
        assert_eq!(public.updated_at, events[4].at);
        let shown = serde_json::to_string(&public).unwrap();
        for secret in ["13912345678", "502", "王", "11010519491231002X"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
    }

    #[test]
    fn a_title_the_resident_was_told_is_public_is_shown_masked() {
        let public = PublicRecord::of(&filed(true), &[]);
        assert_eq!(
            public.title.as_deref(),
            Some("3-***门口灯坏了 电话139****5678")
        );
        assert_eq!(public.updated_at, public.created_at);
    }

    #[test]
    fn names_round_trip() {
        for s in RecordState::ALL {
            assert_eq!(RecordState::parse(s.as_str()), Some(s));
        }
        for a in RecordAction::ALL {
            assert_eq!(RecordAction::parse(a.as_str()), Some(a));
        }
        for c in RecordClass::ALL {
            assert_eq!(RecordClass::parse(c.as_str()), Some(c));
        }
    }
}
