//! Media: what happens to a broadcast's bytes between the encoder and the
//! viewer, and to the media files the server is given or makes. All libav
//! (FFmpeg) use is in this module.
//!
//! Two sides, each in its folder:
//! - [`stream`], the stream side: RTMP ingest ([`rtmp`], [`flv`]), the lower
//!   rendition ([`rendition`]), fMP4 fragments ([`fmp4`]) and HLS playlists
//!   ([`hls`]), and the test-pattern encoder ([`test_pattern`]);
//! - [`file`], the file side: uploads recognised and checked ([`upload`]),
//!   pictures re-encoded ([`picture`]), video files made into what browsers
//!   play ([`file::video`]), finished recordings made into replays and posters
//!   ([`replay`]).
//!
//! Their modules are re-exported here for their many users. Shared by both
//! sides, at this level: the types below ([`MediaPacket`], [`MediaError`]…),
//! [`recode`], the one video re-encoding pipeline (decode, scale, encode with
//! libx264) that the lower rendition and video files share, and [`scaler`],
//! its scaling step, which posters use too.
//!
//! Everything that calls into libav runs on dedicated threads, never on the
//! tokio runtime.

pub mod file;
pub mod recode;
pub mod scaler;
pub mod stream;

pub use file::{picture, replay, upload};
pub use stream::{flv, fmp4, hls, rendition, rtmp, test_pattern, webrtc};

use bytes::Bytes;

/// Milliseconds, the time unit of RTMP and of everything in this module.
pub type Millis = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Track {
    Video,
    Audio,
}

/// One coded frame as the encoder sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaPacket {
    pub track: Track,
    /// Decode time in milliseconds since the start of the stream.
    pub dts: Millis,
    /// Presentation time (dts + composition offset) in milliseconds.
    pub pts: Millis,
    /// A video frame a decoder can start from (always true for audio).
    pub keyframe: bool,
    /// Video: H.264 NAL units, each prefixed by its 4-byte length (AVCC form).
    /// Audio: one raw AAC frame (no ADTS header).
    pub data: Bytes,
}

/// H.264 video as described by the encoder's sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoConfig {
    /// The AVCDecoderConfigurationRecord (the `avcC` box body), as MP4 wants it.
    pub avcc: Bytes,
    pub width: u32,
    pub height: u32,
    /// RFC 6381 codec string for playlists, e.g. `avc1.64001f`.
    pub codec: String,
}

/// AAC audio as described by the encoder's sequence header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioConfig {
    /// The AudioSpecificConfig (ISO 14496-3), as MP4 wants it in `esds`.
    pub asc: Bytes,
    pub sample_rate: u32,
    pub channels: u16,
    /// RFC 6381 codec string, e.g. `mp4a.40.2`.
    pub codec: String,
}

/// The tracks of one output: a rendition has video and audio, the audio-only
/// rendition has just audio.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackConfig {
    pub video: Option<VideoConfig>,
    pub audio: Option<AudioConfig>,
}

/// Why media could not be handled. The message is for logs and staff; it names
/// what was wrong with the input, not where in our code it was noticed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("unsupported media: {0}")]
    Unsupported(String),
    #[error("malformed media: {0}")]
    Malformed(String),
    #[error("FFmpeg: {0}")]
    Ffmpeg(#[from] ffmpeg_next::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Initialises libav once per process (idempotent, cheap after the first call).
pub fn init_ffmpeg() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ffmpeg_next::init().expect("libav initialises");
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    });
}

/// The RFC 6381 codec string of H.264 described by an AVCDecoderConfigurationRecord:
/// `avc1.` and the profile, constraint and level bytes in hex.
pub fn avc_codec_string(avcc: &[u8]) -> Option<String> {
    match avcc {
        [1, profile, constraints, level, ..] => {
            Some(format!("avc1.{profile:02x}{constraints:02x}{level:02x}"))
        }
        _ => None,
    }
}

/// The RFC 6381 codec string of AAC described by an AudioSpecificConfig.
pub fn aac_codec_string(asc: &[u8]) -> String {
    let object_type = asc.first().map_or(2, |b| b >> 3);
    format!("mp4a.40.{object_type}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_strings_come_from_the_configuration_records() {
        assert_eq!(
            avc_codec_string(&[1, 0x64, 0x00, 0x1f, 0xff]).as_deref(),
            Some("avc1.64001f")
        );
        assert_eq!(avc_codec_string(&[0, 1]), None);
        assert_eq!(aac_codec_string(&[0x12, 0x10]), "mp4a.40.2");
    }
}
