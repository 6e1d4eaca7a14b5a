//! Live Q&A: residents' comments and questions on a broadcast, the filters
//! and moderation queue they pass, votes, and the secretary's answers.
//!
//! Viewers subscribe to a broadcast's room (see [`hub`]) and receive every
//! public change as a numbered event; a viewer that reconnects asks for the
//! events after the last one it saw ([`Chat::events_after`]) or, if too many
//! were missed, a fresh [`Snapshot`]. Every change is written to the store
//! together with its events, under the room's lock, and published before the
//! lock is released: subscribers see sequence numbers strictly in order.
//! Nodes sharing one database tell each other of their changes (see
//! [`signals`]); what must agree across them lives in the store.
//!
//! Limits kept per node, where a looser bound is harmless (with N nodes
//! behind a load balancer a person can get up to N times as far):
//! - the flood guard (5 posts in 10 s, 20 a minute; `rate`): it stops a
//!   runaway client or script, and every post still passes the filters,
//!   the store's duplicate check and moderation;
//! - the vote limiter (60 a minute): votes themselves are one per person
//!   in the store, so spraying them changes nothing;
//! - slow mode within one node is enforced by `rate` before anything is
//!   written; across nodes it is enforced by the author's last stored
//!   comment, so only two posts racing through two nodes in the same
//!   instant can both pass.

pub mod filter;
pub mod hub;
mod moderation;
pub mod names;
mod posting;
mod questions;
mod rate;
mod signals;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::accounts::AttemptLimiter;
use crate::domain::broadcast::{Broadcast, BroadcastState};
use crate::domain::chat::{CommentState, MyComment, SanctionKind, StaffComment};
use crate::domain::text::TextError;
use crate::domain::{Account, AccountId, Actor, BroadcastId, CommunityId, Permission, RecordId};
use crate::feedback::records::{RecordError, Records};
use crate::i18n::Lang;
use crate::store::{ChatAuthor, ChatChange, CommentFilter, Store, StoreError};

pub use crate::domain::chat::{
    Chapter, ChatSettings, Comment, CommentKind, HoldReason, PublicComment, QuestionOrder,
    QuestionStatus, Sanction,
};
pub use crate::domain::CommentId;
pub use hub::{PrivateEvent, PublicEvent, PublicSnapshot, QueueEvent};
pub use questions::QuestionToRecord;

/// How many of the newest comments a snapshot carries.
pub const SNAPSHOT_COMMENTS: i64 = 200;
/// How many questions a snapshot carries (most votes first).
pub const SNAPSHOT_QUESTIONS: i64 = 500;
/// Most events [`Chat::events_after`] returns at once.
pub const EVENTS_MAX: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error("not found")]
    NotFound,
    #[error("not allowed")]
    Forbidden,
    #[error("posting requires an account")]
    SignIn,
    #[error("posting is closed for this broadcast")]
    Closed,
    #[error("the broadcast has ended")]
    Ended,
    #[error("empty message")]
    Empty,
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("bad client id")]
    BadClientId,
    #[error("bad text in {field}: {error}")]
    BadText {
        field: &'static str,
        error: TextError,
    },
    #[error("slow mode: wait {retry_after} s")]
    SlowMode { retry_after: u32 },
    #[error("posting too often: wait {retry_after} s")]
    Flood { retry_after: u32 },
    #[error("timed out until {until}")]
    TimedOut { until: DateTime<Utc> },
    #[error("banned from this community's broadcasts")]
    Banned,
    /// Another moderator (named, when known) decided first.
    #[error("already handled")]
    AlreadyHandled { by: Option<String> },
    /// The comment is not in a state that allows this (e.g. answering a held question).
    #[error("the comment is not in a state that allows this")]
    WrongState,
    #[error("not a question")]
    NotAQuestion,
    #[error("a vote on one's own question")]
    OwnQuestion,
    #[error("only shown questions can be voted on")]
    NotVotable,
    #[error("not mergeable")]
    NotMergeable,
    #[error("a time-out lasts 10 s to 24 h")]
    BadTimeout,
    #[error("slow mode is 0 to 300 s")]
    BadSettings,
    #[error("too many or too long blocked words")]
    TooManyWords { max: usize },
    #[error("already a record")]
    AlreadyRecorded { record: RecordId },
    #[error("unknown record category")]
    BadCategory,
    #[error("the record needs an estate")]
    EstateNeeded,
    #[error(transparent)]
    Record(RecordError),
    /// The database stayed busy: nothing was stored, the client may resend
    /// with the same client id.
    #[error("database busy")]
    Busy,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ChatError {
    fn from(e: StoreError) -> Self {
        if crate::store::is_busy(&e) {
            return ChatError::Busy;
        }
        match e {
            StoreError::NotFound => ChatError::NotFound,
            StoreError::Conflict => ChatError::AlreadyHandled { by: None },
            StoreError::TooSoon(wait) => ChatError::SlowMode {
                retry_after: rate::seconds(wait),
            },
            StoreError::Rejected("not votable") => ChatError::NotVotable,
            StoreError::Rejected("own question") => ChatError::OwnQuestion,
            StoreError::Rejected("not mergeable") => ChatError::NotMergeable,
            StoreError::Rejected("not a question") => ChatError::NotAQuestion,
            e => ChatError::Store(e),
        }
    }
}

