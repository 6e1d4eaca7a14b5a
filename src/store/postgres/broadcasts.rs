//! `BroadcastStore` for PostgreSQL.
//!
//! Several nodes may act on one broadcast at once (two encoders connecting,
//! a node ending what another node streams, staff on either node). State
//! and replay transitions are therefore single conditional updates
//! (`UPDATE … WHERE state IN (…)`): PostgreSQL re-checks the condition
//! on the row as the first writer left it, so exactly one of two nodes
//! takes a transition and the other is refused. An edit of the details
//! locks the row first, so that its "before" is what it replaced.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Transaction};

use super::{ts, PgStore};
use crate::domain::broadcast::{
    Broadcast, BroadcastDetails, BroadcastState, IngestProblem, ReplayState,
};
use crate::domain::*;
use crate::store::rows::broadcasts::{replay_sources, BroadcastRow, BROADCAST};
use crate::store::{BroadcastFilter, BroadcastStore, StoreError, StoreResult};

type Tx = Transaction<'static, Postgres>;

async fn fetch(tx: &mut Tx, id: BroadcastId) -> StoreResult<Broadcast> {
    let row: BroadcastRow = sqlx::query_as(&format!("{BROADCAST} WHERE b.id = $1"))
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

async fn set_estates(tx: &mut Tx, id: BroadcastId, estates: &[EstateId]) -> StoreResult<()> {
    sqlx::query("DELETE FROM broadcast_estates WHERE broadcast_id = $1")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    for estate in estates {
        // Only estates of the broadcast's own community may be targeted.
        let inserted = sqlx::query(
            "INSERT INTO broadcast_estates (broadcast_id, estate_id)
             SELECT b.id, e.id FROM broadcasts b JOIN estates e ON e.community_id = b.community_id
             WHERE b.id = $1 AND e.id = $2",
        )
        .bind(id.0)
        .bind(estate.0)
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::Rejected("estate of another community"));
        }
    }
    Ok(())
}

