//! The RTMP ingest server: encoders (OBS, ffmpeg) connect to
//! `rtmp://HOST:1935/live/<stream key>` and publish.
//!
//! The protocol itself (handshake, chunking, AMF commands) is rml_rtmp's; this
//! module drives it over tokio sockets and asks a [`Gate`] whether a key may
//! publish. A refused publish is answered at the RTMP level
//! (`NetStream.Publish.BadName`), so the encoder reports it, and the
//! connection is then closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The only RTMP application name we serve.
pub const APP: &str = "live";

/// Decides who may publish, and takes their media.
#[async_trait]
pub trait Gate: Send + Sync + 'static {
    /// A sink for the stream if `stream_key` may publish now; otherwise the
    /// reason, which is sent to the encoder and logged.
    async fn publish(&self, stream_key: &str, peer: SocketAddr) -> Result<Box<dyn Sink>, String>;
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
    /// Time allowed for the handshake and the publish command.
    pub setup: Duration,
}

/// Accepts encoders until the listener fails.
pub async fn serve(listener: TcpListener, gate: Arc<dyn Gate>, limits: Limits) {
    loop {
        match listener.accept().await {
            Ok((socket, peer)) => {
                let gate = gate.clone();
                tokio::spawn(async move {
                    let _ = socket.set_nodelay(true);
                    if let Err(reason) = Connection::run(socket, peer, gate, limits).await {
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
    sink: Option<Box<dyn Sink>>,
    gate: Arc<dyn Gate>,
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
    ) -> Result<(), String> {
        let leftover = tokio::time::timeout(limits.setup, handshake(&mut socket))
            .await
            .map_err(|_| "handshake timed out".to_string())??;
        let (session, greeting) =
            ServerSession::new(ServerSessionConfig::new()).map_err(|e| e.to_string())?;
        let mut connection = Connection {
            socket,
            peer,
            session,
            sink: None,
            gate,
        };
        let result = connection.converse(greeting, leftover, limits).await;
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
    ) -> Result<(), String> {
        if let Flow::Close = self.handle(greeting).await? {
            return Ok(());
        }
        let results = self
            .session
            .handle_input(&leftover)
            .map_err(|e| e.to_string())?;
        if let Flow::Close = self.handle(results).await? {
            return Ok(());
        }
        let mut buffer = vec![0; 64 * 1024];
        loop {
            // Before publishing, a client gets the setup time; afterwards,
            // silence longer than the stall limit means the encoder is gone.
            let wait = if self.sink.is_some() {
                limits.stall
            } else {
                limits.setup
            };
            let read = tokio::time::timeout(wait, self.socket.read(&mut buffer))
                .await
                .map_err(|_| "no data from the encoder (stalled)".to_string())?
                .map_err(|e| e.to_string())?;
            if read == 0 {
                return Err("encoder disconnected".into());
            }
            let results = read_input(&mut self.session, &buffer[..read])?;
            if let Flow::Close = self.handle(results).await? {
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
        let decision = if self.sink.is_some() {
            Err("this connection is already publishing".to_string())
        } else {
            self.gate.publish(stream_key, self.peer).await
        };
        match decision {
            Ok(sink) => {
                self.sink = Some(sink);
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
        let Some(sink) = self.sink.as_mut() else {
            return Err("media before an accepted publish".into());
        };
        if video {
            sink.video(timestamp, body).await?;
        } else {
            sink.audio(timestamp, body).await?;
        }
        Ok(Flow::Continue)
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
                    let _ = super::flv::read_video(&data);
                }
                ServerSessionResult::RaisedEvent(ServerSessionEvent::AudioDataReceived {
                    data,
                    ..
                }) => {
                    let _ = super::flv::read_audio(&data);
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
    fn a_malformed_amf_command_ends_the_connection_without_a_panic() {
        // Found by `cargo fuzz run rtmp_session`: rml_rtmp panics on it.
        let crash = [0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0, 0, 0, 0, 0x11, 0, 0, 0x40];
        let (mut session, _) = ServerSession::new(ServerSessionConfig::new()).unwrap();
        assert!(read_input(&mut session, &crash).is_err());
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
