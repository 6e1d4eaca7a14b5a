//! A resident's feedback record in real headless Chromium: the report form
//! with two photos picked through the file input, the thumbnails on the
//! tracking page, the "我的诉求" badge once staff accept the record, the news
//! page that leads back to it, and a "photo" that is really a text file,
//! which sends the form back with what was typed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use fantoccini::{Client, Locator};
use pavilion::domain::record::{Record, RecordAction, RecordState};
use pavilion::domain::{Account, Role};
use pavilion::feedback::records::Request;
use pavilion::store::RecordFilter;
use serde_json::{json, Value};

use crate::browser::{axe_violations, browser, log_in, wait_for_value};
use crate::helpers::*;
use crate::record_photos::jpeg;

const TITLE: &str = "楼道灯坏了好几天";
const DESCRIPTION: &str = "3号楼2单元三楼的楼道灯不亮，晚上上楼很危险。";
const LOCATION: &str = "2单元三楼";
const NOTE: &str = "明天上午师傅上门换灯泡";
const WAIT: Duration = Duration::from_secs(10);

/// The page's thumbnails: where each comes from and whether it loaded.
const THUMBNAILS: &str = "return Array.from(document.querySelectorAll('.record-photos img')).map(i => ({ src: i.getAttribute('src'), complete: i.complete, naturalWidth: i.naturalWidth }));";
/// The number on the header's "我的诉求" badge (null: no badge).
const BADGE: &str = "const b = document.querySelector('.site-header .count-badge'); return b ? b.textContent.trim() : null;";

/// How many records of the list are marked "有新进展".
const UNREAD_MARKERS: &str = "return document.querySelectorAll('ul.records .new-update').length;";

/// Writes `bytes` to `dir/name`; the absolute path the file input is given.
fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Opens the report form, types the record and picks `files` with the
/// file input, as a person choosing several photos at once would.
async fn fill_report(page: &Client, app: &TestApp, files: &[&Path]) {
    page.goto(&app.url("/report")).await.unwrap();
    page.find(Locator::Id("category"))
        .await
        .unwrap()
        .select_by_value("water_power")
        .await
        .unwrap();
    for (id, text) in [
        ("title", TITLE),
        ("description", DESCRIPTION),
        ("location", LOCATION),
    ] {
        page.find(Locator::Id(id))
            .await
            .unwrap()
            .send_keys(text)
            .await
            .unwrap();
    }
    // ChromeDriver takes the paths of a multiple file input one a line.
    let paths: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    page.find(Locator::Id("photos"))
        .await
        .unwrap()
        .send_keys(&paths.join("\n"))
        .await
        .unwrap();
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(chosen_files(page).await, json!(names));
}

/// The names of the files the photo input holds.
async fn chosen_files(page: &Client) -> Value {
    page.execute(
        "return Array.from(document.getElementById('photos').files).map(f => f.name);",
        vec![],
    )
    .await
    .unwrap()
}

