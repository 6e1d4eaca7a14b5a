//! Watching: the list of broadcasts, the watch page, its status socket, and
//! the HLS playlists and segments (from memory while on air, from disk after).

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use maud::{html, Markup};

use crate::domain::broadcast::{Broadcast, BroadcastState, ReplayState};
use crate::domain::{BroadcastId, Role};
use crate::live::channel::Rendition;
use crate::live::delivery::{self, DeliveryError};
use crate::live::recording::{self, is_media_file};
use crate::live::Live;
use crate::media::hls;
use crate::web::assets::asset_url;
use crate::web::context::{Ctx, SESSION_COOKIE};
use crate::web::error::WebError;
use crate::web::layout::page;
use crate::web::AppState;

use super::chat_pane;
use super::live_chat::{self, chat_failure};

/// Broadcasts on air and coming up, and the replays, for the viewer's community.
pub async fn index(state: web::Data<AppState>, ctx: Ctx) -> Result<Markup, WebError> {
    let community = ctx.viewer.as_ref().and_then(|a| a.community_id);
    let schedule = state.live.schedule_of(community, 50).await?;
    let replays = state.live.replays_of(community, 50).await?;
    let body = html! {
        h1 { (ctx.t("live.title")) }
        (schedule_list(&ctx, &state, &schedule))
        section aria-labelledby="replays" {
            h2 id="replays" { (ctx.t("live.replays")) }
            @if replays.is_empty() {
                p class="muted" { (ctx.t("live.no_replays")) }
            } @else {
                ul class="broadcast-list" {
                    @for b in &replays {
                        li {
                            a href={"/live/" (b.id)} { (b.title) }
                            " · " span class="muted" { (ctx.local_time(b.starts_at)) }
                            @if let Some(millis) = b.replay_millis {
                                " · " span class="muted" { (duration_label(millis)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&ctx, &ctx.t("live.title"), body))
}

fn schedule_list(ctx: &Ctx, state: &AppState, schedule: &[Broadcast]) -> Markup {
    html! {
        section aria-labelledby="schedule" {
            h2 id="schedule" { (ctx.t("live.schedule")) }
            @if schedule.is_empty() {
                p class="muted" { (ctx.t("live.nothing_scheduled")) }
            } @else {
                ul class="broadcast-list" {
                    @for b in schedule {
                        @let status = state.live.hub().status(b);
                        li {
                            a href={"/live/" (b.id)} { (b.title) }
                            " " (state_badge(ctx, status.state))
                            " · " span class="muted" { (ctx.local_time(b.starts_at)) }
                        }
                    }
                }
            }
        }
    }
}

fn state_badge(ctx: &Ctx, state: BroadcastState) -> Markup {
    let class = match state {
        BroadcastState::Live => "badge live",
        BroadcastState::Reconnecting => "badge warn",
        BroadcastState::Scheduled => "badge",
        BroadcastState::Ended => "badge muted",
    };
    html! {
        span class=(class) data-state-badge { (ctx.t(&format!("live.state.{}", state.as_str()))) }
    }
}

fn duration_label(millis: i64) -> String {
    let seconds = millis / 1000;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

/// May this viewer see the replay of an ended broadcast?
fn may_watch_replay(ctx: &Ctx, broadcast: &Broadcast) -> bool {
    broadcast.replay.is_public()
        || ctx.viewer.as_ref().is_some_and(|who| {
            broadcast.replay == ReplayState::Unpublished
                && Live::may_manage_replays(who, broadcast.community_id)
        })
}

pub async fn watch(
    state: web::Data<AppState>,
    ctx: Ctx,
    id: web::Path<i64>,
) -> Result<Markup, WebError> {
    let broadcast = state.store.broadcast(BroadcastId(*id)).await?;
    let status = state.live.hub().status(&broadcast);
    let replay = broadcast.state == BroadcastState::Ended;
    if replay && !may_watch_replay(&ctx, &broadcast) && broadcast.replay != ReplayState::None {
        return Err(WebError::NotFound);
    }
    let playlist = format!("/live/{}/index.m3u8", broadcast.id);
    let upcoming = if status.state.is_on_air() || replay {
        Vec::new()
    } else {
        state
            .live
            .schedule_of(Some(broadcast.community_id), 10)
            .await?
    };
    let has_replay = replay && may_watch_replay(&ctx, &broadcast);
    // Staff see how far behind the encoder the picture is, to judge the stream.
    let staff = ctx
        .viewer
        .as_ref()
        .is_some_and(|a| a.role != Role::Resident);
    let side = if replay {
        let comments = state
            .chat
            .snapshot(broadcast.id, None)
            .await
            .map_err(chat_failure)?
            .comments;
        let chapters = if has_replay {
            state
                .chat
                .chapters(broadcast.id)
                .await
                .map_err(chat_failure)?
        } else {
            Vec::new()
        };
        chat_pane::replay(&ctx, &comments, &chapters)
    } else {
        chat_pane::live(&ctx, &broadcast)
    };
    let body = html! {
        div class="watch"
            data-broadcast=(broadcast.id)
            data-playlist=(playlist)
            data-replay=(has_replay)
            data-ready=(status.ready)
            data-state=(status.state.as_str())
            data-label-live=(ctx.t("live.state.live"))
            data-label-reconnecting=(ctx.t("live.state.reconnecting"))
            data-label-ended=(ctx.t("live.state.ended"))
            data-label-scheduled=(ctx.t("live.state.scheduled"))
            data-label-unsupported=(ctx.t("live.unsupported"))
            data-label-delay=(ctx.t("live.delay"))
        {
            h1 { (broadcast.title) }
            p class="watch-meta" {
                (state_badge(&ctx, status.state))
                " "
                span class="muted" {
                    (ctx.t("live.viewers")) " "
                    span data-viewers { (status.viewers) }
                }
                " · " span class="muted" { (ctx.local_time(broadcast.starts_at)) }
                @if broadcast.state == BroadcastState::Scheduled {
                    " · " a href={"/live/" (broadcast.id) "/calendar.ics"} data-add-to-calendar { (ctx.t("live.add_to_calendar")) }
                }
            }
            div class="watch-layout" {
                div class="watch-main" {
                    div class="player" {
                        video controls playsinline preload="none"
                            poster=[has_replay.then(|| format!("/live/{}/poster.jpg", broadcast.id))]
                            aria-label=(ctx.t("live.player")) {}
                        @if staff && !replay {
                            span class="live-delay" data-delay hidden {}
                        }
                        @if !replay {
                            button type="button" class="jump-live" data-jump-live hidden {
                                (ctx.t("live.jump_to_live"))
                            }
                        }
                        p class="player-note" data-waiting hidden[status.ready || has_replay] {
                            @if replay && !has_replay {
                                (ctx.t("live.no_recording"))
                            } @else {
                                (ctx.t("live.waiting"))
                            }
                        }
                    }
                    @if has_replay && broadcast.replay == ReplayState::Published {
                        p { a href={"/live/" (broadcast.id) "/replay.mp4"} download { (ctx.t("live.download")) } }
                    }
                    @if !broadcast.description.is_empty() {
                        div class="prose" {
                            @for line in broadcast.description.lines() { p { (line) } }
                        }
                    }
                }
                (side)
            }
        }
        @if !upcoming.is_empty() {
            (schedule_list(&ctx, &state, &upcoming))
        }
        script src=(asset_url("vendor/hls.light.min.js")) defer {}
        script src=(asset_url("js/live-socket.js")) defer {}
        script src=(asset_url("js/watch.js")) defer {}
        script src=(asset_url("js/chat.js")) defer {}
    };
    Ok(page(&ctx, &broadcast.title, body))
}

/// The watch page's socket: the broadcast's state and viewer count, and its
/// chat (see `live_chat`): sent on connect and whenever they change.
pub async fn socket(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Payload,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let broadcast = state.store.broadcast(BroadcastId(*id)).await?;
    let viewer = live_chat::socket_viewer(&req, &broadcast).await?;
    let after = live_chat::after_param(req.query_string());
    let (subscription, queue) = live_chat::subscribe(&state, &viewer, broadcast.id).await?;
    let (response, session, stream) =
        actix_ws::handle(&req, body).map_err(|_| WebError::BadInput {
            key: "error.bad_request",
        })?;
    let stream = stream
        .max_frame_size(live_chat::MAX_FRAME)
        .aggregate_continuations()
        .max_continuation_size(live_chat::MAX_FRAME);
    let (status, watching) = state.live.hub().watch(&broadcast);
    let state = state.clone();
    actix_web::rt::spawn(async move {
        let _watching = watching;
        live_chat::serve(
            state,
            broadcast.id,
            viewer,
            after,
            session,
            stream,
            status,
            subscription,
            queue,
        )
        .await;
    });
    Ok(response)
}

/// `/live/{id}/index.m3u8`: the multivariant playlist.
pub async fn multivariant(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = BroadcastId(*id);
    if let Some(channel) = state.live.hub().channel(id) {
        if let Some(text) = channel.multivariant() {
            return Ok(playlist_response(text.into(), true));
        }
    } else if let Some(response) = relay(&state, &req, id).await? {
        return Ok(response);
    }
    let path = replay_dir(&state, &req, id)
        .await?
        .join(recording::PLAYLIST);
    file_response(&req, &path, "application/vnd.apple.mpegurl", false).await
}

/// `/live/{id}/{rendition}/{file}`: a media playlist, init segment, segment
/// or part. While the broadcast is on air they come from memory, and a
/// low-latency player's blocking playlist reload or hinted part is held
/// until it can be answered; afterwards they come from the recording.
pub async fn media(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String, String)>,
) -> Result<HttpResponse, WebError> {
    let (id, rendition, file) = path.into_inner();
    let id = BroadcastId(id);
    let rendition = Rendition::parse(&rendition).ok_or(WebError::NotFound)?;
    let part = hls::parse_part_uri(&file);
    if part.is_none() && !is_media_file(&file) {
        return Err(WebError::NotFound);
    }
    let channel = state.live.hub().channel(id);
    if let Some((channel, feed)) =
        channel.and_then(|c| Some((c.clone(), c.existing_feed(rendition)?)))
    {
        if file == recording::PLAYLIST {
            return Ok(
                match delivery::playlist(&channel, &feed, req.query_string()).await {
                    Ok(text) => playlist_response(text, true),
                    Err(e) => delivery_error(e),
                },
            );
        }
        if let Some(number) = part {
            return Ok(match delivery::part(&feed, number).await {
                Ok(data) => media_response(data, &file),
                Err(e) => delivery_error(e),
            });
        }
        if let Some(data) = in_memory(&feed, &file) {
            return Ok(media_response(data, &file));
        }
    } else if let Some(response) = relay(&state, &req, id).await? {
        return Ok(response);
    }
    if part.is_some() {
        // Parts live in memory only; the recording has whole segments.
        return Err(WebError::NotFound);
    }
    let dir = replay_dir(&state, &req, id).await?;
    let path = dir.join(rendition.as_str()).join(&file);
    let content_type = content_type(&file);
    file_response(&req, &path, content_type, file != recording::PLAYLIST).await
}

/// A live request for a broadcast whose encoder publishes to another node,
/// answered by that node (see `crate::live::relay`): the request, query
/// string and all, goes to the holder, and its answer streams back. `None`
/// when no other live node holds the broadcast: then the recording on the
/// shared media directory answers.
async fn relay(
    state: &AppState,
    req: &HttpRequest,
    id: BroadcastId,
) -> Result<Option<HttpResponse>, WebError> {
    use crate::live::relay::{FORWARDED_HEADERS, RELAYED};
    // A blocking reload names a playlist that exists only on the node
    // holding the encoder; the recording on disk would answer it at once
    // with an older one, which a cache in front would then keep for every
    // viewer. Such requests get "try again" instead, never the disk.
    let blocking = req.query_string().contains("_HLS_");
    if req.headers().contains_key(RELAYED) {
        // Sent on by a node that took this one for the holder (nginx drops
        // the header from clients): the holder has just changed.
        return Ok(blocking.then(holder_unavailable));
    }
    let broadcast = state.live.visibility(id).await?;
    if !broadcast.state.is_on_air() {
        return Ok(None);
    }
    let relay = state.live.relay();
    let Some(holder) = relay.holder_url(id).await else {
        return Ok(blocking.then(holder_unavailable));
    };
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), |p| p.as_str().to_owned());
    let headers: Vec<(&str, &[u8])> = FORWARDED_HEADERS
        .iter()
        .filter_map(|name| Some((*name, req.headers().get(*name)?.as_bytes())))
        .collect();
    let answer = match relay.forward(&holder, &path, &headers).await {
        Ok(answer) => answer,
        Err(e) => {
            relay.forget(id);
            tracing::warn!(broadcast = %id, %holder, error = %e, "the node holding the broadcast did not answer");
            // Segments and plain reloads are on the shared media directory
            // too (a holder that just died wrote them there); only a
            // blocking reload must wait for the new holder.
            return Ok(blocking.then(holder_unavailable));
        }
    };
    let status = actix_web::http::StatusCode::from_u16(answer.status().as_u16())
        .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY);
    let mut response = HttpResponse::build(status);
    for name in [
        "content-type",
        "cache-control",
        "content-encoding",
        "content-range",
        "accept-ranges",
        "etag",
        "last-modified",
        "retry-after",
    ] {
        if let Some(value) = answer.headers().get(name) {
            response.insert_header((name, value.as_bytes()));
        }
    }
    if !answer.headers().contains_key("content-encoding") {
        // Already compressed media, or tiny playlists: as the holder sends them.
        response.insert_header((header::CONTENT_ENCODING, "identity"));
    }
    let length = answer.content_length();
    let body = futures_util::TryStreamExt::map_err(answer.bytes_stream(), std::io::Error::other);
    Ok(Some(match length {
        Some(length) => response.body(actix_web::body::SizedStream::new(length, body)),
        None => response.streaming(body),
    }))
}

/// 503 "try again in a second", never stored by a cache: the node holding
/// the broadcast's encoder cannot be reached or is changing.
fn holder_unavailable() -> HttpResponse {
    HttpResponse::ServiceUnavailable()
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::RETRY_AFTER, "1"))
        .body("the node holding this broadcast did not answer\n")
}

/// Refusals of the low-latency delivery, in a line of plain text: players
/// read the status, and an error page per refused reload would be waste.
fn delivery_error(error: DeliveryError) -> HttpResponse {
    let mut response = match error {
        DeliveryError::BadDirective(_) => HttpResponse::BadRequest(),
        DeliveryError::NotFound => HttpResponse::NotFound(),
        DeliveryError::TimedOut => HttpResponse::ServiceUnavailable(),
    };
    response
        .insert_header((header::CONTENT_TYPE, "text/plain; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(format!("{error}\n"))
}

fn in_memory(feed: &crate::live::channel::Feed, file: &str) -> Option<Bytes> {
    if let Some(n) = file
        .strip_prefix("seg-")
        .and_then(|f| f.strip_suffix(".m4s"))
    {
        return feed.segment(n.parse().ok()?);
    }
    let period = file.strip_prefix("init-")?.strip_suffix(".mp4")?;
    feed.init(period.parse().ok()?)
}

/// The media directory of a broadcast whose recording this viewer may read
/// (a replay; or, for a moment after the end, a broadcast being sealed).
async fn replay_dir(
    state: &AppState,
    req: &HttpRequest,
    id: BroadcastId,
) -> Result<std::path::PathBuf, WebError> {
    // Replays and viewers far behind ask for segments many times a second:
    // the broadcast's visibility comes from a short-lived cache.
    let broadcast = state.live.visibility(id).await?;
    let allowed = broadcast.replay.is_public()
        || broadcast.state.is_on_air()
        || may_watch_unpublished(req, &broadcast).await?;
    if !allowed {
        return Err(WebError::NotFound);
    }
    Ok(state.live.hub().layout().broadcast(id))
}

/// How long a session's answer to "may it watch this unpublished replay?" is
/// kept: as long as the broadcast's visibility is (`Live::visibility`).
const REPLAY_ACCESS_TTL: Duration = Duration::from_secs(5);

/// Sessions' recent answers, by session token and broadcast.
type ReplayAccess = HashMap<(String, BroadcastId), (Instant, bool)>;

fn replay_access() -> std::sync::MutexGuard<'static, ReplayAccess> {
    static ACCESS: OnceLock<Mutex<ReplayAccess>> = OnceLock::new();
    ACCESS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Whether the viewer may watch an unpublished replay (staff checking it
/// before publishing). The player asks for a segment every couple of
/// seconds and each answer would cost a session lookup in the database: the
/// answer is kept for a few seconds per session. Without a session cookie
/// there is nothing to look up.
async fn may_watch_unpublished(req: &HttpRequest, broadcast: &Broadcast) -> Result<bool, WebError> {
    if broadcast.replay != ReplayState::Unpublished {
        return Ok(false);
    }
    let Some(session) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(false);
    };
    let key = (session, broadcast.id);
    if let Some((at, allowed)) = replay_access().get(&key) {
        if at.elapsed() < REPLAY_ACCESS_TTL {
            return Ok(*allowed);
        }
    }
    let ctx = Ctx::load(req).await?;
    let allowed = may_watch_replay(&ctx, broadcast);
    let mut cache = replay_access();
    if cache.len() >= 4096 {
        cache.retain(|_, (at, _)| at.elapsed() < REPLAY_ACCESS_TTL);
    }
    if cache.len() < 4096 {
        cache.insert(key, (Instant::now(), allowed));
    }
    Ok(allowed)
}

pub async fn poster(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let dir = replay_dir(&state, &req, BroadcastId(*id)).await?;
    file_response(&req, &dir.join(recording::POSTER), "image/jpeg", false).await
}

/// The replay as one MP4 file, with range requests so it can be seeked.
pub async fn download(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let id = BroadcastId(*id);
    let dir = replay_dir(&state, &req, id).await?;
    let file = actix_files::NamedFile::open_async(dir.join(recording::DOWNLOAD))
        .await
        .map_err(|_| WebError::NotFound)?
        .set_content_type("video/mp4".parse().map_err(|_| WebError::NotFound)?)
        .set_content_disposition(header::ContentDisposition {
            disposition: header::DispositionType::Attachment,
            parameters: vec![header::DispositionParam::Filename(format!(
                "pavilion-broadcast-{id}.mp4"
            ))],
        });
    Ok(file.into_response(&req))
}

fn content_type(file: &str) -> &'static str {
    if file.ends_with(".m3u8") {
        PLAYLIST_TYPE
    } else if file.ends_with(".m4s") {
        "video/iso.segment"
    } else {
        "video/mp4"
    }
}

fn playlist_response(text: Bytes, live: bool) -> HttpResponse {
    let mut response = HttpResponse::with_body(actix_web::http::StatusCode::OK, text);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(PLAYLIST_TYPE),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if live { "no-cache" } else { "max-age=60" }),
    );
    // A few hundred bytes, reloaded every couple of seconds by every
    // viewer: compressing them costs more than it saves.
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    response.map_into_boxed_body()
}

/// A segment, init segment or part from memory. Every viewer asks for each
/// one, so the answer is built without parsing or allocating headers.
fn media_response(data: Bytes, file: &str) -> HttpResponse {
    let mut response = HttpResponse::with_body(actix_web::http::StatusCode::OK, Sliced(data));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(file)),
    );
    // Segment and init names are never reused within a broadcast.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    // Already compressed: keep the compression middleware off it.
    headers.insert(
        header::CONTENT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    response.map_into_boxed_body()
}

