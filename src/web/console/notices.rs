//! Notices in the console: write one (with pictures, a video, when and where
//! it shows), preview it on both screen shapes, send it for approval,
//! approve or reject it, and withdraw it at once.

use std::collections::HashMap;

use actix_web::{web, HttpResponse};
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use crate::domain::notice::{
    DayPart, DayPartError, MediaFile, MediaKind, MediaState, Notice, NoticeCategory, NoticeDraft,
    NoticeError, NoticeState, Target, Validity, Weekdays, BODY_MAX, IMAGES_MAX, TITLE_MAX,
};
use crate::domain::screen::Screen;
use crate::domain::{
    Building, Community, CommunityId, Estate, EstateId, MediaId, NoticeId, ScreenGroupId, ScreenId,
};
use crate::signage::{Intent, Signage, SignageError};
use crate::store::NoticeFilter;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::AppState;

/// How many day-part rows the form offers.
const DAY_PART_ROWS: usize = 2;

#[derive(Deserialize)]
pub struct ListQuery {
    done: Option<String>,
    state: Option<String>,
    /// Why an upload was refused (a catalogue key), after its redirect.
    refused: Option<String>,
    /// The limit the refusal mentions.
    n: Option<u64>,
}

impl ListQuery {
    /// The translated refusal of an upload, if the redirect carried one.
    fn refusal(&self, ctx: &crate::web::context::Ctx) -> Option<String> {
        let key = self.refused.as_deref()?;
        let known = key.starts_with("signage.upload.") || key == "notices.pick_community";
        known.then(|| match self.n {
            Some(n) => ctx.lang.tf(key, &[("n", &n)]),
            None => ctx.t(key).into_owned(),
        })
    }
}

/// What the notice form sends. Checkboxes arrive as `name=on` pairs in `rest`:
/// `target-estate-3`, `target-building-7`, `target-group-2`, `target-screen-5`,
/// `image-12`, and day-part weekdays as `dp0-d1` … `dp1-d7`.
#[derive(Deserialize, Default, Clone)]
pub struct NoticeForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    category: String,
    emergency: Option<String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default)]
    display_seconds: String,
    #[serde(default)]
    priority: String,
    #[serde(default)]
    video: String,
    community: Option<i64>,
    revision: Option<i64>,
    #[serde(default)]
    intent: String,
    #[serde(flatten)]
    rest: HashMap<String, String>,
}

fn local_input(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    at.with_timezone(&zone).format("%Y-%m-%dT%H:%M").to_string()
}

