//! Uploading a picture or video for notices (multipart). The file is read
//! within its size limit, checked by the signage library, and only then
//! stored; a refused file leaves nothing behind.

use std::io::Write;

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::domain::CommunityId;
use crate::media::upload::MIB;
use crate::signage::{media::MAX_IMAGE_BYTES, media::MAX_VIDEO_BYTES, SignageError};
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{encode_component, safe_next, see_other};
use crate::web::multipart::{self, FileRead, TokenFirstForm, SHORT_TEXT};
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

async fn read_file(
    form: &mut TokenFirstForm,
    field: &mut actix_multipart::Field,
    temp_dir: &std::path::Path,
) -> Result<ReceivedFile, WebError> {
    let name = multipart::file_name(field);
    let content_type = multipart::claimed_type(field);
    let kind = claimed_kind(&content_type, &name).ok_or(WebError::BadInput {
        key: "signage.upload.unsupported_type",
    })?;
    let limit = match kind {
        Kind::Image => MAX_IMAGE_BYTES,
        Kind::Video => MAX_VIDEO_BYTES,
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
    let (spool, bytes) = (&mut received.spool, &mut received.bytes);
    let read = form
        .read_file(field, limit, |chunk| match spool {
            Some(spool) => spool.write_all(chunk),
            None => {
                bytes.extend_from_slice(chunk);
                Ok(())
            }
        })
        .await?;
    match read {
        FileRead::TooLarge => Err(WebError::BadInput {
            key: match kind {
                Kind::Image => "signage.upload.image_file_too_large",
                Kind::Video => "signage.upload.video_file_too_large",
            },
        }),
        FileRead::Complete(0) => Err(WebError::BadInput {
            key: "signage.upload.empty",
        }),
        FileRead::Complete(_) => Ok(received),
    }
}

pub async fn upload(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    payload: Multipart,
) -> Result<HttpResponse, WebError> {
    let mut form = TokenFirstForm::new(&req, payload, MAX_VIDEO_BYTES + MIB)?;
    let mut upload = Upload::default();
    let temp_dir = state.settings.data_dir.join("tmp");
    while let Some(mut field) = form.next_field(&staff.ctx).await? {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "return_to" => {
                upload.return_to = Some(form.read_text(&mut field, SHORT_TEXT).await?);
            }
            "community" => {
                upload.community = form
                    .read_text(&mut field, SHORT_TEXT)
                    .await?
                    .trim()
                    .parse()
                    .ok();
            }
            "file" => upload.file = Some(read_file(&mut form, &mut field, &temp_dir).await?),
            _ => form.skip(&mut field).await?,
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
