//! Rows of `ingest_holders`, read alike from SQLite and PostgreSQL.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use crate::domain::BroadcastId;
use crate::store::ingest::{IngestHolder, IngestPhase};
use crate::store::{StoreError, StoreResult};

/// The columns every query returns, in this order.
pub(crate) const COLUMNS: &str =
    "broadcast_id, node, incarnation, internal_url, phase, heartbeat_at, claimed_at";

#[derive(Debug, FromRow)]
pub(crate) struct HolderRow {
    pub broadcast_id: i64,
    pub node: String,
    pub incarnation: String,
    pub internal_url: String,
    pub phase: String,
    pub heartbeat_at: String,
    pub claimed_at: String,
}

#[derive(Debug, FromRow)]
pub(crate) struct RenewedRow {
    pub broadcast_id: i64,
    pub phase: String,
}

pub(crate) fn phase(text: &str) -> StoreResult<IngestPhase> {
    IngestPhase::parse(text).ok_or_else(|| StoreError::Corrupt(format!("ingest phase {text:?}")))
}

fn time(text: &str) -> StoreResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.to_utc())
        .map_err(|_| StoreError::Corrupt(format!("ingest time {text:?}")))
}

impl TryFrom<HolderRow> for IngestHolder {
    type Error = StoreError;

    fn try_from(row: HolderRow) -> StoreResult<Self> {
        Ok(Self {
            broadcast_id: BroadcastId(row.broadcast_id),
            phase: phase(&row.phase)?,
            heartbeat_at: time(&row.heartbeat_at)?,
            claimed_at: time(&row.claimed_at)?,
            node: row.node,
            incarnation: row.incarnation,
            internal_url: row.internal_url,
        })
    }
}

impl TryFrom<RenewedRow> for (BroadcastId, IngestPhase) {
    type Error = StoreError;

    fn try_from(row: RenewedRow) -> StoreResult<Self> {
        Ok((BroadcastId(row.broadcast_id), phase(&row.phase)?))
    }
}

/// The condition under which a claim displaces the current row (`h`), given
/// the claim's values as `excluded` and the stale limit as the one
/// placeholder `{stale}`: the same node name, a stale heartbeat, or an
/// encoder taking over from a holder that is only waiting for one.
pub(crate) fn displaces(stale: &str) -> String {
    format!(
        "ingest_holders.node = excluded.node OR ingest_holders.heartbeat_at < {stale} \
         OR (excluded.phase = 'publishing' AND ingest_holders.phase = 'waiting')"
    )
}
