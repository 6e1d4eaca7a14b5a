//! `IngestStore` for SQLite: one writer at a time, so the claim's read and
//! conditional write in one `BEGIN IMMEDIATE` transaction cannot interleave
//! with another claim.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ts, SqliteStore};
use crate::domain::BroadcastId;
use crate::store::ingest::{Claimed, IngestClaim, IngestHolder, IngestPhase, IngestStore};
use crate::store::rows::ingest::{displaces, HolderRow, RenewedRow, COLUMNS};
use crate::store::StoreResult;

#[async_trait]
impl IngestStore for SqliteStore {
    async fn claim_ingest(&self, id: BroadcastId, claim: &IngestClaim<'_>) -> StoreResult<Claimed> {
        let mut tx = self.write_tx().await?;
        let previous: Option<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE broadcast_id = ?"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let now = ts(claim.now);
        let taken: Option<HolderRow> = sqlx::query_as(&format!(
            "INSERT INTO ingest_holders ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (broadcast_id) DO UPDATE SET
                 node = excluded.node, incarnation = excluded.incarnation,
                 internal_url = excluded.internal_url, phase = excluded.phase,
                 heartbeat_at = excluded.heartbeat_at, claimed_at = excluded.claimed_at
             WHERE {}
             RETURNING {COLUMNS}",
            displaces("?")
        ))
        .bind(id.0)
        .bind(claim.node)
        .bind(claim.incarnation)
        .bind(claim.internal_url)
        .bind(claim.phase.as_str())
        .bind(&now)
        .bind(&now)
        .bind(ts(claim.stale_before))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let previous = previous.map(IngestHolder::try_from).transpose()?;
        match (taken, previous) {
            (Some(_), previous) => Ok(Claimed::Taken { previous }),
            (None, Some(holder)) => Ok(Claimed::Held(holder)),
            // Cannot happen with one writer; read what is there.
            (None, None) => match self.ingest_holder(id).await? {
                Some(holder) => Ok(Claimed::Held(holder)),
                None => Err(crate::store::StoreError::Busy),
            },
        }
    }

    async fn renew_ingest(
        &self,
        incarnation: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(BroadcastId, IngestPhase)>> {
        let rows: Vec<RenewedRow> = sqlx::query_as(
            "UPDATE ingest_holders SET heartbeat_at = ? WHERE incarnation = ?
             RETURNING broadcast_id, phase",
        )
        .bind(ts(now))
        .bind(incarnation)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryFrom::try_from).collect()
    }

    async fn set_ingest_phase(
        &self,
        id: BroadcastId,
        incarnation: &str,
        phase: IngestPhase,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE ingest_holders SET phase = ?, heartbeat_at = ?
             WHERE broadcast_id = ? AND incarnation = ?",
        )
        .bind(phase.as_str())
        .bind(ts(now))
        .bind(id.0)
        .bind(incarnation)
        .execute(self.pool())
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn release_ingest(&self, id: BroadcastId, incarnation: &str) -> StoreResult<bool> {
        let done =
            sqlx::query("DELETE FROM ingest_holders WHERE broadcast_id = ? AND incarnation = ?")
                .bind(id.0)
                .bind(incarnation)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ingest_holder(&self, id: BroadcastId) -> StoreResult<Option<IngestHolder>> {
        let row: Option<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE broadcast_id = ?"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.map(IngestHolder::try_from).transpose()
    }

    async fn stale_ingests(&self, stale_before: DateTime<Utc>) -> StoreResult<Vec<IngestHolder>> {
        let rows: Vec<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE heartbeat_at < ?
             ORDER BY heartbeat_at LIMIT 1000"
        ))
        .bind(ts(stale_before))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(IngestHolder::try_from).collect()
    }
}
