//! The district option: one PostgreSQL database shared by several stateless
//! Pavilion nodes.
//!
//! The schema mirrors SQLite's (see `migrations/0001_schema.sql`): BIGINT
//! integers, BOOLEAN flags and fixed-width UTC text for times, so the row
//! types in `store/` read either backend and queries bind the same values.
//!
//! SQLite has one writer at a time; PostgreSQL has many. Every read-then-write
//! here therefore locks what it reads (`SELECT … FOR UPDATE` on the natural
//! parent row) or is a single conditional statement (`UPDATE … WHERE`,
//! `INSERT … ON CONFLICT`); there is no global lock. A change that waits
//! longer than the busy timeout for a lock fails as `StoreError::Busy`.

mod accounts;
mod broadcasts;
mod chat;
mod disclosure;
mod emergency;
mod feedback_settings;
mod ingest;
mod personal_data;
mod record_photos;
mod record_reads;
mod records;
pub mod scratch;
mod signage;
mod signals;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};

use super::rows::accounts::{AccountRow, ACCOUNT_COLUMNS};
use super::*;

pub struct PgStore {
    pool: PgPool,
    /// This node's end of the signal bus: `pg_notify` out, `LISTEN` in.
    signals: Signals,
}

impl SignalStore for PgStore {
    fn signals(&self) -> &Signals {
        &self.signals
    }
}

impl PgStore {
    /// Connects and brings the schema up to date. Several nodes starting
    /// together are safe: the migrator holds an advisory lock while it works.
    pub async fn open_with(url: &str, busy_timeout: Duration) -> anyhow::Result<Self> {
        let lock_timeout = format!("{}ms", busy_timeout.as_millis().max(1));
        let options = PgConnectOptions::from_str(url)?
            .application_name("pavilion")
            .options([("lock_timeout", lock_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(busy_timeout.max(Duration::from_secs(1)))
            .connect_with(options)
            .await?;
        sqlx::migrate!("src/store/postgres/migrations")
            .run(&pool)
            .await?;
        let signals = signals::start(&pool).await?;
        Ok(Self { pool, signals })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Tells listeners on every node that `account` changed; call after the
    /// commit. (Inside a transaction, `signals::notify_in` does the same at
    /// commit.)
    pub(super) fn account_changed(&self, account: AccountId) {
        self.signals.tell(Topic::Accounts, &account.to_string());
    }

    /// The one way a change starts. READ COMMITTED: a change that must see
    /// a consistent parent locks it with `FOR UPDATE` first.
    pub(super) async fn write_tx(&self) -> StoreResult<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// Appends `entry` to the audit log, in the transaction of the change.
    pub(super) async fn audit(
        tx: &mut Transaction<'_, Postgres>,
        entry: NewAuditEntry,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_name, action, entity, entity_id, before, after)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(now())
        .bind(entry.actor_id.map(|a| a.0))
        .bind(entry.actor_name)
        .bind(entry.action)
        .bind(entry.entity)
        .bind(entry.entity_id)
        .bind(entry.before.map(|v| v.to_string()))
        .bind(entry.after.map(|v| v.to_string()))
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}

fn shared_sql(sql: &str) -> String {
    sql.to_owned()
}
crate::store::geography::geography_impl!(PgStore, shared_sql);

/// The time of a change, as stored.
fn now() -> String {
    ts(Utc::now())
}

pub(super) async fn fetch_account<'e, E: sqlx::PgExecutor<'e>>(
    db: E,
    id: AccountId,
) -> StoreResult<Account> {
    let row: AccountRow = sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_one(db)
    .await?;
    row.try_into()
}

#[async_trait::async_trait]
impl HealthStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// The store contract tests of each PostgreSQL module share one scratch
/// cluster per test binary; each test gets its own database.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::OnceLock;
    use std::time::Duration;

    use super::scratch::ScratchCluster;
    use super::PgStore;

    fn cluster() -> &'static ScratchCluster {
        static CLUSTER: OnceLock<ScratchCluster> = OnceLock::new();
        CLUSTER.get_or_init(|| ScratchCluster::start().expect("a scratch PostgreSQL cluster"))
    }

    /// Ends every connection that listens for signals on `node`'s database
    /// (as a database restart would); returns how many.
    pub(crate) async fn terminate_listeners(node: &PgStore) -> usize {
        let killed: Vec<bool> = sqlx::query_scalar(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()
               AND query LIKE 'LISTEN%'",
        )
        .fetch_all(node.pool())
        .await
        .expect("listeners terminated");
        killed.len()
    }

    /// A connection that looks like one more node listening on `node`'s
    /// database; closing it is that node dying without a word.
    pub(crate) async fn a_node_that_will_vanish(node: &PgStore) -> sqlx::PgConnection {
        use sqlx::Connection;
        let options = node
            .pool()
            .connect_options()
            .as_ref()
            .clone()
            .application_name(&format!(
                "{}{:016x}",
                super::signals::LISTENER_NAME,
                rand::random::<u32>()
            ));
        sqlx::PgConnection::connect_with(&options)
            .await
            .expect("a connection like a node's")
    }

    /// A second node: another store on the database of `node`.
    pub(crate) async fn store_on(node: &PgStore) -> PgStore {
        let database: String = sqlx::query_scalar("SELECT current_database()")
            .fetch_one(node.pool())
            .await
            .expect("the database's name");
        PgStore::open_with(&cluster().url(&database), Duration::from_secs(10))
            .await
            .expect("opening the scratch database again")
    }

    /// A PostgreSQL store on a new, migrated database.
    pub(crate) async fn store() -> PgStore {
        let url = cluster()
            .create_database()
            .await
            .expect("a scratch database");
        PgStore::open_with(&url, Duration::from_secs(10))
            .await
            .expect("opening the scratch database")
    }

    /// Two stores on one new database, as two nodes would have.
    pub(crate) async fn two_nodes() -> (PgStore, PgStore) {
        let url = cluster()
            .create_database()
            .await
            .expect("a scratch database");
        let first = PgStore::open_with(&url, Duration::from_secs(10)).await;
        let second = PgStore::open_with(&url, Duration::from_secs(10)).await;
        (
            first.expect("opening the scratch database"),
            second.expect("opening the scratch database again"),
        )
    }

    #[tokio::test]
    async fn the_schema_migrates_on_a_fresh_cluster() {
        let store = store().await;
        let tables: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert!(tables > 30, "{tables} tables");
    }
}
