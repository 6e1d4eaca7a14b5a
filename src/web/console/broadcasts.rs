//! Broadcasts in the console: schedule one, read its ingest URL and key,
//! rotate the key, end it, and look after its replay.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::broadcast::{
    Broadcast, BroadcastDetails, BroadcastState, Renditions, ReplayState, DESCRIPTION_MAX,
    TITLE_MAX,
};
use crate::domain::{BroadcastId, Community, CommunityId, Estate, EstateId, Permission};
use crate::live::Live;
use crate::store::BroadcastFilter;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// What the schedule form sends. Estates arrive as `estate-{id}=on`.
#[derive(Deserialize, Default, Clone)]
pub struct BroadcastForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    starts_at: String,
    community: Option<i64>,
    rendition_low: Option<String>,
    rendition_audio: Option<String>,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

impl BroadcastForm {
    fn of(broadcast: &Broadcast, zone: chrono_tz::Tz) -> Self {
        Self {
            title: broadcast.title.clone(),
            description: broadcast.description.clone(),
            starts_at: broadcast
                .starts_at
                .with_timezone(&zone)
                .format("%Y-%m-%dT%H:%M")
                .to_string(),
            community: Some(broadcast.community_id.0),
            rendition_low: broadcast.renditions.low.then(|| "on".into()),
            rendition_audio: broadcast.renditions.audio_only.then(|| "on".into()),
            rest: broadcast
                .estates
                .iter()
                .map(|e| (format!("estate-{e}"), "on".into()))
                .collect(),
        }
    }

    fn estates(&self) -> Vec<EstateId> {
        self.rest
            .keys()
            .filter_map(|k| k.strip_prefix("estate-")?.parse().ok().map(EstateId))
            .collect()
    }

    fn has_estate(&self, id: EstateId) -> bool {
        self.rest.contains_key(&format!("estate-{id}"))
    }

    /// The checked details, or the translated problem to show.
    fn details(&self, staff: &Staff) -> Result<BroadcastDetails, String> {
        let ctx = &staff.ctx;
        let community = staff
            .account
            .scope()
            .community()
            .or(self.community.map(CommunityId))
            .ok_or_else(|| ctx.t("broadcasts.pick_community").into_owned())?;
        let starts_at = local_datetime(&self.starts_at, ctx.time_zone)
            .ok_or_else(|| ctx.t("broadcasts.bad_start").into_owned())?;
        let renditions = Renditions {
            low: self.rendition_low.is_some(),
            audio_only: self.rendition_audio.is_some(),
        };
        BroadcastDetails::new(
            community,
            &self.title,
            &self.description,
            starts_at,
            self.estates(),
            renditions,
        )
        .map_err(|(field, e)| {
            let label = match field {
                "title" => "broadcasts.title_field",
                _ => "broadcasts.description",
            };
            field_problem(ctx, label, &e)
        })
    }
}

/// A `datetime-local` value read in the community's time zone.
fn local_datetime(value: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M").ok()?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The communities the viewer may schedule for, each with its estates.
async fn places(
    state: &AppState,
    staff: &Staff,
) -> Result<Vec<(Community, Vec<Estate>)>, WebError> {
    super::estates_in_scope(state, &staff.account).await
}

pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let form = BroadcastForm {
        starts_at: (Utc::now() + chrono::Duration::hours(1))
            .with_timezone(&staff.ctx.time_zone)
            .format("%Y-%m-%dT%H:00")
            .to_string(),
        ..Default::default()
    };
    list_page(&state, &staff, done.done.as_deref(), &form, None).await
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    done: Option<&str>,
    form: &BroadcastForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let filter = BroadcastFilter {
        community: staff.account.scope().community(),
        limit: 200,
        ..Default::default()
    };
    let broadcasts = state.store.list_broadcasts(&filter).await?;
    let may_schedule = staff.account.role.can(Permission::RunBroadcasts);
    let body = html! {
        h1 { (ctx.t("broadcasts.title")) }
        (flash(ctx, done))
        @if staff.account.role.can(Permission::ModerateChat) {
            p { a href="/console/chat/words" { (ctx.t("chat_ui.words.title")) } }
        }
        @if broadcasts.is_empty() {
            p class="muted" { (ctx.t("broadcasts.none")) }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("broadcasts.title_field")) }
                        th scope="col" { (ctx.t("broadcasts.starts_at")) }
                        th scope="col" { (ctx.t("broadcasts.state")) }
                        th scope="col" { (ctx.t("broadcasts.replay")) }
                    } }
                    tbody {
                        @for b in &broadcasts {
                            tr {
                                th scope="row" { a href={"/console/broadcasts/" (b.id)} { (b.title) } }
                                td { (ctx.local_time(b.starts_at)) }
                                td { (ctx.t(&format!("live.state.{}", b.state.as_str()))) }
                                td { (ctx.t(&format!("broadcasts.replay_state.{}", b.replay.as_str()))) }
                            }
                        }
                    }
                }
            }
        }
        @if may_schedule {
            section class="panel" aria-labelledby="schedule" {
                h2 id="schedule" { (ctx.t("broadcasts.new")) }
                (form_error(problem))
                form method="post" action="/console/broadcasts" class="stack" {
                    (form_token(ctx))
                    (details_fields(staff, &places(state, staff).await?, form))
                    button type="submit" { (ctx.t("broadcasts.schedule")) }
                }
            }
        }
    };
    Ok(console_page(staff, &ctx.t("broadcasts.title"), body))
}

