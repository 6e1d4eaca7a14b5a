//! The lobby screens' side: the kiosk client files, the JSON API a screen
//! talks to with its token (pairing, playlist, push stream, heartbeat,
//! proof-of-play), and the notice media. The protocol is in kiosk/README.md.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use bytes::Bytes;
use chrono::Utc;
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

use crate::domain::screen::{Heartbeat, Orientation, Play, Screen};
use crate::domain::{MediaId, NoticeId};
use crate::signage::screens::PLAYS_PER_REPORT;
use crate::signage::{ScreenPlaylist, Signage, SignageError};
use crate::store::PairingStatus;
use crate::web::api::ApiError;
use crate::web::assets::Prepared;
use crate::web::context::{client_address, Ctx};
use crate::web::AppState;

#[derive(RustEmbed)]
#[folder = "kiosk/"]
#[include = "*.html"]
#[include = "*.js"]
#[include = "*.css"]
struct KioskFiles;

const VERSION_PLACEHOLDER: &str = "{{CLIENT_VERSION}}";

/// A fingerprint of all kiosk client files: screens running another version
/// reload themselves.
pub fn client_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut names: Vec<_> = KioskFiles::iter().collect();
        names.sort();
        let mut hasher = Sha256::new();
        for name in names {
            if let Some(file) = KioskFiles::get(&name) {
                hasher.update(name.as_bytes());
                hasher.update(file.metadata.sha256_hash());
            }
        }
        hex::encode(&hasher.finalize()[..6])
    })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/kiosk", web::get().to(redirect_to_kiosk))
        .route("/kiosk/", web::get().to(index))
        .route("/kiosk/api/pairings", web::post().to(start_pairing))
        .route("/kiosk/api/pairings/{secret}", web::get().to(poll_pairing))
        .route("/kiosk/api/playlist", web::get().to(playlist))
        .route("/kiosk/api/events", web::get().to(events))
        .route("/kiosk/api/heartbeat", web::post().to(heartbeat))
        .route("/kiosk/api/plays", web::post().to(plays))
        .route("/kiosk/api/acks", web::post().to(acks))
        .route("/kiosk/media/{id}/{file}", web::get().to(media))
        .route("/kiosk/preview/{notice}", web::get().to(preview))
        .route("/kiosk/{file}", web::get().to(client_file));
}

// ------------------------------------------------------------ errors

/// What a screen is told when the API refuses it. JSON, since no person
/// reads it; the client decides what to show.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KioskError {
    #[error("no valid screen token")]
    Unauthorized,
    #[error("too many requests")]
    TooMany,
    #[error("{0}")]
    BadRequest(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Signage(#[from] SignageError),
}

impl ResponseError for KioskError {
    fn status_code(&self) -> StatusCode {
        match self {
            KioskError::Unauthorized => StatusCode::UNAUTHORIZED,
            KioskError::TooMany => StatusCode::TOO_MANY_REQUESTS,
            KioskError::BadRequest(_) => StatusCode::BAD_REQUEST,
            KioskError::NotFound => StatusCode::NOT_FOUND,
            KioskError::Signage(SignageError::NotFound) => StatusCode::NOT_FOUND,
            KioskError::Signage(SignageError::Forbidden) => StatusCode::FORBIDDEN,
            KioskError::Signage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(error = %self, "kiosk request failed");
        }
        let message = if status.is_server_error() {
            "internal error".to_owned()
        } else {
            self.to_string()
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        if status == StatusCode::TOO_MANY_REQUESTS {
            response.insert_header((header::RETRY_AFTER, "30"));
        }
        response.json(KioskFailure { error: message })
    }
}

/// What a screen is told when the API refuses it.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct KioskFailure {
    /// Why, in English: a screen's log, not a person, reads it.
    error: String,
}

/// Where a pairing stands: `waiting` for an admin to enter the code,
/// `paired` with the screen's token (once), or `expired`.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub(crate) struct PairingPoll {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

/// The screen named by the request's bearer token.
async fn screen_of(state: &AppState, req: &HttpRequest) -> Result<Screen, KioskError> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 100)
        .ok_or(KioskError::Unauthorized)?;
    state
        .signage
        .authenticate(token)
        .await?
        .ok_or(KioskError::Unauthorized)
}

/// The cookie that names a screen to `/kiosk/media/`: pictures and videos
/// are loaded by `<img>` and `<video>` elements and by the Service Worker,
/// none of which sends the bearer token. It holds the same token, is sent
/// nowhere but to the media, and is set with every playlist (so screens
/// paired before it existed get it too).
const SCREEN_COOKIE: &str = "pavilion_screen";
const MEDIA_PATH: &str = "/kiosk/media/";

