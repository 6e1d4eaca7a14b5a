//! Live broadcasts end to end: a real encoder (the ffmpeg CLI) publishing
//! over RTMP, and the HLS it produces read back with ffprobe/ffmpeg.

use std::process::Command;
use std::time::Duration;

use pavilion::domain::broadcast::{BroadcastState, Renditions, ReplayState};
use pavilion::domain::Role;

use crate::helpers::*;
use crate::publisher::*;

/// Decodes `seconds` of the stream at `url` with ffmpeg, as a player would;
/// returns whether it succeeded and what it reported.
/// Asynchronous: the servers under test share this test's runtime (their
/// database connections among them) and must go on answering meanwhile.
pub async fn decode(url: &str, seconds: u32) -> (bool, String) {
    // `-fps_mode passthrough`: frames keep their own times. Without it ffmpeg
    // forces the nominal frame rate and reports two frames a millisecond
    // apart (an encoder's muxer clamping late video, as GStreamer's flvmux
    // does on a busy machine) as "non monotonically increasing dts"; times
    // that really repeat or go back are still reported.
    let output = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
            "-fps_mode",
            "passthrough",
            "-f",
            "null",
            "-",
        ])
        .output()
        .await
        .expect("ffmpeg runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// One value of one stream, as ffprobe reports it (asynchronous, as
/// `decode`).
pub async fn probe(url: &str, entries: &str) -> String {
    let output = tokio::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            entries,
            "-of",
            "csv=p=0",
            url,
        ])
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "ffprobe {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

