//! The lobby screen in a real headless Chromium: it pairs, rotates what it is
//! sent, takes an emergency at once, keeps going with the server down
//! (Service Worker), and catches up when the server is back.

use std::time::Duration;

use actix_web::dev::ServerHandle;
use fantoccini::Client;
use pavilion::domain::notice::{DayPart, NoticeCategory, NoticeDraft, Validity, Weekdays};
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::settings::Settings;
use pavilion::signage::Intent;
use pavilion::startup::Application;
use pavilion::store::{PlayFilter, ScreenSetup};

use crate::browser::{browser, Driver};
use crate::helpers::*;

/// A server that can be stopped and started again on the same port and data.
struct Restartable {
    settings: Settings,
    handle: ServerHandle,
    app: TestApp,
}

async fn start(
    settings: Settings,
) -> (
    ServerHandle,
    actix_web::web::Data<pavilion::web::AppState>,
    u16,
) {
    let app = Application::build(settings)
        .await
        .expect("application builds");
    let handle = app.handle();
    let state = app.state();
    let port = app.port();
    tokio::spawn(app.run_until_stopped());
    (handle, state, port)
}

impl Restartable {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = test_settings(dir.path());
        let database = match backend() {
            Backend::Postgres => Some(ScratchDatabase::new().await),
            Backend::Sqlite => None,
        };
        if let Some(made) = &database {
            settings.database.url = made.url.clone();
        }
        let (handle, state, port) = start(settings.clone()).await;
        settings.server.port = port;
        let app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            rtmp_port: state.rtmp_port,
            data_dir: dir.path().to_owned(),
            database_url: settings.database.url.clone(),
            state,
            _dir: dir,
            _database: database,
        };
        Self {
            settings,
            handle,
            app,
        }
    }

    async fn stop(&self) {
        self.handle.stop(false).await;
    }

    async fn restart(&mut self) {
        let (handle, state, _) = start(self.settings.clone()).await;
        self.handle = handle;
        self.app.state = state;
    }
}

