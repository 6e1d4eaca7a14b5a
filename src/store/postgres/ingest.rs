//! `IngestStore` for PostgreSQL. A claim locks the current row (if any) and
//! then upserts with the takeover condition in the statement itself, so of
//! several nodes claiming at once exactly one wins: concurrent inserts of a
//! missing row meet in `ON CONFLICT`, which re-checks the condition against
//! the row the other claim committed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::domain::BroadcastId;
use crate::store::ingest::{Claimed, IngestClaim, IngestHolder, IngestPhase, IngestStore};
use crate::store::rows::ingest::{displaces, HolderRow, RenewedRow, COLUMNS};
use crate::store::{ts, StoreError, StoreResult};

#[async_trait]
impl IngestStore for PgStore {
    async fn claim_ingest(&self, id: BroadcastId, claim: &IngestClaim<'_>) -> StoreResult<Claimed> {
        let mut tx = self.write_tx().await?;
        let previous: Option<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE broadcast_id = $1 FOR UPDATE"
        ))
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let now = ts(claim.now);
        let taken: Option<HolderRow> = sqlx::query_as(&format!(
            "INSERT INTO ingest_holders ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $6)
             ON CONFLICT (broadcast_id) DO UPDATE SET
                 node = excluded.node, incarnation = excluded.incarnation,
                 internal_url = excluded.internal_url, phase = excluded.phase,
                 heartbeat_at = excluded.heartbeat_at, claimed_at = excluded.claimed_at
             WHERE {}
             RETURNING {COLUMNS}",
            displaces("$7")
        ))
        .bind(id.0)
        .bind(claim.node)
        .bind(claim.incarnation)
        .bind(claim.internal_url)
        .bind(claim.phase.as_str())
        .bind(&now)
        .bind(ts(claim.stale_before))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let previous = previous.map(IngestHolder::try_from).transpose()?;
        match (taken, previous) {
            (Some(_), previous) => Ok(Claimed::Taken { previous }),
            (None, Some(holder)) => Ok(Claimed::Held(holder)),
            // Another node inserted the row after our look: it holds it.
            (None, None) => match self.ingest_holder(id).await? {
                Some(holder) => Ok(Claimed::Held(holder)),
                None => Err(StoreError::Busy),
            },
        }
    }

    async fn renew_ingest(
        &self,
        incarnation: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<(BroadcastId, IngestPhase)>> {
        let rows: Vec<RenewedRow> = sqlx::query_as(
            "UPDATE ingest_holders SET heartbeat_at = $1 WHERE incarnation = $2
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
            "UPDATE ingest_holders SET phase = $1, heartbeat_at = $2
             WHERE broadcast_id = $3 AND incarnation = $4",
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
            sqlx::query("DELETE FROM ingest_holders WHERE broadcast_id = $1 AND incarnation = $2")
                .bind(id.0)
                .bind(incarnation)
                .execute(self.pool())
                .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn ingest_holder(&self, id: BroadcastId) -> StoreResult<Option<IngestHolder>> {
        let row: Option<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE broadcast_id = $1"
        ))
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        row.map(IngestHolder::try_from).transpose()
    }

    async fn stale_ingests(&self, stale_before: DateTime<Utc>) -> StoreResult<Vec<IngestHolder>> {
        let rows: Vec<HolderRow> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM ingest_holders WHERE heartbeat_at < $1
             ORDER BY heartbeat_at LIMIT 1000"
        ))
        .bind(ts(stale_before))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(IngestHolder::try_from).collect()
    }
}
