//! The "5431" response rule as a pure function of a record's history.
//!
//! Each class's clock starts when the record is submitted, pauses while the
//! record waits on the resident, and stops when the record enters the class's
//! target state (urgent: on site; major and general: resolved; complex:
//! planned). A resident reopening a resolved record starts the clock again
//! from the reopening, so the promise is met only if the last entry into the
//! target still stands. Time counts 24×7, or only inside business hours when a
//! calendar is configured. Nothing here reads a clock: `now` is an argument.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::domain::record::{RecordClass, RecordState};

/// How long each class may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    pub urgent_minutes: i64,
    pub major_minutes: i64,
    pub general_minutes: i64,
    pub complex_minutes: i64,
}

impl Default for SlaPolicy {
    /// The Dalian "5431" rule: 5 minutes, 4 hours, 30 minutes, 1 day.
    fn default() -> Self {
        Self {
            urgent_minutes: 5,
            major_minutes: 4 * 60,
            general_minutes: 30,
            complex_minutes: 24 * 60,
        }
    }
}

impl SlaPolicy {
    pub fn limit(&self, class: RecordClass) -> Duration {
        Duration::minutes(match class {
            RecordClass::Urgent => self.urgent_minutes,
            RecordClass::Major => self.major_minutes,
            RecordClass::General => self.general_minutes,
            RecordClass::Complex => self.complex_minutes,
        })
    }
}

/// Working hours per weekday (Monday first) and holidays, in a time zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BusinessCalendar {
    pub zone: Tz,
    pub hours: [Option<(NaiveTime, NaiveTime)>; 7],
    pub holidays: BTreeSet<NaiveDate>,
}

/// Which time counts towards an SLA.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum SlaClock {
    #[default]
    AllHours,
    Business(BusinessCalendar),
}

/// Give up looking for working time this far ahead (a calendar with no hours at all).
const HORIZON_DAYS: i64 = 3660;

impl BusinessCalendar {
    /// The working window of a local day, in UTC, if the day has one.
    fn window(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if self.holidays.contains(&day) {
            return None;
        }
        let (open, close) = self.hours[day.weekday().num_days_from_monday() as usize]?;
        let local = |t: NaiveTime| {
            self.zone
                .from_local_datetime(&day.and_time(t))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
        };
        let (open, close) = (local(open)?, local(close)?);
        (open < close).then_some((open, close))
    }

    fn local_day(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.zone).date_naive()
    }
}

impl SlaClock {
    /// Working time between `from` and `to`.
    pub fn working_time(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        match self {
            SlaClock::AllHours => to - from,
            SlaClock::Business(calendar) => {
                let mut total = Duration::zero();
                let mut day = calendar.local_day(from);
                let last = calendar.local_day(to);
                while day <= last {
                    if let Some((open, close)) = calendar.window(day) {
                        let (start, end) = (open.max(from), close.min(to));
                        if end > start {
                            total += end - start;
                        }
                    }
                    day = day.succ_opt().expect("date in range");
                }
                total
            }
        }
    }

    /// The moment at which `budget` of working time has passed after `from`;
    /// `None` if the calendar has no working time in the next ten years.
    pub fn add_working_time(&self, from: DateTime<Utc>, budget: Duration) -> Option<DateTime<Utc>> {
        match self {
            SlaClock::AllHours => Some(from + budget),
            SlaClock::Business(calendar) => {
                let mut left = budget;
                let mut day = calendar.local_day(from);
                for _ in 0..HORIZON_DAYS {
                    if let Some((open, close)) = calendar.window(day) {
                        let start = open.max(from);
                        if close > start {
                            if close - start >= left {
                                return Some(start + left);
                            }
                            left -= close - start;
                        }
                    }
                    day = day.succ_opt()?;
                }
                None
            }
        }
    }
}

/// One state change of a record, in order; the first is its submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateChange {
    pub at: DateTime<Utc>,
    pub to: RecordState,
}