fn details_fields(
    staff: &Staff,
    places: &[(Community, Vec<Estate>)],
    form: &BroadcastForm,
) -> Markup {
    let ctx = &staff.ctx;
    let choose_community = staff.account.scope().community().is_none() && places.len() > 1;
    html! {
        label for="title" { (ctx.t("broadcasts.title_field")) }
        input id="title" name="title" type="text" required minlength="2" maxlength=(TITLE_MAX) value=(form.title);
        label for="description" { (ctx.t("broadcasts.description")) }
        textarea id="description" name="description" rows="4" maxlength=(DESCRIPTION_MAX) { (form.description) }
        label for="starts_at" { (ctx.t("broadcasts.starts_at")) }
        input id="starts_at" name="starts_at" type="datetime-local" required value=(form.starts_at);
        @if choose_community {
            label for="community" { (ctx.t("broadcasts.community")) }
            select id="community" name="community" {
                @for (community, _) in places {
                    option value=(community.id) selected[form.community == Some(community.id.0)] { (community.name) }
                }
            }
        } @else if let Some((community, _)) = places.first() {
            input type="hidden" name="community" value=(community.id);
        }
        fieldset {
            legend { (ctx.t("broadcasts.estates")) }
            p class="hint" { (ctx.t("broadcasts.estates_hint")) }
            @for (community, estates) in places {
                @for estate in estates {
                    @let id = format!("estate-{}", estate.id);
                    label class="check" {
                        input type="checkbox" name=(id) checked[form.has_estate(estate.id)];
                        @if choose_community { (community.name) " · " }
                        (estate.name)
                    }
                }
            }
        }
        fieldset {
            legend { (ctx.t("broadcasts.renditions")) }
            label class="check" {
                input type="checkbox" name="rendition_low" checked[form.rendition_low.is_some()];
                (ctx.t("broadcasts.rendition_low"))
            }
            label class="check" {
                input type="checkbox" name="rendition_audio" checked[form.rendition_audio.is_some()];
                (ctx.t("broadcasts.rendition_audio"))
            }
        }
    }
}

pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<BroadcastForm>,
) -> Result<HttpResponse, WebError> {
    let details = match form.data.details(&staff) {
        Ok(details) => details,
        Err(problem) => {
            let page = list_page(&state, &staff, None, &form.data, Some(&problem)).await?;
            return Ok(sent_back(page));
        }
    };
    let broadcast = state
        .live
        .schedule(&staff.account, &details)
        .await
        .map_err(WebError::from)?;
    Ok(see_other(&format!(
        "/console/broadcasts/{}?done=created",
        broadcast.id
    )))
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let broadcast = visible(&state, &staff, *id).await?;
    let form = BroadcastForm::of(&broadcast, staff.ctx.time_zone);
    show_page(
        &state,
        &staff,
        &broadcast,
        done.done.as_deref(),
        &form,
        None,
    )
    .await
}

/// The broadcast, if it belongs to the viewer's community (or they have none).
pub(super) async fn visible(
    state: &AppState,
    staff: &Staff,
    id: i64,
) -> Result<Broadcast, WebError> {
    let broadcast = state.store.broadcast(BroadcastId(id)).await?;
    if !staff.account.scope().reaches(broadcast.community_id.into()) {
        return Err(WebError::NotFound);
    }
    Ok(broadcast)
}

