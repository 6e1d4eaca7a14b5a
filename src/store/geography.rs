//! Where estates and buildings are (see `crate::domain::geo`), and the CAP
//! alert feeds a community follows with what became of each alert.
//!
//! Both backends run the same SQL (written with `$n` placeholders; SQLite
//! reads them as `?n`), so the two cannot drift apart.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreResult;
use crate::domain::geo::{EstateGeography, LatLon, Outline};
use crate::domain::{AccountId, Actor, BuildingId, CommunityId, EstateId, NoticeId};

#[async_trait]
pub trait GeographyStore: Send + Sync + 'static {
    async fn estate_geography(&self, estate: EstateId) -> StoreResult<Option<EstateGeography>>;
    /// Sets (or with `None` clears) an estate's place; audited.
    async fn set_estate_geography(
        &self,
        actor: &Actor,
        estate: EstateId,
        place: Option<&EstateGeography>,
    ) -> StoreResult<()>;
    /// Every estate that has a place, with its community, in estate id order.
    async fn estate_geographies(
        &self,
    ) -> StoreResult<Vec<(EstateId, CommunityId, EstateGeography)>>;
    async fn building_locations(&self, estate: EstateId) -> StoreResult<Vec<(BuildingId, LatLon)>>;
    /// Sets (or with `None` clears) a building's location; audited.
    async fn set_building_location(
        &self,
        actor: &Actor,
        building: BuildingId,
        location: Option<LatLon>,
    ) -> StoreResult<()>;
}

/// A CAP feed a community follows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CapFeed {
    pub id: i64,
    pub community_id: CommunityId,
    pub name: String,
    pub url: String,
    pub created_by: AccountId,
    pub created_at: DateTime<Utc>,
    pub next_poll_at: DateTime<Utc>,
    pub last_polled_at: Option<DateTime<Utc>>,
    pub last_outcome: Option<String>,
}

/// An alert as first received, before anything is done with it.
#[derive(Debug, Clone)]
pub struct NewCapAlert<'a> {
    pub feed_id: i64,
    pub sender: &'a str,
    pub identifier: &'a str,
    pub sent: DateTime<Utc>,
    pub msg_type: &'a str,
    pub headline: &'a str,
    pub outcome: &'a str,
    pub received_at: DateTime<Utc>,
}

/// An alert as staff see it: where it came from and what became of it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CapAlertRecord {
    pub id: i64,
    pub feed_id: i64,
    pub feed_name: String,
    pub sender: String,
    pub identifier: String,
    pub sent: String,
    pub msg_type: String,
    pub headline: String,
    pub outcome: String,
    pub notice_id: Option<NoticeId>,
    pub received_at: String,
}

/// Where a CAP-made notice came from, and the line the community added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapNotice {
    pub notice_id: NoticeId,
    pub feed_id: i64,
    pub local_line: Option<String>,
}

