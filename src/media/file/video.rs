//! Video files: what one holds ([`probe_video`]), and making one into an MP4
//! every browser plays, by copying its tracks without their metadata
//! ([`remux_clean`]) or by decoding, scaling and encoding it again
//! ([`transcode`], the video through the shared pipeline in
//! [`crate::media::recode`]), and a still of it ([`poster`]).
//!
//! The sizes, lengths and frame rates are the caller's rules, given as a
//! [`VideoTarget`] (lobby screens have theirs in `signage::media`). Uploaded
//! files are opened with the demuxers meant for uploads and no protocol but
//! plain files. Everything here is blocking libav work: run it on a dedicated
//! thread.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ffmpeg_next::codec::packet::side_data::Type as SideDataType;
use ffmpeg_next::codec::profile::{Profile, H264};
use ffmpeg_next::codec::threading;
use ffmpeg_next::error::EAGAIN;
use ffmpeg_next::format::context::{Input, Output};
use ffmpeg_next::format::{sample, Sample};
use ffmpeg_next::software::{resampling, scaling};
use ffmpeg_next::{codec, decoder, encoder, ffi, format, frame, media};
use ffmpeg_next::{ChannelLayout, Dictionary, Packet, Rational, Rescale};
use image::ImageFormat;
use tracing::{debug, warn};

use crate::files::Pending;
use crate::media::picture::encode_image;
use crate::media::recode::{self, FrameRules, Keyframes, Rate, VideoRecoder, X264};
use crate::media::upload::{sniff, MediaCategory, MediaKind, MediaUploadError, SNIFF_LEN};
use crate::media::{init_ffmpeg, replay, MediaError};

/// What a capability asks of the videos it takes: the limits past which one
/// is refused before any work, and the size and frame rate of what is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTarget {
    /// The long side of the picture at most this…
    pub long_side: u32,
    /// …and the short side at most this, in either orientation.
    pub short_side: u32,
    /// Faster video is slowed to this many frames a second.
    pub max_frame_rate: u32,
    /// Longer videos are refused.
    pub max_duration: Duration,
    /// Videos whose frames have more pixels than this are refused.
    pub max_pixels: u64,
}

impl VideoTarget {
    /// Whether a picture fits the target's sides, turned either way.
    pub fn fits(&self, width: u32, height: u32) -> bool {
        width.max(height) <= self.long_side && width.min(height) <= self.short_side
    }

    /// The size [`transcode`] gives a a `width`×`height` source whose pixels are
    /// `sample_aspect` wide: square pixels, within the target's sides turned like the
    /// source, never larger than the source, even sides for 4:2:0.
    pub fn output_size(&self, width: u32, height: u32, sample_aspect: Rational) -> (u32, u32) {
        let display_width = match (sample_aspect.numerator(), sample_aspect.denominator()) {
            (num, den) if num > 0 && den > 0 => {
                u64::from(width) * u64::from(num.unsigned_abs()) / u64::from(den.unsigned_abs())
            }
            _ => u64::from(width),
        }
        .max(1);
        let height = u64::from(height).max(1);
        let (box_width, box_height) = if display_width >= height {
            (u64::from(self.long_side), u64::from(self.short_side))
        } else {
            (u64::from(self.short_side), u64::from(self.long_side))
        };
        let (width, height) = if display_width <= box_width && height <= box_height {
            (display_width, height)
        } else if display_width * box_height > height * box_width {
            (box_width, height * box_width / display_width)
        } else {
            (display_width * box_height / height, box_height)
        };
        // Both are at most the box's sides, which fit in u32.
        let even = |side: u64| (side as u32 & !1).max(2);
        (even(width), even(height))
    }
}

/// The demuxers libav may use for uploads, by name; the others (playlists,
/// raw streams, images) are never given uploaded bytes.
const VIDEO_DEMUXERS: &str = "mov,matroska,avi,mpegts,mpeg,flv,asf";
/// ISO BMFF major brands of MP4 proper, as opposed to QuickTime (`qt`) and
/// the 3GPP family.
const MP4_BRANDS: [&str; 10] = [
    "isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V", "MSNV",
];
/// libx264's constant quality for video files we make (High profile).
const CRF: u8 = 23;
/// Seconds between keyframes, so that a box can start or seek quickly.
const KEYFRAME_INTERVAL_SECONDS: u32 = 2;
const AUDIO_RATE: i32 = 48_000;
const AUDIO_BIT_RATE: usize = 128_000;
// ---------------------------------------------------------------------------
// Videos

