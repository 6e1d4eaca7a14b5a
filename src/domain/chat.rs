//! Live Q&A: residents' comments and questions on a broadcast, why a comment
//! waits in the moderation queue, votes, answers, and the events viewers are
//! sent when something public changes.
//!
//! A comment is either chat or a question. Its `state` says who may see it
//! (only `Approved` is public); a question's `status` says where the
//! secretary is with it (open → answering → answered).

use std::ops::RangeInclusive;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{AccountId, BroadcastId, CommentId, CommunityId, RecordId};
use super::personal_data::mask_personal_data;
use super::role::Role;

/// Slow mode: the longest wait between one person's messages.
pub const SLOW_MODE_MAX_SECONDS: u32 = 300;
/// How long a moderator may time a resident out: 10 seconds to 24 hours.
pub const TIMEOUT_SECONDS: RangeInclusive<u32> = 10..=86_400;
/// Longest reason a moderator may give (rejection, time-out, ban).
pub const REASON_MAX: usize = 200;
/// Longest written answer the secretary may attach to a question.
pub const ANSWER_MAX: usize = 2000;
/// Longest client-chosen id of a post (for idempotent resending).
pub const CLIENT_ID_MAX: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentKind {
    Chat,
    Question,
}

impl CommentKind {
    pub const ALL: [Self; 2] = [Self::Chat, Self::Question];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Chat => "chat",
            Self::Question => "question",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Who may see a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommentState {
    /// Waiting in the moderation queue; only its author and staff see it.
    Held,
    /// Shown to everyone.
    Approved,
    /// Refused by a moderator; its author sees it with the reason.
    Rejected,
    /// Taken down after being shown (post-moderation, "hide all messages of
    /// a user", a merged duplicate).
    Hidden,
}

impl CommentState {
    pub const ALL: [Self; 4] = [Self::Held, Self::Approved, Self::Rejected, Self::Hidden];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Held => "held",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Hidden => "hidden",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// Where the secretary is with a question (meaningful once it is approved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionStatus {
    Open,
    /// Highlighted on every viewer's page and lobby screen; one at a time.
    Answering,
    Answered,
}

impl QuestionStatus {
    pub const ALL: [Self; 3] = [Self::Open, Self::Answering, Self::Answered];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Answering => "answering",
            Self::Answered => "answered",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

/// Why a comment sits in the queue, or what the filters found in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// Pre-moderation of its kind: every such comment is reviewed.
    Review,
    /// A word of the community's blocked list.
    BlockedWord,
    Link,
    /// The same author said the same thing in this broadcast recently.
    Duplicate,
    /// Personal data was masked. Recorded, but does not by itself hold a comment.
    PersonalData,
    /// Several people posted the same text within a minute (a coordinated flood).
    Flood,
}

impl HoldReason {
    pub const ALL: [Self; 6] = [
        Self::Review,
        Self::BlockedWord,
        Self::Link,
        Self::Duplicate,
        Self::PersonalData,
        Self::Flood,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Review => "review",
            Self::BlockedWord => "blocked_word",
            Self::Link => "link",
            Self::Duplicate => "duplicate",
            Self::PersonalData => "personal_data",
            Self::Flood => "flood",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Catalogue key of the reason shown to staff and to the author.
    pub fn message_key(self) -> &'static str {
        match self {
            Self::Review => "chat.reason.review",
            Self::BlockedWord => "chat.reason.blocked_word",
            Self::Link => "chat.reason.link",
            Self::Duplicate => "chat.reason.duplicate",
            Self::PersonalData => "chat.reason.personal_data",
            Self::Flood => "chat.reason.flood",
        }
    }

    /// Whether this reason alone keeps a comment out of public view.
    pub fn holds(self) -> bool {
        self != Self::PersonalData
    }
}

/// Comma-separated reasons, as stored.
pub fn reasons_to_text(reasons: &[HoldReason]) -> String {
    reasons
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The reasons of [`reasons_to_text`]; `None` if one is unknown.
pub fn reasons_from_text(text: &str) -> Option<Vec<HoldReason>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(HoldReason::parse)
        .collect()
}

/// How a broadcast's chat is moderated. One per broadcast; defaults until
/// staff change them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatSettings {
    /// Questions wait for a moderator before anyone else sees them.
    pub questions_premoderated: bool,
    /// Chat messages wait for a moderator (otherwise shown at once and
    /// taken down afterwards if need be).
    pub chat_premoderated: bool,
    /// Seconds between one person's messages; 0 = off, else 1..=300.
    pub slow_mode_seconds: u32,
    /// Posting allowed at all.
    pub open: bool,
}

