//! Pictures and videos for notices, uploaded through the console's real
//! multipart form: checked before anything is stored, re-encoded or
//! transcoded, and served to the screens.

use std::process::Command;
use std::time::Duration;

use pavilion::domain::notice::{MediaKind, MediaState};
use pavilion::domain::*;
use pavilion::startup::Application;
use pavilion::store::NewMedia;
use reqwest::multipart::{Form, Part};

use crate::helpers::*;

async fn upload(
    app: &TestApp,
    client: &reqwest::Client,
    name: &str,
    content_type: &str,
    bytes: Vec<u8>,
    with_token: bool,
) -> reqwest::Response {
    let token = app.form_token(client).await;
    let mut form = Form::new();
    if with_token {
        form = form.text("csrf_token", token);
    }
    let form = form
        .text("return_to", "/console/notices/new")
        .text("community", "1")
        .part(
            "file",
            Part::bytes(bytes)
                .file_name(name.to_owned())
                .mime_str(content_type)
                .unwrap(),
        );
    client
        .post(app.url("/console/media"))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

async fn media_count(app: &TestApp) -> usize {
    app.state
        .store
        .list_media(CommunityId(1), 1000)
        .await
        .unwrap()
        .len()
}

pub(crate) fn png(width: u32, height: u32) -> Vec<u8> {
    let picture = image::RgbaImage::from_fn(width, height, |x, y| {
        image::Rgba([
            (x % 256) as u8,
            (y % 256) as u8,
            128,
            if x < 10 { 0 } else { 255 },
        ])
    });
    let mut bytes = std::io::Cursor::new(Vec::new());
    picture
        .write_to(&mut bytes, image::ImageFormat::Png)
        .unwrap();
    bytes.into_inner()
}

fn media_id(response: &reqwest::Response) -> i64 {
    let location = location(response);
    assert!(location.contains("done=uploaded"), "refused: {location}");
    location
        .split("media=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no media id in {location}"))
}

async fn setup() -> (TestApp, reqwest::Client) {
    let app = spawn_app().await;
    app.seed_place().await;
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    (app, staff)
}

#[tokio::test]
async fn a_picture_is_re_encoded_and_served_to_the_screens() {
    let (app, staff) = setup().await;
    let response = upload(
        &app,
        &staff,
        "公示表.png",
        "image/png",
        png(2400, 1200),
        true,
    )
    .await;
    assert_eq!(response.status(), 303);
    let id = media_id(&response);
    let media = app.state.store.media(MediaId(id)).await.unwrap();
    assert_eq!(media.state, MediaState::Ready);
    assert_eq!(
        (media.width, media.height),
        (Some(1920), Some(960)),
        "scaled to fit 1920"
    );
    assert_eq!(media.content_type, "image/png", "transparency keeps PNG");
    assert_eq!(media.original_name, "公示表.png");

    let served = staff
        .get(app.url(&format!("/kiosk/media/{id}/image")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.headers()["content-type"], "image/png");
    assert!(served.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let bytes = served.bytes().await.unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (1920, 960));

    // The notice form offers it, and the page says it was uploaded.
    let page = app.text(&staff, "/console/notices/new?done=uploaded").await;
    assert!(page.contains(&format!("image-{id}")));
    assert!(page.contains("已上传"));
    assert!(!app.audit("media.upload").await.is_empty());

    for missing in [
        "/kiosk/media/999/image",
        &format!("/kiosk/media/{id}/secret.txt"),
    ] {
        let response = reqwest::get(app.url(missing)).await.unwrap();
        assert_eq!(response.status(), 404, "{missing}");
    }
}

#[tokio::test]
async fn bad_pictures_are_refused_and_nothing_is_stored() {
    let (app, staff) = setup().await;
    let before = media_count(&app).await;
    let mut truncated = png(300, 300);
    truncated.truncate(truncated.len() / 2);
    let cases: Vec<(&str, &str, Vec<u8>)> = vec![
        (
            "photo.jpg",
            "image/jpeg",
            b"just some text, not a picture".to_vec(),
        ),
        ("broken.png", "image/png", truncated),
        ("notes.txt", "text/plain", b"hello".to_vec()),
        ("huge.jpg", "image/jpeg", vec![0xFF; 11 * 1024 * 1024]),
        ("empty.png", "image/png", Vec::new()),
    ];
    for (name, content_type, bytes) in cases {
        let response = upload(&app, &staff, name, content_type, bytes, true).await;
        let status = response.status().as_u16();
        let location = location(&response);
        if status == 303 {
            assert!(
                location.contains("refused=signage.upload."),
                "{name}: {location}"
            );
            let page = app.text(&staff, &location).await;
            let error = text_of(&page, "#form-error").unwrap_or_default();
            assert!(
                !error.trim().is_empty() && !error.contains("signage.upload"),
                "{name}: {error:?}"
            );
        } else {
            assert_eq!(status, 400, "{name}");
        }
    }
    assert_eq!(media_count(&app).await, before, "nothing stored half-way");

    // A forged upload (no form token) is refused before anything is read.
    let response = upload(&app, &staff, "a.png", "image/png", png(10, 10), false).await;
    assert_eq!(response.status(), 403);
    assert_eq!(media_count(&app).await, before);
}

/// A second of H.264/AAC MP4 that says where and when it was filmed.
pub(crate) fn phone_video(out: &std::path::Path) -> Vec<u8> {
    let video = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
            "-metadata",
            "location=+39.9042+116.4074/",
            "-metadata",
            "creation_time=2024-05-01T08:00:00Z",
        ],
        out,
    );
    assert_eq!(tag(out, "location"), "+39.9042+116.4074/");
    video
}

