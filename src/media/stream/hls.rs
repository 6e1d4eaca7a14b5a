//! HLS playlists, written by us rather than by FFmpeg's hls muxer so that the
//! segment index is ours to extend (partial segments for low latency, chapters
//! for answered questions).
//!
//! A [`Playlist`] is the index of one rendition: segments in order, each made of
//! parts (the fMP4 fragments), grouped into periods that share an init segment.
//! A new period begins when the encoder reconnects; the playlist marks it with
//! `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`.
//!
//! Live playlists may be Low-Latency HLS (RFC 8216bis): the parts of recent
//! segments and of the segment being written are listed as `EXT-X-PART`s, the
//! next part is announced with `EXT-X-PRELOAD-HINT`, and players reload with
//! the delivery directives `_HLS_msn`/`_HLS_part`, which [`Edge`] answers.
//! Players that know nothing of parts read the same playlist as ordinary HLS.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::media::Millis;

/// One part of a segment: an fMP4 fragment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub duration: Millis,
    /// Starts with a keyframe, so a player may begin here.
    pub independent: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The media sequence number, unique over the whole broadcast.
    pub sequence: u64,
    /// Which init segment (period) it belongs to.
    pub period: u32,
    /// Decode time of its first sample, on the broadcast's timeline.
    pub start: Millis,
    pub duration: Millis,
    /// When its first sample reached the server (EXT-X-PROGRAM-DATE-TIME).
    pub wall_clock: DateTime<Utc>,
    /// The number of its first part among all parts of the rendition: parts
    /// are named by this running number, not by segment, so that the part a
    /// playlist hints at keeps its name whichever segment it ends up in.
    pub first_part: u64,
    pub parts: Vec<PartInfo>,
}

impl Segment {
    pub fn uri(&self) -> String {
        segment_uri(self.sequence)
    }

    fn end(&self) -> Millis {
        self.start + self.duration
    }
}

/// Where a segment begins; known before its first part is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentHead {
    pub sequence: u64,
    pub period: u32,
    pub start: Millis,
    pub wall_clock: DateTime<Utc>,
}

pub fn segment_uri(sequence: u64) -> String {
    format!("seg-{sequence}.m4s")
}

pub fn init_uri(period: u32) -> String {
    format!("init-{period}.mp4")
}

pub fn part_uri(number: u64) -> String {
    format!("part-{number}.m4s")
}

/// The number in a part's file name (`part-12.m4s` → 12).
pub fn parse_part_uri(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("part-")?.strip_suffix(".m4s")?;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The low-latency parameters of a live playlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowLatency {
    /// PART-TARGET: no part is longer than this.
    pub part_target: Millis,
    /// PART-HOLD-BACK: how far behind the end of the playlist a low-latency
    /// player should play (hls.js aims at exactly this distance).
    part_hold_back: Millis,
}

impl LowLatency {
    /// Parameters for parts of `part_target`, played `part_hold_back` behind
    /// the newest; the hold-back is at least three part targets, the least
    /// the specification recommends.
    pub fn new(part_target: Millis, part_hold_back: Millis) -> Self {
        let part_target = part_target.max(1);
        Self {
            part_target,
            part_hold_back: part_hold_back.max(3 * part_target),
        }
    }

    pub fn part_hold_back(self) -> Millis {
        self.part_hold_back
    }

    /// How many parts ahead of the newest a blocking request may ask for
    /// (the specification's Advance Part Limit): parts covering three seconds.
    pub fn advance_part_limit(self) -> u64 {
        if self.part_target < 1000 {
            (3000 / self.part_target.max(1)) as u64
        } else {
            3
        }
    }
}

/// The index of one rendition's segments.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    segments: Vec<Segment>,
    /// The segment being written, with the parts cut so far.
    open: Option<Segment>,
    /// The longest segment so far in whole seconds (rounded to the nearest,
    /// as the specification compares them); never shrinks, because a live
    /// playlist's target duration must not decrease.
    target_duration: u64,
    ended: bool,
}

/// Which segments a rendering lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The newest segments only, for live viewers; with low latency also the
    /// parts at the live edge.
    Live {
        window: usize,
        low_latency: Option<LowLatency>,
    },
    /// Every complete segment, for replays and for the recording on disk.
    Recording,
}

