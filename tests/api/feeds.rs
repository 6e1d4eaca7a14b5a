//! What leaves Pavilion for other programs and proves itself: screens'
//! acknowledgements of emergencies (a real kiosk in Chromium, the console's
//! panel), the CAP 1.2 feed checked against the OASIS schema by `xmlschema`,
//! and the iCalendar feeds read by the PyPI `icalendar` package.

use std::time::Duration;

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use fantoccini::Client;
use pavilion::domain::broadcast::{BroadcastDetails, Renditions};
use pavilion::domain::geo::{EstateGeography, LatLon, Outline};
use pavilion::domain::notice::{Notice, NoticeCategory, NoticeDraft, Target, Validity};
use pavilion::domain::*;
use pavilion::signage::Intent;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::kiosk_browser::open_paired_kiosk;
use crate::signage::pair_screen;

fn draft(place: &Place, title: &str, emergency: bool, targets: Vec<Target>) -> NoticeDraft {
    NoticeDraft::new(
        place.community.id,
        title,
        "请住户关闭燃气阀门，远离3号楼东侧，听从物业安排。",
        if emergency {
            NoticeCategory::Outage
        } else {
            NoticeCategory::Announcement
        },
        emergency,
        Validity::new(Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        vec![],
        targets,
        10,
        8,
        vec![],
        None,
    )
    .unwrap()
}

async fn publish(app: &TestApp, who: &Account, draft: &NoticeDraft) -> Notice {
    app.state
        .signage
        .create_notice(who, draft, Intent::Publish)
        .await
        .unwrap()
}

async fn post_ack(app: &TestApp, token: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = client().post(app.url("/kiosk/api/acks")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Runs `script` with the test Python and returns what it printed as JSON.
async fn python_json(script: &str, args: &[&str]) -> Value {
    let output = tokio::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .await
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "python printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}

// ------------------------------------------------------------ acks

async fn wait_for_confirmation(
    app: &TestApp,
    staff: &reqwest::Client,
    notice: NoticeId,
    limit: Duration,
) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let acks = app
            .json(staff, &format!("/console/notices/{notice}/acks.json"))
            .await;
        if acks["screens"][0]["confirmed"] == json!(true) {
            return acks;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no confirmation within {limit:?}: {acks}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What `script` returns as text; nothing while the page is navigating.
async fn page_text(page: &Client, script: &str) -> String {
    page.execute(script, vec![])
        .await
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn wait_for_page_text(page: &Client, script: &str, want: &str, limit: Duration) -> String {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let text = page_text(page, script).await;
        if text.contains(want) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {limit:?} for {want:?}, last saw {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

const ACK_STATUS: &str =
    "return document.querySelector('section[data-acks] [data-ack-status]')?.innerText ?? ''";

#[tokio::test]
async fn a_kiosk_confirms_an_emergency_and_the_console_shows_when_within_seconds() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    app.add_staff(Role::Secretary, "secretary", Some(place.community.id))
        .await;
    let secretary = app.login("secretary").await;
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    let screen = app.state.store.list_screens(None).await.unwrap()[0].clone();

    // Written first and kept as a draft: the console page is open before the
    // emergency reaches the screen.
    let draft = draft(&place, "燃气泄漏 请勿动火", true, vec![]);
    let saved = app
        .state
        .signage
        .create_notice(&admin, &draft, Intent::Save)
        .await
        .unwrap();
    let kiosk_window = page.window().await.unwrap();
    let console_window = page.new_window(false).await.unwrap().handle;
    page.switch_to_window(console_window).await.unwrap();
    page.goto(&app.url("/login")).await.unwrap();
    page.execute(
        "document.querySelector('input[name=username]').value = 'secretary';
         document.querySelector('input[name=password]').value = arguments[0];
         document.querySelector('input[name=password]').form.submit();",
        vec![json!(PASSWORD)],
    )
    .await
    .unwrap();
    wait_for_page_text(
        &page,
        "return location.pathname === '/login' ? '' : 'signed in'",
        "signed in",
        Duration::from_secs(10),
    )
    .await;
    page.goto(&app.url(&format!("/console/notices/{}", saved.id)))
        .await
        .unwrap();
    assert_eq!(page_text(&page, ACK_STATUS).await, "未确认");

    let published_at = Utc::now();
    app.state
        .signage
        .update_notice(&admin, saved.id, saved.revision, &draft, Intent::Publish)
        .await
        .unwrap();
    let acks = wait_for_confirmation(&app, &secretary, saved.id, Duration::from_secs(10)).await;
    let confirmed = Utc::now();
    let line = &acks["screens"][0];
    assert_eq!(line["name"], "3号楼大堂");
    assert_eq!(line["screen_id"], json!(screen.id.0));
    let shown_at: DateTime<Utc> = line["shown_at"].as_str().unwrap().parse().unwrap();
    assert!(
        shown_at >= published_at - chrono::Duration::seconds(2) && shown_at <= confirmed,
        "shown at {shown_at}, published at {published_at}, confirmed by {confirmed}"
    );
    let local = shown_at
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%H:%M:%S")
        .to_string();
    assert_eq!(line["status"], format!("已于 {local} 显示"));
    // The kiosk really has it on its glass.
    page.switch_to_window(kiosk_window.clone()).await.unwrap();
    assert!(page_text(
        &page,
        "return document.querySelector('#stage')?.innerText ?? ''"
    )
    .await
    .contains("燃气泄漏"));
    // The console page, open all along, says so by itself.
    page.switch_to_window(
        page.windows()
            .await
            .unwrap()
            .into_iter()
            .find(|w| *w != kiosk_window)
            .unwrap(),
    )
    .await
    .unwrap();
    let status = wait_for_page_text(&page, ACK_STATUS, &local, Duration::from_secs(10)).await;
    assert_eq!(status, format!("已于 {local} 显示"));

    // A screen of another community cannot acknowledge it, and nothing changes.
    let elsewhere = app
        .seed_place_named("和平社区", "HP", "和平里", "1号楼")
        .await;
    let stranger = pair_screen(&app, &elsewhere, "和平里大堂").await;
    let notice = app.state.store.notice(saved.id).await.unwrap();
    let refused = post_ack(
        &app,
        Some(&stranger),
        &json!({"notice_id": notice.id, "revision": notice.revision, "shown_at": Utc::now()}),
    )
    .await;
    assert_eq!(refused.status(), 404);
    let kept = app.state.store.emergency_acks(saved.id).await.unwrap();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept[0].screen_id, screen.id);
    assert_eq!(kept[0].shown_at, shown_at);

    // Staff of the other community do not see the panel's data.
    app.add_staff(
        Role::Secretary,
        "hp-secretary",
        Some(elsewhere.community.id),
    )
    .await;
    let foreign = app.login("hp-secretary").await;
    let answer = foreign
        .get(app.url(&format!("/console/notices/{}/acks.json", saved.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test]
async fn the_acks_api_refuses_bad_input_and_notices_not_aimed_at_the_screen() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    let other_building = app
        .state
        .store
        .create_building(
            &system(),
            place.estate.id,
            &PlaceName::parse("5号楼").unwrap(),
        )
        .await
        .unwrap();
    let emergency = publish(
        &app,
        &admin,
        &draft(
            &place,
            "停电 电梯停运",
            true,
            vec![Target::Building(place.building.id)],
        ),
    )
    .await;
    let elsewhere = publish(
        &app,
        &admin,
        &draft(
            &place,
            "5号楼停水",
            true,
            vec![Target::Building(other_building.id)],
        ),
    )
    .await;
    let ordinary = publish(&app, &admin, &draft(&place, "电梯年检通知", false, vec![])).await;
    let ack = |notice: &Notice, revision: i64, shown_at: DateTime<Utc>| json!({"notice_id": notice.id, "revision": revision, "shown_at": shown_at});
    let now = Utc::now();

    let cases: Vec<(&str, Option<&str>, Value, u16)> = vec![
        (
            "no token",
            None,
            ack(&emergency, emergency.revision, now),
            401,
        ),
        (
            "a wrong token",
            Some("nope"),
            ack(&emergency, emergency.revision, now),
            401,
        ),
        (
            "not aimed at the screen",
            Some(&token),
            ack(&elsewhere, elsewhere.revision, now),
            403,
        ),
        (
            "not an emergency",
            Some(&token),
            ack(&ordinary, ordinary.revision, now),
            403,
        ),
        (
            "no such notice",
            Some(&token),
            json!({"notice_id": 999_999, "revision": 1, "shown_at": now}),
            404,
        ),
        ("revision 0", Some(&token), ack(&emergency, 0, now), 400),
        (
            "a revision to come",
            Some(&token),
            ack(&emergency, emergency.revision + 1, now),
            400,
        ),
        (
            "no time",
            Some(&token),
            json!({"notice_id": emergency.id, "revision": 1}),
            400,
        ),
        (
            "not a time",
            Some(&token),
            json!({"notice_id": emergency.id, "revision": 1, "shown_at": "soon"}),
            400,
        ),
        (
            "a string id",
            Some(&token),
            json!({"notice_id": "1", "revision": 1, "shown_at": now}),
            400,
        ),
        (
            "an unknown field",
            Some(&token),
            json!({"notice_id": emergency.id, "revision": 1, "shown_at": now, "x": 1}),
            400,
        ),
        (
            "a list",
            Some(&token),
            json!([ack(&emergency, emergency.revision, now)]),
            400,
        ),
    ];
    for (what, token, body, status) in cases {
        let response = post_ack(&app, token, &body).await;
        assert_eq!(response.status().as_u16(), status, "{what}");
        if status == 400 {
            let problem: Value = response.json().await.unwrap();
            assert_eq!(problem["error"], "error.bad_request", "{what}: {problem}");
        }
    }
    let not_json = client()
        .post(app.url("/kiosk/api/acks"))
        .bearer_auth(&token)
        .header("Content-Type", "text/plain")
        .body("notice 1 shown")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    let huge = client()
        .post(app.url("/kiosk/api/acks"))
        .bearer_auth(&token)
        .header("Content-Type", "application/json")
        .body(format!("{{\"pad\": \"{}\"}}", "x".repeat(3 << 20)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 413);
    for notice in [&emergency, &elsewhere, &ordinary] {
        assert!(
            app.state
                .store
                .emergency_acks(notice.id)
                .await
                .unwrap()
                .is_empty(),
            "a refused ack was kept"
        );
    }

    // A clock a day ahead is not believed: the arrival is kept instead.
    let sent = Utc::now();
    let ahead = post_ack(
        &app,
        Some(&token),
        &ack(
            &emergency,
            emergency.revision,
            sent + chrono::Duration::days(1),
        ),
    )
    .await;
    assert_eq!(ahead.status(), 204);
    let kept = app.state.store.emergency_acks(emergency.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert!(
        kept[0].shown_at >= sent - chrono::Duration::seconds(1) && kept[0].shown_at <= Utc::now(),
        "{kept:?}"
    );
    // A repeat and an earlier time of the same revision: the earliest stays.
    let earlier = sent - chrono::Duration::seconds(30);
    for _ in 0..2 {
        let again = post_ack(
            &app,
            Some(&token),
            &ack(&emergency, emergency.revision, earlier),
        )
        .await;
        assert_eq!(again.status(), 204);
    }
    let kept = app.state.store.emergency_acks(emergency.id).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].shown_at.timestamp(), earlier.timestamp());
}

// ------------------------------------------------------------ CAP

const VALIDATE_CAP: &str = r#"
import json, sys, xml.etree.ElementTree as ET
import xmlschema
schema = xmlschema.XMLSchema(sys.argv[1])
out = []
for path in sys.argv[2:]:
    errors = [str(e.reason) for e in schema.iter_errors(path)]
    ns = {"cap": "urn:oasis:names:tc:emergency:cap:1.2"}
    root = ET.parse(path).getroot()
    text = lambda q: (root.findtext(q, namespaces=ns) or "")
    out.append({
        "errors": errors,
        "identifier": text("cap:identifier"),
        "sender": text("cap:sender"),
        "sent": text("cap:sent"),
        "msgType": text("cap:msgType"),
        "references": text("cap:references"),
        "headline": text("cap:info/cap:headline"),
        "language": text("cap:info/cap:language"),
        "severity": text("cap:info/cap:severity"),
        "areas": [a.findtext("cap:areaDesc", namespaces=ns) for a in root.findall("cap:info/cap:area", ns)],
        "polygons": [p.text for p in root.findall("cap:info/cap:area/cap:polygon", ns)],
    })
print(json.dumps(out))
"#;

struct Feed {
    atom: String,
    documents: Vec<(String, String)>,
}

/// The community's Atom index and every CAP document it links.
async fn read_feed(app: &TestApp, code: &str) -> Feed {
    let response = client()
        .get(app.url(&format!("/cap/{code}/alerts.atom")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let atom = response.text().await.unwrap();
    let doc = roxmltree::Document::parse(&atom).expect("the Atom index is XML");
    let mut documents = Vec::new();
    for link in doc
        .descendants()
        .filter(|n| n.has_tag_name("link") && n.attribute("rel") == Some("alternate"))
    {
        let href = link.attribute("href").unwrap();
        let path = reqwest::Url::parse(href).unwrap().path().to_owned();
        let response = client().get(app.url(&path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{href}");
        assert_eq!(
            response.headers()["content-type"],
            "application/cap+xml; charset=utf-8"
        );
        documents.push((path, response.text().await.unwrap()));
    }
    Feed { atom, documents }
}

/// Each document checked against tests/data/CAP-v1.2.xsd, with its fields.
async fn validated(documents: &[(String, String)]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/CAP-v1.2.xsd");
    let mut paths = Vec::new();
    for (i, (_, text)) in documents.iter().enumerate() {
        let path = dir.path().join(format!("alert-{i}.xml"));
        std::fs::write(&path, text).unwrap();
        paths.push(path.to_str().unwrap().to_owned());
    }
    let mut args = vec![schema];
    args.extend(paths.iter().map(String::as_str));
    let report = python_json(VALIDATE_CAP, &args).await;
    let report = report.as_array().unwrap().clone();
    for (entry, (path, text)) in report.iter().zip(documents) {
        assert_eq!(
            entry["errors"],
            json!([]),
            "{path} is not valid CAP 1.2:\n{text}"
        );
    }
    report
}

#[tokio::test]
async fn the_cap_feed_tells_alert_update_and_cancel_and_each_document_is_valid_cap() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let outline = Outline::parse(
        "39.900000,116.400000\n39.900000,116.402000\n39.902000,116.402000\n39.900000,116.400000",
    )
    .unwrap();
    app.state
        .store
        .set_estate_geography(
            &system(),
            place.estate.id,
            Some(&EstateGeography {
                location: LatLon::new(39.901, 116.401).unwrap(),
                outline: Some(outline),
                geocode: Some("110105".into()),
            }),
        )
        .await
        .unwrap();

    // Nothing yet, and an unknown community is no feed.
    let empty = read_feed(&app, "XF").await;
    assert!(empty.documents.is_empty(), "{}", empty.atom);
    let unknown = client()
        .get(app.url("/cap/NOPE/alerts.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // The screens show the phone number; the internet gets it masked.
    let mut gas = draft(&place, "燃气泄漏 请勿动火", true, vec![]);
    gas.body = "有疑问请联系王师傅 13912345678，或到302室物业。".into();
    let alert = publish(&app, &admin, &gas).await;
    let ordinary = publish(&app, &admin, &draft(&place, "电梯年检通知", false, vec![])).await;
    let kept_draft = app
        .state
        .signage
        .create_notice(
            &admin,
            &draft(&place, "演练草稿 勿发", true, vec![]),
            Intent::Save,
        )
        .await
        .unwrap();

    let feed = read_feed(&app, "XF").await;
    assert_eq!(feed.documents.len(), 1, "{}", feed.atom);
    for document in feed
        .documents
        .iter()
        .map(|(_, xml)| xml)
        .chain([&feed.atom])
    {
        assert!(!document.contains("13912345678"), "{document}");
    }
    let first = validated(&feed.documents).await;
    assert_eq!(first[0]["msgType"], "Alert");
    assert_eq!(first[0]["headline"], "燃气泄漏 请勿动火");
    assert_eq!(first[0]["language"], "zh-CN");
    assert_eq!(first[0]["severity"], "Extreme");
    assert_eq!(first[0]["references"], "");
    assert_eq!(first[0]["areas"], json!(["幸福社区 阳光花园"]));
    assert_eq!(
        first[0]["polygons"],
        json!([
            "39.900000,116.400000 39.900000,116.402000 39.902000,116.402000 39.900000,116.400000"
        ])
    );
    assert!(first[0]["sent"].as_str().unwrap().ends_with("+08:00"));

    // Conditional requests: the same feed again costs a 304.
    let again = client()
        .get(app.url("/cap/XF/alerts.atom"))
        .send()
        .await
        .unwrap();
    let etag = again.headers()["etag"].clone();
    assert!(again.headers().contains_key("last-modified"));
    let unchanged = client()
        .get(app.url("/cap/XF/alerts.atom"))
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged.status(), 304);

    // Edited and published again: an update naming the alert.
    let mut changed = draft(&place, "燃气泄漏 东侧封闭", true, vec![]);
    changed.priority = 5;
    let updated = app
        .state
        .signage
        .update_notice(&admin, alert.id, alert.revision, &changed, Intent::Publish)
        .await
        .unwrap();
    let feed = read_feed(&app, "XF").await;
    let second = validated(&feed.documents).await;
    assert_eq!(second[0]["msgType"], "Update");
    assert_eq!(second[0]["headline"], "燃气泄漏 东侧封闭");
    assert_eq!(second[0]["severity"], "Severe");
    assert_ne!(second[0]["identifier"], first[0]["identifier"]);
    let alert_reference = format!(
        "{},{},{}",
        first[0]["sender"].as_str().unwrap(),
        first[0]["identifier"].as_str().unwrap(),
        first[0]["sent"].as_str().unwrap()
    );
    assert_eq!(second[0]["references"], alert_reference);

    // Withdrawn: a cancel naming both.
    app.state
        .signage
        .withdraw_notice(&admin, updated.id)
        .await
        .unwrap();
    let feed = read_feed(&app, "XF").await;
    let third = validated(&feed.documents).await;
    assert_eq!(third[0]["msgType"], "Cancel");
    let update_reference = format!(
        "{},{},{}",
        second[0]["sender"].as_str().unwrap(),
        second[0]["identifier"].as_str().unwrap(),
        second[0]["sent"].as_str().unwrap()
    );
    assert_eq!(
        third[0]["references"],
        format!("{alert_reference} {update_reference}")
    );
    // The identifiers stay what they were: the same message, the same name.
    assert!(feed.atom.contains(&format!(
        "{}-cancel",
        second[0]["identifier"].as_str().unwrap()
    )));

    // No draft, no ordinary notice, no person anywhere in the feed.
    let everything = format!(
        "{}{}",
        feed.atom,
        feed.documents
            .iter()
            .map(|(_, d)| d.as_str())
            .collect::<String>()
    );
    for absent in [
        "演练草稿",
        "电梯年检",
        resident.display_name.as_str(),
        resident.username.as_str(),
        admin.display_name.as_str(),
        "301",
    ] {
        assert!(!everything.contains(absent), "{absent:?} is in the feed");
    }
    for notice in [ordinary.id, kept_draft.id] {
        let hidden = client()
            .get(app.url(&format!("/cap/XF/notices/{notice}.xml")))
            .send()
            .await
            .unwrap();
        assert_eq!(hidden.status(), 404, "notice {notice}");
    }
    // Another community's code does not reach this community's notice.
    app.seed_place_named("和平社区", "HP", "和平里", "1号楼")
        .await;
    let crossed = client()
        .get(app.url(&format!("/cap/HP/notices/{}.xml", alert.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(crossed.status(), 404);
}

#[tokio::test]
async fn an_emergency_past_its_validity_is_cancelled_in_the_feed() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let mut short = draft(&place, "暴雨 地库进水", true, vec![]);
    let ends = Utc::now() + chrono::Duration::seconds(2);
    short.validity = Validity::new(Utc::now() - chrono::Duration::hours(1), Some(ends)).unwrap();
    publish(&app, &admin, &short).await;
    let before = validated(&read_feed(&app, "XF").await.documents).await;
    assert_eq!(before[0]["msgType"], "Alert");
    let wait = (ends - Utc::now()).to_std().unwrap_or_default() + Duration::from_millis(200);
    tokio::time::sleep(wait).await;
    let after = validated(&read_feed(&app, "XF").await.documents).await;
    assert_eq!(after[0]["msgType"], "Cancel");
    let shanghai = ends.with_timezone(&chrono_tz::Asia::Shanghai);
    assert_eq!(
        after[0]["sent"],
        shanghai.format("%Y-%m-%dT%H:%M:%S+08:00").to_string()
    );
}

// ------------------------------------------------------------ iCalendar

const READ_ICS: &str = r#"
import json, sys
from zoneinfo import ZoneInfo
import icalendar
raw = open(sys.argv[1], "rb").read()
calendar = icalendar.Calendar.from_ical(raw)
zone = ZoneInfo("Asia/Shanghai")
events = []
for event in calendar.walk("VEVENT"):
    start = event.decoded("DTSTART")
    end = event.decoded("DTEND")
    local = lambda t: t.astimezone(zone).isoformat() if hasattr(t, "hour") else t.isoformat()
    events.append({
        "uid": str(event.get("UID")),
        "summary": str(event.get("SUMMARY")),
        "description": str(event.get("DESCRIPTION", "")),
        "url": str(event.get("URL", "")),
        "status": str(event.get("STATUS", "")),
        "start": local(start),
        "end": local(end),
        "stamp": event.decoded("DTSTAMP").isoformat(),
    })
lines = raw.split(b"\r\n")
print(json.dumps({
    "events": events,
    "longest_line": max(len(l) for l in lines),
    "bare_newlines": raw.count(b"\n") - raw.count(b"\r\n"),
}))
"#;

async fn read_ics(client: &reqwest::Client, url: &str) -> Value {
    let response = client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    assert_eq!(
        response.headers()["content-type"],
        "text/calendar; charset=utf-8"
    );
    let body = response.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.ics");
    std::fs::write(&path, &body).unwrap();
    let read = python_json(READ_ICS, &[path.to_str().unwrap()]).await;
    assert!(read["longest_line"].as_u64().unwrap() <= 75, "{read}");
    assert_eq!(read["bare_newlines"], 0, "{read}");
    read
}

fn shanghai(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Shanghai
        .with_ymd_and_hms(y, m, d, h, min, 0)
        .unwrap()
        .with_timezone(&Utc)
}

#[tokio::test]
async fn calendars_parse_and_keep_the_community_time() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let title = "业主大会直播，第一场；物业费、停车位与电梯加装的问答（请提前提问）";
    let starts = shanghai(2031, 3, 14, 19, 30);
    let details = |title: &str, starts_at| {
        BroadcastDetails::new(
            place.community.id,
            title,
            "第一行\n第二行, 有逗号",
            starts_at,
            vec![],
            Renditions::default(),
        )
        .unwrap()
    };
    let held = app
        .state
        .live
        .schedule(&admin, &details(title, starts))
        .await
        .unwrap();
    let called_off = app
        .state
        .live
        .schedule(&admin, &details("取消的直播", shanghai(2031, 3, 21, 9, 0)))
        .await
        .unwrap();
    app.state.live.end(&admin, called_off.id).await.unwrap();
    let elsewhere = app
        .seed_place_named("和平社区", "HP", "和平里", "1号楼")
        .await;
    app.state
        .live
        .schedule(
            &admin,
            &BroadcastDetails::new(
                elsewhere.community.id,
                "和平社区的直播",
                "",
                starts,
                vec![],
                Renditions::default(),
            )
            .unwrap(),
        )
        .await
        .unwrap();

    let feed = read_ics(&client(), &app.url("/calendar/XF/broadcasts.ics")).await;
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{feed}");
    let event = |id: BroadcastId| {
        events
            .iter()
            .find(|e| {
                e["url"]
                    .as_str()
                    .is_some_and(|u| u.ends_with(&format!("/live/{id}")))
            })
            .unwrap_or_else(|| panic!("no event for broadcast {id}: {feed}"))
    };
    let first = event(held.id);
    // As stored (typed full-width punctuation is kept as its plain form):
    // commas and semicolons, escaped on the way out and back.
    assert_eq!(first["summary"], held.title.as_str());
    assert!(held.title.contains(',') && held.title.contains(';'));
    assert_eq!(first["description"], "第一行\n第二行, 有逗号");
    assert_eq!(first["start"], "2031-03-14T19:30:00+08:00");
    assert_eq!(first["end"], "2031-03-14T20:30:00+08:00");
    assert_eq!(first["status"], "CONFIRMED");
    assert!(first["uid"]
        .as_str()
        .unwrap()
        .starts_with(&format!("broadcast-{}@", held.id)));
    let second = event(called_off.id);
    assert_eq!(second["status"], "CANCELLED");
    assert_eq!(second["start"], "2031-03-21T09:00:00+08:00");
    // The same UID each time it is read.
    let again = read_ics(&client(), &app.url("/calendar/XF/broadcasts.ics")).await;
    assert_eq!(again["events"], feed["events"]);

    // One broadcast for "add to calendar", linked from its watch page.
    let watch = app.text(&client(), &format!("/live/{}", held.id)).await;
    let link = format!("/live/{}/calendar.ics", held.id);
    assert!(
        watch.contains(&format!("href=\"{link}\"")),
        "no calendar link"
    );
    let one = read_ics(&client(), &app.url(&link)).await;
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert_eq!(one["events"][0], *first);
    let missing = client()
        .get(app.url("/live/999999/calendar.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let unknown = client()
        .get(app.url("/calendar/NOPE/broadcasts.ics"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    // Joint meetings: the community's staff only.
    let meeting = NaiveDate::from_ymd_opt(2031, 4, 2).unwrap();
    app.state
        .store
        .add_joint_meeting(&system(), place.community.id, meeting, Utc::now())
        .await
        .unwrap();
    app.add_staff(Role::Secretary, "secretary", Some(place.community.id))
        .await;
    app.add_staff(
        Role::Secretary,
        "hp-secretary",
        Some(elsewhere.community.id),
    )
    .await;
    let path = format!(
        "/console/communities/{}/joint-meetings.ics",
        place.community.id
    );
    let secretary = app.login("secretary").await;
    let meetings = read_ics(&secretary, &app.url(&path)).await;
    assert_eq!(
        meetings["events"].as_array().unwrap().len(),
        1,
        "{meetings}"
    );
    assert_eq!(meetings["events"][0]["start"], "2031-04-02");
    assert_eq!(meetings["events"][0]["end"], "2031-04-03");
    let foreign = app.login("hp-secretary").await;
    let refused = foreign.get(app.url(&path)).send().await.unwrap();
    assert_eq!(refused.status(), 404);
    let anonymous = client().get(app.url(&path)).send().await.unwrap();
    assert!(
        anonymous.status().is_redirection() || anonymous.status() == 401,
        "{}",
        anonymous.status()
    );
}

#[tokio::test]
async fn an_ack_made_while_the_server_is_unreachable_is_sent_when_it_is_back() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let (_driver, page) = open_paired_kiosk(&app, &admin, &place, "3号楼大堂").await;
    wait_for_page_text(
        &page,
        "return localStorage.getItem('pavilion.kiosk.token') ? 'paired' : ''",
        "paired",
        Duration::from_secs(30),
    )
    .await;
    // The acknowledgement cannot get through (the rest of the API can).
    page.execute(
        "window.__realFetch = window.__realFetch || window.fetch;
         window.fetch = (url, init) => String(url).includes('/kiosk/api/acks')
           ? Promise.reject(new TypeError('network down'))
           : window.__realFetch(url, init);
         return 1",
        vec![],
    )
    .await
    .unwrap();
    let notice = publish(
        &app,
        &admin,
        &draft(&place, "燃气泄漏 请勿动火", true, vec![]),
    )
    .await;
    let queued = wait_for_page_text(
        &page,
        "return localStorage.getItem('pavilion.kiosk.acks') ?? ''",
        "shown_ms",
        Duration::from_secs(10),
    )
    .await;
    let queued: Value = serde_json::from_str(&queued).unwrap();
    let shown_ms = queued["queue"][0]["shown_ms"].as_f64().unwrap() as i64;
    assert_eq!(queued["queue"][0]["notice_id"], json!(notice.id.0));
    assert!(app
        .state
        .store
        .emergency_acks(notice.id)
        .await
        .unwrap()
        .is_empty());

    // Reachable again: the queued ack goes out with its own time once the
    // screen next hears from the server (its heartbeat, every 30 s).
    page.execute("window.fetch = window.__realFetch; return 1", vec![])
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    let kept = loop {
        let kept = app.state.store.emergency_acks(notice.id).await.unwrap();
        if !kept.is_empty() {
            break kept;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the queued ack never arrived"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(kept[0].revision, notice.revision);
    assert_eq!(kept[0].shown_at.timestamp_millis(), shown_ms);
    assert!(kept[0].received_at - kept[0].shown_at >= chrono::Duration::zero());
    wait_for_page_text(
        &page,
        "const log = JSON.parse(localStorage.getItem('pavilion.kiosk.acks') || '{}');
         return log.queue && log.queue.length === 0 ? 'empty' : ''",
        "empty",
        Duration::from_secs(10),
    )
    .await;
}
