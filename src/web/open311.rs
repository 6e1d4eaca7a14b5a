//! Open311 GeoReport v2, in JSON and XML, so civic apps and city back-offices
//! can read records and file new ones (with an API key issued by an admin).
//! A record's number is its `service_request_id`.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Deserialize;

use crate::accounts::tokens;
use crate::domain::geo::LatLon;
use crate::domain::record::{PublicRecord, Record, RecordEvent, RecordSource, RecordState};
use crate::domain::scope::Place;
use crate::domain::text::clean_line;
use crate::domain::{Actor, BuildingId, Estate, EstateId, RecordId};
use crate::feedback::records::{Filing, RecordError};
use crate::feedback::sla::SlaPhase;
use crate::feedback::{category_class, CATEGORIES};
use crate::i18n::Lang;
use crate::store::RecordFilter;

use super::open311_place::{self, Asked, PlaceError};
use super::record_view::public_title;
use super::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let other = || web::to(method_not_allowed);
    cfg.service(
        web::resource("/open311/v2/discovery.json")
            .get(discovery)
            .default_service(other()),
    )
    .service(
        web::resource("/open311/v2/services/{file}")
            .get(service_definition)
            .default_service(other()),
    )
    .service(
        web::resource("/open311/v2/requests/{file}")
            .get(one_request)
            .default_service(other()),
    )
    .service(
        web::resource("/open311/v2/{file}")
            .get(list)
            .post(file_request)
            .default_service(other()),
    );
}

/// What each resource answers: only `requests.*` takes a POST.
fn allowed(path: &str) -> &'static str {
    if path.starts_with("/open311/v2/requests.") {
        "GET, POST"
    } else {
        "GET"
    }
}

fn format_of(path: &str) -> Format {
    if path.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    }
}

/// A method a resource does not answer: 405, saying which it does.
async fn method_not_allowed(req: HttpRequest) -> HttpResponse {
    let mut response = error(
        format_of(req.path()),
        StatusCode::METHOD_NOT_ALLOWED,
        "method not allowed",
    );
    response.headers_mut().insert(
        actix_web::http::header::ALLOW,
        actix_web::http::header::HeaderValue::from_static(allowed(req.path())),
    );
    response
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Xml,
}

/// Splits "requests.json" into ("requests", Json).
fn parse_file(file: &str) -> Option<(&str, Format)> {
    let (stem, ext) = file.rsplit_once('.')?;
    let format = match ext {
        "json" => Format::Json,
        "xml" => Format::Xml,
        _ => return None,
    };
    Some((stem, format))
}

/// One object of a response: ordered (name, value) pairs; `Null` for absent values.
type Fields = Vec<(&'static str, serde_json::Value)>;

fn text(s: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(s.into())
}

const NONE: serde_json::Value = serde_json::Value::Null;

fn escape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// A list of objects as GeoReport wants it: a JSON array, or `<root><item>…</item></root>`.
fn respond(
    format: Format,
    status: StatusCode,
    root: &str,
    item: &str,
    items: &[Fields],
) -> HttpResponse {
    match format {
        Format::Json => {
            let array: Vec<serde_json::Value> = items
                .iter()
                .map(|fields| {
                    let object = fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.clone()))
                        .collect();
                    serde_json::Value::Object(object)
                })
                .collect();
            HttpResponse::build(status)
                .content_type("application/json; charset=utf-8")
                .body(serde_json::Value::Array(array).to_string())
        }
        Format::Xml => {
            let mut xml = format!("<?xml version=\"1.0\" encoding=\"utf-8\"?><{root}>");
            for fields in items {
                xml.push_str(&format!("<{item}>"));
                for (name, value) in fields {
                    match value {
                        serde_json::Value::Null => xml.push_str(&format!("<{name}/>")),
                        serde_json::Value::String(v) => {
                            xml.push_str(&format!("<{name}>{}</{name}>", escape_xml(v)))
                        }
                        other => xml.push_str(&format!("<{name}>{other}</{name}>")),
                    }
                }
                xml.push_str(&format!("</{item}>"));
            }
            xml.push_str(&format!("</{root}>"));
            HttpResponse::build(status)
                .content_type("text/xml; charset=utf-8")
                .body(xml)
        }
    }
}

/// GeoReport's error shape: `[{"code": 400, "description": "…"}]`.
fn error(format: Format, status: StatusCode, description: &str) -> HttpResponse {
    let fields = vec![
        ("code", serde_json::json!(status.as_u16())),
        ("description", text(description)),
    ];
    respond(format, status, "errors", "error", &[fields])
}