/// What a video file holds, as libav reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The libav demuxer's name, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or
    /// `matroska,webm`.
    pub container: String,
    /// The ISO BMFF major brand (`isom`, `mp42`, `qt`), for MP4 and QuickTime.
    pub brand: Option<String>,
    /// Zero when the file does not say.
    pub duration: Duration,
    /// The libav codec name: `h264`, `hevc`, `vp8`, `mpeg4`…
    pub video_codec: String,
    /// For H.264, libav's name of the profile: `Constrained Baseline`,
    /// `Baseline`, `Main`, `High`, `High 10`…
    pub video_profile: Option<String>,
    /// The libav pixel format name, e.g. `yuv420p`.
    pub pixel_format: String,
    /// The coded size; see `rotation` for how it is shown.
    pub width: u32,
    pub height: u32,
    /// Degrees (0, 90, 180 or 270) the player turns the picture clockwise to
    /// show it, as phones record portrait video.
    pub rotation: u16,
    /// Frames per second on average; zero when unknown.
    pub frame_rate: f64,
    /// The libav codec name of the main audio track (`aac`, `mp3`…), if any.
    pub audio_codec: Option<String>,
}

impl VideoInfo {
    /// Whether this file is already what [`transcode`] makes for `target`:
    /// MP4 (not QuickTime or 3GP), H.264 up to the High profile in 8-bit
    /// 4:2:0, AAC or no audio, within the target's size in either orientation
    /// and frame rate.
    pub fn plays_as_is(&self, target: &VideoTarget) -> bool {
        let h264 = self.video_codec == "h264"
            && matches!(
                self.video_profile.as_deref(),
                Some("Constrained Baseline" | "Baseline" | "Main" | "High")
            )
            && self.pixel_format == "yuv420p";
        let audio = matches!(self.audio_codec.as_deref(), None | Some("aac"));
        self.is_mp4()
            && h264
            && audio
            && target.fits(self.width, self.height)
            && self.frame_rate <= f64::from(target.max_frame_rate) + 0.5
    }

    fn is_mp4(&self) -> bool {
        self.container.starts_with("mov,")
            && self
                .brand
                .as_deref()
                .is_some_and(|brand| MP4_BRANDS.contains(&brand))
    }

    /// Refuses videos longer than the target's `max_duration` or with frames
    /// of more than its `max_pixels`.
    pub fn check_limits(&self, target: &VideoTarget) -> Result<(), MediaUploadError> {
        if self.duration > target.max_duration {
            return Err(too_long(target.max_duration));
        }
        if u64::from(self.width) * u64::from(self.height) > target.max_pixels {
            return Err(MediaUploadError::VideoTooLarge {
                max_pixels: target.max_pixels,
            });
        }
        Ok(())
    }

    fn of(input: &Input) -> Result<Self, MediaUploadError> {
        let video = main_video_stream(input).ok_or(MediaUploadError::NoVideoStream)?;
        let decoder = open_video_decoder(&video, threading::Config::count(1))?;
        let duration = match input.duration() {
            micros if micros > 0 => micros,
            _ => video.duration().max(0).rescale(video.time_base(), MICROS),
        };
        let video_profile = match decoder.profile() {
            Profile::H264(profile) => Some(h264_profile_name(profile).to_owned()),
            _ => None,
        };
        let audio_codec = input
            .streams()
            .best(media::Type::Audio)
            .map(|audio| audio.parameters().id().name().to_owned());
        Ok(Self {
            container: input.format().name().to_owned(),
            brand: input
                .metadata()
                .get("major_brand")
                .map(|brand| brand.trim().to_owned()),
            duration: Duration::from_micros(duration.max(0).unsigned_abs()),
            video_codec: video.parameters().id().name().to_owned(),
            video_profile,
            pixel_format: decoder.format().descriptor().map_or_else(
                || format!("{:?}", decoder.format()),
                |descriptor| descriptor.name().to_owned(),
            ),
            width: decoder.width(),
            height: decoder.height(),
            rotation: rotation_of(&video),
            frame_rate: frame_rate_of(&video).map_or(0.0, f64::from),
            audio_codec,
        })
    }
}

fn too_long(max_duration: Duration) -> MediaUploadError {
    MediaUploadError::VideoTooLong {
        max_seconds: max_duration.as_secs(),
    }
}

fn h264_profile_name(profile: H264) -> &'static str {
    match profile {
        H264::Constrained => "Constrained",
        H264::Intra => "Intra",
        H264::Baseline => "Baseline",
        H264::ConstrainedBaseline => "Constrained Baseline",
        H264::Main => "Main",
        H264::Extended => "Extended",
        H264::High => "High",
        H264::High10 => "High 10",
        H264::High10Intra => "High 10 Intra",
        H264::High422 => "High 4:2:2",
        H264::High422Intra => "High 4:2:2 Intra",
        H264::High444 => "High 4:4:4",
        H264::High444Predictive => "High 4:4:4 Predictive",
        H264::High444Intra => "High 4:4:4 Intra",
        H264::CAVLC444 => "CAVLC 4:4:4",
    }
}

/// Reads a video file's streams.
pub fn probe_video(path: &Path) -> Result<VideoInfo, MediaUploadError> {
    let input = open_video(path)?;
    VideoInfo::of(&input)
}

