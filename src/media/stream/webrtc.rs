//! What a WebRTC publisher (WHIP, RFC 9725) sends, made into what the RTMP
//! ingest hands the live pipeline: FLV-style tag bodies for a
//! [`Sink`](super::rtmp::Sink).
//!
//! - [`inspect_offer`] reads an SDP offer far enough to say whether we can
//!   take it (H.264 video, Opus sound) before any WebRTC state is made, so a
//!   phone that only offers VP8 is told which codecs we accept;
//! - [`AvcPackager`] turns H.264 access units in Annex B form (as RTP
//!   depacketizing leaves them) into an AVC sequence header built from the
//!   SPS/PPS and AVCC frames;
//! - [`OpusToAac`] decodes Opus and encodes AAC with libav (blocking: run it
//!   on the session's media thread), since HLS players do not all take Opus.
//!
//! Nothing here knows sockets or sessions (see `crate::live::whip`).

use bytes::{BufMut, Bytes, BytesMut};
use ffmpeg_next::{codec, decoder, encoder, filter, format, frame, ChannelLayout, Packet};

use crate::media::MediaError;

/// The largest SDP offer read; a browser's is 4–8 KiB.
pub const OFFER_MAX: usize = 64 * 1024;

/// The codecs a WHIP publisher must offer, as told to one that does not.
pub const ACCEPTED_CODECS: &str = "H.264 video and Opus audio";

/// What an acceptable offer contains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfferSummary {
    /// The offer has an audio section (with Opus).
    pub audio: bool,
}

/// Why an offer is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OfferProblem {
    #[error("the offer is not an SDP session description")]
    NotSdp,
    #[error("the offer has no video; we accept {ACCEPTED_CODECS}")]
    NoVideo,
    #[error("the offered video codecs ({offered}) are not H.264; we accept {ACCEPTED_CODECS}")]
    NoH264 { offered: String },
    #[error("the offered audio codecs ({offered}) are not Opus; we accept {ACCEPTED_CODECS}")]
    NoOpus { offered: String },
}

/// Reads the media sections of an SDP offer and the codecs each offers
/// (`a=rtpmap`). Bounded: each line is looked at once, and only names are kept.
pub fn inspect_offer(sdp: &str) -> Result<OfferSummary, OfferProblem> {
    let mut lines = sdp.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("v=0") {
        return Err(OfferProblem::NotSdp);
    }
    // (kind, codec names) of each m= section.
    let mut sections: Vec<(String, Vec<String>)> = Vec::new();
    let mut has_origin = false;
    for line in lines {
        let Some((key, value)) = line.split_once('=') else {
            return Err(OfferProblem::NotSdp);
        };
        if key.len() != 1 {
            return Err(OfferProblem::NotSdp);
        }
        match key {
            "o" => has_origin = true,
            "m" => {
                let kind = value.split(' ').next().unwrap_or_default();
                if sections.len() >= 64 {
                    return Err(OfferProblem::NotSdp);
                }
                sections.push((kind.to_ascii_lowercase(), Vec::new()));
            }
            "a" => {
                if let (Some(rtpmap), Some((_, codecs))) =
                    (value.strip_prefix("rtpmap:"), sections.last_mut())
                {
                    let name = rtpmap
                        .split_once(' ')
                        .and_then(|(_, encoding)| encoding.split('/').next())
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    if !name.is_empty() && !codecs.contains(&name) && codecs.len() < 32 {
                        codecs.push(name);
                    }
                }
            }
            _ => {}
        }
    }
    if !has_origin || sections.is_empty() {
        return Err(OfferProblem::NotSdp);
    }
    let offered = |kind: &str| -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (_, codecs) in sections.iter().filter(|(k, _)| k == kind) {
            for name in codecs {
                // Retransmission and error correction are not codecs to name.
                if !matches!(name.as_str(), "RTX" | "RED" | "ULPFEC" | "FLEXFEC-03")
                    && !names.contains(name)
                {
                    names.push(name.clone());
                }
            }
        }
        names
    };
    if !sections.iter().any(|(k, _)| k == "video") {
        return Err(OfferProblem::NoVideo);
    }
    let video = offered("video");
    if !video.iter().any(|n| n == "H264") {
        return Err(OfferProblem::NoH264 {
            offered: video.join(", "),
        });
    }
    let audio = sections.iter().any(|(k, _)| k == "audio");
    let sound = offered("audio");
    if audio && !sound.iter().any(|n| n == "OPUS") {
        return Err(OfferProblem::NoOpus {
            offered: sound.join(", "),
        });
    }
    Ok(OfferSummary { audio })
}