/// Where a record stands against its promise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "phase")]
pub enum SlaPhase {
    /// The clock runs; `deadline` is when the promise breaks.
    Running {
        deadline: Option<DateTime<Utc>>,
        due_soon: bool,
    },
    /// Waiting on the resident: the clock stands still.
    Paused,
    /// The target state was reached at `at`.
    Met { at: DateTime<Utc> },
    /// The record ended another way (duplicate, withdrawn, …) before the target.
    Stopped { at: DateTime<Utc> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SlaStatus {
    pub class: RecordClass,
    pub limit: Duration,
    /// Working time counted so far (or until the clock stopped).
    pub used: Duration,
    pub phase: SlaPhase,
    /// More time was used than the class allows.
    pub breached: bool,
    /// When the current promise began: the submission, or the last reopening.
    pub started: Option<DateTime<Utc>>,
}

impl SlaStatus {
    /// Time left before the breach; negative once breached.
    pub fn left(&self) -> Duration {
        self.limit - self.used
    }

    /// Breached, and still not at its target: the case for escalation.
    pub fn needs_escalation(&self) -> bool {
        self.breached && matches!(self.phase, SlaPhase::Running { .. } | SlaPhase::Paused)
    }
}

/// Evaluates a record's SLA at `now` from its state changes.
pub fn evaluate(
    class: RecordClass,
    policy: &SlaPolicy,
    clock: &SlaClock,
    history: &[StateChange],
    now: DateTime<Utc>,
) -> SlaStatus {
    evaluate_within(class, policy.limit(class), clock, history, now)
}

/// Like [`evaluate`], with the allowance already decided (a category's own limit).
pub fn evaluate_within(
    class: RecordClass,
    limit: Duration,
    clock: &SlaClock,
    history: &[StateChange],
    now: DateTime<Utc>,
) -> SlaStatus {
    let target = class.target_state();
    let mut used = Duration::zero();
    let mut phase = SlaPhase::Paused;
    let mut previous: Option<RecordState> = None;
    let mut started = None;
    for (i, change) in history.iter().enumerate() {
        let until = history.get(i + 1).map_or(now, |next| next.at).min(now);
        let reopened = previous == Some(RecordState::Resolved) && change.to.is_open();
        previous = Some(change.to);
        if reopened || i == 0 {
            // The resident says it is not fixed: a new promise from now on.
            used = Duration::zero();
            phase = SlaPhase::Paused;
            started = Some(change.at);
        }
        if change.to.is_final() {
            if !matches!(phase, SlaPhase::Met { .. }) {
                phase = SlaPhase::Stopped { at: change.at };
            }
            break;
        }
        if matches!(phase, SlaPhase::Met { .. }) {
            // Met stands until a reopening; later steps (resolving an urgent
            // case after arriving on site) do not count.
            continue;
        }
        if change.to == target {
            phase = SlaPhase::Met { at: change.at };
            continue;
        }
        if change.to == RecordState::WaitingOnResident {
            phase = SlaPhase::Paused;
        } else {
            used += clock.working_time(change.at, until);
            phase = SlaPhase::Running {
                deadline: None,
                due_soon: false,
            };
        }
    }
    if let SlaPhase::Running { .. } = phase {
        let left = limit - used;
        let deadline = if left > Duration::zero() {
            clock.add_working_time(now, left)
        } else {
            Some(now + left)
        };
        // "Due soon": a fifth of the allowance or less remains.
        let due_soon = left > Duration::zero() && left * 5 <= limit;
        phase = SlaPhase::Running { deadline, due_soon };
    }
    SlaStatus {
        class,
        limit,
        used,
        phase,
        breached: used > limit,
        started,
    }
}

/// Longest allowance an admin may set: 30 days.
pub const MAX_MINUTES: i64 = 30 * 24 * 60;
/// Most holidays a calendar keeps.
pub const MAX_HOLIDAYS: usize = 400;

/// A category's own rule: another class, another allowance, and where its
/// breached records are escalated (`None`: the joint meeting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryRule {
    pub category: String,
    #[serde(default)]
    pub class: Option<RecordClass>,
    #[serde(default)]
    pub minutes: Option<i64>,
    /// An escalation target key (see `feedback::escalation::EscalationTarget`).
    #[serde(default)]
    pub escalate_to: Option<String>,
}

/// A community's SLA settings as an admin enters them. Each save is kept as a
/// new version; a record is judged by the version in force when it was filed,
/// so its history and the public figures do not shift when settings change.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SlaSettings {
    #[serde(flatten)]
    pub policy: SlaPolicy,
    #[serde(default)]
    pub categories: Vec<CategoryRule>,
    /// Office hours; `None` counts time 24×7.
    #[serde(default)]
    pub calendar: Option<BusinessCalendar>,
}

