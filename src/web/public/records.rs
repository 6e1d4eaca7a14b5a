//! Residents file records, follow them, confirm the fix with a rating or reopen.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use chrono::Utc;
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::record::{PublicRecord, Record, RecordAction, RecordSource, RecordState};
use crate::domain::{BuildingId, RecordId, Role};
use crate::feedback::photos::{PhotoError, PhotoViewer};
use crate::feedback::records::{Filing, RecordError, Records, Request};
use crate::feedback::{category_class, CATEGORIES};
use crate::store::{RecordFilter, StoreError};
use crate::web::console::records::place_of;
use crate::web::context::{Ctx, SignedIn};
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{flash, form_error, form_token, page};
use crate::web::record_photos::{
    photo_problem, photos_by_record, photos_by_tracking_link, FormWithPhotos,
};
use crate::web::record_view::{
    category_name, escalation_notes, live_question, photo_input, public_title, record_facts,
    state_badge, submitted_action, timeline, TimelinePhotos,
};
use crate::web::AppState;

#[derive(Deserialize, Default)]
pub struct ReportQuery {
    /// Set by the QR code on a lobby screen.
    building: Option<i64>,
}

#[derive(Deserialize, Default)]
pub struct ReportForm {
    #[serde(default)]
    category: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: String,
    building: Option<i64>,
}

/// Only residents file through this form; staff file phone calls in the console.
fn resident(me: &SignedIn) -> Result<(), WebError> {
    if me.account.role == Role::Resident {
        Ok(())
    } else {
        Err(WebError::Forbidden)
    }
}

pub async fn report_form(me: SignedIn, query: web::Query<ReportQuery>) -> Result<Markup, WebError> {
    resident(&me)?;
    let values = ReportForm {
        building: query.building,
        ..Default::default()
    };
    Ok(report_page(&me.ctx, &values, None))
}

fn report_page(ctx: &Ctx, values: &ReportForm, problem: Option<&str>) -> Markup {
    let body = html! {
        div class="narrow" {
            h1 { (ctx.t("report.title")) }
            p { (ctx.t("report.lead")) }
            (form_error(problem))
            form method="post" action="/report" class="stack" enctype="multipart/form-data" {
                (form_token(ctx))
                @if let Some(b) = values.building { input type="hidden" name="building" value=(b); }
                label for="category" { (ctx.t("record.category")) }
                select id="category" name="category" required {
                    @for (code, _) in CATEGORIES { option value=(code) selected[values.category == *code] { (category_name(ctx, code)) } }
                }
                label for="title" { (ctx.t("record.title")) }
                input id="title" name="title" type="text" required maxlength="60" value=(values.title) aria-describedby="title-hint";
                p class="hint" id="title-hint" { (ctx.t("report.title_hint")) " " strong { (ctx.t("report.title_public")) } }
                label for="description" { (ctx.t("record.description")) }
                textarea id="description" name="description" rows="6" required maxlength="2000" { (values.description) }
                label for="location" { (ctx.t("record.location")) }
                input id="location" name="location" type="text" maxlength="80" value=(values.location) aria-describedby="location-hint";
                p class="hint" id="location-hint" { (ctx.t("report.location_hint")) }
                (photo_input(ctx, "photos"))
                button type="submit" { (ctx.t("report.submit")) }
            }
        }
    };
    page(ctx, &ctx.t("report.title"), body)
}