impl Playlist {
    pub fn new(minimum_target: u64) -> Self {
        Self {
            segments: Vec::new(),
            open: None,
            target_duration: minimum_target.max(1),
            ended: false,
        }
    }

    /// Rebuilds an index from segments read back from disk.
    pub fn from_segments(minimum_target: u64, segments: Vec<Segment>) -> Self {
        let mut playlist = Self::new(minimum_target);
        for segment in segments {
            playlist.push(segment);
        }
        playlist
    }

    /// Appends a complete segment.
    pub fn push(&mut self, segment: Segment) {
        let seconds = u64::try_from((segment.duration + 500) / 1000).unwrap_or(0);
        self.target_duration = self.target_duration.max(seconds);
        self.segments.push(segment);
    }

    /// Adds a part to the segment being written, which `head` describes if
    /// this is its first part. Returns where the part sits.
    pub fn push_part(&mut self, head: &SegmentHead, part: PartInfo) -> PartPosition {
        let first_part = self.next_part();
        let open = self.open.get_or_insert_with(|| Segment {
            sequence: head.sequence,
            period: head.period,
            start: head.start,
            duration: 0,
            wall_clock: head.wall_clock,
            first_part,
            parts: Vec::new(),
        });
        open.duration += part.duration;
        open.parts.push(part);
        PartPosition {
            sequence: open.sequence,
            index: open.parts.len() as u64 - 1,
            number: open.first_part + open.parts.len() as u64 - 1,
        }
    }

    /// Completes the segment being written, if it has any part.
    pub fn close_segment(&mut self) -> Option<&Segment> {
        let open = self.open.take()?;
        self.push(open);
        self.segments.last()
    }

    pub fn end(&mut self) {
        self.close_segment();
        self.ended = true;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The complete segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The segment being written.
    pub fn open_segment(&self) -> Option<&Segment> {
        self.open.as_ref()
    }

    pub fn last(&self) -> Option<&Segment> {
        self.segments.last()
    }

    /// The sequence number of the next segment to open.
    pub fn next_sequence(&self) -> u64 {
        match (&self.open, self.last()) {
            (Some(open), _) => open.sequence + 1,
            (None, Some(last)) => last.sequence + 1,
            (None, None) => 0,
        }
    }

    /// The number the next part will get (the one a preload hint names).
    pub fn next_part(&self) -> u64 {
        self.open
            .as_ref()
            .or(self.segments.last())
            .map_or(0, |s| s.first_part + s.parts.len() as u64)
    }

    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    /// Total duration of all complete segments.
    pub fn duration(&self) -> Millis {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// What a blocking request can be answered from.
    pub fn edge(&self) -> Edge {
        let newest = self.open.as_ref().or(self.segments.last());
        Edge {
            last_segment: self.segments.last().map(|s| s.sequence),
            last_part: newest.and_then(|s| {
                let index = s.parts.len().checked_sub(1)? as u64;
                Some(PartPosition {
                    sequence: s.sequence,
                    index,
                    number: s.first_part + index,
                })
            }),
            next_part: self.next_part(),
            ended: self.ended,
        }
    }

    /// The media playlist text. Before the first segment exists a live view
    /// is an empty (but valid) playlist that players poll again.
    pub fn render(&self, view: View) -> String {
        let (listed, low_latency) = match view {
            View::Live {
                window,
                low_latency,
            } => (
                &self.segments[self.segments.len().saturating_sub(window)..],
                low_latency,
            ),
            View::Recording => (&self.segments[..], None),
        };
        let open = low_latency.and(self.open.as_ref());
        let first = listed.first().or(open);
        let mut out = String::with_capacity(256 + listed.len() * 128);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        if let Some(low_latency) = low_latency {
            let _ = writeln!(
                out,
                "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={},HOLD-BACK={}",
                Seconds(low_latency.part_hold_back()),
                Seconds(3000 * self.target_duration as Millis)
            );
            let _ = writeln!(
                out,
                "#EXT-X-PART-INF:PART-TARGET={}",
                Seconds(low_latency.part_target)
            );
        }
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA-SEQUENCE:{}",
            first.map_or(self.next_sequence(), |s| s.sequence)
        );
        // Periods start at 0 and each reconnect adds one, so the number of
        // discontinuities before the window is the first listed period.
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
            first.map_or(0, |s| s.period)
        );
        if view == View::Recording && self.ended {
            out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");

        // Parts are listed for the segments that lie within three target
        // durations of the playlist's end (older ones SHOULD be removed).
        let end = open.or(listed.last()).map_or(0, Segment::end);
        let horizon = 3000 * self.target_duration as Millis;
        let mut period = None;
        let complete = listed.iter().map(|segment| (segment, true));
        for (segment, complete) in complete.chain(open.map(|segment| (segment, false))) {
            if period != Some(segment.period) {
                if period.is_some() {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(segment.period));
                period = Some(segment.period);
            }
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                segment
                    .wall_clock
                    .to_rfc3339_opts(SecondsFormat::Millis, true)
            );
            if low_latency.is_some() && end - segment.start <= horizon {
                for (number, part) in (segment.first_part..).zip(&segment.parts) {
                    let _ = write!(
                        out,
                        "#EXT-X-PART:DURATION={},URI=\"{}\"",
                        Seconds(part.duration),
                        part_uri(number)
                    );
                    out.push_str(if part.independent {
                        ",INDEPENDENT=YES\n"
                    } else {
                        "\n"
                    });
                }
            }
            if complete {
                let _ = writeln!(
                    out,
                    "#EXTINF:{},\n{}",
                    Seconds(segment.duration),
                    segment.uri()
                );
            }
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        } else if low_latency.is_some() {
            let _ = writeln!(
                out,
                "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
                part_uri(self.next_part())
            );
        }
        out
    }
}

