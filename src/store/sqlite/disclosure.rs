//! `DisclosureStore` for SQLite: an estate-month's records as the public
//! figures need them, one row per record with its history packed in, read
//! from the derived `record_facts` table (migration 0012).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ts, SqliteStore};
use crate::domain::EstateId;
use crate::store::rows::disclosure::FactsRow;
use crate::store::rows::Ts;
use crate::store::{DisclosureStore, FactsVersion, RecordFacts, StoreResult};

#[async_trait]
impl DisclosureStore for SqliteStore {
    async fn facts_version(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<FactsVersion> {
        // The same range of the same key as `record_facts`, counted, not read.
        let (rows, latest): (i64, Option<Ts>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(at) FROM record_facts
              WHERE estate_id = ? AND filed_at >= ? AND filed_at < ?",
        )
        .bind(estate.0)
        .bind(ts(since))
        .bind(ts(until))
        .fetch_one(self.pool())
        .await?;
        Ok(FactsVersion {
            rows,
            latest: latest.map(|at| at.0),
        })
    }

    async fn record_facts(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<Vec<RecordFacts>> {
        // record_facts (0012) keeps each record's state changes and ratings
        // under (estate, filing time): an estate-month is one contiguous range,
        // grouped in key order into one row per record.
        let rows: Vec<FactsRow> = sqlx::query_as(
            "SELECT record_id, community_id, class, category, filed_at,
                    group_concat(seq || '|' || at || '|' || coalesce(to_state, '')
                                 || '|' || coalesce(rating, ''), ',') AS packed
               FROM record_facts
              WHERE estate_id = ? AND filed_at >= ? AND filed_at < ?
              GROUP BY filed_at, record_id
              ORDER BY filed_at, record_id",
        )
        .bind(estate.0)
        .bind(ts(since))
        .bind(ts(until))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }
}
