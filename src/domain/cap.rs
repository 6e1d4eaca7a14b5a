//! Emergency alerts from the authorities: OASIS Common Alerting Protocol
//! 1.2 documents, the Atom or RSS indexes that list them, which estates an
//! alert's area covers, and what a community does with each alert.
//!
//! Everything here is pure: the poller (`crate::signage::cap`) fetches, this
//! module reads and decides, with the time passed in.
//!
//! Reading is bounded: documents over [`MAX_DOCUMENT_BYTES`] are refused
//! before parsing, a DTD (and so any entity definition) is refused by the
//! parser, and the counts of nodes, info blocks, areas, points and
//! references are capped.

use chrono::{DateTime, Duration, Utc};

use super::geo::{Circle, EstateGeography, LatLon, Outline};
use super::notice::{PRIORITY, TITLE_MAX};
use super::EstateId;

/// The CAP 1.2 namespace.
pub const CAP_NS: &str = "urn:oasis:names:tc:emergency:cap:1.2";
const ATOM_NS: &str = "http://www.w3.org/2005/Atom";

/// Largest document (index or alert) read.
pub const MAX_DOCUMENT_BYTES: usize = 512 * 1024;
/// Most XML nodes a document may have.
const MAX_NODES: u32 = 40_000;
/// Deepest element nesting read (CAP and Atom need about six): the parser
/// is not asked to hold deeper documents, which could exhaust its stack.
const MAX_DEPTH: usize = 32;
/// Most alerts an index may list (the newest first, as indexes order them).
pub const MAX_INDEX_ENTRIES: usize = 20;
const MAX_INFOS: usize = 16;
const MAX_AREAS: usize = 32;
const MAX_SHAPES: usize = 32;
const MAX_POLYGON_POINTS: usize = 1000;
const MAX_REFERENCES: usize = 32;
/// Longest identifier or sender kept.
const MAX_ID_CHARS: usize = 200;
/// Longest description or instruction kept (the notice body has room for both).
const MAX_TEXT_CHARS: usize = 8000;
/// Largest circle radius believed, in kilometres.
const MAX_RADIUS_KM: f64 = 2000.0;
/// How long a notice made from an alert without `expires` stays up.
pub const DEFAULT_VALIDITY_HOURS: i64 = 24;

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CapError {
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("not XML: {0}")]
    Xml(String),
    #[error("neither a CAP 1.2 alert nor an Atom or RSS index")]
    NotCap,
    #[error("missing {0}")]
    Missing(&'static str),
    #[error("bad {0}")]
    Bad(&'static str),
    #[error("too many {0}")]
    TooMany(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Actual,
    Exercise,
    System,
    Test,
    Draft,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MsgType {
    Alert,
    Update,
    Cancel,
    Ack,
    Error,
}

impl MsgType {
    pub fn as_str(self) -> &'static str {
        match self {
            MsgType::Alert => "Alert",
            MsgType::Update => "Update",
            MsgType::Cancel => "Cancel",
            MsgType::Ack => "Ack",
            MsgType::Error => "Error",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Unknown,
    Minor,
    Moderate,
    Severe,
    Extreme,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Immediate,
    Expected,
    Future,
    Past,
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Certainty {
    Observed,
    Likely,
    Possible,
    Unlikely,
    Unknown,
}

/// An earlier alert named in `references`: "sender,identifier,sent".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub sender: String,
    pub identifier: String,
    pub sent: String,
}

/// Where an info block applies.
#[derive(Debug, Clone, PartialEq)]
pub struct Area {
    pub description: String,
    pub polygons: Vec<Outline>,
    pub circles: Vec<Circle>,
    /// `(valueName, value)` pairs.
    pub geocodes: Vec<(String, String)>,
}

/// One language's text of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct Info {
    pub language: String,
    pub event: String,
    pub headline: String,
    pub description: String,
    pub instruction: String,
    pub severity: Severity,
    pub urgency: Urgency,
    pub certainty: Certainty,
    pub effective: Option<DateTime<Utc>>,
    pub onset: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub areas: Vec<Area>,
}

/// A CAP 1.2 alert, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub identifier: String,
    pub sender: String,
    pub sent: DateTime<Utc>,
    pub status: Status,
    pub msg_type: MsgType,
    pub scope: String,
    pub references: Vec<Reference>,
    pub infos: Vec<Info>,
}

/// What a fetched document turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Document {
    /// The addresses of the CAP documents an Atom or RSS index lists
    /// (as written: relative ones are resolved by the caller).
    Index(Vec<String>),
    Alert(Box<Alert>),
}

/// Reads a fetched document: a CAP alert, or an index listing alerts.
pub fn read_document(bytes: &[u8]) -> Result<Document, CapError> {
    if bytes.len() > MAX_DOCUMENT_BYTES {
        return Err(CapError::TooLarge(MAX_DOCUMENT_BYTES));
    }
    let text = std::str::from_utf8(bytes).map_err(|_| CapError::Xml("not UTF-8".into()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if nesting_depth(text) > MAX_DEPTH {
        return Err(CapError::TooMany("nested elements"));
    }
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| CapError::Xml(e.to_string().chars().take(120).collect()))?;
    let root = doc.root_element();
    let name = root.tag_name();
    match (name.namespace(), name.name()) {
        (Some(CAP_NS), "alert") => Ok(Document::Alert(Box::new(alert(root)?))),
        (Some(ATOM_NS), "feed") => Ok(Document::Index(atom_links(root))),
        (None, "rss") => Ok(Document::Index(rss_links(root))),
        _ => Err(CapError::NotCap),
    }
}

/// Reads one CAP alert (an index is refused).
pub fn parse_alert(bytes: &[u8]) -> Result<Alert, CapError> {
    match read_document(bytes)? {
        Document::Alert(alert) => Ok(*alert),
        Document::Index(_) => Err(CapError::NotCap),
    }
}

/// How deep elements nest, read without building anything: tags, with
/// quoted attribute values, comments, CDATA sections, processing
/// instructions and declarations skipped as XML has them. For well-formed
/// XML it is exact; what is not well-formed the parser refuses anyway.
fn nesting_depth(text: &str) -> usize {
    let bytes = text.as_bytes();
    let skip_past = |from: usize, end: &[u8]| -> usize {
        bytes[from..]
            .windows(end.len())
            .position(|w| w == end)
            .map_or(bytes.len(), |at| from + at + end.len())
    };
    let (mut i, mut depth, mut deepest) = (0, 0usize, 0usize);
    while i < bytes.len() {
        if bytes[i] != b'<' {
            i += 1;
            continue;
        }
        let rest = &bytes[i..];
        if rest.starts_with(b"<!--") {
            i = skip_past(i + 4, b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_past(i + 9, b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_past(i + 2, b"?>");
        } else if rest.starts_with(b"<!") || rest.starts_with(b"</") {
            if rest.starts_with(b"</") {
                depth = depth.saturating_sub(1);
            }
            i = skip_past(i + 2, b">");
        } else {
            // A start tag: to its `>`, past quoted values.
            let mut j = i + 1;
            let mut quote = None;
            while j < bytes.len() {
                match (quote, bytes[j]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, c @ (b'"' | b'\'')) => quote = Some(c),
                    (None, b'>') => break,
                    _ => {}
                }
                j += 1;
            }
            if bytes.get(j.wrapping_sub(1)) != Some(&b'/') {
                depth += 1;
                deepest = deepest.max(depth);
            }
            i = j + 1;
        }
    }
    deepest
}

fn atom_links(feed: roxmltree::Node) -> Vec<String> {
    let mut links = Vec::new();
    for entry in feed
        .children()
        .filter(|n| n.has_tag_name((ATOM_NS, "entry")))
    {
        let candidates: Vec<roxmltree::Node> = entry
            .children()
            .filter(|n| n.has_tag_name((ATOM_NS, "link")))
            .filter(|n| n.attribute("href").is_some())
            .collect();
        // A link typed as CAP first, then the entry's alternate link.
        let cap_typed = candidates.iter().find(|n| {
            n.attribute("type")
                .is_some_and(|t| t.contains("cap") || t.contains("xml"))
        });
        let alternate = candidates
            .iter()
            .find(|n| n.attribute("rel").is_none_or(|r| r == "alternate"));
        let content = entry
            .children()
            .find(|n| n.has_tag_name((ATOM_NS, "content")))
            .and_then(|n| n.attribute("src"));
        if let Some(href) = cap_typed
            .or(alternate)
            .and_then(|n| n.attribute("href"))
            .or(content)
        {
            links.push(href.trim().to_owned());
        }
        if links.len() == MAX_INDEX_ENTRIES {
            break;
        }
    }
    links
}

fn rss_links(rss: roxmltree::Node) -> Vec<String> {
    rss.children()
        .filter(|n| n.has_tag_name("channel"))
        .flat_map(|c| c.children().filter(|n| n.has_tag_name("item")))
        .filter_map(|item| {
            item.children()
                .find(|n| n.has_tag_name("link"))
                .and_then(|n| n.text())
                .map(|t| t.trim().to_owned())
        })
        .filter(|l| !l.is_empty())
        .take(MAX_INDEX_ENTRIES)
        .collect()
}

/// The text of the CAP child element `name`, trimmed; `None` when absent or empty.
fn child_text<'a>(node: roxmltree::Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.children()
        .find(|n| n.has_tag_name((CAP_NS, name)))
        .and_then(|n| n.text())
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

fn children<'a, 'input>(
    node: roxmltree::Node<'a, 'input>,
    name: &'static str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> {
    node.children()
        .filter(move |n| n.has_tag_name((CAP_NS, name)))
}

/// A CAP date-time: `2026-12-08T09:30:00+08:00` (a `Z` is accepted too).
pub fn parse_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw.trim())
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Identifiers and senders: no spaces, commas or control characters, as
/// CAP requires (they are joined with commas in `references`).
fn id_field(raw: Option<&str>, what: &'static str) -> Result<String, CapError> {
    let raw = raw.ok_or(CapError::Missing(what))?;
    if raw.chars().count() > MAX_ID_CHARS
        || raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ',' || c == '<' || c == '&')
    {
        return Err(CapError::Bad(what));
    }
    Ok(raw.to_owned())
}

fn alert(root: roxmltree::Node) -> Result<Alert, CapError> {
    let identifier = id_field(child_text(root, "identifier"), "identifier")?;
    let sender = id_field(child_text(root, "sender"), "sender")?;
    let sent = parse_time(child_text(root, "sent").ok_or(CapError::Missing("sent"))?)
        .ok_or(CapError::Bad("sent"))?;
    let status = match child_text(root, "status").ok_or(CapError::Missing("status"))? {
        "Actual" => Status::Actual,
        "Exercise" => Status::Exercise,
        "System" => Status::System,
        "Test" => Status::Test,
        "Draft" => Status::Draft,
        _ => return Err(CapError::Bad("status")),
    };
    let msg_type = match child_text(root, "msgType").ok_or(CapError::Missing("msgType"))? {
        "Alert" => MsgType::Alert,
        "Update" => MsgType::Update,
        "Cancel" => MsgType::Cancel,
        "Ack" => MsgType::Ack,
        "Error" => MsgType::Error,
        _ => return Err(CapError::Bad("msgType")),
    };
    let scope = child_text(root, "scope")
        .ok_or(CapError::Missing("scope"))?
        .to_owned();
    if !matches!(scope.as_str(), "Public" | "Restricted" | "Private") {
        return Err(CapError::Bad("scope"));
    }
    let references = match child_text(root, "references") {
        Some(raw) => references(raw)?,
        None => Vec::new(),
    };
    if matches!(msg_type, MsgType::Update | MsgType::Cancel) && references.is_empty() {
        return Err(CapError::Missing("references"));
    }
    let mut infos = Vec::new();
    for node in children(root, "info") {
        if infos.len() == MAX_INFOS {
            return Err(CapError::TooMany("info blocks"));
        }
        infos.push(info(node)?);
    }
    if msg_type != MsgType::Cancel && infos.is_empty() {
        return Err(CapError::Missing("info"));
    }
    Ok(Alert {
        identifier,
        sender,
        sent,
        status,
        msg_type,
        scope,
        references,
        infos,
    })
}

/// "sender,identifier,sent sender,identifier,sent …"
fn references(raw: &str) -> Result<Vec<Reference>, CapError> {
    let mut out = Vec::new();
    for triple in raw.split_whitespace() {
        if out.len() == MAX_REFERENCES {
            return Err(CapError::TooMany("references"));
        }
        let parts: Vec<&str> = triple.split(',').collect();
        let [sender, identifier, sent] = parts.as_slice() else {
            return Err(CapError::Bad("references"));
        };
        if sender.is_empty() || identifier.is_empty() || parse_time(sent).is_none() {
            return Err(CapError::Bad("references"));
        }
        out.push(Reference {
            sender: (*sender).to_owned(),
            identifier: (*identifier).to_owned(),
            sent: (*sent).to_owned(),
        });
    }
    Ok(out)
}

fn long_text(node: roxmltree::Node, name: &str) -> String {
    child_text(node, name)
        .map(|t| t.chars().take(MAX_TEXT_CHARS).collect())
        .unwrap_or_default()
}

fn optional_time(
    node: roxmltree::Node,
    name: &'static str,
) -> Result<Option<DateTime<Utc>>, CapError> {
    child_text(node, name)
        .map(|t| parse_time(t).ok_or(CapError::Bad(name)))
        .transpose()
}

fn info(node: roxmltree::Node) -> Result<Info, CapError> {
    let severity = match child_text(node, "severity").ok_or(CapError::Missing("severity"))? {
        "Extreme" => Severity::Extreme,
        "Severe" => Severity::Severe,
        "Moderate" => Severity::Moderate,
        "Minor" => Severity::Minor,
        "Unknown" => Severity::Unknown,
        _ => return Err(CapError::Bad("severity")),
    };
    let urgency = match child_text(node, "urgency").ok_or(CapError::Missing("urgency"))? {
        "Immediate" => Urgency::Immediate,
        "Expected" => Urgency::Expected,
        "Future" => Urgency::Future,
        "Past" => Urgency::Past,
        "Unknown" => Urgency::Unknown,
        _ => return Err(CapError::Bad("urgency")),
    };
    let certainty = match child_text(node, "certainty").ok_or(CapError::Missing("certainty"))? {
        "Observed" => Certainty::Observed,
        "Likely" => Certainty::Likely,
        "Possible" => Certainty::Possible,
        "Unlikely" => Certainty::Unlikely,
        "Unknown" => Certainty::Unknown,
        _ => return Err(CapError::Bad("certainty")),
    };
    let event = long_text(node, "event");
    if event.is_empty() {
        return Err(CapError::Missing("event"));
    }
    let mut areas = Vec::new();
    for area_node in children(node, "area") {
        if areas.len() == MAX_AREAS {
            return Err(CapError::TooMany("areas"));
        }
        areas.push(area(area_node)?);
    }
    Ok(Info {
        language: child_text(node, "language").unwrap_or("en-US").to_owned(),
        event,
        headline: long_text(node, "headline"),
        description: long_text(node, "description"),
        instruction: long_text(node, "instruction"),
        severity,
        urgency,
        certainty,
        effective: optional_time(node, "effective")?,
        onset: optional_time(node, "onset")?,
        expires: optional_time(node, "expires")?,
        areas,
    })
}

fn area(node: roxmltree::Node) -> Result<Area, CapError> {
    let mut polygons = Vec::new();
    for raw in children(node, "polygon").filter_map(|n| n.text()) {
        if polygons.len() == MAX_SHAPES {
            return Err(CapError::TooMany("polygons"));
        }
        polygons.push(polygon(raw)?);
    }
    let mut circles = Vec::new();
    for raw in children(node, "circle").filter_map(|n| n.text()) {
        if circles.len() == MAX_SHAPES {
            return Err(CapError::TooMany("circles"));
        }
        circles.push(circle(raw)?);
    }
    let mut geocodes = Vec::new();
    for code in children(node, "geocode") {
        if geocodes.len() == MAX_SHAPES {
            return Err(CapError::TooMany("geocodes"));
        }
        if let (Some(name), Some(value)) =
            (child_text(code, "valueName"), child_text(code, "value"))
        {
            geocodes.push((name.to_owned(), value.to_owned()));
        }
    }
    Ok(Area {
        description: long_text(node, "areaDesc"),
        polygons,
        circles,
        geocodes,
    })
}

/// "lat,lon lat,lon …", closed (the last pair repeats the first).
pub fn polygon(raw: &str) -> Result<Outline, CapError> {
    let mut points = Vec::new();
    for pair in raw.split_whitespace() {
        if points.len() == MAX_POLYGON_POINTS {
            return Err(CapError::TooMany("polygon points"));
        }
        points.push(point(pair).ok_or(CapError::Bad("polygon"))?);
    }
    Outline::from_points(points, MAX_POLYGON_POINTS, None).map_err(|_| CapError::Bad("polygon"))
}

fn point(pair: &str) -> Option<LatLon> {
    let (lat, lon) = pair.split_once(',')?;
    let lat: f64 = lat.trim().parse().ok()?;
    let lon: f64 = lon.trim().parse().ok()?;
    LatLon::new(lat, lon).ok()
}

/// "lat,lon radius" with the radius in kilometres.
pub fn circle(raw: &str) -> Result<Circle, CapError> {
    let mut parts = raw.split_whitespace();
    let (Some(centre), Some(radius), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(CapError::Bad("circle"));
    };
    let centre = point(centre).ok_or(CapError::Bad("circle"))?;
    let radius_km: f64 = radius.parse().map_err(|_| CapError::Bad("circle"))?;
    if !radius_km.is_finite() || !(0.0..=MAX_RADIUS_KM).contains(&radius_km) {
        return Err(CapError::Bad("circle"));
    }
    Ok(Circle {
        centre,
        radius_m: radius_km * 1000.0,
    })
}

impl Alert {
    /// The info block to show: Simplified Chinese first, then any Chinese,
    /// then English, then the first.
    pub fn preferred_info(&self) -> Option<&Info> {
        let lang = |i: &&Info| i.language.to_ascii_lowercase();
        self.infos
            .iter()
            .find(|i| matches!(lang(i).as_str(), "zh-cn" | "zh-hans" | "zh-hans-cn"))
            .or_else(|| self.infos.iter().find(|i| lang(i).starts_with("zh")))
            .or_else(|| self.infos.iter().find(|i| lang(i).starts_with("en")))
            .or_else(|| self.infos.first())
    }

    /// The "sender,identifier,sent" triple later alerts name this one by.
    pub fn reference(&self) -> Reference {
        Reference {
            sender: self.sender.clone(),
            identifier: self.identifier.clone(),
            sent: self.sent.to_rfc3339(),
        }
    }
}

impl Area {
    /// Whether the area covers the estate: a polygon or circle holding the
    /// estate's location or a point of its outline, or a point of the shape
    /// lying in the outline; or a geocode naming the estate's division.
    pub fn covers(&self, estate: &EstateGeography) -> bool {
        let mut points = vec![estate.location];
        if let Some(outline) = &estate.outline {
            points.extend_from_slice(outline.points());
        }
        let in_outline = |p: &LatLon| estate.outline.as_ref().is_some_and(|o| o.contains(p));
        self.polygons.iter().any(|polygon| {
            points.iter().any(|p| polygon.contains(p)) || polygon.points().iter().any(in_outline)
        }) || self
            .circles
            .iter()
            .any(|circle| points.iter().any(|p| circle.contains(p)) || in_outline(&circle.centre))
            || self
                .geocodes
                .iter()
                .any(|(_, value)| estate.in_region(value))
    }
}

impl Info {
    /// Notice priority from severity and urgency: an extreme, immediate
    /// alert is the highest (9), a minor one of the past the lowest.
    pub fn priority(&self) -> u8 {
        let base: i32 = match self.severity {
            Severity::Extreme => 9,
            Severity::Severe => 8,
            Severity::Moderate => 6,
            Severity::Unknown => 5,
            Severity::Minor => 4,
        };
        let urgency: i32 = match self.urgency {
            Urgency::Immediate => 0,
            Urgency::Expected | Urgency::Unknown => -1,
            Urgency::Future => -2,
            Urgency::Past => -3,
        };
        (base + urgency).clamp(i32::from(*PRIORITY.start()), i32::from(*PRIORITY.end())) as u8
    }

    /// The notice title: the headline (else the event), on one line, cut
    /// to what a title may hold.
    pub fn title(&self) -> String {
        let source = if self.headline.is_empty() {
            &self.event
        } else {
            &self.headline
        };
        let line = source.split_whitespace().collect::<Vec<_>>().join(" ");
        let clean: String = line.chars().filter(|c| !c.is_control()).collect();
        if clean.chars().count() <= TITLE_MAX {
            return clean;
        }
        let mut cut: String = clean.chars().take(TITLE_MAX - 1).collect();
        cut.push('…');
        cut
    }

    /// The notice body (Markdown): the description, then the instruction,
    /// each as plain text (every Markdown and HTML sign escaped).
    pub fn body(&self) -> String {
        [&self.description, &self.instruction]
            .into_iter()
            .filter(|t| !t.is_empty())
            .map(|t| plain_markdown(t))
            .collect::<Vec<_>>()
            .join("\n\n")
    }

    /// The time the alert starts and ends showing: from `effective` (else
    /// when sent) until `expires` (else a day later).
    pub fn window(&self, sent: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = self.effective.unwrap_or(sent);
        let end = self
            .expires
            .unwrap_or(start + Duration::hours(DEFAULT_VALIDITY_HOURS));
        (start, end)
    }
}

/// Text shown as written: each line kept, every ASCII punctuation sign
/// escaped so that nothing in it is read as Markdown or HTML.
pub fn plain_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for c in line.trim().chars() {
            if c.is_ascii_punctuation() {
                out.push('\\');
            }
            if !c.is_control() {
                out.push(c);
            }
        }
    }
    out
}

