//! Reading forms sent as `multipart/form-data` (forms with files). The form
//! token must be the first field, so a forged request is refused before any
//! file is read; every field is read within its own limit and the whole
//! request within a budget.

use actix_multipart::{Field, Multipart};
use actix_web::HttpRequest;
use futures_util::StreamExt;

use super::context::Ctx;
use super::error::WebError;
use super::forms::same_origin;

/// The form token and other short values (ids, choices, a return path).
pub const SHORT_TEXT: usize = 4096;

/// A multipart form, read field by field in document order.
pub struct TokenFirstForm {
    payload: Multipart,
    token_checked: bool,
    /// Bytes the request may still send.
    budget: u64,
}

/// How reading a file field ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileRead {
    /// All of it, this many bytes.
    Complete(u64),
    /// More than the limit; reading stopped there.
    TooLarge,
}

fn bad_request() -> WebError {
    WebError::BadInput {
        key: "error.bad_request",
    }
}

impl TokenFirstForm {
    /// Starts reading a form from this site that may send at most
    /// `max_bytes` in all; a form from another origin is refused.
    pub fn new(req: &HttpRequest, payload: Multipart, max_bytes: u64) -> Result<Self, WebError> {
        if !same_origin(req) {
            tracing::warn!(path = %super::request_log::loggable_path(req), "cross-origin upload refused");
            return Err(WebError::Csrf);
        }
        Ok(Self {
            payload,
            token_checked: false,
            budget: max_bytes,
        })
    }

    /// The next field after the form token. The first field must be
    /// `csrf_token` holding the viewer's token.
    pub async fn next_field(&mut self, ctx: &Ctx) -> Result<Option<Field>, WebError> {
        while let Some(field) = self.payload.next().await {
            let mut field = field.map_err(|_| bad_request())?;
            if self.token_checked {
                return Ok(Some(field));
            }
            if field.name() != Some("csrf_token") {
                return Err(WebError::Csrf);
            }
            let token = self.read_text(&mut field, SHORT_TEXT).await?;
            ctx.check_form_token(&token)?;
            self.token_checked = true;
        }
        if self.token_checked {
            Ok(None)
        } else {
            Err(WebError::Csrf)
        }
    }

    fn spend(&mut self, bytes: usize) -> Result<(), WebError> {
        self.budget = self
            .budget
            .checked_sub(bytes as u64)
            .ok_or(WebError::BadInput {
                key: "error.too_large",
            })?;
        Ok(())
    }

    /// A text field of at most `limit` bytes of UTF-8.
    pub async fn read_text(&mut self, field: &mut Field, limit: usize) -> Result<String, WebError> {
        let mut value = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| bad_request())?;
            self.spend(chunk.len())?;
            if value.len() + chunk.len() > limit {
                return Err(bad_request());
            }
            value.extend_from_slice(&chunk);
        }
        String::from_utf8(value).map_err(|_| bad_request())
    }

    /// Hands a file field to `sink` chunk by chunk, up to `limit` bytes; stops
    /// at the first chunk beyond it.
    pub async fn read_file(
        &mut self,
        field: &mut Field,
        limit: u64,
        mut sink: impl FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<FileRead, WebError> {
        let mut total: u64 = 0;
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| WebError::BadInput {
                key: "error.upload_interrupted",
            })?;
            self.spend(chunk.len())?;
            total += chunk.len() as u64;
            if total > limit {
                return Ok(FileRead::TooLarge);
            }
            sink(&chunk).map_err(|e| WebError::Internal(e.into()))?;
        }
        Ok(FileRead::Complete(total))
    }

    /// Reads the rest of a field and forgets it, within the budget.
    pub async fn skip(&mut self, field: &mut Field) -> Result<(), WebError> {
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| bad_request())?;
            self.spend(chunk.len())?;
        }
        Ok(())
    }
}

/// The file name the browser sent with a file field ("" for none).
pub fn file_name(field: &Field) -> String {
    field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or("")
        .to_owned()
}

/// Whether a field is a file (has a file name parameter, even an empty one).
pub fn is_file(field: &Field) -> bool {
    field
        .content_disposition()
        .is_some_and(|d| d.get_filename().is_some())
}

/// The content type the browser claimed for a file field ("" for none).
pub fn claimed_type(field: &Field) -> String {
    field
        .content_type()
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_default()
}

/// Whether the request is a multipart form.
pub fn is_multipart(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}
