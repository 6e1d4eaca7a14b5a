//! Row types shared by both backends: what a query reads, and how that
//! becomes a domain value. Only SQL differs between `sqlite/` and
//! `postgres/`; the rows, column lists and conversions live here once.
//!
//! `#[derive(FromRow)]` is generic over the row type, so one struct reads
//! either backend as long as its field types decode from both: i64 (INTEGER
//! / BIGINT), bool (0/1 INTEGER / BOOLEAN), String (TEXT) and [`Ts`] for
//! times, which both backends store as fixed-width UTC text.

pub(crate) mod accounts;
pub(crate) mod broadcasts;
pub(crate) mod chat;
pub(crate) mod disclosure;
pub(crate) mod emergency;
pub(crate) mod feedback_settings;
pub(crate) mod ingest;
pub(crate) mod personal_data;
pub(crate) mod record_photos;
pub(crate) mod record_reads;
pub(crate) mod records;
pub(crate) mod signage;

/// The name `rows::accounts` reads times with; the same type as [`Ts`].
pub(crate) use Ts as Stamp;

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::decode::Decode;
use sqlx::error::BoxDynError;
use sqlx::{Database, Type};

/// A time read from a TEXT column (see `store::ts`). chrono's own decoder
/// reads SQLite's text but expects TIMESTAMPTZ on PostgreSQL, so rows that
/// both backends read use this instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ts(pub DateTime<Utc>);

impl From<Ts> for DateTime<Utc> {
    fn from(t: Ts) -> Self {
        t.0
    }
}

/// Parses the stored form (RFC 3339, written by `store::ts` or SQLite's
/// `strftime('%Y-%m-%dT%H:%M:%fZ')`), or a plain `YYYY-MM-DD HH:MM:SS[.f]`
/// taken as UTC.
pub(crate) fn parse_ts(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

impl<DB: Database> Type<DB> for Ts
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

impl<'r, DB: Database> Decode<'r, DB> for Ts
where
    &'r str: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <&'r str as Decode<'r, DB>>::decode(value)?;
        parse_ts(text)
            .map(Ts)
            .ok_or_else(|| format!("not a stored time: {text:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_times_parse_in_every_written_form() {
        let at = parse_ts("2026-12-07T06:47:56.123456Z").unwrap();
        assert_eq!(crate::store::ts(at), "2026-12-07T06:47:56.123456Z");
        assert_eq!(
            parse_ts("2026-12-07T06:47:56.123Z"),
            parse_ts("2026-12-07 06:47:56.123")
        );
        assert!(parse_ts("yesterday").is_none());
    }
}