fn screen_cookie(token: &str, secure: bool) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(SCREEN_COOKIE, token.to_owned())
        .path(MEDIA_PATH)
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .secure(secure)
        // As long as browsers keep a cookie; a revoked token is refused anyway.
        .max_age(actix_web::cookie::time::Duration::days(400))
        .finish()
}

/// Sets the screen cookie on a response to a request carrying `token`.
fn with_screen_cookie(state: &AppState, req: &HttpRequest, response: &mut HttpResponse) {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let unchanged = req
        .cookie(SCREEN_COOKIE)
        .is_some_and(|c| Some(c.value()) == token);
    if let (Some(token), false) = (token, unchanged) {
        let _ = response.add_cookie(&screen_cookie(token, state.settings.secure_cookies()));
    }
}

/// The screen a media request comes from: its cookie, or its bearer token.
async fn media_screen(state: &AppState, req: &HttpRequest) -> Result<Option<Screen>, KioskError> {
    if let Some(cookie) = req.cookie(SCREEN_COOKIE) {
        let token = cookie.value();
        if !token.is_empty() && token.len() <= 100 {
            if let Some(screen) = state.signage.authenticate(token).await? {
                return Ok(Some(screen));
            }
        }
    }
    match screen_of(state, req).await {
        Ok(screen) => Ok(Some(screen)),
        Err(KioskError::Unauthorized) => Ok(None),
        Err(e) => Err(e),
    }
}

// ------------------------------------------------------------ client files

async fn redirect_to_kiosk() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header((header::LOCATION, "/kiosk/"))
        .finish()
}

fn index_html() -> String {
    let file = KioskFiles::get("index.html").expect("kiosk/index.html is embedded");
    String::from_utf8_lossy(&file.data).replace(VERSION_PLACEHOLDER, client_version())
}

/// The kiosk page with `playlist` embedded: the client shows it once, as a
/// preview, instead of pairing and fetching (see kiosk.js).
pub(crate) fn preview_document(playlist: &ScreenPlaylist) -> String {
    // `</` cannot close the script element early once escaped.
    let json = serde_json::to_string(playlist)
        .unwrap_or_default()
        .replace("</", "<\\/");
    index_html().replacen(
        "</head>",
        &format!(
            "<script id=\"pavilion-preview\" type=\"application/json\">{json}</script></head>"
        ),
        1,
    )
}

/// The client's files as sent (`index.html` with its version filled in), each
/// compressed once and tagged with its content's hash.
static CLIENT_FILES: OnceLock<std::collections::HashMap<String, Prepared>> = OnceLock::new();

fn client_files() -> &'static std::collections::HashMap<String, Prepared> {
    CLIENT_FILES.get_or_init(|| {
        KioskFiles::iter()
            .filter_map(|name| {
                let (content_type, data) = if name == "index.html" {
                    ("text/html".to_owned(), index_html().into_bytes())
                } else {
                    let file = KioskFiles::get(&name)?;
                    let content_type = mime_guess::from_path(name.as_ref()).first_or_octet_stream();
                    (content_type.to_string(), file.data.into_owned())
                };
                let content_type = format!("{content_type}; charset=utf-8");
                Some((name.to_string(), Prepared::new(&content_type, data.into())))
            })
            .collect()
    })
}

/// A client file, or 304 when the screen's copy is current. Small files, and
/// the Service Worker keeps its own copies: always revalidated (`no-cache`), so
/// an update is never stuck behind a cache, and a revalidation costs a few
/// hundred bytes instead of the file.
async fn client_response(req: &HttpRequest, name: &str) -> HttpResponse {
    // Compressed on the first request, off the async runtime.
    let files = match CLIENT_FILES.get() {
        Some(files) => files,
        None => match web::block(client_files).await {
            Ok(files) => files,
            Err(_) => return HttpResponse::InternalServerError().finish(),
        },
    };
    match files.get(name) {
        Some(file) => file.respond(req, "no-cache"),
        None => HttpResponse::NotFound().finish(),
    }
}

/// The page itself: always revalidated, so a new deployment reaches screens.
async fn index(req: HttpRequest) -> HttpResponse {
    client_response(&req, "index.html").await
}

async fn client_file(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let name = path.into_inner();
    if name == "index.html" {
        return HttpResponse::NotFound().finish();
    }
    client_response(&req, &name).await
}

// ------------------------------------------------------------ pairing

