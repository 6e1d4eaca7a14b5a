//! An encoder sending HEVC or AV1 the way Enhanced RTMP does (OBS offers
//! both): refused by name, told so over RTMP, and the secretary sees why and
//! what to change in the broadcast's console page. Debian 12's FFmpeg cannot
//! write Enhanced RTMP, so a minimal client here builds the tags itself.

use std::time::Duration;

use bytes::Bytes;
use pavilion::domain::broadcast::{BroadcastState, IngestProblem, Renditions};
use pavilion::domain::Role;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult, PublishRequestType,
};
use rml_rtmp::time::RtmpTimestamp;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;
use crate::publisher::*;

/// A bare RTMP publisher: handshake, connect, publish, then whatever tags
/// the test writes.
struct RawPublisher {
    socket: TcpStream,
    session: ClientSession,
    events: Vec<ClientSessionEvent>,
    closed: bool,
}

impl RawPublisher {
    async fn publish(port: u16, key: &str) -> Self {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut handshake = Handshake::new(PeerType::Client);
        let hello = handshake.generate_outbound_p0_and_p1().unwrap();
        socket.write_all(&hello).await.unwrap();
        let mut buffer = vec![0; 8192];
        let leftover = loop {
            let read = socket.read(&mut buffer).await.unwrap();
            assert!(read > 0, "the server closed during the handshake");
            match handshake.process_bytes(&buffer[..read]).unwrap() {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    socket.write_all(&response_bytes).await.unwrap();
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    socket.write_all(&response_bytes).await.unwrap();
                    break remaining_bytes;
                }
            }
        };
        let (session, results) = ClientSession::new(ClientSessionConfig::new()).unwrap();
        let mut publisher = Self {
            socket,
            session,
            events: Vec::new(),
            closed: false,
        };
        publisher.handle(results).await;
        let results = publisher.session.handle_input(&leftover).unwrap();
        publisher.handle(results).await;
        let request = publisher.session.request_connection("live".into()).unwrap();
        publisher.handle(vec![request]).await;
        publisher
            .wait_for(|e| matches!(e, ClientSessionEvent::ConnectionRequestAccepted))
            .await;
        let request = publisher
            .session
            .request_publishing(key.into(), PublishRequestType::Live)
            .unwrap();
        publisher.handle(vec![request]).await;
        publisher
            .wait_for(|e| matches!(e, ClientSessionEvent::PublishRequestAccepted))
            .await;
        publisher
    }

    async fn handle(&mut self, results: Vec<ClientSessionResult>) {
        for result in results {
            match result {
                ClientSessionResult::OutboundResponse(packet) => {
                    // A refused publisher may find the socket closed.
                    if self.socket.write_all(&packet.bytes).await.is_err() {
                        self.closed = true;
                    }
                }
                ClientSessionResult::RaisedEvent(event) => self.events.push(event),
                ClientSessionResult::UnhandleableMessageReceived(_) => {}
            }
        }
    }

    /// Reads until an event satisfies `wanted` (or the server closes).
    async fn wait_for(&mut self, wanted: impl Fn(&ClientSessionEvent) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut buffer = vec![0; 8192];
        while !self.events.iter().any(&wanted) {
            assert!(
                !self.closed,
                "closed before the wanted event: {:?}",
                self.events
            );
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("no wanted event within 15 s: {:?}", self.events));
            match read {
                Ok(0) | Err(_) => self.closed = true,
                Ok(read) => {
                    let results = self.session.handle_input(&buffer[..read]).unwrap();
                    self.handle(results).await;
                }
            }
        }
    }

    /// Reads until the server closes the connection; panics after `limit`.
    async fn until_closed(&mut self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        let mut buffer = vec![0; 8192];
        while !self.closed {
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buffer))
                .await
                .unwrap_or_else(|_| panic!("the server kept the connection: {:?}", self.events));
            match read {
                Ok(0) | Err(_) => self.closed = true,
                Ok(read) => {
                    let results = self.session.handle_input(&buffer[..read]).unwrap();
                    self.handle(results).await;
                }
            }
        }
    }

    async fn video(&mut self, millis: u32, body: Vec<u8>) {
        if self.closed {
            return;
        }
        let packet = self
            .session
            .publish_video_data(Bytes::from(body), RtmpTimestamp::new(millis), false)
            .unwrap();
        self.handle(vec![packet]).await;
    }

    async fn audio(&mut self, millis: u32, body: Vec<u8>) {
        if self.closed {
            return;
        }
        let packet = self
            .session
            .publish_audio_data(Bytes::from(body), RtmpTimestamp::new(millis), false)
            .unwrap();
        self.handle(vec![packet]).await;
    }

    fn status_codes(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                ClientSessionEvent::UnhandleableOnStatusCode { code } => Some(code.clone()),
                _ => None,
            })
            .collect()
    }
}

/// An Enhanced RTMP video tag: the ExHeader bit, frame type, packet type,
/// then the FourCC.
fn ex_video(key: bool, packet_type: u8, fourcc: &[u8; 4], payload: &[u8]) -> Vec<u8> {
    let frame_type: u8 = if key { 1 } else { 2 };
    let mut tag = vec![0x80 | (frame_type << 4) | packet_type];
    tag.extend_from_slice(fourcc);
    tag.extend_from_slice(payload);
    tag
}

