//! HLS playlists, written by us rather than by FFmpeg's hls muxer so that the
//! segment index is ours to extend (partial segments for low latency, chapters
//! for answered questions).
//!
//! A [`Playlist`] is the index of one rendition: segments in order, each made of
//! parts (the fMP4 fragments), grouped into periods that share an init segment.
//! A new period begins when the encoder reconnects; the playlist marks it with
//! `EXT-X-DISCONTINUITY` and a new `EXT-X-MAP`.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use super::Millis;

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
    pub parts: Vec<PartInfo>,
}

impl Segment {
    pub fn uri(&self) -> String {
        segment_uri(self.sequence)
    }
}

pub fn segment_uri(sequence: u64) -> String {
    format!("seg-{sequence}.m4s")
}

pub fn init_uri(period: u32) -> String {
    format!("init-{period}.mp4")
}

/// The index of one rendition's segments.
#[derive(Debug, Clone, Default)]
pub struct Playlist {
    segments: Vec<Segment>,
    /// The longest segment so far, in whole seconds rounded up; never shrinks,
    /// because a live playlist's target duration must not decrease.
    target_duration: u64,
    ended: bool,
}

/// Which segments a rendering lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// The newest segments only, for live viewers.
    Live { window: usize },
    /// Every segment, for replays and for the recording on disk.
    Recording,
}

impl Playlist {
    pub fn new(minimum_target: u64) -> Self {
        Self {
            segments: Vec::new(),
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

    pub fn push(&mut self, segment: Segment) {
        let seconds = u64::try_from(segment.duration).unwrap_or(0).div_ceil(1000);
        self.target_duration = self.target_duration.max(seconds);
        self.segments.push(segment);
    }

    pub fn end(&mut self) {
        self.ended = true;
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    pub fn last(&self) -> Option<&Segment> {
        self.segments.last()
    }

    pub fn next_sequence(&self) -> u64 {
        self.last().map_or(0, |s| s.sequence + 1)
    }

    pub fn target_duration(&self) -> u64 {
        self.target_duration
    }

    /// Total duration of all segments.
    pub fn duration(&self) -> Millis {
        self.segments.iter().map(|s| s.duration).sum()
    }

    /// The media playlist text. Before the first segment exists a live view
    /// is an empty (but valid) playlist that players poll again.
    pub fn render(&self, view: View) -> String {
        let listed = match view {
            View::Live { window } => &self.segments[self.segments.len().saturating_sub(window)..],
            View::Recording => &self.segments[..],
        };
        let first_period = listed.first().map_or(0, |s| s.period);
        // Periods start at 0 and each reconnect adds one, so the number of
        // discontinuities before the window is the first listed period.
        let mut out = String::with_capacity(128 + listed.len() * 96);
        out.push_str("#EXTM3U\n#EXT-X-VERSION:7\n");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", self.target_duration);
        let _ = writeln!(
            out,
            "#EXT-X-MEDIA-SEQUENCE:{}",
            listed.first().map_or(self.next_sequence(), |s| s.sequence)
        );
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{first_period}");
        if view == View::Recording && self.ended {
            out.push_str("#EXT-X-PLAYLIST-TYPE:VOD\n");
        }
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
        let mut period = None;
        for segment in listed {
            if period != Some(segment.period) {
                if period.is_some() {
                    out.push_str("#EXT-X-DISCONTINUITY\n");
                }
                let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", init_uri(segment.period));
                let _ = writeln!(
                    out,
                    "#EXT-X-PROGRAM-DATE-TIME:{}",
                    segment
                        .wall_clock
                        .to_rfc3339_opts(SecondsFormat::Millis, true)
                );
                period = Some(segment.period);
            }
            let _ = writeln!(
                out,
                "#EXTINF:{}.{:03},\n{}",
                segment.duration / 1000,
                segment.duration % 1000,
                segment.uri()
            );
        }
        if self.ended {
            out.push_str("#EXT-X-ENDLIST\n");
        }
        out
    }
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
            parts: vec![PartInfo {
                duration,
                independent: true,
            }],
        }
    }

    #[test]
    fn a_live_playlist_lists_the_window_and_no_endlist() {
        let mut playlist = Playlist::new(2);
        for n in 0..5 {
            playlist.push(segment(n, 0, 2000));
        }
        let text = playlist.render(View::Live { window: 3 });
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:2\n"), "{text}");
        assert!(!text.contains("seg-1.m4s"));
        assert!(text.contains("#EXTINF:2.000,\nseg-4.m4s\n"));
        assert!(!text.contains("ENDLIST"));
        assert!(text.contains("#EXT-X-MAP:URI=\"init-0.mp4\""));
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
        let window = playlist.render(View::Live { window: 1 });
        assert!(
            window.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"),
            "{window}"
        );
    }

    #[test]
    fn target_duration_grows_with_the_longest_segment_and_never_shrinks() {
        let mut playlist = Playlist::new(2);
        playlist.push(segment(0, 0, 8_200));
        playlist.push(segment(1, 0, 1_000));
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
