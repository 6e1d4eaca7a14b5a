//! `pavilion db copy` as an operator runs it: a community's SQLite database,
//! filled through the real server and store, copied by the real binary into
//! PostgreSQL on a scratch cluster, then compared table by table, and a
//! server started on the copy shows the same community through HTTP.

use std::collections::BTreeMap;
use std::process::Output;
use std::str::FromStr;
use std::sync::OnceLock;

use chrono::{Duration, Utc};
use pavilion::domain::chat::{ChatSettings, CommentKind, CommentState, SanctionKind};
use pavilion::domain::record::RecordState;
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::store::postgres::scratch::ScratchCluster;
use pavilion::store::{CommentFilter, NewRecordEvent, NewRecordPhoto, NewSanction, ScreenSetup};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, Row, SqliteConnection};

use reqwest::multipart::{Form, Part};

use crate::helpers::{location, spawn_app_on, spawn_app_with, text_of, Backend, TestApp};

/// One scratch PostgreSQL cluster for this test binary; each test makes its
/// own databases on it.
fn cluster() -> &'static ScratchCluster {
    static CLUSTER: OnceLock<ScratchCluster> = OnceLock::new();
    CLUSTER.get_or_init(|| ScratchCluster::start().expect("a scratch PostgreSQL cluster"))
}

/// A new database on the cluster, without Pavilion's schema. (The cluster
/// may still be starting up when the first test asks.)
async fn empty_database() -> String {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match cluster().create_empty_database().await {
            Ok(url) => return url,
            Err(e)
                if std::time::Instant::now() < deadline
                    && e.to_string().contains("starting up") =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("a scratch database: {e:#}"),
        }
    }
}

async fn db_copy(from: &str, to: &str) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_pavilion"))
        .args(["db", "copy", "--from", from, "--to", to])
        .env("RUST_LOG", "warn")
        .output()
        .await
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn actor_of(account: &Account) -> Actor {
    Actor {
        id: Some(account.id),
        name: account.display_name.clone(),
    }
}

/// A lived-in community on SQLite and the people who use it, signed in.
struct LivedIn {
    app: TestApp,
    admin: reqwest::Client,
    resident: reqwest::Client,
    /// The record the resident filed through the report form, with a photo.
    reported: RecordId,
    /// Its tracking link.
    tracking: String,
}

