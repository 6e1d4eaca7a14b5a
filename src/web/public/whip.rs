//! WHIP (RFC 9725): going live over WebRTC, from OBS 30+ or any WHIP
//! encoder (`Authorization: Bearer <stream key>`) or from the broadcast's
//! console page (the staff session cookie with the form token in
//! `X-CSRF-Token`). The media side is [`crate::live::whip`].

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use crate::domain::broadcast::{Broadcast, PublishRefusal};
use crate::domain::BroadcastId;
use crate::live::whip::WhipError;
use crate::live::Live;
use crate::media::webrtc::{OfferProblem, OFFER_MAX};
use crate::web::api::ApiError;
use crate::web::context::Ctx;
use crate::web::forms::same_origin;
use crate::web::AppState;

/// A refusal: status, stable code, and the message in the caller's language.
struct Refusal {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl Refusal {
    fn new(ctx: &Ctx, status: StatusCode, key: &'static str) -> Self {
        Self {
            status,
            code: key,
            message: ctx.t(key).into_owned(),
        }
    }

    fn reply(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        response.insert_header((header::CACHE_CONTROL, "no-store"));
        match self.status {
            StatusCode::UNAUTHORIZED => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            _ => {}
        }
        response.json(json!({ "error": self.code, "message": self.message }))
    }
}

/// Who asks: a stream key's holder, or a staff member on the console page.
/// The broadcast, once they may publish it.
async fn authorised(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Ctx,
    id: i64,
) -> Result<(Broadcast, String), Refusal> {
    let unauthorised = || Refusal::new(ctx, StatusCode::UNAUTHORIZED, "whip.unauthorized");
    if let Some(authorization) = req.headers().get(header::AUTHORIZATION) {
        let key = authorization
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty() && k.len() <= 256)
            .ok_or_else(unauthorised)?;
        return match state.store.broadcast_by_key(key).await {
            Ok(Some(broadcast)) if broadcast.id == BroadcastId(id) => {
                Ok((broadcast, "stream key".to_owned()))
            }
            Ok(_) => Err(unauthorised()),
            Err(e) => {
                tracing::error!(error = %e, "cannot look up a stream key");
                Err(Refusal::new(
                    ctx,
                    StatusCode::SERVICE_UNAVAILABLE,
                    "whip.unavailable",
                ))
            }
        };
    }
    let Some(account) = ctx.viewer.clone() else {
        return Err(unauthorised());
    };
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !same_origin(req) || ctx.check_form_token(token).is_err() {
        return Err(Refusal::new(ctx, StatusCode::FORBIDDEN, "whip.forged"));
    }
    let broadcast = match state.store.broadcast(BroadcastId(id)).await {
        Ok(broadcast) => broadcast,
        Err(crate::store::StoreError::NotFound) => {
            return Err(Refusal::new(ctx, StatusCode::NOT_FOUND, "whip.not_found"))
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot read a broadcast");
            return Err(Refusal::new(
                ctx,
                StatusCode::SERVICE_UNAVAILABLE,
                "whip.unavailable",
            ));
        }
    };
    if !account.scope().reaches(broadcast.community_id.into()) {
        return Err(Refusal::new(ctx, StatusCode::NOT_FOUND, "whip.not_found"));
    }
    if !Live::may_run(&account, broadcast.community_id) {
        return Err(Refusal::new(ctx, StatusCode::FORBIDDEN, "whip.forbidden"));
    }
    Ok((broadcast, format!("account {}", account.username)))
}

fn is_sdp(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/sdp"))
}

fn refusal_of(ctx: &Ctx, error: &WhipError) -> Refusal {
    let plain = |status, key| Refusal::new(ctx, status, key);
    match error {
        WhipError::Offer(OfferProblem::NotSdp) | WhipError::Unanswerable(_) => {
            plain(StatusCode::BAD_REQUEST, "whip.bad_sdp")
        }
        WhipError::Offer(OfferProblem::NoVideo) => {
            plain(StatusCode::NOT_ACCEPTABLE, "whip.no_video")
        }
        WhipError::Offer(OfferProblem::NoH264 { offered } | OfferProblem::NoOpus { offered }) => {
            Refusal {
                status: StatusCode::NOT_ACCEPTABLE,
                code: "whip.codecs",
                message: ctx.lang.tf("whip.codecs", &[("offered", offered)]),
            }
        }
        WhipError::Refused(PublishRefusal::UnknownKey) => {
            plain(StatusCode::UNAUTHORIZED, "whip.unauthorized")
        }
        WhipError::Refused(PublishRefusal::Ended) => plain(StatusCode::FORBIDDEN, "whip.ended"),
        WhipError::Refused(PublishRefusal::AlreadyPublishing) => {
            plain(StatusCode::CONFLICT, "whip.already_publishing")
        }
        WhipError::Refused(PublishRefusal::Unavailable) | WhipError::Busy => {
            plain(StatusCode::SERVICE_UNAVAILABLE, "whip.unavailable")
        }
        WhipError::NotFound => plain(StatusCode::NOT_FOUND, "whip.no_session"),
    }
}