/// A poster for the video at `path`: a JPEG of its first frame at or after
/// `at` (its first frame if it is shorter), at most 1280 pixels wide and
/// turned upright. Blocking libav work: run it on a dedicated thread.
pub fn poster(path: &Path, at: Duration) -> Result<Vec<u8>, MediaUploadError> {
    let info = probe_video(path)?;
    let jpeg = tempfile::Builder::new()
        .prefix("pavilion-poster-")
        .suffix(".jpg")
        .tempfile()?;
    replay::poster_from_file(path, at, jpeg.path()).map_err(|error| match error {
        MediaError::Io(error) => MediaUploadError::Io(error),
        error => MediaUploadError::Corrupt(error.to_string()),
    })?;
    let bytes = fs::read(jpeg.path())?;
    if info.rotation == 0 {
        return Ok(bytes);
    }
    let image = image::load_from_memory_with_format(&bytes, ImageFormat::Jpeg)
        .map_err(|error| MediaUploadError::Transcode(error.to_string()))?;
    let upright = match info.rotation {
        90 => image.rotate90(),
        180 => image.rotate180(),
        _ => image.rotate270(),
    };
    Ok(encode_image(&upright, None)?.bytes)
}

/// Converts the video at `input` into an MP4 every browser plays, at
/// `output`: its index first, H.264 (High profile, 4:2:0, CRF 23, a keyframe
/// every two seconds) scaled down to fit the target's sides in either
/// orientation, at most its frame rate, and 48 kHz stereo AAC at 128 kbit/s
/// if it has sound. The rotation the source asks players for is kept;
/// metadata is not.
///
/// Videos beyond the target's limits are refused before any work. The file
/// is written under a temporary name next to `output` and renamed when
/// complete, so `output` never holds half a video. Setting `cancel` stops the
/// work within a packet or so, with [`MediaUploadError::Cancelled`].
///
/// Blocking and CPU-bound for minutes: run it on a dedicated thread, at most
/// a few at a time. Returns what the output holds.
pub fn transcode(
    input: &Path,
    output: &Path,
    target: &VideoTarget,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    let source = open_video(input)?;
    let info = VideoInfo::of(&source)?;
    info.check_limits(target)?;
    let partial = Pending::beside(output)?;
    Transcode::start(source, &info, partial.path(), target)?.run(cancel)?;
    let result = probe_video(partial.path())
        .map_err(|error| MediaUploadError::Transcode(format!("unreadable output: {error}")))?;
    partial.commit(output)?;
    Ok(result)
}

/// Copies the video at `input`, one that [plays as it
/// is](VideoInfo::plays_as_is), into a fresh
/// MP4 at `output` without decoding it: its video track and its audio track,
/// with the index first. Whatever else the source carries stays behind: the
/// file's and the tracks' metadata (GPS position, device, creation time),
/// chapters, cover art, timecode and sensor-data tracks. Only the display
/// matrix, which tells players how to turn the picture, is kept.
///
/// A video that does not play as it is is refused with
/// [`MediaUploadError::Transcode`]: that one needs [`transcode`]. The output
/// is written, and `cancel` honoured, as [`transcode`] does.
///
/// Blocking I/O, some seconds for the largest upload: run it on a dedicated
/// thread. Returns what the output holds.
pub fn remux_clean(
    input: &Path,
    output: &Path,
    target: &VideoTarget,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    let mut source = open_video(input)?;
    let info = VideoInfo::of(&source)?;
    info.check_limits(target)?;
    if !info.plays_as_is(target) {
        return Err(MediaUploadError::Transcode(format!(
            "{} video in {} needs transcoding, not copying",
            info.video_codec, info.container
        )));
    }
    let partial = Pending::beside(output)?;
    copy_streams(&mut source, &info, partial.path(), cancel)?;
    let result = probe_video(partial.path())
        .map_err(|error| MediaUploadError::Transcode(format!("unreadable output: {error}")))?;
    partial.commit(output)?;
    Ok(result)
}

/// Opens a video file for demuxing with the demuxers meant for uploads and
/// no protocol but plain files, so that no upload makes libav open anything
/// else (a playlist's entries, a URL).
fn open_video(path: &Path) -> Result<Input, MediaUploadError> {
    init_ffmpeg();
    let options = Dictionary::from_iter([
        ("format_whitelist", VIDEO_DEMUXERS),
        ("protocol_whitelist", "file"),
    ]);
    format::input_with_dictionary(path, options).map_err(|error| {
        let head = match read_head(path) {
            Ok(head) => head,
            Err(error) => return MediaUploadError::Io(error),
        };
        match sniff(&head).map(MediaKind::category) {
            Some(MediaCategory::Video) => MediaUploadError::Corrupt(error.to_string()),
            _ => MediaUploadError::NotAVideo,
        }
    })
}

pub(crate) fn read_head(path: &Path) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    File::open(path)?
        .take(SNIFF_LEN as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The video track to show: libav's best, unless that is cover art.
fn main_video_stream(input: &Input) -> Option<format::stream::Stream<'_>> {
    input.streams().best(media::Type::Video).filter(|stream| {
        !stream
            .disposition()
            .contains(format::stream::Disposition::ATTACHED_PIC)
    })
}

