//! Reading what an RTMP encoder sends: the bodies of FLV audio and video tags
//! (RTMP audio/video messages carry exactly these), and turning their 32-bit
//! millisecond timestamps into one monotonic timeline.
//!
//! Only H.264 video and AAC audio are accepted, because those are what every
//! phone and lobby box plays and what can be remuxed without re-encoding.
//! Anything else (HEVC from a newer OBS, MP3 or Speex audio) is refused with a
//! message staff can act on.

use bytes::Bytes;
use h264_reader::avcc::AvcDecoderConfigurationRecord;

use crate::media::{
    aac_codec_string, avc_codec_string, AudioConfig, MediaError, MediaPacket, Millis,
};
use crate::media::{Track, VideoConfig};

/// What one video message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoTag {
    /// The sequence header: decoder configuration for the frames that follow.
    Config(VideoConfig),
    Frame {
        keyframe: bool,
        /// Composition offset: pts − dts in milliseconds.
        composition: i32,
        data: Bytes,
    },
    EndOfSequence,
    /// Information frames and empty bodies that carry no picture.
    Ignored,
}

/// What one audio message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTag {
    Config(AudioConfig),
    Frame(Bytes),
    Ignored,
}

const CODEC_AVC: u8 = 7;
const SOUND_AAC: u8 = 10;
/// Enhanced RTMP marks its video header with the top bit and names the codec by FourCC.
const ENHANCED_HEADER: u8 = 0x80;
/// Enhanced RTMP audio: sound format 9, then a FourCC.
const SOUND_ENHANCED: u8 = 9;

/// Enhanced RTMP video packet types (the low four bits of the first byte).
const EX_SEQUENCE_START: u8 = 0;
const EX_CODED_FRAMES: u8 = 1;
const EX_SEQUENCE_END: u8 = 2;
/// Coded frames without a composition time (it is zero).
const EX_CODED_FRAMES_X: u8 = 3;
const EX_METADATA: u8 = 4;
const EX_MULTITRACK: u8 = 6;
const EX_MOD_EX: u8 = 7;

/// The first bytes of an Enhanced RTMP video tag: what kind of packet it is
/// and which codec it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExVideoHeader {
    pub frame_type: u8,
    pub packet_type: u8,
    /// `None` where the packet names no single codec up front (a
    /// multitrack of several codecs, or a ModEx prefix).
    pub fourcc: Option<[u8; 4]>,
}

/// The Enhanced RTMP header of a video tag body, if it has one (the top bit
/// of its first byte). Errors when the header is cut short.
pub fn ex_video_header(body: &[u8]) -> Result<Option<ExVideoHeader>, MediaError> {
    let Some(&first) = body.first() else {
        return Ok(None);
    };
    if first & ENHANCED_HEADER == 0 {
        return Ok(None);
    }
    let frame_type = (first >> 4) & 0x07;
    let packet_type = first & 0x0f;
    let fourcc_at = match packet_type {
        // Multitrack: one byte (multitrack type, inner packet type) first;
        // with several codecs (type 2) each track names its own.
        EX_MULTITRACK => {
            let kind = body.get(1).ok_or_else(truncated_ex_header)? >> 4;
            (kind != 2).then_some(2)
        }
        // ModEx: modifier data of its own length comes first; the codec is
        // not read through it.
        EX_MOD_EX => None,
        _ => Some(1),
    };
    let fourcc = match fourcc_at {
        Some(at) => {
            let bytes = body.get(at..at + 4).ok_or_else(truncated_ex_header)?;
            Some([bytes[0], bytes[1], bytes[2], bytes[3]])
        }
        None => None,
    };
    Ok(Some(ExVideoHeader {
        frame_type,
        packet_type,
        fourcc,
    }))
}

fn truncated_ex_header() -> MediaError {
    MediaError::Malformed("Enhanced RTMP video header cut short".into())
}

/// The codec a video tag carries, by the name staff know it, when it is not
/// one Pavilion takes (HEVC or AV1 from a newer OBS, VP6 from an old Flash
/// encoder); `None` for H.264, plain or over Enhanced RTMP, and for bodies
/// too short to tell.
pub fn refused_video_codec(body: &[u8]) -> Option<String> {
    let &first = body.first()?;
    match ex_video_header(body) {
        Ok(None) => match first & 0x0f {
            CODEC_AVC => None,
            other => Some(legacy_video_codec_name(other)),
        },
        Ok(Some(ExVideoHeader {
            packet_type,
            fourcc: Some(fourcc),
            ..
        })) if &fourcc == b"avc1" && packet_type != EX_MULTITRACK => None,
        Ok(Some(ExVideoHeader {
            fourcc: Some(fourcc),
            ..
        })) => Some(fourcc_name(&fourcc)),
        Ok(Some(ExVideoHeader { fourcc: None, .. })) => Some("Enhanced RTMP multitrack".into()),
        Err(_) => None,
    }
}