impl From<RecordError> for ChatError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::Store(e) => e.into(),
            e => ChatError::Record(e),
        }
    }
}

impl ChatError {
    /// Catalogue key of the message shown to the person.
    pub fn message_key(&self) -> &'static str {
        match self {
            ChatError::NotFound => "chat.error.not_found",
            ChatError::Forbidden => "chat.error.forbidden",
            ChatError::SignIn => "chat.error.sign_in",
            ChatError::Closed => "chat.error.closed",
            ChatError::Ended => "chat.error.ended",
            ChatError::Empty => "chat.error.empty",
            ChatError::TooLong { .. } => "chat.error.too_long",
            ChatError::BadClientId => "chat.error.bad_client_id",
            ChatError::BadText { .. } => "chat.error.bad_text",
            ChatError::SlowMode { .. } => "chat.error.slow_mode",
            ChatError::Flood { .. } => "chat.error.flood",
            ChatError::TimedOut { .. } => "chat.error.timed_out",
            ChatError::Banned => "chat.error.banned",
            ChatError::AlreadyHandled { by: Some(_) } => "chat.error.already_handled_by",
            ChatError::AlreadyHandled { by: None } => "chat.error.already_handled",
            ChatError::WrongState => "chat.error.wrong_state",
            ChatError::NotAQuestion => "chat.error.not_a_question",
            ChatError::OwnQuestion => "chat.error.own_question",
            ChatError::NotVotable => "chat.error.not_votable",
            ChatError::NotMergeable => "chat.error.not_mergeable",
            ChatError::BadTimeout => "chat.error.bad_timeout",
            ChatError::BadSettings => "chat.error.bad_settings",
            ChatError::TooManyWords { .. } => "chat.error.too_many_words",
            ChatError::AlreadyRecorded { .. } => "chat.error.already_recorded",
            ChatError::BadCategory => "chat.error.bad_category",
            ChatError::EstateNeeded => "chat.error.estate_needed",
            ChatError::Record(e) => e.message_key(),
            ChatError::Busy => "chat.error.busy",
            ChatError::Store(_) => "chat.error.internal",
        }
    }

    /// Seconds to wait before posting again (slow mode, flood, busy).
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ChatError::SlowMode { retry_after } | ChatError::Flood { retry_after } => {
                Some(*retry_after)
            }
            ChatError::Busy => Some(2),
            _ => None,
        }
    }

    /// When a time-out ends.
    pub fn until(&self) -> Option<DateTime<Utc>> {
        match self {
            ChatError::TimedOut { until } => Some(*until),
            _ => None,
        }
    }

    /// The HTTP status this error stands for.
    pub fn status(&self) -> u16 {
        match self {
            ChatError::NotFound => 404,
            ChatError::SignIn => 401,
            ChatError::Forbidden
            | ChatError::Closed
            | ChatError::Ended
            | ChatError::TimedOut { .. }
            | ChatError::Banned => 403,
            ChatError::AlreadyHandled { .. }
            | ChatError::WrongState
            | ChatError::AlreadyRecorded { .. } => 409,
            ChatError::SlowMode { .. } | ChatError::Flood { .. } => 429,
            ChatError::Busy => 503,
            ChatError::Record(RecordError::Forbidden) => 403,
            ChatError::Record(RecordError::ChangedMeanwhile) => 409,
            ChatError::Store(_) => 500,
            _ => 400,
        }
    }

    /// The message in `lang`, with its numbers and names filled in; times
    /// in `zone`.
    pub fn message(&self, lang: Lang, zone: chrono_tz::Tz) -> String {
        let key = self.message_key();
        match self {
            ChatError::TooLong { max } | ChatError::TooManyWords { max } => {
                lang.tf(key, &[("max", max)])
            }
            ChatError::SlowMode { retry_after } | ChatError::Flood { retry_after } => {
                lang.tf(key, &[("n", retry_after)])
            }
            ChatError::TimedOut { until } => {
                let local = until.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
                lang.tf(key, &[("until", &local)])
            }
            ChatError::AlreadyHandled { by: Some(name) } => lang.tf(key, &[("name", name)]),
            _ => lang.t(key).into_owned(),
        }
    }
}