/// A decoder for a video stream, using `threads` (`threading::Config::count(1)`
/// to only look at the stream).
fn open_video_decoder(
    stream: &format::stream::Stream,
    threads: threading::Config,
) -> Result<decoder::Video, MediaUploadError> {
    let codec_name = stream.parameters().id().name();
    recode::stream_decoder(stream, threads).map_err(|error| match error {
        ffmpeg_next::Error::DecoderNotFound => MediaUploadError::UnsupportedFormat {
            format: codec_name.to_owned(),
        },
        error => MediaUploadError::Corrupt(format!("{codec_name}: {error}")),
    })
}

fn frame_rate_of(stream: &format::stream::Stream) -> Option<Rational> {
    [stream.avg_frame_rate(), stream.rate()]
        .into_iter()
        .find(|rate| rate.numerator() > 0 && rate.denominator() > 0)
}

/// The clockwise turn a stream's display matrix asks for, to the nearest
/// quarter (what players honour).
fn rotation_of(stream: &format::stream::Stream) -> u16 {
    let Some(matrix) = display_matrix(stream) else {
        return 0;
    };
    let clockwise = -ffi_rotation(&matrix);
    if !clockwise.is_finite() {
        return 0;
    }
    let quarters = (clockwise / 90.0).round().rem_euclid(4.0);
    quarters as u16 * 90
}

fn display_matrix(stream: &format::stream::Stream) -> Option<[i32; 9]> {
    let side_data = stream
        .side_data()
        .find(|data| data.kind() == SideDataType::DisplayMatrix)?;
    let mut matrix = [0i32; 9];
    let bytes = side_data.data();
    if bytes.len() < 36 {
        return None;
    }
    for (value, chunk) in matrix.iter_mut().zip(bytes.chunks_exact(4)) {
        *value = i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    Some(matrix)
}

/// A source being transcoded into an MP4.
struct Transcode {
    input: Input,
    output: Output,
    video: VideoLane,
    audio: Option<AudioLane>,
    /// The duration the source declares, to notice a file that ends early.
    declared: Duration,
}

impl Transcode {
    fn start(
        input: Input,
        info: &VideoInfo,
        path: &Path,
        target: &VideoTarget,
    ) -> Result<Self, MediaUploadError> {
        let mut output = format::output_as(path, "mp4").map_err(failed("creating the MP4"))?;
        let global_header = output
            .format()
            .flags()
            .contains(format::Flags::GLOBAL_HEADER);
        let origin = timeline_origin(&input);
        let mut video = VideoLane::open(&input, &mut output, origin, global_header, target)?;
        let mut audio = match input.streams().best(media::Type::Audio) {
            Some(stream) => {
                match AudioLane::open(
                    &stream,
                    &mut output,
                    origin,
                    global_header,
                    target.max_duration,
                ) {
                    Ok(lane) => Some(lane),
                    Err(error) => {
                        // Lobby screens play muted; the picture is what counts.
                        warn!(%error, "audio track unusable; the video made has none");
                        None
                    }
                }
            }
            None => None,
        };
        let mut options = Dictionary::new();
        options.set("movflags", "+faststart");
        output
            .write_header_with(options)
            .map_err(failed("writing the MP4 header"))?;
        // The muxer chooses the tracks' time bases as it writes the header.
        video.output_time_base = time_base_of(&output, video.output_stream)?;
        if let Some(audio) = &mut audio {
            audio.output_time_base = time_base_of(&output, audio.output_stream)?;
        }
        Ok(Self {
            input,
            output,
            video,
            audio,
            declared: info.duration,
        })
    }

    fn run(mut self, cancel: &AtomicBool) -> Result<(), MediaUploadError> {
        let mut encoded = Vec::new();
        loop {
            if cancel.load(Ordering::Relaxed) {
                return Err(MediaUploadError::Cancelled);
            }
            let mut packet = Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg_next::Error::Eof) => break,
                Err(error) => {
                    // Whether too much is missing is judged at the end.
                    warn!(%error, "unreadable video data; transcoding what precedes it");
                    break;
                }
            }
            if packet.stream() == self.video.input_stream {
                self.video.decode(&packet, &mut encoded)?;
            } else if let Some(audio) = &mut self.audio {
                if packet.stream() == audio.input_stream {
                    audio.decode(&packet, &mut encoded)?;
                }
            }
            self.write(&mut encoded)?;
        }
        self.video.finish(&mut encoded)?;
        if let Some(audio) = &mut self.audio {
            audio.finish(&mut encoded)?;
        }
        self.write(&mut encoded)?;
        if self.video.frames() == 0 {
            return Err(MediaUploadError::Corrupt("no decodable video frame".into()));
        }
        self.check_complete()?;
        self.output
            .write_trailer()
            .map_err(failed("finishing the MP4"))
    }

    fn write(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        for packet in encoded.drain(..) {
            packet
                .write_interleaved(&mut self.output)
                .map_err(failed("writing the MP4"))?;
        }
        Ok(())
    }

    fn check_complete(&self) -> Result<(), MediaUploadError> {
        let covered = self
            .audio
            .as_ref()
            .map_or(Duration::ZERO, |audio| audio.end())
            .max(self.video.end());
        check_not_cut_short(self.declared, covered)
    }
}

