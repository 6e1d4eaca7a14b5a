//! `RecordReadStore` for PostgreSQL: the same unread rule as on SQLite
//! (`has_news!`): a public event (`e.public`, which matches the partial index
//! `record_events_public_by_record`) by someone other than the reporter
//! (`e.actor_id IS DISTINCT FROM` the reporter, true for the system's events
//! too) with a seq past what the reporter has seen
//! (`COALESCE(rr.seen_seq, FILING_SEQ)`).
//!
//! Read marks are single upserts whose `WHERE` keeps `seen_seq` from moving
//! backwards, so two nodes marking the same record at once are safe.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::PgStore;
use crate::domain::{AccountId, RecordId};
use crate::store::record_reads::{RecordReadStore, RecordUpdate, FILING_SEQ};
use crate::store::rows::record_reads::UpdateRow;
use crate::store::rows::records::event_columns;
use crate::store::ts;
use crate::store::StoreResult;

/// The condition "record `r` (with read row `rr`) has news for reporter `$1`",
/// with `$2` bound to `FILING_SEQ`. A macro so that queries can `concat!` it.
macro_rules! has_news {
    () => {
        "EXISTS (
            SELECT 1 FROM record_events e
             WHERE e.record_id = r.id AND e.public
               AND e.seq > COALESCE(rr.seen_seq, $2)
               AND e.actor_id IS DISTINCT FROM $1)"
    };
}

/// The badge's query: how many of reporter `$1`'s records have news.
const UNREAD_COUNT: &str = concat!(
    "SELECT COUNT(*) FROM records r
       LEFT JOIN record_reads rr ON rr.account_id = $1 AND rr.record_id = r.id
      WHERE r.reporter_id = $1 AND ",
    has_news!()
);

/// Reads every unread record of reporter `$1` up to its latest event, at `$3`;
/// only unread records are touched, so the rows written are their count.
const MARK_ALL_SEEN: &str = concat!(
    "INSERT INTO record_reads (account_id, record_id, seen_seq, seen_at)
     SELECT r.reporter_id, r.id, h.version, $3
       FROM records r
       JOIN record_heads h ON h.record_id = r.id
       LEFT JOIN record_reads rr ON rr.account_id = $1 AND rr.record_id = r.id
      WHERE r.reporter_id = $1 AND ",
    has_news!(),
    "
     ON CONFLICT (account_id, record_id) DO UPDATE
        SET seen_seq = excluded.seen_seq, seen_at = excluded.seen_at
      WHERE excluded.seen_seq > record_reads.seen_seq"
);

#[async_trait]
impl RecordReadStore for PgStore {
    async fn unread_record_count(&self, reporter: AccountId) -> StoreResult<i64> {
        let count: i64 = sqlx::query_scalar(UNREAD_COUNT)
            .bind(reporter.0)
            .bind(FILING_SEQ)
            .fetch_one(self.pool())
            .await?;
        Ok(count)
    }

