//! Strangers cannot wear the server down (issue 14): RTMP connections that
//! never publish, decompression-bomb pictures, forged proof of play, and
//! notice media fetched without a screen or a staff session.

use std::net::SocketAddr;
use std::time::Duration;

use chrono::Utc;
use pavilion::domain::broadcast::{BroadcastState, Renditions};
use pavilion::domain::notice::{NoticeCategory, NoticeDraft, Validity};
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::signage::Intent;
use pavilion::store::{PlayFilter, RecordFilter, ScreenSetup};
use reqwest::multipart::{Form, Part};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::helpers::*;
use crate::publisher::*;
use crate::signage::{pair_screen, pair_screen_as};

// ------------------------------------------------------------ shared

/// A building in a second community (和平社区), with nothing else.
async fn building_elsewhere(app: &TestApp) -> (Community, Building) {
    let store = &app.state.store;
    let community = store
        .create_community(
            &system(),
            &PlaceName::parse("和平社区").unwrap(),
            &CommunityCode::parse("HP").unwrap(),
        )
        .await
        .unwrap();
    let estate = store
        .create_estate(
            &system(),
            community.id,
            &PlaceName::parse("和平里").unwrap(),
        )
        .await
        .unwrap();
    let building = store
        .create_building(&system(), estate.id, &PlaceName::parse("1号楼").unwrap())
        .await
        .unwrap();
    (community, building)
}

/// A signed-in account of `role` in `community` (and `estate`), logged in.
async fn signed_in(
    app: &TestApp,
    role: Role,
    username: &str,
    community: Option<CommunityId>,
    estate: Option<EstateId>,
) -> reqwest::Client {
    let display_name = format!("{username}名");
    app.add_placed_staff(role, username, &display_name, community, estate)
        .await;
    app.login(username).await
}

/// The value of a counter in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> u64 {
    let text = client()
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    series_value(&text, &format!("pavilion_{name}"))
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
        .parse()
        .unwrap()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = std::io::Cursor::new(Vec::new());
    image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
    })
    .write_to(&mut bytes, image::ImageFormat::Png)
    .unwrap();
    bytes.into_inner()
}

fn notice(community: CommunityId, title: &str, body: &str, images: Vec<MediaId>) -> NoticeDraft {
    NoticeDraft::new(
        community,
        title,
        body,
        NoticeCategory::Announcement,
        false,
        Validity::new(Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        vec![],
        vec![],
        5,
        5,
        images,
        None,
    )
    .unwrap()
}

/// A client that keeps cookies, as a lobby screen's browser does.
fn screen_browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

// ------------------------------------------------------------ RTMP

/// A TCP connection to the RTMP port from another loopback address than the
/// encoder's (127.0.0.2), as a stranger elsewhere would open it.
async fn stranger_connection(app: &TestApp) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket
        .bind("127.0.0.2:0".parse::<SocketAddr>().unwrap())
        .unwrap();
    let mut stream = socket
        .connect(format!("127.0.0.1:{}", app.rtmp_port).parse().unwrap())
        .await
        .unwrap();
    // C0 of the RTMP handshake: the version byte, and nothing more yet.
    stream.write_all(&[3]).await.unwrap();
    stream
}

