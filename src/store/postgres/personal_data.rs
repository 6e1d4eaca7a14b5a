//! `PersonalDataStore` for PostgreSQL.
//!
//! Closing an account locks its row first (`FOR UPDATE`): of two requests
//! to close one account, the second waits and then finds it closed.

use async_trait::async_trait;
use chrono::Utc;

use super::{fetch_account, PgStore};
use crate::domain::*;
use crate::store::personal_data::{PersonalData, PersonalDataStore};
use crate::store::rows::chat::COMMENT;
use crate::store::rows::personal_data::{
    account_home_and_records, closed_username, CommentRowWithTitle, ReadMarkRow, SessionRow,
    VoteRow,
};
use crate::store::{ts, StoreError, StoreResult};

#[async_trait]
impl PersonalDataStore for PgStore {
    async fn export_personal_data(
        &self,
        actor: &Actor,
        id: AccountId,
    ) -> StoreResult<PersonalData> {
        let (account, home, records) = account_home_and_records(self, id).await?;

        let rows: Vec<CommentRowWithTitle> = sqlx::query_as(&format!(
            "SELECT c.*, b.title AS broadcast_title
               FROM ({COMMENT} WHERE author_id = $1) c JOIN broadcasts b ON b.id = c.broadcast_id
              ORDER BY c.id"
        ))
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let comments = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<StoreResult<Vec<_>>>()?;

        let votes: Vec<VoteRow> = sqlx::query_as(
            "SELECT v.comment_id, c.broadcast_id, b.title AS broadcast_title, v.at
               FROM comment_votes v
               JOIN comments c ON c.id = v.comment_id
               JOIN broadcasts b ON b.id = c.broadcast_id
              WHERE v.account_id = $1
              ORDER BY v.at, v.comment_id",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let votes = votes.into_iter().map(Into::into).collect();

        let marks: Vec<ReadMarkRow> = sqlx::query_as(
            "SELECT record_id, seen_seq, seen_at FROM record_reads WHERE account_id = $1 ORDER BY record_id",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let read_marks = marks.into_iter().map(Into::into).collect();

        let sessions: Vec<SessionRow> = sqlx::query_as(
            "SELECT created_at, expires_at FROM sessions WHERE account_id = $1 ORDER BY created_at",
        )
        .bind(id.0)
        .fetch_all(self.pool())
        .await?;
        let sessions = sessions.into_iter().map(Into::into).collect();

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
        // Lock the account: a second close (or any change) waits for this one.
        let closed: bool = sqlx::query_scalar(
            "SELECT closed_at IS NOT NULL FROM accounts WHERE id = $1 FOR UPDATE",
        )
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let account = fetch_account(&mut *tx, id).await?;
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
                SET username = $1, display_name = $2, password_hash = '', estate_id = NULL,
                    unit_id = NULL, locale = NULL, disabled_at = COALESCE(disabled_at, $3),
                    closed_at = $3
              WHERE id = $4",
        )
        .bind(closed_username(id))
        .bind(label)
        .bind(&now)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        for forget in [
            "DELETE FROM sessions WHERE account_id = $1",
            "DELETE FROM record_reads WHERE account_id = $1",
        ] {
            sqlx::query(forget).bind(id.0).execute(&mut *tx).await?;
        }
        // Comments keep their text; the name they were posted under goes,
        // also from the public event log viewers replay on joining.
        sqlx::query("UPDATE comments SET public_name = $1 WHERE author_id = $2")
            .bind(label)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE chat_events
                SET body = jsonb_set(body::jsonb, '{event,comment,name}', to_jsonb($1::TEXT))::TEXT
              WHERE broadcast_id IN (SELECT DISTINCT broadcast_id FROM comments WHERE author_id = $2)
                AND body::jsonb #>> '{event,comment,id}' IN
                    (SELECT id::TEXT FROM comments WHERE author_id = $2)",
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