impl Default for ChatSettings {
    fn default() -> Self {
        Self {
            questions_premoderated: true,
            chat_premoderated: false,
            slow_mode_seconds: 0,
            open: true,
        }
    }
}

impl ChatSettings {
    /// The settings if they are within bounds.
    pub fn checked(self) -> Option<Self> {
        (self.slow_mode_seconds <= SLOW_MODE_MAX_SECONDS).then_some(self)
    }

    pub fn premoderated(&self, kind: CommentKind) -> bool {
        match kind {
            CommentKind::Chat => self.chat_premoderated,
            CommentKind::Question => self.questions_premoderated,
        }
    }
}

/// A comment as staff see it. Never sent to the public as is: see
/// [`Comment::public`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Comment {
    pub id: CommentId,
    pub broadcast_id: BroadcastId,
    pub community_id: CommunityId,
    pub author_id: AccountId,
    /// The name shown to the public, fixed when the comment was posted.
    pub public_name: String,
    /// Hidden from the public, known to staff.
    pub anonymous: bool,
    pub kind: CommentKind,
    /// What is shown: personal data masked, or a moderator's redaction.
    pub body: String,
    /// The text as typed, when it differs from `body` (staff only).
    pub original_body: Option<String>,
    pub state: CommentState,
    pub hold_reasons: Vec<HoldReason>,
    pub status: QuestionStatus,
    pub votes: i64,
    pub merged_into: Option<CommentId>,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<AccountId>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reject_reason: Option<String>,
    /// The secretary's optional written answer.
    pub answer: Option<String>,
    pub answering_at: Option<DateTime<Utc>>,
    pub answered_at: Option<DateTime<Utc>>,
    /// Where in the recording the answer began, in milliseconds.
    pub answer_offset_ms: Option<i64>,
    /// The feedback record this question became.
    pub record_id: Option<RecordId>,
    /// Chosen by the author's client; the same id posted again returns this comment.
    pub client_id: String,
    /// Bumped by every change.
    pub revision: i64,
}

impl Comment {
    /// Visible to everyone: approved and not merged into another question.
    pub fn is_public(&self) -> bool {
        self.state == CommentState::Approved && self.merged_into.is_none()
    }

    /// An approved question that may be voted on, answered and merged into.
    pub fn is_open_question(&self) -> bool {
        self.kind == CommentKind::Question && self.is_public()
    }

    /// What anyone may see of it: never the author's account, unit or the
    /// text as typed.
    pub fn public(&self) -> PublicComment {
        PublicComment {
            id: self.id,
            kind: self.kind,
            name: self.public_name.clone(),
            anonymous: self.anonymous,
            body: masked(&self.body),
            at: self.created_at,
            votes: self.votes,
            status: self.status,
            answer: self.answer.as_deref().map(masked),
        }
    }

    /// What its author sees of it.
    pub fn mine(&self) -> MyComment {
        MyComment {
            id: self.id,
            client_id: self.client_id.clone(),
            kind: self.kind,
            body: self.body.clone(),
            anonymous: self.anonymous,
            state: self.state,
            reasons: self
                .hold_reasons
                .iter()
                .copied()
                .filter(|r| r.holds())
                .collect(),
            reject_reason: self.reject_reason.clone(),
            merged_into: self.merged_into,
            at: self.created_at,
            status: self.status,
            votes: self.votes,
        }
    }

    /// The replay chapter this question left, if it was answered.
    pub fn chapter(&self) -> Option<Chapter> {
        (self.kind == CommentKind::Question && self.status == QuestionStatus::Answered)
            .then_some(())
            .and(self.answer_offset_ms)
            .map(|offset_ms| Chapter {
                comment: self.id,
                offset_ms,
                question: masked(&self.body),
                answer: self.answer.as_deref().map(masked),
            })
    }
}

