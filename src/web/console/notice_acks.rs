//! On an emergency notice's page: for each screen it is aimed at, when the
//! screen confirmed it was on its glass, or that it has not. The panel is
//! drawn with the page and kept fresh by `assets/js/notice-acks.js`, which
//! reads `acks.json` every few seconds.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Serialize;

use crate::domain::notice::Notice;
use crate::domain::NoticeId;
use crate::signage::emergency::ScreenConfirmation;
use crate::signage::Signage;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::AppState;

/// One targeted screen as the panel shows it.
#[derive(Serialize)]
struct ScreenLine {
    screen_id: i64,
    name: String,
    confirmed: bool,
    /// When it was shown (UTC), if confirmed.
    shown_at: Option<chrono::DateTime<chrono::Utc>>,
    /// "shown at 14:03:07" (community time) or "not confirmed", in the
    /// viewer's language.
    status: String,
}

#[derive(Serialize)]
struct AcksJson {
    notice_id: i64,
    revision: i64,
    screens: Vec<ScreenLine>,
}

fn lines(ctx: &Ctx, notice: &Notice, confirmations: &[ScreenConfirmation]) -> Vec<ScreenLine> {
    confirmations
        .iter()
        .map(|c| {
            let shown_at = c
                .ack
                .as_ref()
                .filter(|_| c.confirms(notice))
                .map(|a| a.shown_at);
            let status = match shown_at {
                Some(at) => {
                    let time = at.with_timezone(&ctx.time_zone).format("%H:%M:%S");
                    ctx.lang.tf("notices.acks.shown_at", &[("time", &time)])
                }
                None => ctx.t("notices.acks.not_confirmed").into_owned(),
            };
            ScreenLine {
                screen_id: c.screen.id.0,
                name: c.screen.name.clone(),
                confirmed: shown_at.is_some(),
                shown_at,
                status,
            }
        })
        .collect()
}

fn refused(e: crate::signage::SignageError) -> WebError {
    match e {
        crate::signage::SignageError::NotFound => WebError::NotFound,
        crate::signage::SignageError::Store(e) => e.into(),
        e => WebError::Internal(e.into()),
    }
}

/// The panel of an emergency notice's page; nothing for other notices.
pub async fn panel(state: &AppState, staff: &Staff, notice: &Notice) -> Result<Markup, WebError> {
    if !notice.emergency {
        return Ok(html! {});
    }
    let ctx = &staff.ctx;
    let confirmations = state.signage.confirmations(notice).await.map_err(refused)?;
    let lines = lines(ctx, notice, &confirmations);
    Ok(html! {
        section class="panel" aria-labelledby="acks" data-acks=(format!("/console/notices/{}/acks.json", notice.id)) {
            h2 id="acks" { (ctx.t("notices.acks.title")) }
            p class="hint" { (ctx.t("notices.acks.hint")) }
            @if lines.is_empty() {
                p class="muted" { (ctx.t("notices.acks.no_screens")) }
            } @else {
                table class="acks" {
                    thead { tr { th { (ctx.t("notices.acks.screen")) } th { (ctx.t("notices.acks.status")) } } }
                    tbody {
                        @for line in &lines {
                            tr data-screen=(line.screen_id) {
                                td { (line.name) }
                                td data-ack-status data-confirmed=(line.confirmed) { (line.status) }
                            }
                        }
                    }
                }
            }
        }
        script src=(crate::web::assets::asset_url("js/notice-acks.js")) defer {}
    })
}

/// The panel's lines as JSON, for staff of the notice's community.
pub async fn acks_json(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let notice = state.store.notice(NoticeId(*id)).await?;
    if !staff.account.scope().reaches(notice.community_id.into())
        || !Signage::may_see_media(&staff.account, notice.community_id)
    {
        return Err(WebError::NotFound);
    }
    let confirmations = if notice.emergency {
        state
            .signage
            .confirmations(&notice)
            .await
            .map_err(refused)?
    } else {
        Vec::new()
    };
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(AcksJson {
            notice_id: notice.id.0,
            revision: notice.revision,
            screens: lines(&staff.ctx, &notice, &confirmations),
        }))
}