/// The value of a file-level metadata tag, as ffprobe reads it.
fn tag(path: &std::path::Path, name: &str) -> String {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg(format!("format_tags={name}"))
        .args(["-of", "default=nw=1:nk=1"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The files in a media item's directory, sorted.
fn files_of(app: &TestApp, id: i64) -> Vec<String> {
    let dir = app.state.signage.media_dir().join(id.to_string());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn ffmpeg(args: &[&str], out: &std::path::Path) -> Vec<u8> {
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y"])
        .args(args)
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

async fn wait_until_done(app: &TestApp, id: i64) -> pavilion::domain::notice::MediaFile {
    for _ in 0..600 {
        let media = app.state.store.media(MediaId(id)).await.unwrap();
        if media.state != MediaState::Processing {
            return media;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("video {id} still processing after a minute");
}

#[tokio::test]
async fn videos_the_screens_cannot_play_are_transcoded_in_the_background() {
    let (app, staff) = setup().await;
    let dir = tempfile::tempdir().unwrap();

    // Already H.264/AAC MP4, as a phone records it: copied without its
    // metadata, with a poster.
    let mp4 = phone_video(&dir.path().join("ok.mp4"));
    let response = upload(&app, &staff, "活动.mp4", "video/mp4", mp4.clone(), true).await;
    let id = media_id(&response);
    let media = wait_until_done(&app, id).await;
    assert_eq!(media.state, MediaState::Ready, "{:?}", media.error);
    // Staff who write notices see the media library's files.
    let served = staff
        .get(app.url(&format!("/kiosk/media/{id}/video.mp4")))
        .header("range", "bytes=0-99")
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 206);
    assert_eq!(served.headers()["content-type"], "video/mp4");
    let poster = staff
        .get(app.url(&format!("/kiosk/media/{id}/poster.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(poster.status(), 200);
    image::load_from_memory(&poster.bytes().await.unwrap()).expect("the poster is a picture");
    let path = dir.path().join("copied.mp4");
    let copied = staff
        .get(app.url(&format!("/kiosk/media/{id}/video.mp4")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    std::fs::write(&path, &copied).unwrap();
    assert_eq!(
        tag(&path, "location"),
        "",
        "the place it was filmed is not served"
    );
    assert!(pavilion::signage::media::probe_video(&path)
        .unwrap()
        .plays_on_lobby_boxes());
    assert_eq!(
        files_of(&app, id),
        ["poster.jpg", "video.mp4"],
        "the original is gone"
    );

    // VP8 in WebM: transcoded to H.264 MP4.
    let webm = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
            "-c:v",
            "libvpx",
            "-b:v",
            "300k",
        ],
        &dir.path().join("clip.webm"),
    );
    let response = upload(&app, &staff, "clip.webm", "video/webm", webm, true).await;
    let id = media_id(&response);
    let media = wait_until_done(&app, id).await;
    assert_eq!(media.state, MediaState::Ready, "{:?}", media.error);
    let served = staff
        .get(app.url(&format!("/kiosk/media/{id}/video.mp4")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let path = dir.path().join("served.mp4");
    std::fs::write(&path, &served).unwrap();
    let info = pavilion::signage::media::probe_video(&path).unwrap();
    assert_eq!(info.video_codec, "h264");
    assert!(info.plays_on_lobby_boxes(), "{info:?}");

    // A text file calling itself a video, and an MP4 cut off before its
    // index (written last, as cameras do): refused.
    let tail_indexed = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
        &dir.path().join("tail.mp4"),
    );
    let before = media_count(&app).await;
    for (name, bytes) in [
        ("movie.mp4", b"this is not a video at all".to_vec()),
        ("cut.mp4", tail_indexed[..tail_indexed.len() / 2].to_vec()),
    ] {
        let response = upload(&app, &staff, name, "video/mp4", bytes, true).await;
        let location = location(&response);
        assert!(
            location.contains("refused=signage.upload."),
            "{name}: {location}"
        );
    }
    assert_eq!(media_count(&app).await, before);
}

#[tokio::test]
async fn videos_a_stopped_server_left_processing_are_finished_from_their_original() {
    let app = spawn_app().await;
    app.seed_place().await;
    let staff = app.create_account(Role::Staff, None).await;
    let dir = tempfile::tempdir().unwrap();
    let playable = phone_video(&dir.path().join("phone.mp4"));
    let webm = ffmpeg(
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25",
            "-t",
            "1",
            "-c:v",
            "libvpx",
        ],
        &dir.path().join("clip.webm"),
    );
    // As upload_video leaves them: a row `processing`, and the original.
    let mut ids = Vec::new();
    for (name, original) in [("phone.mp4", playable), ("clip.webm", webm)] {
        let media = app
            .state
            .store
            .create_media(
                &system(),
                &NewMedia {
                    community_id: CommunityId(1),
                    kind: MediaKind::Video,
                    state: MediaState::Processing,
                    original_name: name.into(),
                    content_type: "video/mp4".into(),
                    size_bytes: original.len() as i64,
                    width: None,
                    height: None,
                    duration_millis: Some(1000),
                    uploaded_by: staff.id,
                },
            )
            .await
            .unwrap();
        let media_dir = app.state.signage.media_dir().join(media.id.to_string());
        std::fs::create_dir_all(&media_dir).unwrap();
        std::fs::write(media_dir.join("original"), original).unwrap();
        ids.push(media.id.0);
    }

    // The server starts again on the same store and files.
    let _restarted =
        Application::build_with_store(test_settings(&app.data_dir), app.state.store.clone())
            .await
            .unwrap();

    for id in ids {
        let media = wait_until_done(&app, id).await;
        assert_eq!(media.state, MediaState::Ready, "{:?}", media.error);
        assert_eq!(files_of(&app, id), ["poster.jpg", "video.mp4"]);
        let video = app
            .state
            .signage
            .media_dir()
            .join(id.to_string())
            .join("video.mp4");
        assert_eq!(tag(&video, "location"), "");
        let info = pavilion::signage::media::probe_video(&video).unwrap();
        assert!(info.plays_on_lobby_boxes(), "{info:?}");
    }
}