/// Text shown to everyone, masked once more as it leaves: the body was
/// masked when it was posted, but by the rules of that day (rooms were
/// masked later), and the secretary's answer is staff text for the public.
fn masked(text: &str) -> String {
    mask_personal_data(text).text
}

/// What anyone may see of a comment.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PublicComment {
    pub id: CommentId,
    pub kind: CommentKind,
    /// The public name: a nickname, "N号楼住户", or (anonymous) "匿名住户".
    pub name: String,
    /// Lets pages show the anonymous name in the reader's language.
    pub anonymous: bool,
    pub body: String,
    pub at: DateTime<Utc>,
    pub votes: i64,
    pub status: QuestionStatus,
    pub answer: Option<String>,
}

/// What the author sees of their own comment (held ones say why).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MyComment {
    pub id: CommentId,
    pub client_id: String,
    pub kind: CommentKind,
    pub body: String,
    pub anonymous: bool,
    pub state: CommentState,
    /// Why it is held (catalogue keys via [`HoldReason::message_key`]).
    pub reasons: Vec<HoldReason>,
    pub reject_reason: Option<String>,
    pub merged_into: Option<CommentId>,
    pub at: DateTime<Utc>,
    pub status: QuestionStatus,
    pub votes: i64,
}

/// A comment in the moderation queue or the console: the comment and who wrote it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffComment {
    #[serde(flatten)]
    pub comment: Comment,
    /// The author's account name (staff see who asked, also when anonymous).
    pub author_name: String,
    /// Estate, building and unit of the author, if they are a resident.
    pub author_place: Option<String>,
}

impl std::ops::Deref for StaffComment {
    type Target = Comment;

    fn deref(&self) -> &Comment {
        &self.comment
    }
}

/// An answered question as a replay chapter: the player seeks to `offset_ms`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chapter {
    pub comment: CommentId,
    pub offset_ms: i64,
    pub question: String,
    pub answer: Option<String>,
}

/// How the questions list is sorted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionOrder {
    /// Most votes first, then oldest first.
    #[default]
    Votes,
    /// Oldest first.
    Time,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SanctionKind {
    /// No posting until a moment (10 s to 24 h).
    Timeout,
    /// No posting in the community's broadcasts until lifted.
    Ban,
}

impl SanctionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Ban => "ban",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Timeout, Self::Ban]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A resident kept from posting in a community's broadcasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sanction {
    pub id: i64,
    pub community_id: CommunityId,
    pub account_id: AccountId,
    pub kind: SanctionKind,
    /// `None`: until lifted.
    pub until: Option<DateTime<Utc>>,
    pub reason: String,
    /// The broadcast where it was given.
    pub broadcast_id: Option<BroadcastId>,
    pub by: Option<AccountId>,
    pub at: DateTime<Utc>,
}

impl Sanction {
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.until.is_none_or(|until| until > now)
    }
}

/// A change everyone watching the broadcast is told about.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChatEvent {
    /// Became visible.
    Comment {
        comment: PublicComment,
    },
    /// Votes, status, redacted text or answer changed.
    Update {
        comment: PublicComment,
    },
    /// Taken down (hidden, merged).
    Remove {
        id: CommentId,
    },
    /// The question being answered now, or none.
    Answering {
        id: Option<CommentId>,
    },
    Settings {
        settings: ChatSettings,
    },
}

/// A public event as stored: `body` is the JSON text frame sent to viewers.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChatEvent {
    pub broadcast_id: BroadcastId,
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub body: String,
}

/// The text frame of a public event, serialised once for every viewer:
/// `{"type":"event","seq":N,"at":"…","event":{"kind":…}}`.
pub fn event_frame(seq: i64, at: DateTime<Utc>, event: &ChatEvent) -> String {
    #[derive(Serialize)]
    struct Frame<'a> {
        r#type: &'static str,
        seq: i64,
        at: DateTime<Utc>,
        event: &'a ChatEvent,
    }
    serde_json::to_string(&Frame {
        r#type: "event",
        seq,
        at,
        event,
    })
    .unwrap_or_default()
}