/// Refuses a file whose media, `covered` long, stops well before the
/// duration its header declares: an upload cut short.
fn check_not_cut_short(declared: Duration, covered: Duration) -> Result<(), MediaUploadError> {
    if covered + Duration::from_secs(1) < declared.mul_f64(0.9) {
        return Err(MediaUploadError::Corrupt(format!(
            "the file declares {:.1} s but holds {:.1} s",
            declared.as_secs_f64(),
            covered.as_secs_f64()
        )));
    }
    Ok(())
}

/// A track [`copy_streams`] copies.
struct CopiedTrack {
    input_stream: usize,
    input_time_base: Rational,
    output_stream: usize,
    output_time_base: Rational,
    packets: usize,
}

/// Writes the main video track and the audio track of `input` into a new MP4
/// at `path`, packet for packet, with nothing of the source's metadata but
/// its display matrix.
fn copy_streams(
    input: &mut Input,
    info: &VideoInfo,
    path: &Path,
    cancel: &AtomicBool,
) -> Result<(), MediaUploadError> {
    let mut output = format::output_as(path, "mp4").map_err(failed("creating the MP4"))?;
    let mut tracks = Vec::new();
    let video = main_video_stream(input).ok_or(MediaUploadError::NoVideoStream)?;
    let audio = input.streams().best(media::Type::Audio);
    for stream in std::iter::once(video).chain(audio) {
        let mut copy = output
            .add_stream(encoder::find(codec::Id::None))
            .map_err(failed("adding a track"))?;
        // Codec parameters only: the new track's metadata stays empty.
        copy.set_parameters(stream.parameters());
        copy.set_time_base(stream.time_base());
        if let Some(matrix) = display_matrix(&stream) {
            ffi_set_display_matrix(&mut copy, &matrix);
        }
        tracks.push(CopiedTrack {
            input_stream: stream.index(),
            input_time_base: stream.time_base(),
            output_stream: copy.index(),
            output_time_base: stream.time_base(),
            packets: 0,
        });
    }
    let mut options = Dictionary::new();
    options.set("movflags", "+faststart");
    output
        .write_header_with(options)
        .map_err(failed("writing the MP4 header"))?;
    for track in &mut tracks {
        track.output_time_base = time_base_of(&output, track.output_stream)?;
    }
    let origin = timeline_origin(input);
    let mut end = origin;
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(MediaUploadError::Cancelled);
        }
        let mut packet = Packet::empty();
        match packet.read(input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(error) => {
                // Whether too much is missing is judged at the end.
                warn!(%error, "unreadable video data; copying what precedes it");
                break;
            }
        }
        let Some(track) = tracks
            .iter_mut()
            .find(|track| track.input_stream == packet.stream())
        else {
            continue;
        };
        if let Some(pts) = packet.pts() {
            end = end.max((pts + packet.duration()).rescale(track.input_time_base, MICROS));
        }
        packet.rescale_ts(track.input_time_base, track.output_time_base);
        packet.set_stream(track.output_stream);
        packet.set_position(-1);
        packet
            .write_interleaved(&mut output)
            .map_err(failed("writing the MP4"))?;
        track.packets += 1;
    }
    if tracks[0].packets == 0 {
        return Err(MediaUploadError::Corrupt("no video data".into()));
    }
    check_not_cut_short(
        info.duration,
        Duration::from_micros((end - origin).max(0).unsigned_abs()),
    )?;
    output.write_trailer().map_err(failed("finishing the MP4"))
}

fn time_base_of(output: &Output, stream: usize) -> Result<Rational, MediaUploadError> {
    output
        .stream(stream)
        .map(|stream| stream.time_base())
        .ok_or_else(|| MediaUploadError::Transcode(format!("no output stream {stream}")))
}

/// The earliest start of the source's streams, in microseconds: time zero of
/// the output, so that audio and video keep their offset.
fn timeline_origin(input: &Input) -> i64 {
    input
        .streams()
        .filter(|stream| {
            matches!(
                stream.parameters().medium(),
                media::Type::Video | media::Type::Audio
            )
        })
        .map(|stream| (stream.start_time(), stream.time_base()))
        .filter(|&(start, _)| start != ffi::AV_NOPTS_VALUE)
        .map(|(start, time_base)| start.rescale(time_base, MICROS))
        .min()
        .unwrap_or(0)
}

const MICROS: Rational = Rational(1, 1_000_000);

/// Decodes, scales and encodes the video track, through the shared
/// [`VideoRecoder`]; what is here are the rules of video files.
struct VideoLane {
    input_stream: usize,
    /// The source stream's, which the encoder uses too.
    time_base: Rational,
    recoder: VideoRecoder,
    timing: FileTiming,
    output_stream: usize,
    output_time_base: Rational,
    /// One frame at the output's nominal rate, in the source's time base: how
    /// long the last frame lasts.
    frame_duration: i64,
}

