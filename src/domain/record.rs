//! Feedback records (诉求记录): the lifecycle from DESIGN.md as a state machine.
//! A record's state is never stored on its own: it is the `to` of its last
//! event, and every change is a new event.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, BuildingId, CommunityId, EstateId, RecordId};

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
    /// Shown to the resident on their timeline and in public disclosure.
    pub public: bool,
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
    pub description: String,
    pub location: String,
    pub source: RecordSource,
    pub reporter_id: Option<AccountId>,
    /// Fingerprint of the private tracking link's token.
    pub tracking_hash: String,
    /// The local calendar year that goes into the record number.
    pub filed_year: i32,
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