/// The public events a change of one comment causes, in the order viewers
/// should apply them.
pub fn events_for_change(before: Option<&Comment>, after: &Comment) -> Vec<ChatEvent> {
    let mut events = Vec::new();
    let was_public = before.is_some_and(Comment::is_public);
    let was_answering =
        before.is_some_and(|b| b.is_public() && b.status == QuestionStatus::Answering);
    let answering = after.is_public() && after.status == QuestionStatus::Answering;
    match (was_public, after.is_public()) {
        (false, true) => events.push(ChatEvent::Comment {
            comment: after.public(),
        }),
        (true, false) => events.push(ChatEvent::Remove { id: after.id }),
        (true, true) => {
            let old = before.map(Comment::public);
            let new = after.public();
            if old.as_ref() != Some(&new) {
                events.push(ChatEvent::Update { comment: new });
            }
        }
        (false, false) => {}
    }
    if answering && !was_answering {
        events.push(ChatEvent::Answering { id: Some(after.id) });
    } else if was_answering && !answering {
        events.push(ChatEvent::Answering { id: None });
    }
    events
}

/// The events of several changes made together: a highlight that another
/// highlight in the same batch replaces is not cleared first.
pub fn events_for_changes<'a>(
    changes: impl IntoIterator<Item = (Option<&'a Comment>, &'a Comment)>,
) -> Vec<ChatEvent> {
    let events: Vec<ChatEvent> = changes
        .into_iter()
        .flat_map(|(before, after)| events_for_change(before, after))
        .collect();
    let highlights = events
        .iter()
        .any(|e| matches!(e, ChatEvent::Answering { id: Some(_) }));
    events
        .into_iter()
        .filter(|e| !(highlights && matches!(e, ChatEvent::Answering { id: None })))
        .collect()
}

/// The name a comment is shown under. Never the unit, phone or real name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicName {
    /// "匿名住户" / "Anonymous resident".
    Anonymous,
    /// The nickname the person chose (staff: their display name).
    Nickname(String),
    /// "N号楼住户": the author's building.
    BuildingResident(String),
    /// "住户", when not even the building is known.
    Resident,
}

/// Who is posting, as far as choosing their public name goes.
#[derive(Debug, Clone, Copy)]
pub struct NameFacts<'a> {
    pub role: Role,
    pub display_name: &'a str,
    pub unit_label: Option<&'a str>,
    pub building: Option<&'a str>,
}

/// The public name rule: anonymous → anonymous; otherwise the nickname,
/// unless it would give away the unit or looks like a phone or ID number
/// (a run of seven or more digits), in which case "N号楼住户" from the
/// author's building.
pub fn public_name(anonymous: bool, who: NameFacts<'_>) -> PublicName {
    if anonymous {
        return PublicName::Anonymous;
    }
    let nickname = who.display_name.trim();
    let fallback = || match who.building {
        Some(building) if !building.trim().is_empty() => {
            PublicName::BuildingResident(building.trim().to_owned())
        }
        _ => PublicName::Resident,
    };
    if nickname.is_empty() {
        return fallback();
    }
    if who.role != Role::Resident {
        return PublicName::Nickname(nickname.to_owned());
    }
    if reveals_too_much(nickname, who.unit_label) {
        return fallback();
    }
    PublicName::Nickname(nickname.to_owned())
}

/// The nickname contains the unit number, or a phone/ID-like run of digits.
fn reveals_too_much(nickname: &str, unit_label: Option<&str>) -> bool {
    let runs = digit_runs(nickname);
    if runs.iter().any(|run| run.len() >= 7) {
        return true;
    }
    let unit_digits: Vec<String> = unit_label.map(digit_runs).unwrap_or_default();
    // "3-502" has the runs 3 and 502: the room number is the last one.
    match unit_digits.last() {
        Some(room) => runs.iter().any(|run| run == room),
        None => false,
    }
}

