//! The hub keeps every broadcast that has viewers or a publisher: who is
//! publishing, the live channel, the status viewers are shown, and the
//! grace period during which a dropped encoder may come back.
//!
//! It is the RTMP [`Gate`]: a publish with a broadcast's key starts a
//! pipeline; the pipeline's end starts the grace period; the grace period's
//! end (or staff) ends the broadcast and turns the recording into a replay.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::Utc;
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::channel::Channel;
use super::pipeline::{self, Input, Plan, Report, Targets};
use super::recording::{self, Layout};
use super::LiveSettings;
use crate::domain::broadcast::{Broadcast, BroadcastState, PublishRefusal, ReplayState};
use crate::domain::{Actor, BroadcastId};
use crate::media::flv::{self, AudioTag, Timeline, VideoTag};
use crate::media::rtmp::{Gate, Sink};
use crate::media::Track;
use crate::store::{BroadcastFilter, Store, StoreError};

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
    entries: Mutex<HashMap<BroadcastId, Arc<Entry>>>,
}

struct Entry {
    id: BroadcastId,
    status: watch::Sender<Status>,
    signals: crate::store::Signals,
    viewers: AtomicUsize,
    /// Set when staff end the broadcast while an encoder is still sending;
    /// the encoder's next message then closes its connection.
    ending: AtomicBool,
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
    pub fn new(store: Arc<dyn Store>, settings: LiveSettings, layout: Layout) -> Self {
        Self {
            inner: Arc::new(Inner {
                signals: store.signals().clone(),
                store,
                settings,
                layout,
                entries: Mutex::new(HashMap::new()),
            }),
        }
    }

