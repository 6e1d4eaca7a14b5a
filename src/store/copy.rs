//! `pavilion db copy`: moves a community that outgrew one box from its
//! SQLite file to a new PostgreSQL database, with its whole history.
//!
//! The copy works on tables, not on the store traits: both schemas hold the
//! same tables and columns (BIGINT for SQLite's integers, BOOLEAN for its 0/1
//! flags, TEXT for text and times), so every row is carried over as it is,
//! ids included. What to copy and in which order is read from the target's
//! schema itself (its tables, columns, primary and foreign keys), so a future
//! migration is copied without changes here, and a table or column that
//! exists on one side only is an error naming it rather than data left
//! behind.
//!
//! Everything is written in ONE PostgreSQL transaction: a refusal or failure
//! at any point leaves the target as it was (apart from its schema, which the
//! copy brings up to date first, as any node starting on it would). The
//! SQLite file is opened read-only and read in one transaction, so the copy is
//! a consistent snapshot even if a server still writes to it.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::TryStreamExt;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Connection, PgConnection, Postgres, Row, Sqlite, SqliteConnection};

/// Tables that PostgreSQL's triggers fill as their sources are copied
/// (`record_facts` from record_events, `open_records` from record_heads):
/// they are not copied but checked against the source afterwards.
const DERIVED: [&str; 2] = ["record_facts", "open_records"];

/// sqlx's own bookkeeping; each side keeps its own.
const MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// Bytes of COPY data sent to PostgreSQL at a time.
const CHUNK_BYTES: usize = 1 << 20;

/// How long the copy waits for a target table that someone else is using.
const LOCK_TIMEOUT: &str = "10s";

