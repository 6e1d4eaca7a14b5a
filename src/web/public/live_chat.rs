//! The chat side of the watch page's socket (`/live/{id}/ws`) and its HTTP
//! twins: a snapshot or the missed events on connect, then every public event
//! in sequence order (no duplicates, no gaps), the viewer's own notices, the
//! moderation queue for moderators, and `post` / `vote` frames answered with
//! `ack` or `error`.
//!
//! A socket keeps no rights its session lost: the session is read again
//! whenever the store says the account changed, and before every post, vote
//! and queue item. Ended, the socket goes on as a guest's (`signed_out`);
//! no longer a moderator here, it loses the queue (`queue` `revoked`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use actix_ws::{AggregatedMessage, AggregatedMessageStream, Session};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use crate::chat::{
    ChatError, NewPost, Posted, PublicEvent, QueueEvent, QueueSubscription, Subscription,
};
use crate::domain::broadcast::Broadcast;
use crate::domain::chat::{Comment, CommentKind, CommentState};
use crate::domain::{Account, AccountId, BroadcastId, CommentId, CommunityId, Permission};
use crate::i18n::Lang;
use crate::live::Status;
use crate::web::api::ApiError;
use crate::web::context::{Ctx, SESSION_COOKIE};
use crate::web::error::WebError;
use crate::web::forms::same_origin;
use crate::web::AppState;

/// Largest frame a client may send. A post is at most a few hundred
/// characters; this leaves room for escaping and still refuses abuse.
pub const MAX_FRAME: usize = 64 * 1024;
/// Resuming further back than this sends a snapshot instead of the events.
const MAX_CATCH_UP: usize = 500;
/// Oversized frames tolerated on one connection before it is closed.
const OVERSIZE_LIMIT: u32 = 3;
/// How often the socket pings a quiet client, and how long it waits for any
/// sign of life before dropping it.
const PING_EVERY: Duration = Duration::from_secs(20);
const GIVE_UP_AFTER: Duration = Duration::from_secs(60);

/// Who is on the other end of a socket.
pub struct SocketViewer {
    account: Option<Account>,
    lang: Lang,
    time_zone: chrono_tz::Tz,
    /// Receives the moderation queue of this broadcast.
    moderator: bool,
    /// The broadcast's community, for checking the right to moderate again.
    community: CommunityId,
    /// A signed-in viewer's session token, checked again before anything
    /// only they may do or see, and whenever their account changes.
    session_token: Option<String>,
    /// Tells when an account's sessions or rights changed; taken before the
    /// session was read, so that no change falls between.
    account_changes: Option<crate::store::AccountChanges>,
}

/// Reads the viewer of a socket upgrade. A browser sends the session cookie
/// with any page's WebSocket, so a request that carries one must come from
/// this site (cross-site WebSocket hijacking).
pub async fn socket_viewer(
    req: &HttpRequest,
    broadcast: &Broadcast,
) -> Result<SocketViewer, WebError> {
    let cookie = req.cookie(SESSION_COOKIE);
    if cookie.is_some() && !same_origin(req) {
        tracing::warn!(path = req.path(), "cross-site WebSocket refused");
        return Err(WebError::Forbidden);
    }
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("AppState is registered");
    let account_changes = cookie.is_some().then(|| state.store.account_changes());
    let ctx = Ctx::load(req).await?;
    let moderator = ctx
        .viewer
        .as_ref()
        .is_some_and(|a| may_moderate(a, broadcast.community_id));
    let signed_in = ctx.viewer.is_some();
    Ok(SocketViewer {
        account: ctx.viewer,
        lang: ctx.lang,
        time_zone: ctx.time_zone,
        moderator,
        community: broadcast.community_id,
        session_token: cookie.filter(|_| signed_in).map(|c| c.value().to_owned()),
        account_changes: account_changes.filter(|_| signed_in),
    })
}

/// The feeds a socket listens to: the public events (and private notices),
/// and for moderators the queue. Taken before the snapshot is read, so
/// that nothing falls between.
pub async fn subscribe(
    state: &AppState,
    viewer: &SocketViewer,
    broadcast: BroadcastId,
) -> Result<(Subscription, Option<QueueSubscription>), WebError> {
    let subscription = state
        .chat
        .subscribe(broadcast)
        .await
        .map_err(chat_failure)?;
    let queue = match (&viewer.account, viewer.moderator) {
        (Some(account), true) => Some(
            state
                .chat
                .subscribe_queue(account, broadcast)
                .await
                .map_err(chat_failure)?,
        ),
        _ => None,
    };
    Ok((subscription, queue))
}