pub async fn file(
    state: web::Data<AppState>,
    me: SignedIn,
    form: FormWithPhotos<ReportForm>,
) -> Result<HttpResponse, WebError> {
    resident(&me)?;
    let data = &form.data;
    let ctx = &me.ctx;
    // Whatever goes wrong, the resident gets the form back with what they typed.
    let back_with = |status: StatusCode, problem: String| {
        let values = ReportForm {
            category: data.category.clone(),
            title: data.title.clone(),
            description: data.description.clone(),
            location: data.location.clone(),
            building: data.building,
        };
        let mut response = HttpResponse::build(status);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.insert_header((header::RETRY_AFTER, 1));
        }
        Ok(response
            .content_type("text/html; charset=utf-8")
            .body(report_page(ctx, &values, Some(&problem)).into_string()))
    };
    let back = |problem: String| back_with(StatusCode::BAD_REQUEST, problem);
    let photos_chosen = form.photos.any_chosen();
    let failed = |busy: bool| {
        let (status, key) = if busy {
            (StatusCode::SERVICE_UNAVAILABLE, "report.busy_try_again")
        } else {
            (StatusCode::INTERNAL_SERVER_ERROR, "report.failed_try_again")
        };
        let mut problem = ctx.t(key).into_owned();
        if photos_chosen {
            problem = format!("{problem} {}", ctx.t("record_photos.choose_again"));
        }
        back_with(status, problem)
    };
    let store_failed = |e: StoreError| {
        if let StoreError::Busy = e {
            tracing::warn!("database busy; a report was sent back to be filed again");
        } else {
            tracing::error!(error = ?e, "a report could not be filed");
        }
        failed(matches!(e, StoreError::Busy))
    };
    let estate_id = me.account.estate_id.ok_or(WebError::Forbidden)?;
    // The building from the lobby QR code, if it is in the resident's estate; else their own.
    let own_building = match me.account.unit_id {
        Some(unit) => match state.store.unit(unit).await {
            Ok(unit) => Some(unit.building_id),
            Err(e) => return store_failed(e),
        },
        None => None,
    };
    let building_id = match data.building.map(BuildingId) {
        Some(b)
            if state
                .store
                .building(b)
                .await
                .is_ok_and(|b| b.estate_id == estate_id) =>
        {
            Some(b)
        }
        _ => own_building,
    };
    let Some(class) = category_class(&data.category) else {
        return back(ctx.t("error.bad_request").into_owned());
    };
    // Decoded only now: the sender is a resident, the form makes sense.
    let photos = match form.photos.prepare(&state).await {
        Ok(photos) => photos,
        Err(refused) => {
            let again = ctx.t("record_photos.choose_again");
            return back(format!("{} {again}", photo_problem(ctx, &refused)));
        }
    };
    let filing = Filing {
        estate_id,
        building_id,
        category: data.category.clone(),
        class,
        title: data.title.clone(),
        // The form says so next to the title (report.title_public).
        title_public: true,
        description: data.description.clone(),
        location: data.location.clone(),
        source: if data.building.is_some() {
            RecordSource::ScreenQr
        } else {
            RecordSource::Web
        },
        point: None,
    };
    match state
        .records
        .photos(&state.settings.data_dir)
        .file(&me.account, filing, &photos, Utc::now())
        .await
    {
        Ok((record, token)) => Ok(see_other(&format!(
            "/track/{token}?done=filed&number={}",
            record.number
        ))),
        Err(PhotoError::Record(RecordError::BadText { field, error })) => {
            back(field_problem(ctx, &format!("record.{field}"), &error))
        }
        Err(PhotoError::Record(RecordError::Store(e))) => store_failed(e),
        Err(PhotoError::Files(e)) => {
            tracing::error!(error = ?e, "a report's photos could not be kept");
            failed(false)
        }
        Err(e) => back(photo_problem(ctx, &e)),
    }
}

pub async fn mine(state: web::Data<AppState>, me: SignedIn) -> Result<Markup, WebError> {
    let ctx = &me.ctx;
    let records = state
        .store
        .list_records(&RecordFilter {
            reporter: Some(me.account.id),
            limit: 200,
            ..Default::default()
        })
        .await?;
    let unread =
        crate::feedback::notifications::unread_ids(state.store.as_ref(), &me.account).await?;
    let body = html! {
        h1 { (ctx.t("my_records.title")) }
        @if me.account.role == Role::Resident { p { a class="button" href="/report" { (ctx.t("report.title")) } } }
        @if records.is_empty() { p class="muted" { (ctx.t("my_records.none")) } }
        ul class="list records" {
            @for r in &records {
                li { a href={"/me/records/" (r.id)} { (r.number) " " (r.title) } " " (state_badge(ctx, r.state)) @if unread.contains(&r.id) { " " (super::notifications::unread_marker(ctx)) } }
            }
        }
    };
    Ok(page(ctx, &ctx.t("my_records.title"), body))
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn my_record(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let record = own_record(&state, &me, RecordId(*id)).await?;
    let photos = PhotosFor {
        viewer: PhotoViewer::Account(&me.account),
        base: photos_by_record(record.id),
    };
    resident_record_page(
        &state,
        &me.ctx,
        &record,
        true,
        done.done.as_deref(),
        None,
        photos,
    )
    .await
}

/// Whose photos a resident's record page shows, and where they come from.
struct PhotosFor<'a> {
    viewer: PhotoViewer<'a>,
    base: String,
}

async fn own_record(state: &AppState, me: &SignedIn, id: RecordId) -> Result<Record, WebError> {
    let record = state.store.record(id).await?;
    if record.reporter_id != Some(me.account.id) {
        // Not yours: as if it did not exist.
        return Err(WebError::NotFound);
    }
    Ok(record)
}

