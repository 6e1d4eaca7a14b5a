//! Finishing a recording: a progressive MP4 to download and a poster image.
//!
//! A recording is what the live pipeline left on disk: one or more periods,
//! each an init segment followed by fragment files (`moof`+`mdat`), which
//! concatenated form a fragmented MP4. A new period starts whenever the encoder
//! reconnects, so timestamps may restart or jump, and the codec configuration
//! may change, between periods.
//!
//! Periods are read by concatenating their files into a scratch file next to
//! the output, keeping only whole fragments: a server killed mid-write leaves a
//! truncated last fragment, which is dropped rather than failing the recording.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ffmpeg_next::codec::threading;
use ffmpeg_next::format::context::{Input, Output};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, decoder, encoder, format, frame, media};
use ffmpeg_next::{Dictionary, Packet, Rational, Rescale};
use tracing::{debug, warn};

use crate::files::{self, Pending};
use crate::media::recode;
use crate::media::scaler::FrameScaler;
use crate::media::{init_ffmpeg, MediaError};

/// Posters are at most this wide (and never upscaled).
const POSTER_MAX_WIDTH: u32 = 1280;

/// The MJPEG quantiser for posters: 2 is the finest, 31 the coarsest.
const POSTER_QUANTISER: i32 = 3;

/// Microseconds, the unit in which periods are laid end to end.
const MICROS: Rational = Rational(1, 1_000_000);

/// One encoder connection's worth of a recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Period {
    /// The init segment (`ftyp`+`moov`).
    pub init: PathBuf,
    /// The fragment files, in order.
    pub segments: Vec<PathBuf>,
}

/// Remuxes (without re-encoding) all periods, in order, into one progressive
/// MP4 whose index comes first (`faststart`), so the download can play before
/// it has fully arrived.
///
/// Later periods are shifted to follow the earlier ones without a gap. A
/// period whose tracks differ from the first period's (another resolution,
/// say) ends the output there, with a warning: an MP4 track has one codec
/// configuration, and a shorter download beats a broken one. A later period
/// that cannot be read at all ends the output the same way.
///
/// The file is written under a temporary name next to `out` and renamed, so
/// `out` is either complete or untouched. Returns the output's duration.
pub fn remux_to_mp4(periods: &[Period], out: &Path) -> Result<Duration, MediaError> {
    init_ffmpeg();
    let (first, later) = periods
        .split_first()
        .ok_or_else(|| MediaError::Malformed("a recording without periods".into()))?;
    let partial = Pending::beside(out)?;
    let mut opened = OpenPeriod::open(first, out)?;
    let mut remuxer = Remuxer::create(partial.path(), Layout::of(&opened.input))?;
    remuxer.append(&mut opened.input)?;
    for (number, period) in (1..).zip(later) {
        let mut opened = match OpenPeriod::open(period, out) {
            Ok(opened) => opened,
            Err(error) => {
                warn!(%error, period = number, "recording period unreadable; the download ends before it");
                break;
            }
        };
        if !remuxer.layout.matches(&Layout::of(&opened.input)) {
            warn!(
                period = number,
                "codec configuration changed; the download ends before this period"
            );
            break;
        }
        remuxer.append(&mut opened.input)?;
    }
    let duration = remuxer.finish()?;
    partial.commit(out)?;
    Ok(duration)
}

/// Decodes the first video frame at or after `at` from the start of a period
/// (or its first frame if the period is shorter), scales it to at most 1280
/// pixels wide and writes it as a JPEG at `out`. Returns the JPEG's width and
/// height.
pub fn poster(period: &Period, at: Duration, out: &Path) -> Result<(u32, u32), MediaError> {
    init_ffmpeg();
    let joined = Pending::beside(out)?;
    join(period, joined.path())?;
    poster_from_file(joined.path(), at, out)
}

/// [`poster`] for any media file libav can open, such as an uploaded video.
pub fn poster_from_file(input: &Path, at: Duration, out: &Path) -> Result<(u32, u32), MediaError> {
    init_ffmpeg();
    let frame = match first_frame_from(input, at)? {
        Some(frame) => Some(frame),
        // The file is shorter than `at`: take its first frame.
        None if !at.is_zero() => first_frame_from(input, Duration::ZERO)?,
        None => None,
    }
    .ok_or_else(|| MediaError::Malformed("no decodable video frame".into()))?;
    let picture = scale_for_poster(&frame)?;
    files::write_atomically(out, &encode_jpeg(&picture)?)?;
    Ok((picture.width(), picture.height()))
}

