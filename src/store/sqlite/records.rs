//! `RecordStore` for SQLite.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::{ts, SqliteStore};
use crate::domain::record::{record_number, NewRecord, Record, RecordEvent, RecordState};
use crate::domain::*;
use crate::feedback::sla::StateChange;
use crate::store::rows::records::{
    event_columns, rating, unpack_state_changes, EventRow, EventWithRecord, RecordRow,
    RECORD_COLUMNS,
};
use crate::store::{
    AssigneeFilter, NewRecordEvent, RecordFilter, RecordStore, StoreError, StoreResult,
};

impl SqliteStore {
    async fn fetch_record<'e, E: sqlx::SqliteExecutor<'e>>(
        db: E,
        clause: &str,
        value: impl ToString,
    ) -> StoreResult<Record> {
        let row: RecordRow = sqlx::query_as(&format!(
            "SELECT {RECORD_COLUMNS} FROM records r JOIN record_heads h ON h.record_id = r.id WHERE {clause} = ?"
        ))
        .bind(value.to_string())
        .fetch_one(db)
        .await?;
        row.try_into()
    }

    /// Writes a new record with its number, its first event (`submitted`,
    /// seq 1) and its head, inside the caller's transaction.
    pub(super) async fn insert_record(
        tx: &mut Transaction<'_, Sqlite>,
        actor: &Actor,
        new: &NewRecord,
        at: DateTime<Utc>,
    ) -> StoreResult<RecordId> {
        let (community_id, code): (i64, String) = sqlx::query_as(
            "SELECT c.id, c.code FROM estates e JOIN communities c ON c.id = e.community_id WHERE e.id = ?",
        )
        .bind(new.estate_id.0)
        .fetch_one(&mut **tx)
        .await?;
        let year = new.filed_year;
        let serial: i64 = sqlx::query_scalar(
            "INSERT INTO record_serials (community_id, year, last) VALUES (?, ?, 1)
             ON CONFLICT (community_id, year) DO UPDATE SET last = last + 1 RETURNING last",
        )
        .bind(community_id)
        .bind(year)
        .fetch_one(&mut **tx)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO records (number, community_id, estate_id, building_id, category, class, title, title_public,
                                  description, location, source, reporter_id, tracking_hash, created_at,
                                  lat_e6, lon_e6)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(record_number(&code, year, serial))
        .bind(community_id)
        .bind(new.estate_id.0)
        .bind(new.building_id.map(|b| b.0))
        .bind(&new.category)
        .bind(new.class.as_str())
        .bind(&new.title)
        .bind(new.title_public)
        .bind(&new.description)
        .bind(&new.location)
        .bind(new.source.as_str())
        .bind(new.reporter_id.map(|a| a.0))
        .bind(&new.tracking_hash)
        .bind(ts(at))
        .bind(new.point.map(|p| p.lat_e6()))
        .bind(new.point.map(|p| p.lon_e6()))
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO record_events (record_id, seq, at, actor_id, actor_name, action, to_state, public)
             VALUES (?, 1, ?, ?, ?, 'submit', 'submitted', 1)",
        )
        .bind(id)
        .bind(ts(at))
        .bind(actor.id.map(|a| a.0))
        .bind(&actor.name)
        .execute(&mut **tx)
        .await?;
        sqlx::query("INSERT INTO record_heads (record_id, state, version, state_since) VALUES (?, 'submitted', 1, ?)")
            .bind(id)
            .bind(ts(at))
            .execute(&mut **tx)
            .await?;
        Ok(RecordId(id))
    }

    /// Appends an event to a record still at `expected_version` and moves its
    /// head on, inside the caller's transaction; returns the event's seq.
    pub(super) async fn insert_event(
        tx: &mut Transaction<'_, Sqlite>,
        id: RecordId,
        expected_version: i64,
        event: &NewRecordEvent,
        at: DateTime<Utc>,
    ) -> StoreResult<i64> {
        let moved = sqlx::query(
            "UPDATE record_heads SET version = version + 1,
                state = COALESCE(?2, state),
                state_since = CASE WHEN ?2 IS NULL THEN state_since ELSE ?3 END,
                assignee = COALESCE(?4, assignee)
             WHERE record_id = ?1 AND version = ?5",
        )
        .bind(id.0)
        .bind(event.to_state.map(RecordState::as_str))
        .bind(ts(at))
        .bind(event.assignee.as_deref())
        .bind(expected_version)
        .execute(&mut **tx)
        .await?;
        if moved.rows_affected() != 1 {
            // Either no such record, or someone else changed it first.
            Self::fetch_record(&mut **tx, "r.id", id.0).await?;
            return Err(StoreError::Conflict);
        }
        sqlx::query(
            "INSERT INTO record_events (record_id, seq, at, actor_id, actor_name, action, from_state, to_state,
                                        note, public, published, assignee, rating)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.0)
        .bind(expected_version + 1)
        .bind(ts(at))
        .bind(event.actor.id.map(|a| a.0))
        .bind(&event.actor.name)
        .bind(&event.action)
        .bind(event.from_state.map(RecordState::as_str))
        .bind(event.to_state.map(RecordState::as_str))
        .bind(&event.note)
        .bind(event.public)
        .bind(event.published)
        .bind(event.assignee.as_deref())
        .bind(event.rating)
        .execute(&mut **tx)
        .await?;
        Ok(expected_version + 1)
    }
}

