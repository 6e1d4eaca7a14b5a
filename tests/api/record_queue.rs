//! The staff queue as staff use it: every open record ranked by urgency and
//! paged, one state or one assignee at a time, older pages of finished
//! records, and an export for the period they pick.

use chrono::{Duration, Utc};
use pavilion::domain::record::{Record, RecordAction, RecordClass, RecordSource};
use pavilion::domain::{Account, Actor, Role};
use pavilion::feedback::records::{Filing, Request};
use scraper::{Html, Selector};

use crate::helpers::*;

fn filing(place: &Place, class: RecordClass, title: &str) -> Filing {
    Filing {
        estate_id: place.estate.id,
        building_id: Some(place.building.id),
        category: "repairs".into(),
        class,
        title: title.into(),
        title_public: false,
        description: "请尽快处理".into(),
        location: String::new(),
        source: RecordSource::Phone,
        point: None,
    }
}

async fn file_at(
    app: &TestApp,
    place: &Place,
    class: RecordClass,
    title: &str,
    at: chrono::DateTime<Utc>,
) -> Record {
    let phone = Actor {
        id: None,
        name: "staff".into(),
    };
    app.state
        .records
        .file(&phone, None, filing(place, class, title), at)
        .await
        .unwrap()
        .0
}

async fn act(
    app: &TestApp,
    who: &Account,
    record: &Record,
    action: RecordAction,
    assignee: Option<&str>,
) -> Record {
    let request = Request {
        expected_version: record.version,
        action: Some(action),
        note: String::new(),
        public: true,
        published: false,
        assignee: assignee.map(str::to_owned),
        rating: None,
    };
    app.state
        .records
        .change(who, record, request, Utc::now())
        .await
        .unwrap()
}

