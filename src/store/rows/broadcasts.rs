//! Rows of the broadcast tables, read alike by both backends.

use sqlx::FromRow;

use super::Stamp;
use crate::domain::broadcast::{Broadcast, BroadcastState, IngestProblem, Renditions, ReplayState};
use crate::domain::*;
use crate::store::StoreError;

#[derive(FromRow)]
pub(crate) struct BroadcastRow {
    id: i64,
    community_id: i64,
    title: String,
    description: String,
    starts_at: Stamp,
    owner_id: i64,
    state: String,
    stream_key: String,
    rendition_low: bool,
    rendition_audio: bool,
    went_live_at: Option<Stamp>,
    ended_at: Option<Stamp>,
    replay: String,
    replay_millis: Option<i64>,
    recording_error: Option<String>,
    ingest_problem: Option<String>,
    ingest_problem_at: Option<Stamp>,
    created_at: Stamp,
    /// Comma-separated estate ids.
    estates: Option<String>,
}

/// Selects every column of [`BroadcastRow`] from `broadcasts b`; append
/// `WHERE …`. `string_agg` and `CAST … AS TEXT` read alike on PostgreSQL and
/// SQLite (3.44 and later; sqlx bundles a newer one).
pub(crate) const BROADCAST: &str =
    "SELECT b.id, b.community_id, b.title, b.description, b.starts_at, b.owner_id,
        b.state, b.stream_key, b.rendition_low, b.rendition_audio, b.went_live_at, b.ended_at,
        b.replay, b.replay_millis, b.recording_error, b.ingest_problem, b.ingest_problem_at,
        b.created_at,
        (SELECT string_agg(CAST(e.estate_id AS TEXT), ',' ORDER BY e.estate_id)
         FROM broadcast_estates e WHERE e.broadcast_id = b.id) AS estates
    FROM broadcasts b";

impl TryFrom<BroadcastRow> for Broadcast {
    type Error = StoreError;

    fn try_from(r: BroadcastRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("broadcast {}: {what}", r.id));
        let estates = r
            .estates
            .as_deref()
            .unwrap_or("")
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map(EstateId))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| corrupt("estate list"))?;
        Ok(Broadcast {
            id: BroadcastId(r.id),
            community_id: CommunityId(r.community_id),
            state: BroadcastState::parse(&r.state).ok_or_else(|| corrupt("state"))?,
            replay: ReplayState::parse(&r.replay).ok_or_else(|| corrupt("replay"))?,
            title: r.title,
            description: r.description,
            starts_at: r.starts_at.0,
            estates,
            owner_id: AccountId(r.owner_id),
            stream_key: r.stream_key,
            renditions: Renditions {
                low: r.rendition_low,
                audio_only: r.rendition_audio,
            },
            went_live_at: r.went_live_at.map(Into::into),
            ended_at: r.ended_at.map(Into::into),
            replay_millis: r.replay_millis,
            recording_error: r.recording_error,
            // A code this version does not know reads as none.
            ingest_problem: r.ingest_problem.as_deref().and_then(IngestProblem::parse),
            ingest_problem_at: r.ingest_problem_at.map(Into::into),
            created_at: r.created_at.0,
        })
    }
}

/// The replay states a replay may change to `to` from, or `None` for any:
/// marking a recording as processing (or nothing recorded) comes from the
/// live pipeline; publishing, unpublishing and deleting are conditional
/// updates, so that of two nodes or staff taking one step at once one
/// wins, and a deleted replay is never published again.
pub(crate) fn replay_sources(to: ReplayState) -> Option<&'static [ReplayState]> {
    use ReplayState::*;
    match to {
        None | Processing => Option::None,
        Published => Some(&[None, Processing, Unpublished]),
        Unpublished => Some(&[Published]),
        Deleted => Some(&[Published, Unpublished]),
    }
}
