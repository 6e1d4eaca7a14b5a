//! Going live over WebRTC: the WHIP ingest (RFC 9725). A browser or a WHIP
//! encoder posts an SDP offer; the answer names this node's UDP sockets
//! (one per advertised address, all on `live.webrtc_udp_port`), where one
//! task drives every session's str0m [`Rtc`] (sans-IO: we own the sockets
//! and the clock).
//!
//! Once ICE and DTLS are through, the session gets a sink from the [`Hub`]
//! exactly as an RTMP publish does (same key rules, one publisher per
//! broadcast across nodes, grace period on loss) and feeds it from a
//! dedicated media thread: H.264 passed through as AVC tags, Opus decoded
//! and encoded to AAC (see [`crate::media::webrtc`]). The live pipeline does
//! not know which protocol fed it.
//!
//! Bounded: at most `live.webrtc_max_sessions` sessions; one that has not
//! connected within [`CONNECT_TIMEOUT`] is dropped; one whose media stops
//! for `live.stall_seconds` (a phone that moved from Wi-Fi to 4G) ends its
//! publish like an RTMP disconnect, and a new offer within the grace period
//! continues the broadcast.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use str0m::change::SdpOffer;
use str0m::media::{KeyframeRequestKind, MediaData, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

use super::hub::Hub;
use crate::domain::broadcast::{Broadcast, PublishRefusal};
use crate::domain::BroadcastId;
use crate::media::webrtc::{self, AvcPackager, OfferProblem, OpusToAac, OPUS_RATE};

/// A session that has not completed ICE and DTLS by then is dropped.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the sender is asked for a keyframe: segments are cut on
/// keyframes, and browsers otherwise send one only every few minutes.
const KEYFRAME_EVERY: Duration = Duration::from_secs(1);
/// Media waiting for the media thread, at most (then frames are dropped and
/// a keyframe is asked for).
const MEDIA_QUEUE: usize = 512;
/// The largest datagram read.
const DATAGRAM_MAX: usize = 2048;

#[derive(Debug, Clone)]
pub struct WhipConfig {
    pub port: u16,
    /// The addresses the sockets bind to and the answer advertises.
    pub ips: Vec<IpAddr>,
    pub max_sessions: usize,
    /// Media silent for this long ends the publish (as RTMP's stall).
    pub stall: Duration,
}

/// Why an offer was not answered.
#[derive(Debug, thiserror::Error)]
pub enum WhipError {
    #[error(transparent)]
    Offer(#[from] OfferProblem),
    #[error("{0}")]
    Refused(PublishRefusal),
    #[error("too many WebRTC publishers on this server just now; try again")]
    Busy,
    #[error("the offer cannot be answered: {0}")]
    Unanswerable(String),
    #[error("no such WHIP session")]
    NotFound,
}

/// An answered offer.
#[derive(Debug)]
pub struct Answer {
    pub session: String,
    pub sdp: String,
    pub etag: String,
}

/// The WHIP ingest of this node.
#[derive(Clone)]
pub struct Whip {
    inner: Arc<Inner>,
}

struct Inner {
    hub: Hub,
    config: WhipConfig,
    candidates: Vec<SocketAddr>,
    sessions: Mutex<HashMap<String, BroadcastId>>,
    commands: mpsc::UnboundedSender<Command>,
    crypto: Arc<str0m::config::CryptoProvider>,
}

enum Command {
    Add(Box<Session>),
    End { session: String, finished: bool },
}

impl Whip {
    /// Binds the sockets and starts the task that drives the sessions.
    pub fn start(hub: Hub, config: WhipConfig) -> anyhow::Result<Self> {
        let mut sockets = Vec::new();
        let mut port = config.port;
        for ip in &config.ips {
            let socket = StdUdpSocket::bind((*ip, port)).map_err(|e| {
                anyhow::anyhow!("cannot bind the WebRTC UDP socket on {ip}:{port}: {e}")
            })?;
            // With port 0 the first socket picks a port and the others share it.
            port = socket.local_addr()?.port();
            socket.set_nonblocking(true)?;
            sockets.push(UdpSocket::from_std(socket)?);
        }
        if sockets.is_empty() {
            anyhow::bail!("live.webrtc_ips names no address to take WebRTC publishers on");
        }
        let candidates = sockets
            .iter()
            .map(|s| s.local_addr())
            .collect::<Result<Vec<_>, _>>()?;
        let (commands, received) = mpsc::unbounded_channel();
        let whip = Self {
            inner: Arc::new(Inner {
                hub: hub.clone(),
                config,
                candidates,
                sessions: Mutex::new(HashMap::new()),
                commands,
                crypto: Arc::new(str0m::crypto::from_feature_flags()),
            }),
        };
        let driver = Driver {
            whip: whip.clone(),
            sockets: sockets.into_iter().map(Arc::new).collect(),
            sessions: HashMap::new(),
        };
        let task = tokio::spawn(driver.run(received));
        hub.keep_task(task.abort_handle());
        tracing::info!(addresses = ?whip.inner.candidates, "WHIP (WebRTC) ingest listening");
        Ok(whip)
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, BroadcastId>> {
        self.inner
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Answers a publisher's offer for `broadcast`, whose authorisation the
    /// caller checked (stream key or staff rights); `who` names it in logs.
    pub async fn offer(
        &self,
        broadcast: &Broadcast,
        who: &str,
        sdp: &str,
    ) -> Result<Answer, WhipError> {
        let summary = webrtc::inspect_offer(sdp)?;
        self.inner
            .hub
            .admit_webrtc(broadcast)
            .map_err(WhipError::Refused)?;
        let session = uuid::Uuid::new_v4().simple().to_string();
        {
            let mut sessions = self.sessions();
            if sessions.values().any(|b| *b == broadcast.id) {
                return Err(WhipError::Refused(PublishRefusal::AlreadyPublishing));
            }
            if sessions.len() >= self.inner.config.max_sessions.max(1) {
                return Err(WhipError::Busy);
            }
            sessions.insert(session.clone(), broadcast.id);
        }
        match self.answer(broadcast, who, sdp, summary.audio, &session) {
            Ok(answer) => Ok(answer),
            Err(e) => {
                self.sessions().remove(&session);
                Err(e)
            }
        }
    }

    fn answer(
        &self,
        broadcast: &Broadcast,
        who: &str,
        sdp: &str,
        audio: bool,
        session: &str,
    ) -> Result<Answer, WhipError> {
        let offer =
            SdpOffer::from_sdp_string(sdp).map_err(|e| WhipError::Unanswerable(e.to_string()))?;
        let now = Instant::now();
        let mut rtc = Rtc::builder()
            .set_crypto_provider(self.inner.crypto.clone())
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true, false)
            .set_stats_interval(None)
            .build(now);
        for address in &self.inner.candidates {
            let candidate = Candidate::host(*address, "udp")
                .map_err(|e| WhipError::Unanswerable(e.to_string()))?;
            rtc.add_local_candidate(candidate);
        }
        let answer = rtc
            .sdp_api()
            .accept_offer(offer)
            .map_err(|e| WhipError::Unanswerable(e.to_string()))?;
        let answer = answer.to_sdp_string();
        // What we answered must carry H.264 (an offer may name it with
        // parameters we do not take).
        webrtc::inspect_offer(&answer)?;
        let etag = format!("\"{}\"", &session[..16]);
        let added = Session {
            id: session.to_owned(),
            broadcast: broadcast.id,
            who: who.to_owned(),
            audio,
            rtc,
            created: now,
            connected: None,
            last_media: now,
            last_keyframe_request: None,
            video: None,
            clocks: HashMap::new(),
            media: None,
        };
        self.inner
            .commands
            .send(Command::Add(Box::new(added)))
            .map_err(|_| WhipError::Refused(PublishRefusal::Unavailable))?;
        tracing::info!(broadcast = %broadcast.id, %who, session, "WHIP offer answered");
        Ok(Answer {
            session: session.to_owned(),
            sdp: answer,
            etag,
        })
    }

    /// Ends a session of `broadcast` (`DELETE` of its resource): the publish
    /// ends as when an RTMP encoder stops.
    pub fn end(&self, broadcast: BroadcastId, session: &str) -> Result<(), WhipError> {
        match self.sessions().get(session) {
            Some(b) if *b == broadcast => {}
            _ => return Err(WhipError::NotFound),
        }
        let _ = self.inner.commands.send(Command::End {
            session: session.to_owned(),
            finished: true,
        });
        // Forgotten at once: the broadcast may take a new publisher.
        self.sessions().remove(session);
        Ok(())
    }
}

/// The addresses advertised when `live.webrtc_ips` is empty: this machine's
/// addresses towards the outside (a route lookup; nothing is sent) and loopback.
pub fn default_ips() -> Vec<IpAddr> {
    let mut ips = Vec::new();
    let probes: [(IpAddr, IpAddr); 2] = [
        (
            Ipv4Addr::UNSPECIFIED.into(),
            // TEST-NET-2: a route lookup only, no datagram goes out.
            Ipv4Addr::new(198, 51, 100, 1).into(),
        ),
        (
            Ipv6Addr::UNSPECIFIED.into(),
            "2001:db8::1"
                .parse::<Ipv6Addr>()
                .expect("an address")
                .into(),
        ),
    ];
    for (any, outside) in probes {
        let found = StdUdpSocket::bind((any, 0))
            .and_then(|s| s.connect((outside, 9)).map(|()| s))
            .and_then(|s| s.local_addr());
        if let Ok(address) = found {
            let ip = address.ip();
            if !ip.is_loopback() && !ip.is_unspecified() && !ips.contains(&ip) {
                ips.push(ip);
            }
        }
    }
    ips.push(Ipv4Addr::LOCALHOST.into());
    ips
}

/// What the media thread of a session is given.
enum MediaIn {
    /// An H.264 access unit (Annex B) at `millis`.
    Video { millis: i64, data: Arc<[u8]> },
    /// An Opus packet at `pts` (1/48000 s).
    Audio { pts: i64, data: Arc<[u8]> },
}

/// Where an RTP clock starts on the session's millisecond timeline.
#[derive(Debug, Clone, Copy)]
struct Clock {
    first_rtp: i64,
    start_millis: i64,
}

struct Session {
    id: String,
    broadcast: BroadcastId,
    who: String,
    audio: bool,
    rtc: Rtc,
    created: Instant,
    connected: Option<Instant>,
    last_media: Instant,
    last_keyframe_request: Option<Instant>,
    video: Option<Mid>,
    clocks: HashMap<Mid, Clock>,
    /// To the media thread, once connected. Dropped to end the publish.
    media: Option<SyncSender<MediaIn>>,
}

struct Driver {
    whip: Whip,
    sockets: Vec<Arc<UdpSocket>>,
    sessions: HashMap<String, Session>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        // Each socket is read by its own task; datagrams come here.
        let (datagrams, mut received) = mpsc::channel::<(usize, SocketAddr, Vec<u8>)>(1024);
        for (index, socket) in self.sockets.iter().enumerate() {
            let socket = socket.clone();
            let datagrams = datagrams.clone();
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; DATAGRAM_MAX];
                loop {
                    match socket.recv_from(&mut buf).await {
                        Ok((n, source)) => {
                            if datagrams
                                .send((index, source, buf[..n].to_vec()))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "WebRTC socket read failed");
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                    }
                }
            });
            self.whip.inner.hub.keep_task(reader.abort_handle());
        }
        drop(datagrams);
        loop {
            let next = self.poll_all().await;
            let wait = next.saturating_duration_since(Instant::now());
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Add(session)) => {
                        self.sessions.insert(session.id.clone(), *session);
                    }
                    Some(Command::End { session, finished }) => self.remove(&session, finished),
                    None => return,
                },
                datagram = received.recv() => {
                    let Some((index, source, data)) = datagram else { return };
                    self.receive(index, source, &data);
                }
                _ = tokio::time::sleep(wait) => {
                    let now = Instant::now();
                    for session in self.sessions.values_mut() {
                        if session.rtc.is_alive() {
                            let _ = session.rtc.handle_input(Input::Timeout(now));
                        }
                    }
                }
            }
        }
    }

    fn receive(&mut self, index: usize, source: SocketAddr, data: &[u8]) {
        let Some(socket) = self.sockets.get(index) else {
            return;
        };
        let Ok(destination) = socket.local_addr() else {
            return;
        };
        let Ok(contents) = Receive::new(Protocol::Udp, source, destination, data) else {
            return;
        };
        let input = Input::Receive(Instant::now(), contents);
        if let Some(session) = self.sessions.values_mut().find(|s| s.rtc.accepts(&input)) {
            if let Err(e) = session.rtc.handle_input(input) {
                tracing::info!(session = session.id, error = %e, "WebRTC input failed; ending the session");
                session.rtc.disconnect();
            }
        }
    }

    fn remove(&mut self, id: &str, finished: bool) {
        if let Some(mut session) = self.sessions.remove(id) {
            session.rtc.disconnect();
            // Dropping the sender ends the media thread, which closes the sink.
            session.media = None;
            tracing::info!(broadcast = %session.broadcast, session = id, finished, "WHIP session ended");
        }
        self.whip.sessions().remove(id);
    }

    /// Drives every session's output; ends those that are done. Returns
    /// when to wake up next.
    async fn poll_all(&mut self) -> Instant {
        let now = Instant::now();
        let mut next = now + Duration::from_millis(100);
        let mut ended = Vec::new();
        let mut sessions = std::mem::take(&mut self.sessions);
        for session in sessions.values_mut() {
            match self.drive(session, now).await {
                Some(at) => next = next.min(at),
                None => ended.push(session.id.clone()),
            }
        }
        self.sessions = sessions;
        for id in ended {
            self.remove(&id, false);
        }
        next.max(now + Duration::from_millis(1))
    }

    /// None when the session is over.
    async fn drive(&self, session: &mut Session, now: Instant) -> Option<Instant> {
        if !session.rtc.is_alive() {
            return None;
        }
        match session.connected {
            None if now.duration_since(session.created) > CONNECT_TIMEOUT => {
                tracing::info!(broadcast = %session.broadcast, session = session.id, "WHIP session did not connect in time");
                return None;
            }
            Some(_) if now.duration_since(session.last_media) > self.whip.inner.config.stall => {
                tracing::info!(broadcast = %session.broadcast, session = session.id, "WHIP publisher stopped sending");
                return None;
            }
            _ => {}
        }
        if session.media.is_some() {
            session.ask_for_keyframe(now);
        }
        for _ in 0..10_000 {
            let output = match session.rtc.poll_output() {
                Ok(output) => output,
                Err(e) => {
                    tracing::info!(session = session.id, error = %e, "WebRTC session failed");
                    return None;
                }
            };
            match output {
                Output::Timeout(at) => return Some(at),
                Output::Transmit(transmit) => {
                    let socket = self
                        .sockets
                        .iter()
                        .find(|s| s.local_addr().ok() == Some(transmit.source));
                    if let Some(socket) = socket {
                        let _ = socket
                            .send_to(&transmit.contents, transmit.destination)
                            .await;
                    }
                }
                Output::Event(event) => {
                    if !self.handle(session, event) {
                        return None;
                    }
                }
            }
        }
        Some(now)
    }

    /// False when the session is over.
    fn handle(&self, session: &mut Session, event: Event) -> bool {
        match event {
            Event::Connected => {
                let now = Instant::now();
                session.connected = Some(now);
                session.last_media = now;
                match spawn_media_thread(&self.whip.inner.hub, session) {
                    Ok(sender) => session.media = Some(sender),
                    Err(e) => {
                        tracing::error!(error = %e, "cannot start a WHIP media thread");
                        return false;
                    }
                }
                tracing::info!(broadcast = %session.broadcast, session = session.id, "WHIP publisher connected");
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                tracing::info!(broadcast = %session.broadcast, session = session.id, "WHIP publisher's ICE disconnected");
                return false;
            }
            Event::MediaAdded(added) if added.kind == MediaKind::Video => {
                session.video = Some(added.mid);
            }
            Event::MediaData(data) => return session.media(data),
            _ => {}
        }
        true
    }
}

