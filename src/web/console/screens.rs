//! Lobby screens in the console: pair a new screen by the code it shows, say
//! where it hangs, watch whether it is alive, revoke its token, and export
//! proof-of-play for a notice and period.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::screen::{Orientation, PlayRow, Screen, ScreenGroup, ScreenHealth};
use crate::domain::{
    Building, BuildingId, Community, CommunityId, Estate, NoticeId, Permission, PlaceName,
    ScreenGroupId, ScreenId,
};
use crate::signage::{Signage, SignageError};
use crate::store::{NoticeFilter, PlayFilter, ScreenSetup, Store, StoreError};
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::spreadsheet::inert;
use crate::web::AppState;

/// Plays shown on a screen's page.
const LATEST_PLAYS: usize = 50;
/// Rows read from the store at a time when walking through plays.
const PLAYS_PAGE: i64 = 5000;
/// Characters of a screen's last error shown in the list.
const ERROR_PREVIEW: usize = 60;

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

// ------------------------------------------------------------ places

/// A community the viewer may place screens in, with its buildings and groups.
struct CommunityPlaces {
    community: Community,
    estates: Vec<(Estate, Vec<Building>)>,
    groups: Vec<ScreenGroup>,
}

/// Everywhere the viewer may hang a screen.
struct Places(Vec<CommunityPlaces>);

impl Places {
    async fn load(state: &AppState, staff: &Staff) -> Result<Self, WebError> {
        let mut places = Vec::new();
        for community in state.store.list_communities().await? {
            if !Signage::may_manage_screens(&staff.account, community.id) {
                continue;
            }
            let mut estates = Vec::new();
            for estate in state.store.list_estates(community.id).await? {
                let buildings = state.store.list_buildings(estate.id).await?;
                estates.push((estate, buildings));
            }
            let groups = state.store.list_screen_groups(community.id).await?;
            places.push(CommunityPlaces {
                community,
                estates,
                groups,
            });
        }
        Ok(Self(places))
    }

    fn several(&self) -> bool {
        self.0.len() > 1
    }

    fn building(&self, id: BuildingId) -> Option<(&CommunityPlaces, &Estate, &Building)> {
        self.0.iter().find_map(|c| {
            c.estates.iter().find_map(|(estate, buildings)| {
                buildings
                    .iter()
                    .find(|b| b.id == id)
                    .map(|building| (c, estate, building))
            })
        })
    }

    /// "Estate · building" (with the community first when there are several).
    fn where_is(&self, id: BuildingId) -> String {
        match self.building(id) {
            Some((c, estate, building)) if self.several() => {
                format!("{} · {} · {}", c.community.name, estate.name, building.name)
            }
            Some((_, estate, building)) => format!("{} · {}", estate.name, building.name),
            None => String::new(),
        }
    }

    fn group_name(&self, id: ScreenGroupId) -> Option<&str> {
        self.0
            .iter()
            .flat_map(|c| &c.groups)
            .find(|g| g.id == id)
            .map(|g| g.name.as_str())
    }
}

// ------------------------------------------------------------ forms

/// What the pairing and edit forms send; the code only comes with pairing.
#[derive(Deserialize, Default, Clone)]
pub struct ScreenForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    building: String,
    #[serde(default)]
    group: String,
    #[serde(default)]
    orientation: String,
}

impl ScreenForm {
    fn of(screen: &Screen) -> Self {
        Self {
            code: String::new(),
            name: screen.name.clone(),
            building: screen.place.building_id.to_string(),
            group: screen
                .place
                .group_id
                .map(|g| g.to_string())
                .unwrap_or_default(),
            orientation: screen.orientation.as_str().to_owned(),
        }
    }

    /// The checked placement, or the translated problem to show.
    fn setup(&self, ctx: &Ctx, places: &Places) -> Result<ScreenSetup, String> {
        let name =
            PlaceName::parse(&self.name).map_err(|e| field_problem(ctx, "screens.name", &e))?;
        let (community, _, building) = self
            .building
            .trim()
            .parse()
            .ok()
            .and_then(|id| places.building(BuildingId(id)))
            .ok_or_else(|| ctx.t("screens.pick_building").into_owned())?;
        let group_id = match self.group.trim() {
            "" => None,
            raw => {
                let id = raw
                    .parse()
                    .map(ScreenGroupId)
                    .map_err(|_| ctx.t("screens.pick_group").into_owned())?;
                if !community.groups.iter().any(|g| g.id == id) {
                    return Err(ctx.t("screens.foreign_reference").into_owned());
                }
                Some(id)
            }
        };
        let orientation = Orientation::parse(&self.orientation)
            .ok_or_else(|| ctx.t("screens.pick_orientation").into_owned())?;
        Ok(ScreenSetup {
            name: name.as_str().to_owned(),
            building_id: building.id,
            group_id,
            orientation,
        })
    }
}

