//! The property staff's record queue, a record's page with its actions, and
//! filing a phone call.

use actix_web::{web, HttpResponse};
use chrono::{Datelike, Utc};
use maud::{html, Markup};
use serde::{Deserialize, Serialize};

use crate::domain::record::{Record, RecordAction, RecordClass, RecordSource, RecordState};
use crate::domain::scope::Place;
use crate::domain::{BuildingId, EstateId, RecordId, Role};
use crate::feedback::escalation::{EscalationTarget, ManualEscalation};
use crate::feedback::photos::{PhotoError, PhotoViewer};
use crate::feedback::records::{Filing, RecordError, Records, Request};
use crate::feedback::CATEGORIES;
use crate::store::{AssigneeFilter, RecordFilter};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::record_photos::{photo_problem, photos_by_record, FormWithPhotos};
use crate::web::record_view::{
    category_name, escalation_notes, live_question, photo_input, record_facts, sla_badge,
    state_badge, submitted_action, timeline, TimelinePhotos,
};
use crate::web::AppState;

/// Rows per page of the queue.
const PAGE_ROWS: usize = 50;
/// Open records ranked by urgency at most, oldest first (the likeliest to be
/// late); with more, the page says so and asks for a narrower filter.
const URGENCY_WINDOW: i64 = 5_000;

#[derive(Deserialize, Serialize, Default, Clone)]
pub struct QueueQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    estate: Option<i64>,
    /// A group, "open" (default), "resolved", "final" or "all", or one state.
    #[serde(skip_serializing_if = "Option::is_none")]
    show: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    class: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<String>,
    /// A current assignee's name, or `-` for records nobody has yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    assignee: Option<String>,
    /// Page of the open records ranked by urgency, from 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    page: Option<usize>,
    /// Other views, newest first: the records below this id.
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<i64>,
}

impl QueueQuery {
    /// This queue with another page.
    fn link(&self, page: Option<usize>, before: Option<i64>) -> String {
        let query = QueueQuery {
            page,
            before,
            ..self.clone()
        };
        format!(
            "/console/records?{}",
            serde_urlencoded::to_string(&query).unwrap_or_default()
        )
    }
}

const GROUPS: [&str; 4] = ["open", "resolved", "final", "all"];

/// The states a `show` value stands for (no states: any); `None` if unknown.
fn states_for(show: &str) -> Option<Vec<RecordState>> {
    let all = RecordState::ALL;
    Some(match show {
        "all" => Vec::new(),
        "resolved" => vec![RecordState::Resolved],
        "final" => all.into_iter().filter(|s| s.is_final()).collect(),
        "open" => all.into_iter().filter(|s| s.is_open()).collect(),
        one => vec![RecordState::parse(one)?],
    })
}

/// Narrows the filter to the viewer's scope. False when the viewer may see
/// no records at all (an observer without an estate).
pub(super) fn narrow_to_scope(staff: &Staff, filter: &mut RecordFilter) -> bool {
    let scope = staff.account.scope();
    filter.community = scope.community();
    filter.estate = scope.estate();
    staff.account.role != Role::Observer || filter.estate.is_some()
}

type Judged = (Record, crate::feedback::sla::SlaStatus);

/// One page of the queue as staff see it.
struct QueuePage {
    rows: Vec<Judged>,
    /// Ranked by urgency: (page, pages); else newest first.
    ranked: Option<(usize, usize)>,
    /// More open records than the ranking looks at.
    window_full: bool,
    /// Newest first: the id to continue below, if there are more.
    next_before: Option<i64>,
}

