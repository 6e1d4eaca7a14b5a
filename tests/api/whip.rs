//! Going live over WebRTC (WHIP, RFC 9725): a WHIP encoder not written by
//! us (aiortc, from PyPI) publishing with the stream key, the
//! console page's "从浏览器开播" in headless Chromium with a fake camera, and
//! the refusals a bad publisher gets. Viewers get the same LL-HLS either way.

use std::time::Duration;

use fantoccini::Locator;
use pavilion::domain::broadcast::{BroadcastState, Renditions, ReplayState};
use pavilion::domain::{BroadcastId, Role};
use reqwest::StatusCode;

use crate::browser::{browser_with, log_in};
use crate::helpers::*;
use crate::live::{decode, probe};

/// An offer as a browser makes it, with `video` as its video codec line,
/// whose only candidate is a port where nobody answers: ICE never completes.
fn offer(video: &str) -> String {
    let fingerprint = (0..32)
        .map(|i| format!("{:02X}", i * 7 % 256))
        .collect::<Vec<_>>()
        .join(":");
    let section = |kind: &str, mid: u8, pt: u32, codec: &str, extra: &str| {
        format!(
            "m={kind} 9 UDP/TLS/RTP/SAVPF {pt}\r\n\
             c=IN IP4 0.0.0.0\r\n\
             a=rtcp:9 IN IP4 0.0.0.0\r\n\
             a=candidate:1 1 udp 2113937151 127.0.0.1 9 typ host\r\n\
             a=ice-ufrag:wHiP\r\n\
             a=ice-pwd:whipwhipwhipwhipwhipwhip\r\n\
             a=fingerprint:sha-256 {fingerprint}\r\n\
             a=setup:actpass\r\n\
             a=mid:{mid}\r\n\
             a=sendonly\r\n\
             a=msid:stream track{mid}\r\n\
             a=rtcp-mux\r\n\
             a=rtpmap:{pt} {codec}\r\n\
             {extra}\
             a=ssrc:{ssrc} cname:whiptest\r\n",
            ssrc = 1000 + u32::from(mid)
        )
    };
    let mut sdp = String::from(
        "v=0\r\no=- 4611731400430051336 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
         a=group:BUNDLE 0 1\r\na=msid-semantic: WMS stream\r\n",
    );
    sdp += &section(
        "audio",
        0,
        111,
        "opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1\r\n",
    );
    let (pt, extra) = if video.starts_with("H264") {
        (
            102,
            "a=rtcp-fb:102 nack pli\r\na=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n",
        )
    } else {
        (96, "a=rtcp-fb:96 nack pli\r\n")
    };
    sdp += &section("video", 1, pt, video, extra);
    sdp
}

async fn post_offer(app: &TestApp, id: BroadcastId, key: &str, sdp: &str) -> reqwest::Response {
    client()
        .post(app.url(&format!("/live/{id}/whip")))
        .bearer_auth(key)
        .header("Content-Type", "application/sdp")
        .body(sdp.to_owned())
        .send()
        .await
        .unwrap()
}

/// The codecs of the streams at `url`, each named once.
async fn codecs_of(url: &str) -> Vec<String> {
    let listed = probe(url, "stream=codec_name").await;
    let names: std::collections::BTreeSet<&str> =
        listed.lines().filter(|l| !l.is_empty()).collect();
    names.into_iter().map(str::to_owned).collect()
}