    pub fn layout(&self) -> &Layout {
        &self.inner.layout
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
                    finalized: AtomicBool::new(false),
                    on_air: Mutex::new(OnAir::default()),
                })
            })
            .clone()
    }

    fn existing(&self, id: BroadcastId) -> Option<Arc<Entry>> {
        self.entries().get(&id).cloned()
    }

    /// Status updates for a watch page, which counts as a viewer while it
    /// holds the returned guard.
    pub fn watch(&self, broadcast: &Broadcast) -> (watch::Receiver<Status>, Viewer) {
        let entry = self.entry(broadcast);
        entry.viewers.fetch_add(1, Ordering::Relaxed);
        (entry.status.subscribe(), Viewer { entry })
    }

    pub fn status(&self, broadcast: &Broadcast) -> Status {
        match self.existing(broadcast.id) {
            Some(entry) => entry.status.borrow().clone(),
            None => Status {
                state: broadcast.state,
                viewers: 0,
                ready: false,
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
                let ready = ready && broadcast.state != BroadcastState::Ended;
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

    /// The live channel of a broadcast on air.
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

    /// Background work: viewer counts. Call once after start-up.
    pub fn spawn_tasks(&self) {
        let hub = self.clone();
        tokio::spawn(async move {
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
    }

    /// Ends a broadcast (staff, or the grace period running out). The
    /// recording becomes a replay once the encoder, if any, has stopped.
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
        entry.ending.store(true, Ordering::SeqCst);
        let publishing = entry.on_air().publishing;
        if !publishing {
            self.finalize(&entry).await;
        }
        Ok(broadcast)
    }

    /// Broadcasts left on air by a crash or kill are ended and their
    /// recordings sealed, so what was written plays as a replay.
    pub async fn recover(&self) -> anyhow::Result<()> {
        let filter = BroadcastFilter {
            states: vec![BroadcastState::Live, BroadcastState::Reconnecting],
            limit: 1000,
            ..Default::default()
        };
        for broadcast in self.inner.store.list_broadcasts(&filter).await? {
            tracing::warn!(broadcast = %broadcast.id, "broadcast was on air when the server stopped; ending it");
            self.end(broadcast.id, &Actor::system()).await?;
        }
        let filter = BroadcastFilter {
            replays: vec![ReplayState::Processing],
            limit: 1000,
            ..Default::default()
        };
        for broadcast in self.inner.store.list_broadcasts(&filter).await? {
            let entry = self.entry(&broadcast);
            self.finalize(&entry).await;
        }
        Ok(())
    }

    /// Seals the recording and makes the replay. Runs once the broadcast is
    /// ended and no encoder is sending.
    async fn finalize(&self, entry: &Arc<Entry>) {
        if entry.finalized.swap(true, Ordering::SeqCst) {
            return;
        }
        let channel = entry.on_air().channel.take();
        if let Some(channel) = &channel {
            // Viewers waiting for the next part learn that there is none.
            channel.end();
        }
        entry.set_state(BroadcastState::Ended, false);
        let layout = self.inner.layout.clone();
        let id = entry.id;
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
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::error!(broadcast = %id, error = %e, "cannot seal the recording");
                return;
            }
            Err(e) => {
                tracing::error!(broadcast = %id, error = %e, "sealing the recording panicked");
                return;
            }
        };
        let store = self.inner.store.clone();
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
            return;
        }
        let layout = self.inner.layout.clone();
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
            let published = store
                .set_replay(&system, id, ReplayState::Published, millis)
                .await;
            match published {
                Ok(_) => announce(store.signals(), id, None),
                Err(e) => tracing::error!(broadcast = %id, error = %e, "cannot publish the replay"),
            }
        });
    }

    /// The pipeline of a session has flushed everything.
    async fn session_finished(&self, entry: Arc<Entry>, session: u64) {
        entry.on_air().publishing = false;
        if entry.ending.load(Ordering::SeqCst) {
            self.finalize(&entry).await;
            return;
        }
        let moved = self
            .inner
            .store
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
            if !came_back {
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
            match report {
                Report::Ready => {
                    entry.set_state(BroadcastState::Live, true);
                    self.write_multivariant(&entry);
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

    fn write_multivariant(&self, entry: &Entry) {
        let Some(text) = entry
            .on_air()
            .channel
            .as_ref()
            .and_then(|c| c.multivariant())
        else {
            return;
        };
        let dir = self.inner.layout.broadcast(entry.id);
        let written = std::fs::create_dir_all(&dir).and_then(|()| {
            recording::write_atomically(&dir.join(recording::PLAYLIST), text.as_bytes())
        });
        if let Err(e) = written {
            tracing::warn!(broadcast = %entry.id, error = %e, "cannot write the multivariant playlist");
        }
    }

    async fn start_session(&self, broadcast: Broadcast) -> Result<PublishSink, PublishRefusal> {
        let entry = self.entry(&broadcast);
        let (channel, session) = {
            let mut on_air = entry.on_air();
            if on_air.publishing {
                return Err(PublishRefusal::AlreadyPublishing);
            }
            on_air.publishing = true;
            on_air.session += 1;
            let low_latency = self.inner.settings.low_latency();
            let channel = on_air
                .channel
                .get_or_insert_with(|| Arc::new(Channel::new(broadcast.id, low_latency)))
                .clone();
            (channel, on_air.session)
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
            return Err(match e {
                StoreError::Rejected(_) => PublishRefusal::Ended,
                other => {
                    tracing::error!(broadcast = %broadcast.id, error = %other, "cannot start a broadcast");
                    PublishRefusal::Unavailable
                }
            });
        }
        let ready = entry.status.borrow().ready;
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
        })
    }
}

#[async_trait]
impl Gate for Hub {
    async fn publish(&self, stream_key: &str, peer: SocketAddr) -> Result<Box<dyn Sink>, String> {
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
        let id = broadcast.id;
        match self.start_session(broadcast).await {
            Ok(sink) => {
                tracing::info!(broadcast = %id, %peer, "encoder publishing");
                Ok(Box::new(sink))
            }
            Err(refusal) => Err(refuse(refusal, peer, Some(id))),
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
}

impl PublishSink {
    async fn send(&self, item: Input) -> Result<(), String> {
        if self.entry.ending.load(Ordering::Relaxed) {
            return Err("the broadcast was ended by staff".into());
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
