//! The RTMP ingest server: encoders (OBS, ffmpeg) connect to
//! `rtmp://HOST:1935/live/<stream key>` and publish.
//!
//! The protocol itself (handshake, chunking, AMF commands) is rml_rtmp's; this
//! module drives it over tokio sockets and asks a [`Gate`] whether a key may
//! publish. A refused publish is answered at the RTMP level
//! (`NetStream.Publish.BadName`), so the encoder reports it, and the
//! connection is then closed.
//!
//! What codec an encoder sends is known only from its first media, after it
//! was told to start: so an admitted publish first holds its media until a
//! video and a sound message have come, and only codecs Pavilion takes make
//! the broadcast go live. HEVC or AV1 (which OBS offers over Enhanced
//! RTMP), or sound other than AAC, is refused by name: the gate records it
//! for staff, the encoder is sent an `onStatus` error
//! (`NetStream.Publish.Rejected`) that says what to change, and the
//! connection is closed.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rml_rtmp::chunk_io::ChunkSerializer;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::flv;
use crate::domain::broadcast::IngestProblem;

/// The only RTMP application name we serve.
pub const APP: &str = "live";

/// Decides who may publish, and takes their media.
#[async_trait]
pub trait Gate: Send + Sync + 'static {
    /// Whether `stream_key` may publish, asked before the encoder is told to
    /// start; otherwise the reason, which is sent to the encoder and logged.
    async fn admit(&self, stream_key: &str, peer: SocketAddr) -> Result<(), String>;
    /// A sink for the stream if `stream_key` may publish now, asked once the
    /// encoder's first video and sound show codecs Pavilion takes (or it has sent
    /// one kind of media only for a while); otherwise the reason, as for `admit`.
    async fn publish(&self, stream_key: &str, peer: SocketAddr) -> Result<Box<dyn Sink>, String>;
    /// The encoder publishing `stream_key` was turned away for what it sends;
    /// staff must learn why.
    async fn refused(&self, stream_key: &str, peer: SocketAddr, problem: &IngestProblem);
}

/// Where one publisher's media goes. Each call gets the body of one RTMP
/// audio or video message (an FLV tag body) and its timestamp.
#[async_trait]
pub trait Sink: Send {
    /// An error ends the publish (e.g. an unsupported codec).
    async fn video(&mut self, timestamp: u32, body: Bytes) -> Result<(), String>;
    async fn audio(&mut self, timestamp: u32, body: Bytes) -> Result<(), String>;
    /// The publisher has gone, by its own choice (`finished`) or not.
    async fn close(self: Box<Self>, finished: bool);
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A publisher that sends nothing for this long is treated as gone.
    pub stall: Duration,
    /// Time allowed from connecting to an accepted publish, in total (not
    /// per read: a client trickling a byte at a time gets no longer).
    pub setup: Duration,
    /// Connections that have not yet been allowed to publish, at most.
    /// Further ones are closed as soon as they are accepted.
    pub max_pending: usize,
    /// The same, from one client address (one IPv6 /64), so that one
    /// stranger cannot take every place and keep the encoders out.
    pub max_pending_per_address: usize,
}

/// The places of connections not yet publishing, in total and per address.
struct PendingPlaces {
    total: usize,
    per_address: usize,
    taken: std::sync::Mutex<(usize, std::collections::HashMap<IpAddr, usize>)>,
}

/// One place, given back when dropped.
struct PendingPlace {
    places: Arc<PendingPlaces>,
    address: IpAddr,
}

impl PendingPlaces {
    fn take(self: &Arc<Self>, peer: IpAddr) -> Option<PendingPlace> {
        let address = address_key(peer);
        let mut taken = self.taken.lock().expect("pending places poisoned");
        let (total, by_address) = &mut *taken;
        let own = by_address.entry(address).or_insert(0);
        if *total >= self.total || *own >= self.per_address {
            if *own == 0 {
                by_address.remove(&address);
            }
            return None;
        }
        *own += 1;
        *total += 1;
        Some(PendingPlace {
            places: self.clone(),
            address,
        })
    }
}