const NALU_IDR: u8 = 5;
const NALU_SPS: u8 = 7;
const NALU_PPS: u8 = 8;
const NALU_AUD: u8 = 9;
const NALU_FILLER: u8 = 12;

/// The NAL units of an Annex B byte stream (start codes of 3 or 4 bytes).
pub fn annex_b_units(data: &[u8]) -> Vec<&[u8]> {
    let mut units = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            if let Some(s) = start {
                units.push(trim_trailing_zeros(&data[s..i]));
            }
            i += 3;
            start = Some(i);
        } else {
            i += 1;
        }
    }
    match start {
        Some(s) => units.push(&data[s..]),
        // No start code: one bare unit (some packetizers leave it so).
        None => units.push(data),
    }
    units.retain(|u| !u.is_empty());
    units
}

fn trim_trailing_zeros(unit: &[u8]) -> &[u8] {
    let end = unit.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1);
    &unit[..end]
}

/// One access unit made into FLV video tag bodies: a new sequence header
/// first when the parameter sets changed, then the frame.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AvcTags {
    pub sequence_header: Option<Bytes>,
    pub frame: Option<Bytes>,
    pub keyframe: bool,
}

/// Makes H.264 access units (Annex B) into AVC tag bodies, as RTMP carries them.
#[derive(Debug, Default)]
pub struct AvcPackager {
    sps: Option<Vec<u8>>,
    pps: Option<Vec<u8>>,
    /// The record last sent as the sequence header.
    sent: Option<Vec<u8>>,
    /// A keyframe has been sent since the last sequence header: until then
    /// frames are dropped (a decoder cannot start from them).
    started: bool,
}

/// Parameter sets larger than this are not H.264 from a camera.
const PARAMETER_SET_MAX: usize = 1024;

impl AvcPackager {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, access_unit: &[u8]) -> AvcTags {
        let mut tags = AvcTags::default();
        let mut frame = BytesMut::with_capacity(access_unit.len() + 5 + 16);
        frame.put_slice(&[0, 1, 0, 0, 0]);
        let mut has_slice = false;
        for unit in annex_b_units(access_unit) {
            match unit[0] & 0x1f {
                NALU_SPS if unit.len() >= 4 && unit.len() <= PARAMETER_SET_MAX => {
                    self.sps = Some(unit.to_vec());
                }
                NALU_PPS if unit.len() <= PARAMETER_SET_MAX => self.pps = Some(unit.to_vec()),
                NALU_SPS | NALU_PPS | NALU_AUD | NALU_FILLER => continue,
                NALU_IDR => {
                    tags.keyframe = true;
                    has_slice = true;
                }
                1..=4 => has_slice = true,
                _ => {}
            }
            let Ok(length) = u32::try_from(unit.len()) else {
                return AvcTags::default();
            };
            frame.put_u32(length);
            frame.put_slice(unit);
        }
        if let Some(record) = self.record() {
            if self.sent.as_ref() != Some(&record) {
                let mut header = BytesMut::with_capacity(record.len() + 5);
                header.put_slice(&[0x17, 0, 0, 0, 0]);
                header.put_slice(&record);
                tags.sequence_header = Some(header.freeze());
                self.sent = Some(record);
                self.started = false;
            }
        }
        if self.sent.is_none() || !has_slice || !(self.started || tags.keyframe) {
            return tags;
        }
        self.started = true;
        frame[0] = if tags.keyframe { 0x17 } else { 0x27 };
        tags.frame = Some(frame.freeze());
        tags
    }

    /// The AVCDecoderConfigurationRecord of the current SPS and PPS.
    fn record(&self) -> Option<Vec<u8>> {
        let (sps, pps) = (self.sps.as_ref()?, self.pps.as_ref()?);
        let mut record = Vec::with_capacity(11 + sps.len() + pps.len());
        // Version, profile, constraints and level (from the SPS), 4-byte lengths.
        record.extend_from_slice(&[1, sps[1], sps[2], sps[3], 0xff, 0xe1]);
        record.extend_from_slice(&(sps.len() as u16).to_be_bytes());
        record.extend_from_slice(sps);
        record.push(1);
        record.extend_from_slice(&(pps.len() as u16).to_be_bytes());
        record.extend_from_slice(pps);
        Some(record)
    }
}

