#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken, e.g. a building name used twice in an estate.
    #[error("already exists")]
    Conflict,
    /// The change is not allowed in the current state (e.g. a revoked code).
    #[error("rejected: {0}")]
    Rejected(&'static str),
    /// Too soon after the same person's last change of this kind (slow
    /// mode): nothing was stored; allowed again after this long.
    #[error("too soon: allowed again in {0:?}")]
    TooSoon(std::time::Duration),
    /// The database was too busy to take the change, even after waiting:
    /// nothing was stored, and the same input may be sent again later.
    #[error("database busy")]
    Busy,
    #[error(transparent)]
    Database(sqlx::Error),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => StoreError::NotFound,
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
            sqlx::Error::Database(db) if busy_code(db.code().as_deref()) => StoreError::Busy,
            // PostgreSQL's "character not in repertoire": a NUL byte, which
            // SQLite stores and PostgreSQL's text cannot hold. Bad input.
            sqlx::Error::Database(db) if db.code().as_deref() == Some("22021") => {
                StoreError::Rejected("text with a NUL character")
            }
            sqlx::Error::PoolTimedOut => StoreError::Busy,
            _ => StoreError::Database(e),
        }
    }
}

/// An insert whose parent row does not exist reports "not found", not a
/// database fault (either backend's foreign key violation).
pub(super) fn missing_parent(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => StoreError::NotFound,
        _ => e.into(),
    }
}

/// A database too busy to take the change now, by either backend's code:
/// SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6) with their extended codes;
/// PostgreSQL's serialization failure (40001), deadlock (40P01), lock
/// timeout (55P03) and too many connections (53300).
fn busy_code(code: Option<&str>) -> bool {
    // SQLSTATEs are five characters; SQLite's codes are numbers of at most four digits.
    if code.is_some_and(|code| code.len() == 5) {
        return matches!(code, Some("40001" | "40P01" | "55P03" | "53300"));
    }
    let primary = code
        .and_then(|code| code.parse::<i64>().ok())
        .map(|code| code & 0xff);
    matches!(primary, Some(5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_codes_are_busy_with_their_extended_codes() {
        assert!(busy_code(Some("5")));
        assert!(busy_code(Some("517"))); // SQLITE_BUSY_SNAPSHOT
        assert!(busy_code(Some("6")));
        assert!(!busy_code(Some("19"))); // a constraint
        assert!(!busy_code(Some("not a number")));
        assert!(!busy_code(None));
        assert!(busy_code(Some("40001"))); // PostgreSQL: serialization failure
        assert!(busy_code(Some("55P03"))); // PostgreSQL: lock timeout
        assert!(!busy_code(Some("23505"))); // PostgreSQL: a unique violation
        assert!(!busy_code(Some("22021"))); // PostgreSQL: a NUL byte (22021 & 0xff = 5)
        assert!(!busy_code(Some("42501"))); // PostgreSQL: permission denied (& 0xff = 5)
    }
}