/// When each frame of a video file is shown: on a timeline starting at zero,
/// no closer to the last than the highest frame rate allowed.
struct FileTiming {
    /// The source stream's time base, which the encoder uses too.
    time_base: Rational,
    /// Time zero of the output, in the source's time base.
    origin: i64,
    /// The last frame sent to the encoder, in the source's time base.
    last_pts: Option<i64>,
    /// Frames closer than this (in the source's time base) to the last one are
    /// dropped, which caps the frame rate.
    min_frame_gap: i64,
    frames: usize,
    /// Beyond this (and a second), the header understated the length.
    max_duration: Duration,
}

impl FrameRules for FileTiming {
    type Error = MediaUploadError;

    fn place(&mut self, decoded: &frame::Video) -> Result<Option<i64>, MediaUploadError> {
        let pts = match (decoded.timestamp(), self.last_pts) {
            (Some(timestamp), _) => timestamp - self.origin,
            (None, Some(last)) => last + self.min_frame_gap,
            (None, None) => 0,
        };
        if self
            .last_pts
            .is_some_and(|last| pts < last + self.min_frame_gap)
        {
            return Ok(None);
        }
        if pts.rescale(self.time_base, MICROS) > micros(self.max_duration + Duration::from_secs(1))
        {
            // The header understated the length.
            return Err(too_long(self.max_duration));
        }
        self.last_pts = Some(pts);
        self.frames += 1;
        Ok(Some(pts))
    }
}

impl VideoLane {
    fn open(
        input: &Input,
        output: &mut Output,
        origin: i64,
        global_header: bool,
        target: &VideoTarget,
    ) -> Result<Self, MediaUploadError> {
        let stream = main_video_stream(input).ok_or(MediaUploadError::NoVideoStream)?;
        let time_base = stream.time_base();
        // Frame threads on every core (count 0); libavcodec's default is one.
        let threads = threading::Config {
            kind: threading::Type::Frame,
            ..threading::Config::count(0)
        };
        let decoder = open_video_decoder(&stream, threads)?;
        let (width, height) =
            target.output_size(decoder.width(), decoder.height(), decoder.aspect_ratio());
        let max_rate = Rational(target.max_frame_rate as i32, 1);
        let frame_rate = frame_rate_of(&stream)
            .filter(|&rate| f64::from(rate) <= f64::from(max_rate))
            .unwrap_or(max_rate);
        let gop = (f64::from(frame_rate) * f64::from(KEYFRAME_INTERVAL_SECONDS)).round();
        let x264 = X264 {
            width,
            height,
            time_base,
            frame_rate: Some(frame_rate),
            rate: Rate::Crf(CRF),
            keyframes: Keyframes::Every(gop.max(1.0) as u32),
            profile: Some("high"),
            low_latency: false,
            global_header,
            length_prefixed: false,
            // swscale keeps the matrix, so the source's colour description holds.
            colorspace: Some(decoder.color_space()),
        };
        let recoder = VideoRecoder::open(decoder, scaling::Flags::BICUBIC, &x264)?;
        let mut output_stream = output
            .add_stream(recoder.encoder().codec())
            .map_err(failed("adding the video track"))?;
        output_stream.set_parameters(recoder.encoder());
        output_stream.set_time_base(time_base);
        if let Some(matrix) = display_matrix(&stream) {
            ffi_set_display_matrix(&mut output_stream, &matrix);
        }
        // 90 % of a frame interval at the highest rate allowed.
        let min_frame_gap = (900_000 / i64::from(target.max_frame_rate)).rescale(MICROS, time_base);
        Ok(Self {
            input_stream: stream.index(),
            time_base,
            recoder,
            timing: FileTiming {
                time_base,
                origin: origin.rescale(MICROS, time_base),
                last_pts: None,
                min_frame_gap,
                frames: 0,
                max_duration: target.max_duration,
            },
            output_stream: output_stream.index(),
            output_time_base: time_base,
            frame_duration: 1i64.rescale(frame_rate.invert(), time_base).max(1),
        })
    }

    fn decode(
        &mut self,
        packet: &Packet,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), MediaUploadError> {
        if let Err(error) = self.recoder.send_packet(packet) {
            debug!(%error, "skipping an undecodable video packet");
        }
        let start = encoded.len();
        self.recoder.recode(&mut self.timing, encoded)?;
        self.ready_for_output(&mut encoded[start..]);
        Ok(())
    }

    fn finish(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let start = encoded.len();
        self.recoder.finish(&mut self.timing, encoded)?;
        self.ready_for_output(&mut encoded[start..]);
        Ok(())
    }

    /// Readies packets from the encoder for the output track.
    fn ready_for_output(&self, packets: &mut [Packet]) {
        for packet in packets {
            packet.set_stream(self.output_stream);
            if packet.duration() == 0 {
                packet.set_duration(self.frame_duration);
            }
            packet.rescale_ts(self.time_base, self.output_time_base);
        }
    }

