//! The chat across nodes. Every change a node makes is published to its own
//! rooms at once and announced to the others as a small signal (ids and
//! sequence numbers, never text); a node that has the room open reads what
//! changed from the store and publishes it to its own sockets. A node told
//! that it lagged (its listening connection to the database came back)
//! reads every open room's events after the newest it published, forgets
//! cached settings, snapshots and blocked words, and tells each socket to
//! read its own state and each moderator to reload the queue.
//!
//! What must agree across nodes is decided by the store, never by a room:
//! sequence numbers, one decision per comment, one vote per person, time-outs
//! and bans (read on every post), and slow mode (the author's last stored
//! comment, see `posting`).

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast::error::RecvError;

use crate::domain::chat::StoredChatEvent;
use crate::domain::{AccountId, BroadcastId, CommentId, CommunityId};
use crate::store::Topic;

use super::hub::Room;
use super::{mine_frame, queue_frame, sanction_frame, staff_comment, Chat, EVENTS_MAX};

/// What a node tells the others about a chat change (JSON, a few dozen bytes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(super) enum ChatSignal {
    /// Public events `from..=to` of the broadcast were appended.
    Events { b: BroadcastId, from: i64, to: i64 },
    /// The author's comment changed in a way they see.
    Mine {
        b: BroadcastId,
        c: CommentId,
        a: AccountId,
    },
    /// A comment entered (`add`), left (`remove`) or changed in (`update`)
    /// the moderation queue.
    Queue {
        b: BroadcastId,
        c: CommentId,
        op: String,
    },
    /// The account's time-outs or bans in the community changed.
    Sanction {
        b: BroadcastId,
        a: AccountId,
        community: CommunityId,
    },
    /// The broadcast's chat settings changed.
    Settings { b: BroadcastId },
    /// The community's blocked words changed.
    Words { community: CommunityId },
    /// Stored comments changed without an event (an author closed their
    /// account and their name went).
    Renamed,
}

impl Chat {
    /// Tells the other nodes (subscribers here ignore our own signals).
    pub(super) fn signal(&self, signal: &ChatSignal) {
        match serde_json::to_string(signal) {
            Ok(payload) => self.inner.signals.tell(Topic::Chat, &payload),
            Err(e) => tracing::error!(error = %e, "a chat signal cannot be written"),
        }
    }

    /// Publishes events this node appended, and tells the other nodes.
    pub(super) fn publish(&self, room: &Room, events: Vec<StoredChatEvent>) {
        let (Some(first), Some(last)) = (events.first(), events.last()) else {
            return;
        };
        let signal = ChatSignal::Events {
            b: room.broadcast,
            from: first.seq,
            to: last.seq,
        };
        room.publish(events);
        self.signal(&signal);
    }

