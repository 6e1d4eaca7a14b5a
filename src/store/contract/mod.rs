//! The store contract: what every backend must do, written once and run on
//! SQLite and on PostgreSQL (each test gets a fresh database).
//!
//! A contract test is a generic `async fn name<S: …Store>(store: &S)` in the
//! file of its area, listed in that file's `on_both_backends!`.

mod health;

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
