//! Personal data in text that others will read: phone, ID-card and
//! bank-card numbers, e-mail addresses, licence plates and room numbers,
//! found and masked so the text can be shown to everyone. The live chat masks
//! comments with it, the feedback records mask whatever of a record is
//! public (see [`super::record::PublicRecord`]).
//!
//! Pure functions: no I/O, no clock, no database.

/// A kind of personal data found (and masked) in a comment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PersonalData {
    /// Mainland mobile number, 1[3-9] and 9 more digits, optionally +86 / 0086.
    MobileNumber,
    /// Landline with its area code: 010-, 02x-, 0xxx- and 7–8 digits.
    Landline,
    /// 18-character resident ID number with a valid birth date and checksum.
    IdCardNumber,
    /// 16–19 digit card number passing the Luhn check.
    BankCard,
    Email,
    /// Mainland licence plate such as 辽B·12345 (it identifies a neighbour).
    PlateNumber,
    /// The room of a flat, told by its building ("3号楼502", "3-502",
    /// "3栋2单元502") or by its suffix ("502室"); the building stays.
    RoomNumber,
}

impl PersonalData {
    pub fn as_str(self) -> &'static str {
        match self {
            PersonalData::MobileNumber => "mobile",
            PersonalData::Landline => "landline",
            PersonalData::IdCardNumber => "id_card",
            PersonalData::BankCard => "bank_card",
            PersonalData::Email => "email",
            PersonalData::PlateNumber => "plate",
            PersonalData::RoomNumber => "room",
        }
    }
}

/// A text with its personal data masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Masked {
    pub text: String,
    /// What was masked, each kind once, in order of first appearance.
    pub kinds: Vec<PersonalData>,
}

impl Masked {
    pub fn changed(&self) -> bool {
        !self.kinds.is_empty()
    }
}

/// Masks personal data so that it can be shown to everyone:
///
/// | kind | example | shown as |
/// |---|---|---|
/// | mobile | 138 1234 5678, +86-138-1234-5678, full-width digits | 138****5678 |
/// | landline | 0411-87654321, (010)62345678 | 0411-****4321 |
/// | ID card | 11010519491231002X, also in groups | 110*************2X |
/// | bank card | 6228 4800 1234 5671 (Luhn) | 6228********5671 |
/// | e-mail | zhang.san@example.com | z***@example.com |
/// | plate | 辽B·12345 | 辽B***45 |
/// | room | 3号楼502室, 3-502, 3栋2单元1101, 502室 | 3号楼***室, 3-***, 3栋2单元****, ***室 |
///
/// Digits count as one number when only spaces, dashes or brackets (at most
/// three in a row) stand between groups of at least three digits, so "138 1234 5678"
/// is a phone number but "2026-11-21", "12:30", "¥1280", "89.5平方米" and
/// lists of short numbers are left alone. A room is three or four digits
/// (floor and flat, never "…00") after a building ("3号楼", "3栋", "3-"),
/// a unit ("2单元") or before "室"/"房"; followed by a quantity ("3号楼300人",
/// "1-100元") or part of a date or time it is not a room. Digits touching a
/// decimal point are never personal data. Masks keep the visible digits as
/// typed (full-width stays full-width) and hide the same number of digits
/// they replace, except e-mail local parts.
pub fn mask_personal_data(text: &str) -> Masked {
    let chars: Vec<char> = text.chars().collect();
    let mut spans = Spans {
        taken: vec![false; chars.len()],
        found: Vec::new(),
    };
    find_emails(&chars, &mut spans);
    find_plates(&chars, &mut spans);
    find_numbers(&chars, &mut spans);
    find_rooms(&chars, &mut spans);

    let mut found = spans.found;
    found.sort_by_key(|span| span.start);
    let mut out = String::with_capacity(text.len());
    let mut kinds = Vec::new();
    let mut at = 0;
    for span in found {
        out.extend(&chars[at..span.start]);
        out.push_str(&span.replacement);
        at = span.end;
        if !kinds.contains(&span.kind) {
            kinds.push(span.kind);
        }
    }
    out.extend(&chars[at..]);
    Masked { text: out, kinds }
}

/// A stretch of the text (character indexes) to replace.
struct Span {
    start: usize,
    end: usize,
    kind: PersonalData,
    replacement: String,
}

struct Spans {
    /// Characters already inside a span, so later scanners leave them alone.
    taken: Vec<bool>,
    found: Vec<Span>,
}

impl Spans {
    fn is_free(&self, range: std::ops::Range<usize>) -> bool {
        !self.taken[range].contains(&true)
    }

    fn add(&mut self, span: Span) {
        self.taken[span.start..span.end].fill(true);
        self.found.push(span);
    }
}

/// Full-width ASCII (！ to ～) as plain ASCII; anything else unchanged.
fn half_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

