//! Uploading a picture or video for notices (multipart). The file is read
//! within its size limit, checked by the signage library, and only then
//! stored; a refused file leaves nothing behind.

use std::io::Write;

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;

use crate::domain::CommunityId;
use crate::signage::{media::MAX_IMAGE_BYTES, media::MAX_VIDEO_BYTES, SignageError};
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{encode_component, safe_next, same_origin, see_other};
use crate::web::AppState;

/// What the upload form sent, read in document order: the form token comes
/// first, so a forged request is refused before any file is read.
#[derive(Default)]
struct Upload {
    return_to: Option<String>,
    community: Option<i64>,
    file: Option<ReceivedFile>,
}

struct ReceivedFile {
    name: String,
    content_type: String,
    kind: Kind,
    /// Pictures are kept in memory; videos go to a temporary file.
    bytes: Vec<u8>,
    spool: Option<tempfile::NamedTempFile>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Image,
    Video,
}

/// Image or video by what the browser claims; the library checks the
/// content itself against this claim.
fn claimed_kind(content_type: &str, name: &str) -> Option<Kind> {
    let guessed = mime_guess::from_path(name).first_raw().unwrap_or("");
    for claim in [content_type, guessed] {
        if claim.starts_with("image/") {
            return Some(Kind::Image);
        }
        if claim.starts_with("video/") {
            return Some(Kind::Video);
        }
    }
    None
}

async fn read_text(field: &mut actix_multipart::Field) -> Result<String, WebError> {
    let mut value = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|_| WebError::BadInput {
            key: "error.bad_request",
        })?;
        if value.len() + chunk.len() > 4096 {
            return Err(WebError::BadInput {
                key: "error.bad_request",
            });
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| WebError::BadInput {
        key: "error.bad_request",
    })
}

async fn read_file(
    field: &mut actix_multipart::Field,
    temp_dir: &std::path::Path,
) -> Result<ReceivedFile, WebError> {
    let name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or("")
        .to_owned();
    let content_type = field
        .content_type()
        .map(|m| m.essence_str().to_owned())
        .unwrap_or_default();
    let kind = claimed_kind(&content_type, &name).ok_or(WebError::BadInput {
        key: "signage.upload.unsupported_type",
    })?;
    let limit = match kind {
        Kind::Image => MAX_IMAGE_BYTES,
        Kind::Video => MAX_VIDEO_BYTES,
    };
    let too_large = WebError::BadInput {
        key: match kind {
            Kind::Image => "signage.upload.image_file_too_large",
            Kind::Video => "signage.upload.video_file_too_large",
        },
    };
    let mut received = ReceivedFile {
        name,
        content_type,
        kind,
        bytes: Vec::new(),
        spool: None,
    };
    if kind == Kind::Video {
        std::fs::create_dir_all(temp_dir).map_err(|e| WebError::Internal(e.into()))?;
        received.spool = Some(
            tempfile::NamedTempFile::new_in(temp_dir).map_err(|e| WebError::Internal(e.into()))?,
        );
    }
    let mut total: u64 = 0;
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(|_| WebError::BadInput {
            key: "signage.upload.interrupted",
        })?;
        total += chunk.len() as u64;
        if total > limit {
            return Err(too_large);
        }
        match &mut received.spool {
            Some(spool) => spool
                .write_all(&chunk)
                .map_err(|e| WebError::Internal(e.into()))?,
            None => received.bytes.extend_from_slice(&chunk),
        }
    }
    if total == 0 {
        return Err(WebError::BadInput {
            key: "signage.upload.empty",
        });
    }
    Ok(received)
}

pub async fn upload(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    mut payload: Multipart,
) -> Result<HttpResponse, WebError> {
    if !same_origin(&req) {
        return Err(WebError::Csrf);
    }
    let mut upload = Upload::default();
    let mut token_checked = false;
    let temp_dir = state.settings.data_dir.join("tmp");
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| WebError::BadInput {
            key: "error.bad_request",
        })?;
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "csrf_token" => {
                let token = read_text(&mut field).await?;
                staff.ctx.check_form_token(&token)?;
                token_checked = true;
            }
            _ if !token_checked => return Err(WebError::Csrf),
            "return_to" => upload.return_to = Some(read_text(&mut field).await?),
            "community" => upload.community = read_text(&mut field).await?.trim().parse().ok(),
            "file" => upload.file = Some(read_file(&mut field, &temp_dir).await?),
            _ => {
                read_text(&mut field).await?;
            }
        }
    }
    let file = upload.file.ok_or(WebError::BadInput {
        key: "signage.upload.no_file",
    })?;
    let community = staff
        .account
        .community_id
        .or(upload.community.map(CommunityId))
        .ok_or(WebError::BadInput {
            key: "notices.pick_community",
        })?;
    let signage = &state.signage;
    let stored = match file.kind {
        Kind::Image => {
            signage
                .upload_image(
                    &staff.account,
                    community,
                    &file.name,
                    &file.content_type,
                    file.bytes,
                )
                .await
        }
        Kind::Video => {
            let spool = file.spool.expect("videos are spooled");
            signage
                .upload_video(
                    &staff.account,
                    community,
                    &file.name,
                    &file.content_type,
                    spool.path(),
                )
                .await
        }
    };
    let back = safe_next(upload.return_to.as_deref(), "/console/notices/new");
    let separator = if back.contains('?') { '&' } else { '?' };
    match stored {
        Ok(media) => Ok(see_other(&format!(
            "{back}{separator}done=uploaded&media={}",
            media.id
        ))),
        Err(SignageError::Forbidden) => Err(WebError::Forbidden),
        Err(SignageError::Store(e)) => Err(e.into()),
        Err(e) => {
            tracing::info!(error = %e, "upload refused");
            let limit = match &e {
                SignageError::Upload(upload) => upload.limit(),
                _ => None,
            };
            let limit = limit.map(|n| format!("&n={n}")).unwrap_or_default();
            Ok(see_other(&format!(
                "{back}{separator}refused={}{limit}",
                encode_component(e.message_key())
            )))
        }
    }
}
