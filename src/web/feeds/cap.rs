//! The emergency notices a community's screens show, published as CAP 1.2
//! (OASIS Common Alerting Protocol): an Atom index of the current message of
//! each emergency, and one CAP document per notice. The messages themselves
//! (alert, update, cancel) come from the notice's workflow steps; see
//! `crate::signage::emergency`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use crate::domain::notice::{Notice, NoticeCategory, NoticeState, Target};
use crate::domain::{Community, EstateId, NoticeId};
use crate::i18n::Lang;
use crate::signage::emergency::{cap_messages, cap_severity, CapKind, CapMessage};
use crate::store::NoticeFilter;
use crate::web::error::WebError;
use crate::web::AppState;

use super::{base_url, community_by_code, conditional, host};

pub const ATOM_TYPE: &str = "application/atom+xml; charset=utf-8";
pub const CAP_TYPE: &str = "application/cap+xml; charset=utf-8";
/// Notices read for a feed, newest first; emergencies are a few of them.
const NOTICES_READ: i64 = 200;
/// Most entries in the index.
const ENTRIES_MAX: usize = 50;
/// How long a cancelled emergency stays in the index, so that subscribers
/// polling now and then still learn that it is over.
const CANCELS_KEPT: Duration = Duration::days(7);

/// A notice's words as the feed publishes them: personal data masked (see
/// `domain::personal_data`), as every public output of records is.
fn public_text(text: &str) -> String {
    crate::domain::personal_data::mask_personal_data(text).text
}

/// `&`, `<`, `>` and quotes escaped; characters XML 1.0 cannot hold dropped.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// CAP's time form: seconds, and the offset spelled out (no `Z`).
fn cap_time(at: DateTime<Utc>, zone: Tz) -> String {
    at.with_timezone(&zone)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

fn atom_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn cap_category(category: NoticeCategory) -> &'static str {
    match category {
        NoticeCategory::Outage => "Infra",
        _ => "Safety",
    }
}

/// An emergency notice with its CAP messages, oldest first (never empty).
struct Emergency {
    notice: Notice,
    messages: Vec<CapMessage>,
}

impl Emergency {
    fn current(&self) -> CapMessage {
        *self.messages.last().expect("an emergency has a message")
    }
}

async fn emergency(
    state: &AppState,
    notice: Notice,
    now: DateTime<Utc>,
) -> Result<Option<Emergency>, WebError> {
    if !notice.emergency {
        return Ok(None);
    }
    let steps = state.store.notice_steps(notice.id).await?;
    let messages = cap_messages(&notice, &steps, now);
    Ok((!messages.is_empty()).then_some(Emergency { notice, messages }))
}

/// What a CAP document is built from besides the notice.
struct Issuer<'a> {
    community: &'a Community,
    sender: String,
    zone: Tz,
    /// Each `<area>`: its description, polygon and geocode.
    areas: Vec<(String, Option<String>, Option<String>)>,
}

/// The estates a notice is aimed at (all the community's when it is aimed
/// at the community, at screen groups, or at nothing in particular).
async fn aimed_estates(
    state: &AppState,
    notice: &Notice,
) -> Result<Option<BTreeSet<EstateId>>, WebError> {
    let mut estates = BTreeSet::new();
    for target in &notice.targets {
        match *target {
            Target::Community(_) | Target::Group(_) => return Ok(None),
            Target::Estate(id) => {
                estates.insert(id);
            }
            Target::Building(id) => {
                estates.insert(state.store.building(id).await?.estate_id);
            }
            Target::Screen(id) => {
                estates.insert(state.store.screen(id).await?.place.estate_id);
            }
        }
    }
    Ok((!estates.is_empty()).then_some(estates))
}

/// The areas of a notice: per estate its name, outline and division code.
async fn areas(
    state: &AppState,
    community: &Community,
    notice: &Notice,
) -> Result<Vec<(String, Option<String>, Option<String>)>, WebError> {
    let aimed = aimed_estates(state, notice).await?;
    let mut areas = Vec::new();
    for estate in state.store.list_estates(community.id).await? {
        if aimed.as_ref().is_some_and(|a| !a.contains(&estate.id)) {
            continue;
        }
        let place = state.store.estate_geography(estate.id).await?;
        let polygon = place.as_ref().and_then(|p| p.outline.as_ref()).map(|o| {
            o.points()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        });
        let geocode = place.and_then(|p| p.geocode);
        areas.push((
            format!("{} {}", community.name, estate.name),
            polygon,
            geocode,
        ));
    }
    if areas.is_empty() {
        areas.push((community.name.clone(), None, None));
    }
    Ok(areas)
}