impl Drop for PendingPlace {
    fn drop(&mut self) {
        let mut taken = self.places.taken.lock().expect("pending places poisoned");
        let (total, by_address) = &mut *taken;
        *total = total.saturating_sub(1);
        if let Some(own) = by_address.get_mut(&self.address) {
            *own = own.saturating_sub(1);
            if *own == 0 {
                by_address.remove(&self.address);
            }
        }
    }
}

/// An IPv4 address as it is; an IPv6 one by its /64, which one subscriber
/// usually has whole.
fn address_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// What a connection may send before its publish is accepted: the connect,
/// createStream and publish commands take well under 4 KiB. Input beyond
/// this ends the connection, so that strangers cannot make the session
/// buffer (rml_rtmp keeps a partly received message of up to 16 MiB).
const PENDING_INPUT_MAX: usize = 64 * 1024;
/// The same once the key is admitted, until its first video and sound: room
/// for the metadata, media held meanwhile and a first keyframe.
const OPENING_INPUT_MAX: usize = 4 * 1024 * 1024;
/// Messages held until both a video and a sound message have come (each
/// codec checked); an encoder that sends this many of one kind only (about
/// 1.4 s of AAC at 48 kHz, 2.5 s of video at 25 fps) is published as it is.
const OPENING_HELD_MAX: usize = 64;
/// The message stream an encoder publishes on: rml_rtmp numbers the streams
/// a connection creates from 1, and encoders create one.
const PUBLISH_STREAM_ID: u32 = 1;
/// How long a refused encoder is given to read why before the socket closes.
const REFUSAL_LINGER: Duration = Duration::from_secs(2);
/// The read buffer before a publish is accepted, and after.
const PENDING_READ_BUFFER: usize = 4 * 1024;
const PUBLISHING_READ_BUFFER: usize = 64 * 1024;

