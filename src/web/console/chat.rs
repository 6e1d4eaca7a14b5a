//! Live Q&A in the console: a broadcast's moderation queue, the secretary's
//! answering console (big type, for a tablet beside the camera), and the
//! community's blocked words. Every page works with plain form posts;
//! `console-chat.js` keeps the lists live over the broadcast's socket and
//! sends the same forms without leaving the page.

use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use maud::{html, Markup};
use serde::Deserialize;
use serde_json::json;

use crate::chat::{ChatError, QuestionToRecord};
use crate::domain::broadcast::{Broadcast, BroadcastState};
use crate::domain::chat::{
    ChatSettings, Comment, CommentKind, CommentState, QuestionOrder, QuestionStatus, StaffComment,
    ANSWER_MAX, REASON_MAX, SLOW_MODE_MAX_SECONDS,
};
use crate::domain::record::RecordClass;
use crate::domain::{AccountId, CommentId, CommunityId, Permission};
use crate::feedback::CATEGORIES;
use crate::store::{BroadcastFilter, ChatAuthor, CommentFilter, CommentOrder};
use crate::web::assets::asset_url;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{console_page, form_error, form_token};
use crate::web::public::live_chat::{chat_error_message, chat_error_status, chat_failure};
use crate::web::record_view::category_name;
use crate::web::AppState;

use super::broadcasts::visible;

/// Time-out choices offered to moderators, in seconds (10 s to 24 h).
const TIMEOUTS: [u32; 7] = [10, 60, 300, 600, 3600, 6 * 3600, 86_400];

/// How many recently shown comments the moderation page lists.
const RECENT: i64 = 30;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// Success notes of these pages (`?done=key`); unknown keys show nothing.
fn chat_flash(ctx: &Ctx, done: Option<&str>) -> Markup {
    const KNOWN: &[&str] = &[
        "approved",
        "rejected",
        "redacted",
        "hidden",
        "merged",
        "timed_out",
        "banned",
        "hid_all",
        "settings",
        "words",
        "answering",
        "answered",
        "restored",
    ];
    html! {
        @if let Some(key) = done.filter(|k| KNOWN.contains(k)) {
            p class="alert alert-ok" role="status" { (ctx.t(&format!("chat_ui.flash.{key}"))) }
        }
    }
}

/// Scripts send the forms with `Accept: application/json` and get JSON back.
fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

/// A form that worked: back to the page with a note, or (scripts) the note.
fn worked(req: &HttpRequest, ctx: &Ctx, page: &str, done: &str) -> HttpResponse {
    if wants_json(req) {
        return HttpResponse::Ok().json(json!({
            "ok": true,
            "done": done,
            "message": ctx.t(&format!("chat_ui.flash.{done}")),
        }));
    }
    see_other(&format!("{page}?done={done}"))
}

/// A refusal to show a script: its key, words and status.
fn refused_json(status: StatusCode, key: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status).json(json!({ "ok": false, "error": key, "message": message }))
}

/// A page sent back with the refusal above it (a plain form post).
fn sent_back_with(status: StatusCode, page: Markup) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(page.into_string())
}

/// The broadcast, if it belongs to the viewer's community (or they have none).
async fn broadcast_of(state: &AppState, staff: &Staff, id: i64) -> Result<Broadcast, WebError> {
    visible(state, staff, id).await
}

/// The comment a form names, if it belongs to this broadcast.
async fn comment_of(
    state: &AppState,
    broadcast: &Broadcast,
    id: Option<i64>,
) -> Result<Comment, WebError> {
    let id = id.ok_or(WebError::BadInput {
        key: "error.bad_request",
    })?;
    let comment = state
        .chat
        .comment(CommentId(id))
        .await
        .map_err(chat_failure)?;
    if comment.broadcast_id != broadcast.id {
        return Err(WebError::NotFound);
    }
    Ok(comment)
}

fn kind_badge(ctx: &Ctx, kind: CommentKind) -> Markup {
    html! { span class="badge" { (ctx.t(&format!("chat_ui.badge.{}", kind.as_str()))) } }
}

fn duration_label(ctx: &Ctx, seconds: u32) -> String {
    match seconds {
        s if s >= 3600 => ctx.lang.tf("chat_ui.hours", &[("n", &(s / 3600))]),
        s if s >= 60 => ctx.lang.tf("chat_ui.minutes", &[("n", &(s / 60))]),
        s => ctx.lang.tf("chat_ui.seconds", &[("n", &s)]),
    }
}

// --- the moderation queue -------------------------------------------------

pub async fn moderate(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    moderate_page(&state, &staff, &broadcast, done.done.as_deref(), None).await
}