/// The MP4 being written, and where the next period goes on its timeline.
struct Remuxer {
    output: Output,
    /// The first period's tracks, which later periods must match.
    layout: Layout,
    /// The end of the presentation written so far, in output microseconds.
    end: i64,
    /// The last decode time written to each stream, in its time base.
    last_dts: Vec<Option<i64>>,
    packets: usize,
}

impl Remuxer {
    fn create(path: &Path, layout: Layout) -> Result<Self, MediaError> {
        let mut output = format::output_as(path, "mp4")?;
        for track in &layout.tracks {
            let mut stream = output.add_stream(encoder::find(codec::Id::None))?;
            stream.set_parameters(track.parameters.clone());
            stream.set_time_base(track.time_base);
        }
        let mut options = Dictionary::new();
        options.set("movflags", "+faststart");
        output.write_header_with(options)?;
        Ok(Self {
            output,
            last_dts: vec![None; layout.tracks.len()],
            layout,
            end: 0,
            packets: 0,
        })
    }

    /// Appends a period's packets, shifted so that its presentation starts
    /// where the output's ends.
    fn append(&mut self, input: &mut Input) -> Result<(), MediaError> {
        let lead_in = self.lead_in(input);
        let start = lead_in.iter().filter_map(|(track, packet)| {
            let time_base = self.layout.tracks[*track].time_base;
            Some(packet.pts()?.rescale(time_base, MICROS))
        });
        let Some(start) = start.min() else {
            return Ok(());
        };
        let shift = self.end - start;
        for (track, packet) in lead_in {
            self.write(track, packet, shift)?;
        }
        while let Some(packet) = read_packet(input) {
            if let Some(track) = self.layout.track_of(packet.stream()) {
                self.write(track, packet, shift)?;
            }
        }
        Ok(())
    }

    /// Reads until every track has shown a packet, so the period's start is
    /// known before anything is written.
    fn lead_in(&self, input: &mut Input) -> Vec<(usize, Packet)> {
        let mut lead_in: Vec<(usize, Packet)> = Vec::new();
        let mut unseen = self.layout.tracks.len();
        while unseen > 0 {
            let Some(packet) = read_packet(input) else {
                break;
            };
            let Some(track) = self.layout.track_of(packet.stream()) else {
                continue;
            };
            if lead_in.iter().all(|(seen, _)| *seen != track) {
                unseen -= 1;
            }
            lead_in.push((track, packet));
        }
        lead_in
    }

    /// Writes one packet of `track`, `shift` microseconds later than it was.
    fn write(&mut self, track: usize, mut packet: Packet, shift: i64) -> Result<(), MediaError> {
        let (Some(dts), Some(pts)) = (packet.dts(), packet.pts()) else {
            return Ok(());
        };
        let input_time_base = self.layout.tracks[track].time_base;
        let time_base = self.output_time_base(track)?;
        let shift = shift.rescale(MICROS, time_base);
        let dts = dts.rescale(input_time_base, time_base) + shift;
        let pts = pts.rescale(input_time_base, time_base) + shift;
        // Rounding at a period boundary must not make decode times go back,
        // which the muxer would refuse.
        let dts = self.last_dts[track].map_or(dts, |last| dts.max(last + 1));
        let duration = packet.duration().rescale(input_time_base, time_base);
        packet.set_dts(Some(dts));
        packet.set_pts(Some(pts.max(dts)));
        packet.set_duration(duration);
        packet.set_stream(track);
        packet.set_position(-1);
        packet.write_interleaved(&mut self.output)?;
        self.last_dts[track] = Some(dts);
        self.end = self
            .end
            .max((pts.max(dts) + duration).rescale(time_base, MICROS));
        self.packets += 1;
        Ok(())
    }

    fn output_time_base(&self, track: usize) -> Result<Rational, MediaError> {
        let stream = self
            .output
            .stream(track)
            .ok_or_else(|| MediaError::Malformed(format!("the output has no stream {track}")))?;
        Ok(stream.time_base())
    }

    /// Completes the file (moving the index to the front) and returns its
    /// duration.
    fn finish(mut self) -> Result<Duration, MediaError> {
        if self.packets == 0 {
            return Err(MediaError::Malformed("the recording holds no media".into()));
        }
        self.output.write_trailer()?;
        Ok(Duration::from_micros(self.end.max(0).unsigned_abs()))
    }
}

/// The audio and video tracks of a period, in output order.
struct Layout {
    tracks: Vec<LayoutTrack>,
}

