use pavilion::domain::Role;

use crate::helpers::*;

fn fields<'a>(code: &'a str, nickname: &'a str) -> Vec<(&'static str, &'a str)> {
    vec![
        ("code", code),
        ("nickname", nickname),
        ("password", "my password 1"),
        ("password_again", "my password 1"),
    ]
}

#[tokio::test]
async fn a_resident_registers_with_a_household_code() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let browser = client();
    // Typed in lower case with a dash and full-width digits, as people do.
    let typed = RegistrationCodeInput::messy(&place.code.printed());
    let response = app
        .post_form(&browser, "/register", &fields(&typed, "3号楼老王"))
        .await;
    assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
    assert_eq!(location(&response), "/me?done=account_created");

    let me = app.text(&browser, "/me?done=account_created").await;
    assert!(me.contains("3号楼老王"));
    assert!(
        me.contains("幸福社区 · 阳光花园 · 3号楼 · 301"),
        "the resident sees their own unit"
    );
    let account: serde_json::Value = app.json(&browser, "/api/v1/me").await;
    assert_eq!(account["role"], "resident");
    assert!(
        account.get("unit_id").is_none(),
        "the unit is not part of the public account shape"
    );

    // A resident is not staff.
    assert_eq!(
        browser
            .get(app.url("/console"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(app.audit("account.register").await.len(), 1);
}

struct RegistrationCodeInput;

impl RegistrationCodeInput {
    /// "ABCDE-23456" → "abcde-２３４５６"
    fn messy(printed: &str) -> String {
        printed
            .chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(c as u32 - '0' as u32 + '０' as u32).unwrap(),
                c => c.to_ascii_lowercase(),
            })
            .collect()
    }
}

#[tokio::test]
async fn a_household_member_can_use_the_same_code() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let first = app
        .post_form(&client(), "/register", &fields(&place.code.code, "老王"))
        .await;
    assert_eq!(first.status(), 303);
    let second = app
        .post_form(&client(), "/register", &fields(&place.code.code, "王阿姨"))
        .await;
    assert_eq!(second.status(), 303);
    let units = app.state.store.list_units(place.building.id).await.unwrap();
    assert_eq!(
        units
            .iter()
            .find(|u| u.id == place.unit.id)
            .unwrap()
            .residents,
        2
    );
}

#[tokio::test]
async fn a_revoked_code_is_refused_and_the_reissued_one_works() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    let response = app
        .post_form(
            &staff,
            &format!("/console/units/{}/code", place.unit.id),
            &[],
        )
        .await;
    assert_eq!(response.status(), 303);
    assert_eq!(app.audit("code.reissue").await.len(), 1);

    let refused = app
        .post_form(&client(), "/register", &fields(&place.code.code, "老王"))
        .await;
    assert_eq!(refused.status(), 400);
    let page = refused.text().await.unwrap();
    assert!(page.contains("注册码无效或已作废"));
    assert!(page.contains("老王"), "the form keeps what was typed");
    assert_eq!(
        app.state.store.directory_counts().await.unwrap().residents,
        0
    );

    let codes = app
        .state
        .store
        .codes_for_building(place.building.id)
        .await
        .unwrap();
    let new_code = codes
        .iter()
        .find(|(u, _)| u.id == place.unit.id)
        .unwrap()
        .1
        .clone()
        .unwrap();
    assert_ne!(new_code.code, place.code.code);
    let accepted = app
        .post_form(&client(), "/register", &fields(&new_code.code, "老王"))
        .await;
    assert_eq!(accepted.status(), 303);
}