impl Session {
    fn ask_for_keyframe(&mut self, now: Instant) {
        let Some(mid) = self.video else { return };
        if self
            .last_keyframe_request
            .is_some_and(|at| now.duration_since(at) < KEYFRAME_EVERY)
        {
            return;
        }
        self.last_keyframe_request = Some(now);
        if let Some(mut writer) = self.rtc.writer(mid) {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
        }
    }

    /// Passes a frame to the media thread; false when it has gone.
    fn media(&mut self, data: MediaData) -> bool {
        let Some(sender) = &self.media else {
            return true;
        };
        let connected = self.connected.unwrap_or(self.created);
        let rate = i64::from(data.time.frequency().get()).max(1);
        let rtp = data.time.numer() as i64;
        let clock = *self.clocks.entry(data.mid).or_insert_with(|| Clock {
            first_rtp: rtp,
            start_millis: data
                .network_time
                .saturating_duration_since(connected)
                .as_millis() as i64,
        });
        let elapsed = rtp - clock.first_rtp;
        let is_video = Some(data.mid) == self.video;
        let item = if is_video {
            MediaIn::Video {
                millis: clock.start_millis + elapsed * 1000 / rate,
                data: data.data,
            }
        } else {
            let pts = clock.start_millis * i64::from(OPUS_RATE) / 1000
                + elapsed * i64::from(OPUS_RATE) / rate;
            MediaIn::Audio {
                pts,
                data: data.data,
            }
        };
        self.last_media = Instant::now();
        match sender.try_send(item) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!(
                    session = self.id,
                    "WHIP media thread behind; a frame dropped"
                );
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        }
    }
}