/// A `datetime-local` value read in the community's time zone.
fn local_datetime(value: &str, zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(value.trim(), "%Y-%m-%dT%H:%M").ok()?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

fn time_input(value: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M").ok()
}

impl NoticeForm {
    fn blank(zone: chrono_tz::Tz) -> Self {
        let mut form = Self {
            category: NoticeCategory::Announcement.as_str().into(),
            starts_at: local_input(Utc::now(), zone),
            display_seconds: "15".into(),
            priority: "5".into(),
            ..Default::default()
        };
        for row in 0..DAY_PART_ROWS {
            form.rest.insert(format!("dp{row}-from"), String::new());
            form.rest.insert(format!("dp{row}-until"), String::new());
        }
        form
    }

    fn of(notice: &Notice, zone: chrono_tz::Tz) -> Self {
        let mut rest = HashMap::new();
        for target in &notice.targets {
            rest.insert(target_field(*target), "on".into());
        }
        for image in &notice.images {
            rest.insert(format!("image-{image}"), "on".into());
        }
        for (row, part) in notice.day_parts.iter().enumerate() {
            for day in part.weekdays().iso_numbers() {
                rest.insert(format!("dp{row}-d{day}"), "on".into());
            }
            rest.insert(
                format!("dp{row}-from"),
                part.from().format("%H:%M").to_string(),
            );
            rest.insert(
                format!("dp{row}-until"),
                part.until().format("%H:%M").to_string(),
            );
        }
        Self {
            title: notice.title.clone(),
            body: notice.body.clone(),
            category: notice.category.as_str().into(),
            emergency: notice.emergency.then(|| "on".into()),
            starts_at: local_input(notice.validity.starts_at(), zone),
            ends_at: notice
                .validity
                .ends_at()
                .map(|at| local_input(at, zone))
                .unwrap_or_default(),
            display_seconds: notice.display_seconds.to_string(),
            priority: notice.priority.to_string(),
            video: notice.video.map(|v| v.to_string()).unwrap_or_default(),
            community: Some(notice.community_id.0),
            revision: Some(notice.revision),
            intent: String::new(),
            rest,
        }
    }

    fn checked(&self, field: &str) -> bool {
        self.rest.contains_key(field)
    }

    fn value(&self, field: &str) -> &str {
        self.rest.get(field).map(String::as_str).unwrap_or("")
    }

    fn intent(&self) -> Intent {
        match self.intent.as_str() {
            "submit" => Intent::Submit,
            "publish" => Intent::Publish,
            _ => Intent::Save,
        }
    }

    fn targets(&self) -> Vec<Target> {
        self.rest
            .keys()
            .filter_map(|key| {
                let rest = key.strip_prefix("target-")?;
                let (kind, id) = rest.split_once('-')?;
                let id: i64 = id.parse().ok()?;
                Some(match kind {
                    "estate" => Target::Estate(EstateId(id)),
                    "building" => Target::Building(crate::domain::BuildingId(id)),
                    "group" => Target::Group(ScreenGroupId(id)),
                    "screen" => Target::Screen(ScreenId(id)),
                    _ => return None,
                })
            })
            .collect()
    }

    fn images(&self) -> Vec<MediaId> {
        let mut images: Vec<MediaId> = self
            .rest
            .keys()
            .filter_map(|k| k.strip_prefix("image-")?.parse().ok().map(MediaId))
            .collect();
        images.sort();
        images
    }

    /// The filled-in day-part rows; a row with no days and no times is unused.
    fn day_parts(&self) -> Result<Vec<DayPart>, &'static str> {
        let mut parts = Vec::new();
        for row in 0..DAY_PART_ROWS {
            let days: Vec<u8> = (1..=7)
                .filter(|d| self.checked(&format!("dp{row}-d{d}")))
                .collect();
            let from = self.value(&format!("dp{row}-from"));
            let until = self.value(&format!("dp{row}-until"));
            if days.is_empty() && from.trim().is_empty() && until.trim().is_empty() {
                continue;
            }
            let (Some(from), Some(until)) = (time_input(from), time_input(until)) else {
                return Err("notices.bad_day_part_time");
            };
            let weekdays = Weekdays::from_iso(&days).ok_or("notices.bad_day_part_time")?;
            parts.push(DayPart::new(weekdays, from, until).map_err(|e| match e {
                DayPartError::NoWeekdays => "notices.day_part_no_days",
                DayPartError::Empty => "notices.day_part_empty",
            })?);
        }
        Ok(parts)
    }

    /// The checked notice, or the translated problem to show.
    fn draft(&self, staff: &Staff) -> Result<NoticeDraft, String> {
        let ctx = &staff.ctx;
        let problem = |key: &str| ctx.t(key).into_owned();
        let community = staff
            .account
            .community_id
            .or(self.community.map(CommunityId))
            .ok_or_else(|| problem("notices.pick_community"))?;
        let category =
            NoticeCategory::parse(&self.category).ok_or_else(|| problem("error.bad_request"))?;
        let starts_at = local_datetime(&self.starts_at, ctx.time_zone)
            .ok_or_else(|| problem("notices.bad_start"))?;
        let ends_at = match self.ends_at.trim() {
            "" => None,
            value => Some(
                local_datetime(value, ctx.time_zone).ok_or_else(|| problem("notices.bad_end"))?,
            ),
        };
        let validity =
            Validity::new(starts_at, ends_at).map_err(|_| problem("notices.inverted_validity"))?;
        let day_parts = self.day_parts().map_err(problem)?;
        let display_seconds: u32 = self
            .display_seconds
            .trim()
            .parse()
            .map_err(|_| problem("notices.bad_display_seconds"))?;
        let priority: u8 = self
            .priority
            .trim()
            .parse()
            .map_err(|_| problem("notices.bad_priority"))?;
        let video = match self.video.trim() {
            "" => None,
            id => Some(MediaId(
                id.parse().map_err(|_| problem("error.bad_request"))?,
            )),
        };
        NoticeDraft::new(
            community,
            &self.title,
            &self.body,
            category,
            self.emergency.is_some(),
            validity,
            day_parts,
            self.targets(),
            display_seconds,
            priority,
            self.images(),
            video,
        )
        .map_err(|e| match e {
            NoticeError::Title(e) => field_problem(ctx, "notices.title_field", &e),
            NoticeError::Body(e) => field_problem(ctx, "notices.body", &e),
            NoticeError::DisplaySeconds => problem("notices.bad_display_seconds"),
            NoticeError::Priority => problem("notices.bad_priority"),
            NoticeError::TooManyImages => problem("notices.too_many_images"),
        })
    }
}