#[async_trait]
pub trait CapStore: Send + Sync + 'static {
    /// `StoreError::Conflict` when the community already follows `url`.
    async fn create_cap_feed(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &str,
        url: &str,
        by: AccountId,
        at: DateTime<Utc>,
    ) -> StoreResult<CapFeed>;
    /// Stops following a feed (its alerts' history stays); audited.
    async fn remove_cap_feed(&self, actor: &Actor, id: i64, at: DateTime<Utc>) -> StoreResult<()>;
    async fn cap_feed(&self, id: i64) -> StoreResult<CapFeed>;
    /// Followed feeds, of one community or of all.
    async fn cap_feeds(&self, community: Option<CommunityId>) -> StoreResult<Vec<CapFeed>>;
    /// Claims the feed's poll due at `now`: moves its next poll to `next`
    /// if it was due. Of several nodes asking, exactly one gets `true`.
    async fn claim_cap_poll(
        &self,
        feed: i64,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> StoreResult<bool>;
    /// Makes the feed's next poll due at `at` (a "poll now").
    async fn schedule_cap_poll(&self, feed: i64, at: DateTime<Utc>) -> StoreResult<()>;
    async fn note_cap_poll(&self, feed: i64, at: DateTime<Utc>, outcome: &str) -> StoreResult<()>;
    /// Records an alert once per (feed, sender, identifier): its id, or
    /// `None` when it was recorded before (by this node or another).
    async fn record_cap_alert(&self, alert: &NewCapAlert<'_>) -> StoreResult<Option<i64>>;
    async fn set_cap_alert_outcome(
        &self,
        id: i64,
        outcome: &str,
        notice: Option<NoticeId>,
    ) -> StoreResult<()>;
    /// The notice made from the alert `(sender, identifier)` of the feed, if any.
    async fn cap_alert_notice(
        &self,
        feed: i64,
        sender: &str,
        identifier: &str,
    ) -> StoreResult<Option<NoticeId>>;
    /// The community's alerts, newest first.
    async fn cap_alerts(
        &self,
        community: CommunityId,
        limit: i64,
    ) -> StoreResult<Vec<CapAlertRecord>>;
    async fn link_cap_notice(&self, notice: NoticeId, feed: i64) -> StoreResult<()>;
    async fn cap_notice(&self, notice: NoticeId) -> StoreResult<Option<CapNotice>>;
    /// Sets (or with `None` clears) the community's own line; audited.
    async fn set_cap_local_line(
        &self,
        actor: &Actor,
        notice: NoticeId,
        line: Option<&str>,
    ) -> StoreResult<()>;
}

pub(super) mod sql {
    pub const ESTATE_GEOGRAPHY: &str =
        "SELECT lat_e6, lon_e6, outline, geocode FROM estate_geography WHERE estate_id = $1";
    pub const UPSERT_ESTATE_GEOGRAPHY: &str =
        "INSERT INTO estate_geography (estate_id, lat_e6, lon_e6, outline, geocode, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (estate_id) DO UPDATE SET lat_e6 = excluded.lat_e6, lon_e6 = excluded.lon_e6,
            outline = excluded.outline, geocode = excluded.geocode, updated_at = excluded.updated_at";
    pub const DELETE_ESTATE_GEOGRAPHY: &str = "DELETE FROM estate_geography WHERE estate_id = $1";
    pub const ESTATE_GEOGRAPHIES: &str =
        "SELECT g.estate_id, e.community_id, g.lat_e6, g.lon_e6, g.outline, g.geocode
           FROM estate_geography g JOIN estates e ON e.id = g.estate_id ORDER BY g.estate_id";
    pub const BUILDING_LOCATIONS: &str =
        "SELECT l.building_id, l.lat_e6, l.lon_e6 FROM building_locations l
           JOIN buildings b ON b.id = l.building_id WHERE b.estate_id = $1 ORDER BY l.building_id";
    pub const UPSERT_BUILDING_LOCATION: &str =
        "INSERT INTO building_locations (building_id, lat_e6, lon_e6, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (building_id) DO UPDATE SET lat_e6 = excluded.lat_e6, lon_e6 = excluded.lon_e6,
            updated_at = excluded.updated_at";
    pub const DELETE_BUILDING_LOCATION: &str =
        "DELETE FROM building_locations WHERE building_id = $1";

    pub const FEED_COLUMNS: &str = "id, community_id, name, url, created_by, created_at, next_poll_at, last_polled_at, last_outcome";
    pub const INSERT_FEED: &str =
        "INSERT INTO cap_feeds (community_id, name, url, created_by, created_at, next_poll_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         RETURNING id, community_id, name, url, created_by, created_at, next_poll_at, last_polled_at, last_outcome";
    pub const REMOVE_FEED: &str =
        "UPDATE cap_feeds SET removed_at = $2, url = url || '#removed-' || id WHERE id = $1 AND removed_at IS NULL";
    pub const CLAIM_POLL: &str = "UPDATE cap_feeds SET next_poll_at = $3
          WHERE id = $1 AND removed_at IS NULL AND next_poll_at <= $2";
    pub const SCHEDULE_POLL: &str =
        "UPDATE cap_feeds SET next_poll_at = $2 WHERE id = $1 AND removed_at IS NULL";
    pub const NOTE_POLL: &str =
        "UPDATE cap_feeds SET last_polled_at = $2, last_outcome = $3 WHERE id = $1";
    pub const INSERT_ALERT: &str =
        "INSERT INTO cap_alerts (feed_id, sender, identifier, sent, msg_type, headline, outcome, received_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (feed_id, sender, identifier) DO NOTHING RETURNING id";
    pub const SET_ALERT_OUTCOME: &str =
        "UPDATE cap_alerts SET outcome = $2, notice_id = $3 WHERE id = $1";
    pub const ALERT_NOTICE: &str =
        "SELECT notice_id FROM cap_alerts WHERE feed_id = $1 AND sender = $2 AND identifier = $3";
    pub const ALERTS: &str =
        "SELECT a.id, a.feed_id, f.name, a.sender, a.identifier, a.sent, a.msg_type, a.headline,
                a.outcome, a.notice_id, a.received_at
           FROM cap_alerts a JOIN cap_feeds f ON f.id = a.feed_id
          WHERE f.community_id = $1 ORDER BY a.id DESC LIMIT $2";
    pub const LINK_NOTICE: &str =
        "INSERT INTO cap_notices (notice_id, feed_id) VALUES ($1, $2) ON CONFLICT (notice_id) DO NOTHING";
    pub const CAP_NOTICE: &str =
        "SELECT notice_id, feed_id, local_line FROM cap_notices WHERE notice_id = $1";
    pub const SET_LOCAL_LINE: &str = "UPDATE cap_notices SET local_line = $2 WHERE notice_id = $1";
}

/// Rows as both backends read them.
pub(super) type GeoRow = (i64, i64, Option<String>, Option<String>);
pub(super) type FeedRow = (
    i64,
    i64,
    String,
    String,
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
);
pub(super) type AlertRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<i64>,
    String,
);

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