/// A resident's post as their client sends it.
#[derive(Debug, Clone)]
pub struct NewPost {
    /// Chosen by the client (1–64 visible ASCII characters); resending with
    /// the same id never stores a second comment.
    pub client_id: String,
    pub kind: CommentKind,
    pub text: String,
    pub anonymous: bool,
}

/// What became of a post. A resend (same client id) returns the first
/// result again, with the comment as it is now.
#[derive(Debug, Clone)]
pub enum Posted {
    /// Visible to everyone.
    Shown(Comment),
    /// Waiting for a moderator ("待审核"); `hold_reasons` say why.
    Held(Comment),
}

impl Posted {
    fn from_comment(comment: Comment) -> Self {
        if comment.is_public() {
            Posted::Shown(comment)
        } else {
            Posted::Held(comment)
        }
    }

    pub fn comment(&self) -> &Comment {
        match self {
            Posted::Shown(c) | Posted::Held(c) => c,
        }
    }

    /// "shown" or "held", as the acknowledgement frame says.
    pub fn state(&self) -> &'static str {
        match self {
            Posted::Shown(_) => "shown",
            Posted::Held(_) => "held",
        }
    }
}

/// A viewer's live feed of one broadcast. Holding it keeps the room open.
pub struct Subscription {
    /// Public events, in sequence order. `Lagged` means events were
    /// dropped for this receiver: reload them with [`Chat::events_after`].
    pub receiver: broadcast::Receiver<Arc<PublicEvent>>,
    /// Notices for single accounts: pass on only those for the viewer.
    pub private: broadcast::Receiver<Arc<PrivateEvent>>,
    _room: Arc<hub::Room>,
}

/// A moderator's feed of the queue changes of one broadcast (frames name
/// anonymous authors: only for `ModerateChat` in the community).
pub struct QueueSubscription {
    pub receiver: broadcast::Receiver<Arc<QueueEvent>>,
    _room: Arc<hub::Room>,
}

/// Everything a page needs to start: public state as of event `seq`, and
/// the viewer's own.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub seq: i64,
    /// The newest shown comments (both kinds), oldest first.
    pub comments: Vec<PublicComment>,
    /// Shown, unmerged questions, most votes first.
    pub questions: Vec<PublicComment>,
    pub answering: Option<CommentId>,
    pub settings: ChatSettings,
    pub me: Option<Me>,
}

