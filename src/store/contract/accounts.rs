//! The directory, accounts, sessions, setup, the audit log and API keys.

use async_trait::async_trait;
use chrono::{Duration, Utc};
use futures_util::future::join_all;

use super::on_both_backends;
use crate::domain::*;
use crate::store::{
    AccountChange, AccountFilter, AccountStore, ApiKey, ApiKeyStore, AuditStore, DirectoryStore,
    PgStore, Session, SqliteStore, StoreError,
};

on_both_backends!(
    places_are_created_listed_and_unique,
    renames_are_audited_before_and_after,
    units_have_one_active_code_each,
    residents_register_with_an_active_code,
    accounts_are_created_updated_and_disabled,
    closed_accounts_never_change_again,
    sessions_live_until_they_expire_or_end,
    only_the_newest_setup_link_makes_one_admin,
    the_audit_log_is_append_only_and_filtered,
    api_keys_are_scoped_and_revocable,
    racing_registrations_with_one_name_make_one_account,
    racing_renames_to_one_name_leave_one_winner,
    racing_code_issues_give_each_unit_one_code,
);

/// Plain SQL for what no store method does (a closed account, tampering),
/// so that the schema's own rules are tested too. The SQL has no
/// placeholders, so one text runs on both backends.
#[async_trait]
trait RawSql {
    async fn raw(&self, sql: &str) -> Result<u64, StoreError>;
}

#[async_trait]
impl RawSql for SqliteStore {
    async fn raw(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).execute(self.pool()).await?.rows_affected())
    }
}

#[async_trait]
impl RawSql for PgStore {
    async fn raw(&self, sql: &str) -> Result<u64, StoreError> {
        Ok(sqlx::query(sql).execute(self.pool()).await?.rows_affected())
    }
}

fn admin() -> Actor {
    Actor {
        id: None,
        name: "管理员".into(),
    }
}

fn name(raw: &str) -> PlaceName {
    PlaceName::parse(raw).unwrap()
}

fn labels(raw: &str) -> Vec<UnitLabel> {
    UnitLabel::parse_list(raw).unwrap()
}

fn staff(username: &str, role: Role, community: Option<CommunityId>) -> NewAccount {
    NewAccount {
        username: Username::parse(username).unwrap(),
        display_name: DisplayName::parse(username).unwrap(),
        password_hash: format!("hash of {username}"),
        role,
        community_id: community,
        estate_id: None,
        unit_id: None,
    }
}

/// A community with one estate and one building of `units`.
async fn place<S: DirectoryStore>(
    store: &S,
    code: &str,
    units: &str,
) -> (Community, Estate, Building) {
    let community = store
        .create_community(
            &admin(),
            &name(&format!("{code}社区")),
            &CommunityCode::parse(code).unwrap(),
        )
        .await
        .unwrap();
    let estate = store
        .create_estate(&admin(), community.id, &name("花园小区"))
        .await
        .unwrap();
    let building = store
        .create_building(&admin(), estate.id, &name("1号楼"))
        .await
        .unwrap();
    store
        .add_units(&admin(), building.id, &labels(units))
        .await
        .unwrap();
    (community, estate, building)
}

/// Codes that differ per call and per counter.
fn codes(prefix: &'static str) -> impl FnMut() -> String + Send {
    let mut n = 0;
    move || {
        n += 1;
        format!("{prefix}{n:05}")
    }
}

