//! The embedded default: one SQLite file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{FromRow, Sqlite, SqlitePool, Transaction};

use super::error::missing_parent;
use super::rows::accounts::{
    shown_actor_name, AccountRow, ApiKeyRow, AuditRow, BuildingRow, CodeRow, CommunityRow,
    EstateRow, UnitRow, ACCOUNT_COLUMNS, API_KEY_COLUMNS, UNIT_COLUMNS,
};
use super::*;

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
mod signage;

pub struct SqliteStore {
    pool: SqlitePool,
    /// One node alone: signals stay in this process.
    signals: Signals,
}

pub(super) use crate::store::ts;

/// The shared geography and CAP SQL, with SQLite's `?n` for `$n`.
fn shared_sql(sql: &str) -> String {
    sql.replace('$', "?")
}
crate::store::geography::geography_impl!(SqliteStore, shared_sql);

fn now() -> String {
    ts(Utc::now())
}

impl SignalStore for SqliteStore {
    fn signals(&self) -> &Signals {
        &self.signals
    }
}

impl SqliteStore {
    pub async fn open(url: &str) -> anyhow::Result<Self> {
        Self::open_with(url, Duration::from_secs(10)).await
    }

    /// Opens the database; a change waits up to `busy_timeout` for another
    /// writer before it fails as `StoreError::Busy`.
    pub async fn open_with(url: &str, busy_timeout: Duration) -> anyhow::Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(busy_timeout);
        if let Some(dir) = options.get_filename().parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await?;
        sqlx::migrate!("src/store/sqlite/migrations")
            .run(&pool)
            .await?;
        Ok(Self {
            pool,
            signals: Signals::in_process(),
        })
    }

    pub(super) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Tells listeners that `account` changed; call after the commit.
    pub(super) fn account_changed(&self, account: AccountId) {
        self.signals.tell(Topic::Accounts, &account.to_string());
    }

    /// The one way a change starts: `BEGIN IMMEDIATE` takes the write lock at
    /// once, waiting up to the busy timeout for another writer. A deferred
    /// transaction that reads first would instead fail with `SQLITE_BUSY` the
    /// moment it tries to write after someone else did (WAL cannot upgrade a
    /// read snapshot that is no longer the newest), whatever the timeout.
    pub(super) async fn write_tx(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(super) async fn audit(
        tx: &mut Transaction<'_, Sqlite>,
        entry: NewAuditEntry,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_id, actor_name, action, entity, entity_id, before, after)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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

    /// Renames a community, estate or building, auditing the values before and after.
    async fn rename_place<Row, Place>(
        &self,
        actor: &Actor,
        (table, entity, action): (&'static str, &'static str, &'static str),
        id: i64,
        name: &PlaceName,
    ) -> StoreResult<Place>
    where
        Row: for<'r> FromRow<'r, SqliteRow> + Send + Unpin,
        Place: From<Row> + serde::Serialize,
    {
        let mut tx = self.write_tx().await?;
        let before: Row = sqlx::query_as(&format!("SELECT * FROM {table} WHERE id = ?"))
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        let after: Row = sqlx::query_as(&format!(
            "UPDATE {table} SET name = ? WHERE id = ? RETURNING *"
        ))
        .bind(name.as_str())
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let (before, after) = (Place::from(before), Place::from(after));
        Self::audit(
            &mut tx,
            actor
                .entry(action, entity, id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        Ok(after)
    }
}

pub(super) async fn fetch_account<'e, E: sqlx::SqliteExecutor<'e>>(
    db: E,
    id: AccountId,
) -> StoreResult<Account> {
    let row: AccountRow = sqlx::query_as(&format!(
        "SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?"
    ))
    .bind(id.0)
    .fetch_one(db)
    .await?;
    row.try_into()
}

async fn insert_account(
    tx: &mut Transaction<'_, Sqlite>,
    new: &NewAccount,
) -> StoreResult<Account> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO accounts (username, display_name, password_hash, role, community_id, estate_id, unit_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(new.username.as_str())
    .bind(new.display_name.as_str())
    .bind(&new.password_hash)
    .bind(new.role.as_str())
    .bind(new.community_id.map(|c| c.0))
    .bind(new.estate_id.map(|e| e.0))
    .bind(new.unit_id.map(|u| u.0))
    .bind(now())
    .fetch_one(&mut **tx)
    .await?;
    fetch_account(&mut **tx, AccountId(id)).await
}

#[async_trait]
impl HealthStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        // Reads the schema page, so a damaged or vanished file fails here
        // (`SELECT 1` alone would not touch the file).
        sqlx::query("SELECT count(*) FROM sqlite_schema")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl DirectoryStore for SqliteStore {
    async fn list_communities(&self) -> StoreResult<Vec<Community>> {
        let rows: Vec<CommunityRow> = sqlx::query_as("SELECT * FROM communities ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn community(&self, id: CommunityId) -> StoreResult<Community> {
        let row: CommunityRow = sqlx::query_as("SELECT * FROM communities WHERE id = ?")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn create_community(
        &self,
        actor: &Actor,
        name: &PlaceName,
        code: &CommunityCode,
    ) -> StoreResult<Community> {
        let mut tx = self.write_tx().await?;
        let row: CommunityRow = sqlx::query_as(
            "INSERT INTO communities (name, code, created_at) VALUES (?, ?, ?) RETURNING *",
        )
        .bind(name.as_str())
        .bind(code.as_str())
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        let community = Community::from(row);
        Self::audit(
            &mut tx,
            actor
                .entry("community.create", "community", community.id)
                .after(&community),
        )
        .await?;
        tx.commit().await?;
        Ok(community)
    }

    async fn rename_community(
        &self,
        actor: &Actor,
        id: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<Community> {
        self.rename_place::<CommunityRow, Community>(
            actor,
            ("communities", "community", "community.rename"),
            id.0,
            name,
        )
        .await
    }

    async fn list_estates(&self, community: CommunityId) -> StoreResult<Vec<Estate>> {
        let rows: Vec<EstateRow> =
            sqlx::query_as("SELECT * FROM estates WHERE community_id = ? ORDER BY name")
                .bind(community.0)
                .fetch_all(&self.pool)
                .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn estate(&self, id: EstateId) -> StoreResult<Estate> {
        let row: EstateRow = sqlx::query_as("SELECT * FROM estates WHERE id = ?")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn create_estate(
        &self,
        actor: &Actor,
        community: CommunityId,
        name: &PlaceName,
    ) -> StoreResult<Estate> {
        let mut tx = self.write_tx().await?;
        let row: EstateRow = sqlx::query_as(
            "INSERT INTO estates (community_id, name, created_at) VALUES (?, ?, ?) RETURNING *",
        )
        .bind(community.0)
        .bind(name.as_str())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(missing_parent)?;
        let estate = Estate::from(row);
        Self::audit(
            &mut tx,
            actor
                .entry("estate.create", "estate", estate.id)
                .after(&estate),
        )
        .await?;
        tx.commit().await?;
        Ok(estate)
    }

    async fn rename_estate(
        &self,
        actor: &Actor,
        id: EstateId,
        name: &PlaceName,
    ) -> StoreResult<Estate> {
        self.rename_place::<EstateRow, Estate>(
            actor,
            ("estates", "estate", "estate.rename"),
            id.0,
            name,
        )
        .await
    }

    async fn list_buildings(&self, estate: EstateId) -> StoreResult<Vec<Building>> {
        // Natural order for "2号楼" before "10号楼": shorter names first, then by text.
        let rows: Vec<BuildingRow> = sqlx::query_as(
            "SELECT * FROM buildings WHERE estate_id = ? ORDER BY length(name), name",
        )
        .bind(estate.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn building(&self, id: BuildingId) -> StoreResult<Building> {
        let row: BuildingRow = sqlx::query_as("SELECT * FROM buildings WHERE id = ?")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.into())
    }

    async fn create_building(
        &self,
        actor: &Actor,
        estate: EstateId,
        name: &PlaceName,
    ) -> StoreResult<Building> {
        let mut tx = self.write_tx().await?;
        let row: BuildingRow = sqlx::query_as(
            "INSERT INTO buildings (estate_id, name, created_at) VALUES (?, ?, ?) RETURNING *",
        )
        .bind(estate.0)
        .bind(name.as_str())
        .bind(now())
        .fetch_one(&mut *tx)
        .await
        .map_err(missing_parent)?;
        let building = Building::from(row);
        Self::audit(
            &mut tx,
            actor
                .entry("building.create", "building", building.id)
                .after(&building),
        )
        .await?;
        tx.commit().await?;
        Ok(building)
    }

    async fn rename_building(
        &self,
        actor: &Actor,
        id: BuildingId,
        name: &PlaceName,
    ) -> StoreResult<Building> {
        self.rename_place::<BuildingRow, Building>(
            actor,
            ("buildings", "building", "building.rename"),
            id.0,
            name,
        )
        .await
    }

    async fn list_units(&self, building: BuildingId) -> StoreResult<Vec<Unit>> {
        let rows: Vec<UnitRow> = sqlx::query_as(&format!(
            "SELECT {UNIT_COLUMNS} FROM units u WHERE u.building_id = ? ORDER BY length(u.label), u.label"
        ))
        .bind(building.0)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn unit(&self, id: UnitId) -> StoreResult<Unit> {
        let row: UnitRow = sqlx::query_as(&format!(
            "SELECT {UNIT_COLUMNS} FROM units u WHERE u.id = ?"
        ))
        .bind(id.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn add_units(
        &self,
        actor: &Actor,
        building: BuildingId,
        labels: &[UnitLabel],
    ) -> StoreResult<usize> {
        let mut tx = self.write_tx().await?;
        sqlx::query("SELECT id FROM buildings WHERE id = ?")
            .bind(building.0)
            .fetch_one(&mut *tx)
            .await?;
        let mut added = Vec::new();
        for label in labels {
            let result = sqlx::query(
                "INSERT OR IGNORE INTO units (building_id, label, created_at) VALUES (?, ?, ?)",
            )
            .bind(building.0)
            .bind(label.as_str())
            .bind(now())
            .execute(&mut *tx)
            .await?;
            if result.rows_affected() == 1 {
                added.push(label.as_str());
            }
        }
        if !added.is_empty() {
            Self::audit(
                &mut tx,
                actor.entry("unit.add", "building", building).after(&added),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(added.len())
    }

    async fn directory_counts(&self) -> StoreResult<DirectoryCounts> {
        let row: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM communities), (SELECT COUNT(*) FROM estates),
                    (SELECT COUNT(*) FROM buildings), (SELECT COUNT(*) FROM units),
                    (SELECT COUNT(*) FROM accounts WHERE disabled_at IS NULL),
                    (SELECT COUNT(*) FROM accounts WHERE disabled_at IS NULL AND role = 'resident')",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(DirectoryCounts {
            communities: row.0,
            estates: row.1,
            buildings: row.2,
            units: row.3,
            accounts: row.4,
            residents: row.5,
        })
    }

    async fn codes_for_building(
        &self,
        building: BuildingId,
    ) -> StoreResult<Vec<(Unit, Option<RegistrationCode>)>> {
        let units = self.list_units(building).await?;
        let codes: Vec<CodeRow> = sqlx::query_as(
            "SELECT c.* FROM registration_codes c JOIN units u ON u.id = c.unit_id
             WHERE u.building_id = ? AND c.revoked_at IS NULL",
        )
        .bind(building.0)
        .fetch_all(&self.pool)
        .await?;
        let mut codes: Vec<RegistrationCode> = codes.into_iter().map(Into::into).collect();
        Ok(units
            .into_iter()
            .map(|unit| {
                let code = codes
                    .iter()
                    .position(|c| c.unit_id == unit.id)
                    .map(|i| codes.swap_remove(i));
                (unit, code)
            })
            .collect())
    }

    async fn issue_missing_codes(
        &self,
        actor: &Actor,
        building: BuildingId,
        new_code: &mut (dyn FnMut() -> String + Send),
    ) -> StoreResult<usize> {
        let mut tx = self.write_tx().await?;
        let units: Vec<(i64, String)> = sqlx::query_as(
            "SELECT u.id, u.label FROM units u WHERE u.building_id = ?
             AND NOT EXISTS (SELECT 1 FROM registration_codes c WHERE c.unit_id = u.id AND c.revoked_at IS NULL)",
        )
        .bind(building.0)
        .fetch_all(&mut *tx)
        .await?;
        for (unit_id, _) in &units {
            sqlx::query(
                "INSERT INTO registration_codes (unit_id, code, created_at) VALUES (?, ?, ?)",
            )
            .bind(unit_id)
            .bind(new_code())
            .bind(now())
            .execute(&mut *tx)
            .await?;
        }
        if !units.is_empty() {
            let labels: Vec<&str> = units.iter().map(|(_, l)| l.as_str()).collect();
            Self::audit(
                &mut tx,
                actor
                    .entry("code.issue", "building", building)
                    .after(&labels),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(units.len())
    }

    async fn reissue_code(
        &self,
        actor: &Actor,
        unit: UnitId,
        code: &str,
    ) -> StoreResult<RegistrationCode> {
        let mut tx = self.write_tx().await?;
        sqlx::query("SELECT id FROM units WHERE id = ?")
            .bind(unit.0)
            .fetch_one(&mut *tx)
            .await?;
        let revoked: Option<CodeRow> = sqlx::query_as(
            "UPDATE registration_codes SET revoked_at = ? WHERE unit_id = ? AND revoked_at IS NULL RETURNING *",
        )
        .bind(now())
        .bind(unit.0)
        .fetch_optional(&mut *tx)
        .await?;
        let row: CodeRow = sqlx::query_as(
            "INSERT INTO registration_codes (unit_id, code, created_at) VALUES (?, ?, ?) RETURNING *",
        )
        .bind(unit.0)
        .bind(code)
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        let issued = RegistrationCode::from(row);
        let before = revoked.map(|r| RegistrationCode::from(r).printed());
        Self::audit(
            &mut tx,
            actor
                .entry("code.reissue", "unit", unit)
                .before(before)
                .after(issued.printed()),
        )
        .await?;
        tx.commit().await?;
        Ok(issued)
    }

    async fn revoke_code(
        &self,
        actor: &Actor,
        id: RegistrationCodeId,
    ) -> StoreResult<RegistrationCode> {
        let mut tx = self.write_tx().await?;
        let row: CodeRow = sqlx::query_as(
            "UPDATE registration_codes SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? RETURNING *",
        )
        .bind(now())
        .bind(id.0)
        .fetch_one(&mut *tx)
        .await?;
        let code = RegistrationCode::from(row);
        Self::audit(
            &mut tx,
            actor
                .entry("code.revoke", "unit", code.unit_id)
                .before(code.printed()),
        )
        .await?;
        tx.commit().await?;
        Ok(code)
    }

    async fn code_unit(&self, id: RegistrationCodeId) -> StoreResult<UnitId> {
        let unit: i64 = sqlx::query_scalar("SELECT unit_id FROM registration_codes WHERE id = ?")
            .bind(id.0)
            .fetch_one(&self.pool)
            .await?;
        Ok(UnitId(unit))
    }
}

/// A closed account is never changed again (the schema refuses it too).
async fn refuse_closed(tx: &mut Transaction<'_, Sqlite>, id: AccountId) -> StoreResult<()> {
    let closed: Option<bool> =
        sqlx::query_scalar("SELECT closed_at IS NOT NULL FROM accounts WHERE id = ?")
            .bind(id.0)
            .fetch_optional(&mut **tx)
            .await?;
    if closed == Some(true) {
        return Err(StoreError::Rejected("the account was closed by its owner"));
    }
    Ok(())
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn create_account(&self, actor: &Actor, new: NewAccount) -> StoreResult<Account> {
        let mut tx = self.write_tx().await?;
        let account = insert_account(&mut tx, &new).await.map_err(|e| match e {
            StoreError::Database(e) => missing_parent(e),
            other => other,
        })?;
        Self::audit(
            &mut tx,
            actor
                .entry("account.create", "account", account.id)
                .after(&account),
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn account(&self, id: AccountId) -> StoreResult<Account> {
        fetch_account(&self.pool, id).await
    }

    async fn credentials(&self, username: &Username) -> StoreResult<Option<(Account, String)>> {
        let row: Option<(i64, String)> =
            sqlx::query_as("SELECT id, password_hash FROM accounts WHERE username = ?")
                .bind(username.as_str())
                .fetch_optional(&self.pool)
                .await?;
        match row {
            Some((id, hash)) => Ok(Some((
                fetch_account(&self.pool, AccountId(id)).await?,
                hash,
            ))),
            None => Ok(None),
        }
    }

    async fn list_accounts(&self, filter: &AccountFilter) -> StoreResult<Vec<Account>> {
        let search = filter
            .search
            .as_deref()
            .map(|s| format!("%{}%", s.replace(['%', '_'], "")));
        let rows: Vec<AccountRow> = sqlx::query_as(&format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts
             WHERE (?1 IS NULL OR role = ?1)
               AND (?2 IS NULL OR username LIKE ?2 OR display_name LIKE ?2)
               AND (?3 IS NULL OR community_id = ?3)
               AND (?4 IS NULL OR estate_id = ?4)
             ORDER BY role, username LIMIT 500"
        ))
        .bind(filter.role.map(Role::as_str))
        .bind(search)
        .bind(filter.within.community().map(|c| c.0))
        .bind(filter.within.estate().map(|e| e.0))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn update_account(
        &self,
        actor: &Actor,
        id: AccountId,
        change: &AccountChange,
    ) -> StoreResult<Account> {
        let mut tx = self.write_tx().await?;
        let before = fetch_account(&mut *tx, id).await?;
        refuse_closed(&mut tx, id).await?;
        if before.role == Role::Resident && change.role != Role::Resident {
            return Err(StoreError::Rejected("resident accounts keep their role"));
        }
        if before.role != Role::Resident && change.role == Role::Resident {
            return Err(StoreError::Rejected(
                "staff accounts cannot become residents",
            ));
        }
        sqlx::query(
            "UPDATE accounts SET display_name = ?, role = ?, community_id = ?, estate_id = ?,
                disabled_at = CASE WHEN ? THEN COALESCE(disabled_at, ?) ELSE NULL END
             WHERE id = ?",
        )
        .bind(change.display_name.as_str())
        .bind(change.role.as_str())
        .bind(change.community_id.map(|c| c.0))
        .bind(change.estate_id.map(|e| e.0))
        .bind(change.disabled)
        .bind(now())
        .bind(id.0)
        .execute(&mut *tx)
        .await
        .map_err(missing_parent)?;
        if change.disabled || change.role != before.role {
            sqlx::query("DELETE FROM sessions WHERE account_id = ?")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
        }
        let after = fetch_account(&mut *tx, id).await?;
        Self::audit(
            &mut tx,
            actor
                .entry("account.update", "account", id)
                .before(&before)
                .after(&after),
        )
        .await?;
        tx.commit().await?;
        self.account_changed(id);
        Ok(after)
    }

    async fn set_password(
        &self,
        actor: &Actor,
        id: AccountId,
        password_hash: &str,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        refuse_closed(&mut tx, id).await?;
        let updated = sqlx::query("UPDATE accounts SET password_hash = ? WHERE id = ?")
            .bind(password_hash)
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        sqlx::query("DELETE FROM sessions WHERE account_id = ?")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        Self::audit(&mut tx, actor.entry("account.password", "account", id)).await?;
        tx.commit().await?;
        self.account_changed(id);
        Ok(())
    }

    async fn set_locale(&self, id: AccountId, locale: &str) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET locale = ? WHERE id = ?")
            .bind(locale)
            .bind(id.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn count_admins(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM accounts WHERE role = 'admin' AND disabled_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await?)
    }

    async fn create_session(&self, token_hash: &str, session: &Session) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (token_hash, account_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(token_hash)
        .bind(session.account_id.0)
        .bind(&session.csrf_token)
        .bind(now())
        .bind(ts(session.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(Session, Account)>> {
        let row: Option<(i64, String, DateTime<Utc>)> = sqlx::query_as(
            "SELECT account_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        let Some((account_id, csrf_token, expires_at)) = row else {
            return Ok(None);
        };
        if expires_at <= now {
            self.delete_session(token_hash).await?;
            return Ok(None);
        }
        let account = fetch_account(&self.pool, AccountId(account_id)).await?;
        if account.disabled {
            return Ok(None);
        }
        Ok(Some((
            Session {
                account_id: account.id,
                csrf_token,
                expires_at,
            },
            account,
        )))
    }

    async fn delete_session(&self, token_hash: &str) -> StoreResult<()> {
        let ended: Option<i64> =
            sqlx::query_scalar("DELETE FROM sessions WHERE token_hash = ? RETURNING account_id")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(account) = ended {
            self.account_changed(AccountId(account));
        }
        Ok(())
    }

    async fn replace_setup_token(
        &self,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        sqlx::query("DELETE FROM setup_tokens WHERE used_at IS NULL")
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)")
            .bind(token_hash)
            .bind(ts(expires_at))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn setup_token_valid(&self, token_hash: &str, now: DateTime<Utc>) -> StoreResult<bool> {
        let valid: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM setup_tokens WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
               AND NOT EXISTS (SELECT 1 FROM accounts WHERE role = 'admin')",
        )
        .bind(token_hash)
        .bind(ts(now))
        .fetch_optional(&self.pool)
        .await?;
        Ok(valid.is_some())
    }

    async fn complete_setup(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        admin: NewAccount,
    ) -> StoreResult<Account> {
        let mut tx = self.write_tx().await?;
        let used = sqlx::query(
            "UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
               AND NOT EXISTS (SELECT 1 FROM accounts WHERE role = 'admin')",
        )
        .bind(ts(now))
        .bind(token_hash)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if used.rows_affected() != 1 {
            return Err(StoreError::Rejected(
                "setup link is invalid, expired or already used",
            ));
        }
        let account = insert_account(&mut tx, &admin).await?;
        let actor = Actor {
            id: Some(account.id),
            name: account.username.clone(),
        };
        Self::audit(
            &mut tx,
            actor
                .entry("setup.first_admin", "account", account.id)
                .after(&account),
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }

    async fn register_resident(
        &self,
        code: &str,
        username: Username,
        display_name: DisplayName,
        password_hash: String,
    ) -> StoreResult<Account> {
        let mut tx = self.write_tx().await?;
        let place: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT u.id, e.id, e.community_id FROM registration_codes c
               JOIN units u ON u.id = c.unit_id
               JOIN buildings b ON b.id = u.building_id
               JOIN estates e ON e.id = b.estate_id
             WHERE c.code = ? AND c.revoked_at IS NULL",
        )
        .bind(code)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((unit_id, estate_id, community_id)) = place else {
            return Err(StoreError::Rejected(
                "registration code is unknown or revoked",
            ));
        };
        sqlx::query("UPDATE registration_codes SET uses = uses + 1 WHERE code = ?")
            .bind(code)
            .execute(&mut *tx)
            .await?;
        let new = NewAccount {
            username,
            display_name,
            password_hash,
            role: Role::Resident,
            community_id: Some(CommunityId(community_id)),
            estate_id: Some(EstateId(estate_id)),
            unit_id: Some(UnitId(unit_id)),
        };
        let account = insert_account(&mut tx, &new).await?;
        let actor = Actor {
            id: Some(account.id),
            name: account.username.clone(),
        };
        Self::audit(
            &mut tx,
            actor
                .entry("account.register", "account", account.id)
                .after(&account),
        )
        .await?;
        tx.commit().await?;
        Ok(account)
    }
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn audit_log(&self, filter: &AuditFilter) -> StoreResult<Vec<AuditEntry>> {
        let rows: Vec<AuditRow> = sqlx::query_as(
            &format!(
            "SELECT * FROM (
                SELECT l.id, l.at, l.actor_id, {}, l.action, l.entity, l.entity_id,
                       -- What a closed account's entries held about it is its
                       -- personal data; its comments show its label.
                       CASE WHEN {closed} THEN NULL
                            WHEN {author} IS NOT NULL THEN json_replace(l.before, '$.public_name', {author})
                            ELSE l.before END AS before,
                       CASE WHEN {closed} THEN NULL
                            WHEN {author} IS NOT NULL THEN json_replace(l.after, '$.public_name', {author})
                            ELSE l.after END AS after
                  FROM audit_log l)
             WHERE (?1 IS NULL OR actor_name = ?1)
               AND (?2 IS NULL OR action = ?2)
               AND (?3 IS NULL OR entity = ?3)
               AND (?4 IS NULL OR at >= ?4)
               AND (?5 IS NULL OR at < ?5)
               AND (?6 IS NULL OR id < ?6)
               AND (?8 IS NULL OR actor_id IN (
                    SELECT id FROM accounts
                    WHERE community_id = ?8 AND (?9 IS NULL OR estate_id = ?9)))
             ORDER BY id DESC LIMIT ?7",
            shown_actor_name("l"),
            closed = "l.entity = 'account' AND EXISTS (SELECT 1 FROM accounts closed
                        WHERE closed.id = CAST(l.entity_id AS INTEGER) AND closed.closed_at IS NOT NULL)",
            author = "(CASE WHEN l.entity = 'comment' THEN
                        (SELECT closed.display_name FROM comments c JOIN accounts closed ON closed.id = c.author_id
                          WHERE c.id = CAST(l.entity_id AS INTEGER) AND closed.closed_at IS NOT NULL) END)"
        ))
        .bind(filter.actor.as_deref())
        .bind(filter.action.as_deref())
        .bind(filter.entity.as_deref())
        .bind(filter.since.map(ts))
        .bind(filter.until.map(ts))
        .bind(filter.before_id)
        .bind(filter.limit.clamp(1, 500))
        .bind(filter.actors_within.and_then(Scope::community).map(|c| c.0))
        .bind(filter.actors_within.and_then(Scope::estate).map(|e| e.0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn audit_actions(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT action FROM audit_log ORDER BY action")
                .fetch_all(&self.pool)
                .await?,
        )
    }
}

#[async_trait]
impl ApiKeyStore for SqliteStore {
    async fn create_api_key(
        &self,
        actor: &Actor,
        name: &str,
        key_hash: &str,
        community_id: Option<CommunityId>,
    ) -> StoreResult<ApiKey> {
        let mut tx = self.write_tx().await?;
        let row: ApiKeyRow = sqlx::query_as(&format!(
            "INSERT INTO api_keys (name, key_hash, community_id, created_at) VALUES (?, ?, ?, ?)
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(name)
        .bind(key_hash)
        .bind(community_id.map(|c| c.0))
        .bind(now())
        .fetch_one(&mut *tx)
        .await?;
        let key = ApiKey::from(row);
        Self::audit(
            &mut tx,
            actor.entry("api_key.create", "api_key", key.id).after(&key),
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn revoke_api_key(&self, actor: &Actor, id: i64) -> StoreResult<ApiKey> {
        let mut tx = self.write_tx().await?;
        let row: ApiKeyRow = sqlx::query_as(&format!(
            "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(now())
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
        let key = ApiKey::from(row);
        Self::audit(
            &mut tx,
            actor.entry("api_key.revoke", "api_key", key.id).after(&key),
        )
        .await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn list_api_keys(&self, within: Scope) -> StoreResult<Vec<ApiKey>> {
        // Keys have no estate: an estate's scope contains none of them.
        if within.estate().is_some() {
            return Ok(Vec::new());
        }
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys
             WHERE ?1 IS NULL OR community_id = ?1 ORDER BY id DESC"
        ))
        .bind(within.community().map(|c| c.0))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn api_key_by_id(&self, id: i64) -> StoreResult<ApiKey> {
        let row: ApiKeyRow = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE id = ?"
        ))
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.into())
    }

    async fn api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }
}
