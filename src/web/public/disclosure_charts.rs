//! The 阳光公示 figures as pictures: the on-time rate per class over the
//! last twelve months, the month's records by category, and the
//! satisfaction trend (drawn by `web::charts`). The page shows all three;
//! a lobby screen shows the on-time trend as a picture of its own.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{Datelike, Utc};
use sha2::{Digest, Sha256};

use crate::domain::record::RecordClass;
use crate::domain::EstateId;
use crate::feedback::disclosure::{Disclosed, Disclosure, Month};
use crate::feedback::records::RecordError;
use crate::i18n::Lang;
use crate::web::charts::{self, BarChart, LineChart, Series};
use crate::web::error::WebError;
use crate::web::AppState;

/// How many months the trends cover.
pub const TREND_MONTHS: usize = 12;

fn percent(v: f64) -> String {
    format!("{v:.0}%")
}

fn rating(v: f64) -> String {
    format!("{v:.1}")
}

fn count(v: f64) -> String {
    format!("{v:.0}")
}

fn month_labels(lang: Lang, history: &[(Month, Disclosed)]) -> (Vec<String>, Vec<String>) {
    history
        .iter()
        .map(|(month, _)| {
            let m = month.first_day().month();
            (
                lang.tf("disclosure.chart.month_label", &[("m", &m)]),
                month.to_string(),
            )
        })
        .unzip()
}

/// The share of each class's records that met their time limit, per month
/// (no line where a class had no record that month).
pub fn on_time_trend<'a>(id: &'a str, lang: Lang, history: &[(Month, Disclosed)]) -> LineChart<'a> {
    let (x_labels, x_names) = month_labels(lang, history);
    let series: Vec<Series> = RecordClass::ALL
        .into_iter()
        .map(|class| Series {
            // The short names (the page's table gives each class's limit).
            name: lang
                .t(&format!("screen_figures.class.{}", class.as_str()))
                .into_owned(),
            values: history
                .iter()
                .map(|(_, d)| {
                    let row = d.figures.by_class.iter().find(|c| c.class == class)?;
                    (row.received > 0).then(|| 100.0 * row.on_time as f64 / row.received as f64)
                })
                .collect(),
        })
        .collect();
    let latest = history.last().map(|(m, d)| (m, &d.figures));
    let summary = match latest.map(|(m, d)| (m, overall_on_time(d))) {
        Some((month, Some(rate))) => lang.tf(
            "disclosure.chart.on_time_summary",
            &[
                ("months", &history.len()),
                ("month", month),
                ("rate", &percent(rate)),
            ],
        ),
        _ => lang.tf(
            "disclosure.chart.on_time_summary_none",
            &[("months", &history.len())],
        ),
    };
    LineChart {
        id,
        title: lang.t("disclosure.chart.on_time_title").into_owned(),
        summary,
        x_labels,
        x_names,
        series,
        y_max: 100.0,
        y_ticks: vec![0.0, 25.0, 50.0, 75.0, 100.0],
        format: percent,
        x_heading: lang.t("disclosure.month").into_owned(),
        missing: lang.t("disclosure.none").into_owned(),
        table_label: lang.t("disclosure.chart.as_table").into_owned(),
    }
}

fn overall_on_time(d: &Disclosure) -> Option<f64> {
    let received: usize = d.by_class.iter().map(|c| c.received).sum();
    let on_time: usize = d.by_class.iter().map(|c| c.on_time).sum();
    (received > 0).then(|| 100.0 * on_time as f64 / received as f64)
}

/// The average rating per month, on a 0–5 axis.
pub fn satisfaction_trend<'a>(
    id: &'a str,
    lang: Lang,
    history: &[(Month, Disclosed)],
) -> LineChart<'a> {
    let (x_labels, x_names) = month_labels(lang, history);
    let values: Vec<Option<f64>> = history
        .iter()
        .map(|(_, d)| d.figures.satisfaction)
        .collect();
    let rated: Vec<f64> = values.iter().flatten().copied().collect();
    let summary = if rated.is_empty() {
        lang.tf(
            "disclosure.chart.satisfaction_summary_none",
            &[("months", &history.len())],
        )
    } else {
        let mean = rated.iter().sum::<f64>() / rated.len() as f64;
        lang.tf(
            "disclosure.chart.satisfaction_summary",
            &[
                ("months", &history.len()),
                ("rated", &rated.len()),
                ("mean", &rating(mean)),
            ],
        )
    };
    LineChart {
        id,
        title: lang.t("disclosure.chart.satisfaction_title").into_owned(),
        summary,
        x_labels,
        x_names,
        series: vec![Series {
            name: lang.t("disclosure.chart.satisfaction_series").into_owned(),
            values,
        }],
        y_max: 5.0,
        y_ticks: vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
        format: rating,
        x_heading: lang.t("disclosure.month").into_owned(),
        missing: lang.t("disclosure.none").into_owned(),
        table_label: lang.t("disclosure.chart.as_table").into_owned(),
    }
}