/// What was copied.
#[derive(Debug)]
pub struct CopyReport {
    /// Every table in the order it was filled; derived tables last.
    pub tables: Vec<TableCount>,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCount {
    pub table: String,
    pub rows: u64,
    /// Rebuilt by the target's triggers rather than copied.
    pub derived: bool,
}

impl CopyReport {
    pub fn total_rows(&self) -> u64 {
        self.tables.iter().map(|t| t.rows).sum()
    }
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database
/// at `to` (creating its schema if needed). Refuses a source whose schema is
/// not at this version's latest migration, and a target with any rows.
pub async fn copy(from: &str, to: &str) -> anyhow::Result<CopyReport> {
    let started = Instant::now();
    let mut source = open_source(from).await?;
    let mut target = open_target(to).await?;

    let mut source = source.begin().await?;
    let mut tx = target.begin().await?;
    let plan = plan(&mut source, &mut tx).await?;
    lock_and_check_empty(&mut tx, &plan).await?;

    let mut tables = Vec::new();
    for table in &plan.copied {
        let rows = copy_table(&mut source, &mut tx, table)
            .await
            .with_context(|| format!("copying table {}", table.name))?;
        let (in_source, in_target) = counts(&mut source, &mut tx, &table.name).await?;
        if rows != in_source || rows != in_target {
            bail!(
                "table {}: {rows} rows copied, but the source has {in_source} and the target \
                 {in_target}; nothing was copied",
                table.name
            );
        }
        tables.push(TableCount {
            table: table.name.clone(),
            rows,
            derived: false,
        });
    }
    for name in &plan.derived {
        let (in_source, in_target) = counts(&mut source, &mut tx, name).await?;
        if in_source != in_target {
            bail!(
                "table {name} is rebuilt by PostgreSQL's triggers as the copy goes, but it holds \
                 {in_target} rows where the SQLite database has {in_source}; nothing was copied"
            );
        }
        tables.push(TableCount {
            table: name.clone(),
            rows: in_target,
            derived: true,
        });
    }
    for table in &plan.copied {
        restart_identity(&mut tx, table).await?;
    }
    tx.commit()
        .await
        .context("committing the copy to PostgreSQL")?;
    source.rollback().await?;
    Ok(CopyReport {
        tables,
        elapsed: started.elapsed(),
    })
}

/// Opens the SQLite file read-only and checks that its schema is exactly
/// this version's.
async fn open_source(from: &str) -> anyhow::Result<SqliteConnection> {
    if !from.starts_with("sqlite:") {
        bail!(
            "--from must be a SQLite database URL (sqlite://path/to/pavilion.sqlite), not {from:?}"
        );
    }
    let options = SqliteConnectOptions::from_str(from)
        .with_context(|| format!("--from {from:?} is not a SQLite database URL"))?
        .read_only(true)
        .create_if_missing(false)
        // Reading a whole table while the target is written always takes
        // "long"; that is no news to the operator.
        .disable_statement_logging();
    let path = options.get_filename().to_owned();
    if !path.is_file() {
        bail!("there is no SQLite database at {}", path.display());
    }
    let mut source = SqliteConnection::connect_with(&options)
        .await
        .with_context(|| format!("opening the SQLite database at {}", path.display()))?;
    check_migrations(&mut source)
        .await
        .with_context(|| format!("the SQLite database at {}", path.display()))?;
    Ok(source)
}

/// The source must have every migration of this version and no other.
async fn check_migrations(source: &mut SqliteConnection) -> anyhow::Result<()> {
    let migrator = sqlx::migrate!("src/store/sqlite/migrations");
    let has_history: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?)",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_one(&mut *source)
    .await
    .context("is it a SQLite database?")?;
    if !has_history {
        bail!("it is not a Pavilion database (it has no migration history)");
    }
    let applied: Vec<(i64, bool, Vec<u8>)> =
        sqlx::query_as("SELECT version, success, checksum FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *source)
            .await?;
    let applied: BTreeMap<i64, (bool, Vec<u8>)> = applied
        .into_iter()
        .map(|(version, success, checksum)| (version, (success, checksum)))
        .collect();
    for migration in migrator.iter() {
        if migration.migration_type.is_down_migration() {
            continue;
        }
        match applied.get(&migration.version) {
            None => bail!(
                "it is not up to date: migration {} ({}) has not been applied; start this \
                 version of Pavilion on it once (`pavilion serve`), stop it, then copy",
                migration.version,
                migration.description
            ),
            Some((false, _)) => bail!(
                "migration {} ({}) failed halfway on it; repair the database first",
                migration.version,
                migration.description
            ),
            Some((true, checksum)) if checksum[..] != migration.checksum[..] => bail!(
                "its migration {} ({}) differs from this version's; copy with the version of \
                 Pavilion that wrote it",
                migration.version,
                migration.description
            ),
            Some(_) => {}
        }
    }
    if let Some(version) = applied.keys().find(|v| !migrator.version_exists(**v)) {
        bail!(
            "it was migrated by a newer Pavilion (migration {version} is unknown to this one); \
             copy with that version"
        );
    }
    Ok(())
}

/// Connects to PostgreSQL and brings its schema up to date.
async fn open_target(to: &str) -> anyhow::Result<PgConnection> {
    if !(to.starts_with("postgres:") || to.starts_with("postgresql:")) {
        bail!(
            "--to must be a PostgreSQL database URL (postgres://user@host/database), not {:?}",
            shown(to)
        );
    }
    let options = PgConnectOptions::from_str(to)
        .with_context(|| format!("--to {:?} is not a PostgreSQL database URL", shown(to)))?
        .application_name("pavilion db copy")
        .disable_statement_logging();
    let mut target = PgConnection::connect_with(&options)
        .await
        .with_context(|| format!("connecting to {}", shown(to)))?;
    sqlx::migrate!("src/store/postgres/migrations")
        .run(&mut target)
        .await
        .with_context(|| format!("bringing the schema of {} up to date", shown(to)))?;
    Ok(target)
}

/// `url` without its password, for messages.
fn shown(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) => {
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "the --to URL".into(),
    }
}

/// How a column's values travel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Bool,
    Text,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    kind: Kind,
    identity: bool,
    /// References its own table (e.g. `comments.merged_into`): written after
    /// all of the table's rows are in, since a row may point to a later one.
    self_reference: bool,
}

#[derive(Debug, Clone)]
struct Table {
    name: String,
    columns: Vec<Column>,
    primary_key: Vec<String>,
}

#[derive(Debug)]
struct Plan {
    /// In foreign-key order: every table after the tables it references.
    copied: Vec<Table>,
    derived: Vec<String>,
}

