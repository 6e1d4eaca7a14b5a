//! Lobby notice boards: notices and their approval, the playlist each screen
//! resolves to, uploaded pictures and videos, and the screens themselves.

pub mod cap;
pub mod emergency;
pub mod figures;
pub mod library;
pub mod markdown;
pub mod media;
pub mod notices;
pub mod playlist;
pub mod screens;
mod signals;

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
use crate::domain::{Account, Actor, CommunityId, EstateId};
use crate::feedback::disclosure::Month;
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
    #[error("the notice never had this revision")]
    UnknownRevision,
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
            SignageError::UnknownRevision => "error.bad_request",
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
    /// The store's notices marker when last checked (see `check_notices`).
    notices_marker: Mutex<Option<String>>,
    /// Held while the cache is refilled, so that a thousand screens woken
    /// by one change cause one database read, not a thousand.
    refilling: tokio::sync::Mutex<()>,
    /// Screens revoked since start: their push streams end without asking
    /// the database on every change.
    revoked: Mutex<std::collections::HashSet<crate::domain::ScreenId>>,
    /// Broadcasts on air, refreshed by a background task.
    on_air: Mutex<Arc<Vec<Broadcast>>>,
    /// The question being answered in each of them (for the live tile).
    answering: Mutex<Arc<HashMap<crate::domain::BroadcastId, String>>>,
    /// The live tiles' current rolling end.
    live_step: Mutex<Option<chrono::DateTime<Utc>>>,
    rendered: screens::RenderCache,
    /// Each screen's playlist version as last built (see `known_version`).
    versions: Mutex<HashMap<crate::domain::ScreenId, screens::KnownVersion>>,
    /// The feedback service, for the computed disclosure figures.
    records: crate::feedback::records::Records,
    /// Computed disclosure figures per estate.
    figures: figures::FiguresCache,
    /// Whether each community shows the figures on its screens (cached until
    /// the setting is switched).
    figures_shown: Mutex<HashMap<CommunityId, bool>>,
    /// Held while figures are computed, so that screens asking at once
    /// compute them once.
    computing_figures: tokio::sync::Mutex<()>,
    library: library::Library,
    /// Shared with every other picture upload (see `DecodeSlots`).
    pictures: Arc<crate::media::picture::DecodeSlots>,
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
    pub fn new(
        store: Arc<dyn Store>,
        settings: SignageSettings,
        pictures: Arc<crate::media::picture::DecodeSlots>,
    ) -> Arc<Self> {
        let library = library::Library::new(settings.data_dir.join("media").join("signage"));
        let records = crate::feedback::records::Records::new(store.clone(), settings.time_zone);
        Arc::new(Self {
            store,
            settings,
            changes: watch::channel(0).0,
            current: Mutex::new(HashMap::new()),
            notices_marker: Mutex::new(None),
            refilling: tokio::sync::Mutex::new(()),
            revoked: Mutex::new(Default::default()),
            on_air: Mutex::new(Arc::new(Vec::new())),
            answering: Mutex::new(Arc::new(HashMap::new())),
            live_step: Mutex::new(None),
            rendered: screens::RenderCache::default(),
            versions: Mutex::new(HashMap::new()),
            records,
            figures: figures::FiguresCache::default(),
            figures_shown: Mutex::new(HashMap::new()),
            computing_figures: tokio::sync::Mutex::new(()),
            library,
            pictures,
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

    /// The community's notices changed here: forget them and wake the
    /// screens, on this node and the others.
    fn changed(&self, community: CommunityId) {
        self.forget_notices(community);
        self.signal(&signals::SignageSignal::Notices { c: community });
    }

    /// Forgets the cached notices of the community and wakes the screens.
    fn forget_notices(&self, community: CommunityId) {
        self.current
            .lock()
            .expect("signage cache poisoned")
            .remove(&community);
        self.wake_screens();
    }

    /// The backstop behind the signals: if any notice changed since the
    /// last look and no signal said so (the node that changed it died
    /// before telling), every cached list goes and every screen compares
    /// its playlist. A change announced by a signal moves the marker too;
    /// then the screens merely find their playlist unchanged.
    async fn check_notices(&self) {
        let marker = match self.store.notices_marker().await {
            Ok(marker) => marker,
            Err(e) => {
                tracing::debug!(error = %e, "cannot read the notices marker");
                return;
            }
        };
        let before = self
            .notices_marker
            .lock()
            .expect("notices marker poisoned")
            .replace(marker.clone());
        if before.is_some_and(|before| before != marker) {
            self.current.lock().expect("signage cache poisoned").clear();
            self.wake_screens();
        }
    }

    /// Wakes every screen's push stream to compare its playlist version.
    fn wake_screens(&self) {
        self.changes.send_modify(|generation| *generation += 1);
    }

    /// Ends the push stream of a revoked screen.
    fn forget_screen(&self, id: crate::domain::ScreenId) {
        self.revoked
            .lock()
            .expect("revoked set poisoned")
            .insert(id);
        self.wake_screens();
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
            let mut current = self.current.lock().expect("signage cache poisoned");
            current.insert(community, notices.clone());
            let revisions = current
                .values()
                .flat_map(|list| list.iter().map(|n| (n.id, n.revision)))
                .collect();
            drop(current);
            self.rendered.retain_bodies(&revisions);
        }
        Ok(notices)
    }

    /// Starts the background work: finishing uploads a previous run left
    /// half-done, following which broadcasts are on air, refreshing the
    /// disclosure figures, and dropping cached notices once an hour so
    /// expired ones leave memory.
    pub fn spawn_tasks(self: &Arc<Self>) {
        self.follow_signals();
        tokio::spawn(self.clone().resume_uploads());
        // The disclosure figures move as records are worked: recompute the
        // cached ones every few minutes and wake the screens if they changed.
        let signage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(figures::REFRESH);
            tick.tick().await;
            loop {
                tick.tick().await;
                signage.refresh_all_figures().await;
            }
        });
        let signage = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            let mut hourly = tokio::time::Instant::now();
            loop {
                tick.tick().await;
                signage.refresh_on_air().await;
                signage.check_notices().await;
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

    /// Whether the community's screens show the computed figures (cached; on
    /// a database error, what the setting was, else yes).
    async fn figures_shown(&self, community: CommunityId) -> bool {
        let cached = self
            .figures_shown
            .lock()
            .expect("figures switch poisoned")
            .get(&community)
            .copied();
        if let Some(shown) = cached {
            return shown;
        }
        match self.store.figures_on_screens(community).await {
            Ok(shown) => {
                self.figures_shown
                    .lock()
                    .expect("figures switch poisoned")
                    .insert(community, shown);
                shown
            }
            Err(e) => {
                tracing::warn!(community = %community, error = %e, "cannot read the figures switch");
                true
            }
        }
    }

    /// The community switched its figures on screens on or off: forget the
    /// cached setting and wake its screens.
    pub fn screen_figures_switched(&self, community: CommunityId) {
        self.forget_figures_switch(community);
        self.signal(&signals::SignageSignal::Figures { c: community });
    }

    fn forget_figures_switch(&self, community: CommunityId) {
        self.figures_shown
            .lock()
            .expect("figures switch poisoned")
            .remove(&community);
        self.forget_notices(community);
    }

    /// The computed disclosure figures of the estate, if it has records this
    /// month or last (cached; computed on the first request).
    async fn estate_figures(&self, estate: EstateId) -> Option<Arc<figures::EstateFigures>> {
        if let Some(cached) = self.figures.fresh(estate) {
            return cached;
        }
        let _computing = self.computing_figures.lock().await;
        if let Some(cached) = self.figures.fresh(estate) {
            return cached;
        }
        self.refresh_figures(estate).await;
        self.figures.fresh(estate).flatten()
    }

    /// Works the estate's figures out again; true if what screens show changed.
    async fn refresh_figures(&self, estate: EstateId) -> bool {
        match self.compute_figures(estate).await {
            Ok(figures) => self.figures.put(estate, figures),
            Err(e) => {
                tracing::warn!(estate = %estate, error = %e, "cannot compute the disclosure figures");
                self.figures.touch(estate);
                false
            }
        }
    }

    async fn compute_figures(
        &self,
        estate: EstateId,
    ) -> Result<Option<figures::EstateFigures>, crate::feedback::records::RecordError> {
        let zone = self.settings.time_zone;
        let now = Utc::now();
        let this = Month::of(now, zone);
        let last = this.previous();
        let current = self.records.disclosure(estate, this, zone, now).await?;
        let previous = self.records.disclosure(estate, last, zone, now).await?;
        if current.received == 0 && previous.received == 0 {
            return Ok(None);
        }
        let name = self.store.estate(estate).await?.name.to_string();
        Ok(Some(figures::EstateFigures {
            estate: name,
            months: vec![
                figures::MonthFigures::of(this, true, &current),
                figures::MonthFigures::of(last, false, &previous),
            ],
            since: now,
        }))
    }

    /// Recomputes the figures of every estate screens have asked for and
    /// wakes the screens if any changed.
    async fn refresh_all_figures(&self) {
        let mut changed = false;
        for estate in self.figures.estates() {
            let _computing = self.computing_figures.lock().await;
            changed |= self.refresh_figures(estate).await;
        }
        if changed {
            self.changes.send_modify(|generation| *generation += 1);
        }
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
        let answering = self.read_answering(&broadcasts).await;
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
        let changed = {
            let mut current = self.answering.lock().expect("answering list poisoned");
            let moved = **current != answering;
            *current = Arc::new(answering);
            changed || moved
        };
        if changed {
            self.changes.send_modify(|generation| *generation += 1);
        }
    }

    fn on_air(&self) -> Arc<Vec<Broadcast>> {
        self.on_air.lock().expect("on-air list poisoned").clone()
    }

    /// The question being answered in each broadcast on air, as the live
    /// tile shows it. On a read error the last known texts stay.
    async fn read_answering(
        &self,
        broadcasts: &[Broadcast],
    ) -> HashMap<crate::domain::BroadcastId, String> {
        let ids: Vec<_> = broadcasts.iter().map(|b| b.id).collect();
        match self.store.answering_questions(&ids).await {
            Ok(questions) => questions
                .into_iter()
                .map(|q| (q.broadcast_id, screens::answering_text(&q.body)))
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the questions being answered");
                self.answering().as_ref().clone()
            }
        }
    }

    fn answering(&self) -> Arc<HashMap<crate::domain::BroadcastId, String>> {
        self.answering
            .lock()
            .expect("answering list poisoned")
            .clone()
    }
}
