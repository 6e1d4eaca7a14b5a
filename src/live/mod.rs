//! Live broadcasts: scheduling and stream keys (who may do what), the RTMP
//! ingest, the live channels viewers read, and replays.

pub mod channel;
pub mod delivery;
pub mod hub;
pub mod pipeline;
pub mod recording;
pub mod relay;
pub mod whip;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::accounts::tokens;
use crate::domain::broadcast::{Broadcast, BroadcastDetails, ReplayState};
use crate::domain::{Account, Actor, BroadcastId, Permission, Role};
use crate::media::rtmp;
use crate::store::{Store, StoreError};

pub use crate::settings::LiveSettings;
pub use hub::{Hub, Node, Status};

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("an estate of another community")]
    ForeignEstate,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for LiveError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => LiveError::NotFound,
            StoreError::Rejected("estate of another community") => LiveError::ForeignEstate,
            other => LiveError::Store(other),
        }
    }
}

/// The live-broadcast capability.
pub struct Live {
    store: Arc<dyn Store>,
    hub: Hub,
    relay: relay::Relay,
    settings: LiveSettings,
    visibility: Arc<Mutex<Visibility>>,
    /// The WHIP ingest, once started.
    whip: std::sync::OnceLock<whip::Whip>,
}

type Visibility = HashMap<BroadcastId, (Instant, Arc<Broadcast>)>;

/// How long a broadcast read for its visibility is trusted. Changes made
/// through [`Live`] or the hub, on this node or another sharing the
/// database, take effect at once (another node's within a signal's trip);
/// anything else within this.
const VISIBILITY_TTL: Duration = Duration::from_secs(5);

impl Live {
    /// `data_dir/media` must be the media directory every node shares
    /// (recordings are continued and replays served by any node).
    pub fn new(store: Arc<dyn Store>, settings: LiveSettings, data_dir: &Path, node: Node) -> Self {
        let layout = recording::Layout::new(data_dir.join("media").join("broadcasts"));
        Self {
            hub: Hub::new(store.clone(), settings.clone(), layout, node.clone()),
            relay: relay::Relay::new(store.clone(), node),
            store,
            settings,
            visibility: Arc::new(Mutex::new(HashMap::new())),
            whip: std::sync::OnceLock::new(),
        }
    }

    /// A broadcast as far as who may see its media goes (state, replay state,
    /// community), read from the store at most every few seconds: replay
    /// viewers ask for a segment every couple of seconds each.
    pub async fn visibility(&self, id: BroadcastId) -> Result<Arc<Broadcast>, LiveError> {
        if let Some((read_at, broadcast)) = self.cached_visibility().get_mut(&id) {
            if read_at.elapsed() < VISIBILITY_TTL {
                return Ok(broadcast.clone());
            }
            // Expired: this caller reads it again, and the others keep the
            // old answer for up to a second meanwhile, rather than all asking
            // the store at once (a thousand viewers of a replay starved the
            // connection pool for seconds every time it expired).
            *read_at = Instant::now()
                .checked_sub(VISIBILITY_TTL - Duration::from_secs(1))
                .unwrap_or_else(Instant::now);
        }
        let broadcast = Arc::new(self.store.broadcast(id).await?);
        let mut cache = self.cached_visibility();
        if cache.len() >= 4096 {
            cache.retain(|_, (read_at, _)| read_at.elapsed() < VISIBILITY_TTL);
        }
        cache.insert(id, (Instant::now(), broadcast.clone()));
        Ok(broadcast)
    }

    fn cached_visibility(&self) -> std::sync::MutexGuard<'_, Visibility> {
        self.visibility.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets the broadcast's visibility here; tells the other nodes.
    fn forget_visibility(&self, id: BroadcastId) {
        self.cached_visibility().remove(&id);
        hub::announce(self.hub.signals(), id, None);
    }

