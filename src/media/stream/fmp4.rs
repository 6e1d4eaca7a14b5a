//! Fragmented MP4 (CMAF-style) output over FFmpeg's mp4 muxer.
//!
//! A [`Fragmenter`] turns the packets of one rendition into an init segment
//! (`ftyp`+`moov`, written once) and a sequence of fragments (`moof`+`mdat`),
//! each cut where the caller asks — the HLS layer cuts at keyframes and at part
//! boundaries.
//!
//! Timestamps in the output are the caller's: a sample with a decode time of
//! `t` ms carries `t` ms in its `tfdt`, so renditions fed from the same packets
//! line up exactly (players rely on that to switch between them).

use std::ffi::{c_int, c_void};
use std::ptr;

use bytes::Bytes;
use ffmpeg_next::codec::packet::{self, Packet};
use ffmpeg_next::{ffi, Dictionary, Rational};

use crate::media::{
    init_ffmpeg, AudioConfig, MediaError, MediaPacket, Millis, Track, TrackConfig, VideoConfig,
};

/// The video clock: 90 kHz, the MPEG convention, exact for whole milliseconds.
const VIDEO_CLOCK: i64 = 90_000;

/// Samples in one AAC frame.
const AAC_FRAME: i64 = 1024;

/// How far (in AAC frames) an audio timestamp may stray from the exact cadence
/// and still be snapped onto it. RTMP rounds timestamps to whole milliseconds,
/// which would make every audio sample a slightly different length; snapping
/// keeps them all 1024 samples long. A larger gap means the encoder really
/// skipped or repeated audio, and the track is re-anchored on the new time.
const AUDIO_SNAP_FRAMES: i64 = 2;

/// The muxer settings: fragments only when asked (`frag_custom`), an init
/// segment without samples (`empty_moov`), offsets relative to each `moof` as
/// MSE and CMAF want (`default_base_moof`, which makes `omit_tfhd_offset`
/// redundant), and `tfdt` equal to the packets' own decode times
/// (`frag_discont` without edit lists and without FFmpeg's shift to zero).
const MUXER_OPTIONS: [(&str, &str); 3] = [
    (
        "movflags",
        "+frag_custom+empty_moov+default_base_moof+frag_discont",
    ),
    ("use_editlist", "0"),
    ("avoid_negative_ts", "disabled"),
];

/// One `moof`+`mdat` pair: a playable unit of an HLS part or segment.
#[derive(Debug, Clone)]
pub struct Fragment {
    /// The `moof` and `mdat` boxes, ready to append after the init segment.
    pub data: Bytes,
    /// Decode time of the first video sample, or of the first audio sample if
    /// the fragment has no video.
    pub start: Millis,
    /// From `start` to the end of the last sample of the same track.
    pub duration: Millis,
    /// Whether a player can start here: the first video sample is a keyframe,
    /// or the fragment has no video.
    pub independent: bool,
}

/// Packs the packets of one rendition into fragmented MP4.
///
/// Packets go in through [`push`](Self::push) in decode order, tracks
/// interleaved. Since MP4 stores each sample's duration, and a live packet's
/// duration is only known when the next one of its track arrives, the latest
/// packet of each track is held back until then. [`cut`](Self::cut) therefore
/// emits everything but the held-back packets: calling it right after pushing
/// a keyframe makes that keyframe lead the next fragment.
///
/// Packets of a track the configuration lacks are ignored, so one packet
/// stream can feed both a full and an audio-only rendition. The Fragmenter
/// muxes what it gets: dropping video before the first keyframe is the
/// caller's business.
pub struct Fragmenter {
    muxer: Muxer,
    init: Bytes,
    video: Option<Lane>,
    audio: Option<Lane>,
    /// What the released but not yet cut samples cover.
    pending: Option<Span>,
}

impl Fragmenter {
    /// Opens the muxer for the tracks of `config` (video first) and writes the
    /// init segment.
    pub fn new(config: &TrackConfig) -> Result<Self, MediaError> {
        let mut streams = Vec::new();
        if let Some(video) = &config.video {
            validate_video(video)?;
            streams.push(StreamSpec::Video(video));
        }
        if let Some(audio) = &config.audio {
            validate_audio(audio)?;
            streams.push(StreamSpec::Audio(audio));
        }
        if streams.is_empty() {
            return Err(MediaError::Malformed("a rendition without tracks".into()));
        }
        let (muxer, init) = Muxer::open(&streams)?;
        let lane = |track, stream, clock| Lane::new(track, stream, muxer.time_base(stream), clock);
        let video = (config.video.as_ref()).map(|_| lane(Track::Video, 0, Clock::video()));
        let audio_stream = usize::from(video.is_some());
        let audio = (config.audio.as_ref())
            .map(|a| lane(Track::Audio, audio_stream, Clock::audio(a.sample_rate)));
        Ok(Self {
            muxer,
            init,
            video,
            audio,
            pending: None,
        })
    }

