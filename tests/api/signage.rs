//! Lobby notices end to end over HTTP: writing, approval, what a paired
//! screen receives (playlist and push stream), uploads, and bad input.

use std::time::Duration;

use futures_util::StreamExt;
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::store::ScreenSetup;
use serde_json::Value;

use crate::helpers::{location, spawn_app, text_of, Place, TestApp};

/// A landscape screen in `place`'s building, paired the way an admin pairs
/// one; returns its token.
pub async fn pair_screen(app: &TestApp, place: &Place, name: &str) -> String {
    let setup = ScreenSetup {
        name: name.into(),
        building_id: place.building.id,
        group_id: None,
        orientation: Orientation::Landscape,
    };
    pair_screen_as(app, setup).await
}

/// A screen set up as `setup` says, paired the way an admin pairs one: the
/// screen asks for a code, the first admin claims it, the screen picks up
/// its token (returned).
pub async fn pair_screen_as(app: &TestApp, setup: ScreenSetup) -> String {
    let client = reqwest::Client::new();
    let pairing: Value = client
        .post(app.url("/kiosk/api/pairings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = pairing["code"].as_str().unwrap();
    let secret = pairing["secret"].as_str().unwrap();
    let admin = app
        .state
        .store
        .list_accounts(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.role == Role::Admin)
        .expect("an admin exists");
    app.state
        .signage
        .claim_pairing(&admin, code, &setup)
        .await
        .unwrap();
    let paired: Value = client
        .get(app.url(&format!("/kiosk/api/pairings/{secret}")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    paired["token"].as_str().unwrap().to_owned()
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

fn titles(playlist: &Value) -> Vec<String> {
    playlist["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

/// The fields of a notice form, with the given title and intent.
fn notice_form<'a>(title: &'a str, body: &'a str, intent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("body", body),
        ("category", "outage"),
        ("starts_at", "2020-01-01T00:00"),
        ("ends_at", ""),
        ("display_seconds", "15"),
        ("priority", "5"),
        ("video", ""),
        ("intent", intent),
        // The one community of a fresh database.
        ("community", "1"),
    ]
}

fn notice_id(response: &reqwest::Response) -> i64 {
    let location = location(response);
    location
        .trim_start_matches("/console/notices/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("unexpected redirect {location}"))
}

struct Setup {
    app: TestApp,
    place: Place,
    staff: reqwest::Client,
    secretary: reqwest::Client,
    token: String,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Staff, None).await;
    app.create_account(Role::Secretary, None).await;
    let staff = app.login("staff").await;
    let secretary = app.login("secretary").await;
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    Setup {
        app,
        place,
        staff,
        secretary,
        token,
    }
}

#[tokio::test]
async fn a_notice_reaches_the_screens_only_once_approved() {
    let Setup {
        app,
        staff,
        secretary,
        token,
        ..
    } = setup().await;
    let response = app
        .post_form(
            &staff,
            "/console/notices",
            &notice_form("周六停水通知", "周六 **9:00–12:00** 停水。", "submit"),
        )
        .await;
    assert_eq!(response.status(), 303);
    let id = notice_id(&response);
    assert!(
        titles(&playlist(&app, &token).await).is_empty(),
        "pending notices do not show"
    );

    // Staff cannot approve; the secretary can.
    let page = app.text(&staff, &format!("/console/notices/{id}")).await;
    assert!(!page.contains(&format!("/console/notices/{id}/approve")));
    let response = app
        .post_form(
            &staff,
            &format!("/console/notices/{id}/approve"),
            &[("revision", "2")],
        )
        .await;
    assert_eq!(response.status(), 403);
    let page = app.text(&secretary, "/console/notices?state=pending").await;
    assert!(page.contains("周六停水通知"));
    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{id}/approve"),
            &[("revision", "2")],
        )
        .await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    let list = playlist(&app, &token).await;
    assert_eq!(titles(&list), ["周六停水通知"]);
    assert!(list["items"][0]["html"]
        .as_str()
        .unwrap()
        .contains("<strong>9:00–12:00</strong>"));

    // Editing the published notice sends it back: it leaves the screens.
    let notice = app.state.store.notice(NoticeId(id)).await.unwrap();
    let revision = notice.revision.to_string();
    let mut form = notice_form("周六停水通知（更新）", "改为 8:00 开始。", "submit");
    form.push(("revision", &revision));
    let response = app
        .post_form(&staff, &format!("/console/notices/{id}"), &form)
        .await;
    assert_eq!(response.status(), 303);
    let notice = app.state.store.notice(NoticeId(id)).await.unwrap();
    assert_eq!(notice.state, notice::NoticeState::Pending);
    assert!(titles(&playlist(&app, &token).await).is_empty());

    // A stale revision (someone else changed it first) is refused, nothing changes.
    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{id}/approve"),
            &[("revision", &revision)],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(response.text().await.unwrap().contains("刚被别人修改过"));

    // Rejected with a reason, which the author reads.
    let current = notice.revision.to_string();
    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{id}/reject"),
            &[("revision", &current), ("reason", "时间写错了")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = app.text(&staff, &format!("/console/notices/{id}")).await;
    assert!(page.contains("时间写错了"));
    assert!(!app.audit("notice.reject").await.is_empty());
    assert!(!app.audit("notice.approve").await.is_empty());
}

#[tokio::test]
async fn an_emergency_is_pushed_to_the_screen_and_preempts_the_rotation() {
    let Setup {
        app,
        staff,
        secretary,
        token,
        ..
    } = setup().await;
    // An ordinary notice is on the screen.
    let response = app
        .post_form(
            &secretary,
            "/console/notices",
            &notice_form("社区活动", "下午三点", "publish"),
        )
        .await;
    assert_eq!(response.status(), 303);

    let response = reqwest::Client::new()
        .get(app.url("/kiosk/api/events"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut events = response.bytes_stream();
    let mut seen = String::new();
    // The stream opens with the client version and the current playlist version.
    while !seen.contains("event: playlist") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the stream starts")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: client"));
    let before = playlist(&app, &token).await;

    // Staff publish an emergency at once, without waiting for approval.
    let mut form = notice_form("燃气泄漏，请勿使用明火", "请立即开窗通风。", "publish");
    form.push(("emergency", "on"));
    let response = app.post_form(&staff, "/console/notices", &form).await;
    assert_eq!(response.status(), 303);
    assert!(!app.audit("notice.publish_emergency").await.is_empty());

    let pushed = loop {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("a playlist event is pushed")
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&chunk).to_string();
        if text.contains("event: playlist") {
            break text;
        }
    };
    let after = playlist(&app, &token).await;
    assert!(pushed.contains(after["version"].as_str().unwrap()));
    assert_ne!(before["version"], after["version"]);
    assert_eq!(titles(&after), ["燃气泄漏，请勿使用明火", "社区活动"]);
    assert_eq!(after["items"][0]["emergency"], true);

    // Cleared: withdrawn at once.
    let id = app
        .state
        .store
        .list_notices(&pavilion::store::NoticeFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.emergency)
        .unwrap()
        .id;
    let response = app
        .post_form(&staff, &format!("/console/notices/{id}/withdraw"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(titles(&playlist(&app, &token).await), ["社区活动"]);
}

#[tokio::test]
async fn unchanged_playlists_answer_304_and_revoked_tokens_401() {
    let Setup { app, token, .. } = setup().await;
    let client = reqwest::Client::new();
    let first = client
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let again = client
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    for bad in ["", "Bearer nope", "Basic abc"] {
        let response = client
            .get(app.url("/kiosk/api/playlist"))
            .header("authorization", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{bad:?}");
    }
    let screen = app
        .state
        .signage
        .authenticate(&token)
        .await
        .unwrap()
        .unwrap();
    let admin = app.state.store.account(AccountId(1)).await.unwrap();
    app.state
        .signage
        .revoke_screen(&admin, screen.id)
        .await
        .unwrap();
    let response = client
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let response = client
        .post(app.url("/kiosk/api/heartbeat"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"client_version": "x", "uptime_seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_pairing_token_is_handed_out_once_and_codes_expire_unclaimed() {
    let app = spawn_app().await;
    let client = reqwest::Client::new();
    let pairing: Value = client
        .post(app.url("/kiosk/api/pairings"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = pairing["secret"].as_str().unwrap();
    let code = pairing["code"].as_str().unwrap();
    assert_eq!(code.len(), 6);
    let waiting = client
        .get(app.url(&format!("/kiosk/api/pairings/{secret}")))
        .send()
        .await
        .unwrap();
    assert_eq!(waiting.status(), 202);
    let unknown = client
        .get(app.url("/kiosk/api/pairings/not-a-secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 410);

    // A script asking for codes in a loop is slowed down.
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = client
            .post(app.url("/kiosk/api/pairings"))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn heartbeats_and_plays_are_kept_and_a_resent_batch_is_stored_once() {
    let Setup {
        app,
        secretary,
        token,
        ..
    } = setup().await;
    let response = app
        .post_form(
            &secretary,
            "/console/notices",
            &notice_form("物业收费公示", "", "publish"),
        )
        .await;
    let id = notice_id(&response);
    let client = reqwest::Client::new();
    let response = client
        .post(app.url("/kiosk/api/heartbeat"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "current_notice": id, "client_version": "abc", "uptime_seconds": 3600,
            "last_error": "video failed\u{0007}"
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let screen = app
        .state
        .signage
        .authenticate(&token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(screen.heartbeat.current_notice, Some(NoticeId(id)));
    assert_eq!(screen.heartbeat.last_error.as_deref(), Some("video failed"));
    assert!(screen.last_seen_at.is_some());

    // Plays of the last minutes (the notice was published just now: the
    // server refuses plays from before it could have been shown).
    let at = |seconds: i64| {
        chrono::Utc::now() - chrono::Duration::minutes(3) + chrono::Duration::seconds(seconds)
    };
    let plays = serde_json::json!([
        {"notice_id": id, "started_at": at(0), "ended_at": at(15)},
        {"notice_id": id, "started_at": at(60), "ended_at": at(75)},
        {"notice_id": 999999, "started_at": at(120), "ended_at": at(135)},
        {"notice_id": id, "started_at": at(180), "ended_at": at(120)}
    ]);
    for _ in 0..2 {
        let response = client
            .post(app.url("/kiosk/api/plays"))
            .bearer_auth(&token)
            .json(&plays)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }
    let stored = app
        .state
        .store
        .plays(&pavilion::store::PlayFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        stored.len(),
        2,
        "resent plays, unknown notices and inverted plays are not stored twice or at all"
    );

    let too_many: Vec<Value> = (0..201)
        .map(|i| serde_json::json!({"notice_id": id, "started_at": format!("2026-11-20T09:{:02}:{:02}Z", i / 60, i % 60), "ended_at": "2026-11-20T10:00:00Z"}))
        .collect();
    let response = client
        .post(app.url("/kiosk/api/plays"))
        .bearer_auth(&token)
        .json(&too_many)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let response = client
        .post(app.url("/kiosk/api/plays"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn hostile_and_malformed_notices_are_refused_or_made_harmless() {
    let Setup {
        app,
        secretary,
        token,
        ..
    } = setup().await;
    let body = "<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n[点我](javascript:alert(3))\n\n| 项目 | 金额 |\n|---|---|\n| 保洁 | 1200 |";
    // The form refuses it (notices_console.rs has each kind); a body that
    // reached the store some other way is still made harmless on its way to
    // the screens.
    let response = app
        .post_form(
            &secretary,
            "/console/notices",
            &notice_form("收支公示", body, "publish"),
        )
        .await;
    assert_eq!(response.status(), 400);
    let checked = notice::NoticeDraft::new(
        CommunityId(1),
        "收支公示",
        "",
        notice::NoticeCategory::Disclosure,
        false,
        notice::Validity::new(chrono::Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        vec![],
        vec![],
        15,
        5,
        vec![],
        None,
    )
    .unwrap();
    let hostile = notice::NoticeDraft {
        body: body.into(),
        ..checked
    };
    app.state
        .store
        .create_notice(
            &crate::helpers::system(),
            AccountId(1),
            &hostile,
            notice::NoticeState::Published,
        )
        .await
        .unwrap();
    let list = playlist(&app, &token).await;
    let html = list["items"][0]["html"].as_str().unwrap();
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("onerror"), "{html}");
    assert!(!html.contains("javascript:"), "{html}");
    assert!(html.contains("<table>") && html.contains("1200"), "{html}");

    let count = || async {
        app.state
            .store
            .list_notices(&pavilion::store::NoticeFilter {
                limit: 100,
                ..Default::default()
            })
            .await
            .unwrap()
            .len()
    };
    let before = count().await;
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            {
                let mut f = notice_form("停电", "", "publish");
                f.retain(|(k, _)| *k != "ends_at");
                f.push(("ends_at", "2019-01-01T00:00"));
                f
            },
            "停止显示的时间必须晚于开始显示的时间",
        ),
        (
            {
                let mut f = notice_form("停电", "", "publish");
                f.push(("dp0-from", "22:00"));
                f.push(("dp0-until", "06:00"));
                f
            },
            "时段至少要选一天",
        ),
        (
            {
                // Friday night into Saturday, and Saturday small hours.
                let mut f = notice_form("停电", "", "publish");
                f.extend([
                    ("dp0-d5", "on"),
                    ("dp0-from", "22:00"),
                    ("dp0-until", "02:00"),
                ]);
                f.extend([
                    ("dp1-d6", "on"),
                    ("dp1-from", "01:00"),
                    ("dp1-until", "05:00"),
                ]);
                f
            },
            "第 1 个时段和第 2 个时段有重叠",
        ),
        (
            {
                let mut f = notice_form("停电", "", "publish");
                f.retain(|(k, _)| *k != "display_seconds");
                f.push(("display_seconds", "9999"));
                f
            },
            "显示秒数须在 5 到 300 之间",
        ),
        (
            {
                let mut f = notice_form("停电", "", "publish");
                f.push(("target-building-987654", "on"));
                f
            },
            "其他社区",
        ),
        (
            {
                let mut f = notice_form("停电", "", "publish");
                f.push(("image-424242", "on"));
                f
            },
            "其他社区",
        ),
        (notice_form("x", "", "publish"), "标题"),
    ];
    for (form, message) in cases {
        let response = app.post_form(&secretary, "/console/notices", &form).await;
        assert_eq!(response.status(), 400);
        let page = response.text().await.unwrap();
        let error = text_of(&page, "#form-error").unwrap_or_default();
        assert!(
            error.contains(message),
            "expected {message:?}, got {error:?}"
        );
    }
    assert_eq!(count().await, before, "nothing stored half-way");
}

#[tokio::test]
async fn targeting_and_day_parts_reach_the_screen_as_written() {
    let Setup {
        app,
        place,
        secretary,
        token,
        ..
    } = setup().await;
    let other_building = app
        .state
        .store
        .create_building(
            &crate::helpers::system(),
            place.estate.id,
            &PlaceName::parse("5号楼").unwrap(),
        )
        .await
        .unwrap();
    let elsewhere = format!("target-building-{}", other_building.id);
    let here = format!("target-building-{}", place.building.id);
    let mut form = notice_form("5号楼电梯维修", "", "publish");
    form.push((&elsewhere, "on"));
    app.post_form(&secretary, "/console/notices", &form).await;
    let mut form = notice_form("3号楼夜间施工", "", "publish");
    form.push((&here, "on"));
    for day in ["dp0-d5", "dp0-d6"] {
        form.push((day, "on"));
    }
    form.push(("dp0-from", "22:00"));
    form.push(("dp0-until", "06:00"));
    app.post_form(&secretary, "/console/notices", &form).await;

    let list = playlist(&app, &token).await;
    assert_eq!(titles(&list), ["3号楼夜间施工"]);
    let part = &list["items"][0]["day_parts"][0];
    assert_eq!(part["weekdays"], serde_json::json!([5, 6]));
    assert_eq!(part["from"], "22:00");
    assert_eq!(part["until"], "06:00");
    assert_eq!(list["utc_offset_minutes"], 480);
    assert!(
        list["resident_qr"]["svg"]
            .as_str()
            .unwrap()
            .starts_with("<?xml")
            || list["resident_qr"]["svg"]
                .as_str()
                .unwrap()
                .contains("<svg")
    );
}

#[tokio::test]
async fn the_kiosk_client_and_preview_are_served() {
    let Setup { app, secretary, .. } = setup().await;
    let client = reqwest::Client::new();
    let page = client.get(app.url("/kiosk/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let version = pavilion::web::kiosk::client_version();
    assert!(
        html.contains(version),
        "the page carries its client version"
    );
    assert!(!html.contains("{{CLIENT_VERSION}}"));
    for file in ["kiosk.js", "kiosk.css", "sw.js"] {
        let response = client
            .get(app.url(&format!("/kiosk/{file}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{file}");
    }
    assert_eq!(
        client
            .get(app.url("/kiosk/README.md"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let response = app
        .post_form(
            &secretary,
            "/console/notices",
            &notice_form("预览</script><script>alert(1)", "正文", "save"),
        )
        .await;
    let id = notice_id(&response);
    let preview = secretary
        .get(app.url(&format!("/kiosk/preview/{id}?orientation=portrait")))
        .send()
        .await
        .unwrap();
    assert_eq!(preview.status(), 200);
    assert_eq!(preview.headers()["x-frame-options"], "SAMEORIGIN");
    let html = preview.text().await.unwrap();
    assert!(html.contains("pavilion-preview") && html.contains("\"portrait\""));
    assert!(
        !html.contains("</script><script>alert"),
        "the embedded JSON cannot close its script element"
    );
    let anonymous = crate::helpers::client()
        .get(app.url(&format!("/kiosk/preview/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(
        anonymous.status(),
        303,
        "anonymous visitors are sent to log in"
    );
    assert!(location(&anonymous).starts_with("/login"));
}

#[tokio::test]
async fn screens_show_a_live_tile_while_a_broadcast_of_their_estate_is_on_air() {
    let app = crate::helpers::spawn_app_with(|s| s.live.grace_seconds = 1).await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    assert!(titles(&playlist(&app, &token).await).is_empty());

    let publisher = crate::publisher::Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(30), "live", |b| {
        b.state == broadcast::BroadcastState::Live
    })
    .await;
    let tile = wait_for_playlist(&app, &token, |list| {
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["kind"] == "live")
    })
    .await;
    let item = &tile["items"][0];
    assert_eq!(item["title"], "书记直播间");
    assert!(item["watch_url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("/live/{}", broadcast.id)));
    assert!(item["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(
        item["ends_at"].is_string(),
        "a rolling end, so offline screens drop it in time"
    );

    publisher.kill();
    let admin = app.state.store.account(AccountId(1)).await.unwrap();
    app.state.live.end(&admin, broadcast.id).await.unwrap();
    wait_for_playlist(&app, &token, |list| {
        list["items"].as_array().unwrap().is_empty()
    })
    .await;
}

/// Polls the screen's playlist until `done` holds (the on-air list is
/// refreshed every two seconds).
async fn wait_for_playlist(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let list = playlist(app, token).await;
        if done(&list) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the playlist never changed as expected");
}

/// A poll that already has the current version is answered without building
/// the playlist; that shortcut must end with any change, and with the first
/// notice in it that ends, though nothing changed.
#[tokio::test]
async fn a_known_playlist_version_ends_with_a_change_or_when_a_notice_in_it_ends() {
    let Setup {
        app, place, token, ..
    } = setup().await;
    let admin = app.state.store.account(AccountId(1)).await.unwrap();
    let now = chrono::Utc::now();
    let draft = |title: &str, ends_in: Option<chrono::Duration>| {
        pavilion::domain::notice::NoticeDraft::new(
            place.community.id,
            title,
            "请留意。",
            pavilion::domain::notice::NoticeCategory::Announcement,
            false,
            pavilion::domain::notice::Validity::new(
                now - chrono::Duration::minutes(1),
                ends_in.map(|d| now + d),
            )
            .unwrap(),
            vec![],
            vec![],
            15,
            5,
            vec![],
            None,
        )
        .unwrap()
    };
    let publish = |d| {
        let (app, admin) = (&app, &admin);
        async move {
            app.state
                .signage
                .create_notice(admin, &d, pavilion::signage::Intent::Publish)
                .await
                .unwrap()
        }
    };
    publish(draft("三秒后结束", Some(chrono::Duration::seconds(3)))).await;
    let client = reqwest::Client::new();
    let poll = |etag: Option<String>| {
        let (client, app, token) = (&client, &app, &token);
        async move {
            let mut request = client
                .get(app.url("/kiosk/api/playlist"))
                .bearer_auth(token);
            if let Some(etag) = etag {
                request = request.header("if-none-match", etag);
            }
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let etag = response.headers()["etag"].to_str().unwrap().to_owned();
            let body = response.text().await.unwrap();
            (status, etag, body)
        }
    };
    let (status, first, body) = poll(None).await;
    assert_eq!(status, 200);
    assert!(body.contains("三秒后结束"));
    let (status, etag, _) = poll(Some(first.clone())).await;
    assert_eq!((status, etag.as_str()), (304, first.as_str()));

    // A change: the old version is no longer good.
    publish(draft("长期有效", None)).await;
    let (status, second, body) = poll(Some(first.clone())).await;
    assert_eq!(status, 200);
    assert_ne!(second, first);
    assert!(body.contains("长期有效") && body.contains("三秒后结束"));
    assert_eq!(poll(Some(second.clone())).await.0, 304);

    // Nothing changes, but the first notice ends.
    tokio::time::sleep_until(
        tokio::time::Instant::now()
            + (now + chrono::Duration::seconds(3) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
            + Duration::from_millis(200),
    )
    .await;
    let (status, third, body) = poll(Some(second.clone())).await;
    assert_eq!(status, 200, "the ended notice must leave the playlist");
    assert_ne!(third, second);
    assert!(body.contains("长期有效") && !body.contains("三秒后结束"));
}
