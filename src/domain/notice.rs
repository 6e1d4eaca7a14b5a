//! Notices for the lobby screens: what staff write, when and where each one
//! shows, and the approval workflow it goes through.

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};

use super::ids::{
    AccountId, BuildingId, CommunityId, EstateId, MediaId, NoticeId, ScreenGroupId, ScreenId,
};
use super::text::{clean_prose_line, TextError};

/// What kind of notice it is; screens style each kind differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeCategory {
    Announcement,
    /// 阳光三务: property income, spending and service prices, usually tables.
    Disclosure,
    /// Water, power or lift outages and maintenance work.
    Outage,
    Event,
    PriceList,
    BroadcastSchedule,
}

impl NoticeCategory {
    pub const ALL: [Self; 6] = [
        Self::Announcement,
        Self::Disclosure,
        Self::Outage,
        Self::Event,
        Self::PriceList,
        Self::BroadcastSchedule,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Announcement => "announcement",
            Self::Disclosure => "disclosure",
            Self::Outage => "outage",
            Self::Event => "event",
            Self::PriceList => "price_list",
            Self::BroadcastSchedule => "broadcast_schedule",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Where a notice is in its workflow.
///
/// ```text
/// draft ──submit──▶ pending ──approve──▶ published ──withdraw──▶ withdrawn
///                     │  ▲                   │
///                  reject └──────edit────────┘
///                     ▼
///                 rejected ──edit──▶ draft
/// ```
/// A published notice whose validity has ended is shown as expired; that is
/// derived from the clock, not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeState {
    Draft,
    Pending,
    Published,
    Rejected,
    Withdrawn,
}

impl NoticeState {
    pub const ALL: [Self; 5] = [
        Self::Draft,
        Self::Pending,
        Self::Published,
        Self::Rejected,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Pending => "pending",
            Self::Published => "published",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// When a notice may show at all. `ends_at` is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Validity {
    starts_at: DateTime<Utc>,
    ends_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ValidityError {
    #[error("the validity window ends before it starts")]
    Inverted,
}

impl Validity {
    pub fn new(
        starts_at: DateTime<Utc>,
        ends_at: Option<DateTime<Utc>>,
    ) -> Result<Self, ValidityError> {
        match ends_at {
            Some(end) if end <= starts_at => Err(ValidityError::Inverted),
            _ => Ok(Self { starts_at, ends_at }),
        }
    }

    pub fn starts_at(&self) -> DateTime<Utc> {
        self.starts_at
    }

    pub fn ends_at(&self) -> Option<DateTime<Utc>> {
        self.ends_at
    }

    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && self.ends_at.is_none_or(|end| at < end)
    }

    /// Ended for good: nothing later will make it show again.
    pub fn has_ended(&self, at: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|end| at >= end)
    }
}

/// A set of weekdays, Monday first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
pub struct Weekdays(u8);

impl Weekdays {
    pub const EVERY_DAY: Self = Self(0b111_1111);
    pub const NONE: Self = Self(0);

    pub fn from_days(days: impl IntoIterator<Item = Weekday>) -> Self {
        Self(
            days.into_iter()
                .fold(0, |bits, day| bits | 1 << day.num_days_from_monday()),
        )
    }

    /// From ISO numbers, 1 = Monday … 7 = Sunday; other numbers are refused.
    pub fn from_iso(numbers: &[u8]) -> Option<Self> {
        let mut bits = 0u8;
        for &n in numbers {
            if !(1..=7).contains(&n) {
                return None;
            }
            bits |= 1 << (n - 1);
        }
        Some(Self(bits))
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & (1 << day.num_days_from_monday()) != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// ISO numbers of the days in the set, Monday (1) first.
    pub fn iso_numbers(self) -> Vec<u8> {
        (0..7)
            .filter(|i| self.0 & (1 << i) != 0)
            .map(|i| i + 1)
            .collect()
    }

    pub fn bits(self) -> u8 {
        self.0
    }

    pub fn from_bits(bits: u8) -> Self {
        Self(bits & Self::EVERY_DAY.0)
    }
}

/// A daily window in the community's local time, on some weekdays. When
/// `until` is not after `from` the window crosses midnight, and it belongs to
/// the weekday on which it starts: Friday 22:00–02:00 covers Saturday 01:00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DayPart {
    weekdays: Weekdays,
    #[schema(value_type = String, example = "07:00")]
    from: NaiveTime,
    #[schema(value_type = String, example = "09:30")]
    until: NaiveTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DayPartError {
    #[error("choose at least one weekday")]
    NoWeekdays,
    #[error("a time-of-day window needs a start and an end that differ")]
    Empty,
}

impl DayPart {
    pub fn new(
        weekdays: Weekdays,
        from: NaiveTime,
        until: NaiveTime,
    ) -> Result<Self, DayPartError> {
        if weekdays.is_empty() {
            return Err(DayPartError::NoWeekdays);
        }
        if from == until {
            return Err(DayPartError::Empty);
        }
        Ok(Self {
            weekdays,
            from,
            until,
        })
    }