fn digit_value(c: char) -> Option<u8> {
    half_width(c).to_digit(10).map(|d| d as u8)
}

fn stars(n: usize) -> String {
    "*".repeat(n)
}

fn find_emails(chars: &[char], spans: &mut Spans) {
    for (at, &c) in chars.iter().enumerate() {
        if !matches!(c, '@' | '＠') || !spans.is_free(at..at + 1) {
            continue;
        }
        let mut start = at;
        while start > 0 && is_local_part_char(chars[start - 1]) {
            start -= 1;
        }
        while start < at && chars[start] == '.' {
            start += 1;
        }
        let mut end = at + 1;
        while end < chars.len() && is_domain_char(chars[end]) {
            end += 1;
        }
        while end > at + 1 && matches!(chars[end - 1], '.' | '-') {
            end -= 1;
        }
        let domain: String = chars[at + 1..end].iter().collect();
        if start == at || !is_plausible_domain(&domain) || !spans.is_free(start..end) {
            continue;
        }
        spans.add(Span {
            start,
            end,
            kind: PersonalData::Email,
            replacement: format!("{}***@{domain}", chars[start]),
        });
    }
}

fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '%' | '+' | '-')
}

fn is_domain_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-')
}

fn is_plausible_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    let Some(top) = labels.last() else {
        return false;
    };
    labels.len() >= 2
        && labels
            .iter()
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
        && top.len() >= 2
        && top.chars().all(|c| c.is_ascii_alphabetic())
}

/// Province abbreviations that start a mainland licence plate.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

fn find_plates(chars: &[char], spans: &mut Spans) {
    let mut at = 0;
    while at < chars.len() {
        match plate_at(chars, at) {
            Some((number_start, end)) if spans.is_free(at..end) => {
                let number = &chars[number_start..end];
                let mut replacement: String = chars[at..at + 2].iter().collect();
                replacement.push_str(&stars(number.len() - 2));
                replacement.extend(&number[number.len() - 2..]);
                spans.add(Span {
                    start: at,
                    end,
                    kind: PersonalData::PlateNumber,
                    replacement,
                });
                at = end;
            }
            _ => at += 1,
        }
    }
}

/// A plate starting at `at`: province, letter, an optional dot or space,
/// then 5 (6 for new-energy cars) letters and digits, at least three of them
/// digits. Returns where the 5–6 characters start and where the plate ends.
fn plate_at(chars: &[char], at: usize) -> Option<(usize, usize)> {
    if !PLATE_PROVINCES.contains(chars[at]) {
        return None;
    }
    if !half_width(*chars.get(at + 1)?).is_ascii_alphabetic() {
        return None;
    }
    let mut start = at + 2;
    if chars
        .get(start)
        .is_some_and(|&c| matches!(c, '·' | '•' | '・' | '.' | '．' | ' ' | '-' | '－'))
    {
        start += 1;
    }
    let len = chars[start.min(chars.len())..]
        .iter()
        .take_while(|&&c| half_width(c).is_ascii_alphanumeric())
        .count();
    let number = &chars[start..start + len];
    let digits = number.iter().filter(|&&c| digit_value(c).is_some()).count();
    ((5..=6).contains(&len) && digits >= 3).then_some((start, start + len))
}

/// Digits, in groups separated by spaces, dashes or brackets.
struct Group {
    start: usize,
    /// End of the digits; an ID card's final X, if any, sits at `end`.
    end: usize,
    check_x: bool,
}

impl Group {
    /// Digits only.
    fn len(&self) -> usize {
        self.end - self.start
    }

    /// Digits and the final X.
    fn width(&self) -> usize {
        self.len() + usize::from(self.check_x)
    }

    fn positions(&self) -> std::ops::Range<usize> {
        self.start..self.end + usize::from(self.check_x)
    }
}

/// No pattern below has more digits than a 19-digit bank card.
const MAX_PATTERN_DIGITS: usize = 19;

fn find_numbers(chars: &[char], spans: &mut Spans) {
    let mut at = 0;
    while at < chars.len() {
        if !spans.is_free(at..at + 1) || digit_value(chars[at]).is_none() {
            at += 1;
            continue;
        }
        let (groups, end) = read_groups(chars, spans, at);
        if !touches_decimal_point(chars, at, end) {
            mask_groups(chars, &groups, spans);
        }
        at = end;
    }
}

fn is_group_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{00A0}'
            | '\u{3000}'
            | '-'
            | '－'
            | '‐'
            | '‑'
            | '–'
            | '—'
            | '('
            | ')'
            | '（'
            | '）'
    )
}

fn is_check_x(c: char) -> bool {
    matches!(c, 'X' | 'x' | 'Ｘ' | 'ｘ')
}

