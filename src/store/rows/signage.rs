//! Lobby screens' rows on either backend: media, notices, screens and plays.

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use sqlx::{Database, Encode, FromRow, QueryBuilder, Type};

use super::Ts;
use crate::domain::notice::{
    DayPart, MediaFile, MediaKind, MediaState, Notice, NoticeCategory, NoticeState, Target,
    Validity, Weekdays,
};
use crate::domain::screen::{Heartbeat, Orientation, PlayRow, Screen, ScreenGroup, ScreenPlace};
use crate::domain::*;
use crate::store::{ts, NoticeFilter, PlayFilter, StoreError};

// ---------------------------------------------------------------- media

#[derive(FromRow)]
pub(crate) struct MediaRow {
    id: i64,
    community_id: i64,
    kind: String,
    state: String,
    original_name: String,
    content_type: String,
    size_bytes: i64,
    width: Option<i64>,
    height: Option<i64>,
    duration_millis: Option<i64>,
    error: Option<String>,
    uploaded_by: i64,
    created_at: Ts,
}

pub(crate) const MEDIA: &str = "SELECT id, community_id, kind, state, original_name, content_type,
        size_bytes, width, height, duration_millis, error, uploaded_by, created_at
    FROM signage_media";

impl TryFrom<MediaRow> for MediaFile {
    type Error = StoreError;

    fn try_from(r: MediaRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("media {}: {what}", r.id));
        Ok(MediaFile {
            id: MediaId(r.id),
            community_id: CommunityId(r.community_id),
            kind: MediaKind::parse(&r.kind).ok_or_else(|| corrupt("kind"))?,
            state: MediaState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            original_name: r.original_name,
            content_type: r.content_type,
            size_bytes: r.size_bytes,
            width: r.width.and_then(|w| u32::try_from(w).ok()),
            height: r.height.and_then(|h| u32::try_from(h).ok()),
            duration_millis: r.duration_millis,
            error: r.error,
            uploaded_by: AccountId(r.uploaded_by),
            created_at: r.created_at.0,
        })
    }
}

// ---------------------------------------------------------------- notices

#[derive(FromRow)]
pub(crate) struct NoticeRow {
    id: i64,
    community_id: i64,
    title: String,
    body: String,
    category: String,
    emergency: bool,
    starts_at: Ts,
    ends_at: Option<Ts>,
    day_parts: String,
    display_seconds: i64,
    priority: i64,
    video_id: Option<i64>,
    state: String,
    rejection_reason: Option<String>,
    author_id: i64,
    approved_by: Option<i64>,
    revision: i64,
    published_at: Option<Ts>,
    created_at: Ts,
    updated_at: Ts,
    /// `kind:id` pairs, comma-separated.
    targets: Option<String>,
    /// Media ids in position order, comma-separated.
    images: Option<String>,
}

/// The notice's own columns (alias `n`); each backend adds `targets` and
/// `images` with its own string aggregate.
pub(crate) const NOTICE_COLUMNS: &str = "n.id, n.community_id, n.title, n.body, n.category,
        n.emergency, n.starts_at, n.ends_at, n.day_parts, n.display_seconds, n.priority,
        n.video_id, n.state, n.rejection_reason, n.author_id, n.approved_by, n.revision,
        n.published_at, n.created_at, n.updated_at";

/// How day-parts are kept in the `day_parts` JSON column.
#[derive(Serialize, Deserialize)]
struct StoredDayPart {
    weekdays: Vec<u8>,
    from: NaiveTime,
    until: NaiveTime,
}

pub(crate) fn day_parts_json(parts: &[DayPart]) -> String {
    let stored: Vec<StoredDayPart> = parts
        .iter()
        .map(|p| StoredDayPart {
            weekdays: p.weekdays().iso_numbers(),
            from: p.from(),
            until: p.until(),
        })
        .collect();
    serde_json::to_string(&stored).expect("day parts serialise")
}

