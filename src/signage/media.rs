//! Pictures and videos uploaded for notices: checked, cleaned, and made into
//! something every lobby box can show.
//!
//! Lobby boxes are cheap Android and Raspberry Pi browsers. They show JPEG and
//! PNG, and play H.264/AAC in MP4 up to 1080p; anything else is converted here.
//!
//! Uploads are judged by their content, not by their name
//! ([`crate::media::upload`], re-exported here).
//!
//! - Pictures ([`prepare_image`], from [`crate::media::picture`]) are decoded
//!   and encoded again, which strips all metadata (camera, GPS position)
//!   after applying the EXIF orientation.
//! - Videos are files on disk: [`inspect_video_upload`] checks one,
//!   [`VideoInfo::plays_on_lobby_boxes`] tells whether it can be shown as it
//!   is, [`remux_clean`] then copies it without its metadata (phones record
//!   where and on what a video was made), [`transcode_for_lobby`] converts it
//!   otherwise, and [`poster`] makes the still shown while it loads. Either
//!   job is stopped if it takes longer than [`processing_time_limit`].
//!
//! Everything here blocks: pictures are CPU work for `spawn_blocking`, videos
//! are libav work for a dedicated thread, at most
//! [`MAX_CONCURRENT_TRANSCODES`] at a time.

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
use ffmpeg_next::format::{sample, Pixel, Sample};
use ffmpeg_next::software::{resampling, scaling};
use ffmpeg_next::{codec, decoder, encoder, ffi, format, frame, media};
use ffmpeg_next::{ChannelLayout, Dictionary, Packet, Rational, Rescale};
use image::ImageFormat;
use tracing::{debug, warn};

use crate::files::Pending;
use crate::media::picture::encode_image;
use crate::media::upload::MIB;
use crate::media::{init_ffmpeg, replay, MediaError};

pub use crate::media::picture::{
    prepare_image, PreparedImage, IMAGE_MAX_SIDE, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS,
};
pub use crate::media::upload::{
    check_claim, claimed_category, sniff, MediaCategory, MediaKind, MediaUploadError, SNIFF_LEN,
};