    /// Follows the other nodes' chat signals until the store's bus closes.
    /// Subscribes before returning, so nothing sent afterwards is missed.
    pub(super) fn follow_signals(&self) {
        let mut signals = self.inner.signals.subscribe(Topic::Chat);
        let chat = self.clone();
        tokio::spawn(async move {
            loop {
                match signals.recv().await {
                    Ok(signal) if signal.from_here => {}
                    Ok(signal) => match serde_json::from_str::<ChatSignal>(&signal.payload) {
                        Ok(signal) => chat.apply(signal).await,
                        Err(e) => {
                            tracing::warn!(payload = %signal.payload, error = %e, "a malformed chat signal was ignored")
                        }
                    },
                    Err(RecvError::Lagged(_)) => chat.resync().await,
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    /// Does here what another node's change asks. Rooms nobody here uses are
    /// left closed: whoever opens one later reads the store.
    pub(super) async fn apply(&self, signal: ChatSignal) {
        let rooms = &self.inner.rooms;
        match signal {
            ChatSignal::Events { b, from, to } => {
                if let Some(room) = rooms.existing(b) {
                    self.deliver(&room, from, to).await;
                }
            }
            ChatSignal::Mine { b, c, a } => {
                let Some(room) = rooms.existing(b) else {
                    return;
                };
                match self.store().comment(c).await {
                    Ok(comment) => room.tell(a, mine_frame(&comment)),
                    Err(e) => {
                        tracing::warn!(comment = %c, error = %e, "cannot read a comment another node changed");
                        room.tell_everyone();
                    }
                }
            }
            ChatSignal::Queue { b, c, op } => {
                let Some(room) = rooms.existing(b).filter(|r| r.has_queue_subscribers()) else {
                    return;
                };
                let comment = match self.store().comment(c).await {
                    Ok(comment) => comment,
                    Err(e) => {
                        tracing::warn!(comment = %c, error = %e, "cannot read a queue item another node changed");
                        return room.tell_moderators(c, reload_frame());
                    }
                };
                let authors = self.authors(&[comment.author_id]).await.unwrap_or_default();
                let author = authors.get(&comment.author_id);
                room.tell_moderators(c, queue_frame(&op, &staff_comment(comment, author)));
            }
            ChatSignal::Sanction { b, a, community } => {
                let Some(room) = rooms.existing(b) else {
                    return;
                };
                let now = chrono::Utc::now();
                match self.store().active_sanction(community, a, now).await {
                    Ok(sanction) => room.tell(a, sanction_frame(sanction.as_ref())),
                    Err(e) => {
                        tracing::warn!(account = %a, error = %e, "cannot read a sanction another node gave");
                        room.tell_everyone();
                    }
                }
            }
            ChatSignal::Settings { b } => {
                if let Some(room) = rooms.existing(b) {
                    room.forget_settings();
                    room.forget_snapshot();
                }
            }
            ChatSignal::Words { community } => self.forget_blocked(community),
            ChatSignal::Renamed => {
                for room in rooms.all() {
                    room.forget_snapshot();
                }
            }
        }
    }

    /// Publishes the events another node appended (`from..=to`), and any
    /// before them this room has not published yet, from the store.
    async fn deliver(&self, room: &Room, from: i64, to: i64) {
        let _delivering = room.delivering.lock().await;
        let latest = room.latest();
        if latest >= to {
            return;
        }
        // A room that never published starts at the announced events; its
        // sockets started from the store and fill any gap themselves.
        let mut after = if latest < 0 { from - 1 } else { latest };
        loop {
            let events = match self
                .store()
                .chat_events_after(room.broadcast, after, EVENTS_MAX as i64)
                .await
            {
                Ok(events) => events,
                Err(e) => {
                    // The next event, or the sockets' own catching up, fills it.
                    tracing::warn!(broadcast = %room.broadcast, error = %e, "cannot read another node's chat events");
                    return;
                }
            };
            let Some(last) = events.last() else { return };
            after = last.seq;
            let full = events.len() >= EVENTS_MAX;
            room.publish(events);
            if !full {
                return;
            }
        }
    }

    /// Signals from other nodes may have been missed: every open room
    /// catches up from the store, and every cache that a signal would have
    /// cleared is cleared.
    async fn resync(&self) {
        tracing::info!("chat signals may have been missed; rooms resync from the store");
        {
            let mut blocked = self.inner.blocked.lock().unwrap_or_else(|e| e.into_inner());
            blocked.0 += 1;
            blocked.1.clear();
        }
        for room in self.inner.rooms.all() {
            room.forget_settings();
            room.forget_snapshot();
            let latest = room.latest();
            if latest >= 0 {
                self.deliver(&room, latest + 1, i64::MAX).await;
            } else {
                self.publish_newest(&room).await;
            }
            room.tell_everyone();
            room.tell_moderators(CommentId(0), reload_frame());
        }
    }
}

impl Chat {
    /// A room that never learnt its position (its sockets resumed from
    /// their own) publishes the newest stored event: a socket behind it
    /// sees the gap and fills it from the store, one at it drops it.
    async fn publish_newest(&self, room: &Room) {
        let _delivering = room.delivering.lock().await;
        let newest = match self.store().chat_snapshot(room.broadcast, 0, 0).await {
            Ok(rows) => rows.seq,
            Err(e) => {
                tracing::warn!(broadcast = %room.broadcast, error = %e, "cannot read where a chat stands");
                return;
            }
        };
        if newest <= 0 || room.latest() >= newest {
            return;
        }
        match self
            .store()
            .chat_events_after(room.broadcast, newest - 1, 1)
            .await
        {
            Ok(events) => room.publish(events),
            Err(e) => {
                tracing::warn!(broadcast = %room.broadcast, error = %e, "cannot read the newest chat event")
            }
        }
    }
}

/// Tells a moderator's page to read its queue again.
fn reload_frame() -> String {
    serde_json::json!({ "type": "queue", "op": "reload" }).to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::chat::{ChatSettings, NewPost, Posted};
    use crate::domain::broadcast::{BroadcastDetails, Renditions};
    use crate::domain::chat::CommentKind;
    use crate::domain::{Account, Actor};
    use crate::store::signals::testing;
    use crate::store::Store;

    const PATIENCE: Duration = Duration::from_secs(5);

    /// A node's chat: its own live hub and rooms on `store`.
    fn node(store: &Arc<dyn Store>, dir: &std::path::Path) -> Chat {
        let settings = crate::settings::Settings::load(None).expect("default settings");
        let live = crate::live::Live::new(
            store.clone(),
            settings.live,
            dir,
            crate::live::Node::local(0),
        );
        let chat = Chat::new(store.clone(), live.hub().clone(), chrono_tz::Asia::Shanghai);
        chat.spawn_tasks();
        chat
    }

    async fn next<T: Clone>(receiver: &mut tokio::sync::broadcast::Receiver<T>) -> T {
        tokio::time::timeout(PATIENCE, receiver.recv())
            .await
            .expect("an event within 5 s")
            .expect("an event")
    }

    async fn quiet<T: Clone + std::fmt::Debug>(receiver: &mut tokio::sync::broadcast::Receiver<T>) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(receiver.try_recv().is_err(), "nothing more, nothing twice");
    }

    fn system() -> Actor {
        Actor {
            id: None,
            name: "test".into(),
        }
    }

    /// A secretary of the test community, and a broadcast of theirs.
    async fn a_broadcast(store: &dyn Store, title: &str, key: &str) -> (Account, BroadcastId) {
        let secretary: Account = testing::secretary(store).await;
        let details = BroadcastDetails::new(
            secretary.community_id.unwrap(),
            title,
            "",
            chrono::Utc::now(),
            Vec::new(),
            Renditions::default(),
        )
        .unwrap();
        let broadcast = store
            .create_broadcast(&system(), secretary.id, &details, key)
            .await
            .unwrap()
            .id;
        (secretary, broadcast)
    }

    fn post(client_id: &str, kind: CommentKind, text: &str) -> NewPost {
        NewPost {
            client_id: client_id.into(),
            kind,
            text: text.into(),
            anonymous: false,
        }
    }

    /// What one node does in a broadcast's chat reaches the viewers and
    /// moderators connected to another node, each event once and in order.
    pub(crate) async fn chat_crosses_nodes(
        a: Arc<dyn Store>,
        b: Arc<dyn Store>,
        dir: &std::path::Path,
    ) {
        let (secretary, broadcast) = a_broadcast(&*a, "跨节点答疑", "signals-test-key").await;
        let (chat_a, chat_b) = (node(&a, &dir.join("a")), node(&b, &dir.join("b")));
        let mut viewer_a = chat_a.subscribe(broadcast).await.unwrap();
        let mut viewer_b = chat_b.subscribe(broadcast).await.unwrap();
        let mut queue_b = chat_b.subscribe_queue(&secretary, broadcast).await.unwrap();

        // A question through node A waits for review: node B's moderators see it.
        let asked = chat_a
            .post(
                &secretary,
                broadcast,
                post("q1", CommentKind::Question, "电梯什么时候修好？"),
            )
            .await
            .unwrap();
        let Posted::Held(question) = asked else {
            panic!("questions are premoderated")
        };
        let queued = next(&mut queue_b.receiver).await;
        assert_eq!(queued.id, question.id);
        assert!(queued.body.contains("\"op\":\"add\""), "{}", queued.body);

        // Approved on node B: the event reaches node A's viewers.
        chat_b.approve(&secretary, question.id).await.unwrap();
        let approved = next(&mut viewer_a.receiver).await;
        assert_eq!(next(&mut viewer_b.receiver).await.seq, approved.seq);
        assert!(approved.body.contains("电梯"), "{}", approved.body);

        // "Answer now" on node A, a chat message on node A: node B hears both, in order.
        chat_a.answer_now(&secretary, question.id).await.unwrap();
        chat_a
            .post(
                &secretary,
                broadcast,
                post("c1", CommentKind::Chat, "大家好"),
            )
            .await
            .unwrap();
        let mut last = approved.seq;
        let mut bodies = String::new();
        while !bodies.contains("大家好") {
            let event = next(&mut viewer_b.receiver).await;
            assert!(
                event.seq > last,
                "in order, once: {} after {last}",
                event.seq
            );
            last = event.seq;
            bodies.push_str(&event.body);
        }
        assert!(bodies.contains("answer"), "{bodies}");
        // And node A's own viewers got each once.
        let mut on_a = approved.seq;
        while on_a < last {
            let event = next(&mut viewer_a.receiver).await;
            assert!(event.seq > on_a);
            on_a = event.seq;
        }
        quiet(&mut viewer_a.receiver).await;
        quiet(&mut viewer_b.receiver).await;

        // Settings changed on node B: node A stops serving the cached ones.
        assert!(!chat_a.settings(broadcast).await.unwrap().chat_premoderated);
        let stricter = ChatSettings {
            chat_premoderated: true,
            ..ChatSettings::default()
        };
        chat_b
            .update_settings(&secretary, broadcast, stricter)
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !chat_a.settings(broadcast).await.unwrap().chat_premoderated {
            assert!(
                tokio::time::Instant::now() < deadline,
                "node A still has the old settings"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A comment stored whose signal never reached node B (written
    /// straight to the store, as if the notification was lost while B's
    /// listener was away) reaches B's viewers once B is told it lagged,
    /// whether B's room knew its position or not.
    pub(crate) async fn a_lagging_node_catches_up_from_the_store(
        a: Arc<dyn Store>,
        b: Arc<dyn Store>,
        dir: &std::path::Path,
    ) {
        let (secretary, broadcast) = a_broadcast(&*a, "断线重连", "signals-lag-key").await;
        let community = secretary.community_id.unwrap();
        let chat_b = node(&b, &dir.join("b"));
        let mut viewer_b = chat_b.subscribe(broadcast).await.unwrap();
        let unsignalled = |client_id: &str| crate::store::NewComment {
            broadcast_id: broadcast,
            community_id: community,
            author_id: secretary.id,
            client_id: client_id.into(),
            kind: CommentKind::Chat,
            public_name: "王书记".into(),
            anonymous: false,
            body: format!("没有信号的留言 {client_id}"),
            original_body: None,
            dup_key: client_id.into(),
            hold_reasons: Vec::new(),
            state: crate::domain::chat::CommentState::Approved,
            at: chrono::Utc::now(),
            slow_mode: None,
        };
        for client_id in ["lost-1", "lost-2"] {
            let posted = a.post_comment(&unsignalled(client_id)).await.unwrap();
            let seq = posted.events.last().unwrap().seq;
            quiet(&mut viewer_b.receiver).await;
            b.signals().lagged();
            let mut caught_up = false;
            while !caught_up {
                let event = next(&mut viewer_b.receiver).await;
                caught_up = event.seq == seq;
            }
        }
    }

    #[tokio::test]
    async fn a_lagging_node_catches_up_from_the_store_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        a_lagging_node_catches_up_from_the_store(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn a_lagging_node_catches_up_from_the_store_on_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_pg_nodes().await;
        a_lagging_node_catches_up_from_the_store(a, b, dir.path()).await;
    }

    /// The whole way on PostgreSQL: a comment stored while node B's
    /// listening connection is cut reaches B's viewers after it reconnects.
    #[tokio::test]
    async fn a_node_whose_listener_was_cut_catches_up_after_reconnecting() {
        let dir = tempfile::tempdir().unwrap();
        let pg_a = Arc::new(crate::store::postgres::testing::store().await);
        let b: Arc<dyn Store> = Arc::new(crate::store::postgres::testing::store_on(&pg_a).await);
        let a: Arc<dyn Store> = pg_a.clone();
        let (secretary, broadcast) = a_broadcast(&*a, "断线重连", "signals-cut-key").await;
        let community = secretary.community_id.unwrap();
        let chat_b = node(&b, &dir.path().join("b"));
        let mut viewer_b = chat_b.subscribe(broadcast).await.unwrap();
        let posted = a
            .post_comment(&crate::store::NewComment {
                broadcast_id: broadcast,
                community_id: community,
                author_id: secretary.id,
                client_id: "cut-1".into(),
                kind: CommentKind::Chat,
                public_name: "王书记".into(),
                anonymous: false,
                body: "断线时的留言".into(),
                original_body: None,
                dup_key: "cut-1".into(),
                hold_reasons: Vec::new(),
                state: crate::domain::chat::CommentState::Approved,
                at: chrono::Utc::now(),
                slow_mode: None,
            })
            .await
            .unwrap();
        let seq = posted.events.last().unwrap().seq;
        quiet(&mut viewer_b.receiver).await;
        assert!(crate::store::postgres::testing::terminate_listeners(&pg_a).await >= 2);
        let mut caught_up = false;
        while !caught_up {
            caught_up = next(&mut viewer_b.receiver).await.seq == seq;
        }
        assert!(b.signals().reconnects() >= 1);
    }

    /// Settings a node stored and then died before telling anyone (killed
    /// between its commit and its signal): the other nodes stop using the
    /// settings they cached once they see that node gone.
    #[tokio::test]
    async fn settings_of_a_node_that_died_before_signalling_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let pg_a = crate::store::postgres::testing::store().await;
        let dying = crate::store::postgres::testing::a_node_that_will_vanish(&pg_a).await;
        let b: Arc<dyn Store> = Arc::new(crate::store::postgres::testing::store_on(&pg_a).await);
        let a: Arc<dyn Store> = Arc::new(pg_a);
        let (_, broadcast) = a_broadcast(&*a, "节点宕机", "signals-died-key").await;
        let chat_b = node(&b, &dir.path().join("b"));
        let _viewer_b = chat_b.subscribe(broadcast).await.unwrap();
        assert!(!chat_b.settings(broadcast).await.unwrap().chat_premoderated);
        // The dying node's change: committed, never signalled.
        let stricter = ChatSettings {
            chat_premoderated: true,
            ..ChatSettings::default()
        };
        a.set_chat_settings(&system(), broadcast, &stricter, chrono::Utc::now())
            .await
            .unwrap();
        assert!(!chat_b.settings(broadcast).await.unwrap().chat_premoderated);
        sqlx::Connection::close(dying).await.unwrap();
        let deadline = tokio::time::Instant::now() + PATIENCE * 2;
        while !chat_b.settings(broadcast).await.unwrap().chat_premoderated {
            assert!(
                tokio::time::Instant::now() < deadline,
                "node B still has the settings cached before the node died"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    #[tokio::test]
    async fn chat_crosses_nodes_on_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_pg_nodes().await;
        chat_crosses_nodes(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn chat_crosses_nodes_on_one_sqlite_file_with_linked_buses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        chat_crosses_nodes(a, b, dir.path()).await;
    }

    #[test]
    fn chat_signals_are_small_json() {
        let signal = ChatSignal::Queue {
            b: BroadcastId(12),
            c: CommentId(345),
            op: "add".into(),
        };
        let json = serde_json::to_string(&signal).unwrap();
        assert_eq!(json, r#"{"k":"queue","b":12,"c":345,"op":"add"}"#);
        assert_eq!(serde_json::from_str::<ChatSignal>(&json).unwrap(), signal);
        let renamed = serde_json::to_string(&ChatSignal::Renamed).unwrap();
        assert_eq!(
            serde_json::from_str::<ChatSignal>(&renamed).unwrap(),
            ChatSignal::Renamed
        );
    }
}
