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
use super::request_log::loggable_path;

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
                tracing::warn!(path = %loggable_path(&req), "cross-origin form refused");
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
                tracing::info!(error = %e, path = %loggable_path(&req), "malformed form");
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
///
/// The value is read the way a browser reads a `Location`: resolved by the
/// WHATWG URL parser (which drops tabs and newlines anywhere, trims control
/// characters and spaces, and reads `\\` as `/`) against a stand-in origin.
/// Only a value that stays on that origin is accepted, and what comes back is
/// the parser's normalised path and query, never the raw value.
pub fn safe_next(next: Option<&str>, fallback: &str) -> String {
    next.and_then(same_origin_path)
        .unwrap_or_else(|| fallback.to_owned())
}

fn same_origin_path(next: &str) -> Option<String> {
    static BASE: std::sync::LazyLock<url::Url> = std::sync::LazyLock::new(|| {
        url::Url::parse("http://pavilion.invalid/").expect("a valid base URL")
    });
    let resolved = BASE.join(next).ok()?;
    if resolved.origin() != BASE.origin()
        || !resolved.username().is_empty()
        || resolved.password().is_some()
    {
        return None;
    }
    let path = resolved.path();
    // "/.//evil.example" resolves to the path "//evil.example", which a
    // browser would read back as another host.
    if !path.starts_with('/') || path.starts_with("//") {
        return None;
    }
    let mut local = path.to_owned();
    // The query as parsed, with the backslashes the parser leaves in it
    // encoded; a fragment never reaches the server, so it is not kept.
    if let Some(query) = resolved.query() {
        local.push('?');
        local.push_str(&query.replace('\\', "%5C"));
    }
    Some(local)
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

/// A form page sent back because an account operation refused it, with the
/// status that says why: 401 wrong credentials, 429 throttled or 503 every
/// password-hashing slot busy (both with `Retry-After`), 400 otherwise.
/// Nothing was changed.
pub fn sent_back_for(
    error: &crate::accounts::AuthError,
    page: maud::Markup,
) -> actix_web::HttpResponse {
    use crate::accounts::AuthError;
    use actix_web::http::StatusCode;
    let status = match error {
        AuthError::WrongCredentials => StatusCode::UNAUTHORIZED,
        AuthError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
        AuthError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = actix_web::HttpResponse::build(status);
    if let Some(wait) = error.retry_after() {
        response.insert_header((header::RETRY_AFTER, wait.as_secs().to_string()));
    }
    response
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
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
        let cases: &[(&str, &str)] = &[
            ("/console", "/console"),
            ("/console/audit?page=2", "/console/audit?page=2"),
            ("/me?done=password_changed#top", "/me?done=password_changed"),
            ("/search?q=a\\b", "/search?q=a%5Cb"),
            ("//evil.example", "/"),
            ("https://evil.example", "/"),
            ("/\\evil.example", "/"),
            ("\\\\evil.example", "/"),
            ("/\t/evil.example", "/"),
            ("/\n/evil.example", "/"),
            ("\t//evil.example", "/"),
            (" //evil.example", "/"),
            ("\u{0}//evil.example", "/"),
            ("/.//evil.example", "/"),
            ("/%2F/evil.example", "/%2F/evil.example"),
            ("http:evil.example", "/evil.example"),
            ("https:evil.example", "/"),
            ("javascript:alert(1)", "/"),
            ("http://user@pavilion.invalid/x", "/"),
            ("/a b\"<", "/a%20b%22%3C"),
            ("/console/../me", "/me"),
        ];
        for (next, expected) in cases {
            assert_eq!(&safe_next(Some(next), "/"), expected, "next = {next:?}");
        }
        assert_eq!(safe_next(None, "/me"), "/me");
    }

    /// What a browser on `origin` does with a `Location: value`.
    fn browser_goes_to(origin: &str, value: &str) -> Option<url::Origin> {
        url::Url::parse(origin)
            .unwrap()
            .join(value)
            .ok()
            .map(|u| u.origin())
    }

    proptest::proptest! {
        #[test]
        fn next_never_leads_to_another_origin(
            next in proptest::string::string_regex(
                "[/\\\\\t\n\r @:.%a-zA-Z0-9?#\u{0}\u{1f}-]{0,24}"
            ).unwrap()
        ) {
            let local = safe_next(Some(&next), "/fallback");
            for origin in ["http://pavilion.invalid/", "https://pavilion.example.org/deep/page"] {
                let here = url::Url::parse(origin).unwrap().origin();
                proptest::prop_assert_eq!(
                    browser_goes_to(origin, &local),
                    Some(here),
                    "next = {:?} gave {:?}", next, local
                );
            }
            proptest::prop_assert!(local.starts_with('/') && !local.starts_with("//"));
            proptest::prop_assert!(!local.contains(|c: char| c.is_ascii_control() || c == ' ' || c == '\\'));
        }
    }

    #[test]
    fn encodes_components() {
        assert_eq!(encode_component("/a b?c=1&d"), "%2Fa+b%3Fc%3D1%26d");
    }
}
