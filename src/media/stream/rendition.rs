//! The optional lower rendition (e.g. 480p) for residents on weak connections:
//! the source video decoded, scaled down and encoded again with libx264.
//!
//! The rendition's keyframes are the source's: each source keyframe forces an
//! IDR at the same timestamp, so that segments of both renditions start at the
//! same instants and players can switch between them. Audio is not touched
//! here; both renditions carry the source's.

use std::collections::VecDeque;

use bytes::Bytes;
use ffmpeg_next::error::{EAGAIN, ENOMEM};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::picture::Type as PictureType;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, decoder, encoder, ffi, frame, Dictionary, Error, Packet, Rational};

use crate::media::scaler::FrameScaler;
use crate::media::{avc_codec_string, init_ffmpeg, MediaError, MediaPacket, Millis, Track, VideoConfig};

/// Transcodes one source video track into a smaller rendition.
///
/// Blocking and CPU-bound: run it on a dedicated thread (it is `Send`). The
/// encoder uses one thread, so that a two-core machine can run several.
pub struct Transcoder {
    decoder: decoder::Video,
    scaler: FrameScaler,
    encoder: encoder::Encoder,
    config: VideoConfig,
    /// Presentation times of the source keyframes not yet decoded, in order.
    keyframes: VecDeque<Millis>,
}