#[derive(Deserialize, Default, Clone)]
pub struct GroupForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    community: String,
}

/// The forms of the screens page as last sent, with what was wrong.
#[derive(Default)]
struct Sent {
    pair: ScreenForm,
    pair_problem: Option<String>,
    group: GroupForm,
    group_problem: Option<String>,
}

/// A refusal from the signage service as a page error.
fn refused(e: SignageError) -> WebError {
    match e {
        SignageError::Forbidden => WebError::Forbidden,
        SignageError::NotFound => WebError::NotFound,
        SignageError::TooManyAttempts => WebError::TooManyAttempts,
        SignageError::ChangedMeanwhile => WebError::Conflict {
            key: "error.conflict",
        },
        SignageError::Store(e) => e.into(),
        SignageError::ForeignReference => WebError::BadInput {
            key: "screens.foreign_reference",
        },
        SignageError::UnknownPairingCode => WebError::BadInput {
            key: "screens.code_unknown",
        },
        e => WebError::BadInput {
            key: e.message_key(),
        },
    }
}

/// The problem to show above a screen form, when the refusal is the form's fault.
fn form_problem(ctx: &Ctx, e: &SignageError) -> Option<String> {
    match e {
        SignageError::UnknownPairingCode => Some(ctx.t("screens.code_unknown").into_owned()),
        SignageError::TooManyAttempts => Some(ctx.t("screens.too_many_codes").into_owned()),
        SignageError::ForeignReference => Some(ctx.t("screens.foreign_reference").into_owned()),
        // The building went away between loading the form and sending it.
        SignageError::NotFound => Some(ctx.t("screens.pick_building").into_owned()),
        SignageError::BadText { error, .. } => Some(field_problem(ctx, "screens.name", error)),
        _ => None,
    }
}

/// A success note after a redirect, for this page's own outcomes too.
fn done_note(ctx: &Ctx, done: Option<&str>) -> Markup {
    const OURS: &[&str] = &["paired", "revoked", "group_created"];
    match done.filter(|d| OURS.contains(d)) {
        Some(key) => html! {
            p class="alert alert-ok" role="status" { (ctx.t(&format!("screens.done.{key}"))) }
        },
        None => flash(ctx, done),
    }
}

// ------------------------------------------------------------ small views

fn health_badge(ctx: &Ctx, health: ScreenHealth) -> Markup {
    let class = match health {
        ScreenHealth::Online => "badge ok",
        ScreenHealth::Stale => "badge warn",
        ScreenHealth::Offline => "badge danger",
        ScreenHealth::Revoked => "badge muted",
    };
    html! {
        span class=(class) data-health=(health.as_str()) {
            (ctx.t(&format!("screens.health.{}", health.as_str())))
        }
    }
}

/// "3 分钟前", with the exact local time on hover.
fn last_seen(ctx: &Ctx, at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Markup {
    match at {
        Some(at) => html! {
            time datetime=(at.to_rfc3339()) title=(ctx.local_time(at)) { (ago(ctx, at, now)) }
        },
        None => html! { span class="muted" { (ctx.t("screens.never_seen")) } },
    }
}

fn ago(ctx: &Ctx, at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (now - at).num_seconds().max(0);
    match seconds {
        0..=59 => ctx.t("screens.ago.now").into_owned(),
        60..=3599 => ctx
            .lang
            .tf("screens.ago.minutes", &[("n", &(seconds / 60))]),
        3600..=86399 => ctx
            .lang
            .tf("screens.ago.hours", &[("n", &(seconds / 3600))]),
        _ => ctx
            .lang
            .tf("screens.ago.days", &[("n", &(seconds / 86400))]),
    }
}

fn uptime(ctx: &Ctx, seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86400, seconds % 86400 / 3600, seconds % 3600 / 60);
    if days > 0 {
        ctx.lang
            .tf("screens.uptime.days", &[("d", &days), ("h", &hours)])
    } else if hours > 0 {
        ctx.lang
            .tf("screens.uptime.hours", &[("h", &hours), ("m", &minutes)])
    } else {
        ctx.lang.tf("screens.uptime.minutes", &[("m", &minutes)])
    }
}

fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(max).collect();
    short.push('…');
    short
}

fn orientation_name(ctx: &Ctx, orientation: Orientation) -> std::borrow::Cow<'static, str> {
    ctx.t(&format!("screens.orientation.{}", orientation.as_str()))
}

/// The red panel naming every screen quiet for more than ten minutes.
fn alert_panel(ctx: &Ctx, offline: &[Screen], now: DateTime<Utc>) -> Markup {
    html! {
        @if !offline.is_empty() {
            section class="alert alert-error" role="alert" aria-labelledby="screens-offline" data-offline-screens=(offline.len()) {
                strong id="screens-offline" {
                    (ctx.lang.tf("screens.offline_alert", &[("n", &offline.len())]))
                }
                ul {
                    @for screen in offline {
                        li {
                            a href={"/console/screens/" (screen.id)} { (screen.name) }
                            " — " (ctx.t("screens.last_seen")) (ctx.t("punct.colon"))
                            (last_seen(ctx, screen.last_seen_at, now))
                        }
                    }
                }
            }
        }
    }
}