    pub fn weekdays(&self) -> Weekdays {
        self.weekdays
    }

    pub fn from(&self) -> NaiveTime {
        self.from
    }

    pub fn until(&self) -> NaiveTime {
        self.until
    }

    pub fn crosses_midnight(&self) -> bool {
        self.until <= self.from
    }
}

/// Where a notice shows. A notice with no targets shows on every screen of
/// its community.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Target {
    Community(CommunityId),
    Estate(EstateId),
    Building(BuildingId),
    Screen(ScreenId),
    Group(ScreenGroupId),
}

/// Seconds a notice stays on screen per turn of the rotation.
pub const DISPLAY_SECONDS: std::ops::RangeInclusive<u32> = 5..=300;
/// Higher shows first; emergencies come before everything regardless.
pub const PRIORITY: std::ops::RangeInclusive<u8> = 1..=9;
pub const TITLE_MAX: usize = 60;
/// Markdown source, before rendering.
pub const BODY_MAX: usize = 20_000;
pub const IMAGES_MAX: usize = 6;

/// What staff enter when writing or editing a notice, already checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeDraft {
    pub community_id: CommunityId,
    pub title: String,
    /// Markdown as typed (cleaned of control characters); rendered and
    /// sanitised on the way to a screen.
    pub body: String,
    pub category: NoticeCategory,
    pub emergency: bool,
    pub validity: Validity,
    pub day_parts: Vec<DayPart>,
    pub targets: Vec<Target>,
    pub display_seconds: u32,
    pub priority: u8,
    pub images: Vec<MediaId>,
    pub video: Option<MediaId>,
}

const SECONDS_PER_DAY: u32 = 24 * 3600;
const SECONDS_PER_WEEK: u32 = 7 * SECONDS_PER_DAY;

impl DayPart {
    /// The stretches of the week it covers, in seconds from Monday 00:00,
    /// half-open; a window across midnight runs into the next day (Sunday
    /// night into Monday morning).
    fn spans(&self) -> Vec<(u32, u32)> {
        use chrono::Timelike;
        let from = self.from.num_seconds_from_midnight();
        let until = self.until.num_seconds_from_midnight();
        let mut spans = Vec::new();
        for day in 0..7u32 {
            if self.weekdays.0 & (1 << day) == 0 {
                continue;
            }
            let start = day * SECONDS_PER_DAY + from;
            let end =
                day * SECONDS_PER_DAY + until + if until <= from { SECONDS_PER_DAY } else { 0 };
            if end > SECONDS_PER_WEEK {
                spans.push((start, SECONDS_PER_WEEK));
                spans.push((0, end - SECONDS_PER_WEEK));
            } else {
                spans.push((start, end));
            }
        }
        spans
    }
}

/// The first two day-parts (indexes) that cover the same moment of the
/// week: a notice's windows are meant to be separate, and overlapping ones
/// are usually a slip (a wrong day ticked, a typo in a time).
pub fn overlapping_day_parts(parts: &[DayPart]) -> Option<(usize, usize)> {
    let spans: Vec<Vec<(u32, u32)>> = parts.iter().map(DayPart::spans).collect();
    for (a, first) in spans.iter().enumerate() {
        for (b, second) in spans.iter().enumerate().skip(a + 1) {
            let meet = first
                .iter()
                .any(|x| second.iter().any(|y| x.0 < y.1 && y.0 < x.1));
            if meet {
                return Some((a, b));
            }
        }
    }
    None
}