/// A server whose database holds a lived-in community: the demo's places,
/// accounts, records and notices, a broadcast with questions and votes (one
/// question merged into a later one), photos public and private (one
/// uploaded through the report form, its files in the media folder), a
/// rating, a screen with its heartbeat and plays, sanctions, blocked words,
/// an API key, sessions and the audit entries all of this wrote.
async fn lived_in_app() -> LivedIn {
    // The source is SQLite on either pass of the suite: that is what db copy moves.
    let app = spawn_app_on(Backend::Sqlite, |_| {}).await;
    let store = &*app.state.store;
    pavilion::demo::seed(store, &app.state.accounts)
        .await
        .unwrap();
    let broadcast = pavilion::demo::live_broadcast(store).await.unwrap();
    let account = |name: &'static str| async move {
        store
            .credentials(&Username::parse(name).unwrap())
            .await
            .unwrap()
            .unwrap()
            .0
    };
    let moderator = account("moderator").await;
    let staff = account("staff").await;
    let resident = account("resident").await;
    let admin = account("admin").await;
    let now = Utc::now();

    // A merge pointing forward: the oldest question into the newest.
    let questions = store
        .comments(&CommentFilter {
            kind: Some(CommentKind::Question),
            states: vec![CommentState::Approved],
            ..CommentFilter::of(broadcast.id)
        })
        .await
        .unwrap();
    let (oldest, newest) = (questions[0].id, questions.last().unwrap().id);
    assert!(oldest < newest);
    store
        .merge_comments(&actor_of(&moderator), oldest, newest, now)
        .await
        .unwrap();
    store
        .set_chat_settings(
            &actor_of(&moderator),
            broadcast.id,
            &ChatSettings {
                slow_mode_seconds: 30,
                ..ChatSettings::default()
            },
            now,
        )
        .await
        .unwrap();
    store
        .set_blocked_words(
            &actor_of(&moderator),
            broadcast.community_id,
            &["广告".to_owned(), "代开发票".to_owned()],
        )
        .await
        .unwrap();
    let neighbour = account("neighbour1").await;
    store
        .add_sanction(
            &actor_of(&moderator),
            &NewSanction {
                community_id: broadcast.community_id,
                account_id: neighbour.id,
                kind: SanctionKind::Timeout,
                until: Some(now + Duration::minutes(10)),
                reason: "刷屏".into(),
                broadcast_id: Some(broadcast.id),
                at: now,
            },
        )
        .await
        .unwrap();

    // Records: the new one accepted with a public photo, then a staff-only
    // note with a private one; the resolved one closed with a rating.
    let photo = |n: u8| NewRecordPhoto {
        sha256: format!("{n:02x}").repeat(32),
        mime: "image/jpeg".into(),
        width: 640,
        height: 480,
        size_bytes: 20_000 + u64::from(n),
        uploaded_by: staff.id,
    };
    let event = |action: &str, from, to, public| NewRecordEvent {
        actor: actor_of(&staff),
        action: action.into(),
        from_state: from,
        to_state: to,
        // Characters COPY's text format must escape.
        note: format!("{action} 备注\n第二行\t制表 C:\\照片\\N \\.\r\n"),
        public,
        published: public,
        assignee: Some("物业小陈".into()),
        rating: None,
    };
    let filed = store.record(RecordId(1)).await.unwrap();
    assert_eq!(filed.state, RecordState::Submitted);
    let accepted = store
        .append_record_event_with_photos(
            filed.id,
            filed.version,
            &event(
                "accept",
                Some(RecordState::Submitted),
                Some(RecordState::Accepted),
                true,
            ),
            &[photo(1), photo(2)],
            now,
        )
        .await
        .unwrap();
    store
        .append_record_event_with_photos(
            filed.id,
            accepted.version,
            &event("note", None, None, false),
            &[photo(3)],
            now,
        )
        .await
        .unwrap();
    let resolved = store.record(RecordId(2)).await.unwrap();
    assert_eq!(resolved.state, RecordState::Resolved);
    store
        .append_record_event(
            resolved.id,
            resolved.version,
            &NewRecordEvent {
                actor: actor_of(&resident),
                action: "close".into(),
                rating: Some(4),
                ..event(
                    "close",
                    Some(RecordState::Resolved),
                    Some(RecordState::Closed),
                    true,
                )
            },
            now,
        )
        .await
        .unwrap();

    // A screen in a group, its heartbeat and plays of a published notice.
    let community = store.list_communities().await.unwrap().remove(0);
    let estate = store.list_estates(community.id).await.unwrap().remove(0);
    let building = store.list_buildings(estate.id).await.unwrap().remove(0);
    let group = store
        .create_screen_group(
            &actor_of(&admin),
            community.id,
            &PlaceName::parse("大堂屏").unwrap(),
        )
        .await
        .unwrap();
    let token = crate::signage::pair_screen_as(
        &app,
        ScreenSetup {
            name: "1号楼大堂".into(),
            building_id: building.id,
            group_id: Some(group.id),
            orientation: Orientation::Portrait,
        },
    )
    .await;
    let mut source = sqlite(&app.database_url).await;
    let notice: i64 =
        sqlx::query_scalar("SELECT id FROM notices WHERE state = 'published' ORDER BY id LIMIT 1")
            .fetch_one(&mut source)
            .await
            .unwrap();
    let client = reqwest::Client::new();
    let response = client
        .post(app.url("/kiosk/api/heartbeat"))
        .bearer_auth(&token)
        .json(&serde_json::json!({
            "current_notice": notice, "client_version": "v1", "uptime_seconds": 600,
            "last_error": null
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let at = |seconds: i64| now - Duration::minutes(3) + Duration::seconds(seconds);
    let response = client
        .post(app.url("/kiosk/api/plays"))
        .bearer_auth(&token)
        .json(&serde_json::json!([
            {"notice_id": notice, "started_at": at(0), "ended_at": at(15)},
            {"notice_id": notice, "started_at": at(60), "ended_at": at(75)}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);

    store
        .create_api_key(
            &actor_of(&admin),
            "12345 热线",
            "k".repeat(64).as_str(),
            None,
        )
        .await
        .unwrap();
    // An Open311 request filed at a point, and the estate's place.
    let outline = pavilion::domain::geo::Outline::parse(
        "39.900000,116.390000\n39.904000,116.390000\n39.904000,116.394000\n39.900000,116.390000",
    )
    .unwrap();
    store
        .set_estate_geography(
            &actor_of(&admin),
            estate.id,
            Some(&pavilion::domain::geo::EstateGeography {
                location: outline.centre(),
                outline: Some(outline),
                geocode: Some("110101".into()),
            }),
        )
        .await
        .unwrap();
    store
        .set_building_location(
            &actor_of(&admin),
            building.id,
            pavilion::domain::geo::LatLon::new(39.9025, 116.3915).ok(),
        )
        .await
        .unwrap();
    let key = app
        .issue_open311_key(&login(&app, "admin").await, "城市服务")
        .await;
    let filed = app
        .open311_post(&[
            ("api_key", key.as_str()),
            ("service_code", "repairs"),
            ("description", "东门路灯不亮"),
            ("lat", "39.9021"),
            ("long", "116.3915"),
        ])
        .await;
    assert_eq!(filed.status(), 201, "filed by its point");
    // A session, through the login form.
    let browser = crate::helpers::client();
    let response = app
        .post_form(
            &browser,
            "/login",
            &[
                ("username", "secretary"),
                ("password", pavilion::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let admin = login(&app, "admin").await;

    // A resident reports through the form, with a photo from their phone.
    let resident = login(&app, "resident").await;
    let response = send_multipart(
        &app,
        &resident,
        "/report",
        &[
            ("category", "repairs"),
            ("title", REPORT_TITLE),
            ("description", "2单元三楼的楼道灯不亮，晚上上楼很危险。"),
            ("location", "2单元三楼"),
        ],
        ("IMG_2041.jpg", crate::record_photos::jpeg(800, 600)),
    )
    .await;
    assert_eq!(response.status(), 303, "the report is filed");
    let tracking = location(&response).split('?').next().unwrap().to_owned();
    let token = tracking.trim_start_matches("/track/");
    let reported = app.state.records.by_tracking_token(token).await.unwrap().id;
    assert_eq!(store.record_photos(reported).await.unwrap().len(), 1);

    let plays: i64 = sqlx::query_scalar("SELECT count(*) FROM notice_plays")
        .fetch_one(&mut source)
        .await
        .unwrap();
    assert_eq!(plays, 2);
    LivedIn {
        app,
        admin,
        resident,
        reported,
        tracking,
    }
}

const REPORT_TITLE: &str = "楼道灯坏了好几天";

/// A browser signed in as one of the demo's people.
async fn login(app: &TestApp, username: &str) -> reqwest::Client {
    let browser = crate::helpers::client();
    let response = app
        .post_form(
            &browser,
            "/login",
            &[
                ("username", username),
                ("password", pavilion::demo::DEMO_PASSWORD),
            ],
        )
        .await;
    assert_eq!(response.status(), 303, "{username} signs in");
    browser
}

/// Sends a multipart form as the page does: the form token, the fields, a photo.
async fn send_multipart(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    (name, jpeg): (&'static str, Vec<u8>),
) -> reqwest::Response {
    let mut form = Form::new().text("csrf_token", app.form_token(client).await);
    for (field, value) in fields {
        form = form.text(field.to_string(), value.to_string());
    }
    let part = Part::bytes(jpeg)
        .file_name(name)
        .mime_str("image/jpeg")
        .unwrap();
    client
        .post(app.url(path))
        .multipart(form.part("photos", part))
        .send()
        .await
        .unwrap()
}

async fn sqlite(url: &str) -> SqliteConnection {
    SqliteConnection::connect_with(&SqliteConnectOptions::from_str(url).unwrap())
        .await
        .unwrap()
}

async fn postgres(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap()
}

/// Each table's columns on PostgreSQL, with their types.
async fn pg_columns(target: &mut PgConnection) -> BTreeMap<String, Vec<(String, String)>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text, c.data_type::text
           FROM information_schema.columns c
           JOIN information_schema.tables t USING (table_schema, table_name)
          WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'
            AND c.table_name <> '_sqlx_migrations'
          ORDER BY c.table_name, c.ordinal_position",
    )
    .fetch_all(&mut *target)
    .await
    .unwrap();
    let mut tables: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (table, column, data_type) in rows {
        tables.entry(table).or_default().push((column, data_type));
    }
    tables
}

/// Every table's rows, each row as the debug text of its typed values,
/// sorted (read from SQLite or PostgreSQL with the same columns).
type Contents = BTreeMap<String, Vec<Vec<String>>>;

async fn pg_contents(url: &str) -> Contents {
    let mut target = postgres(url).await;
    let mut contents = Contents::new();
    for (table, columns) in pg_columns(&mut target).await {
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        let rows = sqlx::query(&format!("SELECT {} FROM {table}", names.join(", ")))
            .fetch_all(&mut target)
            .await
            .unwrap();
        let mut shown: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, data_type))| match data_type.as_str() {
                        "bigint" => format!("{:?}", row.get::<Option<i64>, _>(i)),
                        "boolean" => format!("{:?}", row.get::<Option<bool>, _>(i)),
                        "text" => format!("{:?}", row.get::<Option<String>, _>(i)),
                        other => panic!("{table}: unexpected type {other}"),
                    })
                    .collect()
            })
            .collect();
        shown.sort();
        contents.insert(table, shown);
    }
    contents
}

/// The same for SQLite, reading the columns PostgreSQL has (0/1 as flags).
async fn sqlite_contents(url: &str, pg_url: &str) -> Contents {
    let columns = pg_columns(&mut postgres(pg_url).await).await;
    let mut source = sqlite(url).await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'table'
          AND name NOT LIKE 'sqlite%' AND name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut source)
    .await
    .unwrap();
    let mut listed = tables.clone();
    listed.sort();
    assert_eq!(
        listed,
        columns.keys().cloned().collect::<Vec<_>>(),
        "the same tables on both sides"
    );
    let mut contents = Contents::new();
    for (table, columns) in columns {
        let names: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
        let rows = sqlx::query(&format!("SELECT {} FROM {table}", names.join(", ")))
            .fetch_all(&mut source)
            .await
            .unwrap();
        let mut shown: Vec<Vec<String>> = rows
            .iter()
            .map(|row| {
                columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, data_type))| match data_type.as_str() {
                        "bigint" => format!("{:?}", row.get::<Option<i64>, _>(i)),
                        "boolean" => {
                            format!("{:?}", row.get::<Option<i64>, _>(i).map(|flag| flag != 0))
                        }
                        "text" => format!("{:?}", row.get::<Option<String>, _>(i)),
                        other => panic!("{table}: unexpected type {other}"),
                    })
                    .collect()
            })
            .collect();
        shown.sort();
        contents.insert(table, shown);
    }
    contents
}