/// The offline-screens alert for any console page (empty when all is well,
/// or when the viewer does not look after screens).
pub async fn offline_alert(state: &AppState, staff: &Staff) -> Markup {
    if !staff.account.role.can(Permission::ManageScreens) {
        return html! {};
    }
    match state
        .signage
        .offline_screens(staff.account.scope().community())
        .await
    {
        Ok(screens) => alert_panel(&staff.ctx, &screens, Utc::now()),
        Err(e) => {
            tracing::warn!(error = %e, "cannot list the offline screens");
            html! {}
        }
    }
}

/// Titles of the given notices, for the screens showing them.
async fn notice_titles(
    state: &AppState,
    ids: Vec<NoticeId>,
) -> Result<HashMap<NoticeId, String>, WebError> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let filter = NoticeFilter {
        limit: ids.len() as i64,
        ids,
        ..Default::default()
    };
    Ok(state
        .store
        .list_notices(&filter)
        .await?
        .into_iter()
        .map(|n| (n.id, n.title))
        .collect())
}

fn notice_link(id: NoticeId, titles: &HashMap<NoticeId, String>) -> Markup {
    html! {
        a href={"/console/notices/" (id)} {
            @match titles.get(&id) {
                Some(title) => (title),
                None => { "#" (id) }
            }
        }
    }
}

// ------------------------------------------------------------ the list

pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let sent = Sent {
        pair: ScreenForm {
            orientation: Orientation::Landscape.as_str().to_owned(),
            ..Default::default()
        },
        ..Default::default()
    };
    list_page(&state, &staff, done.done.as_deref(), &sent).await
}

