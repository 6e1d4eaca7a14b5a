//! The one video re-encoding pipeline: decode → scale → encode with libx264,
//! shared by the live lower rendition ([`super::rendition`]) and video files
//! made for browsers ([`super::file::video`]).
//!
//! It owns what every re-encode does the same way: opening the decoder,
//! setting up libx264 from an [`X264`] description (rate control, keyframes,
//! latency), the send/receive loops between decoder, [`FrameScaler`] and
//! encoder, keyframes placed where the source had them when asked, and the
//! flush at the end. What stays with each user is its rules: the size and
//! rate it wants, when each frame is shown or whether it is left out
//! ([`FrameRules`]), and what it does with the packets that come out.
//!
//! Blocking and CPU-bound: run it on a dedicated thread (a [`VideoRecoder`]
//! is `Send`).

use std::collections::VecDeque;

use ffmpeg_next::error::{EAGAIN, ENOMEM};
use ffmpeg_next::format::Pixel;
use ffmpeg_next::picture::Type as PictureType;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, color, decoder, encoder, ffi, format, frame};
use ffmpeg_next::{Dictionary, Error, Packet, Rational};
use tracing::debug;

use super::file::upload::MediaUploadError;
use super::scaler::FrameScaler;
use super::MediaError;

/// libx264's preset for everything we encode: fast enough for a two-core
/// machine to run a rendition live and still serve.
const PRESET: &str = "veryfast";

/// How the encoder spends bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rate {
    /// Constant quality (x264's CRF, 0–51, lower is better): files, whose
    /// size matters less than their look.
    Crf(u8),
    /// About this many kbit/s, with peaks capped to it over two seconds of
    /// buffer: weak connections suffer from peaks more than from the average.
    CappedKbps(u32),
}

/// Where the encoder puts keyframes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyframes {
    /// At most this many frames apart (x264 may add more at scene cuts).
    Every(u32),
    /// Exactly where the source had them, as IDR pictures, and nowhere else:
    /// renditions of one stream then have segments starting at the same
    /// instants.
    AsSource,
}

/// What libx264 is asked to make.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct X264 {
    pub width: u32,
    pub height: u32,
    /// The time base of the frames' timestamps given to the encoder, and of
    /// the packets that come out.
    pub time_base: Rational,
    /// The nominal frame rate, when the output has one.
    pub frame_rate: Option<Rational>,
    pub rate: Rate,
    pub keyframes: Keyframes,
    /// The H.264 profile (`high`…), or x264's choice.
    pub profile: Option<&'static str>,
    /// Each frame out as soon as it is in: no B-frames, no lookahead
    /// (`tune=zerolatency`), one thread so that a two-core machine can run
    /// several encoders.
    pub low_latency: bool,
    /// The SPS and PPS out of band, as the encoder's extradata ([`VideoRecoder::extradata`]),
    /// as MP4 wants them.
    pub global_header: bool,
    /// NAL units prefixed by their 4-byte length (AVCC form) rather than by
    /// start codes (Annex B).
    pub length_prefixed: bool,
    /// The colour matrix the frames are described with (scaling keeps the
    /// source's).
    pub colorspace: Option<color::Space>,
}

/// A user's rules for the decoded frames.
pub trait FrameRules {
    type Error: From<RecodeError>;

    /// When `decoded` is shown in the output, in the encoder's time base, or
    /// `None` to leave it out.
    fn place(&mut self, decoded: &frame::Video) -> Result<Option<i64>, Self::Error>;
}

/// Why re-encoding failed, and at which step.
#[derive(Debug, thiserror::Error)]
pub enum RecodeError {
    #[error("this FFmpeg has no libx264 encoder")]
    NoX264,
    #[error("{step}: {error}")]
    Failed {
        step: &'static str,
        error: ffmpeg_next::Error,
    },
}

/// The libav error of `step`.
fn failed(step: &'static str) -> impl Fn(Error) -> RecodeError {
    move |error| RecodeError::Failed { step, error }
}

impl From<RecodeError> for MediaError {
    fn from(error: RecodeError) -> Self {
        match error {
            RecodeError::NoX264 => MediaError::Unsupported(error.to_string()),
            RecodeError::Failed { error, .. } => MediaError::Ffmpeg(error),
        }
    }
}

impl From<RecodeError> for MediaUploadError {
    fn from(error: RecodeError) -> Self {
        MediaUploadError::Transcode(error.to_string())
    }
}

/// Decodes one video stream, scales its frames and encodes them again.
pub struct VideoRecoder {
    decoder: decoder::Video,
    scaler: FrameScaler,
    /// The API common to all encoders is all the pipeline needs.
    encoder: encoder::Encoder,
    /// With [`Keyframes::AsSource`], presentation times (in the decoder's
    /// packet time base) of the source keyframes not yet decoded, in order.
    source_keyframes: Option<VecDeque<i64>>,
}

