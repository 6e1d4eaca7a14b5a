//! Open311 API keys: issue (shown once), list, revoke.

use actix_web::{web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::accounts::tokens;
use crate::domain::text::clean_line;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    keys_page(&state, &staff, done.done.as_deref(), None, None).await
}

async fn keys_page(
    state: &AppState,
    staff: &Staff,
    done: Option<&str>,
    new_key: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let keys = state.store.list_api_keys(staff.account.scope()).await?;
    let mut community_names = std::collections::HashMap::new();
    for community in state.store.list_communities().await? {
        community_names.insert(community.id, community.name);
    }
    let base = format!(
        "{}/open311/v2",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let body = html! {
        h1 { (ctx.t("api_keys.title")) }
        p { (ctx.lang.tf("api_keys.lead", &[("url", &base)])) }
        (flash(ctx, done))
        @if let Some(key) = new_key {
            div class="alert alert-ok" role="status" {
                p { (ctx.t("api_keys.shown_once")) }
                p { code class="reg-code" { (key) } }
            }
        }
        @if !keys.is_empty() {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("api_keys.name")) }
                        th scope="col" { (ctx.t("api_keys.files_into")) }
                        th scope="col" { (ctx.t("api_keys.created")) }
                        th scope="col" { (ctx.t("accounts.state")) }
                    } }
                    tbody {
                        @for k in &keys {
                            tr {
                                th scope="row" { (k.name) }
                                td {
                                    @match k.community_id.and_then(|c| community_names.get(&c)) {
                                        Some(name) => (name),
                                        None => (ctx.t("api_keys.every_community")),
                                    }
                                }
                                td { (ctx.local_time(k.created_at)) }
                                td {
                                    @if k.revoked_at.is_some() { span class="badge danger" { (ctx.t("api_keys.revoked")) } }
                                    @else {
                                        form method="post" action={"/console/api-keys/" (k.id) "/revoke"} class="inline" {
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
        section class="panel narrow" aria-labelledby="new-key" {
            h2 id="new-key" { (ctx.t("api_keys.new")) }
            (form_error(problem))
            form method="post" action="/console/api-keys" class="stack" {
                (form_token(ctx))
                label for="name" { (ctx.t("api_keys.name")) }
                input id="name" name="name" type="text" required maxlength="40";
                button type="submit" { (ctx.t("action.create")) }
            }
        }
    };
    Ok(console_page(staff, &ctx.t("api_keys.title"), body))
}

#[derive(Deserialize)]
pub struct NewKey {
    #[serde(default)]
    name: String,
}

pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<NewKey>,
) -> Result<HttpResponse, WebError> {
    // A key files into the issuer's community; an estate has no keys of its
    // own, and a key for its whole community would reach past its scope.
    let scope = staff.account.scope();
    if scope.estate().is_some() {
        return Err(WebError::Forbidden);
    }
    match clean_line(&form.data.name, 1, 40) {
        Ok(name) => {
            let key = tokens::random_token();
            state
                .store
                .create_api_key(
                    &staff.actor(),
                    &name,
                    &tokens::fingerprint(&key),
                    scope.community(),
                )
                .await?;
            // The key is shown on this one response and never again.
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header(("Cache-Control", "no-store"))
                .body(
                    keys_page(&state, &staff, None, Some(&key), None)
                        .await?
                        .into_string(),
                ))
        }
        Err(e) => {
            let problem = field_problem(&staff.ctx, "api_keys.name", &e);
            Ok(sent_back(
                keys_page(&state, &staff, None, None, Some(&problem)).await?,
            ))
        }
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn revoke(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    state.store.revoke_api_key(&staff.actor(), *id).await?;
    Ok(see_other("/console/api-keys?done=updated"))
}