/// Accepts encoders until the listener fails.
pub async fn serve(listener: TcpListener, gate: Arc<dyn Gate>, limits: Limits) {
    let pending = Arc::new(PendingPlaces {
        total: limits.max_pending.max(1),
        per_address: limits.max_pending_per_address.max(1),
        taken: Default::default(),
    });
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                // Full: closed at once, before anything is read or kept.
                let Some(permit) = pending.take(peer.ip()) else {
                    tracing::warn!(%peer, "RTMP connection refused: too many connections not yet publishing");
                    drop(socket);
                    continue;
                };
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _ = socket.set_nodelay(true);
                    if let Err(reason) = Connection::run(socket, peer, gate, limits, permit).await {
                        tracing::info!(%peer, %reason, "RTMP connection closed");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

struct Connection {
    socket: TcpStream,
    peer: SocketAddr,
    session: ServerSession,
    /// The admitted key, from the accepted publish command on.
    stream_key: Option<String>,
    /// Admitted, waiting for its first video and sound.
    opening: Option<Opening>,
    sink: Option<Box<dyn Sink>>,
    gate: Arc<dyn Gate>,
    /// Held until the publish is accepted: a place among the pending.
    pending: Option<PendingPlace>,
}

/// Media received between the encoder being told to start and its first
/// video and sound messages: (video, timestamp, body), in order.
#[derive(Default)]
struct Opening {
    held: Vec<(bool, u32, Bytes)>,
}

/// How a connection's processing of one batch of input ended.
enum Flow {
    Continue,
    /// The publisher said it is done, or we refused it.
    Close,
}

impl Connection {
    async fn run(
        mut socket: TcpStream,
        peer: SocketAddr,
        gate: Arc<dyn Gate>,
        limits: Limits,
        pending: PendingPlace,
    ) -> Result<(), String> {
        let setup_ends = tokio::time::Instant::now() + limits.setup;
        let leftover = tokio::time::timeout_at(setup_ends, handshake(&mut socket))
            .await
            .map_err(|_| "handshake timed out".to_string())??;
        let (session, greeting) =
            ServerSession::new(ServerSessionConfig::new()).map_err(|e| e.to_string())?;
        let mut connection = Connection {
            socket,
            peer,
            session,
            stream_key: None,
            opening: None,
            sink: None,
            gate,
            pending: Some(pending),
        };
        let result = connection
            .converse(greeting, leftover, limits, setup_ends)
            .await;
        if let Some(sink) = connection.sink.take() {
            sink.close(false).await;
        }
        result
    }

    async fn converse(
        &mut self,
        greeting: Vec<ServerSessionResult>,
        leftover: Vec<u8>,
        limits: Limits,
        setup_ends: tokio::time::Instant,
    ) -> Result<(), String> {
        if let Flow::Close = self.handle(greeting).await? {
            return Ok(());
        }
        let results = read_input(&mut self.session, &leftover)?;
        if let Flow::Close = self.handle(results).await? {
            self.linger().await;
            return Ok(());
        }
        let mut buffer = vec![0; PENDING_READ_BUFFER];
        let mut pending_input = leftover.len();
        loop {
            // Before publishing, a client has what is left of the setup
            // time; afterwards, silence longer than the stall limit means
            // the encoder is gone.
            let read = if self.sink.is_some() {
                if buffer.len() < PUBLISHING_READ_BUFFER {
                    buffer.resize(PUBLISHING_READ_BUFFER, 0);
                }
                tokio::time::timeout(limits.stall, self.socket.read(&mut buffer))
                    .await
                    .map_err(|_| "no data from the encoder (stalled)".to_string())?
            } else {
                match tokio::time::timeout_at(setup_ends, self.socket.read(&mut buffer)).await {
                    Ok(read) => read,
                    // One kind of media only, for the whole setup time:
                    // published as it is (the pipeline takes sound only).
                    Err(_) if self.opening.as_ref().is_some_and(|o| !o.held.is_empty()) => {
                        if let Flow::Close = self.open().await? {
                            self.linger().await;
                            return Ok(());
                        }
                        continue;
                    }
                    Err(_) => return Err("no accepted publish within the setup time".into()),
                }
            }
            .map_err(|e| e.to_string())?;
            if read == 0 {
                return Err("encoder disconnected".into());
            }
            if self.sink.is_none() {
                pending_input += read;
                let limit = if self.opening.is_some() {
                    OPENING_INPUT_MAX
                } else {
                    PENDING_INPUT_MAX
                };
                if pending_input > limit {
                    return Err("too much input before publishing".into());
                }
            }
            let results = read_input(&mut self.session, &buffer[..read])?;
            if let Flow::Close = self.handle(results).await? {
                self.linger().await;
                return Ok(());
            }
        }
    }

    async fn handle(&mut self, results: Vec<ServerSessionResult>) -> Result<Flow, String> {
        let mut flow = Flow::Continue;
        for result in results {
            match result {
                ServerSessionResult::OutboundResponse(packet) => {
                    self.send(&packet.bytes).await?;
                }
                ServerSessionResult::RaisedEvent(event) => {
                    if let Flow::Close = self.on_event(event).await? {
                        flow = Flow::Close;
                    }
                }
                ServerSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
        Ok(flow)
    }

    async fn on_event(&mut self, event: ServerSessionEvent) -> Result<Flow, String> {
        match event {
            ServerSessionEvent::ConnectionRequested {
                request_id,
                app_name,
            } => {
                let results = if app_name == APP {
                    self.session.accept_request(request_id)
                } else {
                    self.session.reject_request(
                        request_id,
                        "NetConnection.Connect.Rejected",
                        "unknown application; publish to /live/<stream key>",
                    )
                };
                let flow = if app_name == APP {
                    Flow::Continue
                } else {
                    Flow::Close
                };
                self.flush(results).await?;
                Ok(flow)
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                stream_key,
                ..
            } => self.on_publish(request_id, &stream_key).await,
            ServerSessionEvent::PlayStreamRequested { request_id, .. } => {
                let results = self.session.reject_request(
                    request_id,
                    "NetStream.Play.Failed",
                    "playback is over HLS, not RTMP",
                );
                self.flush(results).await?;
                Ok(Flow::Close)
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => self.forward(true, timestamp.value, data).await,
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => self.forward(false, timestamp.value, data).await,
            ServerSessionEvent::PublishStreamFinished { .. } => {
                if let Some(sink) = self.sink.take() {
                    sink.close(true).await;
                }
                Ok(Flow::Close)
            }
            _ => Ok(Flow::Continue),
        }
    }

    async fn on_publish(&mut self, request_id: u32, stream_key: &str) -> Result<Flow, String> {
        let decision = if self.stream_key.is_some() {
            Err("this connection is already publishing".to_string())
        } else {
            self.gate.admit(stream_key, self.peer).await
        };
        match decision {
            Ok(()) => {
                self.stream_key = Some(stream_key.to_owned());
                self.opening = Some(Opening::default());
                let results = self.session.accept_request(request_id);
                self.flush(results).await?;
                Ok(Flow::Continue)
            }
            Err(reason) => {
                // The gate has logged why.
                let results =
                    self.session
                        .reject_request(request_id, "NetStream.Publish.BadName", &reason);
                self.flush(results).await?;
                Ok(Flow::Close)
            }
        }
    }

    async fn forward(&mut self, video: bool, timestamp: u32, body: Bytes) -> Result<Flow, String> {
        if self.stream_key.is_none() {
            return Err("media before an accepted publish".into());
        }
        let refused = if video {
            flv::refused_video_codec(&body).map(|codec| IngestProblem::video_codec(&codec))
        } else {
            flv::refused_audio_codec(&body).map(|codec| IngestProblem::audio_codec(&codec))
        };
        if let Some(problem) = refused {
            return self.refuse(problem).await;
        }
        let Some(opening) = self.opening.as_mut() else {
            self.deliver(video, timestamp, body).await?;
            return Ok(Flow::Continue);
        };
        opening.held.push((video, timestamp, body));
        let (has_video, has_audio) = opening
            .held
            .iter()
            .fold((false, false), |(v, a), held| (v || held.0, a || !held.0));
        if (has_video && has_audio) || opening.held.len() >= OPENING_HELD_MAX {
            return self.open().await;
        }
        Ok(Flow::Continue)
    }

    /// Asks the gate for a sink now that the codec is known, and gives it
    /// what was held meanwhile.
    async fn open(&mut self) -> Result<Flow, String> {
        let (Some(opening), Some(stream_key)) = (self.opening.take(), self.stream_key.as_deref())
        else {
            return Ok(Flow::Continue);
        };
        match self.gate.publish(stream_key, self.peer).await {
            Ok(sink) => {
                self.sink = Some(sink);
                // A publisher no longer counts among the pending.
                self.pending = None;
                for (video, timestamp, body) in opening.held {
                    self.deliver(video, timestamp, body).await?;
                }
                Ok(Flow::Continue)
            }
            Err(reason) => {
                // The gate has logged why; the encoder was told to start, so
                // it is told to stop the same way.
                self.send_status_error(&reason).await?;
                Ok(Flow::Close)
            }
        }
    }

    /// Turns the encoder away for what it sends: staff learn why through the
    /// gate, the encoder through an `onStatus` error.
    async fn refuse(&mut self, problem: IngestProblem) -> Result<Flow, String> {
        if let Some(stream_key) = self.stream_key.as_deref() {
            self.gate.refused(stream_key, self.peer, &problem).await;
        }
        self.send_status_error(&problem.to_string()).await?;
        Ok(Flow::Close)
    }

    async fn send_status_error(&mut self, description: &str) -> Result<(), String> {
        let bytes = status_error("NetStream.Publish.Rejected", description)?;
        self.send(&bytes).await
    }

    /// Closes our side and gives the encoder a moment to read what it was
    /// told: closing with its media still unread would reset the connection,
    /// and the reset can overtake the message.
    async fn linger(&mut self) {
        let _ = self.socket.shutdown().await;
        let mut sink = [0; 16 * 1024];
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            while matches!(self.socket.read(&mut sink).await, Ok(n) if n > 0) {}
        })
        .await;
    }

    async fn deliver(&mut self, video: bool, timestamp: u32, body: Bytes) -> Result<(), String> {
        let Some(sink) = self.sink.as_mut() else {
            return Err("media before an accepted publish".into());
        };
        if video {
            sink.video(timestamp, body).await?;
        } else {
            sink.audio(timestamp, body).await?;
        }
        Ok(())
    }

    async fn flush<E: std::fmt::Display>(
        &mut self,
        results: Result<Vec<ServerSessionResult>, E>,
    ) -> Result<(), String> {
        for result in results.map_err(|e| e.to_string())? {
            if let ServerSessionResult::OutboundResponse(packet) = result {
                self.send(&packet.bytes).await?;
            }
        }
        Ok(())
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.socket
            .write_all(bytes)
            .await
            .map_err(|e| format!("cannot write to the encoder: {e}"))
    }
}

/// An `onStatus` error on the publishing stream, chunked on its own: a fresh
/// serializer writes full (type 0) chunk headers, which a client reads
/// whatever came before, at the chunk size the session announced.
fn status_error(code: &str, description: &str) -> Result<Vec<u8>, String> {
    let status = [
        ("level", "error"),
        ("code", code),
        ("description", description),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), Amf0Value::Utf8String(value.to_owned())))
    .collect();
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".into(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(status)],
    };
    let unwritable = |e: &dyn std::fmt::Display| format!("cannot write a status message: {e}");
    let payload = message
        .into_message_payload(RtmpTimestamp::new(0), PUBLISH_STREAM_ID)
        .map_err(|e| unwritable(&e))?;
    let mut serializer = ChunkSerializer::new();
    // The session has already told the client this size.
    serializer
        .set_max_chunk_size(ServerSessionConfig::new().chunk_size, RtmpTimestamp::new(0))
        .map_err(|e| unwritable(&e))?;
    let packet = serializer
        .serialize(&payload, true, false)
        .map_err(|e| unwritable(&e))?;
    Ok(packet.bytes)
}