fn target_field(target: Target) -> String {
    match target {
        Target::Community(id) => format!("target-community-{id}"),
        Target::Estate(id) => format!("target-estate-{id}"),
        Target::Building(id) => format!("target-building-{id}"),
        Target::Group(id) => format!("target-group-{id}"),
        Target::Screen(id) => format!("target-screen-{id}"),
    }
}

fn signage_error(e: SignageError) -> WebError {
    match e {
        SignageError::Forbidden => WebError::Forbidden,
        SignageError::NotFound => WebError::NotFound,
        SignageError::ChangedMeanwhile => WebError::Conflict {
            key: "signage.changed_meanwhile",
        },
        SignageError::WrongState => WebError::Conflict {
            key: "signage.wrong_state",
        },
        SignageError::Store(e) => e.into(),
        other => WebError::BadInput {
            key: other.message_key(),
        },
    }
}

/// A community with its estates and their buildings.
type Place = (Community, Vec<(Estate, Vec<Building>)>);

/// Everything a notice can be aimed at or show, in the viewer's communities.
struct Choices {
    places: Vec<Place>,
    groups: Vec<crate::domain::screen::ScreenGroup>,
    screens: Vec<Screen>,
    media: Vec<MediaFile>,
}

async fn choices(state: &AppState, staff: &Staff) -> Result<Choices, WebError> {
    let mut choices = Choices {
        places: Vec::new(),
        groups: Vec::new(),
        screens: Vec::new(),
        media: Vec::new(),
    };
    for community in state.store.list_communities().await? {
        if staff
            .account
            .community_id
            .is_some_and(|own| own != community.id)
        {
            continue;
        }
        let mut estates = Vec::new();
        for estate in state.store.list_estates(community.id).await? {
            let buildings = state.store.list_buildings(estate.id).await?;
            estates.push((estate, buildings));
        }
        choices
            .groups
            .extend(state.store.list_screen_groups(community.id).await?);
        choices
            .media
            .extend(state.store.list_media(community.id, 60).await?);
        choices.places.push((community, estates));
    }
    choices.screens = state
        .store
        .list_screens(staff.account.community_id)
        .await?
        .into_iter()
        .filter(|s| s.revoked_at.is_none())
        .collect();
    Ok(choices)
}

// ------------------------------------------------------------ list

