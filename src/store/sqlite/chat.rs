//! `ChatStore` for SQLite.
//!
//! Every write opens its transaction with `SqliteStore::write_tx` (`BEGIN
//! IMMEDIATE`); a write that still finds the database busy is retried a few
//! times before giving up.
//! Decisions are conditional updates: of two moderators acting on one
//! comment, one changes it and the other gets `StoreError::Conflict`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, Transaction};

use super::{ts, SqliteStore};
use crate::domain::chat::{
    event_frame, events_for_changes, reasons_to_text, ChatEvent, ChatSettings, Comment,
    CommentKind, Sanction, SanctionKind, StoredChatEvent,
};
use crate::domain::*;
use crate::store::rows::chat::{
    AuthorRow, CommentRow, EventRow, SanctionRow, SettingsRow, AUTHORS_IN, COMMENT, EVENT,
    SANCTION, SETTINGS,
};
use crate::store::rows::Stamp;
use crate::store::{
    retry_busy, AnswerStep, ChatAuthor, ChatChange, ChatSnapshotRows, ChatStore, CommentFilter,
    CommentOrder, Moderation, NewComment, NewSanction, PostedComment, StoreError, StoreResult,
};

type Tx = Transaction<'static, Sqlite>;

async fn fetch(tx: &mut Tx, id: CommentId) -> StoreResult<Comment> {
    let row: CommentRow = sqlx::query_as(&format!("{COMMENT} WHERE id = ?"))
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

/// Appends the events for `changes` after the broadcast's last event.
async fn append_events(
    tx: &mut Tx,
    broadcast: BroadcastId,
    at: DateTime<Utc>,
    events: &[ChatEvent],
) -> StoreResult<Vec<StoredChatEvent>> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let last: i64 =
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM chat_events WHERE broadcast_id = ?")
            .bind(broadcast.0)
            .fetch_one(&mut **tx)
            .await?;
    let mut stored = Vec::with_capacity(events.len());
    for (seq, event) in (last + 1..).zip(events) {
        let body = event_frame(seq, at, event);
        sqlx::query("INSERT INTO chat_events (broadcast_id, seq, at, body) VALUES (?, ?, ?, ?)")
            .bind(broadcast.0)
            .bind(seq)
            .bind(ts(at))
            .bind(&body)
            .execute(&mut **tx)
            .await?;
        stored.push(StoredChatEvent {
            broadcast_id: broadcast,
            seq,
            at,
            body,
        });
    }
    Ok(stored)
}

/// The change and its events, appended in the same transaction.
async fn finish_change(
    tx: &mut Tx,
    broadcast: BroadcastId,
    at: DateTime<Utc>,
    comments: Vec<(Option<Comment>, Comment)>,
) -> StoreResult<ChatChange> {
    let events = events_for_changes(comments.iter().map(|(b, a)| (b.as_ref(), a)));
    let events = append_events(tx, broadcast, at, &events).await?;
    Ok(ChatChange { comments, events })
}

/// `Conflict` when the comment exists (someone changed it first), else `NotFound`.
async fn lost_race(tx: &mut Tx, id: CommentId) -> StoreError {
    match fetch(tx, id).await {
        Ok(_) => StoreError::Conflict,
        Err(e) => e,
    }
}