fn base_url(state: &AppState) -> String {
    format!(
        "{}/open311/v2",
        state.settings.server.public_url.trim_end_matches('/')
    )
}

async fn discovery(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "changeset": "2026-11-21T00:00:00Z",
        "contact": state.settings.server.public_url,
        "key_service": format!("{}/console/api-keys", state.settings.server.public_url.trim_end_matches('/')),
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base_url(&state),
            "changeset": "2026-11-21T00:00:00Z",
            "type": "production",
            "formats": ["application/json", "text/xml"],
        }],
    }))
}

fn service_fields(code: &str, lang: Lang) -> Fields {
    let name = lang.t(&format!("category.{code}")).into_owned();
    vec![
        ("service_code", text(code)),
        ("service_name", text(name.clone())),
        ("description", text(name)),
        ("metadata", serde_json::Value::Bool(false)),
        ("type", text("realtime")),
        ("keywords", NONE),
        ("group", NONE),
    ]
}

/// Service names follow the caller's Accept-Language (Chinese by default).
fn caller_lang(req: &HttpRequest) -> Lang {
    super::context::request_lang(req)
}

async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
    query: web::Query<ListQuery>,
) -> HttpResponse {
    match parse_file(&file) {
        Some(("services", format)) => {
            let lang = caller_lang(&req);
            let services: Vec<Fields> = CATEGORIES
                .iter()
                .map(|(code, _)| service_fields(code, lang))
                .collect();
            respond(format, StatusCode::OK, "services", "service", &services)
        }
        Some(("requests", format)) => list_requests(&req, &state, format, &query).await,
        Some((_, format)) => error(format, StatusCode::NOT_FOUND, "unknown resource"),
        None => error(
            Format::Json,
            StatusCode::NOT_FOUND,
            "unknown resource or format",
        ),
    }
}

async fn service_definition(file: web::Path<String>) -> HttpResponse {
    let Some((code, format)) = parse_file(&file) else {
        return error(Format::Json, StatusCode::NOT_FOUND, "unknown format");
    };
    if category_class(code).is_none() {
        return error(format, StatusCode::NOT_FOUND, "unknown service_code");
    }
    // No extra attributes: every service takes the standard fields only.
    match format {
        Format::Json => HttpResponse::Ok().json(serde_json::json!({ "service_code": code, "attributes": [] })),
        Format::Xml => HttpResponse::Ok().content_type("text/xml; charset=utf-8").body(format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><service_definition><service_code>{}</service_code><attributes/></service_definition>",
            escape_xml(code)
        )),
    }
}

#[derive(Deserialize, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Record numbers, comma-separated (`XF-2026-000123`); the other filters are then ignored.
    service_request_id: Option<String>,
    /// Only this service (see `services.json`).
    service_code: Option<String>,
    /// Filed at or after (W3C date-time or date); without dates, the last 90 days.
    start_date: Option<String>,
    /// Filed at or before (W3C date-time or date).
    end_date: Option<String>,
    /// `open` or `closed`.
    status: Option<String>,
}

/// Whether `s` could be a record's number (`XF-2026-000123`): anything
/// else is not looked up at all.
fn looks_like_a_number(s: &str) -> bool {
    (1..=40).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// W3C date-times ("2026-11-21T10:00:00+08:00") or plain dates.
fn parse_when(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let day = NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok()?;
            Some(Utc.from_utc_datetime(&day.and_hms_opt(0, 0, 0)?))
        })
}

fn open311_status(state: RecordState) -> &'static str {
    if state.is_open() {
        "open"
    } else {
        "closed"
    }
}

/// What a listing shows besides the records themselves, read once for all
/// of them rather than record by record.
struct Listing {
    events: HashMap<RecordId, Vec<RecordEvent>>,
    /// "阳光花园 3号楼" per estate and building.
    places: HashMap<(EstateId, Option<BuildingId>), String>,
    /// When the current promise runs out, for records whose clock runs.
    deadlines: HashMap<RecordId, DateTime<Utc>>,
    /// Each estate's location: where listings place its records.
    locations: HashMap<EstateId, LatLon>,
}