async fn live_app(grace_seconds: u64) -> (TestApp, Place, pavilion::domain::Account) {
    let app = spawn_app_with(|s| {
        s.live.grace_seconds = grace_seconds;
        s.live.stall_seconds = 2;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    (app, place, secretary)
}

#[tokio::test]
async fn a_secretary_schedules_a_broadcast_and_only_the_owner_sees_its_key() {
    let (app, place, _) = live_app(60).await;
    let client = app.login("secretary").await;
    let response = app
        .post_form(
            &client,
            "/console/broadcasts",
            &[
                ("title", "书记讲垃圾分类"),
                ("description", "请大家提前提问"),
                ("starts_at", "2026-12-01T19:30"),
                ("community", &place.community.id.to_string()),
                (&format!("estate-{}", place.estate.id), "on"),
                ("rendition_audio", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let page_path = location(&response);
    let page = app.text(&client, &page_path).await;
    let id: i64 = page_path
        .trim_start_matches("/console/broadcasts/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let broadcast = app.broadcast(pavilion::domain::BroadcastId(id)).await;
    assert_eq!(broadcast.estates, [place.estate.id]);
    assert!(broadcast.renditions.audio_only && !broadcast.renditions.low);
    assert_eq!(
        broadcast.starts_at.to_rfc3339(),
        "2026-12-01T11:30:00+00:00",
        "read in the community's time zone"
    );
    let ingest = format!("rtmp://127.0.0.1:{}/live", app.rtmp_port);
    assert_eq!(
        text_of(&page, "[data-ingest-url]").as_deref(),
        Some(&*ingest)
    );
    assert_eq!(
        text_of(&page, "[data-stream-key]").as_deref(),
        Some(&*broadcast.stream_key)
    );

    // Property staff may look after the broadcast, but not read its key.
    app.create_account(Role::Staff, Some(&place)).await;
    let staff = app.login("staff").await;
    let staff_page = app.text(&staff, &page_path).await;
    assert!(!staff_page.contains(&broadcast.stream_key));

    // Rotating the key shows a new one; the old one is gone.
    let response = app
        .post_form(&client, &format!("/console/broadcasts/{id}/key"), &[])
        .await;
    assert_eq!(response.status(), 303);
    let rotated = app.broadcast(broadcast.id).await;
    assert_ne!(rotated.stream_key, broadcast.stream_key);
    assert_eq!(app.audit("broadcast.rotate_key").await.len(), 1);
}

#[tokio::test]
async fn an_encoder_goes_live_and_residents_get_decodable_hls() {
    let (app, place, secretary) = live_app(60).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let playlist = app.wait_for_segments(broadcast.id, 3).await;
    assert!(playlist.contains("#EXT-X-MAP:URI=\"init-0.mp4\""));
    assert!(playlist.contains("#EXT-X-PROGRAM-DATE-TIME:"));
    assert!(!playlist.contains("#EXT-X-ENDLIST"));
    let live = app.broadcast(broadcast.id).await;
    assert_eq!(live.state, BroadcastState::Live);
    assert!(live.went_live_at.is_some());

    let multivariant = app.url(&format!("/live/{}/index.m3u8", broadcast.id));
    let codecs = probe(&multivariant, "stream=codec_name").await;
    assert!(
        codecs.contains("h264") && codecs.contains("aac"),
        "{codecs}"
    );
    assert!(probe(&multivariant, "stream=width,height")
        .await
        .contains("640,360"));
    let (ok, said) = decode(&multivariant, 3).await;
    assert!(ok && said.is_empty(), "decoding the live stream: {said}");
}

#[tokio::test]
async fn wrong_keys_and_a_second_encoder_are_refused_at_the_rtmp_level() {
    let (app, place, secretary) = live_app(60).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;

    let (ok, said) = Publisher::start(&app.ingest_url("not-a-key"))
        .finish(Duration::from_secs(20))
        .await;
    assert!(!ok);
    assert!(said.contains("unknown or revoked stream key"), "{said}");

    let _first = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 1).await;
    let (ok, said) = Publisher::start(&app.ingest_url(&broadcast.stream_key))
        .finish(Duration::from_secs(20))
        .await;
    assert!(!ok);
    assert!(said.contains("already publishing"), "{said}");

    // A rotated key stops working at once.
    let old_key = broadcast.stream_key.clone();
    app.state
        .live
        .rotate_key(&secretary, broadcast.id)
        .await
        .unwrap();
    drop(_first);
    let (ok, said) = Publisher::start(&app.ingest_url(&old_key))
        .finish(Duration::from_secs(20))
        .await;
    assert!(!ok);
    assert!(said.contains("unknown or revoked"), "{said}");
}

#[tokio::test]
async fn an_encoder_that_comes_back_within_the_grace_period_continues_the_broadcast() {
    let (app, place, secretary) = live_app(30).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let url = app.ingest_url(&broadcast.stream_key);
    Publisher::start(&url)
        .kill_after(&app, broadcast.id, 2)
        .await;
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(20), "reconnecting", |b| {
        b.state == BroadcastState::Reconnecting
    })
    .await;

    let _again = Publisher::start(&url);
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(20), "live again", |b| {
        b.state == BroadcastState::Live
    })
    .await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let playlist = app.wait_for_segments(broadcast.id, 1).await;
        if playlist.contains("#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"") {
            break playlist;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new period: {playlist}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    // The viewer's playlist keeps counting: sequence numbers continue.
    assert!(!playlist.contains("#EXT-X-ENDLIST"));
    let (ok, said) = decode(
        &app.url(&format!("/live/{}/source/index.m3u8", broadcast.id)),
        2,
    )
    .await;
    assert!(ok, "{said}");
}

impl Publisher {
    /// Publishes until `segments` segments exist, then drops the connection.
    async fn kill_after(self, app: &TestApp, id: pavilion::domain::BroadcastId, segments: usize) {
        app.wait_for_segments(id, segments).await;
        self.kill();
    }
}

#[tokio::test]
async fn without_the_encoder_the_broadcast_ends_and_becomes_a_seekable_replay() {
    let (app, place, secretary) = live_app(1).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    Publisher::start(&app.ingest_url(&broadcast.stream_key))
        .kill_after(&app, broadcast.id, 3)
        .await;
    let ended = app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |b| {
            b.replay == ReplayState::Published
        })
        .await;
    assert_eq!(ended.state, BroadcastState::Ended);
    let millis = ended.replay_millis.expect("replay length");
    assert!(millis >= 6_000, "{millis}");

    let client = client();
    let vod = app
        .text(
            &client,
            &format!("/live/{}/source/index.m3u8", broadcast.id),
        )
        .await;
    assert!(vod.contains("#EXT-X-PLAYLIST-TYPE:VOD") && vod.ends_with("#EXT-X-ENDLIST\n"));
    let duration: f64 = probe(
        &app.url(&format!("/live/{}/index.m3u8", broadcast.id)),
        "format=duration",
    )
    .await
    .parse()
    .unwrap();
    assert!(
        (duration * 1000.0 - millis as f64).abs() < 1_000.0,
        "playlist {duration} s vs recorded {millis} ms"
    );

    let download = app.url(&format!("/live/{}/replay.mp4", broadcast.id));
    let response = client.get(&download).send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "video/mp4");
    let mp4_duration: f64 = probe(&download, "format=duration").await.parse().unwrap();
    assert!(
        (mp4_duration - duration).abs() < 1.0,
        "{mp4_duration} vs {duration}"
    );
    let poster = client
        .get(app.url(&format!("/live/{}/poster.jpg", broadcast.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(poster.status(), 200);
    assert!(poster.bytes().await.unwrap().starts_with(&[0xff, 0xd8]));
}

#[tokio::test]
async fn staff_can_hide_and_delete_a_replay() {
    let (app, place, secretary) = live_app(1).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    Publisher::start(&app.ingest_url(&broadcast.stream_key))
        .kill_after(&app, broadcast.id, 2)
        .await;
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |b| {
        b.replay == ReplayState::Published
    })
    .await;
    let playlist = format!("/live/{}/index.m3u8", broadcast.id);
    let visitor = client();
    assert_eq!(
        visitor
            .get(app.url(&playlist))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    app.create_account(Role::Staff, Some(&place)).await;
    let staff = app.login("staff").await;
    let path = format!("/console/broadcasts/{}/replay", broadcast.id);
    let hidden = app
        .post_form(&staff, &path, &[("action", "unpublish")])
        .await;
    assert_eq!(hidden.status(), 303);
    assert_eq!(
        visitor
            .get(app.url(&playlist))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        visitor
            .get(app.url(&format!("/live/{}/replay.mp4", broadcast.id)))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(
        staff.get(app.url(&playlist)).send().await.unwrap().status(),
        200
    );

    let deleted = app.post_form(&staff, &path, &[("action", "delete")]).await;
    assert_eq!(deleted.status(), 303);
    assert!(!app
        .data_dir
        .join(format!("media/broadcasts/{}", broadcast.id))
        .exists());
    assert_eq!(app.audit("replay.delete").await.len(), 1);
}

#[tokio::test]
async fn an_encoder_sending_mp3_is_refused_and_nothing_crashes() {
    let (app, place, secretary) = live_app(60).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoding = Encoding {
        audio_codec: "libmp3lame",
        ..Encoding::default()
    };
    let (ok, _) = Publisher::with(&app.ingest_url(&broadcast.stream_key), encoding)
        .finish(Duration::from_secs(30))
        .await;
    assert!(!ok, "the connection is closed on the encoder");
    // The server is still serving, and a correct encoder is taken.
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(20), "reconnecting", |b| {
        b.state != BroadcastState::Live
    })
    .await;
    let _good = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 1).await;
}

#[tokio::test]
async fn garbage_on_the_rtmp_port_is_dropped_and_a_stalled_encoder_times_out() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (app, place, secretary) = live_app(60).await;
    for garbage in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        &[3u8; 5000][..],
        &[0xff; 1537][..],
    ] {
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.rtmp_port))
            .await
            .unwrap();
        let _ = socket.write_all(garbage).await;
        let mut sink = Vec::new();
        let read =
            tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut sink)).await;
        assert!(
            read.is_ok(),
            "the server closes a connection that makes no sense"
        );
    }

    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 1).await;
    encoder.stall();
    app.wait_for_broadcast(
        broadcast.id,
        Duration::from_secs(15),
        "stall detected",
        |b| b.state == BroadcastState::Reconnecting,
    )
    .await;
}

