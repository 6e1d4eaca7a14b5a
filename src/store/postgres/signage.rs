//! `SignageStore` for PostgreSQL.
//!
//! Several nodes write at once, so: a notice moves only by one conditional
//! `UPDATE … WHERE revision = … AND state IN (…)` (of two approvals one wins,
//! the other is refused); a pairing code is claimed under a row lock on its
//! pairing (a second claim waits, then finds it taken); a screen's plays are
//! stored under a lock on the screen (the gap between plays holds) and a
//! play sent twice is kept once (`ON CONFLICT DO NOTHING`).

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Postgres, QueryBuilder, Transaction};

use super::PgStore;
use crate::domain::notice::{
    MediaFile, MediaKind, MediaState, Notice, NoticeDraft, NoticeState, Target,
};
use crate::domain::screen::{Heartbeat, Play, PlayRow, Screen, ScreenGroup};
use crate::domain::*;
use crate::store::rows::signage::{
    day_parts_json, push_notice_filter, push_play_filter, target_parts, MediaRow, NoticeRow,
    PlayExportRow, ScreenGroupRow, ScreenRow, MEDIA, NOTICE_COLUMNS, PLAY_EXPORT, SCREEN,
    SCREEN_GROUP,
};
use crate::store::{
    ts, MediaOutcome, NewMedia, NoticeFilter, NoticeTransition, PairingStatus, PlayFilter,
    RecordedPlays, ScreenSetup, SignageStore, StoreError, StoreResult,
};

/// Notices with their targets and images (PostgreSQL's `string_agg`).
static NOTICE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {NOTICE_COLUMNS},
            (SELECT string_agg(t.kind || ':' || t.target_id, ',') FROM notice_targets t
                WHERE t.notice_id = n.id) AS targets,
            (SELECT string_agg(i.media_id::TEXT, ',' ORDER BY i.position) FROM notice_images i
                WHERE i.notice_id = n.id) AS images
        FROM notices n"
    )
});