/// What a community does with an alert.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Show it: a new emergency notice on the covered estates.
    Publish(Plan),
    /// Replace the notice made from one of `references` (or, when none was
    /// made, publish anew).
    Replace {
        references: Vec<Reference>,
        plan: Plan,
    },
    /// Take down the notice made from one of `references`.
    Withdraw { references: Vec<Reference> },
    /// Nothing changes; the alert is recorded with this outcome.
    Ignore(Outcome),
}

/// The emergency notice an alert becomes.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub title: String,
    pub body: String,
    pub priority: u8,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub estates: Vec<EstateId>,
}

/// What came of an alert, as recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Received,
    Published,
    Updated,
    Cancelled,
    Expired,
    OutOfArea,
    NotActual,
    NotPublic,
    Ignored,
    Malformed,
    Duplicate,
    UnknownReference,
    Failed,
}

impl Outcome {
    pub const ALL: [Outcome; 13] = [
        Outcome::Received,
        Outcome::Published,
        Outcome::Updated,
        Outcome::Cancelled,
        Outcome::Expired,
        Outcome::OutOfArea,
        Outcome::NotActual,
        Outcome::NotPublic,
        Outcome::Ignored,
        Outcome::Malformed,
        Outcome::Duplicate,
        Outcome::UnknownReference,
        Outcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Received => "received",
            Outcome::Published => "published",
            Outcome::Updated => "updated",
            Outcome::Cancelled => "cancelled",
            Outcome::Expired => "expired",
            Outcome::OutOfArea => "out_of_area",
            Outcome::NotActual => "not_actual",
            Outcome::NotPublic => "not_public",
            Outcome::Ignored => "ignored",
            Outcome::Malformed => "malformed",
            Outcome::Duplicate => "duplicate",
            Outcome::UnknownReference => "unknown_reference",
            Outcome::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// Decides what the community whose estates (with places) are `estates`
/// does with `alert` at `now`.
pub fn decide(
    alert: &Alert,
    estates: &[(EstateId, EstateGeography)],
    now: DateTime<Utc>,
) -> Decision {
    if alert.status != Status::Actual {
        return Decision::Ignore(Outcome::NotActual);
    }
    if alert.scope != "Public" {
        return Decision::Ignore(Outcome::NotPublic);
    }
    match alert.msg_type {
        MsgType::Ack | MsgType::Error => return Decision::Ignore(Outcome::Ignored),
        // A cancel is honoured whatever its area: it only ever takes down
        // what an earlier alert of the feed put up.
        MsgType::Cancel => {
            return Decision::Withdraw {
                references: alert.references.clone(),
            }
        }
        MsgType::Alert | MsgType::Update => {}
    }
    let Some(info) = alert.preferred_info() else {
        return Decision::Ignore(Outcome::Malformed);
    };
    let (starts_at, ends_at) = info.window(alert.sent);
    if ends_at <= now || ends_at <= starts_at {
        return Decision::Ignore(Outcome::Expired);
    }
    // Every info block's areas count: the languages describe one event.
    let covered: Vec<EstateId> = estates
        .iter()
        .filter(|(_, place)| {
            alert
                .infos
                .iter()
                .flat_map(|i| &i.areas)
                .any(|a| a.covers(place))
        })
        .map(|(id, _)| *id)
        .collect();
    if covered.is_empty() {
        return Decision::Ignore(Outcome::OutOfArea);
    }
    let title = info.title();
    if title.chars().count() < 2 {
        return Decision::Ignore(Outcome::Malformed);
    }
    let plan = Plan {
        title,
        body: info.body(),
        priority: info.priority(),
        starts_at,
        ends_at,
        estates: covered,
    };
    match alert.msg_type {
        MsgType::Update => Decision::Replace {
            references: alert.references.clone(),
            plan,
        },
        _ => Decision::Publish(plan),
    }
}

/// The line the community adds above an alert's text, as the notice body
/// begins with it.
pub fn local_line_prefix(line: &str) -> String {
    format!("**{}**\n\n", plain_markdown(line))
}

/// The notice body: the community's line (if any) above the alert's text.
pub fn body_with_local_line(local_line: Option<&str>, alert_body: &str) -> String {
    match local_line {
        Some(line) => format!("{}{alert_body}", local_line_prefix(line)),
        None => alert_body.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">{body}</alert>"#
        )
    }

    fn head(msg_type: &str, extra: &str) -> String {
        format!(
            "<identifier>BJ-2026-0001</identifier><sender>alert@bjmb.example</sender>\
             <sent>2026-12-08T09:00:00+08:00</sent><status>Actual</status>\
             <msgType>{msg_type}</msgType><scope>Public</scope>{extra}"
        )
    }

    fn info(lang: &str, headline: &str, area: &str, expires: &str) -> String {
        format!(
            "<info><language>{lang}</language><category>Met</category><event>暴雨</event>\
             <urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>\
             <expires>{expires}</expires><headline>{headline}</headline>\
             <description>预计未来3小时有强降雨。</description><instruction>请勿前往地下车库。</instruction>\
             <area><areaDesc>东城区</areaDesc>{area}</area></info>"
        )
    }

    const SQUARE: &str =
        "<polygon>39.90,116.38 39.91,116.38 39.91,116.40 39.90,116.40 39.90,116.38</polygon>";

    fn estate() -> EstateGeography {
        EstateGeography {
            location: LatLon::new(39.905, 116.39).unwrap(),
            outline: None,
            geocode: Some("110101".into()),
        }
    }

    fn now() -> DateTime<Utc> {
        parse_time("2026-12-08T10:00:00+08:00").unwrap()
    }

    #[test]
    fn reads_an_alert_and_prefers_simplified_chinese() {
        let xml = doc(&(head("Alert", "")
            + &info(
                "en-US",
                "Rainstorm warning",
                SQUARE,
                "2026-12-08T18:00:00+08:00",
            )
            + &info("zh-CN", "暴雨橙色预警", SQUARE, "2026-12-08T18:00:00+08:00")));
        let alert = parse_alert(xml.as_bytes()).unwrap();
        assert_eq!(alert.identifier, "BJ-2026-0001");
        assert_eq!(alert.msg_type, MsgType::Alert);
        let info = alert.preferred_info().unwrap();
        assert_eq!(info.headline, "暴雨橙色预警");
        assert_eq!(info.priority(), 8);
        let Decision::Publish(plan) = decide(&alert, &[(EstateId(7), estate())], now()) else {
            panic!("not published");
        };
        assert_eq!(plan.estates, vec![EstateId(7)]);
        assert_eq!(plan.title, "暴雨橙色预警");
        assert!(plan.body.contains("强降雨") && plan.body.contains("地下车库"));
        assert_eq!(plan.ends_at, parse_time("2026-12-08T10:00:00Z").unwrap());
    }

    #[test]
    fn english_is_taken_when_there_is_no_chinese() {
        let xml = doc(&(head("Alert", "")
            + &info("fr-FR", "Alerte", SQUARE, "2026-12-08T18:00:00+08:00")
            + &info("en-GB", "Rainstorm", SQUARE, "2026-12-08T18:00:00+08:00")));
        let alert = parse_alert(xml.as_bytes()).unwrap();
        assert_eq!(alert.preferred_info().unwrap().headline, "Rainstorm");
    }

    #[test]
    fn expired_out_of_area_and_not_actual_change_nothing() {
        let expired =
            doc(&(head("Alert", "") + &info("zh-CN", "暴雨", SQUARE, "2026-12-08T09:30:00+08:00")));
        let alert = parse_alert(expired.as_bytes()).unwrap();
        assert_eq!(
            decide(&alert, &[(EstateId(1), estate())], now()),
            Decision::Ignore(Outcome::Expired)
        );
        let far = "<polygon>31.20,121.40 31.30,121.40 31.30,121.50 31.20,121.40</polygon>";
        let away =
            doc(&(head("Alert", "") + &info("zh-CN", "暴雨", far, "2026-12-08T18:00:00+08:00")));
        let alert = parse_alert(away.as_bytes()).unwrap();
        assert_eq!(
            decide(&alert, &[(EstateId(1), estate())], now()),
            Decision::Ignore(Outcome::OutOfArea)
        );
        let exercise = doc(&(head("Alert", "").replace("Actual", "Exercise")
            + &info("zh-CN", "演练", SQUARE, "2026-12-08T18:00:00+08:00")));
        let alert = parse_alert(exercise.as_bytes()).unwrap();
        assert_eq!(
            decide(&alert, &[(EstateId(1), estate())], now()),
            Decision::Ignore(Outcome::NotActual)
        );
    }

    #[test]
    fn circles_geocodes_and_outlines_cover_estates() {
        let e = estate();
        let near = circle("39.906,116.391 0.5").unwrap();
        let far = circle("39.95,116.45 0.5").unwrap();
        let area = |circles: Vec<Circle>, geocodes: Vec<(String, String)>| Area {
            description: String::new(),
            polygons: vec![],
            circles,
            geocodes,
        };
        assert!(area(vec![near], vec![]).covers(&e));
        assert!(!area(vec![far], vec![]).covers(&e));
        assert!(area(vec![], vec![("GB2260".into(), "110100".into())]).covers(&e));
        assert!(!area(vec![], vec![("GB2260".into(), "310000".into())]).covers(&e));
        // A small polygon inside a large estate outline: the estate is covered
        // though neither its location nor its corners lie in the polygon.
        let big = EstateGeography {
            location: LatLon::new(39.90, 116.30).unwrap(),
            outline: Some(
                Outline::parse(
                    "39.89,116.29\n39.91,116.29\n39.91,116.31\n39.89,116.31\n39.89,116.29",
                )
                .unwrap(),
            ),
            geocode: None,
        };
        let small = polygon("39.905,116.305 39.906,116.305 39.906,116.306 39.905,116.305").unwrap();
        let inside = Area {
            description: String::new(),
            polygons: vec![small],
            circles: vec![],
            geocodes: vec![],
        };
        assert!(inside.covers(&big));
        assert!(!inside.covers(&e));
    }

    #[test]
    fn updates_and_cancels_name_what_they_replace() {
        let refs =
            "<references>alert@bjmb.example,BJ-2026-0001,2026-12-08T09:00:00+08:00</references>";
        let update = doc(&(head("Update", refs)
            .replace("BJ-2026-0001</identifier>", "BJ-2026-0002</identifier>")
            + &info("zh-CN", "暴雨红色预警", SQUARE, "2026-12-08T20:00:00+08:00")));
        let alert = parse_alert(update.as_bytes()).unwrap();
        let Decision::Replace { references, plan } =
            decide(&alert, &[(EstateId(1), estate())], now())
        else {
            panic!("not a replacement");
        };
        assert_eq!(references[0].identifier, "BJ-2026-0001");
        assert_eq!(plan.title, "暴雨红色预警");
        let cancel = doc(&head("Cancel", refs));
        let alert = parse_alert(cancel.as_bytes()).unwrap();
        assert!(matches!(
            decide(&alert, &[], now()),
            Decision::Withdraw { references } if references.len() == 1
        ));
        // An update or cancel must say what it replaces.
        assert_eq!(
            parse_alert(doc(&head("Cancel", "")).as_bytes()),
            Err(CapError::Missing("references"))
        );
        assert_eq!(
            parse_alert(doc(&head("Cancel", "<references>only,two</references>")).as_bytes()),
            Err(CapError::Bad("references"))
        );
    }

    #[test]
    fn hostile_and_broken_documents_are_refused() {
        let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>&lol2;</identifier></alert>"#;
        assert!(matches!(
            read_document(billion_laughs.as_bytes()),
            Err(CapError::Xml(_))
        ));
        let external = r#"<?xml version="1.0"?><!DOCTYPE a SYSTEM "file:///etc/passwd"><alert/>"#;
        assert!(matches!(
            read_document(external.as_bytes()),
            Err(CapError::Xml(_))
        ));
        let huge = vec![b' '; MAX_DOCUMENT_BYTES + 1];
        assert_eq!(
            read_document(&huge),
            Err(CapError::TooLarge(MAX_DOCUMENT_BYTES))
        );
        assert!(matches!(read_document(b"<alert"), Err(CapError::Xml(_))));
        assert!(matches!(
            read_document(&[0xff, 0xfe, 0x00]),
            Err(CapError::Xml(_))
        ));
        assert_eq!(read_document(b"<html/>"), Err(CapError::NotCap));
        // CAP 1.1 is another namespace.
        assert_eq!(
            read_document(br#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>"#),
            Err(CapError::NotCap)
        );
        let deep = format!("{}{}", "<a>".repeat(50_000), "</a>".repeat(50_000));
        assert_eq!(
            read_document(deep.as_bytes()),
            Err(CapError::TooMany("nested elements"))
        );
        // Quotes, comments and CDATA cannot hide the nesting.
        let hidden = format!(
            "{}{}",
            r#"<a x="/>" y='/>'><!-- </a> --><![CDATA[</a>]]>"#.repeat(40),
            "</a>".repeat(40)
        );
        assert_eq!(nesting_depth(&hidden), 40);
        assert_eq!(nesting_depth("<a><b/><c></c></a>"), 2);
        for (bad, why) in [
            (
                head("Alert", "").replace("BJ-2026-0001", "has space"),
                "identifier",
            ),
            (
                head("Alert", "").replace("2026-12-08T09:00:00+08:00", "yesterday"),
                "sent",
            ),
            (head("Alert", "").replace("Actual", "Real"), "status"),
            (head("Alert", "").replace("Public", "Everyone"), "scope"),
        ] {
            let xml = doc(&(bad + &info("zh-CN", "暴雨", SQUARE, "2026-12-08T18:00:00+08:00")));
            assert_eq!(
                parse_alert(xml.as_bytes()),
                Err(CapError::Bad(why)),
                "{why}"
            );
        }
        let no_info = doc(&head("Alert", ""));
        assert_eq!(
            parse_alert(no_info.as_bytes()),
            Err(CapError::Missing("info"))
        );
        let open_ring = "<polygon>39.90,116.38 39.91,116.38 39.91,116.40</polygon>";
        let xml =
            doc(&(head("Alert", "")
                + &info("zh-CN", "暴雨", open_ring, "2026-12-08T18:00:00+08:00")));
        assert_eq!(parse_alert(xml.as_bytes()), Err(CapError::Bad("polygon")));
        for bad in [
            "39.9,116.4",
            "39.9,116.4 -1",
            "39.9,116.4 NaN",
            "91,116 1",
            "39.9,116.4 1e9",
        ] {
            assert!(circle(bad).is_err(), "{bad}");
        }
        let many: String = (0..1001).map(|i| format!("39.9,116.{i:03} ")).collect();
        assert!(polygon(&many).is_err());
    }

    #[test]
    fn alert_text_cannot_script_a_screen() {
        let nasty = "<script>alert(1)</script> [x](javascript:alert(1)) **bold** &amp;";
        let escaped = plain_markdown(nasty);
        assert_eq!(crate::domain::notice::scripting(&escaped), None);
        let html = crate::signage::markdown::render(&escaped);
        assert!(
            !html.contains("<script") && !html.contains("<strong>"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;"), "{html}");
    }

    #[test]
    fn indexes_list_their_alerts() {
        let atom = r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>预警</title>
            <entry><title>a</title><link rel="alternate" href="/cap/a.xml"/></entry>
            <entry><title>b</title><link rel="related" href="/x"/><link type="application/cap+xml" href="https://example.org/b.xml"/></entry>
        </feed>"#;
        assert_eq!(
            read_document(atom.as_bytes()).unwrap(),
            Document::Index(vec![
                "/cap/a.xml".into(),
                "https://example.org/b.xml".into()
            ])
        );
        let rss = r#"<rss version="2.0"><channel><item><link> http://example.org/c.xml </link></item></channel></rss>"#;
        assert_eq!(
            read_document(rss.as_bytes()).unwrap(),
            Document::Index(vec!["http://example.org/c.xml".into()])
        );
        let many: String = (0..50)
            .map(|i| format!(r#"<entry><link href="/{i}.xml"/></entry>"#))
            .collect();
        let atom = format!(r#"<feed xmlns="http://www.w3.org/2005/Atom">{many}</feed>"#);
        let Document::Index(links) = read_document(atom.as_bytes()).unwrap() else {
            panic!()
        };
        assert_eq!(links.len(), MAX_INDEX_ENTRIES);
    }

    #[test]
    fn priority_follows_severity_and_urgency() {
        let xml =
            doc(&(head("Alert", "") + &info("zh-CN", "暴雨", SQUARE, "2026-12-08T18:00:00+08:00")));
        let mut info = parse_alert(xml.as_bytes()).unwrap().infos.remove(0);
        info.severity = Severity::Extreme;
        assert_eq!(info.priority(), 9);
        info.severity = Severity::Minor;
        info.urgency = Urgency::Past;
        assert_eq!(info.priority(), 1);
        info.headline = "很".repeat(100);
        assert_eq!(info.title().chars().count(), TITLE_MAX);
    }

    #[test]
    fn the_local_line_sits_above_the_alert_text() {
        let body = body_with_local_line(Some("请走东侧楼梯"), "暴雨");
        assert!(body.starts_with("**请走东侧楼梯**"));
        assert_eq!(
            body.strip_prefix(&local_line_prefix("请走东侧楼梯")),
            Some("暴雨")
        );
    }
}
