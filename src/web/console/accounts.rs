//! Staff accounts and roles. Residents appear here too (to disable one), but
//! get their accounts only through registration codes.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::scope::Place;
use crate::domain::{
    Account, AccountId, CommunityId, DisplayName, EstateId, NewAccount, Password, Role, Scope,
    Username,
};
use crate::store::{AccountChange, AccountFilter, StoreError};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    role: Option<String>,
    q: Option<String>,
    done: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct NewAccountForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    place: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    place: String,
    disabled: Option<String>,
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    password: String,
}

fn role_name(ctx: &Ctx, role: Role) -> String {
    ctx.t(&format!("role.{}", role.as_str())).into_owned()
}

/// Where an account belongs: nowhere in particular, a community, or an estate.
/// Encoded in one select as "", "c:ID" or "e:ID". Only places inside the
/// viewer's scope are offered: nobody hands out a wider writ than their own.
async fn place_options(state: &AppState, within: Scope) -> Result<Vec<(String, String)>, WebError> {
    let mut options = Vec::new();
    for community in state.store.list_communities().await? {
        if within.contains(Place::community(community.id)) {
            options.push((format!("c:{}", community.id), community.name.clone()));
        }
        for estate in state.store.list_estates(community.id).await? {
            if within.contains(Place::estate(community.id, estate.id)) {
                options.push((
                    format!("e:{}", estate.id),
                    format!("{} · {}", community.name, estate.name),
                ));
            }
        }
    }
    Ok(options)
}

/// The place chosen in the form, if it lies inside the viewer's scope.
async fn chosen_place(
    state: &AppState,
    viewer: &Account,
    raw: &str,
) -> Result<Option<(Option<CommunityId>, Option<EstateId>)>, WebError> {
    let (community, estate) = parse_place(state, raw).await?;
    Ok(viewer
        .scope()
        .contains_scope(Scope::of(community, estate))
        .then_some((community, estate)))
}

async fn parse_place(
    state: &AppState,
    raw: &str,
) -> Result<(Option<CommunityId>, Option<EstateId>), WebError> {
    let bad = WebError::BadInput {
        key: "error.bad_request",
    };
    match raw.split_once(':') {
        None if raw.is_empty() => Ok((None, None)),
        Some(("c", id)) => {
            let community = state
                .store
                .community(CommunityId(id.parse().map_err(|_| bad)?))
                .await?;
            Ok((Some(community.id), None))
        }
        Some(("e", id)) => {
            let estate = state
                .store
                .estate(EstateId(id.parse().map_err(|_| bad)?))
                .await?;
            Ok((Some(estate.community_id), Some(estate.id)))
        }
        _ => Err(bad),
    }
}

fn place_value(account: &Account) -> String {
    match (account.community_id, account.estate_id) {
        (_, Some(e)) => format!("e:{e}"),
        (Some(c), None) => format!("c:{c}"),
        _ => String::new(),
    }
}

fn place_select(ctx: &Ctx, within: Scope, options: &[(String, String)], selected: &str) -> Markup {
    html! {
        label for="place" { (ctx.t("field.place")) }
        select id="place" name="place" aria-describedby="place-hint" {
            @if within == Scope::Installation {
                option value="" selected[selected.is_empty()] { (ctx.t("accounts.all_places")) }
            }
            @for (value, name) in options {
                option value=(value) selected[value == selected] { (name) }
            }
        }
        p class="hint" id="place-hint" { (ctx.t("accounts.place_hint")) }
    }
}

fn role_select(ctx: &Ctx, selected: Option<Role>, include_resident: bool) -> Markup {
    html! {
        label for="role" { (ctx.t("field.role")) }
        select id="role" name="role" required {
            @for role in Role::ALL {
                @if include_resident || role != Role::Resident {
                    option value=(role.as_str()) selected[Some(role) == selected] { (role_name(ctx, role)) }
                }
            }
        }
    }
}

pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListQuery>,
) -> Result<Markup, WebError> {
    list_page(&state, &staff, &query, &NewAccountForm::default(), None).await
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    query: &ListQuery,
    values: &NewAccountForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let role = query.role.as_deref().and_then(Role::parse);
    let search = query
        .q
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    let accounts = state
        .store
        .list_accounts(&AccountFilter {
            role,
            search: search.clone(),
            within: staff.account.scope(),
        })
        .await?;
    let places = place_options(state, staff.account.scope()).await?;
    let body = html! {
        h1 { (ctx.t("accounts.title")) }
        (flash(ctx, query.done.as_deref()))
        form method="get" action="/console/accounts" class="filters" role="search" {
            label for="filter-role" { (ctx.t("field.role")) }
            select id="filter-role" name="role" {
                option value="" { (ctx.t("accounts.any_role")) }
                @for r in Role::ALL { option value=(r.as_str()) selected[Some(r) == role] { (role_name(ctx, r)) } }
            }
            label for="filter-q" { (ctx.t("accounts.search")) }
            input id="filter-q" name="q" type="search" maxlength="32" value=[search.as_deref()];
            button type="submit" class="secondary" { (ctx.t("action.filter")) }
        }
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { (ctx.t("field.username")) }
                    th scope="col" { (ctx.t("field.display_name")) }
                    th scope="col" { (ctx.t("field.role")) }
                    th scope="col" { (ctx.t("accounts.state")) }
                } }
                tbody {
                    @for a in &accounts {
                        tr {
                            th scope="row" { a href={"/console/accounts/" (a.id)} { (a.username) } }
                            td { (a.display_name) }
                            td { (role_name(ctx, a.role)) }
                            td { @if a.disabled { span class="badge danger" { (ctx.t("accounts.disabled")) } } @else { (ctx.t("accounts.active")) } }
                        }
                    }
                }
            }
        }
        section class="panel narrow" aria-labelledby="new-account" {
            h2 id="new-account" { (ctx.t("accounts.new")) }
            (form_error(problem))
            form method="post" action="/console/accounts" class="stack" {
                (form_token(ctx))
                label for="username" { (ctx.t("field.username")) }
                input id="username" name="username" type="text" required maxlength="32" autocomplete="off" value=(values.username);
                label for="display_name" { (ctx.t("field.display_name")) }
                input id="display_name" name="display_name" type="text" required maxlength="20" value=(values.display_name);
                (role_select(ctx, Role::parse(&values.role), false))
                (place_select(ctx, staff.account.scope(), &places, &values.place))
                label for="password" { (ctx.t("field.initial_password")) }
                input id="password" name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password";
                button type="submit" { (ctx.t("action.create")) }
            }
        }
    };
    Ok(console_page(staff, &ctx.t("accounts.title"), body))
}

pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<NewAccountForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = &staff.ctx;
    let data = &form.data;
    let problem = 'check: {
        let username = match Username::parse(&data.username) {
            Ok(u) => u,
            Err(e) => break 'check field_problem(ctx, "field.username", &e),
        };
        let display_name = match DisplayName::parse(&data.display_name) {
            Ok(d) => d,
            Err(e) => break 'check field_problem(ctx, "field.display_name", &e),
        };
        let role = match Role::parse(&data.role) {
            Some(role) if role != Role::Resident => role,
            _ => break 'check ctx.t("error.account.staff_role").into_owned(),
        };
        let password = match Password::parse(data.password.clone()) {
            Ok(p) => p,
            Err(e) => break 'check field_problem(ctx, "field.initial_password", &e),
        };
        let Some((community_id, estate_id)) =
            chosen_place(&state, &staff.account, &data.place).await?
        else {
            break 'check ctx.t("error.account.place_outside_scope").into_owned();
        };
        let new = NewAccount {
            username,
            display_name,
            password_hash: state.accounts.hash(&password).await?,
            role,
            community_id,
            estate_id,
            unit_id: None,
        };
        match state.store.create_account(&staff.actor(), new).await {
            Ok(account) => {
                return Ok(see_other(&format!(
                    "/console/accounts/{}?done=account_created",
                    account.id
                )))
            }
            Err(StoreError::Conflict) => ctx.t("error.account.name_taken").into_owned(),
            Err(e) => return Err(e.into()),
        }
    };
    let values = clone_form(data);
    let query = ListQuery {
        role: None,
        q: None,
        done: None,
    };
    Ok(sent_back(
        list_page(&state, &staff, &query, &values, Some(&problem)).await?,
    ))
}

