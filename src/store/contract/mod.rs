//! The store contract: what every backend must do, written once and run on
//! SQLite and on PostgreSQL (each test gets a fresh database).
//!
//! A contract test is a generic `async fn name<S: …Store>(store: &S)` in the
//! file of its area, listed in that file's `on_both_backends!`.

mod accounts;
mod broadcasts;
mod chat;
mod emergency;
mod feedback_settings;
mod geography;
mod health;
mod ingest;
mod records;
mod signage;

use super::{PgStore, SqliteStore};

/// A fresh SQLite store in a temporary folder (kept alive by the guard).
pub(crate) async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("contract.sqlite").display());
    (SqliteStore::open(&url).await.unwrap(), dir)
}

/// A fresh PostgreSQL store on the test binary's scratch cluster.
pub(crate) async fn postgres() -> PgStore {
    super::postgres::testing::store().await
}

/// Two SQLite stores on one file, as two processes would have.
pub(crate) async fn sqlite_pair() -> (SqliteStore, SqliteStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("contract.sqlite").display());
    let first = SqliteStore::open(&url).await.unwrap();
    let second = SqliteStore::open(&url).await.unwrap();
    (first, second, dir)
}

/// Two PostgreSQL stores on one database: two nodes.
pub(crate) async fn postgres_pair() -> (PgStore, PgStore) {
    super::postgres::testing::two_nodes().await
}

/// Generates one `#[tokio::test]` per backend for each contract function.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let (store, _dir) = $crate::store::contract::sqlite().await;
                    super::$name(&store).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = $crate::store::contract::postgres().await;
                    super::$name(&store).await;
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// Like `on_both_backends!`, for contract functions `name(a, b)` that
/// race two stores on one database (two nodes) against each other.
macro_rules! on_two_nodes {
    ($($name:ident),* $(,)?) => {
        mod on_two_sqlite_stores {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (a, b, _dir) = $crate::store::contract::sqlite_pair().await;
                    super::$name(&a, &b).await;
                }
            )*
        }
        mod on_two_postgres_nodes {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (a, b) = $crate::store::contract::postgres_pair().await;
                    super::$name(&a, &b).await;
                }
            )*
        }
    };
}
pub(crate) use on_two_nodes;
