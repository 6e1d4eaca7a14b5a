//! A publisher not built on FFmpeg: GStreamer's own RTMP client
//! (`rtmp2sink`, with x264enc and voaacenc behind flvmux) goes live, its
//! segments decode, and the broadcast waits for it once GStreamer stops.

use std::time::Duration;

use pavilion::domain::broadcast::{BroadcastState, Renditions};
use pavilion::domain::Role;

use crate::helpers::*;
use crate::live::decode;
use crate::publisher::*;

#[tokio::test]
async fn gstreamer_publishes_and_residents_get_decodable_hls() {
    let app = spawn_app_with(|s| {
        s.live.grace_seconds = 60;
        s.live.stall_seconds = 2;
    })
    .await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;

    let encoder = GstPublisher::start(&app.ingest_url(&broadcast.stream_key), 8);
    let playlist = app.wait_for_segments(broadcast.id, 2).await;
    assert!(playlist.contains("#EXT-X-MAP:URI="), "{playlist}");
    let live = app.broadcast(broadcast.id).await;
    assert_eq!(live.state, BroadcastState::Live);
    assert_eq!(live.ingest_problem, None);

    let multivariant = app.url(&format!("/live/{}/index.m3u8", broadcast.id));
    let master = client()
        .get(&multivariant)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        master.contains("avc1.") && master.contains("mp4a.40.2"),
        "both tracks are announced: {master}"
    );
    let (ok, said) = decode(&multivariant, 2).await;
    assert!(ok && said.is_empty(), "decoding GStreamer's stream: {said}");

    // The sources stop after 8 s; GStreamer ends the stream and exits.
    let (ok, said) = encoder.finish(Duration::from_secs(30)).await;
    assert!(ok, "GStreamer failed: {said}");
    let waiting = app
        .wait_for_broadcast(
            broadcast.id,
            Duration::from_secs(15),
            "the encoder gone",
            |b| b.state == BroadcastState::Reconnecting,
        )
        .await;
    assert!(
        waiting.ended_at.is_none(),
        "waits for the encoder to come back"
    );
    let source = app.url(&format!("/live/{}/source/index.m3u8", broadcast.id));
    let (ok, said) = decode(&source, 4).await;
    assert!(ok && said.is_empty(), "what was recorded decodes: {said}");
}
