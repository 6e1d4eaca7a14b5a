//! A community's SLA settings page (admin and secretary): allowances per class,
//! per-category rules (class, allowance, escalation target), the business
//! calendar, and what escalation needs: departments, estate leads and the
//! joint meeting's dates. Every change is audited; a saved version applies to
//! records filed from then on.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use actix_web::{web, HttpResponse};
use chrono::{NaiveDate, NaiveTime, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::record::RecordClass;
use crate::domain::{AccountId, CommunityId, EstateId, Role, Scope};
use crate::feedback::escalation::EscalationTarget;
use crate::feedback::records::RecordError;
use crate::feedback::sla::{BusinessCalendar, CategoryRule, SlaPolicy, SlaSettings};
use crate::feedback::CATEGORIES;
use crate::store::{AccountFilter, Department};
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::record_view::category_name;
use crate::web::AppState;

/// A feedback error as the web layer reports it.
pub(super) fn record_error(e: RecordError) -> WebError {
    match e {
        RecordError::Forbidden => WebError::Forbidden,
        RecordError::Store(e) => e.into(),
        RecordError::ChangedMeanwhile => WebError::Conflict {
            key: "error.record.changed_meanwhile",
        },
        e => WebError::BadInput {
            key: e.message_key(),
        },
    }
}

/// The community to configure; the route guard has checked it is in scope.
pub(super) async fn configurable(
    state: &AppState,
    id: i64,
) -> Result<crate::domain::Community, WebError> {
    Ok(state.store.community(CommunityId(id)).await?)
}

/// Which community to configure: the staff member's own, or a list to pick from.
pub async fn index(state: web::Data<AppState>, staff: Staff) -> Result<HttpResponse, WebError> {
    // Settings govern the whole community: an estate's account has none to set.
    let scope = staff.account.scope();
    let mut communities = super::communities_in_scope(&state, &staff.account).await?;
    communities.retain(|c| scope.contains(c.id.into()));
    if let [own] = communities.as_slice() {
        return Ok(see_other(&format!("/console/communities/{}/sla", own.id)));
    }
    let ctx = &staff.ctx;
    let body = html! {
        h1 { (ctx.t("sla_settings.title")) }
        @if communities.is_empty() { p class="muted" { (ctx.t("sla_settings.no_community")) } }
        ul {
            @for c in &communities {
                li { a href={"/console/communities/" (c.id) "/sla"} { (c.name) } }
            }
        }
    };
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(console_page(&staff, &ctx.t("sla_settings.title"), body).into_string()))
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
    let community = configurable(&state, *id).await?;
    settings_page(&state, &staff, &community, done.done.as_deref(), None).await
}

fn hm(t: NaiveTime) -> String {
    t.format("%H:%M").to_string()
}