    async fn unread_records(
        &self,
        reporter: AccountId,
        limit: i64,
    ) -> StoreResult<Vec<RecordUpdate>> {
        // The latest event that counts for the reporter, kept only when it is
        // past what they have seen: the same rule as has_news!, one row per record.
        let rows: Vec<UpdateRow> = sqlx::query_as(&format!(
            "SELECT r.id AS record_id, r.number, r.title, h.state, {}
               FROM records r
               JOIN record_heads h ON h.record_id = r.id
               LEFT JOIN record_reads rr ON rr.account_id = $1 AND rr.record_id = r.id
               JOIN record_events e ON e.record_id = r.id AND e.seq = (
                    SELECT MAX(x.seq) FROM record_events x
                     WHERE x.record_id = r.id AND x.public AND x.actor_id IS DISTINCT FROM $1)
              WHERE r.reporter_id = $1 AND e.seq > COALESCE(rr.seen_seq, $2)
              ORDER BY e.at DESC, r.id DESC
              LIMIT $3",
            event_columns()
        ))
        .bind(reporter.0)
        .bind(FILING_SEQ)
        .bind(limit.clamp(1, 1_000))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn mark_record_seen(
        &self,
        reader: AccountId,
        record: RecordId,
        seq: i64,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        // The SELECT yields a row only for the record's reporter; the WHERE on
        // the update keeps seen_seq from moving backwards.
        sqlx::query(
            "INSERT INTO record_reads (account_id, record_id, seen_seq, seen_at)
             SELECT r.reporter_id, r.id, GREATEST($3, LEAST($4, h.version)), $5
               FROM records r JOIN record_heads h ON h.record_id = r.id
              WHERE r.id = $2 AND r.reporter_id = $1
             ON CONFLICT (account_id, record_id) DO UPDATE
                SET seen_seq = excluded.seen_seq, seen_at = excluded.seen_at
              WHERE excluded.seen_seq > record_reads.seen_seq",
        )
        .bind(reader.0)
        .bind(record.0)
        .bind(FILING_SEQ)
        .bind(seq)
        .bind(ts(at))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn mark_all_records_seen(
        &self,
        reporter: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<u64> {
        let done = sqlx::query(MARK_ALL_SEEN)
            .bind(reporter.0)
            .bind(FILING_SEQ)
            .bind(ts(at))
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::postgres::testing;

    /// The badge query runs on every page a resident opens: with a real
    /// amount of records the planner answers it from indexes, never by
    /// scanning records or their events.
    #[tokio::test]
    async fn the_badge_query_reads_only_indexes() {
        let store = testing::store().await;
        let pool = store.pool();
        for setup in [
            "INSERT INTO communities (name, code, created_at) VALUES ('T', 'T', '')",
            "INSERT INTO estates (community_id, name, created_at) SELECT id, 'E', '' FROM communities",
            "INSERT INTO accounts (username, display_name, password_hash, role, created_at)
             SELECT 'u' || n, 'u', '', 'staff', '' FROM generate_series(1, 200) n",
            // 20,000 records, a hundred per reporter, with three events each.
            "INSERT INTO records (number, community_id, estate_id, category, class, title, description,
                                  location, source, reporter_id, tracking_hash, created_at)
             SELECT 'T-' || n, e.community_id, e.id, 'repairs', 'general', 't', '', '', 'web',
                    (SELECT min(id) FROM accounts) + n % 200, 'h' || n, to_char(n, 'FM000000')
               FROM estates e, generate_series(1, 20000) n",
            "INSERT INTO record_heads (record_id, state, version, state_since)
             SELECT id, 'accepted', 3, '' FROM records",
            "INSERT INTO record_events (record_id, seq, at, actor_id, actor_name, action, public)
             SELECT r.id, s, '', CASE WHEN s = 1 THEN r.reporter_id END, 'x', 'note', s <> 2
               FROM records r, generate_series(1, 3) s",
            "ANALYZE",
        ] {
            sqlx::query(setup).execute(pool).await.unwrap();
        }
        let reporter: i64 = sqlx::query_scalar("SELECT min(id) FROM accounts")
            .fetch_one(pool)
            .await
            .unwrap();
        let plan: Vec<String> = sqlx::query_scalar(&format!("EXPLAIN {UNREAD_COUNT}"))
            .bind(reporter)
            .bind(FILING_SEQ)
            .fetch_all(pool)
            .await
            .unwrap();
        let plan = plan.join("\n");
        // (record_reads is empty here, so scanning it costs nothing.)
        for table in ["records", "record_events"] {
            assert!(!plan.contains(&format!("Seq Scan on {table} ")), "{plan}");
        }
        assert!(plan.contains("record_events_public_by_record"), "{plan}");
        assert_eq!(
            store
                .unread_record_count(AccountId(reporter))
                .await
                .unwrap(),
            100
        );
    }
}
