//! iCalendar (RFC 5545) for calendar programs: a community's broadcasts
//! (public), one broadcast for its watch page's "add to calendar" link, and
//! the joint-meeting dates for the staff of the community.
//!
//! Written by hand: a few properties, UTC times, text escaped, lines folded
//! at 75 octets (never inside a character) and ended with CRLF.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, NaiveDate, Utc};

use crate::domain::broadcast::{Broadcast, BroadcastState};
use crate::domain::{BroadcastId, CommunityId};
use crate::i18n::Lang;
use crate::store::BroadcastFilter;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::AppState;

use super::{base_url, community_by_code, conditional, host};

pub const CALENDAR_TYPE: &str = "text/calendar; charset=utf-8";
/// How long a broadcast is taken to last until it has ended.
const BROADCAST_LENGTH: Duration = Duration::hours(1);
/// Most broadcasts in a feed, newest start first.
const BROADCASTS_MAX: i64 = 200;
/// Longest content line, in octets, before it is folded.
const LINE_OCTETS: usize = 75;

/// TEXT value escaping: backslash, semicolon, comma, and line breaks.
pub fn escape_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A content line folded to 75 octets a line (continuations begin with a
/// space, which counts), ended with CRLF.
pub fn fold(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + line.len() / 70 * 3 + 2);
    let mut used = 0;
    for c in line.chars() {
        let width = c.len_utf8();
        if used + width > LINE_OCTETS {
            out.push_str("\r\n ");
            used = 1;
        }
        out.push(c);
        used += width;
    }
    out.push_str("\r\n");
    out
}

fn utc(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A calendar being written.
struct Calendar(String);

impl Calendar {
    fn new(name: &str) -> Self {
        let mut calendar = Self(String::new());
        calendar.line("BEGIN:VCALENDAR");
        calendar.line("VERSION:2.0");
        calendar.line("PRODID:-//Pavilion//Community calendar//ZH");
        calendar.line("CALSCALE:GREGORIAN");
        calendar.line(&format!("X-WR-CALNAME:{}", escape_text(name)));
        calendar
    }

    fn line(&mut self, line: &str) {
        self.0.push_str(&fold(line));
    }

    fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }

    fn finish(mut self) -> String {
        self.line("END:VCALENDAR");
        self.0
    }
}

/// Ended without ever going live: it did not take place.
fn cancelled(b: &Broadcast) -> bool {
    b.state == BroadcastState::Ended && b.went_live_at.is_none()
}

/// When anything the event says last changed.
fn last_change(b: &Broadcast) -> DateTime<Utc> {
    [Some(b.created_at), b.went_live_at, b.ended_at]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(b.created_at)
}

fn broadcast_event(calendar: &mut Calendar, state: &AppState, b: &Broadcast) {
    let end = match (b.went_live_at, b.ended_at) {
        (Some(_), Some(ended)) => ended.max(b.starts_at + Duration::minutes(1)),
        _ => b.starts_at + BROADCAST_LENGTH,
    };
    calendar.line("BEGIN:VEVENT");
    calendar.line(&format!("UID:broadcast-{}@{}", b.id, host(state)));
    calendar.line(&format!("DTSTAMP:{}", utc(last_change(b))));
    calendar.line(&format!("DTSTART:{}", utc(b.starts_at)));
    calendar.line(&format!("DTEND:{}", utc(end)));
    calendar.text("SUMMARY", &b.title);
    if !b.description.is_empty() {
        calendar.text("DESCRIPTION", &b.description);
    }
    calendar.line(&format!("URL:{}/live/{}", base_url(state), b.id));
    if cancelled(b) {
        calendar.line("STATUS:CANCELLED");
        calendar.line("SEQUENCE:1");
    } else {
        calendar.line("STATUS:CONFIRMED");
    }
    calendar.line("END:VEVENT");
}

