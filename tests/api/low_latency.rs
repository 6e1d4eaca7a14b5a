//! Low-Latency HLS end to end: a real encoder (the ffmpeg CLI) publishing over
//! RTMP, and the live playlists, blocking reloads and parts it produces read
//! back the way a low-latency player reads them, checked against the rules
//! of RFC 8216bis (draft-pantos-hls-rfc8216bis).

use std::process::Command;
use std::time::Duration;

use pavilion::domain::broadcast::{Broadcast, Renditions};
use pavilion::domain::Role;
use pavilion::live::channel::{Feed, Rendition};

use crate::helpers::*;
use crate::live::decode;
use crate::publisher::*;

/// A live media playlist as a low-latency player reads it. Parsing checks
/// the specification's rules and panics, with the playlist, on a violation.
#[derive(Debug)]
struct LivePlaylist {
    text: String,
    target: i64,
    part_target: i64,
    media_sequence: u64,
    segments: Vec<ListedSegment>,
    /// Parts of the segment being written (after the last complete one).
    open_parts: Vec<Part>,
    hint: String,
    /// (URI, LAST-MSN, LAST-PART)
    reports: Vec<(String, u64, u64)>,
}

#[derive(Debug)]
struct ListedSegment {
    sequence: u64,
    duration: i64,
    uri: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    duration: i64,
    uri: String,
    independent: bool,
}

/// Decimal seconds as milliseconds, exactly.
fn millis(value: &str) -> i64 {
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let fraction = format!("{fraction:0<3}");
    whole.parse::<i64>().unwrap() * 1000 + fraction[..3].parse::<i64>().unwrap()
}

fn attributes(line: &str) -> Vec<(&str, &str)> {
    let list = line.split_once(':').map_or("", |(_, list)| list);
    // No attribute value we write contains a comma.
    list.split(',')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k, v.trim_matches('"')))
        .collect()
}

fn attribute<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    attributes(line)
        .into_iter()
        .find_map(|(k, v)| (k == name).then_some(v))
}

