//! What both backends share apart from SQL: row types (`#[derive(FromRow)]`
//! is generic over the database), their conversions into domain types, and
//! SQL fragments that read the same on SQLite and PostgreSQL.

pub(super) mod disclosure;
pub(super) mod personal_data;
pub(super) mod record_photos;
pub(super) mod record_reads;
pub(super) mod records;
mod stamp;

pub(super) use stamp::Stamp;