async fn audit_of<S: AuditStore>(store: &S, action: &str) -> Vec<AuditEntry> {
    store
        .audit_log(&AuditFilter {
            action: Some(action.into()),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
}

async fn places_are_created_listed_and_unique<S: DirectoryStore + AuditStore>(store: &S) {
    let hx = store
        .create_community(
            &admin(),
            &name("红星社区"),
            &CommunityCode::parse("HX").unwrap(),
        )
        .await
        .unwrap();
    assert_eq!((hx.name.as_str(), hx.code.as_str()), ("红星社区", "HX"));
    assert!(matches!(
        store
            .create_community(
                &admin(),
                &name("红星社区"),
                &CommunityCode::parse("HY").unwrap()
            )
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .create_community(
                &admin(),
                &name("别的社区"),
                &CommunityCode::parse("HX").unwrap()
            )
            .await,
        Err(StoreError::Conflict)
    ));
    let ab = store
        .create_community(
            &admin(),
            &name("安宝社区"),
            &CommunityCode::parse("AB").unwrap(),
        )
        .await
        .unwrap();
    let listed: Vec<_> = store.list_communities().await.unwrap();
    let names: Vec<_> = listed.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["安宝社区", "红星社区"]);
    assert_eq!(store.community(hx.id).await.unwrap().code, "HX");
    assert!(matches!(
        store.community(CommunityId(9999)).await,
        Err(StoreError::NotFound)
    ));

    let garden = store
        .create_estate(&admin(), hx.id, &name("花园小区"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_estate(&admin(), hx.id, &name("花园小区"))
            .await,
        Err(StoreError::Conflict)
    ));
    // The same name in another community is another estate.
    store
        .create_estate(&admin(), ab.id, &name("花园小区"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_estate(&admin(), CommunityId(9999), &name("无处小区"))
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.list_estates(hx.id).await.unwrap().len(), 1);
    assert_eq!(store.estate(garden.id).await.unwrap().community_id, hx.id);

    for building in ["10号楼", "2号楼", "1号楼"] {
        store
            .create_building(&admin(), garden.id, &name(building))
            .await
            .unwrap();
    }
    assert!(matches!(
        store
            .create_building(&admin(), garden.id, &name("2号楼"))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .create_building(&admin(), EstateId(9999), &name("1号楼"))
            .await,
        Err(StoreError::NotFound)
    ));
    let buildings = store.list_buildings(garden.id).await.unwrap();
    let names: Vec<_> = buildings.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(names, ["1号楼", "2号楼", "10号楼"]);
    let first = &buildings[0];
    assert_eq!(store.building(first.id).await.unwrap().estate_id, garden.id);

    assert_eq!(
        store
            .add_units(&admin(), first.id, &labels("101 1001 102"))
            .await
            .unwrap(),
        3
    );
    // Units already there are skipped, not refused.
    assert_eq!(
        store
            .add_units(&admin(), first.id, &labels("102 103"))
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store
            .add_units(&admin(), BuildingId(9999), &labels("1"))
            .await,
        Err(StoreError::NotFound)
    ));
    let units = store.list_units(first.id).await.unwrap();
    let unit_labels: Vec<_> = units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(unit_labels, ["101", "102", "103", "1001"]);
    assert_eq!(store.unit(units[0].id).await.unwrap().residents, 0);

    let counts = store.directory_counts().await.unwrap();
    assert_eq!(
        (
            counts.communities,
            counts.estates,
            counts.buildings,
            counts.units
        ),
        (2, 2, 3, 4)
    );
    let added = audit_of(store, "unit.add").await;
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].after, Some(serde_json::json!(["103"])));
    assert_eq!(audit_of(store, "community.create").await.len(), 2);
    assert_eq!(audit_of(store, "building.create").await.len(), 3);
}