/// The same for audio: anything but AAC.
pub fn refused_audio_codec(body: &[u8]) -> Option<String> {
    let &first = body.first()?;
    match first >> 4 {
        SOUND_AAC => None,
        SOUND_ENHANCED => Some(match body.get(1..5) {
            Some(b"Opus") => "Opus".into(),
            Some(b"fLaC") => "FLAC".into(),
            Some(b"ac-3") => "AC-3".into(),
            Some(b"ec-3") => "E-AC-3".into(),
            Some(b".mp3") => "MP3".into(),
            Some(b"mp4a") => "AAC over Enhanced RTMP".into(),
            Some(other) => printable_fourcc(other),
            None => "Enhanced RTMP audio".into(),
        }),
        other => Some(sound_format_name(other).into()),
    }
}

pub fn read_video(body: &Bytes) -> Result<VideoTag, MediaError> {
    let Some(&first) = body.first() else {
        return Ok(VideoTag::Ignored);
    };
    if let Some(header) = ex_video_header(body)? {
        return read_ex_video(body, header);
    }
    if let Some(codec) = refused_video_codec(body) {
        return Err(MediaError::Unsupported(format!(
            "video codec {codec} (set the encoder to H.264)"
        )));
    }
    let frame_type = first >> 4;
    // Frame type 5 is a "video info / command" frame without a picture.
    if frame_type == 5 {
        return Ok(VideoTag::Ignored);
    }
    let header = body
        .get(1..5)
        .ok_or_else(|| MediaError::Malformed("video message shorter than its header".into()))?;
    let composition = i24(&header[1..4]);
    let payload = body.slice(5..);
    match header[0] {
        0 => video_config(payload).map(VideoTag::Config),
        1 => avc_frame(frame_type, composition, payload),
        2 => Ok(VideoTag::EndOfSequence),
        other => Err(MediaError::Malformed(format!(
            "unknown AVC packet type {other}"
        ))),
    }
}

/// An Enhanced RTMP video tag: H.264 (`avc1`) is read as the plain kind is;
/// any other codec is refused by name.
fn read_ex_video(body: &Bytes, header: ExVideoHeader) -> Result<VideoTag, MediaError> {
    if let Some(codec) = refused_video_codec(body) {
        return Err(MediaError::Unsupported(format!(
            "video codec {codec} (set the encoder to H.264)"
        )));
    }
    if header.frame_type == 5 || header.packet_type == EX_METADATA {
        return Ok(VideoTag::Ignored);
    }
    let payload = body.slice(5..);
    match header.packet_type {
        EX_SEQUENCE_START => video_config(payload).map(VideoTag::Config),
        EX_CODED_FRAMES => {
            let composition = payload.get(..3).map(i24).ok_or_else(|| {
                MediaError::Malformed("video message shorter than its header".into())
            })?;
            avc_frame(header.frame_type, composition, payload.slice(3..))
        }
        EX_CODED_FRAMES_X => avc_frame(header.frame_type, 0, payload),
        EX_SEQUENCE_END => Ok(VideoTag::EndOfSequence),
        other => Err(MediaError::Malformed(format!(
            "unknown Enhanced RTMP video packet type {other}"
        ))),
    }
}

fn avc_frame(frame_type: u8, composition: i32, payload: Bytes) -> Result<VideoTag, MediaError> {
    if payload.is_empty() {
        return Ok(VideoTag::Ignored);
    }
    check_length_prefixed(&payload)?;
    Ok(VideoTag::Frame {
        keyframe: frame_type == 1,
        composition,
        data: payload,
    })
}

pub fn read_audio(body: &Bytes) -> Result<AudioTag, MediaError> {
    if body.is_empty() {
        return Ok(AudioTag::Ignored);
    }
    if let Some(codec) = refused_audio_codec(body) {
        return Err(MediaError::Unsupported(format!(
            "audio format {codec} (set the encoder to AAC)"
        )));
    }
    match body.get(1) {
        None => Ok(AudioTag::Ignored),
        Some(0) => audio_config(body.slice(2..)).map(AudioTag::Config),
        Some(1) if body.len() == 2 => Ok(AudioTag::Ignored),
        Some(1) => Ok(AudioTag::Frame(body.slice(2..))),
        Some(other) => Err(MediaError::Malformed(format!(
            "unknown AAC packet type {other}"
        ))),
    }
}

