//! A resident's rights over their data (个人信息保护法), through the real
//! server: downloading everything kept about them as a ZIP file, and closing
//! their account so that their name, login and unit link disappear from every
//! view while the community keeps the records' history.

use std::io::{Cursor, Read};

use pavilion::domain::broadcast::Broadcast;
use pavilion::domain::record::Record;
use pavilion::domain::*;
use pavilion::store::{CommentFilter, RecordFilter};
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use crate::helpers::*;
use crate::record_photos::jpeg;

const TITLE: &str = "二单元门禁坏了";
const NOTE: &str = "晚上九点以后门禁刷不开";
const QUESTION: &str = "小区东门什么时候装路灯？";
const NEIGHBOUR_QUESTION: &str = "快递柜能不能多放几个？";
const NICKNAME: &str = "爱养花的老张";
const USERNAME: &str = "laozhang";

/// A resident with a record (with a photo and a note), a question on a
/// broadcast and a vote on a neighbour's question, who votes back.
struct Scene {
    app: TestApp,
    place: Place,
    broadcast: Broadcast,
    resident: Account,
    me: reqwest::Client,
    neighbour: reqwest::Client,
    staff: reqwest::Client,
    record: Record,
    photo: Vec<u8>,
    question: i64,
    neighbour_question: i64,
}

async fn scene() -> Scene {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    let resident = app.add_resident(&place, USERNAME, NICKNAME).await;
    app.add_resident(&place, "laoli", "爱跑步的老李").await;
    app.add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    app.add_staff(Role::Admin, "guanli", Some(place.community.id))
        .await;
    let me = app.login(USERNAME).await;
    let neighbour = app.login("laoli").await;
    let moderator = app.login("shenhe").await;
    let staff = app.login("guanli").await;

    let photo = jpeg(64, 48);
    let record = file_with_photo(&app, &me, photo.clone()).await;
    let response = app
        .post_form(
            &me,
            &format!("/me/records/{}", record.id),
            &[("version", &record.version.to_string()), ("note", NOTE)],
        )
        .await;
    assert_eq!(response.status(), 303, "the note is added");

    let question = ask(&app, &me, &broadcast, QUESTION).await;
    let neighbour_question = ask(&app, &neighbour, &broadcast, NEIGHBOUR_QUESTION).await;
    for id in [question, neighbour_question] {
        let response = app
            .post_form(
                &moderator,
                &format!("/console/broadcasts/{}/moderate", broadcast.id),
                &[("comment", &id.to_string()), ("action", "approve")],
            )
            .await;
        assert_eq!(response.status(), 303, "approving {id}");
    }
    vote(&app, &me, &broadcast, neighbour_question).await;
    vote(&app, &neighbour, &broadcast, question).await;

    let record = app.state.store.record(record.id).await.unwrap();
    Scene {
        app,
        place,
        broadcast,
        resident,
        me,
        neighbour,
        staff,
        record,
        photo,
        question,
        neighbour_question,
    }
}

