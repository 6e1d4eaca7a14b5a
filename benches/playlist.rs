//! Resolving one lobby screen's playlist with 10,000 notices in the
//! database, and 1,000 screens polling at once (criterion).
//!
//!   cargo bench --bench playlist                  # both databases, every figure
//!   cargo bench --bench playlist -- history       # only the first database
//!   cargo bench --bench playlist -- 1000_screens  # only the bursts
//!
//! Each database is a fresh server (`Application::build`, port 0, a temporary
//! data directory; see `support/signage_place.rs`) with a community of
//! 4 estates × 5 buildings, 2 screen groups and 1,000 paired screens, and
//! 10,000 notices written through `Signage::create_notice` — aimed at the
//! whole community (10 %), an estate (20 %), a building (40 %), a screen
//! group (15 %) or one screen (15 %), a third with day-parts (some across
//! midnight), bodies from a one-line notice to a 14-row fee table:
//!
//! - `history`: what a community accumulates over the years. 400 notices
//!   are current; the rest ended long ago (9,400), were withdrawn, rejected,
//!   or are still drafts or pending approval.
//! - `all_current`: all 10,000 published and current, the worst case: one
//!   screen's playlist has about 2,000 items.
//!
//! Figures, per database (`one_screen`):
//! - `store_read`: reading the community's current notices from SQLite
//!   (what the first poll after any change costs, once for all screens);
//! - `resolve`: `playlist::for_screen` over those notices (targeting,
//!   validity, rotation order) — pure, no I/O;
//! - `signage_warm`: `Signage::playlist` as a poll runs it (resolution, the
//!   cached Markdown rendering, the live tile, the version hash);
//! - `signage_after_change`: the same right after a change (the cached
//!   notices dropped, so it includes `store_read`);
//! - `http_200` / `http_304`: one screen's `GET /kiosk/api/playlist` over
//!   HTTP, token check included, full body or `If-None-Match`.
//!
//! and `1000_screens`: all 1,000 screens, each with its own token and
//! connection, asking at the same moment — `poll_304` (nothing changed: the
//! steady state, and the fallback when push is down) and `fetch_200` (after
//! a change every screen fetches its new playlist, with the `Accept-Encoding`
//! Chromium sends). One iteration is one burst; criterion's time is until
//! the last screen has its answer.
//!
//! The load generator shares the machine's two cores with the server.

use std::time::{Duration, Instant};

use chrono::{Duration as Span, Utc, Weekday};
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use futures_util::future::join_all;
use pavilion::domain::notice::{
    DayPart, NoticeCategory, NoticeDraft, NoticeState, Target, Validity, Weekdays,
};
use pavilion::domain::screen::Screen;
use pavilion::domain::*;
use pavilion::signage::{playlist, Intent};
use pavilion::store::NoticeFilter;
use tokio::runtime::Runtime;

#[path = "support/signage_place.rs"]
mod place;

use place::{Place, FEE_TABLE, PRICE_TABLE, PROSE};

const NOTICES: usize = 10_000;
const SCREENS: usize = 1_000;
/// What Chromium sends over HTTPS (and to localhost).
const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

#[derive(Clone, Copy)]
enum Database {
    History,
    AllCurrent,
}

impl Database {
    fn name(self) -> &'static str {
        match self {
            Database::History => "history",
            Database::AllCurrent => "all_current",
        }
    }
}

/// A seeded server and what the measurements need from it.
struct World {
    server: place::Server,
    place: Place,
    /// Every paired screen with its token; the first is the one measured
    /// alone (building 1 of the first estate, in the first group).
    screens: Vec<(Screen, String)>,
    http: reqwest::Client,
}