pub(super) fn geography((lat, lon, outline, geocode): GeoRow) -> Option<EstateGeography> {
    let outline = match outline {
        Some(text) => Some(Outline::parse(&text).ok()?),
        None => None,
    };
    Some(EstateGeography {
        location: LatLon::from_e6(lat, lon)?,
        outline,
        geocode,
    })
}

pub(super) fn feed(r: FeedRow) -> CapFeed {
    CapFeed {
        id: r.0,
        community_id: CommunityId(r.1),
        name: r.2,
        url: r.3,
        created_by: AccountId(r.4),
        created_at: time(&r.5),
        next_poll_at: time(&r.6),
        last_polled_at: r.7.as_deref().map(time),
        last_outcome: r.8,
    }
}

pub(super) fn alert(r: AlertRow) -> CapAlertRecord {
    CapAlertRecord {
        id: r.0,
        feed_id: r.1,
        feed_name: r.2,
        sender: r.3,
        identifier: r.4,
        sent: r.5,
        msg_type: r.6,
        headline: r.7,
        outcome: r.8,
        notice_id: r.9.map(NoticeId),
        received_at: r.10,
    }
}

/// The audit trail's view of a place.
pub(super) fn audited(place: Option<&EstateGeography>) -> serde_json::Value {
    match place {
        None => serde_json::Value::Null,
        Some(g) => serde_json::json!({
            "location": g.location.to_string(),
            "outline_points": g.outline.as_ref().map(|o| o.points().len()),
            "geocode": g.geocode,
        }),
    }
}

