//! Accounts: who can log in, with which role, tied to which place.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use super::ids::{AccountId, CommunityId, EstateId, UnitId};
use super::role::Role;
use super::text::{clean_line, is_invisible, DisplayName, TextError};

/// The login name. Compared case-insensitively after NFKC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 2;
    pub const MAX: usize = 32;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let name = clean_line(raw, Self::MIN, Self::MAX)?;
        if name
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '/' | '\\' | '<' | '>' | '"' | '\'' | '@'))
        {
            return Err(TextError::BadCharacters);
        }
        Ok(Self(name.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password as typed. Never printed: `Debug` shows a placeholder.
pub struct Password(SecretString);

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    pub fn parse(raw: String) -> Result<Self, TextError> {
        let len = raw.chars().count();
        if len == 0 {
            return Err(TextError::Empty);
        }
        if len < Self::MIN {
            return Err(TextError::TooShort { min: Self::MIN });
        }
        if len > Self::MAX {
            return Err(TextError::TooLong { max: Self::MAX });
        }
        if raw.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(TextError::InvisibleCharacters);
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: AccountId,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub community_id: Option<CommunityId>,
    pub estate_id: Option<EstateId>,
    #[serde(skip)]
    pub unit_id: Option<UnitId>,
    pub locale: Option<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// How the account appears to other residents: never the unit or real name.
    pub fn public_name(&self) -> &str {
        &self.display_name
    }
}

/// Everything needed to create an account; the password is already hashed.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: Username,
    pub display_name: DisplayName,
    pub password_hash: String,
    pub role: Role,
    pub community_id: Option<CommunityId>,
    pub estate_id: Option<EstateId>,
    pub unit_id: Option<UnitId>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_case_folded_and_width_folded() {
        assert_eq!(Username::parse("ＡＤＭＩＮ").unwrap().as_str(), "admin");
        assert_eq!(Username::parse("老张").unwrap().as_str(), "老张");
        assert!(Username::parse("a b").is_err());
        assert!(Username::parse("x").is_err());
        assert!(Username::parse("<script>").is_err());
    }

    #[test]
    fn passwords_have_bounds_and_hide_in_debug() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("a".repeat(129)).is_err());
        let p = Password::parse("correct horse".into()).unwrap();
        assert_eq!(format!("{p:?}"), "Password(***)");
    }
}
