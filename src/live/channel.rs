//! What viewers read while a broadcast is on air: for each rendition, the
//! playlist, init segments, recent segments and their parts, held in memory
//! so that live requests never touch the disk.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::watch;

use crate::domain::BroadcastId;
use crate::media::hls::{self, Edge, LowLatency, PartInfo, Playlist, SegmentHead, Variant, View};
use crate::media::{Millis, TrackConfig};

/// The renditions a broadcast can offer, in the order players see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rendition {
    /// The encoder's own stream, remuxed without re-encoding.
    Source,
    /// Transcoded to 480 lines for weak connections.
    Low,
    /// The source's sound alone.
    Audio,
}

impl Rendition {
    pub const ALL: [Self; 3] = [Self::Source, Self::Low, Self::Audio];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Source => "source",
            Self::Low => "480p",
            Self::Audio => "audio",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// A bandwidth to announce before any segment has been measured.
    fn assumed_bandwidth(self) -> u64 {
        match self {
            Self::Source => 3_000_000,
            Self::Low => 1_000_000,
            Self::Audio => 160_000,
        }
    }
}

/// One rendition's live state. Parts and segments are added by the media
/// thread; every addition re-renders the live playlist once and publishes the
/// new [`Edge`], which wakes the requests waiting for it.
pub struct Feed {
    pub rendition: Rendition,
    low_latency: Option<LowLatency>,
    state: RwLock<FeedState>,
    edge: watch::Sender<Edge>,
    /// Requests released by the hold limit rather than by what they awaited.
    timed_out: AtomicU64,
}

struct FeedState {
    playlist: Playlist,
    config: TrackConfig,
    inits: BTreeMap<u32, Bytes>,
    /// The newest complete segments, enough for the live window and a
    /// little more for players that are slightly behind.
    recent: BTreeMap<u64, StoredSegment>,
    /// Parts of the segment being written.
    open_parts: Vec<Bytes>,
    /// Peak bits per second measured over whole segments.
    peak_bandwidth: u64,
    /// The live playlist, rendered once per change rather than per request
    /// (rendition reports are added per request).
    live_text: Bytes,
}

/// A complete segment's bytes; its parts are slices of them.
struct StoredSegment {
    data: Bytes,
    first_part: u64,
    /// Where each part ends in `data`.
    part_ends: Vec<usize>,
}

impl StoredSegment {
    fn part(&self, number: u64) -> Option<Bytes> {
        let index = usize::try_from(number.checked_sub(self.first_part)?).ok()?;
        let end = *self.part_ends.get(index)?;
        let start = index.checked_sub(1).map_or(0, |i| self.part_ends[i]);
        Some(self.data.slice(start..end))
    }
}

/// How many segments a live playlist lists, and how many are kept in memory.
/// Parts stay listed for three target durations and then downloadable for
/// three more, which the kept segments cover.
pub const LIVE_WINDOW: usize = 6;
const KEPT_SEGMENTS: usize = LIVE_WINDOW * 2;

impl Feed {
    pub fn new(rendition: Rendition, minimum_target: u64, low_latency: Option<LowLatency>) -> Self {
        let playlist = Playlist::new(minimum_target);
        let live_text = render_live(&playlist, low_latency);
        Self {
            rendition,
            low_latency,
            state: RwLock::new(FeedState {
                playlist,
                config: TrackConfig::default(),
                inits: BTreeMap::new(),
                recent: BTreeMap::new(),
                open_parts: Vec::new(),
                peak_bandwidth: 0,
                live_text,
            }),
            edge: watch::channel(Edge::default()).0,
            timed_out: AtomicU64::new(0),
        }
    }