async fn moderate_page(
    state: &AppState,
    staff: &Staff,
    broadcast: &Broadcast,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let chat = &state.chat;
    let queue = chat
        .queue(&staff.account, broadcast.id)
        .await
        .map_err(chat_failure)?;
    let settings = chat.settings(broadcast.id).await.map_err(chat_failure)?;
    let questions = chat
        .questions(broadcast.id, QuestionOrder::Time, true)
        .await
        .map_err(chat_failure)?;
    let recent = recent(state, broadcast).await?;
    let merge_targets: Vec<&Comment> = questions.iter().filter(|q| q.is_open_question()).collect();
    let base = format!("/console/broadcasts/{}", broadcast.id);
    let can_record = staff.account.role.can(Permission::WorkRecords);
    let can_answer = staff.account.role.can(Permission::AnswerQuestions);
    let body = html! {
        p { a href=(base) { "← " (broadcast.title) } }
        h1 { (ctx.t("chat_ui.moderate.title")) }
        p class="actions" {
            a class="button secondary" href={"/live/" (broadcast.id)} { (ctx.t("chat_ui.watch_page")) }
            @if can_answer {
                a class="button secondary" href={(base) "/answer"} { (ctx.t("chat_ui.answer.title")) }
            }
            a class="button secondary" href={"/console/chat/words?community=" (broadcast.community_id)} { (ctx.t("chat_ui.words.title")) }
        }
        (chat_flash(ctx, done))
        (form_error(problem))
        div data-console-chat="moderate" data-broadcast=(broadcast.id)
            data-label-handled=(ctx.t("chat_ui.moderate.handled"))
            data-label-handled-by=(ctx.t("chat_ui.moderate.handled_by"))
            data-label-failed=(ctx.t("chat_ui.js.send_failed"))
        {
            section aria-labelledby="queue-title" {
                h2 id="queue-title" { (ctx.t("chat_ui.moderate.queue")) " " span class="badge" data-queue-count { (queue.len()) } }
                p class="muted" data-queue-empty hidden[!queue.is_empty()] { (ctx.t("chat_ui.moderate.empty")) }
                ol class="queue" data-queue {
                    @for item in &queue {
                        (queue_item(ctx, &base, item, &merge_targets, can_record))
                    }
                }
            }
            section aria-labelledby="recent-title" {
                h2 id="recent-title" { (ctx.t("chat_ui.moderate.recent")) }
                @if recent.is_empty() {
                    p class="muted" { (ctx.t("chat_ui.no_comments")) }
                } @else {
                    ol class="queue" {
                        @for item in &recent {
                            (shown_item(ctx, &base, item, can_record))
                        }
                    }
                }
            }
        }
        (settings_form(ctx, &base, &settings))
        script src=(asset_url("js/live-socket.js")) defer {}
        script src=(asset_url("js/console-chat.js")) defer {}
    };
    Ok(console_page(
        staff,
        &format!("{} · {}", ctx.t("chat_ui.moderate.title"), broadcast.title),
        body,
    ))
}

/// The newest shown comments with their authors, newest first.
async fn recent(state: &AppState, broadcast: &Broadcast) -> Result<Vec<StaffComment>, WebError> {
    let shown = state
        .store
        .comments(&CommentFilter {
            states: vec![CommentState::Approved],
            unmerged_only: true,
            order: CommentOrder::Newest,
            limit: RECENT,
            ..CommentFilter::of(broadcast.id)
        })
        .await?;
    let mut ids: Vec<AccountId> = shown.iter().map(|c| c.author_id).collect();
    ids.sort();
    ids.dedup();
    let authors: HashMap<AccountId, ChatAuthor> = state
        .store
        .chat_authors(&ids)
        .await?
        .into_iter()
        .map(|a| (a.id, a))
        .collect();
    Ok(shown
        .into_iter()
        .map(|comment| {
            let author = authors.get(&comment.author_id);
            let place: Vec<&str> = author
                .map(|a| {
                    [&a.estate, &a.building, &a.unit_label]
                        .into_iter()
                        .filter_map(|part| part.as_deref())
                        .collect()
                })
                .unwrap_or_default();
            StaffComment {
                author_name: author.map(|a| a.display_name.clone()).unwrap_or_default(),
                author_place: (!place.is_empty()).then(|| place.join(" ")),
                comment,
            }
        })
        .collect())
}

/// Who wrote it, as staff see it: the real name and place, and whether the
/// public sees them as anonymous.
fn author_facts(ctx: &Ctx, item: &StaffComment) -> Markup {
    html! {
        strong { (item.author_name) }
        @if let Some(place) = &item.author_place { span { (place) } }
        @if item.anonymous {
            span class="badge warn" { (ctx.t("chat_ui.moderate.anonymous")) }
        } @else if item.public_name != item.author_name {
            span class="muted" { (ctx.lang.tf("chat_ui.moderate.shown_as", &[("name", &item.public_name)])) }
        }
        time datetime=(item.created_at.to_rfc3339()) { (ctx.local_time(item.created_at)) }
    }
}