/// The private tracking link: readable by whoever holds it, changeable by the reporter.
pub async fn track(
    state: web::Data<AppState>,
    ctx: Ctx,
    token: web::Path<String>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let record = state
        .records
        .by_tracking_token(&token)
        .await
        .map_err(|_| WebError::NotFound)?;
    let is_reporter = ctx
        .viewer
        .as_ref()
        .is_some_and(|v| record.reporter_id == Some(v.id));
    // A forwarded link shows only what anyone may read of the record.
    if !Records::tracking_link_shows_all(ctx.viewer.as_ref(), &record) {
        return public_record_page(&state, &ctx, &record).await;
    }
    let photos = PhotosFor {
        viewer: PhotoViewer::TrackingLink,
        base: photos_by_tracking_link(&token),
    };
    resident_record_page(
        &state,
        &ctx,
        &record,
        is_reporter,
        done.done.as_deref(),
        None,
        photos,
    )
    .await
}

/// The record as anyone may read it: the public view (see
/// [`PublicRecord`]) and nothing else: no description, no location, no
/// photos, nobody's name, no note but staff replies written for publication.
async fn public_record_page(
    state: &AppState,
    ctx: &Ctx,
    record: &Record,
) -> Result<Markup, WebError> {
    let events = state.store.record_events(record.id).await?;
    let public = PublicRecord::of(record, &events);
    let place = place_of(state, record).await?;
    let title = public_title(&public, &place, ctx.lang);
    let body = html! {
        h1 { (title) }
        p class="hint" { (ctx.t("record.public_view")) }
        dl class="facts" {
            dt { (ctx.t("record.number")) } dd { code { (public.number) } }
            dt { (ctx.t("record.state")) } dd { (state_badge(ctx, public.state)) }
            dt { (ctx.t("record.category")) } dd { (category_name(ctx, &public.category)) }
            dt { (ctx.t("record.class")) } dd { (ctx.t(&format!("class.{}", public.class.as_str()))) }
            dt { (ctx.t("record.place")) } dd { (place) }
            dt { (ctx.t("record.filed")) } dd { (ctx.local_time(public.created_at)) }
        }
        h2 { (ctx.t("record.history")) }
        ol class="timeline" {
            @for step in &public.steps {
                li {
                    time datetime=(step.at.to_rfc3339()) { (ctx.local_time(step.at)) }
                    @if let Some(to) = step.to_state { " " (state_badge(ctx, to)) }
                    @if let Some(reply) = &step.reply {
                        div class="note" { @for line in reply.lines() { p { (line) } } }
                    }
                }
            }
        }
    };
    Ok(page(ctx, &format!("{} · {title}", public.number), body))
}

