//! The JSON API, described by the OpenAPI document generated from these
//! handlers' annotations (`GET /api/openapi.json`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use utoipa::OpenApi;

use crate::domain::broadcast::BroadcastState;
use crate::domain::{Account, Building, Community, CommunityId, Estate, EstateId, Role};

use super::context::Ctx;
use super::error::WebError;
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
        crate::web::public::live_chat::vote_http
    ),
    components(schemas(observability::Health, Account, Role, Community, Estate, Building, DirectoryCommunity, DirectoryEstate, ApiError, BroadcastSummary, BroadcastState, crate::web::public::live_chat::PostBody, crate::web::public::live_chat::VoteBody)),
    tags((name = "system"), (name = "accounts"), (name = "directory"), (name = "live"))
)]
pub struct ApiDoc;

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
    responses((status = 200, description = "On air and upcoming broadcasts", body = [BroadcastSummary])))]
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