/// Starts a pairing: the screen shows `code` for an admin to enter in the
/// console, and polls with `secret` until it is paired.
#[utoipa::path(post, path = "/kiosk/api/pairings", tag = "screens",
    responses(
        (status = 201, description = "A new pairing", body = crate::signage::screens::NewPairing),
        (status = 429, description = "Too many pairings from this address; retry after `Retry-After` seconds", body = KioskFailure),
    ))]
pub(crate) async fn start_pairing(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, KioskError> {
    let address = client_address(&req, &state.settings.server);
    if !state.signage.may_request_pairing(&address) {
        return Err(KioskError::TooMany);
    }
    let pairing = state.signage.start_pairing().await?;
    Ok(HttpResponse::Created()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(pairing))
}

/// Where a pairing stands. A completed pairing hands out the screen's token
/// once, and sets the media cookie.
#[utoipa::path(get, path = "/kiosk/api/pairings/{secret}", tag = "screens",
    params(("secret" = String, Path, description = "The pairing's secret")),
    responses(
        (status = 200, description = "Paired: `status` is `paired` and `token` the screen's token", body = PairingPoll),
        (status = 202, description = "Waiting for an admin", body = PairingPoll),
        (status = 404, description = "No such pairing", body = KioskFailure),
        (status = 410, description = "The code expired; start again", body = PairingPoll),
        (status = 429, description = "Polled too often", body = KioskFailure),
    ))]
pub(crate) async fn poll_pairing(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, KioskError> {
    let address = client_address(&req, &state.settings.server);
    if !state.signage.may_poll_pairing(&address) {
        return Err(KioskError::TooMany);
    }
    let secret = path.into_inner();
    if secret.len() > 100 {
        return Err(KioskError::NotFound);
    }
    let mut response = match state.signage.poll_pairing(&secret).await? {
        PairingStatus::Waiting { .. } => {
            let mut r = HttpResponse::Accepted();
            r.json(PairingPoll {
                status: "waiting",
                token: None,
            })
        }
        PairingStatus::Paired { token } => {
            let mut r = HttpResponse::Ok();
            r.cookie(screen_cookie(&token, state.settings.secure_cookies()));
            r.json(PairingPoll {
                status: "paired",
                token: Some(token),
            })
        }
        PairingStatus::Gone => {
            let mut r = HttpResponse::Gone();
            r.json(PairingPoll {
                status: "expired",
                token: None,
            })
        }
    };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

// ------------------------------------------------------------ playlist and push

/// Whether the request's `If-None-Match` names this playlist version.
fn has_version(req: &HttpRequest, version: &str) -> bool {
    let etag = format!("\"{version}\"");
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag))
}

fn playlist_response(req: &HttpRequest, playlist: &ScreenPlaylist) -> HttpResponse {
    let etag = format!("\"{}\"", playlist.version);
    let unchanged = has_version(req, &playlist.version);
    let mut response = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"));
    if unchanged {
        response.finish()
    } else {
        response.json(playlist)
    }
}

/// Everything the screen shows, for days without the server. Send the last
/// `ETag` in `If-None-Match`: an unchanged playlist answers 304.
#[utoipa::path(get, path = "/kiosk/api/playlist", tag = "screens",
    security(("screen" = [])),
    responses(
        (status = 200, description = "The screen's playlist", body = crate::signage::screens::ScreenPlaylist),
        (status = 304, description = "Unchanged since the version in `If-None-Match`"),
        (status = 401, description = "No valid screen token (revoked or never paired)", body = KioskFailure),
    ))]
pub(crate) async fn playlist(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, KioskError> {
    let screen = screen_of(&state, &req).await?;
    let now = Utc::now();
    // The usual poll: nothing changed, answered without building anything.
    if let Some(version) = state.signage.known_version(&screen, now) {
        if has_version(&req, &version) {
            let mut response = HttpResponse::NotModified()
                .insert_header((header::ETAG, format!("\"{version}\"")))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .finish();
            with_screen_cookie(&state, &req, &mut response);
            return Ok(response);
        }
    }
    let playlist = state.signage.playlist(&screen, now).await?;
    let mut response = playlist_response(&req, &playlist);
    with_screen_cookie(&state, &req, &mut response);
    Ok(response)
}

/// Server-sent events: `client` once at the start, `playlist` whenever this
/// screen's playlist changes, a comment every 15 s to keep proxies and
/// NAT boxes from closing the connection.
#[utoipa::path(get, path = "/kiosk/api/events", tag = "screens",
    security(("screen" = [])),
    responses(
        (status = 200, description = "Server-sent events: `client` `{\"version\"}` once, then `playlist` `{\"version\"}` on every change; a comment line every 15 s", content_type = "text/event-stream", body = String),
        (status = 401, description = "No valid screen token", body = KioskFailure),
    ))]