impl LivePlaylist {
    fn parse(text: &str) -> Self {
        let fail = |why: &str| -> ! { panic!("{why}:\n{text}") };
        let mut lines = text.lines();
        if lines.next() != Some("#EXTM3U") {
            fail("not a playlist");
        }
        let (mut target, mut part_target, mut media_sequence) = (None, None, None);
        let (mut part_hold_back, mut hold_back, mut can_block) = (None, None, false);
        let mut segments = Vec::new();
        let mut parts: Vec<Part> = Vec::new();
        let mut hint = None;
        let mut reports = Vec::new();
        let mut duration = None;
        // Where in a segment's tags we are: 0 before its date, 1 after it.
        let mut dated = false;
        let mut media_started = false;
        for line in lines {
            let tag = line.split(':').next().unwrap_or(line);
            let header = matches!(
                tag,
                "#EXT-X-TARGETDURATION"
                    | "#EXT-X-SERVER-CONTROL"
                    | "#EXT-X-PART-INF"
                    | "#EXT-X-MEDIA-SEQUENCE"
                    | "#EXT-X-DISCONTINUITY-SEQUENCE"
            );
            if header && media_started {
                fail(&format!("{tag} after the first segment's tags"));
            }
            if hint.is_some() && tag != "#EXT-X-RENDITION-REPORT" {
                fail(&format!("{line} after the preload hint"));
            }
            match tag {
                "#EXT-X-VERSION"
                | "#EXT-X-INDEPENDENT-SEGMENTS"
                | "#EXT-X-DISCONTINUITY-SEQUENCE" => {}
                "#EXT-X-TARGETDURATION" => target = Some(millis(&line[22..])),
                "#EXT-X-MEDIA-SEQUENCE" => media_sequence = line[22..].parse().ok(),
                "#EXT-X-SERVER-CONTROL" => {
                    can_block = attribute(line, "CAN-BLOCK-RELOAD") == Some("YES");
                    part_hold_back = attribute(line, "PART-HOLD-BACK").map(millis);
                    hold_back = attribute(line, "HOLD-BACK").map(millis);
                }
                "#EXT-X-PART-INF" => part_target = attribute(line, "PART-TARGET").map(millis),
                "#EXT-X-DISCONTINUITY" | "#EXT-X-MAP" => {
                    media_started = true;
                    if dated || !parts.is_empty() || duration.is_some() {
                        fail(&format!(
                            "{tag} must come before a segment's date and parts"
                        ));
                    }
                }
                "#EXT-X-PROGRAM-DATE-TIME" => {
                    media_started = true;
                    if !parts.is_empty() || duration.is_some() {
                        fail("the date must come before the segment's first part");
                    }
                    chrono::DateTime::parse_from_rfc3339(&line[25..])
                        .unwrap_or_else(|_| fail("a malformed date"));
                    dated = true;
                }
                "#EXT-X-PART" => {
                    media_started = true;
                    if duration.is_some() {
                        fail("a part between EXTINF and its URI");
                    }
                    parts.push(Part {
                        duration: millis(
                            attribute(line, "DURATION").unwrap_or_else(|| fail("no DURATION")),
                        ),
                        uri: attribute(line, "URI")
                            .unwrap_or_else(|| fail("no URI"))
                            .to_owned(),
                        independent: attribute(line, "INDEPENDENT") == Some("YES"),
                    });
                }
                "#EXTINF" => {
                    media_started = true;
                    duration = Some(millis(line[8..].trim_end_matches(',')));
                }
                "#EXT-X-PRELOAD-HINT" => {
                    if attribute(line, "TYPE") != Some("PART") {
                        fail("a hint that is not a part");
                    }
                    hint = attribute(line, "URI").map(str::to_owned);
                }
                "#EXT-X-RENDITION-REPORT" => {
                    let number = |name| {
                        attribute(line, name)
                            .and_then(|v| v.parse().ok())
                            .unwrap_or_else(|| fail(&format!("no {name}")))
                    };
                    reports.push((
                        attribute(line, "URI")
                            .unwrap_or_else(|| fail("no URI"))
                            .to_owned(),
                        number("LAST-MSN"),
                        number("LAST-PART"),
                    ));
                }
                "#EXT-X-ENDLIST" => fail("a live playlist with an end"),
                _ if !line.starts_with('#') && !line.is_empty() => {
                    let duration = duration
                        .take()
                        .unwrap_or_else(|| fail("a URI without EXTINF"));
                    if !dated {
                        fail("a segment without its program date-time");
                    }
                    dated = false;
                    segments.push(ListedSegment {
                        sequence: 0,
                        duration,
                        uri: line.to_owned(),
                        parts: std::mem::take(&mut parts),
                    });
                }
                _ => fail(&format!("unexpected line {line}")),
            }
        }
        let target = target.unwrap_or_else(|| fail("no EXT-X-TARGETDURATION"));
        let part_target = part_target.unwrap_or_else(|| fail("no EXT-X-PART-INF"));
        let media_sequence = media_sequence.unwrap_or_else(|| fail("no EXT-X-MEDIA-SEQUENCE"));
        if !can_block {
            fail("no CAN-BLOCK-RELOAD=YES");
        }
        let part_hold_back = part_hold_back.unwrap_or_else(|| fail("no PART-HOLD-BACK"));
        if part_hold_back < 3 * part_target {
            fail("PART-HOLD-BACK under three part targets");
        }
        if hold_back.is_some_and(|h| h < 3 * target) {
            fail("HOLD-BACK under three target durations");
        }
        let hint = hint.unwrap_or_else(|| fail("no preload hint"));
        for (n, segment) in segments.iter_mut().enumerate() {
            segment.sequence = media_sequence + n as u64;
            if (segment.duration + 500) / 1000 * 1000 > target {
                fail("a segment longer than the target duration");
            }
            if segment.parts.is_empty() {
                continue;
            }
            let sum: i64 = segment.parts.iter().map(|p| p.duration).sum();
            if sum != segment.duration {
                fail(&format!("the parts of {} add up to {sum} ms", segment.uri));
            }
            if !segment.parts[0].independent {
                fail(&format!(
                    "{} does not start with an independent part",
                    segment.uri
                ));
            }
        }
        let all_parts = segments
            .iter()
            .flat_map(|s| {
                s.parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| (p, i + 1 == s.parts.len()))
            })
            .chain(parts.iter().map(|p| (p, false)));
        let mut uris = std::collections::HashSet::new();
        for (part, last_of_segment) in all_parts {
            if part.duration > part_target {
                fail(&format!("{} is longer than PART-TARGET", part.uri));
            }
            // Only independent and last parts may be shorter than 85 % of the target.
            if 100 * part.duration < 85 * part_target && !part.independent && !last_of_segment {
                fail(&format!("{} is shorter than 85 % of PART-TARGET", part.uri));
            }
            if !uris.insert(part.uri.clone()) {
                fail("a part listed twice");
            }
        }
        if uris.contains(&hint) {
            fail("the hinted part is listed already");
        }
        Self {
            text: text.to_owned(),
            target,
            part_target,
            media_sequence,
            segments,
            open_parts: parts,
            hint,
            reports,
        }
    }

    fn last_sequence(&self) -> u64 {
        self.media_sequence + self.segments.len() as u64 - 1
    }

    /// Where the next part will be: `_HLS_msn` and `_HLS_part` for it.
    fn next_position(&self) -> (u64, usize) {
        (self.last_sequence() + 1, self.open_parts.len())
    }

    /// The newest part: (segment, index, URI).
    fn last_part(&self) -> (u64, usize, &str) {
        match self.open_parts.last() {
            Some(part) => (
                self.last_sequence() + 1,
                self.open_parts.len() - 1,
                &part.uri,
            ),
            None => {
                let segment = self.segments.last().unwrap();
                let part = segment.parts.last().unwrap();
                (segment.sequence, segment.parts.len() - 1, &part.uri)
            }
        }
    }

    fn lists_part(&self, uri: &str) -> bool {
        self.segments
            .iter()
            .flat_map(|s| &s.parts)
            .chain(&self.open_parts)
            .any(|p| p.uri == uri)
    }
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    client().get(app.url(path)).send().await.unwrap()
}