async fn show_page(
    state: &AppState,
    staff: &Staff,
    broadcast: &Broadcast,
    done: Option<&str>,
    form: &BroadcastForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let who = &staff.account;
    let base = format!("/console/broadcasts/{}", broadcast.id);
    let ingest = state
        .live
        .ingest_url(&state.settings.server.public_url, state.rtmp_port);
    let may_run = Live::may_run(who, broadcast.community_id);
    let may_replays = Live::may_manage_replays(who, broadcast.community_id);
    let status = state.live.hub().status(broadcast);
    let body = html! {
        p { a href="/console/broadcasts" { "← " (ctx.t("broadcasts.title")) } }
        h1 { (broadcast.title) }
        (flash(ctx, done))
        @if let Some(error) = &broadcast.recording_error {
            p class="alert alert-error" role="alert" { (ctx.t("broadcasts.recording_failed")) " " (error) }
        }
        @if let (Some(problem), true) = (&broadcast.ingest_problem, broadcast.state != BroadcastState::Ended) {
            div class="alert alert-error" role="alert" data-ingest-problem {
                p {
                    strong {
                        (ctx.lang.tf("broadcasts.ingest_problem.refused", &[(
                            "time",
                            &broadcast.ingest_problem_at.map(|at| ctx.local_time(at)).unwrap_or_default(),
                        )]))
                    }
                }
                p { (ctx.lang.tf(problem.message_key(), &[("codec", &problem.codec())])) }
            }
        }
        dl class="facts" {
            dt { (ctx.t("broadcasts.state")) }
            dd { (ctx.t(&format!("live.state.{}", status.state.as_str()))) }
            dt { (ctx.t("broadcasts.starts_at")) }
            dd { (ctx.local_time(broadcast.starts_at)) }
            dt { (ctx.t("live.viewers")) }
            dd { (status.viewers) }
            dt { (ctx.t("broadcasts.replay")) }
            dd { (ctx.t(&format!("broadcasts.replay_state.{}", broadcast.replay.as_str()))) }
            dt { (ctx.t("broadcasts.watch_page")) }
            dd { a href={"/live/" (broadcast.id)} { "/live/" (broadcast.id) } }
        }
        @if who.role.can(Permission::ModerateChat) || who.role.can(Permission::AnswerQuestions) {
            p class="actions" {
                @if who.role.can(Permission::ModerateChat) {
                    a class="button" href={(base) "/moderate"} { (ctx.t("chat_ui.moderate.title")) }
                }
                @if who.role.can(Permission::AnswerQuestions) {
                    a class="button" href={(base) "/answer"} { (ctx.t("chat_ui.answer.title")) }
                }
            }
        }
        @if Live::may_see_key(who, broadcast) && broadcast.state != BroadcastState::Ended {
            section class="panel" aria-labelledby="ingest" {
                h2 id="ingest" { (ctx.t("broadcasts.ingest")) }
                p { (ctx.t("broadcasts.obs_hint")) }
                dl class="facts" {
                    dt { (ctx.t("broadcasts.server")) }
                    dd { code data-ingest-url { (ingest) } }
                    dt { (ctx.t("broadcasts.key")) }
                    dd { code class="reg-code" data-stream-key { (broadcast.stream_key) } }
                }
                p class="hint" { (ctx.t("broadcasts.keyframe_hint")) }
                form method="post" action={(base) "/key"} class="inline" {
                    (form_token(ctx))
                    button type="submit" class="secondary" { (ctx.t("broadcasts.rotate_key")) }
                }
            }
        }
        @if may_run && broadcast.state != BroadcastState::Ended {
            (go_live_panel(ctx, broadcast.id, &base))
        }
        @if (may_run || may_replays) && broadcast.state != BroadcastState::Ended {
            form method="post" action={(base) "/end"} class="inline" {
                (form_token(ctx))
                button type="submit" class="danger" { (ctx.t("broadcasts.end")) }
            }
        }
        @if may_replays && broadcast.state == BroadcastState::Ended {
            (replay_actions(ctx, &base, broadcast.replay))
        }
        @if may_run && broadcast.state != BroadcastState::Ended {
            section class="panel" aria-labelledby="edit" {
                h2 id="edit" { (ctx.t("broadcasts.edit")) }
                (form_error(problem))
                form method="post" action=(base) class="stack" {
                    (form_token(ctx))
                    (details_fields(staff, &places(state, staff).await?, form))
                    button type="submit" { (ctx.t("action.save")) }
                }
            }
        }
    };
    Ok(console_page(staff, &broadcast.title, body))
}