async fn renames_are_audited_before_and_after<S: DirectoryStore + AuditStore>(store: &S) {
    let (community, estate, building) = place(store, "HX", "101").await;
    let renamed = store
        .rename_community(&admin(), community.id, &name("新红星社区"))
        .await
        .unwrap();
    assert_eq!(renamed.name, "新红星社区");
    assert_eq!(renamed.code, "HX");
    store
        .rename_estate(&admin(), estate.id, &name("新花园"))
        .await
        .unwrap();
    store
        .rename_building(&admin(), building.id, &name("2号楼"))
        .await
        .unwrap();
    assert_eq!(store.building(building.id).await.unwrap().name, "2号楼");

    let [entry] = &audit_of(store, "community.rename").await[..] else {
        panic!("one rename entry");
    };
    assert_eq!(entry.entity, "community");
    assert_eq!(
        entry.entity_id.as_deref(),
        Some(community.id.0.to_string().as_str())
    );
    assert_eq!(entry.actor_name, "管理员");
    assert_eq!(entry.before.as_ref().unwrap()["name"], "HX社区");
    assert_eq!(entry.after.as_ref().unwrap()["name"], "新红星社区");
    let [entry] = &audit_of(store, "building.rename").await[..] else {
        panic!("one rename entry");
    };
    assert_eq!(entry.before.as_ref().unwrap()["name"], "1号楼");
    assert_eq!(entry.after.as_ref().unwrap()["name"], "2号楼");

    // Into a name in use: refused, nothing changed, nothing audited.
    let other = store
        .create_estate(&admin(), community.id, &name("老小区"))
        .await
        .unwrap();
    assert!(matches!(
        store
            .rename_estate(&admin(), other.id, &name("新花园"))
            .await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(store.estate(other.id).await.unwrap().name, "老小区");
    assert_eq!(audit_of(store, "estate.rename").await.len(), 1);
    assert!(matches!(
        store
            .rename_building(&admin(), BuildingId(9999), &name("3号楼"))
            .await,
        Err(StoreError::NotFound)
    ));
}

async fn units_have_one_active_code_each<S: DirectoryStore + AuditStore>(store: &S) {
    let (_, _, building) = place(store, "HX", "101 102 103").await;
    let mut next = codes("AAAAA");
    assert_eq!(
        store
            .issue_missing_codes(&admin(), building.id, &mut next)
            .await
            .unwrap(),
        3
    );
    assert_eq!(
        store
            .issue_missing_codes(&admin(), building.id, &mut next)
            .await
            .unwrap(),
        0
    );
    let codes_now = store.codes_for_building(building.id).await.unwrap();
    assert_eq!(codes_now.len(), 3);
    assert!(codes_now.iter().all(|(unit, code)| code
        .as_ref()
        .is_some_and(|c| c.unit_id == unit.id && c.is_active())));

    let (unit, old) = codes_now[0].clone();
    let old = old.unwrap();
    let new = store
        .reissue_code(&admin(), unit.id, "BBBBB00001")
        .await
        .unwrap();
    assert!(new.is_active());
    assert_eq!((new.unit_id, new.uses), (unit.id, 0));
    let codes_now = store.codes_for_building(building.id).await.unwrap();
    let active: Vec<_> = codes_now
        .iter()
        .filter(|(u, _)| u.id == unit.id)
        .map(|(_, c)| c.clone().unwrap().code)
        .collect();
    assert_eq!(active, ["BBBBB00001"]);
    assert_eq!(store.code_unit(old.id).await.unwrap(), unit.id);
    let [entry] = &audit_of(store, "code.reissue").await[..] else {
        panic!("one reissue entry");
    };
    assert_eq!(entry.before, Some(serde_json::json!(old.printed())));
    assert_eq!(entry.after, Some(serde_json::json!("BBBBB-00001")));

    // A code in use elsewhere is refused and the unit keeps its own.
    let other = &codes_now[1].0;
    assert!(matches!(
        store.reissue_code(&admin(), other.id, "BBBBB00001").await,
        Err(StoreError::Conflict)
    ));
    assert!(store.codes_for_building(building.id).await.unwrap()[1]
        .1
        .is_some());
    assert!(matches!(
        store
            .reissue_code(&admin(), UnitId(9999), "CCCCC00001")
            .await,
        Err(StoreError::NotFound)
    ));

    let revoked = store.revoke_code(&admin(), new.id).await.unwrap();
    assert!(!revoked.is_active());
    // Revoking again keeps the first time.
    let again = store.revoke_code(&admin(), new.id).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    let codes_now = store.codes_for_building(building.id).await.unwrap();
    assert!(codes_now
        .iter()
        .find(|(u, _)| u.id == unit.id)
        .unwrap()
        .1
        .is_none());
    // Only the unit without an active code gets one.
    assert_eq!(
        store
            .issue_missing_codes(&admin(), building.id, &mut next)
            .await
            .unwrap(),
        1
    );
    assert!(matches!(
        store.revoke_code(&admin(), RegistrationCodeId(9999)).await,
        Err(StoreError::NotFound)
    ));
}

async fn residents_register_with_an_active_code<S: DirectoryStore + AccountStore + AuditStore>(
    store: &S,
) {
    let (community, estate, building) = place(store, "HX", "101").await;
    let unit = store.list_units(building.id).await.unwrap().remove(0);
    let code = store
        .reissue_code(&admin(), unit.id, "AAAAA00001")
        .await
        .unwrap();
    let resident = store
        .register_resident(
            "AAAAA00001",
            Username::parse("laozhang").unwrap(),
            DisplayName::parse("老张").unwrap(),
            "hash".into(),
        )
        .await
        .unwrap();
    assert_eq!(resident.role, Role::Resident);
    assert_eq!(
        (resident.community_id, resident.estate_id, resident.unit_id),
        (Some(community.id), Some(estate.id), Some(unit.id))
    );
    assert_eq!(store.unit(unit.id).await.unwrap().residents, 1);
    let [entry] = &audit_of(store, "account.register").await[..] else {
        panic!("one registration entry");
    };
    assert_eq!(entry.actor_id, Some(resident.id));
    assert_eq!(entry.actor_name, "laozhang");

    store.revoke_code(&admin(), code.id).await.unwrap();
    assert!(matches!(
        store
            .register_resident(
                "AAAAA00001",
                Username::parse("laowang").unwrap(),
                DisplayName::parse("老王").unwrap(),
                "hash".into(),
            )
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        store
            .register_resident(
                "ZZZZZ99999",
                Username::parse("laowang").unwrap(),
                DisplayName::parse("老王").unwrap(),
                "hash".into(),
            )
            .await,
        Err(StoreError::Rejected(_))
    ));
    let code = store.codes_for_building(building.id).await.unwrap();
    assert!(code[0].1.is_none());
    assert_eq!(store.directory_counts().await.unwrap().residents, 1);
}

async fn accounts_are_created_updated_and_disabled<
    S: DirectoryStore + AccountStore + AuditStore,
>(
    store: &S,
) {
    let (community, estate, _) = place(store, "HX", "101").await;
    let mut changes = store.account_changes();
    let clerk = store
        .create_account(&admin(), staff("clerk", Role::Staff, Some(community.id)))
        .await
        .unwrap();
    assert_eq!(
        (clerk.role, clerk.community_id),
        (Role::Staff, Some(community.id))
    );
    assert!(!clerk.disabled);
    assert!(matches!(
        store
            .create_account(&admin(), staff("clerk", Role::Observer, None))
            .await,
        Err(StoreError::Conflict)
    ));
    assert!(matches!(
        store
            .create_account(
                &admin(),
                staff("nobody", Role::Staff, Some(CommunityId(9999)))
            )
            .await,
        Err(StoreError::NotFound)
    ));
    let boss = store
        .create_account(&admin(), staff("Boss", Role::Admin, None))
        .await
        .unwrap();
    assert_eq!(boss.username, "boss");
    assert_eq!(store.count_admins().await.unwrap(), 1);

    let (found, hash) = store
        .credentials(&Username::parse("CLERK").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((found.id, hash.as_str()), (clerk.id, "hash of clerk"));
    assert!(store
        .credentials(&Username::parse("ghost").unwrap())
        .await
        .unwrap()
        .is_none());

    let all = store
        .list_accounts(&AccountFilter::default())
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|a| a.username.as_str()).collect();
    assert_eq!(names, ["boss", "clerk"]);
    let search = |s: &str, within: Scope| AccountFilter {
        role: None,
        search: Some(s.into()),
        within,
    };
    assert_eq!(
        store
            .list_accounts(&search("LER", Scope::Installation))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store
            .list_accounts(&search("", Scope::Community(community.id)))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(store
        .list_accounts(&AccountFilter {
            role: Some(Role::Moderator),
            ..AccountFilter::default()
        })
        .await
        .unwrap()
        .is_empty());

    let session = |id| Session {
        account_id: id,
        csrf_token: "csrf".into(),
        expires_at: Utc::now() + Duration::hours(1),
    };
    store
        .create_session("clerk-1", &session(clerk.id))
        .await
        .unwrap();
    let change = AccountChange {
        display_name: DisplayName::parse("小李").unwrap(),
        role: Role::Moderator,
        community_id: Some(community.id),
        estate_id: Some(estate.id),
        disabled: false,
    };
    let moved = store
        .update_account(&admin(), clerk.id, &change)
        .await
        .unwrap();
    assert_eq!(
        (moved.display_name.as_str(), moved.role, moved.estate_id),
        ("小李", Role::Moderator, Some(estate.id))
    );
    assert_eq!(changes.try_recv().unwrap(), clerk.id);
    // A new role ends the account's sessions.
    assert!(store
        .session("clerk-1", Utc::now())
        .await
        .unwrap()
        .is_none());
    let [entry] = &audit_of(store, "account.update").await[..] else {
        panic!("one update entry");
    };
    assert_eq!(entry.before.as_ref().unwrap()["role"], "staff");
    assert_eq!(entry.after.as_ref().unwrap()["role"], "moderator");

    store
        .create_session("clerk-2", &session(clerk.id))
        .await
        .unwrap();
    let disabled = store
        .update_account(
            &admin(),
            clerk.id,
            &AccountChange {
                disabled: true,
                ..change.clone()
            },
        )
        .await
        .unwrap();
    assert!(disabled.disabled);
    assert!(store
        .session("clerk-2", Utc::now())
        .await
        .unwrap()
        .is_none());
    assert_eq!(changes.try_recv().unwrap(), clerk.id);
    let enabled = store
        .update_account(&admin(), clerk.id, &change)
        .await
        .unwrap();
    assert!(!enabled.disabled);
    assert_eq!(changes.try_recv().unwrap(), clerk.id);

    assert!(matches!(
        store
            .update_account(
                &admin(),
                clerk.id,
                &AccountChange {
                    role: Role::Resident,
                    ..change.clone()
                }
            )
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        store
            .update_account(&admin(), AccountId(9999), &change)
            .await,
        Err(StoreError::NotFound)
    ));

    store
        .create_session("clerk-3", &session(clerk.id))
        .await
        .unwrap();
    store
        .set_password(&admin(), clerk.id, "new hash")
        .await
        .unwrap();
    assert_eq!(changes.try_recv().unwrap(), clerk.id);
    assert!(store
        .session("clerk-3", Utc::now())
        .await
        .unwrap()
        .is_none());
    let (_, hash) = store
        .credentials(&Username::parse("clerk").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hash, "new hash");
    assert_eq!(audit_of(store, "account.password").await.len(), 1);
    assert!(matches!(
        store.set_password(&admin(), AccountId(9999), "x").await,
        Err(StoreError::NotFound)
    ));

    store.set_locale(clerk.id, "en").await.unwrap();
    assert_eq!(
        store.account(clerk.id).await.unwrap().locale.as_deref(),
        Some("en")
    );
    let counts = store.directory_counts().await.unwrap();
    assert_eq!((counts.accounts, counts.residents), (2, 0));
}

async fn closed_accounts_never_change_again<
    S: DirectoryStore + AccountStore + AuditStore + RawSql,
>(
    store: &S,
) {
    let (_, _, building) = place(store, "HX", "101").await;
    let unit = store.list_units(building.id).await.unwrap().remove(0);
    store
        .reissue_code(&admin(), unit.id, "AAAAA00001")
        .await
        .unwrap();
    let resident = store
        .register_resident(
            "AAAAA00001",
            Username::parse("laozhang").unwrap(),
            DisplayName::parse("老张").unwrap(),
            "hash".into(),
        )
        .await
        .unwrap();
    let id = resident.id.0;
    store
        .raw(&format!(
            "UPDATE accounts SET username = '@closed-{id}', display_name = '居民{id}',
                    password_hash = '', estate_id = NULL, unit_id = NULL, locale = NULL,
                    disabled_at = '2026-01-01T00:00:00.000000Z', closed_at = '2026-01-01T00:00:00.000000Z'
              WHERE id = {id}"
        ))
        .await
        .unwrap();

    let change = AccountChange {
        display_name: DisplayName::parse("老张").unwrap(),
        role: Role::Resident,
        community_id: resident.community_id,
        estate_id: resident.estate_id,
        disabled: false,
    };
    assert!(matches!(
        store.update_account(&admin(), resident.id, &change).await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        store.set_password(&admin(), resident.id, "again").await,
        Err(StoreError::Rejected(_))
    ));
    // The schema refuses it too, whoever asks.
    assert!(matches!(
        store
            .raw(&format!(
                "UPDATE accounts SET disabled_at = NULL, closed_at = NULL WHERE id = {id}"
            ))
            .await,
        Err(StoreError::Database(_))
    ));
    assert!(store.set_locale(resident.id, "en").await.is_err());
    let closed = store.account(resident.id).await.unwrap();
    assert!(closed.disabled);
    assert_eq!(closed.username, format!("@closed-{id}"));
    assert!(closed.locale.is_none());
    // Its audit entries name it by its label now, and hold nothing about it.
    let [entry] = &audit_of(store, "account.register").await[..] else {
        panic!("one registration entry");
    };
    assert_eq!(entry.actor_name, format!("居民{id}"));
    assert!(entry.after.is_none());
    assert!(store
        .audit_log(&AuditFilter {
            actor: Some("laozhang".into()),
            limit: 10,
            ..AuditFilter::default()
        })
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.unit(unit.id).await.unwrap().residents, 0);
}

async fn sessions_live_until_they_expire_or_end<S: AccountStore>(store: &S) {
    let clerk = store
        .create_account(&admin(), staff("clerk", Role::Staff, None))
        .await
        .unwrap();
    let now = Utc::now();
    let expires_at = now + Duration::hours(1);
    store
        .create_session(
            "token-1",
            &Session {
                account_id: clerk.id,
                csrf_token: "csrf-1".into(),
                expires_at,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_session(
                "token-1",
                &Session {
                    account_id: clerk.id,
                    csrf_token: "csrf-x".into(),
                    expires_at,
                },
            )
            .await,
        Err(StoreError::Conflict)
    ));
    let (session, account) = store.session("token-1", now).await.unwrap().unwrap();
    assert_eq!((session.account_id, account.id), (clerk.id, clerk.id));
    assert_eq!(session.csrf_token, "csrf-1");
    assert_eq!(
        (session.expires_at - expires_at).num_microseconds(),
        Some(0),
        "times keep their microseconds"
    );
    assert!(store.session("unknown", now).await.unwrap().is_none());

    // Past its expiry the session is gone for good, even for an earlier clock.
    let mut changes = store.account_changes();
    assert!(store
        .session("token-1", expires_at + Duration::seconds(1))
        .await
        .unwrap()
        .is_none());
    assert!(store.session("token-1", now).await.unwrap().is_none());
    assert_eq!(changes.try_recv().unwrap(), clerk.id);

    store
        .create_session(
            "token-2",
            &Session {
                account_id: clerk.id,
                csrf_token: "csrf-2".into(),
                expires_at,
            },
        )
        .await
        .unwrap();
    store.delete_session("token-2").await.unwrap();
    assert_eq!(changes.try_recv().unwrap(), clerk.id);
    assert!(store.session("token-2", now).await.unwrap().is_none());
    // Ending a session that is gone is not an error and tells nobody.
    store.delete_session("token-2").await.unwrap();
    assert!(changes.try_recv().is_err());
}

async fn only_the_newest_setup_link_makes_one_admin<S: AccountStore + AuditStore>(store: &S) {
    let now = Utc::now();
    let later = now + Duration::hours(1);
    store.replace_setup_token("first", later).await.unwrap();
    store.replace_setup_token("second", later).await.unwrap();
    assert!(!store.setup_token_valid("first", now).await.unwrap());
    assert!(store.setup_token_valid("second", now).await.unwrap());
    assert!(!store.setup_token_valid("second", later).await.unwrap());
    assert!(matches!(
        store
            .complete_setup("first", now, staff("root", Role::Admin, None))
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert!(matches!(
        store
            .complete_setup("second", later, staff("root", Role::Admin, None))
            .await,
        Err(StoreError::Rejected(_))
    ));
    let root = store
        .complete_setup("second", now, staff("root", Role::Admin, None))
        .await
        .unwrap();
    assert_eq!(root.role, Role::Admin);
    assert!(!store.setup_token_valid("second", now).await.unwrap());
    // A new link printed after setup works for nothing while an admin exists.
    store.replace_setup_token("third", later).await.unwrap();
    assert!(!store.setup_token_valid("third", now).await.unwrap());
    assert!(matches!(
        store
            .complete_setup("third", now, staff("root2", Role::Admin, None))
            .await,
        Err(StoreError::Rejected(_))
    ));
    assert_eq!(store.count_admins().await.unwrap(), 1);
    let [entry] = &audit_of(store, "setup.first_admin").await[..] else {
        panic!("one setup entry");
    };
    assert_eq!(entry.actor_id, Some(root.id));
}

async fn the_audit_log_is_append_only_and_filtered<
    S: DirectoryStore + AccountStore + AuditStore + RawSql,
>(
    store: &S,
) {
    let before_all = Utc::now();
    let hx = store
        .create_community(
            &admin(),
            &name("红星社区"),
            &CommunityCode::parse("HX").unwrap(),
        )
        .await
        .unwrap();
    let ab = store
        .create_community(
            &admin(),
            &name("安宝社区"),
            &CommunityCode::parse("AB").unwrap(),
        )
        .await
        .unwrap();
    let hx_clerk = store
        .create_account(&admin(), staff("hxclerk", Role::Secretary, Some(hx.id)))
        .await
        .unwrap();
    let ab_clerk = store
        .create_account(&admin(), staff("abclerk", Role::Secretary, Some(ab.id)))
        .await
        .unwrap();
    let as_actor = |a: &Account| Actor {
        id: Some(a.id),
        name: a.username.clone(),
    };
    for n in 1..=3 {
        store
            .create_estate(&as_actor(&hx_clerk), hx.id, &name(&format!("红星{n}区")))
            .await
            .unwrap();
    }
    store
        .create_estate(&as_actor(&ab_clerk), ab.id, &name("安宝1区"))
        .await
        .unwrap();
    let after_all = Utc::now() + Duration::seconds(1);

    let list = |filter: AuditFilter| async move { store.audit_log(&filter).await.unwrap() };
    let all = list(AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(all.len(), 8);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    assert_eq!(all[0].action, "estate.create");
    assert_eq!(all[0].actor_id, Some(ab_clerk.id));
    assert_eq!(all[0].after.as_ref().unwrap()["name"], "安宝1区");

    let by_actor = list(AuditFilter {
        actor: Some("hxclerk".into()),
        limit: 100,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(by_actor.len(), 3);
    let page = list(AuditFilter {
        actor: Some("hxclerk".into()),
        limit: 2,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(page.len(), 2);
    let next = list(AuditFilter {
        actor: Some("hxclerk".into()),
        before_id: Some(page[1].id),
        limit: 2,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(next.len(), 1);
    assert!(next[0].id < page[1].id);

    let accounts = list(AuditFilter {
        entity: Some("account".into()),
        limit: 100,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|e| e.action == "account.create"));
    assert_eq!(
        list(AuditFilter {
            since: Some(before_all),
            until: Some(after_all),
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .len(),
        8
    );
    assert!(list(AuditFilter {
        since: Some(after_all),
        limit: 100,
        ..AuditFilter::default()
    })
    .await
    .is_empty());
    assert!(list(AuditFilter {
        until: Some(before_all),
        limit: 100,
        ..AuditFilter::default()
    })
    .await
    .is_empty());
    // A community's admin reads what its own people did, nothing else.
    let within_hx = list(AuditFilter {
        actors_within: Some(Scope::Community(hx.id)),
        limit: 100,
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(within_hx.len(), 3);
    assert!(within_hx.iter().all(|e| e.actor_id == Some(hx_clerk.id)));

    assert_eq!(
        store.audit_actions().await.unwrap(),
        ["account.create", "community.create", "estate.create"]
    );

    // Append-only, whoever asks.
    let id = all[0].id;
    assert!(matches!(
        store
            .raw(&format!(
                "UPDATE audit_log SET actor_name = 'someone' WHERE id = {id}"
            ))
            .await,
        Err(StoreError::Database(_))
    ));
    assert!(matches!(
        store
            .raw(&format!("DELETE FROM audit_log WHERE id = {id}"))
            .await,
        Err(StoreError::Database(_))
    ));
    assert_eq!(
        list(AuditFilter {
            limit: 100,
            ..AuditFilter::default()
        })
        .await
        .len(),
        8
    );
}

async fn api_keys_are_scoped_and_revocable<S: DirectoryStore + ApiKeyStore + AuditStore>(
    store: &S,
) {
    let (hx, estate, _) = place(store, "HX", "101").await;
    let (ab, _, _) = place(store, "AB", "101").await;
    let anywhere = store
        .create_api_key(&admin(), "城市热线", "hash-any", None)
        .await
        .unwrap();
    let hx_key = store
        .create_api_key(&admin(), "红星网格", "hash-hx", Some(hx.id))
        .await
        .unwrap();
    assert_eq!(hx_key.scope(), Scope::Community(hx.id));
    assert!(hx_key.revoked_at.is_none());
    assert!(matches!(
        store
            .create_api_key(&admin(), "again", "hash-hx", Some(ab.id))
            .await,
        Err(StoreError::Conflict)
    ));

    let ids = |keys: Vec<ApiKey>| keys.into_iter().map(|k| k.id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_api_keys(Scope::Installation).await.unwrap()),
        [hx_key.id, anywhere.id]
    );
    assert_eq!(
        ids(store.list_api_keys(Scope::Community(hx.id)).await.unwrap()),
        [hx_key.id]
    );
    assert!(store
        .list_api_keys(Scope::Community(ab.id))
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_api_keys(Scope::Estate(hx.id, estate.id))
        .await
        .unwrap()
        .is_empty());

    assert_eq!(
        store.api_key("hash-hx").await.unwrap().unwrap().id,
        hx_key.id
    );
    assert!(store.api_key("hash-none").await.unwrap().is_none());
    let revoked = store.revoke_api_key(&admin(), hx_key.id).await.unwrap();
    assert!(revoked.revoked_at.is_some());
    assert!(store.api_key("hash-hx").await.unwrap().is_none());
    assert_eq!(
        store.api_key_by_id(hx_key.id).await.unwrap().revoked_at,
        revoked.revoked_at
    );
    let again = store.revoke_api_key(&admin(), hx_key.id).await.unwrap();
    assert_eq!(again.revoked_at, revoked.revoked_at);
    assert!(store.api_key("hash-any").await.unwrap().is_some());
    assert!(matches!(
        store.revoke_api_key(&admin(), 9999).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.api_key_by_id(9999).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(audit_of(store, "api_key.create").await.len(), 2);
    let revokes = audit_of(store, "api_key.revoke").await;
    assert_eq!(revokes.len(), 2);
    assert_eq!(
        revokes[0].entity_id.as_deref(),
        Some(hx_key.id.to_string().as_str())
    );
}

/// Several people register with one household code and one login name at
/// the same moment: one account, the others told the name is taken, and the
/// code counted once.
async fn racing_registrations_with_one_name_make_one_account<
    S: DirectoryStore + AccountStore + AuditStore,
>(
    store: &S,
) {
    let (_, _, building) = place(store, "HX", "101").await;
    let unit = store.list_units(building.id).await.unwrap().remove(0);
    store
        .reissue_code(&admin(), unit.id, "AAAAA00001")
        .await
        .unwrap();
    let outcomes = join_all((0..6).map(|_| {
        store.register_resident(
            "AAAAA00001",
            Username::parse("laozhang").unwrap(),
            DisplayName::parse("老张").unwrap(),
            "hash".into(),
        )
    }))
    .await;
    let made = outcomes.iter().filter(|o| o.is_ok()).count();
    let taken = outcomes
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Conflict)))
        .count();
    assert_eq!((made, taken), (1, 5), "{outcomes:?}");
    let (_, code) = store
        .codes_for_building(building.id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(code.unwrap().uses, 1);
    assert_eq!(store.unit(unit.id).await.unwrap().residents, 1);
    assert_eq!(audit_of(store, "account.register").await.len(), 1);
}

/// Two estates renamed to one name at the same moment: one wins, the other
/// is told the name is taken; both keep a name and one rename is audited.
async fn racing_renames_to_one_name_leave_one_winner<S: DirectoryStore + AuditStore>(store: &S) {
    let (community, first, building) = place(store, "HX", "101").await;
    let second = store
        .create_estate(&admin(), community.id, &name("老小区"))
        .await
        .unwrap();
    let (actor, wanted) = (admin(), name("新小区"));
    let (a, b) = tokio::join!(
        store.rename_estate(&actor, first.id, &wanted),
        store.rename_estate(&actor, second.id, &wanted),
    );
    let conflicts = [&a, &b]
        .iter()
        .filter(|o| matches!(o, Err(StoreError::Conflict)))
        .count();
    assert!(a.is_ok() != b.is_ok() && conflicts == 1, "{a:?} {b:?}");
    let mut names: Vec<_> = store
        .list_estates(community.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    names.sort();
    let loser = if a.is_ok() {
        "老小区"
    } else {
        "花园小区"
    };
    let mut expected = vec!["新小区".to_string(), loser.to_string()];
    expected.sort();
    assert_eq!(names, expected);
    assert_eq!(audit_of(store, "estate.rename").await.len(), 1);

    // Two renames of one place: both happen, one after the other, and the
    // later one's "before" is the earlier one's "after".
    let (jia, yi) = (name("甲楼"), name("乙楼"));
    let (a, b) = tokio::join!(
        store.rename_building(&actor, building.id, &jia),
        store.rename_building(&actor, building.id, &yi),
    );
    a.unwrap();
    b.unwrap();
    let renames = audit_of(store, "building.rename").await;
    assert_eq!(renames.len(), 2);
    assert_eq!(
        renames[0].before.as_ref().unwrap()["name"],
        renames[1].after.as_ref().unwrap()["name"]
    );
    assert_eq!(renames[1].before.as_ref().unwrap()["name"], "1号楼");
}

/// Two people print the missing codes of one building at the same moment:
/// every unit ends with exactly one active code.
async fn racing_code_issues_give_each_unit_one_code<S: DirectoryStore>(store: &S) {
    let (_, _, building) = place(store, "HX", "101 102 103 104 105").await;
    let (mut first, mut second) = (codes("AAAAA"), codes("BBBBB"));
    let actor = admin();
    let (a, b) = tokio::join!(
        store.issue_missing_codes(&actor, building.id, &mut first),
        store.issue_missing_codes(&actor, building.id, &mut second),
    );
    let issued: usize = [&a, &b].iter().map(|o| *o.as_ref().unwrap_or(&0)).sum();
    assert_eq!(issued, 5, "{a:?} {b:?}");
    assert!(a.is_ok() || matches!(a, Err(StoreError::Conflict)), "{a:?}");
    assert!(b.is_ok() || matches!(b, Err(StoreError::Conflict)), "{b:?}");
    let codes_now = store.codes_for_building(building.id).await.unwrap();
    assert!(codes_now.iter().all(|(_, code)| code.is_some()));
}
