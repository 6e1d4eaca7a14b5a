//! The public disclosure (阳光公示) from a seeded event history of more than
//! 1,000 records in a month, each judged by the SLA settings it was filed
//! under; the same figures on the estate's lobby screens; and the lobby QR
//! code leading to the report form for the screen's building.

use chrono::{DateTime, Duration, TimeZone, Utc};
use pavilion::domain::record::{NewRecord, Record, RecordClass, RecordSource, RecordState};
use pavilion::domain::*;
use pavilion::feedback::sla::{CategoryRule, SlaPolicy, SlaSettings};
use pavilion::store::NewRecordEvent;
use serde_json::Value;

use crate::helpers::{client, spawn_app, system, Place, TestApp};
use crate::signage::pair_screen;

fn utc(month: u32, day: u32, h: u32, m: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, h, m, 0).unwrap()
}

/// Files a record at `at` and appends `steps` (minutes after filing, new
/// state, rating) through the store, as the record service does.
pub(crate) async fn seed(
    app: &TestApp,
    estate: EstateId,
    n: usize,
    (category, class): (&str, RecordClass),
    at: DateTime<Utc>,
    steps: &[(i64, RecordState, Option<u8>)],
) {
    let store = &app.state.store;
    for i in 0..n {
        let filed = at + Duration::minutes(i as i64);
        let new = NewRecord {
            estate_id: estate,
            building_id: None,
            category: category.into(),
            class,
            title: "路灯不亮".into(),
            title_public: false,
            description: "晚上很黑".into(),
            location: String::new(),
            source: RecordSource::Web,
            reporter_id: None,
            tracking_hash: format!("{category}-{estate}-{}-{i}", at.timestamp()),
            filed_year: 2026,
            point: None,
        };
        let mut record: Record = store.create_record(&system(), &new, filed).await.unwrap();
        for &(minutes, to, rating) in steps {
            let event = NewRecordEvent {
                actor: system(),
                action: "step".into(),
                from_state: Some(record.state),
                to_state: Some(to),
                note: String::new(),
                public: true,
                published: false,
                assignee: None,
                rating,
            };
            record = store
                .append_record_event(
                    record.id,
                    record.version,
                    &event,
                    filed + Duration::minutes(minutes),
                )
                .await
                .unwrap();
        }
    }
}

/// October 2026 in Beijing, worked out by hand:
/// - settings A (from 1 Sep): 5431 defaults, rubbish 60 minutes;
///   settings B (from 16 Oct 00:00 UTC): general 50 minutes, rubbish 60.
/// - 1,000 repairs (general) filed 2 Oct, solved in 40 min → late under A;
/// - 40 rubbish (general) filed 5 Oct, solved in 45 min, rated 2 → on time (60);
/// - 20 repairs (general) filed 20 Oct, solved in 40 min → on time under B (50);
/// - 10 safety (urgent) filed 8 Oct, on site in 4 min, solved in 100, rated 5 → on time;
/// - 5 parking (general) filed 25 Oct, only accepted → not solved;
/// - not counted: one repairs at 23:59 on 30 Sep Beijing time, one in another estate.
///
/// October: received 1,075; solved 1,070; general 60 of 1,065 on time; urgent
/// 10 of 10; median on site 4 min (ten values of 4); median resolution 40 min
/// (1,020 of 1,070 values are 40); satisfaction (40×2 + 10×5) / 50 = 2.6.
pub(crate) async fn seed_october(app: &TestApp, place: &Place) -> Estate {
    use RecordClass::*;
    use RecordState::*;
    let records = &app.state.records;
    let rubbish = CategoryRule {
        category: "rubbish".into(),
        class: None,
        minutes: Some(60),
        escalate_to: None,
    };
    let a = SlaSettings {
        categories: vec![rubbish.clone()],
        ..SlaSettings::default()
    };
    let b = SlaSettings {
        policy: SlaPolicy {
            general_minutes: 50,
            ..SlaPolicy::default()
        },
        categories: vec![rubbish],
        calendar: None,
    };
    let community = place.community.id;
    records
        .save_settings(&system(), community, &a, utc(9, 1, 0, 0))
        .await
        .unwrap();
    records
        .save_settings(&system(), community, &b, utc(10, 16, 0, 0))
        .await
        .unwrap();
    let estate = place.estate.id;
    let solved_in_40 = [(5, Accepted, None), (40, Resolved, None)];
    seed(
        app,
        estate,
        1000,
        ("repairs", General),
        utc(10, 2, 0, 0),
        &solved_in_40,
    )
    .await;
    seed(
        app,
        estate,
        40,
        ("rubbish", General),
        utc(10, 5, 0, 0),
        &[
            (5, Accepted, None),
            (45, Resolved, None),
            (60, Closed, Some(2)),
        ],
    )
    .await;
    seed(
        app,
        estate,
        20,
        ("repairs", General),
        utc(10, 20, 0, 0),
        &solved_in_40,
    )
    .await;
    seed(
        app,
        estate,
        10,
        ("safety", Urgent),
        utc(10, 8, 0, 0),
        &[
            (1, Accepted, None),
            (4, OnSite, None),
            (100, Resolved, None),
            (120, Closed, Some(5)),
        ],
    )
    .await;
    seed(
        app,
        estate,
        5,
        ("parking", General),
        utc(10, 25, 0, 0),
        &[(3, Accepted, None)],
    )
    .await;
    // 23:59 on 30 September in Beijing: September's.
    seed(
        app,
        estate,
        1,
        ("repairs", General),
        utc(9, 30, 15, 59),
        &solved_in_40,
    )
    .await;
    let other = app
        .state
        .store
        .create_estate(&system(), community, &PlaceName::parse("幸福里").unwrap())
        .await
        .unwrap();
    seed(
        app,
        other.id,
        1,
        ("repairs", General),
        utc(10, 3, 0, 0),
        &solved_in_40,
    )
    .await;
    other
}