fn action_form(ctx: &Ctx, base: &str, comment: CommentId, action: &str, body: Markup) -> Markup {
    html! {
        form method="post" action={(base) "/moderate"} data-enhance {
            (form_token(ctx))
            input type="hidden" name="comment" value=(comment);
            input type="hidden" name="action" value=(action);
            (body)
        }
    }
}

/// What may be done to the author: time out, ban, hide all they said.
fn author_actions(ctx: &Ctx, base: &str, item: &StaffComment) -> Markup {
    let id = item.id;
    html! {
        (action_form(ctx, base, id, "timeout", html! {
            label for={"timeout-" (id)} { (ctx.t("chat_ui.moderate.timeout_for")) }
            select id={"timeout-" (id)} name="seconds" {
                @for seconds in TIMEOUTS {
                    option value=(seconds) selected[seconds == 600] { (duration_label(ctx, seconds)) }
                }
            }
            label for={"timeout-reason-" (id)} class="visually-hidden" { (ctx.t("chat_ui.moderate.reason")) }
            input id={"timeout-reason-" (id)} name="reason" type="text" maxlength=(REASON_MAX) placeholder=(ctx.t("chat_ui.moderate.reason"));
            button type="submit" class="secondary" { (ctx.t("chat_ui.moderate.timeout")) }
        }))
        (action_form(ctx, base, id, "ban", html! {
            label for={"ban-reason-" (id)} class="visually-hidden" { (ctx.t("chat_ui.moderate.reason")) }
            input id={"ban-reason-" (id)} name="reason" type="text" maxlength=(REASON_MAX) placeholder=(ctx.t("chat_ui.moderate.reason"));
            button type="submit" class="danger" { (ctx.t("chat_ui.moderate.ban")) }
        }))
        (action_form(ctx, base, id, "hide_all", html! {
            button type="submit" class="danger" { (ctx.t("chat_ui.moderate.hide_all")) }
        }))
    }
}

fn record_form(ctx: &Ctx, base: &str, comment: &Comment) -> Markup {
    let id = comment.id;
    html! {
        @if let Some(record) = comment.record_id {
            p { a href={"/console/records/" (record)} { (ctx.t("chat_ui.moderate.record_made")) } }
        } @else {
            form method="post" action={(base) "/moderate/record"} {
                (form_token(ctx))
                input type="hidden" name="comment" value=(id);
                label for={"category-" (id)} { (ctx.t("record.category")) }
                select id={"category-" (id)} name="category" {
                    @for (code, _) in CATEGORIES { option value=(code) { (category_name(ctx, code)) } }
                }
                label for={"class-" (id)} { (ctx.t("record.class")) }
                select id={"class-" (id)} name="class" {
                    option value="" { (ctx.t("records.class_by_category")) }
                    @for c in RecordClass::ALL { option value=(c.as_str()) { (ctx.t(&format!("class.{}", c.as_str()))) } }
                }
                button type="submit" class="secondary" { (ctx.t("chat_ui.moderate.to_record")) }
            }
        }
    }
}

/// One held comment with everything a moderator may do with it.
fn queue_item(
    ctx: &Ctx,
    base: &str,
    item: &StaffComment,
    merge_targets: &[&Comment],
    can_record: bool,
) -> Markup {
    let id = item.id;
    let targets: Vec<&&Comment> = merge_targets.iter().filter(|q| q.id != id).collect();
    html! {
        li class="queue-item" id={"item-" (id)} data-item=(id) data-revision=(item.revision) {
            p class="queue-facts" {
                (kind_badge(ctx, item.kind))
                (author_facts(ctx, item))
                @for reason in &item.hold_reasons {
                    span class="badge danger" { (ctx.t(reason.message_key())) }
                }
            }
            p class="comment-body" { (item.body) }
            @if let Some(original) = &item.original_body {
                p class="queue-original" { (ctx.t("chat_ui.moderate.original")) " " (original) }
            }
            div class="queue-actions" {
                (action_form(ctx, base, id, "approve", html! {
                    button type="submit" { (ctx.t("chat_ui.moderate.approve")) }
                }))
                (action_form(ctx, base, id, "reject", html! {
                    label for={"reject-" (id)} { (ctx.t("chat_ui.moderate.reject_reason")) }
                    input id={"reject-" (id)} name="reason" type="text" maxlength=(REASON_MAX);
                    button type="submit" class="danger" { (ctx.t("chat_ui.moderate.reject")) }
                }))
                details {
                    summary { (ctx.t("chat_ui.moderate.more")) }
                    (action_form(ctx, base, id, "redact", html! {
                        label for={"redact-" (id)} { (ctx.t("chat_ui.moderate.redact_text")) }
                        textarea id={"redact-" (id)} name="body" rows="2" maxlength="500" { (item.body) }
                        button type="submit" class="secondary" { (ctx.t("chat_ui.moderate.redact")) }
                    }))
                    @if item.kind == CommentKind::Question && !targets.is_empty() {
                        (action_form(ctx, base, id, "merge", html! {
                            label for={"merge-" (id)} { (ctx.t("chat_ui.moderate.merge_into")) }
                            select id={"merge-" (id)} name="into" {
                                @for q in &targets {
                                    option value=(q.id) { (truncated(&q.body, 40)) " (" (ctx.lang.tf("chat_ui.js.votes", &[("n", &q.votes)])) ")" }
                                }
                            }
                            button type="submit" class="secondary" { (ctx.t("chat_ui.moderate.merge")) }
                        }))
                    }
                    (author_actions(ctx, base, item))
                    @if can_record && item.kind == CommentKind::Question {
                        (record_form(ctx, base, item))
                    }
                }
            }
            p class="queue-outcome" data-outcome role="status" {}
        }
    }
}