async fn list_page(
    state: &AppState,
    staff: &Staff,
    done: Option<&str>,
    sent: &Sent,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let now = Utc::now();
    let places = Places::load(state, staff).await?;
    let screens = state
        .store
        .list_screens(staff.account.scope().community())
        .await?;
    let showing: Vec<NoticeId> = screens
        .iter()
        .filter_map(|s| s.heartbeat.current_notice)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let titles = notice_titles(state, showing).await?;
    let body = html! {
        h1 { (ctx.t("screens.title")) }
        (done_note(ctx, done))
        (offline_alert(state, staff).await)
        @if screens.is_empty() {
            p class="muted" { (ctx.t("screens.none")) }
        } @else {
            div class="table-wrap" {
                table data-screens {
                    thead { tr {
                        th scope="col" { (ctx.t("screens.name")) }
                        th scope="col" { (ctx.t("screens.place")) }
                        th scope="col" { (ctx.t("screens.group")) }
                        th scope="col" { (ctx.t("screens.orientation_label")) }
                        th scope="col" { (ctx.t("screens.health_label")) }
                        th scope="col" { (ctx.t("screens.client_version")) }
                        th scope="col" { (ctx.t("screens.current_notice")) }
                        th scope="col" { (ctx.t("screens.uptime_label")) }
                        th scope="col" { (ctx.t("screens.last_error")) }
                    } }
                    tbody {
                        @for screen in &screens {
                            tr data-screen=(screen.id) {
                                th scope="row" { a href={"/console/screens/" (screen.id)} { (screen.name) } }
                                td { (places.where_is(screen.place.building_id)) }
                                td { (screen.place.group_id.and_then(|g| places.group_name(g)).unwrap_or("—")) }
                                td { (orientation_name(ctx, screen.orientation)) }
                                td {
                                    (health_badge(ctx, screen.health(now))) " "
                                    (last_seen(ctx, screen.last_seen_at, now))
                                }
                                td { @if screen.heartbeat.client_version.is_empty() { "—" } @else { code { (screen.heartbeat.client_version) } } }
                                td {
                                    @match screen.heartbeat.current_notice {
                                        Some(id) => (notice_link(id, &titles)),
                                        None => "—",
                                    }
                                }
                                td { @if screen.last_seen_at.is_some() { (uptime(ctx, screen.heartbeat.uptime_seconds)) } @else { "—" } }
                                td {
                                    @match &screen.heartbeat.last_error {
                                        Some(error) if !error.is_empty() => span title=(error) { (shorten(error, ERROR_PREVIEW)) },
                                        _ => "—",
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        (pair_panel(ctx, &places, &sent.pair, sent.pair_problem.as_deref()))
        (group_panel(ctx, &places, &sent.group, sent.group_problem.as_deref()))
        (export_panel(state, staff).await?)
    };
    Ok(console_page(staff, &ctx.t("screens.title"), body))
}

fn pair_panel(ctx: &Ctx, places: &Places, form: &ScreenForm, problem: Option<&str>) -> Markup {
    html! {
        section class="panel" aria-labelledby="pair" {
            h2 id="pair" { (ctx.t("screens.pair")) }
            p class="hint" { (ctx.t("screens.pair_hint")) }
            (form_error(problem))
            form method="post" action="/console/screens" class="stack" {
                (form_token(ctx))
                label for="code" { (ctx.t("screens.code")) }
                input id="code" name="code" type="text" class="slip-code pairing-code"
                    required minlength="6" maxlength="9" size="9"
                    autocomplete="off" autocapitalize="characters" autocorrect="off" spellcheck="false"
                    aria-describedby="code-hint" value=(form.code);
                p id="code-hint" class="hint" { (ctx.t("screens.code_hint")) }
                (setup_fields(ctx, places, form))
                button type="submit" { (ctx.t("screens.pair_button")) }
            }
        }
    }
}

/// Name, building, group and orientation: shared by pairing and editing.
fn setup_fields(ctx: &Ctx, places: &Places, form: &ScreenForm) -> Markup {
    let several = places.several();
    html! {
        label for="name" { (ctx.t("screens.name")) }
        p id="name-hint" class="hint" { (ctx.t("screens.name_hint")) }
        input id="name" name="name" type="text" required maxlength=(PlaceName::MAX)
            aria-describedby="name-hint" value=(form.name);
        label for="building" { (ctx.t("screens.building")) }
        select id="building" name="building" required {
            option value="" { (ctx.t("screens.pick_building")) }
            @for c in &places.0 {
                @for (estate, buildings) in &c.estates {
                    @if !buildings.is_empty() {
                        optgroup label=(if several { format!("{} · {}", c.community.name, estate.name) } else { estate.name.clone() }) {
                            @for building in buildings {
                                option value=(building.id) selected[form.building == building.id.to_string()] { (building.name) }
                            }
                        }
                    }
                }
            }
        }
        label for="group" { (ctx.t("screens.group")) }
        select id="group" name="group" {
            option value="" { (ctx.t("screens.no_group")) }
            @for c in &places.0 {
                @if several {
                    @if !c.groups.is_empty() {
                        optgroup label=(c.community.name) {
                            @for g in &c.groups {
                                option value=(g.id) selected[form.group == g.id.to_string()] { (g.name) }
                            }
                        }
                    }
                } @else {
                    @for g in &c.groups {
                        option value=(g.id) selected[form.group == g.id.to_string()] { (g.name) }
                    }
                }
            }
        }
        fieldset {
            legend { (ctx.t("screens.orientation_label")) }
            @for orientation in Orientation::ALL {
                label class="check" {
                    input type="radio" name="orientation" value=(orientation.as_str())
                        checked[form.orientation == orientation.as_str()];
                    (orientation_name(ctx, orientation))
                }
            }
        }
    }
}

fn group_panel(ctx: &Ctx, places: &Places, form: &GroupForm, problem: Option<&str>) -> Markup {
    html! {
        section class="panel" aria-labelledby="groups" {
            h2 id="groups" { (ctx.t("screens.groups")) }
            p class="hint" { (ctx.t("screens.groups_hint")) }
            @let groups: Vec<&ScreenGroup> = places.0.iter().flat_map(|c| &c.groups).collect();
            @if !groups.is_empty() {
                ul {
                    @for g in groups { li { (g.name) } }
                }
            }
            (form_error(problem))
            form method="post" action="/console/screens/groups" class="stack" {
                (form_token(ctx))
                @if places.several() {
                    label for="group-community" { (ctx.t("screens.community")) }
                    select id="group-community" name="community" required {
                        @for c in &places.0 {
                            option value=(c.community.id) selected[form.community == c.community.id.to_string()] { (c.community.name) }
                        }
                    }
                } @else if let Some(c) = places.0.first() {
                    input type="hidden" name="community" value=(c.community.id);
                }
                label for="group-name" { (ctx.t("screens.group_name")) }
                input id="group-name" name="name" type="text" required maxlength=(PlaceName::MAX) value=(form.name);
                button type="submit" class="secondary" { (ctx.t("screens.new_group")) }
            }
        }
    }
}

async fn export_panel(state: &AppState, staff: &Staff) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let notices = state
        .store
        .list_notices(&NoticeFilter {
            community: staff.account.scope().community(),
            limit: 300,
            ..Default::default()
        })
        .await?;
    let today = Utc::now().with_timezone(&ctx.time_zone).date_naive();
    let first = today.with_day(1).unwrap_or(today);
    Ok(html! {
        section class="panel" aria-labelledby="export" {
            h2 id="export" { (ctx.t("screens.export")) }
            p class="hint" { (ctx.t("screens.export_hint")) }
            form method="get" action="/console/screens/plays.csv" class="stack" {
                label for="export-notice" { (ctx.t("screens.export_notice")) }
                select id="export-notice" name="notice" {
                    option value="" { (ctx.t("screens.all_notices")) }
                    @for n in &notices {
                        option value=(n.id) { "#" (n.id) " " (n.title) }
                    }
                }
                label for="export-from" { (ctx.t("screens.export_from")) }
                input id="export-from" name="from" type="date" required value=(first.format("%Y-%m-%d"));
                label for="export-to" { (ctx.t("screens.export_to")) }
                input id="export-to" name="to" type="date" required value=(today.format("%Y-%m-%d"));
                button type="submit" class="secondary" { (ctx.t("screens.export_button")) }
            }
        }
    })
}

/// The page sent back with a problem: 429 when the admin has tried too many
/// codes, 400 otherwise.
fn sent_back_for(e: Option<&SignageError>, page: Markup) -> HttpResponse {
    match e {
        Some(SignageError::TooManyAttempts) => HttpResponse::TooManyRequests()
            .content_type("text/html; charset=utf-8")
            .insert_header((header::RETRY_AFTER, "60"))
            .body(page.into_string()),
        _ => sent_back(page),
    }
}

pub async fn pair(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<ScreenForm>,
) -> Result<HttpResponse, WebError> {
    let places = Places::load(&state, &staff).await?;
    let back = |problem: String| Sent {
        pair: form.data.clone(),
        pair_problem: Some(problem),
        ..Default::default()
    };
    let setup = match form.data.setup(&staff.ctx, &places) {
        Ok(setup) => setup,
        Err(problem) => {
            let page = list_page(&state, &staff, None, &back(problem)).await?;
            return Ok(sent_back(page));
        }
    };
    match state
        .signage
        .claim_pairing(&staff.account, &form.data.code, &setup)
        .await
    {
        Ok(screen) => Ok(see_other(&format!(
            "/console/screens/{}?done=paired",
            screen.id
        ))),
        Err(e) => match form_problem(&staff.ctx, &e) {
            Some(problem) => {
                let page = list_page(&state, &staff, None, &back(problem)).await?;
                Ok(sent_back_for(Some(&e), page))
            }
            None => Err(refused(e)),
        },
    }
}

pub async fn create_group(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<GroupForm>,
) -> Result<HttpResponse, WebError> {
    let ctx = &staff.ctx;
    let places = Places::load(&state, &staff).await?;
    let chosen = form.data.community.trim().parse().ok().map(CommunityId);
    let only = match places.0.as_slice() {
        [only] => Some(only.community.id),
        _ => None,
    };
    let community = staff.account.scope().community().or(chosen).or(only);
    let problem = match (PlaceName::parse(&form.data.name), community) {
        (Err(e), _) => Some(field_problem(ctx, "screens.group_name", &e)),
        (Ok(_), None) => Some(ctx.t("screens.pick_community").into_owned()),
        (Ok(name), Some(community)) => {
            if !places.0.iter().any(|c| c.community.id == community) {
                return Err(WebError::Forbidden);
            }
            match state
                .store
                .create_screen_group(&staff.actor(), community, &name)
                .await
            {
                Ok(_) => return Ok(see_other("/console/screens?done=group_created#groups")),
                Err(StoreError::Conflict) => Some(ctx.t("screens.group_exists").into_owned()),
                Err(e) => return Err(e.into()),
            }
        }
    };
    let sent = Sent {
        group: form.data.clone(),
        group_problem: problem,
        ..Default::default()
    };
    Ok(sent_back(list_page(&state, &staff, None, &sent).await?))
}

// ------------------------------------------------------------ one screen

/// The screen, if it hangs in the viewer's community (or they have none).
async fn visible(state: &AppState, staff: &Staff, id: i64) -> Result<Screen, WebError> {
    let screen = state.store.screen(ScreenId(id)).await?;
    if !Signage::may_manage_screens(&staff.account, screen.place.community_id) {
        return Err(WebError::NotFound);
    }
    Ok(screen)
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    done: web::Query<Done>,
) -> Result<Markup, WebError> {
    let screen = visible(&state, &staff, *id).await?;
    let form = ScreenForm::of(&screen);
    show_page(&state, &staff, &screen, done.done.as_deref(), &form, None).await
}

async fn show_page(
    state: &AppState,
    staff: &Staff,
    screen: &Screen,
    done: Option<&str>,
    form: &ScreenForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let now = Utc::now();
    let places = Places::load(state, staff).await?;
    let base = format!("/console/screens/{}", screen.id);
    let health = screen.health(now);
    let plays = latest_plays(state.store.clone(), screen.id, LATEST_PLAYS).await?;
    let mut shown: Vec<NoticeId> = plays.iter().map(|p| p.notice_id).collect();
    shown.extend(screen.heartbeat.current_notice);
    shown.sort();
    shown.dedup();
    let titles = notice_titles(state, shown).await?;
    let beat = &screen.heartbeat;
    let body = html! {
        p { a href="/console/screens" { "← " (ctx.t("screens.title")) } }
        h1 { (screen.name) }
        (done_note(ctx, done))
        @if health == ScreenHealth::Offline {
            p class="alert alert-error" role="alert" { (ctx.t("screens.offline_here")) }
        }
        @if let Some(at) = screen.revoked_at {
            p class="alert alert-error" role="status" {
                (ctx.lang.tf("screens.revoked_at", &[("at", &ctx.local_time(at))]))
            }
        }
        dl class="facts" {
            dt { (ctx.t("screens.health_label")) }
            dd { (health_badge(ctx, health)) }
            dt { (ctx.t("screens.last_seen")) }
            dd {
                (last_seen(ctx, screen.last_seen_at, now))
                @if let Some(at) = screen.last_seen_at { " (" (ctx.local_time(at)) ")" }
            }
            dt { (ctx.t("screens.place")) }
            dd { (places.where_is(screen.place.building_id)) }
            dt { (ctx.t("screens.group")) }
            dd { (screen.place.group_id.and_then(|g| places.group_name(g)).unwrap_or("—")) }
            dt { (ctx.t("screens.orientation_label")) }
            dd { (orientation_name(ctx, screen.orientation)) }
            dt { (ctx.t("screens.paired_at")) }
            dd { (ctx.local_time(screen.paired_at)) }
            dt { (ctx.t("screens.client_version")) }
            dd { @if beat.client_version.is_empty() { "—" } @else { code { (beat.client_version) } } }
            dt { (ctx.t("screens.current_notice")) }
            dd {
                @match beat.current_notice {
                    Some(id) => (notice_link(id, &titles)),
                    None => "—",
                }
            }
            dt { (ctx.t("screens.uptime_label")) }
            dd { @if screen.last_seen_at.is_some() { (uptime(ctx, beat.uptime_seconds)) } @else { "—" } }
            dt { (ctx.t("screens.last_error")) }
            dd {
                @match &beat.last_error {
                    Some(error) if !error.is_empty() => pre { (error) },
                    _ => "—",
                }
            }
        }
        @if screen.revoked_at.is_none() {
            section class="panel" aria-labelledby="edit" {
                h2 id="edit" { (ctx.t("screens.edit")) }
                (form_error(problem))
                form method="post" action=(base) class="stack" {
                    (form_token(ctx))
                    (setup_fields(ctx, &places, form))
                    button type="submit" { (ctx.t("action.save")) }
                }
            }
            section class="panel" aria-labelledby="revoke" {
                h2 id="revoke" { (ctx.t("screens.revoke")) }
                p { (ctx.t("screens.revoke_hint")) }
                details {
                    summary { (ctx.t("screens.revoke_open")) }
                    p class="alert alert-error" { (ctx.t("screens.revoke_warning")) }
                    form method="post" action={(base) "/revoke"} class="inline" {
                        (form_token(ctx))
                        button type="submit" class="danger" { (ctx.t("screens.revoke_confirm")) }
                    }
                }
            }
        }
        section aria-labelledby="plays" {
            h2 id="plays" { (ctx.t("screens.latest_plays")) }
            @if plays.is_empty() {
                p class="muted" { (ctx.t("screens.no_plays")) }
            } @else {
                div class="table-wrap" {
                    table data-plays {
                        thead { tr {
                            th scope="col" { (ctx.t("screens.notice")) }
                            th scope="col" { (ctx.t("screens.started")) }
                            th scope="col" { (ctx.t("screens.ended")) }
                            th scope="col" { (ctx.t("screens.seconds")) }
                        } }
                        tbody {
                            @for play in &plays {
                                tr {
                                    td { (notice_link(play.notice_id, &titles)) }
                                    td { (ctx.local_time(play.started_at)) }
                                    td { (ctx.local_time(play.ended_at)) }
                                    td { ((play.ended_at - play.started_at).num_seconds()) }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(staff, &screen.name, body))
}

pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<ScreenForm>,
) -> Result<HttpResponse, WebError> {
    let screen = visible(&state, &staff, *id).await?;
    let places = Places::load(&state, &staff).await?;
    let outcome = match form.data.setup(&staff.ctx, &places) {
        Ok(setup) => state
            .signage
            .update_screen(&staff.account, screen.id, &setup)
            .await
            .map_err(|e| form_problem(&staff.ctx, &e).ok_or(e)),
        Err(problem) => Err(Ok(problem)),
    };
    match outcome {
        Ok(screen) => Ok(see_other(&format!(
            "/console/screens/{}?done=updated",
            screen.id
        ))),
        Err(Ok(problem)) => {
            let page = show_page(&state, &staff, &screen, None, &form.data, Some(&problem)).await?;
            Ok(sent_back(page))
        }
        Err(Err(e)) => Err(refused(e)),
    }
}

#[derive(Deserialize)]
pub struct Empty {}

pub async fn revoke(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    _form: CheckedForm<Empty>,
) -> Result<HttpResponse, WebError> {
    let screen = visible(&state, &staff, *id).await?;
    state
        .signage
        .revoke_screen(&staff.account, screen.id)
        .await
        .map_err(refused)?;
    Ok(see_other(&format!(
        "/console/screens/{}?done=revoked",
        screen.id
    )))
}

// ------------------------------------------------------------ proof of play

/// Walks through every play a filter matches, oldest first, a page at a
/// time. The store sorts by start time, so the next page starts at the last
/// start time seen, skipping the rows already handed out at that instant.
struct PlayPages {
    store: Arc<dyn Store>,
    filter: PlayFilter,
    seen_at_cursor: HashSet<(ScreenId, NoticeId)>,
    finished: bool,
}

impl PlayPages {
    fn new(store: Arc<dyn Store>, filter: PlayFilter) -> Self {
        Self {
            store,
            filter: PlayFilter {
                limit: PLAYS_PAGE,
                ..filter
            },
            seen_at_cursor: HashSet::new(),
            finished: false,
        }
    }

    /// The next rows; empty once all have been read.
    async fn next_page(&mut self) -> Result<Vec<PlayRow>, StoreError> {
        if self.finished {
            return Ok(Vec::new());
        }
        let page = self.store.plays(&self.filter).await?;
        self.finished = (page.len() as i64) < self.filter.limit;
        let cursor = self.filter.since;
        let fresh: Vec<PlayRow> = page
            .into_iter()
            .filter(|r| {
                Some(r.started_at) != cursor
                    || !self.seen_at_cursor.contains(&(r.screen_id, r.notice_id))
            })
            .collect();
        match fresh.last() {
            Some(last) => {
                if Some(last.started_at) != cursor {
                    self.seen_at_cursor.clear();
                    self.filter.since = Some(last.started_at);
                }
                let at = last.started_at;
                self.seen_at_cursor.extend(
                    fresh
                        .iter()
                        .filter(|r| r.started_at == at)
                        .map(|r| (r.screen_id, r.notice_id)),
                );
            }
            // A full page of rows already seen: no way forward.
            None => self.finished = true,
        }
        Ok(fresh)
    }
}

/// The screen's most recent plays, newest first. The store reads oldest
/// first, so look back over growing spans until there are enough.
async fn latest_plays(
    store: Arc<dyn Store>,
    screen: ScreenId,
    wanted: usize,
) -> Result<Vec<PlayRow>, WebError> {
    let now = Utc::now();
    let spans = [
        Some(Duration::hours(1)),
        Some(Duration::days(1)),
        Some(Duration::days(31)),
        None,
    ];
    let mut latest = std::collections::VecDeque::new();
    for span in spans {
        latest.clear();
        let filter = PlayFilter {
            screen: Some(screen),
            since: span.map(|s| now - s),
            ..Default::default()
        };
        let mut pages = PlayPages::new(store.clone(), filter);
        loop {
            let page = pages.next_page().await?;
            if page.is_empty() {
                break;
            }
            for row in page {
                if latest.len() == wanted {
                    latest.pop_front();
                }
                latest.push_back(row);
            }
        }
        if latest.len() >= wanted {
            break;
        }
    }
    Ok(latest.into_iter().rev().collect())
}

#[derive(Deserialize)]
pub struct PlaysQuery {
    /// A notice id; empty or absent: every notice.
    notice: Option<String>,
    /// First local day, `YYYY-MM-DD` (default: the first of this month).
    from: Option<String>,
    /// Last local day, inclusive (default: today).
    to: Option<String>,
}

/// The local days asked for, as `[since, until)` in UTC.
fn period(
    query: &PlaysQuery,
    zone: chrono_tz::Tz,
    today: NaiveDate,
) -> Result<(NaiveDate, NaiveDate, DateTime<Utc>, DateTime<Utc>), WebError> {
    let day = |raw: &Option<String>, default: NaiveDate| match raw
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        Some(r) => NaiveDate::parse_from_str(r, "%Y-%m-%d").map_err(|_| WebError::BadInput {
            key: "error.bad_date",
        }),
        None => Ok(default),
    };
    let from = day(&query.from, today.with_day(1).unwrap_or(today))?;
    let to = day(&query.to, today)?;
    if to < from {
        return Err(WebError::BadInput {
            key: "error.bad_period",
        });
    }
    let start = |d: NaiveDate| -> Option<DateTime<Utc>> {
        zone.from_local_datetime(&d.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    };
    let bad = || WebError::BadInput {
        key: "error.bad_date",
    };
    let since = start(from).ok_or_else(bad)?;
    let until = to.succ_opt().and_then(start).ok_or_else(bad)?;
    Ok((from, to, since, until))
}

fn csv_rows(
    rows: &[PlayRow],
    zone: chrono_tz::Tz,
    header_first: bool,
) -> Result<Bytes, csv::Error> {
    let local = |at: DateTime<Utc>| {
        at.with_timezone(&zone)
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    let mut out = Vec::new();
    if header_first {
        // A byte-order mark first, so that spreadsheet programs read the Chinese text as UTF-8.
        out.extend_from_slice(&[0xEF, 0xBB, 0xBF]);
    }
    let mut w = csv::Writer::from_writer(out);
    if header_first {
        w.write_record([
            "screen_id",
            "screen_name",
            "notice_id",
            "notice_title",
            "started",
            "ended",
            "seconds",
        ])?;
    }
    for r in rows {
        w.write_record([
            r.screen_id.to_string().as_str(),
            &inert(&r.screen_name),
            &r.notice_id.to_string(),
            &inert(&r.notice_title),
            &local(r.started_at),
            &local(r.ended_at),
            &(r.ended_at - r.started_at).num_seconds().to_string(),
        ])?;
    }
    w.flush()?;
    Ok(Bytes::from(w.into_inner().map_err(|e| e.into_error())?))
}

/// Proof-of-play as CSV, streamed a page at a time so that a long period
/// of many screens never sits in memory whole.
pub async fn plays_csv(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<PlaysQuery>,
) -> Result<HttpResponse, WebError> {
    let zone = staff.ctx.time_zone;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let (from, to, since, until) = period(&query, zone, today)?;
    let notice = match query
        .notice
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
    {
        None => None,
        Some(raw) => {
            let id = raw.parse().map(NoticeId).map_err(|_| WebError::BadInput {
                key: "screens.bad_notice",
            })?;
            let notice = state.store.notice(id).await?;
            if !staff.account.scope().reaches(notice.community_id.into()) {
                return Err(WebError::NotFound);
            }
            Some(id)
        }
    };
    let filter = PlayFilter {
        community: staff.account.scope().community(),
        notice,
        since: Some(since),
        until: Some(until),
        ..Default::default()
    };
    let name = format!(
        "plays_{}_{from}_{to}.csv",
        notice.map_or_else(|| "all".to_owned(), |n| n.to_string())
    );
    let pages = PlayPages::new(state.store.clone(), filter);
    let body = futures_util::stream::unfold(Some((pages, true)), move |state| async move {
        let (mut pages, first) = state?;
        let rows = match pages.next_page().await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "proof-of-play export failed part-way");
                let failed = actix_web::error::ErrorInternalServerError("export failed");
                return Some((Err(failed), None));
            }
        };
        if rows.is_empty() && !first {
            return None;
        }
        match csv_rows(&rows, zone, first) {
            Ok(bytes) => Some((Ok(bytes), Some((pages, false)))),
            Err(e) => {
                tracing::error!(error = %e, "proof-of-play export failed part-way");
                let failed = actix_web::error::ErrorInternalServerError("export failed");
                Some((Err(failed), None))
            }
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreadsheet_formulas_stay_text() {
        assert_eq!(
            inert("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(inert("+1"), "'+1");
        assert_eq!(inert("-1"), "'-1");
        assert_eq!(inert("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(inert("停水通知"), "停水通知");
    }

    #[test]
    fn the_period_is_read_in_local_days() {
        let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 3, 15).unwrap();
        let query = |from: &str, to: &str| PlaysQuery {
            notice: None,
            from: Some(from.into()),
            to: Some(to.into()),
        };
        let (_, _, since, until) = period(&query("2026-03-01", "2026-03-01"), zone, today).unwrap();
        assert_eq!(since.to_rfc3339(), "2026-02-28T16:00:00+00:00");
        assert_eq!(until.to_rfc3339(), "2026-03-01T16:00:00+00:00");
        assert!(period(&query("2026-3-1x", "2026-03-01"), zone, today).is_err());
        assert!(period(&query("2026-03-02", "2026-03-01"), zone, today).is_err());
        let (from, to, _, _) = period(
            &PlaysQuery {
                notice: None,
                from: None,
                to: None,
            },
            zone,
            today,
        )
        .unwrap();
        assert_eq!((from.day(), to.day()), (1, 15));
    }

    #[test]
    fn the_csv_starts_with_a_byte_order_mark_and_a_header() {
        let zone: chrono_tz::Tz = "Asia/Shanghai".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 2, 0, 0).unwrap();
        let row = PlayRow {
            screen_id: ScreenId(3),
            screen_name: "3号楼大堂".into(),
            notice_id: NoticeId(7),
            notice_title: "=1+1".into(),
            started_at: at,
            ended_at: at + Duration::seconds(15),
        };
        let bytes = csv_rows(&[row], zone, true).unwrap();
        assert!(bytes.starts_with(&[0xEF, 0xBB, 0xBF]));
        let text = std::str::from_utf8(&bytes[3..]).unwrap();
        assert_eq!(
            text,
            "screen_id,screen_name,notice_id,notice_title,started,ended,seconds\n\
             3,3号楼大堂,7,'=1+1,2026-03-01 10:00:00,2026-03-01 10:00:15,15\n"
        );
    }
}