/// Feeds a client's bytes to the session. rml_rtmp panics on some malformed
/// AMF commands (found by fuzzing); such input must end only this connection.
fn read_input(
    session: &mut ServerSession,
    bytes: &[u8],
) -> Result<Vec<ServerSessionResult>, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| session.handle_input(bytes)))
        .map_err(|_| "malformed RTMP command".to_string())?
        .map_err(|e| format!("malformed RTMP: {e}"))
}

/// Runs the RTMP handshake; returns the bytes the client sent after it.
async fn handshake(socket: &mut TcpStream) -> Result<Vec<u8>, String> {
    let mut handshake = Handshake::new(PeerType::Server);
    let mut buffer = vec![0; 4096];
    loop {
        let read = socket.read(&mut buffer).await.map_err(|e| e.to_string())?;
        if read == 0 {
            return Err("disconnected during the handshake".into());
        }
        match handshake
            .process_bytes(&buffer[..read])
            .map_err(|e| format!("bad RTMP handshake: {e:?}"))?
        {
            HandshakeProcessResult::InProgress { response_bytes } => {
                socket
                    .write_all(&response_bytes)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            HandshakeProcessResult::Completed {
                response_bytes,
                remaining_bytes,
            } => {
                socket
                    .write_all(&response_bytes)
                    .await
                    .map_err(|e| e.to_string())?;
                return Ok(remaining_bytes);
            }
        }
    }
}

/// The entry point the fuzz target drives: a whole client byte stream after
/// the handshake, fed through the session and the FLV readers. Never panics.
pub fn feed_session_bytes(input: &[u8]) {
    let Ok((mut session, _)) = ServerSession::new(ServerSessionConfig::new()) else {
        return;
    };
    for chunk in input.chunks(512) {
        let Ok(results) = read_input(&mut session, chunk) else {
            return;
        };
        for result in results {
            match result {
                ServerSessionResult::RaisedEvent(ServerSessionEvent::VideoDataReceived {
                    data,
                    ..
                }) => {
                    let _ = flv::ex_video_header(&data);
                    let _ = flv::refused_video_codec(&data);
                    let _ = flv::read_video(&data);
                }
                ServerSessionResult::RaisedEvent(ServerSessionEvent::AudioDataReceived {
                    data,
                    ..
                }) => {
                    let _ = flv::refused_audio_codec(&data);
                    let _ = flv::read_audio(&data);
                }
                ServerSessionResult::RaisedEvent(ServerSessionEvent::PublishStreamRequested {
                    request_id,
                    ..
                }) => {
                    let _ = session.accept_request(request_id);
                }
                ServerSessionResult::RaisedEvent(ServerSessionEvent::ConnectionRequested {
                    request_id,
                    ..
                }) => {
                    let _ = session.accept_request(request_id);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_places_are_bounded_in_total_and_per_address() {
        let places = Arc::new(PendingPlaces {
            total: 3,
            per_address: 2,
            taken: Default::default(),
        });
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        let first = places.take(a).unwrap();
        let _second = places.take(a).unwrap();
        assert!(places.take(a).is_none(), "a third from one address");
        let _third = places.take(b).unwrap();
        assert!(places.take(c).is_none(), "a fourth in all");
        drop(first);
        assert!(places.take(c).is_some(), "a place given back is free again");
        // One IPv6 /64 counts as one address.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::ffff:1".parse().unwrap();
        assert_eq!(address_key(v6a), address_key(v6b));
    }

    #[test]
    fn a_malformed_amf_command_ends_the_connection_without_a_panic() {
        // Found by `cargo fuzz run rtmp_session`: rml_rtmp panics on it.
        let crash = [0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0x11, 0, 0, 0x40];
        let (mut session, _) = ServerSession::new(ServerSessionConfig::new()).unwrap();
        assert!(read_input(&mut session, &crash).is_err());
    }

    #[test]
    fn a_status_error_reads_back_at_the_announced_chunk_size() {
        // Longer than one 128-byte chunk: it must be cut at the session's size.
        let description = "the encoder sends HEVC (H.265) video; ".repeat(8);
        let bytes = status_error("NetStream.Publish.Rejected", &description).unwrap();
        let mut reader = rml_rtmp::chunk_io::ChunkDeserializer::new();
        reader
            .set_max_chunk_size(ServerSessionConfig::new().chunk_size as usize)
            .unwrap();
        let payload = reader.get_next_message(&bytes).unwrap().unwrap();
        assert_eq!(payload.message_stream_id, PUBLISH_STREAM_ID);
        let RtmpMessage::Amf0Command {
            command_name,
            additional_arguments,
            ..
        } = payload.to_rtmp_message().unwrap()
        else {
            panic!("not a command");
        };
        assert_eq!(command_name, "onStatus");
        let [Amf0Value::Object(status)] = &additional_arguments[..] else {
            panic!("{additional_arguments:?}");
        };
        let text = |name: &str| match status.get(name) {
            Some(Amf0Value::Utf8String(text)) => text.clone(),
            other => panic!("{name}: {other:?}"),
        };
        assert_eq!(text("level"), "error");
        assert_eq!(text("code"), "NetStream.Publish.Rejected");
        assert_eq!(text("description"), description);
    }

    #[test]
    fn random_session_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for round in 0..2_000 {
            let len = 1 + round % 700;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    (seed & 0xff) as u8
                })
                .collect();
            feed_session_bytes(&bytes);
        }
    }
}
