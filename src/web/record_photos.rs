//! Photos on feedback records over HTTP: the forms that carry them (the
//! resident's report form, the staff's action form) and the handlers that
//! serve them, each behind the same check of who may see which photo.
//!
//! Photo URLs are never public: `/records/{record}/photos/{photo}` answers
//! signed-in viewers who may see the photo (the reporter for public photos,
//! staff and observers for all), `/track/{token}/photos/{photo}` whoever holds
//! the tracking link (public photos only). Anything else is a 404, as if the
//! photo did not exist.

use std::future::Future;
use std::pin::Pin;

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;

use crate::domain::RecordId;
use crate::feedback::photos::{PhotoError, PhotoSize, PhotoViewer, PreparedPhoto, MAX_PHOTOS};
use crate::feedback::records::Records;
use crate::media::picture::MAX_IMAGE_BYTES;
use crate::web::context::Ctx;
use crate::web::error::WebError;
use crate::web::forms::{CheckedForm, FORM_LIMIT};
use crate::web::multipart::{self, FileRead, TokenFirstForm};
use crate::web::AppState;

/// The name of the file input that carries photos.
pub const PHOTOS_FIELD: &str = "photos";
/// What the file input offers to pick.
pub const ACCEPTED_TYPES: &str = "image/jpeg,image/png,image/webp";
/// The largest typed field of a photo form (a 2,000-character description).
const TEXT_FIELD_LIMIT: usize = 16 * 1024;

/// A checked form that may carry photos: `multipart/form-data` from our
/// pages, or urlencoded (no photos) from older pages and scripts. Either way
/// the form token is checked first, and a multipart body is read only from
/// someone signed in. The typed fields are read even when a photo is
/// refused, so that the form can be shown again as it was.
///
/// Photos are only received here, within the size limit: decoding them
/// costs CPU and memory, so the handler does it ([`ReceivedPhotos::prepare`])
/// once it knows the sender may do what the form asks.
pub struct FormWithPhotos<T> {
    pub ctx: Ctx,
    pub data: T,
    pub photos: ReceivedPhotos,
}

/// The photos of a form as received, not decoded yet, or why they were
/// refused already (too many, too large).
pub struct ReceivedPhotos(Result<Vec<ReceivedPhoto>, PhotoError>);

pub struct ReceivedPhoto {
    file_name: String,
    claimed: String,
    bytes: Vec<u8>,
}

impl ReceivedPhotos {
    /// Whether the sender attached any photo (refused ones included).
    pub fn any_chosen(&self) -> bool {
        self.0.as_ref().map_or(true, |photos| !photos.is_empty())
    }