/// Which field of a notice is wrong, with why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("title: {0}")]
    Title(TextError),
    #[error("body: {0}")]
    Body(TextError),
    #[error("display seconds out of range")]
    DisplaySeconds,
    #[error("priority out of range")]
    Priority,
    #[error("too many images")]
    TooManyImages,
    #[error("body: {0}")]
    UnsafeBody(Scripting),
    /// Two day-parts (1-based, in the order given) cover the same time.
    #[error("day-parts {0} and {1} overlap")]
    OverlappingDayParts(usize, usize),
}

/// Something in a notice body that would run code or restyle the screen.
/// Such bodies are refused when written, so the author learns of it; the
/// renderer strips the same things again on the way to a screen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Scripting {
    /// A raw HTML element such as `script`, `style` or `iframe` (lower case).
    #[error("a <{0}> element")]
    Element(String),
    /// An inline event handler attribute such as `onerror` (lower case).
    #[error("an {0}= event handler")]
    EventHandler(String),
    /// A `javascript:` (or `vbscript:`) address in a link, picture or attribute.
    #[error("a javascript: address")]
    ScriptUrl,
}

/// Raw HTML elements a notice body may not contain.
const FORBIDDEN_ELEMENTS: [&str; 9] = [
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "base",
];

/// The first thing in `markdown` that would script or restyle a screen, if
/// any. Only raw HTML and link targets count: text in a code span or code
/// block, or escaped, is just text.
pub fn scripting(markdown: &str) -> Option<Scripting> {
    use pulldown_cmark::{Event, Options, Parser, Tag};
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut raw_html = String::new();
    for event in Parser::new_ext(markdown, options) {
        match event {
            Event::Html(html) | Event::InlineHtml(html) => raw_html.push_str(&html),
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. })
                if is_script_url(&dest_url) =>
            {
                return Some(Scripting::ScriptUrl);
            }
            // Raw HTML of one block arrives line by line; text between
            // blocks keeps tags of different blocks apart.
            _ => raw_html.push('\n'),
        }
    }
    scripting_in_html(&raw_html)
}

/// Reads the tags of raw HTML for forbidden elements, `on…` attributes and
/// script addresses, with the HTML5 tokenizer browsers follow (html5ever):
/// where a tag ends, what is a comment and how character references in an
/// attribute decode are the standard's answers, not a guess.
fn scripting_in_html(html: &str) -> Option<Scripting> {
    use html5ever::tendril::StrTendril;
    use html5ever::tokenizer::{
        BufferQueue, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer,
    };
    use std::cell::RefCell;

    /// Keeps the first problem found.
    struct Findings(RefCell<Option<Scripting>>);

    impl TokenSink for Findings {
        type Handle = ();

        fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
            let Token::TagToken(tag) = token else {
                return TokenSinkResult::Continue;
            };
            let mut found = self.0.borrow_mut();
            if found.is_some() {
                return TokenSinkResult::Continue;
            }
            let name: &str = &tag.name;
            if FORBIDDEN_ELEMENTS.contains(&name) {
                *found = Some(Scripting::Element(name.to_owned()));
            } else if tag.kind == TagKind::StartTag {
                *found = tag.attrs.iter().find_map(|attribute| {
                    let name: &str = &attribute.name.local;
                    if name.len() > 2 && name.starts_with("on") {
                        Some(Scripting::EventHandler(name.to_owned()))
                    } else if is_script_url(&attribute.value) {
                        Some(Scripting::ScriptUrl)
                    } else {
                        None
                    }
                });
            }
            TokenSinkResult::Continue
        }
    }

    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let tokenizer = Tokenizer::new(Findings(RefCell::new(None)), Default::default());
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    tokenizer.sink.0.take()
}

/// Whether an address runs script once browsers have ignored the
/// whitespace, control characters and character references hiding it.
fn is_script_url(url: &str) -> bool {
    let decoded = decode_references(url);
    let scheme: String = decoded
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .take_while(|&c| c != ':')
        .collect::<String>()
        .to_ascii_lowercase();
    decoded.contains(':') && matches!(scheme.as_str(), "javascript" | "vbscript")
}

