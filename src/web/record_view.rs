//! Pieces shared by the resident's and the staff's views of a feedback record.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::{html, Markup};

use crate::domain::record::{PublicRecord, Record, RecordAction, RecordEvent, RecordState};
use crate::feedback::escalation::EscalationTarget;
use crate::feedback::sla::{SlaPhase, SlaStatus};
use crate::store::{Department, RecordPhoto};

use super::context::Ctx;
use super::error::WebError;
use super::AppState;

pub fn state_badge(ctx: &Ctx, state: RecordState) -> Markup {
    let tone = match state {
        RecordState::Resolved | RecordState::Closed => "ok",
        RecordState::Escalated => "danger",
        s if s.is_final() => "muted",
        _ => "",
    };
    html! { span class={"badge state " (tone)} { (ctx.t(&format!("state.{}", state.as_str()))) } }
}

/// The title anyone may read: the resident's own (masked) if the filing form
/// told them it is public, else the category and the place ("报修 · 阳光花园 3号楼").
pub fn public_title(record: &PublicRecord, place: &str, lang: crate::i18n::Lang) -> String {
    match &record.title {
        Some(title) => title.clone(),
        None => {
            let category = lang.t(&format!("category.{}", record.category));
            if place.is_empty() {
                category.into_owned()
            } else {
                format!("{category} · {place}")
            }
        }
    }
}

pub fn category_name(ctx: &Ctx, code: &str) -> String {
    ctx.t(&format!("category.{code}")).into_owned()
}

/// "还剩 12 分钟" / "已超时 3 分钟" / "已达成", highlighted when due soon or late.
pub fn sla_badge(ctx: &Ctx, status: &SlaStatus) -> Markup {
    let minutes = |d: chrono::Duration| {
        d.num_minutes()
            .abs()
            .max(if d.num_seconds() != 0 { 1 } else { 0 })
    };
    let (tone, text) = match status.phase {
        SlaPhase::Met { .. } if status.breached => ("warn", ctx.t("sla.met_late").into_owned()),
        SlaPhase::Met { .. } => ("ok", ctx.t("sla.met").into_owned()),
        SlaPhase::Stopped { .. } => ("muted", ctx.t("sla.stopped").into_owned()),
        _ if status.breached => (
            "danger",
            ctx.lang.tf(
                "sla.overdue",
                &[("n", &human_minutes(ctx, minutes(status.left())))],
            ),
        ),
        SlaPhase::Paused => (
            "muted",
            ctx.lang.tf(
                "sla.paused",
                &[("n", &human_minutes(ctx, minutes(status.left())))],
            ),
        ),
        SlaPhase::Running { due_soon, .. } => (
            if due_soon { "warn" } else { "" },
            ctx.lang.tf(
                "sla.left",
                &[("n", &human_minutes(ctx, minutes(status.left())))],
            ),
        ),
    };
    html! { span class={"badge sla " (tone)} { (text) } }
}

pub fn human_minutes(ctx: &Ctx, minutes: i64) -> String {
    if minutes >= 60 * 24 {
        ctx.lang.tf(
            "time.days_hours",
            &[("d", &(minutes / (60 * 24))), ("h", &((minutes / 60) % 24))],
        )
    } else if minutes >= 60 {
        ctx.lang.tf(
            "time.hours_minutes",
            &[("h", &(minutes / 60)), ("m", &(minutes % 60))],
        )
    } else {
        ctx.lang.tf("time.minutes", &[("m", &minutes)])
    }
}

/// The record's facts: number, category, place, when filed.
pub fn record_facts(ctx: &Ctx, record: &Record, place: &str) -> Markup {
    html! {
        dl class="facts" {
            dt { (ctx.t("record.number")) } dd { code { (record.number) } }
            dt { (ctx.t("record.state")) } dd { (state_badge(ctx, record.state)) }
            dt { (ctx.t("record.category")) } dd { (category_name(ctx, &record.category)) }
            dt { (ctx.t("record.class")) } dd { (ctx.t(&format!("class.{}", record.class.as_str()))) }
            dt { (ctx.t("record.place")) } dd { (place) @if !record.location.is_empty() { " · " (record.location) } }
            dt { (ctx.t("record.filed")) } dd { (ctx.local_time(record.created_at)) }
            @if let Some(assignee) = &record.assignee {
                dt { (ctx.t("record.assignee")) } dd { (assignee) }
            }
        }
        div class="record-text" {
            @for line in record.description.lines() { p { (line) } }
        }
    }
}