/// Media from memory (parts, segments, init sections), handed to the
/// connection a slice at a time. actix-http copies each body chunk into the
/// connection's write buffer, which keeps its capacity for the next
/// response: a part given as one chunk would leave every viewer's
/// connection holding a buffer of its size, and a part fanned out to
/// thousands of viewers at once would be copied whole for each of them.
/// Slices of the shared bytes (no copy) bound what a connection holds to
/// about `SLICE` beyond the server's write buffer (`WRITE_BUFFER`).
struct Sliced(Bytes);

/// See `Sliced`.
const SLICE: usize = 16 * 1024;

/// The most a connection's write buffer takes in before it is written out
/// (actix-http's default is 32 KiB): with `SLICE`, what a viewer's
/// connection holds between responses.
pub const WRITE_BUFFER: usize = 16 * 1024;

impl actix_web::body::MessageBody for Sliced {
    type Error = std::convert::Infallible;

    fn size(&self) -> actix_web::body::BodySize {
        actix_web::body::BodySize::Sized(self.0.len() as u64)
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        let rest = &mut self.0;
        if rest.is_empty() {
            return std::task::Poll::Ready(None);
        }
        let slice = rest.split_to(rest.len().min(SLICE));
        std::task::Poll::Ready(Some(Ok(slice)))
    }