async fn message(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.unwrap();
    body["message"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn bad_publishers_get_clear_refusals_and_a_silent_one_frees_the_broadcast() {
    let app = spawn_app_with(|s| s.live.grace_seconds = 5).await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let (id, key) = (broadcast.id, broadcast.stream_key.clone());
    let good = offer("H264/90000");

    let wrong = post_offer(&app, id, "not-the-key", &good).await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.headers()["www-authenticate"], "Bearer");
    let nobody = client()
        .post(app.url(&format!("/live/{id}/whip")))
        .header("Content-Type", "application/sdp")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(nobody.status(), StatusCode::UNAUTHORIZED);

    let not_sdp = client()
        .post(app.url(&format!("/live/{id}/whip")))
        .bearer_auth(&key)
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(not_sdp.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let garbage = post_offer(&app, id, &key, "v=0\r\nthis is not SDP\r\n\0\u{fffd}").await;
    assert_eq!(garbage.status(), StatusCode::BAD_REQUEST);
    let half = post_offer(&app, id, &key, &good[..good.len() / 2]).await;
    assert!(half.status().is_client_error(), "{}", half.status());

    let vp8 = post_offer(&app, id, &key, &offer("VP8/90000")).await;
    assert_eq!(vp8.status(), StatusCode::NOT_ACCEPTABLE);
    let said = message(vp8).await;
    assert!(
        said.contains("H.264") && said.contains("Opus") && said.contains("VP8"),
        "the refusal names what we take and what was offered: {said}"
    );

    // A publisher that never completes ICE holds the broadcast meanwhile...
    let first = post_offer(&app, id, &key, &good).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    assert_eq!(first.headers()["content-type"], "application/sdp");
    assert!(first.headers().contains_key("etag"));
    let session = location(&first);
    assert!(
        session.starts_with(&format!("/live/{id}/whip/")),
        "{session}"
    );
    let answer = first.text().await.unwrap();
    assert!(
        answer.starts_with("v=0") && answer.contains("H264"),
        "{answer}"
    );
    assert!(
        answer.contains("a=candidate:") && answer.contains("127.0.0.1"),
        "{answer}"
    );
    let second = post_offer(&app, id, &key, &good).await;
    assert_eq!(second.status(), StatusCode::CONFLICT);
    assert!(message(second).await.contains("已经有另一个推流端"));

    let patch = client()
        .patch(app.url(&session))
        .bearer_auth(&key)
        .header("Content-Type", "application/trickle-ice-sdpfrag")
        .body("a=end-of-candidates\r\n")
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(patch.headers()["allow"], "DELETE");
    let unknown = client()
        .delete(app.url(&format!("/live/{id}/whip/0123456789abcdef")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);

    // ...and is dropped after ~10 s: the broadcast is free again, and was
    // never on air.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let again = loop {
        let response = post_offer(&app, id, &key, &good).await;
        if response.status() != StatusCode::CONFLICT {
            break response;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent publisher was not dropped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(app.broadcast(id).await.state, BroadcastState::Scheduled);
    let ended_session = location(&again);
    let deleted = client()
        .delete(app.url(&ended_session))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    let gone = client()
        .delete(app.url(&ended_session))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);

    // A rotated key no longer publishes; an ended broadcast says so.
    let rotated = app
        .state
        .live
        .rotate_key(&secretary, id)
        .await
        .unwrap()
        .stream_key;
    assert_eq!(
        post_offer(&app, id, &key, &good).await.status(),
        StatusCode::UNAUTHORIZED
    );
    app.state.live.end(&secretary, id).await.unwrap();
    let ended = post_offer(&app, id, &rotated, &good).await;
    assert_eq!(ended.status(), StatusCode::FORBIDDEN);
    assert!(message(ended).await.contains("已经结束"));
}

/// aiortc (PyPI) publishing through `tests/whip_publish.py`: a test pattern
/// as H.264 and a tone as Opus, for `seconds`. Killed when dropped.
struct WhipClient {
    child: tokio::process::Child,
    said: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

impl WhipClient {
    fn start(url: &str, key: &str, seconds: u32) -> Self {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/whip_publish.py");
        let mut child = tokio::process::Command::new(python())
            .arg(script)
            .args([url, key, &seconds.to_string(), "--delete"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("the test Python runs");
        let stdout = child.stdout.take().unwrap();
        let said = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        Self { child, said }
    }

    /// Waits for the client to say `what` (within 30 s).
    async fn expect(&mut self, what: &str) {
        let line = tokio::time::timeout(Duration::from_secs(30), self.said.next_line())
            .await
            .unwrap_or_else(|_| panic!("aiortc did not say {what:?} within 30 s"))
            .unwrap()
            .unwrap_or_default();
        assert!(line.starts_with(what), "aiortc said {line:?}, not {what:?}");
    }

    /// Vanishes without a word (no DELETE), as a phone losing its network.
    async fn vanish(mut self) {
        let _ = self.child.kill().await;
    }
}

#[tokio::test]
async fn a_whip_encoder_publishes_with_the_stream_key_and_residents_get_decodable_hls() {
    let app = spawn_app_with(|s| {
        s.live.grace_seconds = 60;
        s.live.stall_seconds = 3;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let endpoint = app.url(&format!("/live/{}/whip", broadcast.id));

    let mut encoder = WhipClient::start(&endpoint, &broadcast.stream_key, 600);
    encoder.expect("connected").await;
    let playlist = app.wait_for_segments(broadcast.id, 2).await;
    assert!(
        playlist.contains("#EXT-X-PART"),
        "low-latency parts: {playlist}"
    );
    assert_eq!(
        app.broadcast(broadcast.id).await.state,
        BroadcastState::Live
    );
    let multivariant = app.url(&format!("/live/{}/index.m3u8", broadcast.id));
    let source = app.url(&format!("/live/{}/source/index.m3u8", broadcast.id));
    assert_eq!(
        codecs_of(&source).await,
        ["aac", "h264"],
        "H.264 passed through, Opus made AAC"
    );
    let (ok, said) = decode(&multivariant, 2).await;
    assert!(ok, "decoding the WHIP stream: {said}");

    // A second publisher is refused while this one is on air.
    let second = post_offer(
        &app,
        broadcast.id,
        &broadcast.stream_key,
        &offer("H264/90000"),
    )
    .await;
    assert_eq!(second.status(), StatusCode::CONFLICT);

    // The encoder vanishes (no DELETE): the broadcast waits for it, and a
    // new WHIP session continues the same broadcast.
    encoder.vanish().await;
    app.wait_for_broadcast(
        broadcast.id,
        Duration::from_secs(20),
        "the encoder gone",
        |b| b.state == BroadcastState::Reconnecting,
    )
    .await;
    let mut back = WhipClient::start(&endpoint, &broadcast.stream_key, 6);
    back.expect("connected").await;
    let resumed = app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(30), "live again", |b| {
            b.state == BroadcastState::Live
        })
        .await;
    assert!(resumed.ended_at.is_none());
    let before = app.wait_for_segments(broadcast.id, 2).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let now = client()
            .get(app.url(&format!("/live/{}/source/index.m3u8", broadcast.id)))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if now.contains("#EXT-X-DISCONTINUITY")
            && now.matches("#EXTINF").count() > before.matches("#EXTINF").count()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no new segments after the reconnect: {now}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Done: it ends its session with DELETE; the broadcast waits for the
    // grace period (or staff) to end.
    back.expect("deleted 200").await;
    app.wait_for_broadcast(
        broadcast.id,
        Duration::from_secs(20),
        "the publish ended",
        |b| b.state == BroadcastState::Reconnecting,
    )
    .await;
}

#[tokio::test]
async fn a_secretary_goes_live_from_the_console_page_with_her_camera() {
    let app = spawn_app_with(|s| {
        s.live.grace_seconds = 60;
        s.live.stall_seconds = 3;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let (_driver, page) = browser_with(&[
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
        "--allow-loopback-in-peer-connection",
    ])
    .await;
    log_in(&page, &app, "secretary", "/console").await;
    page.goto(&app.url(&format!("/console/broadcasts/{}", broadcast.id)))
        .await
        .unwrap();
    page.find(Locator::Css("[data-go-live] [data-start]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let on_air = page
        .wait()
        .at_most(Duration::from_secs(30))
        .for_element(Locator::Css(".go-live-state[data-state=on_air]"))
        .await;
    let state_text = page
        .find(Locator::Css(".go-live-state"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        on_air.is_ok(),
        "the page never said it was on air: {state_text}"
    );
    assert_eq!(state_text, "直播中");
    let preview_playing = page
        .execute(
            "const v = document.querySelector('[data-preview]'); return !v.hidden && v.srcObject !== null && v.muted;",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(preview_playing, serde_json::Value::Bool(true));

    app.wait_for_segments(broadcast.id, 2).await;
    let went_live = tokio::time::Instant::now();
    let live = app.broadcast(broadcast.id).await;
    assert_eq!(live.state, BroadcastState::Live);
    let multivariant = app.url(&format!("/live/{}/index.m3u8", broadcast.id));
    let source = app.url(&format!("/live/{}/source/index.m3u8", broadcast.id));
    assert_eq!(codecs_of(&source).await, ["aac", "h264"]);
    let (ok, said) = decode(&multivariant, 2).await;
    assert!(ok, "decoding the browser's stream: {said}");

    // Mute and camera switching work while on air.
    page.find(Locator::Css("[data-mute]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let muted = page
        .execute(
            "return document.querySelector('[data-preview]').srcObject.getAudioTracks().every(t => !t.enabled);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(muted, serde_json::Value::Bool(true));
    page.find(Locator::Css("[data-switch]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    app.wait_for_segments(broadcast.id, 4).await;

    // Ending from the page ends the broadcast, whose replay has it all.
    page.find(Locator::Css("[data-stop]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    page.accept_alert().await.unwrap();
    let on_air_for = went_live.elapsed();
    let ended = app
        .wait_for_broadcast(broadcast.id, Duration::from_secs(60), "the replay", |b| {
            b.replay == ReplayState::Published
        })
        .await;
    assert_eq!(ended.state, BroadcastState::Ended);
    let millis = ended.replay_millis.expect("the replay's length");
    assert!(
        millis as u128 >= on_air_for.as_millis(),
        "the replay ({millis} ms) has the whole broadcast ({} ms since the first segments)",
        on_air_for.as_millis()
    );
    page.wait()
        .for_url(
            url::Url::parse(&app.url(&format!("/console/broadcasts/{}?done=ended", broadcast.id)))
                .unwrap(),
        )
        .await
        .unwrap();
    page.close().await.unwrap();
}
