//! `PersonalDataStore` for SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{fetch_account, ts, SqliteStore};
use crate::domain::chat::Comment;
use crate::domain::*;
use crate::store::personal_data::{
    PersonalData, PersonalDataStore, PersonalRecord, PersonalVote, ReadMark, SessionFacts,
};
use crate::store::rows::chat::{CommentRow, COMMENT};
use crate::store::{
    AccountStore, DirectoryStore, RecordFilter, RecordPhotoStore, RecordStore, StoreError,
    StoreResult,
};

pub(super) use crate::store::rows::accounts::shown_actor_name;

/// The login name a closed account keeps: unique, and impossible to type at
/// the login form (`Username::parse` refuses '@'), so nobody can sign in as it.
fn closed_username(id: AccountId) -> String {
    format!("@closed-{}", id.0)
}

#[async_trait]
impl PersonalDataStore for SqliteStore {
    async fn export_personal_data(
        &self,
        actor: &Actor,
        id: AccountId,
    ) -> StoreResult<PersonalData> {
        let account = self.account(id).await?;
        let home = match account.unit_id {
            Some(unit_id) => {
                let unit = self.unit(unit_id).await?;
                let building = self.building(unit.building_id).await?;
                let estate = self.estate(building.estate_id).await?;
                let community = self.community(estate.community_id).await?;
                Some([community.name, estate.name, building.name, unit.label])
            }
            None => None,
        };

        let mut records = Vec::new();
        let mine = self
            .list_records(&RecordFilter {
                reporter: Some(id),
                oldest_first: true,
                limit: 100_000,
                ..RecordFilter::default()
            })
            .await?;
        for record in mine {
            let events = self
                .record_events(record.id)
                .await?
                .into_iter()
                .filter(|e| e.public)
                .collect();
            let photos = self
                .record_photos(record.id)
                .await?
                .into_iter()
                .filter(|p| p.public)
                .collect();
            records.push(PersonalRecord {
                record,
                events,
                photos,
            });
        }

        let rows: Vec<CommentRowWithTitle> = sqlx::query_as(&format!(
            "SELECT c.*, b.title AS broadcast_title
               FROM ({COMMENT} WHERE author_id = ?) c JOIN broadcasts b ON b.id = c.broadcast_id
              ORDER BY c.id"
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let comments = rows
            .into_iter()
            .map(|r| Ok((Comment::try_from(r.comment)?, r.broadcast_title)))
            .collect::<StoreResult<Vec<_>>>()?;

        let votes: Vec<(i64, i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT v.comment_id, c.broadcast_id, b.title, v.at
               FROM comment_votes v
               JOIN comments c ON c.id = v.comment_id
               JOIN broadcasts b ON b.id = c.broadcast_id
              WHERE v.account_id = ?
              ORDER BY v.at, v.comment_id",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let votes = votes
            .into_iter()
            .map(|(comment, broadcast, title, at)| PersonalVote {
                comment_id: CommentId(comment),
                broadcast_id: BroadcastId(broadcast),
                broadcast_title: title,
                at,
            })
            .collect();

        let marks: Vec<(i64, i64, DateTime<Utc>)> = sqlx::query_as(
            "SELECT record_id, seen_seq, seen_at FROM record_reads WHERE account_id = ? ORDER BY record_id",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let read_marks = marks
            .into_iter()
            .map(|(record, seen_seq, seen_at)| ReadMark {
                record_id: RecordId(record),
                seen_seq,
                seen_at,
            })
            .collect();

        let sessions: Vec<(DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT created_at, expires_at FROM sessions WHERE account_id = ? ORDER BY created_at",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let sessions = sessions
            .into_iter()
            .map(|(created_at, expires_at)| SessionFacts {
                created_at,
                expires_at,
            })
            .collect();

        let mut tx = self.write_tx().await?;
        Self::audit(&mut tx, actor.entry("account.export", "account", id.0)).await?;
        tx.commit().await?;

        Ok(PersonalData {
            account,
            home,
            records,
            comments,
            votes,
            read_marks,
            sessions,
        })
    }

    async fn close_account(&self, id: AccountId, label: &str) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        let account = fetch_account(&mut *tx, id).await?;
        let closed: bool =
            sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM accounts WHERE id = ?")
                .bind(id.0)
                .fetch_one(&mut *tx)
                .await?;
        if closed {
            return Err(StoreError::Rejected("the account is already closed"));
        }
        if account.role != Role::Resident {
            return Err(StoreError::Rejected(
                "only residents close their own account",
            ));
        }
        let now = ts(Utc::now());
        sqlx::query(
            "UPDATE accounts
                SET username = ?, display_name = ?, password_hash = '', estate_id = NULL,
                    unit_id = NULL, locale = NULL, disabled_at = COALESCE(disabled_at, ?),
                    closed_at = ?
              WHERE id = ?",
        )
        .bind(closed_username(id))
        .bind(label)
        .bind(&now)
        .bind(&now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        for forget in [
            "DELETE FROM sessions WHERE account_id = ?",
            "DELETE FROM record_reads WHERE account_id = ?",
        ] {
            sqlx::query(forget).bind(id.0).execute(&mut *tx).await?;
        }
        // Comments keep their text; the name they were posted under goes,
        // also from the public event log viewers replay on joining.
        sqlx::query("UPDATE comments SET public_name = ? WHERE author_id = ?")
            .bind(label)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE chat_events SET body = json_set(body, '$.event.comment.name', ?1)
              WHERE broadcast_id IN (SELECT DISTINCT broadcast_id FROM comments WHERE author_id = ?2)
                AND json_extract(body, '$.event.comment.id') IN
                    (SELECT id FROM comments WHERE author_id = ?2)",
        )
        .bind(label)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let actor = Actor {
            id: Some(id),
            name: label.to_owned(),
        };
        Self::audit(&mut tx, actor.entry("account.close", "account", id.0)).await?;
        tx.commit().await?;
        // Its chat sockets read their (now deleted) sessions again.
        self.account_changed(id);
        Ok(())
    }
}

#[derive(sqlx::FromRow)]
struct CommentRowWithTitle {
    #[sqlx(flatten)]
    comment: CommentRow,
    broadcast_title: String,
}