/// `GET /calendar/{code}/broadcasts.ics`: the community's broadcasts.
#[utoipa::path(get, path = "/calendar/{code}/broadcasts.ics", tag = "feeds",
    params(("code" = String, Path, description = "The community's code")),
    responses(
        (status = 200, description = "iCalendar (RFC 5545): a VEVENT per broadcast of the community, times in UTC, `STATUS:CANCELLED` for one ended without going live", content_type = "text/calendar", body = String),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match` (or `If-Modified-Since`)"),
        (status = 404, description = "No community with this code", body = crate::web::api::ApiError),
    ))]
pub async fn broadcasts(
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let community = community_by_code(&state, &code).await?;
    let list = state
        .store
        .list_broadcasts(&BroadcastFilter {
            community: Some(community.id),
            limit: BROADCASTS_MAX,
            ..Default::default()
        })
        .await?;
    let name = Lang::Zh.tf(
        "calendar.broadcasts_name",
        &[("community", &community.name)],
    );
    let mut calendar = Calendar::new(&name);
    for b in &list {
        broadcast_event(&mut calendar, &state, b);
    }
    let modified = list.iter().map(last_change).max();
    Ok(conditional(
        &req,
        CALENDAR_TYPE,
        calendar.finish(),
        modified,
    ))
}

/// `GET /live/{id}/calendar.ics`: one broadcast, for "add to calendar".
#[utoipa::path(get, path = "/live/{id}/calendar.ics", tag = "feeds",
    params(("id" = i64, Path, description = "The broadcast")),
    responses(
        (status = 200, description = "iCalendar (RFC 5545) with the broadcast's VEVENT", content_type = "text/calendar", body = String),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match` (or `If-Modified-Since`)"),
        (status = 404, description = "No such broadcast", body = crate::web::api::ApiError),
    ))]
pub async fn broadcast(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let b = state.store.broadcast(BroadcastId(*id)).await?;
    let community = state.store.community(b.community_id).await?;
    let name = Lang::Zh.tf(
        "calendar.broadcasts_name",
        &[("community", &community.name)],
    );
    let mut calendar = Calendar::new(&name);
    broadcast_event(&mut calendar, &state, &b);
    let mut response = conditional(
        &req,
        CALENDAR_TYPE,
        calendar.finish(),
        Some(last_change(&b)),
    );
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"broadcast.ics\""),
    );
    Ok(response)
}

/// `GET /console/communities/{id}/joint-meetings.ics`: the meeting dates,
/// all-day, for the staff of the community.
pub async fn joint_meetings(
    state: web::Data<AppState>,
    staff: Staff,
    id: web::Path<i64>,
) -> Result<HttpResponse, WebError> {
    let community = CommunityId(*id);
    if !staff.account.scope().reaches(community.into()) {
        return Err(WebError::NotFound);
    }
    let community = state.store.community(community).await?;
    let dates: Vec<NaiveDate> = state.store.joint_meetings(community.id).await?;
    let lang = staff.ctx.lang;
    let name = lang.tf(
        "calendar.joint_meetings_name",
        &[("community", &community.name)],
    );
    let mut calendar = Calendar::new(&name);
    let summary = format!("{} · {}", lang.t("calendar.joint_meeting"), community.name);
    for date in dates {
        calendar.line("BEGIN:VEVENT");
        calendar.line(&format!(
            "UID:joint-meeting-{}-{}@{}",
            community.id,
            date.format("%Y%m%d"),
            host(&state)
        ));
        calendar.line(&format!("DTSTAMP:{}", utc(community.created_at)));
        calendar.line(&format!("DTSTART;VALUE=DATE:{}", date.format("%Y%m%d")));
        let next = date.succ_opt().unwrap_or(date);
        calendar.line(&format!("DTEND;VALUE=DATE:{}", next.format("%Y%m%d")));
        calendar.text("SUMMARY", &summary);
        calendar.line(&format!(
            "URL:{}/console/agenda?community={}",
            base_url(&state),
            community.id
        ));
        calendar.line("END:VEVENT");
    }
    Ok(HttpResponse::Ok()
        .content_type(CALENDAR_TYPE)
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(calendar.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape_text("a,b;c\\d\r\ne"), "a\\,b\\;c\\\\d\\ne");
    }

    #[test]
    fn long_lines_fold_at_75_octets_between_characters() {
        let line = format!("SUMMARY:{}", "业主大会直播".repeat(10));
        let folded = fold(&line);
        assert!(folded.ends_with("\r\n"));
        let parts: Vec<&str> = folded.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(parts.len() > 1);
        for (i, part) in parts.iter().enumerate() {
            assert!(part.len() <= 75, "{part:?} is {} octets", part.len());
            assert_eq!(i > 0, part.starts_with(' '));
        }
        let unfolded: String = parts
            .iter()
            .enumerate()
            .map(|(i, p)| if i == 0 { *p } else { &p[1..] })
            .collect();
        assert_eq!(unfolded, line);
        assert_eq!(fold("SHORT:x"), "SHORT:x\r\n");
    }
}