/// Open records (of one or more open states) are ranked most urgent first
/// across the whole filter, breached first, then by time left, and paged;
/// any other view pages newest first.
async fn queue_page(
    state: &AppState,
    mut filter: RecordFilter,
    query: &QueueQuery,
) -> Result<QueuePage, WebError> {
    let open_only = !filter.states.is_empty() && filter.states.iter().all(|s| s.is_open());
    if open_only {
        filter.oldest_first = true;
        filter.limit = URGENCY_WINDOW;
        let records = state.store.list_records(&filter).await?;
        let window_full = records.len() as i64 >= URGENCY_WINDOW;
        let mut rows = state
            .records
            .judge(records, Utc::now())
            .await
            .map_err(super::sla::record_error)?;
        rows.sort_by_key(|(r, sla)| (!sla.breached, sla.left(), r.id));
        let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
        let page = query.page.unwrap_or(1).clamp(1, pages);
        let rows = rows
            .into_iter()
            .skip((page - 1) * PAGE_ROWS)
            .take(PAGE_ROWS)
            .collect();
        return Ok(QueuePage {
            rows,
            ranked: Some((page, pages)),
            window_full,
            next_before: None,
        });
    }
    filter.before = query.before.map(RecordId);
    filter.limit = PAGE_ROWS as i64 + 1;
    let mut records = state.store.list_records(&filter).await?;
    let more = records.len() > PAGE_ROWS;
    records.truncate(PAGE_ROWS);
    let next_before = more.then(|| records.last().map(|r| r.id.0)).flatten();
    Ok(QueuePage {
        rows: state
            .records
            .judge(records, Utc::now())
            .await
            .map_err(super::sla::record_error)?,
        ranked: None,
        window_full: false,
        next_before,
    })
}

pub async fn queue(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<QueueQuery>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let show = query.show.as_deref().unwrap_or("open");
    let bad = || WebError::BadInput {
        key: "error.bad_request",
    };
    let states = states_for(show).ok_or_else(bad)?;
    let class = query.class.as_deref().and_then(RecordClass::parse);
    let category = query
        .category
        .as_deref()
        .filter(|c| CATEGORIES.iter().any(|(code, _)| code == c));
    let assignee = match query.assignee.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("-") => Some(AssigneeFilter::Nobody),
        Some(name) => Some(AssigneeFilter::Named(name.to_owned())),
    };
    let mut filter = RecordFilter {
        estate: query.estate.map(EstateId),
        states,
        class,
        category: category.map(str::to_owned),
        assignee,
        ..Default::default()
    };
    let in_scope = narrow_to_scope(&staff, &mut filter);
    let (page, assignees) = if in_scope {
        let assignees = state.store.open_record_assignees(&filter).await?;
        (queue_page(&state, filter, &query).await?, assignees)
    } else {
        let empty = QueuePage {
            rows: Vec::new(),
            ranked: None,
            window_full: false,
            next_before: None,
        };
        (empty, Vec::new())
    };
    let estates = estates_in_scope(&state, &staff).await?;
    let can_work = staff
        .account
        .role
        .can(crate::domain::Permission::WorkRecords);
    let chosen_assignee = query.assignee.as_deref().unwrap_or("");
    let body = html! {
        h1 { (ctx.t("records.queue")) }
        p class="actions" {
            @if can_work { a class="button" href="/console/records/new" { (ctx.t("records.new_phone")) } }
        }
        (export_form(ctx))
        form method="get" action="/console/records" class="filters" role="search" {
            label for="estate" { (ctx.t("record.estate")) }
            select id="estate" name="estate" {
                option value="" { (ctx.t("records.any")) }
                @for (id, name) in &estates { option value=(id) selected[query.estate == Some(*id)] { (name) } }
            }
            label for="show" { (ctx.t("record.state")) }
            select id="show" name="show" {
                @for option in GROUPS {
                    option value=(option) selected[show == option] { (ctx.t(&format!("records.show.{option}"))) }
                }
                optgroup label=(ctx.t("records.show.one_state")) {
                    @for one in RecordState::ALL {
                        option value=(one.as_str()) selected[show == one.as_str()] { (ctx.t(&format!("state.{}", one.as_str()))) }
                    }
                }
            }
            label for="class" { (ctx.t("record.class")) }
            select id="class" name="class" {
                option value="" { (ctx.t("records.any")) }
                @for c in RecordClass::ALL { option value=(c.as_str()) selected[class == Some(c)] { (ctx.t(&format!("class.{}", c.as_str()))) } }
            }
            label for="category" { (ctx.t("record.category")) }
            select id="category" name="category" {
                option value="" { (ctx.t("records.any")) }
                @for (code, _) in CATEGORIES { option value=(code) selected[category == Some(*code)] { (category_name(ctx, code)) } }
            }
            label for="assignee" { (ctx.t("record.assignee")) }
            select id="assignee" name="assignee" {
                option value="" { (ctx.t("records.any")) }
                option value="-" selected[chosen_assignee == "-"] { (ctx.t("records.unassigned")) }
                @for name in &assignees { option value=(name) selected[chosen_assignee == name] { (name) } }
            }
            button type="submit" class="secondary" { (ctx.t("action.filter")) }
        }
        @if !in_scope { p class="alert alert-error" { (ctx.t("records.no_estate")) } }
        @else if page.rows.is_empty() { p class="muted" { (ctx.t("records.none")) } }
        @else {
            @if page.window_full {
                p class="alert" { (ctx.lang.tf("records.window_full", &[("n", &URGENCY_WINDOW.to_string())])) }
            }
            div class="table-wrap" {
                table class="record-queue" {
                    thead { tr {
                        th scope="col" { (ctx.t("record.number")) }
                        th scope="col" { (ctx.t("record.title")) }
                        th scope="col" { (ctx.t("record.class")) }
                        th scope="col" { (ctx.t("record.state")) }
                        th scope="col" { (ctx.t("record.assignee")) }
                        th scope="col" { (ctx.t("record.sla")) }
                    } }
                    tbody {
                        @for (r, sla) in &page.rows {
                            tr class=[row_class(sla)] {
                                th scope="row" { a href={"/console/records/" (r.id)} { (r.number) } }
                                td { (r.title) br; span class="muted" { (category_name(ctx, &r.category)) } }
                                td { (ctx.t(&format!("class.{}", r.class.as_str()))) }
                                td { (state_badge(ctx, r.state)) }
                                td { (r.assignee.as_deref().unwrap_or("—")) }
                                td { (sla_badge(ctx, sla)) }
                            }
                        }
                    }
                }
            }
            (pager(ctx, &query, &page))
        }
    };
    Ok(console_page(&staff, &ctx.t("records.queue"), body))
}