#[tokio::test]
async fn two_communities_broadcast_at_the_same_time() {
    let (app, place, secretary) = live_app(60).await;
    let first = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let other = app
        .state
        .store
        .create_community(
            &system(),
            &pavilion::domain::PlaceName::parse("和谐社区").unwrap(),
            &pavilion::domain::CommunityCode::parse("HX").unwrap(),
        )
        .await
        .unwrap();
    let details = pavilion::domain::broadcast::BroadcastDetails::new(
        other.id,
        "和谐社区直播",
        "",
        chrono::Utc::now(),
        Vec::new(),
        Renditions::default(),
    )
    .unwrap();
    let second = app
        .state
        .store
        .create_broadcast(&system(), secretary.id, &details, "second-key")
        .await
        .unwrap();
    let _a = Publisher::start(&app.ingest_url(&first.stream_key));
    let _b = Publisher::start(&app.ingest_url("second-key"));
    app.wait_for_segments(first.id, 2).await;
    app.wait_for_segments(second.id, 2).await;
    assert_eq!(app.broadcast(first.id).await.state, BroadcastState::Live);
    assert_eq!(app.broadcast(second.id).await.state, BroadcastState::Live);
}

#[tokio::test]
async fn when_the_disk_fails_recording_stops_cleanly_and_viewers_keep_watching() {
    let (app, place, secretary) = live_app(1).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 2).await;
    // Make further writes fail, as a full disk would: the recording
    // directory's playlist becomes a directory.
    let dir = app
        .data_dir
        .join(format!("media/broadcasts/{}/source", broadcast.id));
    let recorded_before = std::fs::read_to_string(dir.join("index.m3u8")).unwrap();
    std::fs::remove_file(dir.join("index.m3u8")).unwrap();
    std::fs::create_dir(dir.join("index.m3u8")).unwrap();
    let failed = app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(20), "the alert", |b| {
            b.recording_error.is_some()
        })
        .await;
    assert!(failed.recording_error.unwrap().contains("recording"));
    assert_eq!(app.audit("broadcast.recording_failed").await.len(), 1);
    // Live viewers are served from memory regardless.
    let before = app.wait_for_segments(broadcast.id, 4).await;
    assert!(before.contains("seg-3.m4s"));
    let (ok, said) = decode(
        &app.url(&format!("/live/{}/source/index.m3u8", broadcast.id)),
        1,
    )
    .await;
    assert!(ok, "{said}");
    // Staff see it on the broadcast's page.
    app.create_account(Role::Staff, Some(&place)).await;
    let staff = app.login("staff").await;
    let page = app
        .text(&staff, &format!("/console/broadcasts/{}", broadcast.id))
        .await;
    assert!(page.contains("alert-error"), "{page}");

    // What was written before the failure stays a playable replay.
    std::fs::remove_dir(dir.join("index.m3u8")).unwrap();
    std::fs::write(dir.join("index.m3u8"), &recorded_before).unwrap();
    drop(encoder);
    app.wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |b| {
        b.replay == ReplayState::Published
    })
    .await;
    let replay = app
        .text(
            &client(),
            &format!("/live/{}/source/index.m3u8", broadcast.id),
        )
        .await;
    assert_eq!(
        replay.matches("#EXTINF").count(),
        recorded_before.matches("#EXTINF").count()
    );
    let (ok, said) = decode(&app.url(&format!("/live/{}/index.m3u8", broadcast.id)), 60).await;
    assert!(ok, "{said}");
}