fn video_config(avcc: Bytes) -> Result<VideoConfig, MediaError> {
    let malformed = |what: String| MediaError::Malformed(format!("H.264 sequence header: {what}"));
    check_parameter_sets(&avcc).map_err(|what| malformed(what.into()))?;
    let record = AvcDecoderConfigurationRecord::try_from(&avcc[..])
        .map_err(|e| malformed(format!("{e:?}")))?;
    let context = record
        .create_context()
        .map_err(|e| malformed(format!("{e:?}")))?;
    let sps = context
        .sps()
        .next()
        .ok_or_else(|| malformed("no sequence parameter set".into()))?;
    let (width, height) = sps
        .pixel_dimensions()
        .map_err(|e| malformed(format!("{e:?}")))?;
    if record.length_size_minus_one() != 3 {
        return Err(MediaError::Unsupported(
            "H.264 with NAL length fields other than 4 bytes".into(),
        ));
    }
    let codec = avc_codec_string(&avcc).ok_or_else(|| malformed("too short".into()))?;
    Ok(VideoConfig {
        avcc,
        width,
        height,
        codec,
    })
}

/// Walks the parameter sets of an AVCDecoderConfigurationRecord: each must be
/// non-empty and inside the record. (h264-reader panics on an empty one;
/// found by `cargo fuzz run flv_tags`.)
fn check_parameter_sets(avcc: &[u8]) -> Result<(), &'static str> {
    let mut rest = avcc.get(5..).ok_or("too short")?;
    for count_mask in [0x1f, 0xff] {
        let (&count, tail) = rest.split_first().ok_or("truncated")?;
        rest = tail;
        for _ in 0..(count & count_mask) {
            let len = rest.get(..2).ok_or("truncated length")?;
            let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
            if len == 0 {
                return Err("empty parameter set");
            }
            rest = rest.get(2 + len..).ok_or("parameter set past the end")?;
        }
    }
    Ok(())
}

const AAC_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

fn audio_config(asc: Bytes) -> Result<AudioConfig, MediaError> {
    let malformed = |what: &str| MediaError::Malformed(format!("AAC sequence header: {what}"));
    let (&b0, &b1) = asc
        .first()
        .zip(asc.get(1))
        .ok_or_else(|| malformed("shorter than two bytes"))?;
    let rate_index = ((b0 & 0x07) << 1) | (b1 >> 7);
    let sample_rate = *AAC_RATES
        .get(usize::from(rate_index))
        .ok_or_else(|| malformed("explicit sample rates are not supported"))?;
    let channels = u16::from((b1 >> 3) & 0x0f);
    if !(1..=2).contains(&channels) {
        return Err(MediaError::Unsupported(format!(
            "AAC with channel configuration {channels} (use mono or stereo)"
        )));
    }
    if b0 >> 3 == 0 {
        return Err(malformed("object type 0"));
    }
    let codec = aac_codec_string(&asc);
    Ok(AudioConfig {
        asc,
        sample_rate,
        channels,
        codec,
    })
}

/// Every NAL unit must fit in the frame: otherwise the muxer would write a
/// sample that no decoder can split.
fn check_length_prefixed(mut data: &[u8]) -> Result<(), MediaError> {
    while !data.is_empty() {
        let Some(len) = data.get(..4) else {
            return Err(MediaError::Malformed("truncated NAL length".into()));
        };
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        data = data
            .get(4..)
            .and_then(|rest| rest.get(len..))
            .ok_or_else(|| MediaError::Malformed("NAL unit longer than its frame".into()))?;
    }
    Ok(())
}

fn i24(b: &[u8]) -> i32 {
    let raw = (i32::from(b[0]) << 16) | (i32::from(b[1]) << 8) | i32::from(b[2]);
    (raw << 8) >> 8
}

fn fourcc_name(fourcc: &[u8]) -> String {
    match fourcc {
        b"hvc1" => "HEVC (H.265)".into(),
        b"av01" => "AV1".into(),
        b"vp09" => "VP9".into(),
        b"vp08" => "VP8".into(),
        b"vvc1" => "VVC (H.266)".into(),
        b"avc1" => "H.264 in several tracks".into(),
        other => printable_fourcc(other),
    }
}