struct LayoutTrack {
    /// The stream's index in the period.
    stream: usize,
    time_base: Rational,
    parameters: codec::Parameters,
    signature: Signature,
}

impl Layout {
    fn of(input: &Input) -> Self {
        let tracks = input
            .streams()
            .filter(|stream| {
                let medium = stream.parameters().medium();
                medium == media::Type::Video || medium == media::Type::Audio
            })
            .map(|stream| LayoutTrack {
                stream: stream.index(),
                time_base: stream.time_base(),
                parameters: stream.parameters(),
                signature: Signature::of(&stream.parameters()),
            })
            .collect();
        Self { tracks }
    }

    /// The output track a stream of the period feeds, if any.
    fn track_of(&self, stream: usize) -> Option<usize> {
        self.tracks.iter().position(|track| track.stream == stream)
    }

    /// Whether another period's tracks can continue these in the same file.
    fn matches(&self, other: &Layout) -> bool {
        let signatures = |layout: &Layout| -> Vec<Signature> {
            layout.tracks.iter().map(|t| t.signature.clone()).collect()
        };
        signatures(self) == signatures(other)
    }
}

/// What must not change for a track to continue in the same MP4 track.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Signature {
    medium: media::Type,
    codec: codec::Id,
    width: i32,
    height: i32,
    sample_rate: i32,
    channels: i32,
    extradata: Vec<u8>,
}

impl Signature {
    fn of(parameters: &codec::Parameters) -> Self {
        // SAFETY: `parameters` wraps a valid AVCodecParameters, whose
        // extradata, when present, holds `extradata_size` bytes.
        let par = unsafe { &*parameters.as_ptr() };
        let extradata = match usize::try_from(par.extradata_size) {
            Ok(len) if !par.extradata.is_null() => unsafe {
                std::slice::from_raw_parts(par.extradata, len).to_vec()
            },
            _ => Vec::new(),
        };
        Self {
            medium: parameters.medium(),
            codec: parameters.id(),
            width: par.width,
            height: par.height,
            sample_rate: par.sample_rate,
            channels: par.ch_layout.nb_channels,
            extradata,
        }
    }
}

/// A period joined into a scratch file and opened for demuxing. The input is
/// declared first so that it is closed before the file is removed.
struct OpenPeriod {
    input: Input,
    _joined: Pending,
}

impl OpenPeriod {
    fn open(period: &Period, out: &Path) -> Result<Self, MediaError> {
        let joined = Pending::beside(out)?;
        join(period, joined.path())?;
        Ok(Self {
            input: format::input(joined.path())?,
            _joined: joined,
        })
    }
}

/// Concatenates a period's files into `dest`, stopping at the first segment
/// that is missing or ends in an incomplete fragment (keeping its whole ones).
fn join(period: &Period, dest: &Path) -> Result<(), MediaError> {
    let mut joined = BufWriter::new(File::create(dest)?);
    joined.write_all(&fs::read(&period.init)?)?;
    for segment in &period.segments {
        let data = match fs::read(segment) {
            Ok(data) => data,
            Err(error) => {
                warn!(%error, segment = %segment.display(), "recording segment unreadable; the period ends before it");
                break;
            }
        };
        let whole = whole_fragments(&data);
        joined.write_all(&data[..whole])?;
        if whole < data.len() {
            warn!(segment = %segment.display(), "recording segment truncated; keeping its whole fragments");
            break;
        }
    }
    joined.flush()?;
    Ok(())
}

/// The length of the longest prefix of `data` made of whole boxes, leaving
/// out a trailing `moof` whose `mdat` is missing or cut short.
fn whole_fragments(data: &[u8]) -> usize {
    let mut position = 0;
    let mut whole = 0;
    while let Some((kind, size)) = box_header(&data[position..]) {
        if size > data.len() - position {
            break;
        }
        position += size;
        if &kind != b"moof" {
            whole = position;
        }
    }
    whole
}

/// The type and total size of the ISO BMFF box at the start of `data`, if its
/// header is there and sane.
fn box_header(data: &[u8]) -> Option<([u8; 4], usize)> {
    let size = u32::from_be_bytes(*data.first_chunk::<4>()?);
    let kind = *data.get(4..)?.first_chunk::<4>()?;
    let (size, header) = match size {
        // A 64-bit size follows the type.
        1 => (u64::from_be_bytes(*data.get(8..)?.first_chunk::<8>()?), 16),
        // 0 means "to the end of the file": the writer never finished it.
        0 => return None,
        size => (u64::from(size), 8),
    };
    let size = usize::try_from(size).ok()?;
    (size >= header).then_some((kind, size))
}

