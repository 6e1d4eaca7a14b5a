//! The hub keeps every broadcast that has viewers or a publisher: who is
//! publishing, the live channel, the status viewers are shown, and the
//! grace period during which a dropped encoder may come back.
//!
//! It is the RTMP [`Gate`]: a publish with a broadcast's key starts a
//! pipeline; the pipeline's end starts the grace period; the grace period's
//! end (or staff) ends the broadcast and turns the recording into a replay.
//!
//! With several nodes on one database, the node that accepts a broadcast's
//! encoder holds the broadcast (a row of `ingest_holders`, see
//! [`crate::store::IngestStore`]) and renews its heartbeat every second;
//! the others send live requests to it. When a holder dies, its heartbeat
//! goes stale: the broadcast shows "reconnecting", a returning encoder is
//! accepted by whichever node it reaches, which continues the recording on
//! the shared media directory; and if none returns within the grace period,
//! the sweep every node runs ends the broadcast (exactly one node wins the
//! conditional claim and makes the replay).

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::channel::{Channel, Recorded};
use super::pipeline::{self, Input, Plan, Report, Targets};
use super::recording::{self, Layout};
use super::LiveSettings;
use crate::domain::broadcast::{
    Broadcast, BroadcastState, IngestProblem, PublishRefusal, ReplayState,
};
use crate::domain::{Actor, BroadcastId};
use crate::media::flv::{self, AudioTag, Timeline, VideoTag};
use crate::media::rtmp::{Gate, Sink};
use crate::media::Track;
use crate::store::{
    BroadcastFilter, Claimed, IngestClaim, IngestHolder, IngestPhase, Store, StoreError,
};

/// How often a node renews the heartbeat of the broadcasts it holds, and
/// sweeps for those of dead nodes.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(1);
/// A holder whose heartbeat is older than this is taken for dead.
pub const STALE_AFTER: Duration = Duration::from_secs(5);
/// A node that could not renew its heartbeats for this long stops its
/// encoders (they reconnect, perhaps elsewhere) before another node can
/// take their broadcasts over: two writers of one recording never overlap.
const FENCE_AFTER: Duration = Duration::from_secs(3);
/// How long a publish waits for a holder that still looks alive to go
/// stale (an encoder reconnecting faster than a dead node's heartbeat
/// ages) before it is refused as a second encoder.
const CLAIM_PATIENCE: Duration = Duration::from_secs(7);

/// This node as the others see it.
#[derive(Debug, Clone)]
pub struct Node {
    /// `node.name`: unique among the nodes, stable across restarts.
    pub name: String,
    /// This process of the node: only it renews the rows it holds.
    pub incarnation: String,
    /// Where the other nodes reach this one's HTTP server.
    pub internal_url: String,
}

impl Node {
    pub fn new(name: String, internal_url: String) -> Self {
        let incarnation = format!("{name}/{}", uuid::Uuid::new_v4().simple());
        Self {
            name,
            incarnation,
            internal_url,
        }
    }

    /// A single node on loopback (tools and tests that need no others).
    pub fn local(port: u16) -> Self {
        Self::new(format!("local:{port}"), format!("http://127.0.0.1:{port}"))
    }
}

fn stale_limit() -> chrono::DateTime<Utc> {
    Utc::now() - chrono::Duration::from_std(STALE_AFTER).unwrap_or_default()
}

/// What a watch page shows about a broadcast, pushed as it changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub state: BroadcastState,
    pub viewers: usize,
    /// Video can be played (the first segment exists).
    pub ready: bool,
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    /// Tells the other nodes when a broadcast's status changes here.
    signals: crate::store::Signals,
    settings: LiveSettings,
    layout: Layout,
    node: Node,
    entries: Mutex<HashMap<BroadcastId, Arc<Entry>>>,
    /// Stopped at once, without a word to the database (see [`Hub::halt`]).
    halted: Arc<AtomicBool>,
    /// When the heartbeats were last renewed.
    renewed: Mutex<Instant>,
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
}

struct Entry {
    id: BroadcastId,
    status: watch::Sender<Status>,
    signals: crate::store::Signals,
    viewers: AtomicUsize,
    /// Set when staff end the broadcast while an encoder is still sending;
    /// the encoder's next message then closes its connection.
    ending: AtomicBool,
    /// This node holds the broadcast (its row in `ingest_holders`).
    held: AtomicBool,
    /// Another node took the broadcast over while an encoder was still
    /// sending here (this node had lost touch with the database): the
    /// encoder's next message closes its connection.
    lost: AtomicBool,
    /// The recording is sealed once, whoever gets there first.
    finalized: AtomicBool,
    on_air: Mutex<OnAir>,
}

#[derive(Default)]
struct OnAir {
    channel: Option<Arc<Channel>>,
    publishing: bool,
    /// Counts publish sessions, so a grace timer knows whether the encoder
    /// came back meanwhile.
    session: u64,
}

impl Entry {
    fn on_air(&self) -> std::sync::MutexGuard<'_, OnAir> {
        self.on_air.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ended is final: a late report from a finishing session cannot undo it.
    /// Other nodes' viewers are told (the state itself is in the store).
    fn set_state(&self, state: BroadcastState, ready: bool) {
        if self.follow_state(state, ready) {
            announce(&self.signals, self.id, Some(ready));
        }
    }