fn clone_form(f: &NewAccountForm) -> NewAccountForm {
    NewAccountForm {
        username: f.username.clone(),
        display_name: f.display_name.clone(),
        role: f.role.clone(),
        place: f.place.clone(),
        password: String::new(),
    }
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    account_page(&state, &staff, AccountId(*id), done.done.as_deref(), None).await
}

async fn account_page(
    state: &AppState,
    staff: &Staff,
    id: AccountId,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let account = state.store.account(id).await?;
    let places = place_options(state, staff.account.scope()).await?;
    let is_resident = account.role == Role::Resident;
    let body = html! {
        p { a href="/console/accounts" { (ctx.t("action.back")) } }
        h1 { (account.display_name) " " span class="badge" { (role_name(ctx, account.role)) } }
        (flash(ctx, done))
        (form_error(problem))
        div class="columns" {
            section class="panel" {
                h2 { (ctx.t("accounts.edit")) }
                form method="post" action={"/console/accounts/" (id)} class="stack" {
                    (form_token(ctx))
                    label for="display_name" { (ctx.t("field.display_name")) }
                    input id="display_name" name="display_name" type="text" required maxlength="20" value=(account.display_name);
                    @if is_resident {
                        input type="hidden" name="role" value="resident";
                        input type="hidden" name="place" value=(place_value(&account));
                    } @else {
                        (role_select(ctx, Some(account.role), false))
                        (place_select(ctx, staff.account.scope(), &places, &place_value(&account)))
                    }
                    div class="check" {
                        input id="disabled" name="disabled" type="checkbox" value="on" checked[account.disabled];
                        label for="disabled" { (ctx.t("accounts.disable")) }
                    }
                    button type="submit" { (ctx.t("action.save")) }
                }
            }
            section class="panel" {
                h2 { (ctx.t("accounts.reset_password")) }
                form method="post" action={"/console/accounts/" (id) "/password"} class="stack" {
                    (form_token(ctx))
                    label for="new-password" { (ctx.t("field.new_password")) }
                    input id="new-password" name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password";
                    button type="submit" class="secondary" { (ctx.t("accounts.reset_password")) }
                }
            }
        }
    };
    Ok(console_page(staff, &account.display_name, body))
}

pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<ChangeForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = &staff.ctx;
    let id = AccountId(*id);
    let data = &form.data;
    let problem = 'check: {
        let display_name = match DisplayName::parse(&data.display_name) {
            Ok(d) => d,
            Err(e) => break 'check field_problem(ctx, "field.display_name", &e),
        };
        let Some(role) = Role::parse(&data.role) else {
            break 'check ctx.t("error.bad_request").into_owned();
        };
        let disabled = data.disabled.is_some();
        if id == staff.account.id && (disabled || role != staff.account.role) {
            break 'check ctx.t("error.account.not_yourself").into_owned();
        }
        let Some((community_id, estate_id)) =
            chosen_place(&state, &staff.account, &data.place).await?
        else {
            break 'check ctx.t("error.account.place_outside_scope").into_owned();
        };
        let change = AccountChange {
            display_name,
            role,
            community_id,
            estate_id,
            disabled,
        };
        match state
            .store
            .update_account(&staff.actor(), id, &change)
            .await
        {
            Ok(_) => return Ok(see_other(&format!("/console/accounts/{id}?done=updated"))),
            Err(StoreError::Rejected(_)) => ctx.t("error.account.role_change").into_owned(),
            Err(e) => return Err(e.into()),
        }
    };
    Ok(sent_back(
        account_page(&state, &staff, id, None, Some(&problem)).await?,
    ))
}

pub async fn reset_password(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let id = AccountId(*id);
    match Password::parse(form.data.password.clone()) {
        Ok(password) => {
            let hash = state.accounts.hash(&password).await?;
            state.store.set_password(&staff.actor(), id, &hash).await?;
            Ok(see_other(&format!(
                "/console/accounts/{id}?done=password_changed"
            )))
        }
        Err(e) => {
            let problem = field_problem(&staff.ctx, "field.new_password", &e);
            Ok(sent_back(
                account_page(&state, &staff, id, None, Some(&problem)).await?,
            ))
        }
    }
}
