//! The optional lower rendition (e.g. 480p) for residents on weak connections:
//! the source video decoded, scaled down and encoded again with libx264, by
//! the shared pipeline ([`crate::media::recode`]); what is here are the
//! rendition's rules (its size and bit rate, low latency) and the packets'
//! form (AVCC, with the avcC built from the encoder's headers).
//!
//! The rendition's keyframes are the source's: each source keyframe forces an
//! IDR at the same timestamp, so that segments of both renditions start at the
//! same instants and players can switch between them. Audio is not touched
//! here; both renditions carry the source's.

use bytes::Bytes;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, frame, Error, Packet, Rational};

use crate::media::recode::{self, FrameRules, Keyframes, Rate, RecodeError, VideoRecoder, X264};
use crate::media::{avc_codec_string, init_ffmpeg, MediaError, MediaPacket, Track, VideoConfig};

/// Transcodes one source video track into a smaller rendition.
///
/// Blocking and CPU-bound: run it on a dedicated thread (it is `Send`). The
/// encoder uses one thread, so that a two-core machine can run several.
pub struct Transcoder {
    recoder: VideoRecoder,
    config: VideoConfig,
}

impl Transcoder {
    /// A transcoder from `source` to a rendition `height` lines high (even,
    /// e.g. 480), as wide as the source's aspect ratio makes it (rounded to
    /// even), at about `bitrate_kbps` kbit/s. A source no taller than `height`
    /// keeps its size: upscaling would spend bits on nothing.
    pub fn new(source: &VideoConfig, height: u32, bitrate_kbps: u32) -> Result<Self, MediaError> {
        init_ffmpeg();
        let (width, height) = output_size(source, height)?;
        let decoder = recode::avc_decoder(&source.avcc, milliseconds())?;
        let x264 = X264 {
            width,
            height,
            // Timestamps stay in milliseconds, the source's time line.
            time_base: milliseconds(),
            frame_rate: None,
            rate: Rate::CappedKbps(bitrate_kbps),
            keyframes: Keyframes::AsSource,
            profile: None,
            low_latency: true,
            // The SPS and PPS out of band, to build the avcC from, and NAL
            // units in the AVCC form that packets need.
            global_header: true,
            length_prefixed: true,
            colorspace: None,
        };
        let recoder = VideoRecoder::open(decoder, scaling::Flags::BILINEAR, &x264)?;
        let avcc = avc_configuration(recoder.extradata())?;
        let codec = avc_codec_string(&avcc)
            .ok_or_else(|| MediaError::Malformed("libx264 made an unusable avcC".to_owned()))?;
        Ok(Self {
            recoder,
            config: VideoConfig {
                avcc,
                width,
                height,
                codec,
            },
        })
    }

    /// The rendition's configuration, known before the first packet: its
    /// avcC comes from the encoder's global headers.
    pub fn config(&self) -> &VideoConfig {
        &self.config
    }

    /// Feeds one source video packet and returns the rendition's packets now
    /// available (AVCC form, timestamps in the source's time line). There are
    /// no B-frames in the rendition, so their `pts` equals their `dts`.
    ///
    /// A packet the decoder rejects is skipped with a warning: one corrupt
    /// packet must not end the rendition.
    pub fn push(&mut self, packet: &MediaPacket) -> Result<Vec<MediaPacket>, MediaError> {
        if packet.track != Track::Video {
            return Err(MediaError::Unsupported(
                "the transcoder takes video packets only".to_owned(),
            ));
        }
        match self.recoder.send_packet(&av_packet(packet)) {
            Err(Error::InvalidData) => {
                tracing::warn!(
                    pts = packet.pts,
                    "transcoder: skipping a corrupt video packet"
                );
            }
            result => result?,
        }
        let mut encoded = Vec::new();
        self.recoder.recode(&mut EveryFrame, &mut encoded)?;
        Ok(encoded.iter().map(media_packet).collect())
    }

