//! The JSON API, described by the OpenAPI document generated from these
//! handlers' annotations (`GET /api/openapi.json`).

use std::sync::OnceLock;

use actix_web::error::{InternalError, JsonPayloadError};
use actix_web::http::{Method, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::domain::broadcast::BroadcastState;
use crate::domain::{Account, Building, Community, CommunityId, Estate, EstateId, Role};

use super::context::Ctx;
use super::error::WebError;
use super::kiosk;
use super::observability;
use super::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "Pavilion", description = "社区议事厅 — the JSON API of a Pavilion server."),
    paths(
        observability::health,
        me,
        directory,
        broadcasts,
        crate::web::public::live_chat::post,
        crate::web::public::live_chat::vote_http,
        crate::web::public::whip::offer,
        crate::web::public::whip::end,
        crate::web::public::whip::no_trickle,
        kiosk::start_pairing,
        kiosk::poll_pairing,
        kiosk::playlist,
        kiosk::events,
        kiosk::heartbeat,
        kiosk::plays,
        super::open311::doc_discovery,
        super::open311::doc_services,
        super::open311::doc_service_definition,
        super::open311::doc_list_requests,
        super::open311::doc_one_request,
        super::open311::doc_file_request,
        kiosk::acks,
        crate::web::feeds::cap::atom,
        crate::web::feeds::cap::document,
        crate::web::feeds::calendar::broadcasts,
        crate::web::feeds::calendar::broadcast,
    ),
    components(schemas(observability::Health, Account, Role, Community, Estate, Building, DirectoryCommunity, DirectoryEstate, ApiError, BroadcastSummary, BroadcastState, crate::web::public::live_chat::PostBody, crate::web::public::live_chat::VoteBody, kiosk::KioskFailure, kiosk::PairingPoll, kiosk::AckBody, super::open311::ServiceDoc, super::open311::ServiceDefinitionDoc, super::open311::DiscoveryDoc, super::open311::EndpointDoc, super::open311::ServiceRequestDoc, super::open311::NewRequest, super::open311::CreatedDoc, super::open311::ErrorDoc)),
    tags(
        (name = "system"), (name = "accounts"), (name = "directory"), (name = "live"),
        (name = "open311", description = "Open311 GeoReport v2 (also in XML, at the same paths with `.xml`). Errors are GeoReport's: a list of `{code, description}`."),
        (name = "feeds", description = "What other programs subscribe to: a community's emergency notices as CAP 1.2 (an Atom index and one document per notice) and its broadcasts as iCalendar. `{code}` is the community's code."),
        (name = "screens", description = "The lobby-screen protocol: pair once, then fetch the playlist (with `If-None-Match`), follow the push stream, and report heartbeats and plays. kiosk/README.md tells the whole story."),
    ),
    modifiers(&Security)
)]
pub struct ApiDoc;

/// How callers prove who they are: residents and staff by the session cookie
/// (with the form token in `X-CSRF-Token` on writes), screens by their token.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::web::context::SESSION_COOKIE,
                "The session of a signed-in account (POST /login).",
            ))),
        );
        components.add_security_scheme(
            "form_token",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-CSRF-Token",
                "The form token of the session, required on every write.",
            ))),
        );
        components.add_security_scheme(
            "stream_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A broadcast's stream key, as a WHIP encoder (OBS) sends it.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "screen",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A lobby screen's token, from a completed pairing."))
                    .build(),
            ),
        );
    }
}

/// One documented path as its segments; `None` stands for a parameter.
type Pattern = Vec<Option<String>>;

/// Every documented path with the methods it answers, built once.
fn documented() -> &'static [(Pattern, Vec<Method>)] {
    static DOCUMENTED: OnceLock<Vec<(Pattern, Vec<Method>)>> = OnceLock::new();
    DOCUMENTED.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let pattern = path
                    .split('/')
                    .map(|segment| (!segment.starts_with('{')).then(|| segment.to_owned()))
                    .collect();
                let methods = [
                    (&item.get, Method::GET),
                    (&item.post, Method::POST),
                    (&item.put, Method::PUT),
                    (&item.patch, Method::PATCH),
                    (&item.delete, Method::DELETE),
                ]
                .into_iter()
                .filter(|(operation, _)| operation.is_some())
                .map(|(_, method)| method)
                .collect();
                (pattern, methods)
            })
            .collect()
    })
}

/// The methods a documented path answers, or `None` for a path the API
/// document does not describe.
pub fn documented_methods(path: &str) -> Option<&'static [Method]> {
    let segments: Vec<&str> = path.split('/').collect();
    documented().iter().find_map(|(pattern, methods)| {
        let matches = pattern.len() == segments.len()
            && pattern
                .iter()
                .zip(&segments)
                .all(|(want, got)| want.as_deref().is_none_or(|want| want == *got));
        matches.then_some(methods.as_slice())
    })
}

/// Whether errors on this path are JSON (`ApiError`) rather than a page.
pub fn speaks_json(path: &str) -> bool {
    ["/api/", "/open311/", "/kiosk/api/"]
        .iter()
        .any(|prefix| path.starts_with(prefix))
        || documented_methods(path).is_some()
}

