//! One million feedback records with their events in SQLite: how fast are the
//! staff queue and the disclosure figures for one estate-month?
//!
//!   cargo bench --bench records_1m            (seeds once into target/bench-records-1000000.sqlite)
//!   PAVILION_BENCH_RECORDS=200000 cargo bench --bench records_1m
//!
//! Prints p50/p95/max over repeated runs; BENCHMARKS.md keeps the figures.

use std::time::{Duration as StdDuration, Instant};

use chrono::{Duration, TimeZone, Utc};
use pavilion::domain::record::RecordState;
use pavilion::domain::Actor;
use pavilion::domain::EstateId;
use pavilion::feedback::disclosure::Month;
use pavilion::feedback::records::Records;
use pavilion::feedback::sla::{BusinessCalendar, CategoryRule, SlaPolicy, SlaSettings};
use pavilion::store::{RecordFilter, Store};

const ESTATES: i64 = 20;
const BUILDINGS_PER_ESTATE: i64 = 5;
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;

fn percentile(sorted: &[StdDuration], p: f64) -> StdDuration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn measure<F, Fut>(name: &str, runs: usize, mut f: F)
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
    println!(
        "{name:<48} p50 {:>7.2} ms  p95 {:>7.2} ms  max {:>7.2} ms  ({rows} rows)",
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.95).as_secs_f64() * 1e3,
        times.last().unwrap().as_secs_f64() * 1e3,
    );
}

/// Bulk-loads `total` records spread over 24 months, each with 2–5 events.
async fn seed(url: &str, total: i64) -> anyhow::Result<()> {
    let pool = sqlx::SqlitePool::connect(url).await?;
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM records")
        .fetch_one(&pool)
        .await?;
    if existing >= total {
        return Ok(());
    }
    println!("seeding {total} records (once)…");
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
    let span = Duration::days(730).num_seconds();
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
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());
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

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let total: i64 = std::env::var("PAVILION_BENCH_RECORDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000);
        let path = format!(
            "{}/target/bench-records-{total}.sqlite",
            env!("CARGO_MANIFEST_DIR")
        );
        let url = format!("sqlite://{path}");
        // Opening runs any migration the file has not seen yet.
        let store_arc = pavilion::store::connect(&url).await?;
        seed(&url, total).await?;
        let store: &dyn Store = &*store_arc;
        let open: Vec<RecordState> = RecordState::ALL
            .into_iter()
            .filter(|s| s.is_open())
            .collect();

        measure("queue: open records of one estate (200)", 50, |i| {
            let filter = RecordFilter {
                estate: Some(EstateId(i as i64 % ESTATES + 1)),
                states: open.clone(),
                limit: 200,
                ..Default::default()
            };
            async move { store.list_records(&filter).await.unwrap().len() }
        })
        .await;
        measure("queue: all open records, whole community (200)", 50, |_| {
            let filter = RecordFilter {
                states: open.clone(),
                limit: 200,
                ..Default::default()
            };
            async move { store.list_records(&filter).await.unwrap().len() }
        })
        .await;
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
        .await;
        let records = Records::new(store_arc.clone(), ZONE);
        add_sla_versions(&records).await?;
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
        .await;
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
        .await;
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
        .await;
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
        .await;
        Ok(())
    })
}