fn draft(place: &Place, title: &str, emergency: bool, day_parts: Vec<DayPart>) -> NoticeDraft {
    NoticeDraft::new(
        place.community.id,
        title,
        "请相互转告。",
        if emergency {
            NoticeCategory::Outage
        } else {
            NoticeCategory::Announcement
        },
        emergency,
        Validity::new(chrono::Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        day_parts,
        vec![],
        5,
        5,
        vec![],
        None,
    )
    .unwrap()
}

/// Waits until `script` (returning a string) returns something containing `want`.
async fn wait_for_text(
    page: &Client,
    script: &str,
    want: &str,
    limit: Duration,
    what: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(value) = page.execute(script, vec![]).await {
            last = value.as_str().unwrap_or_default().to_owned();
            if last.contains(want) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what}: waited {limit:?} for {want:?}, last saw {last:?}");
}

/// Watches `script` for `period` and fails as soon as it returns something
/// containing `unwanted`.
async fn never_shows(page: &Client, script: &str, unwanted: &str, period: Duration, what: &str) {
    let until = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < until {
        let value = page.execute(script, vec![]).await.unwrap();
        let text = value.as_str().unwrap_or_default();
        assert!(
            !text.contains(unwanted),
            "{what}: {unwanted:?} is back: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Makes `stale`, a playlist the screen had earlier, the Service Worker's
/// last playlist, dated in the same second as the newer one the page keeps:
/// older, but later as text ("…:03Z" sorts after "…:03.912Z").
async fn plant_stale_playlist(page: &Client, stale: &str) {
    let planted = page
        .execute_async(
            r#"const [stale, done] = arguments;
               (async () => {
                 const ours = JSON.parse(localStorage.getItem('pavilion.kiosk.playlist'));
                 const copy = JSON.parse(stale);
                 copy.generated_at = ours.generated_at.replace(/\.\d+Z$/, 'Z');
                 copy.generated_at_ms = Math.floor(ours.generated_at_ms / 1000) * 1000;
                 const name = (await caches.keys()).find((n) => n.startsWith('pavilion-kiosk-') && n !== 'pavilion-kiosk-media');
                 if (!name) throw new Error('no Service Worker cache');
                 const headers = { 'Content-Type': 'application/json' };
                 await (await caches.open(name)).put('/kiosk/api/playlist', new Response(JSON.stringify(copy), { headers }));
                 return 'planted';
               })().then(done, (e) => done(String(e)));"#,
            vec![serde_json::json!(stale)],
        )
        .await
        .unwrap();
    assert_eq!(planted.as_str(), Some("planted"));
}

/// A fresh Chromium on the real kiosk page, paired the way an admin pairs a
/// screen: the code it shows is claimed for `place`'s building.
pub(crate) async fn open_paired_kiosk(
    app: &TestApp,
    admin: &Account,
    place: &Place,
    name: &str,
) -> (Driver, Client) {
    let (driver, page) = browser().await;
    page.set_window_size(1920, 1080).await.unwrap();
    page.goto(&app.url("/kiosk/")).await.unwrap();
    let mut code = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while code.len() != 6 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pairing code shown"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        code = page
            .execute(
                "return document.querySelector('#pair-code')?.innerText ?? ''",
                vec![],
            )
            .await
            .unwrap()
            .as_str()
            .unwrap_or_default()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
    }
    app.state
        .signage
        .claim_pairing(
            admin,
            &code,
            &ScreenSetup {
                name: name.into(),
                building_id: place.building.id,
                group_id: None,
                orientation: Orientation::Landscape,
            },
        )
        .await
        .expect("the code the screen shows pairs it");
    (driver, page)
}

const STAGE_TEXT: &str = "return document.querySelector('#stage')?.innerText ?? ''";
/// The item on screen now, without the one still fading out beneath it.
const CURRENT_ITEM: &str =
    "const items = document.querySelectorAll('#stage > .item:not(.leaving)'); \
     return items.length ? items[items.length - 1].innerText : ''";
const OFFLINE_MARK: &str =
    "const m = document.querySelector('#offline'); return m && !m.hidden ? m.innerText : ''";

#[tokio::test]
async fn a_lobby_screen_pairs_rotates_and_survives_the_server_going_down() {
    let mut server = Restartable::new().await;
    let app = &server.app;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let signage = app.state.signage.clone();
    signage
        .create_notice(
            &admin,
            &draft(&place, "电梯年检通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    // A notice for a time of day that is never now (a one-minute window
    // twelve hours away) must not show.
    let away = (chrono::Utc::now() + chrono::Duration::hours(8 + 12)).time();
    let later = away + chrono::Duration::minutes(1);
    let never_now = DayPart::new(Weekdays::EVERY_DAY, away, later).unwrap();
    signage
        .create_notice(
            &admin,
            &draft(&place, "夜间施工提示", false, vec![never_now]),
            Intent::Publish,
        )
        .await
        .unwrap();

    let (_driver, page) = open_paired_kiosk(app, &admin, &place, "3号楼大堂").await;

    wait_for_text(
        &page,
        STAGE_TEXT,
        "电梯年检通知",
        Duration::from_secs(30),
        "first notice",
    )
    .await;
    let screen_name = page
        .execute(
            "return document.querySelector('#screen-name').innerText",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(screen_name.as_str(), Some("3号楼大堂"));

    // An emergency takes over the screen (pushed, no reload).
    let emergency = signage
        .create_notice(
            &admin,
            &draft(&place, "燃气泄漏 请勿动火", true, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "燃气泄漏",
        Duration::from_secs(10),
        "emergency",
    )
    .await;
    let with_emergency = page
        .execute(
            "return localStorage.getItem('pavilion.kiosk.playlist')",
            vec![],
        )
        .await
        .unwrap();
    let with_emergency = with_emergency.as_str().unwrap_or_default().to_owned();
    assert!(with_emergency.contains("燃气泄漏"));
    // Withdrawn: the rotation comes back. Watch the item on screen, not the
    // whole stage, where the notice the emergency replaced is still fading
    // out: the server must not go before the withdrawal has reached the screen.
    signage.withdraw_notice(&admin, emergency.id).await.unwrap();
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(15),
        "back to rotation",
    )
    .await;
    let shown = page.execute(STAGE_TEXT, vec![]).await.unwrap();
    assert!(!shown.as_str().unwrap_or_default().contains("夜间施工提示"));

    // The server goes away: the screen keeps showing its notices, marks
    // itself offline, and even a reload comes up from the Service Worker.
    server.stop().await;
    wait_for_text(
        &page,
        OFFLINE_MARK,
        "离线",
        Duration::from_secs(60),
        "offline mark",
    )
    .await;
    // A reload must never bring back an older playlist, even when the
    // Service Worker's copy is the older one (the page's is in localStorage).
    plant_stale_playlist(&page, &with_emergency).await;
    page.refresh().await.unwrap();
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "after a reload while offline",
    )
    .await;
    // Longer than a turn, and the page asks the Service Worker right away.
    never_shows(
        &page,
        STAGE_TEXT,
        "燃气泄漏",
        Duration::from_secs(8),
        "the withdrawn emergency after a reload while offline",
    )
    .await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(15),
        "still rotating offline",
    )
    .await;

    // Back: the mark goes, and the plays made meanwhile arrive.
    server.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let mark = page.execute(OFFLINE_MARK, vec![]).await.unwrap();
        if mark.as_str().unwrap_or_default().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the offline mark stays after the server returned"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let plays = server
            .app
            .state
            .store
            .plays(&PlayFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        if plays.iter().any(|p| p.notice_title == "电梯年检通知") {
            assert!(plays.iter().all(|p| p.notice_title != "夜间施工提示"));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no proof of play arrived"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let screen = server
        .app
        .state
        .store
        .list_screens(None)
        .await
        .unwrap()
        .remove(0);
    assert!(screen.last_seen_at.is_some(), "heartbeats arrive");
    assert!(!screen.heartbeat.client_version.is_empty());
}

/// The live tile on screen (not one fading out), as JSON: its text, the
/// number of QR codes in it, and the outlines those codes draw.
const LIVE_TILE: &str =
    "const tile = [...document.querySelectorAll('#stage > .item.live:not(.leaving)')].pop(); \
     if (!tile) return ''; \
     const qr = tile.querySelector('.live-qr'); \
     return JSON.stringify({ \
       text: tile.innerText, \
       svgs: qr ? qr.querySelectorAll('svg').length : 0, \
       paths: qr ? [...qr.querySelectorAll('svg path')].map((p) => p.getAttribute('d')) : [], \
     });";
const ANY_LIVE_TILE: &str =
    "return document.querySelector('#stage > .item.live') ? 'present' : 'absent'";

#[tokio::test]
async fn a_lobby_screen_shows_the_live_tile_while_its_estate_is_on_air() {
    let app = spawn_app_with(|s| s.live.grace_seconds = 1).await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    // Paired and running (the idle view: nothing to show yet), no live tile.
    wait_for_text(
        &page,
        "return document.querySelector('#screen-name')?.innerText ?? ''",
        "3号楼大堂",
        Duration::from_secs(15),
        "paired",
    )
    .await;
    never_shows(
        &page,
        ANY_LIVE_TILE,
        "present",
        Duration::from_millis(500),
        "a live tile before the broadcast",
    )
    .await;

    let publisher = crate::publisher::Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(15), "live", |b| {
        b.state == broadcast::BroadcastState::Live
    })
    .await;
    let shown = wait_for_text(
        &page,
        LIVE_TILE,
        "书记直播间",
        Duration::from_secs(15),
        "the live tile",
    )
    .await;
    let tile: serde_json::Value = serde_json::from_str(&shown).unwrap();
    let text = tile["text"].as_str().unwrap();
    assert!(text.contains("正在直播"), "no heading in {text:?}");
    assert!(text.contains("扫码观看直播"), "no QR caption in {text:?}");
    assert_eq!(tile["svgs"], 1, "one QR code in the tile: {tile}");
    // The watch URL is not written out on the tile, only encoded: the code
    // drawn must be the one for this broadcast's watch page.
    let watch_url = format!(
        "{}/live/{}",
        app.state.settings.server.public_url.trim_end_matches('/'),
        broadcast.id
    );
    let expected = pavilion::signage::screens::qr_svg(&watch_url);
    let expected = roxmltree::Document::parse(&expected).unwrap();
    let expected: Vec<&str> = expected
        .descendants()
        .filter(|n| n.has_tag_name("path"))
        .filter_map(|n| n.attribute("d"))
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(
        tile["paths"],
        serde_json::json!(expected),
        "the tile's QR code is not the one for {watch_url}"
    );

    publisher.kill();
    app.state.live.end(&admin, broadcast.id).await.unwrap();
    wait_for_text(
        &page,
        ANY_LIVE_TILE,
        "absent",
        Duration::from_secs(15),
        "the live tile going after the broadcast ended",
    )
    .await;
    // And it stays gone (the on-air list is refreshed every two seconds).
    never_shows(
        &page,
        ANY_LIVE_TILE,
        "present",
        Duration::from_secs(3),
        "the live tile after the broadcast ended",
    )
    .await;
}

// ------------------------------------------------ rotation, emergency, offline

/// A published-notice draft with the fields these tests vary.
fn timed_draft(
    place: &Place,
    title: &str,
    priority: u8,
    display_seconds: u32,
    ends_at: Option<chrono::DateTime<chrono::Utc>>,
) -> NoticeDraft {
    NoticeDraft::new(
        place.community.id,
        title,
        "请相互转告。",
        NoticeCategory::Announcement,
        false,
        Validity::new(chrono::Utc::now() - chrono::Duration::hours(1), ends_at).unwrap(),
        vec![],
        vec![],
        display_seconds,
        priority,
        vec![],
        None,
    )
    .unwrap()
}

/// Installs, in the page, a record of every item put on the stage: when
/// (`performance.now()` and the box's `Date.now()`), its title, and when its
/// fade-in ended.
const RECORD_TURNS: &str = "
    window.__turns = [];
    new MutationObserver((changes) => {
      for (const change of changes) for (const node of change.addedNodes) {
        if (node.nodeType !== 1 || !node.classList.contains('item')) continue;
        const turn = { at: performance.now(), wall: Date.now(),
                       title: node.querySelector('.title')?.textContent ?? '', opaque: null };
        window.__turns.push(turn);
        node.addEventListener('transitionend', () => { turn.opaque ??= performance.now(); });
      }
    }).observe(document.querySelector('#stage'), { childList: true });
    return 'recording';";
const RECORDED_TURNS: &str = "return JSON.stringify(window.__turns ?? [])";

#[derive(Debug, serde::Deserialize)]
struct Turn {
    /// `performance.now()` when the item was put on the stage, ms.
    at: f64,
    /// The box's clock then (the same machine's clock as the test's), ms.
    wall: f64,
    title: String,
    /// `performance.now()` when its fade-in ended.
    opaque: Option<f64>,
}

async fn record_turns(page: &Client) {
    let answer = page.execute(RECORD_TURNS, vec![]).await.unwrap();
    assert_eq!(answer.as_str(), Some("recording"));
}

async fn recorded_turns(page: &Client) -> Vec<Turn> {
    let value = page.execute(RECORDED_TURNS, vec![]).await.unwrap();
    serde_json::from_str(value.as_str().unwrap_or("[]")).unwrap()
}

/// Waits until the recorded turns satisfy `done`, and returns them.
async fn wait_for_turns(
    page: &Client,
    limit: Duration,
    what: &str,
    done: impl Fn(&[Turn]) -> bool,
) -> Vec<Turn> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let turns = recorded_turns(page).await;
        if done(&turns) {
            return turns;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: waited {limit:?}, saw {turns:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn titles(turns: &[Turn]) -> Vec<&str> {
    turns.iter().map(|t| t.title.as_str()).collect()
}

#[tokio::test]
async fn a_lobby_screen_rotates_in_order_each_notice_for_its_own_time() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let signage = app.state.signage.clone();
    // (title, priority, display seconds), published in this order.
    let notices = [
        ("旧通知 垃圾分类", 5, 8),
        ("高优先 消防演练", 9, 6),
        ("新通知 停车调整", 5, 5),
    ];
    for (title, priority, seconds) in notices {
        signage
            .create_notice(
                &admin,
                &timed_draft(&place, title, priority, seconds, None),
                Intent::Publish,
            )
            .await
            .unwrap();
        // Distinct publication times, so "newest first" has one answer.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Priority high to low, then the newest published first.
    let order = ["高优先 消防演练", "新通知 停车调整", "旧通知 垃圾分类"];
    let seconds = |title: &str| {
        notices
            .iter()
            .find(|n| n.0 == title)
            .map(|n| f64::from(n.2))
            .unwrap()
    };

    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "通知",
        Duration::from_secs(30),
        "a first notice",
    )
    .await;
    record_turns(&page).await;
    // Five changes: four whole turns measured, each notice at least once.
    let turns = wait_for_turns(&page, Duration::from_secs(60), "five turns", |t| {
        t.len() >= 5
    })
    .await;
    let shown = titles(&turns);
    for pair in turns.windows(2) {
        let (this, next) = (&pair[0], &pair[1]);
        let at = order
            .iter()
            .position(|t| *t == this.title)
            .unwrap_or_else(|| panic!("unexpected item {:?} in {shown:?}", this.title));
        assert_eq!(
            next.title,
            order[(at + 1) % order.len()],
            "out of rotation order: {shown:?}"
        );
        let lasted = (next.at - this.at) / 1000.0;
        let wanted = seconds(&this.title);
        eprintln!("turn: {} for {lasted:.2} s (set: {wanted} s)", this.title);
        assert!(
            (lasted - wanted).abs() <= 1.5,
            "{:?} stayed {lasted:.2} s, not {wanted} s: {turns:?}",
            this.title
        );
    }
    for title in order {
        assert!(shown.contains(&title), "{title} never shown: {shown:?}");
    }
}

/// A paired screen in a fresh community, rotating two 5-second notices
/// (电梯年检通知, 楼道清洁通知) published by its admin.
async fn rotating_two_notices(app: &TestApp) -> (Place, Account, Driver, Client) {
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    for title in ["电梯年检通知", "楼道清洁通知"] {
        app.state
            .signage
            .create_notice(
                &admin,
                &timed_draft(&place, title, 5, 5, None),
                Intent::Publish,
            )
            .await
            .unwrap();
    }
    let (driver, page) = open_paired_kiosk(app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "通知",
        Duration::from_secs(30),
        "the rotation",
    )
    .await;
    (place, admin, driver, page)
}

#[tokio::test]
async fn an_emergency_takes_over_a_lobby_screen_within_two_seconds() {
    let app = spawn_app().await;
    let (place, admin, _driver, page) = rotating_two_notices(&app).await;
    let signage = app.state.signage.clone();
    record_turns(&page).await;

    // The clock starts in the page before the publishing call even begins,
    // so the time measured includes the publishing itself.
    page.execute("window.__mark = performance.now(); return 1", vec![])
        .await
        .unwrap();
    signage
        .create_notice(
            &admin,
            &draft(&place, "燃气泄漏 请勿动火", true, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let turns = wait_for_turns(&page, Duration::from_secs(10), "the emergency", |t| {
        t.iter()
            .any(|turn| turn.title == "燃气泄漏 请勿动火" && turn.opaque.is_some())
    })
    .await;
    let mark = page
        .execute("return window.__mark", vec![])
        .await
        .unwrap()
        .as_f64()
        .unwrap();
    let taken = turns
        .iter()
        .position(|t| t.title == "燃气泄漏 请勿动火")
        .unwrap();
    let appeared = turns[taken].at - mark;
    let opaque = turns[taken].opaque.unwrap() - mark;
    eprintln!(
        "emergency takeover: on screen {appeared:.0} ms after publishing began, \
         fully faded in after {opaque:.0} ms"
    );
    assert!(
        appeared <= 2000.0 && opaque <= 2000.0,
        "the emergency took {appeared:.0} ms to reach the screen, {opaque:.0} ms to be fully shown"
    );
    let whole_screen = page
        .execute(
            "return document.body.classList.contains('is-emergency')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(whole_screen.as_bool(), Some(true), "not full screen");

    // Longer than two rounds of the other notices: they do not come back.
    for other in ["电梯年检通知", "楼道清洁通知"] {
        never_shows(
            &page,
            CURRENT_ITEM,
            other,
            Duration::from_secs(6),
            "a notice while the emergency is on",
        )
        .await;
    }
    let current = page.execute(CURRENT_ITEM, vec![]).await.unwrap();
    assert!(current.as_str().unwrap_or_default().contains("燃气泄漏"));
    let after = recorded_turns(&page).await;
    assert!(
        after[taken..]
            .iter()
            .all(|t| t.title == "燃气泄漏 请勿动火"),
        "something else was put on the stage during the emergency: {:?}",
        titles(&after)
    );
}

#[tokio::test]
async fn a_lobby_screen_offline_rotates_from_its_copy_drops_what_ends_and_resyncs() {
    let mut server = Restartable::new().await;
    let place = server.app.seed_place().await;
    let admin = server.app.create_account(Role::Admin, None).await;
    let signage = server.app.state.signage.clone();
    let (first, second, ending) = ("电梯维保通知", "楼道清洁通知", "临时停水通知");
    for title in [first, second] {
        signage
            .create_notice(
                &admin,
                &timed_draft(&place, title, 5, 5, None),
                Intent::Publish,
            )
            .await
            .unwrap();
    }
    let (_driver, page) = open_paired_kiosk(&server.app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "通知",
        Duration::from_secs(30),
        "the rotation",
    )
    .await;
    record_turns(&page).await;

    // A notice whose validity ends a little after the server goes away.
    let ends_at = chrono::Utc::now() + chrono::Duration::seconds(25);
    signage
        .create_notice(
            &admin,
            &timed_draft(&place, ending, 9, 5, Some(ends_at)),
            Intent::Publish,
        )
        .await
        .unwrap();
    wait_for_text(
        &page,
        CURRENT_ITEM,
        ending,
        Duration::from_secs(15),
        "the notice that will end",
    )
    .await;
    server.stop().await;
    let stopped_at = chrono::Utc::now();
    assert!(
        ends_at - stopped_at > chrono::Duration::seconds(3),
        "too slow: the server stopped only at {stopped_at}, the notice ends at {ends_at}"
    );
    let mark = wait_for_text(
        &page,
        OFFLINE_MARK,
        "离线",
        Duration::from_secs(30),
        "offline mark",
    )
    .await;
    assert!(mark.contains("offline since"), "mark: {mark:?}");

    // After its end, the ended notice never shows again, while the other
    // two keep taking turns: first, second, first … (a moving screen).
    let end_ms = ends_at.timestamp_millis() as f64;
    let after_end = |turns: &[Turn]| -> Vec<String> {
        turns
            .iter()
            .filter(|t| t.wall > end_ms + 1000.0)
            .map(|t| t.title.clone())
            .collect()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let turns = loop {
        if chrono::Utc::now() > ends_at + chrono::Duration::milliseconds(2500) {
            let current = page.execute(CURRENT_ITEM, vec![]).await.unwrap();
            let current = current.as_str().unwrap_or_default();
            assert!(!current.contains(ending), "ended, still shown: {current:?}");
        }
        let turns = recorded_turns(&page).await;
        let later = after_end(&turns);
        if later.len() >= 4 {
            break turns;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the screen stopped rotating offline: {:?}",
            titles(&turns)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let later = after_end(&turns);
    assert!(
        later.iter().all(|t| t == first || t == second),
        "after its end: {later:?}"
    );
    assert!(
        later.windows(2).all(|w| w[0] != w[1]),
        "not alternating: {later:?}"
    );
    let offline: Vec<&str> = turns
        .iter()
        .filter(|t| t.wall > stopped_at.timestamp_millis() as f64)
        .map(|t| t.title.as_str())
        .collect();
    assert!(offline.len() >= 5, "offline turns: {offline:?}");
    let mark = page.execute(OFFLINE_MARK, vec![]).await.unwrap();
    assert!(mark.as_str().unwrap_or_default().contains("离线"));

    // The server is back: the mark goes and the screen follows it again.
    server.restart().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mark = page.execute(OFFLINE_MARK, vec![]).await.unwrap();
        if mark.as_str().unwrap_or_default().is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the offline mark stays after the server returned"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    server
        .app
        .state
        .signage
        .create_notice(
            &admin,
            &timed_draft(&place, "恢复后新通知", 9, 5, None),
            Intent::Publish,
        )
        .await
        .unwrap();
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "恢复后新通知",
        Duration::from_secs(20),
        "a notice published after the server came back",
    )
    .await;
    let everything = recorded_turns(&page).await;
    assert!(
        after_end(&everything).iter().all(|t| t != ending),
        "the ended notice came back: {:?}",
        titles(&everything)
    );
}

// ------------------------------------------------ revocation, media, clock, plays

const PAIR_NOTICE: &str =
    "const n = document.querySelector('#pair-notice'); return n && !n.hidden ? n.innerText : ''";
const PAIR_CODE: &str = "return [...(document.querySelector('#pair-code')?.innerText ?? '')] \
     .filter((c) => /[A-Za-z0-9]/.test(c)).join('')";

#[tokio::test]
async fn a_revoked_lobby_screen_says_so_beside_its_new_code() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        "return document.querySelector('#screen-name')?.innerText ?? ''",
        "3号楼大堂",
        Duration::from_secs(15),
        "paired",
    )
    .await;
    let fresh = page.execute(PAIR_NOTICE, vec![]).await.unwrap();
    assert_eq!(fresh.as_str(), Some(""), "a message before any revocation");

    let screen = app.state.store.list_screens(None).await.unwrap().remove(0);
    app.state
        .signage
        .revoke_screen(&admin, screen.id)
        .await
        .unwrap();
    let notice = wait_for_text(
        &page,
        PAIR_NOTICE,
        "此屏幕已被停用或凭证无效，请管理员重新配对",
        Duration::from_secs(20),
        "the revoked message",
    )
    .await;
    assert!(
        notice.contains("ask an admin to pair it again"),
        "{notice:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while page
        .execute(PAIR_CODE, vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or_default()
        .len()
        != 6
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new code beside the message"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // It says so after a reload too, until the screen is paired again.
    page.refresh().await.unwrap();
    wait_for_text(
        &page,
        PAIR_NOTICE,
        "请管理员重新配对",
        Duration::from_secs(20),
        "the revoked message after a reload",
    )
    .await;
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 4) as u8, 90])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

const MEDIA_CACHED: &str = "const done = arguments[0];
    caches.open('pavilion-kiosk-media')
      .then((cache) => cache.keys())
      .then((keys) => done(keys.map((k) => new URL(k.url).pathname).join(' ')), (e) => done(String(e)));";

#[tokio::test]
async fn pictures_in_a_notice_body_are_kept_for_offline() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let signage = app.state.signage.clone();
    let picture = signage
        .upload_image(
            &admin,
            place.community.id,
            "plan.png",
            "image/png",
            png(64, 48),
        )
        .await
        .unwrap();
    let url = format!("/kiosk/media/{}/image", picture.id.0);
    // Not showing now (an evening window twelve hours away): the page never
    // loads the picture itself, only the Service Worker can have fetched it.
    let away = (chrono::Utc::now() + chrono::Duration::hours(8 + 12)).time();
    let never_now = DayPart::new(
        Weekdays::EVERY_DAY,
        away,
        away + chrono::Duration::minutes(1),
    )
    .unwrap();
    let with_picture = NoticeDraft::new(
        place.community.id,
        "停水范围示意",
        &format!("范围如下：\n\n![停水范围]({url})"),
        NoticeCategory::Outage,
        false,
        Validity::new(chrono::Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        vec![never_now],
        vec![],
        5,
        5,
        vec![],
        None,
    )
    .unwrap();
    signage
        .create_notice(&admin, &with_picture, Intent::Publish)
        .await
        .unwrap();
    signage
        .create_notice(
            &admin,
            &draft(&place, "电梯年检通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let playlist = {
        let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
        wait_for_text(
            &page,
            CURRENT_ITEM,
            "电梯年检通知",
            Duration::from_secs(30),
            "the rotation",
        )
        .await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let cached = page.execute_async(MEDIA_CACHED, vec![]).await.unwrap();
            if cached
                .as_str()
                .unwrap_or_default()
                .split(' ')
                .any(|p| p == url)
            {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{url} not in the Service Worker's media cache: {cached}"
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let stage = page.execute(STAGE_TEXT, vec![]).await.unwrap();
        assert!(!stage.as_str().unwrap_or_default().contains("停水范围示意"));
        page.execute(
            "return localStorage.getItem('pavilion.kiosk.playlist')",
            vec![],
        )
        .await
        .unwrap()
    };
    assert!(
        playlist.as_str().unwrap_or_default().contains(&url),
        "the picture is in the notice's html"
    );
}

/// The community's wall-clock time, as the screen's clock shows it.
fn community_clock(at: chrono::DateTime<chrono::Utc>, offset_minutes: i64) -> String {
    (at + chrono::Duration::minutes(offset_minutes))
        .format("%H:%M")
        .to_string()
}

#[tokio::test]
async fn a_lobby_screen_keeps_the_servers_time_when_its_own_clock_goes_wrong() {
    let app = spawn_app().await;
    let (_, _, _driver, page) = rotating_two_notices(&app).await;
    // The box's clock falls three days behind (a board without a battery
    // clock set back): the notices, valid since an hour ago, would all be
    // "not yet" by it.
    page.execute(
        "const real = Date.now.bind(Date); \
         Date.now = () => real() - 3 * 86400000; return 1",
        vec![],
    )
    .await
    .unwrap();
    record_turns(&page).await;
    let turns = wait_for_turns(&page, Duration::from_secs(30), "turns", |t| t.len() >= 3).await;
    assert!(
        turns.iter().all(|t| t.title.contains("通知")),
        "the rotation stopped: {:?}",
        titles(&turns)
    );
    let offset = page
        .execute(
            "return JSON.parse(localStorage.getItem('pavilion.kiosk.playlist')).utc_offset_minutes",
            vec![],
        )
        .await
        .unwrap()
        .as_i64()
        .unwrap();
    let before = community_clock(chrono::Utc::now(), offset);
    let shown = page
        .execute(
            "return document.querySelector('.side-clock [data-clock=time]').textContent",
            vec![],
        )
        .await
        .unwrap();
    let after = community_clock(chrono::Utc::now(), offset);
    let shown = shown.as_str().unwrap_or_default();
    assert!(
        shown == before || shown == after,
        "the screen's clock says {shown}, the server's {after}"
    );
    // The plays it queued are stamped with the server's time.
    let queued = page
        .execute(
            "return localStorage.getItem('pavilion.kiosk.plays')",
            vec![],
        )
        .await
        .unwrap();
    let queued: serde_json::Value =
        serde_json::from_str(queued.as_str().expect("plays queued")).unwrap();
    assert_eq!(queued["v"], 2, "{queued}");
    let newest = queued["base"].as_i64().unwrap()
        + queued["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r[1].as_i64().unwrap() + r[2].as_i64().unwrap())
            .sum::<i64>();
    let late = chrono::Utc::now().timestamp_millis() - newest;
    assert!(
        (0..30_000).contains(&late),
        "the last play ended {late} ms before now"
    );
}

#[tokio::test]
async fn plays_queued_by_an_older_client_are_all_sent_in_batches() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let notice = app
        .state
        .signage
        .create_notice(
            &admin,
            &draft(&place, "电梯年检通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "the rotation",
    )
    .await;
    // 450 plays of the last 45 minutes (the notice is valid from an hour
    // ago: the server refuses plays from before), as the old client queued
    // them (more than two of the server's 200-play batches).
    let start = chrono::Utc::now() - chrono::Duration::minutes(50);
    let planted: Vec<serde_json::Value> = (0..450)
        .map(|i| {
            let started = start + chrono::Duration::milliseconds(i * 6_003);
            let ended = started + chrono::Duration::milliseconds(5_000);
            serde_json::json!({
                "notice_id": notice.id,
                "started_at": started.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "ended_at": ended.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            })
        })
        .collect();
    // Planted while no kiosk page is open (the page keeps its queue in
    // memory), as when the new client first loads over the old one's queue.
    page.goto(&app.url("/healthz")).await.unwrap();
    page.execute(
        "localStorage.setItem('pavilion.kiosk.plays', arguments[0]); return 1",
        vec![serde_json::json!(serde_json::to_string(&planted).unwrap())],
    )
    .await
    .unwrap();
    page.goto(&app.url("/kiosk/")).await.unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let plays = app
            .state
            .store
            .plays(&PlayFilter {
                notice: Some(notice.id),
                until: Some(start + chrono::Duration::minutes(91)),
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap();
        if plays.len() == planted.len() {
            let first = plays.iter().map(|p| p.started_at).min().unwrap();
            assert_eq!(
                first.timestamp_millis(),
                start.timestamp_millis(),
                "times kept to the millisecond"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {} queued plays arrived",
            plays.len(),
            planted.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let left = page
        .execute(
            "const q = JSON.parse(localStorage.getItem('pavilion.kiosk.plays')); \
             return q === null || (q.v === 2 && q.rows.length < 5)",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(left.as_bool(), Some(true), "the sent plays left the queue");
}

/// The screen decides on its own, offline, what shows when: kiosk.js's copy
/// of the playlist rule must agree with `playlist::now_showing` at every
/// instant of a week — validity, day-parts across midnight, emergencies
/// hiding the rest — on the playlist JSON the server really sends.
#[tokio::test]
async fn the_kiosk_shows_what_the_servers_playlist_rule_says_at_every_instant() {
    use chrono::{Duration as Span, NaiveTime, Utc, Weekday};
    use pavilion::signage::playlist::{for_screen, now_showing};

    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let now = Utc::now();
    let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
    let part = |days: &[Weekday], from, until| {
        DayPart::new(Weekdays::from_days(days.iter().copied()), from, until).unwrap()
    };
    let weekdays = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    let every_day = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    let notices = [
        ("常驻", false, (-1, None), vec![]),
        ("明后两天", false, (24, Some(72)), vec![]),
        (
            "工作日早高峰",
            false,
            (-1, None),
            vec![part(&weekdays, hm(7, 0), hm(9, 30))],
        ),
        (
            "每晚",
            false,
            (-1, None),
            vec![part(&every_day, hm(22, 0), hm(6, 0))],
        ),
        (
            "周五深夜",
            false,
            (-1, Some(150)),
            vec![part(&[Weekday::Fri], hm(23, 0), hm(1, 0))],
        ),
        ("紧急停水", true, (48, Some(51)), vec![]),
        (
            "周六上午紧急",
            true,
            (-1, None),
            vec![part(&[Weekday::Sat], hm(10, 0), hm(12, 0))],
        ),
    ];
    for (title, emergency, (from_h, until_h), day_parts) in notices {
        let mut d = draft(&place, title, emergency, day_parts);
        d.validity = Validity::new(
            now + Span::hours(from_h),
            until_h.map(|h| now + Span::hours(h)),
        )
        .unwrap();
        app.state
            .signage
            .create_notice(&admin, &d, Intent::Publish)
            .await
            .unwrap();
    }
    let token = crate::signage::pair_screen(&app, &place, "3号楼大堂").await;
    let served: serde_json::Value = reqwest::Client::new()
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    // Every 23 minutes for a week, and a millisecond either side of every
    // validity edge.
    let screen = app
        .state
        .signage
        .authenticate(&token)
        .await
        .unwrap()
        .unwrap();
    let current = app
        .state
        .store
        .current_notices(place.community.id, now)
        .await
        .unwrap();
    let sent = for_screen(&current, &screen.place, now);
    assert_eq!(sent.len(), 7);
    let mut instants: Vec<chrono::DateTime<Utc>> = (0..7 * 24 * 60 / 23)
        .map(|i| now + Span::minutes(i * 23))
        .collect();
    for notice in &sent {
        for edge in [Some(notice.validity.starts_at()), notice.validity.ends_at()]
            .into_iter()
            .flatten()
        {
            instants.extend([
                edge - Span::milliseconds(1),
                edge,
                edge + Span::milliseconds(1),
            ]);
        }
    }
    let zone = app.state.signage.settings().time_zone;
    let expected: Vec<Vec<i64>> = instants
        .iter()
        .map(|&at| {
            now_showing(&sent, at, zone)
                .iter()
                .map(|n| n.id.0)
                .collect()
        })
        .collect();
    assert!(
        expected.iter().any(|ids| ids.len() >= 3)
            && expected.iter().any(|ids| ids.len() == 1)
            && expected.iter().any(|ids| ids.len() == 2),
        "the week should show mixes, single emergencies and plain rotations: {expected:?}"
    );

    let (_driver, page) = crate::browser::browser().await;
    page.goto(&app.url("/kiosk/")).await.unwrap();
    let millis: Vec<i64> = instants.iter().map(|at| at.timestamp_millis()).collect();
    let shown = page
        .execute(
            "const [playlist, instants] = arguments;
             return JSON.stringify(instants.map((ms) => showingItems(playlist, ms)
               .filter((item) => item.kind === 'notice').map((item) => item.id)));",
            vec![served, serde_json::json!(millis)],
        )
        .await
        .unwrap();
    let shown: Vec<Vec<i64>> = serde_json::from_str(shown.as_str().unwrap()).unwrap();
    for ((at, want), got) in instants.iter().zip(&expected).zip(&shown) {
        assert_eq!(
            got,
            want,
            "at {} ({} in the community)",
            at,
            at.with_timezone(&zone)
        );
    }
}

/// Cuts the page off from its push stream (as a proxy that buffers
/// `text/event-stream` would), leaving every other request alone.
const BLOCK_PUSH: &str = "
    const original = window.fetch;
    window.__eventsTried = 0;
    window.fetch = (url, options) => {
      if (String(url).includes('/kiosk/api/events')) {
        window.__eventsTried += 1;
        return Promise.reject(new TypeError('push blocked by the test'));
      }
      return original(url, options);
    };
    stream.ctrl?.abort();
    return true;";

/// With its push stream gone for good, a screen still learns of a new notice
/// by fetching its playlist: every 30 s, and each time a retry of the stream
/// fails (1 s, 2 s, 4 s … up to a minute apart).
#[tokio::test]
async fn a_lobby_screen_without_its_push_stream_polls_for_news() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let signage = app.state.signage.clone();
    signage
        .create_notice(
            &admin,
            &draft(&place, "电梯年检通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "the rotation",
    )
    .await;
    page.execute(BLOCK_PUSH, vec![]).await.unwrap();
    // Past the catch-up fetch the lost stream triggers at once.
    tokio::time::sleep(Duration::from_secs(2)).await;
    signage
        .create_notice(
            &admin,
            &draft(&place, "周末消杀通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    wait_for_text(
        &page,
        STAGE_TEXT,
        "周末消杀通知",
        Duration::from_secs(50),
        "the new notice, by polling",
    )
    .await;
    let tried = page
        .execute("return window.__eventsTried", vec![])
        .await
        .unwrap();
    assert!(
        tried.as_u64().unwrap_or_default() >= 1,
        "the screen kept trying its stream meanwhile"
    );
}

const META_VERSION: &str =
    "return document.querySelector('meta[name=\"pavilion-client-version\"]')?.content ?? ''";

/// A screen still running an older client (here: its cached page says so)
/// reloads itself into the deployed one once the server tells it the
/// version, and keeps rotating.
#[tokio::test]
async fn a_lobby_screen_running_an_old_client_reloads_into_the_new_one() {
    let mut server = Restartable::new().await;
    let place = server.app.seed_place().await;
    let admin = server.app.create_account(Role::Admin, None).await;
    server
        .app
        .state
        .signage
        .create_notice(
            &admin,
            &draft(&place, "电梯年检通知", false, vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let (_driver, page) = open_paired_kiosk(&server.app, &admin, &place, "3号楼大堂").await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "the rotation",
    )
    .await;
    let deployed = page.execute(META_VERSION, vec![]).await.unwrap();
    let deployed = deployed.as_str().unwrap().to_owned();
    assert_eq!(deployed, pavilion::web::kiosk::client_version());

    // The server goes away, and the page the Service Worker keeps becomes
    // an older client's; the screen restarts from it.
    server.stop().await;
    let planted = page
        .execute_async(
            "const [version, done] = arguments;
             (async () => {
               const cache = await caches.open('pavilion-kiosk-' + version);
               const page = await cache.match('/kiosk/');
               const html = (await page.text()).replaceAll(version, 'old000000000');
               await cache.put('/kiosk/', new Response(html, { headers: page.headers }));
               done(true);
             })().catch((e) => done(String(e)));",
            vec![serde_json::json!(deployed)],
        )
        .await
        .unwrap();
    assert_eq!(planted, serde_json::json!(true));
    page.refresh().await.unwrap();
    wait_for_text(
        &page,
        META_VERSION,
        "old000000000",
        Duration::from_secs(30),
        "the old client from the cache",
    )
    .await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "the old client rotating offline",
    )
    .await;

    // Back: told the deployed version, it updates and reloads by itself.
    server.restart().await;
    wait_for_text(
        &page,
        META_VERSION,
        &deployed,
        Duration::from_secs(120),
        "the deployed client after the self-reload",
    )
    .await;
    wait_for_text(
        &page,
        CURRENT_ITEM,
        "电梯年检通知",
        Duration::from_secs(30),
        "rotating after the update",
    )
    .await;
}
