//! 阳光公示: the public figures for an estate and month, computed from the
//! records' events — never typed in. Each record is judged by the SLA
//! settings in force when it was filed (class allowance, its category's own
//! rule, calendar), so the figures of a past month do not shift when
//! settings change.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use serde::Serialize;

use crate::domain::record::{RecordClass, RecordState};
use crate::domain::EstateId;
use crate::feedback::records::{RecordError, Records};
use crate::feedback::sla::{SlaPhase, SlaSettings, StateChange};
use crate::store::{FactsVersion, RecordFacts};

/// A calendar month in the community's time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    /// `YYYY-MM`.
    pub fn parse(text: &str) -> Option<Self> {
        let first = NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").ok()?;
        Some(Self { first })
    }

    /// The month `at` falls in, in `zone`.
    pub fn of(at: DateTime<Utc>, zone: chrono_tz::Tz) -> Self {
        let day = at.with_timezone(&zone).date_naive();
        Self {
            first: day.with_day(1).expect("every month has a first day"),
        }
    }

    pub fn first_day(&self) -> NaiveDate {
        self.first
    }

    pub fn next(&self) -> Self {
        Self {
            first: self
                .first
                .checked_add_months(chrono::Months::new(1))
                .unwrap_or(self.first),
        }
    }

    pub fn previous(&self) -> Self {
        Self {
            first: self
                .first
                .checked_sub_months(chrono::Months::new(1))
                .unwrap_or(self.first),
        }
    }

    /// `[start, end)` of the month in `zone`, as instants.
    pub fn bounds(&self, zone: chrono_tz::Tz) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = |d: NaiveDate| {
            let midnight = d.and_hms_opt(0, 0, 0).expect("midnight exists");
            zone.from_local_datetime(&midnight)
                .earliest()
                .map_or_else(|| midnight.and_utc(), |t| t.with_timezone(&Utc))
        };
        (start(self.first), start(self.next().first))
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.first.format("%Y-%m"))
    }
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
    #[serde(serialize_with = "minutes")]
    pub median_to_on_site: Option<Duration>,
    #[serde(serialize_with = "minutes")]
    pub median_to_resolution: Option<Duration>,
    /// Average of the residents' 1–5 ratings, and how many rated.
    pub satisfaction: Option<f64>,
    pub ratings: usize,
    /// Most frequent categories first (at most five), with their counts.
    pub top_categories: Vec<(String, usize)>,
}

fn minutes<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.num_minutes()),
        None => s.serialize_none(),
    }
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