pub async fn list(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListQuery>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let shown = query.state.as_deref().and_then(NoticeState::parse);
    let filter = NoticeFilter {
        community: staff.account.community_id,
        states: shown.into_iter().collect(),
        limit: 300,
        ..Default::default()
    };
    let notices = state.store.list_notices(&filter).await?;
    let now = Utc::now();
    let pending = notices
        .iter()
        .filter(|n| n.state == NoticeState::Pending)
        .count();
    let tabs = [None]
        .into_iter()
        .chain(NoticeState::ALL.into_iter().map(Some));
    let body = html! {
        h1 { (ctx.t("notices.title")) }
        (flash(ctx, query.done.as_deref()))
        p { a class="button" href="/console/notices/new" { (ctx.t("notices.new")) } }
        @if pending > 0 && shown.is_none() && Signage::may_approve(&staff.account, staff.account.community_id.unwrap_or(CommunityId(0))) {
            p class="alert" role="status" {
                a href="/console/notices?state=pending" { (ctx.lang.tf("notices.pending_count", &[("n", &pending)])) }
            }
        }
        nav class="tabs" aria-label=(ctx.t("notices.filter")) {
            @for tab in tabs {
                @let href = match tab { Some(s) => format!("/console/notices?state={}", s.as_str()), None => "/console/notices".into() };
                @let label = match tab { Some(s) => ctx.t(&format!("notices.state.{}", s.as_str())), None => ctx.t("notices.all") };
                a href=(href) aria-current=[(tab == shown).then_some("page")] { (label) }
            }
        }
        @if notices.is_empty() {
            p class="muted" { (ctx.t("notices.none")) }
        } @else {
            div class="table-wrap" {
                table {
                    thead { tr {
                        th scope="col" { (ctx.t("notices.title_field")) }
                        th scope="col" { (ctx.t("notices.category")) }
                        th scope="col" { (ctx.t("notices.state_field")) }
                        th scope="col" { (ctx.t("notices.validity")) }
                        th scope="col" { (ctx.t("notices.updated")) }
                    } }
                    tbody {
                        @for n in &notices {
                            tr {
                                th scope="row" {
                                    @if n.emergency { span class="badge danger" { (ctx.t("notices.emergency")) } " " }
                                    a href={"/console/notices/" (n.id)} { (n.title) }
                                }
                                td { (ctx.t(&format!("notices.category.{}", n.category.as_str()))) }
                                td { (state_label(ctx, n, now)) }
                                td { (validity_label(ctx, n)) }
                                td { (ctx.local_time(n.updated_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(console_page(&staff, &ctx.t("notices.title"), body))
}

fn state_label(ctx: &crate::web::context::Ctx, notice: &Notice, now: DateTime<Utc>) -> Markup {
    let key = if notice.state == NoticeState::Published && notice.is_expired(now) {
        "notices.expired".to_string()
    } else {
        format!("notices.state.{}", notice.state.as_str())
    };
    html! { span class={"state state-" (notice.state.as_str())} { (ctx.t(&key)) } }
}

fn validity_label(ctx: &crate::web::context::Ctx, notice: &Notice) -> Markup {
    html! {
        (ctx.local_time(notice.validity.starts_at()))
        " – "
        @match notice.validity.ends_at() {
            Some(end) => (ctx.local_time(end)),
            None => (ctx.t("notices.no_end")),
        }
    }
}

// ------------------------------------------------------------ form

fn notice_fields(staff: &Staff, choices: &Choices, form: &NoticeForm) -> Markup {
    let ctx = &staff.ctx;
    let choose_community = staff.account.community_id.is_none() && choices.places.len() > 1;
    let images: Vec<&MediaFile> = choices
        .media
        .iter()
        .filter(|m| m.kind == MediaKind::Image && m.state == MediaState::Ready)
        .collect();
    let videos: Vec<&MediaFile> = choices
        .media
        .iter()
        .filter(|m| m.kind == MediaKind::Video && m.state != MediaState::Failed)
        .collect();
    html! {
        label for="title" { (ctx.t("notices.title_field")) }
        input id="title" name="title" type="text" required minlength="2" maxlength=(TITLE_MAX) value=(form.title);
        label for="category" { (ctx.t("notices.category")) }
        select id="category" name="category" {
            @for c in NoticeCategory::ALL {
                option value=(c.as_str()) selected[form.category == c.as_str()] { (ctx.t(&format!("notices.category.{}", c.as_str()))) }
            }
        }
        label class="check" {
            input type="checkbox" name="emergency" checked[form.emergency.is_some()];
            (ctx.t("notices.emergency_field"))
        }
        p class="hint" { (ctx.t("notices.emergency_hint")) }
        label for="body" { (ctx.t("notices.body")) }
        p class="hint" id="body-hint" { (ctx.t("notices.body_hint")) }
        textarea id="body" name="body" rows="12" maxlength=(BODY_MAX) aria-describedby="body-hint" { (form.body) }
        @if choose_community {
            label for="community" { (ctx.t("notices.community")) }
            select id="community" name="community" {
                @for (community, _) in &choices.places {
                    option value=(community.id) selected[form.community == Some(community.id.0)] { (community.name) }
                }
            }
        } @else if let Some((community, _)) = choices.places.first() {
            input type="hidden" name="community" value=(community.id);
        }
        fieldset {
            legend { (ctx.t("notices.when")) }
            label for="starts_at" { (ctx.t("notices.starts_at")) }
            input id="starts_at" name="starts_at" type="datetime-local" required value=(form.starts_at);
            label for="ends_at" { (ctx.t("notices.ends_at")) }
            input id="ends_at" name="ends_at" type="datetime-local" value=(form.ends_at);
            p class="hint" { (ctx.t("notices.day_parts_hint")) }
            @for row in 0..DAY_PART_ROWS {
                div class="day-part" role="group" aria-label=(ctx.lang.tf("notices.day_part_n", &[("n", &(row + 1))])) {
                    @for day in 1..=7u8 {
                        @let field = format!("dp{row}-d{day}");
                        label class="check day" {
                            input type="checkbox" name=(field) checked[form.checked(&field)];
                            (ctx.t(&format!("weekday.{day}")))
                        }
                    }
                    label { (ctx.t("notices.day_part_from")) " "
                        input type="time" name={"dp" (row) "-from"} value=(form.value(&format!("dp{row}-from")));
                    }
                    label { (ctx.t("notices.day_part_until")) " "
                        input type="time" name={"dp" (row) "-until"} value=(form.value(&format!("dp{row}-until")));
                    }
                }
            }
        }
        fieldset {
            legend { (ctx.t("notices.targets")) }
            p class="hint" { (ctx.t("notices.targets_hint")) }
            @for (community, estates) in &choices.places {
                @for (estate, buildings) in estates {
                    @let field = target_field(Target::Estate(estate.id));
                    div class="target-estate" {
                        label class="check" {
                            input type="checkbox" name=(field) checked[form.checked(&field)];
                            strong { @if choose_community { (community.name) " · " } (estate.name) }
                            " " span class="muted" { (ctx.t("notices.whole_estate")) }
                        }
                        @for building in buildings {
                            @let field = target_field(Target::Building(building.id));
                            label class="check" {
                                input type="checkbox" name=(field) checked[form.checked(&field)];
                                (building.name)
                            }
                        }
                    }
                }
            }
            @if !choices.groups.is_empty() {
                p { strong { (ctx.t("notices.screen_groups")) } }
                @for group in &choices.groups {
                    @let field = target_field(Target::Group(group.id));
                    label class="check" {
                        input type="checkbox" name=(field) checked[form.checked(&field)];
                        (group.name)
                    }
                }
            }
            @if !choices.screens.is_empty() {
                p { strong { (ctx.t("notices.single_screens")) } }
                @for screen in &choices.screens {
                    @let field = target_field(Target::Screen(screen.id));
                    label class="check" {
                        input type="checkbox" name=(field) checked[form.checked(&field)];
                        (screen.name)
                    }
                }
            }
        }
        fieldset {
            legend { (ctx.t("notices.display")) }
            label for="display_seconds" { (ctx.t("notices.display_seconds")) }
            input id="display_seconds" name="display_seconds" type="number" min=(crate::domain::notice::DISPLAY_SECONDS.start()) max=(crate::domain::notice::DISPLAY_SECONDS.end()) required value=(form.display_seconds);
            label for="priority" { (ctx.t("notices.priority")) }
            select id="priority" name="priority" {
                @for p in crate::domain::notice::PRIORITY {
                    option value=(p) selected[form.priority == p.to_string()] { (p) }
                }
            }
            p class="hint" { (ctx.t("notices.priority_hint")) }
        }
        fieldset {
            legend { (ctx.lang.tf("notices.images", &[("n", &IMAGES_MAX)])) }
            @if images.is_empty() {
                p class="muted" { (ctx.t("notices.no_images")) }
            }
            div class="media-choices" {
                @for image in &images {
                    @let field = format!("image-{}", image.id);
                    label class="check media-choice" {
                        input type="checkbox" name=(field) checked[form.checked(&field)];
                        img src={"/kiosk/media/" (image.id) "/image"} alt="" loading="lazy" width="120";
                        span { (image.original_name) }
                    }
                }
            }
            label for="video" { (ctx.t("notices.video")) }
            select id="video" name="video" {
                option value="" { (ctx.t("notices.no_video")) }
                @for video in &videos {
                    option value=(video.id) selected[form.video == video.id.to_string()] {
                        (video.original_name)
                        @if video.state == MediaState::Processing { " (" (ctx.t("notices.media_processing")) ")" }
                    }
                }
            }
        }
    }
}

/// The save buttons this viewer gets: approvers publish directly, others
/// submit for approval; everyone may keep a draft.
fn save_buttons(staff: &Staff, community: Option<CommunityId>) -> Markup {
    let ctx = &staff.ctx;
    let may_approve = community.is_some_and(|c| Signage::may_approve(&staff.account, c))
        || (community.is_none()
            && staff
                .account
                .role
                .can(crate::domain::Permission::ApproveNotices));
    html! {
        div class="actions" {
            @if may_approve {
                button type="submit" name="intent" value="publish" { (ctx.t("notices.publish")) }
            } @else {
                button type="submit" name="intent" value="submit" { (ctx.t("notices.submit")) }
                button type="submit" name="intent" value="publish" class="danger" title=(ctx.t("notices.publish_emergency_hint")) { (ctx.t("notices.publish_emergency")) }
            }
            button type="submit" name="intent" value="save" class="secondary" { (ctx.t("notices.save_draft")) }
        }
    }
}

fn upload_form(staff: &Staff, return_to: &str, community: Option<CommunityId>) -> Markup {
    let ctx = &staff.ctx;
    html! {
        section class="panel" aria-labelledby="upload" {
            h2 id="upload" { (ctx.t("notices.upload")) }
            p class="hint" { (ctx.t("notices.upload_hint")) }
            form method="post" action="/console/media" enctype="multipart/form-data" class="stack" {
                (form_token(ctx))
                input type="hidden" name="return_to" value=(return_to);
                @if let Some(community) = community {
                    input type="hidden" name="community" value=(community);
                }
                label for="file" { (ctx.t("notices.file")) }
                input id="file" name="file" type="file" required accept="image/jpeg,image/png,image/webp,image/gif,video/*";
                button type="submit" class="secondary" { (ctx.t("notices.upload_button")) }
            }
        }
    }
}

pub async fn new_form(
    state: web::Data<AppState>,
    staff: Staff,
    query: web::Query<ListQuery>,
) -> Result<Markup, WebError> {
    let form = NoticeForm::blank(staff.ctx.time_zone);
    let refusal = query.refusal(&staff.ctx);
    new_page(
        &state,
        &staff,
        query.done.as_deref(),
        &form,
        refusal.as_deref(),
    )
    .await
}

async fn new_page(
    state: &AppState,
    staff: &Staff,
    done: Option<&str>,
    form: &NoticeForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let choices = choices(state, staff).await?;
    let community = staff
        .account
        .community_id
        .or(choices.places.first().map(|(c, _)| c.id));
    let body = html! {
        p { a href="/console/notices" { "← " (ctx.t("notices.title")) } }
        h1 { (ctx.t("notices.new")) }
        (flash(ctx, done))
        (upload_form(staff, "/console/notices/new", community))
        section class="panel" aria-labelledby="write" {
            h2 id="write" { (ctx.t("notices.write")) }
            (form_error(problem))
            form method="post" action="/console/notices" class="stack" {
                (form_token(ctx))
                (notice_fields(staff, &choices, form))
                (save_buttons(staff, community))
            }
        }
    };
    Ok(console_page(staff, &ctx.t("notices.new"), body))
}

pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    form: CheckedForm<NoticeForm>,
) -> Result<HttpResponse, WebError> {
    let draft = match form.data.draft(&staff) {
        Ok(draft) => draft,
        Err(problem) => {
            let page = new_page(&state, &staff, None, &form.data, Some(&problem)).await?;
            return Ok(sent_back(page));
        }
    };
    let notice = match state
        .signage
        .create_notice(&staff.account, &draft, form.data.intent())
        .await
    {
        Ok(notice) => notice,
        Err(e @ (SignageError::ForeignReference | SignageError::Forbidden)) => {
            let problem = staff.ctx.t(e.message_key()).into_owned();
            let page = new_page(&state, &staff, None, &form.data, Some(&problem)).await?;
            return Ok(sent_back(page));
        }
        Err(e) => return Err(signage_error(e)),
    };
    Ok(see_other(&format!(
        "/console/notices/{}?done=created",
        notice.id
    )))
}

// ------------------------------------------------------------ one notice

/// The notice, if it belongs to the viewer's community (or they have none).
async fn visible(state: &AppState, staff: &Staff, id: i64) -> Result<Notice, WebError> {
    let notice = state.store.notice(NoticeId(id)).await?;
    if staff
        .account
        .community_id
        .is_some_and(|own| own != notice.community_id)
    {
        return Err(WebError::NotFound);
    }
    Ok(notice)
}

pub async fn show(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    query: web::Query<ListQuery>,
) -> Result<Markup, WebError> {
    let notice = visible(&state, &staff, *id).await?;
    let form = NoticeForm::of(&notice, staff.ctx.time_zone);
    let refusal = query.refusal(&staff.ctx);
    show_page(
        &state,
        &staff,
        &notice,
        query.done.as_deref(),
        &form,
        refusal.as_deref(),
    )
    .await
}

fn preview_frames(ctx: &crate::web::context::Ctx, notice: &Notice) -> Markup {
    html! {
        section class="panel" aria-labelledby="preview" {
            h2 id="preview" { (ctx.t("notices.preview")) }
            p class="hint" { (ctx.t("notices.preview_hint")) }
            div class="preview-frames" {
                @for (orientation, label) in [("landscape", "notices.preview_landscape"), ("portrait", "notices.preview_portrait")] {
                    figure class={"preview preview-" (orientation)} {
                        div class="preview-screen" {
                            iframe src={"/kiosk/preview/" (notice.id) "?orientation=" (orientation) "&rev=" (notice.revision)}
                                title=(ctx.t(label)) loading="lazy" {}
                        }
                        figcaption { (ctx.t(label)) }
                    }
                }
            }
        }
    }
}

async fn show_page(
    state: &AppState,
    staff: &Staff,
    notice: &Notice,
    done: Option<&str>,
    form: &NoticeForm,
    problem: Option<&str>,
) -> Result<Markup, WebError> {
    let ctx = &staff.ctx;
    let who = &staff.account;
    let base = format!("/console/notices/{}", notice.id);
    let may_write = Signage::may_write(who, notice.community_id);
    let may_approve = Signage::may_approve(who, notice.community_id);
    let now = Utc::now();
    let choices = choices(state, staff).await?;
    let author = state.store.account(notice.author_id).await.ok();
    let body = html! {
        p { a href="/console/notices" { "← " (ctx.t("notices.title")) } }
        h1 {
            @if notice.emergency { span class="badge danger" { (ctx.t("notices.emergency")) } " " }
            (notice.title)
        }
        (flash(ctx, done))
        (form_error(problem))
        dl class="facts" {
            dt { (ctx.t("notices.state_field")) }
            dd { (state_label(ctx, notice, now)) }
            @if let Some(reason) = &notice.rejection_reason {
                dt { (ctx.t("notices.rejection_reason")) }
                dd { (reason) }
            }
            dt { (ctx.t("notices.category")) }
            dd { (ctx.t(&format!("notices.category.{}", notice.category.as_str()))) }
            dt { (ctx.t("notices.validity")) }
            dd { (validity_label(ctx, notice)) }
            dt { (ctx.t("notices.author")) }
            dd { (author.map(|a| a.display_name).unwrap_or_default()) }
            @if let Some(published) = notice.published_at {
                dt { (ctx.t("notices.published_at")) }
                dd { (ctx.local_time(published)) }
            }
            dt { (ctx.t("notices.plays")) }
            dd { a href={"/console/screens/plays.csv?notice=" (notice.id)} { (ctx.t("notices.plays_csv")) } }
        }
        div class="actions" {
            @if may_approve && notice.state == NoticeState::Pending {
                form method="post" action={(base) "/approve"} class="inline" {
                    (form_token(ctx))
                    input type="hidden" name="revision" value=(notice.revision);
                    button type="submit" { (ctx.t("notices.approve")) }
                }
            }
            @if may_write && matches!(notice.state, NoticeState::Draft | NoticeState::Rejected | NoticeState::Withdrawn) {
                form method="post" action={(base) "/submit"} class="inline" {
                    (form_token(ctx))
                    input type="hidden" name="revision" value=(notice.revision);
                    button type="submit" class="secondary" { (ctx.t("notices.submit")) }
                }
            }
            @if may_write && matches!(notice.state, NoticeState::Published | NoticeState::Pending) {
                form method="post" action={(base) "/withdraw"} class="inline" {
                    (form_token(ctx))
                    button type="submit" class="danger" {
                        @if notice.emergency { (ctx.t("notices.clear_emergency")) } @else { (ctx.t("notices.withdraw")) }
                    }
                }
            }
        }
        @if may_approve && notice.state == NoticeState::Pending {
            section class="panel" aria-labelledby="reject" {
                h2 id="reject" { (ctx.t("notices.reject")) }
                form method="post" action={(base) "/reject"} class="stack" {
                    (form_token(ctx))
                    input type="hidden" name="revision" value=(notice.revision);
                    label for="reason" { (ctx.t("notices.rejection_reason")) }
                    input id="reason" name="reason" type="text" required minlength="2" maxlength=(crate::signage::notices::REASON_MAX);
                    button type="submit" class="danger" { (ctx.t("notices.reject")) }
                }
            }
        }
        (preview_frames(ctx, notice))
        @if may_write {
            (upload_form(staff, &base, Some(notice.community_id)))
            section class="panel" aria-labelledby="edit" {
                h2 id="edit" { (ctx.t("notices.edit")) }
                @if notice.state == NoticeState::Published {
                    p class="hint" { (ctx.t("notices.edit_published_hint")) }
                }
                form method="post" action=(base) class="stack" {
                    (form_token(ctx))
                    input type="hidden" name="revision" value=(form.revision.unwrap_or(notice.revision));
                    (notice_fields(staff, &choices, form))
                    (save_buttons(staff, Some(notice.community_id)))
                }
            }
        }
    };
    Ok(console_page(staff, &notice.title, body))
}

pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<NoticeForm>,
) -> Result<HttpResponse, WebError> {
    let notice = visible(&state, &staff, *id).await?;
    let send_back = |problem: String| {
        let (state, staff, notice, form) = (&state, &staff, &notice, &form.data);
        async move {
            let page = show_page(state, staff, notice, None, form, Some(&problem)).await?;
            Ok::<_, WebError>(sent_back(page))
        }
    };
    let draft = match form.data.draft(&staff) {
        Ok(draft) => draft,
        Err(problem) => return send_back(problem).await,
    };
    let revision = form.data.revision.unwrap_or(notice.revision);
    match state
        .signage
        .update_notice(
            &staff.account,
            notice.id,
            revision,
            &draft,
            form.data.intent(),
        )
        .await
    {
        Ok(notice) => Ok(see_other(&format!(
            "/console/notices/{}?done=updated",
            notice.id
        ))),
        Err(e @ (SignageError::ForeignReference | SignageError::ChangedMeanwhile)) => {
            send_back(staff.ctx.t(e.message_key()).into_owned()).await
        }
        Err(e) => Err(signage_error(e)),
    }
}

#[derive(Deserialize)]
pub struct StepForm {
    revision: Option<i64>,
    #[serde(default)]
    reason: String,
}

async fn step(
    state: &AppState,
    staff: &Staff,
    id: i64,
    action: &str,
    form: &StepForm,
) -> Result<HttpResponse, WebError> {
    let notice = visible(state, staff, id).await?;
    let revision = form.revision.unwrap_or(notice.revision);
    let who = &staff.account;
    let result = match action {
        "approve" => state.signage.approve_notice(who, notice.id, revision).await,
        "reject" => {
            state
                .signage
                .reject_notice(who, notice.id, revision, &form.reason)
                .await
        }
        "submit" => state.signage.submit_notice(who, notice.id, revision).await,
        _ => state.signage.withdraw_notice(who, notice.id).await,
    };
    match result {
        Ok(notice) => Ok(see_other(&format!(
            "/console/notices/{}?done=updated",
            notice.id
        ))),
        Err(
            e @ (SignageError::BadText { .. }
            | SignageError::ChangedMeanwhile
            | SignageError::WrongState),
        ) => {
            let problem = match &e {
                SignageError::BadText { error, .. } => {
                    field_problem(&staff.ctx, "notices.rejection_reason", error)
                }
                other => staff.ctx.t(other.message_key()).into_owned(),
            };
            let notice = visible(state, staff, id).await?;
            let form = NoticeForm::of(&notice, staff.ctx.time_zone);
            let page = show_page(state, staff, &notice, None, &form, Some(&problem)).await?;
            Ok(sent_back(page))
        }
        Err(e) => Err(signage_error(e)),
    }
}

pub async fn approve(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<StepForm>,
) -> Result<HttpResponse, WebError> {
    step(&state, &staff, *id, "approve", &form.data).await
}

pub async fn reject(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<StepForm>,
) -> Result<HttpResponse, WebError> {
    step(&state, &staff, *id, "reject", &form.data).await
}

pub async fn submit(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<StepForm>,
) -> Result<HttpResponse, WebError> {
    step(&state, &staff, *id, "submit", &form.data).await
}

pub async fn withdraw(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    form: CheckedForm<StepForm>,
) -> Result<HttpResponse, WebError> {
    step(&state, &staff, *id, "withdraw", &form.data).await
}