/// Whether the server closed the connection: a read ends or fails.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut byte = [0u8; 1];
    matches!(
        tokio::time::timeout(limit, stream.read(&mut byte)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

/// Sends a byte every 300 ms, far inside any per-read timeout, until the
/// server closes the connection; gives up (false) after `limit`.
async fn trickle_until_closed(mut stream: TcpStream, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if stream.write_all(&[0]).await.is_err() {
            return true;
        }
        if closed_within(&mut stream, Duration::from_millis(300)).await {
            return true;
        }
    }
    false
}

#[tokio::test]
async fn rtmp_connections_that_never_publish_are_capped_and_timed_out_while_an_encoder_goes_live() {
    let app = spawn_app_with(|s| {
        s.live.rtmp_max_pending = 8;
        s.live.rtmp_max_pending_per_address = 3;
        s.live.rtmp_setup_seconds = 5;
        s.live.stall_seconds = 2;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;

    // Three trickling connections take the stranger's places…
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(stranger_connection(&app).await);
    }
    // …so the next ones are closed at once, before they send a thing more.
    for _ in 0..2 {
        let mut extra = stranger_connection(&app).await;
        assert!(
            closed_within(&mut extra, Duration::from_secs(5)).await,
            "a connection beyond the cap is closed at once"
        );
    }
    let trickles: Vec<_> = held
        .into_iter()
        .map(|stream| tokio::spawn(trickle_until_closed(stream, Duration::from_secs(30))))
        .collect();

    // An encoder elsewhere still goes live meanwhile.
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(30), "going live", |b| {
        b.state == BroadcastState::Live
    })
    .await;

    // The trickling connections are closed once the setup time is over,
    // however steadily they send.
    for trickle in trickles {
        assert!(
            trickle.await.unwrap(),
            "a connection that never publishes is closed after the setup time"
        );
    }
    // Their places are free again; the encoder is still live.
    let mut again = stranger_connection(&app).await;
    assert!(!closed_within(&mut again, Duration::from_millis(500)).await);
    assert_eq!(
        app.broadcast(broadcast.id).await.state,
        BroadcastState::Live
    );
}

// ------------------------------------------------------------ notice media

#[tokio::test]
async fn notice_media_go_only_to_the_screens_given_them_and_to_their_staff() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let (elsewhere, far_building) = building_elsewhere(&app).await;
    let signage = app.state.signage.clone();
    let upload = |community: CommunityId, name: &'static str| {
        let signage = signage.clone();
        let admin = admin.clone();
        async move {
            signage
                .upload_image(&admin, community, name, "image/png", png(64, 48))
                .await
                .unwrap()
                .id
        }
    };
    let shown = upload(place.community.id, "shown.png").await;
    let in_body = upload(place.community.id, "in_body.png").await;
    let drafted = upload(place.community.id, "drafted.png").await;
    let withdrawn = upload(place.community.id, "withdrawn.png").await;
    let foreign = upload(elsewhere.id, "foreign.png").await;
    let publish = |draft: NoticeDraft, intent: Intent| {
        let signage = signage.clone();
        let admin = admin.clone();
        async move { signage.create_notice(&admin, &draft, intent).await.unwrap() }
    };
    publish(
        notice(place.community.id, "停水通知", "", vec![shown]),
        Intent::Publish,
    )
    .await;
    publish(
        notice(
            place.community.id,
            "停水范围",
            &format!("![范围](/kiosk/media/{in_body}/image)"),
            vec![],
        ),
        Intent::Publish,
    )
    .await;
    publish(
        notice(place.community.id, "草稿", "", vec![drafted]),
        Intent::Save,
    )
    .await;
    let gone = publish(
        notice(place.community.id, "已撤回", "", vec![withdrawn]),
        Intent::Publish,
    )
    .await;
    signage.withdraw_notice(&admin, gone.id).await.unwrap();
    publish(
        notice(elsewhere.id, "和平社区通知", "", vec![foreign]),
        Intent::Publish,
    )
    .await;

    // A screen here gets its cookie with its playlist, as the kiosk does.
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    let here = screen_browser();
    let playlist = here
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(playlist.status(), 200);
    // A screen of the other community.
    let far_token = pair_screen_as(
        &app,
        ScreenSetup {
            name: "和平里1号楼".into(),
            building_id: far_building.id,
            group_id: None,
            orientation: Orientation::Landscape,
        },
    )
    .await;
    let far = screen_browser();
    far.get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&far_token)
        .send()
        .await
        .unwrap();
    let anonymous = client();
    let get = |who: &reqwest::Client, media: MediaId| {
        let request = who.get(app.url(&format!("/kiosk/media/{media}/image")));
        async move { request.send().await.unwrap() }
    };

    // The screen gets the media of what it is given, privately cached.
    for media in [shown, in_body] {
        let response = get(&here, media).await;
        assert_eq!(response.status(), 200, "media {media} for its screen");
        let cache = response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            cache.starts_with("private") && !cache.contains("public"),
            "{cache}"
        );
    }
    // Nobody gets a draft's, a withdrawn notice's or another community's
    // media, and the answer does not say whether it exists.
    for media in [drafted, withdrawn, foreign] {
        assert_eq!(
            get(&here, media).await.status(),
            404,
            "media {media}, screen here"
        );
    }
    for media in [shown, in_body, drafted, withdrawn] {
        assert_eq!(
            get(&anonymous, media).await.status(),
            404,
            "media {media}, anonymous"
        );
        assert_eq!(
            get(&far, media).await.status(),
            404,
            "media {media}, the other screen"
        );
        let bearer = anonymous
            .get(app.url(&format!("/kiosk/media/{media}/image")))
            .bearer_auth(&far_token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            bearer.status(),
            404,
            "media {media}, the other screen's token"
        );
    }
    assert_eq!(
        get(&far, foreign).await.status(),
        200,
        "its own community's"
    );

    // Staff who write this community's notices see its whole library;
    // staff of the other community see none of it.
    let writer = signed_in(
        &app,
        Role::Secretary,
        "xf-secretary",
        Some(place.community.id),
        None,
    )
    .await;
    for media in [shown, drafted, withdrawn] {
        assert_eq!(
            get(&writer, media).await.status(),
            200,
            "media {media}, its staff"
        );
    }
    let stranger = signed_in(
        &app,
        Role::Secretary,
        "hp-secretary",
        Some(elsewhere.id),
        None,
    )
    .await;
    for media in [shown, drafted] {
        assert_eq!(
            get(&stranger, media).await.status(),
            404,
            "media {media}, other staff"
        );
    }

    // A revoked screen's cookie opens nothing any more.
    let screen = app
        .state
        .signage
        .authenticate(&token)
        .await
        .unwrap()
        .unwrap();
    app.state
        .signage
        .revoke_screen(&admin, screen.id)
        .await
        .unwrap();
    assert_eq!(get(&here, shown).await.status(), 404);
}

