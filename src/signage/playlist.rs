//! Which notices a screen shows, and in what order.
//!
//! Pure functions: no database, no HTTP, and no clock — the caller passes the
//! time in. The kiosk client (`kiosk/kiosk.js`) applies the same rule with its
//! own clock while offline, so a change here is a change there too.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use chrono_tz::Tz;

use crate::domain::notice::{DayPart, Notice, NoticeState, Target};
use crate::domain::screen::ScreenPlace;

/// Whether the notice is aimed at a screen hanging at `place`. A notice with
/// no targets goes to every screen of its community; a notice never reaches a
/// screen of another community, whatever its targets say.
pub fn aimed_at(notice: &Notice, place: &ScreenPlace) -> bool {
    if notice.community_id != place.community_id {
        return false;
    }
    notice.targets.is_empty()
        || notice.targets.iter().any(|target| match *target {
            Target::Community(id) => id == place.community_id,
            Target::Estate(id) => id == place.estate_id,
            Target::Building(id) => id == place.building_id,
            Target::Screen(id) => id == place.screen_id,
            Target::Group(id) => place.group_id == Some(id),
        })
}

/// Whether a day part covers the local wall-clock time `local`. `from` is
/// inclusive and `until` exclusive. A window whose `until` is not after its
/// `from` crosses midnight and belongs to the weekday it starts on: Friday
/// 22:00–02:00 covers Friday 23:00 and Saturday 01:00, not Friday 01:00.
pub fn day_part_contains(part: &DayPart, local: NaiveDateTime) -> bool {
    let day = local.weekday();
    let time = local.time();
    let days = part.weekdays();
    if part.crosses_midnight() {
        let tonight = days.contains(day) && part.from() <= time;
        let after_midnight = days.contains(day.pred()) && time < part.until();
        tonight || after_midnight
    } else {
        days.contains(day) && part.from() <= time && time < part.until()
    }
}

/// Whether the notice's own schedule lets it show at `now` in the community's
/// time zone: inside its validity window and, if it has day parts, inside one
/// of them. Says nothing about state or targets.
///
/// Local time is derived from UTC, which is never ambiguous: across a DST gap
/// the skipped wall-clock times simply never occur, and across an overlap the
/// repeated ones occur twice.
pub fn showing_at(notice: &Notice, now: DateTime<Utc>, tz: Tz) -> bool {
    if !notice.validity.contains(now) {
        return false;
    }
    if notice.day_parts.is_empty() {
        return true;
    }
    let local = now.with_timezone(&tz).naive_local();
    notice
        .day_parts
        .iter()
        .any(|part| day_part_contains(part, local))
}