/// Staff of the broadcast's community (or of all) who may work its queue.
pub fn may_moderate(account: &Account, community: CommunityId) -> bool {
    account.may(Permission::ModerateChat, community)
}

/// `?after=SEQ` of a resuming client.
pub fn after_param(query: &str) -> Option<i64> {
    query.split('&').find_map(|pair| {
        pair.strip_prefix("after=")
            .and_then(|v| v.parse::<i64>().ok())
            .filter(|seq| *seq >= 0)
    })
}

/// A frame a client sends.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientFrame {
    Post(PostBody),
    Vote { id: i64, up: bool },
}

/// A post, over the socket or HTTP.
#[derive(Deserialize, utoipa::ToSchema)]
pub struct PostBody {
    /// Chosen by the client; sending the same one again (after a lost
    /// answer) never stores or shows the message twice.
    #[serde(default)]
    client_id: String,
    /// `chat` or `question`.
    #[serde(default)]
    kind: String,
    /// Up to 500 characters, shown as plain text.
    #[serde(default)]
    text: String,
    /// Questions only: hidden from the public, known to staff.
    #[serde(default, deserialize_with = "lenient_bool")]
    anonymous: bool,
}

/// `true`, `"true"` or `"on"` (a checkbox of a plain form).
fn lenient_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Flag {
        Bool(bool),
        Text(String),
    }
    Ok(match Flag::deserialize(d)? {
        Flag::Bool(b) => b,
        Flag::Text(t) => matches!(t.as_str(), "true" | "on" | "1"),
    })
}

impl PostBody {
    fn new_post(self) -> Result<NewPost, &'static str> {
        let kind = match self.kind.as_str() {
            "" => CommentKind::Chat,
            k => CommentKind::parse(k).ok_or("chat_ui.error.bad_frame")?,
        };
        Ok(NewPost {
            client_id: self.client_id,
            kind,
            text: self.text,
            anonymous: self.anonymous && kind == CommentKind::Question,
        })
    }
}

/// Why the socket task stops.
enum Stop {
    /// The client went away or the socket broke.
    Gone,
    /// The events could not be read (or the session checked): close, the
    /// client resumes where it was.
    Store,
}

impl From<actix_ws::Closed> for Stop {
    fn from(_: actix_ws::Closed) -> Self {
        Stop::Gone
    }
}

struct Connection {
    state: web::Data<AppState>,
    broadcast: BroadcastId,
    viewer: SocketViewer,
    session: Session,
    /// The last public event sent; nothing at or below it is sent again.
    last_seq: i64,
    /// The viewer's own comments as last sent, to tell them what changed.
    mine: HashMap<CommentId, CommentState>,
    can_post: bool,
    oversized: u32,
    /// Display names of moderators, for "handled by X".
    names: HashMap<crate::domain::AccountId, String>,
}