fn spawn_media_thread(hub: &Hub, session: &Session) -> std::io::Result<SyncSender<MediaIn>> {
    let (sender, received) = sync_channel(MEDIA_QUEUE);
    let runtime = tokio::runtime::Handle::current();
    let hub = hub.clone();
    let (broadcast, who, audio) = (session.broadcast, session.who.clone(), session.audio);
    std::thread::Builder::new()
        .name(format!("whip-{broadcast}"))
        .spawn(move || media_thread(&runtime, &hub, broadcast, &who, audio, received))?;
    Ok(sender)
}

/// Feeds one session's media to the hub's sink until the session ends.
fn media_thread(
    runtime: &tokio::runtime::Handle,
    hub: &Hub,
    broadcast: BroadcastId,
    who: &str,
    audio: bool,
    received: Receiver<MediaIn>,
) {
    let mut sink = match runtime.block_on(hub.publish_webrtc(broadcast, who)) {
        Ok(sink) => sink,
        Err(refusal) => {
            tracing::warn!(%broadcast, %who, reason = %refusal, "WHIP publish refused");
            return;
        }
    };
    let mut transcoder = if audio {
        match OpusToAac::new() {
            Ok(transcoder) => Some(transcoder),
            Err(e) => {
                tracing::error!(%broadcast, error = %e, "cannot transcode Opus; publishing video only");
                None
            }
        }
    } else {
        None
    };
    let mut result = Ok(());
    if let Some(transcoder) = &transcoder {
        result = runtime.block_on(sink.audio(0, webrtc::aac_tag(true, &transcoder.asc())));
    }
    let mut avc = AvcPackager::new();
    // The sink's timeline starts at the first time it is given, on either
    // track: nothing may come before it (the AAC encoder's delay, a track
    // whose first packet arrived later but was captured earlier).
    let mut first: Option<i64> = None;
    let mut on_timeline = move |millis: i64| -> u32 {
        let start = *first.get_or_insert(millis.max(0));
        millis.max(start) as u32
    };
    while result.is_ok() {
        let Ok(item) = received.recv() else { break };
        result = match item {
            MediaIn::Video { millis, data } => {
                let tags = avc.push(&data);
                if tags.frame.is_none() && tags.sequence_header.is_none() {
                    continue;
                }
                let at = on_timeline(millis);
                let mut sent = Ok(());
                for body in [tags.sequence_header, tags.frame].into_iter().flatten() {
                    sent = sent.and_then(|()| runtime.block_on(sink.video(at, body)));
                }
                sent
            }
            MediaIn::Audio { pts, data } => match transcoder.as_mut() {
                Some(transcoder) => match transcoder.push(&data, pts) {
                    Ok(frames) => frames.into_iter().try_for_each(|(pts, frame)| {
                        let at = on_timeline(pts * 1000 / i64::from(OPUS_RATE));
                        runtime.block_on(sink.audio(at, webrtc::aac_tag(false, &frame)))
                    }),
                    Err(e) => Err(e.to_string()),
                },
                None => Ok(()),
            },
        };
    }
    if let Err(reason) = &result {
        tracing::warn!(%broadcast, %reason, "WHIP publish stopped");
    }
    runtime.block_on(sink.close(result.is_ok()));
}