/// The FLV audio tag body of an AAC sequence header or frame (AAC, 44 kHz
/// flag, 16-bit, stereo: the flags FLV readers expect for AAC whatever its rate).
pub fn aac_tag(sequence_header: bool, data: &[u8]) -> Bytes {
    let mut body = BytesMut::with_capacity(data.len() + 2);
    body.put_u8(0xaf);
    body.put_u8(if sequence_header { 0 } else { 1 });
    body.put_slice(data);
    body.freeze()
}

/// Opus at 48 kHz, its RTP clock rate, and what AAC is encoded at.
pub const OPUS_RATE: i32 = 48_000;
const AAC_BIT_RATE: usize = 96_000;
const SINK: &str = "out";

/// Opus packets in, AAC frames out, timed in 1/48000 s.
pub struct OpusToAac {
    decoder: decoder::Audio,
    encoder: encoder::Encoder,
    graph: Option<filter::Graph>,
    frame_size: u32,
    asc: Bytes,
}

impl OpusToAac {
    pub fn new() -> Result<Self, MediaError> {
        crate::media::init_ffmpeg();
        let opus = decoder::find(codec::Id::OPUS)
            .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no Opus decoder".into()))?;
        // Without extradata libav's Opus decoder makes stereo at 48 kHz,
        // the RTP clock rate of Opus.
        let decoder = codec::Context::new_with_codec(opus)
            .decoder()
            .open_as(opus)?
            .audio()?;

        let aac = encoder::find_by_name("aac")
            .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no AAC encoder".into()))?;
        let mut audio = codec::Context::new_with_codec(aac).encoder().audio()?;
        audio.set_rate(OPUS_RATE);
        audio.set_channel_layout(ChannelLayout::STEREO);
        audio.set_format(format::Sample::F32(format::sample::Type::Planar));
        audio.set_time_base((1, OPUS_RATE));
        audio.set_bit_rate(AAC_BIT_RATE);
        // The AudioSpecificConfig goes once in the sequence header.
        audio.set_flags(codec::Flags::GLOBAL_HEADER);
        let opened = audio.open()?;
        let frame_size = opened.frame_size().max(1);
        let encoder::audio::Encoder(encoder::audio::Audio(encoder)) = opened;
        let asc = Bytes::copy_from_slice(extradata(&encoder));
        if asc.is_empty() {
            return Err(MediaError::Unsupported(
                "the AAC encoder gave no AudioSpecificConfig".into(),
            ));
        }
        Ok(Self {
            decoder,
            encoder,
            graph: None,
            frame_size,
            asc,
        })
    }

    /// The AudioSpecificConfig of the AAC made.
    pub fn asc(&self) -> Bytes {
        self.asc.clone()
    }

