//! What viewers read while a broadcast is on air: for each rendition, the
//! playlist, init segments and recent segments, held in memory so that live
//! requests never touch the disk.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use tokio::sync::watch;

use crate::domain::BroadcastId;
use crate::media::hls::{self, PartInfo, Playlist, Segment, Variant, View};
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

/// One rendition's live state.
pub struct Feed {
    pub rendition: Rendition,
    state: RwLock<FeedState>,
}

struct FeedState {
    playlist: Playlist,
    config: TrackConfig,
    inits: BTreeMap<u32, Bytes>,
    /// The newest complete segments, enough for the live window and a
    /// little more for players that are slightly behind.
    recent: BTreeMap<u64, Bytes>,
    /// Parts of the segment being written (for low-latency playlists).
    open_parts: Vec<(PartInfo, Bytes)>,
    /// Peak bits per second measured over whole segments.
    peak_bandwidth: u64,
}

/// How many segments a live playlist lists, and how many are kept in memory.
pub const LIVE_WINDOW: usize = 6;
const KEPT_SEGMENTS: usize = LIVE_WINDOW * 2;

impl Feed {
    pub fn new(rendition: Rendition, minimum_target: u64) -> Self {
        Self {
            rendition,
            state: RwLock::new(FeedState {
                playlist: Playlist::new(minimum_target),
                config: TrackConfig::default(),
                inits: BTreeMap::new(),
                recent: BTreeMap::new(),
                open_parts: Vec::new(),
                peak_bandwidth: 0,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FeedState> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, FeedState> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start_period(&self, period: u32, config: TrackConfig, init: Bytes) {
        let mut state = self.write();
        state.config = config;
        state.inits.insert(period, init);
        state.open_parts.clear();
    }

    pub fn next_sequence(&self) -> u64 {
        self.read().playlist.next_sequence()
    }

    pub fn push_part(&self, part: PartInfo, data: Bytes) {
        self.write().open_parts.push((part, data));
    }

    /// Completes a segment from the parts pushed since the last one; returns
    /// its bytes and the recording playlist to write to disk.
    pub fn close_segment(&self, segment: Segment) -> (Bytes, String) {
        let mut state = self.write();
        let parts = std::mem::take(&mut state.open_parts);
        let mut data = Vec::with_capacity(parts.iter().map(|(_, d)| d.len()).sum());
        for (_, part) in &parts {
            data.extend_from_slice(part);
        }
        let data = Bytes::from(data);
        if segment.duration > 0 {
            let bps = data.len() as u64 * 8 * 1000 / segment.duration as u64;
            state.peak_bandwidth = state.peak_bandwidth.max(bps);
        }
        state.recent.insert(segment.sequence, data.clone());
        while state.recent.len() > KEPT_SEGMENTS {
            state.recent.pop_first();
        }
        state.playlist.push(segment);
        (data, state.playlist.render(View::Recording))
    }

    pub fn end(&self) -> String {
        let mut state = self.write();
        state.playlist.end();
        state.playlist.render(View::Recording)
    }

    pub fn live_playlist(&self) -> String {
        self.read().playlist.render(View::Live {
            window: LIVE_WINDOW,
        })
    }

    pub fn has_segments(&self) -> bool {
        !self.read().playlist.segments().is_empty()
    }

    pub fn duration(&self) -> Millis {
        self.read().playlist.duration()
    }

    pub fn init(&self, period: u32) -> Option<Bytes> {
        self.read().inits.get(&period).cloned()
    }

    pub fn segment(&self, sequence: u64) -> Option<Bytes> {
        self.read().recent.get(&sequence).cloned()
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

/// The live side of one on-air broadcast: its feeds and the bookkeeping that
/// lets a reconnecting encoder continue where the last one stopped.
pub struct Channel {
    pub broadcast: BroadcastId,
    feeds: RwLock<BTreeMap<Rendition, Arc<Feed>>>,
    timeline: Mutex<Timeline>,
    /// Bumped whenever a part or segment is added, so waiting requests
    /// (blocking playlist reloads) can wake.
    changes: watch::Sender<u64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Timeline {
    /// Periods started so far (one per publish session).
    periods: u32,
    /// Where the last session's media ended.
    end: Millis,
}

impl Channel {
    pub fn new(broadcast: BroadcastId) -> Self {
        Self {
            broadcast,
            feeds: RwLock::new(BTreeMap::new()),
            timeline: Mutex::new(Timeline::default()),
            changes: watch::channel(0).0,
        }
    }

    /// The feed of a rendition, created on first use.
    pub fn feed(&self, rendition: Rendition, minimum_target: u64) -> Arc<Feed> {
        let mut feeds = self.feeds.write().unwrap_or_else(|e| e.into_inner());
        feeds
            .entry(rendition)
            .or_insert_with(|| Arc::new(Feed::new(rendition, minimum_target)))
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

    pub fn notify(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    pub fn changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
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
