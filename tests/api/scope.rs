//! The scope matrix: every console route × every staff role × a subject
//! inside and outside the account's scope, from the same route table the
//! server uses; and the attacks that showed scope was ignored.

use pavilion::domain::broadcast::{BroadcastDetails, Renditions};
use pavilion::domain::notice::{NoticeCategory, NoticeDraft, NoticeState, Validity};
use pavilion::domain::record::{RecordClass, RecordSource};
use pavilion::domain::screen::Orientation;
use pavilion::domain::*;
use pavilion::feedback::records::Filing;
use pavilion::store::ScreenSetup;
use pavilion::web::console::{console_routes, Subject};

use crate::helpers::*;
use crate::signage::pair_screen_as;

/// One of each thing a console route can name, all in one place.
struct Subjects {
    place: Place,
    account: AccountId,
    api_key: i64,
    broadcast: BroadcastId,
    notice: NoticeId,
    screen: i64,
    record: RecordId,
    department: i64,
}

impl Subjects {
    fn id(&self, subject: Subject) -> i64 {
        match subject {
            Subject::Nothing => unreachable!("no id"),
            Subject::Community => self.place.community.id.0,
            Subject::Estate => self.place.estate.id.0,
            Subject::Building => self.place.building.id.0,
            Subject::Unit => self.place.unit.id.0,
            Subject::Code => self.place.code.id.0,
            Subject::Account => self.account.0,
            Subject::ApiKey => self.api_key,
            Subject::Broadcast => self.broadcast.0,
            Subject::Notice => self.notice.0,
            Subject::Screen => self.screen,
            Subject::Record => self.record.0,
        }
    }

    fn path(&self, route: &str, subject: Subject) -> String {
        if subject == Subject::Nothing {
            return route.to_owned();
        }
        route
            .replace("{id}", &self.id(subject).to_string())
            .replace("{department}", &self.department.to_string())
    }
}

/// Words that name only the outside community's things: none may appear on
/// a page of an account scoped to the inside one.
const OUTSIDE_MARKERS: [&str; 8] = [
    "越界社区",
    "越界花园",
    "越界楼",
    "越界管理员",
    "越界的诉求",
    "越界通知",
    "越界屏",
    "越界直播",
];

/// Refusals inside the scope that are a capability's own rule, not scope.
const OWN_RULES: [(&str, Role, &str); 1] = [(
    "/console/broadcasts/{id}/key",
    Role::Secretary,
    "only its owner or an admin rotates a broadcast's key (the root scheduled it)",
)];

async fn staff_account(
    app: &TestApp,
    username: &str,
    role: Role,
    community: Option<CommunityId>,
    estate: Option<EstateId>,
    display_name: &str,
) -> Account {
    app.add_placed_staff(role, username, display_name, community, estate)
        .await
}

/// A record of a phone call about `estate`, as staff file one.
async fn phone_call(
    app: &TestApp,
    estate: EstateId,
    title: &str,
) -> pavilion::domain::record::Record {
    let filing = Filing {
        estate_id: estate,
        building_id: None,
        category: "repairs".into(),
        class: RecordClass::General,
        title: title.into(),
        description: "楼道灯不亮".into(),
        location: String::new(),
        source: RecordSource::Phone,
        point: None,
        title_public: false,
    };
    let (record, _) = app
        .state
        .records
        .file(&system(), None, filing, chrono::Utc::now())
        .await
        .unwrap();
    record
}