#[async_trait]
impl RecordStore for SqliteStore {
    async fn create_record(
        &self,
        actor: &Actor,
        new: &NewRecord,
        at: DateTime<Utc>,
    ) -> StoreResult<Record> {
        let mut tx = self.write_tx().await?;
        let id = Self::insert_record(&mut tx, actor, new, at).await?;
        let record = Self::fetch_record(&mut *tx, "r.id", id.0).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn record(&self, id: RecordId) -> StoreResult<Record> {
        Self::fetch_record(self.pool(), "r.id", id.0).await
    }

    async fn record_by_tracking(&self, tracking_hash: &str) -> StoreResult<Record> {
        Self::fetch_record(self.pool(), "r.tracking_hash", tracking_hash).await
    }

    async fn record_events(&self, id: RecordId) -> StoreResult<Vec<RecordEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "SELECT {} FROM record_events e WHERE e.record_id = ? ORDER BY e.seq",
            event_columns()
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn append_record_event(
        &self,
        id: RecordId,
        expected_version: i64,
        event: &NewRecordEvent,
        at: DateTime<Utc>,
    ) -> StoreResult<Record> {
        let mut tx = self.write_tx().await?;
        Self::insert_event(&mut tx, id, expected_version, event, at).await?;
        let record = Self::fetch_record(&mut *tx, "r.id", id.0).await?;
        tx.commit().await?;
        Ok(record)
    }

    async fn list_records(&self, filter: &RecordFilter) -> StoreResult<Vec<Record>> {
        // Only the conditions that are set go into the query, so that SQLite can
        // pick the index that fits (an `? IS NULL OR …` clause would defeat it).
        // Open records are few next to the finished ones: when only open
        // states are asked for, start from `open_records` (an estate's open
        // records, not every record it ever had).
        let only_open = !filter.states.is_empty() && filter.states.iter().all(|s| s.is_open());
        let (from, place) = if only_open {
            (
                "open_records o JOIN records r ON r.id = o.record_id JOIN record_heads h ON h.record_id = r.id",
                "o",
            )
        } else {
            ("records r JOIN record_heads h ON h.record_id = r.id", "r")
        };
        let mut query =
            QueryBuilder::<Sqlite>::new(format!("SELECT {RECORD_COLUMNS} FROM {from} WHERE 1 = 1"));
        if let Some(community) = filter.community {
            query
                .push(format!(" AND {place}.community_id = "))
                .push_bind(community.0);
        }
        if let Some(estate) = filter.estate {
            query
                .push(format!(" AND {place}.estate_id = "))
                .push_bind(estate.0);
        }
        if !filter.states.is_empty() {
            let states: Vec<&str> = filter.states.iter().map(|s| s.as_str()).collect();
            query
                .push(" AND h.state IN (SELECT value FROM json_each(")
                .push_bind(serde_json::to_string(&states).unwrap_or_default())
                .push("))");
        }
        if let Some(class) = filter.class {
            query.push(" AND r.class = ").push_bind(class.as_str());
        }
        if let Some(category) = &filter.category {
            query.push(" AND r.category = ").push_bind(category.clone());
        }
        if let Some(reporter) = filter.reporter {
            query.push(" AND r.reporter_id = ").push_bind(reporter.0);
        }
        if !filter.numbers.is_empty() {
            query
                .push(" AND r.number IN (SELECT value FROM json_each(")
                .push_bind(serde_json::to_string(&filter.numbers).unwrap_or_default())
                .push("))");
        }
        if let Some(since) = filter.since {
            query.push(" AND r.created_at >= ").push_bind(ts(since));
        }
        if let Some(until) = filter.until {
            query.push(" AND r.created_at < ").push_bind(ts(until));
        }
        match &filter.assignee {
            Some(AssigneeFilter::Named(name)) => {
                query.push(" AND h.assignee = ").push_bind(name.clone());
            }
            Some(AssigneeFilter::Nobody) => {
                query.push(" AND (h.assignee IS NULL OR h.assignee = '')");
            }
            None => {}
        }
        if let Some(before) = filter.before {
            query.push(" AND r.id < ").push_bind(before.0);
        }
        // A period is answered from the (estate, filing time) index in its own order;
        // otherwise by id.
        let key = if only_open { "o.record_id" } else { "r.id" };
        let order = if filter.since.is_some() || filter.until.is_some() {
            " ORDER BY r.created_at DESC, r.id DESC LIMIT ".to_owned()
        } else if filter.oldest_first {
            format!(" ORDER BY {key} LIMIT ")
        } else {
            format!(" ORDER BY {key} DESC LIMIT ")
        };
        query.push(order).push_bind(filter.limit.clamp(1, 100_000));
        let rows: Vec<RecordRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn open_record_assignees(&self, filter: &RecordFilter) -> StoreResult<Vec<String>> {
        let open: Vec<&str> = RecordState::ALL
            .iter()
            .filter(|s| s.is_open())
            .map(|s| s.as_str())
            .collect();
        let mut query = QueryBuilder::<Sqlite>::new(
            "SELECT DISTINCT h.assignee FROM record_heads h JOIN records r ON r.id = h.record_id
             WHERE h.assignee IS NOT NULL AND h.assignee <> ''
             AND h.state IN (SELECT value FROM json_each(",
        );
        query
            .push_bind(serde_json::to_string(&open).unwrap_or_default())
            .push("))");
        if let Some(community) = filter.community {
            query.push(" AND r.community_id = ").push_bind(community.0);
        }
        if let Some(estate) = filter.estate {
            query.push(" AND r.estate_id = ").push_bind(estate.0);
        }
        query.push(" ORDER BY h.assignee LIMIT 500");
        Ok(query.build_query_scalar().fetch_all(self.pool()).await?)
    }

    async fn state_changes(
        &self,
        ids: &[RecordId],
    ) -> StoreResult<HashMap<RecordId, Vec<StateChange>>> {
        // One row per record ("seq|at|state,…") rather than one per event: far
        // fewer rows to carry out of SQLite for a month of an estate.
        let ids_json =
            serde_json::to_string(&ids.iter().map(|i| i.0).collect::<Vec<_>>()).unwrap_or_default();
        let rows: Vec<(i64, String)> = sqlx::query_as(
            "SELECT record_id, group_concat(seq || '|' || at || '|' || to_state, ',') FROM record_events
             WHERE record_id IN (SELECT value FROM json_each(?)) AND to_state IS NOT NULL
             GROUP BY record_id",
        )
        .bind(ids_json)
        .fetch_all(self.pool())
        .await?;
        let mut changes = HashMap::with_capacity(rows.len());
        for (id, packed) in rows {
            changes.insert(RecordId(id), unpack_state_changes(&packed)?);
        }
        Ok(changes)
    }

    async fn ratings(&self, ids: &[RecordId]) -> StoreResult<HashMap<RecordId, u8>> {
        let ids_json =
            serde_json::to_string(&ids.iter().map(|i| i.0).collect::<Vec<_>>()).unwrap_or_default();
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT record_id, rating FROM record_events
             WHERE record_id IN (SELECT value FROM json_each(?)) AND rating IS NOT NULL
             ORDER BY record_id, seq",
        )
        .bind(ids_json)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|(id, value)| Ok((RecordId(id), rating(value)?)))
            .collect()
    }

    async fn events_of(&self, ids: &[RecordId]) -> StoreResult<Vec<(RecordId, RecordEvent)>> {
        let ids_json =
            serde_json::to_string(&ids.iter().map(|i| i.0).collect::<Vec<_>>()).unwrap_or_default();
        let mut out = Vec::new();
        let rows = sqlx::query_as::<_, EventWithRecord>(&format!(
            "SELECT e.record_id, {} FROM record_events e WHERE e.record_id IN (SELECT value FROM json_each(?))
             ORDER BY e.record_id, e.seq",
            event_columns()
        ))
        .bind(ids_json)
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            out.push((RecordId(row.record_id), row.event.try_into()?));
        }
        Ok(out)
    }
}
