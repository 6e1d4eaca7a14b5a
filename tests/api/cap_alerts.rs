//! Emergency alerts from the authorities end to end: an admin subscribes a
//! community to a CAP 1.2 feed through the console, a small HTTP server in
//! the test serves the feed (an Atom index of the documents under
//! tests/data/cap/), and the paired screens get what the alerts say: an
//! emergency notice, its replacement, its withdrawal, the community's own
//! line; what is expired, malformed, duplicated or elsewhere changes nothing
//! and is recorded with its outcome.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pavilion::domain::geo::{EstateGeography, LatLon};
use pavilion::domain::*;
use pavilion::store::CapAlertRecord;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::browser::Driver;
use crate::helpers::*;
use crate::kiosk_browser::{open_paired_kiosk, wait_for_text, STAGE_TEXT};

/// A CAP document of the test set.
fn document(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/data/cap/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Serves what `files` holds, by path, over plain HTTP/1.1.
struct FeedServer {
    port: u16,
    files: Arc<Mutex<HashMap<String, Vec<u8>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FeedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FeedServer {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: Arc<Mutex<HashMap<String, Vec<u8>>>> = Arc::default();
        let served = files.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let files = served.clone();
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
                        match socket.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&request);
                    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    let body = files.lock().unwrap().get(&path).cloned();
                    let response = match body {
                        Some(body) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                                body.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(&body);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .to_vec(),
                    };
                    let _ = socket.write_all(&response).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        let server = Self { port, files, task };
        for name in [
            "alert.xml",
            "update.xml",
            "cancel.xml",
            "expired.xml",
            "wrong_area.xml",
            "exercise.xml",
            "malformed.xml",
            "entities.xml",
        ] {
            server.put(&format!("/cap/{name}"), document(name));
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn put(&self, path: &str, body: Vec<u8>) {
        self.files.lock().unwrap().insert(path.to_owned(), body);
    }

    /// Makes `path` an Atom index listing the named documents (relative links).
    fn index(&self, path: &str, documents: &[&str]) {
        let entries: String = documents
            .iter()
            .map(|name| {
                format!(
                    r#"<entry><id>urn:test:{name}</id><title>{name}</title><updated>2026-12-01T08:00:00+08:00</updated><link rel="alternate" type="application/cap+xml" href="/cap/{name}"/></entry>"#
                )
            })
            .collect();
        let feed = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>urn:test:feed</id><title>测试预警</title><updated>2026-12-01T08:00:00+08:00</updated>{entries}</feed>"#
        );
        self.put(path, feed.into_bytes());
    }
}

/// Puts the place's estate at 39.905,116.39 in Dongcheng (110101), where
/// the test alerts aim.
async fn locate_estate(app: &TestApp, place: &Place) {
    let geography = EstateGeography {
        location: LatLon::new(39.905, 116.39).unwrap(),
        outline: None,
        geocode: Some("110101".into()),
    };
    app.state
        .store
        .set_estate_geography(&system(), place.estate.id, Some(&geography))
        .await
        .unwrap();
}

fn feeds_path(place: &Place) -> String {
    format!("/console/communities/{}/cap-feeds", place.community.id)
}

/// Subscribes through the console form, as the admin does; returns the feed's id.
async fn subscribe(
    app: &TestApp,
    admin: &reqwest::Client,
    place: &Place,
    name: &str,
    url: &str,
) -> i64 {
    let response = app
        .post_form(admin, &feeds_path(place), &[("name", name), ("url", url)])
        .await;
    assert_eq!(response.status(), 303, "subscribing to {url}");
    app.state
        .store
        .cap_feeds(Some(place.community.id))
        .await
        .unwrap()
        .into_iter()
        .find(|f| f.url == url)
        .expect("the feed is followed")
        .id
}

async fn poll_now(app: &TestApp, admin: &reqwest::Client, place: &Place, feed: i64) {
    let response = app
        .post_form(
            admin,
            &format!("{}/poll", feeds_path(place)),
            &[("feed", &feed.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
}

async fn alerts(app: &TestApp, place: &Place) -> Vec<CapAlertRecord> {
    app.state
        .store
        .cap_alerts(place.community.id, 100)
        .await
        .unwrap()
}

/// Waits until the community's recorded alerts satisfy `done`.
async fn wait_for_alerts(
    app: &TestApp,
    place: &Place,
    what: &str,
    done: impl Fn(&[CapAlertRecord]) -> bool,
) -> Vec<CapAlertRecord> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = alerts(app, place).await;
        if done(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the alerts are {:#?}",
            list.iter()
                .map(|a| (&a.identifier, &a.outcome))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn outcome_of<'a>(list: &'a [CapAlertRecord], identifier: &str) -> Option<&'a str> {
    list.iter()
        .find(|a| a.identifier == identifier)
        .map(|a| a.outcome.as_str())
        .filter(|o| *o != "received")
}

async fn playlist(app: &TestApp, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn emergencies(list: &Value) -> Vec<Value> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["emergency"] == true)
        .cloned()
        .collect()
}

async fn wait_for_playlist(
    app: &TestApp,
    token: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = emergencies(&playlist(app, token).await);
        if done(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the screen's emergencies are {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn short_poll_app() -> TestApp {
    spawn_app_with(|settings| {
        settings.cap.poll_seconds = 1;
        // The feeds of these tests are served on this machine.
        settings.cap.private_feeds = true;
    })
    .await
}

#[tokio::test]
async fn cap_alerts_reach_the_screens_and_everything_else_is_logged() {
    let app = short_poll_app().await;
    let place = app.seed_place().await;
    locate_estate(&app, &place).await;
    let admin_account = app.create_account(Role::Admin, None).await;
    let admin = app.login(admin_account.username.as_str()).await;
    let token = crate::signage::pair_screen(&app, &place, "3号楼大堂").await;
    let feeds = FeedServer::start().await;
    // The alert twice (two entries, one document), and all that must change nothing.
    feeds.index(
        "/feed.atom",
        &[
            "alert.xml",
            "alert.xml",
            "expired.xml",
            "wrong_area.xml",
            "exercise.xml",
            "malformed.xml",
            "entities.xml",
        ],
    );

    // A feed address must be a web address.
    for bad in ["file:///etc/passwd", "ftp://example.org/a.xml", "not a url"] {
        let response = app
            .post_form(
                &admin,
                &feeds_path(&place),
                &[("name", "坏地址"), ("url", bad)],
            )
            .await;
        assert_eq!(response.status(), 400, "{bad}");
    }
    assert!(app
        .state
        .store
        .cap_feeds(Some(place.community.id))
        .await
        .unwrap()
        .is_empty());

    let feed = subscribe(&app, &admin, &place, "市气象台", &feeds.url("/feed.atom")).await;
    let list = wait_for_playlist(&app, &token, "the alert", |e| !e.is_empty()).await;
    assert_eq!(list.len(), 1, "one emergency: {list:#?}");
    let notice = &list[0];
    // Chinese is preferred over English; the body is the description and instruction.
    assert_eq!(notice["title"], "暴雨橙色预警");
    let html = notice["html"].as_str().unwrap();
    assert!(
        html.contains("强降雨") && html.contains("地下车库"),
        "{html}"
    );
    assert_eq!(notice["priority"], 8, "severe and immediate");
    assert!(
        notice["ends_at"]
            .as_str()
            .unwrap()
            .starts_with("2099-12-31T15:59:00"),
        "expires is the end: {notice}"
    );
    let notice_id = notice["id"].as_i64().unwrap();

    let recorded = wait_for_alerts(&app, &place, "every alert decided", |list| {
        list.len() == 6 && list.iter().all(|a| a.outcome != "received")
    })
    .await;
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0001"), Some("published"));
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0100"), Some("expired"));
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0200"), Some("out_of_area"));
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0300"), Some("not_actual"));
    let malformed: Vec<_> = recorded
        .iter()
        .filter(|a| a.outcome == "malformed")
        .collect();
    assert_eq!(
        malformed.len(),
        2,
        "missing sent, and the DTD: {recorded:#?}"
    );
    assert!(recorded
        .iter()
        .all(|a| (a.identifier == "PAV-TEST-0001") == a.notice_id.is_some()));
    let published = recorded
        .iter()
        .find(|a| a.identifier == "PAV-TEST-0001")
        .unwrap();
    assert_eq!(published.notice_id, Some(NoticeId(notice_id)));
    // Made by the feed, on behalf of the admin who subscribed; audited.
    let made = app.state.store.notice(NoticeId(notice_id)).await.unwrap();
    assert!(made.emergency);
    assert_eq!(made.author_id, admin_account.id);
    assert_eq!(made.targets, vec![notice::Target::Estate(place.estate.id)]);
    let audited = app.audit("notice.publish_emergency").await;
    assert!(
        audited.iter().any(|e| e.actor_name == "CAP: 市气象台"
            && e.entity_id.as_deref() == Some(&notice_id.to_string())),
        "{audited:#?}"
    );

    // Later polls of the same feed record nothing again and make nothing new.
    poll_now(&app, &admin, &place, feed).await;
    let polled_again = |feeds: Vec<pavilion::store::CapFeed>| {
        feeds
            .iter()
            .find(|f| f.id == feed)
            .and_then(|f| f.last_outcome.clone())
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = polled_again(app.state.store.cap_feeds(None).await.unwrap());
        if outcome.as_deref() == Some("ok:7:0") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{outcome:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(alerts(&app, &place).await.len(), 6);

    // The console lists the feed and each alert with its outcome.
    let page = app.text(&admin, &feeds_path(&place)).await;
    for shown in [
        "市气象台",
        "暴雨橙色预警",
        "不在本社区范围",
        "已过期",
        "格式有误",
        "演练或测试",
    ] {
        assert!(page.contains(shown), "the console page shows {shown}");
    }
    assert!(page.contains(&format!("/console/notices/{notice_id}")));

    // Another feed of the community relaying the same alert: a duplicate.
    feeds.index("/province.atom", &["alert.xml"]);
    subscribe(
        &app,
        &admin,
        &place,
        "省预警中心",
        &feeds.url("/province.atom"),
    )
    .await;
    let recorded = wait_for_alerts(&app, &place, "the relayed alert", |list| {
        list.len() == 7 && list.iter().all(|a| a.outcome != "received")
    })
    .await;
    let relayed = &recorded[0];
    assert_eq!(
        (
            relayed.identifier.as_str(),
            relayed.outcome.as_str(),
            relayed.notice_id
        ),
        ("PAV-TEST-0001", "duplicate", None)
    );
    assert_eq!(emergencies(&playlist(&app, &token).await).len(), 1);

    // The secretary's own line shows with the notice.
    let response = app
        .post_form(
            &admin,
            &format!("{}/local-line", feeds_path(&place)),
            &[("notice", &notice_id.to_string()), ("line", "请走东侧楼梯")],
        )
        .await;
    assert_eq!(response.status(), 303);
    wait_for_playlist(&app, &token, "the local line", |e| {
        e.iter().any(|n| {
            n["html"]
                .as_str()
                .unwrap_or_default()
                .contains("请走东侧楼梯")
        })
    })
    .await;

    // An update replaces the notice (the same one, the line kept).
    feeds.index("/feed.atom", &["alert.xml", "update.xml"]);
    poll_now(&app, &admin, &place, feed).await;
    let list = wait_for_playlist(&app, &token, "the update", |e| {
        e.iter().any(|n| n["title"] == "暴雨红色预警")
    })
    .await;
    assert_eq!(list.len(), 1, "replaced, not added: {list:#?}");
    assert_eq!(list[0]["id"], notice_id);
    assert_eq!(list[0]["priority"], 9);
    let html = list[0]["html"].as_str().unwrap();
    assert!(
        html.contains("请走东侧楼梯") && html.contains("不要涉水"),
        "{html}"
    );
    let recorded = wait_for_alerts(&app, &place, "the update recorded", |list| {
        outcome_of(list, "PAV-TEST-0002").is_some()
    })
    .await;
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0002"), Some("updated"));

    // A cancel takes it down.
    feeds.index("/feed.atom", &["alert.xml", "update.xml", "cancel.xml"]);
    poll_now(&app, &admin, &place, feed).await;
    wait_for_playlist(&app, &token, "the cancel", |e| e.is_empty()).await;
    let recorded = wait_for_alerts(&app, &place, "the cancel recorded", |list| {
        outcome_of(list, "PAV-TEST-0003").is_some()
    })
    .await;
    assert_eq!(outcome_of(&recorded, "PAV-TEST-0003"), Some("cancelled"));
    let withdrawn = app.state.store.notice(NoticeId(notice_id)).await.unwrap();
    assert_eq!(withdrawn.state, notice::NoticeState::Withdrawn);

    // Unsubscribing stops the polls; the history stays.
    let response = app
        .post_form(
            &admin,
            &format!("{}/remove", feeds_path(&place)),
            &[("feed", &feed.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.state
            .store
            .cap_feeds(Some(place.community.id))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(alerts(&app, &place).await.len(), 9);
}

#[tokio::test]
async fn only_staff_of_the_community_who_publish_emergencies_reach_its_feeds() {
    let app = short_poll_app().await;
    let place = app.seed_place().await;
    let other = app
        .seed_place_named("和平社区", "HP", "和平小区", "1号楼")
        .await;
    app.create_account(Role::Admin, None).await;
    let path = feeds_path(&place);

    let own_staff = app
        .add_staff(Role::Staff, "own-staff", Some(place.community.id))
        .await;
    let client = app.login(own_staff.username.as_str()).await;
    let response = client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("官方预警订阅"));
    // Their own feed; a form without its token is refused.
    let response = client
        .post(app.url(&path))
        .form(&[
            ("name", "区应急局"),
            ("url", "https://example.org/cap.atom"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403, "no form token");

    // Staff of another community: for them the page does not exist.
    let foreign = app
        .add_staff(Role::Staff, "foreign-staff", Some(other.community.id))
        .await;
    let client = app.login(foreign.username.as_str()).await;
    let response = client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 404);
    let response = app
        .post_form(
            &client,
            &path,
            &[
                ("name", "越权订阅"),
                ("url", "https://example.org/cap.atom"),
            ],
        )
        .await;
    assert_eq!(response.status(), 404);
    assert!(app.state.store.cap_feeds(None).await.unwrap().is_empty());

    // An observer of the community may not publish emergencies.
    let observer = app
        .add_staff(Role::Observer, "observer-1", Some(place.community.id))
        .await;
    let client = app.login(observer.username.as_str()).await;
    let response = client.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 403);
}

/// Waits until `script` returns something without `gone`.
async fn wait_until_gone(page: &fantoccini::Client, script: &str, gone: &str, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    let mut last = String::new();
    while tokio::time::Instant::now() < deadline {
        if let Ok(value) = page.execute(script, vec![]).await {
            last = value.as_str().unwrap_or_default().to_owned();
            if !last.contains(gone) {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("waited {limit:?} for {gone:?} to leave the screen, last saw {last:?}");
}

#[tokio::test]
async fn a_lobby_screen_shows_a_cap_alert_with_the_local_line_until_it_is_cancelled() {
    let app = short_poll_app().await;
    let place = app.seed_place().await;
    locate_estate(&app, &place).await;
    let admin_account = app.create_account(Role::Admin, None).await;
    let admin = app.login(admin_account.username.as_str()).await;
    let (_driver, page): (Driver, _) =
        open_paired_kiosk(&app, &admin_account, &place, "3号楼大堂").await;
    let feeds = FeedServer::start().await;
    feeds.index("/feed.atom", &["alert.xml"]);
    let feed = subscribe(&app, &admin, &place, "市气象台", &feeds.url("/feed.atom")).await;

    wait_for_text(
        &page,
        STAGE_TEXT,
        "暴雨橙色预警",
        Duration::from_secs(30),
        "the CAP alert on the screen",
    )
    .await;
    let whole_screen = page
        .execute(
            "return document.body.classList.contains('is-emergency')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(whole_screen.as_bool(), Some(true), "not full screen");

    let notice = wait_for_alerts(&app, &place, "the alert recorded", |list| {
        list.iter().any(|a| a.notice_id.is_some())
    })
    .await[0]
        .notice_id
        .unwrap();
    let response = app
        .post_form(
            &admin,
            &format!("{}/local-line", feeds_path(&place)),
            &[("notice", &notice.to_string()), ("line", "请走东侧楼梯")],
        )
        .await;
    assert_eq!(response.status(), 303);
    wait_for_text(
        &page,
        STAGE_TEXT,
        "请走东侧楼梯",
        Duration::from_secs(30),
        "the local line on the screen",
    )
    .await;

    feeds.index("/feed.atom", &["alert.xml", "cancel.xml"]);
    poll_now(&app, &admin, &place, feed).await;
    wait_until_gone(&page, STAGE_TEXT, "暴雨橙色预警", Duration::from_secs(30)).await;
    let whole_screen = page
        .execute(
            "return document.body.classList.contains('is-emergency')",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        whole_screen.as_bool(),
        Some(false),
        "still in emergency mode"
    );
}

/// A feed that is one CAP document (no index), polled hourly: the first
/// poll is at once, the next only when staff ask for it.
#[tokio::test]
async fn a_single_document_feed_is_polled_again_when_staff_ask() {
    let app = spawn_app_with(|settings| {
        settings.cap.poll_seconds = 3600;
        settings.cap.private_feeds = true;
    })
    .await;
    let place = app.seed_place().await;
    locate_estate(&app, &place).await;
    app.create_account(Role::Admin, None).await;
    let secretary = app
        .add_staff(Role::Secretary, "secretary-1", Some(place.community.id))
        .await;
    let client = app.login(secretary.username.as_str()).await;
    let token = crate::signage::pair_screen(&app, &place, "3号楼大堂").await;
    let feeds = FeedServer::start().await;
    feeds.put("/current.xml", document("alert.xml"));
    let feed = subscribe(
        &app,
        &client,
        &place,
        "区应急局",
        &feeds.url("/current.xml"),
    )
    .await;
    wait_for_playlist(&app, &token, "the alert", |e| {
        e.iter().any(|n| n["title"] == "暴雨橙色预警")
    })
    .await;
    let made = app.state.store.cap_feed(feed).await.unwrap();
    assert_eq!(made.created_by, secretary.id);
    assert!(made.next_poll_at > chrono::Utc::now() + chrono::Duration::minutes(50));

    // An error page where the feed was: the poll failed, no alert is recorded.
    feeds.put(
        "/current.xml",
        b"<html><body>502 Bad Gateway</body></html>".to_vec(),
    );
    poll_now(&app, &client, &place, feed).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let outcome = app.state.store.cap_feed(feed).await.unwrap().last_outcome;
        if outcome.as_deref().is_some_and(|o| o.starts_with("error:")) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{outcome:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(alerts(&app, &place).await.len(), 1);
    let page = app.text(&client, &feeds_path(&place)).await;
    assert!(
        page.contains("读取失败"),
        "the console shows the failed poll"
    );

    // The document now holds the update: nothing happens before the hour…
    feeds.put("/current.xml", document("update.xml"));
    tokio::time::sleep(Duration::from_secs(6)).await;
    let list = emergencies(&playlist(&app, &token).await);
    assert_eq!(list[0]["title"], "暴雨橙色预警", "polled before it was due");
    // …unless staff ask.
    poll_now(&app, &client, &place, feed).await;
    wait_for_playlist(&app, &token, "the update after poll now", |e| {
        e.len() == 1 && e[0]["title"] == "暴雨红色预警"
    })
    .await;
}
