//! The account page: who I am, where I live (visible only to me), my password.

use actix_web::{http::StatusCode, web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::accounts::AuthError;
use crate::web::context::{Ctx, SignedIn};
use crate::web::error::WebError;
use crate::web::forms::{chosen_password, see_other, sent_back_for, CheckedForm};
use crate::web::layout::{flash, form_error, form_token, page};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    me: SignedIn,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let home = home_address(&state, &me).await?;
    Ok(me_page(&me.ctx, &me, home, done.done.as_deref(), None))
}

/// "幸福社区 · 东区 · 3号楼 · 301", for the resident's own eyes only.
async fn home_address(state: &AppState, me: &SignedIn) -> Result<Option<String>, WebError> {
    let Some(unit_id) = me.account.unit_id else {
        return Ok(None);
    };
    let unit = state.store.unit(unit_id).await?;
    let building = state.store.building(unit.building_id).await?;
    let estate = state.store.estate(building.estate_id).await?;
    let community = state.store.community(estate.community_id).await?;
    Ok(Some(format!(
        "{} · {} · {} · {}",
        community.name, estate.name, building.name, unit.label
    )))
}

fn me_page(
    ctx: &Ctx,
    me: &SignedIn,
    home: Option<String>,
    done: Option<&str>,
    problem: Option<&str>,
) -> Markup {
    let account = &me.account;
    let body = html! {
        h1 { (ctx.t("me.title")) }
        (flash(ctx, done))
        dl class="facts" {
            dt { (ctx.t("field.nickname")) } dd { (account.display_name) }
            dt { (ctx.t("field.username")) } dd { (account.username) }
            dt { (ctx.t("field.role")) } dd { (ctx.t(&format!("role.{}", account.role.as_str()))) }
            @if let Some(home) = &home {
                dt { (ctx.t("me.home")) } dd { (home) " " span class="muted" { (ctx.t("me.home_private")) } }
            }
        }
        p { a href="/me/data" { (ctx.t("my_data.title")) } }
        section aria-labelledby="password-title" class="narrow" {
            h2 id="password-title" { (ctx.t("me.change_password")) }
            (form_error(problem))
            form method="post" action="/me/password" class="stack" {
                (form_token(ctx))
                label for="current" { (ctx.t("field.current_password")) }
                input id="current" name="current" type="password" required maxlength="256" autocomplete="current-password";
                label for="password" { (ctx.t("field.new_password")) }
                input id="password" name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password";
                label for="password_again" { (ctx.t("field.password_again")) }
                input id="password_again" name="password_again" type="password" required maxlength="128" autocomplete="new-password";
                button type="submit" { (ctx.t("me.change_password")) }
            }
        }
    };
    page(ctx, &ctx.t("me.title"), body)
}

#[derive(Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub async fn change_password(
    state: web::Data<AppState>,
    me: SignedIn,
    form: CheckedForm<PasswordForm>,
) -> Result<HttpResponse, WebError> {
    let CheckedForm { ctx, data } = form;
    let home = home_address(&state, &me).await?;
    let back = |problem: String| {
        Ok(HttpResponse::build(StatusCode::BAD_REQUEST)
            .content_type("text/html; charset=utf-8")
            .body(me_page(&ctx, &me, home.clone(), None, Some(&problem)).into_string()))
    };
    let password = match chosen_password(
        &ctx,
        "field.new_password",
        &data.password,
        &data.password_again,
    ) {
        Ok(p) => p,
        Err(problem) => return back(problem),
    };
    let refused = |e: AuthError| {
        let page = me_page(&ctx, &me, home.clone(), None, Some(&ctx.t(e.message_key())));
        Ok(sent_back_for(&e, page))
    };
    let client = format!("account {}", me.account.id);
    match state
        .accounts
        .login(&client, &me.account.username, &data.current)
        .await
    {
        Ok(_) => {}
        Err(e @ (AuthError::TooManyAttempts | AuthError::Busy)) => return refused(e),
        Err(_) => return back(ctx.t("error.password.current_wrong").into_owned()),
    }
    let hash = match state.accounts.hash(&password).await {
        Ok(hash) => hash,
        Err(e @ AuthError::Busy) => return refused(e),
        Err(e) => return Err(e.into()),
    };
    let actor = crate::domain::Actor {
        id: Some(me.account.id),
        name: me.account.username.clone(),
    };
    state
        .store
        .set_password(&actor, me.account.id, &hash)
        .await?;
    // Changing the password ends every session, this one included: log in again.
    Ok(see_other("/login?next=%2Fme%3Fdone%3Dpassword_changed"))
}