/// The `table  rows` lines of the copy's output, and its total.
fn reported_counts(output: &str) -> (BTreeMap<String, u64>, u64) {
    let mut counts = BTreeMap::new();
    let mut total = None;
    for line in output.lines() {
        let mut words = line.split_whitespace();
        let (Some(name), Some(rows)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(rows) = rows.parse::<u64>() else {
            continue;
        };
        if name == "total" {
            total = Some(rows);
        } else {
            counts.insert(name.to_owned(), rows);
        }
    }
    (counts, total.expect("a total line"))
}

#[tokio::test]
async fn a_lived_in_community_is_copied_whole_and_a_second_copy_is_refused() {
    let LivedIn { app, .. } = lived_in_app().await;
    let target = empty_database().await;

    let output = db_copy(&app.database_url, &target).await;
    assert!(
        output.status.success(),
        "db copy failed:\n{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let printed = stdout(&output);
    assert!(printed.contains("tables copied in"), "{printed}");

    let source = sqlite_contents(&app.database_url, &target).await;
    let copied = pg_contents(&target).await;
    for (table, rows) in &source {
        assert_eq!(&copied[table], rows, "table {table} differs after the copy");
    }
    assert_eq!(source.len(), copied.len());
    // The seed reached the corners that need care.
    for table in [
        "record_facts",
        "open_records",
        "record_photos",
        "comment_votes",
        "notice_plays",
        "screens",
        "audit_log",
        "sessions",
        "chat_sanctions",
        "estate_geography",
        "building_locations",
    ] {
        assert!(!source[table].is_empty(), "the seed left {table} empty");
    }
    let mut target_db = postgres(&target).await;
    let forward_merges: i64 =
        sqlx::query_scalar("SELECT count(*) FROM comments WHERE merged_into > id")
            .fetch_one(&mut target_db)
            .await
            .unwrap();
    assert_eq!(forward_merges, 1, "a comment merged into a later one");
    let private_photos: i64 =
        sqlx::query_scalar("SELECT count(*) FROM record_photos WHERE NOT public")
            .fetch_one(&mut target_db)
            .await
            .unwrap();
    assert_eq!(private_photos, 1);
    let at_points: Vec<(i64, i64)> =
        sqlx::query_as("SELECT lat_e6, lon_e6 FROM records WHERE lat_e6 IS NOT NULL")
            .fetch_all(&mut target_db)
            .await
            .unwrap();
    assert_eq!(
        at_points,
        [(39_902_100, 116_391_500)],
        "the point a request was filed at"
    );

    let (counts, total) = reported_counts(&printed);
    assert_eq!(
        counts.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>(),
        "one line per table:\n{printed}"
    );
    for (table, rows) in &source {
        assert_eq!(counts[table], rows.len() as u64, "{table}:\n{printed}");
    }
    assert_eq!(total, counts.values().sum::<u64>());

    // A second copy into the same database is refused and changes nothing.
    let again = db_copy(&app.database_url, &target).await;
    assert!(!again.status.success());
    let refusal = stderr(&again);
    assert!(
        refusal.contains("not empty") && refusal.contains("communities"),
        "{refusal}"
    );
    assert_eq!(pg_contents(&target).await, copied);

    // Ids continue past the copied ones, on every table that has them.
    let identities: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text FROM information_schema.columns
          WHERE table_schema = 'public' AND is_identity = 'YES'",
    )
    .fetch_all(&mut target_db)
    .await
    .unwrap();
    assert!(identities.len() > 20, "{identities:?}");
    for (table, column) in identities {
        let highest: Option<i64> =
            sqlx::query_scalar(&format!("SELECT max({column}) FROM {table}"))
                .fetch_one(&mut target_db)
                .await
                .unwrap();
        let next: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence($1, $2))")
            .bind(&table)
            .bind(&column)
            .fetch_one(&mut target_db)
            .await
            .unwrap();
        assert_eq!(next, highest.unwrap_or(0) + 1, "{table}.{column}");
    }
    let highest: i64 = sqlx::query_scalar("SELECT max(id) FROM communities")
        .fetch_one(&mut target_db)
        .await
        .unwrap();
    let fresh: i64 = sqlx::query_scalar(
        "INSERT INTO communities (name, code, created_at)
         VALUES ('新社区', 'XN', '2026-12-07T00:00:00.000000Z') RETURNING id",
    )
    .fetch_one(&mut target_db)
    .await
    .unwrap();
    assert!(fresh > highest);
}

