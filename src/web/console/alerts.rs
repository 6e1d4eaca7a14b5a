//! The staff lead's alert inbox: breaches in their estates, newest first, with
//! the unseen count as a badge in the console navigation.

use actix_web::dev::ServiceRequest;
use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};

use crate::domain::Permission;
use crate::store::StaffAlert;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{console_page, flash, form_token};
use crate::web::AppState;

/// What the console navigation flags on every page: unseen alerts, and
/// lobby screens offline for more than 10 minutes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Badges {
    pub unseen_alerts: i64,
    pub offline_screens: usize,
}

tokio::task_local! {
    /// The viewer's badges, for the navigation of this request.
    static BADGES: Badges;
}

/// The badges of the console page being rendered (none outside a console request).
pub fn badges() -> Badges {
    BADGES.try_with(|b| *b).unwrap_or_default()
}

/// The viewer's badges (none for anyone who is not staff; offline screens
/// only for those who look after screens).
pub async fn badges_of(req: &ServiceRequest) -> Badges {
    let (Ok(ctx), Some(state)) = (
        Ctx::load(req.request()).await,
        req.app_data::<web::Data<AppState>>(),
    ) else {
        return Badges::default();
    };
    let Some(viewer) = ctx.viewer.filter(|v| v.role.is_staff()) else {
        return Badges::default();
    };
    let unseen_alerts = state
        .store
        .unseen_alert_count(viewer.id)
        .await
        .unwrap_or_default();
    let offline_screens = if viewer.role.can(Permission::ManageScreens) {
        match state.signage.offline_screens(viewer.community_id).await {
            Ok(screens) => screens.len(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot count the offline screens");
                0
            }
        }
    } else {
        0
    };
    Badges {
        unseen_alerts,
        offline_screens,
    }
}

/// Runs a console request with its badges at hand for the navigation.
pub async fn with_badges<F: std::future::Future>(badges: Badges, request: F) -> F::Output {
    BADGES.scope(badges, request).await
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