/// Reads the groups of one number starting at `at`; returns them and the end.
fn read_groups(chars: &[char], spans: &Spans, at: usize) -> (Vec<Group>, usize) {
    let is_digit_at =
        |i: usize| i < chars.len() && !spans.taken[i] && digit_value(chars[i]).is_some();
    let mut groups = Vec::new();
    let mut at = at;
    loop {
        let start = at;
        while is_digit_at(at) {
            at += 1;
        }
        let check_x = at < chars.len()
            && !spans.taken[at]
            && is_check_x(chars[at])
            && !chars
                .get(at + 1)
                .is_some_and(|&c| half_width(c).is_ascii_alphanumeric());
        groups.push(Group {
            start,
            end: at,
            check_x,
        });
        if check_x {
            return (groups, at + 1);
        }
        let mut next = at;
        while next < chars.len()
            && next - at < 3
            && !spans.taken[next]
            && is_group_separator(chars[next])
        {
            next += 1;
        }
        if next == at || !is_digit_at(next) {
            return (groups, at);
        }
        at = next;
    }
}

/// Words after a building's number: "3号楼", "3栋", "3幢", "3座", "3楼".
const BUILDING_WORDS: &[&str] = &["号楼", "栋", "幢", "座", "楼"];
/// Words after a unit's (entrance's) number: "2单元", "2门".
const UNIT_WORDS: &[&str] = &["单元", "门"];
/// Words that make a number before them a room: "502室", "502房", "502号房".
const ROOM_WORDS: &[&str] = &["室", "房", "号房"];
/// What follows a count, a price or a measure, never a room ("300人", "1-100元").
const QUANTITY_UNITS: &str =
    "元块角米平人户个位名岁分秒小天年月日周次辆台件条张份斤公吨千万亿%％度倍期届项号页本只篇箱包瓶盒";

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '－' | '‐' | '‑' | '–' | '—')
}

fn word_at(chars: &[char], at: usize, words: &[&str]) -> Option<usize> {
    words
        .iter()
        .filter(|word| {
            word.chars()
                .enumerate()
                .all(|(i, c)| chars.get(at + i) == Some(&c))
        })
        .map(|word| word.chars().count())
        .max()
}

/// The end of the run of digits starting at `at`.
fn digits_end(chars: &[char], at: usize) -> usize {
    let mut end = at;
    while end < chars.len() && digit_value(chars[end]).is_some() {
        end += 1;
    }
    end
}

/// `start..end` holds three or four digits that could be a flat: a floor
/// (not 0) and a flat number (not 00), not followed by more of a number
/// (a decimal, a time, a range, a date) or by a quantity.
fn could_be_room(chars: &[char], start: usize, end: usize) -> bool {
    if !(3..=4).contains(&(end - start)) {
        return false;
    }
    let flat = (digit_value(chars[end - 2]), digit_value(chars[end - 1]));
    if digit_value(chars[start]) == Some(0) || flat == (Some(0), Some(0)) {
        return false;
    }
    if word_at(chars, end, ROOM_WORDS).is_some() {
        return true;
    }
    match chars.get(end) {
        None => true,
        Some(&c) => {
            let continues = matches!(c, '.' | '．' | ':' | '：' | '/' | '／') || is_dash(c);
            let more_digits = chars
                .get(end + 1)
                .is_some_and(|&d| digit_value(d).is_some());
            let quantity = QUANTITY_UNITS.contains(c);
            !(quantity || (continues && more_digits))
        }
    }
}

/// Where a room's digits start after a building or unit word ending at
/// `at`: right there, or after one space, dash or "·".
fn room_after(chars: &[char], at: usize) -> Option<(usize, usize)> {
    let start = match chars.get(at) {
        Some(&c) if c == ' ' || c == '·' || is_dash(c) => at + 1,
        _ => at,
    };
    let end = digits_end(chars, start);
    (end > start && could_be_room(chars, start, end)).then_some((start, end))
}