async fn submit_report(page: &Client) {
    page.find(Locator::Css("form[action='/report'] button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

/// Waits until the browser is on a page whose path `test` accepts; returns the path.
async fn wait_for_path(page: &Client, what: &str, test: impl Fn(&str) -> bool) -> String {
    let path = wait_for_value(page, "return location.pathname;", WAIT, what, |v| {
        v.as_str().is_some_and(&test)
    })
    .await;
    path.as_str().unwrap().to_owned()
}

/// Waits until the page shows `count` thumbnails, every one of them a loaded
/// picture (not a broken image); returns their `src`s.
async fn loaded_thumbnails(page: &Client, count: usize, what: &str) -> Vec<String> {
    let shown = wait_for_value(page, THUMBNAILS, WAIT, what, |v| {
        v.as_array().is_some_and(|images| {
            images.len() == count
                && images
                    .iter()
                    .all(|i| i["complete"] == json!(true) && i["naturalWidth"].as_u64() > Some(0))
        })
    })
    .await;
    shown
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["src"].as_str().unwrap().to_owned())
        .collect()
}

/// The records `account` filed.
async fn records_of(app: &TestApp, account: &Account) -> Vec<Record> {
    app.state
        .store
        .list_records(&RecordFilter {
            reporter: Some(account.id),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn text_of_element(page: &Client, css: &str) -> String {
    page.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_resident_reports_with_two_photos_and_follows_the_staff_news_in_the_browser() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let staff = app.create_account(Role::Staff, None).await;
    let files = tempfile::tempdir().unwrap();
    let stairs = write_file(files.path(), "IMG_2041.jpg", &jpeg(1600, 1200));
    let lamp = write_file(files.path(), "IMG_2042.jpg", &jpeg(800, 600));
    let (_driver, page) = browser().await;
    log_in(&page, &app, "resident", "/me").await;

    // The report, with two photos, lands on the record's tracking page.
    fill_report(&page, &app, &[&stairs, &lamp]).await;
    submit_report(&page).await;
    let path = wait_for_path(&page, "the tracking page", |p| p.starts_with("/track/")).await;
    let token = path.trim_start_matches("/track/");
    let record = app
        .state
        .records
        .by_tracking_token(token)
        .await
        .expect("the page is the record's tracking link");
    assert_eq!(record.title, TITLE);
    assert_eq!(record.category, "water_power");
    assert_eq!(text_of_element(&page, "main h1").await, TITLE);
    assert!(text_of_element(&page, "[role=status]")
        .await
        .contains(&record.number));
    let thumbnails = loaded_thumbnails(&page, 2, "the thumbnails on the tracking page").await;
    for src in &thumbnails {
        assert!(
            src.starts_with(&format!("{path}/photos/")) && src.ends_with("/thumb"),
            "{src}"
        );
    }

    // Their list of records: nothing new yet.
    page.goto(&app.url("/me/records")).await.unwrap();
    assert_eq!(page.execute(BADGE, vec![]).await.unwrap(), Value::Null);
    assert_eq!(
        page.execute(UNREAD_MARKERS, vec![]).await.unwrap(),
        json!(0)
    );

    // Staff accept it with a note for the resident; the page, reloaded,
    // shows the badge and marks the record.
    let accepted = app
        .state
        .records
        .change(
            &staff,
            &record,
            Request {
                expected_version: record.version,
                action: Some(RecordAction::Accept),
                note: NOTE.into(),
                public: true,
                published: false,
                assignee: None,
                rating: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(accepted.state, RecordState::Accepted);
    page.refresh().await.unwrap();
    assert_eq!(page.execute(BADGE, vec![]).await.unwrap(), json!("1"));
    assert_eq!(
        page.execute(UNREAD_MARKERS, vec![]).await.unwrap(),
        json!(1)
    );

    // The badge leads to the news, the news to the record.
    page.find(Locator::Css(".site-header a.my-records"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_path(&page, "the news page", |p| p == "/me/notifications").await;
    let item = text_of_element(&page, "ul.notifications button.notification").await;
    for part in [record.number.as_str(), TITLE, "已受理", NOTE] {
        assert!(item.contains(part), "{part} missing from {item:?}");
    }
    let violations = axe_violations(&page).await;
    assert!(violations.is_empty(), "news page: {violations:#?}");
    page.find(Locator::Css("ul.notifications button.notification"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let own_page = format!("/me/records/{}", record.id);
    wait_for_path(&page, "the record page", |p| p == own_page).await;

    // Opened: no badge any more, the header link back to the list, and the
    // note in the timeline, with the photos served by record id.
    assert_eq!(page.execute(BADGE, vec![]).await.unwrap(), Value::Null);
    assert_eq!(
        page.find(Locator::Css(".site-header a.my-records"))
            .await
            .unwrap()
            .attr("href")
            .await
            .unwrap()
            .as_deref(),
        Some("/me/records")
    );
    let timeline = text_of_element(&page, "ol.timeline").await;
    assert!(
        timeline.contains(NOTE) && timeline.contains("受理"),
        "{timeline}"
    );
    let thumbnails = loaded_thumbnails(&page, 2, "the thumbnails on the record page").await;
    assert!(
        thumbnails
            .iter()
            .all(|src| src.starts_with(&format!("/records/{}/photos/", record.id))),
        "{thumbnails:?}"
    );
    let violations = axe_violations(&page).await;
    assert!(
        violations.is_empty(),
        "record page with photos: {violations:#?}"
    );

    // Reading it elsewhere does not bring the badge back.
    page.goto(&app.url("/me")).await.unwrap();
    assert_eq!(page.execute(BADGE, vec![]).await.unwrap(), Value::Null);
    page.close().await.unwrap();
}

#[tokio::test]
async fn a_text_file_named_jpg_sends_the_report_back_with_what_was_typed() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let resident = app.create_account(Role::Resident, Some(&place)).await;
    let files = tempfile::tempdir().unwrap();
    let notes = write_file(
        files.path(),
        "notes.jpg",
        b"the lamp on the third floor is broken",
    );
    let photo = write_file(files.path(), "IMG_2041.jpg", &jpeg(640, 480));
    let (_driver, page) = browser().await;
    log_in(&page, &app, "resident", "/me").await;

    fill_report(&page, &app, &[&notes]).await;
    submit_report(&page).await;
    let error = page
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Id("form-error"))
        .await
        .expect("the form comes back with a message")
        .text()
        .await
        .unwrap();
    for part in ["notes.jpg", "这个文件不是照片", "请重新选择照片"] {
        assert!(error.contains(part), "{part} missing from {error:?}");
    }
    assert_eq!(
        page.current_url().await.unwrap().path(),
        "/report",
        "the form is shown again where it was sent"
    );
    // Everything typed is still there; the file has to be chosen again.
    let kept = page
        .execute(
            "return ['category', 'title', 'description', 'location'].map(id => document.getElementById(id).value);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(kept, json!(["water_power", TITLE, DESCRIPTION, LOCATION]));
    assert_eq!(chosen_files(&page).await, json!([]));
    assert!(
        records_of(&app, &resident).await.is_empty(),
        "nothing filed"
    );
    let violations = axe_violations(&page).await;
    assert!(
        violations.is_empty(),
        "report form with error: {violations:#?}"
    );

    // The form sent back works: a real photo, and the record is filed.
    page.find(Locator::Id("photos"))
        .await
        .unwrap()
        .send_keys(&photo.display().to_string())
        .await
        .unwrap();
    submit_report(&page).await;
    wait_for_path(&page, "the tracking page", |p| p.starts_with("/track/")).await;
    loaded_thumbnails(&page, 1, "the thumbnail of the photo chosen again").await;
    let records = records_of(&app, &resident).await;
    assert_eq!(records.len(), 1);
    assert_eq!(
        (records[0].title.as_str(), records[0].category.as_str()),
        (TITLE, "water_power")
    );
    page.close().await.unwrap();
}
