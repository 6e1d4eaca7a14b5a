//! Lobby screens: how one pairs, where it hangs, and whether it is alive.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::ids::{BuildingId, CommunityId, EstateId, NoticeId, ScreenGroupId, ScreenId};

/// Which way up the panel hangs; previews and the kiosk layout follow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    /// 1920×1080.
    Landscape,
    /// 1080×1920.
    Portrait,
}

impl Orientation {
    pub const ALL: [Self; 2] = [Self::Landscape, Self::Portrait];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Landscape => "landscape",
            Self::Portrait => "portrait",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Width and height in CSS pixels of the panel this stands for.
    pub fn size(self) -> (u32, u32) {
        match self {
            Self::Landscape => (1920, 1080),
            Self::Portrait => (1080, 1920),
        }
    }
}

/// Screens a notice can target together, e.g. "all lift lobbies".
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScreenGroup {
    pub id: ScreenGroupId,
    pub community_id: CommunityId,
    pub name: String,
}

/// Where a screen hangs: everything a notice may target it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ScreenPlace {
    pub screen_id: ScreenId,
    pub community_id: CommunityId,
    pub estate_id: EstateId,
    pub building_id: BuildingId,
    pub group_id: Option<ScreenGroupId>,
}

/// The latest heartbeat a screen sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Heartbeat {
    pub current_notice: Option<NoticeId>,
    pub client_version: String,
    pub uptime_seconds: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Screen {
    pub id: ScreenId,
    pub name: String,
    pub place: ScreenPlace,
    pub orientation: Orientation,
    pub paired_at: DateTime<Utc>,
    /// Set when an admin revokes its token; the screen must pair again.
    pub revoked_at: Option<DateTime<Utc>>,
    pub last_seen_at: Option<DateTime<Utc>>,
    pub heartbeat: Heartbeat,
}

/// What the console shows for a screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ScreenHealth {
    /// Heard from within the last two minutes.
    Online,
    /// Quiet for two to ten minutes: maybe a Wi-Fi hiccup.
    Stale,
    /// Quiet for more than ten minutes (or never heard from): staff are alerted.
    Offline,
    Revoked,
}

impl ScreenHealth {
    pub const STALE_AFTER: Duration = Duration::minutes(2);
    pub const OFFLINE_AFTER: Duration = Duration::minutes(10);

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Stale => "stale",
            Self::Offline => "offline",
            Self::Revoked => "revoked",
        }
    }
}

impl Screen {
    pub fn health(&self, now: DateTime<Utc>) -> ScreenHealth {
        if self.revoked_at.is_some() {
            return ScreenHealth::Revoked;
        }
        let since = now - self.last_seen_at.unwrap_or(self.paired_at);
        if since > ScreenHealth::OFFLINE_AFTER {
            ScreenHealth::Offline
        } else if since > ScreenHealth::STALE_AFTER {
            ScreenHealth::Stale
        } else {
            ScreenHealth::Online
        }
    }
}

/// One showing of a notice on a screen, as the screen reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Play {
    pub notice_id: NoticeId,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// A proof-of-play row for export.
#[derive(Debug, Clone, Serialize)]
pub struct PlayRow {
    pub screen_id: ScreenId,
    pub screen_name: String,
    pub notice_id: NoticeId,
    pub notice_title: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
}

/// A pairing code a new screen shows until an admin claims it.
#[derive(Debug, Clone)]
pub struct Pairing {
    /// Six characters from an alphabet without look-alikes (no 0/O, 1/I/L).
    pub code: String,
    /// The secret the screen polls with; hashed in the store.
    pub expires_at: DateTime<Utc>,
    /// Set when an admin has claimed the code for a screen.
    pub screen_id: Option<ScreenId>,
}

pub const PAIRING_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const PAIRING_CODE_LEN: usize = 6;
pub const PAIRING_LIFETIME: Duration = Duration::minutes(15);

/// Normalises what an admin typed (case, spaces, dashes) into a code, or
/// `None` when it cannot be one.
pub fn parse_pairing_code(raw: &str) -> Option<String> {
    let code: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == PAIRING_CODE_LEN && code.bytes().all(|b| PAIRING_ALPHABET.contains(&b)))
        .then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn screen(last_seen: Option<DateTime<Utc>>, revoked: bool, now: DateTime<Utc>) -> Screen {
        Screen {
            id: ScreenId(1),
            name: "1号楼大堂".into(),
            place: ScreenPlace {
                screen_id: ScreenId(1),
                community_id: CommunityId(1),
                estate_id: EstateId(1),
                building_id: BuildingId(1),
                group_id: None,
            },
            orientation: Orientation::Landscape,
            paired_at: now - Duration::hours(1),
            revoked_at: revoked.then_some(now),
            last_seen_at: last_seen,
            heartbeat: Heartbeat::default(),
        }
    }

    #[test]
    fn health_follows_the_last_heartbeat() {
        let now = Utc::now();
        let health = |ago: i64| screen(Some(now - Duration::seconds(ago)), false, now).health(now);
        assert_eq!(health(30), ScreenHealth::Online);
        assert_eq!(health(5 * 60), ScreenHealth::Stale);
        assert_eq!(health(11 * 60), ScreenHealth::Offline);
        assert_eq!(screen(None, false, now).health(now), ScreenHealth::Offline);
        assert_eq!(
            screen(Some(now), true, now).health(now),
            ScreenHealth::Revoked
        );
    }

    #[test]
    fn pairing_codes_are_normalised() {
        assert_eq!(parse_pairing_code(" abc-d23 "), Some("ABCD23".into()));
        assert_eq!(parse_pairing_code("ABCD2"), None);
        assert_eq!(
            parse_pairing_code("ABCD20"),
            None,
            "0 is not in the alphabet"
        );
    }
}