    /// The `ftyp` and `moov` boxes that must precede any fragment.
    pub fn init_segment(&self) -> &Bytes {
        &self.init
    }

    /// Takes one packet, releasing the previous packet of the same track into
    /// the current fragment.
    pub fn push(&mut self, packet: &MediaPacket) -> Result<(), MediaError> {
        if packet.dts < 0 {
            return Err(MediaError::Malformed(format!(
                "negative decode time {} ms",
                packet.dts
            )));
        }
        let lane = match packet.track {
            Track::Video => self.video.as_mut(),
            Track::Audio => self.audio.as_mut(),
        };
        // An empty packet has nothing to mux (FFmpeg would drop it anyway).
        let Some(lane) = lane.filter(|_| !packet.data.is_empty()) else {
            return Ok(());
        };
        match lane.push(packet) {
            Some(released) => release(&mut self.muxer, &mut self.pending, lane, released),
            None => Ok(()),
        }
    }

    /// Emits everything released since the last cut as one fragment, or
    /// `None` if nothing was.
    pub fn cut(&mut self) -> Result<Option<Fragment>, MediaError> {
        let Some(span) = self.pending.take() else {
            return Ok(None);
        };
        let data = self.muxer.flush_fragment()?;
        Ok(Some(Fragment {
            data,
            start: span.start,
            duration: span.end - span.start,
            independent: span.independent,
        }))
    }

    /// Releases the held-back packets (each lasting as long as its
    /// predecessor) and emits the last fragment.
    pub fn finish(mut self) -> Result<Option<Fragment>, MediaError> {
        for lane in [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
        {
            if let Some(released) = lane.drain() {
                release(&mut self.muxer, &mut self.pending, lane, released)?;
            }
        }
        self.cut()
    }
}

/// Muxes a sample whose duration has become known into the pending fragment.
fn release(
    muxer: &mut Muxer,
    pending: &mut Option<Span>,
    lane: &Lane,
    released: Released,
) -> Result<(), MediaError> {
    muxer.write(&mut lane.packet(&released))?;
    Span::note(pending, lane.track, &released);
    Ok(())
}

/// The time covered by the samples of a fragment in the making, measured on
/// its leading track: video if it has any, else audio.
struct Span {
    video: bool,
    start: Millis,
    end: Millis,
    independent: bool,
}

impl Span {
    fn note(span: &mut Option<Span>, track: Track, released: &Released) {
        let video = track == Track::Video;
        match span {
            Some(span) if span.video == video => span.end = span.end.max(released.end),
            Some(span) if span.video => {}
            _ => {
                *span = Some(Span {
                    video,
                    start: released.sample.at,
                    end: released.end,
                    independent: released.sample.keyframe,
                })
            }
        }
    }
}

/// One packet with its timestamps in the track's clock.
struct Sample {
    /// Decode time in ticks of the track's clock.
    dts: i64,
    /// Presentation time in ticks, never before `dts`.
    pts: i64,
    /// The caller's decode time, for [`Fragment::start`].
    at: Millis,
    keyframe: bool,
    data: Bytes,
}

/// A sample whose duration has become known.
struct Released {
    sample: Sample,
    /// In ticks, at least one.
    duration: i64,
    /// The caller's time at which the sample ends.
    end: Millis,
}

/// One track: its clock and its held-back packet.
struct Lane {
    track: Track,
    /// The muxer's stream index.
    stream: usize,
    /// The muxer's time base for the stream (FFmpeg keeps ours, but may not).
    muxer_time_base: Rational,
    clock: Clock,
    held: Option<Sample>,
    /// Duration of the last released sample, lent to the final one.
    last_duration: Option<i64>,
}

impl Lane {
    fn new(track: Track, stream: usize, muxer_time_base: Rational, clock: Clock) -> Self {
        Self {
            track,
            stream,
            muxer_time_base,
            clock,
            held: None,
            last_duration: None,
        }
    }

    /// Holds `packet` back and releases the one it replaces.
    fn push(&mut self, packet: &MediaPacket) -> Option<Released> {
        let floor = self.held.as_ref().map(|held| held.dts + 1);
        let dts = self.clock.decode_time(packet.dts, floor);
        let composition = self.clock.ticks(packet.pts - packet.dts).max(0);
        let sample = Sample {
            dts,
            pts: dts + composition,
            at: packet.dts,
            keyframe: packet.keyframe,
            data: packet.data.clone(),
        };
        let previous = self.held.replace(sample)?;
        let duration = dts - previous.dts;
        self.last_duration = Some(duration);
        Some(Released {
            end: packet.dts.max(previous.at + 1),
            sample: previous,
            duration,
        })
    }

