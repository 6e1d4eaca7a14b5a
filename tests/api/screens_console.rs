//! The console's lobby-screen pages, driven over HTTP together with the
//! kiosk API a real screen uses: pairing, health, revocation, proof-of-play.

use chrono::{Duration, Utc};
use pavilion::domain::notice::{NoticeCategory, NoticeDraft, NoticeState, Target, Validity};
use pavilion::domain::screen::Heartbeat;
use pavilion::domain::{Account, NoticeId, Role, ScreenId};
use serde_json::{json, Value};

use crate::helpers::*;

/// A browser on `/kiosk/` asking for a pairing code: (code, secret).
async fn start_pairing(app: &TestApp, kiosk: &reqwest::Client) -> (String, String) {
    let response = kiosk
        .post(app.url("/kiosk/api/pairings"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["code"].as_str().unwrap().to_owned(),
        body["secret"].as_str().unwrap().to_owned(),
    )
}

async fn poll(app: &TestApp, kiosk: &reqwest::Client, secret: &str) -> reqwest::Response {
    kiosk
        .get(app.url(&format!("/kiosk/api/pairings/{secret}")))
        .send()
        .await
        .unwrap()
}

fn screen_form<'a>(code: &'a str, name: &'a str, building: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("code", code),
        ("name", name),
        ("building", building),
        ("group", ""),
        ("orientation", "portrait"),
    ]
}

/// Pairs a screen the way people do: the screen asks for a code, the admin
/// types it into the console, the screen's poll picks up its token.
async fn pair_screen(
    app: &TestApp,
    admin: &reqwest::Client,
    place: &Place,
    name: &str,
) -> (ScreenId, String) {
    let kiosk = client();
    let (code, secret) = start_pairing(app, &kiosk).await;
    let building = place.building.id.to_string();
    let response = app
        .post_form(
            admin,
            "/console/screens",
            &screen_form(&code, name, &building),
        )
        .await;
    assert_eq!(response.status(), 303);
    let target = location(&response);
    let id = target
        .strip_prefix("/console/screens/")
        .and_then(|rest| rest.strip_suffix("?done=paired"))
        .unwrap_or_else(|| panic!("unexpected redirect {target}"));
    let response = poll(app, &kiosk, &secret).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "paired");
    (
        ScreenId(id.parse().unwrap()),
        body["token"].as_str().unwrap().to_owned(),
    )
}

