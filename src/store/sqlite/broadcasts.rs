//! `BroadcastStore` for SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::{ts, SqliteStore};
use crate::domain::broadcast::{
    Broadcast, BroadcastDetails, BroadcastState, IngestProblem, ReplayState,
};
use crate::domain::*;
use crate::store::rows::broadcasts::{replay_sources, BroadcastRow, BROADCAST as SELECT};
use crate::store::{BroadcastFilter, BroadcastStore, StoreError, StoreResult};

async fn fetch(tx: &mut Transaction<'_, Sqlite>, id: BroadcastId) -> StoreResult<Broadcast> {
    let row: BroadcastRow = sqlx::query_as(&format!("{SELECT} WHERE b.id = ?"))
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

async fn set_estates(
    tx: &mut Transaction<'_, Sqlite>,
    id: BroadcastId,
    estates: &[EstateId],
) -> StoreResult<()> {
    sqlx::query("DELETE FROM broadcast_estates WHERE broadcast_id = ?")
        .bind(id.0)
        .execute(&mut **tx)
        .await?;
    for estate in estates {
        // Only estates of the broadcast's own community may be targeted.
        let inserted = sqlx::query(
            "INSERT INTO broadcast_estates (broadcast_id, estate_id)
             SELECT b.id, e.id FROM broadcasts b JOIN estates e ON e.community_id = b.community_id
             WHERE b.id = ? AND e.id = ?",
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
impl BroadcastStore for SqliteStore {
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
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
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
        let before = fetch(&mut tx, id).await?;
        sqlx::query(
            "UPDATE broadcasts SET title = ?, description = ?, starts_at = ?,
                rendition_low = ?, rendition_audio = ?
             WHERE id = ?",
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
        let row: BroadcastRow = sqlx::query_as(&format!("{SELECT} WHERE b.id = ?"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn broadcast_by_key(&self, stream_key: &str) -> StoreResult<Option<Broadcast>> {
        let row: Option<BroadcastRow> = sqlx::query_as(&format!("{SELECT} WHERE b.stream_key = ?"))
            .bind(stream_key)
            .fetch_optional(self.pool())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn list_broadcasts(&self, filter: &BroadcastFilter) -> StoreResult<Vec<Broadcast>> {
        let mut query = QueryBuilder::<Sqlite>::new(SELECT);
        query.push(" WHERE 1 = 1");
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
        let updated = sqlx::query("UPDATE broadcasts SET stream_key = ? WHERE id = ?")
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
        // The write comes first, so the transaction takes the write lock at
        // once (waiting on the busy timeout) instead of failing to upgrade a
        // read when several encoders connect together.
        let mut tx = self.write_tx().await?;
        let mut update = QueryBuilder::<Sqlite>::new("UPDATE broadcasts SET state = ");
        update
            .push_bind(to.as_str())
            .push(", went_live_at = CASE WHEN ")
            .push_bind(to.as_str())
            .push(" = 'live' THEN COALESCE(went_live_at, ")
            .push_bind(ts(at))
            .push(") ELSE went_live_at END, ended_at = CASE WHEN ")
            .push_bind(to.as_str())
            .push(" = 'ended' THEN ")
            .push_bind(ts(at))
            .push(" ELSE ended_at END WHERE id = ")
            .push_bind(id.0)
            .push(" AND state IN (");
        let mut states = update.separated(", ");
        for state in from {
            states.push_bind(state.as_str());
        }
        update.push(")");
        if update.build().execute(&mut *tx).await?.rows_affected() == 0 {
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
        let mut update = QueryBuilder::<Sqlite>::new("UPDATE broadcasts SET replay = ");
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
        sqlx::query("UPDATE broadcasts SET recording_error = ? WHERE id = ?")
            .bind(error)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
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
            "UPDATE broadcasts SET ingest_problem = ?, ingest_problem_at = ? WHERE id = ?",
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
