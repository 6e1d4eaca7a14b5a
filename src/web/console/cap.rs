//! A community's emergency alert feeds (CAP 1.2 from the authorities), for
//! admins and the staff who may publish its emergencies: the feeds it
//! follows with their last poll, subscribing and unsubscribing, "poll now",
//! the recent alerts with what came of each, and the community's own line
//! shown with a notice an alert made.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::cap::Outcome;
use crate::domain::{Community, CommunityId, NoticeId};
use crate::signage::cap::{check_feed_url, LOCAL_LINE_MAX};
use crate::signage::SignageError;
use crate::store::{CapAlertRecord, CapFeed, StoreError};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

/// Alerts listed on the page.
const RECENT: i64 = 50;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

fn base(community: CommunityId) -> String {
    format!("/console/communities/{community}/cap-feeds")
}

fn outcome_key(outcome: &str) -> &'static str {
    match Outcome::parse(outcome) {
        Some(Outcome::Received) => "cap.outcome.received",
        Some(Outcome::Published) => "cap.outcome.published",
        Some(Outcome::Updated) => "cap.outcome.updated",
        Some(Outcome::Cancelled) => "cap.outcome.cancelled",
        Some(Outcome::Expired) => "cap.outcome.expired",
        Some(Outcome::OutOfArea) => "cap.outcome.out_of_area",
        Some(Outcome::NotActual) => "cap.outcome.not_actual",
        Some(Outcome::NotPublic) => "cap.outcome.not_public",
        Some(Outcome::Ignored) => "cap.outcome.ignored",
        Some(Outcome::Malformed) => "cap.outcome.malformed",
        Some(Outcome::Duplicate) => "cap.outcome.duplicate",
        Some(Outcome::UnknownReference) => "cap.outcome.unknown_reference",
        Some(Outcome::Failed) | None => "cap.outcome.failed",
    }
}

/// A feed's last poll as people read it.
fn poll_outcome(ctx: &Ctx, feed: &CapFeed) -> String {
    let Some(outcome) = &feed.last_outcome else {
        return ctx.t("cap.poll.never").into_owned();
    };
    if let Some(counts) = outcome.strip_prefix("ok:") {
        let (read, new) = counts.split_once(':').unwrap_or((counts, "0"));
        return ctx
            .lang
            .tf("cap.poll.ok", &[("read", &read), ("new", &new)]);
    }
    let why = outcome.strip_prefix("error:").unwrap_or(outcome);
    ctx.lang.tf("cap.poll.error", &[("why", &why)])
}