    fn frames(&self) -> usize {
        self.timing.frames
    }

    /// The presentation time the last frame starts at.
    fn end(&self) -> Duration {
        let end = self
            .timing
            .last_pts
            .unwrap_or(0)
            .rescale(self.time_base, MICROS);
        Duration::from_micros(end.max(0).unsigned_abs())
    }
}

/// Decodes, resamples and encodes the audio track.
struct AudioLane {
    input_stream: usize,
    decoder: decoder::Audio,
    /// Made for the first frame, and again if the source's format changes.
    resampler: Option<resampling::Context>,
    encoder: encoder::Audio,
    output_stream: usize,
    output_time_base: Rational,
    /// Samples waiting for a whole encoder frame, per channel (left, right).
    pending: [Vec<f32>; 2],
    /// The output time of the first pending sample, in samples (1/48000 s).
    next_pts: Option<i64>,
    /// Time zero of the output, in samples.
    origin: i64,
    /// The time base of the source's frames.
    source_time_base: Rational,
    /// Beyond this (and a second), the header understated the length.
    max_duration: Duration,
}

const AUDIO_TIME_BASE: Rational = Rational(1, AUDIO_RATE);
const AUDIO_FORMAT: Sample = Sample::F32(sample::Type::Planar);

impl AudioLane {
    fn open(
        stream: &format::stream::Stream,
        output: &mut Output,
        origin: i64,
        global_header: bool,
        max_duration: Duration,
    ) -> Result<Self, MediaUploadError> {
        let context = codec::Context::from_parameters(stream.parameters())
            .map_err(|error| MediaUploadError::Corrupt(error.to_string()))?;
        let mut decoder = context.decoder();
        decoder.set_packet_time_base(stream.time_base());
        let decoder = decoder
            .audio()
            .map_err(|error| MediaUploadError::Corrupt(format!("audio: {error}")))?;
        let codec = encoder::find_by_name("aac")
            .ok_or_else(|| MediaUploadError::Transcode("this FFmpeg has no AAC encoder".into()))?;
        let mut audio = codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(failed("setting up the AAC encoder"))?;
        audio.set_rate(AUDIO_RATE);
        audio.set_format(AUDIO_FORMAT);
        audio.set_channel_layout(ChannelLayout::STEREO);
        audio.set_channels(2);
        audio.set_bit_rate(AUDIO_BIT_RATE);
        audio.set_time_base(AUDIO_TIME_BASE);
        if global_header {
            audio.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = audio.open().map_err(failed("opening the AAC encoder"))?;
        let mut output_stream = output
            .add_stream(codec)
            .map_err(failed("adding the audio track"))?;
        output_stream.set_parameters(&encoder);
        output_stream.set_time_base(AUDIO_TIME_BASE);
        Ok(Self {
            input_stream: stream.index(),
            decoder,
            resampler: None,
            encoder,
            output_stream: output_stream.index(),
            output_time_base: AUDIO_TIME_BASE,
            pending: [Vec::new(), Vec::new()],
            next_pts: None,
            origin: origin.rescale(MICROS, AUDIO_TIME_BASE),
            source_time_base: stream.time_base(),
            max_duration,
        })
    }

    fn decode(
        &mut self,
        packet: &Packet,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), MediaUploadError> {
        if let Err(error) = self.decoder.send_packet(packet) {
            debug!(%error, "skipping an undecodable audio packet");
        }
        self.resample_decoded(encoded)
    }

    fn finish(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let _ = self.decoder.send_eof();
        self.resample_decoded(encoded)?;
        if let Some(resampler) = &mut self.resampler {
            let mut rest = frame::Audio::new(AUDIO_FORMAT, 4096, ChannelLayout::STEREO);
            if resampler.flush(&mut rest).is_ok() {
                self.queue(&rest);
            }
        }
        self.encode_pending(encoded, true)?;
        self.encoder
            .send_eof()
            .map_err(failed("finishing the audio"))?;
        self.receive_encoded(encoded)
    }

    fn resample_decoded(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.channel_layout().is_empty() {
                decoded.set_channel_layout(ChannelLayout::default(i32::from(decoded.channels())));
            }
            if self.next_pts.is_none() {
                let start = decoded.timestamp().unwrap_or(0);
                let start = start.rescale(self.source_time_base, AUDIO_TIME_BASE) - self.origin;
                self.next_pts = Some(start.max(0));
            }
            // Room for every sample the input makes at the output rate, and
            // some the resampler held back from the last frame.
            let capacity =
                decoded.samples() * AUDIO_RATE as usize / decoded.rate().max(1) as usize + 256;
            let mut resampled = frame::Audio::new(AUDIO_FORMAT, capacity, ChannelLayout::STEREO);
            self.resampler_for(&decoded)?
                .run(&decoded, &mut resampled)
                .map_err(failed("resampling"))?;
            self.queue(&resampled);
            self.encode_pending(encoded, false)?;
        }
        Ok(())
    }

