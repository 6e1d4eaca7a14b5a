//! Writing notices in the console as staff do: pictures and videos attached
//! with the notice's own form (and what happens to them when the notice or a
//! file is refused), previews of unsaved edits, scripts refused with a clear
//! message, refused emergency publishing, failed videos, expired windows,
//! and where and when a notice is on the screens.

use std::time::Duration;

use fantoccini::{Client, Locator};
use pavilion::domain::notice::{MediaKind, MediaState, NoticeState};
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::startup::Application;
use pavilion::store::{MediaOutcome, NewMedia, NoticeFilter, ScreenSetup};
use reqwest::multipart::{Form, Part};
use scraper::{Html, Selector};
use serde_json::{json, Value};

use crate::browser::{browser, log_in};
use crate::helpers::*;
use crate::signage::pair_screen_as;
use crate::uploads::{phone_video, png};

/// A file chosen in one of the form's file inputs.
struct Chosen<'a> {
    field: &'a str,
    name: &'a str,
    content_type: &'a str,
    bytes: Vec<u8>,
}

/// Sends a notice form the way our pages do: multipart, the form token
/// first, then the typed fields, then the chosen files.
async fn post_notice_form(
    app: &TestApp,
    client: &reqwest::Client,
    path: &str,
    fields: &[(&str, &str)],
    files: Vec<Chosen<'_>>,
) -> reqwest::Response {
    let mut form = Form::new().text("csrf_token", app.form_token(client).await);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    for file in files {
        form = form.part(
            file.field.to_owned(),
            Part::bytes(file.bytes)
                .file_name(file.name.to_owned())
                .mime_str(file.content_type)
                .unwrap(),
        );
    }
    client
        .post(app.url(path))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

/// The fields of a notice form, valid from 2020 on with no end.
fn fields<'a>(title: &'a str, body: &'a str, intent: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("body", body),
        ("category", "announcement"),
        ("starts_at", "2020-01-01T00:00"),
        ("ends_at", ""),
        ("display_seconds", "15"),
        ("priority", "5"),
        ("video", ""),
        ("community", "1"),
        ("intent", intent),
    ]
}

fn picture<'a>(name: &'a str) -> Chosen<'a> {
    Chosen {
        field: "new_images",
        name,
        content_type: "image/png",
        bytes: png(64, 48),
    }
}

fn notice_id(response: &reqwest::Response) -> NoticeId {
    let location = location(response);
    NoticeId(
        location
            .trim_start_matches("/console/notices/")
            .split('?')
            .next()
            .unwrap()
            .parse()
            .unwrap_or_else(|_| panic!("not saved: {location:?}")),
    )
}

async fn notices(app: &TestApp) -> Vec<notice::Notice> {
    app.state
        .store
        .list_notices(&NoticeFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap()
}

async fn media(app: &TestApp) -> Vec<notice::MediaFile> {
    app.state
        .store
        .list_media(CommunityId(1), 1000)
        .await
        .unwrap()
}

/// The error shown above the form, and the form's state.
struct Page(Html);

impl Page {
    async fn of(response: reqwest::Response) -> Self {
        Self(Html::parse_document(&response.text().await.unwrap()))
    }

    fn error(&self) -> String {
        self.text("#form-error")
    }

    fn text(&self, css: &str) -> String {
        let selector = Selector::parse(css).unwrap();
        self.0
            .select(&selector)
            .next()
            .map(|e| e.text().collect())
            .unwrap_or_default()
    }

    fn value(&self, css: &str) -> Option<String> {
        let selector = Selector::parse(css).unwrap();
        self.0
            .select(&selector)
            .next()
            .and_then(|e| e.value().attr("value").map(str::to_owned))
    }

    fn has(&self, css: &str) -> bool {
        let selector = Selector::parse(css).unwrap();
        self.0.select(&selector).next().is_some()
    }
}

struct Setup {
    app: TestApp,
    place: Place,
    staff: reqwest::Client,
    secretary: reqwest::Client,
}

async fn setup() -> Setup {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Admin, None).await;
    app.create_account(Role::Staff, None).await;
    app.create_account(Role::Secretary, None).await;
    let staff = app.login("staff").await;
    let secretary = app.login("secretary").await;
    Setup {
        app,
        place,
        staff,
        secretary,
    }
}