/// Masks the digits of the rooms in the text, keeping the building and the
/// unit: "3号楼502室" → "3号楼***室", "3-2-502" → "3-2-***".
fn find_rooms(chars: &[char], spans: &mut Spans) {
    let mut rooms = Vec::new();
    let mut at = 0;
    while at < chars.len() {
        if digit_value(chars[at]).is_none() || (at > 0 && digit_value(chars[at - 1]).is_some()) {
            at += 1;
            continue;
        }
        let end = digits_end(chars, at);
        let before = at.checked_sub(1).map(|i| chars[i]);
        let glued =
            before.is_some_and(|c| matches!(c, '.' | '．' | ':' | '：' | '/' | '／') || is_dash(c));
        let mut room = None;
        if word_at(chars, end, ROOM_WORDS).is_some() {
            // "502室": the suffix says it is a room.
            if !glued && could_be_room(chars, at, end) {
                room = Some((at, end));
            }
        } else if let Some(word) =
            word_at(chars, end, BUILDING_WORDS).or_else(|| word_at(chars, end, UNIT_WORDS))
        {
            // "3号楼502", "3栋2单元502", "2单元502": the room follows, possibly
            // after a unit.
            let after = end + word;
            room = room_after(chars, after).or_else(|| {
                let unit_end = digits_end(chars, after);
                let unit_word = word_at(chars, unit_end, UNIT_WORDS)?;
                (unit_end > after && unit_end - after <= 2)
                    .then(|| room_after(chars, unit_end + unit_word))
                    .flatten()
            });
        } else if (1..=2).contains(&(end - at)) && !glued {
            // "3-502" or "3-2-502": a building (and a unit) of one or two digits.
            let mut next = end;
            for _ in 0..2 {
                if !chars.get(next).is_some_and(|&c| is_dash(c)) {
                    break;
                }
                let start = next + 1;
                let stop = digits_end(chars, start);
                if stop > start && could_be_room(chars, start, stop) {
                    room = Some((start, stop));
                    break;
                }
                if !(1..=2).contains(&(stop - start)) {
                    break;
                }
                next = stop;
            }
        }
        if let Some((start, stop)) = room {
            rooms.push((start, stop));
            at = stop;
        } else {
            at = end;
        }
    }
    for (start, end) in rooms {
        if spans.is_free(start..end) {
            spans.add(Span {
                start,
                end,
                kind: PersonalData::RoomNumber,
                replacement: stars(end - start),
            });
        }
    }
}

fn touches_decimal_point(chars: &[char], start: usize, end: usize) -> bool {
    let is_point = |c: char| matches!(c, '.' | '．');
    let is_digit = |i: usize| chars.get(i).is_some_and(|&c| digit_value(c).is_some());
    (start >= 2 && is_point(chars[start - 1]) && is_digit(start - 2))
        || (chars.get(end).is_some_and(|&c| is_point(c)) && is_digit(end + 1))
}

/// Finds patterns among consecutive groups, the longest first, so that
/// "2026-11-21 13812345678" masks only the phone number.
fn mask_groups(chars: &[char], groups: &[Group], spans: &mut Spans) {
    let mut first = 0;
    while first < groups.len() {
        let mut digits = 0;
        let reach = groups[first..]
            .iter()
            .take_while(|group| {
                digits += group.width();
                digits <= MAX_PATTERN_DIGITS
            })
            .count();
        let found = (first + 1..=first + reach)
            .rev()
            .find_map(|last| classify(chars, &groups[first..last]).map(|span| (last, span)));
        match found {
            Some((next, span)) => {
                spans.add(span);
                first = next;
            }
            None => first += 1,
        }
    }
}

fn classify(chars: &[char], groups: &[Group]) -> Option<Span> {
    let mut positions: Vec<usize> = groups.iter().flat_map(Group::positions).collect();
    let values = |positions: &[usize]| -> Vec<u8> {
        positions
            .iter()
            .map(|&p| digit_value(chars[p]).unwrap_or(10))
            .collect()
    };
    let with_x = Number {
        chars,
        groups,
        positions: &positions,
        values: &values(&positions),
    };
    if let Some(span) = with_x.id_card() {
        return Some(span);
    }
    // Not an ID card: a trailing "x" is just a letter after the number.
    if groups.last().is_some_and(|group| group.check_x) {
        positions.pop();
    }
    let number = Number {
        chars,
        groups,
        positions: &positions,
        values: &values(&positions),
    };
    number
        .mobile()
        .or_else(|| number.landline())
        .or_else(|| number.bank_card())
}

fn all_at_least_three(groups: &[Group]) -> bool {
    groups.iter().all(|group| group.len() >= 3)
}

/// Some consecutive digit groups, with each digit's position in the text.
struct Number<'a> {
    chars: &'a [char],
    groups: &'a [Group],
    positions: &'a [usize],
    /// Digit values; an ID card's final X is 10.
    values: &'a [u8],
}

