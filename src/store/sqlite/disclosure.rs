//! `DisclosureStore` for SQLite: an estate-month's records as the public
//! figures need them, one row per record with its history packed in, read
//! from the derived `record_facts` table (migration 0012).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{ts, SqliteStore};
use crate::domain::record::{RecordClass, RecordState};
use crate::domain::{CommunityId, EstateId, RecordId};
use crate::feedback::sla::StateChange;
use crate::store::{DisclosureStore, FactsVersion, RecordFacts, StoreError, StoreResult};

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

type FactsRow = (i64, i64, String, String, DateTime<Utc>, Option<String>);

/// `seq|at|state|rating` items, comma-separated, in any order.
fn unpack(packed: &str) -> StoreResult<(Vec<StateChange>, Option<u8>)> {
    let mut items: Vec<(i64, Option<StateChange>, Option<u8>)> = Vec::new();
    for item in packed.split(',').filter(|i| !i.is_empty()) {
        let mut parts = item.splitn(4, '|');
        let (Some(seq), Some(at), Some(state), Some(rating)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt("event", item));
        };
        let seq: i64 = seq.parse().map_err(|_| corrupt("seq", seq))?;
        let change = if state.is_empty() {
            None
        } else {
            let at = DateTime::parse_from_rfc3339(at)
                .map_err(|_| corrupt("time", at))?
                .with_timezone(&Utc);
            let to = RecordState::parse(state).ok_or_else(|| corrupt("state", state))?;
            Some(StateChange { at, to })
        };
        let rating = if rating.is_empty() {
            None
        } else {
            Some(rating.parse().map_err(|_| corrupt("rating", rating))?)
        };
        items.push((seq, change, rating));
    }
    items.sort_by_key(|(seq, _, _)| *seq);
    let rating = items.iter().rev().find_map(|(_, _, r)| *r);
    Ok((
        items.into_iter().filter_map(|(_, c, _)| c).collect(),
        rating,
    ))
}

#[async_trait]
impl DisclosureStore for SqliteStore {
    async fn facts_version(
        &self,
        estate: EstateId,
        since: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> StoreResult<FactsVersion> {
        // The same range of the same key as `record_facts`, counted, not read.
        let (rows, latest): (i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT COUNT(*), MAX(at) FROM record_facts
              WHERE estate_id = ? AND filed_at >= ? AND filed_at < ?",
        )
        .bind(estate.0)
        .bind(ts(since))
        .bind(ts(until))
        .fetch_one(self.pool())
        .await?;
        Ok(FactsVersion { rows, latest })
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
                                 || '|' || coalesce(rating, ''), ',')
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
        rows.into_iter()
            .map(|(id, community, class, category, created_at, packed)| {
                let (changes, rating) = unpack(packed.as_deref().unwrap_or(""))?;
                Ok(RecordFacts {
                    id: RecordId(id),
                    community_id: CommunityId(community),
                    class: RecordClass::parse(&class).ok_or_else(|| corrupt("class", &class))?,
                    category,
                    created_at,
                    changes,
                    rating,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_history_is_put_back_in_order_with_the_last_rating() {
        let packed = "3|2026-10-01T10:40:00.000000Z|resolved|,\
                      1|2026-10-01T10:00:00.000000Z|submitted|,\
                      4|2026-10-01T11:00:00.000000Z|closed|2,\
                      2|2026-10-01T10:05:00.000000Z||";
        let (changes, rating) = unpack(packed).unwrap();
        let states: Vec<_> = changes.iter().map(|c| c.to).collect();
        assert_eq!(
            states,
            [
                RecordState::Submitted,
                RecordState::Resolved,
                RecordState::Closed
            ]
        );
        assert_eq!(rating, Some(2));
        assert_eq!(unpack("").unwrap(), (Vec::new(), None));
        assert!(unpack("1|x|submitted|").is_err());
    }
}
