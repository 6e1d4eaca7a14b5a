//! 阳光公示: the public figures for an estate and month, computed from the
//! records' events — never typed in.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::domain::record::{Record, RecordClass, RecordState};
use crate::feedback::sla::{evaluate, SlaClock, SlaPhase, SlaPolicy, StateChange};

/// One record with what the figures need from its history.
pub struct History<'a> {
    pub record: &'a Record,
    pub changes: &'a [StateChange],
    pub rating: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassFigures {
    pub class: RecordClass,
    pub received: usize,
    /// Reached the class's target state within its time limit.
    pub on_time: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Disclosure {
    pub received: usize,
    /// Reached `resolved` (and possibly `closed` after it).
    pub solved: usize,
    pub by_class: Vec<ClassFigures>,
    pub median_to_on_site: Option<Duration>,
    pub median_to_resolution: Option<Duration>,
    /// Average of the residents' 1–5 ratings, and how many rated.
    pub satisfaction: Option<f64>,
    pub ratings: usize,
    /// Most frequent categories first (at most five), with their counts.
    pub top_categories: Vec<(String, usize)>,
}

fn median(mut values: Vec<Duration>) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort();
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2
    })
}

fn first_entry(changes: &[StateChange], state: RecordState) -> Option<DateTime<Utc>> {
    changes.iter().find(|c| c.to == state).map(|c| c.at)
}