fn texts(page: &str, selector: &str) -> Vec<String> {
    let html = scraper::Html::parse_document(page);
    html.select(&scraper::Selector::parse(selector).unwrap())
        .map(|e| e.text().collect::<Vec<_>>().join("|"))
        .collect()
}

#[tokio::test]
async fn a_month_of_more_than_a_thousand_records_is_disclosed_in_full() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    seed_october(&app, &place).await;

    let page = app
        .text(
            &client(),
            &format!("/disclosure?estate={}&month=2026-10", place.estate.id),
        )
        .await;
    assert_eq!(
        texts(&page, ".figures .figure"),
        ["1075", "1070", "4 分钟", "40 分钟", "2.6"]
    );
    assert!(page.contains("50 人"), "number of ratings shown");
    // Received and on time per class.
    let rows = texts(&page, "tbody tr");
    let row = |class: &str| {
        rows.iter()
            .find(|r| r.starts_with(class))
            .unwrap_or_else(|| panic!("{class} in {rows:?}"))
            .split('|')
            .skip(1)
            .collect::<Vec<_>>()
            .join("|")
    };
    assert_eq!(row("紧急"), "10|10");
    assert_eq!(row("重大"), "0|0");
    assert_eq!(row("一般"), "1065|60");
    assert_eq!(row("疑难"), "0|0");
    let top = texts(&page, "ol li");
    assert_eq!(top.len(), 4, "{top:?}");
    assert!(top[0].ends_with("— 1020"), "{top:?}");
    assert!(top[1].ends_with("— 40"), "{top:?}");
    assert!(top[2].ends_with("— 10"), "{top:?}");
    assert!(top[3].ends_with("— 5"), "{top:?}");

    // September holds only the record filed at 23:59 Beijing time on the 30th.
    let september = app
        .text(
            &client(),
            &format!("/disclosure?estate={}&month=2026-09", place.estate.id),
        )
        .await;
    assert_eq!(texts(&september, ".figures .figure")[..2], ["1", "1"]);

    // An estate that does not exist is not shown as zeros.
    let unknown = client()
        .get(app.url("/disclosure?estate=999999&month=2026-10"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

pub(crate) async fn playlist(app: &TestApp, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_lobby_screen_shows_its_estates_computed_figures_and_a_qr_to_report() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let token = pair_screen(&app, &place, "3号楼大堂").await;

    // No records yet: no figures item. The QR leads to this building's form.
    let empty = playlist(&app, &token).await;
    let public_url = app.state.signage.settings().public_url.clone();
    assert_eq!(
        empty["resident_qr"]["url"],
        format!(
            "{}/report?building={}",
            public_url.trim_end_matches('/'),
            place.building.id
        )
    );
    assert!(empty["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["kind"] != "figures"));

    // This month so far: two records filed through the service today.
    let now = Utc::now();
    seed(
        &app,
        place.estate.id,
        2,
        ("elevator", RecordClass::Major),
        now - Duration::minutes(30),
        &[
            (5, RecordState::Accepted, None),
            (20, RecordState::Resolved, None),
        ],
    )
    .await;
    // A fresh server (the first server's figures are cached for minutes).
    let app2 = crate::helpers::spawn_app_with(|s| {
        s.database.url = app.database_url.clone();
    })
    .await;
    let list = playlist(&app2, &token).await;
    let figures: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["kind"] == "figures")
        .collect();
    assert_eq!(figures.len(), 1, "{list}");
    let item = figures[0];
    assert_eq!(item["estate"], "阳光花园");
    assert_eq!(item["estate_id"], place.estate.id.0);
    let this_month = &item["months"][0];
    assert_eq!(this_month["so_far"], true);
    assert_eq!(this_month["received"], 2);
    assert_eq!(this_month["solved"], 2);
    let major = this_month["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["class"] == "major")
        .unwrap();
    assert_eq!(major["received"], 2);
    assert_eq!(major["on_time"], 2, "20 minutes of 4 hours");
    assert_eq!(major["name"]["zh"], "重大");
    assert_eq!(this_month["median_resolution_minutes"], 20);
    assert_eq!(this_month["top_categories"][0]["code"], "elevator");
    assert_eq!(this_month["top_categories"][0]["count"], 2);
    assert_eq!(item["months"][1]["so_far"], false);
    assert_eq!(item["months"][1]["received"], 0);
}

#[tokio::test]
async fn the_lobby_qr_opens_the_report_form_and_files_a_screen_qr_record() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let resident = app.login("resident").await;
    let form = app
        .text(
            &resident,
            &format!("/report?building={}", place.building.id),
        )
        .await;
    assert!(
        form.contains(&format!(r#"name="building" value="{}""#, place.building.id)),
        "the form keeps the screen's building"
    );
    let response = app
        .post_form(
            &resident,
            "/report",
            &[
                ("category", "repairs"),
                ("title", "大堂灯不亮"),
                ("description", "晚上大堂很黑"),
                ("location", "大堂"),
                ("building", &place.building.id.to_string()),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let filed = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            estate: Some(place.estate.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(filed.len(), 1);
    assert_eq!(filed[0].source, RecordSource::ScreenQr);
    assert_eq!(filed[0].building_id, Some(place.building.id));
}

fn has_figures(list: &Value) -> bool {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|i| i["kind"] == "figures")
}

#[tokio::test]
async fn a_community_switches_the_figures_on_its_screens_off_and_on() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    seed(
        &app,
        place.estate.id,
        1,
        ("elevator", RecordClass::Major),
        Utc::now() - Duration::minutes(30),
        &[(5, RecordState::Accepted, None)],
    )
    .await;
    assert!(has_figures(&playlist(&app, &token).await), "on by default");

    // The secretary (not only the admin) may switch them; a moderator may not.
    let secretary_account = app.create_account(Role::Secretary, None).await;
    let secretary = app.login(secretary_account.username.as_str()).await;
    let settings = format!("/console/communities/{}/sla", place.community.id);
    let page = app.text(&secretary, &settings).await;
    assert!(page.contains("在大屏上显示诉求办理数字"));
    let switch = format!("/console/communities/{}/screen-figures", place.community.id);
    let moderator_account = app.create_account(Role::Moderator, None).await;
    let moderator = app.login(moderator_account.username.as_str()).await;
    let response = app.post_form(&moderator, &switch, &[]).await;
    assert_eq!(response.status(), 403);
    assert!(has_figures(&playlist(&app, &token).await));

    // Off: the next playlist has no figures (no wait for the 5-minute cache).
    let response = app.post_form(&secretary, &switch, &[]).await;
    assert_eq!(response.status(), 303);
    assert!(!has_figures(&playlist(&app, &token).await));
    assert!(!app
        .text(&secretary, &settings)
        .await
        .contains("name=\"shown\" value=\"yes\" checked"));
    let audit = app.audit("screen_figures.set").await;
    assert_eq!(audit.len(), 1);

    // The setting outlives a restart.
    let app2 = crate::helpers::spawn_app_with(|s| {
        s.database.url = app.database_url.clone();
    })
    .await;
    assert!(!has_figures(&playlist(&app2, &token).await));

    // On again.
    let response = app
        .post_form(&secretary, &switch, &[("shown", "yes")])
        .await;
    assert_eq!(response.status(), 303);
    assert!(has_figures(&playlist(&app, &token).await));
}
