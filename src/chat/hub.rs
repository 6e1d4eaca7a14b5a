//! Fan-out to the people watching a broadcast. Each broadcast with someone
//! listening or writing has a room: three broadcast channels (public events
//! for everyone, private notices filtered by account, queue changes for
//! moderators) and the lock that keeps "append to the event log, then
//! publish" in sequence order.
//!
//! A public event's JSON frame is serialised once; every viewer's socket
//! gets the same `Arc`.
//!
//! Several nodes on one database each have their own rooms. A change made
//! on another node arrives as a signal (see `Chat::follow_signals`): the
//! room reads the events after the newest it published from the store, so
//! it publishes each event; a socket drops one it already sent and fills a
//! gap from the store, so the order of arrival does not matter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;

use crate::domain::chat::{ChatSettings, PublicComment, StoredChatEvent};
use crate::domain::{AccountId, BroadcastId, CommentId};

/// How many public events a slow viewer may fall behind before its
/// receiver reports a lag (the socket then reloads the gap from the store).
const PUBLIC_CAPACITY: usize = 1024;
const PRIVATE_CAPACITY: usize = 256;
const QUEUE_CAPACITY: usize = 256;

/// A public change, numbered per broadcast: `body` is the text frame
/// `{"type":"event","seq":…,"at":…,"event":{…}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicEvent {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub body: Arc<str>,
}

impl From<StoredChatEvent> for PublicEvent {
    fn from(event: StoredChatEvent) -> Self {
        Self {
            seq: event.seq,
            at: event.at,
            body: event.body.into(),
        }
    }
}

/// A notice for one account only (their comment's fate, a time-out):
/// sockets pass on those whose `account` is theirs. `body` is a text frame:
/// `{"type":"mine","comment":MyComment}` or
/// `{"type":"sanction","kind":"timeout"|"ban"|null,"until":…,"reason":…}`.
/// With `everyone`, every signed-in viewer's state may have changed (notices
/// from other nodes were missed): each reads its own again.
#[derive(Debug, Clone, PartialEq)]
pub struct PrivateEvent {
    pub account: AccountId,
    pub everyone: bool,
    pub body: Arc<str>,
}

impl PrivateEvent {
    /// Whether a socket signed in as `account` must act on this notice.
    pub fn concerns(&self, account: Option<AccountId>) -> bool {
        account.is_some_and(|a| self.everyone || self.account == a)
    }
}

/// A change of the moderation queue, for moderators' sockets only:
/// `{"type":"queue","op":"add"|"remove"|"update","item":StaffComment}`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEvent {
    pub id: CommentId,
    pub body: Arc<str>,
}

/// What every viewer joining sees, the same for all of them: cached per
/// room until the next public event.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicSnapshot {
    pub seq: i64,
    pub comments: Vec<PublicComment>,
    pub questions: Vec<PublicComment>,
    pub answering: Option<CommentId>,
    pub settings: ChatSettings,
}

pub(crate) struct Room {
    pub broadcast: BroadcastId,
    public: broadcast::Sender<Arc<PublicEvent>>,
    private: broadcast::Sender<Arc<PrivateEvent>>,
    queue: broadcast::Sender<Arc<QueueEvent>>,
    /// Held from before a change is written until its events are published,
    /// so that subscribers see this node's sequence numbers in order.
    pub write: tokio::sync::Mutex<()>,
    /// Held while events another node wrote are read and published.
    pub delivering: tokio::sync::Mutex<()>,
    /// The newest sequence number published or known; -1 until known.
    latest: AtomicI64,
    snapshot: Mutex<Option<Arc<PublicSnapshot>>>,
    /// The cached settings, and how many times they were forgotten: a
    /// read from the store is kept only if nothing changed while it ran.
    settings: Mutex<(u64, Option<ChatSettings>)>,
}