/// Rotation order: emergencies first, then higher priority, then the most
/// recently published, then the lower id so the order is total.
pub fn rotation_order(a: &Notice, b: &Notice) -> Ordering {
    b.emergency
        .cmp(&a.emergency)
        .then_with(|| b.priority.cmp(&a.priority))
        .then_with(|| b.published_at.cmp(&a.published_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// What a screen at `place` is sent: every published notice aimed at it whose
/// validity has not ended, in rotation order. Notices that start later or sit
/// outside their day parts right now are included, because an offline screen
/// must be able to show them when their time comes.
pub fn for_screen<'a>(
    notices: &'a [Notice],
    place: &ScreenPlace,
    now: DateTime<Utc>,
) -> Vec<&'a Notice> {
    let mut playlist: Vec<&Notice> = notices
        .iter()
        .filter(|notice| {
            notice.state == NoticeState::Published
                && !notice.validity.has_ended(now)
                && aimed_at(notice, place)
        })
        .collect();
    playlist.sort_by(|a, b| rotation_order(a, b));
    playlist
}

/// The rotation at this instant, keeping the candidates' order: those showing
/// now, except that while any emergency shows, only emergencies show.
pub fn now_showing<'a>(candidates: &[&'a Notice], now: DateTime<Utc>, tz: Tz) -> Vec<&'a Notice> {
    let mut showing: Vec<&'a Notice> = candidates
        .iter()
        .copied()
        .filter(|notice| showing_at(notice, now, tz))
        .collect();
    if showing.iter().any(|notice| notice.emergency) {
        showing.retain(|notice| notice.emergency);
    }
    showing
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ids::{
        AccountId, BuildingId, CommunityId, EstateId, NoticeId, ScreenGroupId, ScreenId,
    };
    use crate::domain::notice::{NoticeCategory, Validity, Weekdays};
    use chrono::{Duration, NaiveDate, NaiveTime, TimeZone, Weekday};
    use chrono_tz::{Asia::Shanghai, Europe::Berlin};

    /// 2026-11-20 is a Friday; the fixed clock of these tests is built on it.
    fn local(day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, day)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
    }

    /// A Shanghai wall-clock time on the fixed week, as UTC.
    fn shanghai(day: u32, hour: u32, minute: u32) -> DateTime<Utc> {
        Shanghai
            .from_local_datetime(&local(day, hour, minute))
            .single()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn hm(hour: u32, minute: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(hour, minute, 0).unwrap()
    }

    fn part(days: &[Weekday], from: NaiveTime, until: NaiveTime) -> DayPart {
        DayPart::new(Weekdays::from_days(days.iter().copied()), from, until).unwrap()
    }

    fn place() -> ScreenPlace {
        ScreenPlace {
            screen_id: ScreenId(30),
            community_id: CommunityId(1),
            estate_id: EstateId(10),
            building_id: BuildingId(20),
            group_id: Some(ScreenGroupId(40)),
        }
    }

    /// A published notice of community 1, valid from a week before the fixed
    /// Friday with no end, shown at any time of day.
    fn notice(id: i64) -> Notice {
        let published = shanghai(13, 9, 0);
        Notice {
            id: NoticeId(id),
            community_id: CommunityId(1),
            title: format!("通知{id}"),
            body: String::new(),
            category: NoticeCategory::Announcement,
            emergency: false,
            validity: Validity::new(published, None).unwrap(),
            day_parts: vec![],
            targets: vec![],
            display_seconds: 15,
            priority: 5,
            images: vec![],
            video: None,
            state: NoticeState::Published,
            rejection_reason: None,
            author_id: AccountId(1),
            approved_by: Some(AccountId(2)),
            revision: 1,
            published_at: Some(published),
            created_at: published,
            updated_at: published,
        }
    }

    fn ids(notices: &[&Notice]) -> Vec<i64> {
        notices.iter().map(|n| n.id.0).collect()
    }

    #[test]
    fn the_fixed_clock_starts_on_a_friday() {
        assert_eq!(local(20, 0, 0).weekday(), Weekday::Fri);
    }

    #[test]
    fn validity_starts_inclusive_and_ends_exclusive() {
        let mut n = notice(1);
        n.validity = Validity::new(shanghai(20, 8, 0), Some(shanghai(20, 18, 0))).unwrap();
        let second = Duration::seconds(1);
        assert!(!showing_at(&n, shanghai(20, 8, 0) - second, Shanghai));
        assert!(showing_at(&n, shanghai(20, 8, 0), Shanghai));
        assert!(showing_at(&n, shanghai(20, 18, 0) - second, Shanghai));
        assert!(!showing_at(&n, shanghai(20, 18, 0), Shanghai));

        let all = [n];
        // Not started yet: sent (the offline screen needs it) but not shown.
        let before = shanghai(20, 7, 0);
        assert_eq!(ids(&for_screen(&all, &place(), before)), [1]);
        assert!(now_showing(&for_screen(&all, &place(), before), before, Shanghai).is_empty());
        // Ended: no longer sent at all.
        assert!(for_screen(&all, &place(), shanghai(20, 18, 0)).is_empty());
    }

    #[test]
    fn a_same_day_part_covers_its_days_from_start_until_end() {
        let weekdays = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ];
        let morning = part(&weekdays, hm(7, 0), hm(9, 30));
        assert!(!day_part_contains(&morning, local(20, 6, 59)));
        assert!(day_part_contains(&morning, local(20, 7, 0)));
        assert!(day_part_contains(&morning, local(20, 9, 29)));
        assert!(!day_part_contains(&morning, local(20, 9, 30)));
        assert!(!day_part_contains(&morning, local(21, 8, 0)), "Saturday");
    }

    #[test]
    fn a_window_across_midnight_belongs_to_the_day_it_starts_on() {
        let friday_night = part(&[Weekday::Fri], hm(22, 0), hm(2, 0));
        assert!(!day_part_contains(&friday_night, local(20, 21, 59)));
        assert!(day_part_contains(&friday_night, local(20, 22, 0)));
        assert!(day_part_contains(&friday_night, local(20, 23, 0)));
        assert!(
            day_part_contains(&friday_night, local(21, 1, 0)),
            "Sat 01:00"
        );
        assert!(!day_part_contains(&friday_night, local(21, 2, 0)));
        assert!(
            !day_part_contains(&friday_night, local(20, 1, 0)),
            "Fri 01:00"
        );
        assert!(
            !day_part_contains(&friday_night, local(21, 23, 0)),
            "Sat 23:00"
        );

        let thursday_too = part(&[Weekday::Thu, Weekday::Fri], hm(22, 0), hm(2, 0));
        assert!(
            day_part_contains(&thursday_too, local(20, 1, 0)),
            "Fri 01:00"
        );
    }

    #[test]
    fn a_window_until_midnight_ends_with_its_day() {
        let late = part(&[Weekday::Fri], hm(22, 0), hm(0, 0));
        assert!(late.crosses_midnight());
        let almost = local(20, 23, 59) + Duration::seconds(59);
        assert!(day_part_contains(&late, almost));
        assert!(!day_part_contains(&late, local(21, 0, 0)));
        assert!(!day_part_contains(&late, local(20, 0, 0)));
    }

    #[test]
    fn day_parts_are_read_in_the_community_time_zone() {
        let mut n = notice(1);
        n.day_parts = vec![part(&[Weekday::Fri], hm(22, 0), hm(2, 0))];
        // 15:00 UTC is 23:00 in Shanghai.
        let now = Utc.with_ymd_and_hms(2026, 11, 20, 15, 0, 0).unwrap();
        assert!(showing_at(&n, now, Shanghai));
        assert!(!showing_at(&n, now, chrono_tz::UTC));
        // Any one of several day parts is enough.
        n.day_parts
            .push(part(&[Weekday::Fri], hm(14, 0), hm(16, 0)));
        assert!(showing_at(&n, now, chrono_tz::UTC));
    }

    #[test]
    fn day_parts_do_not_stretch_the_validity_window() {
        let mut n = notice(1);
        n.day_parts = vec![part(&[Weekday::Fri], hm(8, 0), hm(20, 0))];
        n.validity = Validity::new(shanghai(20, 12, 0), Some(shanghai(20, 13, 0))).unwrap();
        assert!(!showing_at(&n, shanghai(20, 10, 0), Shanghai));
        assert!(showing_at(&n, shanghai(20, 12, 30), Shanghai));
        assert!(!showing_at(&n, shanghai(20, 14, 0), Shanghai));
    }

    #[test]
    fn daylight_saving_gaps_and_overlaps_follow_the_wall_clock() {
        let sunday = [Weekday::Sun];
        let mut skipped = notice(1);
        skipped.validity =
            Validity::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(), None).unwrap();
        // Berlin springs from 02:00 to 03:00 at 01:00 UTC on 29 March 2026.
        skipped.day_parts = vec![part(&sunday, hm(2, 0), hm(3, 0))];
        let mut spanning = skipped.clone();
        spanning.day_parts = vec![part(&sunday, hm(1, 30), hm(3, 30))];
        let start = Utc.with_ymd_and_hms(2026, 3, 28, 23, 0, 0).unwrap();
        for minute in 0..240 {
            let now = start + Duration::minutes(minute);
            assert!(!showing_at(&skipped, now, Berlin), "{now}");
        }
        let before_jump = Utc.with_ymd_and_hms(2026, 3, 29, 0, 59, 0).unwrap();
        let after_jump = Utc.with_ymd_and_hms(2026, 3, 29, 1, 0, 0).unwrap();
        assert!(showing_at(&spanning, before_jump, Berlin));
        assert!(showing_at(&spanning, after_jump, Berlin));

        // Berlin falls back from 03:00 to 02:00 at 01:00 UTC on 25 October
        // 2026, so 02:30 happens twice and shows twice.
        let repeated = Utc.with_ymd_and_hms(2026, 10, 25, 0, 30, 0).unwrap();
        assert!(showing_at(&skipped, repeated, Berlin));
        assert!(showing_at(&skipped, repeated + Duration::hours(1), Berlin));
        assert!(!showing_at(&skipped, repeated + Duration::hours(2), Berlin));
    }

    #[test]
    fn targets_of_each_kind_reach_the_right_screens() {
        let here = place();
        let aimed = |targets: Vec<Target>| {
            let mut n = notice(1);
            n.targets = targets;
            aimed_at(&n, &here)
        };
        assert!(aimed(vec![]), "no targets: the whole community");
        assert!(aimed(vec![Target::Community(CommunityId(1))]));
        assert!(aimed(vec![Target::Estate(EstateId(10))]));
        assert!(aimed(vec![Target::Building(BuildingId(20))]));
        assert!(aimed(vec![Target::Screen(ScreenId(30))]));
        assert!(aimed(vec![Target::Group(ScreenGroupId(40))]));

        assert!(!aimed(vec![Target::Community(CommunityId(2))]));
        assert!(!aimed(vec![Target::Estate(EstateId(11))]));
        assert!(!aimed(vec![Target::Building(BuildingId(21))]));
        assert!(!aimed(vec![Target::Screen(ScreenId(31))]));
        assert!(!aimed(vec![Target::Group(ScreenGroupId(41))]));
        assert!(aimed(vec![
            Target::Building(BuildingId(21)),
            Target::Screen(ScreenId(30)),
        ]));

        let ungrouped = ScreenPlace {
            group_id: None,
            ..here
        };
        let mut grouped = notice(1);
        grouped.targets = vec![Target::Group(ScreenGroupId(40))];
        assert!(!aimed_at(&grouped, &ungrouped));
    }

    #[test]
    fn a_notice_never_reaches_another_community() {
        let elsewhere = ScreenPlace {
            community_id: CommunityId(2),
            ..place()
        };
        // Same estate, building, screen and group ids, but another community.
        for targets in [
            vec![],
            vec![Target::Estate(EstateId(10))],
            vec![Target::Building(BuildingId(20))],
            vec![Target::Screen(ScreenId(30))],
            vec![Target::Group(ScreenGroupId(40))],
            vec![Target::Community(CommunityId(2))],
        ] {
            let mut n = notice(1);
            n.targets = targets;
            assert!(!aimed_at(&n, &elsewhere), "{:?}", n.targets);
            assert!(
                for_screen(std::slice::from_ref(&n), &elsewhere, shanghai(20, 12, 0)).is_empty()
            );
        }
    }

    #[test]
    fn the_rotation_puts_emergencies_then_priority_then_newest_first() {
        let at = |hour| Some(shanghai(19, hour, 0));
        let mut notices: Vec<Notice> = (1..=6).map(notice).collect();
        notices[0].priority = 3;
        notices[1].priority = 9;
        notices[2].priority = 5;
        notices[2].published_at = at(8);
        notices[3].priority = 5;
        notices[3].published_at = at(10);
        notices[4].priority = 1;
        notices[4].emergency = true;
        notices[5].priority = 5;
        notices[5].published_at = at(10);
        let playlist = for_screen(&notices, &place(), shanghai(20, 12, 0));
        assert_eq!(ids(&playlist), [5, 2, 4, 6, 3, 1]);
    }

    #[test]
    fn an_emergency_preempts_everything_until_it_expires() {
        let mut emergency = notice(1);
        emergency.emergency = true;
        emergency.priority = 1;
        emergency.category = NoticeCategory::Outage;
        emergency.validity = Validity::new(shanghai(20, 9, 0), Some(shanghai(20, 11, 0))).unwrap();
        let notices = [notice(2), emergency, notice(3)];

        let during = shanghai(20, 10, 0);
        let sent = for_screen(&notices, &place(), during);
        assert_eq!(ids(&sent), [1, 2, 3]);
        assert_eq!(ids(&now_showing(&sent, during, Shanghai)), [1]);

        // Before it starts the rest rotate; the emergency is already on the
        // screen's playlist for when the connection drops.
        let before = shanghai(20, 8, 0);
        let sent = for_screen(&notices, &place(), before);
        assert_eq!(ids(&sent), [1, 2, 3]);
        assert_eq!(ids(&now_showing(&sent, before, Shanghai)), [2, 3]);

        // From the instant it expires it is gone and the rotation resumes.
        let after = shanghai(20, 11, 0);
        let sent = for_screen(&notices, &place(), after);
        assert_eq!(ids(&sent), [2, 3]);
        assert_eq!(ids(&now_showing(&sent, after, Shanghai)), [2, 3]);
        // An offline screen still holding the old playlist drops it too.
        let stale = for_screen(&notices, &place(), during);
        assert_eq!(ids(&now_showing(&stale, after, Shanghai)), [2, 3]);
    }

    #[test]
    fn an_emergency_outside_its_day_parts_does_not_preempt() {
        let mut emergency = notice(1);
        emergency.emergency = true;
        emergency.day_parts = vec![part(&[Weekday::Fri], hm(22, 0), hm(2, 0))];
        let notices = [emergency, notice(2)];
        let sent = for_screen(&notices, &place(), shanghai(20, 12, 0));
        assert_eq!(ids(&now_showing(&sent, shanghai(20, 12, 0), Shanghai)), [2]);
        assert_eq!(ids(&now_showing(&sent, shanghai(20, 23, 0), Shanghai)), [1]);
    }

    #[test]
    fn only_published_notices_are_sent() {
        let notices: Vec<Notice> = NoticeState::ALL
            .into_iter()
            .enumerate()
            .map(|(i, state)| Notice {
                state,
                emergency: true,
                ..notice(i as i64 + 1)
            })
            .collect();
        let now = shanghai(20, 12, 0);
        let sent = for_screen(&notices, &place(), now);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].state, NoticeState::Published);
        assert_eq!(now_showing(&sent, now, Shanghai).len(), 1);
    }

    mod properties {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;
        use std::collections::HashSet;

        const MINUTES_PER_DAY: u32 = 24 * 60;
        const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;

        /// 2026-11-16 00:00, a Monday: minute 0 of the model week.
        fn monday() -> NaiveDateTime {
            local(16, 0, 0)
        }

        fn time_of(minute: u32) -> NaiveTime {
            hm(minute / 60, minute % 60)
        }

        fn day_part() -> impl Strategy<Value = DayPart> {
            (1u8..=127, 0..MINUTES_PER_DAY, 0..MINUTES_PER_DAY)
                .prop_filter("from and until differ", |(_, from, until)| from != until)
                .prop_map(|(days, from, until)| {
                    DayPart::new(Weekdays::from_bits(days), time_of(from), time_of(until)).unwrap()
                })
        }

        /// Minutes of the week (Monday 00:00 = 0) the day part covers, built
        /// literally: on each chosen day, [from, until) when it stays within
        /// the day, otherwise [from, 24:00) plus [00:00, until) of the next.
        fn covered_minutes(part: &DayPart) -> HashSet<u32> {
            let minute_of = |t: NaiveTime| t.signed_duration_since(hm(0, 0)).num_minutes() as u32;
            let (from, until) = (minute_of(part.from()), minute_of(part.until()));
            let mut covered = HashSet::new();
            for day in 0..7 {
                if part.weekdays().bits() & (1 << day) != 0 {
                    let start = day * MINUTES_PER_DAY;
                    if until > from {
                        covered.extend(start + from..start + until);
                    } else {
                        covered.extend(start + from..start + MINUTES_PER_DAY);
                        let next = (day + 1) % 7 * MINUTES_PER_DAY;
                        covered.extend(next..next + until);
                    }
                }
            }
            covered
        }

        #[derive(Debug, Clone)]
        struct Spec {
            community: i64,
            state: NoticeState,
            emergency: bool,
            priority: u8,
            published_hours_ago: Option<i64>,
            starts_in_hours: i64,
            lasts_hours: Option<i64>,
            targets: Vec<Target>,
            day_parts: Vec<DayPart>,
        }

        fn target() -> impl Strategy<Value = Target> {
            prop_oneof![
                (1i64..=2).prop_map(|id| Target::Community(CommunityId(id))),
                (10i64..=11).prop_map(|id| Target::Estate(EstateId(id))),
                (20i64..=21).prop_map(|id| Target::Building(BuildingId(id))),
                (30i64..=31).prop_map(|id| Target::Screen(ScreenId(id))),
                (40i64..=41).prop_map(|id| Target::Group(ScreenGroupId(id))),
            ]
        }

        fn spec() -> impl Strategy<Value = Spec> {
            (
                (
                    prop_oneof![4 => Just(1i64), 1 => Just(2i64)],
                    prop_oneof![
                        4 => Just(NoticeState::Published),
                        1 => proptest::sample::select(NoticeState::ALL.to_vec()),
                    ],
                    proptest::bool::weighted(0.2),
                    1u8..=9,
                    proptest::option::weighted(0.9, 0i64..72),
                ),
                (
                    -72i64..24,
                    proptest::option::of(1i64..96),
                    vec(target(), 0..3),
                    vec(day_part(), 0..3),
                ),
            )
                .prop_map(
                    |(
                        (community, state, emergency, priority, published_hours_ago),
                        (starts_in_hours, lasts_hours, targets, day_parts),
                    )| Spec {
                        community,
                        state,
                        emergency,
                        priority,
                        published_hours_ago,
                        starts_in_hours,
                        lasts_hours,
                        targets,
                        day_parts,
                    },
                )
        }

        fn build(specs: &[Spec], now: DateTime<Utc>) -> Vec<Notice> {
            specs
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let starts = now + Duration::hours(s.starts_in_hours);
                    let ends = s.lasts_hours.map(|h| starts + Duration::hours(h));
                    Notice {
                        community_id: CommunityId(s.community),
                        state: s.state,
                        emergency: s.emergency,
                        priority: s.priority,
                        published_at: s.published_hours_ago.map(|h| now - Duration::hours(h)),
                        validity: Validity::new(starts, ends).unwrap(),
                        targets: s.targets.clone(),
                        day_parts: s.day_parts.clone(),
                        ..notice(i as i64 + 1)
                    }
                })
                .collect()
        }

        fn screen_place() -> impl Strategy<Value = ScreenPlace> {
            (
                30i64..=31,
                10i64..=11,
                20i64..=21,
                proptest::option::of(40i64..=41),
            )
                .prop_map(|(screen, estate, building, group)| ScreenPlace {
                    screen_id: ScreenId(screen),
                    community_id: CommunityId(1),
                    estate_id: EstateId(estate),
                    building_id: BuildingId(building),
                    group_id: group.map(ScreenGroupId),
                })
        }

        /// The rotation rule written out as a key, independently of
        /// `rotation_order`: smaller keys come first.
        fn rotation_key(n: &Notice) -> (bool, u8, std::cmp::Reverse<Option<DateTime<Utc>>>, i64) {
            (
                !n.emergency,
                9 - n.priority,
                std::cmp::Reverse(n.published_at),
                n.id.0,
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]

            #[test]
            fn a_day_part_covers_exactly_its_minutes_of_the_week(part in day_part()) {
                let covered = covered_minutes(&part);
                for minute in 0..MINUTES_PER_WEEK {
                    let start = monday() + Duration::minutes(minute.into());
                    let expected = covered.contains(&minute);
                    prop_assert_eq!(day_part_contains(&part, start), expected, "{}", start);
                    let end = start + Duration::seconds(59);
                    prop_assert_eq!(day_part_contains(&part, end), expected, "{}", end);
                }
            }
        }

        /// Targeting written out independently of `aimed_at`: the places a
        /// screen stands in, as (kind, id) keys, meet the notice's targets
        /// (no targets: the whole community).
        fn aimed_at_by_keys(n: &Notice, place: &ScreenPlace) -> bool {
            let key = |t: &Target| match *t {
                Target::Community(id) => ("community", id.0),
                Target::Estate(id) => ("estate", id.0),
                Target::Building(id) => ("building", id.0),
                Target::Screen(id) => ("screen", id.0),
                Target::Group(id) => ("group", id.0),
            };
            let mut places: HashSet<(&str, i64)> = [
                ("community", place.community_id.0),
                ("estate", place.estate_id.0),
                ("building", place.building_id.0),
                ("screen", place.screen_id.0),
            ]
            .into();
            places.extend(place.group_id.map(|g| ("group", g.0)));
            n.targets.is_empty() || n.targets.iter().any(|t| places.contains(&key(t)))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn the_playlist_follows_the_rules(
                specs in vec(spec(), 0..12),
                place in screen_place(),
                minutes in 0i64..MINUTES_PER_WEEK as i64,
                later_minutes in 0i64..(3 * MINUTES_PER_DAY) as i64,
            ) {
                let now = shanghai(16, 0, 0) + Duration::minutes(minutes);
                let notices = build(&specs, now);
                let sent = for_screen(&notices, &place, now);

                // Exactly the published, aimed, not-ended notices.
                let expected: HashSet<i64> = notices
                    .iter()
                    .filter(|n| n.state == NoticeState::Published
                        && n.community_id == place.community_id
                        && aimed_at_by_keys(n, &place)
                        && n.validity.ends_at().is_none_or(|end| now < end))
                    .map(|n| n.id.0)
                    .collect();
                prop_assert_eq!(ids(&sent).into_iter().collect::<HashSet<_>>(), expected);
                prop_assert!(sent.windows(2).all(|w| rotation_key(w[0]) < rotation_key(w[1])));

                // The screen evaluates the playlist now and, offline, later.
                for at in [now, now + Duration::minutes(later_minutes)] {
                    let showing = now_showing(&sent, at, Shanghai);
                    // A subsequence of what was sent, each one due now.
                    let mut rest = sent.iter();
                    for n in &showing {
                        prop_assert!(rest.any(|s| s.id == n.id));
                        prop_assert!(showing_at(n, at, Shanghai));
                    }
                    let due: Vec<&Notice> =
                        sent.iter().copied().filter(|n| showing_at(n, at, Shanghai)).collect();
                    if due.iter().any(|n| n.emergency) {
                        prop_assert!(showing.iter().all(|n| n.emergency));
                        prop_assert_eq!(showing.len(), due.iter().filter(|n| n.emergency).count());
                    } else {
                        prop_assert_eq!(ids(&showing), ids(&due));
                    }
                }
            }
        }
    }
}
