//! Lobby notice boards: notices and their approval, the playlist each screen
//! resolves to, uploaded pictures and videos, and the screens themselves.

pub mod library;
pub mod markdown;
pub mod media;
pub mod notices;
pub mod playlist;
pub mod screens;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use tokio::sync::watch;

use crate::accounts::AttemptLimiter;
use crate::domain::broadcast::{Broadcast, BroadcastState};
use crate::domain::notice::Notice;
use crate::domain::text::TextError;
use crate::domain::{Account, Actor, CommunityId};
use crate::store::{BroadcastFilter, Store, StoreError};

pub use notices::Intent;
pub use screens::{PlaylistItem, ScreenPlaylist};

#[derive(Debug, thiserror::Error)]
pub enum SignageError {
    #[error("not allowed")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("changed by someone else first")]
    ChangedMeanwhile,
    #[error("the notice is not in a state that allows this")]
    WrongState,
    #[error("a target, picture or video of another community")]
    ForeignReference,
    #[error("bad text in {field}: {error}")]
    BadText {
        field: &'static str,
        error: TextError,
    },
    #[error("pairing code unknown or expired")]
    UnknownPairingCode,
    #[error("too many attempts")]
    TooManyAttempts,
    #[error(transparent)]
    Upload(#[from] media::MediaUploadError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for SignageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => SignageError::NotFound,
            StoreError::Conflict => SignageError::ChangedMeanwhile,
            StoreError::Rejected(
                "target of another community"
                | "media of another community"
                | "group of another community"
                | "building of another community",
            ) => SignageError::ForeignReference,
            e => SignageError::Store(e),
        }
    }
}

impl SignageError {
    pub fn message_key(&self) -> &'static str {
        match self {
            SignageError::Forbidden => "error.forbidden",
            SignageError::NotFound => "error.not_found",
            SignageError::ChangedMeanwhile => "signage.changed_meanwhile",
            SignageError::WrongState => "signage.wrong_state",
            SignageError::ForeignReference => "signage.foreign_reference",
            SignageError::BadText { error, .. } => error.message_key(),
            SignageError::UnknownPairingCode => "screens.code_unknown",
            SignageError::TooManyAttempts => "error.too_many_attempts",
            SignageError::Upload(e) => e.message_key(),
            SignageError::Store(_) => "error.internal",
        }
    }
}

/// What the screens need that only the running server knows.
#[derive(Debug, Clone)]
pub struct SignageSettings {
    /// The resident site, for the QR code on every screen.
    pub public_url: String,
    pub time_zone: chrono_tz::Tz,
    /// Fingerprint of the kiosk client files being served; a screen running
    /// another version reloads itself.
    pub client_version: String,
    pub data_dir: PathBuf,
}

/// The lobby-signage capability.
pub struct Signage {
    store: Arc<dyn Store>,
    settings: SignageSettings,
    /// Bumped whenever anything a screen shows may have changed; screens'
    /// push streams wake on it and compare their playlist version.
    changes: watch::Sender<u64>,
    /// Current notices per community, reloaded after a change.
    current: Mutex<HashMap<CommunityId, Arc<Vec<Notice>>>>,
    /// Held while the cache is refilled, so that a thousand screens woken
    /// by one change cause one database read, not a thousand.
    refilling: tokio::sync::Mutex<()>,
    /// Screens revoked since start: their push streams end without asking
    /// the database on every change.
    revoked: Mutex<std::collections::HashSet<crate::domain::ScreenId>>,
    /// Broadcasts on air, refreshed by a background task.
    on_air: Mutex<Arc<Vec<Broadcast>>>,
    /// The live tiles' current rolling end.
    live_step: Mutex<Option<chrono::DateTime<Utc>>>,
    rendered: screens::RenderCache,
    library: library::Library,
    /// New pairing codes per address: a screen needs one, a script many.
    pairing_requests: AttemptLimiter,
    /// Pairing polls per address (a screen polls every few seconds).
    pairing_polls: AttemptLimiter,
    /// Codes an admin may try per minute, so codes cannot be guessed.
    code_attempts: AttemptLimiter,
}

fn actor(who: &Account) -> Actor {
    Actor {
        id: Some(who.id),
        name: who.username.clone(),
    }
}

