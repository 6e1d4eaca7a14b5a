//! Issue 14: what of a feedback record the public may read. A resident files
//! a record and writes their phone, room and name into notes and replies;
//! staff write an internal note with the resident's ID number, a reply to the
//! resident, and a reply for publication. Then everything anyone can fetch
//! without being the reporter is fetched: Open311 (list and one, JSON and
//! XML), the disclosure page, a lobby screen's playlist, the tracking link in
//! a stranger's hands. None carries the resident's words or staff text not
//! written for the public; the published reply shows, masked.

use pavilion::domain::record::{Record, RecordState};
use pavilion::domain::Role;
use pavilion::i18n::Lang;
use pavilion::store::RecordFilter;

use crate::helpers::{client, location, spawn_app, Place, TestApp};
use crate::signage::pair_screen;

const PHONE: &str = "13912345678";
const ID_NUMBER: &str = "11010519491231002X";
const NAME: &str = "王小明";
/// The title: the form tells the resident it is public, so it is shown, masked.
const TITLE: &str = "楼道灯坏了 电话13912345678 住3-502";
const TITLE_MASKED: &str = "楼道灯坏了 电话139****5678 住3-***";
const DESCRIPTION: &str = "我是王小明 住3号楼502室 电话13912345678 晚上楼道很黑";
const RESIDENT_NOTE: &str = "我的电话13912345678 住3-502 王小明";
const RESIDENT_REPLY: &str = "王小明白天在家 3号楼502室 电话13912345678";
const INTERNAL_NOTE: &str = "住户王小明身份证11010519491231002X";
const REPLY_TO_RESIDENT: &str = "王小明您好 请确认明天上午3-502是否有人在家";
/// Written after the published reply, to the resident only.
const LATER_REPLY_TO_RESIDENT: &str = "王小明您好 明早请在3-502等候";
const PUBLISHED_REPLY: &str = "师傅明早到3-502维修 有事请打13812345678";
const PUBLISHED_MASKED: &str = "师傅明早到3-***维修 有事请打138****5678";

/// What must never be in a public output. (Not "502" alone: a page's random
/// tokens may hold those digits; the text fields of Open311 are checked for it.)
const SECRETS: [&str; 8] = [
    PHONE,
    "3-502",
    "502室",
    "3号楼502",
    NAME,
    ID_NUMBER,
    "13812345678",
    "身份证",
];

fn assert_private(what: &str, body: &str) {
    for secret in SECRETS {
        assert!(!body.contains(secret), "{what} carries {secret:?}:\n{body}");
    }
    for words in [
        DESCRIPTION,
        RESIDENT_NOTE,
        RESIDENT_REPLY,
        INTERNAL_NOTE,
        REPLY_TO_RESIDENT,
        LATER_REPLY_TO_RESIDENT,
    ] {
        assert!(!body.contains(words), "{what} carries {words:?}");
    }
}

struct Scene {
    app: TestApp,
    place: Place,
    resident: reqwest::Client,
    staff: reqwest::Client,
    record: Record,
    /// The tracking link the report form led to.
    link: String,
}

impl Scene {
    async fn current(&self) -> Record {
        self.app.state.store.record(self.record.id).await.unwrap()
    }

    async fn staff_act(&self, action: &str, note: &str, visibility: &[(&str, &str)]) {
        let version = self.current().await.version.to_string();
        let mut fields = vec![
            ("version", version.as_str()),
            ("action", action),
            ("note", note),
        ];
        fields.extend_from_slice(visibility);
        let path = format!("/console/records/{}/act", self.record.id);
        let response = self.app.post_form(&self.staff, &path, &fields).await;
        assert_eq!(response.status(), 303, "staff {action:?} {note:?}");
    }

    async fn resident_act(&self, action: &str, note: &str, extra: &[(&str, &str)]) {
        let version = self.current().await.version.to_string();
        let mut fields = vec![
            ("version", version.as_str()),
            ("action", action),
            ("note", note),
        ];
        fields.extend_from_slice(extra);
        let path = format!("/me/records/{}", self.record.id);
        let response = self.app.post_form(&self.resident, &path, &fields).await;
        assert_eq!(response.status(), 303, "resident {action:?} {note:?}");
    }

