//! Real headless Chromium through WebDriver: forms as people use them, and
//! axe-core accessibility checks (WCAG 2.2 AA) on the pages residents and staff see first.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use pavilion::domain::Role;
use serde_json::json;

use crate::helpers::*;

/// A chromedriver process and the Chromium it starts, ended when dropped
/// together with the browser profile.
pub struct Driver {
    process: Child,
    port: u16,
    profile: std::path::PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver leads a process group of its own (see `browser`):
        // killing the group also ends the Chromium processes it started,
        // which would otherwise outlive the test.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.process.id())])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.process.kill();
        let _ = self.process.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn browser() -> (Driver, Client) {
    browser_with(&[]).await
}

/// A browser started with further Chromium switches (e.g. a fake camera).
pub async fn browser_with(extra: &[&str]) -> (Driver, Client) {
    let driver_path =
        std::env::var("PAVILION_CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let chromium =
        std::env::var("PAVILION_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&driver_path).exists() && std::path::Path::new(&chromium).exists(),
        "browser tests need chromium and chromedriver: run ./dev test, which installs them"
    );
    let port = free_port();
    let process = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap().keep();
    let driver = Driver {
        process,
        port,
        profile: profile.clone(),
    };
    let mut caps = serde_json::Map::new();
    let mut args: Vec<String> = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        "--lang=zh-CN",
    ]
    .iter()
    .chain(extra)
    .map(|arg| arg.to_string())
    .collect();
    args.push(format!("--user-data-dir={}", profile.display()));
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": args,
            "prefs": { "intl.accept_languages": "zh-CN,zh" }
        }),
    );
    // The console, so that tests can read what the browser refused (`csp_violations`).
    caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
    let url = format!("http://127.0.0.1:{}", driver.port);
    let mut last_error = None;
    for _ in 0..50 {
        match ClientBuilder::new(HttpConnector::new())
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            Ok(client) => return (driver, client),
            Err(e) => {
                last_error = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!("cannot reach chromedriver: {last_error:?}");
}

/// chromedriver's browser console log since the last call (it is drained).
#[derive(Debug)]
struct BrowserLog;

impl fantoccini::wd::WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (reqwest::Method, Option<String>) {
        (reqwest::Method::POST, Some(r#"{"type":"browser"}"#.into()))
    }
}

/// What the Content-Security-Policy refused since the last call, in any
/// page or frame: Chromium reports each refusal on the console.
pub async fn csp_violations(page: &Client) -> Vec<String> {
    let log = page.issue_cmd(BrowserLog).await.expect("the browser log");
    log.as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["message"].as_str())
        .filter(|message| message.contains("Content Security Policy"))
        .map(str::to_owned)
        .collect()
}

/// Logs in through the real form and waits for the page a person of that role lands on.
pub async fn log_in(page: &Client, app: &TestApp, username: &str, lands_on: &str) {
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys(username)
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    page.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_url(url::Url::parse(&app.url(lands_on)).unwrap())
        .await
        .unwrap();
}

#[tokio::test]
async fn an_admin_creates_a_building_through_the_real_form() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let (_driver, page) = browser().await;

    log_in(&page, &app, "admin", "/console").await;
    page.goto(&app.url(&format!("/console/estates/{}", place.estate.id)))
        .await
        .unwrap();
    page.find(Locator::Id("building-name"))
        .await
        .unwrap()
        .send_keys("5号楼")
        .await
        .unwrap();
    let form = page
        .form(Locator::Css(&format!(
            "form[action='/console/estates/{}/buildings']",
            place.estate.id
        )))
        .await
        .unwrap();
    form.submit().await.unwrap();

    // The form redirects to the new building's page; wait for it before reading.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !page
        .current_url()
        .await
        .unwrap()
        .path()
        .starts_with("/console/buildings/")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no redirect to the new building"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let heading = page.wait().for_element(Locator::Css("h1")).await.unwrap();
    assert_eq!(heading.text().await.unwrap(), "5号楼");
    let flash = page
        .find(Locator::Css("[role=status]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(flash, "已创建。");
    let buildings = app
        .state
        .store
        .list_buildings(place.estate.id)
        .await
        .unwrap();
    assert!(buildings.iter().any(|b| b.name == "5号楼"));
    assert_eq!(
        app.audit("building.create")
            .await
            .iter()
            .filter(|e| e.actor_name == "admin")
            .count(),
        1
    );
    page.close().await.unwrap();
}

pub(crate) async fn axe_violations(page: &Client) -> Vec<serde_json::Value> {
    let axe = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/node_modules/axe-core/axe.min.js"
    ))
    .expect("axe-core is installed by ./dev test (npm ci)");
    page.execute(&axe, vec![]).await.unwrap();
    let result = page
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } })
                  .then(r => done(r.violations.map(v => ({ id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ')) }))))
                  .catch(e => done([{ id: 'axe-error', help: String(e) }]));"#,
            vec![],
        )
        .await
        .unwrap();
    result.as_array().cloned().unwrap_or_default()
}

async fn body_font_px(page: &Client) -> f64 {
    page.execute(
        "return parseFloat(getComputedStyle(document.body).fontSize);",
        vec![],
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap()
}

#[tokio::test]
async fn pages_pass_axe_and_suit_elderly_readers() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Resident, Some(&place)).await;
    let (_driver, page) = browser().await;

    for path in ["/login", "/register", "/", "/disclosure"] {
        page.goto(&app.url(path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
        assert!(
            body_font_px(&page).await >= 18.0,
            "{path}: body text under 18px"
        );
    }

    // Keyboard: the first Tab reaches the skip link, and it leads to the content.
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = page
        .execute(
            "return document.activeElement.getAttribute('href');",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(focused, json!("#main"));

    // A resident's own page, and a sent-back form with its error message.
    page.goto(&app.url("/login")).await.unwrap();
    page.find(Locator::Id("username"))
        .await
        .unwrap()
        .send_keys("resident")
        .await
        .unwrap();
    page.find(Locator::Id("password"))
        .await
        .unwrap()
        .send_keys("wrong password")
        .await
        .unwrap();
    page.find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_element(Locator::Id("form-error"))
        .await
        .unwrap();
    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "login with error: {violations:#?}");

    log_in(&page, &app, "resident", "/me").await;
    for path in ["/me", "/report", "/me/records"] {
        page.goto(&app.url(path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
        assert!(
            body_font_px(&page).await >= 18.0,
            "{path}: body text under 18px"
        );
    }
    page.find(Locator::Css("form[action='/logout'] button"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.wait()
        .for_url(url::Url::parse(&app.url("/")).unwrap())
        .await
        .unwrap();

    log_in(&page, &app, "admin", "/console").await;
    for path in [
        "/console".to_owned(),
        format!("/console/buildings/{}/codes", place.building.id),
        "/console/accounts".to_owned(),
    ] {
        page.goto(&app.url(&path)).await.unwrap();
        let violations = axe_violations(&page).await;
        assert!(violations.is_empty(), "{path}: {violations:#?}");
    }

    // A phone-sized screen: the console still fits without sideways scrolling.
    page.set_window_size(390, 844).await.unwrap();
    page.goto(&app.url("/console")).await.unwrap();
    let overflow = page
        .execute(
            "return document.documentElement.scrollWidth - document.documentElement.clientWidth;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_f64().unwrap() <= 1.0,
        "console scrolls sideways on a phone: {overflow}"
    );
    page.close().await.unwrap();
}

/// What the page's `<video>` is doing, for assertions and failure messages.
async fn video_state(page: &Client) -> serde_json::Value {
    page.execute(
        r#"const v = document.querySelector('video');
           if (!v) return null;
           const ranges = [];
           for (let i = 0; i < v.buffered.length; i++) ranges.push([v.buffered.start(i), v.buffered.end(i)]);
           return {
             currentTime: v.currentTime,
             duration: Number.isFinite(v.duration) ? v.duration : String(v.duration),
             paused: v.paused, muted: v.muted, seeking: v.seeking, ended: v.ended,
             readyState: v.readyState, networkState: v.networkState,
             error: v.error ? { code: v.error.code, message: v.error.message } : null,
             src: v.currentSrc, buffered: ranges,
             player: v.currentSrc.startsWith('blob:') ? 'hls.js (MediaSource)' : 'the browser itself (native HLS)',
           };"#,
        vec![],
    )
    .await
    .unwrap()
}

async fn current_time(page: &Client) -> f64 {
    page.execute(
        "return document.querySelector('video').currentTime;",
        vec![],
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap()
}

/// Waits until the video's clock passes `past` seconds, then checks it is
/// still running a second later. Returns the later reading.
async fn wait_for_playback(page: &Client, past: f64, limit: Duration, what: &str) -> f64 {
    let deadline = tokio::time::Instant::now() + limit;
    while current_time(page).await <= past {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the video did not play past {past} s within {limit:?}: {:#}",
            video_state(page).await
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let before = current_time(page).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = current_time(page).await;
    assert!(
        after > before + 0.3,
        "{what}: the video stopped at {before} s (a second later: {after} s): {:#}",
        video_state(page).await
    );
    after
}

/// Polls `script` (which returns a value) until `done` accepts it.
pub(crate) async fn wait_for_value(
    page: &Client,
    script: &str,
    limit: Duration,
    what: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let value = page.execute(script, vec![]).await.unwrap();
        if done(&value) {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: still {value} after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn watch_page_plays_the_live_broadcast() {
    use crate::publisher::Publisher;
    use pavilion::domain::broadcast::{BroadcastState, Renditions};

    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let (_driver, page) = browser().await;

    // Opened before the encoder starts: the waiting note, no video yet.
    page.goto(&app.url(&format!("/live/{}", broadcast.id)))
        .await
        .unwrap();
    let waiting = page.find(Locator::Css("[data-waiting]")).await.unwrap();
    assert!(waiting.is_displayed().await.unwrap(), "no waiting note");
    assert_eq!(
        waiting.text().await.unwrap(),
        "直播开始后画面会自动出现，无需刷新。"
    );
    let badge = "return document.querySelector('[data-state-badge]').textContent;";
    assert_eq!(page.execute(badge, vec![]).await.unwrap(), json!("未开始"));
    let violations = axe_violations(&page).await;
    assert!(
        violations.is_empty(),
        "watch page, waiting: {violations:#?}"
    );
    // A mark that a reload would wipe out.
    page.execute("window.openedBeforeTheBroadcast = true;", vec![])
        .await
        .unwrap();

    let _publisher = Publisher::start(&app.ingest_url(&broadcast.stream_key));

    // Without a reload the page notices the broadcast and plays it.
    wait_for_playback(&page, 2.0, Duration::from_secs(40), "live").await;
    let later = wait_for_playback(&page, 0.0, Duration::from_secs(1), "live, still").await;
    assert!(later > 2.0);
    assert_eq!(
        page.execute("return window.openedBeforeTheBroadcast === true;", vec![])
            .await
            .unwrap(),
        json!(true),
        "the page reloaded"
    );
    assert!(
        !waiting.is_displayed().await.unwrap(),
        "waiting note still shown while playing"
    );
    assert_eq!(page.execute(badge, vec![]).await.unwrap(), json!("直播中"));
    let badge_class = page
        .execute(
            "return document.querySelector('[data-state-badge]').className;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(badge_class, json!("badge live"));
    // Viewer counts are pushed every two seconds.
    wait_for_value(
        &page,
        "return Number(document.querySelector('[data-viewers]').textContent);",
        Duration::from_secs(10),
        "viewer count",
        |v| v.as_f64().is_some_and(|n| n >= 1.0),
    )
    .await;
    assert_eq!(
        app.broadcast(broadcast.id).await.state,
        BroadcastState::Live
    );

    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "watch page, live: {violations:#?}");
    // hls.js played through MSE (blob: media), its worker (blob:) and the
    // chat socket, all within the Content-Security-Policy.
    let refused = csp_violations(&page).await;
    assert!(refused.is_empty(), "watch page, live: {refused:#?}");
    page.close().await.unwrap();
}

#[tokio::test]
async fn replay_is_seekable_after_the_broadcast_ends() {
    use crate::publisher::Publisher;
    use pavilion::domain::broadcast::{BroadcastState, Renditions, ReplayState};

    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let id = broadcast.id;

    // About eight seconds on air (two-second segments), then the encoder dies
    // and the secretary ends the broadcast.
    let publisher = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(id, 4).await;
    publisher.kill();
    let ended = app.state.live.end(&secretary, id).await.unwrap();
    assert_eq!(ended.state, BroadcastState::Ended);
    let broadcast = app
        .wait_for_broadcast(id, Duration::from_secs(60), "the replay", |b| {
            b.replay == ReplayState::Published
        })
        .await;
    let millis = broadcast.replay_millis.expect("replay length");
    assert!(millis >= 7000, "replay of only {millis} ms");

    // The download and the poster.
    let http = client();
    let mp4 = http
        .get(app.url(&format!("/live/{id}/replay.mp4")))
        .send()
        .await
        .unwrap();
    assert_eq!(mp4.status(), 200);
    assert_eq!(mp4.headers()["content-type"], "video/mp4");
    let bytes = mp4.bytes().await.unwrap();
    assert!(
        bytes.len() > 10_000 && &bytes[4..8] == b"ftyp",
        "not an MP4 ({} bytes)",
        bytes.len()
    );
    let part = http
        .get(app.url(&format!("/live/{id}/replay.mp4")))
        .header("Range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), 206, "no range requests on the download");
    assert_eq!(part.bytes().await.unwrap().len(), 100);
    let poster = http
        .get(app.url(&format!("/live/{id}/poster.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(poster.status(), 200);
    assert_eq!(poster.headers()["content-type"], "image/jpeg");
    let jpeg = poster.bytes().await.unwrap();
    assert!(
        jpeg.len() > 1000 && jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) && jpeg.ends_with(&[0xFF, 0xD9]),
        "poster is not a JPEG ({} bytes)",
        jpeg.len()
    );
    let playlist = app
        .text(&http, &format!("/live/{id}/source/index.m3u8"))
        .await;
    assert!(playlist.contains("#EXT-X-ENDLIST"), "{playlist}");

    // The watch page plays the recording from the start and can be seeked.
    let (_driver, page) = browser().await;
    page.goto(&app.url(&format!("/live/{id}"))).await.unwrap();
    let root = page.find(Locator::Css("[data-broadcast]")).await.unwrap();
    assert_eq!(
        root.attr("data-replay").await.unwrap().as_deref(),
        Some("true")
    );
    assert_eq!(
        page.execute(
            "return document.querySelector('[data-state-badge]').textContent;",
            vec![]
        )
        .await
        .unwrap(),
        json!("已结束")
    );
    assert!(
        page.find(Locator::Css(&format!("a[href='/live/{id}/replay.mp4']")))
            .await
            .is_ok(),
        "no download link"
    );
    wait_for_playback(&page, 0.5, Duration::from_secs(30), "replay").await;
    let state = video_state(&page).await;
    let duration = state["duration"].as_f64();
    assert!(
        duration.is_some_and(|d| (d - millis as f64 / 1000.0).abs() < 1.5),
        "the replay is not the whole recording ({millis} ms): {state:#}"
    );

    let before_seek = current_time(&page).await;
    assert!(
        before_seek < 4.0,
        "played to {before_seek} s before the seek"
    );
    page.execute(
        "const v = document.querySelector('video');
         window.seeked = false;
         v.addEventListener('seeked', () => { window.seeked = true; }, { once: true });
         v.currentTime = 5;",
        vec![],
    )
    .await
    .unwrap();
    wait_for_value(
        &page,
        "return window.seeked;",
        Duration::from_secs(15),
        "the seek to 5 s",
        |v| v == &json!(true),
    )
    .await;
    let landed = current_time(&page).await;
    assert!(
        (5.0..6.5).contains(&landed),
        "the seek landed at {landed} s: {:#}",
        video_state(&page).await
    );
    let after = wait_for_playback(&page, 5.2, Duration::from_secs(10), "after seeking").await;
    assert!(after > 5.5, "{after}");

    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "watch page, replay: {violations:#?}");
    page.close().await.unwrap();
}

#[tokio::test]
async fn staff_watch_live_with_low_latency_and_can_jump_back_to_live() {
    use crate::publisher::Publisher;
    use pavilion::domain::broadcast::Renditions;

    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _publisher = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 2).await;
    let (_driver, page) = browser().await;
    log_in(&page, &app, "secretary", "/console").await;
    page.goto(&app.url(&format!("/live/{}", broadcast.id)))
        .await
        .unwrap();
    wait_for_playback(&page, 1.0, Duration::from_secs(40), "low-latency live").await;

    // hls.js plays the parts, reloads by blocking and aims at PART-HOLD-BACK.
    let mode = page
        .execute(
            r#"const p = window.pavilionPlayer;
               const d = p.levels[Math.max(p.currentLevel, 0)].details;
               return { lowLatency: p.config.lowLatencyMode, canBlock: d.canBlockReload,
                        parts: d.partList ? d.partList.length : 0, partTarget: d.partTarget,
                        target: p.targetLatency };"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(mode["lowLatency"], json!(true), "{mode}");
    assert_eq!(mode["canBlock"], json!(true), "{mode}");
    assert!(mode["parts"].as_u64() > Some(0), "{mode}");
    assert_eq!(mode["partTarget"], json!(0.333), "{mode}");
    assert!(
        (mode["target"].as_f64().unwrap() - 1.5).abs() < 0.01,
        "{mode}"
    );

    // Staff see the delay in a corner.
    wait_for_value(
        &page,
        "const d = document.querySelector('[data-delay]'); return d.hidden ? null : d.textContent;",
        Duration::from_secs(15),
        "the delay",
        |v| {
            v.as_str().is_some_and(|t| {
                t.strip_prefix("延迟 ")
                    .and_then(|t| t.strip_suffix(" 秒"))
                    .is_some_and(|n| n.parse::<f64>().is_ok())
            })
        },
    )
    .await;

    // A viewer who paused has fallen behind: the button brings them back.
    let button = "return !document.querySelector('[data-jump-live]').hidden;";
    assert_eq!(page.execute(button, vec![]).await.unwrap(), json!(false));
    page.execute("document.querySelector('video').pause();", vec![])
        .await
        .unwrap();
    let paused_at = current_time(&page).await;
    wait_for_value(
        &page,
        button,
        Duration::from_secs(15),
        "the jump button",
        |v| v == &json!(true),
    )
    .await;
    wait_for_value(
        &page,
        &format!("return window.pavilionPlayer.liveSyncPosition > {paused_at} + 2;"),
        Duration::from_secs(15),
        "the live edge moving on",
        |v| v == &json!(true),
    )
    .await;
    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "watch page, behind: {violations:#?}");
    page.find(Locator::Css("[data-jump-live]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let resumed = wait_for_playback(
        &page,
        paused_at + 2.0,
        Duration::from_secs(15),
        "back to live",
    )
    .await;
    assert!(resumed > paused_at + 2.0);
    wait_for_value(
        &page,
        button,
        Duration::from_secs(15),
        "the button gone",
        |v| v == &json!(false),
    )
    .await;
    page.close().await.unwrap();
}