impl VideoRecoder {
    /// A pipeline from `decoder` (see [`avc_decoder`] and [`stream_decoder`])
    /// through a scaler using `scaling` (bilinear where speed counts, bicubic
    /// where the picture does) to libx264 set up as `x264` says.
    pub fn open(
        decoder: decoder::Video,
        scaling: scaling::Flags,
        x264: &X264,
    ) -> Result<Self, RecodeError> {
        Ok(Self {
            decoder,
            scaler: FrameScaler::new(Pixel::YUV420P, x264.width, x264.height, scaling),
            encoder: open_x264(x264)?,
            source_keyframes: (x264.keyframes == Keyframes::AsSource).then(VecDeque::new),
        })
    }

    /// The encoder, e.g. for a muxer's track parameters.
    pub fn encoder(&self) -> &encoder::Encoder {
        &self.encoder
    }

    /// The encoder's out-of-band configuration: with
    /// [`X264::global_header`], its SPS and PPS.
    pub fn extradata(&self) -> &[u8] {
        extradata(&self.encoder)
    }

    /// Gives the decoder one source packet. A packet it refuses is the
    /// caller's to judge (skip it or stop); nothing is decoded or encoded
    /// until [`Self::recode`].
    pub fn send_packet(&mut self, packet: &Packet) -> Result<(), Error> {
        if let (Some(keyframes), true, Some(pts)) =
            (&mut self.source_keyframes, packet.is_key(), packet.pts())
        {
            keyframes.push_back(pts);
        }
        self.decoder.send_packet(packet)
    }

    /// Scales and encodes every frame the decoder has ready that `rules`
    /// place, adding the encoded packets (in the encoder's time base) to
    /// `encoded`.
    ///
    /// A frame the decoder cannot give is passed over: one damaged frame must
    /// not end the work.
    pub fn recode<R: FrameRules>(
        &mut self,
        rules: &mut R,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), R::Error> {
        let mut decoded = frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                Err(Error::Other { errno: EAGAIN } | Error::Eof) => return Ok(()),
                Err(error) => {
                    debug!(%error, "the decoder gave no frame; going on with the next packet");
                    return Ok(());
                }
            }
            if let Some(pts) = rules.place(&decoded)? {
                self.encode(&decoded, pts, encoded)?;
            }
        }
    }

    /// Drains the decoder and the encoder at the end of the source.
    pub fn finish<R: FrameRules>(
        &mut self,
        rules: &mut R,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), R::Error> {
        // The decoder may already be drained after an error.
        let _ = self.decoder.send_eof();
        self.recode(rules, encoded)?;
        self.encoder
            .send_eof()
            .map_err(failed("finishing the video"))?;
        Ok(self.receive_encoded(encoded)?)
    }

    fn encode(
        &mut self,
        decoded: &frame::Video,
        pts: i64,
        encoded: &mut Vec<Packet>,
    ) -> Result<(), RecodeError> {
        let mut scaled = frame::Video::empty();
        self.scaler
            .for_frame(decoded)
            .map_err(failed("setting up the scaler"))?
            .run(decoded, &mut scaled)
            .map_err(failed("scaling"))?;
        scaled.set_pts(Some(pts));
        // With forced-idr, an I picture type makes libx264 start an IDR here;
        // None lets it choose, and with an infinite GOP it never picks one.
        let keyframe = decoded
            .timestamp()
            .is_some_and(|source| self.is_source_keyframe(source));
        scaled.set_kind(if keyframe {
            PictureType::I
        } else {
            PictureType::None
        });
        self.encoder
            .send_frame(&scaled)
            .map_err(failed("encoding video"))?;
        // Taken at once: libx264 takes no new frame while a packet waits.
        self.receive_encoded(encoded)
    }

    /// Whether the source had a keyframe at `pts` (always false unless
    /// keyframes follow the source). Frames leave the decoder in presentation
    /// order, so keyframes before `pts` never decoded (corrupt packets) and
    /// are forgotten.
    fn is_source_keyframe(&mut self, pts: i64) -> bool {
        let Some(keyframes) = &mut self.source_keyframes else {
            return false;
        };
        while keyframes.front().is_some_and(|&keyframe| keyframe < pts) {
            keyframes.pop_front();
        }
        let keyframe = keyframes.front() == Some(&pts);
        if keyframe {
            keyframes.pop_front();
        }
        keyframe
    }

    fn receive_encoded(&mut self, encoded: &mut Vec<Packet>) -> Result<(), RecodeError> {
        loop {
            let mut packet = Packet::empty();
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => encoded.push(packet),
                Err(Error::Other { errno: EAGAIN } | Error::Eof) => return Ok(()),
                Err(error) => return Err(failed("encoding")(error)),
            }
        }
    }
}

