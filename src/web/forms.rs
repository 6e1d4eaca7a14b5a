//! Form submissions. `CheckedForm<T>` is the only way a handler reads a form:
//! it refuses the request unless it carries the viewer's form token and, when
//! the browser says where it came from, that origin is this site.

use std::future::Future;
use std::pin::Pin;

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::context::Ctx;
use super::error::WebError;

/// Largest urlencoded form we accept.
pub const FORM_LIMIT: usize = 64 * 1024;

pub struct CheckedForm<T> {
    pub ctx: Ctx,
    pub data: T,
}

#[derive(Deserialize)]
struct FormToken {
    #[serde(default)]
    csrf_token: String,
}

impl<T: DeserializeOwned + 'static> FromRequest for CheckedForm<T> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let ctx = Ctx::load(&req).await?;
            if !same_origin(&req) {
                tracing::warn!(path = req.path(), "cross-origin form refused");
                return Err(WebError::Csrf);
            }
            let body = body.await.map_err(|_| WebError::BadInput {
                key: "error.too_large",
            })?;
            if body.len() > FORM_LIMIT {
                return Err(WebError::BadInput {
                    key: "error.too_large",
                });
            }
            let token: FormToken =
                serde_urlencoded::from_bytes(&body).map_err(|_| WebError::BadInput {
                    key: "error.bad_request",
                })?;
            ctx.check_form_token(&token.csrf_token)?;
            let data = serde_urlencoded::from_bytes(&body).map_err(|e| {
                tracing::info!(error = %e, path = req.path(), "malformed form");
                WebError::BadInput {
                    key: "error.bad_request",
                }
            })?;
            Ok(CheckedForm { ctx, data })
        })
    }
}

/// True unless an `Origin` header names another host than the one asked.
pub fn same_origin(req: &HttpRequest) -> bool {
    let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
    else {
        return true;
    };
    let host = req.connection_info().host().to_owned();
    origin
        .split_once("://")
        .map(|(_, rest)| rest.trim_end_matches('/'))
        .is_some_and(|origin_host| origin_host.eq_ignore_ascii_case(&host))
}

/// Percent-encodes a query component.
pub fn encode_component(s: &str) -> String {
    serde_urlencoded::to_string([("", s)])
        .map(|s| s[1..].to_owned())
        .unwrap_or_default()
}

/// A local path to return to after a form, never another site.
pub fn safe_next(next: Option<&str>, fallback: &str) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && !n.contains(['\r', '\n']) =>
        {
            n.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// 303 See Other to `location`: the answer to every successful form.
pub fn see_other(location: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

/// "Field: what is wrong", in the viewer's language, for a form sent back.
pub fn field_problem(ctx: &Ctx, field_key: &str, error: &crate::domain::TextError) -> String {
    let message = match error.limit() {
        Some(n) => ctx.lang.tf(error.message_key(), &[("n", &n)]),
        None => ctx.t(error.message_key()).into_owned(),
    };
    format!("{}{} {message}", ctx.t(field_key), ctx.t("punct.colon"))
}

/// A new password typed twice: both the same, and acceptable.
pub fn chosen_password(
    ctx: &Ctx,
    field_key: &str,
    password: &str,
    again: &str,
) -> Result<crate::domain::Password, String> {
    let parsed = crate::domain::Password::parse(password.to_owned())
        .map_err(|e| field_problem(ctx, field_key, &e))?;
    if password != again {
        return Err(ctx.t("error.password.mismatch").into_owned());
    }
    Ok(parsed)
}

/// A page sent back with 400 because its form had a mistake; nothing was changed.
pub fn sent_back(page: maud::Markup) -> actix_web::HttpResponse {
    actix_web::HttpResponse::BadRequest()
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/console"), "/"), "/console");
        assert_eq!(safe_next(Some("//evil.example"), "/"), "/");
        assert_eq!(safe_next(Some("https://evil.example"), "/"), "/");
        assert_eq!(safe_next(Some("/\\evil.example"), "/"), "/");
        assert_eq!(safe_next(None, "/me"), "/me");
    }

    #[test]
    fn encodes_components() {
        assert_eq!(encode_component("/a b?c=1&d"), "%2Fa+b%3Fc%3D1%26d");
    }
}