/// A community's things, each named with `prefix` so a page shows whose it is.
async fn subjects(app: &TestApp, place: Place, prefix: &str, owner: &Account) -> Subjects {
    let store = &app.state.store;
    let community = place.community.id;
    let account = staff_account(
        app,
        &format!("{}-boss", place.community.code.as_str().to_lowercase()),
        Role::Admin,
        Some(community),
        None,
        &format!("{prefix}管理员"),
    )
    .await;
    let api_key = store
        .create_api_key(
            &system(),
            &format!("{prefix}接口"),
            &format!("hash-{prefix}"),
            Some(community),
        )
        .await
        .unwrap()
        .id;
    let details = BroadcastDetails::new(
        community,
        &format!("{prefix}直播"),
        "",
        chrono::Utc::now(),
        Vec::new(),
        Renditions::default(),
    )
    .unwrap();
    let broadcast = store
        .create_broadcast(&system(), owner.id, &details, &format!("key-{prefix}"))
        .await
        .unwrap()
        .id;
    let draft = NoticeDraft::new(
        community,
        &format!("{prefix}通知"),
        "请相互转告。",
        NoticeCategory::Announcement,
        false,
        Validity::new(chrono::Utc::now() - chrono::Duration::hours(1), None).unwrap(),
        vec![],
        vec![],
        5,
        5,
        vec![],
        None,
    )
    .unwrap();
    let notice = store
        .create_notice(&system(), owner.id, &draft, NoticeState::Draft)
        .await
        .unwrap()
        .id;
    let token = pair_screen_as(
        app,
        ScreenSetup {
            name: format!("{prefix}屏"),
            building_id: place.building.id,
            group_id: None,
            orientation: Orientation::Landscape,
        },
    )
    .await;
    let screen = app
        .state
        .store
        .list_screens(Some(community))
        .await
        .unwrap()
        .into_iter()
        .find(|s| s.name == format!("{prefix}屏"))
        .map(|s| s.id.0)
        .unwrap_or_else(|| panic!("screen of {prefix} paired with {token}"));
    let record = phone_call(app, place.estate.id, &format!("{prefix}的诉求")).await;
    let department = store
        .add_department(
            &system(),
            community,
            &format!("{prefix}城管科"),
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .id;
    Subjects {
        place,
        account: account.id,
        api_key,
        broadcast,
        notice,
        screen,
        record: record.id,
        department,
    }
}

struct World {
    app: TestApp,
    root: Account,
    inside: Subjects,
    outside: Subjects,
    /// Staff of every role tied to the inside community (observers to its
    /// estate), each with a signed-in browser.
    scoped: Vec<(Role, Account, reqwest::Client)>,
}

async fn world() -> World {
    let app = spawn_app().await;
    // The installation's admin comes first: screens are paired by the first admin.
    let root = staff_account(&app, "root", Role::Admin, None, None, "总管理员").await;
    let inside_place = app
        .seed_place_named("幸福社区", "XF", "阳光花园", "3号楼")
        .await;
    let outside_place = app
        .seed_place_named("越界社区", "YJ", "越界花园", "越界楼")
        .await;
    let inside = subjects(&app, inside_place, "界内", &root).await;
    let outside = subjects(&app, outside_place, "越界", &root).await;
    let mut scoped = Vec::new();
    for role in Role::ALL.into_iter().filter(|r| r.is_staff()) {
        let estate = (role == Role::Observer).then_some(inside.place.estate.id);
        let account = staff_account(
            &app,
            &format!("in-{}", role.as_str()),
            role,
            Some(inside.place.community.id),
            estate,
            &format!("界内{}", role.as_str()),
        )
        .await;
        let browser = app.login(account.username.as_str()).await;
        scoped.push((role, account, browser));
    }
    World {
        app,
        root,
        inside,
        outside,
        scoped,
    }
}

async fn audit_count(app: &TestApp) -> usize {
    app.state
        .store
        .audit_log(&AuditFilter {
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap()
        .len()
}

async fn request(app: &TestApp, browser: &reqwest::Client, method: &str, path: &str) -> u16 {
    let response = if method == "GET" {
        browser.get(app.url(path)).send().await.unwrap()
    } else {
        // A valid form token, so that only role and scope decide.
        app.post_form(browser, path, &[]).await
    };
    response.status().as_u16()
}

#[tokio::test]
async fn every_console_route_keeps_every_role_inside_its_scope() {
    let world = world().await;
    let app = &world.app;
    let routes = console_routes();
    let mut outside_checked = 0;
    let mut inside_checked = 0;
    let mut refused_inside = Vec::new();
    for route in routes.iter().filter(|r| r.subject != Subject::Nothing) {
        for method in &route.methods {
            let method = method.as_str();
            for (role, account, browser) in &world.scoped {
                let allowed = role.can(route.permission);
                let outside = world.outside.path(route.path, route.subject);
                let before = audit_count(app).await;
                let status = request(app, browser, method, &outside).await;
                if allowed {
                    assert_eq!(
                        status, 404,
                        "{role:?} {method} {outside}: a subject of another community must not exist for them"
                    );
                    assert_eq!(
                        audit_count(app).await,
                        before,
                        "{role:?} {method} {outside} changed something"
                    );
                    outside_checked += 1;
                } else {
                    assert_eq!(status, 403, "{role:?} {method} {outside}");
                }
                if !allowed {
                    continue;
                }
                let inside = world.inside.path(route.path, route.subject);
                let status = request(app, browser, method, &inside).await;
                // Inside its scope a role reaches the subject (what it does
                // with an empty form is the handler's business).
                let governs = !matches!(
                    route.subject,
                    Subject::Broadcast | Subject::Notice | Subject::Screen | Subject::Record
                );
                let estate_bound = account.scope().estate().is_some();
                if governs && estate_bound && route.subject != Subject::Estate {
                    // An estate's account governs its estate, not the community.
                    continue;
                }
                let own_rule = OWN_RULES
                    .iter()
                    .any(|(path, who, _)| *path == route.path && who == role);
                if (status == 403 && !own_rule) || status == 404 || status >= 500 {
                    refused_inside.push(format!("{role:?} {method} {inside}: {status}"));
                }
                inside_checked += 1;
            }
        }
    }
    assert!(
        refused_inside.is_empty(),
        "refused inside: {refused_inside:#?}"
    );
    assert!(outside_checked >= 60, "checked {outside_checked} outside");
    assert!(inside_checked >= 60, "checked {inside_checked} inside");

    // The installation's admin reaches both communities.
    let root = app.login(world.root.username.as_str()).await;
    for subjects in [&world.inside, &world.outside] {
        for route in routes.iter().filter(|r| r.subject != Subject::Nothing) {
            if route.methods.iter().any(|m| m.as_str() == "GET") {
                let path = subjects.path(route.path, route.subject);
                let status = request(app, &root, "GET", &path).await;
                assert!(
                    status != 403 && status != 404 && status < 500,
                    "root GET {path} answered {status}"
                );
            }
        }
    }
}

#[tokio::test]
async fn lists_and_choices_show_nothing_of_another_community() {
    let world = world().await;
    let app = &world.app;
    let outside = &world.outside.place;
    // Also try to ask for the other community by the filters pages accept.
    let query = format!(
        "?community={}&estate={}&building={}",
        outside.community.id, outside.estate.id, outside.building.id
    );
    let mut checked = 0;
    for route in console_routes()
        .iter()
        .filter(|r| r.subject == Subject::Nothing && r.methods.iter().any(|m| m == "GET"))
    {
        for (role, _, browser) in &world.scoped {
            if !role.can(route.permission) {
                continue;
            }
            for path in [route.path.to_owned(), format!("{}{query}", route.path)] {
                let response = browser.get(app.url(&path)).send().await.unwrap();
                let status = response.status().as_u16();
                assert!(
                    status < 500 && status != 403,
                    "{role:?} GET {path}: {status}"
                );
                let body = response.text().await.unwrap();
                for marker in OUTSIDE_MARKERS {
                    assert!(
                        !body.contains(marker),
                        "{role:?} GET {path} shows {marker} of another community"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 40, "checked {checked}");
}

#[tokio::test]
async fn a_community_admin_cannot_take_over_the_installation() {
    let world = world().await;
    let app = &world.app;
    let (_, admin, browser) = world
        .scoped
        .iter()
        .find(|(role, _, _)| *role == Role::Admin)
        .unwrap();
    let accounts_before = app
        .state
        .store
        .list_accounts(&Default::default())
        .await
        .unwrap()
        .len();
    let audit_before = audit_count(app).await;

    // Reset the installation admin's password: it does not exist for them.
    let path = format!("/console/accounts/{}/password", world.root.id);
    let response = app
        .post_form(browser, &path, &[("password", "taken-over-123")])
        .await;
    assert_eq!(response.status(), 404);
    // Disable or demote them: likewise.
    let path = format!("/console/accounts/{}", world.root.id);
    let response = app
        .post_form(
            browser,
            &path,
            &[
                ("display_name", "被降级"),
                ("role", "observer"),
                ("place", ""),
                ("disabled", "on"),
            ],
        )
        .await;
    assert_eq!(response.status(), 404);

    // Create an admin of the whole installation, or of another community.
    let outside = world.outside.place.community.id;
    for place in [
        String::new(),
        format!("c:{outside}"),
        format!("e:{}", world.outside.place.estate.id),
    ] {
        let response = app
            .post_form(
                browser,
                "/console/accounts",
                &[
                    ("username", "usurper"),
                    ("display_name", "篡位者"),
                    ("role", "admin"),
                    ("place", place.as_str()),
                    ("password", "usurper-pass-1"),
                ],
            )
            .await;
        assert_eq!(response.status(), 400, "place {place:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains("只能把账号放在您自己负责的范围内"), "{page}");
    }
    // Widen one of their own staff to the whole installation.
    let (_, moderator, _) = world
        .scoped
        .iter()
        .find(|(role, _, _)| *role == Role::Moderator)
        .unwrap();
    let response = app
        .post_form(
            browser,
            &format!("/console/accounts/{}", moderator.id),
            &[
                ("display_name", "界内moderator"),
                ("role", "admin"),
                ("place", ""),
            ],
        )
        .await;
    assert_eq!(response.status(), 400);

    // A new community lies outside their community.
    let response = app
        .post_form(
            browser,
            "/console/communities",
            &[("name", "自封社区"), ("code", "ZF")],
        )
        .await;
    assert_eq!(response.status(), 403);

    // Nothing changed: the root still signs in with its password, no
    // account was added, no audit entry written.
    app.login("root").await;
    let root = app.state.store.account(world.root.id).await.unwrap();
    assert_eq!(root.role, Role::Admin);
    assert!(!root.disabled);
    assert_eq!(root.scope(), Scope::Installation);
    let moderator = app.state.store.account(moderator.id).await.unwrap();
    assert_eq!(moderator.role, Role::Moderator);
    assert_eq!(
        app.state
            .store
            .list_accounts(&Default::default())
            .await
            .unwrap()
            .len(),
        accounts_before
    );
    assert_eq!(audit_count(app).await, audit_before);

    // Within their own community they still manage accounts.
    let response = app
        .post_form(
            browser,
            "/console/accounts",
            &[
                ("username", "new-clerk"),
                ("display_name", "新物业"),
                ("role", "staff"),
                ("place", &format!("c:{}", world.inside.place.community.id)),
                ("password", "new-clerk-pass-1"),
            ],
        )
        .await;
    assert_eq!(response.status(), 303);
    let clerk = app
        .state
        .store
        .list_accounts(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.username == "new-clerk")
        .unwrap();
    assert_eq!(clerk.scope(), admin.scope());
}

#[tokio::test]
async fn the_audit_log_and_api_keys_of_a_community_admin_stay_in_its_community() {
    let world = world().await;
    let app = &world.app;
    let (_, _, browser) = world
        .scoped
        .iter()
        .find(|(role, _, _)| *role == Role::Admin)
        .unwrap();
    // Something the other community's admin did.
    let outsider = app.login("yj-boss").await;
    let response = app
        .post_form(
            &outsider,
            &format!("/console/estates/{}/rename", world.outside.place.estate.id),
            &[("name", "越界花园二期")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let audit = app.text(browser, "/console/audit").await;
    assert!(!audit.contains("yj-boss"), "another community's actions");
    assert!(!audit.contains("越界花园"));
    // Their own community's actions are there.
    let response = app
        .post_form(
            browser,
            &format!("/console/estates/{}/rename", world.inside.place.estate.id),
            &[("name", "阳光花园一期")],
        )
        .await;
    assert_eq!(response.status(), 303);
    let audit = app.text(browser, "/console/audit").await;
    assert!(audit.contains("阳光花园一期"), "{audit}");

    // API keys: only their community's, revoking another's is a 404, and
    // their own key files only into their own estates.
    let keys = app.text(browser, "/console/api-keys").await;
    assert!(keys.contains("界内接口") && !keys.contains("越界接口"));
    let response = app
        .post_form(
            browser,
            &format!("/console/api-keys/{}/revoke", world.outside.api_key),
            &[],
        )
        .await;
    assert_eq!(response.status(), 404);
    let key = app
        .state
        .store
        .api_key_by_id(world.outside.api_key)
        .await
        .unwrap();
    assert!(key.revoked_at.is_none());

    let response = app
        .post_form(browser, "/console/api-keys", &[("name", "社区热线")])
        .await;
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    let secret = text_of(&page, "code.reg-code").expect("the new key is shown once");
    let file_into = |estate: EstateId| {
        let secret = secret.clone();
        async move {
            reqwest::Client::new()
                .post(app.url("/open311/v2/requests.json"))
                .form(&[
                    ("api_key", secret.as_str()),
                    ("service_code", "repairs"),
                    ("address_id", &estate.0.to_string()),
                    ("description", "路灯坏了"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let records_before = app
        .state
        .store
        .list_records(&pavilion::store::RecordFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    let refused = file_into(world.outside.place.estate.id).await;
    assert_eq!(refused.status(), 403);
    let body = refused.text().await.unwrap();
    assert!(body.contains("may not file"), "{body}");
    assert_eq!(
        app.state
            .store
            .list_records(&pavilion::store::RecordFilter {
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .len(),
        records_before
    );
    let accepted = file_into(world.inside.place.estate.id).await;
    assert_eq!(accepted.status(), 201, "{}", accepted.text().await.unwrap());
}

#[tokio::test]
async fn an_estate_account_reaches_its_estate_and_what_its_community_shares_but_no_other_estate() {
    let world = world().await;
    let app = &world.app;
    let store = &app.state.store;
    let community = world.inside.place.community.id;
    let other_estate = store
        .create_estate(&system(), community, &PlaceName::parse("隔壁花园").unwrap())
        .await
        .unwrap();
    let record = phone_call(app, other_estate.id, "隔壁的诉求").await;
    let clerk = staff_account(
        app,
        "estate-clerk",
        Role::Staff,
        Some(community),
        Some(world.inside.place.estate.id),
        "阳光花园物业",
    )
    .await;
    let browser = app.login(clerk.username.as_str()).await;
    // Its own estate's record and the community-wide broadcast: yes.
    for path in [
        format!("/console/records/{}", world.inside.record),
        format!("/console/broadcasts/{}", world.inside.broadcast),
    ] {
        let status = request(app, &browser, "GET", &path).await;
        assert_eq!(status, 200, "{path}");
    }
    // The neighbouring estate's record: it does not exist for them, in the
    // queue or by its id, and acting on it changes nothing.
    let path = format!("/console/records/{}", record.id);
    assert_eq!(request(app, &browser, "GET", &path).await, 404);
    let response = app
        .post_form(
            &browser,
            &format!("/console/records/{}/act", record.id),
            &[("action", "accept"), ("version", "1"), ("note", "")],
        )
        .await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        store.record(record.id).await.unwrap().version,
        record.version
    );
    let queue = app.text(&browser, "/console/records").await;
    assert!(queue.contains("界内的诉求") && !queue.contains("隔壁的诉求"));
    // Nor does it govern its community: its settings are out of reach.
    let path = format!("/console/estates/{}", other_estate.id);
    assert!(matches!(
        request(app, &browser, "GET", &path).await,
        403 | 404
    ));
}