/// Breached rows stand out, and so do rows about to breach.
fn row_class(sla: &crate::feedback::sla::SlaStatus) -> Option<&'static str> {
    if sla.breached {
        Some("breached")
    } else if matches!(
        sla.phase,
        crate::feedback::sla::SlaPhase::Running { due_soon: true, .. }
    ) {
        Some("due-soon")
    } else {
        None
    }
}

fn pager(ctx: &Ctx, query: &QueueQuery, page: &QueuePage) -> Markup {
    html! {
        nav class="pager" aria-label=(ctx.t("records.pages")) {
            @if let Some((at, pages)) = page.ranked {
                @if at > 1 { a href=(query.link(Some(at - 1), None)) rel="prev" { (ctx.t("records.previous")) } }
                span { (ctx.lang.tf("records.page_of", &[("page", &at.to_string()), ("pages", &pages.to_string())])) }
                @if at < pages { a href=(query.link(Some(at + 1), None)) rel="next" { (ctx.t("records.next")) } }
            } @else {
                @if query.before.is_some() { a href=(query.link(None, None)) { (ctx.t("records.newest")) } }
                @if let Some(before) = page.next_before { a href=(query.link(None, Some(before))) rel="next" { (ctx.t("records.older")) } }
            }
        }
    }
}

/// Records and events as CSV for a period the staff member picks (this
/// month by default).
fn export_form(ctx: &Ctx) -> Markup {
    let today = Utc::now().with_timezone(&ctx.time_zone).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    html! {
        form method="get" action="/console/export/records.csv" class="filters export" {
            label for="export-from" { (ctx.t("records.export_from")) }
            input id="export-from" name="from" type="date" required value=(first.format("%Y-%m-%d"));
            label for="export-to" { (ctx.t("records.export_to")) }
            input id="export-to" name="to" type="date" required value=(today.format("%Y-%m-%d"));
            button type="submit" class="secondary" { (ctx.t("records.export_records")) }
            button type="submit" class="secondary" formaction="/console/export/events.csv" { (ctx.t("records.export_events")) }
        }
    }
}

