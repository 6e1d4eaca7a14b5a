use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;

use crate::accounts::AuthError;
use crate::web::context::{client_address, expired_session_cookie, Ctx, SESSION_COOKIE};
use crate::web::error::WebError;
use crate::web::forms::{safe_next, see_other, sent_back_for, CheckedForm};
use crate::web::layout::{form_error, form_token, page};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

pub async fn form(ctx: Ctx, query: web::Query<NextQuery>) -> Markup {
    login_page(&ctx, "", query.next.as_deref(), None)
}

fn login_page(ctx: &Ctx, username: &str, next: Option<&str>, problem: Option<&str>) -> Markup {
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("login.title")) }
            (form_error(problem))
            form method="post" action="/login" class="stack" {
                (form_token(ctx))
                @if let Some(next) = next { input type="hidden" name="next" value=(next); }
                label for="username" { (ctx.t("field.username")) }
                input id="username" name="username" type="text" autocomplete="username" required
                    maxlength="64" value=(username) aria-describedby=[problem.map(|_| "form-error")];
                label for="password" { (ctx.t("field.password")) }
                input id="password" name="password" type="password" autocomplete="current-password" required maxlength="256";
                button type="submit" { (ctx.t("login.submit")) }
            }
            p { (ctx.t("login.no_account")) " " a href="/register" { (ctx.t("nav.register")) } }
        }
    };
    page(ctx, &ctx.t("login.title"), body)
}

pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: CheckedForm<LoginForm>,
) -> Result<HttpResponse, WebError> {
    let CheckedForm { ctx, data } = form;
    let client = client_address(&req, &state.settings.server);
    let account = match state
        .accounts
        .login(&client, &data.username, &data.password)
        .await
    {
        Ok(account) => account,
        Err(e @ (AuthError::WrongCredentials | AuthError::TooManyAttempts | AuthError::Busy)) => {
            let page = login_page(
                &ctx,
                &data.username,
                data.next.as_deref(),
                Some(&ctx.t(e.message_key())),
            );
            return Ok(sent_back_for(&e, page));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(account = account.username, "logged in");
    let home = if account.role.is_staff() {
        "/console"
    } else {
        "/me"
    };
    super::sign_in_and_go(&state, &account, &safe_next(data.next.as_deref(), home)).await
}

#[derive(Deserialize)]
pub struct LogoutForm {}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    _form: CheckedForm<LogoutForm>,
) -> Result<HttpResponse, WebError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        state.accounts.end_session(cookie.value()).await?;
    }
    let mut response = see_other("/");
    response
        .add_cookie(&expired_session_cookie())
        .map_err(|e| WebError::Internal(e.into()))?;
    Ok(response)
}