async fn published_notice(app: &TestApp, place: &Place, author: &Account, title: &str) -> NoticeId {
    let draft = NoticeDraft::new(
        place.community.id,
        title,
        "明天上午 9 点到 12 点停水。",
        NoticeCategory::Outage,
        false,
        Validity::new(Utc::now() - Duration::days(1), None).unwrap(),
        Vec::new(),
        vec![Target::Community(place.community.id)],
        15,
        5,
        Vec::new(),
        None,
    )
    .unwrap();
    app.state
        .store
        .create_notice(&system(), author.id, &draft, NoticeState::Published)
        .await
        .unwrap()
        .id
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

async fn playlist_status(app: &TestApp, token: &str) -> u16 {
    client()
        .get(app.url("/kiosk/api/playlist"))
        .header("Authorization", bearer(token))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn an_admin_pairs_a_screen_by_its_code_and_revokes_it() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;

    let kiosk = client();
    let (code, secret) = start_pairing(&app, &kiosk).await;
    assert_eq!(code.len(), 6);
    assert_eq!(poll(&app, &kiosk, &secret).await.status(), 202);

    // The form offers the building, grouped by estate.
    let page = app.text(&admin, "/console/screens").await;
    assert!(page.contains(r#"<optgroup label="阳光花园">"#), "{page}");
    assert!(page.contains("3号楼"));
    assert!(page.contains(r#"autocomplete="off""#));

    // Typed in lower case with a dash: still the code.
    let typed = format!("{}-{}", &code[..3], &code[3..]).to_lowercase();
    let building = place.building.id.to_string();
    let response = app
        .post_form(
            &admin,
            "/console/screens",
            &screen_form(&typed, "3号楼一层大堂", &building),
        )
        .await;
    assert_eq!(response.status(), 303);
    let screen_page = location(&response);
    assert!(screen_page.ends_with("?done=paired"), "{screen_page}");
    let page = app.text(&admin, &screen_page).await;
    assert_eq!(text_of(&page, "h1").unwrap(), "3号楼一层大堂");
    assert!(page.contains("配对成功"));
    assert!(page.contains("竖屏"));

    // The screen's poll gets its token exactly once.
    let response = poll(&app, &kiosk, &secret).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "paired");
    let token = body["token"].as_str().unwrap().to_owned();
    assert_eq!(poll(&app, &kiosk, &secret).await.status(), 410);
    assert_eq!(playlist_status(&app, &token).await, 200);

    let list = app.text(&admin, "/console/screens").await;
    assert!(list.contains("3号楼一层大堂"));
    assert!(list.contains("阳光花园 · 3号楼"));
    assert_eq!(app.audit("screen.pair").await.len(), 1);

    // Revoking is a confirmed form; the token stops working at once.
    let id = screen_page
        .trim_end_matches("?done=paired")
        .rsplit('/')
        .next()
        .unwrap()
        .to_owned();
    let page = app.text(&admin, &format!("/console/screens/{id}")).await;
    assert!(page.contains(&format!(r#"action="/console/screens/{id}/revoke""#)));
    assert!(page.contains("<details>"));
    let response = app
        .post_form(&admin, &format!("/console/screens/{id}/revoke"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        format!("/console/screens/{id}?done=revoked")
    );
    assert_eq!(playlist_status(&app, &token).await, 401);
    let page = app.text(&admin, &format!("/console/screens/{id}")).await;
    assert!(page.contains(r#"data-health="revoked""#));
    assert!(!page.contains("/revoke\""), "no second revoke button");
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_nothing_is_created() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let building = place.building.id.to_string();

    let response = app
        .post_form(
            &admin,
            "/console/screens",
            &screen_form("ABCDEF", "2号楼大堂", &building),
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        text_of(&page, "#form-error")
            .unwrap()
            .contains("配对码不对或已过期"),
        "{page}"
    );
    // What was typed is kept for correcting.
    assert!(page.contains(r#"value="2号楼大堂""#));
    assert!(app.state.store.list_screens(None).await.unwrap().is_empty());

    // A missing name is the form's problem, not a code attempt.
    let response = app
        .post_form(
            &admin,
            "/console/screens",
            &screen_form("ABCDEF", "", &building),
        )
        .await;
    assert_eq!(response.status(), 400);
    assert!(app.state.store.list_screens(None).await.unwrap().is_empty());
    assert!(app.audit("screen.pair").await.is_empty());
}

#[tokio::test]
async fn guessing_codes_is_rate_limited() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let building = place.building.id.to_string();
    let mut last = None;
    for _ in 0..11 {
        let response = app
            .post_form(
                &admin,
                "/console/screens",
                &screen_form("XYZ234", "大堂", &building),
            )
            .await;
        last = Some((response.status().as_u16(), response.text().await.unwrap()));
    }
    let (status, page) = last.unwrap();
    assert_eq!(status, 429);
    assert!(
        text_of(&page, "#form-error").unwrap().contains("次数过多"),
        "{page}"
    );

    // Even the right code waits out the minute.
    let kiosk = client();
    let (code, _) = start_pairing(&app, &kiosk).await;
    let response = app
        .post_form(
            &admin,
            "/console/screens",
            &screen_form(&code, "大堂", &building),
        )
        .await;
    assert_eq!(response.status(), 429);
    assert!(app.state.store.list_screens(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn heartbeats_show_whether_a_screen_is_alive() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin_account = app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let (id, token) = pair_screen(&app, &admin, &place, "3号楼电梯厅").await;
    let notice = published_notice(&app, &place, &admin_account, "停水通知").await;

    // Last heard from five minutes ago: stale, not yet worth an alert.
    app.state
        .store
        .record_heartbeat(id, &Heartbeat::default(), Utc::now() - Duration::minutes(5))
        .await
        .unwrap();
    let page = app.text(&admin, "/console/screens").await;
    assert!(page.contains(r#"data-health="stale""#), "{page}");
    let row = text_of(&page, &format!(r#"tr[data-screen="{}"]"#, id.0)).unwrap();
    assert!(row.contains("5 分钟前"), "{row}");
    assert!(text_of(&page, "[data-offline-screens]").is_none());
    assert!(text_of(&page, "[data-offline-badge]").is_none());

    // Last heard from half an hour ago: offline, and the console says so.
    app.state
        .store
        .record_heartbeat(
            id,
            &Heartbeat::default(),
            Utc::now() - Duration::minutes(30),
        )
        .await
        .unwrap();
    let page = app.text(&admin, "/console/screens").await;
    assert!(page.contains(r#"data-health="offline""#), "{page}");
    let alert = text_of(&page, "[data-offline-screens]").expect("an offline alert");
    assert!(alert.contains("3号楼电梯厅"));
    assert!(alert.contains("30 分钟前"));
    // The dashboard, where staff land, carries the same alert.
    let dashboard = app.text(&admin, "/console").await;
    let alert = text_of(&dashboard, "[data-offline-screens]").expect("an alert on the dashboard");
    assert!(alert.contains("有 1 块大屏离线超过 10 分钟"), "{alert}");
    assert!(alert.contains("3号楼电梯厅"));
    // Every console page flags it in the navigation, next to 大屏.
    let elsewhere = app.text(&admin, "/console/notices").await;
    let badge = scraper::Html::parse_document(&elsewhere);
    let badge = badge
        .select(
            &scraper::Selector::parse(
                "nav.console-nav a[href='/console/screens'] [data-offline-badge]",
            )
            .unwrap(),
        )
        .next()
        .expect("an offline badge in the navigation");
    assert_eq!(badge.text().collect::<String>(), "1");
    assert_eq!(
        badge.value().attr("aria-label"),
        Some("1 块大屏离线超过 10 分钟")
    );

    let response = client()
        .post(app.url("/kiosk/api/heartbeat"))
        .header("Authorization", bearer(&token))
        .json(&json!({
            "current_notice": notice.0,
            "client_version": "c0ffee",
            "uptime_seconds": 3 * 3600 + 300,
            "last_error": "video failed: <b>decode</b>",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    let page = app.text(&admin, "/console/screens").await;
    assert!(page.contains(r#"data-health="online""#), "{page}");
    assert!(text_of(&page, "[data-offline-screens]").is_none());
    assert!(text_of(&page, "[data-offline-badge]").is_none());
    let row = text_of(&page, &format!(r#"tr[data-screen="{}"]"#, id.0)).unwrap();
    assert!(row.contains("在线"));
    assert!(row.contains("刚刚"));
    assert!(row.contains("c0ffee"));
    assert!(row.contains("停水通知"));
    assert!(row.contains("3 小时 5 分"));
    assert!(page.contains(&format!(r#"href="/console/notices/{}""#, notice.0)));
    // The screen's error text is shown escaped.
    assert!(page.contains("&lt;b&gt;decode"));
    assert!(!page.contains("<b>decode"));

    let detail = app
        .text(&admin, &format!("/console/screens/{}", id.0))
        .await;
    assert!(detail.contains("c0ffee"));
    assert!(detail.contains("video failed"));
}

#[tokio::test]
async fn an_admin_moves_and_groups_a_screen() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let (id, _) = pair_screen(&app, &admin, &place, "大堂").await;

    let response = app
        .post_form(&admin, "/console/screens/groups", &[("name", "电梯厅")])
        .await;
    assert_eq!(response.status(), 303);
    let response = app
        .post_form(&admin, "/console/screens/groups", &[("name", "电梯厅")])
        .await;
    assert_eq!(response.status(), 400, "a group name is used once");
    let groups = app
        .state
        .store
        .list_screen_groups(place.community.id)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);

    let group = groups[0].id.to_string();
    let building = place.building.id.to_string();
    let path = format!("/console/screens/{}", id.0);
    let response = app
        .post_form(
            &admin,
            &path,
            &[
                ("name", "3号楼电梯厅"),
                ("building", &building),
                ("group", &group),
                ("orientation", "landscape"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let screen = app.state.store.screen(id).await.unwrap();
    assert_eq!(screen.name, "3号楼电梯厅");
    assert_eq!(screen.place.group_id, Some(groups[0].id));

    // A building that does not exist: sent back, nothing changed.
    let response = app
        .post_form(
            &admin,
            &path,
            &[
                ("name", "别的名字"),
                ("building", "99999"),
                ("orientation", "landscape"),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        app.state.store.screen(id).await.unwrap().name,
        "3号楼电梯厅"
    );
}

#[tokio::test]
async fn proof_of_play_exports_as_csv() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin_account = app.create_account(Role::Admin, None).await;
    let admin = app.login("admin").await;
    let (id, token) = pair_screen(&app, &admin, &place, "3号楼大堂").await;
    let water = published_notice(&app, &place, &admin_account, "停水通知").await;
    let sneaky = published_notice(&app, &place, &admin_account, "=HYPERLINK(\"x\")").await;

    let start = Utc::now() - Duration::minutes(10);
    let plays = json!([
        { "notice_id": water.0, "started_at": start, "ended_at": start + Duration::seconds(15) },
        { "notice_id": sneaky.0, "started_at": start + Duration::seconds(15), "ended_at": start + Duration::seconds(30) },
        { "notice_id": water.0, "started_at": start + Duration::seconds(30), "ended_at": start + Duration::seconds(45) },
    ]);
    // A screen that lost the answer sends the same batch again.
    for _ in 0..2 {
        let response = client()
            .post(app.url("/kiosk/api/plays"))
            .header("Authorization", bearer(&token))
            .json(&plays)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 204);
    }

    let zone = app.state.settings.time_zone;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let yesterday = today.pred_opt().unwrap();
    let response = admin
        .get(app.url(&format!(
            "/console/screens/plays.csv?notice={}&from={yesterday}&to={today}",
            water.0
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let bytes = response.bytes().await.unwrap();
    assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]), "a byte-order mark");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "screen_id,screen_name,notice_id,notice_title,started,ended,seconds"
    );
    assert_eq!(lines.len(), 3, "each play once, only this notice: {text}");
    let local = start.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
    assert_eq!(
        lines[1],
        format!(
            "{},3号楼大堂,{},停水通知,{local},{},15",
            id.0,
            water.0,
            (start + Duration::seconds(15))
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M:%S")
        )
    );

    // All notices; a title that looks like a formula stays text.
    let all = admin
        .get(app.url(&format!(
            "/console/screens/plays.csv?from={yesterday}&to={today}"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(all.lines().count(), 4);
    assert!(all.contains("'=HYPERLINK"), "{all}");

    // A period before the plays is empty but for the header.
    let before = today - Duration::days(10);
    let empty = admin
        .get(app.url(&format!(
            "/console/screens/plays.csv?from={before}&to={before}"
        )))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(empty.lines().count(), 1);

    for bad in [
        format!("from=2026-13-01&to={today}"),
        format!("from={today}&to=tomorrow"),
        format!("from={today}&to={yesterday}"),
        format!("notice=abc&from={today}&to={today}"),
    ] {
        let response = admin
            .get(app.url(&format!("/console/screens/plays.csv?{bad}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{bad}");
        let page = response.text().await.unwrap();
        assert!(page.contains(r#"role="alert""#), "{bad}: a message");
    }
    let response = admin
        .get(app.url("/console/screens/plays.csv?notice=99999"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // The screen's page lists its plays, newest first.
    let page = app
        .text(&admin, &format!("/console/screens/{}", id.0))
        .await;
    let table = text_of(&page, "table[data-plays] tbody").unwrap();
    let first = table.find("停水通知").unwrap();
    assert!(table.find("HYPERLINK").unwrap() > first);
    assert_eq!(
        page.matches("<tr><td><a href=\"/console/notices/").count(),
        3
    );
}

#[tokio::test]
async fn staff_cannot_manage_screens() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Staff, None).await;
    let admin = app.login("admin").await;
    let (id, _) = pair_screen(&app, &admin, &place, "大堂").await;
    let staff = app.login("staff").await;
    for path in [
        "/console/screens".to_owned(),
        format!("/console/screens/{}", id.0),
        "/console/screens/plays.csv".to_owned(),
    ] {
        let response = staff.get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
    }
    let building = place.building.id.to_string();
    let response = app
        .post_form(
            &staff,
            "/console/screens",
            &screen_form("ABCDEF", "x", &building),
        )
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .post_form(&staff, &format!("/console/screens/{}/revoke", id.0), &[])
        .await;
    assert_eq!(response.status(), 403);
    assert!(app
        .state
        .store
        .screen(id)
        .await
        .unwrap()
        .revoked_at
        .is_none());
}

#[tokio::test]
async fn the_secretary_sees_an_emergency_staff_published_until_it_is_cleared() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let staff = app.create_account(Role::Staff, None).await;
    let secretary = app.create_account(Role::Secretary, None).await;
    published_notice(&app, &place, &staff, "停水通知").await;
    let draft = NoticeDraft::new(
        place.community.id,
        "燃气泄漏，请勿使用明火",
        "请立即开窗通风。",
        NoticeCategory::Outage,
        true,
        Validity::new(Utc::now() - Duration::minutes(1), None).unwrap(),
        Vec::new(),
        Vec::new(),
        30,
        9,
        Vec::new(),
        None,
    )
    .unwrap();
    // Staff may publish an emergency without waiting for approval …
    let emergency = app
        .state
        .signage
        .create_notice(&staff, &draft, pavilion::signage::Intent::Publish)
        .await
        .unwrap();
    assert_eq!(emergency.state, NoticeState::Published);

    // … and the secretary's dashboard says so, with a link to clear it.
    let secretary_client = app.login("secretary").await;
    let dashboard = app.text(&secretary_client, "/console").await;
    let alert = text_of(&dashboard, "[data-emergencies]").expect("the emergency on the dashboard");
    assert!(alert.contains("大屏上正在显示 1 条紧急公告"), "{alert}");
    assert!(alert.contains("燃气泄漏，请勿使用明火"));
    assert!(!alert.contains("停水通知"));
    assert!(dashboard.contains(&format!(r#"href="/console/notices/{}""#, emergency.id.0)));
    // Staff, who cannot clear it, are not told twice.
    let staff_client = app.login("staff").await;
    let staff_dashboard = app.text(&staff_client, "/console").await;
    assert!(text_of(&staff_dashboard, "[data-emergencies]").is_none());

    app.state
        .signage
        .withdraw_notice(&secretary, emergency.id)
        .await
        .unwrap();
    let dashboard = app.text(&secretary_client, "/console").await;
    assert!(text_of(&dashboard, "[data-emergencies]").is_none());
}