/// Milliseconds written as decimal seconds (`1.250`).
struct Seconds(Millis);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// A part's place: its segment, its index within the segment (what
/// `_HLS_part` counts), and its running number (its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartPosition {
    pub sequence: u64,
    pub index: u64,
    pub number: u64,
}

/// The newest state of a live playlist, small enough to hand to every
/// waiting request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Edge {
    /// The newest complete segment.
    pub last_segment: Option<u64>,
    /// The newest part, in the segment being written or the last complete one.
    pub last_part: Option<PartPosition>,
    /// The running number of the next part (the preload hint).
    pub next_part: u64,
    pub ended: bool,
}

/// What a blocking playlist request waits for (RFC 8216bis 6.2.5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaited {
    /// `_HLS_msn=M`: segment M complete.
    Segment(u64),
    /// `_HLS_msn=M&_HLS_part=N`: part N of segment M, or anything later.
    Part { sequence: u64, index: u64 },
}

/// Why delivery directives were refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    #[error("_HLS_msn and _HLS_part take a decimal integer")]
    NotANumber,
    #[error("_HLS_part without _HLS_msn")]
    PartWithoutSegment,
    #[error("the requested segment or part is too far ahead of the playlist")]
    TooFarAhead,
}

/// Reads the delivery directives of a playlist request's query string.
/// `_HLS_skip` is ignored: we offer no delta updates (no CAN-SKIP-UNTIL).
pub fn parse_directives(query: &str) -> Result<Option<Awaited>, DirectiveError> {
    let (mut msn, mut part) = (None, None);
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match key {
            "_HLS_msn" => &mut msn,
            "_HLS_part" => &mut part,
            _ => continue,
        };
        if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DirectiveError::NotANumber);
        }
        *slot = Some(value.parse().map_err(|_| DirectiveError::NotANumber)?);
    }
    match (msn, part) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(DirectiveError::PartWithoutSegment),
        (Some(sequence), None) => Ok(Some(Awaited::Segment(sequence))),
        (Some(sequence), Some(index)) => Ok(Some(Awaited::Part { sequence, index })),
    }
}

impl Edge {
    /// Whether the playlist contains what `awaited` waits for. A part index
    /// past the end of a complete segment means the next segment's first
    /// part, which the comparison of positions gives for free.
    pub fn satisfies(&self, awaited: Awaited) -> bool {
        match awaited {
            Awaited::Segment(sequence) => self.last_segment.is_some_and(|last| last >= sequence),
            Awaited::Part { sequence, index } => self.last_part.is_some_and(|last| {
                last.sequence > sequence || (last.sequence == sequence && last.index >= index)
            }),
        }
    }