    /// Releases the held-back packet with its predecessor's duration.
    fn drain(&mut self) -> Option<Released> {
        let sample = self.held.take()?;
        let duration = self
            .last_duration
            .unwrap_or_else(|| self.clock.default_duration());
        Some(Released {
            end: sample.at + self.clock.millis(duration).max(1),
            sample,
            duration,
        })
    }

    fn packet(&self, released: &Released) -> Packet {
        let sample = &released.sample;
        let mut packet = Packet::copy(&sample.data);
        packet.set_stream(self.stream);
        packet.set_dts(Some(sample.dts));
        packet.set_pts(Some(sample.pts));
        packet.set_duration(released.duration);
        if sample.keyframe {
            packet.set_flags(packet::Flags::KEY);
        }
        packet.rescale_ts(self.clock.time_base(), self.muxer_time_base);
        packet
    }
}

/// Converts the caller's milliseconds into a track's ticks.
struct Clock {
    rate: i64,
    /// AAC: the expected decode time of the next frame, for snapping.
    next_frame: Option<i64>,
    /// Whether samples follow a fixed cadence of [`AAC_FRAME`] ticks.
    cadenced: bool,
}

impl Clock {
    fn video() -> Self {
        Self {
            rate: VIDEO_CLOCK,
            next_frame: None,
            cadenced: false,
        }
    }

    fn audio(sample_rate: u32) -> Self {
        Self {
            rate: i64::from(sample_rate),
            next_frame: None,
            cadenced: true,
        }
    }

    fn time_base(&self) -> Rational {
        // Sample rates and 90 kHz fit an i32 (validated in `validate_audio`).
        Rational::new(1, self.rate as i32)
    }

    /// The decode time of a sample at `ms`, snapped to the audio cadence when
    /// close to it, and never before `floor`.
    fn decode_time(&mut self, ms: Millis, floor: Option<i64>) -> i64 {
        let exact = self.ticks(ms);
        let tolerance = AUDIO_SNAP_FRAMES * AAC_FRAME;
        let dts = match self.next_frame {
            Some(expected) if (exact - expected).abs() <= tolerance => expected,
            _ => exact,
        };
        let dts = floor.map_or(dts, |floor| dts.max(floor));
        if self.cadenced {
            self.next_frame = Some(dts + AAC_FRAME);
        }
        dts
    }

    /// Milliseconds to ticks, rounded to the nearest.
    fn ticks(&self, ms: Millis) -> i64 {
        (ms * self.rate * 2 + 1000).div_euclid(2000)
    }

    /// Ticks to milliseconds, rounded to the nearest.
    fn millis(&self, ticks: i64) -> Millis {
        (ticks * 2000 + self.rate).div_euclid(self.rate * 2)
    }