/// Files a report with one photo through the multipart form.
async fn file_with_photo(app: &TestApp, client: &reqwest::Client, photo: Vec<u8>) -> Record {
    let part = Part::bytes(photo)
        .file_name("door.jpg")
        .mime_str("image/jpeg")
        .unwrap();
    let form = Form::new()
        .text("csrf_token", app.form_token(client).await)
        .text("category", "repairs")
        .text("title", TITLE)
        .text("description", "门禁刷卡没有反应，老人进不了门。")
        .text("location", "二单元")
        .part("photos", part);
    let response = client
        .post(app.url("/report"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "the report is filed");
    let token = location(&response)
        .trim_start_matches("/track/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    app.state.records.by_tracking_token(&token).await.unwrap()
}

/// Posts a question through the watch page's form; returns its id.
async fn ask(app: &TestApp, client: &reqwest::Client, broadcast: &Broadcast, text: &str) -> i64 {
    let response = app
        .post_form(
            client,
            &format!("/live/{}/comments", broadcast.id),
            &[("kind", "question"), ("text", text)],
        )
        .await;
    assert_eq!(response.status(), 303, "the question is posted");
    let comments = app
        .state
        .store
        .comments(&CommentFilter::of(broadcast.id))
        .await
        .unwrap();
    comments
        .iter()
        .find(|c| c.body == text)
        .map(|c| c.id.0)
        .expect("the question is stored")
}

async fn vote(app: &TestApp, client: &reqwest::Client, broadcast: &Broadcast, comment: i64) {
    let response = app
        .post_form(
            client,
            &format!("/live/{}/comments/{comment}/vote", broadcast.id),
            &[("up", "true")],
        )
        .await;
    assert_eq!(response.status(), 200, "voting for {comment}");
}

async fn audit_count(app: &TestApp, action: &str) -> usize {
    app.audit(action).await.len()
}

/// The export's files, by name.
fn unzip(bytes: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a ZIP file");
    let mut files = std::collections::BTreeMap::new();
    for i in 0..archive.len() {
        let mut file = archive.by_index(i).unwrap();
        let mut content = Vec::new();
        file.read_to_end(&mut content).unwrap();
        let name = file.name().unwrap().into_owned();
        files.insert(name, content);
    }
    files
}

async fn export(app: &TestApp, client: &reqwest::Client) -> reqwest::Response {
    app.post_form(client, "/me/data", &[]).await
}

#[tokio::test]
async fn a_resident_downloads_everything_kept_about_them_as_a_zip() {
    let s = scene().await;
    let page = s.app.text(&s.me, "/me/data").await;
    assert!(
        page.contains(r#"action="/me/data""#),
        "the page offers the download"
    );

    let response = export(&s.app, &s.me).await;
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("content-type"), "application/zip");
    assert!(header("content-disposition").starts_with("attachment"));
    assert_eq!(header("cache-control"), "no-store");
    let files = unzip(&response.bytes().await.unwrap());

    assert!(files.contains_key("README.txt"));
    let data: Value = serde_json::from_slice(&files["data.json"]).unwrap();
    assert_eq!(data["account"]["username"], USERNAME);
    assert_eq!(data["account"]["nickname"], NICKNAME);
    assert_eq!(data["account"]["home"]["unit"], s.place.unit.label.as_str());

    let records = data["records"].as_array().unwrap();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["number"], s.record.number.as_str());
    assert_eq!(record["title"], TITLE);
    let events = record["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["note"] == NOTE),
        "the note is there"
    );
    let photos = record["photos"].as_array().unwrap();
    assert_eq!(photos.len(), 1);
    let stored = s.app.state.store.record_photos(s.record.id).await.unwrap();
    let on_disk = std::fs::read(
        s.app
            .data_dir
            .join("media/records")
            .join(format!("{}.jpg", stored[0].sha256)),
    )
    .unwrap();
    let in_zip = &files[photos[0]["file"].as_str().unwrap()];
    assert_eq!(in_zip, &on_disk, "the photo as stored");
    assert_ne!(in_zip, &s.photo, "stored photos are the re-encoded ones");

    let comments = data["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 1);
    assert_eq!(comments[0]["id"], s.question);
    assert_eq!(comments[0]["text"], QUESTION);
    assert_eq!(comments[0]["votes"], 1);
    let votes = data["votes"].as_array().unwrap();
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0]["comment_id"], s.neighbour_question);
    assert!(!data["sessions"].as_array().unwrap().is_empty());

    let text = String::from_utf8_lossy(&files["data.json"]);
    assert!(
        !text.contains(NEIGHBOUR_QUESTION),
        "nothing of the neighbour's"
    );
    assert!(!text.contains("password"), "no password hash");

    let entries = s.app.audit("account.export").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].actor_id, Some(s.resident.id));
    assert_eq!(
        entries[0].entity_id.as_deref(),
        Some(&*s.resident.id.to_string())
    );
    assert!(entries[0].before.is_none() && entries[0].after.is_none());

    // Once a minute: a second download right away is refused, and not audited.
    let again = export(&s.app, &s.me).await;
    assert_eq!(again.status(), 429);
    assert_eq!(audit_count(&s.app, "account.export").await, 1);
}

