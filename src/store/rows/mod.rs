//! What both backends read alike: row types, the columns they are read from
//! and their conversions into domain types. Only SQL differs per backend.
//!
//! A row type derives `FromRow` once and reads SQLite and PostgreSQL rows:
//! integers are i64 (BIGINT), flags bool (BOOLEAN), text String, and times
//! [`Stamp`], the fixed-width UTC text both schemas store.

pub(super) mod accounts;
pub(super) mod broadcasts;
pub(super) mod chat;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Postgres, Sqlite, Type};

/// A time read from a TEXT column of either backend (see `store::ts` for
/// how it is written). SQLite reads it exactly as `DateTime<Utc>` always
/// has; PostgreSQL's driver reads times only from its own time types, so
/// there the text is parsed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp(pub DateTime<Utc>);

impl From<Stamp> for DateTime<Utc> {
    fn from(stamp: Stamp) -> Self {
        stamp.0
    }
}

impl Type<Sqlite> for Stamp {
    fn type_info() -> SqliteTypeInfo {
        <DateTime<Utc> as Type<Sqlite>>::type_info()
    }

    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <DateTime<Utc> as Type<Sqlite>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Sqlite> for Stamp {
    fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Sqlite>>::decode(value).map(Stamp)
    }
}

impl Type<Postgres> for Stamp {
    fn type_info() -> PgTypeInfo {
        <String as Type<Postgres>>::type_info()
    }

    fn compatible(ty: &PgTypeInfo) -> bool {
        <String as Type<Postgres>>::compatible(ty)
    }
}

impl<'r> Decode<'r, Postgres> for Stamp {
    fn decode(value: PgValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&str as Decode<'r, Postgres>>::decode(value)?;
        parse_stamp(text)
            .map(Stamp)
            .ok_or_else(|| format!("not a time: {text:?}").into())
    }
}

/// Our own format first (RFC 3339), then the space-separated form SQLite's
/// date functions write, read as UTC.
fn parse_stamp(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%F %T%.f", "%FT%T%.f", "%F %T%.fZ"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_read_our_format_and_sqlites_own() {
        let at = parse_stamp("2026-12-07T06:36:33.123456Z").unwrap();
        assert_eq!(crate::store::ts(at), "2026-12-07T06:36:33.123456Z");
        let at = parse_stamp("2026-12-07 06:36:33").unwrap();
        assert_eq!(crate::store::ts(at), "2026-12-07T06:36:33.000000Z");
        assert!(parse_stamp("yesterday").is_none());
    }
}
