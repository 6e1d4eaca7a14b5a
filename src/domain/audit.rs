//! The audit log: an append-only record of every staff change (who, when, what,
//! before/after). Rows are never updated or deleted; the store enforces it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::AccountId;

#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor_id: Option<AccountId>,
    pub actor_name: String,
    pub action: String,
    pub entity: String,
    pub entity_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Who made a change, and what it was. Written in the same transaction as the change.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor_id: Option<AccountId>,
    pub actor_name: String,
    pub action: &'static str,
    pub entity: &'static str,
    pub entity_id: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// The acting person, passed to every store method that changes data.
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: Option<AccountId>,
    pub name: String,
}

impl Actor {
    pub fn system() -> Self {
        Self {
            id: None,
            name: "system".into(),
        }
    }

    pub fn entry(
        &self,
        action: &'static str,
        entity: &'static str,
        entity_id: impl ToString,
    ) -> NewAuditEntry {
        NewAuditEntry {
            actor_id: self.id,
            actor_name: self.name.clone(),
            action,
            entity,
            entity_id: Some(entity_id.to_string()),
            before: None,
            after: None,
        }
    }
}

impl NewAuditEntry {
    pub fn before(mut self, value: impl Serialize) -> Self {
        self.before = serde_json::to_value(value).ok();
        self
    }

    pub fn after(mut self, value: impl Serialize) -> Self {
        self.after = serde_json::to_value(value).ok();
        self
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub entity: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub before_id: Option<i64>,
    pub limit: i64,
    /// Only entries whose actor is an account inside this scope (a
    /// community's admin reads what its own people did, nothing else).
    pub actors_within: Option<super::Scope>,
}