impl Room {
    fn new(broadcast: BroadcastId) -> Self {
        Self {
            broadcast,
            public: broadcast::channel(PUBLIC_CAPACITY).0,
            private: broadcast::channel(PRIVATE_CAPACITY).0,
            queue: broadcast::channel(QUEUE_CAPACITY).0,
            write: tokio::sync::Mutex::new(()),
            delivering: tokio::sync::Mutex::new(()),
            latest: AtomicI64::new(-1),
            snapshot: Mutex::new(None),
            settings: Mutex::new((0, None)),
        }
    }

    pub fn subscribe_public(&self) -> broadcast::Receiver<Arc<PublicEvent>> {
        self.public.subscribe()
    }

    pub fn subscribe_private(&self) -> broadcast::Receiver<Arc<PrivateEvent>> {
        self.private.subscribe()
    }

    pub fn subscribe_queue(&self) -> broadcast::Receiver<Arc<QueueEvent>> {
        self.queue.subscribe()
    }

    /// The newest sequence number published or known; -1 until known.
    pub fn latest(&self) -> i64 {
        self.latest.load(Ordering::SeqCst)
    }

    /// Whether any moderator's socket follows the queue here.
    pub fn has_queue_subscribers(&self) -> bool {
        self.queue.receiver_count() > 0
    }

    /// Sends stored events to every viewer, in the order they were appended:
    /// this node's under `write`, other nodes' under `delivering`.
    pub fn publish(&self, events: Vec<StoredChatEvent>) {
        if events.is_empty() {
            return;
        }
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
        for event in events {
            let seq = event.seq;
            // No receiver is not an error: nobody is watching right now.
            let _ = self.public.send(Arc::new(PublicEvent::from(event)));
            self.latest.fetch_max(seq, Ordering::SeqCst);
        }
    }

    pub fn tell(&self, account: AccountId, body: String) {
        let _ = self.private.send(Arc::new(PrivateEvent {
            account,
            everyone: false,
            body: body.into(),
        }));
    }

    /// Tells every signed-in viewer to read their own state again.
    pub fn tell_everyone(&self) {
        let _ = self.private.send(Arc::new(PrivateEvent {
            account: AccountId(0),
            everyone: true,
            body: "{\"type\":\"resync\"}".into(),
        }));
    }

    pub fn tell_moderators(&self, id: CommentId, body: String) {
        let _ = self.queue.send(Arc::new(QueueEvent {
            id,
            body: body.into(),
        }));
    }

    /// The cached snapshot, if nothing public changed since it was made.
    pub fn cached_snapshot(&self) -> Option<Arc<PublicSnapshot>> {
        let cached = self
            .snapshot
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        (cached.seq == self.latest.load(Ordering::SeqCst)).then_some(cached)
    }

    /// Keeps a snapshot read from the store for the next viewers, unless an
    /// event newer than it was published meanwhile.
    pub fn keep_snapshot(&self, snapshot: Arc<PublicSnapshot>) {
        // A room that has published nothing yet learns its position here.
        let _ = self
            .latest
            .compare_exchange(-1, snapshot.seq, Ordering::SeqCst, Ordering::SeqCst);
        if self.latest.load(Ordering::SeqCst) == snapshot.seq {
            *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Some(snapshot);
        }
    }

    /// Drops the cached snapshot: stored comments changed without a public
    /// event (an author closed their account and their name went).
    pub fn forget_snapshot(&self) {
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// The cached settings, and the generation to hand back to
    /// [`Room::keep_read_settings`] when there are none.
    pub fn settings(&self) -> (u64, Option<ChatSettings>) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the cached settings: another node changed them.
    pub fn forget_settings(&self) {
        let mut cached = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        *cached = (cached.0 + 1, None);
    }

    /// Keeps settings this node has just stored.
    pub fn keep_settings(&self, settings: ChatSettings) {
        self.settings.lock().unwrap_or_else(|e| e.into_inner()).1 = Some(settings);
    }

    /// Keeps settings read from the store when the cache was at
    /// `generation`, unless they were forgotten since (a change on another
    /// node landed while they were read, and they may predate it).
    pub fn keep_read_settings(&self, settings: ChatSettings, generation: u64) {
        let mut cached = self.settings.lock().unwrap_or_else(|e| e.into_inner());
        if cached.0 == generation {
            cached.1 = Some(settings);
        }
    }
}

/// The rooms of broadcasts someone listens to or writes in.
#[derive(Default)]
pub(crate) struct Rooms {
    map: Mutex<HashMap<BroadcastId, Arc<Room>>>,
}

impl Rooms {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<BroadcastId, Arc<Room>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The broadcast's room, opened on first use.
    pub fn get(&self, broadcast: BroadcastId) -> Arc<Room> {
        self.map()
            .entry(broadcast)
            .or_insert_with(|| Arc::new(Room::new(broadcast)))
            .clone()
    }

