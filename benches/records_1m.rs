//! One million feedback records with their events, on SQLite and on
//! PostgreSQL in the same run: how fast are the staff queue and the
//! disclosure figures for one estate-month on each backend?
//!
//!   cargo bench --bench records_1m                          (both backends)
//!   cargo bench --bench records_1m -- --backend sqlite      (or postgres)
//!   PAVILION_BENCH_RECORDS=200000 cargo bench --bench records_1m
//!
//! SQLite: the records are seeded once into
//! target/bench-records-RECORDS.sqlite and the file is reused.
//! PostgreSQL: a throwaway cluster (`ScratchCluster`: Debian's postgresql-15
//! binaries, a temporary folder, a free port) is started and the same
//! records are seeded into it on every run with set-based SQL
//! (generate_series), then VACUUM ANALYZE; the seed time is printed.
//! `PAVILION_BENCH_HOLD=1` keeps that cluster running after the figures
//! (its URL is printed) until a line or end of file arrives on stdin, for
//! EXPLAIN ANALYZE with psql.
//!
//! Prints p50/p95/max over repeated runs per backend, then one table with
//! both; BENCHMARKS.md keeps the figures.

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use pavilion::domain::record::RecordState;
use pavilion::domain::Actor;
use pavilion::domain::EstateId;
use pavilion::feedback::disclosure::Month;
use pavilion::feedback::records::Records;
use pavilion::feedback::sla::{BusinessCalendar, CategoryRule, SlaPolicy, SlaSettings};
use pavilion::store::postgres::scratch::ScratchCluster;
use pavilion::store::{RecordFilter, Store};

const ESTATES: i64 = 20;
const BUILDINGS_PER_ESTATE: i64 = 5;
/// Records are filed evenly over this many seconds (730 days) from 2024-12-01.
const SPAN_SECONDS: i64 = 730 * 86_400;
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

/// One query's timings on one backend.
struct Figure {
    name: &'static str,
    p50: StdDuration,
    p95: StdDuration,
    max: StdDuration,
    rows: usize,
}

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: StdDuration) -> f64 {
    d.as_secs_f64() * 1e3
}

async fn measure<F, Fut>(name: &'static str, runs: usize, mut f: F) -> Figure
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let mut times = Vec::with_capacity(runs);
    let mut rows = 0;
    for i in 0..runs {
        let started = Instant::now();
        rows = f(i).await;
        times.push(started.elapsed());
    }
    times.sort();
    let figure = Figure {
        name,
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        max: *times.last().unwrap(),
        rows,
    };
    println!(
        "{name:<66} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms  ({rows} rows)",
        ms(figure.p50),
        ms(figure.p95),
        ms(figure.max),
    );
    figure
}