/// The photos a timeline shows beside the events they came with, and where
/// this viewer fetches them (a path under which `{id}` is the full picture
/// and `{id}/thumb` its thumbnail).
pub struct TimelinePhotos<'a> {
    pub photos: &'a [RecordPhoto],
    pub base: String,
}

/// "联席会议" or "部门：街道城管科".
pub fn target_title(ctx: &Ctx, departments: &[Department], target: EscalationTarget) -> String {
    match target {
        EscalationTarget::JointMeeting => ctx.t("escalation.target.meeting").into_owned(),
        EscalationTarget::Department(id) => {
            let name = departments
                .iter()
                .find(|d| d.id == id)
                .map_or_else(|| id.to_string(), |d| d.name.clone());
            ctx.lang
                .tf("escalation.target.department", &[("name", &name)])
        }
    }
}

/// Where each escalation of the record went and why, in words, by the seq
/// of its event ("超时 2 小时，已上报：联席会议").
pub async fn escalation_notes(
    state: &AppState,
    ctx: &Ctx,
    record: &Record,
) -> Result<HashMap<i64, String>, WebError> {
    let rows = state
        .store
        .escalations(&[record.id])
        .await?
        .remove(&record.id)
        .unwrap_or_default();
    if rows.is_empty() {
        return Ok(HashMap::new());
    }
    let departments = state.store.departments(record.community_id).await?;
    Ok(rows
        .into_iter()
        .map(|e| {
            let target = EscalationTarget::parse(&e.target)
                .map_or_else(|| e.target.clone(), |t| target_title(ctx, &departments, t));
            let text = match (e.reason.as_str(), e.overdue_minutes) {
                ("breach", Some(m)) => ctx.lang.tf(
                    "escalation.note.breach",
                    &[("n", &human_minutes(ctx, m.max(0))), ("target", &target)],
                ),
                _ => ctx
                    .lang
                    .tf("escalation.note.manual", &[("target", &target)]),
            };
            (e.seq, text)
        })
        .collect())
}

/// Who did it: a person's name, or the system for what the watcher does.
fn actor_of(ctx: &Ctx, e: &RecordEvent) -> String {
    if e.actor_id.is_none() && e.actor_name == "system" {
        ctx.t("record.actor.system").into_owned()
    } else {
        e.actor_name.clone()
    }
}

/// The history, newest last, each event with its photos, who it was handed
/// to and where an escalation went. Residents see only public events.
pub fn timeline(
    ctx: &Ctx,
    events: &[RecordEvent],
    include_internal: bool,
    photos: &TimelinePhotos<'_>,
    escalations: &HashMap<i64, String>,
) -> Markup {
    html! {
        ol class="timeline" {
            @for e in events.iter().filter(|e| include_internal || e.public) {
                li class=[(!e.public).then_some("internal")] {
                    (time_tag(ctx, e.at))
                    " " strong { (actor_of(ctx, e)) } " "
                    (ctx.t(&format!("action.record.{}", e.action)))
                    @if let Some(to) = e.to_state { " → " (state_badge(ctx, to)) }
                    @if let Some(note) = escalations.get(&e.seq) { div class="escalation-note" { (note) } }
                    @if include_internal {
                        @if let Some(who) = &e.assignee { div class="assignee" { (ctx.lang.tf("record.handed_to", &[("name", who)])) } }
                    }
                    @if let Some(rating) = e.rating { " " span class="rating" { (ctx.lang.tf("record.rating_n", &[("n", &rating)])) } }
                    @if !e.public { " " span class="badge muted" { (ctx.t("record.internal")) } }
                    @if include_internal && e.published { " " span class="badge" { (ctx.t("record.published")) } }
                    @if !e.note.is_empty() {
                        div class="note" { @for line in e.note.lines() { p { (line) } } }
                    }
                    (event_photos(ctx, e, include_internal, photos))
                }
            }
        }
    }
}