/// The figures for the records filed in one estate-month, as of `now`;
/// `settings_of` names the SLA settings each record is judged by.
pub fn disclose<'s>(
    records: &[RecordFacts],
    settings_of: impl Fn(&RecordFacts) -> &'s SlaSettings,
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
    let mut ratings = Vec::new();
    for record in records {
        let figures = by_class
            .iter_mut()
            .find(|f| f.class == record.class)
            .expect("every class listed");
        figures.received += 1;
        let sla =
            settings_of(record).evaluate(record.class, &record.category, &record.changes, now);
        if matches!(sla.phase, SlaPhase::Met { .. }) && !sla.breached {
            figures.on_time += 1;
        }
        if let Some(at) = first_entry(&record.changes, RecordState::OnSite) {
            to_on_site.push(at - record.created_at);
        }
        if let Some(at) = first_entry(&record.changes, RecordState::Resolved) {
            to_resolution.push(at - record.created_at);
            solved += 1;
        }
        *categories.entry(record.category.as_str()).or_default() += 1;
        ratings.extend(record.rating);
    }
    let mut top: Vec<(String, usize)> = categories
        .into_iter()
        .map(|(c, n)| (c.to_owned(), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    top.truncate(5);
    Disclosure {
        received: records.len(),
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

/// How many estate-months of figures are kept (a few KiB each): the
/// disclosure page's year of trends for some 340 estates.
const CACHED_MONTHS: usize = 4096;

/// Figures worked out earlier, per estate and month, reused while their facts
/// have not grown (`FactsVersion`, one range count). The figures depend on
/// nothing else: a record is judged by the settings in force when it was
/// filed (later saves apply to later records, which add facts), and once a
/// record has met its target or stopped, the time of asking changes nothing;
/// one still running is not on time whenever it is asked.
#[derive(Default)]
pub struct DisclosureCache {
    entries: Mutex<HashMap<(EstateId, Month), Cached>>,
    /// One computation at a time: a crowd of first visitors computes once.
    computing: tokio::sync::Mutex<()>,
    clock: AtomicU64,
}

struct Cached {
    version: FactsVersion,
    figures: Arc<Disclosure>,
    used: u64,
}

/// An estate-month's figures, the version of the facts behind them, and
/// whether they were worked out for this request (not found in the cache).
#[derive(Debug, Clone)]
pub struct Disclosed {
    pub figures: Arc<Disclosure>,
    pub version: FactsVersion,
    pub computed: bool,
}

impl DisclosureCache {
    fn get(&self, key: (EstateId, Month), version: FactsVersion) -> Option<Arc<Disclosure>> {
        let tick = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock().expect("disclosure cache lock");
        let cached = entries.get_mut(&key).filter(|c| c.version == version)?;
        cached.used = tick;
        Some(cached.figures.clone())
    }

    fn put(&self, key: (EstateId, Month), version: FactsVersion, figures: Arc<Disclosure>) {
        let used = self.clock.fetch_add(1, Ordering::Relaxed);
        let mut entries = self.entries.lock().expect("disclosure cache lock");
        if entries.len() >= CACHED_MONTHS && !entries.contains_key(&key) {
            let oldest = entries.iter().min_by_key(|(_, c)| c.used).map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            Cached {
                version,
                figures,
                used,
            },
        );
    }
}

impl Records {
    /// The public figures of one estate-month (months in `zone`) as of
    /// `now`: every record filed in it, each judged by its own settings.
    pub async fn disclosure(
        &self,
        estate: EstateId,
        month: Month,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Disclosure, RecordError> {
        Ok((*self.disclosed(estate, month, zone, now).await?.figures).clone())
    }

    /// The same figures with their version; worked out again only when the
    /// estate-month's facts have grown since they were last (see `DisclosureCache`).
    pub async fn disclosed(
        &self,
        estate: EstateId,
        month: Month,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Disclosed, RecordError> {
        let (since, until) = month.bounds(zone);
        let key = (estate, month);
        let cache = &self.disclosures;
        let version = self.store.facts_version(estate, since, until).await?;
        let hit = |figures| Disclosed {
            figures,
            version,
            computed: false,
        };
        if let Some(figures) = cache.get(key, version) {
            return Ok(hit(figures));
        }
        let _computing = cache.computing.lock().await;
        if let Some(figures) = cache.get(key, version) {
            return Ok(hit(figures));
        }
        // Facts added from here on only make these figures newer than
        // `version`: the next request sees a newer version and recomputes.
        let records = self.store.record_facts(estate, since, until).await?;
        let mut communities: Vec<_> = records.iter().map(|r| r.community_id).collect();
        communities.sort();
        communities.dedup();
        let book = self.sla_book(communities).await?;
        let figures = Arc::new(disclose(
            &records,
            |r| book.settings_at(r.community_id, r.created_at),
            now,
        ));
        cache.put(key, version, figures.clone());
        Ok(Disclosed {
            figures,
            version,
            computed: true,
        })
    }

    /// The figures of the `count` months up to and including `last`, oldest
    /// first: the trends of the disclosure page and the lobby's chart.
    pub async fn disclosed_months(
        &self,
        estate: EstateId,
        last: Month,
        count: usize,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> Result<Vec<(Month, Disclosed)>, RecordError> {
        let mut months = vec![last];
        while months.len() < count {
            let earlier = months.last().expect("never empty").previous();
            months.push(earlier);
        }
        months.reverse();
        let mut figures = Vec::with_capacity(months.len());
        for month in months {
            figures.push((month, self.disclosed(estate, month, zone, now).await?));
        }
        Ok(figures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CommunityId, RecordId};
    use crate::feedback::sla::{CategoryRule, SlaPolicy};
    use chrono::TimeZone;
    use RecordState as S;

    fn t(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, day, h, m, 0).unwrap()
    }

    fn record(
        id: i64,
        class: RecordClass,
        category: &str,
        steps: &[(DateTime<Utc>, S)],
        rating: Option<u8>,
    ) -> RecordFacts {
        RecordFacts {
            id: RecordId(id),
            community_id: CommunityId(1),
            class,
            category: category.into(),
            created_at: steps[0].0,
            changes: steps
                .iter()
                .map(|&(at, to)| StateChange { at, to })
                .collect(),
            rating,
        }
    }

    /// Four records worked out by hand:
    /// 1. urgent elevator, on site after 4 min, resolved after 60 min, rated 5 → urgent on time
    /// 2. urgent elevator, on site after 12 min, resolved after 40 min, rated 3 → urgent late
    /// 3. general rubbish, resolved after 20 min (on site at 10), rated 4 → general on time
    /// 4. general repairs, still open after 2 days → not solved, not on time
    #[test]
    fn figures_match_a_hand_computed_month() {
        let records = [
            record(
                1,
                RecordClass::Urgent,
                "elevator",
                &[
                    (t(3, 9, 0), S::Submitted),
                    (t(3, 9, 4), S::OnSite),
                    (t(3, 10, 0), S::Resolved),
                    (t(3, 11, 0), S::Closed),
                ],
                Some(5),
            ),
            record(
                2,
                RecordClass::Urgent,
                "elevator",
                &[
                    (t(5, 9, 0), S::Submitted),
                    (t(5, 9, 12), S::OnSite),
                    (t(5, 9, 40), S::Resolved),
                ],
                Some(3),
            ),
            record(
                3,
                RecordClass::General,
                "rubbish",
                &[
                    (t(7, 9, 0), S::Submitted),
                    (t(7, 9, 10), S::OnSite),
                    (t(7, 9, 20), S::Resolved),
                ],
                Some(4),
            ),
            record(
                4,
                RecordClass::General,
                "repairs",
                &[(t(9, 9, 0), S::Submitted), (t(9, 9, 30), S::Accepted)],
                None,
            ),
        ];
        let settings = SlaSettings::default();
        let d = disclose(&records, |_| &settings, t(11, 9, 0));
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

    /// Two general repairs, each solved in 40 minutes: the one filed under
    /// the old 30-minute allowance is late, the one filed after the
    /// allowance became 50 minutes is on time; a rubbish case solved in 45
    /// minutes is on time under its category's 60 minutes.
    #[test]
    fn each_record_is_judged_by_the_settings_it_was_filed_under() {
        let old = SlaSettings {
            categories: vec![CategoryRule {
                category: "rubbish".into(),
                class: None,
                minutes: Some(60),
                escalate_to: None,
            }],
            ..SlaSettings::default()
        };
        let new = SlaSettings {
            policy: SlaPolicy {
                general_minutes: 50,
                ..SlaPolicy::default()
            },
            ..SlaSettings::default()
        };
        let changed = t(10, 0, 0);
        let solved_in = |id, category: &str, filed: DateTime<Utc>, minutes| {
            record(
                id,
                RecordClass::General,
                category,
                &[
                    (filed, S::Submitted),
                    (filed + Duration::minutes(minutes), S::Resolved),
                ],
                None,
            )
        };
        let records = [
            solved_in(1, "repairs", t(3, 9, 0), 40),
            solved_in(2, "repairs", t(12, 9, 0), 40),
            solved_in(3, "rubbish", t(4, 9, 0), 45),
        ];
        let d = disclose(
            &records,
            |r| if r.created_at < changed { &old } else { &new },
            t(20, 0, 0),
        );
        let general = d
            .by_class
            .iter()
            .find(|f| f.class == RecordClass::General)
            .unwrap();
        assert_eq!((general.received, general.on_time), (3, 2));
    }

    #[test]
    fn an_empty_month_has_no_medians() {
        let settings = SlaSettings::default();
        let d = disclose(&[], |_| &settings, t(1, 0, 0));
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

    #[test]
    fn a_month_is_bounded_by_local_midnights() {
        let month = Month::parse("2026-10").unwrap();
        let (start, end) = month.bounds(chrono_tz::Asia::Shanghai);
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 9, 30, 16, 0, 0).unwrap());
        assert_eq!(end, Utc.with_ymd_and_hms(2026, 10, 31, 16, 0, 0).unwrap());
        assert_eq!(month.previous().to_string(), "2026-09");
        assert_eq!(
            Month::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Month::of(start, chrono_tz::Asia::Shanghai).to_string(),
            "2026-10"
        );
        assert!(Month::parse("Oct-2026").is_none());
    }

    #[test]
    fn the_cache_serves_only_the_same_version_and_forgets_the_least_used() {
        let settings = SlaSettings::default();
        let figures = Arc::new(disclose(&[], |_| &settings, Utc::now()));
        let version = |rows| FactsVersion { rows, latest: None };
        let month = Month::parse("2026-10").unwrap();
        let cache = DisclosureCache::default();
        cache.put((EstateId(1), month), version(3), figures.clone());
        assert!(cache.get((EstateId(1), month), version(3)).is_some());
        assert!(cache.get((EstateId(1), month), version(4)).is_none());
        assert!(cache.get((EstateId(2), month), version(3)).is_none());
        // Full: the entry used least recently goes, the one just read stays.
        for estate in 2..=CACHED_MONTHS as i64 {
            cache.put((EstateId(estate), month), version(1), figures.clone());
        }
        assert!(cache.get((EstateId(1), month), version(3)).is_some());
        cache.put((EstateId(9999), month), version(1), figures.clone());
        assert_eq!(cache.entries.lock().unwrap().len(), CACHED_MONTHS);
        assert!(cache.get((EstateId(1), month), version(3)).is_some());
        assert!(cache.get((EstateId(2), month), version(1)).is_none());
    }
}
