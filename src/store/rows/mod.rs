//! Row types and conversions shared by both backends (see `sqlite/` and
//! `postgres/`): only the SQL differs between them.

pub(crate) mod ingest;
