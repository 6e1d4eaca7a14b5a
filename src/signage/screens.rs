//! Screens: pairing, what a screen reports, and the playlist it is sent.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Offset, Utc};
use rand::Rng;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::accounts::tokens;
use crate::domain::broadcast::Broadcast;
use crate::domain::notice::{DayPart, Notice, NoticeCategory};
use crate::domain::screen::{
    Heartbeat, Orientation, Play, Screen, ScreenHealth, PAIRING_ALPHABET, PAIRING_CODE_LEN,
    PAIRING_LIFETIME,
};
use crate::domain::{Account, BroadcastId, BuildingId, MediaId, NoticeId, Permission, ScreenId};
use crate::store::{PairingStatus, ScreenSetup, StoreError};

use super::{actor, markdown, playlist, Signage, SignageError};

/// How long the "正在直播" tile stays up per turn.
const LIVE_TILE_SECONDS: u32 = 20;
/// Plays accepted per report; a screen back from days offline sends batches.
pub const PLAYS_PER_REPORT: usize = 200;
/// Longest last-error text kept from a heartbeat.
const ERROR_MAX: usize = 500;

/// How far ahead of the server's clock a screen's clock may run.
const PLAY_CLOCK_SKEW: chrono::Duration = chrono::Duration::minutes(5);
/// The oldest play accepted. The kiosk queues up to 200,000 plays while
/// offline (`PLAYS_CAP` in kiosk/kiosk.js): 11 days of 5 s turns, a month
/// of 15 s turns.
pub const PLAY_MAX_AGE: chrono::Duration = chrono::Duration::days(35);
/// A screen shows one notice at a time, and no turn is this short: plays of
/// one screen starting closer together than this are a flood, not a rotation.
pub const PLAY_MIN_GAP: chrono::Duration = chrono::Duration::seconds(1);
/// A turn may run past its notice's end: a video plays to its end (up to
/// 5 minutes more, `VIDEO_EXTRA_MAX_MS` in kiosk.js).
const PLAY_OVERRUN: chrono::Duration = chrono::Duration::minutes(10);

/// What became of a report of plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlaysReport {
    pub stored: usize,
    /// Plays the screen cannot have made, or a flood: not stored.
    pub dropped: usize,
}

/// Whether a screen at `place` can have made this play, as far as the
/// server can tell at `now`: of a notice of its community aimed at it, that
/// is published or withdrawn (never a draft, one awaiting approval or one
/// rejected), within the notice's
/// validity, at a time neither in the future nor older than a screen keeps
/// plays offline.
pub fn plausible_play(
    play: &Play,
    notice: &Notice,
    place: &crate::domain::screen::ScreenPlace,
    now: DateTime<Utc>,
) -> bool {
    use crate::domain::notice::NoticeState;
    let given = matches!(
        notice.state,
        NoticeState::Published | NoticeState::Withdrawn
    ) && playlist::aimed_at(notice, place);
    let in_time = play.started_at <= play.ended_at
        && play.ended_at <= now + PLAY_CLOCK_SKEW
        && play.started_at >= now - PLAY_MAX_AGE;
    let in_validity = play.started_at + PLAY_CLOCK_SKEW >= notice.validity.starts_at()
        && notice
            .validity
            .ends_at()
            .is_none_or(|end| play.started_at <= end + PLAY_CLOCK_SKEW)
        && notice
            .validity
            .ends_at()
            .is_none_or(|end| play.ended_at <= end + PLAY_OVERRUN);
    given && in_time && in_validity
}

/// A new pairing: the code to show and the secret to poll with.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewPairing {
    pub code: String,
    pub secret: String,
    pub expires_at: DateTime<Utc>,
}

