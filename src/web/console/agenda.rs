//! The joint meeting's agenda (红色物业联席会议): escalated records grouped by
//! where they were sent (the meeting first, then each department), with how
//! overdue they are, who has them, the last public note, why they were
//! escalated and a blank column for the decision. Printable: `@media print`
//! keeps only the agenda. Staff record "discussed at the meeting" as a new event.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::record::{Record, RecordEvent};
use crate::domain::{CommunityId, RecordId};
use crate::feedback::escalation::{EscalationTarget, DISCUSSED};
use crate::feedback::records::Records;
use crate::store::{Department, EscalationRow};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{see_other, CheckedForm};
use crate::web::layout::{console_page, flash, form_token};
use crate::web::record_view::{category_name, human_minutes, target_title};
use crate::web::AppState;

use super::sla::record_error;

#[derive(Deserialize)]
pub struct AgendaQuery {
    community: Option<i64>,
    done: Option<String>,
}

/// One line of the agenda.
struct Item {
    record: Record,
    estate: String,
    overdue: Option<i64>,
    last_note: Option<String>,
    escalation: Option<EscalationRow>,
    escalation_note: String,
    discussed: Option<RecordEvent>,
}

/// The next meeting date: the first one not before today.
async fn next_meeting(
    state: &AppState,
    community: CommunityId,
    today: NaiveDate,
) -> Result<Option<NaiveDate>, WebError> {
    Ok(state
        .store
        .joint_meetings(community)
        .await?
        .into_iter()
        .find(|d| *d >= today))
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<AgendaQuery>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let now = Utc::now();
    let today = now.with_timezone(&ctx.time_zone).date_naive();
    let communities: Vec<_> = super::communities_in_scope(&state, &staff.account)
        .await?
        .into_iter()
        .filter(|c| query.community.is_none_or(|q| q == c.id.0))
        .collect();
    let mut sections = Vec::new();
    for community in communities {
        let records: Vec<Record> = state
            .store
            .escalated_records(Some(community.id))
            .await?
            .into_iter()
            .filter(|r| Records::can_see(&staff.account, r))
            .collect();
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let changes = state.store.state_changes(&ids).await?;
        let mut escalations = state.store.escalations(&ids).await?;
        let mut events: HashMap<RecordId, Vec<RecordEvent>> = HashMap::new();
        for (id, event) in state.store.events_of(&ids).await? {
            events.entry(id).or_default().push(event);
        }
        let book = state
            .records
            .sla_book([community.id])
            .await
            .map_err(record_error)?;
        let estates: HashMap<_, _> = state
            .store
            .list_estates(community.id)
            .await?
            .into_iter()
            .map(|e| (e.id, e.name))
            .collect();
        let departments = state.store.departments(community.id).await?;
        let mut groups: Vec<(EscalationTarget, Vec<Item>)> = Vec::new();
        for record in records {
            let history = changes.get(&record.id).map_or(&[][..], Vec::as_slice);
            let sla = book.status(&record, history, now);
            let escalation = escalations.get_mut(&record.id).and_then(|list| list.pop());
            let list = events.remove(&record.id).unwrap_or_default();
            let escalation_note = escalation
                .as_ref()
                .and_then(|e| list.iter().find(|ev| ev.seq == e.seq))
                .filter(|ev| ev.public)
                .map(|ev| ev.note.clone())
                .unwrap_or_default();
            let since = escalation.as_ref().map_or(0, |e| e.seq);
            let discussed = list
                .iter()
                .rev()
                .find(|ev| ev.action == DISCUSSED && ev.seq > since)
                .cloned();
            let last_note = list
                .iter()
                .rev()
                .find(|ev| ev.public && !ev.note.is_empty() && ev.action != DISCUSSED)
                .map(|ev| ev.note.clone());
            let target = escalation
                .as_ref()
                .and_then(|e| EscalationTarget::parse(&e.target))
                .unwrap_or(EscalationTarget::JointMeeting);
            let item = Item {
                estate: estates.get(&record.estate_id).cloned().unwrap_or_default(),
                overdue: sla.breached.then(|| (sla.used - sla.limit).num_minutes()),
                last_note,
                escalation,
                escalation_note,
                discussed,
                record,
            };
            match groups.iter_mut().find(|(t, _)| *t == target) {
                Some((_, items)) => items.push(item),
                None => groups.push((target, vec![item])),
            }
        }
        // The joint meeting first, then departments in the order they were set up.
        groups.sort_by_key(|(t, _)| match t {
            EscalationTarget::JointMeeting => -1,
            EscalationTarget::Department(id) => *id,
        });
        let next = next_meeting(&state, community.id, today).await?;
        sections.push((community, next, departments, groups));
    }
    let can_work = staff
        .account
        .role
        .can(crate::domain::Permission::WorkRecords);
    let body = html! {
        h1 { (ctx.t("agenda.title")) }
        (flash(ctx, query.done.as_deref()))
        p class="no-print" { button type="button" data-print hidden { (ctx.t("agenda.print")) } }
        script src=(crate::web::assets::asset_url("js/print.js")) defer {}
        p { (ctx.lang.tf("agenda.lead", &[("date", &today.format("%Y-%m-%d").to_string())])) }
        @for (community, next, departments, groups) in &sections {
            section class="agenda-community" {
                h2 { (community.name) }
                @match next {
                    Some(d) => p class="meeting-date" { (ctx.lang.tf("meetings.next", &[("date", &d.format("%Y-%m-%d").to_string())])) },
                    None => p class="muted" { (ctx.t("meetings.none")) },
                }
                @if groups.is_empty() { p class="muted" { (ctx.t("agenda.none")) } }
                @for (target, items) in groups {
                    (group(ctx, departments, *target, items, *next, today, can_work))
                }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("agenda.title"), body))
}

fn group(
    ctx: &Ctx,
    departments: &[Department],
    target: EscalationTarget,
    items: &[Item],
    next: Option<NaiveDate>,
    today: NaiveDate,
    can_work: bool,
) -> Markup {
    let meeting = next.unwrap_or(today).format("%Y-%m-%d").to_string();
    html! {
        h3 { (target_title(ctx, departments, target)) " (" (items.len()) ")" }
        div class="table-wrap" {
            table class="agenda" {
                thead { tr {
                    th scope="col" { (ctx.t("record.number")) }
                    th scope="col" { (ctx.t("record.title")) }
                    th scope="col" { (ctx.t("agenda.overdue")) }
                    th scope="col" { (ctx.t("record.assignee")) }
                    th scope="col" { (ctx.t("agenda.last_note")) }
                    th scope="col" { (ctx.t("agenda.reason")) }
                    th scope="col" class="decision" { (ctx.t("agenda.decision")) }
                } }
                tbody {
                    @for item in items {
                        @let r = &item.record;
                        tr {
                            th scope="row" {
                                a href={"/console/records/" (r.id)} { (r.number) }
                            }
                            td {
                                (r.title) br;
                                span class="muted" { (item.estate) " · " (category_name(ctx, &r.category)) " · " (ctx.t(&format!("class.{}", r.class.as_str()))) }
                            }
                            td { @match item.overdue { Some(m) => (human_minutes(ctx, m)), None => "—" } }
                            td { (r.assignee.as_deref().unwrap_or("—")) }
                            td { @match &item.last_note { Some(note) => { @for line in note.lines() { (line) br; } }, None => "—" } }
                            td {
                                @match &item.escalation {
                                    Some(e) if e.reason == "breach" => (ctx.lang.tf("agenda.reason.breach", &[("n", &human_minutes(ctx, e.overdue_minutes.unwrap_or(0).max(0)))])),
                                    Some(_) => (ctx.t("agenda.reason.manual")),
                                    None => "—",
                                }
                                @if !item.escalation_note.is_empty() { br; span class="muted" { (item.escalation_note) } }
                                @if let Some(e) = &item.escalation { br; span class="muted" { (ctx.local_time(e.at)) } }
                            }
                            td class="decision" {
                                @if let Some(done) = &item.discussed {
                                    span class="badge" { (ctx.t("agenda.discussed")) }
                                    @for line in done.note.lines() { br; (line) }
                                } @else if can_work {
                                    form method="post" action={"/console/records/" (r.id) "/discussed"} class="no-print stack" {
                                        (form_token(ctx))
                                        input type="hidden" name="version" value=(r.version);
                                        input type="hidden" name="meeting" value=(meeting);
                                        label for={"decision-" (r.id)} class="visually-hidden" { (ctx.t("agenda.decision")) }
                                        textarea id={"decision-" (r.id)} name="decision" rows="2" maxlength="2000" {}
                                        button type="submit" class="secondary" { (ctx.t("agenda.mark_discussed")) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct DiscussedForm {
    version: i64,
    #[serde(default)]
    meeting: String,
    #[serde(default)]
    decision: String,
}

pub async fn discussed(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<DiscussedForm>,
) -> Result<HttpResponse, WebError> {
    let record = state.store.record(RecordId(*id)).await?;
    if !crate::feedback::records::Records::can_see(&staff.account, &record) {
        return Err(WebError::Forbidden);
    }
    let meeting =
        NaiveDate::parse_from_str(form.data.meeting.trim(), "%Y-%m-%d").map_err(|_| {
            WebError::BadInput {
                key: "meetings.error.date",
            }
        })?;
    state
        .records
        .mark_discussed(
            &staff.account,
            &record,
            form.data.version,
            meeting,
            &form.data.decision,
            Utc::now(),
        )
        .await
        .map_err(record_error)?;
    Ok(see_other(&format!(
        "/console/agenda?community={}&done=updated",
        record.community_id
    )))
}
