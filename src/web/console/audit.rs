//! Browsing the append-only audit log.

use actix_web::web;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::{AuditEntry, AuditFilter};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::encode_component;
use crate::web::layout::console_page;
use crate::web::AppState;

const PAGE: i64 = 50;

#[derive(Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    entity: Option<String>,
    /// yyyy-mm-dd, inclusive.
    from: Option<String>,
    /// yyyy-mm-dd, inclusive.
    to: Option<String>,
    before: Option<i64>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

fn day(s: &Option<String>) -> Result<Option<NaiveDate>, WebError> {
    non_empty(s)
        .map(|d| {
            NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| WebError::BadInput {
                key: "error.bad_date",
            })
        })
        .transpose()
}

/// The first moment of a local calendar day, in UTC.
fn start_of_day(day: NaiveDate, zone: chrono_tz::Tz) -> DateTime<Utc> {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    zone.from_local_datetime(&midnight).earliest().map_or_else(
        || Utc.from_utc_datetime(&midnight),
        |t| t.with_timezone(&Utc),
    )
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<AuditQuery>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let from = day(&query.from)?;
    let to = day(&query.to)?;
    let filter = AuditFilter {
        actor: non_empty(&query.actor),
        action: non_empty(&query.action),
        entity: non_empty(&query.entity),
        since: from.map(|d| start_of_day(d, ctx.time_zone)),
        until: to
            .and_then(|d| d.succ_opt())
            .map(|d| start_of_day(d, ctx.time_zone)),
        before_id: query.before,
        limit: PAGE,
        actors_within: Some(staff.account.scope()),
    };
    let entries = state.store.audit_log(&filter).await?;
    let actions = state.store.audit_actions().await?;
    let older = (entries.len() as i64 == PAGE)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    let keep = |name: &str, value: &Option<String>| {
        non_empty(value)
            .map(|v| format!("&{name}={}", encode_component(&v)))
            .unwrap_or_default()
    };
    let body = html! {
        h1 { (ctx.t("audit.title")) }
        p { (ctx.t("audit.lead")) }
        form method="get" action="/console/audit" class="filters" role="search" {
            label for="actor" { (ctx.t("audit.actor")) }
            input id="actor" name="actor" type="text" maxlength="32" value=[filter.actor.as_deref()];
            label for="action" { (ctx.t("audit.action")) }
            select id="action" name="action" {
                option value="" { (ctx.t("audit.any_action")) }
                @for a in &actions { option value=(a) selected[filter.action.as_deref() == Some(a)] { (a) } }
            }
            label for="entity" { (ctx.t("audit.entity")) }
            input id="entity" name="entity" type="text" maxlength="32" value=[filter.entity.as_deref()];
            label for="from" { (ctx.t("audit.from")) }
            input id="from" name="from" type="date" value=[from.map(|d| d.to_string())];
            label for="to" { (ctx.t("audit.to")) }
            input id="to" name="to" type="date" value=[to.map(|d| d.to_string())];
            button type="submit" class="secondary" { (ctx.t("action.filter")) }
        }
        (audit_table(ctx, &entries))
        @if let Some(older) = older {
            p { a href={"/console/audit?before=" (older) (keep("actor", &query.actor)) (keep("action", &query.action)) (keep("entity", &query.entity)) (keep("from", &query.from)) (keep("to", &query.to))} { (ctx.t("audit.older")) } }
        }
    };
    Ok(console_page(&staff, &ctx.t("audit.title"), body))
}

pub fn audit_table(ctx: &Ctx, entries: &[AuditEntry]) -> Markup {
    let json = |v: &Option<serde_json::Value>| {
        v.as_ref()
            .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
    };
    html! {
        @if entries.is_empty() { p class="muted" { (ctx.t("audit.none")) } }
        @else {
            div class="table-wrap" {
                table class="audit" {
                    thead { tr {
                        th scope="col" { (ctx.t("audit.when")) }
                        th scope="col" { (ctx.t("audit.actor")) }
                        th scope="col" { (ctx.t("audit.action")) }
                        th scope="col" { (ctx.t("audit.entity")) }
                        th scope="col" { (ctx.t("audit.change")) }
                    } }
                    tbody {
                        @for e in entries {
                            tr {
                                td { time datetime=(e.at.to_rfc3339()) { (ctx.local_time(e.at)) } }
                                td { (e.actor_name) }
                                td { code { (e.action) } }
                                td { (e.entity) @if let Some(id) = &e.entity_id { " #" (id) } }
                                td {
                                    @if let Some(before) = json(&e.before) {
                                        details { summary { (ctx.t("audit.before")) } pre { (before) } }
                                    }
                                    @if let Some(after) = json(&e.after) {
                                        details { summary { (ctx.t("audit.after")) } pre { (after) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