pub(crate) async fn events(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, KioskError> {
    let screen = screen_of(&state, &req).await?;
    let signage = state.signage.clone();
    let changes = signage.subscribe();
    let first = signage.playlist(&screen, Utc::now()).await?;
    let stream = async_stream_events(signage, screen, first.version, move || changes.clone());
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("X-Accel-Buffering", "no"))
        // Uncompressed: a compressor per open stream costs ~200 KiB each,
        // and the events are a few bytes.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .streaming(stream))
}

fn sse(event: &str, data: &serde_json::Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {data}\n\n"))
}

/// The event stream of one screen. The screen's token is checked again on
/// every change, so a revoked screen's stream ends.
fn async_stream_events(
    signage: std::sync::Arc<Signage>,
    screen: Screen,
    first_version: String,
    changes: impl FnOnce() -> tokio::sync::watch::Receiver<u64>,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    let mut changes = changes();
    changes.mark_unchanged();
    let start = vec![
        Ok(sse(
            "client",
            &serde_json::json!({ "version": signage.settings().client_version }),
        )),
        Ok(sse(
            "playlist",
            &serde_json::json!({ "version": first_version }),
        )),
    ];
    let state = (signage, screen, first_version, changes);
    let updates = futures_util::stream::unfold(Some(state), |state| async move {
        let (signage, screen, mut version, mut changes) = state?;
        loop {
            let woke = tokio::time::timeout(Duration::from_secs(15), changes.changed()).await;
            match woke {
                Err(_) => {
                    let item = Ok(Bytes::from_static(b": keep-alive\n\n"));
                    return Some((item, Some((signage, screen, version, changes))));
                }
                Ok(Err(_)) => return None,
                Ok(Ok(())) => {}
            }
            // Still paired? A revoked screen's stream ends here.
            if !signage.screen_is_active(screen.id) {
                return None;
            }
            let Ok(playlist) = signage.playlist(&screen, Utc::now()).await else {
                continue;
            };
            if playlist.version != version {
                version = playlist.version.clone();
                let item = Ok(sse("playlist", &serde_json::json!({ "version": version })));
                return Some((item, Some((signage, screen, version, changes))));
            }
        }
    });
    futures_util::StreamExt::chain(futures_util::stream::iter(start), updates)
}

// ------------------------------------------------------------ reports

/// The screen is alive and shows `current_notice`; every 30 s.
#[utoipa::path(post, path = "/kiosk/api/heartbeat", tag = "screens",
    security(("screen" = [])),
    request_body = Heartbeat,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "Not a heartbeat", body = ApiError),
        (status = 401, description = "No valid screen token", body = KioskFailure),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
    ))]
pub(crate) async fn heartbeat(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Heartbeat>,
) -> Result<HttpResponse, KioskError> {
    let screen = screen_of(&state, &req).await?;
    state.signage.heartbeat(&screen, body.into_inner()).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Proof of play: the notices shown since the last report, sent again until
/// accepted. `X-Pavilion-Plays-Stored` and `-Dropped` count what was kept.
#[utoipa::path(post, path = "/kiosk/api/plays", tag = "screens",
    security(("screen" = [])),
    request_body = Vec<Play>,
    responses(
        (status = 204, description = "Recorded (plays of notices not given to this screen are dropped)"),
        (status = 400, description = "Not a list of plays, or too many at once", body = ApiError),
        (status = 401, description = "No valid screen token", body = KioskFailure),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
    ))]
pub(crate) async fn plays(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Vec<Play>>,
) -> Result<HttpResponse, KioskError> {
    let screen = screen_of(&state, &req).await?;
    let plays = body.into_inner();
    if plays.len() > PLAYS_PER_REPORT {
        return Err(KioskError::BadRequest(format!(
            "at most {PLAYS_PER_REPORT} plays per report"
        )));
    }
    let report = state.signage.report_plays(&screen, &plays).await?;
    state.metrics.plays_dropped.inc_by(report.dropped as u64);
    // 204 as before (kiosk clients take nothing else as success); the counts
    // go in headers, for the screen's logs and for tests.
    Ok(HttpResponse::NoContent()
        .insert_header(("X-Pavilion-Plays-Stored", report.stored.to_string()))
        .insert_header(("X-Pavilion-Plays-Dropped", report.dropped.to_string()))
        .finish())
}

/// A screen's word that it painted an emergency notice: the notice, the
/// revision it was given, and when (its clock corrected to the server's).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AckBody {
    notice_id: NoticeId,
    #[schema(minimum = 1)]
    revision: i64,
    shown_at: chrono::DateTime<Utc>,
}

