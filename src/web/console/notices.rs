//! Notices in the console: write one (with pictures, a video, when and where
//! it shows), preview it on both screen shapes, send it for approval,
//! approve or reject it, and withdraw it at once.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDateTime, NaiveTime, TimeZone, Utc};
use maud::{html, Markup};
use serde::Deserialize;

use super::media::{receive_file, store_file, Kind, ReceivedFile, Refusal};
use crate::domain::notice::{
    DayPart, DayPartError, MediaFile, MediaKind, MediaState, Notice, NoticeCategory, NoticeDraft,
    NoticeError, NoticeState, Scripting, Target, Validity, Weekdays, BODY_MAX, IMAGES_MAX,
    TITLE_MAX,
};
use crate::domain::screen::{Orientation, Screen};
use crate::domain::{
    Building, Community, CommunityId, Estate, EstateId, MediaId, NoticeId, ScreenGroupId, ScreenId,
};
use crate::media::upload::MIB;
use crate::signage::media::{MAX_IMAGE_BYTES, MAX_VIDEO_BYTES};
use crate::signage::{Intent, Signage, SignageError};
use crate::store::{NoticeFilter, StoreError};
use crate::web::browser_policy::PREVIEW_FRAME_SANDBOX;
use crate::web::context::{Ctx, Staff};
use crate::web::error::WebError;
use crate::web::forms::{field_problem, see_other, sent_back, CheckedForm};
use crate::web::layout::{console_page, flash, form_error, form_token};
use crate::web::multipart::{self, TokenFirstForm};
use crate::web::AppState;

/// How many day-part rows the form offers.
const DAY_PART_ROWS: usize = 4;

/// The notice form's file inputs: new pictures (several) and a new video.
const NEW_IMAGES: &str = "new_images";
const NEW_VIDEO: &str = "new_video";
/// What the picture input offers to pick.
const IMAGE_TYPES: &str = "image/jpeg,image/png,image/webp,image/gif";
/// The longest typed field of the form (the body, up to 4 bytes a character).
const TEXT_FIELD_LIMIT: usize = BODY_MAX * 4 + 1024;
/// The `intent` of the preview button: nothing is saved.
const PREVIEW: &str = "preview";