async fn resident_record_page(
    state: &AppState,
    ctx: &Ctx,
    record: &Record,
    can_act: bool,
    done: Option<&str>,
    problem: Option<&str>,
    photos: PhotosFor<'_>,
) -> Result<Markup, WebError> {
    let events = state.store.record_events(record.id).await?;
    let visible = state
        .records
        .photos(&state.settings.data_dir)
        .visible(photos.viewer, record)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let photos = TimelinePhotos {
        photos: &visible,
        base: photos.base,
    };
    let place = place_of(state, record).await?;
    // The reporter sees what is new and marks it read themselves: showing
    // the page marks nothing (a GET is safe).
    let news = if can_act {
        super::notifications::news_on(state, ctx, record).await?
    } else {
        None
    };
    let question = live_question(state, ctx, record).await?;
    let escalations = escalation_notes(state, ctx, record).await?;
    let reopen_until = events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(RecordState::Resolved))
        .map(|e| e.at + chrono::Duration::days(crate::feedback::records::REOPEN_WINDOW_DAYS));
    let action = format!("/me/records/{}", record.id);
    let body = html! {
        h1 { (record.title) }
        @if done == Some("filed") {
            p class="alert alert-ok" role="status" { (ctx.lang.tf("report.filed", &[("number", &record.number)])) }
        } @else { (flash(ctx, done)) }
        (form_error(problem))
        @if let Some(news) = &news { (super::notifications::news_panel(ctx, news)) }
        (record_facts(ctx, record, &place))
        (question)
        h2 { (ctx.t("record.history")) }
        (timeline(ctx, &events, false, &photos, &escalations))
        @if can_act && record.state == RecordState::Resolved {
            @if let Some(until) = reopen_until {
                p class="hint" { (ctx.lang.tf("my_records.reopen_until", &[("date", &ctx.local_time(until))])) }
            }
            div class="columns" {
                section class="panel" aria-labelledby="confirm" {
                    h2 id="confirm" { (ctx.t("my_records.confirm")) }
                    form method="post" action=(action) class="stack" {
                        (form_token(ctx))
                        input type="hidden" name="version" value=(record.version);
                        input type="hidden" name="action" value="close";
                        fieldset class="rating" {
                            legend { (ctx.t("my_records.rating")) }
                            @for n in (1..=5).rev() {
                                div class="check" {
                                    input type="radio" id={"rating-" (n)} name="rating" value=(n) required checked[n == 5];
                                    label for={"rating-" (n)} { (ctx.t(&format!("my_records.rating_{n}"))) }
                                }
                            }
                        }
                        label for="close-note" { (ctx.t("my_records.comment")) }
                        textarea id="close-note" name="note" rows="3" maxlength="2000" {}
                        button type="submit" { (ctx.t("my_records.confirm")) }
                    }
                }
                section class="panel" aria-labelledby="reopen" {
                    h2 id="reopen" { (ctx.t("my_records.reopen")) }
                    form method="post" action=(action) class="stack" {
                        (form_token(ctx))
                        input type="hidden" name="version" value=(record.version);
                        input type="hidden" name="action" value="reopen";
                        label for="reopen-note" { (ctx.t("my_records.what_is_wrong")) }
                        textarea id="reopen-note" name="note" rows="3" required maxlength="2000" {}
                        button type="submit" class="secondary" { (ctx.t("my_records.reopen")) }
                    }
                }
            }
        }
        @if can_act && record.state.is_open() {
            @let waiting = record.state == RecordState::WaitingOnResident;
            section class="panel narrow" aria-labelledby="add" {
                h2 id="add" { (ctx.t(if waiting { "my_records.reply" } else { "my_records.add_info" })) }
                @if waiting { p { (ctx.t("my_records.reply_hint")) } }
                form method="post" action=(action) class="stack" {
                    (form_token(ctx))
                    input type="hidden" name="version" value=(record.version);
                    // Answering what staff asked for starts their clock again.
                    @if waiting { input type="hidden" name="action" value="resume"; }
                    label for="info" { (ctx.t("record.note")) }
                    textarea id="info" name="note" rows="3" required maxlength="2000" {}
                    button type="submit" class=[(!waiting).then_some("secondary")] { (ctx.t(if waiting { "my_records.reply_send" } else { "my_records.send" })) }
                }
            }
            @if RecordAction::Withdraw.apply(record.state, None).is_ok() {
                details class="withdraw narrow" {
                    summary { (ctx.t("my_records.withdraw")) }
                    form method="post" action=(action) class="stack" {
                        (form_token(ctx))
                        input type="hidden" name="version" value=(record.version);
                        input type="hidden" name="action" value="withdraw";
                        label for="withdraw-note" { (ctx.t("my_records.withdraw_why")) }
                        textarea id="withdraw-note" name="note" rows="2" maxlength="2000" {}
                        div class="check" {
                            input type="checkbox" id="withdraw-sure" name="sure" value="yes" required;
                            label for="withdraw-sure" { (ctx.t("my_records.withdraw_sure")) }
                        }
                        button type="submit" class="secondary" { (ctx.t("my_records.withdraw")) }
                    }
                }
            }
        }
    };
    Ok(page(
        ctx,
        &format!("{} · {}", record.number, record.title),
        body,
    ))
}

#[derive(Deserialize)]
pub struct ResidentActionForm {
    version: i64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    note: String,
    rating: Option<u8>,
}

pub async fn act(
    state: web::Data<AppState>,
    me: SignedIn,
    id: web::Path<i64>,
    form: CheckedForm<ResidentActionForm>,
) -> Result<HttpResponse, WebError> {
    let record = own_record(&state, &me, RecordId(*id)).await?;
    let data = &form.data;
    let action = submitted_action(&data.action)?;
    if action.is_some_and(|a| !a.is_residents()) {
        return Err(WebError::BadInput {
            key: "error.bad_request",
        });
    }
    let request = Request {
        expected_version: data.version,
        action,
        note: data.note.clone(),
        public: true,
        published: false,
        assignee: None,
        rating: data.rating,
    };
    match state
        .records
        .change(&me.account, &record, request, Utc::now())
        .await
    {
        Ok(_) => {
            // Acting on the page is having read what it showed.
            crate::feedback::notifications::mark_seen(
                state.store.as_ref(),
                me.account.id,
                &record,
                data.version,
                Utc::now(),
            )
            .await?;
            Ok(see_other(&format!(
                "/me/records/{}?done=updated",
                record.id
            )))
        }
        Err(RecordError::Forbidden) => Err(WebError::Forbidden),
        Err(RecordError::Store(e)) => Err(e.into()),
        Err(e) => {
            let problem = me.ctx.t(e.message_key()).into_owned();
            let current = state.store.record(record.id).await?;
            let photos = PhotosFor {
                viewer: PhotoViewer::Account(&me.account),
                base: photos_by_record(current.id),
            };
            Ok(sent_back(
                resident_record_page(
                    &state,
                    &me.ctx,
                    &current,
                    true,
                    None,
                    Some(&problem),
                    photos,
                )
                .await?,
            ))
        }
    }
}
