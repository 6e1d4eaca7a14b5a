//! Times in rows: both backends store them as fixed-width UTC text (see
//! `store::ts`), which sqlx decodes into `DateTime<Utc>` on SQLite but not on
//! PostgreSQL (there it only reads TIMESTAMPTZ). A row field of type `Stamp`
//! reads the text on either.

use chrono::{DateTime, NaiveDateTime, Utc};
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Type};

/// A stored time, read from its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(in crate::store) struct Stamp(pub DateTime<Utc>);

impl Stamp {
    /// Reads `ts()`'s form (RFC 3339), or the `YYYY-MM-DD HH:MM:SS[.f]` that
    /// SQLite's own clock functions write (taken as UTC).
    pub(in crate::store) fn parse(text: &str) -> Option<Self> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Some(Stamp(at.with_timezone(&Utc)));
        }
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
            .ok()
            .map(|at| Stamp(at.and_utc()))
    }
}

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
    String: Decode<'r, DB>,
{
    fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let text = <String as Decode<'r, DB>>::decode(value)?;
        Stamp::parse(&text).ok_or_else(|| format!("not a time: {text:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn both_stored_forms_read_as_utc() {
        let at = Utc.with_ymd_and_hms(2026, 12, 7, 6, 36, 33).unwrap();
        assert_eq!(Stamp::parse(&crate::store::ts(at)), Some(Stamp(at)));
        assert_eq!(Stamp::parse("2026-12-07 06:36:33"), Some(Stamp(at)));
        assert_eq!(Stamp::parse("yesterday"), None);
    }
}
