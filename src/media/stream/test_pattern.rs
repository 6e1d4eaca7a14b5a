//! A synthetic encoder: publishes a test picture with a running clock, and a
//! tone, over RTMP, so that a newcomer sees a live broadcast without setting up
//! OBS, and tests can exercise ingest end to end.
//!
//! Everything is made by libav: libavfilter draws the picture (`testsrc2` and
//! `drawtext`) and the tone (`sine`), libx264 and the native `aac` encoder
//! compress them, and the `flv` muxer writes straight to the `rtmp://` URL
//! through libavformat's own RTMP client.

use std::io;
use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ffmpeg_next::error::EAGAIN;
use ffmpeg_next::format::context::Output;
use ffmpeg_next::picture::Type as PictureType;
use ffmpeg_next::{
    codec, encoder, filter, format, frame, ChannelLayout, Dictionary, Error, Frame, Packet,
    Rational,
};

use crate::media::{init_ffmpeg, MediaError};

/// What to publish, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestPattern {
    /// Where to publish, e.g. `rtmp://127.0.0.1:1935/live/KEY`; the last path
    /// segment is the stream key. There is no useful default: set it.
    pub url: String,
    /// How long to publish; `None` publishes until `stop` is set.
    pub seconds: Option<u64>,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Time between keyframes, each starting a closed GOP: it bounds how long
    /// a new viewer waits for a picture, and how short segments can be.
    pub keyframe_interval: Duration,
    /// A line drawn under the clock. ASCII is safest: the default font may
    /// lack other glyphs.
    pub label: String,
}

impl Default for TestPattern {
    fn default() -> Self {
        Self {
            url: String::new(),
            seconds: None,
            width: 1280,
            height: 720,
            fps: 25,
            keyframe_interval: Duration::from_secs(1),
            label: "Pavilion test broadcast".to_owned(),
        }
    }
}

/// How much was published: frames handed to the encoders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishReport {
    pub video_frames: u64,
    pub audio_frames: u64,
}

const SAMPLE_RATE: i32 = 48_000;
const VIDEO_BIT_RATE: usize = 1_500_000;
const AUDIO_BIT_RATE: usize = 128_000;
/// How long libav's RTMP client waits on the network before giving up, in
/// microseconds: without a limit, a silent server would hang the publish.
const NETWORK_TIMEOUT_MICROS: &str = "5000000";
/// The name of the sink that ends each filter graph.
const SINK: &str = "out";

/// Publishes the test pattern in real time (frames paced to the wall clock)
/// until `pattern.seconds` have passed or `stop` becomes true, then ends the
/// stream cleanly.
///
/// Blocking: call it from a thread of its own (e.g. `spawn_blocking`). Network
/// failures come as [`MediaError::Io`], whose message names the server but not
/// the stream key, and whose kind tells them apart: `PermissionDenied` when the
/// server refuses the stream (wrong key), `ConnectionRefused` or `TimedOut`
/// when it cannot be reached, `ConnectionAborted` when the connection drops
/// while publishing.
pub fn publish(pattern: &TestPattern, stop: &AtomicBool) -> Result<PublishReport, MediaError> {
    init_ffmpeg();
    let mut video = Lane::video(pattern)?;
    let mut audio = Lane::audio()?;
    let mut output = connect(&pattern.url)?;
    video.add_stream(&mut output)?;
    audio.add_stream(&mut output)?;
    send_header(&mut output)?;
    pace(pattern, stop, &mut output, &mut video, &mut audio)?;
    video.finish(&mut output)?;
    audio.finish(&mut output)?;
    output.write_trailer().map_err(connection_lost)?;
    Ok(PublishReport {
        video_frames: video.encoded,
        audio_frames: audio.encoded,
    })
}