/// Why settings were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("an allowance must be 1 minute to 30 days")]
    BadMinutes,
    #[error("office hours must open before they close")]
    BadHours,
    #[error("too many holidays")]
    TooManyHolidays,
}

impl SettingsError {
    pub fn message_key(self) -> &'static str {
        match self {
            SettingsError::BadMinutes => "sla_settings.error.minutes",
            SettingsError::BadHours => "sla_settings.error.hours",
            SettingsError::TooManyHolidays => "sla_settings.error.holidays",
        }
    }
}

impl SlaSettings {
    /// Checks the values an admin typed.
    pub fn check(&self) -> Result<(), SettingsError> {
        let minutes = RecordClass::ALL
            .into_iter()
            .map(|c| self.policy.limit(c).num_minutes())
            .chain(self.categories.iter().filter_map(|r| r.minutes));
        for m in minutes {
            if !(1..=MAX_MINUTES).contains(&m) {
                return Err(SettingsError::BadMinutes);
            }
        }
        if let Some(calendar) = &self.calendar {
            if calendar
                .hours
                .iter()
                .flatten()
                .any(|(open, close)| open >= close)
            {
                return Err(SettingsError::BadHours);
            }
            if calendar.holidays.len() > MAX_HOLIDAYS {
                return Err(SettingsError::TooManyHolidays);
            }
        }
        Ok(())
    }

    pub fn rule(&self, category: &str) -> Option<&CategoryRule> {
        self.categories.iter().find(|r| r.category == category)
    }

    /// The class a new record of `category` gets when the filer took the
    /// category's built-in class (`default`).
    pub fn class_for(&self, category: &str, default: RecordClass) -> RecordClass {
        self.rule(category).and_then(|r| r.class).unwrap_or(default)
    }

    /// The allowance of a record of this class and category.
    pub fn limit(&self, class: RecordClass, category: &str) -> Duration {
        match self.rule(category).and_then(|r| r.minutes) {
            Some(minutes) => Duration::minutes(minutes),
            None => self.policy.limit(class),
        }
    }

    pub fn clock(&self) -> SlaClock {
        match &self.calendar {
            Some(calendar) => SlaClock::Business(calendar.clone()),
            None => SlaClock::AllHours,
        }
    }

    /// A record's SLA at `now` under these settings.
    pub fn evaluate(
        &self,
        class: RecordClass,
        category: &str,
        history: &[StateChange],
        now: DateTime<Utc>,
    ) -> SlaStatus {
        evaluate_within(
            class,
            self.limit(class, category),
            &self.clock(),
            history,
            now,
        )
    }
}