impl Signage {
    pub fn new(store: Arc<dyn Store>, settings: SignageSettings) -> Arc<Self> {
        let library = library::Library::new(settings.data_dir.join("media").join("signage"));
        Arc::new(Self {
            store,
            settings,
            changes: watch::channel(0).0,
            current: Mutex::new(HashMap::new()),
            refilling: tokio::sync::Mutex::new(()),
            revoked: Mutex::new(Default::default()),
            on_air: Mutex::new(Arc::new(Vec::new())),
            live_step: Mutex::new(None),
            rendered: screens::RenderCache::default(),
            library,
            pairing_requests: AttemptLimiter::per_minute(10),
            pairing_polls: AttemptLimiter::per_minute(120),
            code_attempts: AttemptLimiter::per_minute(10),
        })
    }

    pub fn may_request_pairing(&self, address: &str) -> bool {
        self.pairing_requests.try_attempt(address)
    }

    pub fn may_poll_pairing(&self, address: &str) -> bool {
        self.pairing_polls.try_attempt(address)
    }

    pub fn settings(&self) -> &SignageSettings {
        &self.settings
    }

    pub fn media_dir(&self) -> &Path {
        self.library.root()
    }

    /// Wakes on every change that may alter some screen's playlist.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// Forgets the cached notices of the community and wakes the screens.
    fn changed(&self, community: CommunityId) {
        self.current
            .lock()
            .expect("signage cache poisoned")
            .remove(&community);
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Published, unexpired notices of the community (cached until a change).
    async fn current_notices(
        &self,
        community: CommunityId,
    ) -> Result<Arc<Vec<Notice>>, SignageError> {
        let cached = || {
            self.current
                .lock()
                .expect("signage cache poisoned")
                .get(&community)
                .cloned()
        };
        if let Some(notices) = cached() {
            return Ok(notices);
        }
        let _refilling = self.refilling.lock().await;
        if let Some(notices) = cached() {
            return Ok(notices);
        }
        let generation = *self.changes.borrow();
        let notices = Arc::new(self.store.current_notices(community, Utc::now()).await?);
        // Only cache what was read after the latest change.
        if *self.changes.borrow() == generation {
            self.current
                .lock()
                .expect("signage cache poisoned")
                .insert(community, notices.clone());
        }
        Ok(notices)
    }

    /// Starts the background work: finishing uploads a previous run left
    /// half-done, following which broadcasts are on air, and dropping cached
    /// notices once an hour so expired ones leave memory.
    pub fn spawn_tasks(self: &Arc<Self>) {
        tokio::spawn(self.clone().resume_uploads());
        let signage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            let mut hourly = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                signage.refresh_on_air().await;
                if hourly.elapsed() > Duration::from_secs(3600) {
                    hourly = tokio::time::Instant::now();
                    signage
                        .current
                        .lock()
                        .expect("signage cache poisoned")
                        .clear();
                }
            }
        });
    }

    async fn refresh_on_air(&self) {
        let filter = BroadcastFilter {
            states: vec![BroadcastState::Live, BroadcastState::Reconnecting],
            limit: 1000,
            ..Default::default()
        };
        let broadcasts = match self.store.list_broadcasts(&filter).await {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the broadcasts on air");
                return;
            }
        };
        // The live tiles' rolling end moves on every step: wake the screens.
        let step = screens::live_tile_end(Utc::now());
        let new_step = {
            let mut last = self.live_step.lock().expect("live step poisoned");
            let moved = *last != Some(step);
            *last = Some(step);
            moved
        };
        let changed = {
            let mut on_air = self.on_air.lock().expect("on-air list poisoned");
            let same = on_air.len() == broadcasts.len()
                && on_air
                    .iter()
                    .zip(&broadcasts)
                    .all(|(a, b)| a.id == b.id && a.title == b.title && a.estates == b.estates);
            *on_air = Arc::new(broadcasts);
            !same || (new_step && !on_air.is_empty())
        };
        if changed {
            self.changes.send_modify(|generation| *generation += 1);
        }
    }

    fn on_air(&self) -> Arc<Vec<Broadcast>> {
        self.on_air.lock().expect("on-air list poisoned").clone()
    }
}