/// A comment everyone can see, with what may be done after the fact.
fn shown_item(ctx: &Ctx, base: &str, item: &StaffComment, can_record: bool) -> Markup {
    let id = item.id;
    html! {
        li class="queue-item shown" data-shown=(id) {
            p class="queue-facts" {
                (kind_badge(ctx, item.kind))
                (author_facts(ctx, item))
                @if item.kind == CommentKind::Question {
                    span class="badge" { (ctx.lang.tf("chat_ui.js.votes", &[("n", &item.votes)])) }
                }
            }
            p class="comment-body" { (item.body) }
            div class="queue-actions" {
                (action_form(ctx, base, id, "hide", html! {
                    button type="submit" class="secondary" { (ctx.t("chat_ui.moderate.hide")) }
                }))
                details {
                    summary { (ctx.t("chat_ui.moderate.more")) }
                    (author_actions(ctx, base, item))
                    @if can_record && item.kind == CommentKind::Question {
                        (record_form(ctx, base, item))
                    }
                }
            }
            p class="queue-outcome" data-outcome role="status" {}
        }
    }
}

fn truncated(text: &str, chars: usize) -> String {
    let mut out: String = text.chars().take(chars).collect();
    if text.chars().nth(chars).is_some() {
        out.push('…');
    }
    out
}

fn settings_form(ctx: &Ctx, base: &str, settings: &ChatSettings) -> Markup {
    html! {
        section class="panel narrow" aria-labelledby="chat-settings" {
            h2 id="chat-settings" { (ctx.t("chat_ui.settings.title")) }
            form method="post" action={(base) "/moderate/settings"} class="stack" {
                (form_token(ctx))
                label class="check" {
                    input type="checkbox" name="open" checked[settings.open];
                    (ctx.t("chat_ui.settings.open"))
                }
                label class="check" {
                    input type="checkbox" name="questions_premoderated" checked[settings.questions_premoderated];
                    (ctx.t("chat_ui.settings.questions_premoderated"))
                }
                label class="check" {
                    input type="checkbox" name="chat_premoderated" checked[settings.chat_premoderated];
                    (ctx.t("chat_ui.settings.chat_premoderated"))
                }
                label for="slow-mode" { (ctx.t("chat_ui.settings.slow_mode")) }
                p class="hint" id="slow-mode-hint" { (ctx.t("chat_ui.settings.slow_mode_hint")) }
                input id="slow-mode" name="slow_mode_seconds" type="number" min="0" max=(SLOW_MODE_MAX_SECONDS)
                    value=(settings.slow_mode_seconds) aria-describedby="slow-mode-hint";
                button type="submit" { (ctx.t("action.save")) }
            }
        }
    }
}

/// What the queue's forms send; which fields matter depends on `action`.
#[derive(Deserialize)]
pub struct ModerateForm {
    comment: Option<i64>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    body: String,
    into: Option<i64>,
    seconds: Option<u32>,
}