impl SqliteStore {
    async fn post_once(&self, new: &NewComment) -> StoreResult<PostedComment> {
        let mut tx = self.write_tx().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO comments (broadcast_id, community_id, author_id, client_id, kind,
                public_name, anonymous, body, original_body, dup_key, hold_reasons, state,
                created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (author_id, broadcast_id, client_id) DO NOTHING
             RETURNING id",
        )
        .bind(new.broadcast_id.0)
        .bind(new.community_id.0)
        .bind(new.author_id.0)
        .bind(&new.client_id)
        .bind(new.kind.as_str())
        .bind(&new.public_name)
        .bind(new.anonymous)
        .bind(&new.body)
        .bind(&new.original_body)
        .bind(&new.dup_key)
        .bind(reasons_to_text(&new.hold_reasons))
        .bind(new.state.as_str())
        .bind(ts(new.at))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = inserted else {
            let row: CommentRow = sqlx::query_as(&format!(
                "{COMMENT} WHERE author_id = ? AND broadcast_id = ? AND client_id = ?"
            ))
            .bind(new.author_id.0)
            .bind(new.broadcast_id.0)
            .bind(&new.client_id)
            .fetch_one(&mut *tx)
            .await?;
            return Ok(PostedComment {
                comment: row.try_into()?,
                created: false,
                events: Vec::new(),
            });
        };
        if new.slow_mode.is_some() {
            let previous: Option<Stamp> = sqlx::query_scalar(
                "SELECT max(created_at) FROM comments
                  WHERE broadcast_id = ? AND author_id = ? AND id <> ?",
            )
            .bind(new.broadcast_id.0)
            .bind(new.author_id.0)
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(wait) = new.slow_mode_wait(previous.map(|t| t.0)) {
                return Err(StoreError::TooSoon(wait));
            }
        }
        let comment = fetch(&mut tx, CommentId(id)).await?;
        let change = finish_change(
            &mut tx,
            new.broadcast_id,
            new.at,
            vec![(None, comment.clone())],
        )
        .await?;
        tx.commit().await?;
        Ok(PostedComment {
            comment,
            created: true,
            events: change.events,
        })
    }

