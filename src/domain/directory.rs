//! The places Pavilion serves: a community (社区) has estates (小区), an estate has
//! buildings (楼栋), a building has units (户). Residents are tied to a unit.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::ids::{BuildingId, CommunityId, EstateId, RegistrationCodeId, UnitId};
use super::text::{clean_line, TextError};

/// The name of a community, estate or building.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PlaceName(String);

impl PlaceName {
    pub const MAX: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        clean_line(raw, 1, Self::MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Short letters that prefix record numbers, e.g. `HX` in `HX-2026-000123`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct CommunityCode(String);

impl CommunityCode {
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let code = clean_line(raw, 2, 6)?.to_ascii_uppercase();
        if !code.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(TextError::BadCharacters);
        }
        Ok(Self(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A unit's label inside its building, e.g. `2-301` or `301`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct UnitLabel(String);

impl UnitLabel {
    pub const MAX: usize = 16;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        let label = clean_line(raw, 1, Self::MAX)?;
        if label.chars().any(|c| c.is_whitespace() || c == ',') {
            return Err(TextError::BadCharacters);
        }
        Ok(Self(label))
    }

    /// Parses a list typed one label per line or separated by commas, spaces or
    /// the Chinese comma; blank entries are skipped and duplicates removed.
    pub fn parse_list(raw: &str) -> Result<Vec<Self>, TextError> {
        let mut labels: Vec<Self> = Vec::new();
        for part in raw.split(|c: char| c == ',' || c == '，' || c == '、' || c.is_whitespace()) {
            if part.is_empty() {
                continue;
            }
            let label = Self::parse(part)?;
            if !labels.contains(&label) {
                labels.push(label);
            }
        }
        if labels.is_empty() {
            return Err(TextError::Empty);
        }
        Ok(labels)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Community {
    pub id: CommunityId,
    pub name: String,
    pub code: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Estate {
    pub id: EstateId,
    pub community_id: CommunityId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Building {
    pub id: BuildingId,
    pub estate_id: EstateId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Unit {
    pub id: UnitId,
    pub building_id: BuildingId,
    pub label: String,
    /// Accounts registered to this unit.
    pub residents: i64,
}

/// A household registration code, printed by the property office and handed
/// to the household of one unit.
#[derive(Debug, Clone, Serialize)]
pub struct RegistrationCode {
    pub id: RegistrationCodeId,
    pub unit_id: UnitId,
    pub code: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub uses: i64,
}

impl RegistrationCode {
    /// Letters and digits that cannot be mistaken for each other on paper.
    pub const ALPHABET: &'static [u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    pub const LEN: usize = 10;

    /// Normalises what a resident typed: width-folded, upper-case, dashes and spaces dropped.
    pub fn normalise_input(raw: &str) -> String {
        use unicode_normalization::UnicodeNormalization;
        raw.nfkc()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_uppercase())
            .collect()
    }

    /// The code as printed: two groups of five.
    pub fn printed(&self) -> String {
        let (a, b) = self.code.split_at(self.code.len().min(5));
        format!("{a}-{b}")
    }

    pub fn is_active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn community_codes_are_short_upper_case_letters() {
        assert_eq!(CommunityCode::parse("hx").unwrap().as_str(), "HX");
        assert!(CommunityCode::parse("H").is_err());
        assert!(CommunityCode::parse("H1").is_err());
        assert!(CommunityCode::parse("红星").is_err());
    }

    #[test]
    fn unit_lists_accept_chinese_and_latin_separators() {
        let labels = UnitLabel::parse_list("101，102、103\n104 101").unwrap();
        let labels: Vec<_> = labels.iter().map(|l| l.as_str()).collect();
        assert_eq!(labels, ["101", "102", "103", "104"]);
        assert!(UnitLabel::parse_list(" \n ").is_err());
    }

    #[test]
    fn typed_codes_are_forgiving() {
        assert_eq!(
            RegistrationCode::normalise_input(" abcde-２３４５６ "),
            "ABCDE23456"
        );
    }
}