pub async fn moderate_act(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<i64>,
    form: CheckedForm<ModerateForm>,
) -> Result<HttpResponse, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    let form = form.data;
    let comment = comment_of(&state, &broadcast, form.comment).await?;
    let chat = &state.chat;
    let who = &staff.account;
    let author = comment.author_id;
    let result: Result<&str, ChatError> = match form.action.as_str() {
        "approve" => chat.approve(who, comment.id).await.map(|_| "approved"),
        "reject" => chat
            .reject(who, comment.id, &form.reason)
            .await
            .map(|_| "rejected"),
        "redact" => chat
            .redact(who, comment.id, &form.body)
            .await
            .map(|_| "redacted"),
        "hide" => chat.hide(who, comment.id).await.map(|_| "hidden"),
        "merge" => {
            let into = form.into.ok_or(WebError::BadInput {
                key: "error.bad_request",
            })?;
            chat.merge(who, comment.id, CommentId(into))
                .await
                .map(|_| "merged")
        }
        "timeout" => chat
            .timeout(
                who,
                author,
                broadcast.id,
                form.seconds.unwrap_or(600),
                &form.reason,
            )
            .await
            .map(|_| "timed_out"),
        "ban" => chat
            .ban(who, author, broadcast.id, &form.reason)
            .await
            .map(|_| "banned"),
        "hide_all" => chat
            .hide_all_of(who, author, broadcast.id)
            .await
            .map(|_| "hid_all"),
        _ => {
            return Err(WebError::BadInput {
                key: "error.bad_request",
            })
        }
    };
    let page = format!("/console/broadcasts/{}/moderate", broadcast.id);
    match result {
        Ok(done) => Ok(worked(&req, &staff.ctx, &page, done)),
        Err(e) => refusal(&state, &staff, &req, &broadcast, e, Page::Moderate).await,
    }
}

/// Which page a refused form is sent back to.
enum Page {
    Moderate,
    Answer,
}

/// A refused action: the words (e.g. "已由 X 处理") above the page, or as JSON.
async fn refusal(
    state: &AppState,
    staff: &Staff,
    req: &HttpRequest,
    broadcast: &Broadcast,
    error: ChatError,
    page: Page,
) -> Result<HttpResponse, WebError> {
    let status = chat_error_status(&error);
    if status.is_server_error() {
        return Err(chat_failure(error));
    }
    let message = chat_error_message(&staff.ctx, &error);
    if wants_json(req) {
        return Ok(refused_json(status, error.message_key(), &message));
    }
    let markup = match page {
        Page::Moderate => moderate_page(state, staff, broadcast, None, Some(&message)).await?,
        Page::Answer => answer_page(state, staff, broadcast, None, Some(&message)).await?,
    };
    Ok(sent_back_with(status, markup))
}

/// The settings form: checkboxes arrive as `name=on`, or not at all.
#[derive(Deserialize)]
pub struct SettingsForm {
    open: Option<String>,
    questions_premoderated: Option<String>,
    chat_premoderated: Option<String>,
    #[serde(default)]
    slow_mode_seconds: String,
}

pub async fn save_settings(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<i64>,
    form: CheckedForm<SettingsForm>,
) -> Result<HttpResponse, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    let form = form.data;
    let slow = match form.slow_mode_seconds.trim() {
        "" => Some(0),
        s => s.parse::<u32>().ok(),
    };
    let settings = slow.and_then(|slow_mode_seconds| {
        ChatSettings {
            open: form.open.is_some(),
            questions_premoderated: form.questions_premoderated.is_some(),
            chat_premoderated: form.chat_premoderated.is_some(),
            slow_mode_seconds,
        }
        .checked()
    });
    let Some(settings) = settings else {
        let message = staff.ctx.lang.tf(
            "chat_ui.settings.bad_slow_mode",
            &[("n", &SLOW_MODE_MAX_SECONDS)],
        );
        let page = moderate_page(&state, &staff, &broadcast, None, Some(&message)).await?;
        return Ok(sent_back_with(StatusCode::BAD_REQUEST, page));
    };
    match state
        .chat
        .update_settings(&staff.account, broadcast.id, settings)
        .await
    {
        Ok(()) => Ok(worked(
            &req,
            &staff.ctx,
            &format!("/console/broadcasts/{}/moderate", broadcast.id),
            "settings",
        )),
        Err(e) => refusal(&state, &staff, &req, &broadcast, e, Page::Moderate).await,
    }
}