/// Reads the target's schema, checks the source has the same tables and
/// columns, and orders the tables by their foreign keys.
async fn plan(source: &mut SqliteConnection, target: &mut PgConnection) -> anyhow::Result<Plan> {
    let source_tables: BTreeSet<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master
          WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name <> ?",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *source)
    .await?
    .into_iter()
    .collect();

    let columns: Vec<(String, String, String, bool)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text, is_identity = 'YES'
           FROM information_schema.columns
          WHERE table_schema = current_schema() AND table_name <> $1
          ORDER BY table_name, ordinal_position",
    )
    .bind(MIGRATIONS_TABLE)
    .fetch_all(&mut *target)
    .await?;
    let tables_only: BTreeSet<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
          WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
    )
    .fetch_all(&mut *target)
    .await?
    .into_iter()
    .collect();
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    for (table, column, data_type, identity) in columns {
        if !tables_only.contains(&table) {
            continue; // a view
        }
        let kind = match data_type.as_str() {
            "bigint" => Kind::Int,
            "boolean" => Kind::Bool,
            "text" => Kind::Text,
            other => bail!(
                "column {table}.{column} has the type {other}, which db copy does not know how \
                 to carry over"
            ),
        };
        tables
            .entry(table.clone())
            .or_insert_with(|| Table {
                name: table,
                columns: Vec::new(),
                primary_key: Vec::new(),
            })
            .columns
            .push(Column {
                name: column,
                kind,
                identity,
                self_reference: false,
            });
    }

    let target_tables: BTreeSet<String> = tables.keys().cloned().collect();
    if let Some(table) = source_tables.difference(&target_tables).next() {
        bail!(
            "table {table} is in the SQLite database but not in PostgreSQL's schema; it would \
             be left behind"
        );
    }
    if let Some(table) = target_tables.difference(&source_tables).next() {
        bail!("table {table} is in PostgreSQL's schema but not in the SQLite database");
    }
    for table in tables.values() {
        let in_source: BTreeSet<String> =
            sqlx::query_scalar("SELECT name FROM pragma_table_info(?)")
                .bind(&table.name)
                .fetch_all(&mut *source)
                .await?
                .into_iter()
                .collect();
        let in_target: BTreeSet<String> = table.columns.iter().map(|c| c.name.clone()).collect();
        if let Some(column) = in_source.difference(&in_target).next() {
            bail!(
                "column {}.{column} is in the SQLite database but not in PostgreSQL's schema; \
                 it would be left behind",
                table.name
            );
        }
        if let Some(column) = in_target.difference(&in_source).next() {
            bail!(
                "column {}.{column} is in PostgreSQL's schema but not in the SQLite database",
                table.name
            );
        }
    }

    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT tc.table_name::text, kcu.column_name::text
           FROM information_schema.table_constraints tc
           JOIN information_schema.key_column_usage kcu
             ON kcu.constraint_schema = tc.constraint_schema
            AND kcu.constraint_name = tc.constraint_name
            AND kcu.table_name = tc.table_name
          WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = current_schema()
          ORDER BY tc.table_name, kcu.ordinal_position",
    )
    .fetch_all(&mut *target)
    .await?;
    for (table, column) in keys {
        if let Some(table) = tables.get_mut(&table) {
            table.primary_key.push(column);
        }
    }

    let foreign_keys: Vec<(String, String, Vec<String>)> = sqlx::query_as(
        "SELECT src.relname::text, dst.relname::text,
                ARRAY(SELECT a.attname::text FROM unnest(c.conkey) AS k(n)
                        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n)
           FROM pg_constraint c
           JOIN pg_namespace ns ON ns.oid = c.connamespace
           JOIN pg_class src ON src.oid = c.conrelid
           JOIN pg_class dst ON dst.oid = c.confrelid
          WHERE c.contype = 'f' AND ns.nspname = current_schema()",
    )
    .fetch_all(&mut *target)
    .await?;
    let mut references: Vec<(String, String)> = Vec::new();
    for (from, to, columns) in foreign_keys {
        if from == to {
            let table = tables.get_mut(&from).expect("a table of the schema");
            let single_id = table.primary_key.len() == 1
                && table
                    .columns
                    .iter()
                    .any(|c| c.name == table.primary_key[0] && c.kind == Kind::Int);
            if columns.len() != 1 || !single_id {
                bail!(
                    "table {from} references itself through ({}), which db copy does not know \
                     how to order",
                    columns.join(", ")
                );
            }
            for column in &mut table.columns {
                if column.name == columns[0] {
                    column.self_reference = true;
                }
            }
        } else {
            references.push((from, to));
        }
    }

    for name in DERIVED {
        if !tables.contains_key(name) {
            bail!("the derived table {name} is missing from the schema (db copy needs updating)");
        }
        if let Some((from, _)) = references.iter().find(|(_, to)| to == name) {
            bail!("table {from} references the derived table {name}; db copy cannot order it");
        }
    }
    let copied: BTreeSet<String> = tables
        .keys()
        .filter(|t| !DERIVED.contains(&t.as_str()))
        .cloned()
        .collect();
    references.retain(|(from, _)| copied.contains(from));
    let order = foreign_key_order(&copied, &references)?;
    Ok(Plan {
        copied: order
            .into_iter()
            .map(|name| tables.remove(&name).expect("a table of the schema"))
            .collect(),
        derived: DERIVED.iter().map(|t| t.to_string()).collect(),
    })
}