impl Listing {
    async fn read(state: &AppState, records: &[Record]) -> Result<Self, RecordError> {
        let ids: Vec<RecordId> = records.iter().map(|r| r.id).collect();
        let mut events: HashMap<RecordId, Vec<RecordEvent>> = HashMap::new();
        for (id, event) in state.store.events_of(&ids).await? {
            events.entry(id).or_default().push(event);
        }
        let mut estates: HashMap<EstateId, String> = HashMap::new();
        let mut places = HashMap::new();
        for record in records {
            let key = (record.estate_id, record.building_id);
            if places.contains_key(&key) {
                continue;
            }
            let estate = match estates.get(&record.estate_id) {
                Some(name) => name.clone(),
                None => {
                    let name = state.store.estate(record.estate_id).await?.name.to_string();
                    estates.insert(record.estate_id, name.clone());
                    name
                }
            };
            let place = match record.building_id {
                Some(b) => format!("{estate} {}", state.store.building(b).await?.name),
                None => estate,
            };
            places.insert(key, place);
        }
        let open: Vec<Record> = records
            .iter()
            .filter(|r| r.state.is_open())
            .cloned()
            .collect();
        let deadlines = state
            .records
            .judge(open, Utc::now())
            .await?
            .into_iter()
            .filter_map(|(r, sla)| match sla.phase {
                SlaPhase::Running {
                    deadline: Some(at), ..
                } => Some((r.id, at)),
                _ => None,
            })
            .collect();
        let locations = state
            .store
            .estate_geographies()
            .await?
            .into_iter()
            .map(|(estate, _, place)| (estate, place.location))
            .collect();
        Ok(Listing {
            events,
            places,
            deadlines,
            locations,
        })
    }

    fn fields(&self, record: &Record, lang: Lang) -> Fields {
        let events = self.events.get(&record.id).map_or(&[][..], Vec::as_slice);
        // Everything below comes from the public view, never from the record itself.
        let record = PublicRecord::of(record, events);
        let address = self
            .places
            .get(&(record.estate_id, record.building_id))
            .cloned()
            .unwrap_or_default();
        // The estate's location, never the point the request was filed at:
        // a phone's position is often the caller's own doorway. (Staff see
        // the point on the record.)
        let point = self.locations.get(&record.estate_id).copied();
        let expected = self
            .deadlines
            .get(&record.id)
            .map_or(NONE, |at| text(at.to_rfc3339()));
        vec![
            ("service_request_id", text(record.number.clone())),
            ("status", text(open311_status(record.state))),
            ("status_notes", text(status_notes(&record, lang))),
            (
                "service_name",
                text(lang.t(&format!("category.{}", record.category))),
            ),
            ("service_code", text(record.category.clone())),
            // Only the public title: descriptions may hold details residents
            // told the property office alone.
            ("description", text(public_title(&record, &address, lang))),
            ("agency_responsible", NONE),
            ("service_notice", NONE),
            ("requested_datetime", text(record.created_at.to_rfc3339())),
            ("updated_datetime", text(record.updated_at.to_rfc3339())),
            // The deadline of the record's current promise (the 5431 rule).
            ("expected_datetime", expected),
            ("address", text(address)),
            ("address_id", text(record.estate_id.to_string())),
            ("lat", point.map_or(NONE, |p| serde_json::json!(p.lat()))),
            ("long", point.map_or(NONE, |p| serde_json::json!(p.lon()))),
            ("media_url", NONE),
        ]
    }
}

/// The state in words, and the latest staff reply written for publication
/// (masked): "处理中：师傅明早到场".
fn status_notes(record: &PublicRecord, lang: Lang) -> String {
    let state = lang.t(&format!("state.{}", record.state.as_str()));
    match record.latest_reply() {
        Some(reply) => format!("{state}{}{reply}", lang.t("punct.colon")),
        None => state.into_owned(),
    }
}

