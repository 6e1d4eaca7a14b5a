//! Rows of the directory, accounts, the audit log and API keys.

use sqlx::FromRow;

use super::Stamp;
use crate::domain::*;
use crate::store::{ApiKey, StoreError};

#[derive(FromRow)]
pub(in crate::store) struct CommunityRow {
    id: i64,
    name: String,
    code: String,
    created_at: Stamp,
}

impl From<CommunityRow> for Community {
    fn from(r: CommunityRow) -> Self {
        Community {
            id: CommunityId(r.id),
            name: r.name,
            code: r.code,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(FromRow)]
pub(in crate::store) struct EstateRow {
    id: i64,
    community_id: i64,
    name: String,
    created_at: Stamp,
}

impl From<EstateRow> for Estate {
    fn from(r: EstateRow) -> Self {
        Estate {
            id: EstateId(r.id),
            community_id: CommunityId(r.community_id),
            name: r.name,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(FromRow)]
pub(in crate::store) struct BuildingRow {
    id: i64,
    estate_id: i64,
    name: String,
    created_at: Stamp,
}

impl From<BuildingRow> for Building {
    fn from(r: BuildingRow) -> Self {
        Building {
            id: BuildingId(r.id),
            estate_id: EstateId(r.estate_id),
            name: r.name,
            created_at: r.created_at.into(),
        }
    }
}

#[derive(FromRow)]
pub(in crate::store) struct UnitRow {
    id: i64,
    building_id: i64,
    label: String,
    residents: i64,
}

impl From<UnitRow> for Unit {
    fn from(r: UnitRow) -> Self {
        Unit {
            id: UnitId(r.id),
            building_id: BuildingId(r.building_id),
            label: r.label,
            residents: r.residents,
        }
    }
}

/// A unit with its number of enabled accounts, from `units u`.
pub(in crate::store) const UNIT_COLUMNS: &str = "u.id, u.building_id, u.label,
    (SELECT COUNT(*) FROM accounts a WHERE a.unit_id = u.id AND a.disabled_at IS NULL) AS residents";

#[derive(FromRow)]
pub(in crate::store) struct CodeRow {
    id: i64,
    unit_id: i64,
    code: String,
    created_at: Stamp,
    revoked_at: Option<Stamp>,
    uses: i64,
}

impl From<CodeRow> for RegistrationCode {
    fn from(r: CodeRow) -> Self {
        RegistrationCode {
            id: RegistrationCodeId(r.id),
            unit_id: UnitId(r.unit_id),
            code: r.code,
            created_at: r.created_at.into(),
            revoked_at: r.revoked_at.map(Into::into),
            uses: r.uses,
        }
    }
}

#[derive(FromRow)]
pub(in crate::store) struct AccountRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    community_id: Option<i64>,
    estate_id: Option<i64>,
    unit_id: Option<i64>,
    locale: Option<String>,
    disabled_at: Option<Stamp>,
    created_at: Stamp,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(r: AccountRow) -> Result<Self, StoreError> {
        let role = Role::parse(&r.role)
            .ok_or_else(|| StoreError::Corrupt(format!("role {:?}", r.role)))?;
        Ok(Account {
            id: AccountId(r.id),
            username: r.username,
            display_name: r.display_name,
            role,
            community_id: r.community_id.map(CommunityId),
            estate_id: r.estate_id.map(EstateId),
            unit_id: r.unit_id.map(UnitId),
            locale: r.locale,
            disabled: r.disabled_at.is_some(),
            created_at: r.created_at.into(),
        })
    }
}

pub(in crate::store) const ACCOUNT_COLUMNS: &str =
    "id, username, display_name, role, community_id, estate_id, unit_id, locale, disabled_at, created_at";

/// The name shown for the actor of an event or audit entry in table `alias`:
/// the name stored with it, unless that account has since been closed, in
/// which case its anonymous label. Every read of `actor_name` goes through
/// this, so that a closed account's name appears nowhere.
pub(in crate::store) fn shown_actor_name(alias: &str) -> String {
    format!(
        "COALESCE((SELECT closed.display_name FROM accounts closed
                    WHERE closed.id = {alias}.actor_id AND closed.closed_at IS NOT NULL),
                  {alias}.actor_name) AS actor_name"
    )
}

/// An audit entry as listed: `actor_name` through [`shown_actor_name`],
/// `before` and `after` as the JSON text they were written as.
#[derive(FromRow)]
pub(in crate::store) struct AuditRow {
    id: i64,
    at: Stamp,
    actor_id: Option<i64>,
    actor_name: String,
    action: String,
    entity: String,
    entity_id: Option<String>,
    before: Option<String>,
    after: Option<String>,
}

impl From<AuditRow> for AuditEntry {
    fn from(r: AuditRow) -> Self {
        let json = |s: Option<String>| s.and_then(|s| serde_json::from_str(&s).ok());
        AuditEntry {
            id: r.id,
            at: r.at.into(),
            actor_id: r.actor_id.map(AccountId),
            actor_name: r.actor_name,
            action: r.action,
            entity: r.entity,
            entity_id: r.entity_id,
            before: json(r.before),
            after: json(r.after),
        }
    }
}

pub(in crate::store) const API_KEY_COLUMNS: &str = "id, name, community_id, created_at, revoked_at";

#[derive(FromRow)]
pub(in crate::store) struct ApiKeyRow {
    id: i64,
    name: String,
    community_id: Option<i64>,
    created_at: Stamp,
    revoked_at: Option<Stamp>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(r: ApiKeyRow) -> Self {
        ApiKey {
            id: r.id,
            name: r.name,
            community_id: r.community_id.map(CommunityId),
            created_at: r.created_at.into(),
            revoked_at: r.revoked_at.map(Into::into),
        }
    }
}
