//! "新进展": the resident's records that have news for them, newest first,
//! each one tap from its record page; and "全部标为已读". The header badge
//! (`Ctx::unread_records`) leads here.
//!
//! Reading never changes anything by itself: a GET is safe, so that another
//! site's `<img src=…>` cannot clear a resident's news. News is marked read
//! by a POST carrying the form token — opening it from this list (each item
//! is a button), "标为已读" on the record page, or acting on the record.

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
                    @for update in &updates { li { (open_form(ctx, update)) } }
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

/// One record's news as a single large button: it marks the news read and
/// opens the record (`open`).
fn open_form(ctx: &Ctx, update: &RecordUpdate) -> Markup {
    html! {
        form method="post" action={"/me/notifications/" (update.record_id)} class="notification-form" {
            (form_token(ctx))
            input type="hidden" name="seq" value=(update.latest.seq);
            button type="submit" class="notification" { (update_item(ctx, update)) }
        }
    }
}

/// What one record's news says: number and title, what happened (and,
/// after a note, where the record stands), when, and the start of the note
/// if staff wrote one.
fn update_item(ctx: &Ctx, update: &RecordUpdate) -> Markup {
    let event = &update.latest;
    html! {
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

/// The viewer's own record, or not found (someone else's record, as
/// everywhere, does not exist for them).
async fn own_record(state: &AppState, me: &SignedIn, id: i64) -> Result<Record, WebError> {
    let record = state.store.record(RecordId(id)).await?;
    if record.reporter_id != Some(me.account.id) {
        return Err(WebError::NotFound);
    }
    Ok(record)
}

/// `GET /me/notifications/{id}`: an old link of the list. Opens the record
/// and changes nothing (see the module's note).
pub async fn show(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let record = own_record(&state, &me, *id).await?;
    Ok(see_other(&format!("/me/records/{}", record.id)))
}

#[derive(Deserialize)]
pub struct SeenForm {
    /// The latest event the page showed; absent: everything so far.
    seq: Option<i64>,
}

/// `POST /me/notifications/{id}`: an item of the list or "标为已读" on the
/// record page. Marks the record read up to what the page showed, then opens it.
pub async fn open(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: CheckedForm<SeenForm>,
) -> Result<HttpResponse, WebError> {
    let record = own_record(&state, &me, *id).await?;
    let seq = form.data.seq.unwrap_or(record.version);
    notifications::mark_seen(
        state.store.as_ref(),
        me.account.id,
        &record,
        seq,
        Utc::now(),
    )
    .await?;
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

/// The news the viewer has not marked read on `record`, if they filed it
/// (one more query, only when their badge counts anything at all).
pub async fn news_on(
    state: &AppState,
    ctx: &Ctx,
    record: &Record,
) -> Result<Option<RecordUpdate>, WebError> {
    let Some(viewer) = &ctx.viewer else {
        return Ok(None);
    };
    if record.reporter_id != Some(viewer.id) || ctx.unread_records == 0 {
        return Ok(None);
    }
    Ok(notifications::updates(state.store.as_ref(), viewer)
        .await?
        .into_iter()
        .find(|u| u.record_id == record.id))
}

/// At the top of the resident's record page: what is new, and "标为已读".
pub fn news_panel(ctx: &Ctx, news: &RecordUpdate) -> Markup {
    let event = &news.latest;
    html! {
        section class="record-news" aria-labelledby="record-news" {
            h2 id="record-news" { (ctx.t("notifications.news_here")) }
            p {
                strong class="notification-what" { (ctx.t(notifications::what_happened_key(event))) }
                " " time datetime=(event.at.to_rfc3339()) { (ctx.local_time(event.at)) }
            }
            form method="post" action={"/me/notifications/" (news.record_id)} {
                (form_token(ctx))
                input type="hidden" name="seq" value=(event.seq);
                button type="submit" class="secondary" { (ctx.t("notifications.mark_read")) }
            }
        }
    }
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
        let ctx = Ctx::bare(crate::i18n::Lang::Zh, "/me/notifications");
        let html = update_item(&ctx, &update).into_string();
        assert!(
            !html.contains("<script>") && !html.contains("<b>"),
            "{html}"
        );
        assert!(html.contains("已受理"), "{html}");
    }
}