async fn list_requests(
    req: &HttpRequest,
    state: &AppState,
    format: Format,
    query: &ListQuery,
) -> HttpResponse {
    let mut filter = RecordFilter {
        limit: 1000,
        ..Default::default()
    };
    if let Some(ids) = &query.service_request_id {
        filter.numbers = ids
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| looks_like_a_number(s))
            .collect();
        if filter.numbers.is_empty() && !ids.trim().is_empty() {
            // Nothing that could be a record's number: nothing matches.
            return respond(format, StatusCode::OK, "service_requests", "request", &[]);
        }
    }
    if let Some(code) = query.service_code.as_deref().filter(|c| !c.is_empty()) {
        if category_class(code).is_none() {
            return error(format, StatusCode::BAD_REQUEST, "unknown service_code");
        }
        filter.category = Some(code.to_owned());
    }
    for (raw, slot) in [
        (&query.start_date, &mut filter.since),
        (&query.end_date, &mut filter.until),
    ] {
        if let Some(raw) = raw.as_deref().filter(|r| !r.is_empty()) {
            match parse_when(raw) {
                Some(t) => *slot = Some(t),
                None => {
                    return error(
                        format,
                        StatusCode::BAD_REQUEST,
                        "dates must be W3C date-times, e.g. 2026-11-21T10:00:00+08:00",
                    )
                }
            }
        }
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if until < since {
            return error(
                format,
                StatusCode::BAD_REQUEST,
                "end_date is before start_date",
            );
        }
    }
    // Without dates, the spec's default window: the last 90 days.
    if filter.since.is_none() && filter.until.is_none() && filter.numbers.is_empty() {
        filter.since = Some(Utc::now() - chrono::Duration::days(90));
    }
    match query.status.as_deref() {
        None | Some("") => {}
        Some("open") => {
            filter.states = RecordState::ALL
                .into_iter()
                .filter(|s| s.is_open())
                .collect()
        }
        Some("closed") => {
            filter.states = RecordState::ALL
                .into_iter()
                .filter(|s| !s.is_open())
                .collect()
        }
        Some(_) => {
            return error(
                format,
                StatusCode::BAD_REQUEST,
                "status must be open or closed",
            )
        }
    }
    let lang = caller_lang(req);
    let records = match state.store.list_records(&filter).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "open311 listing failed");
            return error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let listing = match Listing::read(state, &records).await {
        Ok(listing) => listing,
        Err(e) => {
            tracing::error!(error = %e, "open311 listing failed");
            return error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let items: Vec<Fields> = records.iter().map(|r| listing.fields(r, lang)).collect();
    respond(
        format,
        StatusCode::OK,
        "service_requests",
        "request",
        &items,
    )
}

async fn one_request(
    req: HttpRequest,
    state: web::Data<AppState>,
    file: web::Path<String>,
) -> HttpResponse {
    let Some((number, format)) = parse_file(&file) else {
        return error(Format::Json, StatusCode::NOT_FOUND, "unknown format");
    };
    if !looks_like_a_number(number) {
        return error(format, StatusCode::NOT_FOUND, "no such service_request_id");
    }
    let query = ListQuery {
        service_request_id: Some(number.to_owned()),
        ..Default::default()
    };
    let filter = RecordFilter {
        numbers: vec![number.to_owned()],
        limit: 1,
        ..Default::default()
    };
    match state.store.list_records(&filter).await {
        Ok(found) if found.is_empty() => {
            error(format, StatusCode::NOT_FOUND, "no such service_request_id")
        }
        Ok(_) => list_requests(&req, &state, format, &query).await,
        Err(_) => error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
    }
}

/// A new service request, form-encoded. Its place is `address_id`, or
/// `lat` and `long` (the estate whose outline holds the point, else the
/// nearest estate within `geography.open311_within_m` metres), or
/// `address_string` naming one estate or building.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[schema(as = Open311NewRequest)]
pub struct NewRequest {
    /// Issued by an admin at `/console/api-keys`.
    #[schema(required = true)]
    api_key: Option<String>,
    /// See `services.json`.
    #[schema(required = true)]
    service_code: Option<String>,
    description: Option<String>,
    /// The estate's id (see `address_id` in request listings).
    address_id: Option<String>,
    /// Or the estate's or building's name ("阳光花园", "阳光花园 3号楼"); with
    /// `lat`/`long`, a building of the estate found there.
    address_string: Option<String>,
    /// Or where it is: latitude in WGS84 decimal degrees, with `long`.
    #[schema(value_type = Option<f64>, minimum = -90, maximum = 90)]
    lat: Option<String>,
    /// Longitude in WGS84 decimal degrees, with `lat`.
    #[schema(value_type = Option<f64>, minimum = -180, maximum = 180)]
    long: Option<String>,
    /// Kept for staff; never shown publicly.
    first_name: Option<String>,
    last_name: Option<String>,
    phone: Option<String>,
}

/// A service request as listings show it: only its public view (no names,
/// no phone, no description as filed) and no place finer than its estate,
/// not even the point it was filed at.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Request)]
pub struct ServiceRequestDoc {
    /// The record's number.
    pub service_request_id: String,
    /// `open` or `closed`.
    pub status: String,
    /// The state in words and the latest published staff reply (masked).
    pub status_notes: String,
    pub service_name: String,
    pub service_code: String,
    /// The public title (masked), or one made from the service and the place.
    pub description: String,
    pub agency_responsible: Option<String>,
    pub service_notice: Option<String>,
    pub requested_datetime: String,
    pub updated_datetime: String,
    /// When the record's current promise runs out (the 5431 rule).
    pub expected_datetime: Option<String>,
    /// The estate's name, and the building's if any.
    pub address: String,
    /// The estate's id.
    pub address_id: String,
    /// Its estate's location (WGS84), never the point it was filed at; null when the estate has none.
    pub lat: Option<f64>,
    pub long: Option<f64>,
    pub media_url: Option<String>,
}

/// A filed request's number.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Created)]
pub struct CreatedDoc {
    pub service_request_id: String,
    pub service_notice: Option<String>,
    pub account_id: Option<String>,
}

/// GeoReport's error: the HTTP status and what was wrong.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Error)]
pub struct ErrorDoc {
    pub code: u16,
    pub description: String,
}

/// A service: a category residents' requests are filed under.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Service)]
pub struct ServiceDoc {
    pub service_code: String,
    /// In the caller's language (Accept-Language; Chinese by default).
    pub service_name: String,
    pub description: String,
    /// Always false: every service takes the standard fields only.
    pub metadata: bool,
    /// Always `realtime`.
    #[serde(rename = "type")]
    pub kind: String,
    pub keywords: Option<String>,
    pub group: Option<String>,
}

/// A service's extra fields: none.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311ServiceDefinition)]
pub struct ServiceDefinitionDoc {
    pub service_code: String,
    /// Always empty.
    #[schema(value_type = Vec<Object>)]
    pub attributes: Vec<serde_json::Value>,
}

/// Where the GeoReport v2 endpoint is and what it speaks.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Discovery)]
pub struct DiscoveryDoc {
    pub changeset: String,
    pub contact: String,
    /// Where staff issue API keys.
    pub key_service: String,
    pub endpoints: Vec<EndpointDoc>,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Open311Endpoint)]
