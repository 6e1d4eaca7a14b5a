//! The one-time link printed at first start, which creates the first admin.

use actix_web::{http::StatusCode, web, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::accounts::AuthError;
use crate::domain::{DisplayName, Username};
use crate::web::context::Ctx;
use crate::web::error::WebError;
use crate::web::forms::{chosen_password, field_problem, sent_back_for, CheckedForm};
use crate::web::layout::{form_error, form_token, page};
use crate::web::AppState;

#[derive(Deserialize, Default)]
pub struct SetupForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub async fn form(
    state: web::Data<AppState>,
    ctx: Ctx,
    token: web::Path<String>,
) -> Result<Markup, WebError> {
    if !state.accounts.setup_token_valid(&token).await? {
        return Err(WebError::BadInput {
            key: "error.setup.invalid_link",
        });
    }
    Ok(setup_page(&ctx, &token, &SetupForm::default(), None))
}

fn setup_page(ctx: &Ctx, token: &str, values: &SetupForm, problem: Option<&str>) -> Markup {
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("setup.title")) }
            p { (ctx.t("setup.lead")) }
            (form_error(problem))
            form method="post" action={"/setup/" (token)} class="stack" {
                (form_token(ctx))
                label for="username" { (ctx.t("field.username")) }
                input id="username" name="username" type="text" required maxlength="32" autocomplete="username" value=(values.username);
                label for="display_name" { (ctx.t("field.display_name")) }
                input id="display_name" name="display_name" type="text" required maxlength="20" autocomplete="name" value=(values.display_name);
                label for="password" { (ctx.t("field.password")) }
                input id="password" name="password" type="password" required minlength="8" maxlength="128" autocomplete="new-password";
                label for="password_again" { (ctx.t("field.password_again")) }
                input id="password_again" name="password_again" type="password" required maxlength="128" autocomplete="new-password";
                button type="submit" { (ctx.t("setup.submit")) }
            }
        }
    };
    page(ctx, &ctx.t("setup.title"), body)
}

pub async fn submit(
    state: web::Data<AppState>,
    token: web::Path<String>,
    form: CheckedForm<SetupForm>,
) -> Result<HttpResponse, WebError> {
    let CheckedForm { ctx, data } = form;
    let back = |problem: String| {
        let values = SetupForm {
            username: data.username.clone(),
            display_name: data.display_name.clone(),
            ..Default::default()
        };
        Ok(HttpResponse::build(StatusCode::BAD_REQUEST)
            .content_type("text/html; charset=utf-8")
            .body(setup_page(&ctx, &token, &values, Some(&problem)).into_string()))
    };
    let username = match Username::parse(&data.username) {
        Ok(u) => u,
        Err(e) => return back(field_problem(&ctx, "field.username", &e)),
    };
    let display_name = match DisplayName::parse(&data.display_name) {
        Ok(d) => d,
        Err(e) => return back(field_problem(&ctx, "field.display_name", &e)),
    };
    let password =
        match chosen_password(&ctx, "field.password", &data.password, &data.password_again) {
            Ok(p) => p,
            Err(problem) => return back(problem),
        };
    let admin = match state
        .accounts
        .complete_setup(&token, username, display_name, &password)
        .await
    {
        Ok(admin) => admin,
        Err(AuthError::SetupLinkInvalid) => {
            return Err(WebError::BadInput {
                key: "error.setup.invalid_link",
            })
        }
        Err(e @ AuthError::Busy) => {
            let values = SetupForm {
                username: data.username.clone(),
                display_name: data.display_name.clone(),
                ..Default::default()
            };
            let page = setup_page(&ctx, &token, &values, Some(&ctx.t(e.message_key())));
            return Ok(sent_back_for(&e, page));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(account = admin.username, "first admin created");
    super::sign_in_and_go(&state, &admin, "/console").await
}
