//! The media path of one publish session, on its own threads: packets from
//! the RTMP connection go through a [`Packager`] per rendition, which cuts
//! fMP4 parts and segments, hands them to the live [`Feed`] and records them
//! to disk.
//!
//! Segments start on a video keyframe once the segment target has passed;
//! parts of at most the part target are cut in between, and published to
//! low-latency viewers as soon as they are cut.

use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::Utc;
use tokio::sync::mpsc;

use super::channel::{Channel, Feed, Rendition};
use super::recording::Recorder;
use crate::domain::broadcast::Renditions;
use crate::media::fmp4::{Fragment, Fragmenter};
use crate::media::hls::{PartInfo, SegmentHead};
use crate::media::rendition::Transcoder;
use crate::media::{AudioConfig, MediaError, MediaPacket, Millis, Track, TrackConfig, VideoConfig};

/// What the RTMP connection sends to the pipeline.
#[derive(Debug)]
pub enum Input {
    Video(VideoConfig),
    Audio(AudioConfig),
    Packet(MediaPacket),
}

/// What the pipeline reports back to the hub.
#[derive(Debug)]
pub enum Report {
    /// The first segment of the source rendition is ready for viewers.
    Ready,
    /// Recording to disk stopped; live viewing goes on.
    RecordingFailed(String),
    /// The session's media is fully flushed; `end` is its last timestamp.
    Finished { end: Millis, error: Option<String> },
}

#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub segment: Millis,
    pub part: Millis,
}

/// Everything a session's pipeline needs to know at start.
pub struct Plan {
    pub channel: Arc<Channel>,
    pub renditions: Renditions,
    pub targets: Targets,
    /// The broadcast's media directory.
    pub dir: PathBuf,
    pub period: u32,
    pub reports: mpsc::UnboundedSender<Report>,
}

/// Height of the low rendition, and its bitrate.
const LOW_HEIGHT: u32 = 480;
const LOW_KBPS: u32 = 800;
/// An audio-only encoder (no video sequence header) is waited for this long.
const AUDIO_ONLY_AFTER: Millis = 2_000;

/// Runs a session until its input closes. Blocking: call on a dedicated thread.
pub fn run(plan: Plan, mut input: mpsc::Receiver<Input>) {
    let mut configs = TrackConfig::default();
    let mut outputs: Option<Outputs> = None;
    let mut first_audio = None;
    let mut end = 0;
    let mut error = None;
    while let Some(item) = input.blocking_recv() {
        let packet = match item {
            Input::Video(config) => {
                warn_if_changed(outputs.is_some(), &configs.video, &config);
                configs.video = Some(config);
                continue;
            }
            Input::Audio(config) => {
                warn_if_changed(outputs.is_some(), &configs.audio, &config);
                configs.audio = Some(config);
                continue;
            }
            Input::Packet(packet) => packet,
        };
        end = end.max(packet.dts);
        if outputs.is_none() {
            if !ready_to_start(&configs, &packet, &mut first_audio) {
                continue;
            }
            match Outputs::start(&plan, &configs) {
                Ok(started) => outputs = Some(started),
                Err(e) => {
                    error = Some(e.to_string());
                    break;
                }
            }
        }
        if let Some(outputs) = outputs.as_mut() {
            if let Err(e) = outputs.push(&packet) {
                error = Some(e.to_string());
                break;
            }
        }
    }
    if let Some(outputs) = outputs {
        if let Err(e) = outputs.finish() {
            error.get_or_insert(e.to_string());
        }
    }
    let _ = plan.reports.send(Report::Finished { end, error });
}

fn warn_if_changed<T: PartialEq>(started: bool, old: &Option<T>, new: &T) {
    if started && old.as_ref() != Some(new) {
        tracing::warn!(
            "the encoder changed its codec settings mid-stream; they apply after it reconnects"
        );
    }
}

/// Output starts on the first video keyframe, so every rendition's first
/// segment is decodable; an encoder that sends only audio starts after a moment.
fn ready_to_start(
    configs: &TrackConfig,
    packet: &MediaPacket,
    first_audio: &mut Option<Millis>,
) -> bool {
    match packet.track {
        Track::Video => packet.keyframe && configs.video.is_some(),
        Track::Audio => {
            let first = *first_audio.get_or_insert(packet.dts);
            configs.video.is_none()
                && configs.audio.is_some()
                && packet.dts - first >= AUDIO_ONLY_AFTER
        }
    }
}

/// The packagers of one session.
struct Outputs {
    source: Packager,
    audio: Option<Packager>,
    low: Option<LowRendition>,
}