    /// Whether `awaited` is so far ahead that the request is refused rather
    /// than held: a segment more than two beyond the newest, or a part more
    /// than the Advance Part Limit beyond the newest part.
    pub fn is_too_far_ahead(&self, awaited: Awaited, low_latency: LowLatency) -> bool {
        let newest = self
            .last_part
            .map(|p| p.sequence)
            .max(self.last_segment)
            .map_or(-1, |s| s as i128);
        let sequence = match awaited {
            Awaited::Segment(sequence) | Awaited::Part { sequence, .. } => sequence,
        };
        if sequence as i128 > newest + 2 {
            return true;
        }
        let Awaited::Part { sequence, index } = awaited else {
            return false;
        };
        // Parts still to come, at least: from the newest part in the same
        // segment, or from the start of a later one.
        let ahead = match self.last_part {
            Some(last) if last.sequence == sequence => index.saturating_sub(last.index),
            Some(last) if last.sequence > sequence => 0,
            _ => index.saturating_add(1),
        };
        ahead > low_latency.advance_part_limit()
    }
}

/// `EXT-X-RENDITION-REPORT` for another rendition of the same broadcast,
/// whose media playlist is at `uri` relative to this one.
pub fn render_rendition_report(uri: &str, last: PartPosition) -> String {
    format!(
        "#EXT-X-RENDITION-REPORT:URI=\"{uri}\",LAST-MSN={},LAST-PART={}\n",
        last.sequence, last.index
    )
}

/// Reads back a playlist this module wrote (the recording on disk), so that a
/// broadcast interrupted by a crash can still be finished as a replay.
/// Parts are not kept on disk; each segment comes back as one part.
pub fn parse_recording(text: &str) -> Option<(Playlist, bool)> {
    let mut lines = text.lines();
    if lines.next()? != "#EXTM3U" {
        return None;
    }
    let mut segments = Vec::new();
    let mut period = 0;
    let mut wall_clock = DateTime::<Utc>::UNIX_EPOCH;
    let mut duration = None;
    let mut start = 0;
    let mut ended = false;
    for line in lines {
        if let Some(value) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            period = value.parse().ok()?;
        } else if line == "#EXT-X-DISCONTINUITY" {
            period += 1;
        } else if let Some(value) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            wall_clock = DateTime::parse_from_rfc3339(value).ok()?.to_utc();
        } else if let Some(value) = line.strip_prefix("#EXTINF:") {
            duration = Some(parse_millis(value.trim_end_matches(','))?);
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if let Some(sequence) = line
            .strip_prefix("seg-")
            .and_then(|rest| rest.strip_suffix(".m4s"))
        {
            let duration = duration.take()?;
            let segment = Segment {
                sequence: sequence.parse().ok()?,
                period,
                start,
                duration,
                wall_clock,
                first_part: segments.len() as u64,
                parts: vec![PartInfo {
                    duration,
                    independent: true,
                }],
            };
            start += duration;
            wall_clock += chrono::Duration::milliseconds(duration);
            segments.push(segment);
        }
    }
    let mut playlist = Playlist::from_segments(1, segments);
    if ended {
        playlist.end();
    }
    Some((playlist, ended))
}

fn parse_millis(value: &str) -> Option<Millis> {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let fraction = format!("{fraction:0<3}");
    Some(whole.parse::<Millis>().ok()? * 1000 + fraction.get(..3)?.parse::<Millis>().ok()?)
}

/// One entry of the multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Path of its media playlist, relative to the multivariant playlist.
    pub uri: String,
    /// Peak bits per second (measured or configured).
    pub bandwidth: u64,
    pub codecs: Vec<String>,
    pub resolution: Option<(u32, u32)>,
}

