//! A district as it runs in production: several `pavilion serve` processes
//! on one PostgreSQL database and one media directory, behind nginx for
//! HTTP and RTMP. Residents, moderators, the secretary's encoder (the ffmpeg
//! CLI) and LL-HLS viewers all go through nginx; nodes are killed with
//! SIGKILL mid-broadcast.

mod harness;

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

use pavilion::domain::broadcast::{Broadcast, BroadcastState, ReplayState};
use pavilion::domain::Role;
use serde_json::{json, Value};

use crate::helpers::*;
use crate::publisher::*;
use harness::District;

/// Which node answered, from the header every response carries.
fn answered_by(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-pavilion-node")
        .expect("every response names its node")
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn nginx_spreads_residents_over_the_nodes_and_a_killed_node_costs_them_nothing() {
    let mut district = District::start(3).await;
    let front = district.front();
    let place = front.seed_place().await;
    front.add_resident(&place, "laozhang", "3号楼老张").await;

    // Signed in through nginx once; the session holds on every node.
    let resident = front.browser_of("laozhang").await;
    let mut nodes = BTreeSet::new();
    for _ in 0..12 {
        let response = resident.http.get(front.url("/me")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", district.logs());
        nodes.insert(answered_by(&response));
    }
    assert!(nodes.len() >= 2, "nginx used only {nodes:?}");
    for index in 0..3 {
        let health = client()
            .get(district.node_url(index, "/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        assert_eq!(answered_by(&health), district.nodes[index].name);
    }

    // Every node sees the others listening (the seeder is a node too).
    for index in 0..3 {
        wait_for_district_nodes(&district, index, 4).await;
    }

    // One node dies without a word; nobody notices.
    district.kill_9(1);
    let dead = district.nodes[1].name.clone();
    // The survivors see it gone (and read whatever it may not have told them).
    wait_for_district_nodes(&district, 0, 3).await;
    for _ in 0..12 {
        let response = resident.http.get(front.url("/me")).send().await.unwrap();
        assert_eq!(response.status(), 200, "{}", district.logs());
        assert_ne!(answered_by(&response), dead);
    }
    // A new account made now is usable on the survivors at once.
    front.add_resident(&place, "laoli", "爱跑步的老李").await;
    let neighbour = front.browser_of("laoli").await;
    let page = neighbour.http.get(front.url("/me")).send().await.unwrap();
    assert_eq!(page.status(), 200);
}

/// Waits (up to 15 s) until node `index`'s `/metrics` counts `expected`
/// nodes listening on the district's database.
async fn wait_for_district_nodes(district: &District, index: usize, expected: i64) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let metrics = client()
            .get(district.node_url(index, "/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let seen = metrics
            .lines()
            .find(|l| l.starts_with("pavilion_district_nodes"))
            .and_then(|l| l.rsplit(' ').next()?.parse::<i64>().ok());
        if seen == Some(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "node {index} counts {seen:?} nodes, not {expected}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// What a low-latency player needs from a live media playlist.
struct Playlist {
    /// `_HLS_msn` and `_HLS_part` of the next part.
    next: (u64, usize),
    hint: String,
}

impl Playlist {
    fn parse(text: &str) -> Option<Self> {
        let mut sequence = None;
        let (mut complete, mut open_parts, mut hint) = (0, 0, None);
        for line in text.lines() {
            if let Some(n) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
                sequence = n.parse::<u64>().ok();
            } else if line.starts_with("#EXTINF:") {
                complete += 1;
                open_parts = 0;
            } else if line.starts_with("#EXT-X-PART:") {
                open_parts += 1;
            } else if let Some(rest) = line.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"") {
                hint = Some(rest.trim_end_matches('"').to_owned());
            }
        }
        Some(Self {
            next: (sequence? + complete, open_parts),
            hint: hint?,
        })
    }
}

/// Follows the live edge through nginx the way hls.js does, for `rounds`
/// parts: a blocking reload for the next part and the hinted part, together.
/// Returns the parts it fetched.
async fn watch_live_edge(front: &TestApp, broadcast: &Broadcast, rounds: usize) -> Vec<String> {
    let http = client();
    let base = format!("/live/{}/source", broadcast.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut playlist = loop {
        let text = front.text(&http, &format!("{base}/index.m3u8")).await;
        if let Some(playlist) = Playlist::parse(&text).filter(|p| p.next.1 > 0) {
            break playlist;
        }
        assert!(Instant::now() < deadline, "no parts:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut parts = Vec::new();
    for _ in 0..rounds {
        let (msn, part) = playlist.next;
        let reload = front.url(&format!(
            "{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
        ));
        let hinted = front.url(&format!("{base}/{}", playlist.hint));
        let (reload, hinted) = tokio::join!(http.get(&reload).send(), http.get(&hinted).send());
        let (reload, hinted) = (reload.unwrap(), hinted.unwrap());
        for response in [&reload, &hinted] {
            assert_eq!(
                response.status(),
                200,
                "{} from {:?}",
                response.url(),
                response.headers().get("x-pavilion-node")
            );
        }
        assert!(!hinted.bytes().await.unwrap().is_empty());
        parts.push(playlist.hint.clone());
        let text = reload.text().await.unwrap();
        playlist = Playlist::parse(&text).unwrap_or_else(|| panic!("not live:\n{text}"));
    }
    parts
}

fn question(client_id: &str, text: &str) -> Value {
    json!({ "type": "post", "client_id": client_id, "kind": "question", "text": text, "anonymous": false })
}

#[tokio::test]
async fn a_broadcast_through_nginx_goes_on_when_its_ingest_node_is_killed() {
    let mut district = District::start(2).await;
    let front = district.front();
    let place = front.seed_place().await;
    let secretary = front.create_account(Role::Secretary, Some(&place)).await;
    let broadcast = front
        .schedule_broadcast(&place, &secretary, Default::default())
        .await;
    front.add_resident(&place, "laozhang", "3号楼老张").await;
    front
        .add_staff(Role::Moderator, "shenhe", Some(place.community.id))
        .await;
    let asker = front.browser_of("laozhang").await;
    let moderator = front.browser_of("shenhe").await;

    // The secretary's encoder publishes through nginx to whichever node.
    let encoder = Publisher::start(&district.ingest_url(&broadcast.stream_key));
    front.wait_for_segments(broadcast.id, 2).await;
    let holder = front
        .state
        .store
        .ingest_holder(broadcast.id)
        .await
        .unwrap()
        .expect("a node holds the encoder");
    let holder = district.index_of(&holder.node);
    let other = 1 - holder;

    // Many viewers through nginx: the origin sends each part once.
    let viewers: Vec<_> = (0..8)
        .map(|_| watch_live_edge(&front, &broadcast, 6))
        .collect();
    let watched: Vec<String> = futures_util::future::join_all(viewers)
        .await
        .into_iter()
        .flatten()
        .collect();
    let mut requests: HashMap<&str, usize> = HashMap::new();
    for part in &watched {
        *requests.entry(part).or_default() += 1;
    }
    for (part, asked) in &requests {
        let origin = district.nginx.upstream_requests(part);
        assert!(
            origin == 1,
            "{part}: {asked} viewer requests, {origin} at the origin"
        );
    }

    // A resident on the ingest node asks; a viewer on the other node sees
    // the question once a moderator (wherever nginx sends her) approves it.
    let mut asking = district
        .node(holder)
        .live_socket(broadcast.id, Some(&asker), None)
        .await;
    let mut watching = district
        .node(other)
        .live_socket(broadcast.id, None, None)
        .await;
    asking.expect("snapshot").await;
    watching.expect("snapshot").await;
    asking.send(question("q-1", "电梯什么时候修好？")).await;
    let ack = asking
        .expect_where("ack", |f| f["client_id"] == "q-1")
        .await;
    let before = ack["comment"]["id"].as_i64().expect("the ack names it");
    let approve = |id: i64| {
        let id = id.to_string();
        let path = format!("/console/broadcasts/{}/moderate", broadcast.id);
        let front = &front;
        let moderator = &moderator;
        async move {
            let form = [("comment", id.as_str()), ("action", "approve")];
            front
                .post_form(&moderator.http, &path, &form)
                .await
                .status()
        }
    };
    assert_eq!(approve(before).await, 303);
    let shown = watching
        .expect_where("event", |f| f["event"]["kind"] == "comment")
        .await;
    assert_eq!(shown["event"]["comment"]["id"], before);

    // The ingest node dies mid-sentence. The encoder reconnects through
    // nginx, which sends it to the survivor.
    district.kill_9(holder);
    drop(encoder);
    let survivor = district.node(other);
    let _encoder = Publisher::start(&district.ingest_url(&broadcast.stream_key));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = front.state.store.ingest_holder(broadcast.id).await.unwrap();
        if now.is_some_and(|h| h.node == district.nodes[other].name) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the survivor did not take the encoder:\n{}",
            district.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let resumed = survivor
        .wait_for_broadcast(broadcast.id, Duration::from_secs(10), "live again", |b| {
            b.state == BroadcastState::Live
        })
        .await;
    assert_eq!(resumed.id, broadcast.id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let playlist = front.wait_for_segments(broadcast.id, 1).await;
        let after_gap = playlist.split("#EXT-X-DISCONTINUITY\n").nth(1);
        if after_gap.is_some_and(|rest| rest.contains("#EXTINF")) {
            break;
        }
        assert!(Instant::now() < deadline, "no new period:\n{playlist}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // The question asked before the crash is still there, and the chat
    // goes on: a new question through nginx reaches the viewer.
    let mut late = front.live_socket(broadcast.id, Some(&asker), None).await;
    let snapshot = late.expect("snapshot").await;
    assert!(
        snapshot["comments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["id"] == before),
        "{snapshot}"
    );
    late.send(question("q-2", "停车位什么时候重新划线？")).await;
    let ack = late.expect_where("ack", |f| f["client_id"] == "q-2").await;
    let after = ack["comment"]["id"].as_i64().unwrap();
    assert_eq!(approve(after).await, 303);
    let shown = watching
        .expect_where("event", |f| f["event"]["kind"] == "comment")
        .await;
    assert_eq!(shown["event"]["comment"]["id"], after);

    // The secretary ends it through nginx; the replay holds both periods.
    let secretary_browser = front.browser_of(&secretary.username).await;
    let ended = front
        .post_form(
            &secretary_browser.http,
            &format!("/console/broadcasts/{}/end", broadcast.id),
            &[],
        )
        .await;
    assert_eq!(ended.status(), 303);
    let ended = front
        .wait_for_broadcast(broadcast.id, Duration::from_secs(60), "a replay", |b| {
            b.replay == ReplayState::Published
        })
        .await;
    assert_eq!(ended.state, BroadcastState::Ended);
    let vod = front
        .text(
            &client(),
            &format!("/live/{}/source/index.m3u8", broadcast.id),
        )
        .await;
    assert!(vod.ends_with("#EXT-X-ENDLIST\n"), "{vod}");
    assert!(vod.contains("#EXT-X-DISCONTINUITY"), "{vod}");
    assert!(vod.contains("seg-0.m4s"), "{vod}");
}

/// A lobby screen's push stream (`/kiosk/api/events`) on `base`, read
/// until it has announced its first playlist version.
async fn screen_stream(
    base: &str,
    token: &str,
) -> impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin {
    let response = reqwest::Client::new()
        .get(format!("{base}/kiosk/api/events"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut events = response.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: playlist") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), events.next())
            .await
            .expect("the stream starts")
            .expect("the stream stays open")
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    events
}

/// Waits up to `limit` for the next `event: playlist` on a screen's stream.
async fn next_playlist_event(
    events: &mut (impl futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    limit: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Ok(Some(Ok(chunk))) if String::from_utf8_lossy(&chunk).contains("event: playlist") => {
                return true
            }
            Ok(Some(Ok(_))) => continue,
            _ => return false,
        }
    }
}

async fn screen_playlist(base: &str, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{base}/kiosk/api/playlist"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_emergency_reaches_screens_on_every_node_and_survives_a_killed_node() {
    let mut district = District::start(2).await;
    let front = district.front();
    let place = front.seed_place().await;
    front.create_account(Role::Admin, None).await;
    front.create_account(Role::Staff, None).await;
    let lobby = crate::signage::pair_screen(&front, &place, "3号楼大堂").await;
    let hall = crate::signage::pair_screen(&front, &place, "3号楼侧厅").await;
    let (node_a, node_b) = (district.node(0).address, district.node(1).address);
    let mut on_a = screen_stream(&node_a, &lobby).await;
    let mut on_b = screen_stream(&node_b, &hall).await;

    // Staff publish an emergency through nginx, onto whichever node.
    let staff = front.login("staff").await;
    let form = [
        ("title", "燃气泄漏，请勿使用明火"),
        ("body", "请立即开窗通风。"),
        ("category", "outage"),
        ("starts_at", "2020-01-01T00:00"),
        ("ends_at", ""),
        ("display_seconds", "15"),
        ("priority", "5"),
        ("video", ""),
        ("intent", "publish"),
        ("community", &place.community.id.to_string()),
        ("emergency", "on"),
    ];
    let published = front.post_form(&staff, "/console/notices", &form).await;
    assert_eq!(published.status(), 303, "{}", district.logs());
    let sent = Instant::now();
    let (a, b) = tokio::join!(
        next_playlist_event(&mut on_a, Duration::from_secs(2)),
        next_playlist_event(&mut on_b, Duration::from_secs(2)),
    );
    assert!(a && b, "pushed to node a: {a}, node b: {b}");
    assert!(sent.elapsed() < Duration::from_secs(2));
    for (base, token) in [(&node_a, &lobby), (&node_b, &hall)] {
        let playlist = screen_playlist(base, token).await;
        assert_eq!(playlist["items"][0]["emergency"], true, "{playlist}");
    }

    // Node a dies; its screen's stream breaks and it comes back through
    // nginx to the survivor, which serves the emergency and takes its
    // heartbeat.
    district.kill_9(0);
    drop(on_a);
    let front_url = front.address.clone();
    let mut again = screen_stream(&front_url, &lobby).await;
    let playlist = screen_playlist(&front_url, &lobby).await;
    assert_eq!(playlist["items"][0]["emergency"], true, "{playlist}");
    let heartbeat = reqwest::Client::new()
        .post(front.url("/kiosk/api/heartbeat"))
        .bearer_auth(&lobby)
        .json(&json!({ "client_version": "test", "uptime_seconds": 5 }))
        .send()
        .await
        .unwrap();
    assert!(heartbeat.status().is_success(), "{}", heartbeat.status());
    // Withdrawn through nginx: both screens are told at once.
    let notice = location(&published);
    let notice = notice.split('?').next().unwrap();
    let withdrawn = front
        .post_form(&staff, &format!("{notice}/withdraw"), &[])
        .await;
    assert_eq!(withdrawn.status(), 303);
    let (a, b) = tokio::join!(
        next_playlist_event(&mut again, Duration::from_secs(2)),
        next_playlist_event(&mut on_b, Duration::from_secs(2)),
    );
    assert!(a && b, "told through nginx: {a}, node b: {b}");
    let playlist = screen_playlist(&node_b, &hall).await;
    assert!(
        playlist["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|item| item["emergency"] != true),
        "{playlist}"
    );
}