/// Bulk-loads `total` records spread over 24 months, each with 2–5 events,
/// into the SQLite file (once; a file that has them is reused).
async fn seed_sqlite(url: &str, total: i64) -> anyhow::Result<()> {
    let pool = sqlx::SqlitePool::connect(url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records")
        .fetch_one(&pool)
        .await?;
    if existing >= total {
        return Ok(());
    }
    println!("SQLite: seeding {total} records (once)…");
    let started = Instant::now();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO communities (id, name, code, created_at) VALUES (1, '基准社区', 'BM', '2024-01-01T00:00:00.000000Z')")
        .execute(&mut *tx)
        .await?;
    for e in 1..=ESTATES {
        sqlx::query("INSERT INTO estates (id, community_id, name, created_at) VALUES (?, 1, ?, '2024-01-01T00:00:00.000000Z')")
            .bind(e)
            .bind(format!("小区{e}"))
            .execute(&mut *tx)
            .await?;
        for b in 1..=BUILDINGS_PER_ESTATE {
            sqlx::query("INSERT INTO buildings (id, estate_id, name, created_at) VALUES (?, ?, ?, '2024-01-01T00:00:00.000000Z')")
                .bind(e * 100 + b)
                .bind(e)
                .bind(format!("{b}号楼"))
                .execute(&mut *tx)
                .await?;
        }
    }
    let categories = ["repairs", "elevator", "parking", "rubbish", "noise", "fees"];
    let classes = [
        "general", "general", "general", "major", "urgent", "complex",
    ];
    let start = Utc.with_ymd_and_hms(2024, 12, 1, 0, 0, 0).unwrap();
    let span = SPAN_SECONDS;
    for id in 1..=total {
        let estate = id % ESTATES + 1;
        let created = start + Duration::seconds(id * span / total);
        let ts = |t: chrono::DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        sqlx::query(
            "INSERT INTO records (id, number, community_id, estate_id, building_id, category, class, title, description,
                                  location, source, tracking_hash, created_at)
             VALUES (?, ?, 1, ?, ?, ?, ?, '标题', '描述', '', 'web', ?, ?)",
        )
        .bind(id)
        .bind(format!("BM-{id:07}"))
        .bind(estate)
        .bind(estate * 100 + id % BUILDINGS_PER_ESTATE + 1)
        .bind(categories[(id % 6) as usize])
        .bind(classes[(id % 6) as usize])
        .bind(format!("{id:064x}"))
        .bind(ts(created))
        .execute(&mut *tx)
        .await?;
        // Most records are finished; the newest 2% are still open.
        let open = id > total - total / 50;
        let path: &[(i64, &str)] = if open {
            &[(0, "submitted"), (3, "accepted")]
        } else {
            &[
                (0, "submitted"),
                (3, "accepted"),
                (12, "on_site"),
                (40, "resolved"),
                (600, "closed"),
            ]
        };
        let mut previous: Option<&str> = None;
        for (seq, (minutes, state)) in path.iter().enumerate() {
            sqlx::query(
                "INSERT INTO record_events (record_id, seq, at, actor_name, action, from_state, to_state, public, rating)
                 VALUES (?, ?, ?, '物业', ?, ?, ?, 1, ?)",
            )
            .bind(id)
            .bind(seq as i64 + 1)
            .bind(ts(created + Duration::minutes(*minutes)))
            .bind(*state)
            .bind(previous)
            .bind(*state)
            .bind((*state == "closed").then_some(id % 5 + 1))
            .execute(&mut *tx)
            .await?;
            previous = Some(state);
        }
        let (last_minutes, last_state) = path.last().unwrap();
        sqlx::query(
            "INSERT INTO record_heads (record_id, state, version, state_since) VALUES (?, ?, ?, ?)",
        )
        .bind(id)
        .bind(*last_state)
        .bind(path.len() as i64)
        .bind(ts(created + Duration::minutes(*last_minutes)))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    sqlx::query("ANALYZE").execute(&pool).await?;
    println!("SQLite: seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The same records as `seed_sqlite` (same ids, numbers, places, categories,
/// times, events and heads), written into an empty PostgreSQL database with
/// set-based SQL in one transaction. The store's triggers fill `record_facts`
/// and `open_records` as they do for every filing; then VACUUM ANALYZE, as
/// autovacuum would do after such a load (done here so that it does not run
/// during the measurements).
async fn seed_postgres(url: &str, total: i64) -> anyhow::Result<()> {
    let pool = sqlx::PgPool::connect(url).await?;
    // The cluster is ours and throwaway: let the load run without a
    // checkpoint every 128 MB of WAL.
    sqlx::raw_sql("ALTER SYSTEM SET max_wal_size = '8GB'")
        .execute(&pool)
        .await?;
    sqlx::raw_sql("SELECT pg_reload_conf()")
        .execute(&pool)
        .await?;
    let started = Instant::now();
    let open_from = total - total / 50;
    let time = "to_char(f.t, 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
    let step_time =
        "to_char(f.t + s.minutes * INTERVAL '1 minute', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')";
    let sql = format!(
        "BEGIN;
INSERT INTO communities (id, name, code, created_at) VALUES (1, '基准社区', 'BM', '2024-01-01T00:00:00.000000Z');
INSERT INTO estates (id, community_id, name, created_at)
SELECT e, 1, '小区' || e, '2024-01-01T00:00:00.000000Z' FROM generate_series(1, {ESTATES}) e;
INSERT INTO buildings (id, estate_id, name, created_at)
SELECT e * 100 + b, e, b || '号楼', '2024-01-01T00:00:00.000000Z'
  FROM generate_series(1, {ESTATES}) e, generate_series(1, {BUILDINGS_PER_ESTATE}) b;
CREATE TEMP TABLE filed ON COMMIT DROP AS
SELECT i AS id, i % {ESTATES} + 1 AS estate, i > {open_from} AS open,
       TIMESTAMP '2024-12-01 00:00:00' + (i * {SPAN_SECONDS} / {total}) * INTERVAL '1 second' AS t
  FROM generate_series(1::BIGINT, {total}::BIGINT) i;
-- The state changes of a finished record and of an open one.
CREATE TEMP TABLE steps (open BOOLEAN, seq BIGINT, minutes INT, state TEXT, previous TEXT) ON COMMIT DROP;
INSERT INTO steps VALUES
    (FALSE, 1, 0, 'submitted', NULL), (FALSE, 2, 3, 'accepted', 'submitted'),
    (FALSE, 3, 12, 'on_site', 'accepted'), (FALSE, 4, 40, 'resolved', 'on_site'),
    (FALSE, 5, 600, 'closed', 'resolved'),
    (TRUE, 1, 0, 'submitted', NULL), (TRUE, 2, 3, 'accepted', 'submitted');
INSERT INTO records (id, number, community_id, estate_id, building_id, category, class, title,
                     description, location, source, tracking_hash, created_at)
SELECT f.id, 'BM-' || lpad(f.id::TEXT, greatest(7, length(f.id::TEXT)), '0'), 1, f.estate,
       f.estate * 100 + f.id % {BUILDINGS_PER_ESTATE} + 1,
       (ARRAY['repairs', 'elevator', 'parking', 'rubbish', 'noise', 'fees'])[f.id % 6 + 1],
       (ARRAY['general', 'general', 'general', 'major', 'urgent', 'complex'])[f.id % 6 + 1],
       '标题', '描述', '', 'web', lpad(to_hex(f.id), 64, '0'), {time}
  FROM filed f ORDER BY f.id;
INSERT INTO record_events (record_id, seq, at, actor_name, action, from_state, to_state, public, rating)
SELECT f.id, s.seq, {step_time}, '物业', s.state, s.previous, s.state, TRUE,
       CASE WHEN s.state = 'closed' THEN f.id % 5 + 1 END
  FROM filed f JOIN steps s ON s.open = f.open
 ORDER BY f.id, s.seq;
INSERT INTO record_heads (record_id, state, version, state_since)
SELECT f.id, s.state, s.seq, {step_time}
  FROM filed f JOIN steps s ON s.open = f.open AND s.seq = CASE WHEN f.open THEN 2 ELSE 5 END
 ORDER BY f.id;
SELECT setval(pg_get_serial_sequence('communities', 'id'), 1);
SELECT setval(pg_get_serial_sequence('estates', 'id'), {ESTATES});
SELECT setval(pg_get_serial_sequence('buildings', 'id'), {ESTATES} * 100 + {BUILDINGS_PER_ESTATE});
SELECT setval(pg_get_serial_sequence('records', 'id'), {total});
COMMIT;"
    );
    sqlx::raw_sql(&sql).execute(&pool).await?;
    let loaded = started.elapsed();
    sqlx::raw_sql("VACUUM ANALYZE").execute(&pool).await?;
    let size: String =
        sqlx::query_scalar("SELECT pg_size_pretty(pg_database_size(current_database()))")
            .fetch_one(&pool)
            .await?;
    println!(
        "PostgreSQL: seeded {total} records in {:.1} s (load {:.1} s, VACUUM ANALYZE {:.1} s), database {size}",
        started.elapsed().as_secs_f64(),
        loaded.as_secs_f64(),
        (started.elapsed() - loaded).as_secs_f64(),
    );
    pool.close().await;
    Ok(())
}

/// Two saved SLA versions (once): from 2025-01 a 60-minute rule for rubbish;
/// from 2025-07 office hours on weekdays with holidays and a 45-minute
/// general allowance, so that each record's own version and calendar count.
async fn add_sla_versions(records: &Records) -> anyhow::Result<()> {
    let community = pavilion::domain::CommunityId(1);
    if records
        .settings_at(community, Utc::now())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        != SlaSettings::default()
    {
        return Ok(());
    }
    let rubbish = CategoryRule {
        category: "rubbish".into(),
        class: None,
        minutes: Some(60),
        escalate_to: None,
    };
    let first = SlaSettings {
        categories: vec![rubbish.clone()],
        ..SlaSettings::default()
    };
    let office = Some((
        chrono::NaiveTime::from_hms_opt(8, 0, 0).unwrap(),
        chrono::NaiveTime::from_hms_opt(18, 0, 0).unwrap(),
    ));
    let second = SlaSettings {
        policy: SlaPolicy {
            general_minutes: 45,
            ..SlaPolicy::default()
        },
        categories: vec![rubbish],
        calendar: Some(BusinessCalendar {
            zone: ZONE,
            hours: [office, office, office, office, office, None, None],
            holidays: (1..=7)
                .map(|d| chrono::NaiveDate::from_ymd_opt(2025, 10, d).unwrap())
                .collect(),
        }),
    };
    let actor = Actor {
        id: None,
        name: "bench".into(),
    };
    for (settings, at) in [
        (first, Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap()),
        (second, Utc.with_ymd_and_hms(2025, 7, 1, 0, 0, 0).unwrap()),
    ] {
        records
            .save_settings(&actor, community, &settings, at)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(())
}

/// What the staff queue page reads and computes before rendering
/// (`web/console/records.rs:queue_page` for open records): every matching
/// open record (oldest first, at most the 5,000 the page ranks), their state
/// changes, the SLA of each under its own settings, sorted most urgent
/// first, and the first page of 50 taken.
async fn queue_page_data(store: &dyn Store, records: &Records, filter: &RecordFilter) -> usize {
    let rows = store.list_records(filter).await.unwrap();
    let mut judged = records.judge(rows, Utc::now()).await.unwrap();
    judged.sort_by_key(|(r, sla)| (!sla.breached, sla.left(), r.id));
    judged.into_iter().take(50).count()
}

/// Every measurement on one backend, in order.
async fn run_queries(store_arc: Arc<dyn Store>) -> anyhow::Result<Vec<Figure>> {
    let store: &dyn Store = &*store_arc;
    let open: Vec<RecordState> = RecordState::ALL
        .into_iter()
        .filter(|s| s.is_open())
        .collect();
    let mut figures = Vec::new();

    figures.push(
        measure("queue: open records of one estate (200)", 50, |i| {
            let filter = RecordFilter {
                estate: Some(EstateId(i as i64 % ESTATES + 1)),
                states: open.clone(),
                limit: 200,
                ..Default::default()
            };
            async move { store.list_records(&filter).await.unwrap().len() }
        })
        .await,
    );
    figures.push(
        measure("queue: all open records, whole community (200)", 50, |_| {
            let filter = RecordFilter {
                states: open.clone(),
                limit: 200,
                ..Default::default()
            };
            async move { store.list_records(&filter).await.unwrap().len() }
        })
        .await,
    );
    figures.push(
        measure(
            "queue: one estate, one category, any state (200)",
            50,
            |i| {
                let filter = RecordFilter {
                    estate: Some(EstateId(i as i64 % ESTATES + 1)),
                    category: Some("elevator".into()),
                    limit: 200,
                    ..Default::default()
                };
                async move { store.list_records(&filter).await.unwrap().len() }
            },
        )
        .await,
    );
    let records = Records::new(store_arc.clone(), ZONE);
    add_sla_versions(&records).await?;
    figures.push(
        measure(
            "queue page data: all open records of one estate ranked + SLA",
            50,
            |i| {
                let records = &records;
                let filter = RecordFilter {
                    estate: Some(EstateId(i as i64 % ESTATES + 1)),
                    states: open.clone(),
                    oldest_first: true,
                    limit: 5_000,
                    ..Default::default()
                };
                async move { queue_page_data(store, records, &filter).await }
            },
        )
        .await,
    );
    figures.push(
        measure(
            "queue page data: whole community, 5,000 oldest open ranked + SLA",
            20,
            |_| {
                let records = &records;
                let filter = RecordFilter {
                    states: open.clone(),
                    oldest_first: true,
                    limit: 5_000,
                    ..Default::default()
                };
                async move { queue_page_data(store, records, &filter).await }
            },
        )
        .await,
    );
    figures.push(
        measure(
            "disclosure step: the estate-month's record facts",
            60,
            |i| {
                let month = Month::parse(&format!("2025-{:02}", i % 12 + 1)).unwrap();
                let (since, until) = month.bounds(ZONE);
                let estate = EstateId(i as i64 % ESTATES + 1);
                async move {
                    store
                        .record_facts(estate, since, until)
                        .await
                        .unwrap()
                        .len()
                }
            },
        )
        .await,
    );
    figures.push(
        measure(
            "disclosure page data: one estate-month, per-record SLA",
            60,
            |i| {
                let records = &records;
                let month = Month::parse(&format!("2025-{:02}", i % 12 + 1)).unwrap();
                let estate = EstateId(i as i64 % ESTATES + 1);
                async move {
                    records
                        .disclosure(estate, month, ZONE, Utc::now())
                        .await
                        .unwrap()
                        .received
                }
            },
        )
        .await,
    );
    Ok(figures)
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// `--backend sqlite|postgres|both` (default both). `cargo bench` adds
/// `--bench` of its own; other arguments are ignored.
fn backends() -> anyhow::Result<Vec<Backend>> {
    let mut choice = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--backend" {
            choice = args.next();
        } else if let Some(value) = arg.strip_prefix("--backend=") {
            choice = Some(value.to_owned());
        }
    }
    match choice.as_deref().unwrap_or("both") {
        "both" => Ok(vec![Backend::Sqlite, Backend::Postgres]),
        "sqlite" => Ok(vec![Backend::Sqlite]),
        "postgres" | "postgresql" => Ok(vec![Backend::Postgres]),
        other => anyhow::bail!("--backend {other}: expected sqlite, postgres or both"),
    }
}

fn main() -> anyhow::Result<()> {
    let backends = backends()?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let total: i64 = std::env::var("PAVILION_BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let mut sqlite = None;
        let mut postgres = None;
        if backends.contains(&Backend::Sqlite) {
            let path = format!(
                "{}/target/bench-records-{total}.sqlite",
                env!("CARGO_MANIFEST_DIR")
            );
            let url = format!("sqlite://{path}");
            // Opening runs any migration the file has not seen yet.
            let store = pavilion::store::connect(&url).await?;
            seed_sqlite(&url, total).await?;
            println!("\nSQLite ({path})");
            sqlite = Some(run_queries(store).await?);
        }
        // Declared out here so that the cluster outlives the figures.
        let cluster;
        if backends.contains(&Backend::Postgres) {
            cluster = ScratchCluster::start()?;
            let url = cluster.create_database().await?;
            seed_postgres(&url, total).await?;
            let store = pavilion::store::connect(&url).await?;
            println!("\nPostgreSQL 15 (scratch cluster, {url})");
            postgres = Some(run_queries(store.clone()).await?);
            if std::env::var_os("PAVILION_BENCH_HOLD").is_some() {
                println!("holding {url} until a line (or end of file) on stdin…");
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
            }
        }

        println!("\n| query | SQLite p50 | SQLite p95 | PostgreSQL p50 | PostgreSQL p95 | rows |");
        println!("| --- | ---: | ---: | ---: | ---: | ---: |");
        let rows = sqlite
            .as_ref()
            .or(postgres.as_ref())
            .map(Vec::len)
            .unwrap_or(0);
        let cell = |figures: &Option<Vec<Figure>>, i: usize| match figures {
            Some(figures) => (
                format!("{:.2} ms", ms(figures[i].p50)),
                format!("{:.2} ms", ms(figures[i].p95)),
            ),
            None => ("—".to_owned(), "—".to_owned()),
        };
        for i in 0..rows {
            let figure = sqlite.as_ref().or(postgres.as_ref()).unwrap();
            let (s50, s95) = cell(&sqlite, i);
            let (p50, p95) = cell(&postgres, i);
            let counted: Vec<String> = [&sqlite, &postgres]
                .into_iter()
                .flatten()
                .map(|f| f[i].rows.to_string())
                .collect();
            println!(
                "| {} | {s50} | {s95} | {p50} | {p95} | {} |",
                figure[i].name,
                counted.join(" / ")
            );
        }
        Ok(())
    })
}