/// The tables ordered so that each comes after every table it references
/// (`references` holds (referencing, referenced) pairs); among tables free to
/// go, alphabetical. A cycle is an error naming its tables.
fn foreign_key_order(
    tables: &BTreeSet<String>,
    references: &[(String, String)],
) -> anyhow::Result<Vec<String>> {
    let mut waiting_on: BTreeMap<&str, BTreeSet<&str>> = tables
        .iter()
        .map(|t| (t.as_str(), BTreeSet::new()))
        .collect();
    for (from, to) in references {
        if !tables.contains(to) {
            bail!("table {from} references {to}, which is not copied");
        }
        if from != to {
            waiting_on
                .get_mut(from.as_str())
                .expect("references are between copied tables")
                .insert(to.as_str());
        }
    }
    let mut order = Vec::with_capacity(tables.len());
    while !waiting_on.is_empty() {
        let ready: Vec<&str> = waiting_on
            .iter()
            .filter(|(_, on)| on.is_empty())
            .map(|(table, _)| *table)
            .collect();
        if ready.is_empty() {
            let stuck: Vec<&str> = waiting_on.keys().copied().collect();
            bail!(
                "the foreign keys between {} form a cycle; db copy cannot order them",
                stuck.join(", ")
            );
        }
        for table in ready {
            waiting_on.remove(table);
            for on in waiting_on.values_mut() {
                on.remove(table);
            }
            order.push(table.to_owned());
        }
    }
    Ok(order)
}

