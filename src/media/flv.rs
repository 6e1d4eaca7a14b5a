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

use super::{aac_codec_string, avc_codec_string, AudioConfig, MediaError, MediaPacket, Millis};
use super::{Track, VideoConfig};

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
const CODEC_HEVC_LEGACY: u8 = 12;
const SOUND_AAC: u8 = 10;
/// Enhanced RTMP marks its video header with the top bit and names the codec by FourCC.
const ENHANCED_HEADER: u8 = 0x80;

pub fn read_video(body: &Bytes) -> Result<VideoTag, MediaError> {
    let Some(&first) = body.first() else {
        return Ok(VideoTag::Ignored);
    };
    if first & ENHANCED_HEADER != 0 {
        let fourcc = body.get(1..5).unwrap_or_default();
        return Err(MediaError::Unsupported(format!(
            "video codec {} (set the encoder to H.264)",
            fourcc_name(fourcc)
        )));
    }
    let frame_type = first >> 4;
    match first & 0x0f {
        CODEC_AVC => {}
        CODEC_HEVC_LEGACY => {
            return Err(MediaError::Unsupported(
                "video codec HEVC (set the encoder to H.264)".into(),
            ))
        }
        other => {
            return Err(MediaError::Unsupported(format!(
                "video codec id {other} (set the encoder to H.264)"
            )))
        }
    }
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
        1 if payload.is_empty() => Ok(VideoTag::Ignored),
        1 => {
            check_length_prefixed(&payload)?;
            Ok(VideoTag::Frame {
                keyframe: frame_type == 1,
                composition,
                data: payload,
            })
        }
        2 => Ok(VideoTag::EndOfSequence),
        other => Err(MediaError::Malformed(format!(
            "unknown AVC packet type {other}"
        ))),
    }
}

pub fn read_audio(body: &Bytes) -> Result<AudioTag, MediaError> {
    let Some(&first) = body.first() else {
        return Ok(AudioTag::Ignored);
    };
    let format = first >> 4;
    if format != SOUND_AAC {
        return Err(MediaError::Unsupported(format!(
            "audio format {} (set the encoder to AAC)",
            sound_format_name(format)
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
        b"hvc1" => "HEVC".into(),
        b"av01" => "AV1".into(),
        b"vp09" => "VP9".into(),
        b"avc1" => "H.264 in enhanced RTMP".into(),
        other => format!("{:?}", String::from_utf8_lossy(other)),
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
            let _ = read_video(&body);
            let _ = read_audio(&body);
            if !body.is_empty() {
                body = [&[0x17, 0, 0, 0, 0][..], &body[..]].concat().into();
                let _ = read_video(&body);
            }
        }
    }
}