    /// The broadcast's room if it is open (someone on this node uses it).
    pub fn existing(&self, broadcast: BroadcastId) -> Option<Arc<Room>> {
        self.map().get(&broadcast).cloned()
    }

    /// Rooms nobody holds: no subscription, no change under way.
    pub fn unused(&self) -> Vec<BroadcastId> {
        self.map()
            .iter()
            .filter(|(_, room)| Arc::strong_count(room) == 1)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Drops the room if still nobody holds it. Subscribing clones the room
    /// under the same lock, so a room is never dropped under a subscriber.
    pub fn drop_if_unused(&self, broadcast: BroadcastId) -> bool {
        let mut map = self.map();
        match map.get(&broadcast) {
            Some(room) if Arc::strong_count(room) == 1 => {
                map.remove(&broadcast);
                true
            }
            _ => false,
        }
    }

    pub fn len(&self) -> usize {
        self.map().len()
    }

    /// Every open room.
    pub fn all(&self) -> Vec<Arc<Room>> {
        self.map().values().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(seq: i64) -> StoredChatEvent {
        StoredChatEvent {
            broadcast_id: BroadcastId(1),
            seq,
            at: Utc::now(),
            body: format!("{{\"seq\":{seq}}}"),
        }
    }

    fn snapshot(seq: i64) -> Arc<PublicSnapshot> {
        Arc::new(PublicSnapshot {
            seq,
            comments: vec![],
            questions: vec![],
            answering: None,
            settings: ChatSettings::default(),
        })
    }

    #[tokio::test]
    async fn subscribers_get_events_in_order_and_share_one_frame() {
        let rooms = Rooms::default();
        let room = rooms.get(BroadcastId(1));
        let mut first = room.subscribe_public();
        let mut second = room.subscribe_public();
        room.publish(vec![stored(1), stored(2)]);
        room.publish(vec![stored(3)]);
        for expected in 1..=3 {
            let a = first.recv().await.unwrap();
            let b = second.recv().await.unwrap();
            assert_eq!(a.seq, expected);
            assert!(Arc::ptr_eq(&a, &b), "one frame for everyone");
        }
    }

    #[test]
    fn a_snapshot_is_reused_only_until_the_next_event() {
        let room = Room::new(BroadcastId(1));
        room.keep_snapshot(snapshot(5));
        assert_eq!(room.cached_snapshot().unwrap().seq, 5);
        room.publish(vec![stored(6)]);
        assert!(room.cached_snapshot().is_none());
        // A snapshot read before event 6 was published must not be kept.
        room.keep_snapshot(snapshot(5));
        assert!(room.cached_snapshot().is_none());
        room.keep_snapshot(snapshot(6));
        assert_eq!(room.cached_snapshot().unwrap().seq, 6);
    }

    #[test]
    fn rooms_nobody_holds_are_dropped_and_held_ones_kept() {
        let rooms = Rooms::default();
        let held = rooms.get(BroadcastId(1));
        let _ = rooms.get(BroadcastId(2));
        assert_eq!(rooms.unused(), vec![BroadcastId(2)]);
        assert!(rooms.drop_if_unused(BroadcastId(2)));
        assert!(!rooms.drop_if_unused(BroadcastId(1)));
        assert_eq!(rooms.len(), 1);
        drop(held);
        assert!(rooms.drop_if_unused(BroadcastId(1)));
        assert_eq!(rooms.len(), 0);
    }
}