/// What OBS sends with HEVC or AV1 selected: an AAC sequence header, the
/// video sequence start, then coded frames with their NAL/OBU bytes.
async fn send_like_obs(publisher: &mut RawPublisher, fourcc: &[u8; 4]) {
    // AAC-LC, 48 kHz, stereo.
    publisher.audio(0, vec![0xaf, 0, 0x11, 0x90]).await;
    let config: &[u8] = match fourcc {
        // The start of an HEVCDecoderConfigurationRecord (version 1, Main).
        b"hvc1" => &[
            0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0,
        ],
        // An AV1CodecConfigurationRecord (marker, version 1, main profile).
        _ => &[0x81, 0x08, 0x0c, 0x00],
    };
    publisher.video(0, ex_video(true, 0, fourcc, config)).await;
    for frame in 0..5u32 {
        // CodedFrames: a composition time (SI24) then the frame.
        let mut payload = vec![0, 0, 0, 0, 0, 0, 3, 0x26, 0x01, 0xaf];
        if frame > 0 {
            payload[7] = 0x02;
        }
        publisher
            .video(frame * 33, ex_video(frame == 0, 1, fourcc, &payload))
            .await;
        publisher
            .audio(frame * 21, vec![0xaf, 1, 0x21, 0x10, 0x04])
            .await;
    }
}

async fn refused_by_name(fourcc: &[u8; 4], codec: &str) {
    let app = spawn_app_with(|s| {
        s.live.grace_seconds = 60;
        s.live.stall_seconds = 2;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;

    let mut encoder = RawPublisher::publish(app.rtmp_port, &broadcast.stream_key).await;
    send_like_obs(&mut encoder, fourcc).await;
    // (a) The encoder is told, then the connection is closed.
    encoder.until_closed(Duration::from_secs(10)).await;
    assert!(
        encoder
            .status_codes()
            .contains(&"NetStream.Publish.Rejected".to_string()),
        "{:?}",
        encoder.events
    );
    let refused = app.broadcast(broadcast.id).await;
    assert_eq!(
        refused.ingest_problem,
        Some(IngestProblem::video_codec(codec))
    );
    assert!(refused.ingest_problem_at.is_some());
    // An encoder refused for its codec never made the broadcast go live, so
    // no grace period starts that would end it.
    assert_eq!(refused.state, BroadcastState::Scheduled);
    assert!(refused.went_live_at.is_none());

    // (b) The secretary sees which codec and what to change, after any
    // reload, in Chinese and in English.
    let client = app.login("secretary").await;
    let page_path = format!("/console/broadcasts/{}", broadcast.id);
    let page = app.text(&client, &page_path).await;
    let shown = text_of(&page, "[data-ingest-problem]").expect("the ingest problem is shown");
    assert!(shown.contains(codec), "{shown}");
    assert!(shown.contains("只接收 H.264"), "{shown}");
    assert!(shown.contains("OBS 设置→输出→视频编码器"), "{shown}");
    assert!(shown.contains("x264"), "{shown}");
    let english = client
        .get(app.url(&page_path))
        .header("Accept-Language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let shown = text_of(&english, "[data-ingest-problem]").expect("shown in English too");
    assert!(
        shown.contains(&format!("sending {codec}"))
            && shown.contains("only accepts H.264")
            && shown.contains("Settings → Output → Video Encoder"),
        "{shown}"
    );

    // An encoder fixed to H.264 goes live, and the message goes away.
    let _fixed = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(30), "going live", |b| {
        b.state == BroadcastState::Live && b.ingest_problem.is_none()
    })
    .await;
    let page = app.text(&client, &page_path).await;
    assert!(text_of(&page, "[data-ingest-problem]").is_none());
}

#[tokio::test]
async fn hevc_over_enhanced_rtmp_is_refused_and_the_secretary_is_told_why() {
    refused_by_name(b"hvc1", "HEVC (H.265)").await;
}

#[tokio::test]
async fn av1_over_enhanced_rtmp_is_refused_and_the_secretary_is_told_why() {
    refused_by_name(b"av01", "AV1").await;
}

#[tokio::test]
async fn an_encoder_sending_mp3_is_told_why_and_the_secretary_too() {
    let app = spawn_app_with(|s| s.live.stall_seconds = 2).await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoding = Encoding {
        audio_codec: "libmp3lame",
        ..Encoding::default()
    };
    let (ok, said) = Publisher::with(&app.ingest_url(&broadcast.stream_key), encoding)
        .finish(Duration::from_secs(30))
        .await;
    assert!(!ok);
    // FFmpeg prints the onStatus error's description.
    assert!(said.contains("MP3") && said.contains("AAC"), "{said}");
    let refused = app.broadcast(broadcast.id).await;
    assert_eq!(
        refused.ingest_problem,
        Some(IngestProblem::audio_codec("MP3"))
    );
    assert_eq!(refused.state, BroadcastState::Scheduled);
    let client = app.login("secretary").await;
    let page = app
        .text(&client, &format!("/console/broadcasts/{}", broadcast.id))
        .await;
    let shown = text_of(&page, "[data-ingest-problem]").expect("the ingest problem is shown");
    assert!(
        shown.contains("MP3") && shown.contains("OBS 设置→输出→音频编码器"),
        "{shown}"
    );
}