/// "从浏览器开播": the camera and microphone of this phone or computer
/// publish over WHIP (`go-live.js`); ending here ends the broadcast.
fn go_live_panel(ctx: &crate::web::context::Ctx, id: BroadcastId, base: &str) -> Markup {
    html! {
        section class="panel go-live" aria-labelledby="go-live" data-go-live
            data-endpoint={"/live/" (id) "/whip"}
            data-csrf=(ctx.form_token())
            data-label-idle=(ctx.t("go_live.state.idle"))
            data-label-starting=(ctx.t("go_live.state.starting"))
            data-label-on-air=(ctx.t("go_live.state.on_air"))
            data-label-reconnecting=(ctx.t("go_live.state.reconnecting"))
            data-label-ended=(ctx.t("go_live.state.ended"))
            data-label-failed=(ctx.t("go_live.state.failed"))
            data-label-no-camera=(ctx.t("go_live.no_camera"))
            data-label-mute=(ctx.t("go_live.mute"))
            data-label-unmute=(ctx.t("go_live.unmute"))
            data-label-confirm-stop=(ctx.t("go_live.confirm_stop"))
        {
            h2 id="go-live" { (ctx.t("go_live.title")) }
            p class="hint" { (ctx.t("go_live.hint")) }
            video class="go-live-preview" data-preview muted playsinline autoplay hidden {}
            p class="go-live-state" role="status" aria-live="polite" data-state="idle" { (ctx.t("go_live.state.idle")) }
            p class="actions" {
                button type="button" data-start { (ctx.t("go_live.start")) }
                button type="button" class="secondary" data-switch hidden { (ctx.t("go_live.switch_camera")) }
                button type="button" class="secondary" data-mute aria-pressed="false" hidden { (ctx.t("go_live.mute")) }
            }
            form method="post" action={(base) "/end"} class="inline" data-stop-form hidden {
                (form_token(ctx))
                button type="submit" class="danger" data-stop { (ctx.t("go_live.stop")) }
            }
            script src=(crate::web::assets::asset_url("js/go-live.js")) defer {}
        }
    }
}

fn replay_actions(ctx: &crate::web::context::Ctx, base: &str, replay: ReplayState) -> Markup {
    let actions: &[(&str, &str)] = match replay {
        ReplayState::Published => &[("unpublish", "secondary"), ("delete", "danger")],
        ReplayState::Unpublished => &[("publish", "secondary"), ("delete", "danger")],
        _ => &[],
    };
    html! {
        @for (action, class) in actions {
            form method="post" action={(base) "/replay"} class="inline" {
                (form_token(ctx))
                input type="hidden" name="action" value=(action);
                button type="submit" class=(class) { (ctx.t(&format!("broadcasts.replay_action.{action}"))) }
            }
        }
    }
}

pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<BroadcastForm>,
) -> Result<HttpResponse, WebError> {
    let broadcast = visible(&state, &staff, *id).await?;
    let details = match form.data.details(&staff) {
        Ok(details) => details,
        Err(problem) => {
            let page =
                show_page(&state, &staff, &broadcast, None, &form.data, Some(&problem)).await?;
            return Ok(sent_back(page));
        }
    };
    state
        .live
        .update(&staff.account, broadcast.id, &details)
        .await
        .map_err(WebError::from)?;
    Ok(see_other(&format!(
        "/console/broadcasts/{}?done=updated",
        broadcast.id
    )))
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn rotate_key(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    let broadcast = visible(&state, &staff, *id).await?;
    state
        .live
        .rotate_key(&staff.account, broadcast.id)
        .await
        .map_err(WebError::from)?;
    Ok(see_other(&format!(
        "/console/broadcasts/{}?done=key_rotated",
        broadcast.id
    )))
}

pub async fn end(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    let broadcast = visible(&state, &staff, *id).await?;
    state
        .live
        .end(&staff.account, broadcast.id)
        .await
        .map_err(WebError::from)?;
    Ok(see_other(&format!(
        "/console/broadcasts/{}?done=ended",
        broadcast.id
    )))
}

#[derive(Deserialize)]
pub struct ReplayAction {
    #[serde(default)]
    action: String,
}

pub async fn replay(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<ReplayAction>,
) -> Result<HttpResponse, WebError> {
    let broadcast = visible(&state, &staff, *id).await?;
    let to = match form.data.action.as_str() {
        "publish" => ReplayState::Published,
        "unpublish" => ReplayState::Unpublished,
        "delete" => ReplayState::Deleted,
        _ => {
            return Err(WebError::BadInput {
                key: "error.bad_request",
            })
        }
    };
    state
        .live
        .set_replay(&staff.account, broadcast.id, to)
        .await
        .map_err(WebError::from)?;
    Ok(see_other(&format!(
        "/console/broadcasts/{}?done=updated",
        broadcast.id
    )))
}