/// One CAP 1.2 alert document: the notice's current message.
fn alert_document(issuer: &Issuer<'_>, e: &Emergency) -> String {
    let notice = &e.notice;
    let message = e.current();
    let zone = issuer.zone;
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<alert xmlns=\"urn:oasis:names:tc:emergency:cap:1.2\">\n");
    let _ = writeln!(
        out,
        "  <identifier>{}</identifier>",
        xml(&message.identifier(notice.id))
    );
    let _ = writeln!(out, "  <sender>{}</sender>", xml(&issuer.sender));
    let _ = writeln!(out, "  <sent>{}</sent>", cap_time(message.sent, zone));
    out.push_str("  <status>Actual</status>\n");
    let _ = writeln!(out, "  <msgType>{}</msgType>", message.kind.as_str());
    out.push_str("  <scope>Public</scope>\n");
    let earlier = &e.messages[..e.messages.len() - 1];
    if !earlier.is_empty() {
        let references: Vec<String> = earlier
            .iter()
            .map(|m| {
                format!(
                    "{},{},{}",
                    issuer.sender,
                    m.identifier(notice.id),
                    cap_time(m.sent, zone)
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  <references>{}</references>",
            xml(&references.join(" "))
        );
    }
    // A notice sent back to draft by an edit says nothing of its new text.
    let content_public = matches!(
        notice.state,
        NoticeState::Published | NoticeState::Withdrawn
    );
    if content_public {
        let cancelled = message.kind == CapKind::Cancel;
        out.push_str("  <info>\n");
        out.push_str("    <language>zh-CN</language>\n");
        let _ = writeln!(
            out,
            "    <category>{}</category>",
            cap_category(notice.category)
        );
        let event = Lang::Zh.t(&format!("notices.category.{}", notice.category.as_str()));
        let _ = writeln!(out, "    <event>{}</event>", xml(&event));
        let _ = writeln!(
            out,
            "    <urgency>{}</urgency>",
            if cancelled { "Past" } else { "Immediate" }
        );
        let _ = writeln!(
            out,
            "    <severity>{}</severity>",
            cap_severity(notice.priority)
        );
        out.push_str("    <certainty>Observed</certainty>\n");
        let _ = writeln!(
            out,
            "    <effective>{}</effective>",
            cap_time(notice.validity.starts_at(), zone)
        );
        if let Some(end) = notice.validity.ends_at() {
            let _ = writeln!(out, "    <expires>{}</expires>", cap_time(end, zone));
        }
        let _ = writeln!(
            out,
            "    <senderName>{}</senderName>",
            xml(&issuer.community.name)
        );
        // Out on the internet, unlike a lobby screen: phone, ID-card and room
        // numbers, plates and e-mail addresses a notice may name are masked.
        let _ = writeln!(
            out,
            "    <headline>{}</headline>",
            xml(&public_text(&notice.title))
        );
        if !notice.body.trim().is_empty() {
            let _ = writeln!(
                out,
                "    <description>{}</description>",
                xml(&public_text(&notice.body))
            );
        }
        for (desc, polygon, geocode) in &issuer.areas {
            out.push_str("    <area>\n");
            let _ = writeln!(out, "      <areaDesc>{}</areaDesc>", xml(desc));
            if let Some(polygon) = polygon {
                let _ = writeln!(out, "      <polygon>{}</polygon>", xml(polygon));
            }
            if let Some(code) = geocode {
                let _ = writeln!(
                    out,
                    "      <geocode><valueName>GB/T 2260</valueName><value>{}</value></geocode>",
                    xml(code)
                );
            }
            out.push_str("    </area>\n");
        }
        out.push_str("  </info>\n");
    }
    out.push_str("</alert>\n");
    out
}

/// The community's emergencies that belong in the index, latest message first.
async fn listed(
    state: &AppState,
    community: &Community,
    now: DateTime<Utc>,
) -> Result<Vec<Emergency>, WebError> {
    let notices = state
        .store
        .list_notices(&NoticeFilter {
            community: Some(community.id),
            limit: NOTICES_READ,
            ..Default::default()
        })
        .await?;
    let mut listed = Vec::new();
    for notice in notices.into_iter().filter(|n| n.emergency) {
        if let Some(e) = emergency(state, notice, now).await? {
            let current = e.current();
            if current.kind != CapKind::Cancel || now - current.sent <= CANCELS_KEPT {
                listed.push(e);
            }
        }
    }
    listed.sort_by(|a, b| {
        b.current()
            .sent
            .cmp(&a.current().sent)
            .then(b.notice.id.cmp(&a.notice.id))
    });
    listed.truncate(ENTRIES_MAX);
    Ok(listed)
}

fn sender(state: &AppState) -> String {
    format!("pavilion@{}", host(state))
}

/// `GET /cap/{code}/alerts.atom`: an Atom entry per emergency, linking its
/// CAP document.
#[utoipa::path(get, path = "/cap/{code}/alerts.atom", tag = "feeds",
    params(("code" = String, Path, description = "The community's code")),
    responses(
        (status = 200, description = "Atom index of the community's emergency notices as CAP 1.2 messages (current message of each; cancels stay listed for 7 days)", content_type = "application/atom+xml", body = String),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match` (or `If-Modified-Since`)"),
        (status = 404, description = "No community with this code", body = crate::web::api::ApiError),
    ))]
pub async fn atom(
    state: web::Data<AppState>,
    req: HttpRequest,
    code: web::Path<String>,
) -> Result<HttpResponse, WebError> {
    let community = community_by_code(&state, &code).await?;
    let now = Utc::now();
    let emergencies = listed(&state, &community, now).await?;
    let base = base_url(&state);
    let code = xml(&community.code);
    let self_url = format!("{base}/cap/{code}/alerts.atom");
    let updated = emergencies
        .iter()
        .map(|e| e.current().sent)
        .max()
        .unwrap_or(community.created_at);
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"zh-CN\">\n");
    let _ = writeln!(out, "  <id>{self_url}</id>");
    let title = Lang::Zh.tf("cap.feed_title", &[("community", &community.name)]);
    let _ = writeln!(out, "  <title>{}</title>", xml(&title));
    let _ = writeln!(out, "  <updated>{}</updated>", atom_time(updated));
    let _ = writeln!(
        out,
        "  <author><name>{}</name></author>",
        xml(&community.name)
    );
    let _ = writeln!(
        out,
        "  <link rel=\"self\" type=\"application/atom+xml\" href=\"{self_url}\"/>"
    );
    for e in &emergencies {
        let message = e.current();
        let document = format!("{base}/cap/{code}/notices/{}.xml", e.notice.id);
        out.push_str("  <entry>\n");
        let _ = writeln!(
            out,
            "    <id>{document}#{}</id>",
            xml(&message.identifier(e.notice.id))
        );
        // A notice sent back to draft by an edit: its new title is not public.
        let headline = if matches!(
            e.notice.state,
            NoticeState::Published | NoticeState::Withdrawn
        ) {
            public_text(&e.notice.title)
        } else {
            message.identifier(e.notice.id)
        };
        let _ = writeln!(out, "    <title>{}</title>", xml(&headline));
        let _ = writeln!(out, "    <updated>{}</updated>", atom_time(message.sent));
        let _ = writeln!(out, "    <category term=\"{}\"/>", message.kind.as_str());
        let _ = writeln!(out, "    <summary>{}</summary>", message.kind.as_str());
        let _ = writeln!(
            out,
            "    <link rel=\"alternate\" type=\"application/cap+xml\" href=\"{document}\"/>"
        );
        out.push_str("  </entry>\n");
    }
    out.push_str("</feed>\n");
    Ok(conditional(&req, ATOM_TYPE, out, Some(updated)))
}

/// `GET /cap/{code}/notices/{id}.xml`: the notice's current CAP message.
#[utoipa::path(get, path = "/cap/{code}/notices/{id}.xml", tag = "feeds",
    params(
        ("code" = String, Path, description = "The community's code"),
        ("id" = i64, Path, description = "The emergency notice"),
    ),
    responses(
        (status = 200, description = "The notice's current CAP 1.2 message: `Alert` when first published, `Update` (with `references`) after it was published again, `Cancel` once withdrawn or expired", content_type = "application/cap+xml", body = String),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match` (or `If-Modified-Since`)"),
        (status = 404, description = "No such community, or no emergency notice of it that was ever published", body = crate::web::api::ApiError),
    ))]