/// The viewer's own state, repeated on every snapshot so that a notice
/// missed while disconnected is not lost.
#[derive(Debug, Clone, Serialize)]
pub struct Me {
    pub can_post: bool,
    /// Why not (catalogue key).
    pub why_not: Option<&'static str>,
    /// End of a time-out.
    pub until: Option<DateTime<Utc>>,
    /// Questions the viewer voted for.
    pub voted: Vec<CommentId>,
    /// The viewer's held and rejected comments (with reasons).
    pub mine: Vec<MyComment>,
}

/// The live Q&A capability. Cheap to clone.
#[derive(Clone)]
pub struct Chat {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    records: Records,
    live: crate::live::Hub,
    rooms: hub::Rooms,
    rate: rate::RateGuard,
    votes: AttemptLimiter,
    /// The store's signal bus: how other nodes learn of changes made here.
    signals: crate::store::Signals,
    /// Compiled blocked words per community, and how many times any were
    /// forgotten (a list read before a change is not kept).
    blocked: Mutex<(u64, HashMap<CommunityId, Arc<filter::BlockedWords>>)>,
}

fn actor(who: &Account) -> Actor {
    Actor {
        id: Some(who.id),
        name: who.display_name.clone(),
    }
}

/// Whether the account takes part in the community's broadcasts.
fn in_community(who: &Account, community: CommunityId) -> bool {
    !who.disabled && who.scope().reaches(community.into())
}

fn may(who: &Account, permission: Permission, community: CommunityId) -> bool {
    who.may(permission, community)
}

/// The private frame telling an author about their comment.
fn mine_frame(comment: &Comment) -> String {
    serde_json::json!({ "type": "mine", "comment": comment.mine() }).to_string()
}

fn staff_comment(comment: Comment, author: Option<&ChatAuthor>) -> StaffComment {
    let place: Vec<&str> = author
        .map(|a| {
            [&a.estate, &a.building, &a.unit_label]
                .into_iter()
                .filter_map(|part| part.as_deref())
                .collect()
        })
        .unwrap_or_default();
    StaffComment {
        comment,
        author_name: author.map(|a| a.display_name.clone()).unwrap_or_default(),
        author_place: (!place.is_empty()).then(|| place.join(" ")),
    }
}

/// The private frame telling an account about its sanction (`None`: lifted).
fn sanction_frame(sanction: Option<&Sanction>) -> String {
    serde_json::json!({
        "type": "sanction",
        "kind": sanction.map(|s| s.kind),
        "until": sanction.and_then(|s| s.until),
        "reason": sanction.map(|s| s.reason.as_str()),
    })
    .to_string()
}

fn queue_frame(op: &str, item: &StaffComment) -> String {
    serde_json::json!({ "type": "queue", "op": op, "item": item }).to_string()
}

impl Chat {
    pub fn new(store: Arc<dyn Store>, live: crate::live::Hub, time_zone: chrono_tz::Tz) -> Self {
        Self {
            inner: Arc::new(Inner {
                records: Records::new(store.clone(), time_zone),
                signals: store.signals().clone(),
                store,
                live,
                rooms: hub::Rooms::default(),
                rate: rate::RateGuard::default(),
                // A vote or withdrawal a second on average, bursts of 60.
                votes: AttemptLimiter::per_minute(60),
                blocked: Mutex::new((0, HashMap::new())),
            }),
        }
    }

    fn store(&self) -> &dyn Store {
        &*self.inner.store
    }

    fn room(&self, broadcast: BroadcastId) -> Arc<hub::Room> {
        self.inner.rooms.get(broadcast)
    }

    async fn broadcast(&self, id: BroadcastId) -> Result<Broadcast, ChatError> {
        Ok(self.store().broadcast(id).await?)
    }