    /// The duration of a sample with nothing to measure it by: one AAC frame,
    /// or one video frame at 30 fps.
    fn default_duration(&self) -> i64 {
        if self.cadenced {
            AAC_FRAME
        } else {
            self.rate / 30
        }
    }
}

fn validate_video(video: &VideoConfig) -> Result<(), MediaError> {
    if video.width == 0 || video.height == 0 {
        return Err(MediaError::Malformed(format!(
            "video size {}x{}",
            video.width, video.height
        )));
    }
    validate_avcc(&video.avcc)
}

/// Checks the structure of an AVCDecoderConfigurationRecord: FFmpeg copies
/// whatever it is given into the `avcC` box, and a broken one only shows up
/// as a black player.
fn validate_avcc(avcc: &[u8]) -> Result<(), MediaError> {
    let malformed = |why: &str| MediaError::Malformed(format!("avcC: {why}"));
    let [1, _profile, _compat, _level, length_size, sps_count, rest @ ..] = avcc else {
        return Err(malformed("not a version 1 record"));
    };
    if length_size & 0b11 != 3 {
        return Err(malformed("NAL lengths are not 4 bytes"));
    }
    let sps_count = usize::from(sps_count & 0x1f);
    if sps_count == 0 {
        return Err(malformed("no sequence parameter set"));
    }
    let rest = skip_parameter_sets(rest, sps_count).ok_or_else(|| malformed("truncated SPS"))?;
    let (pps_count, rest) = match rest.split_first() {
        Some((&count, rest)) if count > 0 => (usize::from(count), rest),
        _ => return Err(malformed("no picture parameter set")),
    };
    skip_parameter_sets(rest, pps_count).ok_or_else(|| malformed("truncated PPS"))?;
    Ok(())
}

/// Skips `count` length-prefixed parameter sets, returning what follows.
fn skip_parameter_sets(mut data: &[u8], count: usize) -> Option<&[u8]> {
    for _ in 0..count {
        let (length, rest) = data.split_first_chunk::<2>()?;
        data = rest.get(usize::from(u16::from_be_bytes(*length))..)?;
    }
    Some(data)
}

fn validate_audio(audio: &AudioConfig) -> Result<(), MediaError> {
    if audio.asc.len() < 2 {
        return Err(MediaError::Malformed(
            "AudioSpecificConfig shorter than 2 bytes".into(),
        ));
    }
    if audio.sample_rate == 0 || audio.sample_rate > 192_000 || audio.channels == 0 {
        return Err(MediaError::Malformed(format!(
            "audio at {} Hz with {} channels",
            audio.sample_rate, audio.channels
        )));
    }
    Ok(())
}

/// A track as the muxer must be told about it.
enum StreamSpec<'a> {
    Video(&'a VideoConfig),
    Audio(&'a AudioConfig),
}

impl StreamSpec<'_> {
    fn clock(&self) -> Clock {
        match self {
            Self::Video(_) => Clock::video(),
            Self::Audio(audio) => Clock::audio(audio.sample_rate),
        }
    }
}

/// Size of the buffer between the muxer and our sink.
const IO_BUFFER_SIZE: usize = 64 * 1024;

/// FFmpeg's mp4 muxer writing into memory. All of this module's unsafe code
/// lives here.
///
/// We drive libavformat directly rather than through ffmpeg-next's `Output`,
/// whose destructor would `avio_close` our custom I/O context as if it were a
/// file.
struct Muxer {
    /// Owned; freed in `Drop`. Its `pb` is our write-only AVIOContext.
    ctx: *mut ffi::AVFormatContext,
    /// What the muxer has written since the last `take`. A leaked `Box`, so its
    /// address (the AVIOContext's `opaque`) never changes; freed in `Drop`.
    sink: *mut Vec<u8>,
}

// SAFETY: the contexts are owned by this struct and only used through
// `&mut self`; libavformat muxers are not tied to the thread that made them.
unsafe impl Send for Muxer {}

impl Muxer {
    /// Creates the muxer, declares the streams and writes the header, which it
    /// returns.
    fn open(streams: &[StreamSpec]) -> Result<(Self, Bytes), MediaError> {
        init_ffmpeg();
        let mut muxer = Self::alloc()?;
        for spec in streams {
            muxer.add_stream(spec)?;
        }
        muxer.write_header()?;
        let init = muxer.take();
        Ok((muxer, init))
    }

    fn alloc() -> Result<Self, MediaError> {
        let mut ctx = ptr::null_mut();
        // SAFETY: plain allocation calls; on success `ctx` is a fresh context
        // that `Self` owns from here on (Drop copes with a missing `pb`).
        unsafe {
            check(ffi::avformat_alloc_output_context2(
                &mut ctx,
                ptr::null(),
                c"mp4".as_ptr(),
                ptr::null(),
            ))?;
            let muxer = Self {
                ctx,
                sink: Box::into_raw(Box::default()),
            };
            let buffer = ffi::av_malloc(IO_BUFFER_SIZE).cast::<u8>();
            if buffer.is_null() {
                return Err(out_of_memory());
            }
            let pb = ffi::avio_alloc_context(
                buffer,
                IO_BUFFER_SIZE as c_int,
                1,
                muxer.sink.cast(),
                None,
                Some(append_to_sink),
                None,
            );
            if pb.is_null() {
                ffi::av_free(buffer.cast());
                return Err(out_of_memory());
            }
            (*ctx).pb = pb;
            (*ctx).flags |= ffi::AVFMT_FLAG_CUSTOM_IO;
            Ok(muxer)
        }
    }

    fn add_stream(&mut self, spec: &StreamSpec) -> Result<(), MediaError> {
        // SAFETY: `self.ctx` is valid; the new stream and its codecpar belong
        // to it. The extradata is allocated with libav's allocator and padding
        // as libav requires, and freed by it with the stream.
        unsafe {
            let stream = ffi::avformat_new_stream(self.ctx, ptr::null());
            if stream.is_null() {
                return Err(out_of_memory());
            }
            let par = &mut *(*stream).codecpar;
            let extradata = match spec {
                StreamSpec::Video(video) => {
                    par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_VIDEO;
                    par.codec_id = ffi::AVCodecID::AV_CODEC_ID_H264;
                    par.width = dimension(video.width)?;
                    par.height = dimension(video.height)?;
                    &video.avcc
                }
                StreamSpec::Audio(audio) => {
                    par.codec_type = ffi::AVMediaType::AVMEDIA_TYPE_AUDIO;
                    par.codec_id = ffi::AVCodecID::AV_CODEC_ID_AAC;
                    par.sample_rate = audio.sample_rate as c_int;
                    par.frame_size = AAC_FRAME as c_int;
                    ffi::av_channel_layout_default(&mut par.ch_layout, c_int::from(audio.channels));
                    &audio.asc
                }
            };
            (*stream).time_base = spec.clock().time_base().into();
            let size = extradata.len() + ffi::AV_INPUT_BUFFER_PADDING_SIZE as usize;
            par.extradata = ffi::av_mallocz(size).cast();
            if par.extradata.is_null() {
                return Err(out_of_memory());
            }
            ptr::copy_nonoverlapping(extradata.as_ptr(), par.extradata, extradata.len());
            par.extradata_size = extradata.len() as c_int;
        }
        Ok(())
    }