/// The record numbers of a queue page, top to bottom, with each row's class.
fn rows(page: &str) -> Vec<(String, String)> {
    let html = Html::parse_document(page);
    let row = Selector::parse(".record-queue tbody tr").unwrap();
    let number = Selector::parse("th a").unwrap();
    html.select(&row)
        .map(|tr| {
            let n = tr.select(&number).next().unwrap().text().collect();
            (n, tr.value().attr("class").unwrap_or("").to_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_open_record_is_ranked_by_urgency_and_paged() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let now = Utc::now();
    // The five oldest were filed two hours ago: general records (30 minutes) are late.
    let mut late = Vec::new();
    for i in 0..5 {
        let at = now - Duration::hours(2) + Duration::minutes(i);
        late.push(
            file_at(
                &app,
                &place,
                RecordClass::General,
                &format!("旧诉求{i}"),
                at,
            )
            .await,
        );
    }
    // Then 230 newer complex ones (days to go): more than the old queue's 200.
    for i in 0..230 {
        file_at(
            &app,
            &place,
            RecordClass::Complex,
            &format!("新诉求{i}"),
            now,
        )
        .await;
    }
    // One general record filed 25 minutes ago is about to be late.
    let soon = file_at(
        &app,
        &place,
        RecordClass::General,
        "快超时",
        now - Duration::minutes(25),
    )
    .await;
    let staff = app.login(staff_account.username.as_str()).await;

    let first = app.text(&staff, "/console/records").await;
    let top = rows(&first);
    assert_eq!(top.len(), 50, "fifty rows a page");
    // The late ones first (most overdue first), each marked; then the one due soon.
    let numbers: Vec<&str> = top.iter().map(|(n, _)| n.as_str()).collect();
    let expected: Vec<&str> = late.iter().map(|r| r.number.as_str()).collect();
    assert_eq!(&numbers[..5], &expected[..]);
    assert!(top[..5].iter().all(|(_, class)| class == "breached"));
    assert_eq!(
        (top[5].0.as_str(), top[5].1.as_str()),
        (soon.number.as_str(), "due-soon")
    );
    assert_eq!(top[6].1, "");
    assert!(first.contains("第 1 页，共 5 页"));

    // The last page holds the rest; a page past the end shows the last.
    let last = app.text(&staff, "/console/records?show=open&page=5").await;
    assert_eq!(rows(&last).len(), 236 - 4 * 50);
    assert!(last.contains("第 5 页，共 5 页") && last.contains("上一页"));
    let beyond = app.text(&staff, "/console/records?page=99").await;
    assert!(beyond.contains("第 5 页，共 5 页"));
    let response = staff
        .get(app.url("/console/records?page=abc"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn staff_list_one_state_or_one_assignee_and_page_back_through_finished_records() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let staff_account = app.create_account(Role::Staff, None).await;
    let now = Utc::now();
    let mut filed = Vec::new();
    for i in 0..60 {
        filed.push(file_at(&app, &place, RecordClass::General, &format!("诉求{i}"), now).await);
    }
    let li = act(
        &app,
        &staff_account,
        &filed[0],
        RecordAction::Accept,
        Some("维修班老李"),
    )
    .await;
    act(
        &app,
        &staff_account,
        &filed[1],
        RecordAction::Accept,
        Some("保洁组"),
    )
    .await;
    act(&app, &staff_account, &filed[2], RecordAction::Accept, None).await;
    let staff = app.login(staff_account.username.as_str()).await;

    // One state.
    let accepted = app.text(&staff, "/console/records?show=accepted").await;
    let numbers: Vec<String> = rows(&accepted).into_iter().map(|(n, _)| n).collect();
    assert_eq!(numbers.len(), 3);
    assert!(accepted.contains(r#"<option value="accepted" selected>"#));
    let response = staff
        .get(app.url("/console/records?show=nonsense"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    // One assignee (offered in the filter), or records nobody has yet.
    let queue = app.text(&staff, "/console/records").await;
    assert!(queue.contains(r#"<option value="维修班老李">"#) && queue.contains("保洁组"));
    let mine = app
        .text(
            &staff,
            "/console/records?assignee=%E7%BB%B4%E4%BF%AE%E7%8F%AD%E8%80%81%E6%9D%8E",
        )
        .await;
    assert_eq!(rows(&mine), vec![(li.number.clone(), String::new())]);
    let nobody = app.text(&staff, "/console/records?assignee=-&page=2").await;
    assert!(nobody.contains("第 2 页，共 2 页"));
    let first_nobody = app.text(&staff, "/console/records?assignee=-").await;
    let all_nobody: Vec<String> = rows(&first_nobody)
        .into_iter()
        .chain(rows(&nobody))
        .map(|(n, _)| n)
        .collect();
    assert_eq!(all_nobody.len(), 58);
    assert!(!all_nobody.contains(&filed[0].number) && !all_nobody.contains(&filed[1].number));

    // Any state: newest first, fifty at a time, then the older ones.
    let newest = app.text(&staff, "/console/records?show=all").await;
    let page = rows(&newest);
    assert_eq!(page.len(), 50);
    assert_eq!(page[0].0, filed[59].number);
    let older = Html::parse_document(&newest)
        .select(&Selector::parse(r#".pager a[rel="next"]"#).unwrap())
        .next()
        .and_then(|a| a.value().attr("href").map(str::to_owned))
        .expect("a link to older records");
    assert!(older.contains("show=all") && older.contains("before="));
    let rest = rows(&app.text(&staff, &older).await);
    assert_eq!(rest.len(), 10);
    assert_eq!(rest.last().unwrap().0, filed[0].number);

    // The export takes the period from the form.
    assert!(newest.contains(r#"name="from" type="date""#));
    let today = now
        .with_timezone(&app.state.settings.time_zone)
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let csv = app
        .text(
            &staff,
            &format!("/console/export/records.csv?from={today}&to={today}"),
        )
        .await;
    assert_eq!(csv.lines().count(), 61, "a header and sixty records");
}