impl Number<'_> {
    /// The digits at `range` as typed.
    fn typed(&self, range: std::ops::Range<usize>) -> String {
        self.positions[range]
            .iter()
            .map(|&p| self.chars[p])
            .collect()
    }

    fn span(&self, from: usize, kind: PersonalData, replacement: String) -> Span {
        Span {
            start: self.positions[from],
            end: self.positions[self.positions.len() - 1] + 1,
            kind,
            replacement,
        }
    }

    fn id_card(&self) -> Option<Span> {
        let v = self.values;
        let grouped = self.groups.iter().all(|group| group.width() >= 3);
        if v.len() != 18 || !grouped || !is_id_card_number(v) {
            return None;
        }
        let replacement = format!("{}{}{}", self.typed(0..3), stars(13), self.typed(16..18));
        Some(self.span(0, PersonalData::IdCardNumber, replacement))
    }

    fn mobile(&self) -> Option<Span> {
        let v = self.values;
        let prefix = match v.len() {
            11 => 0,
            13 if v.starts_with(&[8, 6]) => 2,
            15 if v.starts_with(&[0, 0, 8, 6]) => 4,
            _ => return None,
        };
        let number = &v[prefix..];
        // The country code may stand alone ("+86 138…"); other groups need three digits.
        let (first, rest) = self.groups.split_first()?;
        let grouped = (first.len() >= 3 || first.len() == prefix) && all_at_least_three(rest);
        if number[0] != 1 || !(3..=9).contains(&number[1]) || !grouped {
            return None;
        }
        let replacement = format!(
            "{}****{}",
            self.typed(prefix..prefix + 3),
            self.typed(prefix + 7..prefix + 11)
        );
        Some(self.span(prefix, PersonalData::MobileNumber, replacement))
    }

    fn landline(&self) -> Option<Span> {
        let (area, local_groups) = self.groups.split_first()?;
        let v = self.values;
        let area_len = area.len();
        let area_code = match area_len {
            3 => v[0] == 0 && (v[1] == 2 || (v[1] == 1 && v[2] == 0)),
            4 => v[0] == 0 && v[1] >= 3,
            _ => false,
        };
        let local = &v[area_len..];
        if !area_code
            || local_groups.is_empty()
            || !all_at_least_three(local_groups)
            || !(7..=8).contains(&local.len())
            || !(2..=8).contains(&local[0])
        {
            return None;
        }
        let replacement = format!(
            "{}{}",
            stars(local.len() - 4),
            self.typed(v.len() - 4..v.len())
        );
        Some(self.span(area_len, PersonalData::Landline, replacement))
    }

    fn bank_card(&self) -> Option<Span> {
        let v = self.values;
        if !(16..=19).contains(&v.len()) {
            return None;
        }
        // Card networks: 3–6, 9 (old domestic cards) and Mastercard's 2221–2720,
        // which keeps date-prefixed order numbers ("20261121…") out.
        let network = match v[0] {
            3..=6 | 9 => true,
            2 => (2221..=2720).contains(&as_number(&v[..4])),
            _ => false,
        };
        // Written in one piece or in fours, as printed on the card.
        let grouped = match self.groups.split_last() {
            Some((_, [])) => true,
            Some((last, fours)) => fours.iter().all(|g| g.len() == 4) && last.len() <= 4,
            None => false,
        };
        if !network || !grouped || !passes_luhn(v) {
            return None;
        }
        let replacement = format!(
            "{}{}{}",
            self.typed(0..4),
            stars(v.len() - 8),
            self.typed(v.len() - 4..v.len())
        );
        Some(self.span(0, PersonalData::BankCard, replacement))
    }
}

fn as_number(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |n, &d| n * 10 + u32::from(d))
}

/// GB 11643: region, birth date (YYYYMMDD from 1900), sequence, and an
/// ISO 7064 MOD 11-2 check character (10 written as X).
fn is_id_card_number(v: &[u8]) -> bool {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [u8; 11] = [1, 0, 10, 9, 8, 7, 6, 5, 4, 3, 2];
    if v.len() != 18 || v[..17].iter().any(|&d| d > 9) || v[0] == 0 {
        return false;
    }
    let year = as_number(&v[6..10]);
    let month = as_number(&v[10..12]);
    let day = as_number(&v[12..14]);
    let sum: u32 = v[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(&d, w)| u32::from(d) * w)
        .sum();
    (1900..=2099).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && CHECK[(sum % 11) as usize] == v[17]
}

