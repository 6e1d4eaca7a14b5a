//! 阳光公示: what happened to residents' records, per estate and month, for everyone to see.

use actix_web::web;
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::EstateId;
use crate::feedback::disclosure::{disclose, History};
use crate::feedback::sla::{SlaClock, SlaPolicy};
use crate::store::RecordFilter;
use crate::web::context::Ctx;
use crate::web::error::WebError;
use crate::web::layout::page;
use crate::web::record_view::category_name;
use crate::web::AppState;

#[derive(Deserialize)]
pub struct DisclosureQuery {
    estate: Option<i64>,
    /// `YYYY-MM`; this month by default.
    month: Option<String>,
}

fn duration_text(ctx: &Ctx, d: Option<Duration>) -> String {
    match d {
        None => ctx.t("disclosure.none").into_owned(),
        Some(d) if d.num_minutes() < 120 => ctx.lang.tf("time.minutes", &[("m", &d.num_minutes())]),
        Some(d) => ctx.lang.tf(
            "time.hours_minutes",
            &[("h", &d.num_hours()), ("m", &(d.num_minutes() % 60))],
        ),
    }
}

pub async fn show(
    state: web::Data<AppState>,
    ctx: Ctx,
    query: web::Query<DisclosureQuery>,
) -> Result<Markup, WebError> {
    let zone = ctx.time_zone;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let first = match query.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").map_err(|_| {
            WebError::BadInput {
                key: "error.bad_month",
            }
        })?,
        None => today.with_day(1).expect("first of month"),
    };
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .expect("valid month");
    let start_of = |d: NaiveDate| {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight"))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let mut estates = Vec::new();
    for community in state.store.list_communities().await? {
        for estate in state.store.list_estates(community.id).await? {
            estates.push((estate.id, format!("{} · {}", community.name, estate.name)));
        }
    }
    let estate = query
        .estate
        .map(EstateId)
        .or_else(|| estates.first().map(|(id, _)| *id));
    let figures = match estate {
        Some(estate) => {
            let filter = RecordFilter {
                estate: Some(estate),
                since: start_of(first),
                until: start_of(next),
                limit: 1000,
                ..Default::default()
            };
            let records = state.store.list_records(&filter).await?;
            let ids: Vec<_> = records.iter().map(|r| r.id).collect();
            let changes = state.store.state_changes(&ids).await?;
            let ratings = state.store.ratings(&ids).await?;
            let histories: Vec<History> = records
                .iter()
                .map(|r| History {
                    record: r,
                    changes: changes.get(&r.id).map_or(&[][..], Vec::as_slice),
                    rating: ratings.get(&r.id).copied(),
                })
                .collect();
            Some(disclose(
                &histories,
                &SlaPolicy::default(),
                &SlaClock::AllHours,
                Utc::now(),
            ))
        }
        None => None,
    };
    let month_label = first.format("%Y-%m").to_string();
    let body = html! {
        h1 { (ctx.t("disclosure.title")) }
        p { (ctx.t("disclosure.lead")) }
        form method="get" action="/disclosure" class="filters" {
            label for="estate" { (ctx.t("record.estate")) }
            select id="estate" name="estate" {
                @for (id, name) in &estates { option value=(id) selected[estate == Some(*id)] { (name) } }
            }
            label for="month" { (ctx.t("disclosure.month")) }
            input id="month" name="month" type="month" value=(month_label);
            button type="submit" class="secondary" { (ctx.t("action.filter")) }
        }
        @if let Some(d) = figures {
            ul class="figures" {
                li { span class="figure" { (d.received) } span { (ctx.t("disclosure.received")) } }
                li { span class="figure" { (d.solved) } span { (ctx.t("disclosure.solved")) } }
                li { span class="figure" { (duration_text(&ctx, d.median_to_on_site)) } span { (ctx.t("disclosure.median_on_site")) } }
                li { span class="figure" { (duration_text(&ctx, d.median_to_resolution)) } span { (ctx.t("disclosure.median_resolution")) } }
                li {
                    span class="figure" { @match d.satisfaction { Some(s) => (format!("{s:.1}")), None => (ctx.t("disclosure.none")) } }
                    span { (ctx.lang.tf("disclosure.satisfaction", &[("n", &d.ratings)])) }
                }
            }
            h2 { (ctx.t("disclosure.on_time")) }
            div class="table-wrap" {
                table {
                    thead { tr { th scope="col" { (ctx.t("record.class")) } th scope="col" { (ctx.t("disclosure.received")) } th scope="col" { (ctx.t("disclosure.on_time_count")) } } }
                    tbody {
                        @for c in &d.by_class {
                            tr { th scope="row" { (ctx.t(&format!("class.{}", c.class.as_str()))) } td { (c.received) } td { (c.on_time) } }
                        }
                    }
                }
            }
            @if !d.top_categories.is_empty() {
                h2 { (ctx.t("disclosure.top_categories")) }
                ol { @for (code, n) in &d.top_categories { li { (category_name(&ctx, code)) " — " (n) } } }
            }
        } @else {
            p class="muted" { (ctx.t("home.no_communities")) }
        }
    };
    Ok(page(&ctx, &ctx.t("disclosure.title"), body))
}