pub struct EndpointDoc {
    pub specification: String,
    pub url: String,
    pub changeset: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub formats: Vec<String>,
}

/// The endpoint's discovery document.
#[utoipa::path(get, path = "/open311/v2/discovery.json", tag = "open311",
    responses((status = 200, description = "Where the endpoint is", body = DiscoveryDoc)))]
pub fn doc_discovery() {}

/// The services (record categories) requests are filed under.
#[utoipa::path(get, path = "/open311/v2/services.json", tag = "open311",
    responses((status = 200, description = "The services", body = [ServiceDoc])))]
pub fn doc_services() {}

/// A service's definition (its extra fields: none).
#[utoipa::path(get, path = "/open311/v2/services/{service_code}.json", tag = "open311",
    params(("service_code" = String, Path, description = "A service code from `services.json`, e.g. repairs")),
    responses(
        (status = 200, description = "The definition", body = ServiceDefinitionDoc),
        (status = 404, description = "No such service", body = [ErrorDoc]),
    ))]
pub fn doc_service_definition() {}

/// Service requests, newest first (public; JSON here, XML at `requests.xml`).
#[utoipa::path(get, path = "/open311/v2/requests.json", tag = "open311", params(ListQuery),
    responses(
        (status = 200, description = "The requests", body = [ServiceRequestDoc]),
        (status = 400, description = "A filter is malformed", body = [ErrorDoc]),
    ))]
pub fn doc_list_requests() {}

/// One service request by its number.
#[utoipa::path(get, path = "/open311/v2/requests/{service_request_id}.json", tag = "open311",
    params(("service_request_id" = String, Path, description = "The record's number, e.g. XF-2026-000123")),
    responses(
        (status = 200, description = "The request, alone in a list", body = [ServiceRequestDoc]),
        (status = 404, description = "No such request", body = [ErrorDoc]),
    ))]
pub fn doc_one_request() {}

/// Files a service request (needs an API key).
#[utoipa::path(post, path = "/open311/v2/requests.json", tag = "open311",
    request_body(content = NewRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 201, description = "Filed", body = [CreatedDoc]),
        (status = 400, description = "A field is missing or wrong, or the place is unknown or ambiguous", body = [ErrorDoc]),
        (status = 403, description = "No valid api_key, or the key may not file into that estate", body = [ErrorDoc]),
    ))]
pub fn doc_file_request() {}