/// The figures for the records filed in one estate-month, as of `now`.
pub fn disclose(
    histories: &[History<'_>],
    policy: &SlaPolicy,
    clock: &SlaClock,
    now: DateTime<Utc>,
) -> Disclosure {
    let mut by_class: Vec<ClassFigures> = RecordClass::ALL
        .into_iter()
        .map(|class| ClassFigures {
            class,
            received: 0,
            on_time: 0,
        })
        .collect();
    let mut to_on_site = Vec::new();
    let mut to_resolution = Vec::new();
    let mut categories: HashMap<&str, usize> = HashMap::new();
    let mut solved = 0;
    for h in histories {
        let figures = by_class
            .iter_mut()
            .find(|f| f.class == h.record.class)
            .expect("every class listed");
        figures.received += 1;
        let sla = evaluate(h.record.class, policy, clock, h.changes, now);
        if matches!(sla.phase, SlaPhase::Met { .. }) && !sla.breached {
            figures.on_time += 1;
        }
        if let Some(at) = first_entry(h.changes, RecordState::OnSite) {
            to_on_site.push(at - h.record.created_at);
        }
        if let Some(at) = first_entry(h.changes, RecordState::Resolved) {
            to_resolution.push(at - h.record.created_at);
            solved += 1;
        }
        *categories.entry(h.record.category.as_str()).or_default() += 1;
    }
    let ratings: Vec<u8> = histories.iter().filter_map(|h| h.rating).collect();
    let mut top: Vec<(String, usize)> = categories
        .into_iter()
        .map(|(c, n)| (c.to_owned(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(5);
    Disclosure {
        received: histories.len(),
        solved,
        by_class,
        median_to_on_site: median(to_on_site),
        median_to_resolution: median(to_resolution),
        satisfaction: (!ratings.is_empty())
            .then(|| ratings.iter().map(|r| f64::from(*r)).sum::<f64>() / ratings.len() as f64),
        ratings: ratings.len(),
        top_categories: top,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::record::RecordSource;
    use crate::domain::{CommunityId, EstateId, RecordId};
    use chrono::TimeZone;
    use RecordState as S;

    fn t(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap()
    }

    fn record(id: i64, class: RecordClass, category: &str, created: DateTime<Utc>) -> Record {
        Record {
            id: RecordId(id),
            number: format!("XF-2026-{id:06}"),
            community_id: CommunityId(1),
            estate_id: EstateId(1),
            building_id: None,
            category: category.into(),
            class,
            title: "t".into(),
            description: "d".into(),
            location: String::new(),
            source: RecordSource::Web,
            reporter_id: None,
            created_at: created,
            state: S::Submitted,
            version: 1,
            assignee: None,
        }
    }

    fn changes(steps: &[(DateTime<Utc>, S)]) -> Vec<StateChange> {
        steps
            .iter()
            .map(|&(at, to)| StateChange { at, to })
            .collect()
    }

    /// Four records worked out by hand:
    /// 1. urgent elevator, on site after 4 min, resolved after 60 min, rated 5 → urgent on time
    /// 2. urgent elevator, on site after 12 min, resolved after 40 min, rated 3 → urgent late
    /// 3. general rubbish, resolved after 20 min (on site at 10), rated 4 → general on time
    /// 4. general repairs, still open after 2 days → not solved, not on time
    #[test]
    fn figures_match_a_hand_computed_month() {
        let r1 = record(1, RecordClass::Urgent, "elevator", t(3, 9, 0));
        let r2 = record(2, RecordClass::Urgent, "elevator", t(5, 9, 0));
        let r3 = record(3, RecordClass::General, "rubbish", t(7, 9, 0));
        let r4 = record(4, RecordClass::General, "repairs", t(9, 9, 0));
        let c1 = changes(&[
            (t(3, 9, 0), S::Submitted),
            (t(3, 9, 4), S::OnSite),
            (t(3, 10, 0), S::Resolved),
            (t(3, 11, 0), S::Closed),
        ]);
        let c2 = changes(&[
            (t(5, 9, 0), S::Submitted),
            (t(5, 9, 12), S::OnSite),
            (t(5, 9, 40), S::Resolved),
        ]);
        let c3 = changes(&[
            (t(7, 9, 0), S::Submitted),
            (t(7, 9, 10), S::OnSite),
            (t(7, 9, 20), S::Resolved),
        ]);
        let c4 = changes(&[(t(9, 9, 0), S::Submitted), (t(9, 9, 30), S::Accepted)]);
        let histories = [
            History {
                record: &r1,
                changes: &c1,
                rating: Some(5),
            },
            History {
                record: &r2,
                changes: &c2,
                rating: Some(3),
            },
            History {
                record: &r3,
                changes: &c3,
                rating: Some(4),
            },
            History {
                record: &r4,
                changes: &c4,
                rating: None,
            },
        ];
        let d = disclose(
            &histories,
            &SlaPolicy::default(),
            &SlaClock::AllHours,
            t(11, 9, 0),
        );
        assert_eq!(d.received, 4);
        assert_eq!(d.solved, 3);
        let class = |c: RecordClass| d.by_class.iter().find(|f| f.class == c).unwrap().clone();
        assert_eq!(
            class(RecordClass::Urgent),
            ClassFigures {
                class: RecordClass::Urgent,
                received: 2,
                on_time: 1
            }
        );
        assert_eq!(
            class(RecordClass::General),
            ClassFigures {
                class: RecordClass::General,
                received: 2,
                on_time: 1
            }
        );
        assert_eq!(class(RecordClass::Major).received, 0);
        // On site: 4, 10, 12 minutes → median 10. Resolution: 20, 40, 60 → median 40.
        assert_eq!(d.median_to_on_site, Some(Duration::minutes(10)));
        assert_eq!(d.median_to_resolution, Some(Duration::minutes(40)));
        assert_eq!(d.satisfaction, Some(4.0));
        assert_eq!(d.ratings, 3);
        assert_eq!(
            d.top_categories,
            vec![
                ("elevator".to_owned(), 2),
                ("repairs".to_owned(), 1),
                ("rubbish".to_owned(), 1)
            ]
        );
    }

    #[test]
    fn an_empty_month_has_no_medians() {
        let d = disclose(&[], &SlaPolicy::default(), &SlaClock::AllHours, t(1, 0, 0));
        assert_eq!(
            (d.received, d.solved, d.median_to_on_site, d.satisfaction),
            (0, 0, None, None)
        );
    }

    #[test]
    fn medians_of_even_counts_average_the_middle_pair() {
        assert_eq!(
            median(vec![Duration::minutes(10), Duration::minutes(30)]),
            Some(Duration::minutes(20))
        );
    }
}
