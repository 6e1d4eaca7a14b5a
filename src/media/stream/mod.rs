//! The stream side of media: a live broadcast's packets, as they arrive, made
//! into what viewers fetch, as opposed to the file side in
//! [`super::file`], which reads and writes whole files.
//!
//! In the order live bytes flow:
//! - [`rtmp`] speaks RTMP with the encoder (OBS, ffmpeg) and hands over its
//!   audio/video messages;
//! - [`flv`] reads those messages (FLV tag bodies) into
//!   [`MediaPacket`](super::MediaPacket)s and the codec configuration
//!   ([`TrackConfig`](super::TrackConfig)), refusing what we cannot remux;
//! - [`rendition`] makes the optional lower rendition from the source video;
//! - [`fmp4`] puts packets into fragmented MP4 (CMAF) with FFmpeg's mp4
//!   muxer, one fragment per HLS part;
//! - [`hls`] groups fragments into segments and writes our own playlists;
//! - [`test_pattern`] is a synthetic encoder for demos and tests;
//! - [`webrtc`] reads WHIP offers and makes WebRTC media (H.264, Opus) into
//!   what [`rtmp`] hands over (AVC tags, AAC).

pub mod flv;
pub mod fmp4;
pub mod hls;
pub mod rendition;
pub mod rtmp;
pub mod test_pattern;
pub mod webrtc;