    /// A feed that continues a recording read back from disk (another node,
    /// or this one before a restart, wrote it): its segments are listed
    /// again, without parts (those lived in the writer's memory), and its
    /// parts are numbered from `first_part` on.
    pub fn resume(
        rendition: Rendition,
        minimum_target: u64,
        low_latency: Option<LowLatency>,
        recorded: &Playlist,
        first_part: u64,
    ) -> Self {
        let segments = recorded
            .segments()
            .iter()
            .cloned()
            .map(|mut segment| {
                segment.first_part = first_part;
                segment.parts.clear();
                segment
            })
            .collect();
        let feed = Self::new(rendition, minimum_target, low_latency);
        feed.change(|state| state.playlist = Playlist::from_segments(minimum_target, segments));
        feed
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the state, then re-renders the live playlist and wakes the
    /// waiting requests (after the lock is released, so they find it free).
    fn change<T>(&self, change: impl FnOnce(&mut FeedState) -> T) -> T {
        let (result, edge) = {
            let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
            let result = change(&mut state);
            state.live_text = render_live(&state.playlist, self.low_latency);
            (result, state.playlist.edge())
        };
        self.edge.send_if_modified(|current| {
            let modified = *current != edge;
            *current = edge;
            modified
        });
        result
    }

    pub fn low_latency(&self) -> Option<LowLatency> {
        self.low_latency
    }

    pub fn start_period(&self, period: u32, config: TrackConfig, init: Bytes) {
        self.change(|state| {
            // A session that stopped mid-segment has closed it already; this
            // only guards the index against one that did not.
            close_open_segment(state);
            state.config = config;
            state.inits.insert(period, init);
        });
    }

    pub fn next_sequence(&self) -> u64 {
        self.read().playlist.next_sequence()
    }

    /// Adds a part to the segment being written (opened by its first part).
    pub fn push_part(&self, head: &SegmentHead, part: PartInfo, data: Bytes) {
        self.change(|state| {
            state.playlist.push_part(head, part);
            state.open_parts.push(data);
        });
    }

    /// Adds the segment's last part, if any, and completes the segment from
    /// its parts, in one change; returns its sequence number, its bytes and
    /// the recording playlist to write to disk.
    pub fn close_segment(
        &self,
        head: &SegmentHead,
        last: Option<(PartInfo, Bytes)>,
    ) -> Option<(u64, Bytes, String)> {
        self.change(|state| {
            if let Some((part, data)) = last {
                state.playlist.push_part(head, part);
                state.open_parts.push(data);
            }
            let (sequence, data) = close_open_segment(state)?;
            Some((sequence, data, state.playlist.render(View::Recording)))
        })
    }

    /// The broadcast is over: the live playlist gets its end mark and the
    /// waiting requests are answered.
    pub fn end(&self) {
        self.change(|state| {
            close_open_segment(state);
            state.playlist.end();
        });
    }

    /// The live playlist as it is now, without rendition reports.
    pub fn live_playlist(&self) -> Bytes {
        self.read().live_text.clone()
    }

    pub fn edge(&self) -> Edge {
        *self.edge.borrow()
    }

    /// Changes of the edge, for a request that waits for one.
    pub fn edges(&self) -> watch::Receiver<Edge> {
        self.edge.subscribe()
    }

    /// Requests waiting for this feed right now.
    pub fn waiting(&self) -> usize {
        self.edge.receiver_count()
    }

    /// Requests that waited in vain, since the feed began.
    pub fn timed_out(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    pub(super) fn note_timeout(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn target_duration(&self) -> u64 {
        self.read().playlist.target_duration()
    }

    pub fn has_segments(&self) -> bool {
        !self.read().playlist.segments().is_empty()
    }

    pub fn duration(&self) -> Millis {
        self.read().playlist.duration()
    }

    /// How much has been recorded so far: the complete segments and the one
    /// being written. A replay built from the recording reaches this moment
    /// at this offset.
    pub fn recorded(&self) -> Millis {
        let state = self.read();
        state.playlist.duration() + state.playlist.open_segment().map_or(0, |s| s.duration)
    }

    pub fn init(&self, period: u32) -> Option<Bytes> {
        self.read().inits.get(&period).cloned()
    }

    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.read().recent.get(&sequence).map(|s| s.data.clone())
    }

    /// A part by its running number, while it is in memory.
    pub fn part(&self, number: u64) -> Option<Bytes> {
        let state = self.read();
        if let Some(open) = state.playlist.open_segment() {
            if let Some(index) = number.checked_sub(open.first_part) {
                return state.open_parts.get(usize::try_from(index).ok()?).cloned();
            }
        }
        let stored = state
            .recent
            .values()
            .rev()
            .find(|s| s.first_part <= number)?;
        stored.part(number)
    }

    /// Whether the multivariant playlist lists this rendition (its tracks are known).
    pub fn is_listed(&self) -> bool {
        let state = self.read();
        state.config.video.is_some() || state.config.audio.is_some()
    }

    pub fn variant(&self) -> Option<Variant> {
        let state = self.read();
        let config = &state.config;
        let codecs: Vec<String> = (config.video.iter().map(|v| v.codec.clone()))
            .chain(config.audio.iter().map(|a| a.codec.clone()))
            .collect();
        if codecs.is_empty() {
            return None;
        }
        Some(Variant {
            uri: format!("{}/index.m3u8", self.rendition.as_str()),
            bandwidth: match state.peak_bandwidth {
                0 => self.rendition.assumed_bandwidth(),
                measured => measured,
            },
            codecs,
            resolution: config.video.as_ref().map(|v| (v.width, v.height)),
        })
    }
}

fn render_live(playlist: &Playlist, low_latency: Option<LowLatency>) -> Bytes {
    Bytes::from(playlist.render(View::Live {
        window: LIVE_WINDOW,
        low_latency,
    }))
}

/// Moves the segment being written into the index and its bytes into memory.
fn close_open_segment(state: &mut FeedState) -> Option<(u64, Bytes)> {
    let parts = std::mem::take(&mut state.open_parts);
    let segment = state.playlist.close_segment()?;
    let (sequence, first_part, duration) = (segment.sequence, segment.first_part, segment.duration);
    let mut data = Vec::with_capacity(parts.iter().map(Bytes::len).sum());
    let mut part_ends = Vec::with_capacity(parts.len());
    for part in &parts {
        data.extend_from_slice(part);
        part_ends.push(data.len());
    }
    let data = Bytes::from(data);
    if duration > 0 {
        let bps = data.len() as u64 * 8 * 1000 / duration as u64;
        state.peak_bandwidth = state.peak_bandwidth.max(bps);
    }
    let stored = StoredSegment {
        data: data.clone(),
        first_part,
        part_ends,
    };
    state.recent.insert(sequence, stored);
    while state.recent.len() > KEPT_SEGMENTS {
        state.recent.pop_first();
    }
    Some((sequence, data))
}

/// Part numbers a period may use before the next resumed one starts: at
/// 333 ms parts, five weeks of one encoder session.
pub const PARTS_PER_PERIOD: u64 = 10_000_000;

/// What a broadcast's recording on disk holds, for a node that continues it.
#[derive(Debug, Clone, Default)]
pub struct Recorded {
    pub renditions: Vec<(Rendition, Playlist)>,
    /// One more than the highest period any rendition started (its init
    /// segment is written when it starts, before any media).
    pub next_period: u32,
    /// Where the source's recorded media ends on the broadcast's timeline.
    pub end: Millis,
}

impl Recorded {
    pub fn is_empty(&self) -> bool {
        self.next_period == 0 && self.renditions.is_empty()
    }
}

/// The live side of one on-air broadcast: its feeds and the bookkeeping that
/// lets a reconnecting encoder continue where the last one stopped.
pub struct Channel {
    pub broadcast: BroadcastId,
    /// Whether live playlists are low-latency, and their part target.
    low_latency: Option<LowLatency>,
    feeds: RwLock<BTreeMap<Rendition, Arc<Feed>>>,
    timeline: Mutex<Timeline>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Timeline {
    /// Periods started so far (one per publish session).
    periods: u32,
    /// Where the last session's media ended.
    end: Millis,
}

impl Channel {
    pub fn new(broadcast: BroadcastId, low_latency: Option<LowLatency>) -> Self {
        Self {
            broadcast,
            low_latency,
            feeds: RwLock::new(BTreeMap::new()),
            timeline: Mutex::new(Timeline::default()),
        }
    }

    /// A channel that continues the recording on disk: every rendition's
    /// segments so far, the next period after the last one started (its
    /// first segment follows an `EXT-X-DISCONTINUITY`), media sequence
    /// numbers after the last segment written.
    ///
    /// Part names must never repeat within a broadcast (caches keep parts
    /// as immutable), and the parts the previous writer cut were never on
    /// disk: parts of a resumed channel are numbered from
    /// `period × PARTS_PER_PERIOD`, beyond any earlier number.
    pub fn resume(
        broadcast: BroadcastId,
        low_latency: Option<LowLatency>,
        minimum_target: u64,
        recorded: &Recorded,
    ) -> Self {
        let channel = Self::new(broadcast, low_latency);
        let first_part = u64::from(recorded.next_period) * PARTS_PER_PERIOD;
        {
            let mut feeds = channel.feeds.write().unwrap_or_else(|e| e.into_inner());
            for (rendition, playlist) in &recorded.renditions {
                let feed = Feed::resume(
                    *rendition,
                    minimum_target,
                    low_latency,
                    playlist,
                    first_part,
                );
                feeds.insert(*rendition, Arc::new(feed));
            }
        }
        *channel.timeline.lock().unwrap_or_else(|e| e.into_inner()) = Timeline {
            periods: recorded.next_period,
            end: recorded.end,
        };
        channel
    }

    /// The feed of a rendition, created on first use.
    pub fn feed(&self, rendition: Rendition, minimum_target: u64) -> Arc<Feed> {
        let mut feeds = self.feeds.write().unwrap_or_else(|e| e.into_inner());
        feeds
            .entry(rendition)
            .or_insert_with(|| Arc::new(Feed::new(rendition, minimum_target, self.low_latency)))
            .clone()
    }

    pub fn existing_feed(&self, rendition: Rendition) -> Option<Arc<Feed>> {
        let feeds = self.feeds.read().unwrap_or_else(|e| e.into_inner());
        feeds.get(&rendition).cloned()
    }

    pub fn feeds(&self) -> Vec<Arc<Feed>> {
        let feeds = self.feeds.read().unwrap_or_else(|e| e.into_inner());
        feeds.values().cloned().collect()
    }

    /// Opens the next period: its number and the time it continues from.
    pub fn begin_period(&self) -> (u32, Millis) {
        let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        let period = timeline.periods;
        timeline.periods += 1;
        // A small gap keeps the new period's first sample after the old last one.
        (period, if period == 0 { 0 } else { timeline.end + 100 })
    }

    pub fn end_period(&self, end: Millis) {
        let mut timeline = self.timeline.lock().unwrap_or_else(|e| e.into_inner());
        timeline.end = timeline.end.max(end);
    }

    /// The broadcast has ended: every feed's playlist gets its end mark.
    pub fn end(&self) {
        for feed in self.feeds() {
            feed.end();
        }
    }

    pub fn multivariant(&self) -> Option<String> {
        let variants: Vec<Variant> = self.feeds().iter().filter_map(|f| f.variant()).collect();
        (!variants.is_empty()).then(|| hls::render_multivariant(&variants))
    }

    pub fn is_ready(&self) -> bool {
        self.existing_feed(Rendition::Source)
            .is_some_and(|feed| feed.has_segments())
    }
}