/// Video files larger than this are refused, by the web layer as it receives
/// them and by [`inspect_video_upload`]. Phones record 1080p at about
/// 17 Mbit/s, so this is some four minutes of phone video.
pub const MAX_VIDEO_BYTES: u64 = 512 * MIB;
/// Longer videos are refused.
pub const MAX_VIDEO_DURATION: Duration = Duration::from_secs(10 * 60);
/// Videos whose frames have more pixels than this (8K) are refused: decoding
/// them takes gigabytes.
pub const MAX_VIDEO_PIXELS: u64 = 8192 * 4320;
/// What lobby boxes play: the long side of the picture at most this…
pub const LOBBY_LONG_SIDE: u32 = 1920;
/// …and the short side at most this, in either orientation.
pub const LOBBY_SHORT_SIDE: u32 = 1080;
/// Faster video (slow-motion phone clips) is more than the boxes decode.
pub const LOBBY_MAX_FRAME_RATE: u32 = 60;
/// Transcodes use every core; run one at a time (the semaphore's permits).
pub const MAX_CONCURRENT_TRANSCODES: usize = 1;
/// No transcode or remux may take longer than this, however long the video.
pub const MAX_PROCESSING_TIME: Duration = Duration::from_secs(60 * 60);
/// The poster frame is the first at or after this time.
const POSTER_AT: Duration = Duration::from_secs(1);
/// The demuxers libav may use for uploads, by name; the others (playlists,
/// raw streams, images) are never given uploaded bytes.
const VIDEO_DEMUXERS: &str = "mov,matroska,avi,mpegts,mpeg,flv,asf";
/// ISO BMFF major brands of MP4 proper, as opposed to QuickTime (`qt`) and
/// the 3GPP family.
const MP4_BRANDS: [&str; 10] = [
    "isom", "iso2", "iso4", "iso5", "iso6", "mp41", "mp42", "avc1", "M4V", "MSNV",
];
/// x264 settings for lobby video.
const X264_OPTIONS: [(&str, &str); 3] =
    [("preset", "veryfast"), ("crf", "23"), ("profile", "high")];
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
    /// Whether lobby boxes play this file as it is: MP4 (not QuickTime or
    /// 3GP), H.264 up to the High profile in 8-bit 4:2:0, AAC or no audio,
    /// within 1920×1080 in either orientation and at most 60 frames a second.
    pub fn plays_on_lobby_boxes(&self) -> bool {
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
            && fits_lobby(self.width, self.height)
            && self.frame_rate <= f64::from(LOBBY_MAX_FRAME_RATE) + 0.5
    }

    fn is_mp4(&self) -> bool {
        self.container.starts_with("mov,")
            && self
                .brand
                .as_deref()
                .is_some_and(|brand| MP4_BRANDS.contains(&brand))
    }

    /// Refuses videos longer than [`MAX_VIDEO_DURATION`] or with frames
    /// larger than [`MAX_VIDEO_PIXELS`].
    pub fn check_limits(&self) -> Result<(), MediaUploadError> {
        if self.duration > MAX_VIDEO_DURATION {
            return Err(too_long());
        }
        if u64::from(self.width) * u64::from(self.height) > MAX_VIDEO_PIXELS {
            return Err(MediaUploadError::VideoTooLarge {
                max_pixels: MAX_VIDEO_PIXELS,
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

fn too_long() -> MediaUploadError {
    MediaUploadError::VideoTooLong {
        max_seconds: MAX_VIDEO_DURATION.as_secs(),
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

/// Whether a picture fits the lobby's 1920×1080, turned either way.
fn fits_lobby(width: u32, height: u32) -> bool {
    width.max(height) <= LOBBY_LONG_SIDE && width.min(height) <= LOBBY_SHORT_SIDE
}

/// Reads a video file's streams.
pub fn probe_video(path: &Path) -> Result<VideoInfo, MediaUploadError> {
    let input = open_video(path)?;
    VideoInfo::of(&input)
}

/// Checks an uploaded video file: its size, its content against what it
/// claims to be (content type or file name), that libav reads a video track
/// from it, and the limits of [`VideoInfo::check_limits`]. Reads only the
/// headers; blocking I/O for a dedicated thread or `spawn_blocking`.
pub fn inspect_video_upload(path: &Path, claimed: &str) -> Result<VideoInfo, MediaUploadError> {
    if fs::metadata(path)?.len() > MAX_VIDEO_BYTES {
        return Err(MediaUploadError::TooLarge {
            max_bytes: MAX_VIDEO_BYTES,
        });
    }
    check_claim(&read_head(path)?, claimed, MediaCategory::Video)?;
    let info = probe_video(path)?;
    info.check_limits()?;
    Ok(info)
}

/// A poster for the video at `path`: a JPEG of its first frame at or after one
/// second in (its first frame if it is shorter), at most 1280 pixels wide and
/// turned upright. Blocking libav work: run it on a dedicated thread.
pub fn poster(path: &Path) -> Result<Vec<u8>, MediaUploadError> {
    let info = probe_video(path)?;
    let jpeg = tempfile::Builder::new()
        .prefix("pavilion-poster-")
        .suffix(".jpg")
        .tempfile()?;
    replay::poster_from_file(path, POSTER_AT, jpeg.path()).map_err(|error| match error {
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

/// Converts the video at `input` into what lobby boxes play, at `output`: MP4
/// with its index first, H.264 (High profile, 4:2:0, CRF 23, a keyframe every
/// two seconds) scaled down to fit 1920×1080 in either orientation, at most 60
/// frames a second, and 48 kHz stereo AAC at 128 kbit/s if it has sound. The
/// rotation the source asks players for is kept; metadata is not.
///
/// Videos over [`MAX_VIDEO_DURATION`] are refused before any work. The file
/// is written under a temporary name next to `output` and renamed when
/// complete, so `output` never holds half a video. Setting `cancel` stops the
/// work within a packet or so, with [`MediaUploadError::Cancelled`].
///
/// Blocking and CPU-bound for minutes: run it on a dedicated thread, at most
/// [`MAX_CONCURRENT_TRANSCODES`] at a time. Returns what the output holds.
pub fn transcode_for_lobby(
    input: &Path,
    output: &Path,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    let source = open_video(input)?;
    let info = VideoInfo::of(&source)?;
    info.check_limits()?;
    let partial = Pending::beside(output)?;
    Transcode::start(source, &info, partial.path())?.run(cancel)?;
    let result = probe_video(partial.path())
        .map_err(|error| MediaUploadError::Transcode(format!("unreadable output: {error}")))?;
    partial.commit(output)?;
    Ok(result)
}

/// Copies the video at `input`, one lobby boxes play as it is, into a fresh
/// MP4 at `output` without decoding it: its video track and its audio track,
/// with the index first. Whatever else the source carries stays behind: the
/// file's and the tracks' metadata (GPS position, device, creation time),
/// chapters, cover art, timecode and sensor-data tracks. Only the display
/// matrix, which tells players how to turn the picture, is kept.
///
/// A video the boxes do not play as it is is refused with
/// [`MediaUploadError::Transcode`]: that one needs [`transcode_for_lobby`].
/// The output is written, and `cancel` honoured, as [`transcode_for_lobby`]
/// does.
///
/// Blocking I/O, some seconds for the largest upload: run it on a dedicated
/// thread. Returns what the output holds.
pub fn remux_clean(
    input: &Path,
    output: &Path,
    cancel: &AtomicBool,
) -> Result<VideoInfo, MediaUploadError> {
    let mut source = open_video(input)?;
    let info = VideoInfo::of(&source)?;
    info.check_limits()?;
    if !info.plays_on_lobby_boxes() {
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

/// How long transcoding or copying a video `duration` long may take before
/// it is stopped: three times as long as the video plays, and five minutes
/// more, but at most [`MAX_PROCESSING_TIME`].
pub fn processing_time_limit(duration: Duration) -> Duration {
    (duration * 3 + Duration::from_secs(5 * 60)).min(MAX_PROCESSING_TIME)
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

fn read_head(path: &Path) -> io::Result<Vec<u8>> {
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
    let mut context = codec::Context::from_parameters(stream.parameters())
        .map_err(|error| MediaUploadError::Corrupt(error.to_string()))?;
    context.set_threading(threads);
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    decoder.video().map_err(|error| match error {
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

/// The size lobby video has for a `width`×`height` source whose pixels are
/// `sample_aspect` wide: square pixels, within 1920×1080 turned like the
/// source, never larger than the source, even sides for 4:2:0.
fn lobby_size(width: u32, height: u32, sample_aspect: Rational) -> (u32, u32) {
    let display_width = match (sample_aspect.numerator(), sample_aspect.denominator()) {
        (num, den) if num > 0 && den > 0 => {
            u64::from(width) * u64::from(num.unsigned_abs()) / u64::from(den.unsigned_abs())
        }
        _ => u64::from(width),
    }
    .max(1);
    let height = u64::from(height).max(1);
    let (box_width, box_height) = if display_width >= height {
        (u64::from(LOBBY_LONG_SIDE), u64::from(LOBBY_SHORT_SIDE))
    } else {
        (u64::from(LOBBY_SHORT_SIDE), u64::from(LOBBY_LONG_SIDE))
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

/// A source being transcoded into an MP4 for the lobby.
struct Transcode {
    input: Input,
    output: Output,
    video: VideoLane,
    audio: Option<AudioLane>,
    /// The duration the source declares, to notice a file that ends early.
    declared: Duration,
}

impl Transcode {
    fn start(input: Input, info: &VideoInfo, path: &Path) -> Result<Self, MediaUploadError> {
        let mut output = format::output_as(path, "mp4").map_err(failed("creating the MP4"))?;
        let global_header = output
            .format()
            .flags()
            .contains(format::Flags::GLOBAL_HEADER);
        let origin = timeline_origin(&input);
        let mut video = VideoLane::open(&input, &mut output, origin, global_header)?;
        let mut audio = match input.streams().best(media::Type::Audio) {
            Some(stream) => {
                match AudioLane::open(&stream, &mut output, origin, global_header) {
                    Ok(lane) => Some(lane),
                    Err(error) => {
                        // Lobby screens play muted; the picture is what counts.
                        warn!(%error, "audio track unusable; the lobby video has none");
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
        if self.video.frames == 0 {
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

/// Decodes, scales and encodes the video track.
struct VideoLane {
    input_stream: usize,
    /// The source stream's, which the encoder uses too.
    time_base: Rational,
    decoder: decoder::Video,
    /// Made for the first frame, and again if the source's size or pixel
    /// format changes.
    scaler: Option<scaling::Context>,
    encoder: encoder::Video,
    output_stream: usize,
    output_time_base: Rational,
    width: u32,
    height: u32,
    /// Time zero of the output, in the source's time base.
    origin: i64,
    /// The last frame sent to the encoder, in the source's time base.
    last_pts: Option<i64>,
    /// Frames closer than this (in the source's time base) to the last one are
    /// dropped, which caps the frame rate.
    min_frame_gap: i64,
    /// One frame at the output's nominal rate, in the source's time base: how
    /// long the last frame lasts.
    frame_duration: i64,
    frames: usize,
}

impl VideoLane {
    fn open(
        input: &Input,
        output: &mut Output,
        origin: i64,
        global_header: bool,
    ) -> Result<Self, MediaUploadError> {
        let stream = main_video_stream(input).ok_or(MediaUploadError::NoVideoStream)?;
        let time_base = stream.time_base();
        // Frame threads on every core (count 0); libavcodec's default is one.
        let threads = threading::Config {
            kind: threading::Type::Frame,
            ..threading::Config::count(0)
        };
        let decoder = open_video_decoder(&stream, threads)?;
        let (width, height) = lobby_size(decoder.width(), decoder.height(), decoder.aspect_ratio());
        let max_rate = Rational(LOBBY_MAX_FRAME_RATE as i32, 1);
        let frame_rate = frame_rate_of(&stream)
            .filter(|&rate| f64::from(rate) <= f64::from(max_rate))
            .unwrap_or(max_rate);
        let codec = encoder::find_by_name("libx264")
            .ok_or_else(|| MediaUploadError::Transcode("this FFmpeg has no libx264".into()))?;
        let mut video = codec::Context::new_with_codec(codec)
            .encoder()
            .video()
            .map_err(failed("setting up libx264"))?;
        video.set_width(width);
        video.set_height(height);
        video.set_format(Pixel::YUV420P);
        video.set_time_base(time_base);
        video.set_frame_rate(Some(frame_rate));
        let gop = (f64::from(frame_rate) * f64::from(KEYFRAME_INTERVAL_SECONDS)).round();
        video.set_gop(gop.max(1.0) as u32);
        // swscale keeps the matrix, so the source's colour description holds.
        video.set_colorspace(decoder.color_space());
        if global_header {
            video.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let encoder = video
            .open_with(Dictionary::from_iter(X264_OPTIONS))
            .map_err(failed("opening libx264"))?;
        let mut output_stream = output
            .add_stream(codec)
            .map_err(failed("adding the video track"))?;
        output_stream.set_parameters(&encoder);
        output_stream.set_time_base(time_base);
        if let Some(matrix) = display_matrix(&stream) {
            ffi_set_display_matrix(&mut output_stream, &matrix);
        }
        // 90 % of a frame interval at the highest rate allowed.
        let min_frame_gap = (900_000 / i64::from(LOBBY_MAX_FRAME_RATE)).rescale(MICROS, time_base);
        Ok(Self {
            input_stream: stream.index(),
            time_base,
            decoder,
            scaler: None,
            encoder,
            output_stream: output_stream.index(),
            output_time_base: time_base,
            width,
            height,
            origin: origin.rescale(MICROS, time_base),
            last_pts: None,
            min_frame_gap,
            frame_duration: 1i64.rescale(frame_rate.invert(), time_base).max(1),
            frames: 0,
        })
    }

    fn decode(
        &mut self,
        packet: &Packet,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), MediaUploadError> {
        if let Err(error) = self.decoder.send_packet(packet) {
            debug!(%error, "skipping an undecodable video packet");
        }
        self.encode_decoded(encoded)
    }

    fn finish(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        // The decoder may already be drained after a fatal error.
        let _ = self.decoder.send_eof();
        self.encode_decoded(encoded)?;
        self.encoder
            .send_eof()
            .map_err(failed("finishing the video"))?;
        self.receive_encoded(encoded)
    }

    fn encode_decoded(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let mut decoded = frame::Video::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            self.encode(&decoded, encoded)?;
        }
        Ok(())
    }

    fn encode(
        &mut self,
        decoded: &frame::Video,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), MediaUploadError> {
        let pts = match (decoded.timestamp(), self.last_pts) {
            (Some(timestamp), _) => timestamp - self.origin,
            (None, Some(last)) => last + self.min_frame_gap,
            (None, None) => 0,
        };
        if self
            .last_pts
            .is_some_and(|last| pts < last + self.min_frame_gap)
        {
            return Ok(());
        }
        if pts.rescale(self.time_base, MICROS) > micros(MAX_VIDEO_DURATION + Duration::from_secs(1))
        {
            // The header understated the length.
            return Err(too_long());
        }
        let mut scaled = frame::Video::empty();
        self.scaler_for(decoded)?
            .run(decoded, &mut scaled)
            .map_err(failed("scaling"))?;
        scaled.set_pts(Some(pts));
        self.encoder
            .send_frame(&scaled)
            .map_err(failed("encoding video"))?;
        self.last_pts = Some(pts);
        self.frames += 1;
        self.receive_encoded(encoded)
    }

    fn scaler_for(
        &mut self,
        frame: &frame::Video,
    ) -> Result<&mut scaling::Context, MediaUploadError> {
        let scaler = match self.scaler.take() {
            Some(scaler)
                if (
                    scaler.input().format,
                    scaler.input().width,
                    scaler.input().height,
                ) == (frame.format(), frame.width(), frame.height()) =>
            {
                scaler
            }
            _ => scaling::Context::get(
                frame.format(),
                frame.width(),
                frame.height(),
                Pixel::YUV420P,
                self.width,
                self.height,
                scaling::Flags::BICUBIC,
            )
            .map_err(failed("setting up the scaler"))?,
        };
        Ok(self.scaler.insert(scaler))
    }

    fn receive_encoded(&mut self, encoded: &mut Vec<Packet>) -> Result<(), MediaUploadError> {
        let mut packet = Packet::empty();
        while packet_ready(self.encoder.receive_packet(&mut packet))? {
            packet.set_stream(self.output_stream);
            if packet.duration() == 0 {
                packet.set_duration(self.frame_duration);
            }
            packet.rescale_ts(self.time_base, self.output_time_base);
            encoded.push(std::mem::replace(&mut packet, Packet::empty()));
        }
        Ok(())
    }

    /// The presentation time the last frame starts at.
    fn end(&self) -> Duration {
        let end = self.last_pts.unwrap_or(0).rescale(self.time_base, MICROS);
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
}

const AUDIO_TIME_BASE: Rational = Rational(1, AUDIO_RATE);
const AUDIO_FORMAT: Sample = Sample::F32(sample::Type::Planar);

impl AudioLane {
    fn open(
        stream: &format::stream::Stream,
        output: &mut Output,
        origin: i64,
        global_header: bool,
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
                > micros(MAX_VIDEO_DURATION + Duration::from_secs(1))
                    .rescale(MICROS, AUDIO_TIME_BASE)
            {
                return Err(too_long());
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
            warn!("no memory for the display matrix; the lobby video is not turned");
            return;
        }
        std::ptr::copy_nonoverlapping(matrix.as_ptr().cast::<u8>(), data, size);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::picture::testing::{encoded, gradient, jpeg};
    use image::DynamicImage;
    use std::path::PathBuf;
    use std::process::Command;
    use std::time::Instant;

    #[test]
    fn every_error_has_its_own_catalogue_key() {
        let errors = [
            MediaUploadError::TooLarge {
                max_bytes: MAX_IMAGE_BYTES,
            },
            MediaUploadError::NotAnImage,
            MediaUploadError::UnsupportedFormat {
                format: "HEIC".into(),
            },
            MediaUploadError::TypeMismatch {
                claimed: "a.mp4".into(),
                actual: "PNG".into(),
            },
            MediaUploadError::ImageTooLarge {
                max_pixels: MAX_IMAGE_PIXELS,
            },
            MediaUploadError::Corrupt("x".into()),
            MediaUploadError::NotAVideo,
            MediaUploadError::NoVideoStream,
            too_long(),
            MediaUploadError::VideoTooLarge {
                max_pixels: MAX_VIDEO_PIXELS,
            },
            MediaUploadError::Transcode("x".into()),
            MediaUploadError::Cancelled,
            MediaUploadError::Io(io::ErrorKind::Other.into()),
        ];
        let mut keys: Vec<&str> = errors.iter().map(MediaUploadError::message_key).collect();
        assert!(keys.iter().all(|key| key.starts_with("signage.upload.")));
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), errors.len());
        assert_eq!(errors[0].limit(), Some(10));
        assert_eq!(errors[4].limit(), Some(24));
        assert_eq!(errors[8].limit(), Some(10));
        assert!(errors[1].is_the_files_fault());
        assert!(!errors[10].is_the_files_fault());
    }

    // --- Videos

    const H264_AAC: &[&str] = &[
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
    ];

    fn ffmpeg(args: &[&str]) {
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y"])
            .args(args)
            .status()
            .expect("the ffmpeg CLI runs");
        assert!(status.success(), "ffmpeg {args:?}");
    }

    /// A test clip of `seconds` from lavfi's `video` source (testsrc2
    /// options), with a tone at `sound` Hz sample rate unless `None`, encoded
    /// with `codec_args` into the container `name`'s extension implies.
    fn clip(
        dir: &Path,
        name: &str,
        video: &str,
        sound: Option<u32>,
        seconds: &str,
        codec_args: &[&str],
    ) -> PathBuf {
        let path = dir.join(name);
        let video = format!("testsrc2={video}");
        let mut args = vec!["-f", "lavfi", "-i", &video];
        let sine = sound.map(|rate| format!("sine=frequency=440:sample_rate={rate}"));
        if let Some(sine) = &sine {
            args.extend(["-f", "lavfi", "-i", sine]);
        }
        args.extend(["-t", seconds]);
        args.extend(codec_args);
        args.push(path.to_str().unwrap());
        ffmpeg(&args);
        path
    }

    fn ffprobe(path: &Path, args: &[&str]) -> String {
        let output = Command::new("ffprobe")
            .args(["-v", "error"])
            .args(args)
            .args(["-of", "csv=p=0"])
            .arg(path)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    fn audio_format(path: &Path) -> String {
        ffprobe(
            path,
            &[
                "-select_streams",
                "a",
                "-show_entries",
                "stream=sample_rate,channels",
            ],
        )
    }

    fn keyframe_times(path: &Path) -> Vec<f64> {
        let times = ffprobe(
            path,
            &[
                "-select_streams",
                "v",
                "-skip_frame",
                "nokey",
                "-show_entries",
                "frame=pts_time",
            ],
        );
        let mut times: Vec<f64> = times
            .lines()
            .map(|line| line.trim_end_matches(',').parse().unwrap())
            .collect();
        times.sort_by(f64::total_cmp);
        times
    }

    fn video_frames(path: &Path) -> usize {
        ffprobe(
            path,
            &[
                "-select_streams",
                "v",
                "-count_packets",
                "-show_entries",
                "stream=nb_read_packets",
            ],
        )
        // A rotated track's side data adds an empty column.
        .trim_end_matches(',')
        .parse()
        .unwrap()
    }

    /// Top-level ISO BMFF box types, in order.
    fn boxes(path: &Path) -> Vec<String> {
        let data = fs::read(path).unwrap();
        let mut kinds = Vec::new();
        let mut at = 0;
        while at + 8 <= data.len() {
            let size = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as usize;
            kinds.push(String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned());
            if size < 8 {
                break;
            }
            at += size;
        }
        kinds
    }

    fn is_faststart(path: &Path) -> bool {
        let kinds = boxes(path);
        let at = |kind: &str| kinds.iter().position(|k| k == kind).unwrap();
        at("moov") < at("mdat")
    }

    fn leftovers(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    /// Checks a transcode's output is what the boxes play.
    fn assert_lobby_ready(info: &VideoInfo, path: &Path, seconds: f64) {
        assert!(info.plays_on_lobby_boxes(), "{info:?}");
        assert_eq!(info, &probe_video(path).unwrap());
        assert_eq!(info.video_codec, "h264");
        assert_eq!(info.video_profile.as_deref(), Some("High"));
        assert_eq!(info.brand.as_deref(), Some("isom"));
        assert!(
            (info.duration.as_secs_f64() - seconds).abs() < 0.15,
            "{info:?}"
        );
        assert!(is_faststart(path));
        assert!(leftovers(path.parent().unwrap()).is_empty());
        // Audio, if any, starts and ends with the picture.
        let streams = ffprobe(path, &["-show_entries", "stream=start_time,duration"]);
        for line in streams.lines() {
            let times: Vec<f64> = line.split(',').map(|t| t.parse().unwrap()).collect();
            assert!(times[0].abs() < 0.03, "{streams}");
            assert!((times[1] - seconds).abs() < 0.1, "{streams}");
        }
    }

    #[test]
    fn probing_tells_what_lobby_boxes_play_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let small = "size=320x240:rate=25";
        let cases = [
            (
                clip(
                    d,
                    "ready.mp4",
                    "size=1920x1080:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                true,
            ),
            (
                clip(
                    d,
                    "portrait.mp4",
                    "size=1080x1920:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                true,
            ),
            (clip(d, "silent.mp4", small, None, "0.4", H264_AAC), true),
            (
                clip(
                    d,
                    "large.mp4",
                    "size=2560x1440:rate=25",
                    Some(48000),
                    "0.4",
                    H264_AAC,
                ),
                false,
            ),
            (
                clip(
                    d,
                    "fast.mp4",
                    "size=320x240:rate=120",
                    None,
                    "0.4",
                    H264_AAC,
                ),
                false,
            ),
            (
                clip(
                    d,
                    "hevc.mp4",
                    small,
                    Some(48000),
                    "0.4",
                    &[
                        "-c:v",
                        "libx265",
                        "-x265-params",
                        "log-level=error",
                        "-c:a",
                        "aac",
                    ],
                ),
                false,
            ),
            (
                clip(
                    d,
                    "vp8.webm",
                    small,
                    Some(48000),
                    "0.4",
                    &["-c:v", "libvpx", "-c:a", "libvorbis"],
                ),
                false,
            ),
            (
                clip(d, "apple.mov", small, Some(48000), "0.4", H264_AAC),
                false,
            ),
            (
                clip(
                    d,
                    "mp3.mp4",
                    small,
                    Some(48000),
                    "0.4",
                    &[
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-pix_fmt",
                        "yuv420p",
                        "-c:a",
                        "libmp3lame",
                    ],
                ),
                false,
            ),
            (
                clip(
                    d,
                    "444.mp4",
                    small,
                    None,
                    "0.4",
                    &[
                        "-c:v",
                        "libx264",
                        "-preset",
                        "ultrafast",
                        "-pix_fmt",
                        "yuv444p",
                    ],
                ),
                false,
            ),
        ];
        for (path, plays) in &cases {
            let info = probe_video(path).unwrap();
            assert_eq!(info.plays_on_lobby_boxes(), *plays, "{info:?}");
            assert!(info.check_limits().is_ok());
        }

        let ready = probe_video(&cases[0].0).unwrap();
        assert_eq!(ready.container, "mov,mp4,m4a,3gp,3g2,mj2");
        assert_eq!((ready.width, ready.height, ready.rotation), (1920, 1080, 0));
        assert_eq!(ready.video_codec, "h264");
        assert_eq!(ready.pixel_format, "yuv420p");
        assert_eq!(ready.audio_codec.as_deref(), Some("aac"));
        assert!((ready.frame_rate - 25.0).abs() < 0.01);
        assert!(
            (ready.duration.as_secs_f64() - 0.4).abs() < 0.1,
            "{ready:?}"
        );
        assert_eq!(probe_video(&cases[2].0).unwrap().audio_codec, None);
        let webm = probe_video(&cases[6].0).unwrap();
        assert_eq!(
            (webm.container.as_str(), webm.video_codec.as_str()),
            ("matroska,webm", "vp8")
        );
        assert_eq!(webm.audio_codec.as_deref(), Some("vorbis"));
        assert_eq!(probe_video(&cases[5].0).unwrap().video_codec, "hevc");
        assert_eq!(
            probe_video(&cases[7].0).unwrap().brand.as_deref(),
            Some("qt")
        );
        let high444 = probe_video(&cases[9].0).unwrap();
        assert_eq!(
            high444.video_profile.as_deref(),
            Some("High 4:4:4 Predictive")
        );
    }

    #[test]
    fn a_1440p_video_is_scaled_to_1080p() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "large.mp4",
            "size=2560x1440:rate=25",
            Some(44100),
            "2",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!((info.width, info.height), (1920, 1080));
        assert_eq!(info.pixel_format, "yuv420p");
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert_lobby_ready(&info, &output, 2.0);
        assert_eq!(audio_format(&output), "48000,2");
        assert_eq!(video_frames(&output), 50);
    }

    #[test]
    fn hevc_in_matroska_becomes_h264_with_stereo_aac_and_regular_keyframes() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "hevc.mkv",
            "size=640x360:rate=25",
            Some(22050),
            "4.5",
            &[
                "-c:v",
                "libx265",
                "-preset",
                "ultrafast",
                "-x265-params",
                "log-level=error",
                "-c:a",
                "flac",
            ],
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!((info.width, info.height), (640, 360));
        assert_lobby_ready(&info, &output, 4.5);
        assert_eq!(audio_format(&output), "48000,2");
        assert_eq!(keyframe_times(&output), [0.0, 2.0, 4.0]);
    }

    #[test]
    fn vp8_webm_and_mpeg4_avi_become_h264() {
        let dir = tempfile::tempdir().unwrap();
        let webm = clip(
            dir.path(),
            "vp8.webm",
            "size=480x270:rate=30",
            Some(48000),
            "1",
            &["-c:v", "libvpx", "-c:a", "libvorbis"],
        );
        // Anamorphic: 720×576 pixels shown 16:9 wide.
        let avi = clip(
            dir.path(),
            "mpeg4.avi",
            "size=720x576:rate=25:sar=64/45",
            Some(44100),
            "1",
            &[
                "-c:v",
                "mpeg4",
                "-q:v",
                "5",
                "-c:a",
                "libmp3lame",
                "-ac",
                "1",
            ],
        );

        let from_webm =
            transcode_for_lobby(&webm, &dir.path().join("webm.mp4"), &AtomicBool::new(false))
                .unwrap();
        let from_avi =
            transcode_for_lobby(&avi, &dir.path().join("avi.mp4"), &AtomicBool::new(false))
                .unwrap();

        assert_eq!((from_webm.width, from_webm.height), (480, 270));
        assert_lobby_ready(&from_webm, &dir.path().join("webm.mp4"), 1.0);
        assert_eq!((from_avi.width, from_avi.height), (1024, 576));
        assert_lobby_ready(&from_avi, &dir.path().join("avi.mp4"), 1.0);
        assert_eq!(audio_format(&dir.path().join("avi.mp4")), "48000,2");
    }

    #[test]
    fn fast_silent_video_stays_silent_at_60_frames_a_second() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "fast.mp4",
            "size=320x240:rate=120",
            None,
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let info = transcode_for_lobby(&input, &output, &AtomicBool::new(false)).unwrap();

        assert_eq!(info.audio_codec, None);
        assert!((info.frame_rate - 60.0).abs() < 1.0, "{info:?}");
        assert_lobby_ready(&info, &output, 1.0);
        assert_eq!(video_frames(&output), 60);
    }

    #[test]
    fn portrait_phone_video_keeps_its_rotation_and_gets_an_upright_poster() {
        let dir = tempfile::tempdir().unwrap();
        let plain = clip(
            dir.path(),
            "plain.mp4",
            "size=320x180:rate=25",
            Some(48000),
            "0.6",
            H264_AAC,
        );
        let phone = dir.path().join("phone.mp4");
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            "rotate=90",
            phone.to_str().unwrap(),
        ]);

        let info = probe_video(&phone).unwrap();
        assert_eq!((info.width, info.height), (320, 180));
        assert!(matches!(info.rotation, 90 | 270), "{info:?}");
        assert!(info.plays_on_lobby_boxes());

        let output = dir.path().join("lobby.mp4");
        let transcoded = transcode_for_lobby(&phone, &output, &AtomicBool::new(false)).unwrap();
        assert_eq!(transcoded.rotation, info.rotation);
        assert_eq!((transcoded.width, transcoded.height), (320, 180));

        // The poster is turned as the ffmpeg CLI turns the video.
        let poster = image::load_from_memory(&poster(&phone).unwrap())
            .unwrap()
            .to_luma8();
        assert_eq!(poster.dimensions(), (180, 320));
        let reference = dir.path().join("upright.png");
        ffmpeg(&[
            "-i",
            phone.to_str().unwrap(),
            "-frames:v",
            "1",
            reference.to_str().unwrap(),
        ]);
        let reference = image::open(&reference).unwrap().to_luma8();
        assert_eq!(reference.dimensions(), (180, 320));
        let difference = |other: &image::GrayImage| {
            let sum: u64 = poster
                .pixels()
                .zip(other.pixels())
                .map(|(a, b)| u64::from(a[0].abs_diff(b[0])))
                .sum();
            sum / (180 * 320)
        };
        let upside_down = image::imageops::rotate180(&reference);
        assert!(difference(&reference) < 12, "{}", difference(&reference));
        assert!(difference(&upside_down) > 3 * difference(&reference).max(5));
    }

    #[test]
    fn a_playable_video_is_copied_without_where_when_and_on_what_it_was_made() {
        let dir = tempfile::tempdir().unwrap();
        let plain = clip(
            dir.path(),
            "plain.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let phone = dir.path().join("phone.mp4");
        ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata",
            "location=+39.9+116.4/",
            "-metadata",
            "creation_time=2024-05-01T08:00:00Z",
            "-metadata:s:v",
            "creation_time=2024-05-01T08:00:00Z",
            "-metadata:s:v",
            "handler_name=SecretPhone",
            "-metadata:s:v",
            "rotate=90",
            phone.to_str().unwrap(),
        ]);
        let tags = |path: &Path| ffprobe(path, &["-show_entries", "format_tags:stream_tags"]);
        let private = ["+39.9", "2024-05-01", "SecretPhone"];
        assert!(private.iter().all(|value| tags(&phone).contains(value)));
        let output = dir.path().join("lobby.mp4");

        let info = remux_clean(&phone, &output, &AtomicBool::new(false)).unwrap();

        let left = tags(&output);
        assert!(private.iter().all(|value| !left.contains(value)), "{left}");
        let bytes = fs::read(&output).unwrap();
        assert!(!bytes.windows(5).any(|w| w == b"+39.9"));
        assert!(!bytes.windows(11).any(|w| w == b"SecretPhone"));
        assert!(info.plays_on_lobby_boxes(), "{info:?}");
        assert_eq!(info, probe_video(&output).unwrap());
        assert_eq!(info.rotation, probe_video(&phone).unwrap().rotation);
        assert_ne!(info.rotation, 0);
        assert_eq!(info.audio_codec.as_deref(), Some("aac"));
        assert!((info.duration.as_secs_f64() - 1.0).abs() < 0.1, "{info:?}");
        assert_eq!(video_frames(&output), 25);
        assert!(is_faststart(&output));
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn only_playable_videos_are_copied_and_copying_can_be_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let mov = clip(
            dir.path(),
            "apple.mov",
            "size=160x120:rate=25",
            None,
            "1",
            H264_AAC,
        );
        let mp4 = clip(
            dir.path(),
            "clip.mp4",
            "size=160x120:rate=25",
            None,
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let refused = remux_clean(&mov, &output, &AtomicBool::new(false));
        let cancelled = remux_clean(&mp4, &output, &AtomicBool::new(true));

        assert!(
            matches!(refused, Err(MediaUploadError::Transcode(_))),
            "{refused:?}"
        );
        assert!(
            matches!(cancelled, Err(MediaUploadError::Cancelled)),
            "{cancelled:?}"
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn processing_may_take_three_times_the_video_and_five_minutes_up_to_an_hour() {
        let minutes = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(processing_time_limit(Duration::ZERO), minutes(5));
        assert_eq!(processing_time_limit(minutes(2)), minutes(11));
        assert_eq!(processing_time_limit(minutes(10)), minutes(35));
        assert_eq!(processing_time_limit(minutes(30)), MAX_PROCESSING_TIME);
    }

    #[test]
    fn posters_are_jpegs_from_one_second_in_or_the_first_frame() {
        let dir = tempfile::tempdir().unwrap();
        for (name, size, seconds) in [
            ("long.mp4", "size=1920x1080:rate=25", "1.5"),
            ("short.mp4", "size=320x240:rate=25", "0.3"),
        ] {
            let video = clip(dir.path(), name, size, None, seconds, H264_AAC);

            let poster = poster(&video).unwrap();

            assert_eq!(&poster[..3], b"\xFF\xD8\xFF");
            let image = image::load_from_memory_with_format(&poster, ImageFormat::Jpeg).unwrap();
            let expected = if name == "long.mp4" {
                (1280, 720)
            } else {
                (320, 240)
            };
            assert_eq!((image.width(), image.height()), expected);
        }
        assert!(leftovers(&std::env::temp_dir())
            .iter()
            .all(|name| !name.contains(&format!("pavilion-{}", std::process::id()))));
    }

    #[test]
    fn a_cancelled_transcode_stops_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "clip.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let output = dir.path().join("lobby.mp4");

        let refused = transcode_for_lobby(&input, &output, &AtomicBool::new(true));

        assert!(
            matches!(refused, Err(MediaUploadError::Cancelled)),
            "{refused:?}"
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn cancelling_from_another_thread_stops_a_running_transcode() {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(
            dir.path(),
            "clip.mp4",
            "size=1280x720:rate=25",
            None,
            "20",
            &["-c:v", "libx264", "-preset", "ultrafast", "-crf", "40"],
        );
        let output = dir.path().join("lobby.mp4");
        let cancel = AtomicBool::new(false);

        let started = Instant::now();
        let refused = std::thread::scope(|scope| {
            scope.spawn(|| {
                std::thread::sleep(Duration::from_millis(300));
                cancel.store(true, Ordering::Relaxed);
            });
            transcode_for_lobby(&input, &output, &cancel)
        });

        assert!(
            matches!(refused, Err(MediaUploadError::Cancelled)),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert!(!output.exists());
        assert!(leftovers(dir.path()).is_empty());
    }

    #[test]
    fn files_that_are_not_readable_videos_are_refused_without_panicking() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let text = d.join("notice.mp4");
        fs::write(
            &text,
            "The water will be off on Tuesday from 9 to 12.\n".repeat(20),
        )
        .unwrap();
        let picture = d.join("picture.mp4");
        fs::write(&picture, jpeg(gradient(64, 48))).unwrap();
        let whole = clip(
            d,
            "whole.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "1",
            H264_AAC,
        );
        let data = fs::read(&whole).unwrap();
        // The index (moov) comes last, so a cut-off file has none.
        let truncated = d.join("truncated.mp4");
        fs::write(&truncated, &data[..data.len() / 2]).unwrap();
        let sound = d.join("sound.m4a");
        ffmpeg(&[
            "-f",
            "lavfi",
            "-i",
            "sine",
            "-t",
            "0.5",
            "-c:a",
            "aac",
            sound.to_str().unwrap(),
        ]);
        let empty = d.join("empty.mp4");
        fs::write(&empty, b"").unwrap();
        let output = d.join("out.mp4");
        let no = AtomicBool::new(false);

        for (path, expected) in [
            (&text, "not_a_video"),
            (&picture, "not_a_video"),
            (&empty, "not_a_video"),
            (&truncated, "corrupt"),
            (&sound, "no_video_stream"),
        ] {
            let key = |result: Result<(), MediaUploadError>| result.unwrap_err().message_key();
            let expected = format!("signage.upload.{expected}");
            assert_eq!(key(probe_video(path).map(drop)), expected, "{path:?}");
            assert_eq!(key(poster(path).map(drop)), expected, "{path:?}");
            assert_eq!(
                key(transcode_for_lobby(path, &output, &no).map(drop)),
                expected,
                "{path:?}"
            );
        }
        assert!(matches!(
            probe_video(&d.join("missing.mp4")),
            Err(MediaUploadError::Io(_))
        ));
        assert!(!output.exists());
        assert!(leftovers(d).is_empty());
    }

    #[test]
    fn a_video_cut_short_after_its_index_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let whole = clip(
            dir.path(),
            "whole.mp4",
            "size=320x240:rate=25",
            Some(48000),
            "4",
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-c:a",
                "aac",
                "-movflags",
                "+faststart",
            ],
        );
        let data = fs::read(&whole).unwrap();
        let truncated = dir.path().join("truncated.mp4");
        fs::write(&truncated, &data[..data.len() / 3]).unwrap();

        assert!(probe_video(&truncated).is_ok(), "the index is whole");
        let refused = transcode_for_lobby(
            &truncated,
            &dir.path().join("out.mp4"),
            &AtomicBool::new(false),
        );
        assert!(
            matches!(refused, Err(MediaUploadError::Corrupt(_))),
            "{refused:?}"
        );
    }

    #[test]
    fn uploads_are_checked_against_their_claim_and_length() {
        let dir = tempfile::tempdir().unwrap();
        let video = clip(
            dir.path(),
            "clip.mp4",
            "size=160x120:rate=25",
            Some(48000),
            "0.4",
            H264_AAC,
        );
        let picture = dir.path().join("photo.png");
        fs::write(
            &picture,
            encoded(DynamicImage::ImageRgb8(gradient(40, 30)), ImageFormat::Png),
        )
        .unwrap();
        let long = clip(
            dir.path(),
            "long.mp4",
            "size=16x16:rate=1",
            None,
            "660",
            &["-c:v", "libx264", "-preset", "ultrafast"],
        );

        assert!(inspect_video_upload(&video, "video/mp4").is_ok());
        assert!(inspect_video_upload(&video, "clip.MOV").is_ok());
        assert!(matches!(
            inspect_video_upload(&video, "clip.jpg"),
            Err(MediaUploadError::TypeMismatch { ref actual, .. }) if actual == "MP4"
        ));
        assert!(matches!(
            inspect_video_upload(&picture, "photo.mp4"),
            Err(MediaUploadError::TypeMismatch { .. })
        ));
        assert!(matches!(
            inspect_video_upload(&picture, "photo.png"),
            Err(MediaUploadError::NotAVideo)
        ));
        assert!(matches!(
            inspect_video_upload(&long, "long.mp4"),
            Err(MediaUploadError::VideoTooLong { max_seconds: 600 })
        ));

        let started = Instant::now();
        let refused =
            transcode_for_lobby(&long, &dir.path().join("out.mp4"), &AtomicBool::new(false));
        assert!(
            matches!(refused, Err(MediaUploadError::VideoTooLong { .. })),
            "{refused:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "refused before transcoding"
        );
    }

    #[test]
    fn lobby_sizes_fit_1080p_either_way_round() {
        let square = Rational(1, 1);
        assert_eq!(lobby_size(2560, 1440, square), (1920, 1080));
        assert_eq!(lobby_size(3840, 2160, square), (1920, 1080));
        assert_eq!(lobby_size(2160, 3840, square), (1080, 1920));
        assert_eq!(lobby_size(1920, 1080, square), (1920, 1080));
        assert_eq!(lobby_size(640, 360, Rational(0, 1)), (640, 360));
        assert_eq!(lobby_size(4000, 1000, square), (1920, 480));
        assert_eq!(lobby_size(1440, 1440, square), (1080, 1080));
        assert_eq!(lobby_size(321, 241, square), (320, 240));
        assert_eq!(lobby_size(720, 576, Rational(64, 45)), (1024, 576));
        assert_eq!(lobby_size(1, 1, square), (2, 2));
        assert!(fits_lobby(1080, 1920) && fits_lobby(1920, 1080) && !fits_lobby(1920, 1200));
    }
}
