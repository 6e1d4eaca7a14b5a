//! Broadcasts: a secretary's scheduled live Q&A, its stream key, its life from
//! scheduled to ended, and the replay it leaves behind.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{AccountId, BroadcastId, CommunityId, EstateId};
use super::text::{clean_line, clean_paragraphs, TextError};

/// Where a broadcast is in its life.
///
/// ```text
/// scheduled ──publish──▶ live ──encoder drops──▶ reconnecting ──grace over──▶ ended
///                          ▲                          │
///                          └──────encoder returns─────┘
/// ```
/// Staff may also end a broadcast in any state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum BroadcastState {
    Scheduled,
    Live,
    Reconnecting,
    Ended,
}

impl BroadcastState {
    pub const ALL: [Self; 4] = [Self::Scheduled, Self::Live, Self::Reconnecting, Self::Ended];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Live => "live",
            Self::Reconnecting => "reconnecting",
            Self::Ended => "ended",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Live or about to be live again: viewers keep their player open.
    pub fn is_on_air(self) -> bool {
        matches!(self, Self::Live | Self::Reconnecting)
    }
}

/// What became of the recording once the broadcast ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReplayState {
    /// Not ended yet, or nothing was recorded.
    None,
    /// Ended; poster and download are being made.
    Processing,
    Published,
    /// Hidden from residents by staff; still on disk.
    Unpublished,
    /// Files removed by staff.
    Deleted,
}

impl ReplayState {
    pub const ALL: [Self; 5] = [
        Self::None,
        Self::Processing,
        Self::Published,
        Self::Unpublished,
        Self::Deleted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Processing => "processing",
            Self::Published => "published",
            Self::Unpublished => "unpublished",
            Self::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Residents may watch it (published, or still being finished: the
    /// segments are already playable).
    pub fn is_public(self) -> bool {
        matches!(self, Self::Published | Self::Processing)
    }
}

/// The optional extra renditions, for residents on weak connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Renditions {
    /// A transcoded 480p rendition.
    pub low: bool,
    /// Sound only (the source's audio, no video).
    pub audio_only: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Broadcast {
    pub id: BroadcastId,
    pub community_id: CommunityId,
    pub title: String,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    /// The estates it concerns; empty means the whole community.
    pub estates: Vec<EstateId>,
    /// The account that scheduled it; with admins, the only one shown the key.
    pub owner_id: AccountId,
    pub state: BroadcastState,
    #[serde(skip)]
    pub stream_key: String,
    pub renditions: Renditions,
    pub went_live_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub replay: ReplayState,
    /// Length of the recording in milliseconds, once known.
    pub replay_millis: Option<i64>,
    /// Why recording stopped early (e.g. the disk filled up), for staff.
    pub recording_error: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// What staff enter when scheduling or editing a broadcast, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastDetails {
    pub community_id: CommunityId,
    pub title: String,
    pub description: String,
    pub starts_at: DateTime<Utc>,
    pub estates: Vec<EstateId>,
    pub renditions: Renditions,
}

pub const TITLE_MAX: usize = 60;
pub const DESCRIPTION_MAX: usize = 2000;

impl BroadcastDetails {
    /// Checks the free-text fields; the description may be empty.
    pub fn new(
        community_id: CommunityId,
        title: &str,
        description: &str,
        starts_at: DateTime<Utc>,
        estates: Vec<EstateId>,
        renditions: Renditions,
    ) -> Result<Self, (&'static str, TextError)> {
        let title = clean_line(title, 2, TITLE_MAX).map_err(|e| ("title", e))?;
        let description = match clean_paragraphs(description, DESCRIPTION_MAX) {
            Ok(text) => text,
            Err(TextError::Empty) => String::new(),
            Err(e) => return Err(("description", e)),
        };
        let mut estates = estates;
        estates.sort();
        estates.dedup();
        Ok(Self {
            community_id,
            title,
            description,
            starts_at,
            estates,
            renditions,
        })
    }
}

/// Why an encoder may not publish. Sent back over RTMP and logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    #[error("unknown or revoked stream key")]
    UnknownKey,
    #[error("this broadcast has ended")]
    Ended,
    #[error("another encoder is already publishing this broadcast")]
    AlreadyPublishing,
    #[error("the server cannot start the broadcast just now; try again")]
    Unavailable,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for state in BroadcastState::ALL {
            assert_eq!(BroadcastState::parse(state.as_str()), Some(state));
        }
        for state in ReplayState::ALL {
            assert_eq!(ReplayState::parse(state.as_str()), Some(state));
        }
    }

    #[test]
    fn details_are_cleaned() {
        let details = BroadcastDetails::new(
            CommunityId(1),
            "  书记讲政策 ",
            "",
            Utc::now(),
            vec![EstateId(2), EstateId(1), EstateId(2)],
            Renditions::default(),
        )
        .unwrap();
        assert_eq!(details.title, "书记讲政策");
        assert_eq!(details.estates, [EstateId(1), EstateId(2)]);
        let err = BroadcastDetails::new(
            CommunityId(1),
            "x",
            "",
            Utc::now(),
            vec![],
            Renditions::default(),
        )
        .unwrap_err();
        assert_eq!(err.0, "title");
    }
}