/// Days of the week, Monday first, for building calendars.
pub fn weekday_index(day: Weekday) -> usize {
    day.num_days_from_monday() as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use RecordState as S;

    fn at(hh: u32, mm: u32) -> DateTime<Utc> {
        // 2026-11-20 is a Friday.
        Utc.with_ymd_and_hms(2026, 11, 20, hh, mm, 0).unwrap()
    }

    fn changes(steps: &[(DateTime<Utc>, RecordState)]) -> Vec<StateChange> {
        steps
            .iter()
            .map(|&(at, to)| StateChange { at, to })
            .collect()
    }

    fn check(
        class: RecordClass,
        steps: &[(DateTime<Utc>, RecordState)],
        now: DateTime<Utc>,
    ) -> SlaStatus {
        evaluate(
            class,
            &SlaPolicy::default(),
            &SlaClock::AllHours,
            &changes(steps),
            now,
        )
    }

    #[test]
    fn urgent_is_met_by_arriving_on_site_within_five_minutes() {
        let status = check(
            RecordClass::Urgent,
            &[
                (at(10, 0), S::Submitted),
                (at(10, 1), S::Accepted),
                (at(10, 4), S::OnSite),
            ],
            at(12, 0),
        );
        assert_eq!(status.phase, SlaPhase::Met { at: at(10, 4) });
        assert_eq!(status.used, Duration::minutes(4));
        assert!(!status.breached);
    }

    #[test]
    fn urgent_breaches_at_six_minutes_and_needs_escalation() {
        let status = check(
            RecordClass::Urgent,
            &[(at(10, 0), S::Submitted), (at(10, 1), S::Accepted)],
            at(10, 6),
        );
        assert!(status.breached);
        assert!(status.needs_escalation());
        assert_eq!(status.left(), Duration::minutes(-1));
        assert_eq!(
            status.phase,
            SlaPhase::Running {
                deadline: Some(at(10, 5)),
                due_soon: false
            }
        );
    }

    #[test]
    fn general_runs_until_resolved_and_warns_when_due_soon() {
        let status = check(
            RecordClass::General,
            &[(at(10, 0), S::Submitted), (at(10, 5), S::OnSite)],
            at(10, 25),
        );
        assert_eq!(
            status.phase,
            SlaPhase::Running {
                deadline: Some(at(10, 30)),
                due_soon: true
            }
        );
        let status = check(
            RecordClass::General,
            &[
                (at(10, 0), S::Submitted),
                (at(10, 5), S::OnSite),
                (at(10, 29), S::Resolved),
            ],
            at(11, 0),
        );
        assert_eq!(status.phase, SlaPhase::Met { at: at(10, 29) });
        assert!(!status.breached);
    }

    #[test]
    fn major_allows_four_hours() {
        let status = check(
            RecordClass::Major,
            &[(at(8, 0), S::Submitted), (at(12, 1), S::Resolved)],
            at(13, 0),
        );
        assert!(status.breached);
        assert!(
            !status.needs_escalation(),
            "already resolved: late, but nothing to escalate"
        );
    }

    #[test]
    fn complex_is_met_by_a_plan() {
        let status = check(
            RecordClass::Complex,
            &[
                (at(9, 0), S::Submitted),
                (at(9, 30), S::Accepted),
                (at(15, 0), S::Planned),
            ],
            at(16, 0),
        );
        assert_eq!(status.phase, SlaPhase::Met { at: at(15, 0) });
        assert_eq!(status.used, Duration::hours(6));
    }

    #[test]
    fn waiting_on_the_resident_pauses_the_clock() {
        let steps = [
            (at(10, 0), S::Submitted),
            (at(10, 10), S::Accepted),
            (at(10, 20), S::WaitingOnResident),
            (at(11, 20), S::Accepted),
        ];
        let paused = check(RecordClass::General, &steps[..3], at(11, 0));
        assert_eq!(paused.phase, SlaPhase::Paused);
        assert_eq!(paused.used, Duration::minutes(20));
        assert!(!paused.breached, "an hour of waiting does not count");
        let resumed = check(RecordClass::General, &steps, at(11, 25));
        assert_eq!(resumed.used, Duration::minutes(25));
        assert_eq!(
            resumed.phase,
            SlaPhase::Running {
                deadline: Some(at(11, 30)),
                due_soon: true
            }
        );
    }

    #[test]
    fn a_duplicate_stops_the_clock() {
        let status = check(
            RecordClass::General,
            &[(at(10, 0), S::Submitted), (at(10, 3), S::Duplicate)],
            at(12, 0),
        );
        assert_eq!(status.phase, SlaPhase::Stopped { at: at(10, 3) });
        assert_eq!(status.used, Duration::minutes(3));
        assert!(!status.needs_escalation());
    }

    fn office_hours() -> SlaClock {
        let nine_to_five = Some((
            NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
            NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
        ));
        let mut hours = [None; 7];
        for day in [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ] {
            hours[weekday_index(day)] = nine_to_five;
        }
        SlaClock::Business(BusinessCalendar {
            zone: chrono_tz::Asia::Shanghai,
            hours,
            // Monday 2026-11-23 is a holiday in this test.
            holidays: [NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()]
                .into_iter()
                .collect(),
        })
    }

    #[test]
    fn a_business_calendar_counts_only_office_hours() {
        let clock = office_hours();
        // Friday 16:30 Beijing time (08:30 UTC) to Tuesday 09:30 Beijing time:
        // 30 minutes on Friday, nothing at the weekend or on the Monday holiday, 30 minutes on Tuesday.
        let from = Utc.with_ymd_and_hms(2026, 11, 20, 8, 30, 0).unwrap();
        let to = Utc.with_ymd_and_hms(2026, 11, 24, 1, 30, 0).unwrap();
        assert_eq!(clock.working_time(from, to), Duration::minutes(60));
        // A 4-hour promise made at Friday 16:30 is due Tuesday 12:30 Beijing time.
        assert_eq!(
            clock.add_working_time(from, Duration::hours(4)),
            Some(Utc.with_ymd_and_hms(2026, 11, 24, 4, 30, 0).unwrap())
        );
    }

    #[test]
    fn a_record_filed_at_night_waits_for_the_office_to_open() {
        let clock = office_hours();
        let submitted = Utc.with_ymd_and_hms(2026, 11, 19, 14, 0, 0).unwrap(); // Thursday 22:00 Beijing
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 0, 0, 0).unwrap(); // Friday 08:00 Beijing
        let status = evaluate(
            RecordClass::General,
            &SlaPolicy::default(),
            &clock,
            &changes(&[(submitted, S::Submitted)]),
            now,
        );
        assert_eq!(status.used, Duration::zero());
        let deadline = Utc.with_ymd_and_hms(2026, 11, 20, 1, 30, 0).unwrap(); // Friday 09:30 Beijing
        assert_eq!(
            status.phase,
            SlaPhase::Running {
                deadline: Some(deadline),
                due_soon: false
            }
        );
    }

    #[test]
    fn a_calendar_without_hours_has_no_deadline() {
        let clock = SlaClock::Business(BusinessCalendar {
            zone: chrono_tz::UTC,
            hours: [None; 7],
            holidays: BTreeSet::new(),
        });
        assert_eq!(
            clock.add_working_time(at(10, 0), Duration::minutes(5)),
            None
        );
        assert_eq!(clock.working_time(at(10, 0), at(12, 0)), Duration::zero());
    }

    #[test]
    fn a_reopened_record_starts_a_new_promise() {
        let steps = [
            (at(10, 0), S::Submitted),
            (at(10, 5), S::Accepted),
            (at(10, 20), S::Resolved),
            (at(11, 0), S::Accepted), // reopened by the resident
        ];
        let met = check(RecordClass::General, &steps[..3], at(10, 50));
        assert_eq!(met.phase, SlaPhase::Met { at: at(10, 20) });
        let reopened = check(RecordClass::General, &steps, at(11, 20));
        assert_eq!(reopened.used, Duration::minutes(20));
        assert_eq!(reopened.started, Some(at(11, 0)));
        assert_eq!(
            reopened.phase,
            SlaPhase::Running {
                deadline: Some(at(11, 30)),
                due_soon: false
            }
        );
        let late = check(RecordClass::General, &steps, at(11, 31));
        assert!(late.breached && late.needs_escalation(), "can breach again");
        let mut fixed = steps.to_vec();
        fixed.push((at(11, 25), S::Resolved));
        let again = check(RecordClass::General, &fixed, at(12, 0));
        assert_eq!(again.phase, SlaPhase::Met { at: at(11, 25) });
        assert_eq!(again.used, Duration::minutes(25));
        assert!(!again.breached);
    }

    #[test]
    fn a_met_promise_stands_through_later_steps_and_closing() {
        let status = check(
            RecordClass::Urgent,
            &[
                (at(10, 0), S::Submitted),
                (at(10, 3), S::OnSite),
                (at(12, 0), S::Resolved),
                (at(13, 0), S::Closed),
            ],
            at(14, 0),
        );
        assert_eq!(status.phase, SlaPhase::Met { at: at(10, 3) });
        assert_eq!(status.used, Duration::minutes(3));
        assert!(!status.breached);
    }

    #[test]
    fn an_urgent_reopening_needs_someone_on_site_again() {
        let status = check(
            RecordClass::Urgent,
            &[
                (at(10, 0), S::Submitted),
                (at(10, 3), S::OnSite),
                (at(10, 30), S::Resolved),
                (at(11, 0), S::Accepted),
            ],
            at(11, 6),
        );
        assert!(status.breached && status.needs_escalation());
    }

    #[test]
    fn a_pause_after_a_reopening_still_stops_the_clock() {
        let status = check(
            RecordClass::Major,
            &[
                (at(8, 0), S::Submitted),
                (at(9, 0), S::Resolved),
                (at(10, 0), S::Accepted),
                (at(10, 30), S::WaitingOnResident),
            ],
            at(20, 0),
        );
        assert_eq!(status.phase, SlaPhase::Paused);
        assert_eq!(status.used, Duration::minutes(30));
        assert!(!status.breached);
    }

    #[test]
    fn every_class_breaches_just_after_its_allowance() {
        for (class, minutes) in [
            (RecordClass::Urgent, 5),
            (RecordClass::Major, 240),
            (RecordClass::General, 30),
            (RecordClass::Complex, 1440),
        ] {
            let start = at(0, 0);
            let history = [(start, S::Submitted)];
            let on_time = check(class, &history, start + Duration::minutes(minutes));
            assert!(!on_time.breached, "{class:?} at its limit");
            let late = check(class, &history, start + Duration::minutes(minutes + 1));
            assert!(late.breached && late.needs_escalation(), "{class:?} late");
        }
    }

    #[test]
    fn settings_override_a_categorys_class_and_allowance() {
        let settings = SlaSettings {
            policy: SlaPolicy {
                general_minutes: 45,
                ..SlaPolicy::default()
            },
            categories: vec![CategoryRule {
                category: "elevator".into(),
                class: Some(RecordClass::Urgent),
                minutes: Some(10),
                escalate_to: None,
            }],
            calendar: None,
        };
        assert_eq!(settings.check(), Ok(()));
        assert_eq!(
            settings.class_for("elevator", RecordClass::Major),
            RecordClass::Urgent
        );
        assert_eq!(
            settings.class_for("repairs", RecordClass::General),
            RecordClass::General
        );
        assert_eq!(
            settings.limit(RecordClass::Urgent, "elevator"),
            Duration::minutes(10)
        );
        assert_eq!(
            settings.limit(RecordClass::General, "repairs"),
            Duration::minutes(45)
        );
        let history = changes(&[(at(10, 0), S::Submitted)]);
        let status = settings.evaluate(RecordClass::Urgent, "elevator", &history, at(10, 9));
        assert!(!status.breached, "10 minutes for this category, not 5");
        let status = settings.evaluate(RecordClass::Urgent, "elevator", &history, at(10, 11));
        assert!(status.breached);
    }

    #[test]
    fn settings_with_a_calendar_count_office_hours_only() {
        let SlaClock::Business(calendar) = office_hours() else {
            unreachable!()
        };
        let settings = SlaSettings {
            calendar: Some(calendar),
            ..SlaSettings::default()
        };
        // Friday 16:50 Beijing time, checked on Tuesday 09:05: 10 + 5 minutes of office time.
        let filed = Utc.with_ymd_and_hms(2026, 11, 20, 8, 50, 0).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 24, 1, 5, 0).unwrap();
        let status = settings.evaluate(
            RecordClass::General,
            "repairs",
            &changes(&[(filed, S::Submitted)]),
            now,
        );
        assert_eq!(status.used, Duration::minutes(15));
        assert!(!status.breached);
        // The settings survive being stored and read back.
        let stored = serde_json::to_value(&settings).unwrap();
        let back: SlaSettings = serde_json::from_value(stored).unwrap();
        assert_eq!(back, settings);
    }

    #[test]
    fn nonsense_settings_are_refused() {
        let zero = SlaSettings {
            policy: SlaPolicy {
                urgent_minutes: 0,
                ..SlaPolicy::default()
            },
            ..SlaSettings::default()
        };
        assert_eq!(zero.check(), Err(SettingsError::BadMinutes));
        let eight = NaiveTime::from_hms_opt(8, 0, 0).unwrap();
        let mut hours = [None; 7];
        hours[0] = Some((eight, eight));
        let closed_all_day = SlaSettings {
            calendar: Some(BusinessCalendar {
                zone: chrono_tz::Asia::Shanghai,
                hours,
                holidays: BTreeSet::new(),
            }),
            ..SlaSettings::default()
        };
        assert_eq!(closed_all_day.check(), Err(SettingsError::BadHours));
        assert_eq!(SlaSettings::default().check(), Ok(()));
    }

    #[test]
    fn configured_durations_replace_the_defaults() {
        let policy = SlaPolicy {
            general_minutes: 60,
            ..SlaPolicy::default()
        };
        let status = evaluate(
            RecordClass::General,
            &policy,
            &SlaClock::AllHours,
            &changes(&[(at(10, 0), S::Submitted)]),
            at(10, 45),
        );
        assert!(!status.breached);
        assert_eq!(status.left(), Duration::minutes(15));
    }
}