#[derive(Deserialize)]
pub struct ListQuery {
    done: Option<String>,
    state: Option<String>,
    /// Why an upload was refused (a catalogue key), after its redirect.
    refused: Option<String>,
    /// The limit the refusal mentions.
    n: Option<u64>,
    /// The file just uploaded through the library's own form: ticked.
    media: Option<i64>,
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
            .scope()
            .community()
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
        // It would be expired the moment it was published.
        if validity.has_ended(Utc::now()) {
            return Err(problem("notices.ends_in_past"));
        }
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
            NoticeError::OverlappingDayParts(a, b) => ctx
                .lang
                .tf("notices.day_parts_overlap", &[("a", &a), ("b", &b)]),
            NoticeError::UnsafeBody(Scripting::Element(name)) => {
                ctx.lang.tf("notices.unsafe_element", &[("name", &name)])
            }
            NoticeError::UnsafeBody(Scripting::EventHandler(name)) => {
                ctx.lang.tf("notices.unsafe_handler", &[("name", &name)])
            }
            NoticeError::UnsafeBody(Scripting::ScriptUrl) => problem("notices.unsafe_url"),
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

// ------------------------------------------------------------ submission

/// The notice form as sent: the typed fields, and the files chosen to
/// attach (not yet stored).
struct Submission {
    form: NoticeForm,
    files: Vec<ReceivedFile>,
    /// A chosen file refused before anything was stored: its name and why.
    refused: Option<(String, Refusal)>,
}

impl Submission {
    fn is_preview(&self) -> bool {
        self.form.intent == PREVIEW
    }
}

/// Reads the notice form: `multipart/form-data` from our pages (it may carry
/// new pictures and a video), or urlencoded from older pages and scripts.
/// Either way the form token is checked first, and every typed field is read
/// even when a file is refused, so the form can be shown again as it was.
async fn read_submission(
    state: &AppState,
    staff: &Staff,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Submission, WebError> {
    let mut payload = payload.into_inner();
    if !multipart::is_multipart(req) {
        let form = CheckedForm::<NoticeForm>::from_request(req, &mut payload).await?;
        return Ok(Submission {
            form: form.data,
            files: Vec::new(),
            refused: None,
        });
    }
    let most = MAX_VIDEO_BYTES + (IMAGES_MAX as u64 + 1) * MAX_IMAGE_BYTES + MIB;
    let mut form = TokenFirstForm::new(req, Multipart::new(req.headers(), payload), most)?;
    let temp_dir = state.settings.data_dir.join("tmp");
    let mut fields = Vec::new();
    let mut files = Vec::new();
    let mut refused = None;
    while let Some(mut field) = form.next_field(&staff.ctx).await? {
        let name = field.name().unwrap_or("").to_owned();
        if !multipart::is_file(&field) {
            let value = form.read_text(&mut field, TEXT_FIELD_LIMIT).await?;
            fields.push((name, value));
            continue;
        }
        let expected = match name.as_str() {
            NEW_IMAGES => Kind::Image,
            NEW_VIDEO => Kind::Video,
            _ => {
                form.skip(&mut field).await?;
                continue;
            }
        };
        let file_name = multipart::file_name(&field);
        // An empty file input still sends a part, without a file name; after
        // a refusal nothing will be stored, so the rest is read past.
        if file_name.is_empty() || refused.is_some() {
            form.skip(&mut field).await?;
            continue;
        }
        match receive_file(&mut form, &mut field, &temp_dir, Some(expected)).await? {
            Ok(file) => files.push(file),
            Err(refusal) => refused = Some((file_name, refusal)),
        }
    }
    let bad_request = || WebError::BadInput {
        key: "error.bad_request",
    };
    let encoded = serde_urlencoded::to_string(&fields).map_err(|_| bad_request())?;
    let form = serde_urlencoded::from_str(&encoded).map_err(|_| bad_request())?;
    Ok(Submission {
        form,
        files,
        refused,
    })
}

/// "The file … was not uploaded: why", in the viewer's language.
fn upload_problem(ctx: &Ctx, file_name: &str, refusal: &Refusal) -> String {
    ctx.lang.tf(
        "notices.upload_refused",
        &[("name", &file_name), ("problem", &refusal.message(ctx))],
    )
}

/// Stores the chosen files in the library and ticks them in the form.
/// Returns how many were stored and, if one was refused, why.
async fn attach_files(
    state: &AppState,
    staff: &Staff,
    form: &mut NoticeForm,
    files: Vec<ReceivedFile>,
) -> Result<(usize, Option<String>), WebError> {
    let ctx = &staff.ctx;
    if files.is_empty() {
        return Ok((0, None));
    }
    let new_images = files.iter().filter(|f| f.kind == Kind::Image).count();
    if form.images().len() + new_images > IMAGES_MAX {
        return Ok((0, Some(ctx.t("notices.too_many_images").into_owned())));
    }
    let Some(community) = staff
        .account
        .scope()
        .community()
        .or(form.community.map(CommunityId))
    else {
        return Ok((0, Some(ctx.t("notices.pick_community").into_owned())));
    };
    let mut stored = 0;
    for file in files {
        let name = file.name.clone();
        match store_file(state, staff, community, file).await {
            Ok(media) => {
                stored += 1;
                match media.kind {
                    MediaKind::Image => {
                        form.rest.insert(format!("image-{}", media.id), "on".into());
                    }
                    MediaKind::Video => form.video = media.id.to_string(),
                }
            }
            Err(e @ SignageError::Upload(_)) => {
                tracing::info!(error = %e, "upload with a notice refused");
                let problem = upload_problem(ctx, &name, &Refusal::by_library(&e));
                return Ok((stored, Some(problem)));
            }
            Err(e) => return Err(signage_error(e)),
        }
    }
    Ok((stored, None))
}

/// Why this save may not publish: only approvers publish an ordinary notice
/// directly; others may publish only an emergency.
fn publish_refusal(staff: &Staff, draft: &NoticeDraft, intent: Intent) -> Option<String> {
    let refused = intent == Intent::Publish && !Signage::may_publish(&staff.account, draft);
    refused.then(|| staff.ctx.t("notices.publish_needs_emergency").into_owned())
}

/// Ticks a file uploaded through the library's own form, after its redirect.
async fn tick_uploaded(state: &AppState, staff: &Staff, form: &mut NoticeForm, media: Option<i64>) {
    let Some(id) = media else { return };
    let Ok(file) = state.store.media(MediaId(id)).await else {
        return;
    };
    if !staff.account.scope().reaches(file.community_id.into()) {
        return;
    }
    match file.kind {
        MediaKind::Image if form.images().len() < IMAGES_MAX => {
            form.rest.insert(format!("image-{}", file.id), "on".into());
        }
        MediaKind::Image => {}
        MediaKind::Video => form.video = file.id.to_string(),
    }
}

/// The pictures and video of a draft belong to its community (the store
/// checks this again when saving); the problem to show if not.
async fn foreign_media(
    state: &AppState,
    staff: &Staff,
    draft: &NoticeDraft,
) -> Result<Option<String>, WebError> {
    for id in draft.images.iter().chain(draft.video.iter()) {
        match state.store.media(*id).await {
            Ok(file) if file.community_id == draft.community_id => {}
            Ok(_) | Err(StoreError::NotFound) => {
                let key = SignageError::ForeignReference.message_key();
                return Ok(Some(staff.ctx.t(key).into_owned()));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
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
    for (community, estates_in_scope) in super::estates_in_scope(state, &staff.account).await? {
        let mut estates = Vec::new();
        for estate in estates_in_scope {
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
        .list_screens(staff.account.scope().community())
        .await?
        .into_iter()
        .filter(|s| s.revoked_at.is_none())
        .collect();
    Ok(choices)
}

/// Adds the files `form` refers to that are not among the latest ones (so
/// that saving never drops one silently).
async fn with_referenced_media(
    state: &AppState,
    staff: &Staff,
    mut choices: Choices,
    form: &NoticeForm,
) -> Result<Choices, WebError> {
    let video = form.video.trim().parse().ok().map(MediaId);
    for id in form.images().into_iter().chain(video) {
        if choices.media.iter().any(|m| m.id == id) {
            continue;
        }
        match state.store.media(id).await {
            Ok(file) if staff.account.scope().reaches(file.community_id.into()) => {
                choices.media.push(file);
            }
            Ok(_) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
    }
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
        community: staff.account.scope().community(),
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
        p {
            a class="button" href="/console/notices/new" { (ctx.t("notices.new")) }
            // The community's emergency alert feeds (an estate's account governs no feeds).
            @if let (Some(community), None) = (staff.account.scope().community(), staff.account.scope().estate()) {
                " " a href={"/console/communities/" (community) "/cap-feeds"} { (ctx.t("cap.title")) }
            }
        }
        @if pending > 0 && shown.is_none() && Signage::may_approve(&staff.account, staff.account.scope().community().unwrap_or(CommunityId(0))) {
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
    let choose_community = staff.account.scope().community().is_none() && choices.places.len() > 1;
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
    // A failed video cannot be kept (there is nothing to play): the notice
    // says so, with why, so that staff replace it rather than lose it
    // unnoticed.
    let failed_video = choices.media.iter().find(|m| {
        m.kind == MediaKind::Video
            && m.state == MediaState::Failed
            && form.video == m.id.to_string()
    });
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
            @if let Some(video) = failed_video {
                (video_failed(ctx, video))
            }
        }
        fieldset {
            legend { (ctx.t("notices.attach")) }
            p class="hint" id="attach-hint" { (ctx.t("notices.attach_hint")) }
            label for=(NEW_IMAGES) { (ctx.t("notices.new_images")) }
            input id=(NEW_IMAGES) name=(NEW_IMAGES) type="file" multiple accept=(IMAGE_TYPES) aria-describedby="attach-hint";
            label for=(NEW_VIDEO) { (ctx.t("notices.new_video")) }
            input id=(NEW_VIDEO) name=(NEW_VIDEO) type="file" accept="video/*" aria-describedby="attach-hint";
        }
    }
}

/// Why the notice's video will not play, for staff to replace it.
fn video_failed(ctx: &Ctx, video: &MediaFile) -> Markup {
    let error = video.error.as_deref().unwrap_or("");
    html! {
        p class="alert alert-error" role="alert" id="video-failed" {
            (ctx.lang.tf("notices.video_failed", &[("name", &video.original_name), ("error", &error)]))
        }
    }
}

/// The save buttons this viewer gets: approvers publish directly, others
/// submit for approval; everyone may keep a draft, and preview the form as
/// typed in a new tab without saving.
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
            button type="submit" name="intent" value=(PREVIEW) class="secondary" formtarget="_blank"
                formnovalidate { (ctx.t("notices.preview_button")) }
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
    let mut form = NoticeForm::blank(staff.ctx.time_zone);
    tick_uploaded(&state, &staff, &mut form, query.media).await;
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
    let choices = with_referenced_media(state, staff, choices, form).await?;
    let community = staff
        .account
        .scope()
        .community()
        .or(choices.places.first().map(|(c, _)| c.id));
    let body = html! {
        p { a href="/console/notices" { "← " (ctx.t("notices.title")) } }
        h1 { (ctx.t("notices.new")) }
        (flash(ctx, done))
        section class="panel" aria-labelledby="write" {
            h2 id="write" { (ctx.t("notices.write")) }
            (form_error(problem))
            form method="post" action="/console/notices" enctype="multipart/form-data" class="stack" {
                (form_token(ctx))
                (notice_fields(staff, &choices, form))
                (save_buttons(staff, community))
            }
        }
        (upload_form(staff, "/console/notices/new", community))
    };
    Ok(console_page(staff, &ctx.t("notices.new"), body))
}

/// The new-notice page again, with what was typed and why it was not saved.
async fn new_page_back(
    state: &AppState,
    staff: &Staff,
    form: &NoticeForm,
    problem: &str,
) -> Result<HttpResponse, WebError> {
    Ok(sent_back(
        new_page(state, staff, None, form, Some(problem)).await?,
    ))
}

/// `problem`, and that the files just uploaded are kept, if there are any.
fn with_uploads_kept(ctx: &Ctx, uploaded: usize, problem: String) -> String {
    if uploaded == 0 {
        problem
    } else {
        format!("{problem} {}", ctx.t("notices.uploaded_kept"))
    }
}

pub async fn create(
    state: web::Data<AppState>,
    staff: Staff,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let submission = read_submission(&state, &staff, &req, payload).await?;
    if submission.is_preview() {
        return preview_draft(&state, &staff, None, &submission).await;
    }
    let Submission {
        mut form,
        files,
        refused,
    } = submission;
    if let Some((name, refusal)) = refused {
        let problem = upload_problem(&staff.ctx, &name, &refusal);
        return new_page_back(&state, &staff, &form, &problem).await;
    }
    let (uploaded, problem) = attach_files(&state, &staff, &mut form, files).await?;
    let kept = |problem| with_uploads_kept(&staff.ctx, uploaded, problem);
    if let Some(problem) = problem {
        return new_page_back(&state, &staff, &form, &kept(problem)).await;
    }
    let draft = match form.draft(&staff) {
        Ok(draft) => draft,
        Err(problem) => return new_page_back(&state, &staff, &form, &kept(problem)).await,
    };
    if let Some(problem) = publish_refusal(&staff, &draft, form.intent()) {
        return new_page_back(&state, &staff, &form, &kept(problem)).await;
    }
    let notice = match state
        .signage
        .create_notice(&staff.account, &draft, form.intent())
        .await
    {
        Ok(notice) => notice,
        Err(e @ (SignageError::ForeignReference | SignageError::Forbidden)) => {
            let problem = kept(staff.ctx.t(e.message_key()).into_owned());
            return new_page_back(&state, &staff, &form, &problem).await;
        }
        Err(e) => return Err(signage_error(e)),
    };
    Ok(see_other(&format!(
        "/console/notices/{}?done=created",
        notice.id
    )))
}

// ------------------------------------------------------------ preview

/// The form as typed, on both screen shapes, without saving anything; or
/// why it could not be saved as it is. Files chosen but not yet stored are
/// left out (the preview stores nothing).
async fn preview_draft(
    state: &AppState,
    staff: &Staff,
    saved: Option<&Notice>,
    submission: &Submission,
) -> Result<HttpResponse, WebError> {
    let ctx = &staff.ctx;
    let checked = match submission.form.draft(staff) {
        Ok(draft) => match foreign_media(state, staff, &draft).await? {
            Some(problem) => Err(problem),
            None => Ok(unsaved_notice(&draft, saved, staff)),
        },
        Err(problem) => Err(problem),
    };
    let files_chosen = !submission.files.is_empty() || submission.refused.is_some();
    let title = ctx.t("notices.preview_draft_title");
    let body = html! {
        @if let Some(notice) = saved {
            p { a href={"/console/notices/" (notice.id)} { "← " (notice.title) } }
        }
        h1 { (title) }
        p class="hint" { (ctx.t("notices.preview_draft_hint")) }
        @match &checked {
            Err(problem) => (form_error(Some(problem))),
            Ok(notice) => {
                @if files_chosen {
                    p class="hint" { (ctx.t("notices.preview_files_not_shown")) }
                }
                (draft_frames(state, ctx, notice))
            }
        }
    };
    let page = console_page(staff, &title, body);
    Ok(match checked {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .body(page.into_string()),
        Err(_) => sent_back(page),
    })
}

/// The notice a draft would become, for the preview only: never stored.
fn unsaved_notice(draft: &NoticeDraft, saved: Option<&Notice>, staff: &Staff) -> Notice {
    let now = Utc::now();
    Notice {
        id: saved.map_or(NoticeId(0), |n| n.id),
        community_id: draft.community_id,
        title: draft.title.clone(),
        body: draft.body.clone(),
        category: draft.category,
        emergency: draft.emergency,
        validity: draft.validity,
        day_parts: draft.day_parts.clone(),
        targets: draft.targets.clone(),
        display_seconds: draft.display_seconds,
        priority: draft.priority,
        images: draft.images.clone(),
        video: draft.video,
        state: NoticeState::Draft,
        rejection_reason: None,
        author_id: saved.map_or(staff.account.id, |n| n.author_id),
        approved_by: None,
        revision: saved.map_or(0, |n| n.revision),
        published_at: None,
        created_at: saved.map_or(now, |n| n.created_at),
        updated_at: now,
    }
}

/// The landscape and portrait frames, each the kiosk client showing the
/// unsaved notice as its screens would.
fn draft_frames(state: &AppState, ctx: &Ctx, notice: &Notice) -> Markup {
    let shapes = [
        (Orientation::Landscape, "notices.preview_landscape"),
        (Orientation::Portrait, "notices.preview_portrait"),
    ];
    html! {
        section class="panel" aria-labelledby="preview" {
            h2 id="preview" { (ctx.t("notices.preview")) }
            p class="hint" { (ctx.t("notices.preview_hint")) }
            div class="preview-frames" {
                @for (orientation, label) in shapes {
                    figure class={"preview preview-" (orientation.as_str())} {
                        div class="preview-screen" {
                            iframe srcdoc=(kiosk_document(state, ctx, notice, orientation))
                                sandbox=(PREVIEW_FRAME_SANDBOX) title=(ctx.t(label)) {}
                        }
                        figcaption { (ctx.t(label)) }
                    }
                }
            }
        }
    }
}

/// The kiosk page with the one-notice playlist embedded, as the saved
/// notices' preview serves it.
fn kiosk_document(
    state: &AppState,
    ctx: &Ctx,
    notice: &Notice,
    orientation: Orientation,
) -> String {
    let playlist = state.signage.preview(
        notice,
        &ctx.t("notices.preview_screen"),
        orientation,
        Utc::now(),
    );
    crate::web::kiosk::preview_document(&playlist)
}

// ------------------------------------------------------------ one notice

/// The notice, if it belongs to the viewer's community (or they have none).
async fn visible(state: &AppState, staff: &Staff, id: i64) -> Result<Notice, WebError> {
    let notice = state.store.notice(NoticeId(id)).await?;
    if !staff.account.scope().reaches(notice.community_id.into()) {
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
    let mut form = NoticeForm::of(&notice, staff.ctx.time_zone);
    tick_uploaded(&state, &staff, &mut form, query.media).await;
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
                                sandbox=(PREVIEW_FRAME_SANDBOX) title=(ctx.t(label)) loading="lazy" {}
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
    let choices = with_referenced_media(state, staff, choices, form).await?;
    let author = state.store.account(notice.author_id).await.ok();
    let failed_video = match notice.video {
        Some(id) => state
            .store
            .media(id)
            .await
            .ok()
            .filter(|v| v.state == MediaState::Failed),
        None => None,
    };
    let acks = super::notice_acks::panel(state, staff, notice).await?;
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
        // Writers see it in the edit form, by the video choice.
        @if let Some(video) = failed_video.as_ref().filter(|_| !may_write) {
            (video_failed(ctx, video))
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
        (acks)
        (preview_frames(ctx, notice))
        @if may_write {
            section class="panel" aria-labelledby="edit" {
                h2 id="edit" { (ctx.t("notices.edit")) }
                @if notice.state == NoticeState::Published {
                    p class="hint" { (ctx.t("notices.edit_published_hint")) }
                }
                form method="post" action=(base) enctype="multipart/form-data" class="stack" {
                    (form_token(ctx))
                    input type="hidden" name="revision" value=(form.revision.unwrap_or(notice.revision));
                    (notice_fields(staff, &choices, form))
                    (save_buttons(staff, Some(notice.community_id)))
                }
            }
            (upload_form(staff, &base, Some(notice.community_id)))
        }
    };
    Ok(console_page(staff, &notice.title, body))
}

pub async fn update(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, WebError> {
    let notice = visible(&state, &staff, *id).await?;
    let submission = read_submission(&state, &staff, &req, payload).await?;
    if submission.is_preview() {
        return preview_draft(&state, &staff, Some(&notice), &submission).await;
    }
    let Submission {
        mut form,
        files,
        refused,
    } = submission;
    let send_back = |form: NoticeForm, problem: String| {
        let (state, staff, notice) = (&state, &staff, &notice);
        async move {
            let page = show_page(state, staff, notice, None, &form, Some(&problem)).await?;
            Ok::<_, WebError>(sent_back(page))
        }
    };
    if let Some((name, refusal)) = refused {
        let problem = upload_problem(&staff.ctx, &name, &refusal);
        return send_back(form, problem).await;
    }
    let (uploaded, problem) = attach_files(&state, &staff, &mut form, files).await?;
    let kept = |problem| with_uploads_kept(&staff.ctx, uploaded, problem);
    if let Some(problem) = problem {
        return send_back(form, kept(problem)).await;
    }
    let draft = match form.draft(&staff) {
        Ok(draft) => draft,
        Err(problem) => return send_back(form, kept(problem)).await,
    };
    // Someone who may not approve asked to publish an ordinary notice: say
    // so, with the edits kept.
    if let Some(problem) = publish_refusal(&staff, &draft, form.intent()) {
        return send_back(form, kept(problem)).await;
    }
    let revision = form.revision.unwrap_or(notice.revision);
    match state
        .signage
        .update_notice(&staff.account, notice.id, revision, &draft, form.intent())
        .await
    {
        Ok(notice) => Ok(see_other(&format!(
            "/console/notices/{}?done=updated",
            notice.id
        ))),
        Err(
            e @ (SignageError::ForeignReference
            | SignageError::ChangedMeanwhile
            | SignageError::Forbidden),
        ) => {
            let problem = kept(staff.ctx.t(e.message_key()).into_owned());
            send_back(form, problem).await
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
    // Submitted or approved now, it would reach the screens already expired.
    if matches!(action, "approve" | "submit") && notice.is_expired(Utc::now()) {
        let problem = staff.ctx.t("notices.already_ended").into_owned();
        let form = NoticeForm::of(&notice, staff.ctx.time_zone);
        let page = show_page(state, staff, &notice, None, &form, Some(&problem)).await?;
        return Ok(sent_back(page));
    }
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