    fn write_header(&mut self) -> Result<(), MediaError> {
        let mut options = Dictionary::new();
        for (key, value) in MUXER_OPTIONS {
            options.set(key, value);
        }
        // SAFETY: `self.ctx` is valid with its streams declared; the options
        // dictionary is handed over and whatever the muxer did not consume is
        // taken back and freed by `Dictionary::own`.
        let (result, unused) = unsafe {
            let mut raw = options.disown();
            let result = ffi::avformat_write_header(self.ctx, &mut raw);
            (result, Dictionary::own(raw))
        };
        check(result)?;
        if let Some((key, value)) = unused.iter().next() {
            return Err(MediaError::Unsupported(format!(
                "this FFmpeg's mp4 muxer ignores {key}={value}"
            )));
        }
        self.flush_io()
    }

    /// The time base the muxer settled on for a stream.
    fn time_base(&self, stream: usize) -> Rational {
        // SAFETY: `stream` is the index of a stream added in `open`.
        unsafe { (**(*self.ctx).streams.add(stream)).time_base.into() }
    }

    /// Hands one packet to the muxer, which keeps it until the fragment is cut.
    fn write(&mut self, packet: &mut Packet) -> Result<(), MediaError> {
        // SAFETY: valid context and packet; `av_write_frame` does not take
        // ownership of the packet.
        check(unsafe { ffi::av_write_frame(self.ctx, packet::Mut::as_mut_ptr(packet)) })
    }

    /// Writes the pending samples as one `moof`+`mdat` and returns those bytes.
    fn flush_fragment(&mut self) -> Result<Bytes, MediaError> {
        // SAFETY: a null packet asks a muxer with AVFMT_ALLOW_FLUSH (mp4 in
        // `frag_custom` mode) to flush the current fragment.
        check(unsafe { ffi::av_write_frame(self.ctx, ptr::null_mut()) })?;
        self.flush_io()?;
        Ok(self.take())
    }

    /// Pushes the AVIOContext's buffer into the sink.
    fn flush_io(&mut self) -> Result<(), MediaError> {
        // SAFETY: `pb` is the valid AVIOContext set up in `alloc`.
        unsafe {
            let pb = (*self.ctx).pb;
            ffi::avio_flush(pb);
            check((*pb).error)
        }
    }

    /// Takes everything written since the last call.
    fn take(&mut self) -> Bytes {
        // SAFETY: the sink is only touched by `append_to_sink`, which runs
        // inside libav calls made through `&mut self`, never concurrently.
        Bytes::from(std::mem::take(unsafe { &mut *self.sink }))
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        // SAFETY: we own all three allocations. The format context never frees
        // a custom `pb`, so the AVIOContext and its buffer (which libav may have
        // reallocated, hence freeing the current one) are freed after it.
        unsafe {
            let mut pb = (*self.ctx).pb;
            ffi::avformat_free_context(self.ctx);
            if !pb.is_null() {
                ffi::av_freep(ptr::addr_of_mut!((*pb).buffer).cast());
                ffi::avio_context_free(&mut pb);
            }
            drop(Box::from_raw(self.sink));
        }
    }
}

/// The AVIOContext's write callback: appends to the sink `opaque` points to.
unsafe extern "C" fn append_to_sink(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    let Ok(len) = usize::try_from(size) else {
        return ffi::AVERROR(ffi::EINVAL);
    };
    // SAFETY: `opaque` is the `Muxer::sink` of the muxer whose libav call is
    // running, and libav passes `size` readable bytes at `buf`.
    unsafe { (*opaque.cast::<Vec<u8>>()).extend_from_slice(std::slice::from_raw_parts(buf, len)) };
    size
}

fn check(code: c_int) -> Result<(), MediaError> {
    if code < 0 {
        Err(MediaError::Ffmpeg(ffmpeg_next::Error::from(code)))
    } else {
        Ok(())
    }
}

fn out_of_memory() -> MediaError {
    MediaError::Ffmpeg(ffmpeg_next::Error::Other { errno: ffi::ENOMEM })
}

fn dimension(pixels: u32) -> Result<c_int, MediaError> {
    c_int::try_from(pixels).map_err(|_| MediaError::Malformed(format!("video size {pixels}")))
}

/// Test inputs made with the ffmpeg CLI, shared with the replay tests.
#[cfg(test)]
pub(crate) mod testing {
    use std::path::{Path, PathBuf};
    use std::process::Command;