    /// The photos checked and re-encoded (a few at a time server-wide, see
    /// `DecodeSlots`), or why they were refused. Only for a sender who may
    /// do what the form asks.
    pub async fn prepare(self, state: &AppState) -> Result<Vec<PreparedPhoto>, PhotoError> {
        let mut prepared = Vec::new();
        for photo in self.0? {
            let photo = PreparedPhoto::prepare(
                &photo.file_name,
                &photo.claimed,
                photo.bytes,
                &state.pictures,
            )
            .await;
            match photo {
                Ok(photo) => prepared.push(photo),
                Err(refused) => {
                    tracing::info!(error = %refused, "photo refused");
                    return Err(refused);
                }
            }
        }
        Ok(prepared)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for FormWithPhotos<T> {
    type Error = WebError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        if !multipart::is_multipart(&req) {
            let form = CheckedForm::<T>::from_request(&req, payload);
            return Box::pin(async move {
                let form = form.await?;
                Ok(FormWithPhotos {
                    ctx: form.ctx,
                    data: form.data,
                    photos: ReceivedPhotos(Ok(Vec::new())),
                })
            });
        }
        let payload = Multipart::new(req.headers(), payload.take());
        Box::pin(async move {
            let ctx = Ctx::load(&req).await?;
            // Every photo form is for someone signed in: strangers' bodies
            // are not even read.
            if ctx.viewer.is_none() {
                return Err(WebError::LoginRequired {
                    next: ctx.here.clone(),
                });
            }
            let most = (MAX_PHOTOS as u64 + 1) * MAX_IMAGE_BYTES + FORM_LIMIT as u64;
            let mut form = TokenFirstForm::new(&req, payload, most)?;
            let mut fields = Vec::new();
            let mut photos = Ok(Vec::new());
            while let Some(mut field) = form.next_field(&ctx).await? {
                let name = field.name().unwrap_or("").to_owned();
                if name == PHOTOS_FIELD && multipart::is_file(&field) {
                    read_photo(&mut form, &mut field, &mut photos).await?;
                } else if multipart::is_file(&field) {
                    form.skip(&mut field).await?;
                } else {
                    let value = form.read_text(&mut field, TEXT_FIELD_LIMIT).await?;
                    fields.push((name, value));
                }
            }
            let data = serde_urlencoded::to_string(&fields)
                .ok()
                .and_then(|encoded| serde_urlencoded::from_str(&encoded).ok())
                .ok_or(WebError::BadInput {
                    key: "error.bad_request",
                })?;
            Ok(FormWithPhotos {
                ctx,
                data,
                photos: ReceivedPhotos(photos),
            })
        })
    }
}

/// Reads one photo field into `photos`. After a refusal the remaining photos
/// are read past, unchecked: nothing will be stored anyway.
async fn read_photo(
    form: &mut TokenFirstForm,
    field: &mut actix_multipart::Field,
    photos: &mut Result<Vec<ReceivedPhoto>, PhotoError>,
) -> Result<(), WebError> {
    let file_name = multipart::file_name(field);
    let taken = match photos {
        // The browser sends an empty file field when none was chosen.
        _ if file_name.is_empty() => None,
        Ok(taken) if taken.len() < MAX_PHOTOS => Some(taken),
        Ok(_) => {
            *photos = Err(PhotoError::TooMany);
            None
        }
        Err(_) => None,
    };
    let Some(taken) = taken else {
        return form.skip(field).await;
    };
    let claimed = multipart::claimed_type(field);
    let mut bytes = Vec::new();
    let read = form
        .read_file(field, MAX_IMAGE_BYTES, |chunk| {
            bytes.extend_from_slice(chunk);
            Ok(())
        })
        .await?;
    match read {
        FileRead::TooLarge => {
            form.skip(field).await?;
            let refused = PreparedPhoto::too_large(&file_name);
            tracing::info!(error = %refused, "photo refused");
            *photos = Err(refused);
        }
        FileRead::Complete(_) => taken.push(ReceivedPhoto {
            file_name,
            claimed,
            bytes,
        }),
    }
    Ok(())
}

/// The message for refused photos, in the viewer's language: which file and
/// what is wrong with it.
pub fn photo_problem(ctx: &Ctx, error: &PhotoError) -> String {
    let message = match error.limit() {
        Some(n) => ctx.lang.tf(error.message_key(), &[("n", &n)]),
        None => ctx.t(error.message_key()).into_owned(),
    };
    match error.file_name() {
        Some(name) => ctx.lang.tf(
            "record_photos.error.in_file",
            &[("name", &name), ("problem", &message)],
        ),
        None => message,
    }
}

/// Where this viewer fetches the photos of a record they opened by id.
pub fn photos_by_record(record: RecordId) -> String {
    format!("/records/{record}/photos")
}

/// Where the holder of a tracking link fetches the record's photos.
pub fn photos_by_tracking_link(token: &str) -> String {
    format!("/track/{token}/photos")
}

pub async fn photo(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, WebError> {
    by_record(&state, &ctx, *path, PhotoSize::Full).await
}

pub async fn photo_thumbnail(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, WebError> {
    by_record(&state, &ctx, *path, PhotoSize::Thumbnail).await
}

pub async fn tracked_photo(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, WebError> {
    let (token, photo) = path.into_inner();
    by_tracking_link(&state, &ctx, &token, photo, PhotoSize::Full).await
}

pub async fn tracked_photo_thumbnail(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, WebError> {
    let (token, photo) = path.into_inner();
    by_tracking_link(&state, &ctx, &token, photo, PhotoSize::Thumbnail).await
}

/// For a signed-in viewer; strangers get the same 404 as a wrong id.
async fn by_record(
    state: &AppState,
    ctx: &Ctx,
    (record, photo): (i64, i64),
    size: PhotoSize,
) -> Result<HttpResponse, WebError> {
    let viewer = ctx.viewer.as_ref().ok_or(WebError::NotFound)?;
    let record = state.store.record(RecordId(record)).await?;
    send(state, PhotoViewer::Account(viewer), &record, photo, size).await
}

/// The public view of a record has no photos: only a link held by its
/// reporter (see `Records::tracking_link_shows_all`) fetches them.
async fn by_tracking_link(
    state: &AppState,
    ctx: &Ctx,
    token: &str,
    photo: i64,
    size: PhotoSize,
) -> Result<HttpResponse, WebError> {
    let record = state
        .records
        .by_tracking_token(token)
        .await
        .map_err(|_| WebError::NotFound)?;
    if !Records::tracking_link_shows_all(ctx.viewer.as_ref(), &record) {
        return Err(WebError::NotFound);
    }
    send(state, PhotoViewer::TrackingLink, &record, photo, size).await
}

async fn send(
    state: &AppState,
    viewer: PhotoViewer<'_>,
    record: &crate::domain::record::Record,
    photo: i64,
    size: PhotoSize,
) -> Result<HttpResponse, WebError> {
    let found = state
        .records
        .photos(&state.settings.data_dir)
        .file_of(viewer, record, photo, size)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let (photo, path) = found.ok_or(WebError::NotFound)?;
    let bytes = tokio::fs::read(&path).await.map_err(|e| {
        WebError::Internal(anyhow::anyhow!(
            "photo {} file {}: {e}",
            photo.id,
            path.display()
        ))
    })?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, photo.mime))
        // Never in a shared cache: who may see a photo depends on who asks.
        .insert_header((header::CACHE_CONTROL, "private, max-age=86400"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(bytes))
}