fn screen(place: &Place, name: &str, group: Option<ScreenGroupId>) -> ScreenSetup {
    ScreenSetup {
        name: name.into(),
        building_id: place.building.id,
        group_id: group,
        orientation: Orientation::Landscape,
    }
}

async fn playlist_at(address: &str, token: &str) -> Value {
    let response = reqwest::Client::new()
        .get(format!("{address}/kiosk/api/playlist"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn titles(app: &TestApp, token: &str) -> Vec<String> {
    playlist_at(&app.address, token).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["title"].as_str().unwrap().to_owned())
        .collect()
}

// ------------------------------------------------------------ attaching files

#[tokio::test]
async fn pictures_and_a_video_chosen_in_the_notice_form_are_attached_when_it_is_saved() {
    let Setup { app, secretary, .. } = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let video = phone_video(&dir.path().join("clip.mp4"));
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("端午节活动", "欢迎参加包粽子活动。", "publish"),
        vec![
            picture("海报.png"),
            picture("场地.png"),
            Chosen {
                field: "new_video",
                name: "去年活动.mp4",
                content_type: "video/mp4",
                bytes: video,
            },
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let notice = app.state.store.notice(notice_id(&response)).await.unwrap();
    assert_eq!(notice.title, "端午节活动");
    assert_eq!(notice.state, NoticeState::Published);
    let stored = media(&app).await;
    let images: Vec<MediaId> = {
        let mut ids: Vec<MediaId> = stored
            .iter()
            .filter(|m| m.kind == MediaKind::Image)
            .map(|m| m.id)
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(images.len(), 2);
    assert_eq!(notice.images, images);
    let video = stored.iter().find(|m| m.kind == MediaKind::Video).unwrap();
    assert_eq!(video.original_name, "去年活动.mp4");
    assert_eq!(notice.video, Some(video.id));

    // The notice page ticks them in its edit form.
    let page = Html::parse_document(
        &app.text(&secretary, &format!("/console/notices/{}", notice.id))
            .await,
    );
    for id in &images {
        let css = format!("input[name='image-{id}'][checked]");
        assert!(
            page.select(&Selector::parse(&css).unwrap())
                .next()
                .is_some(),
            "{css}"
        );
    }
}

#[tokio::test]
async fn a_refused_notice_comes_back_as_typed_with_its_new_picture_already_ticked() {
    let Setup { app, staff, .. } = setup().await;
    let body = "| 项目 | 金额 |\n|---|---:|\n| 保洁 | 1,200 |";
    let mut typed = fields("x", body, "submit");
    typed.push(("dp2-d3", "on"));
    typed.push(("dp2-from", "08:00"));
    typed.push(("dp2-until", "10:00"));
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &typed,
        vec![picture("公示表.png")],
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(page.error().contains("标题"), "{}", page.error());
    assert!(
        page.error().contains("刚上传的文件已存入媒体库"),
        "{}",
        page.error()
    );
    assert!(notices(&app).await.is_empty(), "no notice stored");
    let stored = media(&app).await;
    assert_eq!(stored.len(), 1, "the picture is in the library");
    assert_eq!(stored[0].original_name, "公示表.png");
    assert!(page.has(&format!("input[name='image-{}'][checked]", stored[0].id)));
    assert_eq!(page.text("textarea#body"), body);
    assert_eq!(page.value("input#title").as_deref(), Some("x"));
    assert!(page.has("input[name='dp2-d3'][checked]"));
    assert_eq!(
        page.value("input[name='dp2-from']").as_deref(),
        Some("08:00")
    );

    // Corrected and sent again, with the ticked picture: saved with it.
    let image = format!("image-{}", stored[0].id);
    let mut corrected = fields("收支公示", body, "submit");
    corrected.push((&image, "on"));
    let response = post_notice_form(&app, &staff, "/console/notices", &corrected, Vec::new()).await;
    assert_eq!(response.status(), 303);
    let notice = app.state.store.notice(notice_id(&response)).await.unwrap();
    assert_eq!(notice.images, [stored[0].id]);
    assert_eq!(media(&app).await.len(), 1, "not uploaded twice");
}

#[tokio::test]
async fn a_refused_file_brings_the_form_back_filled_in_and_stores_nothing() {
    let Setup { app, staff, .. } = setup().await;
    let cases = [
        (
            Chosen {
                field: "new_images",
                name: "照片.jpg",
                content_type: "image/jpeg",
                bytes: b"just some text, not a picture".to_vec(),
            },
            "照片.jpg",
        ),
        (
            Chosen {
                field: "new_images",
                name: "大图.jpg",
                content_type: "image/jpeg",
                bytes: vec![0xFF; 11 * 1024 * 1024],
            },
            "10 MB",
        ),
        (
            Chosen {
                field: "new_video",
                name: "movie.mp4",
                content_type: "video/mp4",
                bytes: b"this is not a video at all".to_vec(),
            },
            "movie.mp4",
        ),
        (
            Chosen {
                field: "new_images",
                name: "notes.txt",
                content_type: "text/plain",
                bytes: b"hello".to_vec(),
            },
            "notes.txt",
        ),
    ];
    for (file, mentioned) in cases {
        let name = file.name.to_owned();
        let response = post_notice_form(
            &app,
            &staff,
            "/console/notices",
            &fields("电梯保养通知", "周三上午保养 **2 号梯**。", "submit"),
            vec![file, picture("好的.png")],
        )
        .await;
        assert_eq!(response.status(), 400, "{name}");
        let page = Page::of(response).await;
        let error = page.error();
        assert!(
            error.contains(mentioned) && error.contains("没有上传"),
            "{name}: {error:?}"
        );
        assert!(!error.contains("signage."), "{name}: {error:?}");
        assert_eq!(
            page.value("input#title").as_deref(),
            Some("电梯保养通知"),
            "{name}"
        );
        assert_eq!(page.text("textarea#body"), "周三上午保养 **2 号梯**。");
    }
    assert!(notices(&app).await.is_empty());
    assert!(media(&app).await.is_empty(), "nothing stored half-way");

    // A good picture before a refused one is kept in the library, ticked.
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &fields("电梯保养通知", "周三上午保养。", "submit"),
        vec![
            picture("好的.png"),
            Chosen {
                field: "new_images",
                name: "照片.jpg",
                content_type: "image/jpeg",
                bytes: b"just some text, not a picture".to_vec(),
            },
        ],
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(
        page.error().contains("照片.jpg") && page.error().contains("刚上传的文件已存入媒体库"),
        "{}",
        page.error()
    );
    let stored = media(&app).await;
    assert_eq!(stored.len(), 1);
    assert!(page.has(&format!("input[name='image-{}'][checked]", stored[0].id)));
    assert!(notices(&app).await.is_empty());
}

#[tokio::test]
async fn a_notice_form_without_its_form_token_is_refused_before_any_file_is_read() {
    let Setup { app, staff, .. } = setup().await;
    let mut form = Form::new();
    for (name, value) in fields("伪造的通知", "正文", "save") {
        form = form.text(name, value);
    }
    let form = form.part(
        "new_images",
        Part::bytes(png(20, 20))
            .file_name("a.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let response = staff
        .post(app.url("/console/notices"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    assert!(notices(&app).await.is_empty());
    assert!(media(&app).await.is_empty());
}

#[tokio::test]
async fn the_library_upload_still_works_and_ticks_its_file_in_the_form() {
    let Setup { app, staff, .. } = setup().await;
    let form = Form::new()
        .text("csrf_token", app.form_token(&staff).await)
        .text("return_to", "/console/notices/new")
        .text("community", "1")
        .part(
            "file",
            Part::bytes(png(40, 30))
                .file_name("门禁.png")
                .mime_str("image/png")
                .unwrap(),
        );
    let response = staff
        .post(app.url("/console/media"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let back = location(&response);
    let id = media(&app).await[0].id;
    assert!(back.ends_with(&format!("media={id}")), "{back}");
    let page = Html::parse_document(&app.text(&staff, &back).await);
    let ticked = Selector::parse(&format!("input[name='image-{id}'][checked]")).unwrap();
    assert!(page.select(&ticked).next().is_some());
    // The notice form itself is multipart, with the file inputs.
    let form = Selector::parse(
        "form[action='/console/notices'][enctype='multipart/form-data'] input[type=file][name=new_images]",
    )
    .unwrap();
    assert!(page.select(&form).next().is_some());
}

// ------------------------------------------------------------ preview

/// The kiosk documents of the two preview frames.
fn frames(page: &Page) -> Vec<String> {
    let selector = Selector::parse(".preview-screen iframe").unwrap();
    page.0
        .select(&selector)
        .map(|f| f.value().attr("srcdoc").unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn an_unsaved_edit_is_previewed_without_taking_the_notice_off_the_screens() {
    let Setup {
        app,
        place,
        staff,
        secretary,
    } = setup().await;
    let token = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("停水通知", "周六停水。", "publish"),
        Vec::new(),
    )
    .await;
    let id = notice_id(&response);
    let before = app.state.store.notice(id).await.unwrap();
    assert_eq!(titles(&app, &token).await, ["停水通知"]);

    let revision = before.revision.to_string();
    let mut edit = fields(
        "停水通知（改期）",
        "| 时间 | 范围 |\n|---|---|\n| 周日 9:00 | 3号楼 |",
        "preview",
    );
    edit.push(("revision", &revision));
    let response = post_notice_form(
        &app,
        &staff,
        &format!("/console/notices/{id}"),
        &edit,
        vec![picture("新图.png")],
    )
    .await;
    assert_eq!(response.status(), 200);
    let page = Page::of(response).await;
    let documents = frames(&page);
    assert_eq!(documents.len(), 2);
    for (document, shape) in documents.iter().zip(["landscape", "portrait"]) {
        assert!(document.contains("pavilion-preview"), "{shape}");
        assert!(document.contains(&format!("\"{shape}\"")), "{shape}");
        assert!(document.contains("停水通知（改期）"), "{shape}");
        assert!(document.contains("<table>"), "{shape}");
    }
    assert!(page.text("main").contains("保存后才能预览"));

    let after = app.state.store.notice(id).await.unwrap();
    assert_eq!(after.revision, before.revision, "nothing saved");
    assert_eq!(after.state, NoticeState::Published);
    assert_eq!(after.title, "停水通知");
    assert!(media(&app).await.is_empty(), "the preview stores no file");
    assert_eq!(titles(&app, &token).await, ["停水通知"]);

    // Previewed before any screen asked for it since it was saved: the
    // screens still get the saved text, not the preview's.
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("停电通知", "周日停电。", "publish"),
        Vec::new(),
    )
    .await;
    let unseen = app.state.store.notice(notice_id(&response)).await.unwrap();
    let revision = unseen.revision.to_string();
    let mut edit = fields("停电通知", "改为周一停电。", "preview");
    edit.push(("revision", &revision));
    let response = post_notice_form(
        &app,
        &staff,
        &format!("/console/notices/{}", unseen.id),
        &edit,
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let shown = playlist_at(&app.address, &token).await;
    let html = shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "停电通知")
        .expect("the saved notice on the screen")["html"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        html.contains("周日停电") && !html.contains("周一"),
        "{html}"
    );

    // A new notice's draft with a mistake: the same message as saving.
    let mut wrong = fields("停电", "", "preview");
    wrong.retain(|(k, _)| *k != "ends_at");
    wrong.push(("ends_at", "2021-01-01T00:00"));
    let response = app.post_form(&staff, "/console/notices", &wrong).await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(page.error().contains("已经过去"), "{}", page.error());
    assert!(frames(&page).is_empty());
    assert_eq!(notices(&app).await.len(), 2);

    // The forms offer the button, opening a new tab.
    let page = app.text(&staff, "/console/notices/new").await;
    assert!(page.contains("formtarget=\"_blank\""));
    assert!(page.contains("value=\"preview\""));
}

/// What one preview frame shows, once the kiosk client in it has drawn the
/// notice: its orientation, text and table cells.
const FRAME_CONTENT: &str = "return document.body ? { orientation: document.documentElement.dataset.orientation || '', text: document.body.innerText, cells: Array.from(document.querySelectorAll('table td')).map(c => c.textContent.trim()) } : null;";

/// The content of every preview frame. The frames are sandboxed into an
/// origin of their own, so the console's scripts cannot look inside
/// (`contentDocument` is null); WebDriver steps into each one instead.
async fn frame_contents(page: &Client) -> Value {
    let frames = page
        .find_all(Locator::Css(".preview-screen iframe"))
        .await
        .unwrap();
    let mut contents = Vec::new();
    for frame in frames {
        frame.enter_frame().await.unwrap();
        contents.push(page.execute(FRAME_CONTENT, vec![]).await.unwrap());
        page.enter_parent_frame().await.unwrap();
    }
    Value::Array(contents)
}

#[tokio::test]
async fn the_preview_of_an_unsaved_draft_renders_on_both_screen_shapes_in_chromium() {
    let app = spawn_app().await;
    app.seed_place().await;
    app.create_account(Role::Secretary, None).await;
    let (_driver, page) = browser().await;
    log_in(&page, &app, "secretary", "/console").await;
    page.goto(&app.url("/console/notices/new")).await.unwrap();
    type_into(&page, "title", "三季度收支公示").await;
    type_into(
        &page,
        "body",
        "| 项目 | 金额 |\n|---|---:|\n| 停车费 | 12,000 |\n| 保洁 | 3,500 |",
    )
    .await;
    let tabs = page.windows().await.unwrap();
    page.find(Locator::Css("button[value=preview]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let preview = wait_for_new_tab(&page, tabs.len()).await;
    page.switch_to_window(preview).await.unwrap();
    let shows_the_notice = |v: &Value| {
        v.as_array().is_some_and(|frames| {
            frames.len() == 2
                && frames.iter().all(|f| {
                    f["text"]
                        .as_str()
                        .is_some_and(|t| t.contains("三季度收支公示"))
                        && f["cells"].as_array().is_some_and(|c| c.len() == 4)
                })
        })
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let shown = loop {
        let shown = frame_contents(&page).await;
        if shows_the_notice(&shown) {
            break shown;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "both frames show the notice: still {shown}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Sandboxed: the console's own scripts cannot reach into the frames.
    let reachable = page
        .execute(
            "return Array.from(document.querySelectorAll('.preview-screen iframe')).map(f => [f.getAttribute('sandbox'), f.contentDocument === null]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        reachable,
        json!([["allow-scripts", true], ["allow-scripts", true]])
    );
    assert_eq!(shown[0]["orientation"], "landscape");
    assert_eq!(shown[1]["orientation"], "portrait");
    assert_eq!(
        shown[0]["cells"],
        json!(["停车费", "12,000", "保洁", "3,500"])
    );
    assert!(notices(&app).await.is_empty(), "the preview saved nothing");
}

async fn type_into(page: &Client, id: &str, text: &str) {
    page.find(Locator::Id(id))
        .await
        .unwrap()
        .send_keys(text)
        .await
        .unwrap();
}

async fn wait_for_new_tab(page: &Client, before: usize) -> fantoccini::wd::WindowHandle {
    for _ in 0..50 {
        let windows = page.windows().await.unwrap();
        if windows.len() > before {
            return windows.last().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the preview did not open a new tab");
}

// ------------------------------------------------------------ refusals

#[tokio::test]
async fn scripts_in_a_body_are_refused_saying_what_and_the_form_is_kept() {
    let Setup { app, secretary, .. } = setup().await;
    let cases = [
        ("通知<script>alert(1)</script>", "<script>"),
        ("<style>body{display:none}</style>正文", "<style>"),
        (
            "<iframe src=\"https://evil.example/\"></iframe>",
            "<iframe>",
        ),
        ("<object data=\"x.swf\"></object>", "<object>"),
        ("<img src=x onerror=alert(2)>", "onerror="),
        ("[点我](javascript:alert(3))", "javascript:"),
    ];
    for (body, named) in cases {
        let response = post_notice_form(
            &app,
            &secretary,
            "/console/notices",
            &fields("收支公示", body, "publish"),
            Vec::new(),
        )
        .await;
        assert_eq!(response.status(), 400, "{body}");
        let page = Page::of(response).await;
        assert!(
            page.error().contains(named) && page.error().contains("正文"),
            "{body}: {}",
            page.error()
        );
        assert_eq!(page.text("textarea#body"), body, "kept as typed");
    }
    // Also when editing.
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("收支公示", "正文", "save"),
        Vec::new(),
    )
    .await;
    let id = notice_id(&response);
    let mut edit = fields("收支公示", "<script>alert(1)</script>", "save");
    edit.push(("revision", "1"));
    let response = post_notice_form(
        &app,
        &secretary,
        &format!("/console/notices/{id}"),
        &edit,
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(Page::of(response).await.error().contains("<script>"));
    assert_eq!(app.state.store.notice(id).await.unwrap().body, "正文");
    assert_eq!(notices(&app).await.len(), 1, "nothing else stored");

    // Tables, and scripts merely mentioned in code, are fine.
    let body = "不要写 `<script>` 标签：\n\n```\n<script>alert(1)</script>\n```\n\n| 项目 | 金额 |\n|---|---|\n| 保洁 | 1200 |";
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("写作须知", body, "publish"),
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 303);
    let notice = app.state.store.notice(notice_id(&response)).await.unwrap();
    assert_eq!(notice.body, body);
}

#[tokio::test]
async fn a_refused_emergency_publish_of_an_edit_comes_back_with_the_edits() {
    let Setup { app, staff, .. } = setup().await;
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &fields("绿化修剪", "周二修剪绿化。", "save"),
        Vec::new(),
    )
    .await;
    let id = notice_id(&response);
    // "紧急发布" without ticking the emergency box: staff may not approve.
    let mut edit = fields("绿化修剪（改到周四）", "周四修剪绿化，请挪车。", "publish");
    edit.push(("revision", "1"));
    let response = post_notice_form(
        &app,
        &staff,
        &format!("/console/notices/{id}"),
        &edit,
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(page.error().contains("紧急发布"), "{}", page.error());
    assert_eq!(
        page.value("input#title").as_deref(),
        Some("绿化修剪（改到周四）")
    );
    assert_eq!(page.text("textarea#body"), "周四修剪绿化，请挪车。");
    let notice = app.state.store.notice(id).await.unwrap();
    assert_eq!(
        (notice.title.as_str(), notice.state),
        ("绿化修剪", NoticeState::Draft)
    );

    // The same when writing a new one.
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &fields("普通通知", "内容", "publish"),
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 400);
    assert!(Page::of(response).await.error().contains("紧急发布"));
    assert_eq!(notices(&app).await.len(), 1);
}

#[tokio::test]
async fn an_end_in_the_past_is_refused_and_four_day_part_rows_are_offered() {
    let Setup {
        app,
        place,
        secretary,
        ..
    } = setup().await;
    let token = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    let mut form = fields("过期的通知", "", "publish");
    form.retain(|(k, _)| *k != "ends_at");
    form.push(("ends_at", "2021-06-01T00:00"));
    let response = post_notice_form(&app, &secretary, "/console/notices", &form, Vec::new()).await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(page.error().contains("已经过去"), "{}", page.error());
    assert_eq!(
        page.value("input#ends_at").as_deref(),
        Some("2021-06-01T00:00")
    );
    assert!(notices(&app).await.is_empty());

    let page = Page(Html::parse_document(
        &app.text(&secretary, "/console/notices/new").await,
    ));
    for row in 0..4 {
        assert!(
            page.has(&format!("input[name='dp{row}-from']")),
            "row {row}"
        );
    }
    assert!(!page.has("input[name='dp4-from']"));

    // The fourth row is read like the first.
    let mut form = fields("夜间施工", "", "publish");
    form.extend([
        ("dp3-d6", "on"),
        ("dp3-from", "22:00"),
        ("dp3-until", "06:00"),
    ]);
    let response = post_notice_form(&app, &secretary, "/console/notices", &form, Vec::new()).await;
    assert_eq!(response.status(), 303);
    let list = playlist_at(&app.address, &token).await;
    assert_eq!(
        list["items"][0]["day_parts"],
        json!([{"weekdays": [6], "from": "22:00", "until": "06:00"}])
    );
}

// ------------------------------------------------------------ failed videos

/// A video row as the library leaves it while processing, with a broken
/// upload as its original.
async fn video_row(app: &TestApp, name: &str) -> MediaId {
    let staff = app.state.store.account(AccountId(2)).await.unwrap();
    let file = app
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
                size_bytes: 10,
                width: Some(640),
                height: Some(360),
                duration_millis: Some(1000),
                uploaded_by: staff.id,
            },
        )
        .await
        .unwrap();
    let dir = app.state.signage.media_dir().join(file.id.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("original"), b"not a video").unwrap();
    file.id
}

/// Marks a video failed, as a run before this one did.
async fn fail(app: &TestApp, id: MediaId) {
    app.state
        .store
        .finish_media(
            id,
            &MediaOutcome {
                state: MediaState::Failed,
                content_type: "video/mp4".into(),
                size_bytes: 10,
                width: None,
                height: None,
                duration_millis: None,
                error: Some("moov atom not found".into()),
            },
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_videos_stay_off_the_screens_and_the_console_says_why() {
    let Setup {
        app,
        place,
        secretary,
        ..
    } = setup().await;
    let token = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    // Two notices with videos being processed: one fails in this run, the
    // other stays unfinished when the server stops (its original is broken,
    // so it fails when resumed).
    let failed_before = video_row(&app, "旧视频.mp4").await;
    let fails_now = video_row(&app, "坏视频.mp4").await;
    let mut ids = Vec::new();
    for (title, video) in [("旧活动", failed_before), ("新活动", fails_now)] {
        let video = video.to_string();
        let mut form = fields(title, "欢迎参加。", "publish");
        form.retain(|(k, _)| *k != "video");
        form.push(("video", &video));
        let response =
            post_notice_form(&app, &secretary, "/console/notices", &form, Vec::new()).await;
        assert_eq!(
            response.status(),
            303,
            "{}",
            Page::of(response).await.error()
        );
        ids.push(notice_id(&response));
    }
    fail(&app, failed_before).await;

    // The server starts again on the same store and files.
    let restarted =
        Application::build_with_store(test_settings(&app.data_dir), app.state.store.clone())
            .await
            .unwrap();
    let address = format!("http://127.0.0.1:{}", restarted.port());
    tokio::spawn(restarted.run_until_stopped());
    for _ in 0..100 {
        let file = app.state.store.media(fails_now).await.unwrap();
        if file.state == MediaState::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        app.state.store.media(fails_now).await.unwrap().state,
        MediaState::Failed
    );
    let list = playlist_at(&address, &token).await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{list}");
    for item in items {
        assert!(item["video"].is_null(), "a failed video is sent: {item}");
    }

    // The console shows the failed video with its error, by the video
    // choice, which no longer offers it (a save cannot keep it).
    let page = Page(Html::parse_document(
        &app.text(&secretary, &format!("/console/notices/{}", ids[0]))
            .await,
    ));
    let alert = page.text("form #video-failed");
    assert!(
        alert.contains("旧视频.mp4")
            && alert.contains("moov atom not found")
            && alert.contains("处理失败"),
        "{alert:?}"
    );
    assert!(!page.has(&format!("select#video option[value='{failed_before}']")));
    assert!(page.has("input[type=file][name=new_video]"));
}

// ------------------------------------------------------------ workflow

#[tokio::test]
async fn withdrawing_an_ordinary_published_notice_takes_it_off_at_once() {
    let Setup {
        app,
        place,
        staff,
        secretary,
    } = setup().await;
    let token = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    let response = post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("物业费缴纳提醒", "请于月底前缴纳。", "publish"),
        Vec::new(),
    )
    .await;
    let id = notice_id(&response);
    assert_eq!(titles(&app, &token).await, ["物业费缴纳提醒"]);
    let response = app
        .post_form(&staff, &format!("/console/notices/{id}/withdraw"), &[])
        .await;
    assert_eq!(response.status(), 303);
    assert!(titles(&app, &token).await.is_empty());
    let notice = app.state.store.notice(id).await.unwrap();
    assert_eq!(notice.state, NoticeState::Withdrawn);
    assert!(!notice.emergency);
}

#[tokio::test]
async fn a_rejected_notice_is_corrected_resubmitted_and_approved() {
    let Setup {
        app,
        place,
        staff,
        secretary,
    } = setup().await;
    let token = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &fields("消防演练", "周五下午演练。", "submit"),
        Vec::new(),
    )
    .await;
    let id = notice_id(&response);
    let pending = app.state.store.notice(id).await.unwrap();
    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{id}/reject"),
            &[
                ("revision", &pending.revision.to_string()),
                ("reason", "请写明集合地点"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.state.store.notice(id).await.unwrap().state,
        NoticeState::Rejected
    );

    // Corrected and submitted again through the edit form.
    let rejected = app.state.store.notice(id).await.unwrap();
    let revision = rejected.revision.to_string();
    let mut edit = fields("消防演练", "周五下午演练，在小区广场集合。", "submit");
    edit.push(("revision", &revision));
    let response = post_notice_form(
        &app,
        &staff,
        &format!("/console/notices/{id}"),
        &edit,
        Vec::new(),
    )
    .await;
    assert_eq!(response.status(), 303);
    let resubmitted = app.state.store.notice(id).await.unwrap();
    assert_eq!(resubmitted.state, NoticeState::Pending);
    assert!(titles(&app, &token).await.is_empty());
    let page = app.text(&secretary, "/console/notices?state=pending").await;
    assert!(page.contains("消防演练"));

    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{id}/approve"),
            &[("revision", &resubmitted.revision.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(titles(&app, &token).await, ["消防演练"]);
    let list = playlist_at(&app.address, &token).await;
    assert!(list["items"][0]["html"]
        .as_str()
        .unwrap()
        .contains("小区广场集合"));

    // A rejected notice can also be resubmitted as it is, with its button.
    let response = post_notice_form(
        &app,
        &staff,
        "/console/notices",
        &fields("装修须知", "装修时间 8:00–18:00。", "submit"),
        Vec::new(),
    )
    .await;
    let second = notice_id(&response);
    let revision = app.state.store.notice(second).await.unwrap().revision;
    app.post_form(
        &secretary,
        &format!("/console/notices/{second}/reject"),
        &[("revision", &revision.to_string()), ("reason", "重复了")],
    )
    .await;
    let revision = app.state.store.notice(second).await.unwrap().revision;
    let response = app
        .post_form(
            &staff,
            &format!("/console/notices/{second}/submit"),
            &[("revision", &revision.to_string())],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        app.state.store.notice(second).await.unwrap().state,
        NoticeState::Pending
    );
}

#[tokio::test]
async fn a_screen_group_and_a_single_screen_targeted_in_the_form_get_exactly_their_notices() {
    let Setup {
        app,
        place,
        secretary,
        ..
    } = setup().await;
    let group = app
        .state
        .store
        .create_screen_group(
            &system(),
            place.community.id,
            &PlaceName::parse("电梯厅").unwrap(),
        )
        .await
        .unwrap();
    let in_group = pair_screen_as(&app, screen(&place, "1单元电梯厅", Some(group.id))).await;
    let also_in_group = pair_screen_as(&app, screen(&place, "2单元电梯厅", Some(group.id))).await;
    let lobby = pair_screen_as(&app, screen(&place, "3号楼大堂", None)).await;
    let lobby_id = app
        .state
        .signage
        .authenticate(&lobby)
        .await
        .unwrap()
        .unwrap()
        .id;

    // The form offers both kinds of target.
    let page = app.text(&secretary, "/console/notices/new").await;
    let group_field = format!("target-group-{}", group.id);
    let screen_field = format!("target-screen-{lobby_id}");
    assert!(page.contains(&group_field) && page.contains(&screen_field));

    let mut form = fields("电梯维保", "周三维保。", "publish");
    form.push((&group_field, "on"));
    post_notice_form(&app, &secretary, "/console/notices", &form, Vec::new()).await;
    let mut form = fields("大堂保洁", "周四打蜡。", "publish");
    form.push((&screen_field, "on"));
    post_notice_form(&app, &secretary, "/console/notices", &form, Vec::new()).await;
    post_notice_form(
        &app,
        &secretary,
        "/console/notices",
        &fields("全社区通知", "欢迎新邻居。", "publish"),
        Vec::new(),
    )
    .await;

    for token in [&in_group, &also_in_group] {
        let mut shown = titles(&app, token).await;
        shown.sort();
        assert_eq!(shown, ["全社区通知", "电梯维保"]);
    }
    let mut shown = titles(&app, &lobby).await;
    shown.sort();
    assert_eq!(shown, ["全社区通知", "大堂保洁"]);
}

#[tokio::test]
async fn a_pending_notice_whose_window_has_ended_is_not_approved() {
    let Setup { app, secretary, .. } = setup().await;
    let now = chrono::Utc::now();
    let draft = notice::NoticeDraft::new(
        CommunityId(1),
        "上周的停水通知",
        "已经过去了。",
        notice::NoticeCategory::Outage,
        false,
        notice::Validity::new(
            now - chrono::Duration::days(7),
            Some(now - chrono::Duration::days(1)),
        )
        .unwrap(),
        vec![],
        vec![],
        15,
        5,
        vec![],
        None,
    )
    .unwrap();
    let pending = app
        .state
        .store
        .create_notice(&system(), AccountId(2), &draft, NoticeState::Pending)
        .await
        .unwrap();
    let response = app
        .post_form(
            &secretary,
            &format!("/console/notices/{}/approve", pending.id),
            &[("revision", &pending.revision.to_string())],
        )
        .await;
    assert_eq!(response.status(), 400);
    let page = Page::of(response).await;
    assert!(page.error().contains("显示期已经结束"), "{}", page.error());
    assert_eq!(
        app.state.store.notice(pending.id).await.unwrap().state,
        NoticeState::Pending
    );
}
