//! Household registration codes: issue for a whole building, print as a sheet
//! of slips, revoke and re-issue one unit's code.

use actix_web::{web, HttpResponse};
use maud::{html, Markup, DOCTYPE};
use serde::Deserialize;

use crate::accounts::tokens;
use crate::domain::scope::Place;
use crate::domain::{Building, BuildingId, Community, Estate, RegistrationCodeId, UnitId};
use crate::web::assets::asset_url;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{console_page, flash, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct Empty {}

/// The building with its estate and community (the route guard has checked
/// that it lies in the viewer's scope).
async fn place_of(
    state: &AppState,
    id: BuildingId,
) -> Result<(Community, Estate, Building), WebError> {
    let building = state.store.building(id).await?;
    let estate = state.store.estate(building.estate_id).await?;
    let community = state.store.community(estate.community_id).await?;
    Ok((community, estate, building))
}

pub async fn index(state: web::Data<AppState>, staff: Staff) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let scope = staff.account.scope();
    let mut tree = Vec::new();
    for (community, estates_in_scope) in super::estates_in_scope(&state, &staff.account).await? {
        let mut estates = Vec::new();
        for estate in estates_in_scope {
            if !scope.contains(Place::estate(community.id, estate.id)) {
                continue;
            }
            let buildings = state.store.list_buildings(estate.id).await?;
            estates.push((estate, buildings));
        }
        tree.push((community, estates));
    }
    let body = html! {
        h1 { (ctx.t("codes.title")) }
        p { (ctx.t("codes.lead")) }
        @for (community, estates) in &tree {
            section class="panel" {
                h2 { (community.name) }
                @for (estate, buildings) in estates {
                    h3 { (estate.name) }
                    ul class="tags" {
                        @for b in buildings { li { a href={"/console/buildings/" (b.id) "/codes"} { (b.name) } } }
                    }
                }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("codes.title"), body))
}

pub async fn building(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let id = BuildingId(*id);
    let (community, estate, building) = place_of(&state, id).await?;
    let rows = state.store.codes_for_building(id).await?;
    let missing = rows.iter().filter(|(_, c)| c.is_none()).count();
    let title = format!("{} · {}", building.name, ctx.t("codes.title"));
    let body = html! {
        p class="muted" { (community.name) " · " (estate.name) }
        h1 { (title) }
        (flash(ctx, done.done.as_deref()))
        div class="actions" {
            @if missing > 0 {
                form method="post" action={"/console/buildings/" (id) "/codes"} class="inline" {
                    (form_token(ctx))
                    button type="submit" { (ctx.lang.tf("codes.issue_missing", &[("n", &missing)])) }
                }
            }
            @if rows.len() > missing {
                a class="button secondary" href={"/console/buildings/" (id) "/codes/sheet"} { (ctx.t("codes.print_sheet")) }
            }
        }
        @if rows.is_empty() { p class="muted" { (ctx.t("codes.no_units")) } }
        @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("field.unit")) }
                        th scope="col" { (ctx.t("field.registration_code")) }
                        th scope="col" { (ctx.t("codes.registered")) }
                        th scope="col" { (ctx.t("codes.actions")) }
                    } }
                    tbody {
                        @for (unit, code) in &rows {
                            tr {
                                th scope="row" { (unit.label) }
                                td { @match code { Some(c) => code class="reg-code" { (c.printed()) }, None => span class="muted" { (ctx.t("codes.none")) } } }
                                td { (unit.residents) }
                                td class="row-actions" {
                                    form method="post" action={"/console/units/" (unit.id) "/code"} class="inline" {
                                        (form_token(ctx))
                                        button type="submit" class="secondary" { (ctx.t(if code.is_some() { "codes.reissue" } else { "codes.issue" })) }
                                    }
                                    @if let Some(c) = code {
                                        form method="post" action={"/console/codes/" (c.id) "/revoke"} class="inline" {
                                            (form_token(ctx))
                                            button type="submit" class="danger" { (ctx.t("codes.revoke")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(&staff, &title, body))
}

pub async fn issue_missing(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    let id = BuildingId(*id);
    place_of(&state, id).await?;
    state
        .store
        .issue_missing_codes(&staff.actor(), id, &mut tokens::registration_code)
        .await?;
    Ok(see_other(&format!(
        "/console/buildings/{id}/codes?done=codes_issued"
    )))
}

pub async fn reissue(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    let unit = state.store.unit(UnitId(*id)).await?;
    place_of(&state, unit.building_id).await?;
    state
        .store
        .reissue_code(&staff.actor(), unit.id, &tokens::registration_code())
        .await?;
    Ok(see_other(&format!(
        "/console/buildings/{}/codes?done=code_reissued",
        unit.building_id
    )))
}

pub async fn revoke(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    // Check the place before changing anything.
    let building = building_of_code(&state, RegistrationCodeId(*id)).await?;
    place_of(&state, building).await?;
    let code = state
        .store
        .revoke_code(&staff.actor(), RegistrationCodeId(*id))
        .await?;
    let unit = state.store.unit(code.unit_id).await?;
    Ok(see_other(&format!(
        "/console/buildings/{}/codes?done=code_revoked",
        unit.building_id
    )))
}

async fn building_of_code(
    state: &AppState,
    id: RegistrationCodeId,
) -> Result<BuildingId, WebError> {
    let unit = state.store.code_unit(id).await?;
    Ok(state.store.unit(unit).await?.building_id)
}

/// A printable sheet: one slip per unit with its code and how to register.
pub async fn sheet(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let id = BuildingId(*id);
    let (community, estate, building) = place_of(&state, id).await?;
    let rows = state.store.codes_for_building(id).await?;
    let register_url = format!(
        "{}/register",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let title = format!(
        "{} {} {} · {}",
        community.name,
        estate.name,
        building.name,
        ctx.t("codes.sheet_title")
    );
    let page_title = format!("{title} · {}", ctx.t("app.name"));
    Ok(html! {
        (DOCTYPE)
        html lang=(ctx.lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (page_title) }
                link rel="stylesheet" href=(asset_url("css/app.css"));
            }
            body class="sheet" {
                main {
                    h1 class="no-print" { (title) }
                    p class="no-print" {
                        a href={"/console/buildings/" (id) "/codes"} { (ctx.t("action.back")) }
                        " · " (ctx.t("codes.print_hint"))
                    }
                    div class="slips" {
                        @for (unit, code) in &rows {
                            @if let Some(code) = code {
                                section class="slip" {
                                    p class="slip-place" { (community.name) " " (estate.name) " " (building.name) " " strong { (unit.label) } }
                                    p class="slip-code" { (code.printed()) }
                                    p class="slip-how" { (ctx.lang.tf("codes.slip_how", &[("url", &register_url)])) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}
