//! "My data" (个人信息保护法): a signed-in person downloads everything
//! Pavilion keeps about them as a ZIP file, and a resident may close their
//! account. Always about the viewer: no id in any URL.

use std::io::{self, Seek, Write};
use std::path::PathBuf;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use crate::accounts::AuthError;
use crate::domain::{Account, Role};
use crate::store::{PersonalData, PersonalRecord};
use crate::web::context::{expired_session_cookie, Ctx, SignedIn};
use crate::web::error::WebError;
use crate::web::forms::CheckedForm;
use crate::web::layout::{form_error, form_token, page};
use crate::web::AppState;

pub async fn show(me: SignedIn) -> Markup {
    my_data_page(&me.ctx, &me.account, None)
}

fn my_data_page(ctx: &Ctx, account: &Account, problem: Option<&str>) -> Markup {
    let body = html! {
        h1 { (ctx.t("my_data.title")) }
        p { (ctx.t("my_data.lead")) " " a href="/privacy" { (ctx.t("privacy.link")) } }
        section aria-labelledby="export-title" class="narrow" {
            h2 id="export-title" { (ctx.t("my_data.export.title")) }
            p { (ctx.t("my_data.export.what")) }
            form method="post" action="/me/data" class="stack" {
                (form_token(ctx))
                button type="submit" { (ctx.t("my_data.export.submit")) }
            }
        }
        @if account.role == Role::Resident {
            section aria-labelledby="close-title" class="narrow" {
                h2 id="close-title" { (ctx.t("my_data.close.title")) }
                p { (ctx.t("my_data.close.what")) }
                (form_error(problem))
                form method="post" action="/me/close" class="stack" {
                    (form_token(ctx))
                    label for="password" { (ctx.t("field.current_password")) }
                    input id="password" name="password" type="password" required maxlength="256" autocomplete="current-password";
                    label {
                        input type="checkbox" name="understood" value="yes" required;
                        " " (ctx.t("my_data.close.understood"))
                    }
                    button type="submit" class="danger" { (ctx.t("my_data.close.submit")) }
                }
            }
        }
    };
    page(ctx, &ctx.t("my_data.title"), body)
}

#[derive(Deserialize)]
pub struct ExportForm {}

/// The ZIP file: `data.json`, `README.txt` and the photos as stored.
pub async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    me: SignedIn,
    form: CheckedForm<ExportForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = form.ctx;
    let data = state.accounts.export_personal_data(&me.account).await?;
    let photos = state.records.photos(&state.settings.data_dir);
    let mut files = Vec::new();
    for mine in &data.records {
        for photo in &mine.photos {
            files.push(ArchivePhoto {
                name: photo_name(&mine.record.number, photo.id, &photo.mime),
                path: photos.original_path(photo),
            });
        }
    }
    let json =
        serde_json::to_vec_pretty(&data_json(&data)).map_err(|e| WebError::Internal(e.into()))?;
    let readme = ctx.lang.tf(
        "my_data.readme",
        &[
            ("at", &ctx.local_time(Utc::now())),
            ("nickname", &data.account.display_name),
        ],
    );
    let file = web::block(move || write_archive(&json, &readme, &files))
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("export thread: {e}")))?
        .map_err(|e| WebError::Internal(e.into()))?;
    let name = format!("pavilion-{}.zip", Utc::now().format("%Y%m%d"));
    let mut response = actix_files::NamedFile::from_file(file, &name)
        .map_err(|e| WebError::Internal(e.into()))?
        .set_content_type("application/zip".parse().expect("a mime type"))
        .set_content_disposition(header::ContentDisposition {
            disposition: header::DispositionType::Attachment,
            parameters: vec![header::DispositionParam::Filename(name)],
        })
        .use_etag(false)
        .use_last_modified(false)
        .into_response(&req);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// `photos/<record number>-<photo id>.jpg`.
fn photo_name(record_number: &str, photo: i64, mime: &str) -> String {
    let number: String = record_number
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let extension = if mime == "image/png" { "png" } else { "jpg" };
    format!("photos/{number}-{photo}.{extension}")
}

struct ArchivePhoto {
    name: String,
    path: PathBuf,
}

/// Writes the archive to an anonymous temporary file (gone when the
/// response is sent), copying photos from disk: memory stays small however
/// many photos there are. A photo whose file is missing is left out.
fn write_archive(json: &[u8], readme: &str, photos: &[ArchivePhoto]) -> io::Result<std::fs::File> {
    let mut zip = zip::ZipWriter::new(tempfile::tempfile()?);
    // Photos are JPEG/PNG already; storing keeps the work to a copy.
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    zip.start_file("README.txt", options)
        .map_err(io::Error::other)?;
    zip.write_all(readme.as_bytes())?;
    zip.start_file("data.json", options)
        .map_err(io::Error::other)?;
    zip.write_all(json)?;
    for photo in photos {
        let mut source = match std::fs::File::open(&photo.path) {
            Ok(file) => file,
            Err(e) => {
                tracing::warn!(error = %e, file = %photo.path.display(), "photo missing from export");
                continue;
            }
        };
        zip.start_file(photo.name.as_str(), options)
            .map_err(io::Error::other)?;
        io::copy(&mut source, &mut zip)?;
    }
    let mut file = zip.finish().map_err(io::Error::other)?;
    file.rewind()?;
    Ok(file)
}

