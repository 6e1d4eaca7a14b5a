//! Which node holds each live broadcast's encoder, for Pavilion running as
//! several nodes on one database (one node on SQLite uses it the same way).
//!
//! A node that accepts an encoder claims the broadcast's row and renews its
//! heartbeat about every second while it holds it (publishing, waiting out
//! the grace period, or making the replay). Other nodes send live playlist
//! and part requests to the holder's internal address. A row whose heartbeat
//! is older than a few seconds belongs to a node that died: any node may take
//! it over, and exactly one does, because every claim is one conditional
//! statement.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::BroadcastId;

/// What the holder of a broadcast is doing with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngestPhase {
    /// An encoder is sending to the holder.
    Publishing,
    /// The encoder dropped; the holder keeps the live playlists and waits
    /// out the grace period. Another node's returning encoder may take over.
    Waiting,
    /// The broadcast has ended; the holder is making the replay.
    Finalizing,
}

impl IngestPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publishing => "publishing",
            Self::Waiting => "waiting",
            Self::Finalizing => "finalizing",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Publishing, Self::Waiting, Self::Finalizing]
            .into_iter()
            .find(|p| p.as_str() == text)
    }
}

/// The node holding a broadcast's encoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestHolder {
    pub broadcast_id: BroadcastId,
    /// The node's configured name.
    pub node: String,
    /// The running process of that node that renews the row.
    pub incarnation: String,
    /// Where other nodes reach it, e.g. `http://10.0.0.5:8080`.
    pub internal_url: String,
    pub phase: IngestPhase,
    pub heartbeat_at: DateTime<Utc>,
    pub claimed_at: DateTime<Utc>,
}

impl IngestHolder {
    /// Whether its heartbeat is older than `stale_before`: its node is gone.
    pub fn is_stale(&self, stale_before: DateTime<Utc>) -> bool {
        self.heartbeat_at < stale_before
    }
}

/// Who asks to hold a broadcast.
#[derive(Debug, Clone)]
pub struct IngestClaim<'a> {
    pub node: &'a str,
    pub incarnation: &'a str,
    pub internal_url: &'a str,
    /// `Publishing` for an encoder; `Finalizing` to make the replay.
    pub phase: IngestPhase,
    pub now: DateTime<Utc>,
    /// A holder whose heartbeat is older than this is dead.
    pub stale_before: DateTime<Utc>,
}

/// The answer to a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claimed {
    /// The caller holds the broadcast now; `previous` held it before (None:
    /// nobody did).
    Taken { previous: Option<IngestHolder> },
    /// Someone else holds it and may not be displaced.
    Held(IngestHolder),
}

#[async_trait]
pub trait IngestStore: Send + Sync + 'static {
    /// Takes the broadcast for `claim.node` when nobody holds it, the same
    /// node name holds it (a restarted node), the holder is stale, or the
    /// claim is for an encoder and the holder is only waiting for one.
    /// Of several claims at once exactly one wins.
    async fn claim_ingest(&self, id: BroadcastId, claim: &IngestClaim<'_>) -> StoreResult<Claimed>;

    /// Renews the heartbeat of every row `incarnation` holds; returns the
    /// broadcasts it still holds (a row taken over by another node is not
    /// among them).
    async fn renew_ingest(
        &self,
        incarnation: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(BroadcastId, IngestPhase)>>;

    /// Changes the phase of a row `incarnation` holds; false when it no
    /// longer holds it.
    async fn set_ingest_phase(
        &self,
        id: BroadcastId,
        incarnation: &str,
        phase: IngestPhase,
        now: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Removes the row if `incarnation` holds it; false otherwise.
    async fn release_ingest(&self, id: BroadcastId, incarnation: &str) -> StoreResult<bool>;

    async fn ingest_holder(&self, id: BroadcastId) -> StoreResult<Option<IngestHolder>>;

    /// Rows whose heartbeat is older than `stale_before`, oldest first.
    async fn stale_ingests(&self, stale_before: DateTime<Utc>) -> StoreResult<Vec<IngestHolder>>;
}