impl Outputs {
    fn start(plan: &Plan, configs: &TrackConfig) -> Result<Self, MediaError> {
        let source = Packager::start(plan, Rendition::Source, configs.clone())?;
        let audio = match (&configs.video, &configs.audio) {
            (Some(_), Some(audio)) if plan.renditions.audio_only => {
                let config = TrackConfig {
                    video: None,
                    audio: Some(audio.clone()),
                };
                Some(Packager::start(plan, Rendition::Audio, config)?)
            }
            _ => None,
        };
        let low = match &configs.video {
            Some(video) if plan.renditions.low && video.height > LOW_HEIGHT => {
                Some(LowRendition::start(plan, video, configs.audio.clone())?)
            }
            _ => None,
        };
        Ok(Self { source, audio, low })
    }

    fn push(&mut self, packet: &MediaPacket) -> Result<(), MediaError> {
        self.source.push(packet)?;
        if let Some(audio) = self.audio.as_mut() {
            audio.push(packet)?;
        }
        if let Some(low) = self.low.as_mut() {
            if !low.send(packet) {
                self.low = None;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), MediaError> {
        if let Some(low) = self.low {
            low.finish();
        }
        if let Some(audio) = self.audio {
            audio.finish()?;
        }
        self.source.finish()
    }
}

/// The transcoded rendition runs on a thread of its own so that a slow
/// encode never holds up the source.
struct LowRendition {
    packets: SyncSender<MediaPacket>,
    thread: JoinHandle<()>,
}

impl LowRendition {
    fn start(
        plan: &Plan,
        video: &VideoConfig,
        audio: Option<AudioConfig>,
    ) -> Result<Self, MediaError> {
        let transcoder = Transcoder::new(video, LOW_HEIGHT, LOW_KBPS)?;
        let config = TrackConfig {
            video: Some(transcoder.config().clone()),
            audio,
        };
        let packager = Packager::start(plan, Rendition::Low, config)?;
        let (packets, received) = sync_channel::<MediaPacket>(512);
        let thread = std::thread::Builder::new()
            .name(format!("transcode-{}", plan.channel.broadcast))
            .spawn(move || {
                if let Err(e) = transcode(transcoder, packager, received) {
                    tracing::warn!(error = %e, "the 480p rendition stopped");
                }
            })?;
        Ok(Self { packets, thread })
    }

    /// False when the rendition has stopped or cannot keep up; it is then
    /// dropped rather than allowed to delay the source.
    fn send(&self, packet: &MediaPacket) -> bool {
        match self.packets.try_send(packet.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    "the 480p rendition cannot keep up (CPU); it is stopped for this session"
                );
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }

    fn finish(self) {
        drop(self.packets);
        let _ = self.thread.join();
    }
}

fn transcode(
    mut transcoder: Transcoder,
    mut packager: Packager,
    packets: std::sync::mpsc::Receiver<MediaPacket>,
) -> Result<(), MediaError> {
    for packet in packets {
        match packet.track {
            Track::Video => {
                for encoded in transcoder.push(&packet)? {
                    packager.push(&encoded)?;
                }
            }
            Track::Audio => packager.push(&packet)?,
        }
    }
    for encoded in transcoder.finish()? {
        packager.push(&encoded)?;
    }
    packager.finish()
}

/// Where a packet sits relative to the part and segment being written.
#[derive(Debug, PartialEq, Eq)]
enum Boundary {
    None,
    Part,
    Segment,
}

struct OpenSegment {
    head: SegmentHead,
    /// Decode time of the part being written.
    part_start: Millis,
}

/// The recent frame intervals of the track that decides where parts end:
/// how much a part will grow with its next frame.
#[derive(Default)]
struct Cadence {
    last: Option<Millis>,
    recent: [Millis; 4],
    next: usize,
}

impl Cadence {
    /// Notes a frame; intervals longer than `cap` (a gap in the stream)
    /// count as `cap`, so that one gap does not make every part one frame.
    fn note(&mut self, dts: Millis, cap: Millis) {
        if let Some(last) = self.last {
            self.recent[self.next % self.recent.len()] = (dts - last).clamp(0, cap);
            self.next += 1;
        }
        self.last = Some(dts);
    }

    /// The longest recent interval (timestamps in whole milliseconds make
    /// 30 fps alternate between 33 and 34 ms; the longer one is safe).
    fn step(&self) -> Millis {
        self.recent.iter().copied().max().unwrap_or(0)
    }
}

/// Cuts one rendition into parts and segments.
struct Packager {
    fragmenter: Fragmenter,
    index: Index,
}

/// A rendition's bookkeeping: the segment being written, and where finished
/// parts and segments go.
struct Index {
    feed: Arc<Feed>,
    recorder: Recorder,
    config: TrackConfig,
    period: u32,
    targets: Targets,
    segment: Option<OpenSegment>,
    cadence: Cadence,
    /// Told once, when the source's first segment is out.
    announce_ready: Option<mpsc::UnboundedSender<Report>>,
}

impl Packager {
    fn start(plan: &Plan, rendition: Rendition, config: TrackConfig) -> Result<Self, MediaError> {
        let fragmenter = Fragmenter::new(&config)?;
        let init = fragmenter.init_segment().clone();
        let minimum_target = ((plan.targets.segment + 999) / 1000).max(1) as u64;
        let feed = plan.channel.feed(rendition, minimum_target);
        feed.start_period(plan.period, config.clone(), init.clone());
        let mut recorder = Recorder::new(plan.dir.join(rendition.as_str()), plan.reports.clone());
        recorder.write_init(plan.period, init);
        let index = Index {
            feed,
            recorder,
            config,
            period: plan.period,
            targets: plan.targets,
            segment: None,
            cadence: Cadence::default(),
            announce_ready: (rendition == Rendition::Source).then(|| plan.reports.clone()),
        };
        Ok(Self { fragmenter, index })
    }

    fn push(&mut self, packet: &MediaPacket) -> Result<(), MediaError> {
        if !self.index.carries(packet.track) {
            return Ok(());
        }
        let boundary = self.index.boundary(packet);
        // The packet that opens a new part is pushed first: the fragmenter
        // holds it back, so the cut leaves it at the head of the next part.
        self.fragmenter.push(packet)?;
        match boundary {
            Boundary::None => {}
            Boundary::Part => {
                if let Some(fragment) = self.fragmenter.cut()? {
                    self.index.add_part(fragment);
                }
                self.index.part_starts(packet.dts);
            }
            Boundary::Segment => {
                let last = self.fragmenter.cut()?;
                self.index.close_segment(last);
            }
        }
        self.index.open_if_needed(packet.dts);
        Ok(())
    }

    fn finish(self) -> Result<(), MediaError> {
        let Self {
            fragmenter,
            mut index,
        } = self;
        let last = fragmenter.finish()?;
        index.close_segment(last);
        Ok(())
    }
}

impl Index {
    fn carries(&self, track: Track) -> bool {
        match track {
            Track::Video => self.config.video.is_some(),
            Track::Audio => self.config.audio.is_some(),
        }
    }

    /// Segments start on a keyframe once the segment target has passed.
    /// Parts end before the frame that would make them longer than the part
    /// target (PART-TARGET is a maximum), and before a keyframe when the part
    /// is long enough already (at least 85 % of the target, the least the
    /// specification allows), so that the keyframe leads an independent part.
    fn boundary(&mut self, packet: &MediaPacket) -> Boundary {
        // With video, only video frames decide; audio follows.
        let decides = self.config.video.is_none() || packet.track == Track::Video;
        if !decides {
            return Boundary::None;
        }
        let target = self.targets.part;
        self.cadence.note(packet.dts, target / 2);
        let Some(open) = &self.segment else {
            return Boundary::None;
        };
        let elapsed = packet.dts - open.part_start;
        let keyframe_leads = packet.keyframe && elapsed * 100 >= target * 85;
        let would_be_too_long = elapsed > 0 && elapsed + self.cadence.step() > target;
        if packet.keyframe && packet.dts - open.head.start >= self.targets.segment {
            Boundary::Segment
        } else if keyframe_leads || would_be_too_long {
            Boundary::Part
        } else {
            Boundary::None
        }
    }

    fn open_if_needed(&mut self, dts: Millis) {
        if self.segment.is_none() {
            self.segment = Some(OpenSegment {
                head: SegmentHead {
                    sequence: self.feed.next_sequence(),
                    period: self.period,
                    start: dts,
                    // The ingest clock: this packet has just arrived.
                    wall_clock: Utc::now(),
                },
                part_start: dts,
            });
        }
    }

    fn part_starts(&mut self, dts: Millis) {
        if let Some(open) = self.segment.as_mut() {
            open.part_start = dts;
        }
    }

    fn add_part(&mut self, fragment: Fragment) {
        let Some(open) = &self.segment else {
            return;
        };
        self.feed
            .push_part(&open.head, part_info(&fragment), fragment.data);
    }

    /// Completes the segment with its last part: viewers see both at once,
    /// never the short last part without the end of its segment.
    fn close_segment(&mut self, last: Option<Fragment>) {
        let Some(open) = self.segment.take() else {
            return;
        };
        let last = last.map(|fragment| (part_info(&fragment), fragment.data));
        let Some((sequence, data, playlist)) = self.feed.close_segment(&open.head, last) else {
            return;
        };
        self.recorder.write_segment(sequence, data, playlist);
        if let Some(reports) = self.announce_ready.take() {
            let _ = reports.send(Report::Ready);
        }
    }
}

fn part_info(fragment: &Fragment) -> PartInfo {
    PartInfo {
        duration: fragment.duration,
        independent: fragment.independent,
    }
}
