//! Several nodes, one broadcast: two Pavilion servers in this process share
//! one database (a SQLite file, or on the PostgreSQL pass a database on the
//! scratch cluster) and one media directory, the way nodes of a district
//! share PostgreSQL and an NFS mount (which node holds a broadcast's encoder
//! is a row of the database, so this is a faithful model of two nodes for
//! the live path). A real encoder (the ffmpeg CLI) publishes over RTMP.
//!
//! "Killing" a node here stops its HTTP server and halts its live work
//! without a word to the database — the closest a test process comes to
//! `kill -9`; the multi-process harness does the real thing.

use std::time::{Duration, Instant};

use actix_web::dev::ServerHandle;
use pavilion::domain::broadcast::{Broadcast, BroadcastState, Renditions, ReplayState};
use pavilion::domain::Role;
use pavilion::settings::Settings;
use pavilion::startup::Application;

use crate::helpers::*;
use crate::live::decode;
use crate::publisher::*;

struct Node {
    app: TestApp,
    handle: ServerHandle,
}

/// A node named `name` on the database and media directory under `dir`.
async fn start_node(dir: &std::path::Path, name: &str, tweak: impl Fn(&mut Settings)) -> Node {
    let mut settings = test_settings(dir);
    settings.node.name = name.to_owned();
    settings.live.stall_seconds = 2;
    tweak(&mut settings);
    let database_url = settings.database.url.clone();
    let app = Application::build(settings).await.expect("a node starts");
    let port = app.port();
    let state = app.state();
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    Node {
        app: TestApp {
            address: format!("http://127.0.0.1:{port}"),
            rtmp_port: state.rtmp_port,
            data_dir: dir.to_owned(),
            state,
            database_url,
            // The shared directory belongs to the test; this one is unused.
            _dir: tempfile::tempdir().unwrap(),
            // So does the shared database (see `Shared`).
            _database: None,
        },
        handle,
    }
}

/// What the nodes of a test share and outlive: the media directory, and
/// the database (a SQLite file in it, or with `PAVILION_TEST_DATABASE=postgres`
/// a database on the scratch cluster).
struct Shared {
    dir: tempfile::TempDir,
    database: Option<ScratchDatabase>,
}

impl Shared {
    async fn new() -> Self {
        let database = match backend() {
            Backend::Postgres => Some(ScratchDatabase::new().await),
            Backend::Sqlite => None,
        };
        Self {
            dir: tempfile::tempdir().unwrap(),
            database,
        }
    }

    fn settle(&self, settings: &mut Settings) {
        if let Some(database) = &self.database {
            settings.database.url = database.url.clone();
        }
    }
}

/// Nodes "a" and "b", a community and its secretary.
async fn two_nodes(grace_seconds: u64) -> (Shared, Node, Node, Place, pavilion::domain::Account) {
    let shared = Shared::new().await;
    let tweak = |s: &mut Settings| {
        s.live.grace_seconds = grace_seconds;
        shared.settle(s);
    };
    let a = start_node(shared.dir.path(), "a", tweak).await;
    let b = start_node(shared.dir.path(), "b", tweak).await;
    let place = a.app.seed_place().await;
    let secretary = a.app.create_account(Role::Secretary, Some(&place)).await;
    (shared, a, b, place, secretary)
}

impl Node {
    /// Stops the node as abruptly as this process can: its HTTP server
    /// without finishing requests, its RTMP ingest and heartbeats.
    async fn kill(self) {
        self.app.state.live.halt();
        self.handle.stop(false).await;
    }
}

/// What a low-latency player needs from a live media playlist.
struct Live {
    text: String,
    /// `_HLS_msn` and `_HLS_part` of the next part.
    next: (u64, usize),
    hint: String,
}

impl Live {
    fn parse(text: &str) -> Self {
        let mut sequence = None;
        let mut complete = 0;
        let mut open_parts = 0;
        let mut hint = None;
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = Some(n.parse::<u64>().unwrap());
            } else if line.starts_with("#EXTINF:") {
                complete += 1;
                open_parts = 0;
            } else if line.starts_with("#EXT-X-PART:") {
                open_parts += 1;
            } else if let Some(rest) = line.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"") {
                hint = Some(rest.trim_end_matches('"').to_owned());
            }
        }
        let sequence = sequence.unwrap_or_else(|| panic!("no media sequence:\n{text}"));
        Self {
            text: text.to_owned(),
            next: (sequence + complete, open_parts),
            hint: hint.unwrap_or_else(|| panic!("no preload hint:\n{text}")),
        }
    }

    fn lists(&self, uri: &str) -> bool {
        self.text.contains(&format!("URI=\"{uri}\""))
    }
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    client().get(app.url(path)).send().await.unwrap()
}