async fn fetch_notice(tx: &mut Transaction<'_, Postgres>, id: NoticeId) -> StoreResult<Notice> {
    let row: NoticeRow = sqlx::query_as(&format!("{} WHERE n.id = $1", *NOTICE))
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

async fn fetch_media(tx: &mut Transaction<'_, Postgres>, id: i64) -> StoreResult<MediaFile> {
    let row: MediaRow = sqlx::query_as(&format!("{MEDIA} WHERE id = $1"))
        .bind(id)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

/// Replaces the notice's targets and images, refusing anything that belongs
/// to another community (a forged form must not reach another community's
/// screens or show its pictures). The caller holds the notice's row lock.
async fn set_notice_links(
    tx: &mut Transaction<'_, Postgres>,
    id: NoticeId,
    draft: &NoticeDraft,
) -> StoreResult<()> {
    let community = draft.community_id.0;
    for table in ["notice_targets", "notice_images"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE notice_id = $1"))
            .bind(id.0)
            .execute(&mut **tx)
            .await?;
    }
    for &target in &draft.targets {
        let owner_check = match target {
            Target::Community(_) => "SELECT id FROM communities WHERE id = $2 AND id = $1",
            Target::Estate(_) => "SELECT id FROM estates WHERE id = $2 AND community_id = $1",
            Target::Building(_) => {
                "SELECT b.id FROM buildings b JOIN estates e ON e.id = b.estate_id
                 WHERE b.id = $2 AND e.community_id = $1"
            }
            Target::Screen(_) => {
                "SELECT s.id FROM screens s JOIN buildings b ON b.id = s.building_id
                 JOIN estates e ON e.id = b.estate_id WHERE s.id = $2 AND e.community_id = $1"
            }
            Target::Group(_) => "SELECT id FROM screen_groups WHERE id = $2 AND community_id = $1",
        };
        let (kind, target_id) = target_parts(target);
        let found: Option<i64> = sqlx::query_scalar(owner_check)
            .bind(community)
            .bind(target_id)
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::Rejected("target of another community"));
        }
        sqlx::query("INSERT INTO notice_targets (notice_id, kind, target_id) VALUES ($1, $2, $3)")
            .bind(id.0)
            .bind(kind)
            .bind(target_id)
            .execute(&mut **tx)
            .await?;
    }
    let media_kinds = draft
        .images
        .iter()
        .map(|&m| (m, MediaKind::Image))
        .chain(draft.video.map(|m| (m, MediaKind::Video)));
    for (media, kind) in media_kinds {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM signage_media WHERE id = $1 AND community_id = $2 AND kind = $3
                AND state != 'failed'",
        )
        .bind(media.0)
        .bind(community)
        .bind(kind.as_str())
        .fetch_optional(&mut **tx)
        .await?;
        if found.is_none() {
            return Err(StoreError::Rejected("media of another community"));
        }
    }
    for (position, image) in draft.images.iter().enumerate() {
        sqlx::query(
            "INSERT INTO notice_images (notice_id, position, media_id) VALUES ($1, $2, $3)",
        )
        .bind(id.0)
        .bind(position as i64)
        .bind(image.0)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

async fn fetch_screen(tx: &mut Transaction<'_, Postgres>, id: ScreenId) -> StoreResult<Screen> {
    let row: ScreenRow = sqlx::query_as(&format!("{SCREEN} WHERE s.id = $1"))
        .bind(id.0)
        .fetch_one(&mut **tx)
        .await?;
    row.try_into()
}

/// A screen's group must belong to the community its building is in.
async fn check_group(tx: &mut Transaction<'_, Postgres>, setup: &ScreenSetup) -> StoreResult<()> {
    let Some(group) = setup.group_id else {
        return Ok(());
    };
    let found: Option<i64> = sqlx::query_scalar(
        "SELECT g.id FROM screen_groups g JOIN estates e ON e.community_id = g.community_id
         JOIN buildings b ON b.estate_id = e.id WHERE g.id = $1 AND b.id = $2",
    )
    .bind(group.0)
    .bind(setup.building_id.0)
    .fetch_optional(&mut **tx)
    .await?;
    found
        .map(|_| ())
        .ok_or(StoreError::Rejected("group of another community"))
}

#[async_trait]
impl SignageStore for PgStore {
    async fn create_media(&self, actor: &Actor, new: &NewMedia) -> StoreResult<MediaFile> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO signage_media (community_id, kind, state, original_name, content_type,
                size_bytes, width, height, duration_millis, uploaded_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(new.community_id.0)
        .bind(new.kind.as_str())
        .bind(new.state.as_str())
        .bind(&new.original_name)
        .bind(&new.content_type)
        .bind(new.size_bytes)
        .bind(new.width.map(i64::from))
        .bind(new.height.map(i64::from))
        .bind(new.duration_millis)
        .bind(new.uploaded_by.0)
        .bind(ts(Utc::now()))
        .fetch_one(&mut *tx)
        .await?;
        let media = fetch_media(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor.entry("media.upload", "media", media.id).after(&media),
        )
        .await?;
        tx.commit().await?;
        Ok(media)
    }

    async fn finish_media(&self, id: MediaId, outcome: &MediaOutcome) -> StoreResult<MediaFile> {
        let mut tx = self.write_tx().await?;
        // The update locks the row until the commit, so the audited media
        // is what this change left.
        sqlx::query(
            "UPDATE signage_media SET state = $1, content_type = $2, size_bytes = $3, width = $4,
                height = $5, duration_millis = $6, error = $7
             WHERE id = $8",
        )
        .bind(outcome.state.as_str())
        .bind(&outcome.content_type)
        .bind(outcome.size_bytes)
        .bind(outcome.width.map(i64::from))
        .bind(outcome.height.map(i64::from))
        .bind(outcome.duration_millis)
        .bind(&outcome.error)
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let media = fetch_media(&mut tx, id.0).await?;
        let action = match outcome.state {
            MediaState::Failed => "media.failed",
            _ => "media.ready",
        };
        Self::audit(
            &mut tx,
            Actor::system().entry(action, "media", id).after(&media),
        )
        .await?;
        tx.commit().await?;
        Ok(media)
    }

    async fn media(&self, id: MediaId) -> StoreResult<MediaFile> {
        let row: MediaRow = sqlx::query_as(&format!("{MEDIA} WHERE id = $1"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn list_media(&self, community: CommunityId, limit: i64) -> StoreResult<Vec<MediaFile>> {
        let rows: Vec<MediaRow> = sqlx::query_as(&format!(
            "{MEDIA} WHERE community_id = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(community.0)
        .bind(limit.max(1))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn unfinished_media(&self) -> StoreResult<Vec<MediaFile>> {
        let rows: Vec<MediaRow> =
            sqlx::query_as(&format!("{MEDIA} WHERE state = 'processing' ORDER BY id"))
                .fetch_all(self.pool())
                .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn create_notice(
        &self,
        actor: &Actor,
        author: AccountId,
        draft: &NoticeDraft,
        state: NoticeState,
    ) -> StoreResult<Notice> {
        let now = ts(Utc::now());
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notices (community_id, title, body, category, emergency, starts_at,
                ends_at, day_parts, display_seconds, priority, video_id, state, author_id,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
             RETURNING id",
        )
        .bind(draft.community_id.0)
        .bind(&draft.title)
        .bind(&draft.body)
        .bind(draft.category.as_str())
        .bind(draft.emergency)
        .bind(ts(draft.validity.starts_at()))
        .bind(draft.validity.ends_at().map(ts))
        .bind(day_parts_json(&draft.day_parts))
        .bind(i64::from(draft.display_seconds))
        .bind(i64::from(draft.priority))
        .bind(draft.video.map(|m| m.0))
        .bind(state.as_str())
        .bind(author.0)
        .bind(&now)
        .fetch_one(&mut *tx)
        .await?;
        let id = NoticeId(id);
        set_notice_links(&mut tx, id, draft).await?;
        let notice = fetch_notice(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor.entry("notice.create", "notice", id).after(&notice),
        )
        .await?;
        tx.commit().await?;
        Ok(notice)
    }

    async fn update_notice(
        &self,
        actor: &Actor,
        id: NoticeId,
        revision: i64,
        draft: &NoticeDraft,
        state: NoticeState,
    ) -> StoreResult<Notice> {
        let mut tx = self.write_tx().await?;
        // One conditional update: of two editors at the same revision, the
        // second waits for the first's row lock, then finds the revision
        // moved on and changes nothing. The lock is held while the links
        // are replaced.
        let updated = sqlx::query(
            "UPDATE notices SET title = $1, body = $2, category = $3, emergency = $4,
                starts_at = $5, ends_at = $6, day_parts = $7, display_seconds = $8,
                priority = $9, video_id = $10, state = $11, rejection_reason = NULL,
                approved_by = NULL,
                published_at = CASE WHEN $11 = 'published' THEN published_at ELSE NULL END,
                revision = revision + 1, updated_at = $12
             WHERE id = $13 AND revision = $14 AND community_id = $15",
        )
        .bind(&draft.title)
        .bind(&draft.body)
        .bind(draft.category.as_str())
        .bind(draft.emergency)
        .bind(ts(draft.validity.starts_at()))
        .bind(draft.validity.ends_at().map(ts))
        .bind(day_parts_json(&draft.day_parts))
        .bind(i64::from(draft.display_seconds))
        .bind(i64::from(draft.priority))
        .bind(draft.video.map(|m| m.0))
        .bind(state.as_str())
        .bind(ts(Utc::now()))
        .bind(id.0)
        .bind(revision)
        .bind(draft.community_id.0)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            fetch_notice(&mut tx, id).await?;
            return Err(StoreError::Conflict);
        }
        set_notice_links(&mut tx, id, draft).await?;
        let after = fetch_notice(&mut tx, id).await?;
        Self::audit(
            &mut tx,
            actor.entry("notice.update", "notice", id).after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn transition_notice(
        &self,
        actor: &Actor,
        id: NoticeId,
        step: &NoticeTransition<'_>,
    ) -> StoreResult<Notice> {
        let now = ts(Utc::now());
        let mut tx = self.write_tx().await?;
        // One conditional update on state (and revision): of two moderators
        // approving at once, one wins and the other sees 0 rows.
        let mut update = QueryBuilder::<Postgres>::new("UPDATE notices SET state = ");
        update
            .push_bind(step.to.as_str())
            .push(", revision = revision + 1, updated_at = ")
            .push_bind(&now)
            .push(", rejection_reason = ")
            .push_bind(step.reason);
        if step.to == NoticeState::Published {
            update
                .push(", published_at = ")
                .push_bind(&now)
                .push(", approved_by = ")
                .push_bind(actor.id.map(|a| a.0));
        }
        update
            .push(" WHERE id = ")
            .push_bind(id.0)
            .push(" AND state IN (");
        let mut states = update.separated(", ");
        for state in step.from {
            states.push_bind(state.as_str());
        }
        update.push(")");
        if let Some(revision) = step.revision {
            update.push(" AND revision = ").push_bind(revision);
        }
        if update.build().execute(&mut *tx).await?.rows_affected() == 0 {
            let current = fetch_notice(&mut tx, id).await?;
            return Err(if step.revision.is_some_and(|r| r != current.revision) {
                StoreError::Conflict
            } else {
                StoreError::Rejected("notice is in another state")
            });
        }
        let after = fetch_notice(&mut tx, id).await?;
        let mut entry = actor.entry(step.action, "notice", id);
        if let Some(reason) = step.reason {
            entry = entry.after(serde_json::json!({ "reason": reason }));
        }
        Self::audit(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn notice(&self, id: NoticeId) -> StoreResult<Notice> {
        let row: NoticeRow = sqlx::query_as(&format!("{} WHERE n.id = $1", *NOTICE))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn list_notices(&self, filter: &NoticeFilter) -> StoreResult<Vec<Notice>> {
        let mut query = QueryBuilder::<Postgres>::new(format!("{} WHERE 1 = 1", *NOTICE));
        push_notice_filter(&mut query, filter);
        let rows: Vec<NoticeRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn notices_marker(&self) -> StoreResult<String> {
        // Every change adds a notice or raises a revision; the latest time
        // is only a tiebreak (clocks of nodes may differ).
        let (count, revisions, latest): (i64, i64, String) = sqlx::query_as(
            "SELECT COUNT(*), COALESCE(SUM(revision), 0)::BIGINT, COALESCE(MAX(updated_at), '') FROM notices",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(format!("{count} {revisions} {latest}"))
    }

    async fn current_notices(
        &self,
        community: CommunityId,
        now: DateTime<Utc>,
    ) -> StoreResult<Vec<Notice>> {
        let rows: Vec<NoticeRow> = sqlx::query_as(&format!(
            "{notice} WHERE n.community_id = $1 AND n.state = 'published'
                AND (n.ends_at IS NULL OR n.ends_at > $2)",
            notice = *NOTICE
        ))
        .bind(community.0)
        .bind(ts(now))
        .fetch_all(self.pool())
        .await?;
        let failed: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM signage_media
             WHERE community_id = $1 AND kind = 'video' AND state = 'failed'",
        )
        .bind(community.0)
        .fetch_all(self.pool())
        .await?;
        let mut notices = rows
            .into_iter()
            .map(Notice::try_from)
            .collect::<StoreResult<Vec<_>>>()?;
        for notice in &mut notices {
            notice.video = notice.video.filter(|v| !failed.contains(&v.0));
        }
        Ok(notices)
    }

    async fn create_pairing(
        &self,
        code: &str,
        secret_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let now = Utc::now();
        let mut tx = self.write_tx().await?;
        // Expired, unclaimed codes free their code for reuse. A claim in
        // flight holds its pairing's row lock and sets `screen_id`, so the
        // delete, re-checking after the wait, leaves it alone.
        sqlx::query("DELETE FROM screen_pairings WHERE expires_at <= $1 AND screen_id IS NULL")
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        // A code in use (here or on another node) is a unique violation:
        // `Conflict`, and the caller draws another.
        sqlx::query(
            "INSERT INTO screen_pairings (secret_hash, code, created_at, expires_at)
             VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_hash)
        .bind(code)
        .bind(ts(now))
        .bind(ts(expires_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn take_pairing(
        &self,
        secret_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<PairingStatus> {
        let mut tx = self.write_tx().await?;
        // The update locks the pairing; the token is cleared before the
        // commit, so a second poll (on any node) waits, then finds none.
        let token: Option<Option<String>> = sqlx::query_scalar(
            "UPDATE screen_pairings SET delivered_at = $1
             WHERE secret_hash = $2 AND token IS NOT NULL RETURNING token",
        )
        .bind(ts(now))
        .bind(secret_hash)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(Some(token)) = token {
            sqlx::query("UPDATE screen_pairings SET token = NULL WHERE secret_hash = $1")
                .bind(secret_hash)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(PairingStatus::Paired { token });
        }
        let waiting: Option<String> = sqlx::query_scalar(
            "SELECT code FROM screen_pairings
             WHERE secret_hash = $1 AND screen_id IS NULL AND expires_at > $2",
        )
        .bind(secret_hash)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match waiting {
            Some(code) => PairingStatus::Waiting { code },
            None => PairingStatus::Gone,
        })
    }

    async fn claim_pairing(
        &self,
        actor: &Actor,
        code: &str,
        setup: &ScreenSetup,
        token: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Screen> {
        let mut tx = self.write_tx().await?;
        // Locks the pairing: a second claim of the code waits, then (the
        // condition re-checked on the claimed row) finds nothing.
        let secret: Option<String> = sqlx::query_scalar(
            "SELECT secret_hash FROM screen_pairings
             WHERE code = $1 AND screen_id IS NULL AND expires_at > $2 FOR UPDATE",
        )
        .bind(code)
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(secret) = secret else {
            return Err(StoreError::NotFound);
        };
        check_group(&mut tx, setup).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO screens (name, building_id, group_id, orientation, token_hash, paired_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(&setup.name)
        .bind(setup.building_id.0)
        .bind(setup.group_id.map(|g| g.0))
        .bind(setup.orientation.as_str())
        .bind(crate::accounts::tokens::fingerprint(token))
        .bind(ts(now))
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("UPDATE screen_pairings SET screen_id = $1, token = $2 WHERE secret_hash = $3")
            .bind(id)
            .bind(token)
            .bind(&secret)
            .execute(&mut *tx)
            .await?;
        let screen = fetch_screen(&mut tx, ScreenId(id)).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("screen.pair", "screen", screen.id)
                .after(&screen),
        )
        .await?;
        tx.commit().await?;
        Ok(screen)
    }

    async fn screen_by_token(&self, token_hash: &str) -> StoreResult<Option<Screen>> {
        let row: Option<ScreenRow> = sqlx::query_as(&format!(
            "{SCREEN} WHERE s.token_hash = $1 AND s.revoked_at IS NULL"
        ))
        .bind(token_hash)
        .fetch_optional(self.pool())
        .await?;
        row.map(TryInto::try_into).transpose()
    }

    async fn screen(&self, id: ScreenId) -> StoreResult<Screen> {
        let row: ScreenRow = sqlx::query_as(&format!("{SCREEN} WHERE s.id = $1"))
            .bind(id.0)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    async fn list_screens(&self, community: Option<CommunityId>) -> StoreResult<Vec<Screen>> {
        let mut query = QueryBuilder::<Postgres>::new(SCREEN);
        if let Some(community) = community {
            query
                .push(" WHERE e.community_id = ")
                .push_bind(community.0);
        }
        // Names sort by code point, as on SQLite, whatever the database's collation.
        query.push(" ORDER BY s.revoked_at IS NOT NULL, s.name COLLATE \"C\", s.id");
        let rows: Vec<ScreenRow> = query.build_query_as().fetch_all(self.pool()).await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn update_screen(
        &self,
        actor: &Actor,
        id: ScreenId,
        setup: &ScreenSetup,
    ) -> StoreResult<Screen> {
        let mut tx = self.write_tx().await?;
        // Lock the screen so that `before` is what this change replaces.
        sqlx::query("SELECT id FROM screens WHERE id = $1 FOR UPDATE")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        let before = fetch_screen(&mut tx, id).await?;
        check_group(&mut tx, setup).await?;
        sqlx::query(
            "UPDATE screens SET name = $1, building_id = $2, group_id = $3, orientation = $4
             WHERE id = $5",
        )
        .bind(&setup.name)
        .bind(setup.building_id.0)
        .bind(setup.group_id.map(|g| g.0))
        .bind(setup.orientation.as_str())
        .bind(id.0)
        .execute(&mut *tx)
        .await?;
        let after = fetch_screen(&mut tx, id).await?;
        if after.place.community_id != before.place.community_id {
            return Err(StoreError::Rejected("building of another community"));
        }
        Self::audit(
            &mut tx,
            actor
                .entry("screen.update", "screen", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn revoke_screen(&self, actor: &Actor, id: ScreenId) -> StoreResult<Screen> {
        let mut tx = self.write_tx().await?;
        sqlx::query("UPDATE screens SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
            .bind(ts(Utc::now()))
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let after = fetch_screen(&mut tx, id).await?;
        Self::audit(&mut tx, actor.entry("screen.revoke", "screen", id)).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn record_heartbeat(
        &self,
        id: ScreenId,
        heartbeat: &Heartbeat,
        at: DateTime<Utc>,
    ) -> StoreResult<()> {
        // One statement: the screen keeps its latest report.
        sqlx::query(
            "UPDATE screens SET last_seen_at = $1, current_notice = $2, client_version = $3,
                uptime_seconds = $4, last_error = $5
             WHERE id = $6",
        )
        .bind(ts(at))
        .bind(heartbeat.current_notice.map(|n| n.0))
        .bind(&heartbeat.client_version)
        .bind(i64::try_from(heartbeat.uptime_seconds).unwrap_or(i64::MAX))
        .bind(&heartbeat.last_error)
        .bind(id.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn record_plays(
        &self,
        id: ScreenId,
        plays: &[Play],
        min_gap: chrono::Duration,
    ) -> StoreResult<RecordedPlays> {
        let mut tx = self.write_tx().await?;
        // One report per screen at a time, even when a screen that moved to
        // another node sends the same report again there: the gap check
        // below then sees the other report's plays.
        sqlx::query("SELECT id FROM screens WHERE id = $1 FOR NO KEY UPDATE")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await?;
        let mut recorded = RecordedPlays::default();
        for play in plays {
            // A play of a notice that no longer exists (or never did) is
            // dropped rather than failing the whole batch; so is one that
            // starts within `min_gap` of another play of the screen (this
            // very play, sent again, excepted: it is kept once).
            let inserted = sqlx::query(
                "INSERT INTO notice_plays (screen_id, notice_id, started_at, ended_at)
                 SELECT $1, id, $2, $3 FROM notices WHERE id = $4
                 AND NOT EXISTS (SELECT 1 FROM notice_plays
                     WHERE screen_id = $1 AND started_at > $5 AND started_at < $6
                     AND NOT (notice_id = $4 AND started_at = $2))
                 ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(ts(play.started_at))
            .bind(ts(play.ended_at))
            .bind(play.notice_id.0)
            .bind(ts(play.started_at - min_gap))
            .bind(ts(play.started_at + min_gap))
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() > 0 {
                recorded.added += 1;
                continue;
            }
            let stored_already: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM notice_plays
                     WHERE screen_id = $1 AND notice_id = $2 AND started_at = $3)",
            )
            .bind(id.0)
            .bind(play.notice_id.0)
            .bind(ts(play.started_at))
            .fetch_one(&mut *tx)
            .await?;
            if !stored_already {
                recorded.refused += 1;
            }
        }
        tx.commit().await?;
        Ok(recorded)
    }

    async fn plays(&self, filter: &PlayFilter) -> StoreResult<Vec<PlayRow>> {
        let mut query = QueryBuilder::<Postgres>::new(PLAY_EXPORT);
        push_play_filter(&mut query, filter);
        let rows: Vec<PlayExportRow> = query.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows.into_iter().map(PlayRow::from).collect())
    }

    async fn list_screen_groups(&self, community: CommunityId) -> StoreResult<Vec<ScreenGroup>> {
        let rows: Vec<ScreenGroupRow> = sqlx::query_as(&format!(
            "{SCREEN_GROUP} WHERE community_id = $1 ORDER BY name COLLATE \"C\""
        ))
        .bind(community.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(ScreenGroup::from).collect())
    }

    async fn create_screen_group(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<ScreenGroup> {
        let mut tx = self.write_tx().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO screen_groups (community_id, name) VALUES ($1, $2) RETURNING id",
        )
        .bind(community.0)
        .bind(name.as_str())
        .fetch_one(&mut *tx)
        .await?;
        let group = ScreenGroup {
            id: ScreenGroupId(id),
            community_id: community,
            name: name.as_str().to_string(),
        };
        Self::audit(
            &mut tx,
            actor
                .entry("screen_group.create", "screen_group", group.id)
                .after(&group),
        )
        .await?;
        tx.commit().await?;
        Ok(group)
    }
}