    fn resampler_for(
        &mut self,
        frame: &frame::Audio,
    ) -> Result<&mut resampling::Context, MediaUploadError> {
        let resampler = match self.resampler.take() {
            Some(resampler)
                if *resampler.input()
                    == (resampling::context::Definition {
                        format: frame.format(),
                        channel_layout: frame.channel_layout(),
                        rate: frame.rate(),
                    }) =>
            {
                resampler
            }
            _ => resampling::Context::get(
                frame.format(),
                frame.channel_layout(),
                frame.rate(),
                AUDIO_FORMAT,
                ChannelLayout::STEREO,
                AUDIO_RATE as u32,
            )
            .map_err(failed("setting up the resampler"))?,
        };
        Ok(self.resampler.insert(resampler))
    }

    fn queue(&mut self, resampled: &frame::Audio) {
        for (channel, pending) in self.pending.iter_mut().enumerate() {
            pending.extend_from_slice(resampled.plane::<f32>(channel));
        }
    }

    /// Encodes the pending samples a whole encoder frame at a time, and at the
    /// end the shorter rest.
    fn encode_pending(
        &mut self,
        encoded: &mut Vec<Packet>,
        last: bool,
    ) -> Result<(), MediaUploadError> {
        let frame_size = (self.encoder.frame_size() as usize).max(1);
        while self.pending[0].len() >= frame_size || (last && !self.pending[0].is_empty()) {
            let samples = frame_size.min(self.pending[0].len());
            let mut frame = frame::Audio::new(AUDIO_FORMAT, samples, ChannelLayout::STEREO);
            frame.set_rate(AUDIO_RATE as u32);
            for (channel, pending) in self.pending.iter_mut().enumerate() {
                frame
                    .plane_mut::<f32>(channel)
                    .copy_from_slice(&pending[..samples]);
                pending.drain(..samples);
            }
            let pts = self.next_pts.unwrap_or(0);
            if pts
                > micros(self.max_duration + Duration::from_secs(1))
                    .rescale(MICROS, AUDIO_TIME_BASE)
            {
                return Err(too_long(self.max_duration));
            }
            frame.set_pts(Some(pts));
            self.next_pts = Some(pts + samples as i64);
            self.encoder
                .send_frame(&frame)
                .map_err(failed("encoding audio"))?;
            self.receive_encoded(encoded)?;
        }
        Ok(())
    }

    fn receive_encoded(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let mut packet = Packet::empty();
        while packet_ready(self.encoder.receive_packet(&mut packet))? {
            packet.set_stream(self.output_stream);
            packet.rescale_ts(AUDIO_TIME_BASE, self.output_time_base);
            encoded.push(std::mem::replace(&mut packet, Packet::empty()));
        }
        Ok(())
    }

    /// The output time after the last sample encoded.
    fn end(&self) -> Duration {
        let end = self.next_pts.unwrap_or(0).rescale(AUDIO_TIME_BASE, MICROS);
        Duration::from_micros(end.max(0).unsigned_abs())
    }
}

/// Whether an encoder gave a packet: `false` when it needs more frames or
/// has given all.
fn packet_ready(received: Result<(), ffmpeg_next::Error>) -> Result<bool, MediaUploadError> {
    match received {
        Ok(()) => Ok(true),
        Err(ffmpeg_next::Error::Other { errno: EAGAIN } | ffmpeg_next::Error::Eof) => Ok(false),
        Err(error) => Err(failed("encoding")(error)),
    }
}

fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Turns a libav error while producing the output into a transcode failure
/// that says what was being done.
fn failed(doing: &'static str) -> impl Fn(ffmpeg_next::Error) -> MediaUploadError {
    move |error| MediaUploadError::Transcode(format!("{doing}: {error}"))
}

// ---------------------------------------------------------------------------
// What ffmpeg-next has no safe call for

/// The counterclockwise rotation, in degrees, a display matrix describes
/// (libavutil's `av_display_rotation_get`); NaN for a degenerate matrix.
fn ffi_rotation(matrix: &[i32; 9]) -> f64 {
    // SAFETY: the function reads exactly nine 32-bit integers.
    unsafe { ffi::av_display_rotation_get(matrix.as_ptr()) }
}

/// Gives an output stream, before its header is written, the display matrix
/// that tells players how to turn the picture.
fn ffi_set_display_matrix(stream: &mut format::stream::StreamMut, matrix: &[i32; 9]) {
    let size = std::mem::size_of_val(matrix);
    // SAFETY: the stream belongs to an output context that `stream` borrows
    // mutably; av_stream_new_side_data returns a buffer of `size` bytes owned
    // by the stream, or null.
    unsafe {
        let data = ffi::av_stream_new_side_data(
            stream.as_mut_ptr(),
            ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
            size,
        );
        if data.is_null() {
            warn!("no memory for the display matrix; the video made is not turned");
            return;
        }
        std::ptr::copy_nonoverlapping(matrix.as_ptr().cast::<u8>(), data, size);
    }
}