    /// Takes a state from the store, or another node; true if it changed.
    fn follow_state(&self, state: BroadcastState, ready: bool) -> bool {
        self.status.send_if_modified(|status| {
            if status.state == BroadcastState::Ended && state != BroadcastState::Ended {
                return false;
            }
            let changed = status.state != state || status.ready != ready;
            status.state = state;
            status.ready = ready;
            changed
        })
    }

    fn is_held(&self) -> bool {
        self.held.load(Ordering::SeqCst)
    }
}

/// What a node tells the others when a broadcast's status or replay changed
/// (`ready`: whether video can be played, when known). Receivers read the
/// state from the store.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, Serialize)]
pub(crate) struct LiveSignal {
    pub b: BroadcastId,
    pub ready: Option<bool>,
}

pub(crate) fn announce(signals: &crate::store::Signals, id: BroadcastId, ready: Option<bool>) {
    let signal = LiveSignal { b: id, ready };
    match serde_json::to_string(&signal) {
        Ok(payload) => signals.tell(crate::store::Topic::Live, &payload),
        Err(e) => tracing::error!(error = %e, "a live signal cannot be written"),
    }
}

/// Counts a watch page as a viewer until dropped.
pub struct Viewer {
    entry: Arc<Entry>,
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.entry.viewers.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How often viewer counts are pushed: counting every join at once would
/// send thousands of updates to thousands of viewers.
const VIEWER_COUNT_EVERY: Duration = Duration::from_secs(2);

impl Hub {
    pub fn new(store: Arc<dyn Store>, settings: LiveSettings, layout: Layout, node: Node) -> Self {
        Self {
            inner: Arc::new(Inner {
                signals: store.signals().clone(),
                store,
                settings,
                layout,
                node,
                entries: Mutex::new(HashMap::new()),
                halted: Arc::new(AtomicBool::new(false)),
                renewed: Mutex::new(Instant::now()),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
    }

    pub fn node(&self) -> &Node {
        &self.inner.node
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<BroadcastId, Arc<Entry>>> {
        self.inner.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn entry(&self, broadcast: &Broadcast) -> Arc<Entry> {
        self.entries()
            .entry(broadcast.id)
            .or_insert_with(|| {
                Arc::new(Entry {
                    id: broadcast.id,
                    signals: self.inner.signals.clone(),
                    status: watch::channel(Status {
                        state: broadcast.state,
                        viewers: 0,
                        ready: false,
                    })
                    .0,
                    viewers: AtomicUsize::new(0),
                    ending: AtomicBool::new(false),
                    held: AtomicBool::new(false),
                    lost: AtomicBool::new(false),
                    finalized: AtomicBool::new(false),
                    on_air: Mutex::new(OnAir::default()),
                })
            })
            .clone()
    }

    fn existing(&self, id: BroadcastId) -> Option<Arc<Entry>> {
        self.entries().get(&id).cloned()
    }

    fn is_halted(&self) -> bool {
        self.inner.halted.load(Ordering::SeqCst)
    }

    /// Keeps a background task so that [`Hub::halt`] can stop it.
    pub(super) fn keep_task(&self, handle: tokio::task::AbortHandle) {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Stops everything this node does for broadcasts at once and says
    /// nothing more to the database: no heartbeat, no state change, no
    /// replay; encoders are cut off at their next message. The closest a
    /// test process can come to `kill -9` of one node among several.
    pub fn halt(&self) {
        self.inner.halted.store(true, Ordering::SeqCst);
        for task in self
            .inner
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Status updates for a watch page, which counts as a viewer while it
    /// holds the returned guard.
    pub fn watch(&self, broadcast: &Broadcast) -> (watch::Receiver<Status>, Viewer) {
        let entry = self.entry(broadcast);
        if !entry.is_held() {
            // Another node may hold it: start from what the database says.
            let ready = entry.status.borrow().ready || self.recorded_multivariant(broadcast);
            entry.follow_state(broadcast.state, ready && broadcast.state.is_on_air());
        }
        entry.viewers.fetch_add(1, Ordering::Relaxed);
        (entry.status.subscribe(), Viewer { entry })
    }

    /// Whether the holder has written the multivariant playlist (its first
    /// segment exists), on the shared media directory.
    fn recorded_multivariant(&self, broadcast: &Broadcast) -> bool {
        broadcast.state.is_on_air()
            && self
                .inner
                .layout
                .broadcast(broadcast.id)
                .join(recording::PLAYLIST)
                .exists()
    }

    pub fn status(&self, broadcast: &Broadcast) -> Status {
        match self.existing(broadcast.id) {
            Some(entry) if entry.is_held() => entry.status.borrow().clone(),
            Some(entry) => Status {
                // Another node holds it (or nobody): the row just read is newer.
                state: broadcast.state,
                viewers: entry.viewers.load(Ordering::Relaxed),
                ready: broadcast.state.is_on_air()
                    && (entry.status.borrow().ready || self.recorded_multivariant(broadcast)),
            },
            None => Status {
                state: broadcast.state,
                viewers: 0,
                ready: self.recorded_multivariant(broadcast),
            },
        }
    }

    /// Another node changed the broadcast (see [`LiveSignal`]): viewers
    /// here are shown its state as stored. `ready` unknown keeps what this
    /// node knew. A broadcast nobody here watches is left alone.
    pub async fn follow(&self, id: BroadcastId, ready: Option<bool>) {
        let Some(entry) = self.existing(id) else {
            return;
        };
        match self.inner.store.broadcast(id).await {
            Ok(broadcast) => {
                let ready = ready.unwrap_or_else(|| entry.status.borrow().ready);
                let ready = broadcast.state.is_on_air()
                    && (ready || self.recorded_multivariant(&broadcast));
                entry.follow_state(broadcast.state, ready);
            }
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot read a broadcast another node changed")
            }
        }
    }

    /// Signals may have been missed: every broadcast watched here takes
    /// its state from the store.
    pub async fn follow_all(&self) {
        let ids: Vec<BroadcastId> = self.entries().keys().copied().collect();
        for id in ids {
            self.follow(id, None).await;
        }
    }

    pub(crate) fn signals(&self) -> &crate::store::Signals {
        &self.inner.signals
    }

    /// The live channel of a broadcast on air, if this node holds it.
    pub fn channel(&self, id: BroadcastId) -> Option<Arc<Channel>> {
        self.existing(id)?.on_air().channel.clone()
    }

    /// Where the recording of a broadcast on air is now, in milliseconds
    /// from its start (reconnect gaps excluded): the offset in the replay of
    /// what is being said at this moment. `None` when nothing is publishing
    /// or has published since start-up.
    pub fn recording_position(&self, id: BroadcastId) -> Option<crate::media::Millis> {
        let channel = self.channel(id)?;
        let feed = channel.existing_feed(super::channel::Rendition::Source)?;
        Some(feed.recorded())
    }

    /// Background work: viewer counts, and the heartbeat and sweep of
    /// broadcast holders. Call once after start-up.
    pub fn spawn_tasks(&self) {
        let hub = self.clone();
        let counting = tokio::spawn(async move {
            let mut tick = tokio::time::interval(VIEWER_COUNT_EVERY);
            loop {
                tick.tick().await;
                let entries: Vec<_> = hub.entries().values().cloned().collect();
                for entry in entries {
                    let viewers = entry.viewers.load(Ordering::Relaxed);
                    entry.status.send_if_modified(|status| {
                        let changed = status.viewers != viewers;
                        status.viewers = viewers;
                        changed
                    });
                }
            }
        });
        self.keep_task(counting.abort_handle());
        let hub = self.clone();
        let beating = tokio::spawn(async move {
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if hub.is_halted() {
                    return;
                }
                hub.heartbeat().await;
                hub.sweep().await;
                hub.refresh_remote_status().await;
            }
        });
        self.keep_task(beating.abort_handle());
    }

    /// Renews the rows this node holds; lets go of those another node took
    /// over; notices broadcasts ended through another node.
    async fn heartbeat(&self) {
        let store = &self.inner.store;
        let renewed = store
            .renew_ingest(&self.inner.node.incarnation, Utc::now())
            .await;
        let held = match renewed {
            Ok(held) => held,
            Err(e) => {
                let since = self
                    .inner
                    .renewed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .elapsed();
                tracing::warn!(error = %e, "cannot renew the heartbeat of held broadcasts");
                if since > FENCE_AFTER {
                    for entry in self.held_entries() {
                        if entry.on_air().publishing && !entry.lost.swap(true, Ordering::SeqCst) {
                            tracing::error!(broadcast = %entry.id, "database out of reach: stopping the encoder before another node takes the broadcast over");
                        }
                    }
                }
                return;
            }
        };
        *self.inner.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let still: HashSet<BroadcastId> = held.iter().map(|(id, _)| *id).collect();
        for entry in self.held_entries() {
            if !still.contains(&entry.id) {
                self.let_go(&entry);
            }
        }
        for (id, phase) in held {
            if phase == IngestPhase::Finalizing {
                continue;
            }
            let Some(entry) = self.existing(id) else {
                continue;
            };
            // Staff may end a broadcast through any node.
            match store.broadcast(id).await {
                Ok(broadcast) if broadcast.state == BroadcastState::Ended => {
                    // Whoever ended it told the other nodes.
                    entry.follow_state(BroadcastState::Ended, false);
                    entry.ending.store(true, Ordering::SeqCst);
                    if !entry.on_air().publishing {
                        let hub = self.clone();
                        tokio::spawn(async move { hub.finalize(&entry).await });
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(broadcast = %id, error = %e, "cannot read a held broadcast")
                }
            }
        }
    }

    fn held_entries(&self) -> Vec<Arc<Entry>> {
        self.entries()
            .values()
            .filter(|e| e.is_held())
            .cloned()
            .collect()
    }

    /// Another node holds the broadcast now: its live requests go there.
    fn let_go(&self, entry: &Arc<Entry>) {
        if !entry.held.swap(false, Ordering::SeqCst) {
            return;
        }
        let mut on_air = entry.on_air();
        if on_air.publishing {
            entry.lost.store(true, Ordering::SeqCst);
        }
        on_air.channel = None;
        tracing::info!(broadcast = %entry.id, "another node holds the broadcast now");
    }

    /// The broadcasts of dead nodes: shown as reconnecting at once, ended
    /// (by whichever node wins the claim) once the grace period has passed
    /// since the holder's last heartbeat; replays a dead node was making are
    /// made again.
    async fn sweep(&self) {
        let store = &self.inner.store;
        let stale = match store.stale_ingests(stale_limit()).await {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for broadcasts of dead nodes");
                return;
            }
        };
        let grace = chrono::Duration::seconds(self.inner.settings.grace_seconds as i64);
        for holder in stale {
            if holder.incarnation == self.inner.node.incarnation || self.is_halted() {
                continue;
            }
            let id = holder.broadcast_id;
            let broadcast = match store.broadcast(id).await {
                Ok(broadcast) => broadcast,
                Err(e) => {
                    tracing::warn!(broadcast = %id, error = %e, "cannot read a broadcast of a dead node");
                    continue;
                }
            };
            if broadcast.state == BroadcastState::Live {
                let moved = store
                    .set_broadcast_state(
                        &Actor::system(),
                        id,
                        &[BroadcastState::Live],
                        BroadcastState::Reconnecting,
                        Utc::now(),
                    )
                    .await;
                if moved.is_ok() {
                    tracing::warn!(broadcast = %id, node = %holder.node, "the node holding the encoder stopped answering; waiting for the encoder");
                }
            }
            let expired = holder.heartbeat_at < Utc::now() - grace;
            let orphaned = match broadcast.state {
                BroadcastState::Live | BroadcastState::Reconnecting => expired,
                BroadcastState::Ended => true,
                // Claimed, never went live (the node died in between).
                BroadcastState::Scheduled => true,
            };
            if orphaned {
                self.take_over_to_finish(&broadcast, Some(&holder)).await;
            }
        }
    }

    /// Claims a broadcast nobody (alive) holds in order to end it and make
    /// its replay. Of several nodes trying, one wins; the others do nothing.
    async fn take_over_to_finish(&self, broadcast: &Broadcast, dead: Option<&IngestHolder>) {
        let id = broadcast.id;
        let claim = IngestClaim {
            node: &self.inner.node.name,
            incarnation: &self.inner.node.incarnation,
            internal_url: &self.inner.node.internal_url,
            phase: IngestPhase::Finalizing,
            now: Utc::now(),
            stale_before: stale_limit(),
        };
        match self.inner.store.claim_ingest(id, &claim).await {
            Ok(Claimed::Taken { .. }) => {}
            Ok(Claimed::Held(_)) => return,
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot claim a broadcast to finish it");
                return;
            }
        }
        let entry = self.entry(broadcast);
        entry.held.store(true, Ordering::SeqCst);
        if broadcast.state != BroadcastState::Scheduled {
            if let Some(dead) = dead {
                tracing::warn!(broadcast = %id, node = %dead.node, "no encoder returned within the grace period; ending the broadcast");
            }
            let ended = self
                .inner
                .store
                .set_broadcast_state(
                    &Actor::system(),
                    id,
                    &[BroadcastState::Live, BroadcastState::Reconnecting],
                    BroadcastState::Ended,
                    Utc::now(),
                )
                .await;
            if let Err(e) = ended {
                if !matches!(e, StoreError::Rejected(_)) {
                    tracing::warn!(broadcast = %id, error = %e, "cannot end the broadcast");
                }
            }
        } else {
            // Nothing was ever published: give the row back.
            entry.held.store(false, Ordering::SeqCst);
            let _ = self
                .inner
                .store
                .release_ingest(id, &self.inner.node.incarnation)
                .await;
            return;
        }
        self.finalize(&entry).await;
    }

    /// Watch pages of broadcasts held by other nodes learn their state from
    /// the database.
    async fn refresh_remote_status(&self) {
        let watched: Vec<Arc<Entry>> = self
            .entries()
            .values()
            .filter(|e| !e.is_held() && e.status.receiver_count() > 0)
            .cloned()
            .collect();
        for entry in watched {
            if let Ok(broadcast) = self.inner.store.broadcast(entry.id).await {
                let ready = broadcast.state.is_on_air()
                    && (entry.status.borrow().ready || self.recorded_multivariant(&broadcast));
                // Following the database, not changing it: nothing to tell.
                entry.follow_state(broadcast.state, ready);
            }
        }
    }

    /// Ends a broadcast (staff, or the grace period running out). The
    /// recording becomes a replay once the encoder, if any, has stopped; if
    /// another node holds the encoder, that node makes it.
    pub async fn end(&self, id: BroadcastId, actor: &Actor) -> Result<Broadcast, StoreError> {
        let from = [
            BroadcastState::Scheduled,
            BroadcastState::Live,
            BroadcastState::Reconnecting,
        ];
        let broadcast = self
            .inner
            .store
            .set_broadcast_state(actor, id, &from, BroadcastState::Ended, Utc::now())
            .await?;
        // Said here, after the commit: an entry this node opens just now
        // starts ended, so `set_state` below would see no change to tell.
        announce(&self.inner.signals, id, Some(false));
        let entry = self.entry(&broadcast);
        if entry.is_held() {
            entry.ending.store(true, Ordering::SeqCst);
            let publishing = entry.on_air().publishing;
            if !publishing {
                self.finalize(&entry).await;
            }
            return Ok(broadcast);
        }
        entry.set_state(BroadcastState::Ended, false);
        match self.inner.store.ingest_holder(id).await {
            // Held by a live node: it sees the end within a heartbeat.
            Ok(Some(holder)) if !holder.is_stale(stale_limit()) => {}
            Ok(Some(holder)) => self.take_over_to_finish(&broadcast, Some(&holder)).await,
            // A scheduled broadcast that never went live has nothing to seal.
            Ok(None) if broadcast.went_live_at.is_none() => {}
            Ok(None) => self.take_over_to_finish(&broadcast, None).await,
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot look up who holds the broadcast; the sweep finishes it")
            }
        }
        Ok(broadcast)
    }

    /// At start: broadcasts on air that nobody holds (left by a version
    /// without holders) are ended and their recordings sealed, so what was
    /// written plays as a replay; replays left half-made are made. Those a
    /// previous run of this node held are left to the sweep: their encoder
    /// may still come back within the grace period, here or elsewhere.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let filter = BroadcastFilter {
            states: vec![BroadcastState::Live, BroadcastState::Reconnecting],
            limit: 1000,
            ..Default::default()
        };
        for broadcast in self.inner.store.list_broadcasts(&filter).await? {
            if self
                .inner
                .store
                .ingest_holder(broadcast.id)
                .await?
                .is_none()
            {
                tracing::warn!(broadcast = %broadcast.id, "broadcast was on air when the server stopped; ending it");
                self.take_over_to_finish(&broadcast, None).await;
            }
        }
        let filter = BroadcastFilter {
            replays: vec![ReplayState::Processing],
            limit: 1000,
            ..Default::default()
        };
        for broadcast in self.inner.store.list_broadcasts(&filter).await? {
            if self
                .inner
                .store
                .ingest_holder(broadcast.id)
                .await?
                .is_none()
            {
                self.take_over_to_finish(&broadcast, None).await;
            }
        }
        Ok(())
    }

    /// Gives back the row of a broadcast this node has finished with.
    async fn release(&self, entry: &Entry) {
        entry.held.store(false, Ordering::SeqCst);
        let released = self
            .inner
            .store
            .release_ingest(entry.id, &self.inner.node.incarnation)
            .await;
        if let Err(e) = released {
            tracing::warn!(broadcast = %entry.id, error = %e, "cannot release a finished broadcast; it goes stale and is swept");
        }
    }

    /// Seals the recording and makes the replay. Runs once the broadcast is
    /// ended and no encoder is sending, on the node that holds it.
    async fn finalize(&self, entry: &Arc<Entry>) {
        if self.is_halted() || entry.finalized.swap(true, Ordering::SeqCst) {
            return;
        }
        let id = entry.id;
        let store = self.inner.store.clone();
        let incarnation = self.inner.node.incarnation.clone();
        match store
            .set_ingest_phase(id, &incarnation, IngestPhase::Finalizing, Utc::now())
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                // Another node took it over; it makes the replay.
                entry.finalized.store(false, Ordering::SeqCst);
                self.let_go(entry);
                return;
            }
            Err(e) => {
                tracing::warn!(broadcast = %id, error = %e, "cannot mark the broadcast as being finished");
            }
        }
        let channel = entry.on_air().channel.take();
        if let Some(channel) = &channel {
            // Viewers waiting for the next part learn that there is none.
            channel.end();
        }
        entry.set_state(BroadcastState::Ended, false);
        // A row left by a node that died after making the replay.
        if let Ok(broadcast) = store.broadcast(id).await {
            if matches!(
                broadcast.replay,
                ReplayState::Published | ReplayState::Unpublished | ReplayState::Deleted
            ) {
                self.release(entry).await;
                return;
            }
        }
        let layout = self.inner.layout.clone();
        let sealed = tokio::task::spawn_blocking(move || {
            if let Some(text) = channel.and_then(|c| c.multivariant()) {
                let dir = layout.broadcast(id);
                if let Err(e) = recording::write_atomically(&dir.join(recording::PLAYLIST), text.as_bytes()) {
                    tracing::warn!(broadcast = %id, error = %e, "cannot write the replay's playlist");
                }
            }
            recording::seal(&layout, id)
        })
        .await;
        let source = match sealed {
            Ok(Ok(Some(source))) => source,
            Ok(Ok(None)) => {
                self.release(entry).await;
                return;
            }
            Ok(Err(e)) => {
                tracing::error!(broadcast = %id, error = %e, "cannot seal the recording");
                self.release(entry).await;
                return;
            }
            Err(e) => {
                tracing::error!(broadcast = %id, error = %e, "sealing the recording panicked");
                self.release(entry).await;
                return;
            }
        };
        let system = Actor::system();
        if let Err(e) = store
            .set_replay(
                &system,
                id,
                ReplayState::Processing,
                Some(source.duration()),
            )
            .await
        {
            tracing::error!(broadcast = %id, error = %e, "cannot mark the replay");
            self.release(entry).await;
            return;
        }
        let layout = self.inner.layout.clone();
        let hub = self.clone();
        let entry = entry.clone();
        tokio::spawn(async move {
            let made =
                tokio::task::spawn_blocking(move || recording::make_replay(&layout, id, &source))
                    .await;
            let millis = match made {
                Ok(Ok(millis)) => Some(millis),
                Ok(Err(e)) => {
                    // The HLS replay still plays; only the download is missing.
                    tracing::error!(broadcast = %id, error = %e, "cannot make the replay download");
                    None
                }
                Err(e) => {
                    tracing::error!(broadcast = %id, error = %e, "making the replay panicked");
                    None
                }
            };
            if hub.is_halted() {
                return;
            }
            let published = store
                .set_replay(&system, id, ReplayState::Published, millis)
                .await;
            match published {
                Ok(_) => announce(store.signals(), id, None),
                Err(e) => tracing::error!(broadcast = %id, error = %e, "cannot publish the replay"),
            }
            hub.release(&entry).await;
        });
    }

