//! `DisclosureStore` for PostgreSQL: an estate-month's records as the public
//! figures need them, one row per record with its history packed in as on
//! SQLite, read from `record_facts` (kept by a trigger on `record_events`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::domain::EstateId;
use crate::store::rows::disclosure::FactsRow;
use crate::store::rows::Ts;
use crate::store::ts;
use crate::store::{DisclosureStore, FactsVersion, RecordFacts, StoreResult};

#[async_trait]
impl DisclosureStore for PgStore {
    async fn facts_version(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<FactsVersion> {
        // The same range of the same key as `record_facts`, counted, not read.
        let (rows, latest): (i64, Option<Ts>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(at) FROM record_facts
              WHERE estate_id = $1 AND filed_at >= $2 AND filed_at < $3",
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
        // An estate-month is one contiguous range of record_facts' key,
        // grouped in key order into one row per record. A record's community,
        // class and category are the same on each of its rows.
        let rows: Vec<FactsRow> = sqlx::query_as(
            "SELECT record_id, MIN(community_id) AS community_id, MIN(class) AS class,
                    MIN(category) AS category, filed_at,
                    string_agg(seq::TEXT || '|' || at || '|' || COALESCE(to_state, '')
                               || '|' || COALESCE(rating::TEXT, ''), ',') AS packed
               FROM record_facts
              WHERE estate_id = $1 AND filed_at >= $2 AND filed_at < $3
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