#[async_trait]
impl BroadcastStore for PgStore {
    async fn create_broadcast(
        &self,
        actor: &Actor,
        owner: AccountId,
        details: &BroadcastDetails,
        stream_key: &str,
    ) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO broadcasts (community_id, title, description, starts_at, owner_id,
                stream_key, rendition_low, rendition_audio, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind(details.community_id.0)
        .bind(&details.title)
        .bind(&details.description)
        .bind(ts(details.starts_at))
        .bind(owner.0)
        .bind(stream_key)
        .bind(details.renditions.low)
        .bind(details.renditions.audio_only)
        .bind(ts(Utc::now()))
        .fetch_one(&mut *tx)
        .await?;
        let id = BroadcastId(id);
        set_estates(&mut tx, id, &details.estates).await?;
        let broadcast = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("broadcast.create", "broadcast", id)
                .after(&broadcast),
        )
        .await?;
        tx.commit().await?;
        Ok(broadcast)
    }

    async fn update_broadcast(
        &self,
        actor: &Actor,
        id: BroadcastId,
        details: &BroadcastDetails,
    ) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        sqlx::query_scalar::<_, i64>("SELECT id FROM broadcasts WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        let before = fetch(&mut tx, id).await?;
        sqlx::query(
            "UPDATE broadcasts SET title = $1, description = $2, starts_at = $3,
                rendition_low = $4, rendition_audio = $5
             WHERE id = $6",
        )
        .bind(&details.title)
        .bind(&details.description)
        .bind(ts(details.starts_at))
        .bind(details.renditions.low)
        .bind(details.renditions.audio_only)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        set_estates(&mut tx, id, &details.estates).await?;
        let after = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("broadcast.update", "broadcast", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn broadcast(&self, id: BroadcastId) -> StoreResult<Broadcast> {
        let row: BroadcastRow = sqlx::query_as(&format!("{BROADCAST} WHERE b.id = $1"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn broadcast_by_key(&self, stream_key: &str) -> StoreResult<Option<Broadcast>> {
        let row: Option<BroadcastRow> =
            sqlx::query_as(&format!("{BROADCAST} WHERE b.stream_key = $1"))
                .bind(stream_key)
                .fetch_optional(self.pool())
                .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_broadcasts(&self, filter: &BroadcastFilter) -> StoreResult<Vec<Broadcast>> {
        let mut query = QueryBuilder::<Postgres>::new(BROADCAST);
        query.push(" WHERE TRUE");
        if let Some(community) = filter.community {
            query.push(" AND b.community_id = ").push_bind(community.0);
        }
        if !filter.states.is_empty() {
            query.push(" AND b.state IN (");
            let mut list = query.separated(", ");
            for state in &filter.states {
                list.push_bind(state.as_str());
            }
            query.push(")");
        }
        if !filter.replays.is_empty() {
            query.push(" AND b.replay IN (");
            let mut list = query.separated(", ");
            for replay in &filter.replays {
                list.push_bind(replay.as_str());
            }
            query.push(")");
        }
        query.push(if filter.upcoming_first {
            " ORDER BY b.starts_at ASC, b.id ASC"
        } else {
            " ORDER BY b.starts_at DESC, b.id DESC"
        });
        query.push(" LIMIT ").push_bind(filter.limit.max(1));
        let rows: Vec<BroadcastRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn rotate_stream_key(
        &self,
        actor: &Actor,
        id: BroadcastId,
        stream_key: &str,
    ) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query("UPDATE broadcasts SET stream_key = $1 WHERE id = $2")
            .bind(stream_key)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let broadcast = fetch(&mut tx, id).await?;
        // The key itself never goes into the audit log.
        Self::audit(
            &mut tx,
            actor.entry("broadcast.rotate_key", "broadcast", id),
        )
        .await?;
        tx.commit().await?;
        Ok(broadcast)
    }

    async fn set_broadcast_state(
        &self,
        actor: &Actor,
        id: BroadcastId,
        from: &[BroadcastState],
        to: BroadcastState,
        at: DateTime<Utc>,
    ) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        let mut update = QueryBuilder::<Postgres>::new("UPDATE broadcasts SET state = ");
        update.push_bind(to.as_str());
        match to {
            BroadcastState::Live => {
                update
                    .push(", went_live_at = COALESCE(went_live_at, ")
                    .push_bind(ts(at))
                    .push(")");
            }
            BroadcastState::Ended => {
                update.push(", ended_at = ").push_bind(ts(at));
            }
            BroadcastState::Scheduled | BroadcastState::Reconnecting => {}
        }
        update
            .push(" WHERE id = ")
            .push_bind(id.0)
            .push(" AND state IN (");
        let mut states = update.separated(", ");
        for state in from {
            states.push_bind(state.as_str());
        }
        update.push(")");
        if from.is_empty() || update.build().execute(&mut *tx).await?.rows_affected() == 0 {
            fetch(&mut tx, id).await?;
            return Err(StoreError::Rejected("broadcast is in another state"));
        }
        let after = fetch(&mut tx, id).await?;
        let action = match to {
            BroadcastState::Scheduled => "broadcast.reschedule",
            BroadcastState::Live => "broadcast.live",
            BroadcastState::Reconnecting => "broadcast.reconnecting",
            BroadcastState::Ended => "broadcast.end",
        };
        Self::audit(&mut tx, actor.entry(action, "broadcast", id)).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn set_replay(
        &self,
        actor: &Actor,
        id: BroadcastId,
        replay: ReplayState,
        millis: Option<i64>,
    ) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        let mut update = QueryBuilder::<Postgres>::new("UPDATE broadcasts SET replay = ");
        update
            .push_bind(replay.as_str())
            .push(", replay_millis = COALESCE(")
            .push_bind(millis)
            .push(", replay_millis) WHERE id = ")
            .push_bind(id.0);
        if let Some(sources) = replay_sources(replay) {
            update.push(" AND replay IN (");
            let mut states = update.separated(", ");
            for source in sources {
                states.push_bind(source.as_str());
            }
            update.push(")");
        }
        if update.build().execute(&mut *tx).await?.rows_affected() == 0 {
            fetch(&mut tx, id).await?;
            return Err(StoreError::Rejected("replay is in another state"));
        }
        let after = fetch(&mut tx, id).await?;
        let action = match replay {
            ReplayState::None | ReplayState::Processing => "replay.processing",
            ReplayState::Published => "replay.publish",
            ReplayState::Unpublished => "replay.unpublish",
            ReplayState::Deleted => "replay.delete",
        };
        Self::audit(&mut tx, actor.entry(action, "broadcast", id)).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn set_recording_error(&self, id: BroadcastId, error: &str) -> StoreResult<Broadcast> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query("UPDATE broadcasts SET recording_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        let after = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            Actor::system()
                .entry("broadcast.recording_failed", "broadcast", id)
                .after(serde_json::json!({ "error": error })),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn set_ingest_problem(
        &self,
        id: BroadcastId,
        problem: Option<&IngestProblem>,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE broadcasts SET ingest_problem = $1, ingest_problem_at = $2 WHERE id = $3",
        )
        .bind(problem.map(IngestProblem::code))
        .bind(problem.map(|_| ts(at)))
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(())
    }
}