/// Maximal runs of decimal digits, full-width digits folded to ASCII.
fn digit_runs(text: &str) -> Vec<String> {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let digit = match c {
            '0'..='9' => Some(c),
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32),
            _ => None,
        };
        match digit {
            Some(d) => current.push(d),
            None if !current.is_empty() => runs.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: i64) -> Comment {
        Comment {
            id: CommentId(id),
            broadcast_id: BroadcastId(1),
            community_id: CommunityId(1),
            author_id: AccountId(7),
            public_name: "3号楼住户".into(),
            anonymous: false,
            kind: CommentKind::Question,
            body: "电梯什么时候修？".into(),
            original_body: None,
            state: CommentState::Held,
            hold_reasons: vec![HoldReason::Review],
            status: QuestionStatus::Open,
            votes: 0,
            merged_into: None,
            created_at: Utc::now(),
            decided_by: None,
            decided_at: None,
            reject_reason: None,
            answer: None,
            answering_at: None,
            answered_at: None,
            answer_offset_ms: None,
            record_id: None,
            client_id: "c1".into(),
            revision: 1,
        }
    }

    fn facts<'a>(display_name: &'a str, unit: Option<&'a str>) -> NameFacts<'a> {
        NameFacts {
            role: Role::Resident,
            display_name,
            unit_label: unit,
            building: Some("3号楼"),
        }
    }

    #[test]
    fn names_round_trip() {
        for kind in CommentKind::ALL {
            assert_eq!(CommentKind::parse(kind.as_str()), Some(kind));
        }
        for state in CommentState::ALL {
            assert_eq!(CommentState::parse(state.as_str()), Some(state));
        }
        for status in QuestionStatus::ALL {
            assert_eq!(QuestionStatus::parse(status.as_str()), Some(status));
        }
        let all = HoldReason::ALL.to_vec();
        assert_eq!(reasons_from_text(&reasons_to_text(&all)), Some(all));
        assert_eq!(reasons_from_text(""), Some(vec![]));
        assert_eq!(reasons_from_text("review,nonsense"), None);
        assert_eq!(SanctionKind::parse("ban"), Some(SanctionKind::Ban));
    }

    #[test]
    fn anonymous_authors_are_never_named() {
        assert_eq!(
            public_name(true, facts("老张", Some("301"))),
            PublicName::Anonymous
        );
        let staff = NameFacts {
            role: Role::Secretary,
            display_name: "王书记",
            unit_label: None,
            building: None,
        };
        assert_eq!(public_name(true, staff), PublicName::Anonymous);
        assert_eq!(
            public_name(false, staff),
            PublicName::Nickname("王书记".into())
        );
    }

    #[test]
    fn a_nickname_is_used_unless_it_gives_the_unit_or_a_number_away() {
        assert_eq!(
            public_name(false, facts("3号楼老张", Some("301"))),
            PublicName::Nickname("3号楼老张".into())
        );
        for revealing in ["301老王", "老王３０１", "老王13812345678", "x 5-301"] {
            assert_eq!(
                public_name(false, facts(revealing, Some("5-301"))),
                PublicName::BuildingResident("3号楼".into()),
                "{revealing}"
            );
        }
        assert_eq!(
            public_name(false, facts("  ", Some("301"))),
            PublicName::BuildingResident("3号楼".into())
        );
        let homeless = NameFacts {
            building: None,
            ..facts("", None)
        };
        assert_eq!(public_name(false, homeless), PublicName::Resident);
        // A price or a short number that is not the room is fine.
        assert_eq!(
            public_name(false, facts("爱跑步的502", Some("301"))),
            PublicName::Nickname("爱跑步的502".into())
        );
    }

    #[test]
    fn the_public_view_carries_nothing_about_the_author() {
        let mut c = comment(1);
        c.anonymous = true;
        c.public_name = "匿名住户".into();
        c.original_body = Some("我是301的张三 13812345678".into());
        let json = serde_json::to_value(c.public()).unwrap();
        let object = json.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "anonymous",
                "answer",
                "at",
                "body",
                "id",
                "kind",
                "name",
                "status",
                "votes"
            ]
        );
        assert!(!json.to_string().contains("13812345678"));
    }

    #[test]
    fn approval_shows_and_hiding_removes() {
        let held = comment(1);
        let mut approved = held.clone();
        approved.state = CommentState::Approved;
        assert_eq!(
            events_for_change(Some(&held), &approved),
            vec![ChatEvent::Comment {
                comment: approved.public()
            }]
        );
        let mut hidden = approved.clone();
        hidden.state = CommentState::Hidden;
        assert_eq!(
            events_for_change(Some(&approved), &hidden),
            vec![ChatEvent::Remove { id: CommentId(1) }]
        );
        let mut rejected = held.clone();
        rejected.state = CommentState::Rejected;
        assert!(events_for_change(Some(&held), &rejected).is_empty());
        // A new comment shown at once (post-moderated chat).
        assert_eq!(events_for_change(None, &approved).len(), 1);
        // Nothing public changed: no event.
        let mut recounted = approved.clone();
        recounted.revision += 1;
        assert!(events_for_change(Some(&approved), &recounted).is_empty());
    }

    #[test]
    fn a_new_highlight_replaces_the_old_without_clearing_first() {
        let mut a = comment(1);
        a.state = CommentState::Approved;
        a.status = QuestionStatus::Answering;
        let mut a_open = a.clone();
        a_open.status = QuestionStatus::Open;
        let mut b = comment(2);
        b.state = CommentState::Approved;
        let mut b_answering = b.clone();
        b_answering.status = QuestionStatus::Answering;
        let events = events_for_changes([(Some(&a), &a_open), (Some(&b), &b_answering)]);
        assert_eq!(
            events,
            vec![
                ChatEvent::Update {
                    comment: a_open.public()
                },
                ChatEvent::Update {
                    comment: b_answering.public()
                },
                ChatEvent::Answering {
                    id: Some(CommentId(2))
                },
            ]
        );
        // Marking answered clears the highlight.
        let mut b_answered = b_answering.clone();
        b_answered.status = QuestionStatus::Answered;
        let events = events_for_changes([(Some(&b_answering), &b_answered)]);
        assert_eq!(events.last(), Some(&ChatEvent::Answering { id: None }));
    }

    #[test]
    fn frames_are_json_with_their_sequence_number() {
        let at = Utc::now();
        let frame = event_frame(42, at, &ChatEvent::Remove { id: CommentId(5) });
        let json: serde_json::Value = serde_json::from_str(&frame).unwrap();
        assert_eq!(json["type"], "event");
        assert_eq!(json["seq"], 42);
        assert_eq!(json["event"]["kind"], "remove");
        assert_eq!(json["event"]["id"], 5);
    }

    #[test]
    fn settings_have_bounds() {
        let settings = ChatSettings::default();
        assert!(settings.questions_premoderated && !settings.chat_premoderated);
        assert!(settings.checked().is_some());
        let slow = ChatSettings {
            slow_mode_seconds: 301,
            ..settings
        };
        assert!(slow.checked().is_none());
        assert!(settings.premoderated(CommentKind::Question));
        assert!(!settings.premoderated(CommentKind::Chat));
    }

    #[test]
    fn only_answered_questions_with_an_offset_are_chapters() {
        let mut c = comment(3);
        c.state = CommentState::Approved;
        assert!(c.chapter().is_none());
        c.status = QuestionStatus::Answered;
        assert!(c.chapter().is_none());
        c.answer_offset_ms = Some(61_000);
        assert_eq!(c.chapter().unwrap().offset_ms, 61_000);
        assert!(Sanction {
            id: 1,
            community_id: CommunityId(1),
            account_id: AccountId(2),
            kind: SanctionKind::Ban,
            until: None,
            reason: String::new(),
            broadcast_id: None,
            by: None,
            at: Utc::now(),
        }
        .is_active(Utc::now()));
    }

    #[test]
    fn chapters_and_public_comments_are_masked_as_they_leave() {
        // Stored before rooms were masked, answered with a phone number.
        let mut c = comment(5);
        c.state = CommentState::Approved;
        c.status = QuestionStatus::Answered;
        c.answer_offset_ms = Some(1_000);
        c.body = "3号楼502室漏水".into();
        c.answer = Some("请打13812345678".into());
        let chapter = c.chapter().unwrap();
        assert_eq!(chapter.question, "3号楼***室漏水");
        assert_eq!(chapter.answer.as_deref(), Some("请打138****5678"));
        let public = c.public();
        assert_eq!(public.body, "3号楼***室漏水");
        assert_eq!(public.answer.as_deref(), Some("请打138****5678"));
    }

    #[test]
    fn the_author_sees_why_but_not_the_masking_note() {
        let mut c = comment(4);
        c.hold_reasons = vec![HoldReason::PersonalData, HoldReason::Link];
        assert_eq!(c.mine().reasons, vec![HoldReason::Link]);
    }
}