async fn estates_in_scope(state: &AppState, staff: &Staff) -> Result<Vec<(i64, String)>, WebError> {
    let mut out = Vec::new();
    for (community, estates) in super::estates_in_scope(state, &staff.account).await? {
        for estate in estates {
            out.push((estate.id.0, format!("{} · {}", community.name, estate.name)));
        }
    }
    Ok(out)
}

async fn visible_record(state: &AppState, staff: &Staff, id: RecordId) -> Result<Record, WebError> {
    let record = state.store.record(id).await?;
    if !Records::can_see(&staff.account, &record) {
        return Err(WebError::Forbidden);
    }
    Ok(record)
}

/// "幸福社区 · 阳光花园 · 3号楼"
pub async fn place_of(state: &AppState, record: &Record) -> Result<String, WebError> {
    let estate = state.store.estate(record.estate_id).await?;
    let community = state.store.community(estate.community_id).await?;
    let mut place = format!("{} · {}", community.name, estate.name);
    if let Some(building) = record.building_id {
        place = format!("{place} · {}", state.store.building(building).await?.name);
    }
    Ok(place)
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let record = visible_record(&state, &staff, RecordId(*id)).await?;
    record_page(&state, &staff, &record, done.done.as_deref(), None, None).await
}

/// The record with its history and, for staff who work records, the action
/// form (filled with `draft` when it is sent back).
async fn record_page(
    state: &AppState,
    staff: &Staff,
    record: &Record,
    done: Option<&str>,
    problem: Option<&str>,
    draft: Option<&ActionForm>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let events = state.store.record_events(record.id).await?;
    let photos = state
        .records
        .photos(&state.settings.data_dir)
        .visible(PhotoViewer::Account(&staff.account), record)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let photos = TimelinePhotos {
        photos: &photos,
        base: photos_by_record(record.id),
    };
    let changes: Vec<_> = events
        .iter()
        .filter_map(|e| {
            e.to_state
                .map(|to| crate::feedback::sla::StateChange { at: e.at, to })
        })
        .collect();
    let sla = state
        .records
        .sla_of(record, &changes, Utc::now())
        .await
        .map_err(super::sla::record_error)?;
    let place = place_of(state, record).await?;
    let question = live_question(state, ctx, record).await?;
    let can_work = staff
        .account
        .role
        .can(crate::domain::Permission::WorkRecords);
    let resume_to = events
        .iter()
        .rev()
        .find(|e| e.to_state == Some(RecordState::WaitingOnResident))
        .and_then(|e| e.from_state);
    let actions: Vec<RecordAction> = RecordAction::ALL
        .into_iter()
        .filter(|a| *a != RecordAction::Close && a.apply(record.state, resume_to).is_ok())
        .collect();
    let departments = state.store.departments(record.community_id).await?;
    let escalations = escalation_notes(state, ctx, record).await?;
    let body = html! {
        p { a href="/console/records" { (ctx.t("action.back")) } }
        h1 { (record.title) }
        (flash(ctx, done))
        (form_error(problem))
        p { (ctx.t("record.sla")) ": " (sla_badge(ctx, &sla)) }
        (record_facts(ctx, record, &place))
        (question)
        h2 { (ctx.t("record.history")) }
        (timeline(ctx, &events, true, &photos, &escalations))
        @if can_work && !record.state.is_final() {
            section class="panel narrow" aria-labelledby="act" {
                h2 id="act" { (ctx.t("records.act")) }
                form method="post" action={"/console/records/" (record.id) "/act"} class="stack" enctype="multipart/form-data" {
                    (form_token(ctx))
                    input type="hidden" name="version" value=(record.version);
                    label for="action" { (ctx.t("records.action")) }
                    select id="action" name="action" {
                        option value="" { (ctx.t("records.only_note")) }
                        @for a in &actions { option value=(a.as_str()) { (ctx.t(&format!("action.record.{}", a.as_str()))) } }
                    }
                    @if actions.contains(&RecordAction::Escalate) {
                        label for="escalate_to" { (ctx.t("sla_settings.escalate_to")) }
                        select id="escalate_to" name="escalate_to" {
                            option value="meeting" { (ctx.t("escalation.target.meeting")) }
                            @for d in departments.iter().filter(|d| !d.retired) { option value=(EscalationTarget::Department(d.id).key()) { (d.name) } }
                        }
                        p class="muted" { (ctx.t("escalation.hint")) }
                    }
                    label for="assignee" { (ctx.t("record.assignee")) }
                    input id="assignee" name="assignee" type="text" maxlength="40" value=[record.assignee.as_deref()];
                    label for="note" { (ctx.t("records.note")) }
                    textarea id="note" name="note" rows="3" maxlength="2000" { @if let Some(d) = draft { (d.note) } }
                    (photo_input(ctx, "photos"))
                    div class="check" {
                        input id="public" name="public" type="checkbox" value="on" checked[draft.is_none_or(|d| d.public.is_some())];
                        label for="public" { (ctx.t("records.note_public")) }
                    }
                    div class="check" {
                        input id="published" name="published" type="checkbox" value="on" aria-describedby="published-hint" checked[draft.is_some_and(|d| d.published.is_some())];
                        label for="published" { (ctx.t("records.note_published")) }
                    }
                    p class="hint" id="published-hint" { (ctx.t("records.note_published_hint")) }
                    button type="submit" { (ctx.t("action.save")) }
                }
            }
        }
    };
    Ok(console_page(
        staff,
        &format!("{} · {}", record.number, record.title),
        body,
    ))
}