/// The two traits for a backend `$store` whose SQL is `$q(sql::…)`.
macro_rules! geography_impl {
    ($store:ty, $q:path) => {
        #[async_trait::async_trait]
        impl $crate::store::geography::GeographyStore for $store {
            async fn estate_geography(
                &self,
                estate: $crate::domain::EstateId,
            ) -> $crate::store::StoreResult<Option<$crate::domain::geo::EstateGeography>> {
                use $crate::store::geography::{geography, sql, GeoRow};
                let row: Option<GeoRow> = sqlx::query_as(&$q(sql::ESTATE_GEOGRAPHY))
                    .bind(estate.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.and_then(geography))
            }

            async fn set_estate_geography(
                &self,
                actor: &$crate::domain::Actor,
                estate: $crate::domain::EstateId,
                place: Option<&$crate::domain::geo::EstateGeography>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::{audited, geography, sql, GeoRow};
                let mut tx = self.write_tx().await?;
                // The estate must exist (and is locked against a concurrent change).
                let _: (i64,) = sqlx::query_as(&$q("SELECT id FROM estates WHERE id = $1"))
                    .bind(estate.0)
                    .fetch_one(&mut *tx)
                    .await?;
                let before: Option<GeoRow> = sqlx::query_as(&$q(sql::ESTATE_GEOGRAPHY))
                    .bind(estate.0)
                    .fetch_optional(&mut *tx)
                    .await?;
                let before = before.and_then(geography);
                match place {
                    Some(g) => {
                        sqlx::query(&$q(sql::UPSERT_ESTATE_GEOGRAPHY))
                            .bind(estate.0)
                            .bind(g.location.lat_e6())
                            .bind(g.location.lon_e6())
                            .bind(g.outline.as_ref().map(|o| o.to_lines()))
                            .bind(g.geocode.clone())
                            .bind($crate::store::ts(chrono::Utc::now()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        sqlx::query(&$q(sql::DELETE_ESTATE_GEOGRAPHY))
                            .bind(estate.0)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Self::audit(
                    &mut tx,
                    actor
                        .entry("estate.geography", "estate", estate.0)
                        .before(audited(before.as_ref()))
                        .after(audited(place)),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn estate_geographies(
                &self,
            ) -> $crate::store::StoreResult<
                Vec<(
                    $crate::domain::EstateId,
                    $crate::domain::CommunityId,
                    $crate::domain::geo::EstateGeography,
                )>,
            > {
                use $crate::store::geography::{geography, sql};
                type Row = (i64, i64, i64, i64, Option<String>, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(&$q(sql::ESTATE_GEOGRAPHIES))
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(e, c, lat, lon, outline, geocode)| {
                        Some((
                            $crate::domain::EstateId(e),
                            $crate::domain::CommunityId(c),
                            geography((lat, lon, outline, geocode))?,
                        ))
                    })
                    .collect())
            }

            async fn building_locations(
                &self,
                estate: $crate::domain::EstateId,
            ) -> $crate::store::StoreResult<
                Vec<($crate::domain::BuildingId, $crate::domain::geo::LatLon)>,
            > {
                use $crate::store::geography::sql;
                let rows: Vec<(i64, i64, i64)> = sqlx::query_as(&$q(sql::BUILDING_LOCATIONS))
                    .bind(estate.0)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows
                    .into_iter()
                    .filter_map(|(b, lat, lon)| {
                        Some((
                            $crate::domain::BuildingId(b),
                            $crate::domain::geo::LatLon::from_e6(lat, lon)?,
                        ))
                    })
                    .collect())
            }

            async fn set_building_location(
                &self,
                actor: &$crate::domain::Actor,
                building: $crate::domain::BuildingId,
                location: Option<$crate::domain::geo::LatLon>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                let mut tx = self.write_tx().await?;
                let _: (i64,) = sqlx::query_as(&$q("SELECT id FROM buildings WHERE id = $1"))
                    .bind(building.0)
                    .fetch_one(&mut *tx)
                    .await?;
                match location {
                    Some(p) => {
                        sqlx::query(&$q(sql::UPSERT_BUILDING_LOCATION))
                            .bind(building.0)
                            .bind(p.lat_e6())
                            .bind(p.lon_e6())
                            .bind($crate::store::ts(chrono::Utc::now()))
                            .execute(&mut *tx)
                            .await?;
                    }
                    None => {
                        sqlx::query(&$q(sql::DELETE_BUILDING_LOCATION))
                            .bind(building.0)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                Self::audit(
                    &mut tx,
                    actor
                        .entry("building.location", "building", building.0)
                        .after(location.map(|p| p.to_string())),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::geography::CapStore for $store {
            async fn create_cap_feed(
                &self,
                actor: &$crate::domain::Actor,
                community: $crate::domain::CommunityId,
                name: &str,
                url: &str,
                by: $crate::domain::AccountId,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<$crate::store::geography::CapFeed> {
                use $crate::store::geography::{feed, sql, FeedRow};
                let mut tx = self.write_tx().await?;
                let row: FeedRow = sqlx::query_as(&$q(sql::INSERT_FEED))
                    .bind(community.0)
                    .bind(name)
                    .bind(url)
                    .bind(by.0)
                    .bind($crate::store::ts(at))
                    .fetch_one(&mut *tx)
                    .await
                    .map_err($crate::store::error::missing_parent)?;
                let created = feed(row);
                Self::audit(
                    &mut tx,
                    actor
                        .entry("cap_feed.create", "cap_feed", created.id)
                        .after(&created),
                )
                .await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn remove_cap_feed(
                &self,
                actor: &$crate::domain::Actor,
                id: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(&$q(sql::REMOVE_FEED))
                    .bind(id)
                    .bind($crate::store::ts(at))
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Self::audit(&mut tx, actor.entry("cap_feed.remove", "cap_feed", id)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn cap_feed(
                &self,
                id: i64,
            ) -> $crate::store::StoreResult<$crate::store::geography::CapFeed> {
                use $crate::store::geography::{feed, sql, FeedRow};
                let row: FeedRow = sqlx::query_as(&$q(&format!(
                    "SELECT {} FROM cap_feeds WHERE id = $1 AND removed_at IS NULL",
                    sql::FEED_COLUMNS
                )))
                .bind(id)
                .fetch_one(self.pool())
                .await?;
                Ok(feed(row))
            }

            async fn cap_feeds(
                &self,
                community: Option<$crate::domain::CommunityId>,
            ) -> $crate::store::StoreResult<Vec<$crate::store::geography::CapFeed>> {
                use $crate::store::geography::{feed, sql, FeedRow};
                let rows: Vec<FeedRow> = sqlx::query_as(&$q(&format!(
                    "SELECT {} FROM cap_feeds WHERE removed_at IS NULL
                        AND (CAST($1 AS BIGINT) IS NULL OR community_id = $1) ORDER BY id",
                    sql::FEED_COLUMNS
                )))
                .bind(community.map(|c| c.0))
                .fetch_all(self.pool())
                .await?;
                Ok(rows.into_iter().map(feed).collect())
            }

            async fn claim_cap_poll(
                &self,
                feed: i64,
                now: chrono::DateTime<chrono::Utc>,
                next: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<bool> {
                use $crate::store::geography::sql;
                let done = sqlx::query(&$q(sql::CLAIM_POLL))
                    .bind(feed)
                    .bind($crate::store::ts(now))
                    .bind($crate::store::ts(next))
                    .execute(self.pool())
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn schedule_cap_poll(
                &self,
                feed: i64,
                at: chrono::DateTime<chrono::Utc>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                sqlx::query(&$q(sql::SCHEDULE_POLL))
                    .bind(feed)
                    .bind($crate::store::ts(at))
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn note_cap_poll(
                &self,
                feed: i64,
                at: chrono::DateTime<chrono::Utc>,
                outcome: &str,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                sqlx::query(&$q(sql::NOTE_POLL))
                    .bind(feed)
                    .bind($crate::store::ts(at))
                    .bind(outcome)
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn record_cap_alert(
                &self,
                alert: &$crate::store::geography::NewCapAlert<'_>,
            ) -> $crate::store::StoreResult<Option<i64>> {
                use $crate::store::geography::sql;
                let id: Option<(i64,)> = sqlx::query_as(&$q(sql::INSERT_ALERT))
                    .bind(alert.feed_id)
                    .bind(alert.sender)
                    .bind(alert.identifier)
                    .bind($crate::store::ts(alert.sent))
                    .bind(alert.msg_type)
                    .bind(alert.headline)
                    .bind(alert.outcome)
                    .bind($crate::store::ts(alert.received_at))
                    .fetch_optional(self.pool())
                    .await
                    .map_err($crate::store::error::missing_parent)?;
                Ok(id.map(|(id,)| id))
            }

            async fn set_cap_alert_outcome(
                &self,
                id: i64,
                outcome: &str,
                notice: Option<$crate::domain::NoticeId>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                sqlx::query(&$q(sql::SET_ALERT_OUTCOME))
                    .bind(id)
                    .bind(outcome)
                    .bind(notice.map(|n| n.0))
                    .execute(self.pool())
                    .await?;
                Ok(())
            }

            async fn cap_alert_notice(
                &self,
                feed: i64,
                sender: &str,
                identifier: &str,
            ) -> $crate::store::StoreResult<Option<$crate::domain::NoticeId>> {
                use $crate::store::geography::sql;
                let row: Option<(Option<i64>,)> = sqlx::query_as(&$q(sql::ALERT_NOTICE))
                    .bind(feed)
                    .bind(sender)
                    .bind(identifier)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.and_then(|(n,)| n).map($crate::domain::NoticeId))
            }

            async fn cap_alerts(
                &self,
                community: $crate::domain::CommunityId,
                limit: i64,
            ) -> $crate::store::StoreResult<Vec<$crate::store::geography::CapAlertRecord>> {
                use $crate::store::geography::{alert, sql, AlertRow};
                let rows: Vec<AlertRow> = sqlx::query_as(&$q(sql::ALERTS))
                    .bind(community.0)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?;
                Ok(rows.into_iter().map(alert).collect())
            }

            async fn link_cap_notice(
                &self,
                notice: $crate::domain::NoticeId,
                feed: i64,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                sqlx::query(&$q(sql::LINK_NOTICE))
                    .bind(notice.0)
                    .bind(feed)
                    .execute(self.pool())
                    .await
                    .map_err($crate::store::error::missing_parent)?;
                Ok(())
            }

            async fn cap_notice(
                &self,
                notice: $crate::domain::NoticeId,
            ) -> $crate::store::StoreResult<Option<$crate::store::geography::CapNotice>> {
                use $crate::store::geography::sql;
                let row: Option<(i64, i64, Option<String>)> = sqlx::query_as(&$q(sql::CAP_NOTICE))
                    .bind(notice.0)
                    .fetch_optional(self.pool())
                    .await?;
                Ok(row.map(
                    |(n, feed_id, local_line)| $crate::store::geography::CapNotice {
                        notice_id: $crate::domain::NoticeId(n),
                        feed_id,
                        local_line,
                    },
                ))
            }

            async fn set_cap_local_line(
                &self,
                actor: &$crate::domain::Actor,
                notice: $crate::domain::NoticeId,
                line: Option<&str>,
            ) -> $crate::store::StoreResult<()> {
                use $crate::store::geography::sql;
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(&$q(sql::SET_LOCAL_LINE))
                    .bind(notice.0)
                    .bind(line)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() == 0 {
                    return Err($crate::store::StoreError::NotFound);
                }
                Self::audit(
                    &mut tx,
                    actor
                        .entry("notice.cap_local_line", "notice", notice.0)
                        .after(line),
                )
                .await?;
                tx.commit().await?;
                Ok(())
            }
        }
    };
}
pub(crate) use geography_impl;