async fn settings_page(
    state: &AppState,
    staff: &Staff,
    community: &crate::domain::Community,
    done: Option<&str>,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let now = Utc::now();
    let settings = state
        .records
        .settings_at(community.id, now)
        .await
        .map_err(record_error)?;
    let versions = state.store.sla_policies(community.id).await?;
    let departments = state.store.departments(community.id).await?;
    let figures_shown = state.store.figures_on_screens(community.id).await?;
    let estates = state.store.list_estates(community.id).await?;
    let mut leads = Vec::new();
    for estate in &estates {
        let mut names = Vec::new();
        for account in state.store.estate_leads(estate.id).await? {
            names.push(state.store.account(account).await?);
        }
        leads.push((estate, names));
    }
    let candidates: Vec<_> = state
        .store
        .list_accounts(&AccountFilter {
            role: None,
            search: None,
            within: Scope::Installation,
        })
        .await?
        .into_iter()
        .filter(|a| {
            !a.disabled
                && matches!(
                    a.role,
                    Role::Admin | Role::Secretary | Role::Moderator | Role::Staff
                )
                && a.scope().reaches(community.id.into())
        })
        .collect();
    let today = now.with_timezone(&ctx.time_zone).date_naive();
    let meetings: Vec<NaiveDate> = state
        .store
        .joint_meetings(community.id)
        .await?
        .into_iter()
        .filter(|d| *d >= today)
        .collect();
    let calendar = settings.calendar.clone();
    let zone = calendar
        .as_ref()
        .map_or(ctx.time_zone, |c| c.zone)
        .name()
        .to_owned();
    let holidays = calendar
        .as_ref()
        .map(|c| {
            c.holidays
                .iter()
                .map(|d| d.format("%Y-%m-%d").to_string())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default();
    let base = format!("/console/communities/{}", community.id);
    let body = html! {
        h1 { (ctx.t("sla_settings.title")) " · " (community.name) }
        (flash(ctx, done))
        (form_error(problem))
        p { (ctx.t("sla_settings.lead")) }
        @if let Some(last) = versions.last() {
            p class="muted" { (ctx.lang.tf("sla_settings.saved_by", &[("name", &last.created_by_name), ("at", &ctx.local_time(last.created_at))])) }
        } @else {
            p class="muted" { (ctx.t("sla_settings.defaults")) }
        }
        form method="post" action={(base) "/sla"} class="stack" {
            (form_token(ctx))
            fieldset {
                legend { (ctx.t("sla_settings.classes")) }
                @for class in RecordClass::ALL {
                    @let name = format!("minutes_{}", class.as_str());
                    label for=(name) { (ctx.t(&format!("class.{}", class.as_str()))) " · " (ctx.t(&format!("sla_settings.target.{}", class.as_str()))) }
                    input id=(name) name=(name) type="number" min="1" max=(crate::feedback::sla::MAX_MINUTES) required value=(settings.policy.limit(class).num_minutes());
                }
                p class="muted" { (ctx.t("sla_settings.minutes_hint")) }
            }
            fieldset {
                legend { (ctx.t("sla_settings.categories")) }
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("record.category")) }
                            th scope="col" { (ctx.t("record.class")) }
                            th scope="col" { (ctx.t("sla_settings.minutes")) }
                            th scope="col" { (ctx.t("sla_settings.escalate_to")) }
                        } }
                        tbody {
                            @for (code, default) in CATEGORIES {
                                @let rule = settings.rule(code);
                                @let class = rule.and_then(|r| r.class);
                                @let target = rule.and_then(|r| r.escalate_to.clone()).unwrap_or_else(|| "meeting".into());
                                tr {
                                    th scope="row" { (category_name(ctx, code)) }
                                    td {
                                        select name={"class_" (code)} aria-label=(ctx.t("record.class")) {
                                            option value="" { (ctx.lang.tf("sla_settings.built_in", &[("class", &ctx.t(&format!("class.{}", default.as_str())))])) }
                                            @for c in RecordClass::ALL { option value=(c.as_str()) selected[class == Some(c)] { (ctx.t(&format!("class.{}", c.as_str()))) } }
                                        }
                                    }
                                    td { input name={"minutes_" (code)} type="number" min="1" max=(crate::feedback::sla::MAX_MINUTES) aria-label=(ctx.t("sla_settings.minutes")) value=[rule.and_then(|r| r.minutes)]; }
                                    td {
                                        select name={"escalate_" (code)} aria-label=(ctx.t("sla_settings.escalate_to")) {
                                            option value="meeting" { (ctx.t("escalation.target.meeting")) }
                                            @for d in departments.iter().filter(|d| !d.retired) {
                                                @let key = EscalationTarget::Department(d.id).key();
                                                option value=(key) selected[target == key] { (d.name) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            fieldset {
                legend { (ctx.t("sla_settings.calendar")) }
                div class="check" {
                    input id="calendar" name="calendar" type="checkbox" value="on" checked[calendar.is_some()];
                    label for="calendar" { (ctx.t("sla_settings.calendar_on")) }
                }
                p class="muted" { (ctx.t("sla_settings.calendar_hint")) }
                label for="zone" { (ctx.t("sla_settings.zone")) }
                input id="zone" name="zone" type="text" maxlength="60" value=(zone);
                div class="table-wrap" {
                    table {
                        thead { tr {
                            th scope="col" { (ctx.t("sla_settings.weekday")) }
                            th scope="col" { (ctx.t("sla_settings.opens")) }
                            th scope="col" { (ctx.t("sla_settings.closes")) }
                        } }
                        tbody {
                            @for day in 0..7usize {
                                @let hours = calendar.as_ref().and_then(|c| c.hours[day]);
                                tr {
                                    th scope="row" { (ctx.t(&format!("sla_settings.day.{day}"))) }
                                    td { input name={"open_" (day)} type="time" aria-label=(ctx.t("sla_settings.opens")) value=[hours.map(|h| hm(h.0))]; }
                                    td { input name={"close_" (day)} type="time" aria-label=(ctx.t("sla_settings.closes")) value=[hours.map(|h| hm(h.1))]; }
                                }
                            }
                        }
                    }
                }
                label for="holidays" { (ctx.t("sla_settings.holidays")) }
                textarea id="holidays" name="holidays" rows="4" { (holidays) }
            }
            button type="submit" { (ctx.t("action.save")) }
        }

        (super::departments::panel(ctx, &base, &departments))

        section class="panel" aria-labelledby="screen-figures" {
            h2 id="screen-figures" { (ctx.t("screen_figures.setting.title")) }
            p class="muted" { (ctx.t("screen_figures.setting.hint")) }
            form method="post" action={(base) "/screen-figures"} class="inline-form" {
                (form_token(ctx))
                label {
                    input type="checkbox" name="shown" value="yes" checked[figures_shown];
                    " " (ctx.t("screen_figures.setting.label"))
                }
                button type="submit" class="secondary" { (ctx.t("action.save")) }
            }
        }

        section class="panel" aria-labelledby="leads" {
            h2 id="leads" { (ctx.t("leads.title")) }
            p class="muted" { (ctx.t("leads.hint")) }
            @for (estate, names) in &leads {
                h3 { (estate.name) }
                @if names.is_empty() { p class="muted" { (ctx.t("leads.none")) } }
                ul {
                    @for account in names {
                        li {
                            (account.display_name) " "
                            form method="post" action={(base) "/leads"} class="inline" {
                                (form_token(ctx))
                                input type="hidden" name="estate" value=(estate.id);
                                input type="hidden" name="account" value=(account.id);
                                input type="hidden" name="lead" value="no";
                                button type="submit" class="link" { (ctx.t("leads.remove")) }
                            }
                        }
                    }
                }
                form method="post" action={(base) "/leads"} class="inline-form" {
                    (form_token(ctx))
                    input type="hidden" name="estate" value=(estate.id);
                    input type="hidden" name="lead" value="yes";
                    label for={"lead-" (estate.id)} { (ctx.t("leads.add")) }
                    select id={"lead-" (estate.id)} name="account" {
                        @for a in &candidates { option value=(a.id) { (a.display_name) " (" (ctx.t(&format!("role.{}", a.role.as_str()))) ")" } }
                    }
                    button type="submit" class="secondary" { (ctx.t("leads.add_button")) }
                }
            }
        }

        section class="panel" aria-labelledby="meetings" {
            h2 id="meetings" { (ctx.t("meetings.title")) }
            @match meetings.first() {
                Some(next) => p { (ctx.lang.tf("meetings.next", &[("date", &next.format("%Y-%m-%d").to_string())])) },
                None => p class="muted" { (ctx.t("meetings.none")) },
            }
            @if meetings.len() > 1 {
                ul { @for d in meetings.iter().skip(1) { li { (d.format("%Y-%m-%d")) } } }
            }
            form method="post" action={(base) "/meetings"} class="inline-form" {
                (form_token(ctx))
                label for="meets_on" { (ctx.t("meetings.date")) }
                input id="meets_on" name="meets_on" type="date" required min=(today.format("%Y-%m-%d"));
                button type="submit" class="secondary" { (ctx.t("meetings.add")) }
            }
            p { a href={"/console/agenda?community=" (community.id)} { (ctx.t("nav.agenda")) } }
        }
    };
    Ok(console_page(
        staff,
        &format!("{} · {}", ctx.t("sla_settings.title"), community.name),
        body,
    ))
}

/// Settings as typed; `Err` names the message to show.
fn parse_settings(
    form: &HashMap<String, String>,
    departments: &[Department],
) -> Result<SlaSettings, &'static str> {
    let field = |name: &str| form.get(name).map(|v| v.trim()).unwrap_or("");
    let minutes = |name: &str| -> Result<i64, &'static str> {
        field(name)
            .parse::<i64>()
            .map_err(|_| "sla_settings.error.minutes")
    };
    let policy = SlaPolicy {
        urgent_minutes: minutes("minutes_urgent")?,
        major_minutes: minutes("minutes_major")?,
        general_minutes: minutes("minutes_general")?,
        complex_minutes: minutes("minutes_complex")?,
    };
    let mut categories = Vec::new();
    for (code, _) in CATEGORIES {
        let class = match field(&format!("class_{code}")) {
            "" => None,
            raw => Some(RecordClass::parse(raw).ok_or("error.bad_request")?),
        };
        let minutes = match field(&format!("minutes_{code}")) {
            "" => None,
            raw => Some(
                raw.parse::<i64>()
                    .map_err(|_| "sla_settings.error.minutes")?,
            ),
        };
        let escalate_to = match field(&format!("escalate_{code}")) {
            "" | "meeting" => None,
            raw => match EscalationTarget::parse(raw) {
                Some(EscalationTarget::Department(id))
                    if departments.iter().any(|d| d.id == id && !d.retired) =>
                {
                    Some(raw.to_owned())
                }
                _ => return Err("escalation.error.unknown_target"),
            },
        };
        if class.is_some() || minutes.is_some() || escalate_to.is_some() {
            categories.push(CategoryRule {
                category: (*code).to_owned(),
                class,
                minutes,
                escalate_to,
            });
        }
    }
    let calendar = if field("calendar") == "on" {
        let zone = chrono_tz::Tz::from_str(field("zone")).map_err(|_| "sla_settings.error.zone")?;
        let time = |raw: &str| {
            NaiveTime::parse_from_str(raw, "%H:%M")
                .or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M:%S"))
                .map_err(|_| "sla_settings.error.hours")
        };
        let mut hours = [None; 7];
        for (day, slot) in hours.iter_mut().enumerate() {
            match (
                field(&format!("open_{day}")),
                field(&format!("close_{day}")),
            ) {
                ("", "") => {}
                ("", _) | (_, "") => return Err("sla_settings.error.hours"),
                (open, close) => *slot = Some((time(open)?, time(close)?)),
            }
        }
        let mut holidays = BTreeSet::new();
        for raw in field("holidays")
            .split(|c: char| c.is_whitespace() || c == ',' || c == '，')
            .filter(|s| !s.is_empty())
        {
            holidays.insert(
                NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                    .map_err(|_| "sla_settings.error.holiday_date")?,
            );
        }
        Some(BusinessCalendar {
            zone,
            hours,
            holidays,
        })
    } else {
        None
    };
    let settings = SlaSettings {
        policy,
        categories,
        calendar,
    };
    settings.check().map_err(|e| e.message_key())?;
    Ok(settings)
}

pub(super) async fn refuse(
    state: &AppState,
    staff: &Staff,
    community: &crate::domain::Community,
    key: &'static str,
) -> Result<HttpResponse, WebError> {
    let problem = staff.ctx.t(key).into_owned();
    Ok(sent_back(
        settings_page(state, staff, community, None, Some(&problem)).await?,
    ))
}

pub async fn save(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<HashMap<String, String>>,
) -> Result<HttpResponse, WebError> {
    let community = configurable(&state, *id).await?;
    let departments = state.store.departments(community.id).await?;
    let settings = match parse_settings(&form.data, &departments) {
        Ok(settings) => settings,
        Err(key) => return refuse(&state, &staff, &community, key).await,
    };
    state
        .records
        .save_settings(&staff.actor(), community.id, &settings, Utc::now())
        .await
        .map_err(record_error)?;
    Ok(see_other(&format!(
        "/console/communities/{}/sla?done=updated",
        community.id
    )))
}

#[derive(Deserialize)]
pub struct ScreenFiguresForm {
    /// `yes` when the box is ticked; absent otherwise.
    #[serde(default)]
    shown: String,
}

/// Switches the computed disclosure figures on the community's lobby screens
/// on or off; screens drop or add them at their next playlist.
pub async fn set_screen_figures(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<ScreenFiguresForm>,
) -> Result<HttpResponse, WebError> {
    let community = configurable(&state, *id).await?;
    let shown = form.data.shown == "yes";
    state
        .store
        .set_figures_on_screens(&staff.actor(), community.id, shown, Utc::now())
        .await?;
    state.signage.screen_figures_switched(community.id);
    Ok(see_other(&format!(
        "/console/communities/{}/sla?done=updated#screen-figures",
        community.id
    )))
}

#[derive(Deserialize)]
pub struct LeadForm {
    #[serde(default)]
    estate: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    lead: String,
}

pub async fn set_lead(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<LeadForm>,
) -> Result<HttpResponse, WebError> {
    let community = configurable(&state, *id).await?;
    let bad = WebError::BadInput {
        key: "error.bad_request",
    };
    let (Ok(estate), Ok(account)) = (
        form.data.estate.parse().map(EstateId),
        form.data.account.parse().map(AccountId),
    ) else {
        return Err(bad);
    };
    let estate = state.store.estate(estate).await?;
    if estate.community_id != community.id {
        return Err(bad);
    }
    let lead = form.data.lead == "yes";
    if lead {
        let account = state.store.account(account).await?;
        let fits = account.role.is_staff()
            && account.role != Role::Observer
            && account.scope().reaches(community.id.into());
        if !fits {
            return refuse(&state, &staff, &community, "leads.error.not_staff").await;
        }
    }
    state
        .store
        .set_estate_lead(&staff.actor(), estate.id, account, lead)
        .await?;
    Ok(see_other(&format!(
        "/console/communities/{}/sla?done=updated#leads",
        community.id
    )))
}

#[derive(Deserialize)]
pub struct MeetingForm {
    #[serde(default)]
    meets_on: String,
}

pub async fn add_meeting(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<MeetingForm>,
) -> Result<HttpResponse, WebError> {
    let community = configurable(&state, *id).await?;
    let today = Utc::now().with_timezone(&staff.ctx.time_zone).date_naive();
    let date = match NaiveDate::parse_from_str(form.data.meets_on.trim(), "%Y-%m-%d") {
        Ok(d) if d >= today => d,
        _ => return refuse(&state, &staff, &community, "meetings.error.date").await,
    };
    state
        .store
        .add_joint_meeting(&staff.actor(), community.id, date, Utc::now())
        .await?;
    Ok(see_other(&format!(
        "/console/communities/{}/sla?done=updated#meetings",
        community.id
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const CLASSES: [(&str, &str); 4] = [
        ("minutes_urgent", "5"),
        ("minutes_major", "240"),
        ("minutes_general", "30"),
        ("minutes_complex", "1440"),
    ];

    #[test]
    fn the_defaults_as_typed_are_the_5431_rule() {
        let settings = parse_settings(&form(&CLASSES), &[]).unwrap();
        assert_eq!(settings, SlaSettings::default());
    }

    #[test]
    fn a_calendar_and_category_rules_are_read() {
        let mut pairs = CLASSES.to_vec();
        pairs.extend([
            ("class_elevator", "urgent"),
            ("minutes_elevator", "15"),
            ("escalate_elevator", "department:3"),
            ("calendar", "on"),
            ("zone", "Asia/Shanghai"),
            ("open_0", "09:00"),
            ("close_0", "17:30"),
            ("holidays", "2026-10-01, 2026-10-02\n2026-10-03"),
        ]);
        let departments = [Department {
            id: 3,
            community_id: CommunityId(1),
            name: "城管科".into(),
            retired: false,
        }];
        let settings = parse_settings(&form(&pairs), &departments).unwrap();
        let rule = settings.rule("elevator").unwrap();
        assert_eq!(rule.class, Some(RecordClass::Urgent));
        assert_eq!(rule.minutes, Some(15));
        assert_eq!(rule.escalate_to.as_deref(), Some("department:3"));
        let calendar = settings.calendar.unwrap();
        assert_eq!(calendar.holidays.len(), 3);
        assert!(calendar.hours[0].is_some() && calendar.hours[1].is_none());
        // A department of another community is refused.
        assert_eq!(
            parse_settings(&form(&pairs), &[]),
            Err("escalation.error.unknown_target")
        );
    }

    #[test]
    fn bad_values_are_named() {
        let mut pairs = CLASSES.to_vec();
        pairs[0] = ("minutes_urgent", "0");
        assert_eq!(
            parse_settings(&form(&pairs), &[]),
            Err("sla_settings.error.minutes")
        );
        let mut pairs = CLASSES.to_vec();
        pairs.extend([("calendar", "on"), ("zone", "Mars/Olympus")]);
        assert_eq!(
            parse_settings(&form(&pairs), &[]),
            Err("sla_settings.error.zone")
        );
        let mut pairs = CLASSES.to_vec();
        pairs.extend([
            ("calendar", "on"),
            ("zone", "Asia/Shanghai"),
            ("open_2", "18:00"),
            ("close_2", "09:00"),
        ]);
        assert_eq!(
            parse_settings(&form(&pairs), &[]),
            Err("sla_settings.error.hours")
        );
        let mut pairs = CLASSES.to_vec();
        pairs.extend([
            ("calendar", "on"),
            ("zone", "Asia/Shanghai"),
            ("holidays", "十月一日"),
        ]);
        assert_eq!(
            parse_settings(&form(&pairs), &[]),
            Err("sla_settings.error.holiday_date")
        );
    }
}