/// Proof that an emergency is on the glass: sent once per notice revision
/// when the screen has painted it, again until accepted. A `shown_at` after
/// the request arrived (or before the notice existed) is replaced by the
/// time it arrived.
#[utoipa::path(post, path = "/kiosk/api/acks", tag = "screens",
    security(("screen" = [])),
    request_body = AckBody,
    responses(
        (status = 204, description = "Recorded (a repeat, or an older revision arriving late, changes nothing)"),
        (status = 400, description = "Not an acknowledgement, or a revision the notice never had", body = ApiError),
        (status = 401, description = "No valid screen token", body = KioskFailure),
        (status = 403, description = "Not an emergency notice aimed at this screen", body = KioskFailure),
        (status = 404, description = "No such notice in the screen's community", body = KioskFailure),
        (status = 413, description = "Body too large", body = ApiError),
        (status = 415, description = "Not `application/json`", body = ApiError),
    ))]
pub(crate) async fn acks(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<AckBody>,
) -> Result<HttpResponse, KioskError> {
    let screen = screen_of(&state, &req).await?;
    let AckBody {
        notice_id,
        revision,
        shown_at,
    } = body.into_inner();
    let ack = crate::signage::emergency::ScreenAck {
        notice_id,
        revision,
        shown_at,
    };
    match state.signage.acknowledge_emergency(&screen, ack).await {
        Ok(_) => {}
        // Bodiless, like any other bad body: answered as `ApiError`.
        Err(SignageError::UnknownRevision) => return Ok(HttpResponse::BadRequest().finish()),
        Err(e) => return Err(e.into()),
    }
    Ok(HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

// ------------------------------------------------------------ media

/// Notice pictures and videos, for the screens that are given a notice
/// using them and the staff who may see them (the media library, notice
/// previews); anyone else gets the same 404 as for a file that does not
/// exist. A media id's files never change, so they are cached for good, by
/// the browser only; range requests are served for video seeking.
async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, KioskError> {
    let (id, file) = path.into_inner();
    let Some((media, path)) = state.signage.servable(MediaId(id), &file).await? else {
        return Err(KioskError::NotFound);
    };
    let for_screen = match media_screen(&state, &req).await? {
        Some(screen) => {
            state
                .signage
                .screen_is_given(&screen, media.id, Utc::now())
                .await?
        }
        None => false,
    };
    let allowed = for_screen
        || Ctx::load(&req).await.is_ok_and(|ctx| {
            ctx.viewer
                .is_some_and(|viewer| Signage::may_see_media(&viewer, media.community_id))
        });
    if !allowed {
        return Err(KioskError::NotFound);
    }
    let content_type = if file == crate::signage::library::IMAGE_FILE {
        media.content_type.clone()
    } else {
        mime_guess::from_path(&file)
            .first_or_octet_stream()
            .to_string()
    };
    let named = actix_files::NamedFile::open_async(&path)
        .await
        .map_err(|_| KioskError::NotFound)?
        .set_content_type(
            content_type
                .parse()
                .unwrap_or(mime_guess::mime::APPLICATION_OCTET_STREAM),
        )
        .use_etag(true)
        .use_last_modified(true);
    let mut response = named.into_response(&req);
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    Ok(response)
}

// ------------------------------------------------------------ preview

#[derive(serde::Deserialize)]
struct PreviewQuery {
    orientation: Option<String>,
}

/// The kiosk client showing one notice, as its screens will: staff see this
/// in the notice's preview frames. No token, no Service Worker, no reports.
async fn preview(
    state: web::Data<AppState>,
    ctx: Ctx,
    path: web::Path<i64>,
    query: web::Query<PreviewQuery>,
) -> Result<HttpResponse, crate::web::error::WebError> {
    use crate::web::error::WebError;
    let viewer = ctx.viewer.clone().ok_or(WebError::LoginRequired {
        next: ctx.here.clone(),
    })?;
    let notice = state.store.notice(NoticeId(path.into_inner())).await?;
    if !Signage::may_write(&viewer, notice.community_id)
        && !Signage::may_approve(&viewer, notice.community_id)
    {
        return Err(WebError::Forbidden);
    }
    let orientation = query
        .orientation
        .as_deref()
        .and_then(Orientation::parse)
        .unwrap_or(Orientation::Landscape);
    let playlist = state.signage.preview(
        &notice,
        &ctx.t("notices.preview_screen"),
        orientation,
        Utc::now(),
    );
    let html = preview_document(&playlist);
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // The console shows the preview in a sandboxed frame of its own.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            crate::web::browser_policy::PREVIEW_POLICY,
        ))
        .insert_header(("X-Frame-Options", "SAMEORIGIN"))
        .body(html))
}
