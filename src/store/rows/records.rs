//! Records and their events as both backends read them.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::Ts;
use crate::domain::geo::LatLon;
use crate::domain::record::{Record, RecordClass, RecordEvent, RecordSource, RecordState};
use crate::domain::*;
use crate::feedback::sla::StateChange;
use crate::store::{StoreError, StoreResult};

#[derive(FromRow)]
pub(crate) struct RecordRow {
    id: i64,
    number: String,
    community_id: i64,
    estate_id: i64,
    building_id: Option<i64>,
    category: String,
    class: String,
    title: String,
    title_public: bool,
    description: String,
    location: String,
    source: String,
    reporter_id: Option<i64>,
    created_at: Ts,
    state: String,
    version: i64,
    assignee: Option<String>,
    lat_e6: Option<i64>,
    lon_e6: Option<i64>,
}

/// A record's columns, from `records r JOIN record_heads h`.
pub(crate) const RECORD_COLUMNS: &str = "r.id, r.number, r.community_id, r.estate_id, r.building_id, r.category, r.class,
    r.title, r.title_public, r.description, r.location, r.source, r.reporter_id, r.created_at, h.state, h.version, h.assignee,
    r.lat_e6, r.lon_e6";

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what} {value:?}"))
}

pub(crate) fn state(value: &str) -> StoreResult<RecordState> {
    RecordState::parse(value).ok_or_else(|| corrupt("state", value))
}

/// A stored 1–5 rating (BIGINT on PostgreSQL, INTEGER on SQLite).
pub(crate) fn rating(value: i64) -> StoreResult<u8> {
    u8::try_from(value).map_err(|_| corrupt("rating", &value.to_string()))
}

impl TryFrom<RecordRow> for Record {
    type Error = StoreError;

    fn try_from(r: RecordRow) -> Result<Self, StoreError> {
        Ok(Record {
            id: RecordId(r.id),
            class: RecordClass::parse(&r.class).ok_or_else(|| corrupt("class", &r.class))?,
            source: RecordSource::parse(&r.source).ok_or_else(|| corrupt("source", &r.source))?,
            state: state(&r.state)?,
            number: r.number,
            community_id: CommunityId(r.community_id),
            estate_id: EstateId(r.estate_id),
            building_id: r.building_id.map(BuildingId),
            category: r.category,
            title: r.title,
            title_public: r.title_public,
            description: r.description,
            location: r.location,
            reporter_id: r.reporter_id.map(AccountId),
            created_at: r.created_at.0,
            version: r.version,
            assignee: r.assignee,
            point: match (r.lat_e6, r.lon_e6) {
                (Some(lat), Some(lon)) => Some(
                    LatLon::from_e6(lat, lon)
                        .ok_or_else(|| corrupt("point", &format!("{lat},{lon}")))?,
                ),
                _ => None,
            },
        })
    }
}

#[derive(FromRow)]
pub(crate) struct EventRow {
    seq: i64,
    at: Ts,
    actor_id: Option<i64>,
    actor_name: String,
    action: String,
    from_state: Option<String>,
    to_state: Option<String>,
    note: String,
    public: bool,
    published: bool,
    rating: Option<i64>,
    assignee: Option<String>,
}

/// An event's columns from `record_events e`, after its `seq` and `at`: the
/// actor's name as shown (see `accounts::shown_actor_name`) and the rest.
pub(crate) fn event_columns() -> String {
    format!(
        "e.seq, e.at, e.actor_id, {}, e.action, e.from_state, e.to_state, e.note, e.public, e.published,
         e.rating, e.assignee",
        super::accounts::shown_actor_name("e")
    )
}

impl TryFrom<EventRow> for RecordEvent {
    type Error = StoreError;

    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(RecordEvent {
            seq: r.seq,
            at: r.at.0,
            actor_id: r.actor_id.map(AccountId),
            actor_name: r.actor_name,
            action: r.action,
            from_state: r.from_state.as_deref().map(state).transpose()?,
            to_state: r.to_state.as_deref().map(state).transpose()?,
            note: r.note,
            public: r.public,
            published: r.published,
            rating: r.rating.map(rating).transpose()?,
            assignee: r.assignee.filter(|a| !a.is_empty()),
        })
    }
}

#[derive(FromRow)]
pub(crate) struct EventWithRecord {
    pub record_id: i64,
    #[sqlx(flatten)]
    pub event: EventRow,
}

/// Reads one record's state changes packed as `seq|at|state` items,
/// comma-separated, in any order; returns them in seq order.
pub(crate) fn unpack_state_changes(packed: &str) -> StoreResult<Vec<StateChange>> {
    let mut list: Vec<(i64, StateChange)> = Vec::new();
    for item in packed.split(',') {
        let mut parts = item.splitn(3, '|');
        let (Some(seq), Some(at), Some(to)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(corrupt("event", item));
        };
        let seq: i64 = seq.parse().map_err(|_| corrupt("seq", seq))?;
        let at = parse_time(at)?;
        list.push((seq, StateChange { at, to: state(to)? }));
    }
    list.sort_by_key(|(seq, _)| *seq);
    Ok(list.into_iter().map(|(_, c)| c).collect())
}

pub(crate) fn parse_time(at: &str) -> StoreResult<DateTime<Utc>> {
    super::parse_ts(at).ok_or_else(|| corrupt("time", at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_state_changes_come_back_in_seq_order() {
        let packed =
            "3|2026-10-01T10:40:00.000000Z|resolved,1|2026-10-01T10:00:00.000000Z|submitted";
        let states: Vec<_> = unpack_state_changes(packed)
            .unwrap()
            .into_iter()
            .map(|c| c.to)
            .collect();
        assert_eq!(states, [RecordState::Submitted, RecordState::Resolved]);
        assert!(unpack_state_changes("1|x|submitted").is_err());
        assert!(unpack_state_changes("1|2026-10-01T10:00:00.000000Z|nonsense").is_err());
    }
}