/// A FourCC nobody named, shown as its letters (anything unprintable as `?`).
fn printable_fourcc(fourcc: &[u8]) -> String {
    let letters: String = fourcc
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() {
                char::from(b)
            } else {
                '?'
            }
        })
        .collect();
    format!("FourCC {letters}")
}

/// The video codec ids of plain (not Enhanced) FLV.
fn legacy_video_codec_name(id: u8) -> String {
    match id {
        2 => "Sorenson H.263".into(),
        3 | 6 => "Screen Video".into(),
        4 | 5 => "On2 VP6".into(),
        // Not in the FLV specification: what some Chinese CDNs' encoders send.
        12 => "HEVC (H.265)".into(),
        13 => "AV1".into(),
        other => format!("codec id {other}"),
    }
}

fn sound_format_name(format: u8) -> &'static str {
    match format {
        0 | 3 => "PCM",
        1 => "ADPCM",
        2 | 14 => "MP3",
        4..=6 => "Nellymoser",
        7 | 8 => "G.711",
        11 => "Speex",
        _ => "unknown",
    }
}

/// One publish session's timeline. RTMP timestamps are 32-bit milliseconds that
/// may wrap, start anywhere, or (with some encoders) step backwards; this turns
/// them into strictly increasing decode times per track, starting at `origin`.
#[derive(Debug)]
pub struct Timeline {
    origin: Millis,
    first: Option<u32>,
    extended: i64,
    last_raw: Option<u32>,
    last_video: Option<Millis>,
    last_audio: Option<Millis>,
}

impl Timeline {
    /// `origin` is where this session continues the broadcast's timeline (0 at
    /// the first publish, just after the previous end on a reconnect).
    pub fn new(origin: Millis) -> Self {
        Self {
            origin,
            first: None,
            extended: 0,
            last_raw: None,
            last_video: None,
            last_audio: None,
        }
    }

    /// The packet for a frame at RTMP time `raw`, its decode time clamped to
    /// follow the previous frame of the same track.
    pub fn packet(
        &mut self,
        track: Track,
        raw: u32,
        composition: i32,
        keyframe: bool,
        data: Bytes,
    ) -> MediaPacket {
        let unwrapped = self.unwrap(raw);
        let first = *self.first.get_or_insert(raw);
        let mut dts = self.origin + unwrapped - i64::from(first);
        let last = match track {
            Track::Video => &mut self.last_video,
            Track::Audio => &mut self.last_audio,
        };
        if let Some(previous) = *last {
            if dts <= previous {
                dts = previous + 1;
            }
        }
        *last = Some(dts);
        MediaPacket {
            track,
            dts,
            pts: dts + i64::from(composition.max(0)),
            keyframe,
            data,
        }
    }

    /// The latest decode time seen on any track.
    pub fn end(&self) -> Millis {
        self.last_video.max(self.last_audio).unwrap_or(self.origin)
    }

    /// Extends a wrapping 32-bit time to 64 bits: a jump of more than half the
    /// range is a wrap, not a real step.
    fn unwrap(&mut self, raw: u32) -> i64 {
        if let Some(last) = self.last_raw {
            let step = raw.wrapping_sub(last) as i32;
            self.extended += i64::from(step);
        } else {
            self.extended = i64::from(raw);
        }
        self.last_raw = Some(raw);
        self.extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real AVCDecoderConfigurationRecord (x264, 320x240, High profile).
    const AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x0d, 0xff, 0xe1, 0x00, 0x19, 0x67, 0x64, 0x00, 0x0d, 0xac, 0xd9, 0x41,
        0x41, 0xfb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1,
        0x42, 0x99, 0x60, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8, 0xf8,
        0x00,
    ];

    fn video(header: &[u8], payload: &[u8]) -> Bytes {
        Bytes::from([header, payload].concat())
    }

    #[test]
    fn a_sequence_header_gives_size_and_codec() {
        let tag = read_video(&video(&[0x17, 0, 0, 0, 0], AVCC)).unwrap();
        let VideoTag::Config(config) = tag else {
            panic!("expected a config, got {tag:?}")
        };
        assert_eq!((config.width, config.height), (320, 240));
        assert_eq!(config.codec, "avc1.64000d");
    }

