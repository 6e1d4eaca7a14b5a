//! The staff lead's alert inbox: breaches in their estates, newest first, with
//! the unseen count as a badge in the console navigation.

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};

use crate::store::StaffAlert;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{console_page, flash, form_token};
use crate::web::AppState;

tokio::task_local! {
    /// The viewer's unseen alerts, for the navigation badge of this request.
    static UNSEEN: i64;
}

/// The unseen-alert count of the console page being rendered (0 outside a console request).
pub fn unseen_badge() -> i64 {
    UNSEEN.try_with(|n| *n).unwrap_or(0)
}

/// The viewer's unseen alerts (0 for anyone who is not staff).
pub async fn unseen_of(req: &ServiceRequest) -> i64 {
    let (Ok(ctx), Some(state)) = (
        Ctx::load(req.request()).await,
        req.app_data::<web::Data<AppState>>(),
    ) else {
        return 0;
    };
    match ctx.viewer.filter(|v| v.role.is_staff()) {
        Some(viewer) => state
            .store
            .unseen_alert_count(viewer.id)
            .await
            .unwrap_or_default(),
        None => 0,
    }
}

/// Runs a console request with its unseen-alert count at hand for the navigation.
pub async fn with_badge<F: std::future::Future>(unseen: i64, request: F) -> F::Output {
    UNSEEN.scope(unseen, request).await
}

/// The alerts with their records, for the inbox and the dashboard.
pub async fn alert_rows(
    state: &AppState,
    staff: &Staff,
    limit: i64,
) -> Result<Vec<(StaffAlert, crate::domain::record::Record)>, WebError> {
    let mut rows = Vec::new();
    for alert in state.store.staff_alerts(staff.account.id, limit).await? {
        let record = state.store.record(alert.record_id).await?;
        rows.push((alert, record));
    }
    Ok(rows)
}

/// A list of alerts (used by the inbox and the dashboard).
pub fn alert_list(ctx: &Ctx, rows: &[(StaffAlert, crate::domain::record::Record)]) -> Markup {
    html! {
        ul class="alerts" {
            @for (alert, record) in rows {
                li class=[alert.seen_at.is_none().then_some("unseen")] {
                    @if alert.seen_at.is_none() { span class="badge warn" { (ctx.t("alerts.new")) } " " }
                    (ctx.lang.tf(&format!("alerts.kind.{}", alert.kind), &[("number", &record.number)])) " "
                    a href={"/console/records/" (record.id)} { (record.title) }
                    " " span class="muted" { (ctx.local_time(alert.created_at)) }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn inbox(
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let rows = alert_rows(&state, &staff, 200).await?;
    let unseen = rows.iter().filter(|(a, _)| a.seen_at.is_none()).count();
    let body = html! {
        h1 { (ctx.t("alerts.title")) }
        (flash(ctx, done.done.as_deref()))
        p class="muted" { (ctx.t("alerts.lead")) }
        @if rows.is_empty() { p class="muted" { (ctx.t("alerts.none")) } }
        @else {
            (alert_list(ctx, &rows))
            @if unseen > 0 {
                form method="post" action="/console/alerts/seen" {
                    (form_token(ctx))
                    button type="submit" class="secondary" { (ctx.t("alerts.mark_seen")) }
                }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("alerts.title"), body))
}

#[derive(serde::Deserialize)]
pub struct Empty {}

pub async fn mark_seen(
    state: web::Data<AppState>,
    staff: Staff,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    state
        .store
        .mark_alerts_seen(staff.account.id, Utc::now())
        .await?;
    Ok(see_other("/console/alerts?done=updated"))
}