    /// Drains the decoder and the encoder at the end of the stream.
    pub fn finish(mut self) -> Result<Vec<MediaPacket>, MediaError> {
        let mut encoded = Vec::new();
        self.recoder.finish(&mut EveryFrame, &mut encoded)?;
        Ok(encoded.iter().map(media_packet).collect())
    }
}

/// The rendition's rule for frames: every one, at the time the source shows
/// it (milliseconds, both sides).
struct EveryFrame;

impl FrameRules for EveryFrame {
    type Error = RecodeError;

    fn place(&mut self, decoded: &frame::Video) -> Result<Option<i64>, RecodeError> {
        Ok(decoded.timestamp())
    }
}

/// The time base of [`MediaPacket`] timestamps.
fn milliseconds() -> Rational {
    Rational::new(1, 1000)
}

/// The rendition's size: `height` lines, or the source's if it has no more,
/// and the width that keeps the aspect ratio; both even, as 4:2:0 needs.
fn output_size(source: &VideoConfig, height: u32) -> Result<(u32, u32), MediaError> {
    let height = height.min(source.height) & !1;
    let (source_width, source_height) = (u64::from(source.width), u64::from(source.height));
    // The nearest even width: round(w * h / sh / 2) * 2.
    let width = (source_width * u64::from(height) + source_height) / (2 * source_height.max(1)) * 2;
    match u32::try_from(width) {
        Ok(width) if width > 0 && height > 0 => Ok((width, height)),
        _ => Err(MediaError::Malformed(format!(
            "cannot scale a {}x{} picture to {height} lines",
            source.width, source.height
        ))),
    }
}

/// The AVCDecoderConfigurationRecord (ISO 14496-15) for x264's global headers,
/// which are length-prefixed SPS and PPS NAL units.
fn avc_configuration(headers: &[u8]) -> Result<Bytes, MediaError> {
    let units = nal_units(headers)?;
    let of_type = |kind: u8| -> Vec<&[u8]> {
        let is_kind = |unit: &&[u8]| unit.first().is_some_and(|header| header & 0x1f == kind);
        units.iter().copied().filter(is_kind).collect()
    };
    let (sps, pps) = (of_type(7), of_type(8));
    let unusable = || MediaError::Malformed("libx264 made no usable SPS and PPS".to_owned());
    let Some(&[_, profile, compatibility, level, ..]) = sps.first().copied() else {
        return Err(unusable());
    };
    if sps.len() > 31 || pps.len() > 255 {
        return Err(unusable());
    }
    // Version 1, the SPS's profile and level, 4-byte NAL unit lengths, then
    // the SPS and the PPS, each counted and length-prefixed.
    let mut avcc = vec![
        1,
        profile,
        compatibility,
        level,
        0xff,
        0xe0 | sps.len() as u8,
    ];
    append_with_length(&mut avcc, &sps)?;
    avcc.push(pps.len() as u8);
    append_with_length(&mut avcc, &pps)?;
    if !matches!(profile, 66 | 77 | 88) {
        // High profiles also state the chroma format and bit depths: 4:2:0
        // and 8 bits, as the encoder is set up; no SPS extensions.
        avcc.extend([0xfd, 0xf8, 0xf8, 0]);
    }
    Ok(avcc.into())
}

fn append_with_length(avcc: &mut Vec<u8>, units: &[&[u8]]) -> Result<(), MediaError> {
    for unit in units {
        let length = u16::try_from(unit.len())
            .map_err(|_| MediaError::Malformed("an oversized parameter set".to_owned()))?;
        avcc.extend(length.to_be_bytes());
        avcc.extend_from_slice(unit);
    }
    Ok(())
}

/// Splits AVCC data (NAL units each after a 4-byte length) into NAL units.
fn nal_units(mut data: &[u8]) -> Result<Vec<&[u8]>, MediaError> {
    let mut units = Vec::new();
    while let Some((length, rest)) = data.split_first_chunk::<4>() {
        let length = u32::from_be_bytes(*length) as usize;
        if rest.len() < length {
            break;
        }
        let (unit, rest) = rest.split_at(length);
        units.push(unit);
        data = rest;
    }
    if !data.is_empty() {
        return Err(MediaError::Malformed("truncated NAL unit".to_owned()));
    }
    Ok(units)
}