impl Transcoder {
    /// A transcoder from `source` to a rendition `height` lines high (even,
    /// e.g. 480), as wide as the source's aspect ratio makes it (rounded to
    /// even), at about `bitrate_kbps` kbit/s. A source no taller than `height`
    /// keeps its size: upscaling would spend bits on nothing.
    pub fn new(source: &VideoConfig, height: u32, bitrate_kbps: u32) -> Result<Self, MediaError> {
        init_ffmpeg();
        let (width, height) = output_size(source, height)?;
        let decoder = open_decoder(source)?;
        let encoder = open_encoder(width, height, bitrate_kbps)?;
        let avcc = avc_configuration(extradata(&encoder))?;
        let codec = avc_codec_string(&avcc)
            .ok_or_else(|| MediaError::Malformed("libx264 made an unusable avcC".to_owned()))?;
        Ok(Self {
            decoder,
            scaler: FrameScaler::new(Pixel::YUV420P, width, height, scaling::Flags::BILINEAR),
            encoder,
            config: VideoConfig {
                avcc,
                width,
                height,
                codec,
            },
            keyframes: VecDeque::new(),
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
        if packet.keyframe {
            self.keyframes.push_back(packet.pts);
        }
        match self.decoder.send_packet(&av_packet(packet)) {
            Err(Error::InvalidData) => {
                tracing::warn!(
                    pts = packet.pts,
                    "transcoder: skipping a corrupt video packet"
                );
            }
            result => result?,
        }
        let mut packets = Vec::new();
        self.encode_decoded(&mut packets)?;
        Ok(packets)
    }

    /// Drains the decoder and the encoder at the end of the stream.
    pub fn finish(mut self) -> Result<Vec<MediaPacket>, MediaError> {
        let mut packets = Vec::new();
        self.decoder.send_eof()?;
        self.encode_decoded(&mut packets)?;
        self.encoder.send_eof()?;
        self.receive_encoded(&mut packets)?;
        Ok(packets)
    }

    /// Scales and encodes every frame the decoder has ready, adding the
    /// encoded packets to `packets`.
    fn encode_decoded(&mut self, packets: &mut Vec<MediaPacket>) -> Result<(), MediaError> {
        let mut decoded = frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => self.encode(&decoded, packets)?,
                Err(Error::Other { errno: EAGAIN } | Error::Eof) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
    }

    fn encode(
        &mut self,
        decoded: &frame::Video,
        packets: &mut Vec<MediaPacket>,
    ) -> Result<(), MediaError> {
        let mut scaled = frame::Video::empty();
        self.scaler.for_frame(decoded)?.run(decoded, &mut scaled)?;
        let pts = decoded.timestamp();
        scaled.set_pts(pts);
        // With forced-idr, an I picture type makes libx264 start an IDR here;
        // None lets it choose, and with an infinite GOP it never picks one.
        let keyframe = pts.is_some_and(|pts| self.is_source_keyframe(pts));
        scaled.set_kind(if keyframe {
            PictureType::I
        } else {
            PictureType::None
        });
        self.encoder.send_frame(&scaled)?;
        // Taken at once: libx264 takes no new frame while a packet waits.
        self.receive_encoded(packets)
    }

    /// Whether the source had a keyframe at `pts`. Frames leave the decoder in
    /// presentation order, so keyframes before `pts` never decoded (corrupt
    /// packets) and are forgotten.
    fn is_source_keyframe(&mut self, pts: Millis) -> bool {
        while self
            .keyframes
            .front()
            .is_some_and(|&keyframe| keyframe < pts)
        {
            self.keyframes.pop_front();
        }
        let keyframe = self.keyframes.front() == Some(&pts);
        if keyframe {
            self.keyframes.pop_front();
        }
        keyframe
    }

    fn receive_encoded(&mut self, packets: &mut Vec<MediaPacket>) -> Result<(), MediaError> {
        let mut packet = Packet::empty();
        loop {
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => packets.push(media_packet(&packet)),
                Err(Error::Other { errno: EAGAIN } | Error::Eof) => return Ok(()),
                Err(err) => return Err(err.into()),
            }
        }
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

/// An H.264 decoder that takes AVCC packets: given the avcC as its
/// extradata, libavcodec reads NAL units by their length prefixes. It uses one
/// thread (libavcodec's default), so frames come out without added delay.
fn open_decoder(source: &VideoConfig) -> Result<decoder::Video, MediaError> {
    let codec = decoder::find(codec::Id::H264)
        .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no H.264 decoder".to_owned()))?;
    let mut context = codec::Context::new_with_codec(codec);
    set_extradata(&mut context, &source.avcc)?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(milliseconds());
    Ok(decoder.video()?)
}

/// x264's own settings: keyframes only when forced; NAL units length-prefixed
/// (not Annex B), the AVCC form that packets need and the avcC is built from;
/// and rate control by timestamps (`force-cfr=0`), since zerolatency would
/// otherwise take each tick of the millisecond time base for a frame, and
/// starve frames of bits.
const X264_PARAMS: &str = "keyint=infinite:scenecut=0:annexb=0:force-cfr=0";

/// libx264 for a rendition whose keyframes are forced, frame by frame, where
/// the source has them. Timestamps stay in milliseconds, the source's time line.
fn open_encoder(
    width: u32,
    height: u32,
    bitrate_kbps: u32,
) -> Result<encoder::Encoder, MediaError> {
    let codec = encoder::find_by_name("libx264")
        .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no libx264 encoder".to_owned()))?;
    let mut video = codec::Context::new_with_codec(codec).encoder().video()?;
    video.set_width(width);
    video.set_height(height);
    video.set_format(Pixel::YUV420P);
    video.set_time_base(milliseconds());
    video.set_max_b_frames(0);
    // The SPS and PPS out of band, as extradata, to build the avcC from.
    video.set_flags(codec::Flags::GLOBAL_HEADER);
    let bit_rate = bitrate_kbps as usize * 1000;
    video.set_bit_rate(bit_rate);
    // Peaks are capped too, over two seconds of buffer: weak connections
    // suffer from peaks more than from the average.
    video.set_max_bit_rate(bit_rate);
    let buffer_size = (2 * bit_rate).to_string();
    let options = Dictionary::from_iter([
        ("preset", "veryfast"),
        // No B-frames and no lookahead: each frame out as soon as it is in.
        ("tune", "zerolatency"),
        ("threads", "1"),
        ("bufsize", &buffer_size),
        // A forced keyframe must be an IDR, where a segment can start, not
        // merely an I-frame.
        ("forced-idr", "1"),
        ("x264-params", X264_PARAMS),
    ]);
    // The API common to all encoders is all the transcoder needs.
    let encoder::video::Encoder(encoder::video::Video(common)) = video.open_with(options)?;
    Ok(common)
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

/// The codec's out-of-band configuration, which ffmpeg-next has no getter for.
fn extradata(context: &codec::Context) -> &[u8] {
    // SAFETY: libav keeps `extradata` null or valid for `extradata_size`
    // bytes while the context lives, and the slice borrows the context.
    unsafe {
        let context = context.as_ptr();
        match usize::try_from((*context).extradata_size) {
            Ok(size) if !(*context).extradata.is_null() => {
                std::slice::from_raw_parts((*context).extradata, size)
            }
            _ => &[],
        }
    }
}

/// Gives a new codec context `data` as its out-of-band configuration, which
/// ffmpeg-next has no setter for.
fn set_extradata(context: &mut codec::Context, data: &[u8]) -> Result<(), MediaError> {
    let size = i32::try_from(data.len())
        .map_err(|_| MediaError::Malformed("an oversized avcC".to_owned()))?;
    let padded = data.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
    // SAFETY: the buffer comes from av_mallocz with the zeroed padding libav
    // may read past the end, so the context can own it and free it with
    // itself; a new context has no extradata to leak.
    unsafe {
        let buffer = ffi::av_mallocz(padded).cast::<u8>();
        if buffer.is_null() {
            return Err(Error::Other { errno: ENOMEM }.into());
        }
        std::ptr::copy_nonoverlapping(data.as_ptr(), buffer, data.len());
        let context = context.as_mut_ptr();
        (*context).extradata = buffer;
        (*context).extradata_size = size;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let mut decoder = open_decoder(config).unwrap();
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