/// The file picker for photos on a record form (the form must be sent as
/// `multipart/form-data`).
pub fn photo_input(ctx: &Ctx, id: &str) -> Markup {
    use super::record_photos::{ACCEPTED_TYPES, PHOTOS_FIELD};
    let hint = format!("{id}-hint");
    html! {
        label for=(id) { (ctx.t("record_photos.label")) }
        input id=(id) name=(PHOTOS_FIELD) type="file" multiple accept=(ACCEPTED_TYPES) aria-describedby=(hint);
        p class="hint" id=(hint) { (ctx.lang.tf("record_photos.hint", &[("n", &crate::feedback::photos::MAX_PHOTOS)])) }
    }
}

/// Thumbnails of the photos posted with event `e`, each a link to the
/// full picture.
fn event_photos(
    ctx: &Ctx,
    e: &RecordEvent,
    include_internal: bool,
    photos: &TimelinePhotos<'_>,
) -> Markup {
    let shown: Vec<&RecordPhoto> = photos
        .photos
        .iter()
        .filter(|p| p.seq == e.seq && (include_internal || p.public))
        .collect();
    if shown.is_empty() {
        return html! {};
    }
    html! {
        ul class="record-photos" aria-label=(ctx.t("record_photos.title")) {
            @for (n, photo) in shown.iter().enumerate() {
                @let full = format!("{}/{}", photos.base, photo.id);
                li {
                    a href=(full) target="_blank" rel="noopener" title=(ctx.t("record_photos.open")) {
                        img src={(full) "/thumb"} alt=(ctx.lang.tf("record_photos.alt", &[("n", &(n + 1))]))
                            width=(photo.width) height=(photo.height) loading="lazy" decoding="async";
                    }
                }
            }
        }
    }
}

fn time_tag(ctx: &Ctx, at: DateTime<Utc>) -> Markup {
    html! { time datetime=(at.to_rfc3339()) { (ctx.local_time(at)) } }
}

/// The step a record form asked for: none (only a note), or a known action.
pub fn submitted_action(raw: &str) -> Result<Option<RecordAction>, super::error::WebError> {
    match raw {
        "" => Ok(None),
        a => RecordAction::parse(a)
            .map(Some)
            .ok_or(super::error::WebError::BadInput {
                key: "error.bad_request",
            }),
    }
}

/// For a record that came from a live question: the question as it was
/// asked (public name and text) and a link to the replay where it was
/// answered. Nothing for other records.
pub async fn live_question(
    state: &super::AppState,
    ctx: &Ctx,
    record: &Record,
) -> Result<Markup, super::error::WebError> {
    if record.source != crate::domain::record::RecordSource::LiveQuestion {
        return Ok(html! {});
    }
    let Some((question, chapter)) = state
        .chat
        .question_of_record(record.id)
        .await
        .map_err(super::public::live_chat::chat_failure)?
    else {
        return Ok(html! {});
    };
    Ok(live_question_card(ctx, &question, chapter.as_ref()))
}

pub fn live_question_card(
    ctx: &Ctx,
    question: &crate::domain::chat::Comment,
    chapter: Option<&crate::domain::chat::Chapter>,
) -> Markup {
    use super::public::chat_pane::{chapter_seconds, offset_label};
    let name = if question.anonymous {
        ctx.t("chat_ui.js.anonymous_name").into_owned()
    } else {
        question.public_name.clone()
    };
    let watch = format!("/live/{}", question.broadcast_id);
    html! {
        section class="panel" aria-labelledby="live-question" data-live-question {
            h2 id="live-question" { (ctx.t("chat_ui.record.from_live")) }
            p class="comment-head" {
                span class="comment-name" { (name) }
                (time_tag(ctx, question.created_at))
            }
            blockquote class="comment-body" { (question.body) }
            @if let Some(chapter) = chapter {
                p {
                    a href={(watch) "#t=" (chapter_seconds(chapter.offset_ms))} data-chapter-link {
                        (ctx.lang.tf("chat_ui.record.watch_answer", &[("at", &offset_label(chapter.offset_ms))]))
                    }
                }
            } @else {
                p { a href=(watch) { (ctx.t("chat_ui.record.broadcast")) } }
            }
        }
    }
}
