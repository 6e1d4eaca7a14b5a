//! CSV exports of records and their events for a period, for spreadsheets and archives.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use crate::domain::record::Record;
use crate::store::RecordFilter;
use crate::web::context::Staff;
use crate::web::error::WebError;
use crate::web::spreadsheet::inert;
use crate::web::AppState;

#[derive(Deserialize)]
pub struct Period {
    /// First local day, `YYYY-MM-DD` (default: the first of this month).
    from: Option<String>,
    /// Last local day, inclusive (default: today).
    to: Option<String>,
}

/// Records filed in the period that this staff member may see.
async fn records_in(
    state: &AppState,
    staff: &Staff,
    period: &Period,
) -> Result<(Vec<Record>, String), WebError> {
    let zone = staff.ctx.time_zone;
    let today = Utc::now().with_timezone(&zone).date_naive();
    let day =
        |raw: &Option<String>, default: NaiveDate| match raw.as_deref().filter(|r| !r.is_empty()) {
            Some(r) => NaiveDate::parse_from_str(r, "%Y-%m-%d").map_err(|_| WebError::BadInput {
                key: "error.bad_date",
            }),
            None => Ok(default),
        };
    let from = day(&period.from, today.with_day(1).expect("first of month"))?;
    let to = day(&period.to, today)?;
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
    let mut filter = RecordFilter {
        since: start(from),
        until: to.succ_opt().and_then(start),
        limit: 100_000,
        ..Default::default()
    };
    if !super::records::narrow_to_scope(staff, &mut filter) {
        return Ok((Vec::new(), format!("{from}_{to}")));
    }
    Ok((
        state.store.list_records(&filter).await?,
        format!("{from}_{to}"),
    ))
}

fn csv_response(name: &str, body: Vec<u8>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{name}\""),
        ))
        .body(body)
}

fn writer() -> csv::Writer<Vec<u8>> {
    // A byte-order mark first, so that spreadsheet programs read the Chinese text as UTF-8.
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    w.flush().expect("writing to memory");
    w
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<Vec<u8>, WebError> {
    w.into_inner()
        .map_err(|e| WebError::Internal(anyhow::anyhow!("csv: {e}")))
}

fn failed(e: csv::Error) -> WebError {
    WebError::Internal(e.into())
}

pub async fn records(
    state: web::Data<AppState>,
    staff: Staff,
    period: web::Query<Period>,
) -> Result<HttpResponse, WebError> {
    let (records, span) = records_in(&state, &staff, &period).await?;
    let mut w = writer();
    w.write_record([
        "number",
        "filed_at",
        "estate_id",
        "building_id",
        "category",
        "class",
        "state",
        "source",
        "title",
        "location",
        "assignee",
    ])
    .map_err(failed)?;
    for r in &records {
        w.write_record([
            r.number.as_str(),
            &r.created_at.to_rfc3339(),
            &r.estate_id.to_string(),
            &r.building_id.map(|b| b.to_string()).unwrap_or_default(),
            &inert(&r.category),
            r.class.as_str(),
            r.state.as_str(),
            r.source.as_str(),
            &inert(&r.title),
            &inert(&r.location),
            &inert(r.assignee.as_deref().unwrap_or_default()),
        ])
        .map_err(failed)?;
    }
    Ok(csv_response(&format!("records_{span}.csv"), finish(w)?))
}

pub async fn events(
    state: web::Data<AppState>,
    staff: Staff,
    period: web::Query<Period>,
) -> Result<HttpResponse, WebError> {
    let (records, span) = records_in(&state, &staff, &period).await?;
    let ids: Vec<_> = records.iter().map(|r| r.id).collect();
    let events = state.store.events_of(&ids).await?;
    let numbers: std::collections::HashMap<_, _> =
        records.iter().map(|r| (r.id, r.number.as_str())).collect();
    let number = |id| numbers.get(&id).copied().unwrap_or("");
    let mut w = writer();
    w.write_record([
        "number",
        "seq",
        "at",
        "actor",
        "action",
        "from_state",
        "to_state",
        "assignee",
        "public",
        "rating",
        "note",
    ])
    .map_err(failed)?;
    for (id, e) in &events {
        w.write_record([
            number(*id),
            &e.seq.to_string(),
            &e.at.to_rfc3339(),
            &inert(&e.actor_name),
            &e.action,
            e.from_state.map_or("", |s| s.as_str()),
            e.to_state.map_or("", |s| s.as_str()),
            &inert(e.assignee.as_deref().unwrap_or("")),
            if e.public { "yes" } else { "no" },
            &e.rating.map(|r| r.to_string()).unwrap_or_default(),
            &inert(&e.note),
        ])
        .map_err(failed)?;
    }
    Ok(csv_response(
        &format!("record_events_{span}.csv"),
        finish(w)?,
    ))
}