/// Locks every target table against other writers (a node already running
/// on it, a second copy) and refuses if any of them has a row.
async fn lock_and_check_empty(tx: &mut PgConnection, plan: &Plan) -> anyhow::Result<()> {
    sqlx::query(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        .execute(&mut *tx)
        .await?;
    let all: Vec<&str> = plan
        .copied
        .iter()
        .map(|t| t.name.as_str())
        .chain(plan.derived.iter().map(String::as_str))
        .collect();
    let list = all.iter().map(|t| quote(t)).collect::<Vec<_>>().join(", ");
    sqlx::query(&format!("LOCK TABLE {list} IN SHARE ROW EXCLUSIVE MODE"))
        .execute(&mut *tx)
        .await
        .context("locking the target's tables (is a Pavilion node running on it?)")?;
    let mut not_empty = Vec::new();
    for table in all {
        let has_rows: bool =
            sqlx::query_scalar(&format!("SELECT EXISTS (SELECT 1 FROM {})", quote(table)))
                .fetch_one(&mut *tx)
                .await?;
        if has_rows {
            not_empty.push(table);
        }
    }
    match not_empty.as_slice() {
        [] => Ok(()),
        [table] => bail!(
            "the target database is not empty: table {table} has rows; db copy only fills a new, \
             empty database"
        ),
        tables => bail!(
            "the target database is not empty: tables {} have rows; db copy only fills a new, \
             empty database",
            tables.join(", ")
        ),
    }
}

/// One value on its way.
#[derive(Debug)]
enum Value {
    Int(Option<i64>),
    Bool(Option<bool>),
    Text(Option<String>),
}

/// Copies one table in primary-key order with `COPY … FROM STDIN` (which
/// fires the target's triggers like INSERT does); returns the row count.
async fn copy_table(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &Table,
) -> anyhow::Result<u64> {
    let columns = table
        .columns
        .iter()
        .map(|c| quote(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let order = if table.primary_key.is_empty() {
        columns.clone()
    } else {
        table
            .primary_key
            .iter()
            .map(|c| quote(c))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let select = format!(
        "SELECT {columns} FROM {} ORDER BY {order}",
        quote(&table.name)
    );
    let copy = format!("COPY {} ({columns}) FROM STDIN", quote(&table.name));
    let id_index = table
        .columns
        .iter()
        .position(|c| table.primary_key.first() == Some(&c.name));

    let mut sent = 0u64;
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
    // (id, value) of self-references, written once every row is in.
    let mut later: BTreeMap<usize, (Vec<i64>, Vec<i64>)> = BTreeMap::new();
    let mut rows = sqlx::query(&select).fetch(&mut *source);
    let mut writer = target.copy_in_raw(&copy).await?;
    while let Some(row) = rows.try_next().await? {
        let mut values = decode(&row, table)?;
        for (index, column) in table.columns.iter().enumerate() {
            if !column.self_reference {
                continue;
            }
            if let (Value::Int(Some(value)), Some(Value::Int(Some(id)))) =
                (&values[index], id_index.map(|i| &values[i]))
            {
                let (ids, targets) = later.entry(index).or_default();
                ids.push(*id);
                targets.push(*value);
            }
            values[index] = Value::Int(None);
        }
        copy_text_row(&values, &mut chunk);
        sent += 1;
        if chunk.len() >= CHUNK_BYTES {
            writer.send(chunk.as_slice()).await?;
            chunk.clear();
        }
    }
    drop(rows);
    writer.send(chunk.as_slice()).await?;
    let copied = writer.finish().await?;
    if copied != sent {
        bail!("{sent} rows were sent but PostgreSQL took {copied}");
    }

    for (index, (ids, values)) in later {
        let column = &table.columns[index];
        let key = id_index
            .map(|i| &table.columns[i].name)
            .expect("checked in plan");
        sqlx::query(&format!(
            "UPDATE {table} AS t SET {column} = v.value
               FROM UNNEST($1::BIGINT[], $2::BIGINT[]) AS v(id, value)
              WHERE t.{key} = v.id",
            table = quote(&table.name),
            column = quote(&column.name),
            key = quote(key),
        ))
        .bind(ids)
        .bind(values)
        .execute(&mut *target)
        .await
        .with_context(|| format!("setting {}.{}", table.name, column.name))?;
    }
    Ok(copied)
}

/// One source row as the target's column types want it.
fn decode(row: &SqliteRow, table: &Table) -> anyhow::Result<Vec<Value>> {
    table
        .columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let value = match column.kind {
                Kind::Int => row.try_get::<Option<i64>, _>(index).map(Value::Int),
                Kind::Text => row.try_get::<Option<String>, _>(index).map(Value::Text),
                Kind::Bool => match row.try_get::<Option<i64>, _>(index) {
                    Ok(None) => Ok(Value::Bool(None)),
                    Ok(Some(0)) => Ok(Value::Bool(Some(false))),
                    Ok(Some(1)) => Ok(Value::Bool(Some(true))),
                    Ok(Some(other)) => bail!(
                        "{}.{} holds {other} where a flag (0 or 1) belongs",
                        table.name,
                        column.name
                    ),
                    Err(e) => Err(e),
                },
            };
            value.with_context(|| format!("reading {}.{}", table.name, column.name))
        })
        .collect()
}

/// Appends one row in COPY's text format: tab-separated, `\N` for NULL,
/// `t`/`f` for flags, backslash, newline, carriage return and tab escaped.
fn copy_text_row(values: &[Value], out: &mut Vec<u8>) {
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            out.push(b'\t');
        }
        match value {
            Value::Int(Some(v)) => out.extend_from_slice(v.to_string().as_bytes()),
            Value::Bool(Some(v)) => out.push(if *v { b't' } else { b'f' }),
            Value::Text(Some(text)) => {
                for byte in text.bytes() {
                    match byte {
                        b'\\' => out.extend_from_slice(b"\\\\"),
                        b'\n' => out.extend_from_slice(b"\\n"),
                        b'\r' => out.extend_from_slice(b"\\r"),
                        b'\t' => out.extend_from_slice(b"\\t"),
                        other => out.push(other),
                    }
                }
            }
            Value::Int(None) | Value::Bool(None) | Value::Text(None) => {
                out.extend_from_slice(b"\\N")
            }
        }
    }
    out.push(b'\n');
}