/// Decodes numeric character references and the few named ones that can
/// hide a scheme (`&colon;`, `&tab;`, `&newline;`).
fn decode_references(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '#'))
            .unwrap_or(rest.len());
        let reference = rest[..end].to_ascii_lowercase();
        let decoded = if let Some(hex) = reference.strip_prefix("#x") {
            u32::from_str_radix(hex, 16).ok().and_then(char::from_u32)
        } else if let Some(decimal) = reference.strip_prefix('#') {
            decimal.parse().ok().and_then(char::from_u32)
        } else {
            match reference.as_str() {
                "colon" => Some(':'),
                "tab" => Some('\t'),
                "newline" => Some('\n'),
                _ => None,
            }
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = rest[end..].strip_prefix(';').unwrap_or(&rest[end..]);
            }
            None => out.push('&'),
        }
    }
    out.push_str(rest);
    out
}

impl NoticeDraft {
    /// Checks the free-text and numeric fields; the body may be empty when
    /// the notice is a picture or a video.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        community_id: CommunityId,
        title: &str,
        body: &str,
        category: NoticeCategory,
        emergency: bool,
        validity: Validity,
        day_parts: Vec<DayPart>,
        targets: Vec<Target>,
        display_seconds: u32,
        priority: u8,
        images: Vec<MediaId>,
        video: Option<MediaId>,
    ) -> Result<Self, NoticeError> {
        let title = clean_prose_line(title, 2, TITLE_MAX).map_err(NoticeError::Title)?;
        let body = clean_markdown(body, BODY_MAX).map_err(NoticeError::Body)?;
        if let Some(problem) = scripting(&body) {
            return Err(NoticeError::UnsafeBody(problem));
        }
        if !DISPLAY_SECONDS.contains(&display_seconds) {
            return Err(NoticeError::DisplaySeconds);
        }
        if !PRIORITY.contains(&priority) {
            return Err(NoticeError::Priority);
        }
        if images.len() > IMAGES_MAX {
            return Err(NoticeError::TooManyImages);
        }
        if let Some((a, b)) = overlapping_day_parts(&day_parts) {
            return Err(NoticeError::OverlappingDayParts(a + 1, b + 1));
        }
        let mut targets = targets;
        targets.sort();
        targets.dedup();
        Ok(Self {
            community_id,
            title,
            body,
            category,
            emergency,
            validity,
            day_parts,
            targets,
            display_seconds,
            priority,
            images,
            video,
        })
    }
}

/// Markdown keeps its line structure (tables, lists), so only control and
/// invisible characters go, and Windows line ends become plain ones.
fn clean_markdown(raw: &str, max: usize) -> Result<String, TextError> {
    use unicode_normalization::UnicodeNormalization;
    let text: String = raw
        .nfc()
        .filter(|&c| c == '\n' || c == '\t' || !(c.is_control() || super::text::is_invisible(c)))
        .collect();
    let text = text.trim_end().to_string();
    if text.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    Ok(text)
}

/// A notice as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notice {
    pub id: NoticeId,
    pub community_id: CommunityId,
    pub title: String,
    pub body: String,
    pub category: NoticeCategory,
    pub emergency: bool,
    pub validity: Validity,
    pub day_parts: Vec<DayPart>,
    pub targets: Vec<Target>,
    pub display_seconds: u32,
    pub priority: u8,
    pub images: Vec<MediaId>,
    pub video: Option<MediaId>,
    pub state: NoticeState,
    /// Why the secretary rejected it, when rejected.
    pub rejection_reason: Option<String>,
    pub author_id: AccountId,
    pub approved_by: Option<AccountId>,
    /// Bumped on every change; an edit names the revision it started from.
    pub revision: i64,
    pub published_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Notice {
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.validity.has_ended(now)
    }
}

/// Whether an upload is a picture or a video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Image => "image",
            Self::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Image, Self::Video]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A video is `processing` while it is transcoded for the lobby boxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MediaState {
    Processing,
    Ready,
    Failed,
}