    async fn moderate_once(
        &self,
        actor: &Actor,
        id: CommentId,
        step: Moderation<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let (sql, action) = match step {
            Moderation::Approve => (
                "UPDATE comments SET state = 'approved', decided_by = ?, decided_at = ?,
                    revision = revision + 1
                 WHERE id = ? AND state = 'held'",
                "chat.approve",
            ),
            Moderation::Reject { .. } => (
                "UPDATE comments SET state = 'rejected', decided_by = ?, decided_at = ?,
                    reject_reason = ?, revision = revision + 1
                 WHERE id = ? AND state = 'held'",
                "chat.reject",
            ),
            Moderation::Redact { .. } => (
                "UPDATE comments SET original_body = COALESCE(original_body, body), body = ?,
                    decided_by = ?, decided_at = ?, revision = revision + 1
                 WHERE id = ? AND state IN ('held', 'approved')",
                "chat.redact",
            ),
            Moderation::Hide => (
                "UPDATE comments SET state = 'hidden', decided_by = ?, decided_at = ?,
                    revision = revision + 1
                 WHERE id = ? AND state = 'approved'",
                "chat.hide",
            ),
        };
        let before = fetch(&mut tx, id).await?;
        let mut query = sqlx::query(sql);
        if let Moderation::Redact { body } = step {
            query = query.bind(body);
        }
        query = query.bind(actor.id.map(|a| a.0)).bind(ts(at));
        if let Moderation::Reject { reason } = step {
            query = query.bind(reason);
        }
        let updated = query.bind(id.0).execute(&mut *tx).await?;
        if updated.rows_affected() == 0 {
            return Err(lost_race(&mut tx, id).await);
        }
        let after = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry(action, "comment", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        let change =
            finish_change(&mut tx, after.broadcast_id, at, vec![(Some(before), after)]).await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn merge_once(
        &self,
        actor: &Actor,
        duplicate: CommentId,
        into: CommentId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let dup_before = fetch(&mut tx, duplicate).await?;
        let into_before = fetch(&mut tx, into).await?;
        if duplicate == into
            || dup_before.broadcast_id != into_before.broadcast_id
            || !into_before.is_open_question()
        {
            return Err(StoreError::Rejected("not mergeable"));
        }
        let updated = sqlx::query(
            "UPDATE comments SET state = 'hidden', merged_into = ?, decided_by = ?,
                decided_at = ?, revision = revision + 1
             WHERE id = ? AND merged_into IS NULL AND state IN ('held', 'approved')",
        )
        .bind(into.0)
        .bind(actor.id.map(|a| a.0))
        .bind(ts(at))
        .bind(duplicate.0)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        // The union of both questions' voters; the kept question's author
        // cannot vote for it.
        sqlx::query(
            "INSERT OR IGNORE INTO comment_votes (comment_id, account_id, at)
             SELECT ?, account_id, at FROM comment_votes
             WHERE comment_id = ? AND account_id <> ?",
        )
        .bind(into.0)
        .bind(duplicate.0)
        .bind(into_before.author_id.0)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE comments SET votes = (SELECT COUNT(*) FROM comment_votes WHERE comment_id = ?),
                revision = revision + 1
             WHERE id = ?",
        )
        .bind(into.0)
        .bind(into.0)
        .execute(&mut *tx)
        .await?;
        let dup_after = fetch(&mut tx, duplicate).await?;
        let into_after = fetch(&mut tx, into).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("chat.merge", "comment", duplicate)
                .before(&dup_before)
                .after(serde_json::json!({
                    "merged_into": into,
                    "votes_before": into_before.votes,
                    "votes_after": into_after.votes,
                })),
        )
        .await?;
        let change = finish_change(
            &mut tx,
            into_after.broadcast_id,
            at,
            vec![
                (Some(dup_before), dup_after),
                (Some(into_before), into_after),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn hide_all_once(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        author: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let rows: Vec<CommentRow> = sqlx::query_as(&format!(
            "{COMMENT} WHERE broadcast_id = ? AND author_id = ? AND state IN ('held', 'approved')
             ORDER BY id"
        ))
        .bind(broadcast.0)
        .bind(author.0)
        .fetch_all(&mut *tx)
        .await?;
        let befores: Vec<Comment> = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<StoreResult<_>>()?;
        sqlx::query(
            "UPDATE comments SET state = 'hidden', decided_by = ?, decided_at = ?,
                revision = revision + 1
             WHERE broadcast_id = ? AND author_id = ? AND state IN ('held', 'approved')",
        )
        .bind(actor.id.map(|a| a.0))
        .bind(ts(at))
        .bind(broadcast.0)
        .bind(author.0)
        .execute(&mut *tx)
        .await?;
        let mut comments = Vec::with_capacity(befores.len());
        for before in befores {
            let after = fetch(&mut tx, before.id).await?;
            comments.push((Some(before), after));
        }
        Self::audit(
            &mut tx,
            actor
                .entry("chat.hide_all", "account", author)
                .after(serde_json::json!({
                    "broadcast": broadcast,
                    "hidden": comments.iter().map(|(_, c)| c.id).collect::<Vec<_>>(),
                })),
        )
        .await?;
        let change = finish_change(&mut tx, broadcast, at, comments).await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn vote_once(
        &self,
        voter: AccountId,
        id: CommentId,
        up: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let before = fetch(&mut tx, id).await?;
        if !before.is_open_question() {
            return Err(StoreError::Rejected("not votable"));
        }
        if before.author_id == voter {
            return Err(StoreError::Rejected("own question"));
        }
        let changed = if up {
            sqlx::query(
                "INSERT OR IGNORE INTO comment_votes (comment_id, account_id, at) VALUES (?, ?, ?)",
            )
            .bind(id.0)
            .bind(voter.0)
            .bind(ts(at))
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query("DELETE FROM comment_votes WHERE comment_id = ? AND account_id = ?")
                .bind(id.0)
                .bind(voter.0)
                .execute(&mut *tx)
                .await?
        };
        if changed.rows_affected() == 0 {
            // Voted (or withdrew) already: nothing to tell anyone.
            return Ok(ChatChange {
                comments: vec![(Some(before.clone()), before)],
                events: Vec::new(),
            });
        }
        sqlx::query(
            "UPDATE comments SET votes = (SELECT COUNT(*) FROM comment_votes WHERE comment_id = ?),
                revision = revision + 1
             WHERE id = ?",
        )
        .bind(id.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let after = fetch(&mut tx, id).await?;
        let change =
            finish_change(&mut tx, after.broadcast_id, at, vec![(Some(before), after)]).await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn answer_once(
        &self,
        actor: &Actor,
        id: CommentId,
        step: AnswerStep<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let before = fetch(&mut tx, id).await?;
        if before.kind != CommentKind::Question {
            return Err(StoreError::Rejected("not a question"));
        }
        let shown = "AND state = 'approved' AND merged_into IS NULL";
        let mut comments = Vec::new();
        let (updated, action) = match step {
            AnswerStep::Now { offset_ms } => {
                // One question at a time: the one answered before goes back to open.
                let others: Vec<CommentRow> = sqlx::query_as(&format!(
                    "{COMMENT} WHERE broadcast_id = ? AND status = 'answering' AND id <> ?"
                ))
                .bind(before.broadcast_id.0)
                .bind(id.0)
                .fetch_all(&mut *tx)
                .await?;
                for other in others {
                    let other: Comment = other.try_into()?;
                    sqlx::query(
                        "UPDATE comments SET status = 'open', revision = revision + 1 WHERE id = ?",
                    )
                    .bind(other.id.0)
                    .execute(&mut *tx)
                    .await?;
                    let after = fetch(&mut tx, other.id).await?;
                    comments.push((Some(other), after));
                }
                let updated = sqlx::query(&format!(
                    "UPDATE comments SET status = 'answering', answering_at = ?,
                        answer_offset_ms = ?, revision = revision + 1
                     WHERE id = ? AND status = 'open' {shown}"
                ))
                .bind(ts(at))
                .bind(offset_ms)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                (updated, "chat.answer_now")
            }
            AnswerStep::Answered { answer } => {
                let updated = sqlx::query(&format!(
                    "UPDATE comments SET status = 'answered', answered_at = ?, answer = ?,
                        revision = revision + 1
                     WHERE id = ? AND status IN ('open', 'answering') {shown}"
                ))
                .bind(ts(at))
                .bind(answer)
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                (updated, "chat.answered")
            }
            AnswerStep::Restore => {
                let updated = sqlx::query(&format!(
                    "UPDATE comments SET status = 'open', answered_at = NULL, answer = NULL,
                        revision = revision + 1
                     WHERE id = ? AND status IN ('answering', 'answered') {shown}"
                ))
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
                (updated, "chat.restore")
            }
        };
        if updated.rows_affected() == 0 {
            return Err(StoreError::Conflict);
        }
        let after = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry(action, "comment", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        comments.push((Some(before), after));
        let broadcast = comments[0].1.broadcast_id;
        let change = finish_change(&mut tx, broadcast, at, comments).await?;
        tx.commit().await?;
        Ok(change)
    }

    async fn settings_once(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        settings: &ChatSettings,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        let mut tx = self.write_tx().await?;
        let before: Option<SettingsRow> =
            sqlx::query_as(&format!("{SETTINGS} WHERE broadcast_id = ?"))
                .bind(broadcast.0)
                .fetch_optional(&mut *tx)
                .await?;
        let before: ChatSettings = before.map(Into::into).unwrap_or_default();
        sqlx::query(
            "INSERT INTO chat_settings (broadcast_id, questions_premoderated, chat_premoderated,
                slow_mode_seconds, open, updated_at)
             VALUES (?, ?, ?, ?, ?, ?)
             ON CONFLICT (broadcast_id) DO UPDATE SET
                questions_premoderated = excluded.questions_premoderated,
                chat_premoderated = excluded.chat_premoderated,
                slow_mode_seconds = excluded.slow_mode_seconds,
                open = excluded.open,
                updated_at = excluded.updated_at",
        )
        .bind(broadcast.0)
        .bind(settings.questions_premoderated)
        .bind(settings.chat_premoderated)
        .bind(i64::from(settings.slow_mode_seconds))
        .bind(settings.open)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?;
        Self::audit(
            &mut tx,
            actor
                .entry("chat.settings", "broadcast", broadcast)
                .before(before)
                .after(settings),
        )
        .await?;
        let events = if before == *settings {
            Vec::new()
        } else {
            append_events(
                &mut tx,
                broadcast,
                at,
                &[ChatEvent::Settings {
                    settings: *settings,
                }],
            )
            .await?
        };
        tx.commit().await?;
        Ok(ChatChange {
            comments: Vec::new(),
            events,
        })
    }

    async fn blocked_words_once(
        &self,
        actor: &Actor,
        community: CommunityId,
        words: &[String],
    ) -> StoreResult<Vec<String>> {
        let mut tx = self.write_tx().await?;
        let before: Vec<String> = sqlx::query_scalar(
            "SELECT word FROM chat_blocked_words WHERE community_id = ? ORDER BY position",
        )
        .bind(community.0)
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM chat_blocked_words WHERE community_id = ?")
            .bind(community.0)
            .execute(&mut *tx)
            .await?;
        for (position, word) in words.iter().enumerate() {
            sqlx::query(
                "INSERT INTO chat_blocked_words (community_id, position, word) VALUES (?, ?, ?)",
            )
            .bind(community.0)
            .bind(position as i64)
            .bind(word)
            .execute(&mut *tx)
            .await?;
        }
        Self::audit(
            &mut tx,
            actor
                .entry("chat.blocked_words", "community", community)
                .before(&before)
                .after(words),
        )
        .await?;
        tx.commit().await?;
        Ok(words.to_vec())
    }

    async fn link_record_once(
        &self,
        actor: &Actor,
        id: CommentId,
        record: RecordId,
    ) -> StoreResult<Comment> {
        let mut tx = self.write_tx().await?;
        let updated = sqlx::query(
            "UPDATE comments SET record_id = ?, revision = revision + 1
             WHERE id = ? AND record_id IS NULL",
        )
        .bind(record.0)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(lost_race(&mut tx, id).await);
        }
        let after = fetch(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("chat.to_record", "comment", id)
                .after(serde_json::json!({ "record": record })),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn sanction_once(&self, actor: &Actor, new: &NewSanction) -> StoreResult<Sanction> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO chat_sanctions (community_id, account_id, kind, until, reason,
                broadcast_id, by_id, at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(new.community_id.0)
        .bind(new.account_id.0)
        .bind(new.kind.as_str())
        .bind(new.until.map(ts))
        .bind(&new.reason)
        .bind(new.broadcast_id.map(|b| b.0))
        .bind(actor.id.map(|a| a.0))
        .bind(ts(new.at))
        .fetch_one(&mut *tx)
        .await?;
        let row: SanctionRow = sqlx::query_as(&format!("{SANCTION} WHERE id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let sanction: Sanction = row.try_into()?;
        let action = match new.kind {
            SanctionKind::Timeout => "chat.timeout",
            SanctionKind::Ban => "chat.ban",
        };
        Self::audit(
            &mut tx,
            actor
                .entry(action, "account", new.account_id)
                .after(&sanction),
        )
        .await?;
        tx.commit().await?;
        Ok(sanction)
    }

    async fn lift_once(
        &self,
        actor: &Actor,
        community: CommunityId,
        account: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let mut tx = self.write_tx().await?;
        let lifted = sqlx::query(
            "UPDATE chat_sanctions SET lifted_at = ?, lifted_by = ?
             WHERE community_id = ? AND account_id = ? AND lifted_at IS NULL
               AND (until IS NULL OR until > ?)",
        )
        .bind(ts(at))
        .bind(actor.id.map(|a| a.0))
        .bind(community.0)
        .bind(account.0)
        .bind(ts(at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        Self::audit(
            &mut tx,
            actor
                .entry("chat.lift", "account", account)
                .after(serde_json::json!({ "community": community, "lifted": lifted })),
        )
        .await?;
        tx.commit().await?;
        Ok(lifted as usize)
    }
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn chat_settings(&self, broadcast: BroadcastId) -> StoreResult<ChatSettings> {
        let row: Option<SettingsRow> =
            sqlx::query_as(&format!("{SETTINGS} WHERE broadcast_id = ?"))
                .bind(broadcast.0)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(Into::into).unwrap_or_default())
    }

    async fn set_chat_settings(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        settings: &ChatSettings,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.settings_once(actor, broadcast, settings, at)).await
    }

    async fn blocked_words(&self, community: CommunityId) -> StoreResult<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT word FROM chat_blocked_words WHERE community_id = ? ORDER BY position",
        )
        .bind(community.0)
        .fetch_all(self.pool())
        .await?)
    }

    async fn set_blocked_words(
        &self,
        actor: &Actor,
        community: CommunityId,
        words: &[String],
    ) -> StoreResult<Vec<String>> {
        retry_busy(|| self.blocked_words_once(actor, community, words)).await
    }

    async fn chat_authors(&self, accounts: &[AccountId]) -> StoreResult<Vec<ChatAuthor>> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(AUTHORS_IN);
        let mut ids = query.separated(", ");
        for id in accounts {
            ids.push_bind(id.0);
        }
        query.push(")");
        let rows: Vec<AuthorRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn post_comment(&self, new: &NewComment) -> StoreResult<PostedComment> {
        retry_busy(|| self.post_once(new)).await
    }

    async fn comment(&self, id: CommentId) -> StoreResult<Comment> {
        let row: CommentRow = sqlx::query_as(&format!("{COMMENT} WHERE id = ?"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn comment_by_client_id(
        &self,
        author: AccountId,
        broadcast: BroadcastId,
        client_id: &str,
    ) -> StoreResult<Option<Comment>> {
        let row: Option<CommentRow> = sqlx::query_as(&format!(
            "{COMMENT} WHERE author_id = ? AND broadcast_id = ? AND client_id = ?"
        ))
        .bind(author.0)
        .bind(broadcast.0)
        .bind(client_id)
        .fetch_optional(self.pool())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn comments(&self, filter: &CommentFilter) -> StoreResult<Vec<Comment>> {
        let mut query = QueryBuilder::<Sqlite>::new(COMMENT);
        query
            .push(" WHERE broadcast_id = ")
            .push_bind(filter.broadcast.0);
        if !filter.states.is_empty() {
            query.push(" AND state IN (");
            let mut list = query.separated(", ");
            for state in &filter.states {
                list.push_bind(state.as_str());
            }
            query.push(")");
        }
        if let Some(kind) = filter.kind {
            query.push(" AND kind = ").push_bind(kind.as_str());
        }
        if !filter.statuses.is_empty() {
            query.push(" AND status IN (");
            let mut list = query.separated(", ");
            for status in &filter.statuses {
                list.push_bind(status.as_str());
            }
            query.push(")");
        }
        if let Some(author) = filter.author {
            query.push(" AND author_id = ").push_bind(author.0);
        }
        if filter.unmerged_only {
            query.push(" AND merged_into IS NULL");
        }
        let newest_first = filter.order == CommentOrder::Newest;
        query.push(match filter.order {
            CommentOrder::Oldest => " ORDER BY id ASC",
            CommentOrder::Newest => " ORDER BY id DESC",
            CommentOrder::Votes => " ORDER BY votes DESC, id ASC",
        });
        query.push(" LIMIT ").push_bind(filter.limit.max(1));
        let rows: Vec<CommentRow> = query.build_query_as().fetch_all(self.pool()).await?;
        let mut comments: Vec<Comment> = rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<StoreResult<_>>()?;
        if newest_first {
            // The newest n, but in reading order.
            comments.reverse();
        }
        Ok(comments)
    }

    async fn same_text_posts(
        &self,
        broadcast: BroadcastId,
        dup_key: &str,
        since: DateTime<Utc>,
    ) -> StoreResult<Vec<(AccountId, DateTime<Utc>)>> {
        let rows: Vec<(i64, Stamp)> = sqlx::query_as(
            "SELECT author_id, created_at FROM comments
             WHERE broadcast_id = ? AND dup_key = ? AND created_at >= ?",
        )
        .bind(broadcast.0)
        .bind(dup_key)
        .bind(ts(since))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(author, at)| (AccountId(author), at.0))
            .collect())
    }

    async fn moderate_comment(
        &self,
        actor: &Actor,
        id: CommentId,
        step: Moderation<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.moderate_once(actor, id, step, at)).await
    }

    async fn merge_comments(
        &self,
        actor: &Actor,
        duplicate: CommentId,
        into: CommentId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.merge_once(actor, duplicate, into, at)).await
    }

    async fn hide_comments_of(
        &self,
        actor: &Actor,
        broadcast: BroadcastId,
        author: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.hide_all_once(actor, broadcast, author, at)).await
    }

    async fn vote(
        &self,
        voter: AccountId,
        comment: CommentId,
        up: bool,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.vote_once(voter, comment, up, at)).await
    }

    async fn votes_of(
        &self,
        voter: AccountId,
        broadcast: BroadcastId,
    ) -> StoreResult<Vec<CommentId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT v.comment_id FROM comment_votes v JOIN comments c ON c.id = v.comment_id
             WHERE v.account_id = ? AND c.broadcast_id = ? ORDER BY v.comment_id",
        )
        .bind(voter.0)
        .bind(broadcast.0)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(CommentId).collect())
    }

    async fn answer_question(
        &self,
        actor: &Actor,
        id: CommentId,
        step: AnswerStep<'_>,
        at: DateTime<Utc>,
    ) -> StoreResult<ChatChange> {
        retry_busy(|| self.answer_once(actor, id, step, at)).await
    }

    async fn answering_questions(&self, broadcasts: &[BroadcastId]) -> StoreResult<Vec<Comment>> {
        if broadcasts.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = QueryBuilder::<Sqlite>::new(COMMENT);
        query.push(
            " WHERE status = 'answering' AND state = 'approved' AND merged_into IS NULL
              AND broadcast_id IN (",
        );
        let mut ids = query.separated(", ");
        for id in broadcasts {
            ids.push_bind(id.0);
        }
        query.push(") ORDER BY id");
        let rows: Vec<CommentRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn link_record(
        &self,
        actor: &Actor,
        id: CommentId,
        record: RecordId,
    ) -> StoreResult<Comment> {
        retry_busy(|| self.link_record_once(actor, id, record)).await
    }

    async fn comment_of_record(&self, record: RecordId) -> StoreResult<Option<Comment>> {
        let row: Option<CommentRow> = sqlx::query_as(&format!("{COMMENT} WHERE record_id = ?"))
            .bind(record.0)
            .fetch_optional(self.pool())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn add_sanction(&self, actor: &Actor, new: &NewSanction) -> StoreResult<Sanction> {
        retry_busy(|| self.sanction_once(actor, new)).await
    }

    async fn lift_sanctions(
        &self,
        actor: &Actor,
        community: CommunityId,
        account: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<usize> {
        retry_busy(|| self.lift_once(actor, community, account, at)).await
    }

    async fn active_sanction(
        &self,
        community: CommunityId,
        account: AccountId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Sanction>> {
        let row: Option<SanctionRow> = sqlx::query_as(&format!(
            "{SANCTION} WHERE community_id = ? AND account_id = ? AND lifted_at IS NULL
               AND (until IS NULL OR until > ?)
             ORDER BY until IS NULL DESC, until DESC LIMIT 1"
        ))
        .bind(community.0)
        .bind(account.0)
        .bind(ts(now))
        .fetch_optional(self.pool())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn chat_events_after(
        &self,
        broadcast: BroadcastId,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<StoredChatEvent>> {
        let rows: Vec<EventRow> = sqlx::query_as(&format!(
            "{EVENT} WHERE broadcast_id = ? AND seq > ? ORDER BY seq LIMIT ?"
        ))
        .bind(broadcast.0)
        .bind(after_seq)
        .bind(limit.max(1))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn chat_snapshot(
        &self,
        broadcast: BroadcastId,
        recent: i64,
        questions: i64,
    ) -> StoreResult<ChatSnapshotRows> {
        // One read transaction: every read sees the database as of one
        // moment, which is exactly the state after event `seq`.
        let mut tx = self.pool().begin().await?;
        let seq: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(seq), 0) FROM chat_events WHERE broadcast_id = ?",
        )
        .bind(broadcast.0)
        .fetch_one(&mut *tx)
        .await?;
        let recent_rows: Vec<CommentRow> = sqlx::query_as(&format!(
            "{COMMENT} WHERE broadcast_id = ? AND state = 'approved' AND merged_into IS NULL
             ORDER BY id DESC LIMIT ?"
        ))
        .bind(broadcast.0)
        .bind(recent.max(1))
        .fetch_all(&mut *tx)
        .await?;
        let question_rows: Vec<CommentRow> = sqlx::query_as(&format!(
            "{COMMENT} WHERE broadcast_id = ? AND kind = 'question' AND state = 'approved'
               AND merged_into IS NULL
             ORDER BY votes DESC, id ASC LIMIT ?"
        ))
        .bind(broadcast.0)
        .bind(questions.max(1))
        .fetch_all(&mut *tx)
        .await?;
        let answering: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM comments WHERE broadcast_id = ? AND status = 'answering'
               AND state = 'approved' AND merged_into IS NULL
             ORDER BY answering_at DESC LIMIT 1",
        )
        .bind(broadcast.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut recent: Vec<Comment> = recent_rows
            .into_iter()
            .map(TryInto::try_into)
            .collect::<StoreResult<_>>()?;
        recent.reverse();
        Ok(ChatSnapshotRows {
            seq,
            recent,
            questions: question_rows
                .into_iter()
                .map(TryInto::try_into)
                .collect::<StoreResult<_>>()?,
            answering: answering.map(CommentId),
        })
    }
}
