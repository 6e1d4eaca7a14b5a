//! What other programs subscribe to: each community's emergency notices as
//! CAP 1.2 (`cap`), and its broadcasts and joint meetings as iCalendar
//! (`calendar`). Public feeds carry only what is public anyway: published
//! emergencies, scheduled broadcasts; never a person.
//!
//! A community is named in these addresses by its code, as a resident or a
//! district system knows it. Every feed carries an `ETag` and
//! `Last-Modified`, so that polling an unchanged feed costs a 304.

pub mod calendar;
pub mod cap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::domain::Community;
use crate::web::error::WebError;
use crate::web::AppState;

/// Longest community code looked up; anything longer is no community.
const CODE_MAX: usize = 64;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cap/{code}/alerts.atom", web::get().to(cap::atom))
        .route(
            r"/cap/{code}/notices/{id:\d{1,18}}.xml",
            web::get().to(cap::document),
        )
        .route(
            "/calendar/{code}/broadcasts.ics",
            web::get().to(calendar::broadcasts),
        )
        .route(
            r"/live/{id:\d{1,18}}/calendar.ics",
            web::get().to(calendar::broadcast),
        );
}

/// The community whose code this is.
async fn community_by_code(state: &AppState, code: &str) -> Result<Community, WebError> {
    if code.is_empty() || code.len() > CODE_MAX {
        return Err(WebError::NotFound);
    }
    state
        .store
        .list_communities()
        .await?
        .into_iter()
        .find(|c| c.code == code)
        .ok_or(WebError::NotFound)
}

/// This server's host name, as CAP senders and iCalendar UIDs name it.
fn host(state: &AppState) -> String {
    url::Url::parse(&state.settings.server.public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| "pavilion.invalid".to_owned())
}

/// `public_url` without its trailing slash, to put paths after.
fn base_url(state: &AppState) -> String {
    state
        .settings
        .server
        .public_url
        .trim_end_matches('/')
        .to_owned()
}

/// A feed document, or 304 when the caller has it already (`If-None-Match`,
/// or failing that `If-Modified-Since`).
fn conditional(
    req: &HttpRequest,
    content_type: &str,
    body: String,
    modified: Option<DateTime<Utc>>,
) -> HttpResponse {
    let tag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..12])
    );
    let last_modified = modified.map(|at| header::HttpDate::from(std::time::SystemTime::from(at)));
    let matches_tag = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || t.trim().trim_start_matches("W/") == tag);
    let has_none_match = req.headers().contains_key(header::IF_NONE_MATCH);
    let not_modified_since = !has_none_match
        && match (
            last_modified,
            req.headers()
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<header::HttpDate>().ok()),
        ) {
            (Some(ours), Some(theirs)) => {
                std::time::SystemTime::from(ours) <= std::time::SystemTime::from(theirs)
            }
            _ => false,
        };
    let mut response = if matches_tag || not_modified_since {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, tag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if let Some(at) = last_modified {
        response.insert_header((header::LAST_MODIFIED, at));
    }
    if matches_tag || not_modified_since {
        response.finish()
    } else {
        response.content_type(content_type).body(body)
    }
}