#[tokio::test]
async fn the_export_is_always_the_viewers_own_and_forged_requests_get_nothing() {
    let s = scene().await;

    // The neighbour gets their own data, never the resident's.
    let response = export(&s.app, &s.neighbour).await;
    assert_eq!(response.status(), 200);
    let files = unzip(&response.bytes().await.unwrap());
    let data: Value = serde_json::from_slice(&files["data.json"]).unwrap();
    assert_eq!(data["account"]["username"], "laoli");
    assert_eq!(data["records"].as_array().unwrap().len(), 0);
    let text = String::from_utf8_lossy(&files["data.json"]);
    assert!(!text.contains(TITLE) && !text.contains(QUESTION) && !text.contains(NICKNAME));
    assert!(!files.keys().any(|name| name.starts_with("photos/")));
    assert_eq!(audit_count(&s.app, "account.export").await, 1);

    // A stranger is sent to log in.
    let stranger = client();
    let response = s.app.post_form(&stranger, "/me/data", &[]).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login"));

    // A forged form: no token, a wrong token, another site's page.
    let forged =
        s.me.post(s.app.url("/me/data"))
            .form(&[("x", "1")])
            .send()
            .await
            .unwrap();
    assert_eq!(forged.status(), 403);
    let wrong =
        s.me.post(s.app.url("/me/data"))
            .form(&[("csrf_token", "0".repeat(43))])
            .send()
            .await
            .unwrap();
    assert_eq!(wrong.status(), 403);
    let token = s.app.form_token(&s.me).await;
    let cross_site =
        s.me.post(s.app.url("/me/data"))
            .header("origin", "https://evil.example")
            .form(&[("csrf_token", token.as_str())])
            .send()
            .await
            .unwrap();
    assert_eq!(cross_site.status(), 403);
    for response in [forged, wrong, cross_site] {
        let bytes = response.bytes().await.unwrap();
        assert!(zip::ZipArchive::new(Cursor::new(bytes.as_ref())).is_err());
    }
    assert_eq!(
        audit_count(&s.app, "account.export").await,
        1,
        "only the neighbour's export happened"
    );
}

#[tokio::test]
async fn closing_with_a_wrong_password_without_the_tick_or_a_forged_form_changes_nothing() {
    let s = scene().await;
    let before = s.app.state.store.account(s.resident.id).await.unwrap();

    let wrong = s
        .app
        .post_form(
            &s.me,
            "/me/close",
            &[("password", "not my password"), ("understood", "yes")],
        )
        .await;
    assert_eq!(wrong.status(), 400);
    let page = wrong.text().await.unwrap();
    assert!(page.contains("当前密码不正确") || page.contains("role=\"alert\""));

    let untick = s
        .app
        .post_form(&s.me, "/me/close", &[("password", PASSWORD)])
        .await;
    assert_eq!(untick.status(), 400);

    let forged =
        s.me.post(s.app.url("/me/close"))
            .form(&[("password", PASSWORD), ("understood", "yes")])
            .send()
            .await
            .unwrap();
    assert_eq!(forged.status(), 403);

    // Staff accounts are an administrator's business, not closed here.
    let staff = s
        .app
        .post_form(
            &s.staff,
            "/me/close",
            &[("password", PASSWORD), ("understood", "yes")],
        )
        .await;
    assert_eq!(staff.status(), 403);

    let after = s.app.state.store.account(s.resident.id).await.unwrap();
    assert_eq!(after.username, before.username);
    assert_eq!(after.display_name, before.display_name);
    assert_eq!(after.unit_id, before.unit_id);
    assert!(!after.disabled);
    assert_eq!(audit_count(&s.app, "account.close").await, 0);
    let me = s.app.text(&s.me, "/me").await;
    assert!(me.contains(NICKNAME), "still signed in");
    s.app.login(USERNAME).await;
}