/// libx264 set up as `x264` says.
fn open_x264(x264: &X264) -> Result<encoder::Encoder, RecodeError> {
    let codec = encoder::find_by_name("libx264").ok_or(RecodeError::NoX264)?;
    let mut video = codec::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(failed("setting up libx264"))?;
    video.set_width(x264.width);
    video.set_height(x264.height);
    video.set_format(Pixel::YUV420P);
    video.set_time_base(x264.time_base);
    video.set_frame_rate(x264.frame_rate);
    if let Some(colorspace) = x264.colorspace {
        video.set_colorspace(colorspace);
    }
    if x264.global_header {
        video.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut options = Dictionary::new();
    options.set("preset", PRESET);
    // x264's own settings, joined with ':' into `x264-params`.
    let mut params = Vec::new();
    match x264.rate {
        Rate::Crf(crf) => options.set("crf", &crf.to_string()),
        Rate::CappedKbps(kbps) => {
            let bit_rate = kbps as usize * 1000;
            video.set_bit_rate(bit_rate);
            video.set_max_bit_rate(bit_rate);
            options.set("bufsize", &(2 * bit_rate).to_string());
        }
    }
    match x264.keyframes {
        Keyframes::Every(frames) => video.set_gop(frames.max(1)),
        Keyframes::AsSource => {
            // Keyframes only when forced, and a forced keyframe is an IDR,
            // where a segment can start, not merely an I-frame.
            options.set("forced-idr", "1");
            params.extend(["keyint=infinite", "scenecut=0"]);
        }
    }
    if let Some(profile) = x264.profile {
        options.set("profile", profile);
    }
    if x264.low_latency {
        video.set_max_b_frames(0);
        options.set("tune", "zerolatency");
        options.set("threads", "1");
    }
    if x264.length_prefixed {
        params.push("annexb=0");
    }
    if x264.low_latency {
        // Rate control by timestamps: zerolatency would otherwise take each
        // tick of the time base for a frame, and starve frames of bits.
        params.push("force-cfr=0");
    }
    if !params.is_empty() {
        options.set("x264-params", &params.join(":"));
    }
    let encoder::video::Encoder(encoder::video::Video(common)) = video
        .open_with(options)
        .map_err(failed("opening libx264"))?;
    Ok(common)
}

/// An H.264 decoder for packets in AVCC form, described by `avcc` (the
/// AVCDecoderConfigurationRecord, given as its extradata, from which
/// libavcodec reads NAL units by their length prefixes), with timestamps in
/// `time_base`. It uses one thread (libavcodec's default), so frames come out
/// without added delay.
pub fn avc_decoder(avcc: &[u8], time_base: Rational) -> Result<decoder::Video, MediaError> {
    let codec = decoder::find(codec::Id::H264)
        .ok_or_else(|| MediaError::Unsupported("this FFmpeg has no H.264 decoder".to_owned()))?;
    let mut context = codec::Context::new_with_codec(codec);
    set_extradata(&mut context, avcc)?;
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(time_base);
    Ok(decoder.video()?)
}

/// A decoder for a demuxed video stream, using `threads`
/// (`threading::Config::count(1)` to only look at the stream). Fails with
/// [`Error::DecoderNotFound`] for a codec this FFmpeg cannot decode.
pub fn stream_decoder(
    stream: &format::stream::Stream,
    threads: codec::threading::Config,
) -> Result<decoder::Video, Error> {
    let mut context = codec::Context::from_parameters(stream.parameters())?;
    context.set_threading(threads);
    let mut decoder = context.decoder();
    decoder.set_packet_time_base(stream.time_base());
    decoder.video()
}

/// A codec context's out-of-band configuration, which ffmpeg-next has no
/// getter for.
pub fn extradata(context: &codec::Context) -> &[u8] {
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

    #[test]
    fn a_recoder_can_move_to_its_own_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<VideoRecoder>();
    }

    #[test]
    fn failures_name_their_step_for_staff_and_keep_the_libav_error_for_logs() {
        let error = || failed("scaling")(Error::InvalidData);
        assert!(matches!(
            MediaUploadError::from(error()),
            MediaUploadError::Transcode(message) if message.starts_with("scaling: ")
        ));
        assert!(matches!(
            MediaError::from(error()),
            MediaError::Ffmpeg(Error::InvalidData)
        ));
        assert!(matches!(
            MediaError::from(RecodeError::NoX264),
            MediaError::Unsupported(_)
        ));
    }
}