    /// Decodes one Opus packet (`pts` in 1/48000 s) and returns the AAC
    /// frames that are ready, with their times. A packet that does not
    /// decode is skipped (lost or damaged audio is a gap, not an end).
    pub fn push(&mut self, opus: &[u8], pts: i64) -> Result<Vec<(i64, Bytes)>, MediaError> {
        let mut packet = Packet::copy(opus);
        packet.set_pts(Some(pts));
        packet.set_dts(Some(pts));
        if let Err(e) = self.decoder.send_packet(&packet) {
            tracing::debug!(error = %e, "an Opus packet does not decode");
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut decoded = frame::Audio::empty();
        while self.decoder.receive_frame(&mut decoded).is_ok() {
            if decoded.pts().is_none() {
                decoded.set_pts(Some(pts));
            }
            self.filter(&decoded)?;
            self.drain(&mut out)?;
        }
        Ok(out)
    }

    fn filter(&mut self, decoded: &frame::Audio) -> Result<(), MediaError> {
        if self.graph.is_none() {
            self.graph = Some(self.build_graph(decoded)?);
        }
        let graph = self.graph.as_mut().expect("built above");
        let mut source = graph.get("in").ok_or(ffmpeg_next::Error::FilterNotFound)?;
        source.source().add(decoded)?;
        Ok(())
    }

    /// Resamples whatever the decoder gives into stereo planar float cut
    /// into the AAC encoder's frame size.
    fn build_graph(&self, first: &frame::Audio) -> Result<filter::Graph, MediaError> {
        let mut graph = filter::Graph::new();
        let layout = if first.channels() == 1 {
            "mono"
        } else {
            "stereo"
        };
        let args = format!(
            "time_base=1/{OPUS_RATE}:sample_rate={}:sample_fmt={}:channel_layout={layout}",
            first.rate(),
            first.format().name()
        );
        let abuffer = filter::find("abuffer").ok_or(ffmpeg_next::Error::FilterNotFound)?;
        let sink = filter::find("abuffersink").ok_or(ffmpeg_next::Error::FilterNotFound)?;
        graph.add(&abuffer, "in", &args)?;
        graph.add(&sink, SINK, "")?;
        graph.output("in", 0)?.input(SINK, 0)?.parse(&format!(
            "aformat=sample_fmts=fltp:sample_rates={OPUS_RATE}:channel_layouts=stereo"
        ))?;
        graph.validate()?;
        graph
            .get(SINK)
            .ok_or(ffmpeg_next::Error::FilterNotFound)?
            .sink()
            .set_frame_size(self.frame_size);
        Ok(graph)
    }

    fn drain(&mut self, out: &mut Vec<(i64, Bytes)>) -> Result<(), MediaError> {
        let Some(graph) = self.graph.as_mut() else {
            return Ok(());
        };
        let mut sink = graph.get(SINK).ok_or(ffmpeg_next::Error::FilterNotFound)?;
        loop {
            let mut resampled = frame::Audio::empty();
            if sink.sink().frame(&mut resampled).is_err() {
                break;
            }
            self.encoder.send_frame(&resampled)?;
            let mut packet = Packet::empty();
            while self.encoder.receive_packet(&mut packet).is_ok() {
                if let Some(data) = packet.data() {
                    out.push((packet.pts().unwrap_or(0), Bytes::copy_from_slice(data)));
                }
            }
        }
        Ok(())
    }
}

/// The encoder's out-of-band configuration (for AAC, the AudioSpecificConfig).
fn extradata(encoder: &encoder::Encoder) -> &[u8] {
    // SAFETY: the context is open; libav owns `extradata` of `extradata_size`
    // bytes for the encoder's lifetime, which bounds the returned borrow.
    unsafe {
        let context = encoder.as_ptr();
        let data = (*context).extradata;
        let size = (*context).extradata_size;
        if data.is_null() || size <= 0 {
            &[]
        } else {
            std::slice::from_raw_parts(data, size as usize)
        }
    }
}

/// The entry point the fuzzer drives: an SDP offer read, and the same bytes
/// as H.264 access units split at `0xff` bytes. Never panics.
pub fn fuzz_inspect(data: &[u8]) {
    let _ = inspect_offer(&String::from_utf8_lossy(data));
    let mut packager = AvcPackager::new();
    for unit in data.split(|&b| b == 0xff) {
        let tags = packager.push(unit);
        if let Some(header) = tags.sequence_header {
            let _ = crate::media::flv::read_video(&header);
        }
        if let Some(frame) = tags.frame {
            let read = crate::media::flv::read_video(&frame);
            assert!(
                matches!(read, Ok(crate::media::flv::VideoTag::Frame { .. })),
                "a frame made must read back: {read:?}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::flv::{self, AudioTag, VideoTag};

    const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111 63\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\na=rtpmap:63 red/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 97 102\r\na=mid:1\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:97 rtx/90000\r\na=rtpmap:102 H264/90000\r\n";

    #[test]
    fn an_offer_with_h264_and_opus_is_taken() {
        assert_eq!(inspect_offer(CHROME_LIKE), Ok(OfferSummary { audio: true }));
    }

    #[test]
    fn vp8_only_video_is_refused_naming_what_was_offered_and_what_we_take() {
        let vp8 = CHROME_LIKE.replace("a=rtpmap:102 H264/90000\r\n", "a=rtpmap:98 VP9/90000\r\n");
        let problem = inspect_offer(&vp8).unwrap_err();
        assert_eq!(
            problem,
            OfferProblem::NoH264 {
                offered: "VP8, VP9".into()
            }
        );
        let message = problem.to_string();
        assert!(message.contains("H.264 video and Opus audio"), "{message}");
    }

    #[test]
    fn no_video_or_not_sdp_is_said_so() {
        let audio_only = CHROME_LIKE.split("m=video").next().unwrap().to_owned();
        assert_eq!(inspect_offer(&audio_only), Err(OfferProblem::NoVideo));
        assert_eq!(inspect_offer("hello"), Err(OfferProblem::NotSdp));
        assert_eq!(inspect_offer("v=0\r\nnonsense"), Err(OfferProblem::NotSdp));
        assert_eq!(inspect_offer(""), Err(OfferProblem::NotSdp));
        let pcmu = CHROME_LIKE.replace("opus/48000/2", "PCMU/8000");
        assert!(matches!(
            inspect_offer(&pcmu),
            Err(OfferProblem::NoOpus { .. })
        ));
    }

    // Constrained baseline 640x360 parameter sets.
    const SPS: &[u8] = &[
        0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80, 0xbf, 0xe5, 0xc0, 0x44, 0x00, 0x00, 0x03, 0x00,
        0x04, 0x00, 0x00, 0x03, 0x00, 0xf0, 0x3c, 0x58, 0xba, 0x80,
    ];
    const PPS: &[u8] = &[0x68, 0xce, 0x0f, 0xc8];

    fn annex_b(units: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in units {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(unit);
        }
        out
    }

    #[test]
    fn parameter_sets_become_a_sequence_header_and_frames_become_avcc() {
        let mut packager = AvcPackager::new();
        // A delta frame before any keyframe is dropped.
        let early = packager.push(&annex_b(&[&[0x41, 0x9a, 0x01]]));
        assert_eq!(early, AvcTags::default());
        let idr: &[u8] = &[0x65, 0x88, 0x84, 0x00, 0x33];
        let key = packager.push(&annex_b(&[&[0x09, 0xf0], SPS, PPS, idr]));
        assert!(key.keyframe);
        let header = key.sequence_header.expect("a sequence header");
        match flv::read_video(&header).unwrap() {
            VideoTag::Config(config) => {
                assert_eq!((config.width, config.height), (640, 360));
                assert_eq!(config.codec, "avc1.42c01e");
            }
            other => panic!("not a config: {other:?}"),
        }
        let frame = key.frame.expect("a frame");
        match flv::read_video(&frame).unwrap() {
            VideoTag::Frame { keyframe, data, .. } => {
                assert!(keyframe);
                // The AUD dropped; the parameter sets stay in band too, so a
                // decoder follows a browser that changes its resolution.
                let expected = [
                    &[0, 0, 0, SPS.len() as u8][..],
                    SPS,
                    &[0, 0, 0, 4],
                    PPS,
                    &[0, 0, 0, 5],
                    idr,
                ]
                .concat();
                assert_eq!(&data[..], &expected[..]);
            }
            other => panic!("not a frame: {other:?}"),
        }
        let delta = packager.push(&annex_b(&[&[0x41, 0x9a, 0x02]]));
        assert!(delta.sequence_header.is_none() && !delta.keyframe);
        assert_eq!(delta.frame.unwrap()[0], 0x27);
        // The same parameter sets again: no new header.
        let again = packager.push(&annex_b(&[SPS, PPS, idr]));
        assert!(again.sequence_header.is_none() && again.frame.is_some());
    }

    #[test]
    fn three_byte_start_codes_and_trailing_zeros_split_cleanly() {
        let stream = [0, 0, 1, 0x67, 1, 0, 0, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65, 3];
        assert_eq!(
            annex_b_units(&stream),
            vec![&[0x67, 1][..], &[0x68, 2][..], &[0x65, 3][..]]
        );
    }

    #[test]
    fn opus_is_made_into_aac_that_flv_reads() {
        crate::media::init_ffmpeg();
        // Opus to test with: encode a tone with libopus if this FFmpeg has it,
        // else with FFmpeg's own encoder.
        let Some(opus) = encoder::find_by_name("libopus").or_else(|| encoder::find_by_name("opus"))
        else {
            panic!("this FFmpeg has no Opus encoder to test with");
        };
        let mut context = codec::Context::new_with_codec(opus)
            .encoder()
            .audio()
            .unwrap();
        context.set_rate(OPUS_RATE);
        context.set_channel_layout(ChannelLayout::STEREO);
        let format = opus
            .audio()
            .ok()
            .and_then(|a| a.formats())
            .and_then(|mut f| f.next())
            .unwrap_or(format::Sample::I16(format::sample::Type::Packed));
        context.set_format(format);
        context.set_time_base((1, OPUS_RATE));
        context.set_bit_rate(64_000);
        context.set_compression(None);
        let mut options = ffmpeg_next::Dictionary::new();
        options.set("strict", "-2");
        let mut opus_encoder = context.open_with(options).unwrap();
        let samples = 960;
        let mut transcoder = OpusToAac::new().unwrap();
        match flv::read_audio(&aac_tag(true, &transcoder.asc())).unwrap() {
            AudioTag::Config(config) => {
                assert_eq!((config.sample_rate, config.channels), (48_000, 2));
            }
            other => panic!("not a config: {other:?}"),
        }
        let mut made = Vec::new();
        for i in 0..50i64 {
            let mut tone = frame::Audio::new(format, samples, ChannelLayout::STEREO);
            tone.set_rate(OPUS_RATE as u32);
            tone.set_pts(Some(i * samples as i64));
            for plane in 0..tone.planes() {
                tone.data_mut(plane).fill(0x10);
            }
            opus_encoder.send_frame(&tone).unwrap();
            let mut packet = Packet::empty();
            while opus_encoder.receive_packet(&mut packet).is_ok() {
                let pts = packet.pts().unwrap_or(0);
                made.extend(transcoder.push(packet.data().unwrap(), pts).unwrap());
            }
        }
        // About a second of Opus makes about 46 AAC frames of 1024 samples.
        assert!(made.len() >= 40, "{} AAC frames", made.len());
        assert!(made.windows(2).all(|w| w[0].0 < w[1].0), "times rise");
        assert!(matches!(
            flv::read_audio(&aac_tag(false, &made[0].1)).unwrap(),
            AudioTag::Frame(_)
        ));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..(seed % 97))
                .map(|i| (seed.wrapping_mul(2_654_435_761).wrapping_add(i * 40_503) >> 13) as u8)
                .collect();
            fuzz_inspect(&bytes);
        }
        fuzz_inspect(b"v=0\r\no=x\r\nm=video\r\na=rtpmap:\r\na=rtpmap:1\r\na=rtpmap:1 /\r\n");
        fuzz_inspect(&[0, 0, 1, 0x67, 0xff, 0, 0, 1, 0x68]);
    }
}