    #[test]
    fn frames_carry_keyframe_flag_and_signed_composition() {
        let nal = [0, 0, 0, 2, 0x65, 0x88];
        let tag = read_video(&video(&[0x17, 1, 0, 0, 40], &nal)).unwrap();
        assert!(matches!(
            tag,
            VideoTag::Frame {
                keyframe: true,
                composition: 40,
                ..
            }
        ));
        let tag = read_video(&video(&[0x27, 1, 0xff, 0xff, 0xd8], &nal)).unwrap();
        assert!(matches!(
            tag,
            VideoTag::Frame {
                keyframe: false,
                composition: -40,
                ..
            }
        ));
    }

    #[test]
    fn other_codecs_are_refused_by_name() {
        let hevc = read_video(&video(&[0x1c, 0, 0, 0, 0], &[])).unwrap_err();
        assert!(hevc.to_string().contains("HEVC"), "{hevc}");
        let enhanced = read_video(&video(&[0x90, b'h', b'v', b'c', b'1'], &[])).unwrap_err();
        assert!(enhanced.to_string().contains("HEVC"), "{enhanced}");
        let mp3 = read_audio(&Bytes::from_static(&[0x2f, 0xff, 0xfb])).unwrap_err();
        assert!(mp3.to_string().contains("MP3"), "{mp3}");
    }

    #[test]
    fn enhanced_rtmp_names_hevc_av1_and_vp9() {
        // OBS's HEVC: sequence start (key frame, packet type 0) then coded frames.
        let start = video(&[0x90, b'h', b'v', b'c', b'1'], &[1, 2, 3]);
        assert_eq!(
            ex_video_header(&start).unwrap(),
            Some(ExVideoHeader {
                frame_type: 1,
                packet_type: 0,
                fourcc: Some(*b"hvc1")
            })
        );
        assert_eq!(refused_video_codec(&start).as_deref(), Some("HEVC (H.265)"));
        let frames = video(
            &[0xa1, b'h', b'v', b'c', b'1'],
            &[0, 0, 0, 0, 0, 0, 1, 0x26],
        );
        assert_eq!(
            refused_video_codec(&frames).as_deref(),
            Some("HEVC (H.265)")
        );
        let av1 = video(&[0x93, b'a', b'v', b'0', b'1'], &[0x12, 0]);
        assert_eq!(refused_video_codec(&av1).as_deref(), Some("AV1"));
        let vp9 = video(&[0x90, b'v', b'p', b'0', b'9'], &[]);
        assert_eq!(refused_video_codec(&vp9).as_deref(), Some("VP9"));
        // Multitrack names its codec one byte later.
        let multi = video(&[0x96, 0x00, b'a', b'v', b'0', b'1'], &[]);
        assert_eq!(refused_video_codec(&multi).as_deref(), Some("AV1"));
        // An unknown FourCC is shown by its letters, never as raw bytes.
        let odd = video(&[0x90, b'x', 0, b'y', 0xff], &[]);
        assert_eq!(refused_video_codec(&odd).as_deref(), Some("FourCC x?y?"));
        // Plain H.264 is not refused; plain legacy HEVC (id 12) is.
        assert_eq!(refused_video_codec(&video(&[0x17, 0, 0, 0, 0], AVCC)), None);
        assert_eq!(
            refused_video_codec(&video(&[0x1c, 0, 0, 0, 0], &[])).as_deref(),
            Some("HEVC (H.265)")
        );
        for body in [start, frames, av1, vp9] {
            let refused = read_video(&body).unwrap_err();
            assert!(matches!(refused, MediaError::Unsupported(_)), "{refused}");
        }
        // A header cut before its FourCC is malformed, not a codec.
        let cut = video(&[0x90, b'h', b'v'], &[]);
        assert!(matches!(read_video(&cut), Err(MediaError::Malformed(_))));
        assert_eq!(refused_video_codec(&cut), None);
    }

    #[test]
    fn h264_over_enhanced_rtmp_reads_as_plain_h264() {
        let tag = read_video(&video(&[0x90, b'a', b'v', b'c', b'1'], AVCC)).unwrap();
        assert!(
            matches!(tag, VideoTag::Config(ref c) if c.codec == "avc1.64000d"),
            "{tag:?}"
        );
        let nal = [0, 0, 0, 2, 0x65, 0x88];
        let with_time = read_video(&video(&[0x91, b'a', b'v', b'c', b'1', 0, 0, 40], &nal));
        assert!(matches!(
            with_time.unwrap(),
            VideoTag::Frame {
                keyframe: true,
                composition: 40,
                ..
            }
        ));
        let without = read_video(&video(&[0xa3, b'a', b'v', b'c', b'1'], &nal)).unwrap();
        assert!(matches!(
            without,
            VideoTag::Frame {
                keyframe: false,
                composition: 0,
                ..
            }
        ));
    }