#[tokio::test]
async fn a_closed_account_is_anonymous_everywhere_and_the_history_stays() {
    let s = scene().await;
    let label = format!("已注销住户 #{}", s.resident.id);
    let record_page = format!("/console/records/{}", s.record.id);
    let today = chrono::Utc::now().date_naive();
    let events_csv = format!(
        "/console/export/events.csv?from={}&to={}",
        today - chrono::Days::new(1),
        today + chrono::Days::new(1)
    );
    let moderation = format!("/console/broadcasts/{}/moderate", s.broadcast.id);
    let building = format!("/console/buildings/{}", s.place.building.id);
    let events_before = s.app.state.store.record_events(s.record.id).await.unwrap();
    // The views name the resident before: the checks below can fail.
    assert!(s.app.text(&s.staff, &record_page).await.contains(NICKNAME));
    assert!(s.app.text(&s.staff, &events_csv).await.contains(NICKNAME));
    assert!(s.app.text(&s.staff, &building).await.contains("2 位住户"));
    // A viewer joining now is shown the chat from memory afterwards.
    let mut early = s.app.live_socket(s.broadcast.id, None, None).await;
    assert!(early
        .expect("snapshot")
        .await
        .to_string()
        .contains(NICKNAME));
    early.close().await;

    let response = s
        .app
        .post_form(
            &s.me,
            "/me/close",
            &[("password", PASSWORD), ("understood", "yes")],
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("账号已注销"));

    // The old session is dead; the old name logs in like an unknown one.
    let me = s.me.get(s.app.url("/me")).send().await.unwrap();
    assert_eq!(me.status(), 303);
    assert!(location(&me).starts_with("/login"));
    let attempt = |username: &'static str| {
        let app = &s.app;
        async move {
            let response = app
                .post_form(
                    &client(),
                    "/login",
                    &[("username", username), ("password", PASSWORD)],
                )
                .await;
            (
                response.status(),
                text_of(&response.text().await.unwrap(), "[role=alert]"),
            )
        }
    };
    assert_eq!(attempt(USERNAME).await, attempt("nobody-here").await);
    assert_eq!(attempt(USERNAME).await.0, 401);

    // Staff views, exports and the comment lists show the label only.
    for (client, path) in [
        (&s.staff, record_page.as_str()),
        (&s.staff, events_csv.as_str()),
        (&s.staff, moderation.as_str()),
        (&s.staff, "/console/audit"),
    ] {
        let page = s.app.text(client, path).await;
        assert!(!page.contains(NICKNAME), "{path} still shows the nickname");
        assert!(
            !page.contains(USERNAME),
            "{path} still shows the login name"
        );
        if path != "/console/audit" {
            assert!(page.contains(&label), "{path} shows the label");
        }
    }
    // Viewers joining, and those replaying the chat's event log, too.
    let mut late = s.app.live_socket(s.broadcast.id, None, None).await;
    let snapshot = late.expect("snapshot").await.to_string();
    assert!(snapshot.contains(&label) && !snapshot.contains(NICKNAME));
    late.close().await;
    let log = s
        .app
        .state
        .store
        .chat_events_after(s.broadcast.id, 0, 1000)
        .await
        .unwrap();
    assert!(log.iter().any(|e| e.body.contains(&label)));
    assert!(log.iter().all(|e| !e.body.contains(NICKNAME)));
    let comment = s
        .app
        .state
        .store
        .comment(CommentId(s.question))
        .await
        .unwrap();
    assert_eq!(comment.public_name, label);
    assert_eq!(comment.body, QUESTION, "the text stays");
    assert_eq!(comment.votes, 1, "votes for it stay counted");
    let neighbours = s
        .app
        .state
        .store
        .comment(CommentId(s.neighbour_question))
        .await
        .unwrap();
    assert_eq!(neighbours.votes, 1, "their vote stays counted");

    // The unit no longer lists the account; the history is intact.
    assert!(s.app.text(&s.staff, &building).await.contains("1 位住户"));
    let closed = s.app.state.store.account(s.resident.id).await.unwrap();
    assert_eq!(closed.unit_id, None);
    assert_eq!(closed.display_name, label);
    assert!(closed.disabled);
    let events_after = s.app.state.store.record_events(s.record.id).await.unwrap();
    assert_eq!(events_after.len(), events_before.len());
    assert!(events_after.iter().all(|e| e.actor_name != NICKNAME));
    assert_eq!(
        s.app.state.store.record(s.record.id).await.unwrap().version,
        s.record.version
    );

    // Both steps are in the audit log, with no personal data in the closing.
    let closes = s.app.audit("account.close").await;
    assert_eq!(closes.len(), 1);
    assert_eq!(closes[0].actor_id, Some(s.resident.id));
    assert_eq!(closes[0].actor_name, label);
    assert!(closes[0].before.is_none() && closes[0].after.is_none());
    let everything = s
        .app
        .state
        .store
        .audit_log(&AuditFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    let shown = serde_json::to_string(&everything).unwrap();
    assert!(!shown.contains(NICKNAME) && !shown.contains(USERNAME));

    // The household code still works, and the name is free again: the new
    // account is a stranger to the old one's records.
    let newcomer = client();
    let response = s
        .app
        .post_form(
            &newcomer,
            "/register",
            &[
                ("code", &s.place.code.code),
                ("nickname", USERNAME),
                ("password", PASSWORD),
                ("password_again", PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "registered with the household code");
    let mine = s
        .app
        .state
        .store
        .list_records(&RecordFilter {
            reporter: Some(s.resident.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "the record stays with the closed account");
    assert!(!s.app.text(&newcomer, "/me/records").await.contains(TITLE));
}
