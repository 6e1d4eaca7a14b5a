//! Communities → estates → buildings → units.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::{
    BuildingId, CommunityCode, CommunityId, EstateId, PlaceName, Scope, UnitLabel,
};
use crate::store::StoreError;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct NameForm {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
pub struct CommunityForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    code: String,
}

#[derive(Deserialize)]
pub struct UnitsForm {
    #[serde(default)]
    labels: String,
}

fn breadcrumbs(ctx: &Ctx, trail: &[(String, String)]) -> Markup {
    html! {
        nav aria-label=(ctx.t("nav.breadcrumbs")) class="breadcrumbs" {
            ol {
                li { a href="/console/communities" { (ctx.t("nav.directory")) } }
                @for (href, name) in trail { li { a href=(href) { (name) } } }
            }
        }
    }
}

/// A one-field form: "name" with a submit button.
fn name_form(
    ctx: &Ctx,
    action: &str,
    label_key: &str,
    submit_key: &str,
    id: &str,
    value: &str,
) -> Markup {
    html! {
        form method="post" action=(action) class="stack" {
            (form_token(ctx))
            label for=(id) { (ctx.t(label_key)) }
            input id=(id) name="name" type="text" required maxlength=(PlaceName::MAX) value=(value);
            button type="submit" { (ctx.t(submit_key)) }
        }
    }
}

fn conflict_or(e: StoreError, ctx: &Ctx) -> Result<String, WebError> {
    match e {
        StoreError::Conflict => Ok(ctx.t("error.name_taken").into_owned()),
        e => Err(e.into()),
    }
}

pub async fn communities(
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    communities_page(&state, &staff, done.done.as_deref(), None).await
}

async fn communities_page(
    state: &AppState,
    staff: &Staff,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let communities = super::communities_in_scope(state, &staff.account).await?;
    // A new community lies outside every community's scope.
    let may_create = staff.account.scope() == Scope::Installation;
    let body = html! {
        h1 { (ctx.t("directory.communities")) }
        (flash(ctx, done))
        @if communities.is_empty() { p class="muted" { (ctx.t("directory.none_yet")) } }
        ul class="list" {
            @for c in &communities {
                li { a href={"/console/communities/" (c.id)} { (c.name) } " " span class="badge" { (c.code) } }
            }
        }
        @if may_create { section class="panel" aria-labelledby="new-community" {
            h2 id="new-community" { (ctx.t("directory.new_community")) }
            (form_error(problem))
            form method="post" action="/console/communities" class="stack" {
                (form_token(ctx))
                label for="name" { (ctx.t("field.community_name")) }
                input id="name" name="name" type="text" required maxlength=(PlaceName::MAX);
                label for="code" { (ctx.t("field.community_code")) }
                input id="code" name="code" type="text" required minlength="2" maxlength="6" aria-describedby="code-hint";
                p class="hint" id="code-hint" { (ctx.t("directory.code_hint")) }
                button type="submit" { (ctx.t("action.create")) }
            }
        } }
    };
    Ok(console_page(staff, &ctx.t("directory.communities"), body))
}

pub async fn create_community(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<CommunityForm>,
) -> Result<HttpResponse, WebError> {
    if staff.account.scope() != Scope::Installation {
        return Err(WebError::Forbidden);
    }
    let ctx = &staff.ctx;
    let problem = match (
        PlaceName::parse(&form.data.name),
        CommunityCode::parse(&form.data.code),
    ) {
        (Err(e), _) => field_problem(ctx, "field.community_name", &e),
        (_, Err(e)) => field_problem(ctx, "field.community_code", &e),
        (Ok(name), Ok(code)) => match state
            .store
            .create_community(&staff.actor(), &name, &code)
            .await
        {
            Ok(c) => {
                return Ok(see_other(&format!(
                    "/console/communities/{}?done=created",
                    c.id
                )))
            }
            Err(e) => conflict_or(e, ctx)?,
        },
    };
    Ok(sent_back(
        communities_page(&state, &staff, None, Some(&problem)).await?,
    ))
}

pub async fn community(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    community_page(&state, &staff, CommunityId(*id), done.done.as_deref(), None).await
}