    fn try_into_bytes(self) -> Result<Bytes, Self> {
        // Small bodies go out whole.
        if self.0.len() <= SLICE {
            Ok(self.0)
        } else {
            Err(self)
        }
    }
}

const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
const IMMUTABLE: &str = "public, max-age=86400, immutable";

/// Recording files up to this size are read on the worker thread (segments:
/// ~0.6 MB at 2.5 Mb/s and 2 s, ~3 MB with a 10 s keyframe interval); larger
/// ones (the replay download) on the blocking pool.
const SYNC_READ_LIMIT: u64 = 8 * 1024 * 1024;

/// A file of the recording, streamed from disk (with range requests); media
/// files are marked immutable and kept away from the compression middleware.
async fn file_response(
    req: &HttpRequest,
    path: &std::path::Path,
    content_type: &'static str,
    immutable: bool,
) -> Result<HttpResponse, WebError> {
    // Opened and read on this thread, not the blocking pool: segments of a
    // replay being watched are in the page cache, and a trip to the pool per
    // open and per 64 KiB read cost more than the read (the file is still
    // streamed, never read whole).
    let file = match actix_files::NamedFile::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(WebError::NotFound),
        Err(e) => return Err(WebError::Internal(e.into())),
    };
    let mime = content_type
        .parse()
        .map_err(|e| WebError::Internal(anyhow::anyhow!("{content_type}: {e:?}")))?;
    let mut file = file
        .set_content_type(mime)
        .disable_content_disposition()
        .read_mode_threshold(SYNC_READ_LIMIT);
    if immutable {
        file = file.set_content_encoding(header::ContentEncoding::Identity);
    }
    let mut response = file.into_response(req);
    let cache = if immutable { IMMUTABLE } else { "max-age=10" };
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(cache),
    );
    Ok(response)
}