/// The next packet, or `None` at the end or at damage the demuxer cannot get
/// past.
fn read_packet(input: &mut Input) -> Option<Packet> {
    let mut packet = Packet::empty();
    match packet.read(input) {
        Ok(()) => Some(packet),
        Err(ffmpeg_next::Error::Eof) => None,
        Err(error) => {
            warn!(%error, "unreadable media; keeping what precedes it");
            None
        }
    }
}

/// Decodes the first video frame presented at or after `at` from the start of
/// the file, or `None` if the file ends first.
fn first_frame_from(path: &Path, at: Duration) -> Result<Option<frame::Video>, MediaError> {
    let mut input = format::input(path)?;
    let stream = input
        .streams()
        .best(media::Type::Video)
        .ok_or_else(|| MediaError::Unsupported("no video stream".into()))?;
    let (index, time_base) = (stream.index(), stream.time_base());
    let start = Some(stream.start_time()).filter(|&t| t != ffmpeg_next::ffi::AV_NOPTS_VALUE);
    let target = start.unwrap_or(0) + micros(at).rescale(MICROS, time_base);
    // One thread, as libavcodec's default: only one frame is wanted.
    let mut decoder = recode::stream_decoder(&stream, threading::Config::count(1))?;
    if !at.is_zero() {
        seek_before(&mut input, target.rescale(time_base, MICROS));
    }
    decode_until(&mut input, index, &mut decoder, target)
}

/// Moves to the last keyframe at or before `target` (microseconds). When the
/// file cannot seek, decoding simply starts from the beginning.
fn seek_before(input: &mut Input, target: i64) {
    if let Err(error) = input.seek(target, ..target) {
        debug!(%error, "seek failed; decoding from the start");
    }
}

