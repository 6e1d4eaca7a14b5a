//! The disclosure's facts as both backends read them: one row per record
//! with its state changes and ratings packed in as text.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::records::corrupt;
use super::Ts;
use crate::domain::record::{RecordClass, RecordState};
use crate::domain::{CommunityId, RecordId};
use crate::feedback::sla::StateChange;
use crate::store::{RecordFacts, StoreResult};

/// One record of an estate-month; `packed` holds `seq|at|state|rating`
/// items (state and rating possibly empty), comma-separated, in any order.
#[derive(FromRow)]
pub(crate) struct FactsRow {
    record_id: i64,
    community_id: i64,
    class: String,
    category: String,
    filed_at: Ts,
    packed: Option<String>,
}

impl TryFrom<FactsRow> for RecordFacts {
    type Error = crate::store::StoreError;

    fn try_from(r: FactsRow) -> StoreResult<Self> {
        let (changes, rating) = unpack(r.packed.as_deref().unwrap_or(""))?;
        Ok(RecordFacts {
            id: RecordId(r.record_id),
            community_id: CommunityId(r.community_id),
            class: RecordClass::parse(&r.class).ok_or_else(|| corrupt("class", &r.class))?,
            category: r.category,
            created_at: r.filed_at.0,
            changes,
            rating,
        })
    }
}

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