/// The machine-readable copy. Field names are English and stable.
fn data_json(data: &PersonalData) -> serde_json::Value {
    let account = &data.account;
    json!({
        "exported_at": Utc::now(),
        "account": {
            "id": account.id.0,
            "username": account.username,
            "nickname": account.display_name,
            "role": account.role.as_str(),
            "created_at": account.created_at,
            "language": account.locale,
            "home": data.home.as_ref().map(|[community, estate, building, unit]| json!({
                "community": community,
                "estate": estate,
                "building": building,
                "unit": unit,
            })),
        },
        "records": data.records.iter().map(record_json).collect::<Vec<_>>(),
        "comments": data.comments.iter().map(|(c, broadcast)| json!({
            "id": c.id.0,
            "broadcast_id": c.broadcast_id.0,
            "broadcast": broadcast,
            "kind": c.kind,
            "shown_as": c.public_name,
            "anonymous": c.anonymous,
            "text": c.body,
            "text_as_typed": c.original_body,
            "state": c.state,
            "status": c.status,
            "votes": c.votes,
            "answer": c.answer,
            "record_id": c.record_id.map(|r| r.0),
            "created_at": c.created_at,
        })).collect::<Vec<_>>(),
        "votes": data.votes.iter().map(|v| json!({
            "comment_id": v.comment_id.0,
            "broadcast_id": v.broadcast_id.0,
            "broadcast": v.broadcast_title,
            "at": v.at,
        })).collect::<Vec<_>>(),
        "notifications_read": data.read_marks.iter().map(|m| json!({
            "record_id": m.record_id.0,
            "seen_up_to_event": m.seen_seq,
            "seen_at": m.seen_at,
        })).collect::<Vec<_>>(),
        "sessions": data.sessions.iter().map(|s| json!({
            "started_at": s.created_at,
            "expires_at": s.expires_at,
        })).collect::<Vec<_>>(),
    })
}

fn record_json(mine: &PersonalRecord) -> serde_json::Value {
    let r = &mine.record;
    json!({
        "id": r.id.0,
        "number": r.number,
        "category": r.category,
        "class": r.class,
        "title": r.title,
        "description": r.description,
        "location": r.location,
        "source": r.source,
        "state": r.state,
        "created_at": r.created_at,
        "events": mine.events.iter().map(|e| json!({
            "seq": e.seq,
            "at": e.at,
            "by": e.actor_name,
            "action": e.action,
            "from_state": e.from_state,
            "to_state": e.to_state,
            "note": e.note,
            "rating": e.rating,
        })).collect::<Vec<_>>(),
        "photos": mine.photos.iter().map(|p| json!({
            "id": p.id,
            "file": photo_name(&r.number, p.id, &p.mime),
            "event_seq": p.seq,
            "mime": p.mime,
            "width": p.width,
            "height": p.height,
            "size_bytes": p.size_bytes,
            "created_at": p.created_at,
        })).collect::<Vec<_>>(),
    })
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    understood: Option<String>,
}

/// Closes the viewer's own (resident) account; see `Accounts::close_account`.
pub async fn close(
    state: web::Data<AppState>,
    me: SignedIn,
    form: CheckedForm<CloseForm>,
) -> Result<HttpResponse, WebError> {
    let CheckedForm { ctx, data } = form;
    if me.account.role != Role::Resident {
        return Err(WebError::Forbidden);
    }
    let back = |key: &str| {
        HttpResponse::build(StatusCode::BAD_REQUEST)
            .content_type("text/html; charset=utf-8")
            .body(my_data_page(&ctx, &me.account, Some(ctx.t(key).as_ref())).into_string())
    };
    if data.understood.as_deref() != Some("yes") {
        return Ok(back("my_data.close.must_confirm"));
    }
    match state
        .accounts
        .close_account(&me.account, &data.password)
        .await
    {
        Ok(()) => state.chat.forget_snapshots(),
        Err(AuthError::WrongCredentials) => return Ok(back("error.password.current_wrong")),
        Err(e) => return Err(e.into()),
    }
    let goodbye = ctx.signed_out();
    let body = html! {
        div class="narrow" {
            h1 { (goodbye.t("my_data.closed.title")) }
            p { (goodbye.t("my_data.closed.text")) }
            p { a href="/" { (goodbye.t("nav.home")) } }
        }
    };
    let mut response = HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(page(&goodbye, &goodbye.t("my_data.closed.title"), body).into_string());
    response
        .add_cookie(&expired_session_cookie())
        .map_err(|e| WebError::Internal(e.into()))?;
    Ok(response)
}
