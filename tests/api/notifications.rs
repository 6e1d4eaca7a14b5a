//! Residents are told in the site when something happens to a record they
//! filed (issue 7): the badge on "我的诉求", the news page, and what clears them.
//! Only a POST with the form token clears news (issue 14): opening an item of
//! the news page (a button), "标为已读" on the record page, or acting on it.

use pavilion::domain::record::Record;
use pavilion::domain::{Account, Role};
use pavilion::store::RecordFilter;

use crate::helpers::*;

/// A resident and a staff member, both logged in, in one estate.
struct Scene {
    app: TestApp,
    place: Place,
    resident_account: Account,
    resident: reqwest::Client,
    staff: reqwest::Client,
}

impl Scene {
    async fn new() -> Scene {
        let app = spawn_app().await;
        let place = app.seed_place().await;
        let resident_account = app.create_account(Role::Resident, Some(&place)).await;
        app.create_account(Role::Staff, None).await;
        let resident = app.login("resident").await;
        let staff = app.login("staff").await;
        Scene {
            app,
            place,
            resident_account,
            resident,
            staff,
        }
    }

    /// The resident files a record through the report form.
    async fn file(&self, title: &str) -> Record {
        let fields = [
            ("category", "repairs"),
            ("title", title),
            ("description", "楼道灯坏了，晚上看不见台阶。"),
            ("location", "3号楼2单元"),
        ];
        let response = self.app.post_form(&self.resident, "/report", &fields).await;
        assert_eq!(response.status(), 303, "filing {title}");
        self.app
            .state
            .store
            .list_records(&RecordFilter {
                reporter: Some(self.resident_account.id),
                limit: 1,
                ..Default::default()
            })
            .await
            .unwrap()
            .remove(0)
    }

    /// Staff take a step (or only write a note) in the console.
    async fn staff_act(&self, record: &Record, action: &str, note: &str, public: bool) {
        let version = self
            .app
            .state
            .store
            .record(record.id)
            .await
            .unwrap()
            .version;
        let version = version.to_string();
        let mut fields = vec![
            ("version", version.as_str()),
            ("action", action),
            ("note", note),
        ];
        if public {
            fields.push(("public", "on"));
        }
        let path = format!("/console/records/{}/act", record.id);
        let response = self.app.post_form(&self.staff, &path, &fields).await;
        assert_eq!(
            response.status(),
            303,
            "staff {action:?} on {}",
            record.number
        );
    }

    /// The number on the "我的诉求" badge of `client`'s pages (None: no badge).
    async fn badge_of(&self, client: &reqwest::Client) -> Option<i64> {
        let page = self.app.text(client, "/").await;
        badge_in(&page)
    }

    async fn badge(&self) -> Option<i64> {
        self.badge_of(&self.resident).await
    }

    async fn news_page(&self) -> String {
        self.app.text(&self.resident, "/me/notifications").await
    }