#[tokio::test]
async fn bad_nicknames_get_a_clear_message_and_no_account() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let cases = [
        ("老\u{200B}王", "不可见字符"),
        ("a\u{202E}b", "不可见字符"),
        ("ctrl\u{0007}", "不可见字符"),
        (&"长".repeat(21) as &str, "不能超过 20 个字"),
        ("  ", "不能为空"),
        ("<script>", "不允许的字符"),
    ];
    for (nickname, message) in cases {
        let response = app
            .post_form(&client(), "/register", &fields(&place.code.code, nickname))
            .await;
        assert_eq!(response.status(), 400, "{nickname:?}");
        let page = response.text().await.unwrap();
        assert!(page.contains(message), "{nickname:?} should say {message}");
    }
    assert_eq!(
        app.state.store.directory_counts().await.unwrap().residents,
        0
    );
}

#[tokio::test]
async fn a_taken_nickname_and_mismatched_passwords_are_refused() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    assert_eq!(
        app.post_form(&client(), "/register", &fields(&place.code.code, "老王"))
            .await
            .status(),
        303
    );
    // Full-width and case variants are the same name.
    let taken = app
        .post_form(&client(), "/register", &fields(&place.code.code, "老王"))
        .await;
    assert_eq!(taken.status(), 400);
    assert!(taken.text().await.unwrap().contains("已经被别人使用"));
    let mismatch = app
        .post_form(
            &client(),
            "/register",
            &[
                ("code", &place.code.code),
                ("nickname", "新人"),
                ("password", "abcdefgh1"),
                ("password_again", "abcdefgh2"),
            ],
        )
        .await;
    assert_eq!(mismatch.status(), 400);
    assert!(mismatch
        .text()
        .await
        .unwrap()
        .contains("两次输入的密码不一致"));
}

#[tokio::test]
async fn guessing_codes_is_throttled() {
    let app = spawn_app().await;
    app.seed_place().await;
    let browser = client();
    let mut last = 0;
    for i in 0..12 {
        let response = app
            .post_form(
                &browser,
                "/register",
                &fields("ABCDE23456", &format!("guess{i}")),
            )
            .await;
        last = response.status().as_u16();
    }
    assert_eq!(last, 429);
}

#[tokio::test]
async fn staff_print_a_sheet_of_codes() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    app.create_account(Role::Staff, None).await;
    let staff = app.login("staff").await;
    let sheet = staff
        .get(app.url(&format!(
            "/console/buildings/{}/codes/sheet",
            place.building.id
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(sheet.status(), 200);
    let page = sheet.text().await.unwrap();
    assert!(page.contains(&place.code.printed()));
    assert!(page.contains("/register"));
}

#[tokio::test]
async fn staff_of_another_community_cannot_touch_its_codes() {
    let app = spawn_app().await;
    let place = app.seed_place().await;
    let other = app
        .state
        .store
        .create_community(
            &system(),
            &pavilion::domain::PlaceName::parse("别的社区").unwrap(),
            &pavilion::domain::CommunityCode::parse("BD").unwrap(),
        )
        .await
        .unwrap();
    let staff = app.create_account(Role::Staff, None).await;
    let admin = app.create_account(Role::Admin, None).await;
    let change = pavilion::store::AccountChange {
        display_name: pavilion::domain::DisplayName::parse("物业").unwrap(),
        role: Role::Staff,
        community_id: Some(other.id),
        estate_id: None,
        disabled: false,
    };
    let actor = pavilion::domain::Actor {
        id: Some(admin.id),
        name: "admin".into(),
    };
    app.state
        .store
        .update_account(&actor, staff.id, &change)
        .await
        .unwrap();
    let browser = app.login("staff").await;
    let response = app
        .post_form(
            &browser,
            &format!("/console/codes/{}/revoke", place.code.id),
            &[],
        )
        .await;
    // Another community's code does not exist for them.
    assert_eq!(response.status(), 404);
    let codes = app
        .state
        .store
        .codes_for_building(place.building.id)
        .await
        .unwrap();
    assert!(
        codes
            .iter()
            .any(|(_, c)| c.as_ref().is_some_and(|c| c.id == place.code.id)),
        "nothing changed"
    );
}