async fn community_page(
    state: &AppState,
    staff: &Staff,
    id: CommunityId,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let community = state.store.community(id).await?;
    let estates = state.store.list_estates(id).await?;
    let body = html! {
        (breadcrumbs(ctx, &[]))
        h1 { (community.name) " " span class="badge" { (community.code) } }
        (flash(ctx, done))
        (form_error(problem))
        p { a href={"/console/communities/" (id) "/cap-feeds"} { (ctx.t("cap.title")) } }
        h2 { (ctx.t("directory.estates")) }
        @if estates.is_empty() { p class="muted" { (ctx.t("directory.none_yet")) } }
        ul class="list" {
            @for e in &estates { li { a href={"/console/estates/" (e.id)} { (e.name) } } }
        }
        div class="columns" {
            section class="panel" {
                h2 { (ctx.t("directory.new_estate")) }
                (name_form(ctx, &format!("/console/communities/{id}/estates"), "field.estate_name", "action.create", "estate-name", ""))
            }
            section class="panel" {
                h2 { (ctx.t("action.rename")) }
                (name_form(ctx, &format!("/console/communities/{id}/rename"), "field.community_name", "action.save", "community-name", &community.name))
            }
        }
    };
    Ok(console_page(staff, &community.name, body))
}

pub async fn rename_community(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NameForm>,
) -> Result<HttpResponse, WebError> {
    let id = CommunityId(*id);
    let problem = match PlaceName::parse(&form.data.name) {
        Err(e) => field_problem(&staff.ctx, "field.community_name", &e),
        Ok(name) => match state
            .store
            .rename_community(&staff.actor(), id, &name)
            .await
        {
            Ok(_) => {
                return Ok(see_other(&format!(
                    "/console/communities/{id}?done=renamed"
                )))
            }
            Err(e) => conflict_or(e, &staff.ctx)?,
        },
    };
    Ok(sent_back(
        community_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

pub async fn create_estate(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NameForm>,
) -> Result<HttpResponse, WebError> {
    let id = CommunityId(*id);
    let problem = match PlaceName::parse(&form.data.name) {
        Err(e) => field_problem(&staff.ctx, "field.estate_name", &e),
        Ok(name) => match state.store.create_estate(&staff.actor(), id, &name).await {
            Ok(estate) => {
                return Ok(see_other(&format!(
                    "/console/estates/{}?done=created",
                    estate.id
                )))
            }
            Err(e) => conflict_or(e, &staff.ctx)?,
        },
    };
    Ok(sent_back(
        community_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

pub async fn estate(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    estate_page(&state, &staff, EstateId(*id), done.done.as_deref(), None).await
}

async fn estate_page(
    state: &AppState,
    staff: &Staff,
    id: EstateId,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let estate = state.store.estate(id).await?;
    let community = state.store.community(estate.community_id).await?;
    let buildings = state.store.list_buildings(id).await?;
    let body = html! {
        (breadcrumbs(ctx, &[(format!("/console/communities/{}", community.id), community.name.clone())]))
        h1 { (estate.name) }
        (flash(ctx, done))
        (form_error(problem))
        @if staff.account.role.can(crate::domain::Permission::PlaceEstates) {
            p { a class="button secondary" href={"/console/estates/" (id) "/place"} { (ctx.t("place.title")) } }
        }
        h2 { (ctx.t("directory.buildings")) }
        @if buildings.is_empty() { p class="muted" { (ctx.t("directory.none_yet")) } }
        ul class="list" {
            @for b in &buildings { li { a href={"/console/buildings/" (b.id)} { (b.name) } } }
        }
        div class="columns" {
            section class="panel" {
                h2 { (ctx.t("directory.new_building")) }
                (name_form(ctx, &format!("/console/estates/{id}/buildings"), "field.building_name", "action.create", "building-name", ""))
            }
            section class="panel" {
                h2 { (ctx.t("action.rename")) }
                (name_form(ctx, &format!("/console/estates/{id}/rename"), "field.estate_name", "action.save", "estate-name", &estate.name))
            }
        }
    };
    Ok(console_page(staff, &estate.name, body))
}

pub async fn rename_estate(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NameForm>,
) -> Result<HttpResponse, WebError> {
    let id = EstateId(*id);
    let problem = match PlaceName::parse(&form.data.name) {
        Err(e) => field_problem(&staff.ctx, "field.estate_name", &e),
        Ok(name) => match state.store.rename_estate(&staff.actor(), id, &name).await {
            Ok(_) => return Ok(see_other(&format!("/console/estates/{id}?done=renamed"))),
            Err(e) => conflict_or(e, &staff.ctx)?,
        },
    };
    Ok(sent_back(
        estate_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

pub async fn create_building(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NameForm>,
) -> Result<HttpResponse, WebError> {
    let id = EstateId(*id);
    let problem = match PlaceName::parse(&form.data.name) {
        Err(e) => field_problem(&staff.ctx, "field.building_name", &e),
        Ok(name) => match state.store.create_building(&staff.actor(), id, &name).await {
            Ok(b) => {
                return Ok(see_other(&format!(
                    "/console/buildings/{}?done=created",
                    b.id
                )))
            }
            Err(e) => conflict_or(e, &staff.ctx)?,
        },
    };
    Ok(sent_back(
        estate_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

pub async fn building(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    building_page(&state, &staff, BuildingId(*id), done.done.as_deref(), None).await
}

async fn building_page(
    state: &AppState,
    staff: &Staff,
    id: BuildingId,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let building = state.store.building(id).await?;
    let estate = state.store.estate(building.estate_id).await?;
    let community = state.store.community(estate.community_id).await?;
    let units = state.store.list_units(id).await?;
    let body = html! {
        (breadcrumbs(ctx, &[
            (format!("/console/communities/{}", community.id), community.name.clone()),
            (format!("/console/estates/{}", estate.id), estate.name.clone()),
        ]))
        h1 { (building.name) }
        (flash(ctx, done))
        (form_error(problem))
        h2 { (ctx.t("directory.units")) " " span class="badge" { (units.len()) } }
        @if units.is_empty() { p class="muted" { (ctx.t("directory.none_yet")) } }
        @else {
            ul class="unit-grid" {
                @for u in &units {
                    li { span class="unit" { (u.label) } " " span class="muted" { (ctx.lang.tf("directory.residents_n", &[("n", &u.residents)])) } }
                }
            }
            p { a class="button secondary" href={"/console/buildings/" (id) "/codes"} { (ctx.t("codes.manage")) } }
        }
        div class="columns" {
            section class="panel" {
                h2 { (ctx.t("directory.add_units")) }
                form method="post" action={"/console/buildings/" (id) "/units"} class="stack" {
                    (form_token(ctx))
                    label for="labels" { (ctx.t("field.unit_labels")) }
                    textarea id="labels" name="labels" rows="4" required aria-describedby="labels-hint" {}
                    p class="hint" id="labels-hint" { (ctx.t("directory.units_hint")) }
                    button type="submit" { (ctx.t("action.add")) }
                }
            }
            section class="panel" {
                h2 { (ctx.t("action.rename")) }
                (name_form(ctx, &format!("/console/buildings/{id}/rename"), "field.building_name", "action.save", "building-name", &building.name))
            }
        }
    };
    Ok(console_page(staff, &building.name, body))
}

pub async fn rename_building(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NameForm>,
) -> Result<HttpResponse, WebError> {
    let id = BuildingId(*id);
    let problem = match PlaceName::parse(&form.data.name) {
        Err(e) => field_problem(&staff.ctx, "field.building_name", &e),
        Ok(name) => match state.store.rename_building(&staff.actor(), id, &name).await {
            Ok(_) => return Ok(see_other(&format!("/console/buildings/{id}?done=renamed"))),
            Err(e) => conflict_or(e, &staff.ctx)?,
        },
    };
    Ok(sent_back(
        building_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

/// At most this many units in one submission.
const MAX_UNITS_AT_ONCE: usize = 500;

pub async fn add_units(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<UnitsForm>,
) -> Result<HttpResponse, WebError> {
    let id = BuildingId(*id);
    let problem = match UnitLabel::parse_list(&form.data.labels) {
        Err(e) => field_problem(&staff.ctx, "field.unit_labels", &e),
        Ok(labels) if labels.len() > MAX_UNITS_AT_ONCE => staff
            .ctx
            .lang
            .tf("error.units.too_many", &[("n", &MAX_UNITS_AT_ONCE)]),
        Ok(labels) => {
            state.store.add_units(&staff.actor(), id, &labels).await?;
            return Ok(see_other(&format!(
                "/console/buildings/{id}?done=units_added"
            )));
        }
    };
    Ok(sent_back(
        building_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}
