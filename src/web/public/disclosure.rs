//! 阳光公示: what happened to residents' records, per estate and month, for everyone to see.
//!
//! Anyone may ask, lobby screens and phones reload it: the figures come from
//! the records' cache (worked out again only when the estate-month's facts
//! grow), and the page carries an `ETag` so that asking again costs a 304.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Duration, Utc};
use maud::html;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::EstateId;
use crate::feedback::disclosure::{Disclosed, Month};
use crate::web::charts;
use crate::web::context::Ctx;
use crate::web::error::WebError;
use crate::web::layout::page;
use crate::web::record_view::category_name;
use crate::web::AppState;

use super::disclosure_charts::{
    categories, on_time_trend, record_error, satisfaction_trend, versions_tag, TREND_MONTHS,
};

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

/// A weak validator for the page as this viewer would get it: the facts'
/// version, what was asked, the estates to choose from and the page frame.
fn entity_tag(
    ctx: &Ctx,
    estates: &[(EstateId, String)],
    estate: Option<EstateId>,
    month: Month,
    history: &[(Month, Disclosed)],
) -> String {
    let mut hash = Sha256::new();
    hash.update(ctx.frame_key());
    for (id, name) in estates {
        hash.update(format!("\n{id}={name}"));
    }
    hash.update(format!("\n{estate:?}\n{month}\n{}", versions_tag(history)));
    format!("W/\"{}\"", hex::encode(&hash.finalize()[..12]))
}

/// Does `If-None-Match` name this tag (weak comparison, as for GET)?
pub(super) fn not_modified(req: &HttpRequest, tag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == bare(tag))
}

pub async fn show(
    state: web::Data<AppState>,
    req: HttpRequest,
    ctx: Ctx,
    query: web::Query<DisclosureQuery>,
) -> Result<HttpResponse, WebError> {
    let zone = ctx.time_zone;
    let now = Utc::now();
    let month = match query.month.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => Month::parse(m).ok_or(WebError::BadInput {
            key: "error.bad_month",
        })?,
        None => Month::of(now, zone),
    };
    let mut estates = Vec::new();
    for community in state.store.list_communities().await? {
        for estate in state.store.list_estates(community.id).await? {
            estates.push((estate.id, format!("{} · {}", community.name, estate.name)));
        }
    }
    let estate = match query.estate.map(EstateId) {
        Some(id) if estates.iter().any(|(e, _)| *e == id) => Some(id),
        Some(_) => return Err(WebError::NotFound),
        None => estates.first().map(|(id, _)| *id),
    };
    // The asked month and the eleven before it: the figures and their trends.
    let history = match estate {
        Some(estate) => state
            .records
            .disclosed_months(estate, month, TREND_MONTHS, zone, now)
            .await
            .map_err(record_error)?,
        None => Vec::new(),
    };
    for (_, d) in &history {
        if d.computed {
            state.metrics.disclosure_computed.inc();
        }
    }
    let version = history.last().map(|(_, d)| d.version);
    let tag = entity_tag(&ctx, &estates, estate, month, &history);
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, tag.clone()))
        // Revalidated every time; never shared (the page has the viewer's header).
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::VARY, "Cookie, Accept-Language"));
    if let Some(latest) = version.and_then(|v| v.latest) {
        // For information: the ETag decides, since the frame may change alone.
        response.insert_header(header::LastModified(
            std::time::SystemTime::from(latest).into(),
        ));
    }
    if not_modified(&req, &tag) {
        return Ok(response
            .status(actix_web::http::StatusCode::NOT_MODIFIED)
            .finish());
    }
    let figures = history.last().map(|(_, d)| d.figures.clone());
    let month_label = month.to_string();
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
            h2 { (ctx.t("disclosure.chart.trends")) }
            div class="charts" {
                (charts::line_figure(&on_time_trend("on-time", ctx.lang, &history)))
                (charts::line_figure(&satisfaction_trend("satisfaction", ctx.lang, &history)))
                @if let Some(chart) = categories("categories", ctx.lang, month, &d) {
                    (charts::bar_figure(&chart))
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
    Ok(response
        .content_type("text/html; charset=utf-8")
        .body(page(&ctx, &ctx.t("disclosure.title"), body).into_string()))
}