async fn page(
    state: &AppState,
    staff: &Staff,
    community: &Community,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let feeds = state.store.cap_feeds(Some(community.id)).await?;
    let alerts = state.store.cap_alerts(community.id, RECENT).await?;
    let mut lines = std::collections::HashMap::new();
    for notice in alerts.iter().filter_map(|a| a.notice_id) {
        if let std::collections::hash_map::Entry::Vacant(slot) = lines.entry(notice) {
            if let Some(made) = state.store.cap_notice(notice).await? {
                slot.insert(made.local_line);
            }
        }
    }
    let base = base(community.id);
    let body = html! {
        nav aria-label=(ctx.t("nav.breadcrumbs")) class="breadcrumbs" {
            ol { li { a href={"/console/communities/" (community.id)} { (community.name) } } }
        }
        h1 { (ctx.t("cap.title")) }
        p class="muted" { (ctx.t("cap.intro")) }
        (flash(ctx, done))
        (form_error(problem))
        section class="panel" aria-labelledby="cap-feeds" {
            h2 id="cap-feeds" { (ctx.t("cap.feeds")) }
            @if feeds.is_empty() { p class="muted" { (ctx.t("cap.no_feeds")) } }
            @else {
                table class="cap-feeds" {
                    thead { tr {
                        th scope="col" { (ctx.t("cap.feed_name")) }
                        th scope="col" { (ctx.t("cap.feed_url")) }
                        th scope="col" { (ctx.t("cap.last_poll")) }
                        th scope="col" { (ctx.t("cap.actions")) }
                    } }
                    tbody {
                        @for feed in &feeds {
                            tr data-feed=(feed.id) {
                                td { (feed.name) }
                                td class="cap-url" { code { (feed.url) } }
                                td {
                                    @if let Some(at) = feed.last_polled_at { (ctx.local_time(at)) " · " }
                                    span class="cap-poll-outcome" { (poll_outcome(ctx, feed)) }
                                }
                                td {
                                    form method="post" action={(base) "/poll"} class="inline-form" {
                                        (form_token(ctx))
                                        input type="hidden" name="feed" value=(feed.id);
                                        button type="submit" class="secondary" { (ctx.t("cap.poll_now")) }
                                    }
                                    form method="post" action={(base) "/remove"} class="inline-form" {
                                        (form_token(ctx))
                                        input type="hidden" name="feed" value=(feed.id);
                                        button type="submit" class="link" { (ctx.t("cap.remove")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action=(base) class="stacked" {
                (form_token(ctx))
                h3 { (ctx.t("cap.add")) }
                label for="cap-name" { (ctx.t("cap.feed_name")) }
                input id="cap-name" name="name" type="text" required maxlength="40";
                label for="cap-url" { (ctx.t("cap.feed_url")) }
                input id="cap-url" name="url" type="url" required maxlength="500" placeholder="https://";
                p class="hint" { (ctx.t("cap.feed_url_hint")) }
                button type="submit" { (ctx.t("cap.subscribe")) }
            }
        }
        section class="panel" aria-labelledby="cap-alerts" {
            h2 id="cap-alerts" { (ctx.t("cap.alerts")) }
            @if alerts.is_empty() { p class="muted" { (ctx.t("cap.no_alerts")) } }
            @else {
                table class="cap-alerts" {
                    thead { tr {
                        th scope="col" { (ctx.t("cap.received")) }
                        th scope="col" { (ctx.t("cap.alert")) }
                        th scope="col" { (ctx.t("cap.outcome")) }
                        th scope="col" { (ctx.t("cap.notice")) }
                    } }
                    tbody {
                        @for alert in &alerts { (alert_row(ctx, &base, alert, &lines)) }
                    }
                }
            }
        }
    };
    Ok(console_page(staff, &ctx.t("cap.title"), body))
}

fn alert_row(
    ctx: &Ctx,
    base: &str,
    alert: &CapAlertRecord,
    lines: &std::collections::HashMap<NoticeId, Option<String>>,
) -> Markup {
    let received = chrono::DateTime::parse_from_rfc3339(&alert.received_at)
        .map(|t| ctx.local_time(t.with_timezone(&Utc)))
        .unwrap_or_else(|_| alert.received_at.clone());
    html! {
        tr data-alert=(alert.id) data-outcome=(alert.outcome) {
            td { (received) }
            td {
                strong { (alert.headline) }
                br;
                span class="muted" { (alert.feed_name) " · " (alert.msg_type) " · " code { (alert.sender) " " (alert.identifier) } }
            }
            td class="cap-outcome" { (ctx.t(outcome_key(&alert.outcome))) }
            td {
                @if let Some(notice) = alert.notice_id {
                    a href={"/console/notices/" (notice)} { (ctx.t("cap.open_notice")) " #" (notice) }
                    @if let Some(line) = lines.get(&notice) {
                        form method="post" action={(base) "/local-line"} class="inline-form" {
                            (form_token(ctx))
                            input type="hidden" name="notice" value=(notice);
                            label for={"local-line-" (alert.id)} { (ctx.t("cap.local_line")) }
                            input id={"local-line-" (alert.id)} name="line" type="text" maxlength=(LOCAL_LINE_MAX)
                                value=[line.as_deref()] placeholder=(ctx.t("cap.local_line_example"));
                            button type="submit" class="secondary" { (ctx.t("action.save")) }
                        }
                    }
                }
            }
        }
    }
}

async fn community(state: &AppState, id: i64) -> Result<Community, WebError> {
    Ok(state.store.community(CommunityId(id)).await?)
}

async fn refuse(
    state: &AppState,
    staff: &Staff,
    community: &Community,
    key: &'static str,
) -> Result<HttpResponse, WebError> {
    let problem = staff.ctx.t(key).into_owned();
    Ok(sent_back(
        page(state, staff, community, None, Some(&problem)).await?,
    ))
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let community = community(&state, *id).await?;
    page(&state, &staff, &community, done.done.as_deref(), None).await
}

#[derive(Deserialize)]
pub struct FeedForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
}

pub async fn add(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<FeedForm>,
) -> Result<HttpResponse, WebError> {
    let community = community(&state, *id).await?;
    let name = match crate::domain::text::clean_line(&form.data.name, 2, 40) {
        Ok(name) => name,
        Err(e) => return refuse(&state, &staff, &community, e.message_key()).await,
    };
    let Some(url) = check_feed_url(&form.data.url) else {
        return refuse(&state, &staff, &community, "cap.error.url").await;
    };
    match state
        .store
        .create_cap_feed(
            &staff.actor(),
            community.id,
            &name,
            url.as_str(),
            staff.account.id,
            Utc::now(),
        )
        .await
    {
        Ok(_) => Ok(see_other(&format!("{}?done=created", base(community.id)))),
        Err(StoreError::Conflict) => {
            refuse(&state, &staff, &community, "cap.error.duplicate").await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct FeedChoice {
    #[serde(default)]
    feed: String,
}

/// The community's feed the form names; 400 when it names none, 404 when
/// it names another community's.
async fn chosen_feed(
    state: &AppState,
    community: &Community,
    raw: &str,
) -> Result<CapFeed, WebError> {
    let id: i64 = raw.trim().parse().map_err(|_| WebError::BadInput {
        key: "error.bad_request",
    })?;
    let feed = state.store.cap_feed(id).await?;
    if feed.community_id != community.id {
        return Err(WebError::NotFound);
    }
    Ok(feed)
}

pub async fn remove(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<FeedChoice>,
) -> Result<HttpResponse, WebError> {
    let community = community(&state, *id).await?;
    let feed = chosen_feed(&state, &community, &form.data.feed).await?;
    state
        .store
        .remove_cap_feed(&staff.actor(), feed.id, Utc::now())
        .await?;
    Ok(see_other(&format!("{}?done=updated", base(community.id))))
}

pub async fn poll_now(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<FeedChoice>,
) -> Result<HttpResponse, WebError> {
    let community = community(&state, *id).await?;
    let feed = chosen_feed(&state, &community, &form.data.feed).await?;
    state.store.schedule_cap_poll(feed.id, Utc::now()).await?;
    tracing::info!(feed = feed.id, by = %staff.account.username, "CAP poll asked for");
    Ok(see_other(&format!("{}?done=updated", base(community.id))))
}

#[derive(Deserialize)]
pub struct LocalLineForm {
    #[serde(default)]
    notice: String,
    #[serde(default)]
    line: String,
}

pub async fn set_local_line(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<LocalLineForm>,
) -> Result<HttpResponse, WebError> {
    let community = community(&state, *id).await?;
    let notice: i64 = form
        .data
        .notice
        .trim()
        .parse()
        .map_err(|_| WebError::BadInput {
            key: "error.bad_request",
        })?;
    let notice = NoticeId(notice);
    let belongs = state
        .store
        .notice(notice)
        .await
        .is_ok_and(|n| n.community_id == community.id);
    if !belongs {
        return Err(WebError::NotFound);
    }
    match state
        .signage
        .set_cap_local_line(&staff.account, notice, &form.data.line)
        .await
    {
        Ok(_) => Ok(see_other(&format!("{}?done=updated", base(community.id)))),
        Err(SignageError::BadText { error, .. }) => {
            refuse(&state, &staff, &community, error.message_key()).await
        }
        Err(SignageError::Forbidden) => Err(WebError::Forbidden),
        Err(SignageError::NotFound) => Err(WebError::NotFound),
        Err(SignageError::ChangedMeanwhile) => Err(WebError::Conflict {
            key: "signage.changed_meanwhile",
        }),
        Err(SignageError::Store(e)) => Err(e.into()),
        Err(e) => Err(WebError::BadInput {
            key: e.message_key(),
        }),
    }
}