#[derive(Deserialize)]
pub struct ActionForm {
    version: i64,
    #[serde(default)]
    action: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    note: String,
    public: Option<String>,
    /// The note is written for publication (Open311, the public view of the record).
    published: Option<String>,
    /// Where an escalation goes (`meeting` or `department:<id>`).
    #[serde(default)]
    escalate_to: String,
}

pub async fn act(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: FormWithPhotos<ActionForm>,
) -> Result<HttpResponse, WebError> {
    let record = visible_record(&state, &staff, RecordId(*id)).await?;
    let data = &form.data;
    let action = submitted_action(&data.action)?;
    // Photos are decoded only for someone who may change this record.
    let reporter = record.reporter_id == Some(staff.account.id);
    if !Records::may_act_as_staff(&staff.account, &record) && !reporter {
        return Err(WebError::Forbidden);
    }
    let photos = match form.photos.prepare(&state).await {
        Ok(photos) => photos,
        Err(refused) => {
            let problem = photo_problem(&staff.ctx, &refused);
            let page = record_page(&state, &staff, &record, None, Some(&problem), Some(data));
            return Ok(sent_back(page.await?));
        }
    };
    let record_photos = state.records.photos(&state.settings.data_dir);
    let request = Request {
        expected_version: data.version,
        action,
        note: data.note.clone(),
        public: data.public.is_some(),
        published: data.published.is_some(),
        assignee: Some(data.assignee.clone())
            .filter(|a| a.trim() != record.assignee.as_deref().unwrap_or("")),
        rating: None,
    };
    if action.is_none()
        && data.note.trim().is_empty()
        && request.assignee.is_none()
        && photos.is_empty()
    {
        return Ok(see_other(&format!("/console/records/{}", record.id)));
    }
    let outcome = if action == Some(RecordAction::Escalate) {
        let target = match data.escalate_to.as_str() {
            "" => Some(EscalationTarget::JointMeeting),
            key => EscalationTarget::parse(key),
        };
        match target {
            Some(target) => {
                let escalated = state
                    .records
                    .escalate(
                        &staff.account,
                        &record,
                        ManualEscalation {
                            expected_version: data.version,
                            target,
                            note: &data.note,
                            public: request.public,
                        },
                        Utc::now(),
                    )
                    .await;
                // The escalation writes its own event: the photos join it.
                match escalated {
                    Ok(escalated) => record_photos
                        .add_to_event(
                            &staff.account,
                            &record,
                            data.version + 1,
                            &photos,
                            Utc::now(),
                        )
                        .await
                        .map(|()| escalated),
                    Err(e) => Err(e.into()),
                }
            }
            None => Err(RecordError::UnknownTarget.into()),
        }
    } else {
        record_photos
            .change(&staff.account, &record, request, &photos, Utc::now())
            .await
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!(
            "/console/records/{}?done=updated",
            record.id
        ))),
        Err(PhotoError::Record(RecordError::Forbidden)) => Err(WebError::Forbidden),
        Err(PhotoError::Record(RecordError::Store(e))) => Err(e.into()),
        Err(PhotoError::Files(e)) => Err(WebError::Internal(e.into())),
        Err(e) => {
            let problem = photo_problem(&staff.ctx, &e);
            let status = if matches!(e, PhotoError::Record(RecordError::ChangedMeanwhile)) {
                409
            } else {
                400
            };
            let current = state.store.record(record.id).await?;
            let page =
                record_page(&state, &staff, &current, None, Some(&problem), Some(data)).await?;
            let mut response = sent_back(page);
            *response.status_mut() =
                actix_web::http::StatusCode::from_u16(status).expect("valid status");
            Ok(response)
        }
    }
}