/// What people see of the community's history through the HTTP API, to
/// compare one server with another: (what, body). Read with the sessions
/// `lived` signed in with, so reading signs no one in (an audit entry).
async fn views(app: &TestApp, lived: &LivedIn) -> Vec<(String, Vec<u8>)> {
    async fn get(app: &TestApp, client: &reqwest::Client, path: &str) -> Vec<u8> {
        let response = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path} on {}", app.address);
        response.bytes().await.unwrap().to_vec()
    }
    let all = "from=2000-01-01&to=2099-12-31";
    let mut views = Vec::new();
    let anyone = crate::helpers::client();
    let path = "/open311/v2/requests.json";
    views.push((path.to_owned(), get(app, &anyone, path).await));
    for path in [
        format!("/console/export/records.csv?{all}"),
        format!("/console/export/events.csv?{all}"),
        format!("/console/screens/plays.csv?{all}"),
    ] {
        let body = get(app, &lived.admin, &path).await;
        views.push((path, body));
    }
    let audit = String::from_utf8(get(app, &lived.admin, "/console/audit").await).unwrap();
    let audit = text_of(&audit, "table").expect("the audit log's table");
    views.push(("/console/audit".into(), audit.into_bytes()));
    let me = get(app, &lived.resident, "/api/v1/me").await;
    views.push(("/api/v1/me".into(), me));
    // The resident's record: its page's photos, and the photos themselves.
    for page in [
        format!("/me/records/{}", lived.reported),
        lived.tracking.clone(),
    ] {
        let html = String::from_utf8(get(app, &lived.resident, &page).await).unwrap();
        assert!(html.contains(REPORT_TITLE), "{page}");
        let photos = photo_links(&html);
        assert_eq!(photos.len(), 2, "the photo and its thumbnail on {page}");
        views.push((format!("photos on {page}"), photos.join("\n").into_bytes()));
        for photo in photos {
            let bytes = get(app, &lived.resident, &photo).await;
            views.push((photo, bytes));
        }
    }
    views
}