impl MediaState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Processing, Self::Ready, Self::Failed]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// A picture or video uploaded for notices.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MediaFile {
    pub id: MediaId,
    pub community_id: CommunityId,
    pub kind: MediaKind,
    pub state: MediaState,
    pub original_name: String,
    /// Of the file as served (after re-encoding or transcoding).
    pub content_type: String,
    pub size_bytes: i64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_millis: Option<i64>,
    /// Why processing failed, for staff.
    pub error: Option<String>,
    pub uploaded_by: AccountId,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 20, h, 0, 0).unwrap()
    }

    #[test]
    fn names_round_trip() {
        for c in NoticeCategory::ALL {
            assert_eq!(NoticeCategory::parse(c.as_str()), Some(c));
        }
        for s in NoticeState::ALL {
            assert_eq!(NoticeState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn an_inverted_or_empty_window_is_refused() {
        assert_eq!(
            Validity::new(at(10), Some(at(9))),
            Err(ValidityError::Inverted)
        );
        assert_eq!(
            Validity::new(at(10), Some(at(10))),
            Err(ValidityError::Inverted)
        );
        let open = Validity::new(at(10), None).unwrap();
        assert!(open.contains(at(23)) && !open.contains(at(9)) && !open.has_ended(at(23)));
        let closed = Validity::new(at(10), Some(at(12))).unwrap();
        assert!(closed.contains(at(11)) && !closed.contains(at(12)) && closed.has_ended(at(12)));
    }

    #[test]
    fn weekdays_from_iso_numbers() {
        let days = Weekdays::from_iso(&[1, 5, 7]).unwrap();
        assert!(days.contains(Weekday::Mon) && days.contains(Weekday::Fri));
        assert!(days.contains(Weekday::Sun) && !days.contains(Weekday::Tue));
        assert_eq!(days.iso_numbers(), [1, 5, 7]);
        assert_eq!(Weekdays::from_iso(&[0]), None);
        assert_eq!(Weekdays::from_iso(&[8]), None);
    }

    #[test]
    fn day_parts_need_days_and_length() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
        assert_eq!(
            DayPart::new(Weekdays::NONE, t(7), t(9)),
            Err(DayPartError::NoWeekdays)
        );
        assert_eq!(
            DayPart::new(Weekdays::EVERY_DAY, t(7), t(7)),
            Err(DayPartError::Empty)
        );
        assert!(DayPart::new(Weekdays::EVERY_DAY, t(22), t(2))
            .unwrap()
            .crosses_midnight());
    }

    #[test]
    fn overlapping_day_parts_are_found_across_midnight_and_the_week_end() {
        let hm = |h, m| NaiveTime::from_hms_opt(h, m, 0).unwrap();
        let part = |days: &[u8], from, until| {
            DayPart::new(Weekdays::from_iso(days).unwrap(), from, until).unwrap()
        };
        let workdays = [1, 2, 3, 4, 5];
        for (parts, overlap) in [
            // Mornings on workdays, Saturday later: apart.
            (
                vec![
                    part(&workdays, hm(7, 0), hm(9, 30)),
                    part(&[6], hm(8, 0), hm(10, 0)),
                ],
                None,
            ),
            // Monday 09:00–09:30 twice.
            (
                vec![
                    part(&workdays, hm(7, 0), hm(9, 30)),
                    part(&[1], hm(9, 0), hm(11, 0)),
                ],
                Some((0, 1)),
            ),
            // Nights, then early mornings from where they end: touching only.
            (
                vec![
                    part(&[1, 2, 3, 4, 5, 6, 7], hm(22, 0), hm(6, 0)),
                    part(&[1, 2, 3, 4, 5, 6, 7], hm(6, 0), hm(8, 0)),
                ],
                None,
            ),
            // Friday night runs into Saturday 01:00–02:00.
            (
                vec![
                    part(&[5], hm(22, 0), hm(2, 0)),
                    part(&[6], hm(1, 0), hm(5, 0)),
                ],
                Some((0, 1)),
            ),
            // Sunday night runs into Monday morning.
            (
                vec![
                    part(&[3], hm(12, 0), hm(13, 0)),
                    part(&[7], hm(23, 0), hm(1, 30)),
                    part(&[1], hm(1, 0), hm(3, 0)),
                ],
                Some((1, 2)),
            ),
            (vec![part(&[7], hm(23, 0), hm(1, 30))], None),
        ] {
            assert_eq!(overlapping_day_parts(&parts), overlap, "{parts:?}");
        }
    }

    #[test]
    fn scripts_styles_frames_handlers_and_script_links_are_found() {
        let element = |name: &str| Some(Scripting::Element(name.into()));
        let handler = |name: &str| Some(Scripting::EventHandler(name.into()));
        for (body, found) in [
            ("通知<script>alert(1)</script>", element("script")),
            (
                "<SCRIPT src=//evil.example/x.js></SCRIPT>",
                element("script"),
            ),
            (
                "正文\n\n<style>body{display:none}</style>",
                element("style"),
            ),
            (
                "<iframe src=\"https://evil.example/\"></iframe>",
                element("iframe"),
            ),
            ("<object data=\"x.swf\"></object>", element("object")),
            ("<embed src=\"x.swf\">", element("embed")),
            ("<img src=x onerror=alert(1)>", handler("onerror")),
            ("<p onclick=\"alert(1)\">点我</p>", handler("onclick")),
            ("<div\n  ONMOUSEOVER='x'>a</div>", handler("onmouseover")),
            ("<svg onload=alert(1)>", handler("onload")),
            ("[点我](javascript:alert(1))", Some(Scripting::ScriptUrl)),
            ("[点我]( JaVaScRiPt:alert(1) )", Some(Scripting::ScriptUrl)),
            ("<javascript:alert(1)>", Some(Scripting::ScriptUrl)),
            (
                "[x][r]\n\n[r]: javascript:alert(1)",
                Some(Scripting::ScriptUrl),
            ),
            (
                "<a href=\"java&#x09;script:alert(1)\">c</a>",
                Some(Scripting::ScriptUrl),
            ),
            (
                "<a href='javascript&colon;alert(1)'>c</a>",
                Some(Scripting::ScriptUrl),
            ),
            ("![图](vbscript:msgbox)", Some(Scripting::ScriptUrl)),
            // Where a hand-made reader would lose track of the tag.
            ("<img alt=\">\" src=x onerror=alert(1)>", handler("onerror")),
            ("<img src=x onerror =alert(1)>", handler("onerror")),
            (
                "<svg><a xlink:href=\"javascript:alert(1)\">x</a></svg>",
                Some(Scripting::ScriptUrl),
            ),
        ] {
            assert_eq!(scripting(body), found, "{body:?}");
        }
    }

    #[test]
    fn markdown_and_mentions_of_scripts_in_code_are_fine() {
        for body in [
            "# 停水通知\n\n明天 **8:00–12:00** 停水。",
            "| 项目 | 金额 |\n|---|---:|\n| 保洁 | 1,200 |",
            "不要在公告里写 `<script>` 标签。",
            "```html\n<script>alert(1)</script>\n<p onclick=x>\n```",
            "    <iframe src=x></iframe>",
            "\\<script> 只是文字",
            "[物业](https://example.org/javascript:x) [报修](/feedback)",
            "<b>加粗</b> 和 <a href=\"https://example.org\" title=\"one = two\">链接</a>",
            "<p>online = yes</p>",
            "3 < 5 且 a<b",
            "<!-- 内部备注 <script> -->",
            // A browser reads one attribute here, src="x/onerror=alert(1)".
            "<img/src=x/onerror=alert(1)>",
            // Not HTML to Markdown (no space between attributes): shown as text.
            "<a href=\"x\"onclick=alert(1)>a</a>",
        ] {
            assert_eq!(scripting(body), None, "{body:?}");
        }
    }

    #[test]
    fn a_draft_with_a_script_is_refused() {
        let refused = NoticeDraft::new(
            CommunityId(1),
            "停水通知",
            "正文<script>alert(1)</script>",
            NoticeCategory::Outage,
            false,
            Validity::new(at(1), None).unwrap(),
            vec![],
            vec![],
            15,
            5,
            vec![],
            None,
        );
        assert_eq!(
            refused.unwrap_err(),
            NoticeError::UnsafeBody(Scripting::Element("script".into()))
        );
    }

    #[test]
    fn a_draft_keeps_markdown_lines_and_checks_ranges() {
        let validity = Validity::new(at(1), None).unwrap();
        let draft = |body: &str, seconds, priority| {
            NoticeDraft::new(
                CommunityId(1),
                "停水通知",
                body,
                NoticeCategory::Outage,
                false,
                validity,
                vec![],
                vec![
                    Target::Building(BuildingId(2)),
                    Target::Building(BuildingId(2)),
                ],
                seconds,
                priority,
                vec![],
                None,
            )
        };
        let ok = draft(
            "| 项目 | 金额 |\r\n|---|---|\n| 保洁 | 100 |\u{200b}",
            15,
            5,
        )
        .unwrap();
        assert_eq!(ok.body, "| 项目 | 金额 |\n|---|---|\n| 保洁 | 100 |");
        assert_eq!(ok.targets.len(), 1);
        assert_eq!(draft("", 4, 5).unwrap_err(), NoticeError::DisplaySeconds);
        assert_eq!(draft("", 15, 0).unwrap_err(), NoticeError::Priority);
    }
}
