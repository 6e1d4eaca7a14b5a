//! `EmergencyStore` for PostgreSQL: the same statements as on SQLite.

use async_trait::async_trait;

use super::PgStore;
use crate::domain::NoticeId;
use crate::store::emergency::{
    EmergencyAck, EmergencyStore, NoticeStep, NOTICE_STEPS_MAX, PUBLISHING_ACTIONS,
    UNPUBLISHING_ACTIONS,
};
use crate::store::rows::emergency::{AckRow, StepRow};
use crate::store::ts;
use crate::store::StoreResult;

#[async_trait]
impl EmergencyStore for PgStore {
    async fn record_emergency_ack(&self, ack: &EmergencyAck) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO emergency_acks (notice_id, screen_id, revision, shown_at, received_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (notice_id, screen_id) DO UPDATE
                SET revision = excluded.revision, shown_at = excluded.shown_at,
                    received_at = excluded.received_at
              WHERE excluded.revision > emergency_acks.revision
                 OR (excluded.revision = emergency_acks.revision
                     AND excluded.shown_at < emergency_acks.shown_at)",
        )
        .bind(ack.notice_id.0)
        .bind(ack.screen_id.0)
        .bind(ack.revision)
        .bind(ts(ack.shown_at))
        .bind(ts(ack.received_at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn emergency_acks(&self, notice: NoticeId) -> StoreResult<Vec<EmergencyAck>> {
        let rows: Vec<AckRow> = sqlx::query_as(
            "SELECT notice_id, screen_id, revision, shown_at, received_at
               FROM emergency_acks WHERE notice_id = $1 ORDER BY screen_id",
        )
        .bind(notice.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn notice_steps(&self, notice: NoticeId) -> StoreResult<Vec<NoticeStep>> {
        let actions: Vec<&str> = PUBLISHING_ACTIONS
            .iter()
            .chain(UNPUBLISHING_ACTIONS.iter())
            .copied()
            .collect();
        let mut rows: Vec<StepRow> = sqlx::query_as(
            "SELECT action, at FROM audit_log
              WHERE entity = 'notice' AND entity_id = $1
                AND action IN ($2, $3, $4, $5, $6)
              ORDER BY id DESC LIMIT $7",
        )
        .bind(notice.0.to_string())
        .bind(actions[0])
        .bind(actions[1])
        .bind(actions[2])
        .bind(actions[3])
        .bind(actions[4])
        .bind(NOTICE_STEPS_MAX)
        .fetch_all(self.pool())
        .await?;
        rows.reverse();
        Ok(rows.into_iter().map(Into::into).collect())
    }
}