/// Runs one viewer's socket until either side goes away.
#[allow(clippy::too_many_arguments)]
pub async fn serve(
    state: web::Data<AppState>,
    broadcast: BroadcastId,
    mut viewer: SocketViewer,
    after: Option<i64>,
    session: Session,
    mut stream: AggregatedMessageStream,
    mut status: tokio::sync::watch::Receiver<Status>,
    mut subscription: Subscription,
    mut queue: Option<QueueSubscription>,
) {
    let mut account_changes = viewer.account_changes.take();
    let mut connection = Connection {
        state,
        broadcast,
        viewer,
        session,
        last_seq: 0,
        mine: HashMap::new(),
        can_post: true,
        oversized: 0,
        names: HashMap::new(),
    };
    let first = status.borrow_and_update().clone();
    let outcome = async {
        connection.send(status_message(&first)).await?;
        connection.start(after).await?;
        let mut ping = tokio::time::interval(PING_EVERY);
        let mut last_heard = tokio::time::Instant::now();
        let mut signed_in = connection.viewer.account.is_some();
        loop {
            tokio::select! {
                // Signed out, password changed, disabled, demoted, moved:
                // the rights this socket opened with end at once.
                change = next_account_change(&mut account_changes), if signed_in => {
                    let mine = match change {
                        Ok(account) => connection.viewer.account.as_ref().is_some_and(|a| a.id == account),
                        Err(RecvError::Lagged(_)) => true,
                        Err(RecvError::Closed) => {
                            // Nothing tells of changes any more: every action still checks.
                            account_changes = None;
                            false
                        }
                    };
                    if mine {
                        connection.recheck(&mut queue).await?;
                        signed_in = connection.viewer.account.is_some();
                    }
                },
                event = subscription.receiver.recv() => match event {
                    Ok(event) => connection.forward(event).await?,
                    Err(RecvError::Lagged(_)) => connection.catch_up(None).await?,
                    Err(RecvError::Closed) => return Ok::<(), Stop>(()),
                },
                notice = subscription.private.recv(), if signed_in => match notice {
                    Ok(notice) if notice.concerns(connection.viewer.account.as_ref().map(|a| a.id)) => {
                        connection.send_me(true).await?;
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => connection.send_me(true).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                item = next_queue_item(&mut queue) => match item {
                    Ok(item) => {
                        // What is held is for moderators only: asked again each time.
                        connection.recheck(&mut queue).await?;
                        signed_in = connection.viewer.account.is_some();
                        if queue.is_some() {
                            connection.forward_queue(&item).await?;
                        }
                    }
                    // A moderator's page reloads its queue when told it missed some.
                    Err(RecvError::Lagged(_)) => connection.send(json!({"type": "queue", "op": "reload"}).to_string()).await?,
                    Err(RecvError::Closed) => return Ok(()),
                },
                changed = status.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let now = status.borrow_and_update().clone();
                    connection.send(status_message(&now)).await?;
                }
                message = stream.recv() => match message {
                    Some(Ok(AggregatedMessage::Text(text))) => {
                        last_heard = tokio::time::Instant::now();
                        connection.client_frame(&text, &mut queue).await?;
                        signed_in = connection.viewer.account.is_some();
                    }
                    Some(Ok(AggregatedMessage::Ping(bytes))) => {
                        last_heard = tokio::time::Instant::now();
                        connection.session.pong(&bytes).await?;
                    }
                    Some(Ok(AggregatedMessage::Close(_))) | None => return Ok(()),
                    Some(Ok(_)) => last_heard = tokio::time::Instant::now(),
                    Some(Err(actix_ws::ProtocolError::Overflow)) | Some(Err(actix_ws::ProtocolError::Io(_))) if connection.oversized < OVERSIZE_LIMIT => {
                        // The frame was dropped unread: say so, keep the socket.
                        connection.oversized += 1;
                        let message = connection.viewer.lang.tf("chat_ui.error.frame_too_large", &[("n", &(MAX_FRAME / 1024))]);
                        connection.send(json!({"type": "error", "error": "chat_ui.error.frame_too_large", "message": message}).to_string()).await?;
                    }
                    Some(Err(_)) => return Ok(()),
                },
                _ = ping.tick() => {
                    if last_heard.elapsed() > GIVE_UP_AFTER {
                        return Ok(());
                    }
                    connection.session.ping(b"").await?;
                }
            }
        }
    }
    .await;
    let reason = match outcome {
        Err(Stop::Store) => Some(actix_ws::CloseReason {
            code: actix_ws::CloseCode::Again,
            description: None,
        }),
        _ => None,
    };
    let _ = connection.session.close(reason).await;
}

/// The next account change; never, for a socket that is not signed in.
async fn next_account_change(
    changes: &mut Option<crate::store::AccountChanges>,
) -> Result<AccountId, RecvError> {
    match changes {
        Some(changes) => changes.recv().await,
        None => std::future::pending().await,
    }
}

/// The next change of the moderation queue; never, for others than moderators.
async fn next_queue_item(
    queue: &mut Option<QueueSubscription>,
) -> Result<Arc<QueueEvent>, RecvError> {
    match queue {
        Some(queue) => queue.receiver.recv().await,
        None => std::future::pending().await,
    }
}

fn status_message(status: &Status) -> String {
    json!({ "type": "status", "status": status }).to_string()
}

impl Connection {
    async fn send(&mut self, text: String) -> Result<(), Stop> {
        Ok(self.session.text(text).await?)
    }

    /// Reads the viewer's session again. Ended (signed out, password
    /// changed, account disabled or its role changed): from now on the
    /// socket is a guest's, told `signed_out`. Still valid: the account as
    /// it is now, and the queue only while it may still moderate here.
    /// Anonymous sockets have nothing to lose and are not asked.
    async fn recheck(&mut self, queue: &mut Option<QueueSubscription>) -> Result<(), Stop> {
        let Some(token) = self.viewer.session_token.clone() else {
            return Ok(());
        };
        let fresh = match self.state.accounts.session(&token).await {
            Ok(found) => found.map(|(_, account)| account),
            Err(e) => {
                // Unchecked rights are no rights: close; the client comes back
                // and is read afresh.
                tracing::warn!(error = ?e, "cannot check a socket's session");
                return Err(Stop::Store);
            }
        };
        let was_moderator = self.viewer.moderator;
        match fresh {
            Some(account) => {
                self.viewer.moderator =
                    was_moderator && may_moderate(&account, self.viewer.community);
                self.viewer.account = Some(account);
            }
            None => {
                self.viewer.account = None;
                self.viewer.session_token = None;
                self.viewer.moderator = false;
                self.mine.clear();
            }
        }
        if was_moderator && !self.viewer.moderator {
            *queue = None;
            self.send(json!({"type": "queue", "op": "revoked"}).to_string())
                .await?;
        }
        if self.viewer.account.is_none() {
            tracing::info!(broadcast = %self.broadcast, "a socket's session ended; it watches as a guest now");
            let message = self.viewer.lang.t("chat_ui.signed_out");
            self.send(json!({"type": "signed_out", "message": message}).to_string())
                .await?;
        }
        Ok(())
    }

    /// A queue change, passed on; an item that left the queue says who
    /// decided, so that another moderator's page can say "handled by X".
    async fn forward_queue(&mut self, item: &QueueEvent) -> Result<(), Stop> {
        let mut frame: Value = match serde_json::from_str(&item.body) {
            Ok(frame) => frame,
            Err(_) => return self.send(item.body.to_string()).await,
        };
        if frame["op"] == "remove" {
            if let Some(by) = frame["item"]["decided_by"].as_i64() {
                let by = crate::domain::AccountId(by);
                if !self.names.contains_key(&by) {
                    if let Ok(account) = self.state.store.account(by).await {
                        self.names.insert(by, account.display_name);
                    }
                }
                if let Some(name) = self.names.get(&by) {
                    frame["by"] = json!(name);
                }
            }
        }
        self.send(frame.to_string()).await
    }

    /// The snapshot, or (resuming) the events after the client's last one.
    async fn start(&mut self, after: Option<i64>) -> Result<(), Stop> {
        if let Some(after) = after {
            let chat = self.state.chat.clone();
            let missed = chat
                .events_after(self.broadcast, after, MAX_CATCH_UP + 1)
                .await
                .map_err(|_| Stop::Store)?;
            let continuous = match missed.first() {
                Some(first) => first.seq == after + 1,
                // Nothing missed, if the client's sequence number is one we gave.
                None => after <= self.latest_seq().await?,
            };
            if continuous && missed.len() <= MAX_CATCH_UP {
                self.last_seq = after;
                for event in missed {
                    self.forward_one(&event).await?;
                }
                if self.viewer.account.is_some() {
                    self.send_me(false).await?;
                }
                return Ok(());
            }
        }
        self.send_snapshot().await
    }

    async fn latest_seq(&self) -> Result<i64, Stop> {
        let snapshot = self
            .state
            .chat
            .snapshot(self.broadcast, None)
            .await
            .map_err(|_| Stop::Store)?;
        Ok(snapshot.seq)
    }

    async fn send_snapshot(&mut self) -> Result<(), Stop> {
        let snapshot = self
            .state
            .chat
            .snapshot(self.broadcast, None)
            .await
            .map_err(|_| Stop::Store)?;
        let me = match &self.viewer.account.clone() {
            Some(account) => Some(self.me_json(account, false).await?),
            None => None,
        };
        self.last_seq = snapshot.seq;
        let frame = json!({
            "type": "snapshot",
            "seq": snapshot.seq,
            "comments": snapshot.comments,
            "questions": snapshot.questions,
            "answering": snapshot.answering,
            "settings": snapshot.settings,
            "me": me,
        });
        self.send(frame.to_string()).await
    }

    /// A live event: sent if it is the next one; a gap is filled from the
    /// store first; one already sent is dropped.
    async fn forward(&mut self, event: Arc<PublicEvent>) -> Result<(), Stop> {
        if event.seq <= self.last_seq {
            return Ok(());
        }
        if event.seq > self.last_seq + 1 {
            self.catch_up(Some(event.seq - 1)).await?;
        }
        self.forward_one(&event).await
    }

    async fn forward_one(&mut self, event: &PublicEvent) -> Result<(), Stop> {
        if event.seq != self.last_seq + 1 {
            return Ok(());
        }
        self.last_seq = event.seq;
        self.send(event.body.to_string()).await
    }

    /// Sends the events after the last one sent, up to `upto` (or all), from
    /// the store. Too many: a fresh snapshot instead.
    async fn catch_up(&mut self, upto: Option<i64>) -> Result<(), Stop> {
        let missed = self
            .state
            .chat
            .events_after(self.broadcast, self.last_seq, MAX_CATCH_UP + 1)
            .await
            .map_err(|_| Stop::Store)?;
        if missed.len() > MAX_CATCH_UP || missed.first().is_some_and(|e| e.seq != self.last_seq + 1)
        {
            return self.send_snapshot().await;
        }
        for event in missed {
            if upto.is_some_and(|upto| event.seq > upto) {
                break;
            }
            self.forward_one(&event).await?;
        }
        if upto.is_some_and(|upto| self.last_seq < upto) {
            // The store does not have what was announced: start afresh.
            return Err(Stop::Store);
        }
        Ok(())
    }

    /// The viewer's own comments and rights; with `notify`, what changed
    /// since last time, in words.
    async fn send_me(&mut self, notify: bool) -> Result<(), Stop> {
        let Some(account) = self.viewer.account.clone() else {
            return Ok(());
        };
        let (me, notice) = self.me_with_notice(&account, notify).await?;
        self.send(json!({ "type": "me", "me": me, "notice": notice }).to_string())
            .await
    }

    async fn me_json(&mut self, account: &Account, notify: bool) -> Result<Value, Stop> {
        Ok(self.me_with_notice(account, notify).await?.0)
    }

    async fn me_with_notice(
        &mut self,
        account: &Account,
        notify: bool,
    ) -> Result<(Value, Option<Value>), Stop> {
        let chat = self.state.chat.clone();
        let snapshot = chat
            .snapshot(self.broadcast, Some(account))
            .await
            .map_err(|_| Stop::Store)?;
        let mine = chat
            .my_comments(account, self.broadcast)
            .await
            .map_err(|_| Stop::Store)?;
        let lang = self.viewer.lang;
        let Some(me) = snapshot.me else {
            return Ok((Value::Null, None));
        };
        let mut notice = None;
        if notify {
            for comment in &mine {
                let before = self.mine.get(&comment.id).copied();
                if before == Some(comment.state) {
                    continue;
                }
                notice = match comment.state {
                    CommentState::Approved if before == Some(CommentState::Held) => {
                        Some(json!({ "message": lang.t("chat_ui.notice.approved"), "bad": false }))
                    }
                    CommentState::Rejected => Some(json!({
                        "message": rejected_message(lang, comment),
                        "bad": true,
                    })),
                    CommentState::Hidden if before.is_some() => {
                        Some(json!({ "message": lang.t("chat_ui.notice.hidden"), "bad": true }))
                    }
                    _ => notice,
                };
            }
            if self.can_post && !me.can_post {
                notice = Some(json!({
                    "message": why_not_message(lang, self.viewer.time_zone, me.why_not, me.until),
                    "bad": true,
                }));
            }
        }
        self.mine = mine.iter().map(|c| (c.id, c.state)).collect();
        self.can_post = me.can_post;
        let json = json!({
            "can_post": me.can_post,
            "why_not": me.why_not,
            "why_not_message": (!me.can_post).then(|| why_not_message(lang, self.viewer.time_zone, me.why_not, me.until)),
            "until": me.until,
            "voted": me.voted,
            "mine": mine.iter().map(my_comment_json).collect::<Vec<_>>(),
        });
        Ok((json, notice))
    }

    async fn client_frame(
        &mut self,
        text: &str,
        queue: &mut Option<QueueSubscription>,
    ) -> Result<(), Stop> {
        let lang = self.viewer.lang;
        let zone = self.viewer.time_zone;
        let frame: ClientFrame = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(_) => {
                let reply = error_frame(lang, "chat_ui.error.bad_frame");
                return self.send(reply.to_string()).await;
            }
        };
        // Posting and voting are the account's: is it still signed in, as what?
        self.recheck(queue).await?;
        let reply = match (frame, self.viewer.account.clone()) {
            (ClientFrame::Post(post), account) => {
                let client_id = post.client_id.clone();
                let result = match account {
                    Some(account) => {
                        post_comment(&self.state, &account, self.broadcast, post, lang, zone).await
                    }
                    None => Err(Refusal::of(
                        lang,
                        "chat_ui.error.login_to_post",
                        StatusCode::UNAUTHORIZED,
                    )),
                };
                match result {
                    Ok(posted) => ack_json(&client_id, &posted),
                    Err(refusal) => with(refusal.frame(), "client_id", json!(client_id)),
                }
            }
            (ClientFrame::Vote { id, up }, account) => {
                let result = match account {
                    Some(account) => {
                        vote(
                            &self.state,
                            &account,
                            self.broadcast,
                            CommentId(id),
                            up,
                            lang,
                            zone,
                        )
                        .await
                    }
                    None => Err(Refusal::of(
                        lang,
                        "chat_ui.error.login_to_post",
                        StatusCode::UNAUTHORIZED,
                    )),
                };
                match result {
                    Ok(votes) => vote_json(id, up, votes),
                    Err(refusal) => with(refusal.frame(), "vote", json!(id)),
                }
            }
        };
        self.send(reply.to_string()).await
    }
}