// ------------------------------------------------------------ proof of play

async fn post_plays(app: &TestApp, token: &str, plays: &serde_json::Value) -> (usize, usize) {
    let response = client()
        .post(app.url("/kiosk/api/plays"))
        .bearer_auth(token)
        .json(plays)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let count =
        |name: &str| -> usize { response.headers()[name].to_str().unwrap().parse().unwrap() };
    (
        count("x-pavilion-plays-stored"),
        count("x-pavilion-plays-dropped"),
    )
}

async fn stored_plays(app: &TestApp) -> Vec<pavilion::domain::screen::PlayRow> {
    app.state
        .store
        .plays(&PlayFilter {
            limit: 10_000,
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test]
async fn a_screen_token_records_only_plays_its_screen_can_have_made() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let admin = app.create_account(Role::Admin, None).await;
    let (elsewhere, _) = building_elsewhere(&app).await;
    let signage = &app.state.signage;
    let own = signage
        .create_notice(
            &admin,
            &notice(place.community.id, "停水通知", "", vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let draft = signage
        .create_notice(
            &admin,
            &notice(place.community.id, "草稿", "", vec![]),
            Intent::Save,
        )
        .await
        .unwrap();
    let foreign = signage
        .create_notice(
            &admin,
            &notice(elsewhere.id, "和平社区通知", "", vec![]),
            Intent::Publish,
        )
        .await
        .unwrap();
    let token = pair_screen(&app, &place, "3号楼大堂").await;
    let play = |notice: NoticeId, start: chrono::DateTime<Utc>| json!({"notice_id": notice, "started_at": start, "ended_at": start + chrono::Duration::seconds(5)});
    let now = Utc::now();
    let dropped_before = metric(&app, "kiosk_plays_dropped_total").await;

    // Another community's notice, a draft, the future, long ago.
    let forged = json!([
        play(foreign.id, now - chrono::Duration::minutes(5)),
        play(draft.id, now - chrono::Duration::minutes(5)),
        play(own.id, now + chrono::Duration::hours(1)),
        play(own.id, now - chrono::Duration::days(60)),
    ]);
    assert_eq!(post_plays(&app, &token, &forged).await, (0, 4));
    assert!(
        stored_plays(&app).await.is_empty(),
        "nothing forged is stored"
    );

    // Its own plays of the last minutes are stored.
    let start = now - chrono::Duration::minutes(10);
    let legit: Vec<_> = (0..3)
        .map(|i| play(own.id, start + chrono::Duration::seconds(15 * i)))
        .collect();
    assert_eq!(post_plays(&app, &token, &json!(legit)).await, (3, 0));

    // A flood: 200 plays starting within the same second as those, and 200
    // more packed 10 ms apart. A screen shows one notice at a time.
    let on_top: Vec<_> = (0..200)
        .map(|i| {
            play(
                own.id,
                start
                    + chrono::Duration::seconds(15 * (i % 3))
                    + chrono::Duration::milliseconds(1 + i * 4),
            )
        })
        .collect();
    assert_eq!(post_plays(&app, &token, &json!(on_top)).await, (0, 200));
    let packed_start = now - chrono::Duration::minutes(5);
    let packed: Vec<_> = (0..200)
        .map(|i| {
            play(
                own.id,
                packed_start + chrono::Duration::milliseconds(i * 10),
            )
        })
        .collect();
    let (stored, dropped) = post_plays(&app, &token, &json!(packed)).await;
    assert!(
        stored <= 2 && stored + dropped == 200,
        "{stored} stored of a 2 s flood"
    );

    assert_eq!(stored_plays(&app).await.len(), 3 + stored);
    assert!(stored_plays(&app)
        .await
        .iter()
        .all(|p| p.notice_id == own.id));
    assert_eq!(
        metric(&app, "kiosk_plays_dropped_total").await - dropped_before,
        (4 + 200 + dropped) as u64
    );

    // The same batch sent again (its answer was lost) is no flood.
    assert_eq!(post_plays(&app, &token, &json!(legit)).await, (0, 0));
}

// ------------------------------------------------------------ pictures

/// An 8000×5000 PNG of a few bytes: its header promises 40 Mpx (160 MB
/// decoded as RGBA), and it holds no picture data worth decoding.
fn decompression_bomb() -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let body = [&kind[..], data].concat();
        [
            &(data.len() as u32).to_be_bytes()[..],
            &body,
            &crc32(&body).to_be_bytes(),
        ]
        .concat()
    }
    let header = [
        &8000u32.to_be_bytes()[..],
        &5000u32.to_be_bytes(),
        &[8, 6, 0, 0, 0],
    ]
    .concat();
    [
        &b"\x89PNG\r\n\x1A\n"[..],
        &chunk(b"IHDR", &header),
        &chunk(b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]),
        &chunk(b"IEND", &[]),
    ]
    .concat()
}