/// The multivariant playlist that lets a player choose between renditions.
pub fn render_multivariant(variants: &[Variant]) -> String {
    let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
    for variant in variants {
        let _ = write!(
            out,
            "#EXT-X-STREAM-INF:BANDWIDTH={},CODECS=\"{}\"",
            variant.bandwidth.max(1),
            variant.codecs.join(",")
        );
        if let Some((width, height)) = variant.resolution {
            let _ = write!(out, ",RESOLUTION={width}x{height}");
        }
        let _ = writeln!(out, "\n{}", variant.uri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(sequence: u64, period: u32, duration: Millis) -> Segment {
        Segment {
            sequence,
            period,
            start: sequence as Millis * 2000,
            duration,
            wall_clock: DateTime::from_timestamp(1_800_000_000 + sequence as i64 * 2, 0).unwrap(),
            first_part: sequence,
            parts: vec![PartInfo {
                duration,
                independent: true,
            }],
        }
    }

    const LOW_LATENCY: LowLatency = LowLatency {
        part_target: 333,
        part_hold_back: 1500,
    };

    fn live(low_latency: Option<LowLatency>) -> View {
        View::Live {
            window: 6,
            low_latency,
        }
    }

    fn head(sequence: u64, period: u32, start: Millis) -> SegmentHead {
        SegmentHead {
            sequence,
            period,
            start,
            wall_clock: DateTime::from_timestamp(1_800_000_000, 0).unwrap()
                + chrono::Duration::milliseconds(start),
        }
    }

    /// Segments of 2 s cut into parts of 320 ms (and a last one of 80 ms),
    /// as a 25 fps encoder with a keyframe every 2 s gives them.
    fn cut(playlist: &mut Playlist, segments: u64, period: u32) {
        for _ in 0..segments {
            let start = playlist.next_sequence() as Millis * 2000;
            let head = head(playlist.next_sequence(), period, start);
            for index in 0..7 {
                let duration = if index == 6 { 80 } else { 320 };
                let part = PartInfo {
                    duration,
                    independent: index == 0,
                };
                playlist.push_part(&head, part);
            }
            playlist.close_segment();
        }
    }

    /// The tags of a playlist line by line, without their attributes.
    fn tags(text: &str) -> Vec<&str> {
        text.lines()
            .map(|line| line.split(':').next().unwrap_or(line))
            .collect()
    }

    fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
        let list = line.split_once(':')?.1;
        list.split(',').find_map(|pair| {
            let (key, value) = pair.split_once('=')?;
            (key == name).then(|| value.trim_matches('"'))
        })
    }

    /// A decimal number of seconds, in milliseconds (compared exactly).
    fn millis(value: &str) -> i64 {
        parse_millis(value).unwrap()
    }

    #[test]
    fn a_live_playlist_lists_the_window_and_no_endlist() {
        let mut playlist = Playlist::new(2);
        for n in 0..5 {
            playlist.push(segment(n, 0, 2000));
        }
        let text = playlist.render(live(None));
        let window = playlist.render(View::Live {
            window: 3,
            low_latency: None,
        });
        assert!(window.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{window}");
        assert!(!window.contains("seg-1.m4s"));
        assert!(window.contains("#EXTINF:2.000,\nseg-4.m4s\n"));
        assert!(!text.contains("ENDLIST"));
        assert!(window.contains("#EXT-X-MAP:URI=\"init-0.mp4\""));
        // Ordinary HLS: no low-latency tags at all.
        for tag in ["SERVER-CONTROL", "PART", "PRELOAD-HINT"] {
            assert!(!text.contains(&format!("#EXT-X-{tag}")), "{text}");
        }
    }

    #[test]
    fn a_reconnect_adds_a_discontinuity_and_a_new_map() {
        let mut playlist = Playlist::new(2);
        playlist.push(segment(0, 0, 2000));
        playlist.push(segment(1, 0, 1500));
        playlist.push(segment(2, 1, 2000));
        playlist.end();
        let text = playlist.render(View::Recording);
        assert!(text.contains(
            "seg-1.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"
        ));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD"));
        let window = playlist.render(View::Live {
            window: 1,
            low_latency: None,
        });
        assert!(
            window.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
            "{window}"
        );
    }

    #[test]
    fn every_segment_carries_its_ingest_time() {
        let mut playlist = Playlist::new(2);
        playlist.push(segment(0, 0, 2000));
        playlist.push(segment(1, 0, 2000));
        let text = playlist.render(View::Recording);
        assert!(
            text.contains(
                "#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:02.000Z\n#EXTINF:2.000,\nseg-1.m4s"
            ),
            "{text}"
        );
    }

    #[test]
    fn target_duration_grows_with_the_longest_segment_and_never_shrinks() {
        let mut playlist = Playlist::new(2);
        playlist.push(segment(0, 0, 8_200));
        playlist.push(segment(1, 0, 1_000));
        // Compared rounded to the nearest second, as the specification says.
        assert_eq!(playlist.target_duration(), 8);
        playlist.push(segment(2, 0, 8_600));
        assert_eq!(playlist.target_duration(), 9);
    }

    #[test]
    fn the_recording_reads_back_as_written() {
        let mut playlist = Playlist::new(2);
        playlist.push(segment(0, 0, 2000));
        playlist.push(segment(1, 0, 1999));
        playlist.push(segment(2, 1, 2001));
        let (read, ended) = parse_recording(&playlist.render(View::Recording)).unwrap();
        assert!(!ended);
        let periods: Vec<_> = read.segments().iter().map(|s| s.period).collect();
        assert_eq!(periods, [0, 0, 1]);
        assert_eq!(read.duration(), 6000);
        assert_eq!(
            read.segments()[2].wall_clock,
            playlist.segments()[2].wall_clock
        );
        assert!(parse_recording("not a playlist").is_none());
    }

    #[test]
    fn a_low_latency_playlist_has_its_tags_in_the_order_the_specification_asks() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 2, 0);
        let head = head(2, 0, 4000);
        for index in 0..2 {
            let part = PartInfo {
                duration: 320,
                independent: index == 0,
            };
            playlist.push_part(&head, part);
        }
        let text = playlist.render(live(Some(LOW_LATENCY)));
        let tags = tags(&text);
        assert_eq!(
            tags[..9],
            [
                "#EXTM3U",
                "#EXT-X-VERSION",
                "#EXT-X-TARGETDURATION",
                "#EXT-X-SERVER-CONTROL",
                "#EXT-X-PART-INF",
                "#EXT-X-MEDIA-SEQUENCE",
                "#EXT-X-DISCONTINUITY-SEQUENCE",
                "#EXT-X-INDEPENDENT-SEGMENTS",
                "#EXT-X-MAP",
            ],
            "{text}"
        );
        // Each segment: its date, its parts, then its EXTINF and URI.
        let first_segment = [
            "#EXT-X-PROGRAM-DATE-TIME",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXT-X-PART",
            "#EXTINF",
            "seg-0.m4s",
        ];
        assert_eq!(tags[9..19], first_segment, "{text}");
        // The segment being written: its date and parts, no EXTINF; then
        // the preload hint, last.
        assert_eq!(
            tags[tags.len() - 4..],
            [
                "#EXT-X-PROGRAM-DATE-TIME",
                "#EXT-X-PART",
                "#EXT-X-PART",
                "#EXT-X-PRELOAD-HINT"
            ],
            "{text}"
        );
        assert!(!text.contains("ENDLIST"));
        assert!(text.contains(
            "#EXT-X-PART:DURATION=0.320,URI=\"part-14.m4s\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.320,URI=\"part-15.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-16.m4s\"\n"
        ), "{text}");
    }

    #[test]
    fn low_latency_attributes_keep_the_specifications_bounds() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 4, 0);
        let text = playlist.render(live(Some(LOW_LATENCY)));
        let line = |tag: &str| {
            text.lines()
                .find(|l| l.starts_with(tag))
                .unwrap_or_else(|| panic!("no {tag} in {text}"))
        };
        let control = line("#EXT-X-SERVER-CONTROL:");
        assert_eq!(attribute(control, "CAN-BLOCK-RELOAD"), Some("YES"));
        let part_target = millis(attribute(line("#EXT-X-PART-INF:"), "PART-TARGET").unwrap());
        assert_eq!(part_target, 333);
        let target = millis(line("#EXT-X-TARGETDURATION:").split(':').nth(1).unwrap());
        let part_hold_back = millis(attribute(control, "PART-HOLD-BACK").unwrap());
        let hold_back = millis(attribute(control, "HOLD-BACK").unwrap());
        assert!(part_hold_back >= 3 * part_target, "{control}");
        assert!(hold_back >= 3 * target, "{control}");
        let parts: Vec<_> = text
            .lines()
            .filter(|l| l.starts_with("#EXT-X-PART:"))
            .collect();
        assert!(!parts.is_empty());
        for part in parts {
            let duration = millis(attribute(part, "DURATION").unwrap());
            assert!(duration <= part_target, "{part}");
        }
        // The specification's Advance Part Limit: three seconds of parts.
        assert_eq!(LOW_LATENCY.advance_part_limit(), 9);
        assert_eq!(LowLatency::new(1000, 0).advance_part_limit(), 3);
        // The hold-back never goes under three part targets.
        assert_eq!(LowLatency::new(500, 1000).part_hold_back(), 1500);
    }

    #[test]
    fn parts_older_than_three_target_durations_are_no_longer_listed() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 6, 0);
        let text = playlist.render(live(Some(LOW_LATENCY)));
        // Segments 3, 4 and 5 lie within 6 s (three target durations) of
        // the end: their parts are listed; older ones as whole segments only.
        let listed: Vec<u64> = text
            .lines()
            .filter_map(|l| attribute(l, "URI").and_then(parse_part_uri))
            .collect();
        assert_eq!(listed.first(), Some(&21), "{text}");
        assert_eq!(listed.last(), Some(&42), "the hint: {text}");
        assert!(text.contains("seg-0.m4s"));
        // Every listed part stays in order, ending at the hint.
        assert!(listed.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn the_hinted_part_keeps_its_name_when_it_opens_the_next_segment() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 1, 0);
        let hinted = playlist.next_part();
        assert!(playlist
            .render(live(Some(LOW_LATENCY)))
            .contains(&format!("URI=\"part-{hinted}.m4s\"")));
        // The encoder reconnects: the hinted part is the first of a new period.
        let position = playlist.push_part(
            &head(1, 1, 2100),
            PartInfo {
                duration: 320,
                independent: true,
            },
        );
        assert_eq!(
            position,
            PartPosition {
                sequence: 1,
                index: 0,
                number: hinted
            }
        );
        let text = playlist.render(live(Some(LOW_LATENCY)));
        assert!(text.contains(&format!(
            "seg-0.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2027-01-15T08:00:02.100Z\n#EXT-X-PART:DURATION=0.320,URI=\"part-{hinted}.m4s\",INDEPENDENT=YES\n"
        )), "{text}");
    }

    #[test]
    fn an_ended_playlist_has_no_hint_and_no_open_segment() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 2, 0);
        playlist.push_part(
            &head(2, 0, 4000),
            PartInfo {
                duration: 320,
                independent: true,
            },
        );
        playlist.end();
        let text = playlist.render(live(Some(LOW_LATENCY)));
        assert!(
            text.ends_with("#EXTINF:0.320,\nseg-2.m4s\n#EXT-X-ENDLIST\n"),
            "{text}"
        );
        assert!(!text.contains("PRELOAD-HINT"));
        assert!(playlist.edge().ended);
        // Parts never reach the recording.
        assert!(!playlist.render(View::Recording).contains("#EXT-X-PART"));
    }

    #[test]
    fn an_empty_live_playlist_is_valid_and_hints_the_first_part() {
        let playlist = Playlist::new(2);
        let text = playlist.render(live(Some(LOW_LATENCY)));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        assert!(text.ends_with("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-0.m4s\"\n"));
        assert_eq!(playlist.edge(), Edge::default());
    }

    #[test]
    fn delivery_directives_are_read_strictly() {
        assert_eq!(parse_directives(""), Ok(None));
        assert_eq!(parse_directives("t=1&_HLS_skip=YES"), Ok(None));
        assert_eq!(
            parse_directives("_HLS_msn=12"),
            Ok(Some(Awaited::Segment(12)))
        );
        assert_eq!(
            parse_directives("_HLS_msn=12&_HLS_part=3"),
            Ok(Some(Awaited::Part {
                sequence: 12,
                index: 3
            }))
        );
        assert_eq!(
            parse_directives("_HLS_part=3"),
            Err(DirectiveError::PartWithoutSegment)
        );
        for bad in [
            "_HLS_msn=",
            "_HLS_msn=-1",
            "_HLS_msn=1.5",
            "_HLS_msn=12&_HLS_part=x",
            "_HLS_msn=99999999999999999999999",
        ] {
            assert_eq!(
                parse_directives(bad),
                Err(DirectiveError::NotANumber),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_blocking_request_is_answered_once_the_playlist_has_what_it_waits_for() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 2, 0);
        let part = |sequence, index| Awaited::Part { sequence, index };
        let edge = playlist.edge();
        assert!(edge.satisfies(part(1, 6)));
        assert!(edge.satisfies(Awaited::Segment(1)));
        assert!(!edge.satisfies(Awaited::Segment(2)));
        // Segment 1 closed with seven parts: its "part 7" is part 0 of segment 2.
        assert!(!edge.satisfies(part(1, 7)));
        assert!(!edge.satisfies(part(2, 0)));
        playlist.push_part(
            &head(2, 0, 4000),
            PartInfo {
                duration: 320,
                independent: true,
            },
        );
        let edge = playlist.edge();
        assert!(edge.satisfies(part(1, 7)));
        assert!(edge.satisfies(part(2, 0)));
        assert!(!edge.satisfies(part(2, 1)));
        // A segment is there only once it is complete.
        assert!(!edge.satisfies(Awaited::Segment(2)));
    }

    #[test]
    fn requests_far_ahead_of_the_playlist_are_refused() {
        let mut playlist = Playlist::new(2);
        cut(&mut playlist, 2, 0);
        playlist.push_part(
            &head(2, 0, 4000),
            PartInfo {
                duration: 320,
                independent: true,
            },
        );
        let edge = playlist.edge();
        let far = |awaited| edge.is_too_far_ahead(awaited, LOW_LATENCY);
        let part = |sequence, index| Awaited::Part { sequence, index };
        assert!(!far(part(2, 1)));
        assert!(!far(part(2, 9)));
        assert!(far(part(2, 10)));
        assert!(!far(part(3, 0)));
        assert!(!far(part(4, 8)));
        assert!(far(part(4, 9)));
        assert!(far(part(5, 0)));
        assert!(!far(Awaited::Segment(4)));
        assert!(far(Awaited::Segment(5)));
        // Old segments and parts are not "ahead".
        assert!(!far(part(0, 100)));
        // Before anything exists only the first segments may be awaited.
        let empty = Playlist::new(2).edge();
        assert!(!empty.is_too_far_ahead(part(0, 0), LOW_LATENCY));
        assert!(!empty.is_too_far_ahead(Awaited::Segment(1), LOW_LATENCY));
        assert!(empty.is_too_far_ahead(Awaited::Segment(2), LOW_LATENCY));
    }

    #[test]
    fn rendition_reports_name_the_newest_part() {
        let last = PartPosition {
            sequence: 12,
            index: 3,
            number: 87,
        };
        assert_eq!(
            render_rendition_report("../audio/index.m3u8", last),
            "#EXT-X-RENDITION-REPORT:URI=\"../audio/index.m3u8\",LAST-MSN=12,LAST-PART=3\n"
        );
    }

    #[test]
    fn part_names_are_read_back_and_nothing_else() {
        assert_eq!(parse_part_uri("part-0.m4s"), Some(0));
        assert_eq!(parse_part_uri("part-123.m4s"), Some(123));
        for bad in [
            "part-.m4s",
            "part--1.m4s",
            "part-1.mp4",
            "seg-1.m4s",
            "part-1a.m4s",
        ] {
            assert_eq!(parse_part_uri(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_multivariant_playlist_names_codecs_and_sizes() {
        let text = render_multivariant(&[
            Variant {
                uri: "source/index.m3u8".into(),
                bandwidth: 2_500_000,
                codecs: vec!["avc1.64001f".into(), "mp4a.40.2".into()],
                resolution: Some((1280, 720)),
            },
            Variant {
                uri: "audio/index.m3u8".into(),
                bandwidth: 130_000,
                codecs: vec!["mp4a.40.2".into()],
                resolution: None,
            },
        ]);
        assert!(text.contains(
            "#EXT-X-STREAM-INF:BANDWIDTH=2500000,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1280x720\nsource/index.m3u8\n"
        ));
        assert!(text.contains("CODECS=\"mp4a.40.2\"\naudio/index.m3u8\n"));
    }
}