    /// The pipeline of a session has flushed everything.
    async fn session_finished(&self, entry: Arc<Entry>, session: u64) {
        entry.on_air().publishing = false;
        if self.is_halted() {
            return;
        }
        if entry.lost.load(Ordering::SeqCst) || !entry.is_held() {
            // Another node holds the broadcast now; it says what happens.
            entry.on_air().channel = None;
            return;
        }
        if entry.ending.load(Ordering::SeqCst) {
            self.finalize(&entry).await;
            return;
        }
        let store = &self.inner.store;
        match store
            .set_ingest_phase(
                entry.id,
                &self.inner.node.incarnation,
                IngestPhase::Waiting,
                Utc::now(),
            )
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                self.let_go(&entry);
                return;
            }
            Err(e) => {
                tracing::warn!(broadcast = %entry.id, error = %e, "cannot mark the broadcast as waiting for its encoder");
            }
        }
        let moved = store
            .set_broadcast_state(
                &Actor::system(),
                entry.id,
                &[BroadcastState::Live],
                BroadcastState::Reconnecting,
                Utc::now(),
            )
            .await;
        if let Err(e) = moved {
            // Ended meanwhile (staff, or the end raced this report): its
            // status is already final.
            tracing::info!(broadcast = %entry.id, error = %e, "not marking the broadcast reconnecting");
            if let Ok(broadcast) = store.broadcast(entry.id).await {
                if broadcast.state == BroadcastState::Ended {
                    self.finalize(&entry).await;
                }
            }
            return;
        }
        let ready = entry.status.borrow().ready;
        entry.set_state(BroadcastState::Reconnecting, ready);
        let hub = self.clone();
        let grace = Duration::from_secs(self.inner.settings.grace_seconds);
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            let came_back = {
                let on_air = entry.on_air();
                on_air.publishing || on_air.session != session
            };
            // Taken over by another node: its grace, its decision.
            if !came_back && entry.is_held() && !hub.is_halted() {
                tracing::info!(broadcast = %entry.id, "encoder did not come back; ending the broadcast");
                if let Err(e) = hub.end(entry.id, &Actor::system()).await {
                    tracing::warn!(broadcast = %entry.id, error = %e, "cannot end the broadcast");
                }
            }
        });
    }

    async fn handle_reports(
        &self,
        entry: Arc<Entry>,
        session: u64,
        mut reports: mpsc::UnboundedReceiver<Report>,
    ) {
        while let Some(report) = reports.recv().await {
            if self.is_halted() {
                continue;
            }
            match report {
                Report::Ready => {
                    entry.set_state(BroadcastState::Live, true);
                    self.write_multivariant(&entry).await;
                }
                Report::RecordingFailed(message) => {
                    let _ = self
                        .inner
                        .store
                        .set_recording_error(entry.id, &message)
                        .await;
                }
                Report::Finished { end, error } => {
                    if let Some(error) = error {
                        tracing::warn!(broadcast = %entry.id, %error, "publish session ended with an error");
                    }
                    if let Some(channel) = entry.on_air().channel.clone() {
                        channel.end_period(end);
                    }
                    self.session_finished(entry, session).await;
                    return;
                }
            }
        }
    }

    /// Writes the multivariant playlist for the replay and for nodes that
    /// serve this broadcast from the shared disk; on a worker thread, since
    /// it waits for the disk (fsync).
    async fn write_multivariant(&self, entry: &Entry) {
        let Some(text) = entry
            .on_air()
            .channel
            .as_ref()
            .and_then(|c| c.multivariant())
        else {
            return;
        };
        let dir = self.inner.layout.broadcast(entry.id);
        let written = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir).and_then(|()| {
                recording::write_atomically(&dir.join(recording::PLAYLIST), text.as_bytes())
            })
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e)));
        if let Err(e) = written {
            tracing::warn!(broadcast = %entry.id, error = %e, "cannot write the multivariant playlist");
        }
    }

    /// Makes this node the broadcast's holder for an encoder. A holder that
    /// still looks alive and publishing is given a few seconds to go stale
    /// (its node may have just died); returns the previous holder.
    async fn claim_for_encoder(
        &self,
        id: BroadcastId,
    ) -> Result<Option<IngestHolder>, PublishRefusal> {
        let node = &self.inner.node;
        let deadline = Instant::now() + CLAIM_PATIENCE;
        loop {
            let claim = IngestClaim {
                node: &node.name,
                incarnation: &node.incarnation,
                internal_url: &node.internal_url,
                phase: IngestPhase::Publishing,
                now: Utc::now(),
                stale_before: stale_limit(),
            };
            match self.inner.store.claim_ingest(id, &claim).await {
                Ok(Claimed::Taken { previous }) => return Ok(previous),
                Ok(Claimed::Held(holder)) if holder.phase == IngestPhase::Finalizing => {
                    return Err(PublishRefusal::Ended)
                }
                Ok(Claimed::Held(holder)) => {
                    if Instant::now() >= deadline {
                        tracing::info!(broadcast = %id, node = %holder.node, "another node's encoder is publishing this broadcast");
                        return Err(PublishRefusal::AlreadyPublishing);
                    }
                }
                Err(e) => {
                    tracing::error!(broadcast = %id, error = %e, "cannot claim a broadcast for an encoder");
                    return Err(PublishRefusal::Unavailable);
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// What is recorded of a broadcast so far, for a node that continues it.
    async fn recorded(&self, id: BroadcastId) -> Recorded {
        let layout = self.inner.layout.clone();
        match tokio::task::spawn_blocking(move || recording::read_back(&layout, id)).await {
            Ok(Ok(recorded)) => recorded,
            Ok(Err(e)) => {
                tracing::error!(broadcast = %id, error = %e, "cannot read the recording back; continuing without it");
                Recorded::default()
            }
            Err(e) => {
                tracing::error!(broadcast = %id, error = %e, "reading the recording back panicked");
                Recorded::default()
            }
        }
    }

    async fn start_session(&self, broadcast: Broadcast) -> Result<PublishSink, PublishRefusal> {
        let entry = self.entry(&broadcast);
        let session = {
            let mut on_air = entry.on_air();
            if on_air.publishing {
                return Err(PublishRefusal::AlreadyPublishing);
            }
            on_air.publishing = true;
            on_air.session += 1;
            on_air.session
        };
        let previous = match self.claim_for_encoder(broadcast.id).await {
            Ok(previous) => previous,
            Err(refusal) => {
                entry.on_air().publishing = false;
                return Err(refusal);
            }
        };
        let taken_over = previous
            .as_ref()
            .is_some_and(|p| p.incarnation != self.inner.node.incarnation);
        entry.lost.store(false, Ordering::SeqCst);
        entry.held.store(true, Ordering::SeqCst);
        let low_latency = self.inner.settings.low_latency();
        let minimum_target = ((self.inner.settings.segment_millis + 999) / 1000).max(1) as u64;
        let existing = {
            let mut on_air = entry.on_air();
            if taken_over {
                // What this node had in memory is older than the recording.
                on_air.channel = None;
            }
            on_air.channel.clone()
        };
        let channel = match existing {
            Some(channel) => channel,
            None => {
                // Continue whatever is recorded: another node's (it died or
                // its encoder moved here) or this node's before a restart.
                let recorded = self.recorded(broadcast.id).await;
                let channel = if recorded.is_empty() {
                    Channel::new(broadcast.id, low_latency)
                } else {
                    tracing::info!(broadcast = %broadcast.id, period = recorded.next_period, "continuing the recording on disk");
                    Channel::resume(broadcast.id, low_latency, minimum_target, &recorded)
                };
                entry
                    .on_air()
                    .channel
                    .get_or_insert_with(|| Arc::new(channel))
                    .clone()
            }
        };
        let went_live = self
            .inner
            .store
            .set_broadcast_state(
                &Actor::system(),
                broadcast.id,
                &[
                    BroadcastState::Scheduled,
                    BroadcastState::Live,
                    BroadcastState::Reconnecting,
                ],
                BroadcastState::Live,
                Utc::now(),
            )
            .await;
        if let Err(e) = went_live {
            entry.on_air().publishing = false;
            // Ended meanwhile: this node holds it now, so it makes the replay.
            let hub = self.clone();
            let held = entry.clone();
            tokio::spawn(async move { hub.finalize(&held).await });
            return Err(match e {
                StoreError::Rejected(_) => PublishRefusal::Ended,
                other => {
                    tracing::error!(broadcast = %broadcast.id, error = %other, "cannot start a broadcast");
                    PublishRefusal::Unavailable
                }
            });
        }
        let ready = entry.status.borrow().ready || channel.is_ready();
        entry.set_state(BroadcastState::Live, ready);

        let (period, origin) = channel.begin_period();
        let (input, received) = mpsc::channel(1024);
        let (reports, reported) = mpsc::unbounded_channel();
        let settings = &self.inner.settings;
        let plan = Plan {
            channel,
            renditions: broadcast.renditions,
            targets: Targets {
                segment: settings.segment_millis,
                part: settings.part_millis,
            },
            dir: self.inner.layout.broadcast(broadcast.id),
            period,
            reports,
        };
        let spawned = std::thread::Builder::new()
            .name(format!("live-{}", broadcast.id))
            .spawn(move || pipeline::run(plan, received));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start a media thread");
            entry.on_air().publishing = false;
            return Err(PublishRefusal::Unavailable);
        }
        let (hub, watched) = (self.clone(), entry.clone());
        tokio::spawn(async move { hub.handle_reports(watched, session, reported).await });
        Ok(PublishSink {
            input,
            timeline: Timeline::new(origin),
            entry,
            halted: self.inner.halted.clone(),
        })
    }
}

impl Hub {
    /// Whether an encoder of this broadcast is publishing through this node.
    fn publishing_here(&self, id: BroadcastId) -> bool {
        let here = self.entries().get(&id).cloned();
        here.is_some_and(|entry| entry.on_air().publishing)
    }

    /// Whether a WebRTC (WHIP) publisher of `broadcast` may start connecting,
    /// its authorisation (key or staff rights) checked by the caller. As
    /// for RTMP's `admit`, another node's encoder is found when the session
    /// connects and claims the broadcast ([`Hub::publish_webrtc`]).
    pub fn admit_webrtc(&self, broadcast: &Broadcast) -> Result<(), PublishRefusal> {
        if self.is_halted() {
            return Err(PublishRefusal::Unavailable);
        }
        if broadcast.state == BroadcastState::Ended {
            return Err(PublishRefusal::Ended);
        }
        if self.publishing_here(broadcast.id) {
            return Err(PublishRefusal::AlreadyPublishing);
        }
        Ok(())
    }

    /// A sink for a connected WebRTC publisher: the same session an RTMP
    /// publish starts (one publisher per broadcast across nodes, a
    /// reconnect within the grace period continues the broadcast).
    pub async fn publish_webrtc(
        &self,
        id: BroadcastId,
        who: &str,
    ) -> Result<Box<dyn Sink>, PublishRefusal> {
        let broadcast = self.inner.store.broadcast(id).await.map_err(|e| {
            tracing::error!(broadcast = %id, error = %e, "cannot read a broadcast to publish");
            PublishRefusal::Unavailable
        })?;
        self.admit_webrtc(&broadcast)?;
        let had_problem = broadcast.ingest_problem.is_some();
        let sink = self.start_session(broadcast).await?;
        tracing::info!(broadcast = %id, %who, node = %self.inner.node.name, "WebRTC publisher publishing");
        self.publishing_started(id, had_problem).await;
        Ok(Box::new(sink))
    }

    /// What the last encoder was refused for is fixed now.
    async fn publishing_started(&self, id: BroadcastId, had_problem: bool) {
        if !had_problem {
            return;
        }
        if let Err(e) = self
            .inner
            .store
            .set_ingest_problem(id, None, Utc::now())
            .await
        {
            tracing::warn!(broadcast = %id, error = %e, "cannot clear the last ingest problem");
        }
    }

    /// The broadcast a key publishes, if it may publish at all.
    async fn publishable(&self, stream_key: &str, peer: SocketAddr) -> Result<Broadcast, String> {
        if self.is_halted() {
            return Err("server stopping".into());
        }
        let broadcast = match self.inner.store.broadcast_by_key(stream_key).await {
            Ok(Some(broadcast)) => broadcast,
            Ok(None) => return Err(refuse(PublishRefusal::UnknownKey, peer, None)),
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a stream key");
                return Err("server error".into());
            }
        };
        if broadcast.state == BroadcastState::Ended {
            return Err(refuse(PublishRefusal::Ended, peer, Some(broadcast.id)));
        }
        Ok(broadcast)
    }
}

#[async_trait]
impl Gate for Hub {
    async fn admit(&self, stream_key: &str, peer: SocketAddr) -> Result<(), String> {
        let broadcast = self.publishable(stream_key, peer).await?;
        // Another encoder here is refused at once; one on another node when
        // the claim is tried (`publish`), which waits for a holder that may
        // have just died.
        if self.publishing_here(broadcast.id) {
            return Err(refuse(
                PublishRefusal::AlreadyPublishing,
                peer,
                Some(broadcast.id),
            ));
        }
        Ok(())
    }

    async fn publish(&self, stream_key: &str, peer: SocketAddr) -> Result<Box<dyn Sink>, String> {
        let broadcast = self.publishable(stream_key, peer).await?;
        let id = broadcast.id;
        let had_problem = broadcast.ingest_problem.is_some();
        match self.start_session(broadcast).await {
            Ok(sink) => {
                tracing::info!(broadcast = %id, %peer, node = %self.inner.node.name, "encoder publishing");
                self.publishing_started(id, had_problem).await;
                Ok(Box::new(sink))
            }
            Err(refusal) => Err(refuse(refusal, peer, Some(id))),
        }
    }

    async fn refused(&self, stream_key: &str, peer: SocketAddr, problem: &IngestProblem) {
        let broadcast = match self.inner.store.broadcast_by_key(stream_key).await {
            Ok(Some(broadcast)) => broadcast,
            // The key was rotated meanwhile: nobody to tell.
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a stream key");
                return;
            }
        };
        tracing::warn!(broadcast = %broadcast.id, %peer, %problem, "encoder refused for what it sends");
        if let Err(e) = self
            .inner
            .store
            .set_ingest_problem(broadcast.id, Some(problem), Utc::now())
            .await
        {
            tracing::error!(broadcast = %broadcast.id, error = %e, "cannot record why an encoder was refused");
        }
    }
}