/// Extractor failures (a query, path or JSON body that does not parse)
/// answer with a bodiless status; the error renderer then gives it the
/// caller's language, and the shape of the route (`ApiError` or a page).
pub fn extractor_configs(cfg: &mut web::ServiceConfig) {
    fn bodiless(error: impl Into<actix_web::Error>, status: StatusCode) -> actix_web::Error {
        let error: actix_web::Error = error.into();
        InternalError::from_response(error, HttpResponse::build(status).finish()).into()
    }
    cfg.app_data(
        web::QueryConfig::default().error_handler(|e, _| bodiless(e, StatusCode::BAD_REQUEST)),
    )
    .app_data(web::PathConfig::default().error_handler(|e, _| bodiless(e, StatusCode::NOT_FOUND)))
    .app_data(web::JsonConfig::default().error_handler(|e, _| {
        let status = match &e {
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            JsonPayloadError::ContentType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::BAD_REQUEST,
        };
        bodiless(e, status)
    }));
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/me", web::get().to(me))
        .route("/directory", web::get().to(directory))
        .route("/broadcasts", web::get().to(broadcasts));
}

pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

/// The shape of every JSON error.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Stable machine-readable code, e.g. `error.login_required`.
    pub error: String,
    /// The message in the caller's language.
    pub message: String,
}

/// The logged-in account.
#[utoipa::path(
    get, path = "/api/v1/me", tag = "accounts",
    security(("session" = [])),
    responses(
        (status = 200, description = "The account of the session cookie", body = Account),
        (status = 401, description = "Not logged in", body = ApiError),
    )
)]
pub async fn me(req: HttpRequest) -> Result<web::Json<Account>, ApiFailure> {
    let ctx = Ctx::load(&req)
        .await
        .map_err(|_| ApiFailure::Unauthorized)?;
    ctx.viewer.map(web::Json).ok_or(ApiFailure::Unauthorized)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DirectoryEstate {
    #[serde(flatten)]
    pub estate: Estate,
    pub buildings: Vec<Building>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DirectoryCommunity {
    #[serde(flatten)]
    pub community: Community,
    pub estates: Vec<DirectoryEstate>,
}

/// Communities with their estates and buildings (public: no units, no people).
#[utoipa::path(get, path = "/api/v1/directory", tag = "directory",
    responses((status = 200, description = "The public directory", body = [DirectoryCommunity])))]
pub async fn directory(
    state: web::Data<AppState>,
) -> Result<web::Json<Vec<DirectoryCommunity>>, WebError> {
    let mut out = Vec::new();
    for community in state.store.list_communities().await? {
        let mut estates = Vec::new();
        for estate in state.store.list_estates(community.id).await? {
            let buildings = state.store.list_buildings(estate.id).await?;
            estates.push(DirectoryEstate { estate, buildings });
        }
        out.push(DirectoryCommunity { community, estates });
    }
    Ok(web::Json(out))
}

/// API errors answer with a status and an empty body; the error renderer fills
/// in the JSON `ApiError` in the caller's language.
#[derive(Debug, thiserror::Error)]
pub enum ApiFailure {
    #[error("not logged in")]
    Unauthorized,
}

impl actix_web::ResponseError for ApiFailure {
    fn status_code(&self) -> actix_web::http::StatusCode {
        actix_web::http::StatusCode::UNAUTHORIZED
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::Unauthorized().finish()
    }
}

/// A broadcast as lobby screens and apps see it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct BroadcastSummary {
    pub id: crate::domain::BroadcastId,
    pub community_id: CommunityId,
    pub title: String,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    /// The estates it concerns; empty means the whole community.
    pub estates: Vec<EstateId>,
    pub state: BroadcastState,
    /// Viewers watching now (updated every few seconds).
    pub viewers: usize,
    /// The watch page, for a QR code.
    pub watch_url: String,
    /// The HLS multivariant playlist.
    pub playlist_url: String,
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
pub struct BroadcastQuery {
    /// Only this community's broadcasts.
    pub community: Option<i64>,
}

/// Broadcasts on air and coming up, soonest first (public). Lobby screens show
/// a "正在直播" tile with a QR code to `watch_url` while one is live.
#[utoipa::path(get, path = "/api/v1/broadcasts", tag = "live", params(BroadcastQuery),
    responses(
        (status = 200, description = "On air and upcoming broadcasts", body = [BroadcastSummary]),
        (status = 400, description = "`community` is not a number", body = ApiError),
    ))]
pub async fn broadcasts(
    state: web::Data<AppState>,
    query: web::Query<BroadcastQuery>,
) -> Result<web::Json<Vec<BroadcastSummary>>, WebError> {
    let base = state.settings.server.public_url.trim_end_matches('/');
    let schedule = state
        .live
        .schedule_of(query.community.map(CommunityId), 50)
        .await?;
    Ok(web::Json(
        schedule
            .into_iter()
            .map(|b| {
                let status = state.live.hub().status(&b);
                BroadcastSummary {
                    watch_url: format!("{base}/live/{}", b.id),
                    playlist_url: format!("{base}/live/{}/index.m3u8", b.id),
                    id: b.id,
                    community_id: b.community_id,
                    title: b.title,
                    starts_at: b.starts_at,
                    estates: b.estates,
                    state: status.state,
                    viewers: status.viewers,
                }
            })
            .collect(),
    ))
}