/// `/console/moderation`: where a moderator or the secretary starts — the
/// broadcasts on air and coming up first, then the latest ended ones, each
/// with its moderation queue and (for the secretary) its answering console.
pub async fn index(state: web::Data<AppState>, staff: Staff) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let mut current = state
        .store
        .list_broadcasts(&BroadcastFilter {
            community: staff.account.scope().community(),
            states: vec![
                BroadcastState::Live,
                BroadcastState::Reconnecting,
                BroadcastState::Scheduled,
            ],
            upcoming_first: true,
            limit: 50,
            ..Default::default()
        })
        .await?;
    // On air before scheduled; the sort is stable, so each keeps its order.
    current.sort_by_key(|b| b.state == BroadcastState::Scheduled);
    let ended = state
        .store
        .list_broadcasts(&BroadcastFilter {
            community: staff.account.scope().community(),
            states: vec![BroadcastState::Ended],
            limit: 10,
            ..Default::default()
        })
        .await?;
    let may_answer = staff.account.role.can(Permission::AnswerQuestions);
    let body = html! {
        h1 { (ctx.t("chat_ui.index.title")) }
        p { (ctx.t("chat_ui.index.intro")) }
        p { a href="/console/chat/words" { (ctx.t("chat_ui.words.title")) } }
        @if current.is_empty() && ended.is_empty() {
            p class="muted" { (ctx.t("chat_ui.index.none")) }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("broadcasts.title_field")) }
                        th scope="col" { (ctx.t("broadcasts.starts_at")) }
                        th scope="col" { (ctx.t("broadcasts.state")) }
                        th scope="col" { (ctx.t("chat_ui.index.actions")) }
                    } }
                    tbody {
                        @for b in current.iter().chain(&ended) {
                            tr {
                                th scope="row" { (b.title) }
                                td { (ctx.local_time(b.starts_at)) }
                                td { (ctx.t(&format!("live.state.{}", b.state.as_str()))) }
                                td {
                                    a class="button secondary" href={"/console/broadcasts/" (b.id) "/moderate"} {
                                        (ctx.t("chat_ui.moderate.title"))
                                    }
                                    @if may_answer {
                                        " "
                                        a class="button secondary" href={"/console/broadcasts/" (b.id) "/answer"} {
                                            (ctx.t("chat_ui.answer.title"))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("chat_ui.index.title"), body))
}

#[derive(Deserialize)]
pub struct RecordForm {
    comment: Option<i64>,
    #[serde(default)]
    category: String,
    #[serde(default)]
    class: String,
}

/// Turns a question into a feedback record and opens the record.
pub async fn to_record(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<i64>,
    form: CheckedForm<RecordForm>,
) -> Result<HttpResponse, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    let form = form.data;
    let comment = comment_of(&state, &broadcast, form.comment).await?;
    if !CATEGORIES.iter().any(|(code, _)| *code == form.category) {
        return Err(WebError::BadInput {
            key: "error.bad_request",
        });
    }
    let class = match form.class.as_str() {
        "" => None,
        c => Some(RecordClass::parse(c).ok_or(WebError::BadInput {
            key: "error.bad_request",
        })?),
    };
    let request = QuestionToRecord {
        category: form.category,
        class,
        ..Default::default()
    };
    match state
        .chat
        .to_record(&staff.account, comment.id, request)
        .await
    {
        Ok(record) => {
            let location = format!("/console/records/{record}?done=created");
            if wants_json(&req) {
                return Ok(HttpResponse::Ok().json(json!({
                    "ok": true,
                    "location": location,
                    "message": staff.ctx.t("chat_ui.moderate.record_made"),
                })));
            }
            Ok(see_other(&location))
        }
        Err(e) => refusal(&state, &staff, &req, &broadcast, e, Page::Moderate).await,
    }
}

// --- the answering console -------------------------------------------------

pub async fn answer(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    answer_page(&state, &staff, &broadcast, done.done.as_deref(), None).await
}

async fn answer_page(
    state: &AppState,
    staff: &Staff,
    broadcast: &Broadcast,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let questions = state
        .chat
        .questions(broadcast.id, QuestionOrder::Votes, true)
        .await
        .map_err(chat_failure)?;
    let base = format!("/console/broadcasts/{}", broadcast.id);
    let now = questions
        .iter()
        .find(|q| q.status == QuestionStatus::Answering);
    let open: Vec<&Comment> = questions
        .iter()
        .filter(|q| q.status == QuestionStatus::Open)
        .collect();
    let answered: Vec<&Comment> = questions
        .iter()
        .filter(|q| q.status == QuestionStatus::Answered)
        .collect();
    let can_moderate = staff.account.role.can(Permission::ModerateChat);
    let can_record = staff.account.role.can(Permission::WorkRecords);
    let body = html! {
        p { a href=(base) { "← " (broadcast.title) } }
        h1 { (ctx.t("chat_ui.answer.title")) }
        p class="actions" {
            a class="button secondary" href={"/live/" (broadcast.id)} { (ctx.t("chat_ui.watch_page")) }
            @if can_moderate {
                a class="button secondary" href={(base) "/moderate"} { (ctx.t("chat_ui.moderate.title")) }
            }
        }
        (chat_flash(ctx, done))
        (form_error(problem))
        div class="answer-board" data-console-chat="answer" data-broadcast=(broadcast.id)
            data-label-failed=(ctx.t("chat_ui.js.send_failed"))
        {
            div data-answer-board {
                @if let Some(q) = now {
                    section class="answer-now" aria-labelledby="answer-now" {
                        h2 id="answer-now" { span class="badge live" { (ctx.t("chat_ui.answering_now")) } }
                        p class="comment-body" { (q.body) }
                        p class="queue-facts" {
                            span { (answer_name(ctx, q)) }
                            span class="vote-count" { (ctx.lang.tf("chat_ui.js.votes", &[("n", &q.votes)])) }
                        }
                        form method="post" action={(base) "/answer"} class="stack" data-enhance {
                            (form_token(ctx))
                            input type="hidden" name="comment" value=(q.id);
                            input type="hidden" name="action" value="answered";
                            label for="written-answer" { (ctx.t("chat_ui.answer.written")) }
                            textarea id="written-answer" name="answer" rows="3" maxlength=(ANSWER_MAX) {}
                            button type="submit" { (ctx.t("chat_ui.answer.done")) }
                        }
                    }
                }
                section aria-labelledby="open-questions" {
                    h2 id="open-questions" { (ctx.t("chat_ui.answer.open")) " " span class="badge" { (open.len()) } }
                    @if open.is_empty() {
                        p class="muted" { (ctx.t("chat_ui.no_questions")) }
                    } @else {
                        ol class="question-list" {
                            @for q in &open {
                                li class="question" data-question=(q.id) {
                                    div class="question-text" {
                                        p class="comment-head" { span class="comment-name" { (answer_name(ctx, q)) } }
                                        p class="comment-body" { (q.body) }
                                    }
                                    div class="question-votes" {
                                        span class="vote-count" { (ctx.lang.tf("chat_ui.js.votes", &[("n", &q.votes)])) }
                                        form method="post" action={(base) "/answer"} data-enhance {
                                            (form_token(ctx))
                                            input type="hidden" name="comment" value=(q.id);
                                            input type="hidden" name="action" value="answer_now";
                                            button type="submit" data-answer-now=(q.id) { (ctx.t("chat_ui.answer.now")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                section aria-labelledby="answered-questions" {
                    h2 id="answered-questions" { (ctx.t("chat_ui.answer.answered")) " " span class="badge" { (answered.len()) } }
                    @if answered.is_empty() {
                        p class="muted" { (ctx.t("chat_ui.answer.none_answered")) }
                    } @else {
                        ol class="question-list" {
                            @for q in &answered {
                                li class="question answered" data-question=(q.id) {
                                    div class="question-text" {
                                        p class="comment-body" { (q.body) }
                                        @if let Some(answer) = &q.answer {
                                            p class="question-answer" { (ctx.lang.tf("chat_ui.js.written_answer", &[("answer", answer)])) }
                                        }
                                        @if can_record {
                                            (record_form(ctx, &base, q))
                                        }
                                    }
                                    div class="question-votes" {
                                        form method="post" action={(base) "/answer"} data-enhance {
                                            (form_token(ctx))
                                            input type="hidden" name="comment" value=(q.id);
                                            input type="hidden" name="action" value="restore";
                                            button type="submit" class="secondary" { (ctx.t("chat_ui.answer.restore")) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        script src=(asset_url("js/live-socket.js")) defer {}
        script src=(asset_url("js/console-chat.js")) defer {}
    };
    Ok(console_page(
        staff,
        &format!("{} · {}", ctx.t("chat_ui.answer.title"), broadcast.title),
        body,
    ))
}

/// The name the secretary reads out: the public one (never the real name of
/// an anonymous author on a screen beside the camera).
fn answer_name(ctx: &Ctx, q: &Comment) -> String {
    if q.anonymous {
        ctx.t("chat_ui.js.anonymous_name").into_owned()
    } else {
        q.public_name.clone()
    }
}

#[derive(Deserialize)]
pub struct AnswerForm {
    comment: Option<i64>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    answer: String,
}

pub async fn answer_act(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    id: web::Path<i64>,
    form: CheckedForm<AnswerForm>,
) -> Result<HttpResponse, WebError> {
    let broadcast = broadcast_of(&state, &staff, *id).await?;
    let form = form.data;
    let comment = comment_of(&state, &broadcast, form.comment).await?;
    let chat = &state.chat;
    let who = &staff.account;
    let written = Some(form.answer.trim()).filter(|a| !a.is_empty());
    let result = match form.action.as_str() {
        "answer_now" => chat.answer_now(who, comment.id).await.map(|_| "answering"),
        "answered" => chat
            .answered(who, comment.id, written)
            .await
            .map(|_| "answered"),
        "restore" => chat.restore(who, comment.id).await.map(|_| "restored"),
        _ => {
            return Err(WebError::BadInput {
                key: "error.bad_request",
            })
        }
    };
    let page = format!("/console/broadcasts/{}/answer", broadcast.id);
    match result {
        Ok(done) => Ok(worked(&req, &staff.ctx, &page, done)),
        Err(e) => refusal(&state, &staff, &req, &broadcast, e, Page::Answer).await,
    }
}

// --- blocked words ---------------------------------------------------------

#[derive(Deserialize)]
pub struct WordsQuery {
    community: Option<i64>,
    done: Option<String>,
}

/// The community whose list is edited: the viewer's own, or (staff of all
/// communities) the one asked for, else the first.
async fn words_community(
    state: &AppState,
    staff: &Staff,
    asked: Option<i64>,
) -> Result<Option<CommunityId>, WebError> {
    if let Some(own) = staff.account.scope().community() {
        return Ok(Some(own));
    }
    let communities = state.store.list_communities().await?;
    Ok(match asked {
        Some(id) => Some(
            communities
                .iter()
                .find(|c| c.id.0 == id)
                .map(|c| c.id)
                .ok_or(WebError::NotFound)?,
        ),
        None => communities.first().map(|c| c.id),
    })
}

pub async fn words(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<WordsQuery>,
) -> Result<Markup, WebError> {
    let community = words_community(&state, &staff, query.community).await?;
    words_page(&state, &staff, community, query.done.as_deref(), None).await
}

async fn words_page(
    state: &AppState,
    staff: &Staff,
    community: Option<CommunityId>,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let choose = if staff.account.scope().community().is_none() {
        state.store.list_communities().await?
    } else {
        Vec::new()
    };
    let words = match community {
        Some(community) => state
            .chat
            .blocked_words(community)
            .await
            .map_err(chat_failure)?,
        None => Vec::new(),
    };
    let names: HashMap<CommunityId, &str> =
        choose.iter().map(|c| (c.id, c.name.as_str())).collect();
    let body = html! {
        h1 { (ctx.t("chat_ui.words.title")) }
        (chat_flash(ctx, done))
        (form_error(problem))
        @if choose.len() > 1 {
            form method="get" action="/console/chat/words" class="filters" {
                label for="words-community" { (ctx.t("broadcasts.community")) }
                select id="words-community" name="community" {
                    @for c in &choose {
                        option value=(c.id) selected[Some(c.id) == community] { (c.name) }
                    }
                }
                button type="submit" class="secondary" { (ctx.t("chat_ui.words.show")) }
            }
        }
        @if let Some(community) = community {
            section class="panel word-list" aria-labelledby="words-form" {
                h2 id="words-form" {
                    (ctx.t("chat_ui.words.list"))
                    @if let Some(name) = names.get(&community) { " · " (name) }
                }
                p class="hint" id="words-hint" { (ctx.t("chat_ui.words.hint")) }
                form method="post" action="/console/chat/words" class="stack" {
                    (form_token(ctx))
                    input type="hidden" name="community" value=(community);
                    label for="words" { (ctx.t("chat_ui.words.list")) }
                    textarea id="words" name="words" rows="16" aria-describedby="words-hint" {
                        @for word in &words { (word) "\n" }
                    }
                    button type="submit" { (ctx.t("action.save")) }
                }
            }
        } @else {
            p class="muted" { (ctx.t("chat_ui.words.no_community")) }
        }
    };
    Ok(console_page(staff, &ctx.t("chat_ui.words.title"), body))
}

#[derive(Deserialize)]
pub struct WordsForm {
    community: Option<i64>,
    #[serde(default)]
    words: String,
}

pub async fn save_words(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<WordsForm>,
) -> Result<HttpResponse, WebError> {
    let form = form.data;
    let community = words_community(&state, &staff, form.community)
        .await?
        .ok_or(WebError::BadInput {
            key: "error.bad_request",
        })?;
    match state
        .chat
        .set_blocked_words(&staff.account, community, &form.words)
        .await
    {
        Ok(_) => Ok(see_other(&format!(
            "/console/chat/words?community={community}&done=words"
        ))),
        Err(e) if chat_error_status(&e).is_client_error() => {
            let message = chat_error_message(&staff.ctx, &e);
            let page = words_page(&state, &staff, Some(community), None, Some(&message)).await?;
            Ok(sent_back_with(chat_error_status(&e), page))
        }
        Err(e) => Err(chat_failure(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_questions_are_cut_for_the_merge_list() {
        assert_eq!(truncated("电梯", 40), "电梯");
        assert_eq!(truncated("一二三四五", 3), "一二三…");
    }

    #[test]
    fn time_outs_stay_within_ten_seconds_and_a_day() {
        assert!(TIMEOUTS
            .iter()
            .all(|s| crate::domain::chat::TIMEOUT_SECONDS.contains(s)));
    }
}