    /// Follows the other nodes' live signals: a broadcast going live or
    /// ending, or its replay changing, is shown to this node's viewers and
    /// forgotten from the visibility cache. After a lag, everything watched
    /// here is read again. Subscribes before returning.
    fn follow_signals(&self) {
        let mut signals = self.hub.signals().subscribe(crate::store::Topic::Live);
        let hub = self.hub.clone();
        let visibility = self.visibility.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match signals.recv().await {
                    Ok(signal) if signal.from_here => {}
                    Ok(signal) => match serde_json::from_str::<hub::LiveSignal>(&signal.payload) {
                        Ok(signal) => {
                            visibility
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .remove(&signal.b);
                            hub.follow(signal.b, signal.ready).await;
                        }
                        Err(e) => {
                            tracing::warn!(payload = %signal.payload, error = %e, "a malformed live signal was ignored")
                        }
                    },
                    Err(RecvError::Lagged(_)) => {
                        visibility.lock().unwrap_or_else(|e| e.into_inner()).clear();
                        hub.follow_all().await;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        });
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// Live requests for broadcasts held by other nodes go through this.
    pub fn relay(&self) -> &relay::Relay {
        &self.relay
    }

    /// Stops this node's live work at once, as `kill -9` would (tests).
    pub fn halt(&self) {
        self.hub.halt();
    }

    /// Binds the RTMP port and starts accepting encoders; ends broadcasts a
    /// previous run left on air. Returns the bound port.
    pub async fn start(&self) -> anyhow::Result<u16> {
        self.follow_signals();
        self.hub.recover().await?;
        self.sweep_deleted_replays().await?;
        self.hub.spawn_tasks();
        let address = (self.settings.rtmp_host.as_str(), self.settings.rtmp_port);
        let listener = tokio::net::TcpListener::bind(address).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen for RTMP on {}:{}: {e}",
                self.settings.rtmp_host,
                self.settings.rtmp_port
            )
        })?;
        let port = listener.local_addr()?.port();
        let limits = rtmp::Limits {
            stall: Duration::from_secs(self.settings.stall_seconds.max(1)),
            setup: Duration::from_secs(self.settings.rtmp_setup_seconds.max(1)),
            max_pending: self.settings.rtmp_max_pending.max(1),
            max_pending_per_address: self.settings.rtmp_max_pending_per_address.max(1),
        };
        let serving = tokio::spawn(rtmp::serve(listener, Arc::new(self.hub.clone()), limits));
        self.hub.keep_task(serving.abort_handle());
        tracing::info!(port, "RTMP ingest listening");
        let whip = whip::Whip::start(self.hub.clone(), self.whip_config()?)?;
        let _ = self.whip.set(whip);
        Ok(port)
    }

    fn whip_config(&self) -> anyhow::Result<whip::WhipConfig> {
        let listed = self.settings.webrtc_ips.split(',').map(str::trim);
        let mut ips = Vec::new();
        for ip in listed.filter(|ip| !ip.is_empty()) {
            ips.push(
                ip.parse()
                    .map_err(|_| anyhow::anyhow!("live.webrtc_ips: {ip:?} is not an IP address"))?,
            );
        }
        if ips.is_empty() {
            ips = whip::default_ips();
        }
        Ok(whip::WhipConfig {
            port: self.settings.webrtc_udp_port,
            ips,
            max_sessions: self.settings.webrtc_max_sessions.max(1),
            stall: Duration::from_secs(self.settings.stall_seconds.max(1)),
        })
    }

    /// The WHIP (WebRTC) ingest; started with [`Live::start`].
    pub fn whip(&self) -> Option<&whip::Whip> {
        self.whip.get()
    }

    /// The ingest URL without the key, as a secretary pastes it into OBS.
    pub fn ingest_url(&self, public_url: &str, port: u16) -> String {
        if !self.settings.rtmp_public_url.is_empty() {
            return self
                .settings
                .rtmp_public_url
                .trim_end_matches('/')
                .to_owned();
        }
        let host = url_host(public_url).unwrap_or("127.0.0.1");
        format!("rtmp://{host}:{port}/{}", rtmp::APP)
    }

    /// May `who` schedule, edit and end broadcasts of this community?
    pub fn may_run(who: &Account, community: crate::domain::CommunityId) -> bool {
        who.may(Permission::RunBroadcasts, community)
    }

    /// May `who` unpublish or delete this community's replays?
    pub fn may_manage_replays(who: &Account, community: crate::domain::CommunityId) -> bool {
        who.may(Permission::ManageReplays, community)
    }

    /// The key is shown to the one who scheduled the broadcast and to admins.
    pub fn may_see_key(who: &Account, broadcast: &Broadcast) -> bool {
        who.id == broadcast.owner_id
            || (who.role == Role::Admin && who.scope().reaches(broadcast.community_id.into()))
    }

    pub async fn schedule(
        &self,
        who: &Account,
        details: &BroadcastDetails,
    ) -> Result<Broadcast, LiveError> {
        if !Self::may_run(who, details.community_id) {
            return Err(LiveError::Forbidden);
        }
        let key = tokens::stream_key();
        Ok(self
            .store
            .create_broadcast(&actor(who), who.id, details, &key)
            .await?)
    }

    pub async fn update(
        &self,
        who: &Account,
        id: BroadcastId,
        details: &BroadcastDetails,
    ) -> Result<Broadcast, LiveError> {
        let broadcast = self.store.broadcast(id).await?;
        if !Self::may_run(who, broadcast.community_id)
            || details.community_id != broadcast.community_id
        {
            return Err(LiveError::Forbidden);
        }
        let updated = self
            .store
            .update_broadcast(&actor(who), id, details)
            .await?;
        // Its estates say who may watch: every node reads them again.
        self.forget_visibility(id);
        Ok(updated)
    }

    /// A new key; the old one is refused from now on (an encoder already
    /// publishing with it carries on until it disconnects).
    pub async fn rotate_key(&self, who: &Account, id: BroadcastId) -> Result<Broadcast, LiveError> {
        let broadcast = self.store.broadcast(id).await?;
        if !Self::may_see_key(who, &broadcast) {
            return Err(LiveError::Forbidden);
        }
        let key = tokens::stream_key();
        Ok(self.store.rotate_stream_key(&actor(who), id, &key).await?)
    }

    pub async fn end(&self, who: &Account, id: BroadcastId) -> Result<Broadcast, LiveError> {
        let broadcast = self.store.broadcast(id).await?;
        if !Self::may_run(who, broadcast.community_id)
            && !Self::may_manage_replays(who, broadcast.community_id)
        {
            return Err(LiveError::Forbidden);
        }
        self.cached_visibility().remove(&id);
        // The hub tells the other nodes once the end is stored.
        match self.hub.end(id, &actor(who)).await {
            Ok(broadcast) => {
                self.cached_visibility().remove(&id);
                Ok(broadcast)
            }
            // Already ended: nothing to do.
            Err(StoreError::Rejected(_)) => Ok(self.store.broadcast(id).await?),
            Err(e) => Err(e.into()),
        }
    }

    /// Publishes, unpublishes or deletes a replay.
    pub async fn set_replay(
        &self,
        who: &Account,
        id: BroadcastId,
        to: ReplayState,
    ) -> Result<Broadcast, LiveError> {
        let broadcast = self.store.broadcast(id).await?;
        let allowed = Self::may_manage_replays(who, broadcast.community_id)
            && matches!(
                (broadcast.replay, to),
                (ReplayState::Published, ReplayState::Unpublished)
                    | (ReplayState::Unpublished, ReplayState::Published)
                    | (
                        ReplayState::Published | ReplayState::Unpublished,
                        ReplayState::Deleted
                    )
            );
        if !allowed {
            return Err(LiveError::Forbidden);
        }
        // The row first: once it says "deleted" nothing serves the replay,
        // so a failure below leaves files nobody reaches, never a replay
        // whose files are gone.
        let changed = self.store.set_replay(&actor(who), id, to, None).await;
        self.forget_visibility(id);
        let changed = changed?;
        if to == ReplayState::Deleted {
            if let Err(e) = self.remove_files(id).await {
                tracing::error!(broadcast = %id, error = %e, "cannot delete the replay's files; the next start removes them");
            }
        }
        Ok(changed)
    }

    async fn remove_files(&self, id: BroadcastId) -> std::io::Result<()> {
        let dir = self.hub.layout().broadcast(id);
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(dir))
            .await
            .map_err(std::io::Error::other)?;
        match removed {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes the files of deleted replays that an earlier deletion could
    /// not (run at start). Returns how many broadcasts' files went.
    pub async fn sweep_deleted_replays(&self) -> anyhow::Result<usize> {
        let layout = self.hub.layout().clone();
        let on_disk = tokio::task::spawn_blocking(move || layout.broadcasts_on_disk()).await??;
        let mut removed = 0;
        for id in on_disk {
            match self.store.broadcast(id).await {
                Ok(broadcast) if broadcast.replay == ReplayState::Deleted => {
                    match self.remove_files(id).await {
                        Ok(()) => removed += 1,
                        Err(e) => {
                            tracing::error!(broadcast = %id, error = %e, "cannot delete a deleted replay's files");
                        }
                    }
                }
                Ok(_) => {}
                // Not ours to judge: leave files of unknown broadcasts alone.
                Err(StoreError::NotFound) => {
                    tracing::warn!(broadcast = %id, "media of an unknown broadcast left in place");
                }
                Err(e) => return Err(e.into()),
            }
        }
        if removed > 0 {
            tracing::info!(removed, "files of deleted replays removed");
        }
        Ok(removed)
    }

    /// Broadcasts starting within the next `days`, soonest first, and those on air.
    pub async fn schedule_of(
        &self,
        community: Option<crate::domain::CommunityId>,
        limit: i64,
    ) -> Result<Vec<Broadcast>, LiveError> {
        use crate::domain::broadcast::BroadcastState::*;
        let filter = crate::store::BroadcastFilter {
            community,
            states: vec![Scheduled, Live, Reconnecting],
            upcoming_first: true,
            limit,
            ..Default::default()
        };
        let now = Utc::now() - chrono::Duration::hours(12);
        Ok(self
            .store
            .list_broadcasts(&filter)
            .await?
            .into_iter()
            // A scheduled broadcast long past its start was never held.
            .filter(|b| b.state.is_on_air() || b.starts_at >= now)
            .collect())
    }

    pub async fn replays_of(
        &self,
        community: Option<crate::domain::CommunityId>,
        limit: i64,
    ) -> Result<Vec<Broadcast>, LiveError> {
        let filter = crate::store::BroadcastFilter {
            community,
            replays: vec![ReplayState::Published, ReplayState::Processing],
            limit,
            ..Default::default()
        };
        Ok(self.store.list_broadcasts(&filter).await?)
    }
}