    /// Starts the background work: following other nodes' changes, closing
    /// the rooms of ended broadcasts nobody listens to, and forgetting quiet
    /// posters. Call once.
    pub fn spawn_tasks(&self) {
        self.follow_signals();
        let chat = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                chat.drop_idle_rooms().await;
                chat.inner.rate.forget_quiet(std::time::Instant::now());
            }
        });
    }

    /// Closes the rooms nobody holds whose broadcast has ended (or is
    /// gone); returns how many.
    pub async fn drop_idle_rooms(&self) -> usize {
        let mut dropped = 0;
        for id in self.inner.rooms.unused() {
            let ended = match self.store().broadcast(id).await {
                Ok(b) => b.state == BroadcastState::Ended,
                Err(StoreError::NotFound) => true,
                Err(_) => false,
            };
            if ended && self.inner.rooms.drop_if_unused(id) {
                dropped += 1;
            }
        }
        dropped
    }

    /// Forgets what viewers joining would be shown from memory, after
    /// comments were renamed in the store (an author closed their account).
    pub fn forget_snapshots(&self) {
        for room in self.inner.rooms.all() {
            room.forget_snapshot();
        }
        self.signal(&signals::ChatSignal::Renamed);
    }

    /// Rooms open now (for metrics and tests).
    pub fn open_rooms(&self) -> usize {
        self.inner.rooms.len()
    }

    // ------------------------------------------------------------ viewers

    /// Live events of a broadcast. Subscribe first, then take a
    /// [`Snapshot`] (or [`Chat::events_after`]), and drop events whose
    /// `seq` is not greater than the last one applied.
    pub async fn subscribe(&self, broadcast: BroadcastId) -> Result<Subscription, ChatError> {
        self.broadcast(broadcast).await?;
        let room = self.room(broadcast);
        Ok(Subscription {
            receiver: room.subscribe_public(),
            private: room.subscribe_private(),
            _room: room,
        })
    }

    /// Queue changes of a broadcast, for its community's moderators.
    pub async fn subscribe_queue(
        &self,
        staff: &Account,
        broadcast: BroadcastId,
    ) -> Result<QueueSubscription, ChatError> {
        let b = self.broadcast(broadcast).await?;
        if !may(staff, Permission::ModerateChat, b.community_id) {
            return Err(ChatError::Forbidden);
        }
        let room = self.room(broadcast);
        Ok(QueueSubscription {
            receiver: room.subscribe_queue(),
            _room: room,
        })
    }

    /// The public state as of some event `seq`, and the viewer's own.
    pub async fn snapshot(
        &self,
        broadcast: BroadcastId,
        viewer: Option<&Account>,
    ) -> Result<Snapshot, ChatError> {
        let b = self.broadcast(broadcast).await?;
        let room = self.room(broadcast);
        let public = match room.cached_snapshot() {
            Some(public) => public,
            None => {
                let rows = self
                    .store()
                    .chat_snapshot(broadcast, SNAPSHOT_COMMENTS, SNAPSHOT_QUESTIONS)
                    .await?;
                let settings = self.room_settings(&room).await?;
                let public = Arc::new(PublicSnapshot {
                    seq: rows.seq,
                    comments: rows.recent.iter().map(Comment::public).collect(),
                    questions: rows.questions.iter().map(Comment::public).collect(),
                    answering: rows.answering,
                    settings,
                });
                room.keep_snapshot(public.clone());
                public
            }
        };
        let me = match viewer {
            Some(viewer) => Some(self.me(viewer, &b, &public.settings).await?),
            None => None,
        };
        Ok(Snapshot {
            seq: public.seq,
            comments: public.comments.clone(),
            questions: public.questions.clone(),
            answering: public.answering,
            settings: public.settings,
            me,
        })
    }

    async fn me(
        &self,
        viewer: &Account,
        broadcast: &Broadcast,
        settings: &ChatSettings,
    ) -> Result<Me, ChatError> {
        let sanction = self
            .store()
            .active_sanction(broadcast.community_id, viewer.id, Utc::now())
            .await?;
        let (why_not, until) = if !in_community(viewer, broadcast.community_id) {
            (Some(ChatError::Forbidden.message_key()), None)
        } else if let Some(sanction) = &sanction {
            match sanction.kind {
                SanctionKind::Ban => (Some(ChatError::Banned.message_key()), None),
                SanctionKind::Timeout => (Some("chat.error.timed_out"), sanction.until),
            }
        } else if broadcast.state == BroadcastState::Ended {
            (Some(ChatError::Ended.message_key()), None)
        } else if !settings.open {
            (Some(ChatError::Closed.message_key()), None)
        } else {
            (None, None)
        };
        let voted = self.store().votes_of(viewer.id, broadcast.id).await?;
        let mine = self
            .store()
            .comments(&CommentFilter {
                states: vec![CommentState::Held, CommentState::Rejected],
                author: Some(viewer.id),
                ..CommentFilter::of(broadcast.id)
            })
            .await?;
        Ok(Me {
            can_post: why_not.is_none(),
            why_not,
            until,
            voted,
            mine: mine.iter().map(Comment::mine).collect(),
        })
    }

    /// The public events after `after_seq`, in order (at most `limit`, and
    /// never more than [`EVENTS_MAX`]). A viewer that missed more than it
    /// wants to replay takes a snapshot instead.
    pub async fn events_after(
        &self,
        broadcast: BroadcastId,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Arc<PublicEvent>>, ChatError> {
        let limit = limit.clamp(1, EVENTS_MAX) as i64;
        Ok(self
            .store()
            .chat_events_after(broadcast, after_seq, limit)
            .await?
            .into_iter()
            .map(|e| Arc::new(PublicEvent::from(e)))
            .collect())
    }

    /// All comments of the author in the broadcast, in every state.
    pub async fn my_comments(
        &self,
        author: &Account,
        broadcast: BroadcastId,
    ) -> Result<Vec<Comment>, ChatError> {
        Ok(self
            .store()
            .comments(&CommentFilter {
                author: Some(author.id),
                limit: 1000,
                ..CommentFilter::of(broadcast)
            })
            .await?)
    }

    pub async fn comment(&self, id: CommentId) -> Result<Comment, ChatError> {
        Ok(self.store().comment(id).await?)
    }

    /// Adds (`up`) or withdraws the voter's vote on a shown question;
    /// returns its votes. Voting twice counts once.
    pub async fn vote(&self, voter: &Account, id: CommentId, up: bool) -> Result<i64, ChatError> {
        let comment = self.store().comment(id).await?;
        if !in_community(voter, comment.community_id) {
            return Err(ChatError::Forbidden);
        }
        if !self.inner.votes.try_attempt(&voter.id.to_string()) {
            return Err(ChatError::Flood { retry_after: 5 });
        }
        let room = self.room(comment.broadcast_id);
        let change = {
            let _writing = room.write.lock().await;
            let change = self.store().vote(voter.id, id, up, Utc::now()).await?;
            self.publish(&room, change.events.clone());
            change
        };
        Ok(change.comment().map_or(comment.votes, |c| c.votes))
    }

    /// The broadcast's chat settings.
    pub async fn settings(&self, broadcast: BroadcastId) -> Result<ChatSettings, ChatError> {
        let room = self.room(broadcast);
        self.room_settings(&room).await
    }

    async fn room_settings(&self, room: &hub::Room) -> Result<ChatSettings, ChatError> {
        let (generation, cached) = room.settings();
        if let Some(settings) = cached {
            return Ok(settings);
        }
        let settings = self.store().chat_settings(room.broadcast).await?;
        room.keep_read_settings(settings, generation);
        Ok(settings)
    }

    /// Authors by id, for queue items and names.
    async fn authors(
        &self,
        ids: &[AccountId],
    ) -> Result<HashMap<AccountId, ChatAuthor>, ChatError> {
        let mut ids = ids.to_vec();
        ids.sort();
        ids.dedup();
        Ok(self
            .store()
            .chat_authors(&ids)
            .await?
            .into_iter()
            .map(|a| (a.id, a))
            .collect())
    }

    /// Tells authors and moderators what a change did to their comments.
    /// Called with the room's lock held, so that these notices keep the
    /// order of the changes.
    fn notify(
        &self,
        room: &hub::Room,
        change: &ChatChange,
        authors: &HashMap<AccountId, ChatAuthor>,
    ) {
        for (before, after) in &change.comments {
            let author_sees_change = before.as_ref().is_none_or(|b| {
                (
                    &b.state,
                    &b.reject_reason,
                    &b.merged_into,
                    &b.body,
                    &b.status,
                ) != (
                    &after.state,
                    &after.reject_reason,
                    &after.merged_into,
                    &after.body,
                    &after.status,
                )
            });
            if author_sees_change {
                room.tell(after.author_id, mine_frame(after));
                self.signal(&signals::ChatSignal::Mine {
                    b: room.broadcast,
                    c: after.id,
                    a: after.author_id,
                });
            }
            let was_held = before
                .as_ref()
                .is_some_and(|b| b.state == CommentState::Held);
            let is_held = after.state == CommentState::Held;
            let op = match (was_held, is_held) {
                (false, true) => "add",
                (true, false) => "remove",
                (true, true) if before.as_ref() != Some(after) => "update",
                _ => continue,
            };
            let item = staff_comment(after.clone(), authors.get(&after.author_id));
            room.tell_moderators(after.id, queue_frame(op, &item));
            self.signal(&signals::ChatSignal::Queue {
                b: room.broadcast,
                c: after.id,
                op: op.to_owned(),
            });
        }
    }

    /// Tells the account about a sanction in the community (`None`: lifted).
    fn notify_sanction(
        &self,
        room: &hub::Room,
        community: CommunityId,
        account: AccountId,
        sanction: Option<&Sanction>,
    ) {
        room.tell(account, sanction_frame(sanction));
        self.signal(&signals::ChatSignal::Sanction {
            b: room.broadcast,
            a: account,
            community,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_statuses_and_messages() {
        let slow = ChatError::SlowMode { retry_after: 7 };
        assert_eq!(slow.status(), 429);
        assert_eq!(slow.retry_after(), Some(7));
        assert_eq!(
            slow.message(Lang::Zh, chrono_tz::Asia::Shanghai),
            "慢速模式已开启，请 7 秒后再发言"
        );
        let handled = ChatError::AlreadyHandled {
            by: Some("李审核".into()),
        };
        assert_eq!(handled.status(), 409);
        assert_eq!(
            handled.message(Lang::En, chrono_tz::Asia::Shanghai),
            "李审核 has already handled this comment"
        );
        let until = DateTime::parse_from_rfc3339("2026-03-01T02:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let timed_out = ChatError::TimedOut { until };
        assert_eq!(timed_out.status(), 403);
        assert!(timed_out
            .message(Lang::Zh, chrono_tz::Asia::Shanghai)
            .contains("2026-03-01 10:00:00"));
        assert_eq!(ChatError::Busy.status(), 503);
        assert_eq!(ChatError::TooLong { max: 500 }.status(), 400);
        assert_eq!(
            ChatError::from(StoreError::Conflict).message_key(),
            "chat.error.already_handled"
        );
        assert!(matches!(
            ChatError::from(StoreError::Rejected("own question")),
            ChatError::OwnQuestion
        ));
    }

    #[test]
    fn staff_see_where_the_author_lives() {
        let author = ChatAuthor {
            id: AccountId(3),
            username: "laozhang".into(),
            display_name: "老张".into(),
            role: crate::domain::Role::Resident,
            estate_id: None,
            estate: Some("阳光花园".into()),
            building_id: None,
            building: Some("3号楼".into()),
            unit_label: Some("301".into()),
        };
        let comment = Comment {
            id: CommentId(1),
            broadcast_id: BroadcastId(1),
            community_id: CommunityId(1),
            author_id: AccountId(3),
            public_name: "匿名住户".into(),
            anonymous: true,
            kind: CommentKind::Question,
            body: "问".into(),
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
            client_id: "x".into(),
            revision: 1,
        };
        let item = staff_comment(comment, Some(&author));
        assert_eq!(item.author_place.as_deref(), Some("阳光花园 3号楼 301"));
        let frame: serde_json::Value = serde_json::from_str(&queue_frame("add", &item)).unwrap();
        assert_eq!(frame["op"], "add");
        assert_eq!(frame["item"]["author_name"], "老张");
        assert_eq!(frame["item"]["body"], "问");
    }
}