/// The table's row count on both sides.
async fn counts(
    source: &mut SqliteConnection,
    target: &mut PgConnection,
    table: &str,
) -> anyhow::Result<(u64, u64)> {
    let count = format!("SELECT count(*) FROM {}", quote(table));
    let in_source: i64 = sqlx::query_scalar::<Sqlite, i64>(&count)
        .fetch_one(&mut *source)
        .await?;
    let in_target: i64 = sqlx::query_scalar::<Postgres, i64>(&count)
        .fetch_one(&mut *target)
        .await?;
    Ok((in_source as u64, in_target as u64))
}

/// Moves the table's identity sequence past its highest id, so the next
/// row gets a fresh one. (`ALTER TABLE … RESTART` is transactional, unlike
/// `setval`, so a failed copy leaves the sequences as they were.)
async fn restart_identity(target: &mut PgConnection, table: &Table) -> anyhow::Result<()> {
    for column in table.columns.iter().filter(|c| c.identity) {
        let highest: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT max({}) FROM {}",
            quote(&column.name),
            quote(&table.name)
        ))
        .fetch_one(&mut *target)
        .await?;
        if let Some(highest) = highest {
            sqlx::query(&format!(
                "ALTER TABLE {} ALTER COLUMN {} RESTART WITH {}",
                quote(&table.name),
                quote(&column.name),
                highest + 1
            ))
            .execute(&mut *target)
            .await
            .with_context(|| format!("moving {}.{}'s sequence on", table.name, column.name))?;
        }
    }
    Ok(())
}

/// A quoted identifier (the same quoting on both databases).
fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn refs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn tables_come_after_the_tables_they_reference() {
        let tables = set(&["photos", "events", "records", "accounts", "communities"]);
        let order = foreign_key_order(
            &tables,
            &refs(&[
                ("photos", "events"),
                ("photos", "accounts"),
                ("events", "records"),
                ("records", "communities"),
                ("accounts", "communities"),
                ("records", "records"),
            ]),
        )
        .unwrap();
        assert_eq!(
            order,
            ["communities", "accounts", "records", "events", "photos"]
        );
    }

    #[test]
    fn a_cycle_is_named_rather_than_copied_in_some_order() {
        let error = foreign_key_order(
            &set(&["a", "b", "c"]),
            &refs(&[("a", "b"), ("b", "a"), ("c", "a")]),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("a, b, c") && error.contains("cycle"),
            "{error}"
        );
    }

    #[test]
    fn a_reference_to_a_table_not_copied_is_an_error() {
        let error = foreign_key_order(&set(&["a"]), &refs(&[("a", "gone")]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("gone"), "{error}");
    }

    #[test]
    fn passwords_are_not_shown() {
        assert_eq!(
            shown("postgres://pavilion:secret@db.example:5432/pavilion"),
            "postgres://pavilion@db.example:5432/pavilion"
        );
        assert_eq!(shown("postgres://db/p"), "postgres://db/p");
    }

    #[test]
    fn rows_are_written_in_copys_text_format() {
        let mut out = Vec::new();
        copy_text_row(
            &[
                Value::Int(Some(-42)),
                Value::Bool(Some(true)),
                Value::Bool(Some(false)),
                Value::Text(Some("楼道\t灯\r\n坏了 C:\\N \\.".into())),
                Value::Int(None),
                Value::Text(Some(String::new())),
            ],
            &mut out,
        );
        copy_text_row(&[Value::Text(None)], &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-42\tt\tf\t楼道\\t灯\\r\\n坏了 C:\\\\N \\\\.\t\\N\t\n\\N\n"
        );
    }

    #[test]
    fn identifiers_are_quoted_for_both_databases() {
        assert_eq!(quote("comments"), "\"comments\"");
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
    }
}
