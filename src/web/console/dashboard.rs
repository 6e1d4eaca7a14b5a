use actix_web::web;
use maud::{html, Markup};

use crate::domain::notice::{Notice, NoticeState};
use crate::domain::{AuditFilter, Permission};
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::layout::console_page;
use crate::web::AppState;

use super::audit::audit_table;

pub async fn show(state: web::Data<AppState>, staff: Staff) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let counts = state.store.directory_counts().await?;
    let recent = if staff.account.role.can(Permission::ReadAuditLog) {
        Some(
            state
                .store
                .audit_log(&AuditFilter {
                    limit: 10,
                    actors_within: Some(staff.account.scope()),
                    ..Default::default()
                })
                .await?,
        )
    } else {
        None
    };
    let escalated = if staff.account.role.can(Permission::ReadRecords) {
        // Every escalated record in the viewer's scope (no cap).
        let records = state
            .store
            .escalated_records(staff.account.scope().community())
            .await?;
        Some(
            records
                .iter()
                .filter(|r| crate::feedback::records::Records::can_see(&staff.account, r))
                .count(),
        )
    } else {
        None
    };
    // The viewer's breach alerts (as an estate's staff lead), unseen first.
    let alerts: Vec<_> = super::alerts::alert_rows(&state, &staff, 20)
        .await?
        .into_iter()
        .filter(|(alert, _)| alert.seen_at.is_none())
        .take(5)
        .collect();
    let unseen_alerts = super::alerts::badges().unseen_alerts;
    // Screens quiet for more than ten minutes, for those who look after them.
    let offline = super::screens::offline_alert(&state, &staff).await;
    let pending_notices = if staff.account.role.can(Permission::ApproveNotices) {
        let filter = crate::store::NoticeFilter {
            community: staff.account.scope().community(),
            states: vec![NoticeState::Pending],
            limit: 1000,
            ..Default::default()
        };
        state.store.list_notices(&filter).await?.len()
    } else {
        0
    };
    // Emergencies on the screens now: anyone may publish one without
    // approval, so those who approve notices see them here and may clear them.
    let emergencies: Vec<Notice> = if staff.account.role.can(Permission::ApproveNotices) {
        let filter = crate::store::NoticeFilter {
            community: staff.account.scope().community(),
            states: vec![NoticeState::Published],
            limit: 1000,
            ..Default::default()
        };
        let now = chrono::Utc::now();
        state
            .store
            .list_notices(&filter)
            .await?
            .into_iter()
            .filter(|n| n.emergency && !n.validity.has_ended(now))
            .collect()
    } else {
        Vec::new()
    };
    let figures = [
        ("dashboard.communities", counts.communities),
        ("dashboard.estates", counts.estates),
        ("dashboard.buildings", counts.buildings),
        ("dashboard.units", counts.units),
        ("dashboard.accounts", counts.accounts),
        ("dashboard.residents", counts.residents),
    ];
    let body = html! {
        h1 { (ctx.t("dashboard.title")) }
        p { (ctx.lang.tf("dashboard.welcome", &[("name", &staff.account.display_name)])) }
        @if !alerts.is_empty() {
            section class="alert alert-error" role="alert" aria-labelledby="my-alerts" {
                h2 id="my-alerts" { (ctx.lang.tf("alerts.dashboard", &[("n", &unseen_alerts.max(alerts.len() as i64))])) }
                (super::alerts::alert_list(ctx, &alerts))
                p { a href="/console/alerts" { (ctx.t("alerts.open_inbox")) } }
            }
        }
        @if let Some(n) = escalated.filter(|n| *n > 0) {
            p class="alert alert-error" role="alert" {
                (ctx.lang.tf("dashboard.escalated", &[("n", &n)])) " "
                a href="/console/agenda" { (ctx.t("nav.agenda")) }
            }
        }
        (offline)
        @if !emergencies.is_empty() {
            section class="alert alert-error" role="alert" aria-labelledby="emergencies" data-emergencies=(emergencies.len()) {
                strong id="emergencies" { (ctx.lang.tf("dashboard.emergencies", &[("n", &emergencies.len())])) }
                ul {
                    @for notice in &emergencies {
                        li {
                            a href={"/console/notices/" (notice.id)} { (notice.title) }
                            @if let Some(at) = notice.published_at {
                                " " span class="muted" { (ctx.lang.tf("dashboard.emergency_since", &[("at", &ctx.local_time(at))])) }
                            }
                        }
                    }
                }
            }
        }
        @if pending_notices > 0 {
            p class="alert" role="status" {
                a href="/console/notices?state=pending" {
                    (ctx.lang.tf("notices.pending_count", &[("n", &pending_notices)]))
                }
            }
        }
        ul class="figures" {
            @for (key, n) in figures {
                li { span class="figure" { (n) } span { (ctx.t(key)) } }
            }
        }
        @if let Some(entries) = recent {
            section aria-labelledby="recent" {
                h2 id="recent" { (ctx.t("dashboard.recent_changes")) }
                (audit_table(ctx, &entries))
                p { a href="/console/audit" { (ctx.t("dashboard.all_changes")) } }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("dashboard.title"), body))
}