fn refuse(refusal: PublishRefusal, peer: SocketAddr, broadcast: Option<BroadcastId>) -> String {
    tracing::warn!(%peer, broadcast = ?broadcast, reason = %refusal, "RTMP publish refused");
    refusal.to_string()
}

/// One encoder's messages, read and timed on the connection's task and
/// passed to the pipeline thread.
struct PublishSink {
    input: mpsc::Sender<Input>,
    timeline: Timeline,
    entry: Arc<Entry>,
    halted: Arc<AtomicBool>,
}

impl PublishSink {
    async fn send(&self, item: Input) -> Result<(), String> {
        if self.entry.ending.load(Ordering::Relaxed) {
            return Err("the broadcast was ended by staff".into());
        }
        if self.entry.lost.load(Ordering::Relaxed) || self.halted.load(Ordering::Relaxed) {
            return Err("this node no longer holds the broadcast".into());
        }
        self.input
            .send(item)
            .await
            .map_err(|_| "the media pipeline stopped".to_string())
    }
}

#[async_trait]
impl Sink for PublishSink {
    async fn video(&mut self, timestamp: u32, body: Bytes) -> Result<(), String> {
        match flv::read_video(&body).map_err(|e| e.to_string())? {
            VideoTag::Config(config) => self.send(Input::Video(config)).await,
            VideoTag::Frame {
                keyframe,
                composition,
                data,
            } => {
                let packet =
                    self.timeline
                        .packet(Track::Video, timestamp, composition, keyframe, data);
                self.send(Input::Packet(packet)).await
            }
            VideoTag::EndOfSequence | VideoTag::Ignored => Ok(()),
        }
    }

    async fn audio(&mut self, timestamp: u32, body: Bytes) -> Result<(), String> {
        match flv::read_audio(&body).map_err(|e| e.to_string())? {
            AudioTag::Config(config) => self.send(Input::Audio(config)).await,
            AudioTag::Frame(data) => {
                let packet = self.timeline.packet(Track::Audio, timestamp, 0, true, data);
                self.send(Input::Packet(packet)).await
            }
            AudioTag::Ignored => Ok(()),
        }
    }

    async fn close(self: Box<Self>, finished: bool) {
        tracing::info!(broadcast = %self.entry.id, finished, "encoder stopped publishing");
        // Dropping the input lets the pipeline flush and report `Finished`.
    }
}