    #[test]
    fn audio_other_than_aac_is_named() {
        assert_eq!(refused_audio_codec(&[0x2f, 0xff]).as_deref(), Some("MP3"));
        assert_eq!(
            refused_audio_codec(&[0x9f, b'O', b'p', b'u', b's']).as_deref(),
            Some("Opus")
        );
        assert_eq!(refused_audio_codec(&[0xaf, 0, 0x11, 0x90]), None);
    }

    #[test]
    fn truncated_or_lying_frames_are_malformed_not_a_crash() {
        for body in [
            video(&[0x17, 1, 0, 0], &[]),
            video(&[0x17, 1, 0, 0, 0], &[0, 0, 0, 9, 0x65]),
            video(&[0x17, 1, 0, 0, 0], &[0, 0]),
            video(&[0x17, 0, 0, 0, 0], &[1, 2, 3]),
            video(&[0x17, 9, 0, 0, 0], &[]),
            // Found by fuzzing: an empty parameter set.
            video(&[0x17, 0, 0, 0, 0], &[0x01, 0, 3, 0, 1, 0xe1, 0, 0]),
        ] {
            assert!(
                matches!(read_video(&body), Err(MediaError::Malformed(_))),
                "{body:?}"
            );
        }
    }

    #[test]
    fn aac_config_reads_rate_and_channels() {
        let tag = read_audio(&Bytes::from_static(&[0xaf, 0, 0x11, 0x90])).unwrap();
        let AudioTag::Config(config) = tag else {
            panic!("expected a config")
        };
        assert_eq!((config.sample_rate, config.channels), (48000, 2));
        assert_eq!(config.codec, "mp4a.40.2");
        let frame = read_audio(&Bytes::from_static(&[0xaf, 1, 0x21, 0x10])).unwrap();
        assert_eq!(frame, AudioTag::Frame(Bytes::from_static(&[0x21, 0x10])));
    }

    #[test]
    fn timeline_starts_at_origin_and_never_steps_back() {
        let mut timeline = Timeline::new(5_000);
        let data = Bytes::new();
        let first = timeline.packet(Track::Video, 1_000, 0, true, data.clone());
        assert_eq!(first.dts, 5_000);
        let back = timeline.packet(Track::Video, 900, 0, false, data.clone());
        assert_eq!(back.dts, 5_001, "a step back is clamped");
        let audio = timeline.packet(Track::Audio, 950, 0, true, data.clone());
        assert_eq!(audio.dts, 4_950, "tracks are clamped separately");
        let later = timeline.packet(Track::Video, 1_040, 20, false, data);
        assert_eq!((later.dts, later.pts), (5_040, 5_060));
        assert_eq!(timeline.end(), 5_040);
    }

    #[test]
    fn timeline_survives_the_32_bit_wrap() {
        let mut timeline = Timeline::new(0);
        let data = Bytes::new();
        timeline.packet(Track::Video, u32::MAX - 10, 0, true, data.clone());
        let after = timeline.packet(Track::Video, 20, 0, false, data);
        assert_eq!(after.dts, 31);
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap stand-in for the fuzz target that runs on every `cargo test`.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 48) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|i| (seed.rotate_left(i as u32 * 7) & 0xff) as u8)
                .collect();
            let mut body = Bytes::from(bytes);
            let _ = ex_video_header(&body);
            // A codec named for refusal is never read as H.264 or AAC.
            let video = read_video(&body);
            if refused_video_codec(&body).is_some() {
                assert!(matches!(video, Err(MediaError::Unsupported(_))), "{body:?}");
            }
            let audio = read_audio(&body);
            if refused_audio_codec(&body).is_some() {
                assert!(matches!(audio, Err(MediaError::Unsupported(_))), "{body:?}");
            }
            // The same bytes behind an Enhanced RTMP header of each codec.
            for fourcc in [b"hvc1", b"av01", b"avc1"] {
                let first = 0x80 | (body.first().copied().unwrap_or(0) & 0x7f);
                let ex: Bytes = [&[first][..], &fourcc[..], &body[..]].concat().into();
                let _ = refused_video_codec(&ex);
                let _ = read_video(&ex);
            }
            if !body.is_empty() {
                body = [&[0x17, 0, 0, 0, 0][..], &body[..]].concat().into();
                let _ = read_video(&body);
            }
        }
    }
}