/// Encodes whichever lane's next frame is due first, after sleeping until it
/// is due, so that the server receives the stream at the pace of a live
/// encoder.
fn pace(
    pattern: &TestPattern,
    stop: &AtomicBool,
    output: &mut Output,
    video: &mut Lane<frame::Video>,
    audio: &mut Lane<frame::Audio>,
) -> Result<(), MediaError> {
    let start = Instant::now();
    let end = pattern.seconds.map(Duration::from_secs);
    while !stop.load(Ordering::Relaxed) {
        let due = video.due().min(audio.due());
        if end.is_some_and(|end| due >= end) {
            break;
        }
        if let Some(wait) = (start + due).checked_duration_since(Instant::now()) {
            thread::sleep(wait);
        }
        if video.due() <= audio.due() {
            // lavfi sources mark every picture as an I-frame, and libx264
            // obeys picture types: let it choose, so keyframes follow the GOP.
            video.next.set_kind(PictureType::None);
            video.encode(output)?;
        } else {
            audio.encode(output)?;
        }
    }
    Ok(())
}

/// One elementary stream: frames from a filter graph, through an encoder, into
/// one stream of the output.
struct Lane<F> {
    graph: filter::Graph,
    /// Counts time in the graph's time base, so frames go in as they come out.
    encoder: encoder::Encoder,
    /// The next frame to encode.
    next: F,
    /// An empty frame, for the graph to fill: libavfilter moves a picture
    /// into the frame it is given without releasing what that frame held.
    empty: fn() -> F,
    stream: usize,
    encoded: u64,
}

impl Lane<frame::Video> {
    fn video(pattern: &TestPattern) -> Result<Self, MediaError> {
        let mut graph = picture_graph(pattern)?;
        let time_base = sink_of(&mut graph)?.sink().time_base();
        let encoder = video_encoder(pattern, time_base)?;
        Lane::new(graph, encoder, frame::Video::empty)
    }
}

impl Lane<frame::Audio> {
    fn audio() -> Result<Self, MediaError> {
        let tone = format!(
            "sine=frequency=1000:sample_rate={SAMPLE_RATE},\
             aformat=sample_fmts=fltp:channel_layouts=stereo"
        );
        let mut graph = build_graph(&tone, "abuffersink")?;
        let time_base = sink_of(&mut graph)?.sink().time_base();
        let opened = audio_encoder(time_base)?;
        // AAC takes exactly `frame_size` samples per frame; the sink cuts them.
        sink_of(&mut graph)?
            .sink()
            .set_frame_size(opened.frame_size());
        // Lanes use the API common to all encoders, under the audio wrappers.
        let encoder::audio::Encoder(encoder::audio::Audio(common)) = opened;
        Lane::new(graph, common, frame::Audio::empty)
    }
}

impl<F: DerefMut<Target = Frame>> Lane<F> {
    fn new(
        graph: filter::Graph,
        encoder: encoder::Encoder,
        empty: fn() -> F,
    ) -> Result<Self, MediaError> {
        let mut lane = Lane {
            graph,
            encoder,
            next: empty(),
            empty,
            stream: 0,
            encoded: 0,
        };
        lane.pull()?;
        Ok(lane)
    }

    fn add_stream(&mut self, output: &mut Output) -> Result<(), MediaError> {
        self.stream = output.add_stream_with(&self.encoder)?.index();
        Ok(())
    }

    /// When the next frame is due, counted from the start of the broadcast.
    fn due(&self) -> Duration {
        let ticks = self.next.pts().unwrap_or(0).max(0) as f64;
        Duration::from_secs_f64(ticks * f64::from(self.encoder.time_base()))
    }

    fn pull(&mut self) -> Result<(), MediaError> {
        // The frame just encoded is dropped here, and its picture with it;
        // pulling into it would leak one picture per frame (~40 MB/s at 720p).
        self.next = (self.empty)();
        sink_of(&mut self.graph)?.sink().frame(&mut self.next)?;
        Ok(())
    }

    /// Encodes the next frame, sends what the encoder has ready, and pulls the
    /// frame after.
    fn encode(&mut self, output: &mut Output) -> Result<(), MediaError> {
        self.encoder.send_frame(&self.next)?;
        self.encoded += 1;
        self.send_packets(output)?;
        self.pull()
    }

    fn finish(&mut self, output: &mut Output) -> Result<(), MediaError> {
        self.encoder.send_eof()?;
        self.send_packets(output)
    }