/// The month's most frequent categories; `None` when nothing was filed.
pub fn categories<'a>(
    id: &'a str,
    lang: Lang,
    month: Month,
    d: &Disclosure,
) -> Option<BarChart<'a>> {
    let (top, n) = d.top_categories.first()?;
    let top_name = lang.t(&format!("category.{top}")).into_owned();
    Some(BarChart {
        id,
        title: lang.t("disclosure.chart.categories_title").into_owned(),
        summary: lang.tf(
            "disclosure.chart.categories_summary",
            &[
                ("month", &month),
                ("received", &d.received),
                ("top", &top_name),
                ("n", n),
            ],
        ),
        rows: d
            .top_categories
            .iter()
            .map(|(code, n)| (lang.t(&format!("category.{code}")).into_owned(), *n as f64))
            .collect(),
        format: count,
        name_heading: lang.t("record.category").into_owned(),
        value_heading: lang.t("disclosure.received").into_owned(),
        table_label: lang.t("disclosure.chart.as_table").into_owned(),
    })
}

/// The pictures a lobby screen shows beside its figures (see
/// `signage::figures::chart_urls`).
const LOBBY_CHARTS: [&str; 3] = ["on-time", "satisfaction", "categories"];

/// `GET /kiosk/media/figures/{estate}/{chart}.svg`: one of the charts up to
/// this month, in Chinese (the lobby's first language), as a picture. Public
/// like the disclosure page; cached by screens for when they are offline.
pub async fn lobby_chart(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, WebError> {
    let (estate, chart) = path.into_inner();
    if !LOBBY_CHARTS.contains(&chart.as_str()) {
        return Err(WebError::NotFound);
    }
    let estate = state.store.estate(EstateId(estate)).await?;
    let zone = state.settings.time_zone;
    let now = Utc::now();
    let history = state
        .records
        .disclosed_months(estate.id, Month::of(now, zone), TREND_MONTHS, zone, now)
        .await
        .map_err(record_error)?;
    let tag = versions_tag(&history);
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::ETAG, tag.clone()))
        .insert_header((header::CACHE_CONTROL, "public, no-cache"));
    if super::disclosure::not_modified(&req, &tag) {
        return Ok(response
            .status(actix_web::http::StatusCode::NOT_MODIFIED)
            .finish());
    }
    let svg = match chart.as_str() {
        "on-time" => charts::line_svg(&on_time_trend("on-time", Lang::Zh, &history)),
        "satisfaction" => charts::line_svg(&satisfaction_trend("satisfaction", Lang::Zh, &history)),
        _ => {
            let (month, latest) = history.last().ok_or(WebError::NotFound)?;
            let chart = categories("categories", Lang::Zh, *month, &latest.figures)
                .ok_or(WebError::NotFound)?;
            charts::bar_svg(&chart)
        }
    };
    Ok(response
        .content_type("image/svg+xml; charset=utf-8")
        // A picture may not run anything, even if opened on its own.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'",
        ))
        .body(charts::svg_document(svg)))
}

/// A validator from the facts' versions of every month shown.
pub fn versions_tag(history: &[(Month, Disclosed)]) -> String {
    let mut hash = Sha256::new();
    for (month, d) in history {
        hash.update(format!("{month}={:?}\n", d.version));
    }
    format!("W/\"{}\"", hex::encode(&hash.finalize()[..12]))
}

pub fn record_error(e: RecordError) -> WebError {
    match e {
        RecordError::Store(e) => WebError::from(e),
        e => WebError::Internal(e.into()),
    }
}
