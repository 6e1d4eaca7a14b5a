use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::i18n::Lang;
use crate::web::context::LANG_COOKIE;
use crate::web::error::WebError;
use crate::web::forms::{safe_next, see_other, CheckedForm};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    next: Option<String>,
}

/// Remembers the language in a cookie and, for a logged-in person, on the account.
pub async fn switch(
    state: web::Data<AppState>,
    form: CheckedForm<LangForm>,
) -> Result<HttpResponse, WebError> {
    let lang = Lang::parse(&form.data.lang).ok_or(WebError::BadInput {
        key: "error.bad_request",
    })?;
    if let Some(account) = &form.ctx.viewer {
        state.store.set_locale(account.id, lang.code()).await?;
    }
    let mut response = see_other(&safe_next(form.data.next.as_deref(), "/"));
    let cookie = Cookie::build(LANG_COOKIE, lang.code())
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    response
        .add_cookie(&cookie)
        .map_err(|e| WebError::Internal(e.into()))?;
    Ok(response)
}
