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
    /// Why the last encoder was turned away for what it sent, and when;
    /// cleared when an encoder next publishes what Pavilion takes.
    pub ingest_problem: Option<IngestProblem>,
    pub ingest_problem_at: Option<DateTime<Utc>>,
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

/// Why an encoder was turned away for what it sent rather than for its key:
/// a codec Pavilion does not take (OBS offers HEVC and AV1 over Enhanced
/// RTMP). Kept on the broadcast, so that staff see it on any node and after
/// a reload; the codec is named as staff know it ("HEVC (H.265)").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "track", content = "codec", rename_all = "snake_case")]
pub enum IngestProblem {
    /// Video other than H.264.
    VideoCodec(String),
    /// Audio other than AAC.
    AudioCodec(String),
}

/// Codec names are stored and shown; one longer than this is cut.
const CODEC_NAME_MAX: usize = 40;

impl IngestProblem {
    pub fn video_codec(name: &str) -> Self {
        Self::VideoCodec(Self::clean(name))
    }

    pub fn audio_codec(name: &str) -> Self {
        Self::AudioCodec(Self::clean(name))
    }

    fn clean(name: &str) -> String {
        name.chars()
            .filter(|c| !c.is_control())
            .take(CODEC_NAME_MAX)
            .collect()
    }

    /// The stored form: `video:HEVC (H.265)`.
    pub fn code(&self) -> String {
        match self {
            Self::VideoCodec(codec) => format!("video:{codec}"),
            Self::AudioCodec(codec) => format!("audio:{codec}"),
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        match code.split_once(':')? {
            ("video", codec) => Some(Self::video_codec(codec)),
            ("audio", codec) => Some(Self::audio_codec(codec)),
            _ => None,
        }
    }

    /// The catalogue message that says what to change; `%{codec}` in it is
    /// [`Self::codec`].
    pub fn message_key(&self) -> &'static str {
        match self {
            Self::VideoCodec(_) => "broadcasts.ingest_problem.video_codec",
            Self::AudioCodec(_) => "broadcasts.ingest_problem.audio_codec",
        }
    }

    pub fn codec(&self) -> &str {
        match self {
            Self::VideoCodec(codec) | Self::AudioCodec(codec) => codec,
        }
    }
}

/// What the encoder is told (and the log says); staff read the catalogue's words.
impl std::fmt::Display for IngestProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::VideoCodec(codec) => write!(
                f,
                "the encoder sends {codec} video; Pavilion takes only H.264: \
                 choose x264 or a hardware H.264 encoder in OBS Settings > Output > Video Encoder"
            ),
            Self::AudioCodec(codec) => write!(
                f,
                "the encoder sends {codec} audio; Pavilion takes only AAC: \
                 choose AAC in OBS Settings > Output > Audio Encoder"
            ),
        }
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
    fn ingest_problems_round_trip_through_their_code() {
        for problem in [
            IngestProblem::video_codec("HEVC (H.265)"),
            IngestProblem::audio_codec("MP3"),
        ] {
            assert_eq!(IngestProblem::parse(&problem.code()), Some(problem));
        }
        assert_eq!(IngestProblem::parse("nonsense"), None);
        let long = IngestProblem::video_codec(&"x\n".repeat(100));
        assert_eq!(long.codec(), "x".repeat(40));
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