/// The live playlist once it has `segments` segments and parts after them.
async fn live_edge(app: &TestApp, broadcast: &Broadcast, segments: usize) -> Live {
    app.wait_for_segments(broadcast.id, segments).await;
    let path = format!("/live/{}/source/index.m3u8", broadcast.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = get(app, &path).await;
        assert_eq!(response.status(), 200);
        let live = Live::parse(&response.text().await.unwrap());
        if live.next.1 > 0 {
            return live;
        }
        assert!(Instant::now() < deadline, "no parts:\n{}", live.text);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_viewer_on_one_node_watches_with_low_latency_a_broadcast_ingested_on_another() {
    let (_dir, a, b, place, secretary) = two_nodes(30).await;
    let broadcast = a
        .app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _encoder = Publisher::start(&a.app.ingest_url(&broadcast.stream_key));
    live_edge(&a.app, &broadcast, 1).await;
    assert!(b.app.state.live.hub().channel(broadcast.id).is_none());

    // Followed through node b the way hls.js follows a stream: a blocking
    // reload for the next part and the hinted part, at the same time.
    let base = format!("/live/{}/source", broadcast.id);
    let mut playlist = live_edge(&b.app, &broadcast, 1).await;
    assert!(playlist.text.contains("CAN-BLOCK-RELOAD=YES"));
    for _ in 0..10 {
        let (msn, part) = playlist.next;
        let reload = format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        let hinted = format!("{base}/{}", playlist.hint);
        let asked = Instant::now();
        let (reload, hinted) = tokio::join!(get(&b.app, &reload), get(&b.app, &hinted));
        // Held on the ingest node until the part exists: about one part long.
        assert!(
            asked.elapsed() < Duration::from_secs(2),
            "{:?}",
            asked.elapsed()
        );
        assert_eq!(reload.status(), 200);
        assert_eq!(
            reload.headers()["content-type"],
            "application/vnd.apple.mpegurl"
        );
        let next = Live::parse(&reload.text().await.unwrap());
        assert!(
            next.lists(&playlist.hint),
            "{} not in\n{}",
            playlist.hint,
            next.text
        );
        assert_eq!(hinted.status(), 200);
        let delivered = hinted.bytes().await.unwrap();
        // The same bytes the ingest node serves itself.
        let direct = get(&a.app, &format!("{base}/{}", playlist.hint)).await;
        assert_eq!(delivered, direct.bytes().await.unwrap());
        playlist = next;
    }
    let multivariant = get(&b.app, &format!("/live/{}/index.m3u8", broadcast.id)).await;
    assert_eq!(multivariant.status(), 200);
    assert!(multivariant
        .text()
        .await
        .unwrap()
        .contains("source/index.m3u8"));
    let (ok, said) = decode(&b.app.url(&format!("/live/{}/index.m3u8", broadcast.id)), 2).await;
    assert!(ok, "{said}");
    // A client claiming to be a relaying node gets "try again", never an
    // old playlist from disk that a cache would keep for every viewer.
    let (msn, part) = playlist.next;
    let forged = client()
        .get(b.app.url(&format!(
            "{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
        )))
        .header("x-pavilion-relayed", "node-z")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 503);
    assert_eq!(forged.headers()["cache-control"], "no-store");
    // Node b's watch pages see the broadcast live.
    let on_b = b.app.broadcast(broadcast.id).await;
    let status = b.app.state.live.hub().status(&on_b);
    assert_eq!(status.state, BroadcastState::Live);
    assert!(status.ready);
}

/// The recording's source playlist on the shared media directory.
fn recording(app: &TestApp, broadcast: &Broadcast) -> String {
    let path = app.data_dir.join(format!(
        "media/broadcasts/{}/source/index.m3u8",
        broadcast.id
    ));
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn when_the_ingest_node_dies_the_encoder_continues_the_same_broadcast_on_another() {
    let (_dir, a, b, place, secretary) = two_nodes(30).await;
    let broadcast = a
        .app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let key = broadcast.stream_key.clone();
    let encoder = Publisher::start(&a.app.ingest_url(&key));
    a.app.wait_for_segments(broadcast.id, 3).await;
    let holder = b.app.state.store.ingest_holder(broadcast.id).await.unwrap();
    assert_eq!(holder.unwrap().node, "a");
    a.kill().await;
    drop(encoder);
    let before = recording(&b.app, &broadcast).matches("#EXTINF").count();
    assert!(before >= 3, "{}", recording(&b.app, &broadcast));

    // The encoder reconnects; the load balancer sends it to node b.
    let _encoder = Publisher::start(&b.app.ingest_url(&key));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let holder = b.app.state.store.ingest_holder(broadcast.id).await.unwrap();
        if holder.is_some_and(|h| h.node == "b") {
            break;
        }
        assert!(Instant::now() < deadline, "node b did not take the encoder");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    b.app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(5), "live on b", |x| {
            x.state == BroadcastState::Live
        })
        .await;
    // The same broadcast goes on after a discontinuity, its media sequence
    // numbers after the last segment node a wrote.
    let deadline = Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let playlist = b.app.wait_for_segments(broadcast.id, 1).await;
        if playlist.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"")
            && playlist
                .split("#EXT-X-DISCONTINUITY\n")
                .nth(1)
                .unwrap()
                .contains("#EXTINF")
        {
            break playlist;
        }
        assert!(Instant::now() < deadline, "no new period:\n{playlist}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let resumed = format!("seg-{before}.m4s");
    assert!(playlist.contains(&resumed), "{resumed} not in\n{playlist}");
    assert!(!playlist.contains("#EXT-X-ENDLIST"));
    let (ok, said) = decode(
        &b.app
            .url(&format!("/live/{}/source/index.m3u8", broadcast.id)),
        2,
    )
    .await;
    assert!(ok, "{said}");
    b.app.wait_for_segments(broadcast.id, before + 3).await;

    // Ended: the replay plays what both nodes recorded.
    b.app
        .state
        .live
        .hub()
        .end(broadcast.id, &system())
        .await
        .unwrap();
    let ended = b
        .app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |x| {
            x.replay == ReplayState::Published
        })
        .await;
    let vod = b
        .app
        .text(
            &client(),
            &format!("/live/{}/source/index.m3u8", broadcast.id),
        )
        .await;
    assert!(vod.ends_with("#EXT-X-ENDLIST\n"), "{vod}");
    assert!(vod.contains("#EXT-X-DISCONTINUITY"), "{vod}");
    assert!(vod.contains("seg-0.m4s") && vod.contains(&resumed), "{vod}");
    let segments = vod.matches("#EXTINF").count();
    assert!(segments >= before + 3, "{segments} segments:\n{vod}");
    let millis = ended.replay_millis.expect("replay length");
    assert!(millis >= 2_000 * (before as i64 + 2), "{millis} ms");
    let (ok, said) = decode(
        &b.app.url(&format!("/live/{}/index.m3u8", broadcast.id)),
        60,
    )
    .await;
    assert!(ok, "{said}");
    assert_eq!(
        b.app.state.store.ingest_holder(broadcast.id).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn when_no_encoder_returns_after_the_ingest_node_dies_the_sweep_ends_the_broadcast() {
    // Longer than the few seconds after which a silent node counts as dead.
    let (_dir, a, b, place, secretary) = two_nodes(8).await;
    let broadcast = a
        .app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoder = Publisher::start(&a.app.ingest_url(&broadcast.stream_key));
    a.app.wait_for_segments(broadcast.id, 2).await;
    a.kill().await;
    drop(encoder);

    b.app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(15), "reconnecting", |x| {
            x.state == BroadcastState::Reconnecting
        })
        .await;
    let ended = b
        .app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(30), "a replay", |x| {
            x.replay == ReplayState::Published
        })
        .await;
    assert_eq!(ended.state, BroadcastState::Ended);
    let vod = b
        .app
        .text(
            &client(),
            &format!("/live/{}/source/index.m3u8", broadcast.id),
        )
        .await;
    assert!(
        vod.ends_with("#EXT-X-ENDLIST\n") && vod.matches("#EXTINF").count() >= 2,
        "{vod}"
    );
    let (ok, said) = decode(
        &b.app.url(&format!("/live/{}/index.m3u8", broadcast.id)),
        60,
    )
    .await;
    assert!(ok, "{said}");
}

#[tokio::test]
async fn staff_ending_a_broadcast_on_one_node_stops_the_encoder_on_another() {
    let (_dir, a, b, place, secretary) = two_nodes(30).await;
    let broadcast = a
        .app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoder = Publisher::start(&a.app.ingest_url(&broadcast.stream_key));
    a.app.wait_for_segments(broadcast.id, 2).await;
    b.app
        .state
        .live
        .hub()
        .end(broadcast.id, &system())
        .await
        .unwrap();
    // Node a learns it from the database and cuts the encoder off.
    let (_, said) = encoder.finish(Duration::from_secs(15)).await;
    let ended = a
        .app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |x| {
            x.replay == ReplayState::Published
        })
        .await;
    assert!(
        ended.replay_millis.unwrap_or(0) >= 4_000,
        "{ended:?} {said}"
    );
}
