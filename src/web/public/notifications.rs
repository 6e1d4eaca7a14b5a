//! "新进展": the resident's records that have news for them, newest first,
//! each one tap from its record page; and "全部标为已读". The header badge
//! (`Ctx::unread_records`) leads here.

use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::record::Record;
use crate::domain::RecordId;
use crate::feedback::notifications;
use crate::store::RecordUpdate;
use crate::web::context::{Ctx, SignedIn};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{form_token, page};
use crate::web::record_view::state_badge;
use crate::web::AppState;

/// How much of a staff note the list shows; the record page has all of it.
const NOTE_PREVIEW_CHARS: usize = 60;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// `GET /me/notifications`.
pub async fn list(
    state: web::Data<AppState>,
    me: SignedIn,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let ctx = &me.ctx;
    let updates = notifications::updates(state.store.as_ref(), &me.account).await?;
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("notifications.title")) }
            @if done.done.as_deref() == Some("all_read") {
                p class="alert alert-ok" role="status" { (ctx.t("notifications.all_read_done")) }
            }
            @if updates.is_empty() {
                p class="muted" { (ctx.t("notifications.none")) }
            } @else {
                p { (ctx.t("notifications.lead")) }
                ul class="notifications" {
                    @for update in &updates { li { (update_item(ctx, update)) } }
                }
                form method="post" action="/me/notifications/seen" {
                    (form_token(ctx))
                    button type="submit" class="secondary" { (ctx.t("notifications.mark_all")) }
                }
            }
            p { a href="/me/records" { (ctx.t("notifications.all_records")) } }
        }
    };
    Ok(page(ctx, &ctx.t("notifications.title"), body))
}

/// One record's news as a single large link: number and title, what
/// happened (and, after a note, where the record stands), when, and the
/// start of the note if staff wrote one.
fn update_item(ctx: &Ctx, update: &RecordUpdate) -> Markup {
    let event = &update.latest;
    html! {
        a class="notification" href={"/me/notifications/" (update.record_id)} {
            span class="notification-record" {
                code { (update.number) } " " strong { (update.title) }
            }
            span class="notification-what" {
                (ctx.t(notifications::what_happened_key(event)))
                // A note leaves the state as it was: say where the record stands.
                @if event.to_state.is_none() { " " (state_badge(ctx, update.state)) }
            }
            @if !event.note.is_empty() {
                span class="notification-note" { "“" (preview(&event.note)) "”" }
            }
            time datetime=(event.at.to_rfc3339()) { (ctx.local_time(event.at)) }
        }
    }
}

/// The first line of a note, cut to a phone screen's width.
fn preview(note: &str) -> String {
    let line = note.lines().next().unwrap_or_default();
    let mut chars = line.chars();
    let head: String = chars.by_ref().take(NOTE_PREVIEW_CHARS).collect();
    if chars.next().is_some() || note.lines().nth(1).is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// `GET /me/notifications/{id}`: the links of the list. Marks the record
/// read and opens it; someone else's record is, as everywhere, not found.
pub async fn open(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let record = state.store.record(RecordId(*id)).await?;
    if record.reporter_id != Some(me.account.id) {
        return Err(WebError::NotFound);
    }
    notifications::mark_seen(state.store.as_ref(), me.account.id, &record, Utc::now()).await?;
    Ok(see_other(&format!("/me/records/{}", record.id)))
}

#[derive(Deserialize)]
pub struct Empty {}

/// `POST /me/notifications/seen`: "全部标为已读".
pub async fn mark_all(
    state: web::Data<AppState>,
    me: SignedIn,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    notifications::mark_all_seen(state.store.as_ref(), &me.account, Utc::now()).await?;
    Ok(see_other("/me/notifications?done=all_read"))
}

/// For a page about to show `record` to the viewer: if they filed it, it is
/// read now, and the badge of this very page counts without it (a second
/// query only when there was news at all). Anyone else: nothing happens.
pub async fn seen_now(state: &AppState, ctx: &mut Ctx, record: &Record) -> Result<(), WebError> {
    let Some(viewer) = &ctx.viewer else {
        return Ok(());
    };
    if record.reporter_id != Some(viewer.id) {
        return Ok(());
    }
    notifications::mark_seen(state.store.as_ref(), viewer.id, record, Utc::now()).await?;
    if ctx.unread_records > 0 {
        ctx.unread_records = notifications::badge_count(state.store.as_ref(), viewer).await;
    }
    Ok(())
}

/// "有新进展", beside an unread record in a list of the resident's records.
pub fn unread_marker(ctx: &Ctx) -> Markup {
    html! { span class="badge new-update" { (ctx.t("notifications.marker")) } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_note_is_cut_and_marked() {
        assert_eq!(preview("已联系电梯维保"), "已联系电梯维保");
        assert_eq!(preview("第一行\n第二行"), "第一行…");
        let long = "很".repeat(NOTE_PREVIEW_CHARS + 5);
        let cut = preview(&long);
        assert_eq!(cut.chars().count(), NOTE_PREVIEW_CHARS + 1);
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn note_text_is_escaped() {
        let update = RecordUpdate {
            record_id: RecordId(1),
            number: "XF-2026-000001".into(),
            title: "<b>标题</b>".into(),
            state: crate::domain::record::RecordState::Accepted,
            latest: crate::domain::record::RecordEvent {
                seq: 2,
                at: Utc::now(),
                actor_name: "staff".into(),
                actor_id: None,
                action: "accept".into(),
                from_state: None,
                to_state: None,
                note: "<script>alert(1)</script>".into(),
                public: true,
                published: false,
                rating: None,
                assignee: None,
            },
        };
        let ctx = Ctx {
            lang: crate::i18n::Lang::Zh,
            viewer: None,
            csrf_token: String::new(),
            here: "/me/notifications".into(),
            time_zone: chrono_tz::Asia::Shanghai,
            unread_records: 0,
        };
        let html = update_item(&ctx, &update).into_string();
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("已受理"), "{html}");
    }
}