/// The photos a record's page links: each full picture and its thumbnail.
fn photo_links(page: &str) -> Vec<String> {
    let html = scraper::Html::parse_document(page);
    let link = scraper::Selector::parse(".record-photos a").unwrap();
    let image = scraper::Selector::parse("img").unwrap();
    html.select(&link)
        .flat_map(|a| {
            let full = a.value().attr("href").unwrap().to_owned();
            let thumb = a.select(&image).next().unwrap().value().attr("src");
            [full, thumb.unwrap().to_owned()]
        })
        .collect()
}

/// Copies a folder with everything in it, as an operator moves the media
/// folder to the shared storage the nodes read.
fn copy_folder(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_folder(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[tokio::test]
async fn a_server_on_the_copy_shows_the_same_community_and_carries_on() {
    let lived = lived_in_app().await;
    let source = &lived.app;
    let target = empty_database().await;
    let before = views(source, &lived).await;
    let mut sqlite_db = sqlite(&source.database_url).await;
    let highest_record: i64 = sqlx::query_scalar("SELECT max(id) FROM records")
        .fetch_one(&mut sqlite_db)
        .await
        .unwrap();
    let first = source.state.store.record(RecordId(1)).await.unwrap();

    let output = db_copy(&source.database_url, &target).await;
    assert!(output.status.success(), "{}", stderr(&output));

    // A node on the copy, with the media folder moved beside it.
    // A node on the copy, configured as an operator would (`database.url`),
    // with the media folder moved beside it.
    let media = source.data_dir.join("media");
    let copy = spawn_app_with(|settings| {
        settings.database.url = target.clone();
        copy_folder(&media, &settings.data_dir.join("media"));
    })
    .await;
    assert!(copy.database_url.starts_with("postgres"));

    // The same sessions are signed in, and everyone sees the same history,
    // photos included.
    let after = views(&copy, &lived).await;
    assert_eq!(
        after.iter().map(|(what, _)| what).collect::<Vec<_>>(),
        before.iter().map(|(what, _)| what).collect::<Vec<_>>()
    );
    for ((what, on_sqlite), (_, on_postgres)) in before.iter().zip(&after) {
        assert!(
            on_sqlite == on_postgres,
            "{what} differs on the copy:\n{}\n---\n{}",
            String::from_utf8_lossy(on_sqlite),
            String::from_utf8_lossy(on_postgres)
        );
    }

    // Passwords work: a new sign-in, and a wrong password is still wrong.
    let staff = login(&copy, "staff").await;
    let wrong = copy
        .post_form(
            &crate::helpers::client(),
            "/login",
            &[("username", "staff"), ("password", "not-the-password")],
        )
        .await;
    assert_ne!(wrong.status(), 303);

    // An old record's history goes on: staff resolve the first record.
    let response = copy
        .post_form(
            &staff,
            &format!("/console/records/{}/act", first.id),
            &[
                ("version", first.version.to_string().as_str()),
                ("action", "resolve"),
                ("note", "迁移后继续处理"),
                ("public", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page = copy
        .text(&staff, &format!("/console/records/{}", first.id))
        .await;
    assert!(page.contains("迁移后继续处理"), "{page}");
    let resolved = copy.state.store.record(first.id).await.unwrap();
    assert_eq!(resolved.version, first.version + 1);
    assert_eq!(resolved.state, RecordState::Resolved);

    // A new report gets a new id and number, its photo beside the old ones.
    let response = send_multipart(
        &copy,
        &lived.resident,
        "/report",
        &[
            ("category", "repairs"),
            ("title", "电梯按钮失灵"),
            ("description", "1号楼电梯的5楼按钮按了没反应。"),
            ("location", "1号楼电梯"),
        ],
        ("IMG_2042.jpg", crate::record_photos::jpeg(640, 480)),
    )
    .await;
    assert_eq!(response.status(), 303, "the report is filed on the copy");
    let token = location(&response)
        .trim_start_matches("/track/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let new = copy.state.records.by_tracking_token(&token).await.unwrap();
    assert!(
        new.id.0 > highest_record,
        "{} after {highest_record}",
        new.id
    );
    let numbers: serde_json::Value = copy
        .json(&crate::helpers::client(), "/open311/v2/requests.json")
        .await;
    let numbers: Vec<&str> = numbers
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service_request_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers.iter().filter(|n| **n == new.number).count(),
        1,
        "{numbers:?}"
    );
    let page = copy
        .text(&lived.resident, &format!("/me/records/{}", new.id))
        .await;
    let photos = photo_links(&page);
    assert_eq!(photos.len(), 2);
    for photo in photos {
        let response = lived.resident.get(copy.url(&photo)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{photo}");
    }
}

#[tokio::test]
async fn a_copy_that_fails_halfway_leaves_the_target_empty() {
    let app = spawn_app_on(Backend::Sqlite, |_| {}).await;
    pavilion::demo::seed(&*app.state.store, &app.state.accounts)
        .await
        .unwrap();
    // A play of a screen that does not exist, as only a damaged file has.
    let mut source = SqliteConnection::connect_with(
        &SqliteConnectOptions::from_str(&app.database_url)
            .unwrap()
            .foreign_keys(false),
    )
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO notice_plays (screen_id, notice_id, started_at, ended_at)
         VALUES (999, 1, '2026-12-01T08:00:00.000000Z', '2026-12-01T08:00:15.000000Z')",
    )
    .execute(&mut source)
    .await
    .unwrap();
    let target = empty_database().await;

    let output = db_copy(&app.database_url, &target).await;
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("nothing was copied") && error.contains("notice_plays"),
        "{error}"
    );
    for (table, rows) in pg_contents(&target).await {
        assert!(rows.is_empty(), "{table} kept {} rows", rows.len());
    }
    let mut target_db = postgres(&target).await;
    let next: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('accounts', 'id'))")
        .fetch_one(&mut target_db)
        .await
        .unwrap();
    assert_eq!(next, 1, "sequences are where they were");
}

#[tokio::test]
async fn a_source_behind_on_migrations_or_a_bad_url_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.sqlite").display());
    let store = pavilion::store::SqliteStore::open(&url).await.unwrap();
    drop(store);
    let mut source = sqlite(&url).await;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&mut source)
    .await
    .unwrap();
    let target = empty_database().await;

    let behind = db_copy(&url, &target).await;
    assert!(!behind.status.success());
    assert!(
        stderr(&behind).contains("not up to date"),
        "{}",
        stderr(&behind)
    );

    let missing = format!("sqlite://{}", dir.path().join("nowhere.sqlite").display());
    let output = db_copy(&missing, &target).await;
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("there is no SQLite database at"),
        "{}",
        stderr(&output)
    );
    assert!(
        !dir.path().join("nowhere.sqlite").exists(),
        "a missing source is not created"
    );

    let stranger = dir.path().join("stranger.sqlite");
    std::fs::write(&stranger, b"").unwrap();
    let output = db_copy(&format!("sqlite://{}", stranger.display()), &target).await;
    assert!(
        stderr(&output).contains("not a Pavilion database"),
        "{}",
        stderr(&output)
    );

    drop(source);
    let fresh = format!("sqlite://{}", dir.path().join("fresh.sqlite").display());
    drop(pavilion::store::SqliteStore::open(&fresh).await.unwrap());

    let output = db_copy(&fresh, "mysql://db/pavilion").await;
    assert!(
        stderr(&output).contains("--to must be a PostgreSQL database URL"),
        "{}",
        stderr(&output)
    );
    let output = db_copy(&target, &target).await;
    assert!(
        stderr(&output).contains("--from must be a SQLite database URL"),
        "{}",
        stderr(&output)
    );
    let output = db_copy(&fresh, "postgres://pavilion:hunter2@127.0.0.1:1/pavilion").await;
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains("connecting to postgres://pavilion@127.0.0.1:1/pavilion"),
        "{error}"
    );
    assert!(
        !error.contains("hunter2"),
        "the password is not shown: {error}"
    );

    let nowhere = cluster().url("no_such_database");
    let output = db_copy(&fresh, &nowhere).await;
    assert!(!output.status.success());
    let error = stderr(&output);
    assert!(
        error.contains(&format!("connecting to {nowhere}")) && error.contains("does not exist"),
        "{error}"
    );

    // Each was refused before the target was touched: it has no schema yet.
    assert!(pg_contents(&target).await.is_empty());
}
