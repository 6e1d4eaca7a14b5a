//! Uploading a picture or video for notices (multipart). The file is read
//! within its size limit, checked by the signage library, and only then
//! stored; a refused file leaves nothing behind.

use std::io::Write;

use actix_multipart::Multipart;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::domain::notice::MediaFile;
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

/// A file read from a form, not yet checked by the library.
pub(super) struct ReceivedFile {
    pub(super) name: String,
    content_type: String,
    pub(super) kind: Kind,
    /// Pictures are kept in memory; videos go to a temporary file.
    bytes: Vec<u8>,
    spool: Option<tempfile::NamedTempFile>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Kind {
    Image,
    Video,
}

/// Why a file was refused before the library saw it: a catalogue key and
/// the limit it mentions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Refusal {
    pub(super) key: &'static str,
    pub(super) limit: Option<u64>,
}

impl Refusal {
    fn of(key: &'static str) -> Self {
        Self { key, limit: None }
    }

    /// The refusal of a library check (content, pixels, duration …).
    pub(super) fn by_library(e: &SignageError) -> Self {
        Self {
            key: e.message_key(),
            limit: match e {
                SignageError::Upload(upload) => upload.limit(),
                _ => None,
            },
        }
    }

    pub(super) fn message(&self, ctx: &crate::web::context::Ctx) -> String {
        match self.limit {
            Some(n) => ctx.lang.tf(self.key, &[("n", &n)]),
            None => ctx.t(self.key).into_owned(),
        }
    }
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

/// Reads a file field within the limit of its kind (`expected`, when the
/// field only takes one kind). A refused file is read past, so that the
/// rest of the form can still be read.
pub(super) async fn receive_file(
    form: &mut TokenFirstForm,
    field: &mut actix_multipart::Field,
    temp_dir: &std::path::Path,
    expected: Option<Kind>,
) -> Result<Result<ReceivedFile, Refusal>, WebError> {
    let name = multipart::file_name(field);
    let content_type = multipart::claimed_type(field);
    let kind = match (claimed_kind(&content_type, &name), expected) {
        (None, _) => None,
        (Some(kind), Some(wanted)) if kind != wanted => {
            form.skip(field).await?;
            return Ok(Err(Refusal::of(match wanted {
                Kind::Image => "signage.upload.not_an_image",
                Kind::Video => "signage.upload.not_a_video",
            })));
        }
        (Some(kind), _) => Some(kind),
    };
    let Some(kind) = kind else {
        form.skip(field).await?;
        return Ok(Err(Refusal::of("signage.upload.unsupported_type")));
    };
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
    Ok(match read {
        FileRead::TooLarge => {
            form.skip(field).await?;
            Err(Refusal::of(match kind {
                Kind::Image => "signage.upload.image_file_too_large",
                Kind::Video => "signage.upload.video_file_too_large",
            }))
        }
        FileRead::Complete(0) => Err(Refusal::of("signage.upload.empty")),
        FileRead::Complete(_) => Ok(received),
    })
}

/// Hands a received file to the library, which checks its content and
/// stores it (a video is made ready in the background).
pub(super) async fn store_file(
    state: &AppState,
    staff: &Staff,
    community: CommunityId,
    file: ReceivedFile,
) -> Result<MediaFile, SignageError> {
    let signage = &state.signage;
    match file.kind {
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
    }
}

pub async fn upload(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    payload: Multipart,
) -> Result<HttpResponse, WebError> {
    // Refused before the body is read: it may be hundreds of MB. (Which
    // community it is for comes in the body; the library checks that
    // before it decodes anything.)
    if !staff
        .account
        .role
        .can(crate::domain::Permission::WriteNotices)
    {
        return Err(WebError::Forbidden);
    }
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
            "file" => {
                let received = receive_file(&mut form, &mut field, &temp_dir, None).await?;
                upload.file =
                    Some(received.map_err(|refused| WebError::BadInput { key: refused.key })?);
            }
            _ => form.skip(&mut field).await?,
        }
    }
    let file = upload.file.ok_or(WebError::BadInput {
        key: "signage.upload.no_file",
    })?;
    let community = staff
        .account
        .scope()
        .community()
        .or(upload.community.map(CommunityId))
        .ok_or(WebError::BadInput {
            key: "notices.pick_community",
        })?;
    let stored = store_file(&state, &staff, community, file).await;
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
            let refused = Refusal::by_library(&e);
            let limit = refused.limit.map(|n| format!("&n={n}")).unwrap_or_default();
            Ok(see_other(&format!(
                "{back}{separator}refused={}{limit}",
                encode_component(refused.key)
            )))
        }
    }
}