/// `POST /live/{id}/whip`: an SDP offer in, the answer out.
#[utoipa::path(
    post, path = "/live/{id}/whip", tag = "live",
    security(("stream_key" = []), ("session" = [], "form_token" = [])),
    params(("id" = i64, Path, description = "The broadcast")),
    request_body(content = String, content_type = "application/sdp", description = "The publisher's SDP offer: H.264 video and Opus audio, candidates included (no trickle)"),
    responses(
        (status = 201, description = "The SDP answer; `Location` names the session, to `DELETE` when done", content_type = "application/sdp", body = String,
            headers(("Location" = String, description = "The session resource"), ("ETag" = String, description = "The ICE session's tag"))),
        (status = 400, description = "Not an SDP offer", body = ApiError),
        (status = 401, description = "No, a wrong or a rotated stream key; or not signed in", body = ApiError),
        (status = 403, description = "The broadcast has ended, the account may not run it, or a forged request", body = ApiError),
        (status = 404, description = "No such broadcast", body = ApiError),
        (status = 406, description = "No video, or codecs other than H.264 video and Opus audio", body = ApiError),
        (status = 409, description = "Another encoder is publishing this broadcast", body = ApiError),
        (status = 413, description = "The offer is too large", body = ApiError),
        (status = 415, description = "The body is not `application/sdp`", body = ApiError),
        (status = 503, description = "Too many publishers, or the server is stopping; try again", body = ApiError),
    )
)]
pub async fn offer(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
    body: web::Bytes,
) -> HttpResponse {
    let ctx = match Ctx::load(&req).await {
        Ok(ctx) => ctx,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    match answer(&state, &req, &ctx, *id, &body).await {
        Ok(response) => response,
        Err(refusal) => refusal.reply(),
    }
}

async fn answer(
    state: &AppState,
    req: &HttpRequest,
    ctx: &Ctx,
    id: i64,
    body: &[u8],
) -> Result<HttpResponse, Refusal> {
    let (broadcast, who) = authorised(state, req, ctx, id).await?;
    if !is_sdp(req) {
        return Err(Refusal::new(
            ctx,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "whip.not_sdp",
        ));
    }
    if body.len() > OFFER_MAX {
        return Err(Refusal::new(
            ctx,
            StatusCode::PAYLOAD_TOO_LARGE,
            "whip.too_large",
        ));
    }
    let sdp = std::str::from_utf8(body)
        .map_err(|_| Refusal::new(ctx, StatusCode::BAD_REQUEST, "whip.bad_sdp"))?;
    let whip = state
        .live
        .whip()
        .ok_or_else(|| Refusal::new(ctx, StatusCode::SERVICE_UNAVAILABLE, "whip.unavailable"))?;
    let answer = match whip.offer(&broadcast, &who, sdp).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::info!(broadcast = %broadcast.id, %who, reason = %e, "WHIP offer refused");
            return Err(refusal_of(ctx, &e));
        }
    };
    let location = format!("/live/{}/whip/{}", broadcast.id, answer.session);
    let mut response = HttpResponse::Created();
    response
        .content_type("application/sdp")
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    if let Ok(etag) = HeaderValue::from_str(&answer.etag) {
        response.insert_header((header::ETAG, etag));
    }
    Ok(response.body(answer.sdp))
}

/// `DELETE /live/{id}/whip/{session}`: the publisher is done.
#[utoipa::path(
    delete, path = "/live/{id}/whip/{session}", tag = "live",
    security(("stream_key" = []), ("session" = [], "form_token" = [])),
    params(("id" = i64, Path, description = "The broadcast"), ("session" = String, Path, description = "The session, from the offer's `Location`")),
    responses(
        (status = 200, description = "The publish has ended; the broadcast waits for its grace period (or is ended by staff)"),
        (status = 401, description = "No or a wrong stream key; or not signed in", body = ApiError),
        (status = 403, description = "The account may not run this broadcast, or a forged request", body = ApiError),
        (status = 404, description = "No such broadcast or session", body = ApiError),
    )
)]
pub async fn end(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
) -> HttpResponse {
    let ctx = match Ctx::load(&req).await {
        Ok(ctx) => ctx,
        Err(e) => return actix_web::ResponseError::error_response(&e),
    };
    let (id, session) = path.into_inner();
    let result = async {
        let (broadcast, who) = authorised(&state, &req, &ctx, id).await?;
        let whip = state.live.whip().ok_or_else(|| {
            Refusal::new(&ctx, StatusCode::SERVICE_UNAVAILABLE, "whip.unavailable")
        })?;
        whip.end(broadcast.id, &session)
            .map_err(|e| refusal_of(&ctx, &e))?;
        tracing::info!(broadcast = %broadcast.id, %who, "WHIP session ended by its publisher");
        Ok::<_, Refusal>(
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish(),
        )
    }
    .await;
    result.unwrap_or_else(Refusal::reply)
}

/// `PATCH` (trickle ICE, ICE restart) is not supported: candidates come
/// with the offer, and a publisher that lost its path posts a new offer.
#[utoipa::path(
    patch, path = "/live/{id}/whip/{session}", tag = "live",
    params(("id" = i64, Path, description = "The broadcast"), ("session" = String, Path, description = "The session")),
    responses(
        (status = 405, description = "Trickle ICE and ICE restarts are not supported: put the candidates in the offer; after losing the connection, post a new offer", headers(("Allow" = String, description = "`DELETE`"))),
    )
)]
pub async fn no_trickle() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, "DELETE"))
        .finish()
}

/// `OPTIONS` on the endpoint, as WHIP clients may ask before posting.
pub async fn options() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::ALLOW, "POST, OPTIONS"))
        .insert_header(("Accept-Post", "application/sdp"))
        .finish()
}