/// Everything a screen needs to run for days without the server.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScreenPlaylist {
    /// Changes exactly when anything below but the generation time changes.
    pub version: String,
    pub client_version: String,
    pub generated_at: DateTime<Utc>,
    /// `generated_at` in milliseconds since the epoch: screens tell which of
    /// two copies is newer by this number (the RFC 3339 text does not sort).
    pub generated_at_ms: i64,
    pub time_zone: String,
    pub utc_offset_minutes: i32,
    pub screen: ScreenInfo,
    pub resident_qr: Qr,
    pub items: Vec<PlaylistItem>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ScreenInfo {
    pub id: ScreenId,
    pub name: String,
    pub orientation: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Qr {
    pub url: String,
    #[schema(value_type = String)]
    pub svg: Arc<str>,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VideoRef {
    pub url: String,
    pub poster: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct DayPartJson {
    pub weekdays: Vec<u8>,
    pub from: String,
    pub until: String,
}

impl From<&DayPart> for DayPartJson {
    fn from(part: &DayPart) -> Self {
        Self {
            weekdays: part.weekdays().iso_numbers(),
            from: part.from().format("%H:%M").to_string(),
            until: part.until().format("%H:%M").to_string(),
        }
    }
}

/// One entry of the rotation, in the order the screen should show them.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PlaylistItem {
    Notice {
        id: NoticeId,
        /// The notice's revision: a screen acknowledges an emergency by it.
        revision: i64,
        category: NoticeCategory,
        emergency: bool,
        title: String,
        #[schema(value_type = String)]
        html: Arc<str>,
        images: Vec<String>,
        video: Option<VideoRef>,
        display_seconds: u32,
        priority: u8,
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
        day_parts: Vec<DayPartJson>,
    },
    /// A broadcast on air that concerns the screen's estate.
    Live {
        /// Not a notice: no proof-of-play is kept for it.
        id: i64,
        broadcast_id: BroadcastId,
        title: String,
        watch_url: String,
        #[schema(value_type = String)]
        qr_svg: Arc<str>,
        display_seconds: u32,
        emergency: bool,
        priority: u8,
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
        day_parts: Vec<DayPartJson>,
        /// The question the secretary is answering now, if any.
        #[serde(skip_serializing_if = "Option::is_none")]
        answering: Option<String>,
    },
    /// The computed 阳光公示 figures of the screen's estate (see `figures`).
    Figures {
        /// Not a notice: no proof-of-play is kept for it.
        id: i64,
        estate_id: crate::domain::EstateId,
        estate: String,
        /// This month so far, then last month.
        months: Vec<super::figures::MonthFigures>,
        /// Pictures of the figures (SVG, drawn by the server; their URLs
        /// change with the figures), shown in turn: the on-time rate per
        /// class over twelve months first.
        charts: Vec<String>,
        display_seconds: u32,
        emergency: bool,
        priority: u8,
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
        day_parts: Vec<DayPartJson>,
    },
}

/// Longest question text a live tile shows (a lobby screen is read in passing).
const ANSWERING_CHARS: usize = 80;

/// The question as the live tile shows it: on one line, cut to a length
/// a passer-by can read.
pub fn answering_text(question: &str) -> String {
    let line = question.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= ANSWERING_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(ANSWERING_CHARS - 1).collect();
    cut.push('…');
    cut
}

/// How often the live tile's rolling end moves on.
pub const LIVE_TILE_STEP_MINUTES: i64 = 10;

/// The end of the next whole step after the current one: between one and
/// two steps from now, the same for every screen asking within a step.
pub fn live_tile_end(now: DateTime<Utc>) -> DateTime<Utc> {
    let step = LIVE_TILE_STEP_MINUTES * 60;
    let bucket = now.timestamp().div_euclid(step);
    DateTime::from_timestamp((bucket + 2) * step, 0).unwrap_or(now)
}

/// Rendered notice bodies and QR codes, so that a thousand screens asking at
/// once do not render the same thing a thousand times.
///
/// Bodies are kept for as long as their notice is current (see
/// `retain_bodies`), however many that is: a community with 10,000 current
/// notices must not render Markdown on every poll.
#[derive(Default)]
pub struct RenderCache {
    bodies: Mutex<HashMap<(NoticeId, i64), Arc<str>>>,
    qr_codes: Mutex<HashMap<String, Arc<str>>>,
}

impl RenderCache {
    /// A bound on memory should `retain_bodies` not be called.
    const MAX_BODIES: usize = 50_000;
    const MAX_QR_CODES: usize = 2000;

    fn body(&self, notice: &Notice) -> Arc<str> {
        let key = (notice.id, notice.revision);
        if let Some(html) = self.bodies.lock().expect("render cache poisoned").get(&key) {
            return html.clone();
        }
        let html: Arc<str> = markdown::render(&notice.body).into();
        let mut bodies = self.bodies.lock().expect("render cache poisoned");
        if bodies.len() >= Self::MAX_BODIES {
            bodies.clear();
        }
        bodies.insert(key, html.clone());
        html
    }

    /// Forgets the bodies of every notice revision not in `current`: old
    /// revisions, ended and withdrawn notices, previews.
    pub(super) fn retain_bodies(&self, current: &HashSet<(NoticeId, i64)>) {
        self.bodies
            .lock()
            .expect("render cache poisoned")
            .retain(|key, _| current.contains(key));
    }

    fn qr(&self, url: &str) -> Arc<str> {
        if let Some(svg) = self
            .qr_codes
            .lock()
            .expect("render cache poisoned")
            .get(url)
        {
            return svg.clone();
        }
        let svg: Arc<str> = qr_svg(url).into();
        let mut codes = self.qr_codes.lock().expect("render cache poisoned");
        if codes.len() >= Self::MAX_QR_CODES {
            codes.clear();
        }
        codes.insert(url.to_owned(), svg.clone());
        svg
    }
}

/// A QR code as a self-contained SVG, black on white with a quiet zone.
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        // Only an absurdly long URL fails; the screen then shows no code.
        Err(_) => String::new(),
    }
}