#[tokio::test]
async fn weak_connections_get_a_480p_and_a_sound_only_rendition() {
    let (app, place, secretary) = live_app(60).await;
    let renditions = Renditions {
        low: true,
        audio_only: true,
    };
    let broadcast = app.schedule_broadcast(&place, &secretary, renditions).await;
    let encoding = Encoding {
        size: "1280x720",
        ..Encoding::default()
    };
    let _encoder = Publisher::with(&app.ingest_url(&broadcast.stream_key), encoding);
    app.wait_for_segments(broadcast.id, 2).await;
    let client = client();
    let low = format!("/live/{}/480p/index.m3u8", broadcast.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while app.text(&client, &low).await.matches("#EXTINF").count() < 2 {
        assert!(tokio::time::Instant::now() < deadline, "no 480p segments");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let multivariant = app
        .text(&client, &format!("/live/{}/index.m3u8", broadcast.id))
        .await;
    assert_eq!(
        multivariant.matches("#EXT-X-STREAM-INF").count(),
        3,
        "{multivariant}"
    );
    assert!(multivariant.contains("RESOLUTION=1280x720"));
    assert!(multivariant.contains("RESOLUTION=854x480\n480p/index.m3u8"));
    assert!(multivariant.contains("CODECS=\"mp4a.40.2\"\naudio/index.m3u8"));

    assert!(probe(&app.url(&low), "stream=width,height")
        .await
        .contains("854,480"));
    let (ok, said) = decode(&app.url(&low), 2).await;
    assert!(ok, "{said}");
    let audio = app.url(&format!("/live/{}/audio/index.m3u8", broadcast.id));
    let codecs = probe(&audio, "stream=codec_name").await;
    assert!(
        codecs.contains("aac") && !codecs.contains("h264"),
        "{codecs}"
    );
}

#[tokio::test]
async fn a_server_killed_mid_broadcast_keeps_what_it_recorded_as_a_replay() {
    let dir = tempfile::tempdir().unwrap();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (http, rtmp) = (free_port(), free_port());
    let start = |command: &str| {
        Command::new(env!("CARGO_BIN_EXE_pavilion"))
            .arg(command)
            .current_dir(dir.path())
            .env("PAVILION__SERVER__PORT", http.to_string())
            .env("PAVILION__LIVE__RTMP_PORT", rtmp.to_string())
            // Several servers on one machine: each its own WebRTC port.
            .env("PAVILION__LIVE__WEBRTC_UDP_PORT", "0")
            .env("PAVILION__LIVE__WEBRTC_IPS", "127.0.0.1")
            // The restarted server waits this long (from the killed one's
            // last heartbeat) for the encoder before it ends the broadcast.
            .env("PAVILION__LIVE__GRACE_SECONDS", "3")
            .env("PAVILION__AUTH__ARGON2_MEMORY_KIB", "256")
            .env("PAVILION__AUTH__ARGON2_ITERATIONS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map(Stopped)
            .unwrap()
    };
    // The demo publishes its own test pattern to broadcast 1.
    let mut server = start("demo");
    let client = client();
    let playlist = format!("http://127.0.0.1:{http}/live/1/source/index.m3u8");
    // Killed once three segments are recorded: viewers may have seen a
    // segment that was still on its way to the disk, and that one may go.
    let recorded = dir.path().join("data/media/broadcasts/1/source/index.m3u8");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let on_disk = tokio::fs::read_to_string(&recorded)
            .await
            .unwrap_or_default();
        if on_disk.matches("#EXTINF").count() >= 3 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the demo did not go live"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    server.0.kill().unwrap(); // SIGKILL: no chance to clean up
    server.0.wait().unwrap();

    let _server = start("serve");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let vod = loop {
        if let Ok(response) = client.get(&playlist).send().await {
            let text = response.text().await.unwrap_or_default();
            if text.contains("#EXT-X-ENDLIST") {
                break text;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no replay after restart"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert!(vod.matches("#EXTINF").count() >= 3, "{vod}");
    let (ok, said) = decode(&format!("http://127.0.0.1:{http}/live/1/index.m3u8"), 60).await;
    assert!(ok, "{said}");
}

/// A server process that is killed when the test ends, failed or not.
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn screens_and_apps_read_what_is_on_air_from_the_json_api() {
    let (app, place, secretary) = live_app(60).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let listed = app.json(&client(), "/api/v1/broadcasts").await;
    assert_eq!(listed[0]["state"], "scheduled");
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    app.wait_for_segments(broadcast.id, 1).await;
    let listed = app
        .json(
            &client(),
            &format!("/api/v1/broadcasts?community={}", place.community.id),
        )
        .await;
    assert_eq!(listed[0]["state"], "live");
    assert_eq!(
        listed[0]["watch_url"],
        format!("http://127.0.0.1:8080/live/{}", broadcast.id)
    );
    assert!(
        listed[0].get("stream_key").is_none(),
        "keys never leave the console"
    );
    let openapi = app.json(&client(), "/api/openapi.json").await;
    assert!(openapi["paths"]["/api/v1/broadcasts"].is_object());
}

#[tokio::test]
async fn encoders_that_connect_at_the_same_moment_all_go_live() {
    let (app, place, secretary) = live_app(60).await;
    let mut broadcasts = Vec::new();
    for n in 0..4 {
        let details = pavilion::domain::broadcast::BroadcastDetails::new(
            place.community.id,
            &format!("同时开播 {n}"),
            "",
            chrono::Utc::now(),
            Vec::new(),
            Renditions::default(),
        )
        .unwrap();
        let key = format!("together-{n}");
        let broadcast = app
            .state
            .store
            .create_broadcast(&system(), secretary.id, &details, &key)
            .await
            .unwrap();
        broadcasts.push((broadcast, key));
    }
    let encoding = || Encoding {
        size: "320x180",
        ..Encoding::default()
    };
    let _encoders: Vec<_> = broadcasts
        .iter()
        .map(|(_, key)| Publisher::with(&app.ingest_url(key), encoding()))
        .collect();
    for (broadcast, _) in &broadcasts {
        app.wait_for_broadcast(broadcast.id, Duration::from_secs(30), "live", |b| {
            b.state == BroadcastState::Live
        })
        .await;
    }
}