    use bytes::Bytes;
    use ffmpeg_next::{format, media, Rational};

    use super::{Fragment, Fragmenter};
    use crate::media::{init_ffmpeg, AudioConfig, MediaPacket, Track, TrackConfig, VideoConfig};

    /// Encodes `seconds` of test pattern and tone at `size` into `dir/name`:
    /// H.264 with B-frames (so pts != dts) and a keyframe every second, and
    /// stereo AAC at 48 kHz.
    pub fn generate(dir: &Path, name: &str, seconds: u32, size: &str) -> PathBuf {
        let path = dir.join(name);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .arg(format!("testsrc2=size={size}:rate=25"))
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &seconds.to_string()])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-bf", "2"])
            .args(["-g", "25", "-keyint_min", "25", "-sc_threshold", "0"])
            .args(["-c:a", "aac", "-ac", "2", "-f", "mp4"])
            .arg(&path)
            .status()
            .expect("ffmpeg runs");
        assert!(status.success(), "ffmpeg made {name}");
        path
    }

    /// The configuration and packets of a file, in milliseconds from its first
    /// decode time and in decode order, as an RTMP encoder would send them.
    pub fn demux(path: &Path) -> (TrackConfig, Vec<MediaPacket>) {
        init_ffmpeg();
        let mut input = format::input(path).expect("input opens");
        let mut config = TrackConfig::default();
        let mut tracks = Vec::new();
        for stream in input.streams() {
            // SAFETY (test): reading the codec parameters of an open input.
            let par = unsafe { &*stream.parameters().as_ptr() };
            let extradata = unsafe {
                Bytes::copy_from_slice(std::slice::from_raw_parts(
                    par.extradata,
                    par.extradata_size as usize,
                ))
            };
            let track = match stream.parameters().medium() {
                media::Type::Video => {
                    config.video = Some(VideoConfig {
                        codec: crate::media::avc_codec_string(&extradata).unwrap(),
                        avcc: extradata,
                        width: par.width as u32,
                        height: par.height as u32,
                    });
                    Track::Video
                }
                _ => {
                    config.audio = Some(AudioConfig {
                        codec: crate::media::aac_codec_string(&extradata),
                        asc: extradata,
                        sample_rate: par.sample_rate as u32,
                        channels: par.ch_layout.nb_channels as u16,
                    });
                    Track::Audio
                }
            };
            tracks.push((track, stream.time_base()));
        }
        let mut packets: Vec<MediaPacket> = input
            .packets()
            .map(|(stream, mut packet)| {
                let (track, time_base) = tracks[stream.index()];
                packet.rescale_ts(time_base, Rational::new(1, 1000));
                MediaPacket {
                    track,
                    dts: packet.dts().unwrap(),
                    pts: packet.pts().unwrap(),
                    keyframe: track == Track::Audio || packet.is_key(),
                    data: Bytes::copy_from_slice(packet.data().unwrap()),
                }
            })
            .collect();
        let first = packets.iter().map(|p| p.dts).min().unwrap();
        for packet in &mut packets {
            packet.dts -= first;
            packet.pts -= first;
        }
        packets.sort_by_key(|p| p.dts);
        (config, packets)
    }

    /// Runs packets through a Fragmenter, cutting before every video keyframe.
    pub fn fragment(config: &TrackConfig, packets: &[MediaPacket]) -> (Bytes, Vec<Fragment>) {
        let mut fragmenter = Fragmenter::new(config).unwrap();
        let mut fragments = Vec::new();
        for packet in packets {
            fragmenter.push(packet).unwrap();
            if packet.track == Track::Video && packet.keyframe {
                fragments.extend(fragmenter.cut().unwrap());
            }
        }
        let init = fragmenter.init_segment().clone();
        fragments.extend(fragmenter.finish().unwrap());
        (init, fragments)
    }

    /// A sample as read back from a file.
    #[derive(Debug)]
    pub struct Sample {
        pub track: Track,
        pub dts: i64,
        pub pts: i64,
        pub time_base: Rational,
        pub keyframe: bool,
    }

    impl Sample {
        pub fn dts_ms(&self) -> f64 {
            self.dts as f64 * f64::from(self.time_base) * 1000.0
        }
    }

    /// Every packet of a file, in the demuxer's order.
    pub fn samples(path: &Path) -> Vec<Sample> {
        init_ffmpeg();
        let mut input = format::input(path).expect("output opens");
        input
            .packets()
            .map(|(stream, packet)| Sample {
                track: match stream.parameters().medium() {
                    media::Type::Video => Track::Video,
                    _ => Track::Audio,
                },
                dts: packet.dts().unwrap(),
                pts: packet.pts().unwrap(),
                time_base: stream.time_base(),
                keyframe: packet.is_key(),
            })
            .collect()
    }

    /// Decodes a whole file with the ffmpeg CLI and returns its complaints.
    pub fn decode_errors(path: &Path) -> String {
        let output = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "null", "-"])
            .output()
            .expect("ffmpeg runs");
        assert!(output.status.success(), "ffmpeg decodes {path:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    }

    /// The types of the top-level boxes of an MP4 byte string.
    pub fn boxes(mut data: &[u8]) -> Vec<String> {
        let mut kinds = Vec::new();
        while data.len() >= 8 {
            let size = u32::from_be_bytes(data[..4].try_into().unwrap()) as usize;
            kinds.push(String::from_utf8_lossy(&data[4..8]).into_owned());
            data = &data[size.clamp(8, data.len())..];
        }
        kinds
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use bytes::Bytes;

    use super::testing::{boxes, decode_errors, demux, fragment, generate, samples};
    use super::*;

    fn write_file(path: &Path, init: &Bytes, fragments: &[Fragment]) {
        let mut data = init.to_vec();
        for fragment in fragments {
            data.extend_from_slice(&fragment.data);
        }
        std::fs::write(path, data).unwrap();
    }

    fn of_track<T>(
        track: Track,
        items: impl IntoIterator<Item = T>,
        kind: impl Fn(&T) -> Track,
    ) -> Vec<T> {
        items
            .into_iter()
            .filter(|item| kind(item) == track)
            .collect()
    }

    #[test]
    fn fragments_play_back_with_the_input_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let input = generate(dir.path(), "in.mp4", 4, "320x240");
        let (config, packets) = demux(&input);
        let (init, fragments) = fragment(&config, &packets);

        assert_eq!(boxes(&init), ["ftyp", "moov"]);
        let keyframes: Vec<Millis> = packets
            .iter()
            .filter(|p| p.track == Track::Video && p.keyframe)
            .map(|p| p.dts)
            .collect();
        assert_eq!(keyframes.len(), 4);
        let starts: Vec<Millis> = fragments.iter().map(|f| f.start).collect();
        assert_eq!(starts, keyframes, "one fragment per keyframe, led by it");
        for (fragment, next) in fragments.iter().zip(&fragments[1..]) {
            assert_eq!(fragment.start + fragment.duration, next.start);
        }
        assert_eq!(fragments.last().unwrap().duration, 1000);
        for fragment in &fragments {
            assert!(fragment.independent);
            assert_eq!(boxes(&fragment.data), ["moof", "mdat"]);
        }

        let output = dir.path().join("out.mp4");
        write_file(&output, &init, &fragments);
        assert_eq!(decode_errors(&output), "");
        let written = samples(&output);

        let video_in = of_track(Track::Video, &packets, |p| p.track);
        let video_out = of_track(Track::Video, &written, |s| s.track);
        let as_ms = |s: &&testing::Sample| (s.dts_ms().round() as i64, s.keyframe);
        assert_eq!(
            video_out.iter().map(as_ms).collect::<Vec<_>>(),
            video_in
                .iter()
                .map(|p| (p.dts, p.keyframe))
                .collect::<Vec<_>>()
        );
        for (sample, packet) in video_out.iter().zip(&video_in) {
            assert_eq!(sample.pts - sample.dts, (packet.pts - packet.dts) * 90);
        }
        assert!(
            video_in.iter().any(|p| p.pts != p.dts),
            "B-frames exercised"
        );

        let audio_in = of_track(Track::Audio, &packets, |p| p.track);
        let audio_out = of_track(Track::Audio, &written, |s| s.track);
        assert_eq!(audio_out.len(), audio_in.len());
        for (sample, packet) in audio_out.iter().zip(&audio_in) {
            assert!((sample.dts_ms() - packet.dts as f64).abs() <= 1.0);
        }
        for (sample, next) in audio_out.iter().zip(&audio_out[1..]) {
            assert_eq!(next.dts - sample.dts, 1024, "exact AAC cadence");
        }
    }

    #[test]
    fn audio_only_renditions_skip_video_packets() {
        let dir = tempfile::tempdir().unwrap();
        let (config, packets) = demux(&generate(dir.path(), "in.mp4", 2, "160x120"));
        let config = TrackConfig {
            video: None,
            ..config
        };
        let mut fragmenter = Fragmenter::new(&config).unwrap();
        let mut fragments = Vec::new();
        for (i, packet) in packets.iter().enumerate() {
            fragmenter.push(packet).unwrap();
            if i % 40 == 39 {
                fragments.extend(fragmenter.cut().unwrap());
            }
        }
        let init = fragmenter.init_segment().clone();
        fragments.extend(fragmenter.finish().unwrap());
        assert!(fragments.len() >= 3);
        assert!(fragments.iter().all(|f| f.independent));

        let output = dir.path().join("audio.mp4");
        write_file(&output, &init, &fragments);
        assert_eq!(decode_errors(&output), "");
        let written = samples(&output);
        assert!(written.iter().all(|s| s.track == Track::Audio));
        let audio_in = packets.iter().filter(|p| p.track == Track::Audio).count();
        assert_eq!(written.len(), audio_in);
        assert_eq!(fragments[0].start, written[0].dts_ms().round() as Millis);
    }

    #[test]
    fn video_only_renditions_keep_every_frame() {
        let dir = tempfile::tempdir().unwrap();
        let (config, packets) = demux(&generate(dir.path(), "in.mp4", 2, "160x120"));
        let config = TrackConfig {
            audio: None,
            ..config
        };
        let (init, fragments) = fragment(&config, &packets);
        assert_eq!(fragments.len(), 2);

        let output = dir.path().join("video.mp4");
        write_file(&output, &init, &fragments);
        assert_eq!(decode_errors(&output), "");
        let written = samples(&output);
        assert!(written.iter().all(|s| s.track == Track::Video));
        let video_in = packets.iter().filter(|p| p.track == Track::Video).count();
        assert_eq!(written.len(), video_in);
    }

    fn video(avcc: &'static [u8]) -> TrackConfig {
        TrackConfig {
            video: Some(VideoConfig {
                avcc: Bytes::from_static(avcc),
                width: 320,
                height: 240,
                codec: "avc1.64000d".into(),
            }),
            audio: None,
        }
    }

    #[test]
    fn broken_configurations_are_refused() {
        for avcc in [
            &b""[..],
            b"\xde\xad\xbe\xef\x00\x01\x02\x03",
            b"\x01\x64\x00\x0d\xff\xe1\x00\x20\x67",
        ] {
            let error = Fragmenter::new(&video(avcc)).err().expect("refused");
            assert!(matches!(error, MediaError::Malformed(_)), "{error}");
        }
        let silent = TrackConfig {
            video: None,
            audio: Some(AudioConfig {
                asc: Bytes::new(),
                sample_rate: 48_000,
                channels: 2,
                codec: "mp4a.40.2".into(),
            }),
        };
        assert!(matches!(
            Fragmenter::new(&silent),
            Err(MediaError::Malformed(_))
        ));
        assert!(matches!(
            Fragmenter::new(&TrackConfig::default()),
            Err(MediaError::Malformed(_))
        ));
    }

    #[test]
    fn fragmenters_come_and_go_cleanly() {
        fn assert_send<T: Send>() {}
        assert_send::<Fragmenter>();

        let dir = tempfile::tempdir().unwrap();
        let (config, packets) = demux(&generate(dir.path(), "in.mp4", 1, "160x120"));
        for round in 0..200 {
            let mut fragmenter = Fragmenter::new(&config).unwrap();
            for packet in &packets[..round % 20] {
                fragmenter.push(packet).unwrap();
            }
            if round % 2 == 0 {
                fragmenter.cut().unwrap();
            }
        }
    }

    #[test]
    fn audio_snaps_to_its_cadence_until_it_jumps() {
        let mut clock = Clock::audio(48_000);
        let ticks: Vec<i64> = [0, 21, 43, 64, 85, 107, 2000, 2021]
            .into_iter()
            .map(|ms| clock.decode_time(ms, None))
            .collect();
        assert_eq!(ticks, [0, 1024, 2048, 3072, 4096, 5120, 96_000, 97_024]);
        assert_eq!(
            clock.decode_time(1000, Some(97_025)),
            97_025,
            "never backwards"
        );
    }

    #[test]
    fn single_packets_get_a_default_duration() {
        let (config, packets) = {
            let dir = tempfile::tempdir().unwrap();
            demux(&generate(dir.path(), "in.mp4", 1, "160x120"))
        };
        let mut fragmenter = Fragmenter::new(&config).unwrap();
        fragmenter.push(&packets[0]).unwrap();
        assert!(fragmenter.cut().unwrap().is_none(), "still held back");
        let last = fragmenter.finish().unwrap().expect("flushed");
        assert_eq!(last.start, packets[0].dts);
        assert!(last.duration > 0);
    }
}
