//! Resident registration with the household code printed by the property office.

use actix_web::{http::StatusCode, web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::accounts::AuthError;
use crate::domain::{DisplayName, Username};
use crate::web::context::{client_address, Ctx};
use crate::web::error::WebError;
use crate::web::forms::{chosen_password, field_problem, sent_back_for, CheckedForm};
use crate::web::layout::{form_error, form_token, page};
use crate::web::AppState;

#[derive(Deserialize, Default)]
pub struct RegisterForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    nickname: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_again: String,
}

pub async fn form(ctx: Ctx) -> Markup {
    register_page(&ctx, &RegisterForm::default(), None)
}

fn register_page(ctx: &Ctx, values: &RegisterForm, problem: Option<&str>) -> Markup {
    let described = problem.map(|_| "form-error");
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("register.title")) }
            p { (ctx.t("register.lead")) }
            (form_error(problem))
            form method="post" action="/register" class="stack" {
                (form_token(ctx))
                label for="code" { (ctx.t("field.registration_code")) }
                input id="code" name="code" type="text" required maxlength="32" autocomplete="off"
                    autocapitalize="characters" value=(values.code) aria-describedby=[described];
                p class="hint" id="code-hint" { (ctx.t("register.code_hint")) }
                label for="nickname" { (ctx.t("field.nickname")) }
                input id="nickname" name="nickname" type="text" required maxlength="20" autocomplete="nickname"
                    value=(values.nickname) aria-describedby="nickname-hint";
                p class="hint" id="nickname-hint" { (ctx.t("register.nickname_hint")) }
                label for="password" { (ctx.t("field.password")) }
                input id="password" name="password" type="password" required minlength="8" maxlength="128"
                    autocomplete="new-password" aria-describedby="password-hint";
                p class="hint" id="password-hint" { (ctx.t("register.password_hint")) }
                label for="password_again" { (ctx.t("field.password_again")) }
                input id="password_again" name="password_again" type="password" required maxlength="128" autocomplete="new-password";
                p class="hint" { (ctx.t("register.privacy")) " " a href="/privacy" { (ctx.t("privacy.link")) } }
                button type="submit" { (ctx.t("register.submit")) }
            }
        }
    };
    page(ctx, &ctx.t("register.title"), body)
}

fn send_back(ctx: &Ctx, values: &RegisterForm, status: StatusCode, problem: &str) -> HttpResponse {
    let values = RegisterForm {
        code: values.code.clone(),
        nickname: values.nickname.clone(),
        ..Default::default()
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(register_page(ctx, &values, Some(problem)).into_string())
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CheckedForm<RegisterForm>,
) -> Result<HttpResponse, WebError> {
    let CheckedForm { ctx, data } = form;
    let bad = |problem: String| Ok(send_back(&ctx, &data, StatusCode::BAD_REQUEST, &problem));
    let username = match Username::parse(&data.nickname) {
        Ok(u) => u,
        Err(e) => return bad(field_problem(&ctx, "field.nickname", &e)),
    };
    let display_name = match DisplayName::parse(&data.nickname) {
        Ok(d) => d,
        Err(e) => return bad(field_problem(&ctx, "field.nickname", &e)),
    };
    let password =
        match chosen_password(&ctx, "field.password", &data.password, &data.password_again) {
            Ok(p) => p,
            Err(problem) => return bad(problem),
        };
    let client = client_address(&req, &state.settings.server);
    let account = match state
        .accounts
        .register(&client, &data.code, username, display_name, &password)
        .await
    {
        Ok(account) => account,
        Err(e @ (AuthError::InvalidCode | AuthError::NameTaken)) => {
            return bad(ctx.t(e.message_key()).into_owned());
        }
        Err(e @ (AuthError::TooManyAttempts | AuthError::Busy)) => {
            let values = RegisterForm {
                code: data.code.clone(),
                nickname: data.nickname.clone(),
                ..Default::default()
            };
            let page = register_page(&ctx, &values, Some(&ctx.t(e.message_key())));
            return Ok(sent_back_for(&e, page));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(account = account.username, "resident registered");
    super::sign_in_and_go(&state, &account, "/me?done=account_created").await
}