/// `object` with one more field.
fn with(mut object: Value, name: &str, value: Value) -> Value {
    object[name] = value;
    object
}

fn my_comment_json(comment: &Comment) -> Value {
    json!({
        "id": comment.id,
        "client_id": comment.client_id,
        "state": comment.state,
        "reason": comment.reject_reason,
        "comment": comment.public(),
    })
}

fn rejected_message(lang: Lang, comment: &Comment) -> String {
    match comment
        .reject_reason
        .as_deref()
        .filter(|r| !r.trim().is_empty())
    {
        Some(reason) => lang.tf("chat_ui.notice.rejected_because", &[("reason", &reason)]),
        None => lang.t("chat_ui.notice.rejected").into_owned(),
    }
}

fn why_not_message(
    lang: Lang,
    zone: chrono_tz::Tz,
    key: Option<&'static str>,
    until: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    let until = until
        .map(|t| {
            t.with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default();
    lang.tf(key.unwrap_or("chat_ui.cannot_post"), &[("until", &until)])
}

/// A refusal a person can act on, in their words, with its status for HTTP.
struct Refusal {
    pub status: StatusCode,
    key: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl Refusal {
    fn of(lang: Lang, key: &'static str, status: StatusCode) -> Self {
        Self {
            status,
            key,
            message: lang.t(key).into_owned(),
            retry_after: None,
        }
    }

    fn chat(e: ChatError, lang: Lang, zone: chrono_tz::Tz) -> Self {
        let status = chat_error_status(&e);
        if status.is_server_error() {
            tracing::error!(error = ?e, "chat request failed");
        }
        Refusal {
            status,
            key: e.message_key(),
            message: e.message(lang, zone),
            retry_after: e.retry_after().map(u64::from),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    fn frame(&self) -> Value {
        let mut frame = json!({ "type": "error", "error": self.key, "message": self.message });
        if let Some(seconds) = self.retry_after {
            frame["retry_after"] = json!(seconds);
        }
        frame
    }
}

/// A chat failure on a page: not found and forbidden as such, the rest an error.
pub fn chat_failure(e: ChatError) -> WebError {
    match chat_error_status(&e) {
        StatusCode::NOT_FOUND => WebError::NotFound,
        StatusCode::FORBIDDEN => WebError::Forbidden,
        _ => WebError::Internal(e.into()),
    }
}

/// The HTTP status of a chat refusal.
pub fn chat_error_status(e: &ChatError) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A chat refusal in the words of the page's reader.
pub fn chat_error_message(ctx: &Ctx, e: &ChatError) -> String {
    e.message(ctx.lang, ctx.time_zone)
}

fn error_frame(lang: Lang, key: &'static str) -> Value {
    Refusal::of(lang, key, StatusCode::BAD_REQUEST).frame()
}

fn ack_json(client_id: &str, posted: &Posted) -> Value {
    json!({
        "type": "ack",
        "client_id": client_id,
        "state": posted.state(),
        "comment": posted.comment().public(),
    })
}

fn vote_json(id: i64, up: bool, votes: i64) -> Value {
    json!({ "type": "ack", "vote": { "id": id, "up": up, "votes": votes } })
}

async fn post_comment(
    state: &AppState,
    account: &Account,
    broadcast: BroadcastId,
    post: PostBody,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> Result<Posted, Refusal> {
    let post = post
        .new_post()
        .map_err(|key| Refusal::of(lang, key, StatusCode::BAD_REQUEST))?;
    state
        .chat
        .post(account, broadcast, post)
        .await
        .map_err(|e| Refusal::chat(e, lang, zone))
}

async fn vote(
    state: &AppState,
    account: &Account,
    broadcast: BroadcastId,
    id: CommentId,
    up: bool,
    lang: Lang,
    zone: chrono_tz::Tz,
) -> Result<i64, Refusal> {
    let refusal = |e| Refusal::chat(e, lang, zone);
    let comment = state.chat.comment(id).await.map_err(refusal)?;
    if comment.broadcast_id != broadcast {
        return Err(refusal(ChatError::NotFound));
    }
    state.chat.vote(account, id, up).await.map_err(refusal)
}

/// What an HTTP client sends: JSON, or a plain form from a browser without
/// scripts. Either way the form token (header or field) and origin must match.
struct Submitted<T> {
    ctx: Ctx,
    data: T,
    form: bool,
}

async fn submitted<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: web::Bytes,
) -> Result<Submitted<T>, WebError> {
    let ctx = Ctx::load(req).await?;
    if !same_origin(req) {
        tracing::warn!(path = req.path(), "cross-origin chat request refused");
        return Err(WebError::Csrf);
    }
    let form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let header_token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let token = if form {
        #[derive(Deserialize)]
        struct Token {
            #[serde(default)]
            csrf_token: String,
        }
        let field = serde_urlencoded::from_bytes::<Token>(&body)
            .map(|t| t.csrf_token)
            .unwrap_or_default();
        header_token.unwrap_or(field)
    } else {
        header_token.unwrap_or_default()
    };
    // The token first: a forged request learns nothing, not even about its body.
    ctx.check_form_token(&token)?;
    if body.len() > MAX_FRAME {
        return Err(WebError::BadInput {
            key: "error.too_large",
        });
    }
    let bad = |e: String| {
        tracing::info!(error = %e, path = req.path(), "malformed chat request");
        WebError::BadInput {
            key: "error.bad_request",
        }
    };
    let data = if form {
        serde_urlencoded::from_bytes(&body).map_err(|e| bad(e.to_string()))?
    } else {
        serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?
    };
    Ok(Submitted { ctx, data, form })
}

fn json_reply(status: StatusCode, body: Value) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// A refusal as JSON, with `Retry-After` when waiting helps.
fn refusal_reply(refusal: &Refusal, extra: Option<(&str, Value)>) -> HttpResponse {
    let mut body = refusal.frame();
    if let Some((name, value)) = extra {
        body[name] = value;
    }
    let mut response = json_reply(refusal.status, body);
    if let Some(seconds) = refusal.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
    }
    response
}

/// `POST /live/{id}/comments`: a comment or question, as over the socket.
#[utoipa::path(
    post, path = "/live/{id}/comments", tag = "live",
    security(("session" = [], "form_token" = [])),
    params(("id" = i64, Path, description = "The broadcast")),
    request_body(content = PostBody, description = "JSON with an `X-CSRF-Token` header, or a plain form with the token field"),
    responses(
        (status = 200, description = "`{\"type\":\"ack\",\"client_id\",\"state\":\"shown\"|\"held\",\"comment\"}`"),
        (status = 400, description = "Empty or too long", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Timed out, banned, or a forged request", body = ApiError),
        (status = 404, description = "No such broadcast", body = ApiError),
        (status = 429, description = "Slow mode or flood guard; `retry_after` seconds", body = ApiError),
    )
)]
pub async fn post(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let submitted: Submitted<PostBody> = submitted(&req, body).await?;
    let ctx = submitted.ctx;
    let Some(account) = ctx.viewer.clone() else {
        return Err(WebError::LoginRequired {
            next: format!("/live/{}", *id),
        });
    };
    let broadcast = state.store.broadcast(BroadcastId(*id)).await?;
    let mut data = submitted.data;
    if data.client_id.is_empty() && submitted.form {
        data.client_id = uuid::Uuid::new_v4().simple().to_string();
    }
    let client_id = data.client_id.clone();
    let result = post_comment(
        &state,
        &account,
        broadcast.id,
        data,
        ctx.lang,
        ctx.time_zone,
    )
    .await;
    if submitted.form {
        // A browser without scripts: back to the page, which shows the
        // author's message (held or shown) from the socket's snapshot.
        return Ok(match result {
            Ok(_) => crate::web::forms::see_other(&format!("/live/{}#chat", broadcast.id)),
            Err(refusal) => HttpResponse::build(refusal.status)
                .content_type("text/html; charset=utf-8")
                .body(
                    crate::web::layout::error_page(
                        &req,
                        ctx.lang,
                        refusal.status,
                        refusal.message(),
                    )
                    .into_string(),
                ),
        });
    }
    Ok(match result {
        Ok(posted) => json_reply(StatusCode::OK, ack_json(&client_id, &posted)),
        Err(refusal) => refusal_reply(&refusal, Some(("client_id", json!(client_id)))),
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct VoteBody {
    /// `true` votes (the default), `false` takes the vote back.
    #[serde(default = "yes", deserialize_with = "lenient_bool")]
    up: bool,
}

fn yes() -> bool {
    true
}

/// `POST /live/{id}/comments/{cid}/vote`: `{"up": true}` votes, `false` takes it back.
#[utoipa::path(
    post, path = "/live/{id}/comments/{cid}/vote", tag = "live",
    security(("session" = [], "form_token" = [])),
    params(("id" = i64, Path, description = "The broadcast"), ("cid" = i64, Path, description = "The question")),
    request_body(content = VoteBody, description = "JSON with an `X-CSRF-Token` header, or a plain form with the token field"),
    responses(
        (status = 200, description = "`{\"type\":\"ack\",\"vote\":{\"id\",\"up\",\"votes\"}}`"),
        (status = 400, description = "Not a vote", body = ApiError),
        (status = 401, description = "Not signed in", body = ApiError),
        (status = 403, description = "Not allowed (e.g. one's own question) or a forged request", body = ApiError),
        (status = 404, description = "No such question", body = ApiError),
    )
)]
pub async fn vote_http(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, i64)>,
    body: web::Bytes,
) -> Result<HttpResponse, WebError> {
    let (broadcast, comment) = path.into_inner();
    let submitted: Submitted<VoteBody> = submitted(&req, body).await?;
    let ctx = submitted.ctx;
    let Some(account) = ctx.viewer.clone() else {
        return Err(WebError::LoginRequired {
            next: format!("/live/{broadcast}"),
        });
    };
    let up = submitted.data.up;
    let result = vote(
        &state,
        &account,
        BroadcastId(broadcast),
        CommentId(comment),
        up,
        ctx.lang,
        ctx.time_zone,
    )
    .await;
    Ok(match result {
        Ok(votes) => json_reply(StatusCode::OK, vote_json(comment, up, votes)),
        Err(refusal) => refusal_reply(&refusal, Some(("vote", json!(comment)))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_point_is_read_from_the_query() {
        assert_eq!(after_param("after=42"), Some(42));
        assert_eq!(after_param("x=1&after=7"), Some(7));
        assert_eq!(after_param("after=-1"), None);
        assert_eq!(after_param("after=abc"), None);
        assert_eq!(after_param(""), None);
    }

    #[test]
    fn frames_parse_and_anonymity_is_for_questions_only() {
        let frame: ClientFrame = serde_json::from_str(
            r#"{"type":"post","client_id":"a","kind":"chat","text":"hi","anonymous":true}"#,
        )
        .unwrap();
        let ClientFrame::Post(post) = frame else {
            panic!("not a post")
        };
        let post = post.new_post().unwrap();
        assert_eq!(post.kind, CommentKind::Chat);
        assert!(!post.anonymous);
        let frame: ClientFrame =
            serde_json::from_str(r#"{"type":"vote","id":3,"up":false}"#).unwrap();
        assert!(matches!(frame, ClientFrame::Vote { id: 3, up: false }));
        assert!(serde_json::from_str::<ClientFrame>(r#"{"type":"shout"}"#).is_err());
        let form: PostBody =
            serde_urlencoded::from_str("kind=question&text=x&anonymous=on").unwrap();
        assert!(form.new_post().unwrap().anonymous);
        let bad = PostBody {
            client_id: String::new(),
            kind: "poll".into(),
            text: String::new(),
            anonymous: false,
        };
        assert!(bad.new_post().is_err());
    }
}