/// Decodes `stream` until a frame presented at or after `target` appears.
fn decode_until(
    input: &mut Input,
    stream: usize,
    decoder: &mut decoder::Video,
    target: i64,
) -> Result<Option<frame::Video>, MediaError> {
    let mut frame = frame::Video::empty();
    let mut draining = false;
    loop {
        while decoder.receive_frame(&mut frame).is_ok() {
            if frame.timestamp().is_none_or(|ts| ts >= target) {
                return Ok(Some(frame));
            }
        }
        if draining {
            return Ok(None);
        }
        match read_packet(input) {
            Some(packet) if packet.stream() == stream => {
                if let Err(error) = decoder.send_packet(&packet) {
                    debug!(%error, "skipping an undecodable packet");
                }
            }
            Some(_) => {}
            None => {
                decoder.send_eof()?;
                draining = true;
            }
        }
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Converts a frame to full-range 4:2:0 at poster size.
fn scale_for_poster(frame: &frame::Video) -> Result<frame::Video, MediaError> {
    let (width, height) = poster_size(frame.width(), frame.height(), frame.aspect_ratio());
    let mut scaler = FrameScaler::new(Pixel::YUVJ420P, width, height, scaling::Flags::BICUBIC);
    let mut picture = frame::Video::empty();
    scaler.for_frame(frame)?.run(frame, &mut picture)?;
    Ok(picture)
}

/// The poster size for a frame: its display aspect (pixel aspect ratio
/// applied), at most [`POSTER_MAX_WIDTH`] wide, with even sides as 4:2:0
/// chroma needs.
fn poster_size(width: u32, height: u32, pixel_aspect: Rational) -> (u32, u32) {
    let display_width = match (pixel_aspect.numerator(), pixel_aspect.denominator()) {
        (num, den) if num > 0 && den > 0 => {
            u64::from(width) * num.unsigned_abs() as u64 / den.unsigned_abs() as u64
        }
        _ => u64::from(width),
    }
    .max(1);
    let poster_width = display_width.min(u64::from(POSTER_MAX_WIDTH));
    let poster_height = u64::from(height) * poster_width / display_width;
    // Both fit: the width is at most POSTER_MAX_WIDTH, and the height at most
    // `height` since `poster_width <= display_width`.
    let even = |side: u64| (side as u32 & !1).max(2);
    (even(poster_width), even(poster_height))
}

/// Encodes one full-range 4:2:0 picture as a baseline JPEG.
fn encode_jpeg(picture: &frame::Video) -> Result<Vec<u8>, MediaError> {
    let codec = encoder::find(codec::Id::MJPEG)
        .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no MJPEG encoder".into()))?;
    let mut encoder = codec::Context::new_with_codec(codec).encoder().video()?;
    encoder.set_width(picture.width());
    encoder.set_height(picture.height());
    encoder.set_format(Pixel::YUVJ420P);
    encoder.set_time_base(Rational(1, 25));
    // Fixed quality rather than a bit rate; the quantiser is pinned by its
    // bounds since ffmpeg-next cannot set a frame's own quality.
    encoder.set_flags(codec::Flags::QSCALE);
    encoder.set_qmin(POSTER_QUANTISER);
    encoder.set_qmax(POSTER_QUANTISER);
    let mut encoder = encoder.open()?;
    encoder.send_frame(picture)?;
    encoder.send_eof()?;
    let mut packet = Packet::empty();
    encoder.receive_packet(&mut packet)?;
    Ok(packet.data().unwrap_or_default().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::fmp4::testing::{boxes, decode_errors, demux, fragment, generate, samples};
    use crate::media::fmp4::Fragment;
    use crate::media::Track;

    /// A period as the live pipeline leaves it: the init segment and one file
    /// per two fragments (so files hold one or more `moof`+`mdat` pairs).
    fn record(dir: &Path, name: &str, input: &Path) -> Period {
        let (config, packets) = demux(input);
        let (init, fragments) = fragment(&config, &packets);
        let root = dir.join(name);
        fs::create_dir(&root).unwrap();
        let period = Period {
            init: root.join("init.mp4"),
            segments: (0..fragments.len().div_ceil(2))
                .map(|i| root.join(format!("{i:05}.m4s")))
                .collect(),
        };
        fs::write(&period.init, init).unwrap();
        for (path, pair) in period.segments.iter().zip(fragments.chunks(2)) {
            fs::write(
                path,
                pair.iter()
                    .flat_map(|f: &Fragment| f.data.to_vec())
                    .collect::<Vec<u8>>(),
            )
            .unwrap();
        }
        period
    }

    fn video_frames(path: &Path) -> usize {
        samples(path)
            .iter()
            .filter(|s| s.track == Track::Video)
            .count()
    }

    fn probed_duration(path: &Path) -> f64 {
        let output = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "format=duration",
                "-of",
                "csv=p=0",
            ])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    }

    fn is_faststart(path: &Path) -> bool {
        let kinds = boxes(&fs::read(path).unwrap());
        let at = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
        at("moov") < at("mdat")
    }

    #[test]
    fn periods_become_one_continuous_faststart_mp4() {
        let dir = tempfile::tempdir().unwrap();
        let first = record(
            dir.path(),
            "p0",
            &generate(dir.path(), "a.mp4", 4, "320x240"),
        );
        let second = record(
            dir.path(),
            "p1",
            &generate(dir.path(), "b.mp4", 3, "320x240"),
        );
        let out = dir.path().join("replay.mp4");

        let duration = remux_to_mp4(&[first.clone(), second.clone()], &out).unwrap();

        let alone =
            |period: Period| remux_to_mp4(&[period], &dir.path().join("alone.mp4")).unwrap();
        let sum = alone(first) + alone(second);
        assert!(
            duration.abs_diff(sum) < Duration::from_millis(50),
            "{duration:?} vs {sum:?}"
        );
        assert!((duration.as_secs_f64() - 7.0).abs() < 0.15, "{duration:?}");
        assert!((probed_duration(&out) - duration.as_secs_f64()).abs() < 0.05);
        assert!(is_faststart(&out));
        assert_eq!(decode_errors(&out), "");
        let written = samples(&out);
        assert!(written.iter().any(|s| s.track == Track::Audio));
        let video: Vec<f64> = written
            .iter()
            .filter(|s| s.track == Track::Video)
            .map(|s| s.dts_ms())
            .collect();
        assert_eq!(video.len(), 175);
        let steps: Vec<f64> = video.windows(2).map(|w| w[1] - w[0]).collect();
        let seam = |step: &f64| (step - 40.0).abs() > 0.5;
        assert_eq!(steps.iter().filter(|s| seam(s)).count(), 1, "{steps:?}");
        assert!(
            steps.iter().all(|step| (39.5..100.0).contains(step)),
            "{steps:?}"
        );
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                e.ok()?
                    .file_name()
                    .to_str()?
                    .ends_with(".tmp")
                    .then_some(())
            })
            .collect();
        assert!(leftovers.is_empty(), "scratch files removed");
    }

    #[test]
    fn a_period_with_another_resolution_ends_the_download() {
        let dir = tempfile::tempdir().unwrap();
        let first = record(
            dir.path(),
            "p0",
            &generate(dir.path(), "a.mp4", 2, "320x240"),
        );
        let smaller = record(
            dir.path(),
            "p1",
            &generate(dir.path(), "b.mp4", 2, "160x120"),
        );
        let out = dir.path().join("replay.mp4");

        let duration = remux_to_mp4(&[first.clone(), smaller, first], &out).unwrap();

        assert!((duration.as_secs_f64() - 2.0).abs() < 0.15, "{duration:?}");
        assert_eq!(video_frames(&out), 50);
        assert_eq!(decode_errors(&out), "");
    }

    #[test]
    fn a_truncated_last_segment_keeps_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let period = record(
            dir.path(),
            "p0",
            &generate(dir.path(), "a.mp4", 4, "320x240"),
        );
        let last = period.segments.last().unwrap();
        let data = fs::read(last).unwrap();
        fs::write(last, &data[..data.len() / 3]).unwrap();
        let out = dir.path().join("replay.mp4");

        let duration = remux_to_mp4(std::slice::from_ref(&period), &out).unwrap();

        assert!((duration.as_secs_f64() - 2.0).abs() < 0.15, "{duration:?}");
        assert_eq!(video_frames(&out), 50);
        assert_eq!(decode_errors(&out), "");
        assert!(is_faststart(&out));
        assert!(poster(&period, Duration::from_secs(10), &dir.path().join("p.jpg")).is_ok());
    }

    #[test]
    fn recordings_without_media_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("replay.mp4");
        assert!(matches!(
            remux_to_mp4(&[], &out),
            Err(MediaError::Malformed(_))
        ));
        let period = record(
            dir.path(),
            "p0",
            &generate(dir.path(), "a.mp4", 1, "160x120"),
        );
        let empty = Period {
            segments: Vec::new(),
            ..period
        };
        assert!(remux_to_mp4(&[empty], &out).is_err());
        assert!(!out.exists());
    }

    fn assert_jpeg(path: &Path) {
        let data = fs::read(path).unwrap();
        assert_eq!(&data[..3], b"\xff\xd8\xff");
        assert_eq!(&data[data.len() - 2..], b"\xff\xd9");
    }

    #[test]
    fn posters_come_from_the_requested_time_or_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let period = record(
            dir.path(),
            "p0",
            &generate(dir.path(), "a.mp4", 3, "320x240"),
        );
        let out = dir.path().join("poster.jpg");

        assert_eq!(
            poster(&period, Duration::from_millis(1500), &out).unwrap(),
            (320, 240)
        );
        assert_jpeg(&out);
        assert_eq!(
            poster(&period, Duration::from_secs(60), &out).unwrap(),
            (320, 240)
        );
        assert_jpeg(&out);
    }

    #[test]
    fn posters_of_large_videos_are_scaled_down() {
        let dir = tempfile::tempdir().unwrap();
        let input = generate(dir.path(), "big.mp4", 1, "1600x900");
        let out = dir.path().join("poster.jpg");

        assert_eq!(
            poster_from_file(&input, Duration::ZERO, &out).unwrap(),
            (1280, 720)
        );
        assert_jpeg(&out);
    }

    #[test]
    fn poster_sizes_keep_the_display_aspect() {
        assert_eq!(poster_size(1920, 1080, Rational(1, 1)), (1280, 720));
        assert_eq!(poster_size(640, 480, Rational(0, 1)), (640, 480));
        assert_eq!(poster_size(720, 576, Rational(16, 15)), (768, 576));
        assert_eq!(poster_size(321, 241, Rational(1, 1)), (320, 240));
    }

    #[test]
    fn only_whole_fragments_are_kept() {
        let pair = [&[0, 0, 0, 8][..], b"moof", &[0, 0, 0, 10], b"mdat", b"xy"].concat();
        assert_eq!(whole_fragments(&pair), 18);
        assert_eq!(whole_fragments(&pair[..17]), 0, "mdat cut short");
        let two = [&pair[..], &pair[..12]].concat();
        assert_eq!(whole_fragments(&two), 18, "second pair cut in its header");
        let large = [&[0, 0, 0, 1][..], b"mdat", &[0, 0, 0, 0, 0, 0, 0, 17], b"z"].concat();
        assert_eq!(whole_fragments(&large), 17);
        assert_eq!(whole_fragments(&[0, 0, 0, 0, b'm', b'd', b'a', b't']), 0);
    }
}