async fn fetch_playlist(app: &TestApp, path: &str) -> LivePlaylist {
    let response = get(app, path).await;
    assert_eq!(response.status(), 200, "{path}");
    LivePlaylist::parse(&response.text().await.unwrap())
}

async fn bytes(app: &TestApp, path: &str) -> Vec<u8> {
    let response = get(app, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.bytes().await.unwrap().to_vec()
}

fn source(broadcast: &Broadcast) -> String {
    format!("/live/{}/source", broadcast.id)
}

fn feed(app: &TestApp, broadcast: &Broadcast, rendition: Rendition) -> std::sync::Arc<Feed> {
    app.state
        .live
        .hub()
        .channel(broadcast.id)
        .and_then(|c| c.existing_feed(rendition))
        .expect("the broadcast is on air")
}

/// Waits until the source playlist has `segments` complete segments and
/// the segment after them has begun.
async fn wait_for_live_edge(app: &TestApp, broadcast: &Broadcast, segments: usize) -> LivePlaylist {
    let path = format!("{}/index.m3u8", source(broadcast));
    app.wait_for_segments(broadcast.id, segments).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let playlist = fetch_playlist(app, &path).await;
        if playlist.segments.len() >= segments && !playlist.open_parts.is_empty() {
            return playlist;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no parts: {}",
            playlist.text
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn ll_app(
    tweak: impl FnOnce(&mut pavilion::settings::Settings),
) -> (TestApp, Place, pavilion::domain::Account) {
    let app = spawn_app_with(tweak).await;
    let place = app.seed_place().await;
    let secretary = app.create_account(Role::Secretary, Some(&place)).await;
    (app, place, secretary)
}

/// Whether the first video sample of `init` + `fragment` is a keyframe,
/// as ffprobe reads the fMP4 sample flags.
fn starts_with_keyframe(init: &[u8], fragment: &[u8]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("part.mp4");
    std::fs::write(&path, [init, fragment].concat()).unwrap();
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0"])
        .args(["-show_entries", "packet=flags", "-of", "csv=p=0"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let flags = String::from_utf8_lossy(&output.stdout);
    flags
        .lines()
        .next()
        .expect("a video sample")
        .starts_with('K')
}

#[tokio::test]
async fn live_playlists_follow_the_low_latency_rules_and_parts_make_up_their_segments() {
    let (app, place, secretary) = ll_app(|_| {}).await;
    let renditions = Renditions {
        low: false,
        audio_only: true,
    };
    let broadcast = app.schedule_broadcast(&place, &secretary, renditions).await;
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let playlist = wait_for_live_edge(&app, &broadcast, 3).await;
    assert_eq!(playlist.part_target, 333, "{}", playlist.text);
    assert_eq!(playlist.target, 2000);
    // The specification's example order of tags, from the top.
    let top: Vec<&str> = playlist.text.lines().take(5).collect();
    assert_eq!(top[..2], ["#EXTM3U", "#EXT-X-VERSION:7"]);
    assert!(top[3].starts_with("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="));
    assert!(top[4].starts_with("#EXT-X-PART-INF:PART-TARGET=0.333"));

    // The audio-only rendition is reported, at its newest part.
    let audio = fetch_playlist(&app, &format!("/live/{}/audio/index.m3u8", broadcast.id)).await;
    assert_eq!(playlist.reports.len(), 1, "{}", playlist.text);
    let (uri, msn, _) = &playlist.reports[0];
    assert_eq!(uri, "../audio/index.m3u8");
    assert!(msn.abs_diff(audio.last_part().0) <= 1);
    assert_eq!(audio.reports[0].0, "../source/index.m3u8");
    assert!(audio
        .segments
        .iter()
        .flat_map(|s| &s.parts)
        .all(|p| p.independent));

    // A segment listed with its parts: the parts, fetched one by one, are
    // the segment's bytes; the first starts with a keyframe, the next does not.
    let segment = playlist
        .segments
        .iter()
        .find(|s| !s.parts.is_empty())
        .unwrap_or_else(|| panic!("no segment with parts: {}", playlist.text));
    let base = source(&broadcast);
    let whole = bytes(&app, &format!("{base}/{}", segment.uri)).await;
    let mut joined = Vec::new();
    for part in &segment.parts {
        let response = get(&app, &format!("{base}/{}", part.uri)).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "video/iso.segment");
        joined.extend_from_slice(&response.bytes().await.unwrap());
    }
    assert!(
        joined == whole,
        "the parts of {} differ from it",
        segment.uri
    );
    let init = bytes(&app, &format!("{base}/init-0.mp4")).await;
    let first = bytes(&app, &format!("{base}/{}", segment.parts[0].uri)).await;
    let second = bytes(&app, &format!("{base}/{}", segment.parts[1].uri)).await;
    assert!(starts_with_keyframe(&init, &first));
    assert!(!segment.parts[1].independent && !starts_with_keyframe(&init, &second));

    // Players that know nothing of parts still play the same playlist.
    let (ok, said) = decode(&app.url(&format!("/live/{}/index.m3u8", broadcast.id)), 2).await;
    assert!(ok && said.is_empty(), "{said}");
}

#[tokio::test]
async fn a_blocking_reload_returns_once_the_awaited_part_exists_and_the_hint_is_delivered() {
    let (app, place, secretary) = ll_app(|_| {}).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let base = source(&broadcast);
    let mut playlist = wait_for_live_edge(&app, &broadcast, 1).await;
    // Follow the stream for a few seconds the way hls.js does: ask for the
    // part after the newest, and for the hinted part, at the same time.
    for _ in 0..12 {
        let (msn, part) = playlist.next_position();
        assert!(!playlist.lists_part(&playlist.hint));
        let reload = format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}");
        let hinted = format!("{base}/{}", playlist.hint);
        let (reload, hinted) = tokio::join!(get(&app, &reload), get(&app, &hinted));
        assert_eq!(reload.status(), 200);
        let next = LivePlaylist::parse(&reload.text().await.unwrap());
        // Held until the awaited part is there: the hinted one, as part
        // `part` of segment `msn` or, if that segment ended, as the first
        // part of the next one.
        assert!(
            next.lists_part(&playlist.hint),
            "{} not in\n{}",
            playlist.hint,
            next.text
        );
        let (last_msn, last_part, _) = next.last_part();
        assert!((last_msn, last_part) >= (msn, part) || (last_msn > msn && last_part == 0));
        assert_eq!(hinted.status(), 200);
        let delivered = hinted.bytes().await.unwrap();
        assert!(!delivered.is_empty());
        assert_eq!(
            delivered,
            bytes(&app, &format!("{base}/{}", playlist.hint)).await
        );
        playlist = next;
    }

    // A whole segment can be awaited too.
    let awaited = playlist.last_sequence() + 1;
    let next = fetch_playlist(&app, &format!("{base}/index.m3u8?_HLS_msn={awaited}")).await;
    assert!(next.last_sequence() >= awaited, "{}", next.text);
    // Something the playlist has already is answered at once, in full.
    let old = fetch_playlist(&app, &format!("{base}/index.m3u8?_HLS_msn=0&_HLS_part=0")).await;
    assert!(old.last_sequence() >= awaited);
    // Other query parameters are not directives.
    fetch_playlist(&app, &format!("{base}/index.m3u8?_HLS_skip=YES&v=2")).await;
}

#[tokio::test]
async fn requests_far_ahead_are_refused_at_once_and_unknown_parts_are_not_found() {
    let (app, place, secretary) = ll_app(|_| {}).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let base = source(&broadcast);
    let playlist = wait_for_live_edge(&app, &broadcast, 1).await;
    let (msn, part) = playlist.next_position();
    // A request that is held ends in 200 or, at worst, 503: a 400 is the
    // refusal the specification asks for, given without holding anything.
    for query in [
        format!("_HLS_msn={}", msn + 3),
        format!("_HLS_msn={}&_HLS_part=0", msn + 3),
        format!("_HLS_msn={msn}&_HLS_part={}", part + 20),
        "_HLS_part=1".to_owned(),
        "_HLS_msn=next".to_owned(),
        "_HLS_msn=1&_HLS_part=-1".to_owned(),
    ] {
        let response = get(&app, &format!("{base}/index.m3u8?{query}")).await;
        assert_eq!(response.status(), 400, "{query}");
        assert!(!response.text().await.unwrap().contains("<html"));
    }
    assert_eq!(feed(&app, &broadcast, Rendition::Source).waiting(), 0);
    // Only the hinted part is worth waiting for; one further ahead is unknown.
    let hinted: u64 = playlist.hint["part-".len()..playlist.hint.len() - 4]
        .parse()
        .unwrap();
    let response = get(&app, &format!("{base}/part-{}.m4s", hinted + 5)).await;
    assert_eq!(response.status(), 404);
    // Parts are never on disk: once out of memory they are gone.
    let response = get(&app, &format!("{base}/part-999999999.m4s")).await;
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn a_thousand_viewers_wait_on_one_part_and_viewers_who_leave_leave_nothing_behind() {
    // Four-second segments: requests may be held for twelve seconds, ample
    // time to line them all up while the encoder is frozen.
    let (app, place, secretary) = ll_app(|s| {
        s.live.segment_millis = 4000;
        s.live.stall_seconds = 60;
    })
    .await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let base = source(&broadcast);
    wait_for_live_edge(&app, &broadcast, 1).await;
    let source_feed = feed(&app, &broadcast, Rendition::Source);

    // Nothing new comes while the encoder is frozen.
    encoder.stall();
    let playlist = fetch_playlist(&app, &format!("{base}/index.m3u8")).await;
    let (msn, part) = playlist.next_position();
    let reload = app.url(&format!(
        "{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"
    ));
    let hinted = app.url(&format!("{base}/{}", playlist.hint));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let viewers: Vec<_> = (0..1000)
        .map(|n| {
            let (http, url) = (
                http.clone(),
                if n % 2 == 0 {
                    reload.clone()
                } else {
                    hinted.clone()
                },
            );
            tokio::spawn(async move {
                let response = http.get(url).send().await.unwrap();
                (response.status(), response.bytes().await.unwrap())
            })
        })
        .collect();
    wait_until(|| source_feed.waiting() == 1000, "a thousand held requests").await;

    // Some leave before the part comes: their requests end with them.
    let leaving: Vec<_> = (0..200)
        .map(|_| {
            let (http, url) = (http.clone(), reload.clone());
            tokio::spawn(async move { http.get(url).send().await })
        })
        .collect();
    wait_until(|| source_feed.waiting() == 1200, "two hundred more").await;
    for viewer in &leaving {
        viewer.abort();
    }
    wait_until(|| source_feed.waiting() == 1000, "the leavers gone").await;
    assert_eq!(
        source_feed.timed_out(),
        0,
        "released by the timeout, not the disconnect"
    );

    // One part wakes them all.
    encoder.resume();
    let mut playlists = 0;
    let mut part_bytes = None;
    for (n, viewer) in viewers.into_iter().enumerate() {
        let (status, body) = viewer.await.unwrap();
        assert_eq!(status, 200);
        if n % 2 == 0 {
            let next = LivePlaylist::parse(std::str::from_utf8(&body).unwrap());
            assert!(next.lists_part(&playlist.hint));
            playlists += 1;
        } else {
            assert_eq!(part_bytes.get_or_insert(body.clone()), &body);
        }
    }
    assert_eq!(playlists, 500);
    assert_eq!(source_feed.waiting(), 0);
    assert_eq!(source_feed.timed_out(), 0);
}

/// Polls `done` until it holds; panics after 60 s.
async fn wait_until(done: impl Fn() -> bool, what: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited in vain for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_ten_second_keyframe_interval_makes_long_segments_and_still_plays() {
    let (app, place, secretary) = ll_app(|_| {}).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let encoding = Encoding {
        gop: 250,
        ..Encoding::default()
    };
    let _encoder = Publisher::with(&app.ingest_url(&broadcast.stream_key), encoding);
    let playlist = wait_for_live_edge(&app, &broadcast, 1).await;
    assert_eq!(playlist.target, 10_000, "{}", playlist.text);
    // Only the keyframe at the start of each segment leads an independent part.
    let segment = &playlist.segments[0];
    assert!(segment.parts.len() > 25, "{}", playlist.text);
    assert!(segment.parts[1..].iter().all(|p| !p.independent));
    // Blocking reloads and hints work the same.
    let base = source(&broadcast);
    let (msn, part) = playlist.next_position();
    let next = fetch_playlist(
        &app,
        &format!("{base}/index.m3u8?_HLS_msn={msn}&_HLS_part={part}"),
    )
    .await;
    assert!(next.lists_part(&playlist.hint));
    let (ok, said) = decode(&app.url(&format!("/live/{}/index.m3u8", broadcast.id)), 2).await;
    assert!(ok && said.is_empty(), "{said}");
}

#[tokio::test]
async fn every_rendition_is_low_latency_and_reports_the_others() {
    let (app, place, secretary) = ll_app(|_| {}).await;
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
    wait_for_live_edge(&app, &broadcast, 1).await;
    let low = format!("/live/{}/480p/index.m3u8", broadcast.id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let playlist = loop {
        let response = get(&app, &low).await;
        if response.status() == 200 {
            let text = response.text().await.unwrap();
            if text.matches("#EXTINF").count() >= 1 && text.contains("#EXT-X-RENDITION-REPORT") {
                break LivePlaylist::parse(&text);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "no 480p parts");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let mut reported: Vec<&str> = playlist.reports.iter().map(|r| r.0.as_str()).collect();
    reported.sort();
    assert_eq!(reported, ["../audio/index.m3u8", "../source/index.m3u8"]);
    // A blocking reload of the transcoded rendition.
    let (msn, part) = playlist.next_position();
    let next = fetch_playlist(&app, &format!("{low}?_HLS_msn={msn}&_HLS_part={part}")).await;
    assert!(next.lists_part(&playlist.hint), "{}", next.text);
    let audio = format!("/live/{}/audio/index.m3u8", broadcast.id);
    let audio = fetch_playlist(&app, &audio).await;
    assert_eq!(audio.reports.len(), 2);
}

#[tokio::test]
async fn with_low_latency_off_live_playlists_are_ordinary_hls() {
    let (app, place, secretary) = ll_app(|s| s.live.low_latency = false).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let _encoder = Publisher::start(&app.ingest_url(&broadcast.stream_key));
    let text = app.wait_for_segments(broadcast.id, 2).await;
    for tag in ["SERVER-CONTROL", "PART", "PRELOAD-HINT", "RENDITION-REPORT"] {
        assert!(!text.contains(&format!("#EXT-X-{tag}")), "{text}");
    }
    // Directives are not offered, so not acted on: answered at once.
    let response = get(
        &app,
        &format!(
            "{}/index.m3u8?_HLS_msn=99999&_HLS_part=3",
            source(&broadcast)
        ),
    )
    .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn staff_see_the_delay_on_the_watch_page_and_residents_do_not() {
    let (app, place, secretary) = ll_app(|_| {}).await;
    let broadcast = app
        .schedule_broadcast(&place, &secretary, Renditions::default())
        .await;
    let page = format!("/live/{}", broadcast.id);
    let staff = app.login("secretary").await;
    let staff_page = app.text(&staff, &page).await;
    assert!(
        text_of(&staff_page, "[data-delay]").is_some(),
        "{staff_page}"
    );
    assert!(staff_page.contains("data-label-delay=\"延迟 %{n} 秒\""));
    assert!(text_of(&staff_page, "[data-jump-live]").as_deref() == Some("回到直播"));
    for visitor in [client(), {
        app.create_account(Role::Resident, Some(&place)).await;
        app.login("resident").await
    }] {
        let page = app.text(&visitor, &page).await;
        assert!(text_of(&page, "[data-delay]").is_none());
        assert!(text_of(&page, "[data-jump-live]").is_some());
    }
}
