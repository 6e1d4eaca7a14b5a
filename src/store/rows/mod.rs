//! What both backends share apart from SQL: row types, constants and their
//! conversions into domain types. A `#[derive(FromRow)]` struct here reads
//! either backend (i64 ↔ BIGINT/INTEGER, bool ↔ BOOLEAN/0-1, String ↔ TEXT).

pub(super) mod feedback_settings;
pub(super) mod signage;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::{Database, Type};

/// A time as both backends keep it: fixed-width UTC text (see `ts`). sqlx
/// reads a `DateTime<Utc>` from SQLite's TEXT but only from PostgreSQL's
/// `timestamptz`; this reads it from TEXT on either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(pub DateTime<Utc>);

impl From<Stamp> for DateTime<Utc> {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

impl<DB: Database> Type<DB> for Stamp
where
    String: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: Database> Decode<'r, DB> for Stamp
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<DB>>::decode(value)?;
        parse_stamp(text)
            .map(Stamp)
            .ok_or_else(|| format!("not a stored time: {text:?}").into())
    }
}

/// `ts`'s format (RFC 3339 in UTC), or SQLite's `CURRENT_TIMESTAMP` form
/// (`YYYY-MM-DD HH:MM:SS`, UTC) that older rows may hold.
fn parse_stamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    #[test]
    fn stored_times_read_back_exactly() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T06:36:33.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_stamp(&crate::store::ts(at)), Some(at));
        assert_eq!(
            parse_stamp("2026-12-07 06:36:33"),
            Some(at.with_nanosecond(0).unwrap())
        );
        assert_eq!(parse_stamp("yesterday"), None);
    }
}