fn actor(who: &Account) -> Actor {
    Actor {
        id: Some(who.id),
        name: who.display_name.clone(),
    }
}

/// The host part of an http(s) URL.
fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    };
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::broadcast::{BroadcastDetails, BroadcastState, Renditions};
    use crate::store::signals::testing;

    /// A node's live side on `store`, following the other nodes' signals
    /// (without an RTMP port).
    fn node(store: &Arc<dyn Store>, dir: &Path) -> Live {
        let settings = crate::settings::Settings::load(None).expect("default settings");
        let live = Live::new(store.clone(), settings.live, dir, Node::local(0));
        live.follow_signals();
        live
    }

    /// A broadcast ended through node A ends on the pages watching it
    /// through node B, and node B forgets the visibility it cached.
    pub(crate) async fn live_status_crosses_nodes(
        a: Arc<dyn Store>,
        b: Arc<dyn Store>,
        dir: &Path,
    ) {
        let secretary = testing::secretary(&*a).await;
        let details = BroadcastDetails::new(
            secretary.community_id.unwrap(),
            "跨节点直播",
            "",
            Utc::now(),
            Vec::new(),
            Renditions::default(),
        )
        .unwrap();
        let (live_a, live_b) = (node(&a, &dir.join("a")), node(&b, &dir.join("b")));
        let broadcast = live_a.schedule(&secretary, &details).await.unwrap();
        assert_eq!(
            live_b.visibility(broadcast.id).await.unwrap().state,
            BroadcastState::Scheduled
        );
        let (mut status, _viewer) = live_b.hub().watch(&broadcast);
        status.borrow_and_update();

        live_a.end(&secretary, broadcast.id).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), status.changed())
            .await
            .expect("node B's viewers are told within 5 s")
            .unwrap();
        assert_eq!(status.borrow().state, BroadcastState::Ended);
        assert_eq!(
            live_b.visibility(broadcast.id).await.unwrap().state,
            BroadcastState::Ended
        );
    }

    #[tokio::test]
    async fn live_status_crosses_nodes_on_postgresql() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_pg_nodes().await;
        live_status_crosses_nodes(a, b, dir.path()).await;
    }

    #[tokio::test]
    async fn live_status_crosses_nodes_on_one_sqlite_file_with_linked_buses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = testing::two_sqlite_nodes(dir.path()).await;
        live_status_crosses_nodes(a, b, dir.path()).await;
    }

    #[test]
    fn ingest_host_comes_from_the_public_url() {
        assert_eq!(
            url_host("https://pavilion.example.org/x"),
            Some("pavilion.example.org")
        );
        assert_eq!(url_host("http://127.0.0.1:8080"), Some("127.0.0.1"));
        assert_eq!(url_host("nonsense"), None);
    }
}