#[derive(Deserialize, Default)]
pub struct PhoneForm {
    #[serde(default)]
    estate: String,
    #[serde(default)]
    category: String,
    #[serde(default)]
    class: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    location: String,
    /// A building of the estate, or empty.
    #[serde(default)]
    building: String,
}

pub async fn new_form(state: web::Data<AppState>, staff: Staff) -> Result<Markup, WebError> {
    phone_page(&state, &staff, &PhoneForm::default(), None).await
}

async fn phone_page(
    state: &AppState,
    staff: &Staff,
    values: &PhoneForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let estates = estates_in_scope(state, staff).await?;
    let mut buildings = Vec::with_capacity(estates.len());
    for (id, name) in &estates {
        let list: Vec<(i64, String)> = state
            .store
            .list_buildings(EstateId(*id))
            .await?
            .into_iter()
            .map(|b| (b.id.0, b.name.to_string()))
            .collect();
        buildings.push((name.clone(), list));
    }
    let body = html! {
        p { a href="/console/records" { (ctx.t("action.back")) } }
        h1 { (ctx.t("records.new_phone")) }
        (form_error(problem))
        form method="post" action="/console/records/new" class="stack narrow" {
            (form_token(ctx))
            label for="estate" { (ctx.t("record.estate")) }
            select id="estate" name="estate" required {
                @for (id, name) in &estates { option value=(id) selected[values.estate == id.to_string()] { (name) } }
            }
            label for="building" { (ctx.t("record.building")) }
            select id="building" name="building" aria-describedby="building-hint" {
                option value="" { (ctx.t("records.no_building")) }
                @for (estate, buildings) in &buildings {
                    optgroup label=(estate) {
                        @for (id, name) in buildings { option value=(id) selected[values.building == id.to_string()] { (name) } }
                    }
                }
            }
            p class="hint" id="building-hint" { (ctx.t("records.building_hint")) }
            label for="category" { (ctx.t("record.category")) }
            select id="category" name="category" required {
                @for (code, _) in CATEGORIES { option value=(code) selected[values.category == *code] { (category_name(ctx, code)) } }
            }
            label for="class" { (ctx.t("record.class")) }
            select id="class" name="class" {
                option value="" { (ctx.t("records.class_by_category")) }
                @for c in RecordClass::ALL { option value=(c.as_str()) selected[values.class == c.as_str()] { (ctx.t(&format!("class.{}", c.as_str()))) } }
            }
            label for="title" { (ctx.t("record.title")) }
            input id="title" name="title" type="text" required maxlength="60" value=(values.title);
            label for="description" { (ctx.t("record.description")) }
            textarea id="description" name="description" rows="5" required maxlength="2000" { (values.description) }
            label for="location" { (ctx.t("record.location")) }
            input id="location" name="location" type="text" maxlength="80" value=(values.location);
            button type="submit" { (ctx.t("records.file")) }
        }
    };
    Ok(console_page(staff, &ctx.t("records.new_phone"), body))
}

