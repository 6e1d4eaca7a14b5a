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
        let (handle, state, port) = start(settings.clone()).await;
        settings.server.port = port;
        let app = TestApp {
            address: format!("http://127.0.0.1:{port}"),
            rtmp_port: state.rtmp_port,
            data_dir: dir.path().to_owned(),
            database_url: settings.database.url.clone(),
            state,
            _dir: dir,
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
async fn open_paired_kiosk(
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