fn av_packet(packet: &MediaPacket) -> Packet {
    let mut av_packet = Packet::copy(&packet.data);
    av_packet.set_pts(Some(packet.pts));
    av_packet.set_dts(Some(packet.dts));
    if packet.keyframe {
        av_packet.set_flags(codec::packet::Flags::KEY);
    }
    av_packet
}

/// x264 writes NAL units length-prefixed (annexb=0): AVCC form as it is.
fn media_packet(packet: &Packet) -> MediaPacket {
    let pts = packet.pts().or(packet.dts()).unwrap_or_default();
    MediaPacket {
        track: Track::Video,
        dts: packet.dts().unwrap_or(pts),
        pts,
        keyframe: packet.is_key(),
        data: Bytes::copy_from_slice(packet.data().unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::recode::extradata;
    use crate::media::Millis;
    use ffmpeg_next::{format, media, Rescale};
    use std::path::Path;
    use std::process::Command;

    /// A source clip made by the ffmpeg CLI (B-frames on, a keyframe every
    /// second), demuxed into a configuration and packets.
    fn source(dir: &Path, size: &str, seconds: u32) -> (VideoConfig, Vec<MediaPacket>) {
        let file = dir.join(format!("source-{size}.mp4"));
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi"])
            .args(["-i", &format!("testsrc2=size={size}:rate=25")])
            .args(["-t", &seconds.to_string(), "-c:v", "libx264"])
            .args(["-g", "25", "-bf", "2", "-pix_fmt", "yuv420p"])
            .arg(&file)
            .status()
            .expect("the ffmpeg CLI runs");
        assert!(status.success());
        demux(&file)
    }

    fn demux(file: &Path) -> (VideoConfig, Vec<MediaPacket>) {
        init_ffmpeg();
        let mut input = format::input(file).unwrap();
        let stream = input.streams().best(media::Type::Video).unwrap();
        let (index, time_base) = (stream.index(), stream.time_base());
        let context = codec::Context::from_parameters(stream.parameters()).unwrap();
        let avcc = Bytes::copy_from_slice(extradata(&context));
        let decoder = context.decoder().video().unwrap();
        let config = VideoConfig {
            codec: avc_codec_string(&avcc).unwrap(),
            avcc,
            width: decoder.width(),
            height: decoder.height(),
        };
        let to_millis = |ts: Option<i64>| ts.unwrap().rescale(time_base, milliseconds());
        let packets = input
            .packets()
            .filter(|(stream, _)| stream.index() == index)
            .map(|(_, packet)| MediaPacket {
                track: Track::Video,
                dts: to_millis(packet.dts()),
                pts: to_millis(packet.pts()),
                keyframe: packet.is_key(),
                data: Bytes::copy_from_slice(packet.data().unwrap()),
            })
            .collect();
        (config, packets)
    }

    fn transcode(mut transcoder: Transcoder, packets: &[MediaPacket]) -> Vec<MediaPacket> {
        let mut output = Vec::new();
        for packet in packets {
            output.extend(transcoder.push(packet).unwrap());
        }
        output.extend(transcoder.finish().unwrap());
        output
    }

    fn keyframe_times(packets: &[MediaPacket]) -> Vec<Millis> {
        let mut times: Vec<Millis> = packets
            .iter()
            .filter(|packet| packet.keyframe)
            .map(|packet| packet.pts)
            .collect();
        times.sort_unstable();
        times
    }

    fn nal_types(packet: &MediaPacket) -> Vec<u8> {
        let units = nal_units(&packet.data).unwrap();
        units.iter().map(|unit| unit[0] & 0x1f).collect()
    }

    /// Decodes `packets` as the player would, from `config` alone.
    fn decoded_sizes(config: &VideoConfig, packets: &[MediaPacket]) -> Vec<(u32, u32)> {
        let mut decoder = recode::avc_decoder(&config.avcc, milliseconds()).unwrap();
        let mut frame = frame::Video::empty();
        let mut sizes = Vec::new();
        for packet in packets {
            decoder.send_packet(&av_packet(packet)).unwrap();
            while decoder.receive_frame(&mut frame).is_ok() {
                sizes.push((frame.width(), frame.height()));
            }
        }
        decoder.send_eof().unwrap();
        while decoder.receive_frame(&mut frame).is_ok() {
            sizes.push((frame.width(), frame.height()));
        }
        sizes
    }

    #[test]
    fn transcodes_720p_to_480p_with_the_source_keyframes() {
        let dir = tempfile::tempdir().unwrap();
        let (source_config, input) = source(dir.path(), "1280x720", 4);
        assert_eq!(input.len(), 100);
        assert!(
            input.iter().any(|packet| packet.pts != packet.dts),
            "B-frames"
        );

        let transcoder = Transcoder::new(&source_config, 480, 800).unwrap();
        let config = transcoder.config().clone();
        let output = transcode(transcoder, &input);

        assert_eq!((config.width, config.height), (854, 480));
        assert_eq!(config.avcc[0], 1);
        assert!(config.codec.starts_with("avc1."), "{}", config.codec);
        assert_eq!(output.len(), input.len());
        assert_eq!(keyframe_times(&output), keyframe_times(&input));
        assert_eq!(keyframe_times(&output), [0, 1000, 2000, 3000]);
        for packet in &output {
            assert_eq!(packet.pts, packet.dts);
            assert_eq!(
                nal_types(packet).contains(&5),
                packet.keyframe,
                "IDR iff key"
            );
        }
        let mut input_times: Vec<Millis> = input.iter().map(|packet| packet.pts).collect();
        input_times.sort_unstable();
        let output_times: Vec<Millis> = output.iter().map(|packet| packet.pts).collect();
        assert_eq!(
            output_times, input_times,
            "one frame out per frame in, in order"
        );
        assert_eq!(decoded_sizes(&config, &output), vec![(854, 480); 100]);
        let bytes: usize = output.iter().map(|packet| packet.data.len()).sum();
        let kbps = bytes * 8 / 4 / 1000;
        assert!((400..1600).contains(&kbps), "{kbps} kbit/s");
    }

    #[test]
    fn a_source_no_taller_than_the_rendition_keeps_its_size() {
        let dir = tempfile::tempdir().unwrap();
        let (source_config, input) = source(dir.path(), "640x360", 1);

        let transcoder = Transcoder::new(&source_config, 480, 800).unwrap();
        let config = transcoder.config().clone();
        let output = transcode(transcoder, &input);

        assert_eq!((config.width, config.height), (640, 360));
        assert_eq!(decoded_sizes(&config, &output), vec![(640, 360); 25]);
    }

    #[test]
    fn a_corrupt_packet_is_skipped_and_the_stream_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let (source_config, mut input) = source(dir.path(), "640x360", 2);
        let garbage = MediaPacket {
            data: Bytes::from_static(&[0xde; 64]),
            keyframe: false,
            ..input[30].clone()
        };
        input.insert(30, garbage);

        let output = transcode(Transcoder::new(&source_config, 240, 300).unwrap(), &input);

        assert_eq!(output.len(), 50);
        assert_eq!(keyframe_times(&output), [0, 1000]);
    }

    #[test]
    fn sizes_keep_the_aspect_ratio_rounded_to_even() {
        let size = |width, height, target| {
            let source = VideoConfig {
                avcc: Bytes::new(),
                width,
                height,
                codec: String::new(),
            };
            output_size(&source, target).ok()
        };
        assert_eq!(size(1280, 720, 480), Some((854, 480)));
        assert_eq!(size(1920, 1080, 480), Some((854, 480)));
        assert_eq!(size(1080, 1920, 480), Some((270, 480)));
        assert_eq!(size(640, 360, 480), Some((640, 360)));
        assert_eq!(size(0, 0, 480), None);
    }

    #[test]
    fn a_transcoder_can_move_to_its_own_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Transcoder>();
    }
}