pub async fn document(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, WebError> {
    let (code, id) = path.into_inner();
    let community = community_by_code(&state, &code).await?;
    let notice = match state.store.notice(NoticeId(id)).await {
        Ok(n) if n.community_id == community.id => n,
        Ok(_) | Err(crate::store::StoreError::NotFound) => return Err(WebError::NotFound),
        Err(e) => return Err(e.into()),
    };
    let Some(e) = emergency(&state, notice, Utc::now()).await? else {
        return Err(WebError::NotFound);
    };
    let issuer = Issuer {
        community: &community,
        sender: sender(&state),
        zone: state.settings.time_zone,
        areas: areas(&state, &community, &e.notice).await?,
    };
    let body = alert_document(&issuer, &e);
    Ok(conditional(&req, CAP_TYPE, body, Some(e.current().sent)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_control_characters_dropped() {
        assert_eq!(xml("a<b>&\"c'\u{1}\n"), "a&lt;b&gt;&amp;&quot;c&apos;\n");
    }

    #[test]
    fn cap_times_carry_the_offset_and_no_fraction() {
        let at = DateTime::parse_from_rfc3339("2026-12-07T06:03:07.250Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            cap_time(at, chrono_tz::Asia::Shanghai),
            "2026-12-07T14:03:07+08:00"
        );
    }
}
