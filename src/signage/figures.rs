//! The computed 阳光公示 figures of a screen's estate as a rotation item:
//! this month so far and last month, from the feedback records (through the
//! feedback service, never by reading record tables), cached per estate and
//! refreshed every few minutes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::EstateId;
use crate::feedback::disclosure::{Disclosure, Month};
use crate::i18n::Lang;

/// How long computed figures are reused before they are worked out again.
pub const REFRESH: StdDuration = StdDuration::from_secs(5 * 60);
/// How long a figures turn lasts on screen.
const FIGURES_SECONDS: u32 = 25;
/// A screen cut off from the server stops showing figures this long after
/// they were computed.
const STALE_AFTER_HOURS: i64 = 24;

/// A name in both languages of the screen.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Named {
    pub zh: String,
    pub en: String,
}

fn named(key: &str) -> Named {
    Named {
        zh: Lang::Zh.t(key).into_owned(),
        en: Lang::En.t(key).into_owned(),
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ClassRow {
    pub class: &'static str,
    pub name: Named,
    pub received: usize,
    pub on_time: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct CategoryRow {
    pub code: String,
    pub name: Named,
    pub count: usize,
}

/// One month's figures as the screen shows them.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct MonthFigures {
    /// `YYYY-MM`.
    pub month: String,
    /// The current month, still running.
    pub so_far: bool,
    pub received: usize,
    pub solved: usize,
    pub classes: Vec<ClassRow>,
    pub median_on_site_minutes: Option<i64>,
    pub median_resolution_minutes: Option<i64>,
    /// Average rating to one decimal, and how many rated.
    pub satisfaction: Option<f64>,
    pub ratings: usize,
    pub top_categories: Vec<CategoryRow>,
}

impl MonthFigures {
    pub fn of(month: Month, so_far: bool, d: &Disclosure) -> Self {
        Self {
            month: month.to_string(),
            so_far,
            received: d.received,
            solved: d.solved,
            classes: d
                .by_class
                .iter()
                .map(|c| ClassRow {
                    class: c.class.as_str(),
                    name: named(&format!("screen_figures.class.{}", c.class.as_str())),
                    received: c.received,
                    on_time: c.on_time,
                })
                .collect(),
            median_on_site_minutes: d.median_to_on_site.map(|m| m.num_minutes()),
            median_resolution_minutes: d.median_to_resolution.map(|m| m.num_minutes()),
            satisfaction: d.satisfaction.map(|s| (s * 10.0).round() / 10.0),
            ratings: d.ratings,
            top_categories: d
                .top_categories
                .iter()
                .map(|(code, count)| CategoryRow {
                    code: code.clone(),
                    name: named(&format!("category.{code}")),
                    count: *count,
                })
                .collect(),
        }
    }
}

/// An estate's figures: this month so far, then last month. `None` in the
/// cache: the estate had no record in either month (no item is shown).
#[derive(Debug, Clone, PartialEq)]
pub struct EstateFigures {
    pub estate: String,
    pub months: Vec<MonthFigures>,
    /// When these numbers were first computed (kept while they stay the same,
    /// so an unchanged item keeps the playlist's version).
    pub since: DateTime<Utc>,
}

impl EstateFigures {
    pub fn item(&self, estate_id: EstateId) -> super::PlaylistItem {
        super::PlaylistItem::Figures {
            id: 0,
            estate_id,
            estate: self.estate.clone(),
            months: self.months.clone(),
            charts: chart_urls(estate_id, self.since, &self.months),
            display_seconds: FIGURES_SECONDS,
            emergency: false,
            priority: *crate::domain::notice::PRIORITY.start(),
            // An hour early: a screen whose clock runs a little behind still shows it.
            starts_at: self.since - chrono::Duration::hours(1),
            ends_at: Some(self.since + chrono::Duration::hours(STALE_AFTER_HOURS)),
            day_parts: Vec::new(),
        }
    }
}

/// Where a screen gets the estate's charts (drawn by
/// `web::public::disclosure_charts`): the on-time rate per class over twelve
/// months, the satisfaction trend if anyone rated lately, and this month's
/// categories if anything was filed. Under `/kiosk/media/`, so the screen
/// keeps copies for when it is offline; the version in the URL is when the
/// figures were computed, so new figures are new pictures.
pub fn chart_urls(estate: EstateId, since: DateTime<Utc>, months: &[MonthFigures]) -> Vec<String> {
    let rated = months.iter().any(|m| m.ratings > 0);
    let filed = months.first().is_some_and(|m| !m.top_categories.is_empty());
    [
        ("on-time", true),
        ("satisfaction", rated),
        ("categories", filed),
    ]
    .into_iter()
    .filter(|(_, shown)| *shown)
    .map(|(chart, _)| {
        format!(
            "/kiosk/media/figures/{estate}/{chart}.svg?v={}",
            since.timestamp()
        )
    })
    .collect()
}

type Entry = (Instant, Option<Arc<EstateFigures>>);

/// Figures per estate, with when each was computed.
#[derive(Default)]
pub struct FiguresCache {
    entries: Mutex<HashMap<EstateId, Entry>>,
}

impl FiguresCache {
    /// The cached figures if fresh: `Some(None)` means "fresh, nothing to show".
    pub fn fresh(&self, estate: EstateId) -> Option<Option<Arc<EstateFigures>>> {
        let entries = self.entries.lock().expect("figures cache poisoned");
        let (at, figures) = entries.get(&estate)?;
        (at.elapsed() < REFRESH).then(|| figures.clone())
    }

    /// Stores newly computed figures; returns whether what screens show changed.
    /// Unchanged numbers keep their first computation time.
    pub fn put(&self, estate: EstateId, figures: Option<EstateFigures>) -> bool {
        let mut entries = self.entries.lock().expect("figures cache poisoned");
        let previous = entries.get(&estate).and_then(|(_, f)| f.clone());
        let (kept, changed) = match (previous, figures) {
            (Some(old), Some(new)) if old.months == new.months && old.estate == new.estate => {
                (Some(old), false)
            }
            (None, None) => (None, false),
            (_, new) => (new.map(Arc::new), true),
        };
        entries.insert(estate, (Instant::now(), kept));
        changed
    }

    /// Keeps what is cached (or nothing) for another period: used when the
    /// figures cannot be computed, so a failing store is not asked on every request.
    pub fn touch(&self, estate: EstateId) {
        let mut entries = self.entries.lock().expect("figures cache poisoned");
        let kept = entries.get(&estate).and_then(|(_, f)| f.clone());
        entries.insert(estate, (Instant::now(), kept));
    }

    /// Estates screens have asked for.
    pub fn estates(&self) -> Vec<EstateId> {
        self.entries
            .lock()
            .expect("figures cache poisoned")
            .keys()
            .copied()
            .collect()
    }
}
