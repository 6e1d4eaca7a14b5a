//! The request log. Every request gets one span (what each log line inside
//! it carries), and its path never shows a secret: route parameters named
//! `token`, `secret` or `key` (setup links, tracking links and their photos,
//! screen pairing), secret-looking segments of unmatched paths, and query
//! parameters such as `api_key` are written as `[redacted]`. Anything else
//! that logs a path uses `loggable_path` too.

use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::{web, Error, HttpMessage, HttpRequest};
use tracing::Span;
use tracing_actix_web::{DefaultRootSpanBuilder, RequestId, RootSpanBuilder};

use super::context::client_address;
use super::AppState;

pub const REDACTED: &str = "[redacted]";

/// Route parameters whose value is a bearer secret.
const SECRET_PARAMETERS: &[&str] = &["token", "secret", "key", "stream_key"];

/// `tracing_actix_web::TracingLogger::<RedactingRootSpan>::new()`.
pub struct RedactingRootSpan;

impl RootSpanBuilder for RedactingRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let req = request.request();
        let method = req.method().as_str().to_owned();
        let route = route_pattern(req);
        let route = route.as_deref().unwrap_or("default");
        let client = match req.app_data::<web::Data<AppState>>() {
            Some(state) => client_address(req, &state.settings.server),
            None => req
                .peer_addr()
                .map(|a| a.ip().to_string())
                .unwrap_or_default(),
        };
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let connection = req.connection_info();
        tracing::info_span!(
            "HTTP request",
            http.method = %method,
            http.route = %route,
            http.flavor = ?req.version(),
            http.scheme = %connection.scheme(),
            http.host = %connection.host(),
            http.client_ip = %client,
            http.user_agent = %user_agent,
            http.target = %loggable_path(req),
            http.status_code = tracing::field::Empty,
            otel.name = %format!("{method} {route}"),
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            request_id = %request_id,
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let status = match outcome {
            Ok(response) => response.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        // One line per request at DEBUG (`RUST_LOG=pavilion=debug`): an access log.
        tracing::debug!(parent: &span, status, "request finished");
        DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

/// The route pattern the request's path matches (`/live/{id}/{rendition}/{file}`),
/// worked out once per request: actix's `match_pattern` walks the whole route
/// table again on every call, and the log and the metrics each need it.
pub fn route_pattern(req: &HttpRequest) -> Option<Rc<str>> {
    if let Some(RoutePattern(pattern)) = req.extensions().get::<RoutePattern>() {
        return pattern.clone();
    }
    let pattern: Option<Rc<str>> = req.match_pattern().map(Rc::from);
    req.extensions_mut().insert(RoutePattern(pattern.clone()));
    pattern
}

struct RoutePattern(Option<Rc<str>>);

/// The request's path and query as the log may show them.
pub fn loggable_path(req: &HttpRequest) -> String {
    let path = match route_pattern(req) {
        Some(pattern) => redact_by_pattern(req.path(), &pattern),
        None => redact_unmatched(req.path()),
    };
    match req.query_string() {
        "" => path,
        query => format!("{path}?{}", redact_query(query)),
    }
}

fn redact_by_pattern(path: &str, pattern: &str) -> String {
    let pattern: Vec<&str> = pattern.split('/').collect();
    path.split('/')
        .enumerate()
        .map(|(i, segment)| match pattern.get(i) {
            Some(p) if is_secret_parameter(p) => REDACTED,
            _ => segment,
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn is_secret_parameter(pattern_segment: &str) -> bool {
    pattern_segment
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .map(|p| p.split(':').next().unwrap_or(p))
        .is_some_and(|name| SECRET_PARAMETERS.contains(&name))
}

/// A path no route matched (a mistyped link, a trailing slash) may still
/// carry a token: any long segment of token characters is hidden.
fn redact_unmatched(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if looks_secret(segment) {
                REDACTED
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Our tokens are 43 characters of URL-safe base64; no route name or id is
/// 20 characters of that alphabet.
fn looks_secret(segment: &str) -> bool {
    segment.len() >= 20
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'%')
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            let lower = name.to_ascii_lowercase();
            let secret = ["key", "token", "secret", "password"]
                .iter()
                .any(|s| lower.contains(s));
            if secret {
                format!("{name}={REDACTED}")
            } else {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let value = if looks_secret(value) { REDACTED } else { value };
                if pair.contains('=') {
                    format!("{name}={value}")
                } else {
                    name.to_owned()
                }
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "Zq3x8k2LrY0pW4mN6vB1cD5fG7hJ9kLmN0pQ2rS4tUv";

    #[test]
    fn secret_route_parameters_are_hidden() {
        assert_eq!(
            redact_by_pattern(&format!("/setup/{TOKEN}"), "/setup/{token}"),
            "/setup/[redacted]"
        );
        assert_eq!(
            redact_by_pattern(
                &format!("/track/{TOKEN}/photos/7/thumb"),
                "/track/{token}/photos/{photo}/thumb"
            ),
            "/track/[redacted]/photos/7/thumb"
        );
        assert_eq!(
            redact_by_pattern(
                &format!("/kiosk/api/pairings/{TOKEN}"),
                "/kiosk/api/pairings/{secret}"
            ),
            "/kiosk/api/pairings/[redacted]"
        );
        assert_eq!(
            redact_by_pattern(
                "/live/12/source/index.m3u8",
                "/live/{id}/{rendition}/{file}"
            ),
            "/live/12/source/index.m3u8"
        );
    }

    #[test]
    fn unmatched_paths_and_queries_hide_token_like_values() {
        assert_eq!(
            redact_unmatched(&format!("/track/{TOKEN}/")),
            "/track/[redacted]/"
        );
        assert_eq!(redact_unmatched("/console/records"), "/console/records");
        assert_eq!(
            redact_query(&format!("api_key={TOKEN}&service_code=1")),
            "api_key=[redacted]&service_code=1"
        );
        assert_eq!(
            redact_query(&format!("x={TOKEN}&flag")),
            "x=[redacted]&flag"
        );
        assert_eq!(redact_query("page=2&q=lift"), "page=2&q=lift");
    }
}