/// Sends a multipart form as the pages do: the form token first, then the
/// fields, then one `photos` part per picture.
async fn send_photos(
    app: &TestApp,
    who: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    photos: Vec<(&'static str, Vec<u8>)>,
) -> reqwest::Response {
    let mut form = Form::new().text("csrf_token", app.form_token(who).await);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    for (name, bytes) in photos {
        form = form.part(
            "photos",
            Part::bytes(bytes)
                .file_name(name)
                .mime_str("image/png")
                .unwrap(),
        );
    }
    who.post(app.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

const REPORT: [(&str, &str); 4] = [
    ("category", "repairs"),
    ("title", "楼道灯坏了好几天"),
    ("description", "3号楼三楼的楼道灯不亮。"),
    ("location", "三楼"),
];

#[tokio::test]
async fn photos_are_decoded_only_for_senders_allowed_to_send_them() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Resident, Some(&place)).await;
    let resident = app.login("resident").await;
    let six = || {
        (0..6)
            .map(|_| ("photo.png", png(640, 480)))
            .collect::<Vec<_>>()
    };

    // A resident's record to act on, filed without photos.
    let filed = send_photos(&app, &resident, "/report", &REPORT, vec![]).await;
    assert_eq!(filed.status(), 303);
    let record = app
        .state
        .store
        .list_records(&RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    let decodes = metric(&app, "image_decodes_total").await;

    // A stranger: sent to log in before the body is read.
    let stranger = client();
    let response = send_photos(&app, &stranger, "/report", &REPORT, six()).await;
    assert_eq!(response.status(), 303);
    assert!(
        location(&response).starts_with("/login"),
        "{}",
        location(&response)
    );
    // Staff may not file reports as residents.
    let staff = signed_in(
        &app,
        Role::Staff,
        "xf-staff",
        Some(place.community.id),
        None,
    )
    .await;
    let response = send_photos(&app, &staff, "/report", &REPORT, six()).await;
    assert_eq!(response.status(), 403);
    // Staff of another community cannot see the record, let alone act on it.
    let (elsewhere, _) = building_elsewhere(&app).await;
    let foreign = signed_in(&app, Role::Staff, "hp-staff", Some(elsewhere.id), None).await;
    let act = format!("/console/records/{}/act", record.id);
    let version = record.version.to_string();
    let fields = [
        ("action", ""),
        ("note", "已到场"),
        ("version", version.as_str()),
    ];
    let response = send_photos(&app, &foreign, &act, &fields, six()).await;
    assert!(
        matches!(response.status().as_u16(), 403 | 404),
        "{}",
        response.status()
    );
    // An observer of the estate sees it, but may not act.
    let observer = signed_in(
        &app,
        Role::Observer,
        "observer",
        Some(place.community.id),
        Some(place.estate.id),
    )
    .await;
    let response = send_photos(&app, &observer, &act, &fields, six()).await;
    assert!(
        matches!(response.status().as_u16(), 403 | 404),
        "{}",
        response.status()
    );

    assert_eq!(
        metric(&app, "image_decodes_total").await,
        decodes,
        "no photo of a refused sender was decoded"
    );
    assert_eq!(
        app.state
            .store
            .record_photos(record.id)
            .await
            .unwrap()
            .len(),
        0
    );

    // A resident's 40 Mpx picture is refused from its header, with the
    // form as it was typed.
    let response = send_photos(
        &app,
        &resident,
        "/report",
        &REPORT,
        vec![("bomb.png", decompression_bomb())],
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = response.text().await.unwrap();
    assert!(
        page.contains("照片像素太多（超过 24 百万像素）"),
        "the reason is given"
    );
    assert!(page.contains("楼道灯坏了好几天"), "the typed title is kept");
    let records = app
        .state
        .store
        .list_records(&RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(records.len(), 1, "nothing more is filed");
    // Their real photos are taken.
    let response = send_photos(
        &app,
        &resident,
        "/report",
        &REPORT,
        vec![("photo.png", png(640, 480))],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(metric(&app, "image_decodes_total").await > decodes);
}
