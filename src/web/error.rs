//! One error type for pages and the JSON API, mapped to a status code here and
//! rendered as a translated page (or JSON) by `render_error_page`. The error
//! chain goes to the log; the person sees only a message in their language.

use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{HttpResponse, ResponseError};

use crate::accounts::AuthError;
use crate::domain::TextError;
use crate::store::StoreError;

use super::context::request_lang;
use super::layout;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("not found")]
    NotFound,
    #[error("login required")]
    LoginRequired { next: String },
    #[error("forbidden")]
    Forbidden,
    #[error("form token missing or wrong")]
    Csrf,
    #[error("bad input: {key}")]
    BadInput { key: &'static str },
    #[error("conflict: {key}")]
    Conflict { key: &'static str },
    #[error("too many attempts")]
    TooManyAttempts,
    /// The database stayed busy: nothing was stored, try again.
    #[error("database busy")]
    Busy,
    #[error("every password-hashing slot is busy")]
    HashingBusy,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<crate::live::LiveError> for WebError {
    fn from(e: crate::live::LiveError) -> Self {
        use crate::live::LiveError;
        match e {
            LiveError::Forbidden => WebError::Forbidden,
            LiveError::NotFound => WebError::NotFound,
            LiveError::ForeignEstate => WebError::BadInput {
                key: "broadcasts.foreign_estate",
            },
            LiveError::Store(e) => e.into(),
        }
    }
}

/// The catalogue key of the message to show, carried from the error to the renderer.
#[derive(Clone, Copy)]
struct ErrorMessage(&'static str);

impl WebError {
    pub fn message_key(&self) -> &'static str {
        match self {
            WebError::NotFound => "error.not_found",
            WebError::LoginRequired { .. } => "error.login_required",
            WebError::Forbidden => "error.forbidden",
            WebError::Csrf => "error.csrf",
            WebError::BadInput { key } | WebError::Conflict { key } => key,
            WebError::TooManyAttempts => "error.too_many_attempts",
            WebError::Busy => "error.busy",
            WebError::HashingBusy => "error.hashing_busy",
            WebError::Internal(_) => "error.internal",
        }
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::LoginRequired { .. } => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::BadInput { .. } => StatusCode::BAD_REQUEST,
            WebError::Conflict { .. } => StatusCode::CONFLICT,
            WebError::TooManyAttempts => StatusCode::TOO_MANY_REQUESTS,
            WebError::Busy | WebError::HashingBusy => StatusCode::SERVICE_UNAVAILABLE,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let WebError::Internal(e) = self {
            tracing::error!(error = ?e, "request failed");
        }
        if let WebError::LoginRequired { next } = self {
            let location = format!("/login?next={}", super::forms::encode_component(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .finish();
        }
        let mut response = HttpResponse::build(self.status_code());
        let retry_after = match self {
            WebError::TooManyAttempts => AuthError::TooManyAttempts.retry_after(),
            WebError::HashingBusy => AuthError::Busy.retry_after(),
            WebError::Busy => Some(std::time::Duration::from_secs(1)),
            _ => None,
        };
        if let Some(wait) = retry_after {
            response.insert_header((header::RETRY_AFTER, wait.as_secs().to_string()));
        }
        let mut response = response.finish();
        response
            .extensions_mut()
            .insert(ErrorMessage(self.message_key()));
        response
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => WebError::NotFound,
            StoreError::Conflict => WebError::Conflict {
                key: "error.conflict",
            },
            StoreError::Rejected(_) => WebError::BadInput {
                key: "error.rejected",
            },
            StoreError::Busy => WebError::Busy,
            e => WebError::Internal(e.into()),
        }
    }
}

impl From<AuthError> for WebError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::TooManyAttempts => WebError::TooManyAttempts,
            AuthError::Busy => WebError::HashingBusy,
            AuthError::Store(e) => e.into(),
            AuthError::Internal(e) => WebError::Internal(e),
            other => WebError::BadInput {
                key: other.message_key(),
            },
        }
    }
}

impl From<TextError> for WebError {
    fn from(e: TextError) -> Self {
        WebError::BadInput {
            key: e.message_key(),
        }
    }
}

fn default_key(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "error.not_found",
        StatusCode::METHOD_NOT_ALLOWED => "error.method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "error.too_large",
        StatusCode::FORBIDDEN => "error.forbidden",
        StatusCode::UNAUTHORIZED => "error.login_required",
        StatusCode::TOO_MANY_REQUESTS => "error.too_many_attempts",
        StatusCode::SERVICE_UNAVAILABLE => "error.hashing_busy",
        s if s.is_client_error() => "error.bad_request",
        _ => "error.internal",
    }
}

/// Gives every bodiless error response a translated page, or a JSON object on API paths.
pub fn render_error_page<B: MessageBody>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    if !matches!(
        res.response().body().size(),
        BodySize::None | BodySize::Sized(0)
    ) {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let (req, res) = res.into_parts();
    let status = res.status();
    let key = res
        .extensions()
        .get::<ErrorMessage>()
        .map_or_else(|| default_key(status), |m| m.0);
    let lang = request_lang(&req);
    let message = lang.t(key);
    let path = req.path();
    let mut new = HttpResponse::build(status);
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            new.append_header((name.clone(), value.clone()));
        }
    }
    let new = if path.starts_with("/open311/") {
        // GeoReport's own error shape, as the handlers answer.
        new.json(serde_json::json!([{ "code": status.as_u16(), "description": message }]))
    } else if super::api::speaks_json(path) {
        new.json(serde_json::json!({ "error": key, "message": message }))
    } else {
        new.content_type("text/html; charset=utf-8")
            .body(layout::error_page(&req, lang, status, &message).into_string())
    };
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, new).map_into_right_body(),
    ))
}