    fn send_packets(&mut self, output: &mut Output) -> Result<(), MediaError> {
        let stream = output.stream(self.stream).ok_or(Error::StreamNotFound)?;
        let time_base = stream.time_base();
        let mut packet = Packet::empty();
        while receive_packet(&mut self.encoder, &mut packet)? {
            packet.set_stream(self.stream);
            packet.rescale_ts(self.encoder.time_base(), time_base);
            packet.write_interleaved(output).map_err(connection_lost)?;
        }
        Ok(())
    }
}

/// Takes the next packet out of the encoder; false when it has none for now.
fn receive_packet(encoder: &mut encoder::Encoder, packet: &mut Packet) -> Result<bool, MediaError> {
    match encoder.receive_packet(packet) {
        Ok(()) => Ok(true),
        Err(Error::Other { errno: EAGAIN } | Error::Eof) => Ok(false),
        Err(err) => Err(err.into()),
    }
}

/// The picture: `testsrc2` with the wall clock and the label drawn over it.
/// drawtext fails to initialise without a usable font; the bare picture is
/// still worth publishing then.
fn picture_graph(pattern: &TestPattern) -> Result<filter::Graph, MediaError> {
    let source = format!(
        "testsrc2=size={}x{}:rate={}",
        pattern.width, pattern.height, pattern.fps
    );
    let captioned = format!("{source},{},format=yuv420p", captions(pattern));
    let graph = build_graph(&captioned, "buffersink").or_else(|err| {
        tracing::warn!(%err, "test pattern: cannot draw text (no font?); publishing the bare picture");
        build_graph(&format!("{source},format=yuv420p"), "buffersink")
    })?;
    Ok(graph)
}

/// drawtext filters for the clock, large and centred, and the label below it.
fn captions(pattern: &TestPattern) -> String {
    const STYLE: &str = "fontcolor=white:box=1:boxcolor=black@0.6:x=(w-text_w)/2";
    let clock = format!(
        "drawtext=text=%{{localtime}}:fontsize={}:{STYLE}:boxborderw=16:y=(h-text_h)/2",
        pattern.height / 8
    );
    if pattern.label.is_empty() {
        return clock;
    }
    // expansion=none: the label is drawn as written, `%` included.
    let label = format!(
        "drawtext=expansion=none:text={}:fontsize={}:{STYLE}:boxborderw=8:y=h*3/4",
        escape(&escape(&pattern.label)),
        pattern.height / 20
    );
    format!("{clock},{label}")
}