impl World {
    async fn build(database: Database) -> World {
        let server = place::start().await;
        let state = &server.state;
        let place = place::seed_place(state).await;
        let admin = place::create_admin(state).await;
        let screens = place::pair(state, &place, &admin, server.port, SCREENS).await;
        let started = Instant::now();
        for i in 0..NOTICES {
            write_notice(state, &place, &admin, &screens, database, i).await;
        }
        eprintln!(
            "{}: {NOTICES} notices written in {:.1} s",
            database.name(),
            started.elapsed().as_secs_f64()
        );
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(SCREENS)
            .build()
            .unwrap();
        World {
            server,
            place,
            screens,
            http,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/kiosk/api/playlist", self.server.port)
    }

    /// One screen's poll: the status and the ETag it was given.
    async fn poll(&self, token: &str, etag: Option<&str>, encoding: bool) -> (u16, String) {
        let mut request = self.http.get(self.url()).bearer_auth(token);
        if let Some(etag) = etag {
            request = request.header("If-None-Match", etag);
        }
        if encoding {
            request = request.header("Accept-Encoding", BROWSER_ACCEPT_ENCODING);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status().as_u16();
        let etag = response
            .headers()
            .get("ETag")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        std::hint::black_box(response.bytes().await.expect("a body"));
        (status, etag)
    }

    /// Every screen at once; panics unless each gets `expected`.
    async fn burst(&self, etags: Option<&[String]>, expected: u16) {
        let answers = join_all(self.screens.iter().enumerate().map(|(i, (_, token))| {
            let etag = etags.map(|tags| tags[i].as_str());
            self.poll(token, etag, etags.is_none())
        }))
        .await;
        assert!(answers.iter().all(|(status, _)| *status == expected));
    }
}

/// The `i`-th notice of the database, written as staff do it.
async fn write_notice(
    state: &pavilion::web::AppState,
    place: &Place,
    admin: &Account,
    screens: &[(Screen, String)],
    database: Database,
    i: usize,
) {
    let now = Utc::now();
    let (intent, validity) = match database {
        Database::AllCurrent => (Intent::Publish, current(now, i)),
        Database::History => match i % 50 {
            // One in 25 current: 400.
            0 | 25 => (Intent::Publish, current(now, i)),
            // Waiting for approval, or still being written.
            1 => (Intent::Submit, current(now, i)),
            2 => (Intent::Save, current(now, i)),
            // The rest ran for a week at some time in the last three years.
            _ => {
                let start = now - Span::hours(2 + (i as i64 * 7919) % (3 * 365 * 24));
                (
                    Intent::Publish,
                    Validity::new(start - Span::days(7), Some(start)).unwrap(),
                )
            }
        },
    };
    let targets = match i % 20 {
        0 | 1 => vec![],
        2..=5 => vec![Target::Estate(place.estates[i % place.estates.len()])],
        6..=13 => vec![Target::Building(
            place.buildings[(i / 20) % place.buildings.len()],
        )],
        14..=16 => vec![Target::Group(place.groups[i % place.groups.len()])],
        _ => vec![Target::Screen(screens[(i / 20) % screens.len()].0.id)],
    };
    let day_parts = match i % 6 {
        0 => vec![DayPart::new(
            Weekdays::from_days([
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
            ]),
            place::hm(7, 0),
            place::hm(9, 30),
        )
        .unwrap()],
        1 => vec![DayPart::new(Weekdays::EVERY_DAY, place::hm(22, 0), place::hm(6, 0)).unwrap()],
        _ => vec![],
    };
    let (category, body) = match i % 8 {
        0 => (NoticeCategory::Disclosure, FEE_TABLE),
        1 => (NoticeCategory::PriceList, PRICE_TABLE),
        2 => (
            NoticeCategory::Event,
            "周六上午九点，社区广场义诊，欢迎参加。",
        ),
        3 => (NoticeCategory::Outage, PROSE),
        4 => (
            NoticeCategory::BroadcastSchedule,
            "本周四晚七点，书记在线答疑。",
        ),
        _ => (NoticeCategory::Announcement, PROSE),
    };
    let draft = NoticeDraft::new(
        place.community,
        &format!("通知第{i}号"),
        body,
        category,
        false,
        validity,
        day_parts,
        targets,
        15,
        (i % 9 + 1) as u8,
        vec![],
        None,
    )
    .unwrap();
    let notice = state
        .signage
        .create_notice(admin, &draft, intent)
        .await
        .unwrap();
    // Of the history's past notices, some were withdrawn or rejected.
    if let Database::History = database {
        match i % 50 {
            3 => {
                state
                    .signage
                    .withdraw_notice(admin, notice.id)
                    .await
                    .unwrap();
            }
            4 => {
                let pending = state
                    .signage
                    .update_notice(admin, notice.id, notice.revision, &draft, Intent::Submit)
                    .await
                    .unwrap();
                state
                    .signage
                    .reject_notice(admin, pending.id, pending.revision, "内容有误，请修改")
                    .await
                    .unwrap();
            }
            _ => {}
        }
    }
}

/// Started an hour ago; every third open-ended, the rest for a month.
fn current(now: chrono::DateTime<Utc>, i: usize) -> Validity {
    let end = (!i.is_multiple_of(3)).then(|| now + Span::days(30));
    Validity::new(now - Span::hours(1), end).unwrap()
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    for database in [Database::History, Database::AllCurrent] {
        let world = runtime.block_on(World::build(database));
        one_screen(c, &runtime, &world, database);
        thousand_screens(c, &runtime, &world, database);
        runtime.block_on(async move { drop(world) });
    }
}

fn one_screen(c: &mut Criterion, runtime: &Runtime, world: &World, database: Database) {
    let state = &world.server.state;
    let community = world.place.community;
    let (screen, token) = &world.screens[0];
    let current = runtime
        .block_on(state.store.current_notices(community, Utc::now()))
        .unwrap();
    let in_database = runtime
        .block_on(state.store.list_notices(&NoticeFilter {
            community: Some(community),
            states: vec![],
            ids: vec![],
            limit: NOTICES as i64 * 2,
        }))
        .unwrap();
    assert_eq!(in_database.len(), NOTICES);
    let published = in_database
        .iter()
        .filter(|n| n.state == NoticeState::Published)
        .count();
    let resolved = runtime
        .block_on(state.signage.playlist(screen, Utc::now()))
        .unwrap();
    let json = serde_json::to_vec(&resolved).unwrap().len();
    println!(
        "{}: {} notices in the database, {published} published, {} current; \
         screen {} gets {} items ({} KiB of JSON)",
        database.name(),
        in_database.len(),
        current.len(),
        screen.id,
        resolved.items.len(),
        json / 1024
    );

    let mut group = c.benchmark_group(format!("{}/one_screen", database.name()));
    group.bench_function("store_read", |b| {
        b.to_async(runtime).iter(|| async {
            state
                .store
                .current_notices(community, Utc::now())
                .await
                .unwrap()
        })
    });
    group.bench_function("resolve", |b| {
        let now = Utc::now();
        b.iter(|| playlist::for_screen(&current, &screen.place, now).len())
    });
    group.bench_function("signage_warm", |b| {
        b.to_async(runtime)
            .iter(|| async { state.signage.playlist(screen, Utc::now()).await.unwrap() })
    });
    group.bench_function("signage_after_change", |b| {
        b.to_async(runtime).iter(|| async {
            // Drops the cached notices, as any edit does (and re-reads the
            // community's figures switch, one small query).
            state.signage.screen_figures_switched(community);
            state.signage.playlist(screen, Utc::now()).await.unwrap()
        })
    });
    let (status, etag) = runtime.block_on(world.poll(token, None, false));
    assert_eq!(status, 200);
    group.bench_function("http_200", |b| {
        b.to_async(runtime)
            .iter(|| async { assert_eq!(world.poll(token, None, false).await.0, 200) })
    });
    group.bench_function("http_304", |b| {
        b.to_async(runtime)
            .iter(|| async { assert_eq!(world.poll(token, Some(&etag), false).await.0, 304) })
    });
    group.finish();
}

fn thousand_screens(c: &mut Criterion, runtime: &Runtime, world: &World, database: Database) {
    // Each screen's current version, as it would hold it.
    let etags: Vec<String> = runtime.block_on(async {
        let mut etags = Vec::with_capacity(world.screens.len());
        for (_, token) in &world.screens {
            let (status, etag) = world.poll(token, None, false).await;
            assert_eq!(status, 200);
            etags.push(etag);
        }
        etags
    });
    let mut group = c.benchmark_group(format!("{}/1000_screens", database.name()));
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(world.screens.len() as u64));
    group.bench_function("poll_304", |b| {
        b.to_async(runtime).iter(|| world.burst(Some(&etags), 304))
    });
    group.bench_function("fetch_200", |b| {
        b.to_async(runtime).iter(|| world.burst(None, 200))
    });
    group.finish();
}

criterion_group!(playlist_benches, benches);
criterion_main!(playlist_benches);