async fn file_request(
    state: web::Data<AppState>,
    file: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let format = match parse_file(&file) {
        Some(("requests", format)) => format,
        Some((_, format)) => {
            let mut response = error(
                format,
                StatusCode::METHOD_NOT_ALLOWED,
                "only requests can be posted",
            );
            response.headers_mut().insert(
                actix_web::http::header::ALLOW,
                actix_web::http::header::HeaderValue::from_static("GET"),
            );
            return response;
        }
        None => {
            return error(
                Format::Json,
                StatusCode::NOT_FOUND,
                "unknown resource or format",
            )
        }
    };
    let Ok(form) = serde_urlencoded::from_bytes::<NewRequest>(&body) else {
        return error(
            format,
            StatusCode::BAD_REQUEST,
            "the body must be application/x-www-form-urlencoded",
        );
    };
    let key = match form.api_key.as_deref().filter(|k| !k.is_empty()) {
        None => return error(format, StatusCode::FORBIDDEN, "api_key is required"),
        Some(key) => match state.store.api_key(&tokens::fingerprint(key)).await {
            Ok(Some(key)) => key,
            Ok(None) => {
                tracing::warn!("open311 post with a wrong or revoked api_key");
                return error(
                    format,
                    StatusCode::FORBIDDEN,
                    "api_key is invalid or revoked",
                );
            }
            Err(_) => return error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error"),
        },
    };
    let Some(code) = form
        .service_code
        .as_deref()
        .filter(|c| category_class(c).is_some())
    else {
        return error(
            format,
            StatusCode::BAD_REQUEST,
            "service_code is missing or unknown",
        );
    };
    let scope = key.scope();
    let asked = Asked {
        address_id: form.address_id.as_deref(),
        address_string: form.address_string.as_deref(),
        lat: form.lat.as_deref(),
        long: form.long.as_deref(),
    };
    let reach = move |e: &Estate| scope.reaches(Place::estate(e.community_id, e.id));
    let within_m = state.settings.geography.open311_within_m;
    let found = match open311_place::find(state.store.as_ref(), &asked, within_m, &reach).await {
        Ok(found) => found,
        Err(PlaceError::Store(e)) => {
            tracing::error!(error = %e, "open311 place lookup failed");
            return error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
        Err(e) => return error(format, StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let estate = &found.estate;
    if !reach(estate) {
        tracing::warn!(key = key.id, estate = %estate.id, "open311 post outside its key's community");
        return error(
            format,
            StatusCode::FORBIDDEN,
            "this api_key may not file into that estate's community",
        );
    }
    // What the client called the place, for staff (never shown publicly).
    let location = form
        .address_string
        .as_deref()
        .map(|a| a.chars().take(80).collect::<String>())
        .and_then(|a| clean_line(&a, 1, 80).ok())
        .unwrap_or_default();
    let description = form.description.unwrap_or_default();
    let caller = [form.first_name, form.last_name]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let mut full = description.clone();
    if !caller.trim().is_empty() || form.phone.as_deref().is_some_and(|p| !p.is_empty()) {
        full = format!(
            "{full}\n\n{} {}",
            caller.trim(),
            form.phone.unwrap_or_default()
        )
        .trim_end()
        .to_owned();
    }
    let title: String = description
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(60)
        .collect();
    let filing = Filing {
        estate_id: estate.id,
        building_id: found.building,
        category: code.to_owned(),
        class: category_class(code).expect("checked above"),
        title,
        // GeoReport requests are public by the standard: a client that files
        // one tells its user so (the README says it too). Masked when shown.
        title_public: true,
        description: full,
        location,
        source: RecordSource::Open311,
        point: found.point,
    };
    let actor = Actor {
        id: None,
        name: format!("open311:{}", key.name),
    };
    match state.records.file(&actor, None, filing, Utc::now()).await {
        Ok((record, _)) => {
            let fields = vec![
                ("service_request_id", text(record.number)),
                ("service_notice", NONE),
                ("account_id", NONE),
            ];
            respond(
                format,
                StatusCode::CREATED,
                "service_requests",
                "request",
                &[fields],
            )
        }
        Err(RecordError::BadText { field, error: e }) => {
            error(format, StatusCode::BAD_REQUEST, &format!("{field}: {e}"))
        }
        Err(e) => {
            tracing::error!(error = %e, "open311 filing failed");
            error(format, StatusCode::INTERNAL_SERVER_ERROR, "internal error")
        }
    }
}