fn passes_luhn(v: &[u8]) -> bool {
    let sum: u32 = v
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match i % 2 {
                0 => d,
                _ if d * 2 > 9 => d * 2 - 9,
                _ => d * 2,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn masked(text: &str) -> String {
        mask_personal_data(text).text
    }

    fn kinds(text: &str) -> Vec<PersonalData> {
        mask_personal_data(text).kinds
    }

    // --- personal data: mobile numbers ------------------------------------

    #[test]
    fn masks_mobile_numbers_inside_chinese_text() {
        let result = mask_personal_data("电话13812345678谢谢");
        assert_eq!(result.text, "电话138****5678谢谢");
        assert_eq!(result.kinds, [PersonalData::MobileNumber]);
        assert!(result.changed());
    }

    #[test]
    fn masks_mobile_numbers_written_in_groups_or_with_country_code() {
        for (typed, shown) in [
            ("138 1234 5678", "138****5678"),
            ("138-1234-5678", "138****5678"),
            ("138 - 1234 - 5678", "138****5678"),
            ("1381234 5678", "138****5678"),
            ("+86 138 1234 5678", "+86 138****5678"),
            ("+86-138-1234-5678", "+86-138****5678"),
            ("+8613812345678", "+86138****5678"),
            ("0086 13812345678", "0086 138****5678"),
            ("(+86)19912345678", "(+86)199****5678"),
        ] {
            assert_eq!(
                masked(&format!("联系我{typed}。")),
                format!("联系我{shown}。"),
                "{typed}"
            );
        }
    }

    #[test]
    fn masks_full_width_mobile_numbers_keeping_their_width() {
        assert_eq!(
            masked("手机：１３８１２３４５６７８"),
            "手机：１３８****５６７８"
        );
        assert_eq!(
            masked("手机：１３８　１２３４　５６７８"),
            "手机：１３８****５６７８"
        );
    }

    #[test]
    fn masks_every_mobile_number_in_a_message() {
        assert_eq!(
            masked("张13812345678，李15987654321 或 17712340000"),
            "张138****5678，李159****4321 或 177****0000"
        );
    }

    #[test]
    fn mobile_number_followed_by_a_letter_x_is_still_masked() {
        assert_eq!(masked("13812345678x"), "138****5678x");
    }

    #[test]
    fn leaves_numbers_that_are_not_mobile_numbers() {
        for text in [
            "12812345678",    // 12 is not a mobile prefix
            "138123456789",   // 12 digits: an order number
            "1381234567",     // 10 digits
            "10086",          // service number
            "13 812 345 678", // groups too short to be a written phone number
            "1 3 8 1 2 3 4 5 6 7 8",
            "13812345678.5",
            "0.13812345678",
        ] {
            assert_eq!(masked(text), text);
            assert!(kinds(text).is_empty(), "{text}");
        }
    }

    // --- personal data: landlines, ID cards, bank cards -------------------

    #[test]
    fn masks_landlines_with_an_area_code() {
        assert_eq!(masked("物业电话0411-87654321"), "物业电话0411-****4321");
        assert_eq!(masked("010-62345678"), "010-****5678");
        assert_eq!(masked("(010)62345678"), "(010)****5678");
        assert_eq!(masked("0411 8765 4321转"), "0411 ****4321转");
        assert_eq!(masked("021-6234567"), "021-***4567");
        assert_eq!(kinds("0411-87654321"), [PersonalData::Landline]);
    }

    #[test]
    fn leaves_numbers_that_only_look_like_landlines() {
        for text in [
            "0411",
            "041187654321",
            "0411-12345678",
            "0411-123",
            "001-87654321",
        ] {
            assert_eq!(masked(text), text);
        }
    }

    #[test]
    fn masks_id_card_numbers_with_valid_checksum() {
        let result = mask_personal_data("身份证号11010519491231002X请核实");
        assert_eq!(result.text, "身份证号110*************2X请核实");
        assert_eq!(result.kinds, [PersonalData::IdCardNumber]);
        assert_eq!(masked("210202199003071239"), "210*************39");
        assert_eq!(masked("11010519491231002x"), "110*************2x");
        assert_eq!(
            masked("ID: 110105 19491231 002X."),
            "ID: 110*************2X."
        );
        assert_eq!(masked("110105 1949 1231 002X"), "110*************2X");
        assert_eq!(
            masked("１１０１０５１９４９１２３１００２Ｘ"),
            "１１０*************２Ｘ"
        );
    }

    #[test]
    fn leaves_id_like_numbers_with_a_wrong_checksum_or_date() {
        assert_eq!(masked("210202199003071230"), "210202199003071230");
        assert_eq!(masked("11010519491231002Y"), "11010519491231002Y");
        // A month of 13 is refused whatever the checksum says.
        assert!(!is_id_card_number(&[
            2, 1, 0, 2, 0, 2, 1, 9, 9, 0, 1, 3, 0, 7, 1, 2, 3, 9
        ]));
        assert!(is_id_card_number(&[
            1, 1, 0, 1, 0, 5, 1, 9, 4, 9, 1, 2, 3, 1, 0, 0, 2, 10
        ]));
    }

    #[test]
    fn masks_bank_card_numbers_that_pass_luhn() {
        let result = mask_personal_data("请转账到卡号6222021234567890128，谢谢");
        assert_eq!(result.text, "请转账到卡号6222***********0128，谢谢");
        assert_eq!(result.kinds, [PersonalData::BankCard]);
        assert_eq!(masked("6228 4800 1234 5671"), "6228********5671");
        assert_eq!(masked("4111-1111-1111-1111"), "4111********1111");
        assert_eq!(masked("6217 0012 3456 7890 015"), "6217***********0015");
    }

    #[test]
    fn leaves_long_numbers_that_are_not_bank_cards() {
        for text in [
            "6228480012345670",       // fails Luhn
            "订单号2026112112345678", // date-prefixed order number
            "1300 1500 1800 1900元",  // a price list
            "6228 480012345671",      // not grouped like a card
        ] {
            assert_eq!(masked(text), text);
        }
    }

    // --- personal data: e-mail and plates ---------------------------------

    #[test]
    fn masks_email_addresses() {
        let result = mask_personal_data("联系zhang.san@example.com谢谢");
        assert_eq!(result.text, "联系z***@example.com谢谢");
        assert_eq!(result.kinds, [PersonalData::Email]);
        assert_eq!(
            masked("邮箱：13812345678@163.com。"),
            "邮箱：1***@163.com。"
        );
        assert_eq!(kinds("13812345678@163.com"), [PersonalData::Email]);
        assert_eq!(masked("mail a.b+c@mail.qq.com."), "mail a***@mail.qq.com.");
    }

    #[test]
    fn leaves_at_signs_that_are_not_email() {
        for text in ["@张三 你好", "a@b", "价格@100元", "me@localhost", "x@.com"] {
            assert_eq!(masked(text), text);
        }
    }

    #[test]
    fn masks_licence_plates() {
        let result = mask_personal_data("辽B·12345占用消防通道");
        assert_eq!(result.text, "辽B***45占用消防通道");
        assert_eq!(result.kinds, [PersonalData::PlateNumber]);
        assert_eq!(masked("京AD12345停在门口"), "京A****45停在门口");
        assert_eq!(masked("粤b 8x123"), "粤b***23");
    }

    #[test]
    fn leaves_text_that_only_starts_like_a_plate() {
        for text in ["新A股", "苏A级景区", "京A1234567", "沪ABCDE1"] {
            assert_eq!(masked(text), text);
        }
        // Not a plate, but a room all the same.
        assert_eq!(masked("川A座1203室"), "川A座****室");
    }

    // --- personal data: rooms -----------------------------------------------

    #[test]
    fn masks_rooms_keeping_the_building_and_the_unit() {
        for (typed, shown) in [
            ("住3-502", "住3-***"),
            ("3-502漏水", "3-***漏水"),
            ("12-1101", "12-****"),
            ("3-2-502", "3-2-***"),
            ("3号楼502", "3号楼***"),
            ("3号楼502室", "3号楼***室"),
            ("3号楼 502", "3号楼 ***"),
            ("3号楼2单元502室", "3号楼2单元***室"),
            ("3栋2单元502", "3栋2单元***"),
            ("5栋2单元1101", "5栋2单元****"),
            ("1栋1单元101 2栋3单元302", "1栋1单元*** 2栋3单元***"),
            ("3幢1203", "3幢****"),
            ("2单元502", "2单元***"),
            ("502室", "***室"),
            ("住在1203房间", "住在****房间"),
            ("3号楼502号房", "3号楼***号房"),
            ("３号楼５０２室", "３号楼***室"),
        ] {
            let result = mask_personal_data(typed);
            assert_eq!(result.text, shown, "{typed}");
            assert_eq!(result.kinds, [PersonalData::RoomNumber], "{typed}");
        }
        assert_eq!(PersonalData::RoomNumber.as_str(), "room");
    }

    #[test]
    fn leaves_times_prices_dates_and_counts_that_only_look_like_rooms() {
        for text in [
            "2026-11-21",
            "11-21",
            "19:00-21:00",
            "9:30-10:15",
            "1-100",
            "1-100元",
            "3-150人",
            "第3-120页",
            "3-5天",
            "300-500元",
            "3号楼300人",
            "3号楼2026年建成",
            "3号楼12:30停水",
            "3号楼1200元",
            "3号楼1.5米",
            "3室2厅",
            "100室",
            "0502室",
            "502",
            "爱跑步的502",
            "共1280户，3000人",
            "3-502.5",
            "3-502-1",
        ] {
            let result = mask_personal_data(text);
            assert_eq!(result.text, text, "{text}");
            assert!(!result.changed(), "{text}");
        }
    }

    #[test]
    fn masks_a_room_next_to_a_phone_number_and_a_name() {
        let result = mask_personal_data("我的电话13912345678 住3-502 王小明");
        assert_eq!(result.text, "我的电话139****5678 住3-*** 王小明");
        assert_eq!(
            result.kinds,
            [PersonalData::MobileNumber, PersonalData::RoomNumber]
        );
    }

    // --- personal data: false positives ------------------------------------

    #[test]
    fn leaves_prices_dates_times_buildings_and_areas_alone() {
        for text in [
            "¥1280",
            "3.5元",
            "300元一个月",
            "物业费每平方米1.8元，共1280元",
            "2026年11月21日",
            "2026-11-21",
            "2026-11-21 12:30",
            "2026/11/21 19:00-21:00",
            "12:30开会",
            "3号楼",
            "3号楼2单元",
            "89.5平方米",
            "订单号12345678",
            "共1280户，3000人",
            "第20261121期",
            "2026 1121",
            "v2.0.1",
            "电话是 10086 或 12345",
        ] {
            let result = mask_personal_data(text);
            assert_eq!(result.text, text);
            assert!(!result.changed(), "{text}");
        }
    }

    #[test]
    fn masks_a_phone_number_next_to_a_date_or_room_number() {
        assert_eq!(masked("2026-11-21 13812345678"), "2026-11-21 138****5678");
        assert_eq!(masked("502 13812345678"), "502 138****5678");
        assert_eq!(
            masked("3号楼502室，电话13812345678"),
            "3号楼***室，电话138****5678"
        );
    }

    #[test]
    fn reports_each_kind_once_in_order_of_appearance() {
        let result = mask_personal_data("邮箱a@b.com 电话13812345678 或 13987654321，车牌辽B12345");
        assert_eq!(
            result.kinds,
            [
                PersonalData::Email,
                PersonalData::MobileNumber,
                PersonalData::PlateNumber
            ]
        );
        assert_eq!(
            result.text,
            "邮箱a***@b.com 电话138****5678 或 139****4321，车牌辽B***45"
        );
        assert_eq!(PersonalData::IdCardNumber.as_str(), "id_card");
    }

    #[test]
    fn masking_handles_a_ten_thousand_character_message() {
        let long = "电话13812345678，3号楼502室，1.5米。".repeat(400);
        let result = mask_personal_data(&long);
        assert_eq!(
            result.kinds,
            [PersonalData::MobileNumber, PersonalData::RoomNumber]
        );
        assert!(!result.text.contains("13812345678") && !result.text.contains("502"));
        assert_eq!(result.text.matches("138****5678").count(), 400);
        assert_eq!(result.text.matches("3号楼***室").count(), 400);
        let digits = "1 ".repeat(5000);
        assert_eq!(masked(&digits), digits);
    }

    fn longest_digit_run(text: &str) -> usize {
        text.split(|c: char| digit_value(c).is_none())
            .map(|run| run.chars().count())
            .max()
            .unwrap_or(0)
    }

    proptest! {
        #[test]
        fn masking_never_makes_a_longer_digit_run(text in "[0-9０-９ \\-+()@.a-zX一二号楼]{0,60}") {
            let result = mask_personal_data(&text);
            prop_assert!(longest_digit_run(&result.text) <= longest_digit_run(&text));
            prop_assert!(result.text.chars().filter(|&c| digit_value(c).is_some()).count()
                <= text.chars().filter(|&c| digit_value(c).is_some()).count());
        }

        #[test]
        fn masking_hides_every_written_form_of_a_mobile_number(
            before in "[一-龥a-z，。 ]{0,8}",
            number in "1[3-9][0-9]{9}",
            form in 0..5usize,
            after in "[一-龥a-z，。 ]{0,8}",
        ) {
            let (a, b, c) = (&number[..3], &number[3..7], &number[7..]);
            let (typed, shown) = match form {
                0 => (number.clone(), format!("{a}****{c}")),
                1 => (format!("{a} {b} {c}"), format!("{a}****{c}")),
                2 => (format!("{a}-{b}-{c}"), format!("{a}****{c}")),
                3 => (format!("+86 {number}"), format!("+86 {a}****{c}")),
                _ => (format!("+86-{a}-{b}-{c}"), format!("+86-{a}****{c}")),
            };
            let result = mask_personal_data(&format!("{before}{typed}{after}"));
            prop_assert_eq!(result.text, format!("{before}{shown}{after}"));
            prop_assert_eq!(result.kinds, vec![PersonalData::MobileNumber]);
        }

        #[test]
        fn masking_leaves_prices_and_dates_alone(
            price in "[¥￥]?[0-9]{1,5}(\\.[0-9]{1,2})?(元|块|平方米|米)",
            year in 1990..2100u32, month in 1..13u32, day in 1..29u32,
            hour in 0..24u32, minute in 0..60u32,
            building in "[1-9][0-9]?(号楼|栋)",
        ) {
            let text = format!("{year}年{month}月{day}日 {hour}:{minute:02}，{building}，{price}；{year}-{month:02}-{day:02}");
            prop_assert_eq!(masked(&text), text);
        }

        #[test]
        fn masking_hides_every_room_and_keeps_its_building(
            building in "[1-9][0-9]?(号楼|栋|-)",
            floor in 1..33u32,
            flat in 1..13u32,
            suffix in "(室|)",
            after in "[一-龥，。 ]{0,6}",
        ) {
            prop_assume!(!after.starts_with(|c| QUANTITY_UNITS.contains(c)));
            let room = format!("{floor}{flat:02}");
            let text = format!("住{building}{room}{suffix}{after}");
            let shown = format!("住{building}{}{suffix}{after}", "*".repeat(room.len()));
            prop_assert_eq!(masked(&text), shown);
        }

    }
}