/// What staff see once a phone call is filed: its number and the caller's
/// tracking link, which cannot be shown again.
fn filed_page(staff: &Staff, record: &Record, link: &str) -> Markup {
    let ctx = &staff.ctx;
    let body = html! {
        div class="narrow" {
            (flash(ctx, Some("created")))
            h1 { (ctx.lang.tf("records.filed_title", &[("number", &record.number)])) }
            p { (record.title) }
            h2 { (ctx.t("records.tracking_link")) }
            p { (ctx.t("records.tracking_hint")) }
            p { input type="text" readonly value=(link) aria-label=(ctx.t("records.tracking_link")) class="tracking-link" onfocus="this.select()"; }
            p class="actions" {
                a class="button" href={"/console/records/" (record.id)} { (ctx.t("records.open_filed")) }
                a class="button secondary" href="/console/records/new" { (ctx.t("records.new_phone")) }
            }
        }
    };
    console_page(staff, &record.number, body)
}

pub async fn file_phone(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<PhoneForm>,
) -> Result<HttpResponse, WebError> {
    let data = &form.data;
    let estate_id = data
        .estate
        .parse()
        .map(EstateId)
        .map_err(|_| WebError::BadInput {
            key: "error.bad_request",
        })?;
    let estate = state.store.estate(estate_id).await?;
    if !staff
        .account
        .scope()
        .reaches(Place::estate(estate.community_id, estate.id))
    {
        return Err(WebError::Forbidden);
    }
    let default_class =
        crate::feedback::category_class(&data.category).ok_or(WebError::BadInput {
            key: "error.bad_request",
        })?;
    let building_id = match data.building.trim() {
        "" => None,
        raw => {
            let id = raw
                .parse()
                .map(BuildingId)
                .map_err(|_| WebError::BadInput {
                    key: "error.bad_request",
                })?;
            match state.store.building(id).await {
                Ok(b) if b.estate_id == estate_id => Some(b.id),
                Ok(_) | Err(crate::store::StoreError::NotFound) => {
                    return Err(WebError::BadInput {
                        key: "records.error.building_elsewhere",
                    })
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    let filing = Filing {
        estate_id,
        building_id,
        category: data.category.clone(),
        class: RecordClass::parse(&data.class).unwrap_or(default_class),
        title: data.title.clone(),
        // Nobody told the caller their words would be public.
        title_public: false,
        description: data.description.clone(),
        location: data.location.clone(),
        source: RecordSource::Phone,
        point: None,
    };
    match state
        .records
        .file(&staff.actor(), None, filing, Utc::now())
        .await
    {
        // The caller's private tracking link exists only now: shown once, to
        // read out or send by text message, never put in a URL of ours.
        Ok((record, token)) => {
            let link = format!(
                "{}/track/{token}",
                state.settings.server.public_url.trim_end_matches('/')
            );
            Ok(HttpResponse::Ok()
                .content_type("text/html; charset=utf-8")
                .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
                .body(filed_page(&staff, &record, &link).into_string()))
        }
        Err(RecordError::BadText { field, error }) => {
            let problem =
                crate::web::forms::field_problem(&staff.ctx, &format!("record.{field}"), &error);
            let values = PhoneForm {
                estate: data.estate.clone(),
                category: data.category.clone(),
                class: data.class.clone(),
                title: data.title.clone(),
                description: data.description.clone(),
                location: data.location.clone(),
                building: data.building.clone(),
            };
            Ok(sent_back(
                phone_page(&state, &staff, &values, Some(&problem)).await?,
            ))
        }
        Err(RecordError::Store(e)) => Err(e.into()),
        Err(e) => Err(WebError::BadInput {
            key: e.message_key(),
        }),
    }
}