fn pairing_code() -> String {
    let mut rng = rand::rngs::OsRng;
    (0..PAIRING_CODE_LEN)
        .map(|_| PAIRING_ALPHABET[rng.gen_range(0..PAIRING_ALPHABET.len())] as char)
        .collect()
}

pub fn media_url(media: MediaId, file: &str) -> String {
    format!("/kiosk/media/{media}/{file}")
}

/// Whether the notice shows this media: as its pictures, its video, or a
/// picture placed in its body.
pub fn notice_uses_media(notice: &Notice, media: MediaId) -> bool {
    notice.images.contains(&media)
        || notice.video == Some(media)
        || notice.body.contains(&format!("/kiosk/media/{media}/"))
}

impl Signage {
    /// A new screen asks for a code to show. Codes are random; a clash with
    /// a code in use is retried.
    pub async fn start_pairing(&self) -> Result<NewPairing, SignageError> {
        let secret = tokens::random_token();
        let expires_at = Utc::now() + PAIRING_LIFETIME;
        for _ in 0..5 {
            let code = pairing_code();
            match self
                .store
                .create_pairing(&code, &tokens::fingerprint(&secret), expires_at)
                .await
            {
                Ok(()) => {
                    return Ok(NewPairing {
                        code,
                        secret,
                        expires_at,
                    })
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(SignageError::Store(StoreError::Conflict))
    }

    /// What the screen polling with `secret` gets.
    pub async fn poll_pairing(&self, secret: &str) -> Result<PairingStatus, SignageError> {
        Ok(self
            .store
            .take_pairing(&tokens::fingerprint(secret), Utc::now())
            .await?)
    }

    /// An admin enters the code a screen shows and says where it hangs.
    pub async fn claim_pairing(
        &self,
        who: &Account,
        code: &str,
        setup: &ScreenSetup,
    ) -> Result<Screen, SignageError> {
        if !self.code_attempts.try_attempt(&who.id.to_string()) {
            return Err(SignageError::TooManyAttempts);
        }
        let building = self.store.building(setup.building_id).await?;
        let estate = self.store.estate(building.estate_id).await?;
        if !Self::may_manage_screens(who, estate.community_id) {
            return Err(SignageError::Forbidden);
        }
        let code = crate::domain::screen::parse_pairing_code(code)
            .ok_or(SignageError::UnknownPairingCode)?;
        let screen = self
            .store
            .claim_pairing(
                &actor(who),
                &code,
                setup,
                &tokens::random_token(),
                Utc::now(),
            )
            .await
            .map_err(|e| match e {
                StoreError::NotFound => SignageError::UnknownPairingCode,
                e => e.into(),
            })?;
        self.wake_screens();
        self.signal(&super::signals::SignageSignal::Screens);
        Ok(screen)
    }

    pub fn may_manage_screens(who: &Account, community: crate::domain::CommunityId) -> bool {
        who.may(Permission::ManageScreens, community)
    }

    pub async fn update_screen(
        &self,
        who: &Account,
        id: ScreenId,
        setup: &ScreenSetup,
    ) -> Result<Screen, SignageError> {
        let screen = self.store.screen(id).await?;
        if !Self::may_manage_screens(who, screen.place.community_id) {
            return Err(SignageError::Forbidden);
        }
        let screen = self.store.update_screen(&actor(who), id, setup).await?;
        self.wake_screens();
        self.signal(&super::signals::SignageSignal::Screens);
        Ok(screen)
    }

    /// The screen's token stops working at once; it shows a new pairing code.
    pub async fn revoke_screen(&self, who: &Account, id: ScreenId) -> Result<Screen, SignageError> {
        let screen = self.store.screen(id).await?;
        if !Self::may_manage_screens(who, screen.place.community_id) {
            return Err(SignageError::Forbidden);
        }
        let screen = self.store.revoke_screen(&actor(who), id).await?;
        self.forget_screen(id);
        self.signal(&super::signals::SignageSignal::Revoked { s: id });
        Ok(screen)
    }

    /// The paired, unrevoked screen holding `token`.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Screen>, SignageError> {
        Ok(self
            .store
            .screen_by_token(&tokens::fingerprint(token))
            .await?)
    }

    pub async fn heartbeat(
        &self,
        screen: &Screen,
        mut beat: Heartbeat,
    ) -> Result<(), SignageError> {
        beat.client_version = beat.client_version.chars().take(64).collect();
        beat.last_error = beat.last_error.map(|e| {
            e.chars()
                .filter(|c| !c.is_control())
                .take(ERROR_MAX)
                .collect()
        });
        Ok(self
            .store
            .record_heartbeat(screen.id, &beat, Utc::now())
            .await?)
    }

    /// Stores the reported plays that this screen can have made (see
    /// [`plausible_play`]), at most one starting per [`PLAY_MIN_GAP`];
    /// the rest are dropped and counted.
    pub async fn report_plays(
        &self,
        screen: &Screen,
        plays: &[Play],
    ) -> Result<PlaysReport, SignageError> {
        let now = Utc::now();
        let mut notices: HashMap<NoticeId, Option<Notice>> = HashMap::new();
        let mut plausible = Vec::with_capacity(plays.len());
        for play in plays {
            let notice = match notices.entry(play.notice_id) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(unknown) => {
                    let notice = match self.store.notice(play.notice_id).await {
                        Ok(notice) => Some(notice),
                        Err(StoreError::NotFound) => None,
                        Err(e) => return Err(e.into()),
                    };
                    unknown.insert(notice)
                }
            };
            if notice
                .as_ref()
                .is_some_and(|n| plausible_play(play, n, &screen.place, now))
            {
                plausible.push(play.clone());
            }
        }
        let recorded = self
            .store
            .record_plays(screen.id, &plausible, PLAY_MIN_GAP)
            .await?;
        let report = PlaysReport {
            stored: recorded.added,
            dropped: plays.len() - plausible.len() + recorded.refused,
        };
        if report.dropped > 0 {
            tracing::info!(screen = %screen.id, dropped = report.dropped, "implausible plays dropped");
        }
        Ok(report)
    }

    /// Whether the screen is given a notice that uses this media: one of its
    /// playlist at `now`, as it would be sent. What it was given earlier and
    /// still shows offline comes from its own cache (kiosk/sw.js).
    pub async fn screen_is_given(
        &self,
        screen: &Screen,
        media: MediaId,
        now: DateTime<Utc>,
    ) -> Result<bool, SignageError> {
        let notices = self.current_notices(screen.place.community_id).await?;
        Ok(playlist::for_screen(&notices, &screen.place, now)
            .into_iter()
            .any(|notice| notice_uses_media(notice, media)))
    }

    /// Screens quiet for more than ten minutes, for the console's alert.
    pub async fn offline_screens(
        &self,
        community: Option<crate::domain::CommunityId>,
    ) -> Result<Vec<Screen>, SignageError> {
        let now = Utc::now();
        Ok(self
            .store
            .list_screens(community)
            .await?
            .into_iter()
            .filter(|s| s.health(now) == ScreenHealth::Offline)
            .collect())
    }

    /// The version `playlist(screen, now)` would have, when known without
    /// building it: nothing changed since it was last built for this screen
    /// and nothing in it has ended. A poll that already has this version is
    /// answered from here.
    pub fn known_version(&self, screen: &Screen, now: DateTime<Utc>) -> Option<String> {
        let generation = *self.changes.borrow();
        let offset = utc_offset_minutes(now, self.settings.time_zone);
        let versions = self.versions.lock().expect("versions poisoned");
        let known = versions.get(&screen.id)?;
        (known.generation == generation
            && known.built_at <= now
            && now < known.until
            && known.utc_offset_minutes == offset)
            .then(|| known.version.clone())
    }

    /// The playlist for a screen at `now`.
    pub async fn playlist(
        &self,
        screen: &Screen,
        now: DateTime<Utc>,
    ) -> Result<ScreenPlaylist, SignageError> {
        // Read first: a change while building makes what is built stale.
        let generation = *self.changes.borrow();
        let notices = self.current_notices(screen.place.community_id).await?;
        let mut items: Vec<PlaylistItem> = Vec::new();
        for notice in playlist::for_screen(&notices, &screen.place, now) {
            items.push(self.notice_item(notice, self.rendered.body(notice)));
        }
        // A live tile goes after the emergencies, before everything else.
        let position = items
            .iter()
            .position(|i| {
                !matches!(
                    i,
                    PlaylistItem::Notice {
                        emergency: true,
                        ..
                    }
                )
            })
            .unwrap_or(items.len());
        let live: Vec<PlaylistItem> = self
            .on_air()
            .iter()
            .filter(|b| b.community_id == screen.place.community_id)
            .filter(|b| b.estates.is_empty() || b.estates.contains(&screen.place.estate_id))
            .map(|b| self.live_item(b))
            .collect();
        items.splice(position..position, live);
        // The computed disclosure figures go last in the rotation, unless
        // the community switched them off.
        if self.figures_shown(screen.place.community_id).await {
            if let Some(figures) = self.estate_figures(screen.place.estate_id).await {
                items.push(figures.item(screen.place.estate_id));
            }
        }
        let info = ScreenInfo {
            id: screen.id,
            name: screen.name.clone(),
            orientation: screen.orientation.as_str(),
        };
        let playlist = self.finish(info, Some(screen.place.building_id), items, now);
        let known = KnownVersion {
            generation,
            built_at: now,
            until: version_holds_until(&playlist.items, now),
            utc_offset_minutes: playlist.utc_offset_minutes,
            version: playlist.version.clone(),
        };
        self.versions
            .lock()
            .expect("versions poisoned")
            .insert(screen.id, known);
        Ok(playlist)
    }

    /// The playlist a preview shows: just this notice, as its screens get
    /// it, on a made-up screen of the given orientation. The notice may be
    /// an unsaved edit with its saved id and revision, so its body is
    /// rendered here, never through (or into) the screens' render cache.
    pub fn preview(
        &self,
        notice: &Notice,
        screen_name: &str,
        orientation: Orientation,
        now: DateTime<Utc>,
    ) -> ScreenPlaylist {
        let screen = ScreenInfo {
            id: ScreenId(0),
            name: screen_name.to_owned(),
            orientation: orientation.as_str(),
        };
        let item = self.notice_item(notice, markdown::render(&notice.body).into());
        self.finish(screen, None, vec![item], now)
    }

    /// Not revoked since its stream opened (a revoked screen's token was
    /// already refused when the stream opened, so memory is enough: every
    /// node hears of a revocation, see `signals`).
    pub fn screen_is_active(&self, id: ScreenId) -> bool {
        !self
            .revoked
            .lock()
            .expect("revoked set poisoned")
            .contains(&id)
    }

    fn notice_item(&self, notice: &Notice, html: Arc<str>) -> PlaylistItem {
        PlaylistItem::Notice {
            id: notice.id,
            revision: notice.revision,
            category: notice.category,
            emergency: notice.emergency,
            title: notice.title.clone(),
            html,
            images: notice
                .images
                .iter()
                .map(|&m| media_url(m, super::library::IMAGE_FILE))
                .collect(),
            // A video still being transcoded is left out until it is ready
            // (one that failed never comes from `current_notices`).
            video: notice
                .video
                .filter(|&m| !self.library.is_processing(m))
                .map(|m| VideoRef {
                    url: media_url(m, super::library::VIDEO_FILE),
                    poster: media_url(m, super::library::POSTER_FILE),
                }),
            display_seconds: notice.display_seconds,
            priority: notice.priority,
            starts_at: notice.validity.starts_at(),
            ends_at: notice.validity.ends_at(),
            day_parts: notice.day_parts.iter().map(DayPartJson::from).collect(),
        }
    }

    fn live_item(&self, broadcast: &Broadcast) -> PlaylistItem {
        let watch_url = format!(
            "{}/live/{}",
            self.settings.public_url.trim_end_matches('/'),
            broadcast.id
        );
        PlaylistItem::Live {
            id: 0,
            broadcast_id: broadcast.id,
            title: broadcast.title.clone(),
            qr_svg: self.rendered.qr(&watch_url),
            watch_url,
            display_seconds: LIVE_TILE_SECONDS,
            emergency: false,
            priority: *crate::domain::notice::PRIORITY.end(),
            starts_at: broadcast.went_live_at.unwrap_or(broadcast.starts_at),
            // A rolling end, so that a screen cut off from the server stops
            // announcing a broadcast that has long ended.
            ends_at: Some(live_tile_end(Utc::now())),
            day_parts: Vec::new(),
            answering: self.answering().get(&broadcast.id).cloned(),
        }
    }

    fn finish(
        &self,
        screen: ScreenInfo,
        building: Option<BuildingId>,
        items: Vec<PlaylistItem>,
        now: DateTime<Utc>,
    ) -> ScreenPlaylist {
        let zone = self.settings.time_zone;
        let offset = utc_offset_minutes(now, zone);
        let resident_url = report_url(&self.settings.public_url, building);
        let mut playlist = ScreenPlaylist {
            version: String::new(),
            client_version: self.settings.client_version.clone(),
            generated_at: now,
            generated_at_ms: now.timestamp_millis(),
            time_zone: zone.name().to_owned(),
            utc_offset_minutes: offset,
            screen,
            resident_qr: Qr {
                svg: self.rendered.qr(&resident_url),
                url: resident_url,
            },
            items,
        };
        playlist.version = version_of(&playlist);
        playlist
    }
}

/// A screen's playlist version as last built, and until when it holds.
pub(super) struct KnownVersion {
    /// `Signage::changes` when it was built.
    generation: u64,
    built_at: DateTime<Utc>,
    until: DateTime<Utc>,
    utc_offset_minutes: i32,
    version: String,
}

/// Longest a built version is trusted: a bound on anything that moves with
/// time alone and is not listed in `version_holds_until`.
const VERSION_TRUST_SECONDS: i64 = 60;

/// When a playlist built at `now` stops being what `playlist` would build,
/// with nothing changed: the first item to end, and the live tiles' rolling
/// end moving on.
fn version_holds_until(items: &[PlaylistItem], now: DateTime<Utc>) -> DateTime<Utc> {
    let mut until = now + chrono::Duration::seconds(VERSION_TRUST_SECONDS);
    for item in items {
        let ends_at = match item {
            PlaylistItem::Notice { ends_at, .. } | PlaylistItem::Figures { ends_at, .. } => {
                *ends_at
            }
            PlaylistItem::Live { .. } => {
                Some(live_tile_end(now) - chrono::Duration::minutes(LIVE_TILE_STEP_MINUTES))
            }
        };
        if let Some(end) = ends_at.filter(|end| *end > now) {
            until = until.min(end);
        }
    }
    until
}

fn utc_offset_minutes(now: DateTime<Utc>, zone: chrono_tz::Tz) -> i32 {
    now.with_timezone(&zone).offset().fix().local_minus_utc() / 60
}

/// Where the lobby QR code leads: the report form for the screen's building
/// (a record filed through it has the source `screen_qr`).
pub fn report_url(public_url: &str, building: Option<BuildingId>) -> String {
    let base = public_url.trim_end_matches('/');
    match building {
        Some(building) => format!("{base}/report?building={building}"),
        None => format!("{base}/report"),
    }
}

/// A fingerprint of everything the screen shows, so that an unchanged
/// playlist keeps its version (and answers 304).
fn version_of(playlist: &ScreenPlaylist) -> String {
    let mut hasher = Sha256::new();
    hasher.update(playlist.client_version.as_bytes());
    hasher.update(playlist.utc_offset_minutes.to_le_bytes());
    hasher.update(serde_json::to_vec(&playlist.screen).unwrap_or_default());
    hasher.update(serde_json::to_vec(&playlist.items).unwrap_or_default());
    hex::encode(&hasher.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_tile_shows_the_question_on_one_short_line() {
        assert_eq!(answering_text("电梯\n什么时候修？"), "电梯 什么时候修？");
        let long = "长".repeat(200);
        let shown = answering_text(&long);
        assert_eq!(shown.chars().count(), ANSWERING_CHARS);
        assert!(shown.ends_with('…'));
    }

    #[test]
    fn the_lobby_qr_opens_the_report_form_for_the_building() {
        assert_eq!(
            report_url("https://xf.example.org/", Some(BuildingId(7))),
            "https://xf.example.org/report?building=7"
        );
        assert_eq!(
            report_url("https://xf.example.org", None),
            "https://xf.example.org/report"
        );
    }
}