    /// The whole story: filed, noted, worked, answered, published.
    async fn new() -> Scene {
        let app = spawn_app().await;
        let place = app.seed_place().await;
        app.create_account(Role::Admin, None).await;
        let resident_account = app.create_account(Role::Resident, Some(&place)).await;
        app.create_account(Role::Staff, None).await;
        let resident = app.login("resident").await;
        let staff = app.login("staff").await;

        // The form says the title is public.
        let form = app.text(&resident, "/report").await;
        assert!(
            form.contains(Lang::Zh.t("report.title_public").as_ref()),
            "the report form tells the resident the title is public"
        );
        let filed = app
            .post_form(
                &resident,
                "/report",
                &[
                    ("category", "repairs"),
                    ("title", TITLE),
                    ("description", DESCRIPTION),
                    ("location", "3号楼502室门口"),
                ],
            )
            .await;
        assert_eq!(filed.status(), 303);
        let link = location(&filed).split('?').next().unwrap().to_owned();
        assert!(link.starts_with("/track/"), "{link}");
        let record = app
            .state
            .store
            .list_records(&RecordFilter {
                reporter: Some(resident_account.id),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .remove(0);
        assert!(record.title_public);
        let scene = Scene {
            app,
            place,
            resident,
            staff,
            record,
            link,
        };

        scene.resident_act("", RESIDENT_NOTE, &[]).await;
        scene.staff_act("accept", INTERNAL_NOTE, &[]).await;
        scene
            .staff_act("wait_for_resident", REPLY_TO_RESIDENT, &[("public", "on")])
            .await;
        // A resident who tries to publish their own reply is not heard.
        scene
            .resident_act("resume", RESIDENT_REPLY, &[("published", "on")])
            .await;
        scene
            .staff_act(
                "",
                PUBLISHED_REPLY,
                &[("public", "on"), ("published", "on")],
            )
            .await;
        scene
            .staff_act("", LATER_REPLY_TO_RESIDENT, &[("public", "on")])
            .await;

        let events = scene
            .app
            .state
            .store
            .record_events(scene.record.id)
            .await
            .unwrap();
        let published: Vec<&str> = events
            .iter()
            .filter(|e| e.published)
            .map(|e| e.note.as_str())
            .collect();
        assert_eq!(
            published,
            [PUBLISHED_REPLY],
            "only the staff reply for publication"
        );
        assert_eq!(scene.current().await.state, RecordState::Accepted);
        scene
    }
}

fn status_notes() -> String {
    format!(
        "{}{}{PUBLISHED_MASKED}",
        Lang::Zh.t("state.accepted"),
        Lang::Zh.t("punct.colon")
    )
}

async fn anonymous_get(app: &TestApp, path: &str) -> String {
    let response = client().get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

#[tokio::test]
async fn open311_carries_no_resident_words_and_only_the_masked_published_reply() {
    let scene = Scene::new().await;
    let app = &scene.app;
    let number = &scene.record.number;

    for path in [
        "/open311/v2/requests.json".to_owned(),
        format!("/open311/v2/requests/{number}.json"),
    ] {
        let body = anonymous_get(app, &path).await;
        assert_private(&path, &body);
        let list: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1, "{path}");
        let request = &list[0];
        assert_eq!(request["service_request_id"], number.as_str());
        assert_eq!(request["status_notes"], status_notes(), "{path}");
        assert_eq!(request["description"], TITLE_MASKED, "{path}");
        assert_eq!(request["address"], "阳光花园 3号楼", "{path}");
        for field in ["status_notes", "description", "address"] {
            assert!(!request[field].as_str().unwrap().contains("502"), "{field}");
        }
    }
    for path in [
        "/open311/v2/requests.xml".to_owned(),
        format!("/open311/v2/requests/{number}.xml"),
    ] {
        let body = anonymous_get(app, &path).await;
        assert_private(&path, &body);
        assert!(
            body.contains(&format!("<status_notes>{}</status_notes>", status_notes())),
            "{path}: {body}"
        );
        assert!(
            body.contains(&format!("<description>{TITLE_MASKED}</description>")),
            "{path}: {body}"
        );
    }
    // The record itself is as filed: only what is shown is masked.
    assert_eq!(scene.current().await.title, TITLE);
}

#[tokio::test]
async fn the_tracking_link_in_someone_elses_hands_shows_only_the_public_view() {
    let scene = Scene::new().await;
    let app = &scene.app;

    // Anyone holding the forwarded link, and another signed-in account.
    let stranger = anonymous_get(app, &scene.link).await;
    let staff_page = app.text(&scene.staff, &scene.link).await;
    for (who, page) in [
        ("a stranger", &stranger),
        ("someone signed in", &staff_page),
    ] {
        assert_private(&format!("the tracking page for {who}"), page);
        assert!(page.contains(TITLE_MASKED), "{who}: {page}");
        assert!(
            page.contains(PUBLISHED_MASKED),
            "{who}: the published reply"
        );
        assert!(page.contains(&scene.record.number));
        assert!(!page.contains("门口"), "{who}: no location");
        assert!(!page.contains(r#"name="note""#), "{who}: no form to act");
    }
    // Nobody's name: not the resident's, not the staff member's.
    assert!(!stranger.contains("3号楼老张") && !stranger.contains("staff name"));

    // The reporter, signed in, still reads everything on the same link.
    let own = app.text(&scene.resident, &scene.link).await;
    for words in [
        DESCRIPTION,
        RESIDENT_NOTE,
        REPLY_TO_RESIDENT,
        PUBLISHED_REPLY,
    ] {
        assert!(own.contains(words), "the reporter reads {words:?}");
    }
    assert!(!own.contains(INTERNAL_NOTE), "never the internal note");
}

#[tokio::test]
async fn the_disclosure_page_and_a_lobby_screen_of_the_estate_carry_none_of_it() {
    let scene = Scene::new().await;
    let app = &scene.app;

    let disclosure = anonymous_get(
        app,
        &format!("/disclosure?estate={}", scene.place.estate.id),
    )
    .await;
    assert_private("the disclosure page", &disclosure);

    let token = pair_screen(app, &scene.place, "3号楼大堂").await;
    let response = reqwest::Client::new()
        .get(app.url("/kiosk/api/playlist"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let playlist = response.text().await.unwrap();
    assert!(
        playlist.contains("\"figures\""),
        "the screen shows the estate's figures: {playlist}"
    );
    assert_private("the lobby screen's playlist", &playlist);
    assert!(!playlist.contains(TITLE) && !playlist.contains(TITLE_MASKED));
}

#[tokio::test]
async fn records_nobody_was_told_about_publish_a_neutral_title() {
    let scene = Scene::new().await;
    let app = &scene.app;
    // A phone call typed in by staff: the caller was told nothing.
    let filed = app
        .post_form(
            &scene.staff,
            "/console/records/new",
            &[
                ("estate", &scene.place.estate.id.to_string()),
                ("category", "elevator"),
                ("class", ""),
                ("title", "王小明来电 3-502 电梯坏了"),
                ("description", "王小明来电，电话13912345678"),
                ("location", ""),
                ("building", &scene.place.building.id.to_string()),
            ],
        )
        .await;
    assert_eq!(filed.status(), 200);
    let phone = app
        .state
        .store
        .list_records(&RecordFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.number != scene.record.number)
        .unwrap();
    assert!(!phone.title_public);

    let body = anonymous_get(app, &format!("/open311/v2/requests/{}.json", phone.number)).await;
    assert_private("a phone record in Open311", &body);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        list[0]["description"],
        format!("{} · 阳光花园 3号楼", Lang::Zh.t("category.elevator"))
    );
    assert_eq!(
        list[0]["status_notes"],
        Lang::Zh.t("state.submitted").as_ref()
    );
}