    /// The resident opens the record's item on the news page, as they would
    /// tap it: the item's form, with its token and the news it showed.
    async fn open_news(&self, record: &Record) -> reqwest::Response {
        let page = self.news_page().await;
        let form = item_form(&page, record).expect("the record is in the news");
        self.resident
            .post(self.app.url(&news_link(record)))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// The resident presses "标为已读" on `page` (a record page).
    async fn mark_read_on(&self, page: &str) -> reqwest::Response {
        let html = scraper::Html::parse_document(page);
        let form = scraper::Selector::parse(".record-news form").unwrap();
        let form = html.select(&form).next().expect("the news panel's button");
        let action = form.value().attr("action").unwrap().to_owned();
        let fields = hidden_fields(form);
        self.resident
            .post(self.app.url(&action))
            .form(&fields)
            .send()
            .await
            .unwrap()
    }
}

fn hidden_fields(form: scraper::ElementRef) -> Vec<(String, String)> {
    let inputs = scraper::Selector::parse("input[type=hidden]").unwrap();
    form.select(&inputs)
        .map(|i| {
            let value = i.value();
            (
                value.attr("name").unwrap().to_owned(),
                value.attr("value").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The hidden fields of `record`'s item on the news page.
fn item_form(page: &str, record: &Record) -> Option<Vec<(String, String)>> {
    let html = scraper::Html::parse_document(page);
    let selector = scraper::Selector::parse(&format!(
        "ul.notifications form[action='{}']",
        news_link(record)
    ))
    .unwrap();
    html.select(&selector).next().map(hidden_fields)
}

fn badge_in(page: &str) -> Option<i64> {
    text_of(page, ".site-header .count-badge").map(|n| n.trim().parse().unwrap())
}

/// Where the items of the news page lead, in order (each is a form's button).
fn news_links(page: &str) -> Vec<String> {
    let html = scraper::Html::parse_document(page);
    let selector = scraper::Selector::parse("ul.notifications form.notification-form").unwrap();
    html.select(&selector)
        .filter_map(|f| f.value().attr("action").map(str::to_owned))
        .collect()
}

fn news_link(record: &Record) -> String {
    format!("/me/notifications/{}", record.id)
}

#[tokio::test]
async fn filing_a_record_gives_no_badge() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    assert_eq!(scene.badge().await, None);
    let home = scene.app.text(&scene.resident, "/").await;
    let link = text_of(&home, ".site-header a.my-records").unwrap();
    assert_eq!(link.trim(), "我的诉求");
    assert!(home.contains(r#"href="/me/records" class="my-records""#));
    let news = scene.news_page().await;
    assert!(news_links(&news).is_empty());
    assert!(news.contains("您的诉求暂时没有新进展"));
    assert!(!news.contains(&record.number));
}

#[tokio::test]
async fn a_public_staff_step_shows_a_badge_and_says_what_happened() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene
        .staff_act(&record, "accept", "明天上午来换灯泡", true)
        .await;

    let home = scene.app.text(&scene.resident, "/").await;
    assert_eq!(badge_in(&home), Some(1));
    // The count is in words for screen readers, and the link leads to the news.
    assert_eq!(
        text_of(&home, ".site-header .my-records .visually-hidden").unwrap(),
        "（1 条新进展）"
    );
    assert!(home.contains(r#"href="/me/notifications" class="my-records""#));

    let news = scene.news_page().await;
    assert_eq!(news_links(&news), [news_link(&record)]);
    let what = text_of(&news, "ul.notifications .notification-what").unwrap();
    assert!(what.starts_with("已受理"), "{what}");
    let item = text_of(&news, "ul.notifications li").unwrap();
    for part in [
        record.number.as_str(),
        "楼道灯坏了",
        "已受理",
        "明天上午来换灯泡",
    ] {
        assert!(item.contains(part), "{part} missing from {item}");
    }
    assert!(news.contains("全部标为已读"));

    // The same page in English.
    scene
        .app
        .post_form(&scene.resident, "/lang", &[("lang", "en")])
        .await;
    let english = scene.news_page().await;
    let what = text_of(&english, "ul.notifications .notification-what").unwrap();
    assert!(what.starts_with("Accepted"), "{what}");
    assert_eq!(
        text_of(&english, ".site-header .my-records .visually-hidden").unwrap(),
        " (1 with news)"
    );
}

#[tokio::test]
async fn an_internal_staff_note_gives_no_badge() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene
        .staff_act(&record, "", "灯泡库存不足，先申请采购", false)
        .await;
    assert_eq!(scene.badge().await, None);
    assert!(news_links(&scene.news_page().await).is_empty());
    // A public note does reach the resident.
    scene.staff_act(&record, "", "已申请采购灯泡", true).await;
    assert_eq!(scene.badge().await, Some(1));
    let news = scene.news_page().await;
    assert!(news.contains("有新的回复") && news.contains("已申请采购灯泡"));
    assert!(
        !news.contains("灯泡库存不足"),
        "internal notes stay internal"
    );
}

#[tokio::test]
async fn changes_on_two_records_count_two_and_opening_one_clears_only_it() {
    let scene = Scene::new().await;
    let first = scene.file("楼道灯坏了").await;
    let second = scene.file("电梯按钮失灵").await;
    scene.staff_act(&first, "accept", "", true).await;
    scene.staff_act(&first, "dispatch", "", true).await;
    scene.staff_act(&second, "accept", "", true).await;
    // Two steps on one record are one record with news.
    assert_eq!(scene.badge().await, Some(2));
    let news = scene.news_page().await;
    // Newest news first; the first record's latest step is what it says.
    assert_eq!(news_links(&news), [news_link(&second), news_link(&first)]);
    assert!(news.contains("已派人到现场"));

    let opened = scene.open_news(&first).await;
    assert_eq!(opened.status(), 303);
    assert_eq!(location(&opened), format!("/me/records/{}", first.id));
    let record_page = scene
        .resident
        .get(scene.app.url(&location(&opened)))
        .send()
        .await
        .unwrap();
    assert_eq!(record_page.status(), 200);

    assert_eq!(scene.badge().await, Some(1));
    assert_eq!(news_links(&scene.news_page().await), [news_link(&second)]);
    // Marking it read again changes nothing; news after that counts again.
    let again = scene
        .app
        .post_form(&scene.resident, &news_link(&first), &[])
        .await;
    assert_eq!(again.status(), 303);
    assert_eq!(scene.badge().await, Some(1));
    scene.staff_act(&first, "arrive_on_site", "", true).await;
    assert_eq!(scene.badge().await, Some(2));
}

#[tokio::test]
async fn mark_all_read_clears_every_badge() {
    let scene = Scene::new().await;
    let first = scene.file("楼道灯坏了").await;
    let second = scene.file("电梯按钮失灵").await;
    scene.staff_act(&first, "accept", "", true).await;
    scene.staff_act(&second, "accept", "", true).await;
    assert_eq!(scene.badge().await, Some(2));

    let news = scene.news_page().await;
    let token = form_token_in(&news).unwrap();
    let response = scene
        .resident
        .post(scene.app.url("/me/notifications/seen"))
        .form(&[("csrf_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(location(&response), "/me/notifications?done=all_read");
    let after = scene
        .app
        .text(&scene.resident, "/me/notifications?done=all_read")
        .await;
    assert!(after.contains("已全部标为已读"));
    assert!(news_links(&after).is_empty());
    assert_eq!(badge_in(&after), None);
    assert_eq!(scene.badge().await, None);

    // What happens next is news again.
    scene.staff_act(&second, "resolve", "", true).await;
    assert_eq!(scene.badge().await, Some(1));
    assert!(scene.news_page().await.contains("已办结，请确认"));
}

#[tokio::test]
async fn a_residents_own_reopen_and_notes_do_not_notify_them() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene.staff_act(&record, "accept", "", true).await;
    scene
        .staff_act(&record, "resolve", "灯泡已更换", true)
        .await;
    assert_eq!(scene.badge().await, Some(1));
    assert_eq!(scene.open_news(&record).await.status(), 303);
    assert_eq!(scene.badge().await, None);

    let path = format!("/me/records/{}", record.id);
    let reopen = scene
        .app
        .post_form(
            &scene.resident,
            &path,
            &[("version", "3"), ("action", "reopen"), ("note", "还是不亮")],
        )
        .await;
    assert_eq!(reopen.status(), 303);
    let note = scene
        .app
        .post_form(
            &scene.resident,
            &path,
            &[("version", "4"), ("note", "晚上七点以后家里有人")],
        )
        .await;
    assert_eq!(note.status(), 303);
    assert_eq!(scene.badge().await, None);
    assert!(news_links(&scene.news_page().await).is_empty());
}

#[tokio::test]
async fn another_resident_never_sees_my_notifications() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene
        .app
        .add_resident(&scene.place, "neighbour", "邻居")
        .await;
    let neighbour = scene.app.login("neighbour").await;
    scene
        .staff_act(&record, "accept", "明天上午来换灯泡", true)
        .await;

    assert_eq!(scene.badge_of(&neighbour).await, None);
    let theirs = scene.app.text(&neighbour, "/me/notifications").await;
    assert!(news_links(&theirs).is_empty());
    assert!(!theirs.contains(&record.number) && !theirs.contains("明天上午来换灯泡"));
    // My record's link is not found for them, and does not clear my badge.
    let response = neighbour
        .get(scene.app.url(&news_link(&record)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let pressed = scene
        .app
        .post_form(&neighbour, &news_link(&record), &[])
        .await;
    assert_eq!(pressed.status(), 404);
    assert_eq!(scene.badge().await, Some(1));
    let nowhere = neighbour
        .get(scene.app.url("/me/notifications/999999"))
        .send()
        .await
        .unwrap();
    assert_eq!(nowhere.status(), 404);
    // Nor does their "mark all read".
    let response = scene
        .app
        .post_form(&neighbour, "/me/notifications/seen", &[])
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(scene.badge().await, Some(1));
}

#[tokio::test]
async fn mark_all_read_without_the_form_token_is_refused() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene.staff_act(&record, "accept", "", true).await;
    let missing = scene
        .resident
        .post(scene.app.url("/me/notifications/seen"))
        .form(&[("nothing", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 403);
    let wrong = scene
        .resident
        .post(scene.app.url("/me/notifications/seen"))
        .form(&[("csrf_token", "not-the-token")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 403);
    let cross_site = scene
        .resident
        .post(scene.app.url("/me/notifications/seen"))
        .header("Origin", "https://evil.example")
        .form(&[("csrf_token", scene.app.form_token(&scene.resident).await)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross_site.status(), 403);
    assert_eq!(scene.badge().await, Some(1));
    // Logged out, the page and the button send you to log in.
    let visitor = client();
    let page = visitor
        .get(scene.app.url("/me/notifications"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 303);
    assert!(location(&page).starts_with("/login"));
}

#[tokio::test]
async fn staff_observers_and_visitors_see_no_badge_and_no_errors() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene.staff_act(&record, "accept", "", true).await;
    scene.app.create_account(Role::Observer, None).await;
    let observer = scene.app.login("observer").await;
    let visitor = client();
    for (who, client) in [
        ("staff", &scene.staff),
        ("observer", &observer),
        ("visitor", &visitor),
    ] {
        for path in ["/", "/live", "/disclosure"] {
            let response = client.get(scene.app.url(path)).send().await.unwrap();
            assert_eq!(response.status(), 200, "{who} {path}");
            let page = response.text().await.unwrap();
            assert_eq!(badge_in(&page), None, "{who} {path}");
            assert!(!page.contains("my-records"), "{who} {path}");
        }
    }
    // Staff who open the resident's page find it empty, not broken.
    let page = scene.app.text(&scene.staff, "/me/notifications").await;
    assert!(page.contains("您的诉求暂时没有新进展"));
    assert_eq!(scene.badge().await, Some(1), "the resident still has news");
}

#[tokio::test]
async fn the_record_page_shows_its_news_and_marking_it_read_clears_the_badge() {
    let scene = Scene::new().await;
    let first = scene.file("楼道灯坏了").await;
    let second = scene.file("电梯按钮失灵").await;
    scene.staff_act(&first, "accept", "", true).await;
    scene.staff_act(&second, "accept", "", true).await;
    assert_eq!(scene.badge().await, Some(2));
    let path = format!("/me/records/{}", first.id);
    let page = scene.app.text(&scene.resident, &path).await;
    assert!(page.contains("楼道灯坏了"));
    // Reading marks nothing: the page says what is new, and offers the button.
    assert_eq!(badge_in(&page), Some(2));
    let news = text_of(&page, ".record-news").unwrap();
    assert!(
        news.contains("这件诉求有新进展") && news.contains("已受理"),
        "{news}"
    );
    let pressed = scene.mark_read_on(&page).await;
    assert_eq!(pressed.status(), 303);
    assert_eq!(location(&pressed), path);
    let page = scene.app.text(&scene.resident, &path).await;
    assert_eq!(badge_in(&page), Some(1));
    assert!(text_of(&page, ".record-news").is_none());
    assert_eq!(news_links(&scene.news_page().await), [news_link(&second)]);
}

#[tokio::test]
async fn acting_on_the_record_page_marks_what_it_showed_read() {
    let scene = Scene::new().await;
    let record = scene.file("楼道灯坏了").await;
    scene.staff_act(&record, "accept", "", true).await;
    scene
        .staff_act(&record, "wait_for_resident", "请问几点家里有人？", true)
        .await;
    assert_eq!(scene.badge().await, Some(1));
    let path = format!("/me/records/{}", record.id);
    let version = scene
        .app
        .state
        .store
        .record(record.id)
        .await
        .unwrap()
        .version;
    let reply = scene
        .app
        .post_form(
            &scene.resident,
            &path,
            &[
                ("version", version.to_string().as_str()),
                ("action", "resume"),
                ("note", "晚上七点以后"),
            ],
        )
        .await;
    assert_eq!(reply.status(), 303);
    assert_eq!(scene.badge().await, None);
}

#[tokio::test]
async fn the_records_list_marks_unread_records() {
    let scene = Scene::new().await;
    let first = scene.file("楼道灯坏了").await;
    let second = scene.file("电梯按钮失灵").await;
    scene.staff_act(&second, "accept", "", true).await;
    let list = scene.app.text(&scene.resident, "/me/records").await;
    let html = scraper::Html::parse_document(&list);
    let items = scraper::Selector::parse("ul.records li").unwrap();
    let marked: Vec<(String, bool)> = html
        .select(&items)
        .map(|li| {
            let text = li.text().collect::<String>();
            (text.clone(), text.contains("有新进展"))
        })
        .collect();
    assert_eq!(marked.len(), 2);
    for (text, is_marked) in marked {
        if text.contains(&second.number) {
            assert!(is_marked, "{text}");
        } else {
            assert!(text.contains(&first.number) && !is_marked, "{text}");
        }
    }
}

#[tokio::test]
async fn the_tracking_page_lets_only_the_reporter_mark_the_news_read() {
    let scene = Scene::new().await;
    let fields = [
        ("category", "repairs"),
        ("title", "单元门关不上"),
        ("description", "单元门的闭门器坏了。"),
        ("location", "3号楼"),
    ];
    let response = scene
        .app
        .post_form(&scene.resident, "/report", &fields)
        .await;
    let link = location(&response);
    let link = link.split('?').next().unwrap().to_owned();
    let record = scene
        .app
        .state
        .records
        .by_tracking_token(link.trim_start_matches("/track/"))
        .await
        .unwrap();
    scene.staff_act(&record, "accept", "", true).await;
    assert_eq!(scene.badge().await, Some(1));
    // A stranger with the link reads it without touching the reporter's news,
    // and is offered nothing to press.
    let page = scene.app.text(&client(), &link).await;
    assert!(page.contains("单元门关不上"));
    assert!(text_of(&page, ".record-news").is_none());
    assert_eq!(scene.badge().await, Some(1));
    // The reporter reading it sees the news; pressing the button clears it.
    let page = scene.app.text(&scene.resident, &link).await;
    assert_eq!(badge_in(&page), Some(1));
    assert_eq!(scene.mark_read_on(&page).await.status(), 303);
    assert_eq!(scene.badge().await, None);
}