fn parse_target(pair: &str) -> Option<Target> {
    let (kind, id) = pair.split_once(':')?;
    let id: i64 = id.parse().ok()?;
    Some(match kind {
        "community" => Target::Community(CommunityId(id)),
        "estate" => Target::Estate(EstateId(id)),
        "building" => Target::Building(BuildingId(id)),
        "screen" => Target::Screen(ScreenId(id)),
        "group" => Target::Group(ScreenGroupId(id)),
        _ => return None,
    })
}

/// The `notice_targets` row of a target: its kind and id.
pub(crate) fn target_parts(target: Target) -> (&'static str, i64) {
    match target {
        Target::Community(id) => ("community", id.0),
        Target::Estate(id) => ("estate", id.0),
        Target::Building(id) => ("building", id.0),
        Target::Screen(id) => ("screen", id.0),
        Target::Group(id) => ("group", id.0),
    }
}

impl TryFrom<NoticeRow> for Notice {
    type Error = StoreError;

    fn try_from(r: NoticeRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("notice {}: {what}", r.id));
        let stored: Vec<StoredDayPart> =
            serde_json::from_str(&r.day_parts).map_err(|_| corrupt("day parts"))?;
        let day_parts = stored
            .into_iter()
            .map(|p| {
                let days = Weekdays::from_iso(&p.weekdays).ok_or_else(|| corrupt("weekdays"))?;
                DayPart::new(days, p.from, p.until).map_err(|_| corrupt("day part"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets = r
            .targets
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|pair| parse_target(pair).ok_or_else(|| corrupt("target")))
            .collect::<Result<Vec<_>, _>>()?;
        targets.sort();
        let images = r
            .images
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map(MediaId).map_err(|_| corrupt("image list")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Notice {
            id: NoticeId(r.id),
            community_id: CommunityId(r.community_id),
            category: NoticeCategory::parse(&r.category).ok_or_else(|| corrupt("category"))?,
            state: NoticeState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            validity: Validity::new(r.starts_at.0, r.ends_at.map(|e| e.0))
                .map_err(|_| corrupt("validity"))?,
            display_seconds: u32::try_from(r.display_seconds)
                .map_err(|_| corrupt("display seconds"))?,
            priority: u8::try_from(r.priority).map_err(|_| corrupt("priority"))?,
            title: r.title,
            body: r.body,
            emergency: r.emergency,
            day_parts,
            targets,
            images,
            video: r.video_id.map(MediaId),
            rejection_reason: r.rejection_reason,
            author_id: AccountId(r.author_id),
            approved_by: r.approved_by.map(AccountId),
            revision: r.revision,
            published_at: r.published_at.map(|p| p.0),
            created_at: r.created_at.0,
            updated_at: r.updated_at.0,
        })
    }
}

// ---------------------------------------------------------------- screens

#[derive(FromRow)]
pub(crate) struct ScreenRow {
    id: i64,
    name: String,
    community_id: i64,
    estate_id: i64,
    building_id: i64,
    group_id: Option<i64>,
    orientation: String,
    paired_at: Ts,
    revoked_at: Option<Ts>,
    last_seen_at: Option<Ts>,
    current_notice: Option<i64>,
    client_version: String,
    uptime_seconds: i64,
    last_error: Option<String>,
}

pub(crate) const SCREEN: &str = "SELECT s.id, s.name, e.community_id, b.estate_id, s.building_id,
        s.group_id, s.orientation, s.paired_at, s.revoked_at, s.last_seen_at, s.current_notice,
        s.client_version, s.uptime_seconds, s.last_error
    FROM screens s JOIN buildings b ON b.id = s.building_id JOIN estates e ON e.id = b.estate_id";

impl TryFrom<ScreenRow> for Screen {
    type Error = StoreError;

    fn try_from(r: ScreenRow) -> Result<Self, StoreError> {
        let id = ScreenId(r.id);
        Ok(Screen {
            id,
            name: r.name,
            place: ScreenPlace {
                screen_id: id,
                community_id: CommunityId(r.community_id),
                estate_id: EstateId(r.estate_id),
                building_id: BuildingId(r.building_id),
                group_id: r.group_id.map(ScreenGroupId),
            },
            orientation: Orientation::parse(&r.orientation)
                .ok_or_else(|| StoreError::Corrupt(format!("screen {}: orientation", r.id)))?,
            paired_at: r.paired_at.0,
            revoked_at: r.revoked_at.map(|r| r.0),
            last_seen_at: r.last_seen_at.map(|l| l.0),
            heartbeat: Heartbeat {
                current_notice: r.current_notice.map(NoticeId),
                client_version: r.client_version,
                uptime_seconds: u64::try_from(r.uptime_seconds).unwrap_or(0),
                last_error: r.last_error,
            },
        })
    }
}

#[derive(FromRow)]
pub(crate) struct ScreenGroupRow {
    id: i64,
    community_id: i64,
    name: String,
}

pub(crate) const SCREEN_GROUP: &str = "SELECT id, community_id, name FROM screen_groups";

impl From<ScreenGroupRow> for ScreenGroup {
    fn from(r: ScreenGroupRow) -> Self {
        ScreenGroup {
            id: ScreenGroupId(r.id),
            community_id: CommunityId(r.community_id),
            name: r.name,
        }
    }
}

// ---------------------------------------------------------------- plays

#[derive(FromRow)]
pub(crate) struct PlayExportRow {
    screen_id: i64,
    screen_name: String,
    notice_id: i64,
    notice_title: String,
    started_at: Ts,
    ended_at: Ts,
}

/// Proof-of-play rows with their screen's and notice's names; each backend
/// adds its conditions after `WHERE 1 = 1`.
pub(crate) const PLAY_EXPORT: &str = "SELECT p.screen_id, s.name AS screen_name, p.notice_id,
        n.title AS notice_title, p.started_at, p.ended_at
    FROM notice_plays p JOIN screens s ON s.id = p.screen_id
    JOIN notices n ON n.id = p.notice_id WHERE 1 = 1";

impl From<PlayExportRow> for PlayRow {
    fn from(r: PlayExportRow) -> Self {
        PlayRow {
            screen_id: ScreenId(r.screen_id),
            screen_name: r.screen_name,
            notice_id: NoticeId(r.notice_id),
            notice_title: r.notice_title,
            started_at: r.started_at.0,
            ended_at: r.ended_at.0,
        }
    }
}

// ---------------------------------------------------------------- filters

/// A notice list's conditions, order and limit, after `… WHERE 1 = 1`.
pub(crate) fn push_notice_filter<'a, DB: Database>(
    query: &mut QueryBuilder<'a, DB>,
    filter: &NoticeFilter,
) where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if let Some(community) = filter.community {
        query.push(" AND n.community_id = ").push_bind(community.0);
    }
    if !filter.states.is_empty() {
        query.push(" AND n.state IN (");
        let mut list = query.separated(", ");
        for state in &filter.states {
            list.push_bind(state.as_str().to_owned());
        }
        query.push(")");
    }
    if !filter.ids.is_empty() {
        query.push(" AND n.id IN (");
        let mut list = query.separated(", ");
        for id in &filter.ids {
            list.push_bind(id.0);
        }
        query.push(")");
    }
    query
        .push(" ORDER BY n.updated_at DESC, n.id DESC LIMIT ")
        .push_bind(filter.limit.max(1));
}

/// A proof-of-play export's conditions, order and limit, after `PLAY_EXPORT`.
pub(crate) fn push_play_filter<'a, DB: Database>(
    query: &mut QueryBuilder<'a, DB>,
    filter: &PlayFilter,
) where
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    if let Some(community) = filter.community {
        query.push(" AND n.community_id = ").push_bind(community.0);
    }
    if let Some(notice) = filter.notice {
        query.push(" AND p.notice_id = ").push_bind(notice.0);
    }
    if let Some(screen) = filter.screen {
        query.push(" AND p.screen_id = ").push_bind(screen.0);
    }
    if let Some(since) = filter.since {
        query.push(" AND p.started_at >= ").push_bind(ts(since));
    }
    if let Some(until) = filter.until {
        query.push(" AND p.started_at < ").push_bind(ts(until));
    }
    query
        .push(" ORDER BY p.started_at, p.screen_id LIMIT ")
        .push_bind(filter.limit.max(1));
}