/// Escapes `text` for one level of libav's option parsing, in which a backslash
/// makes the next character literal. A graph description is parsed twice (the
/// graph, then each filter's options), so free text in it is escaped twice.
/// NULs are dropped: libav strings end at the first.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(2 * text.len());
    for c in text.chars().filter(|&c| c != '\0') {
        if !c.is_alphanumeric() {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// A filter graph from `description`, whose one open output feeds a sink
/// (`buffersink` or `abuffersink`) named [`SINK`].
fn build_graph(description: &str, sink: &str) -> Result<filter::Graph, Error> {
    let mut graph = filter::Graph::new();
    let sink = filter::find(sink).ok_or(Error::FilterNotFound)?;
    graph.add(&sink, SINK, "")?;
    graph.input(SINK, 0)?.parse(description)?;
    graph.validate()?;
    Ok(graph)
}

fn sink_of(graph: &mut filter::Graph) -> Result<filter::Context, Error> {
    graph.get(SINK).ok_or(Error::FilterNotFound)
}

/// libx264 tuned for live: no B-frames and no lookahead, so each frame leaves
/// the encoder at once, and a closed GOP per keyframe interval.
fn video_encoder(
    pattern: &TestPattern,
    time_base: Rational,
) -> Result<encoder::Encoder, MediaError> {
    let mut video = new_encoder("libx264")?.video()?;
    video.set_width(pattern.width);
    video.set_height(pattern.height);
    video.set_format(format::Pixel::YUV420P);
    video.set_time_base(time_base);
    video.set_frame_rate(Some((pattern.fps as i32, 1)));
    video.set_gop(gop_length(pattern));
    video.set_max_b_frames(0);
    video.set_bit_rate(VIDEO_BIT_RATE);
    // FLV sends the SPS and PPS once, in its sequence header, out of band.
    video.set_flags(codec::Flags::GLOBAL_HEADER);
    let options = Dictionary::from_iter([
        ("preset", "veryfast"),
        ("tune", "zerolatency"),
        // Keyframes on the GOP grid only, never on a scene change.
        ("x264-params", "scenecut=0"),
    ]);
    // Lanes use the API common to all encoders, under the video wrappers.
    let encoder::video::Encoder(encoder::video::Video(common)) = video.open_with(options)?;
    Ok(common)
}

/// Frames per GOP: the keyframe interval at the pattern's frame rate.
fn gop_length(pattern: &TestPattern) -> u32 {
    let frames = pattern.keyframe_interval.as_secs_f64() * f64::from(pattern.fps);
    frames.round().max(1.0) as u32
}

/// The native AAC encoder (always built into FFmpeg), stereo at 48 kHz.
fn audio_encoder(time_base: Rational) -> Result<encoder::audio::Encoder, MediaError> {
    let mut audio = new_encoder("aac")?.audio()?;
    audio.set_rate(SAMPLE_RATE);
    audio.set_channel_layout(ChannelLayout::STEREO);
    audio.set_format(format::Sample::F32(format::sample::Type::Planar));
    audio.set_time_base(time_base);
    audio.set_bit_rate(AUDIO_BIT_RATE);
    // FLV sends the AudioSpecificConfig once, in its sequence header.
    audio.set_flags(codec::Flags::GLOBAL_HEADER);
    Ok(audio.open()?)
}

fn new_encoder(name: &str) -> Result<encoder::Encoder, MediaError> {
    let codec = encoder::find_by_name(name)
        .ok_or_else(|| MediaError::Unsupported(format!("this FFmpeg has no {name} encoder")))?;
    Ok(codec::Context::new_with_codec(codec).encoder())
}

/// Connects and asks to publish. A server that refuses the stream (wrong key)
/// answers during this exchange, so a refusal surfaces here.
fn connect(url: &str) -> Result<Output, MediaError> {
    let options = Dictionary::from_iter([("rw_timeout", NETWORK_TIMEOUT_MICROS)]);
    format::output_as_with(url, "flv", options).map_err(|err| refused(url, err))
}

/// Sends the FLV header and the codec configurations. A connection cannot be
/// rewound to fill in the duration and size at the end, so FLV is told not to.
fn send_header(output: &mut Output) -> Result<(), MediaError> {
    let options = Dictionary::from_iter([("flvflags", "no_duration_filesize")]);
    output.write_header_with(options).map_err(connection_lost)?;
    Ok(())
}

/// Explains why publishing could not start. The message names the server but
/// not the stream key, which is a credential.
fn refused(url: &str, err: Error) -> MediaError {
    let server = url.rsplit_once('/').map_or(url, |(server, _key)| server);
    let cause = match err {
        Error::Other { errno } => Some(io::Error::from_raw_os_error(errno).kind()),
        _ => None,
    };
    let (kind, message) = match cause {
        Some(io::ErrorKind::ConnectionRefused) => (
            io::ErrorKind::ConnectionRefused,
            format!("nothing accepts RTMP connections at {server}"),
        ),
        Some(io::ErrorKind::TimedOut) => (
            io::ErrorKind::TimedOut,
            format!("no answer from the RTMP server at {server}"),
        ),
        _ => (
            io::ErrorKind::PermissionDenied,
            format!("the RTMP server at {server} refused the stream (wrong stream key?): {err}"),
        ),
    };
    MediaError::Io(io::Error::new(kind, message))
}

fn connection_lost(err: Error) -> MediaError {
    let message = format!("lost the connection to the RTMP server: {err}");
    MediaError::Io(io::Error::new(io::ErrorKind::ConnectionAborted, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};

    fn small_pattern(url: &str, seconds: Option<u64>) -> TestPattern {
        TestPattern {
            url: url.to_owned(),
            seconds,
            width: 320,
            height: 240,
            ..TestPattern::default()
        }
    }

    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    /// The `ffmpeg` CLI as an RTMP server, recording what it receives.
    struct Recorder {
        child: Child,
        url: String,
        file: PathBuf,
    }

    impl Recorder {
        /// `output_options` go before the output file, e.g. `-t 1`.
        fn start(dir: &Path, output_options: &[&str]) -> Self {
            let url = format!("rtmp://127.0.0.1:{}/live/test", free_port());
            let file = dir.join("received.flv");
            let child = Command::new("ffmpeg")
                .args(["-hide_banner", "-loglevel", "error", "-y", "-listen", "1"])
                .args(["-i", &url])
                .args(output_options)
                .args(["-c", "copy", "-f", "flv"])
                .arg(&file)
                .stdin(Stdio::null())
                .spawn()
                .expect("the ffmpeg CLI runs");
            Recorder { child, url, file }
        }

        /// Waits for ffmpeg to finish the file: it stops when the publisher
        /// disconnects.
        fn finish(&mut self) -> &Path {
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.child.try_wait().unwrap().is_none() {
                assert!(Instant::now() < deadline, "ffmpeg keeps recording");
                thread::sleep(Duration::from_millis(50));
            }
            &self.file
        }
    }

    impl Drop for Recorder {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// Publishes once the recorder listens: ffmpeg takes a moment to start.
    fn publish_when_listening(
        pattern: &TestPattern,
        stop: &AtomicBool,
    ) -> Result<PublishReport, MediaError> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match publish(pattern, stop) {
                Err(MediaError::Io(err))
                    if err.kind() == io::ErrorKind::ConnectionRefused
                        && Instant::now() < deadline =>
                {
                    thread::sleep(Duration::from_millis(100));
                }
                result => return result,
            }
        }
    }

    fn probe(file: &Path, entries: &[&str]) -> String {
        let output = Command::new("ffprobe")
            .args(["-v", "error", "-of", "csv=p=0"])
            .args(entries)
            .arg(file)
            .output()
            .expect("ffprobe runs");
        assert!(output.status.success(), "ffprobe fails on {file:?}");
        String::from_utf8(output.stdout).unwrap()
    }

    #[test]
    fn publishes_h264_and_aac_in_real_time_with_a_keyframe_every_second() {
        let dir = tempfile::tempdir().unwrap();
        let mut recorder = Recorder::start(dir.path(), &[]);
        let started = Instant::now();

        let report = publish_when_listening(
            &small_pattern(&recorder.url, Some(3)),
            &AtomicBool::new(false),
        )
        .unwrap();

        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(2900), "paced: {elapsed:?}");
        // 3 s of 25 fps video, and of AAC frames of 1024 samples at 48 kHz.
        assert_eq!(report.video_frames, 75);
        assert_eq!(report.audio_frames, 141);
        let file = recorder.finish();
        let codecs = probe(file, &["-show_entries", "stream=codec_name"]);
        assert_eq!(codecs, "h264\naac\n");
        let duration: f64 = probe(file, &["-show_entries", "format=duration"])
            .trim()
            .parse()
            .unwrap();
        assert!((duration - 3.0).abs() < 0.2, "duration {duration}");
        let packets = probe(
            file,
            &[
                "-select_streams",
                "v",
                "-show_entries",
                "packet=pts_time,flags",
            ],
        );
        let keyframes: Vec<f64> = packets
            .lines()
            .filter_map(|line| line.split_once(','))
            .filter(|(_, flags)| flags.starts_with('K'))
            .map(|(time, _)| time.parse().unwrap())
            .collect();
        assert_eq!(keyframes.len(), 3, "keyframes at {keyframes:?}");
        for (second, time) in keyframes.iter().enumerate() {
            assert!(
                (time - second as f64).abs() < 0.1,
                "keyframes at {keyframes:?}"
            );
        }
    }

    #[test]
    fn publishing_where_nothing_listens_fails_at_once() {
        let url = format!("rtmp://127.0.0.1:{}/live/test", free_port());
        let started = Instant::now();

        let err = publish(&small_pattern(&url, Some(1)), &AtomicBool::new(false)).unwrap_err();

        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(&err, MediaError::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused),
            "{err}"
        );
    }

    #[test]
    fn a_silent_server_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("rtmp://{}/live/test", listener.local_addr().unwrap());
        let started = Instant::now();

        let err = publish(&small_pattern(&url, Some(1)), &AtomicBool::new(false)).unwrap_err();

        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&err, MediaError::Io(io) if io.kind() == io::ErrorKind::TimedOut),
            "{err}"
        );
    }

    #[test]
    fn a_refused_publish_says_so_without_the_key() {
        let (url, server) = refusing_server();

        let err = publish(&small_pattern(&url, Some(1)), &AtomicBool::new(false)).unwrap_err();

        let message = err.to_string();
        assert!(message.contains("refused the stream"), "{message}");
        assert!(!message.contains("secret-key"), "{message}");
        assert!(
            matches!(&err, MediaError::Io(io) if io.kind() == io::ErrorKind::PermissionDenied),
            "{err}"
        );
        server.join().unwrap();
    }

    #[test]
    fn a_dropped_connection_ends_the_publish_with_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::start(dir.path(), &["-t", "1"]);
        let started = Instant::now();

        let err = publish_when_listening(
            &small_pattern(&recorder.url, Some(15)),
            &AtomicBool::new(false),
        )
        .unwrap_err();

        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(
            matches!(&err, MediaError::Io(io) if io.kind() == io::ErrorKind::ConnectionAborted),
            "{err}"
        );
    }

    #[test]
    fn stop_ends_an_open_ended_publish() {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::start(dir.path(), &[]);
        let pattern = small_pattern(&recorder.url, None);
        let stop = AtomicBool::new(false);

        let report = thread::scope(|scope| {
            let publisher = scope.spawn(|| publish_when_listening(&pattern, &stop));
            thread::sleep(Duration::from_secs(2));
            stop.store(true, Ordering::Relaxed);
            publisher.join().unwrap()
        })
        .unwrap();

        assert!(report.video_frames > 0 && report.audio_frames > 0);
    }

    #[test]
    fn labels_with_syntax_characters_make_a_valid_graph() {
        init_ffmpeg();
        let pattern = TestPattern {
            label: r#"Room 3: it's 100%, [live]; a\b = "c""#.to_owned(),
            ..TestPattern::default()
        };
        let description = format!("testsrc2=size=64x64,{}", captions(&pattern));

        build_graph(&description, "buffersink").unwrap();
    }

    /// An RTMP server that accepts the connection but refuses every publish,
    /// as ours does for an unknown stream key.
    fn refusing_server() -> (String, thread::JoinHandle<()>) {
        use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
        use rml_rtmp::sessions::{
            ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
        };

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("rtmp://{}/live/secret-key", listener.local_addr().unwrap());
        let server = thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut buffer = [0; 4096];
            let mut handshake = Handshake::new(PeerType::Server);
            let remaining = loop {
                let read = socket.read(&mut buffer).unwrap();
                match handshake.process_bytes(&buffer[..read]).unwrap() {
                    HandshakeProcessResult::InProgress { response_bytes } => {
                        socket.write_all(&response_bytes).unwrap();
                    }
                    HandshakeProcessResult::Completed {
                        response_bytes,
                        remaining_bytes,
                    } => {
                        socket.write_all(&response_bytes).unwrap();
                        break remaining_bytes;
                    }
                }
            };
            let (mut session, results) = ServerSession::new(ServerSessionConfig::new()).unwrap();
            let mut pending = VecDeque::from(results);
            pending.extend(session.handle_input(&remaining).unwrap());
            loop {
                while let Some(result) = pending.pop_front() {
                    match result {
                        ServerSessionResult::OutboundResponse(packet) => {
                            socket.write_all(&packet.bytes).unwrap();
                        }
                        ServerSessionResult::RaisedEvent(
                            ServerSessionEvent::ConnectionRequested { request_id, .. },
                        ) => pending.extend(session.accept_request(request_id).unwrap()),
                        ServerSessionResult::RaisedEvent(
                            ServerSessionEvent::PublishStreamRequested { request_id, .. },
                        ) => pending.extend(
                            session
                                .reject_request(request_id, "NetStream.Publish.BadName", "no")
                                .unwrap(),
                        ),
                        _ => {}
                    }
                }
                match socket.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => pending.extend(session.handle_input(&buffer[..read]).unwrap()),
                }
            }
        });
        (url, server)
    }
}
