//! Checked user text. Everything a person types goes through `clean_line`:
//! NFKC folds full-width letters and digits ("３号楼" → "3号楼"), surrounding
//! whitespace is trimmed, and control, zero-width and bidi-override characters
//! are refused rather than silently stored.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("empty")]
    Empty,
    #[error("longer than {max} characters")]
    TooLong { max: usize },
    #[error("shorter than {min} characters")]
    TooShort { min: usize },
    #[error("contains control or invisible characters")]
    InvisibleCharacters,
    #[error("contains characters that are not allowed here")]
    BadCharacters,
}

impl TextError {
    /// Catalogue key of the message shown to the person who typed the text.
    pub fn message_key(&self) -> &'static str {
        match self {
            TextError::Empty => "error.text.empty",
            TextError::TooLong { .. } => "error.text.too_long",
            TextError::TooShort { .. } => "error.text.too_short",
            TextError::InvisibleCharacters => "error.text.invisible",
            TextError::BadCharacters => "error.text.bad_characters",
        }
    }

    /// The number the message mentions, if any.
    pub fn limit(&self) -> Option<usize> {
        match self {
            TextError::TooLong { max } => Some(*max),
            TextError::TooShort { min } => Some(*min),
            _ => None,
        }
    }
}

/// Characters that draw nothing or reorder the text around them, by the
/// Unicode Character Database: controls, format characters (bidi marks and
/// overrides, zero-width joiners, tag characters) and every
/// Default_Ignorable_Code_Point (Hangul fillers, the combining grapheme
/// joiner, the Mongolian vowel separator …), plus the braille blank, which
/// Unicode counts as a symbol but which every font draws as nothing.
///
/// Not included: the variation selectors U+FE00–U+FE0F, which choose how
/// the character before them is drawn (❤️ is ❤ and U+FE0F); alone they draw
/// nothing, which [`has_visible`] catches.
pub fn is_invisible(c: char) -> bool {
    use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
    use icu_properties::{CodePointMapData, CodePointSetData};
    if c.is_control() || c == '\u{2800}' {
        return true;
    }
    if is_variation_selector(c) {
        return false;
    }
    CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || CodePointMapData::<GeneralCategory>::new().get(c) == GeneralCategory::Format
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}')
}

/// Whether `text` has something a reader sees: a character that is not
/// space, not invisible, and not only a mark on something else.
pub fn has_visible(text: &str) -> bool {
    use icu_properties::props::GeneralCategory;
    use icu_properties::CodePointMapData;
    let categories = CodePointMapData::<GeneralCategory>::new();
    text.chars().any(|c| {
        !c.is_whitespace()
            && !is_invisible(c)
            && !is_variation_selector(c)
            && !matches!(
                categories.get(c),
                GeneralCategory::NonspacingMark
                    | GeneralCategory::EnclosingMark
                    | GeneralCategory::SpacingMark
            )
    })
}

/// One line of text: normalised, trimmed, visible, between `min` and `max` characters.
pub fn clean_line(raw: &str, min: usize, max: usize) -> Result<String, TextError> {
    // Refuse absurd input before normalising it.
    if raw.chars().count() > max * 4 + 64 {
        return Err(TextError::TooLong { max });
    }
    let text: String = raw.nfkc().collect();
    checked_line(&text, min, max)
}

/// A line of prose (a notice title, a reason): like [`clean_line`], but
/// canonical normalisation only, so that Chinese full-width punctuation
/// (，：！) stays as typed instead of becoming ASCII.
pub fn clean_prose_line(raw: &str, min: usize, max: usize) -> Result<String, TextError> {
    if raw.chars().count() > max * 4 + 64 {
        return Err(TextError::TooLong { max });
    }
    let text: String = raw.nfc().collect();
    checked_line(&text, min, max)
}

fn checked_line(text: &str, min: usize, max: usize) -> Result<String, TextError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TextError::Empty);
    }
    if text.chars().any(is_invisible) {
        return Err(TextError::InvisibleCharacters);
    }
    // Marks or variation selectors alone: a name that looks blank.
    if !has_visible(text) {
        return Err(TextError::InvisibleCharacters);
    }
    let len = text.chars().count();
    if len > max {
        return Err(TextError::TooLong { max });
    }
    if len < min {
        return Err(TextError::TooShort { min });
    }
    Ok(text.to_owned())
}

/// Several lines of text (a description): each line cleaned as by
/// [`clean_line`], blank lines kept between paragraphs, at most `max` characters.
pub fn clean_paragraphs(raw: &str, max: usize) -> Result<String, TextError> {
    if raw.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    let mut lines = Vec::new();
    for line in raw.lines() {
        match clean_line(line, 0, max) {
            Ok(line) => lines.push(line),
            Err(TextError::Empty) => lines.push(String::new()),
            Err(error) => return Err(error),
        }
    }
    let joined = lines.join("\n");
    match joined.trim() {
        "" => Err(TextError::Empty),
        trimmed => Ok(trimmed.to_owned()),
    }
}

/// A name shown to others: a staff member's name or a resident's nickname.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct DisplayName(String);

impl DisplayName {
    pub const MAX: usize = 20;

    pub fn parse(raw: &str) -> Result<Self, TextError> {
        clean_line(raw, 1, Self::MAX).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for DisplayName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_full_width_characters() {
        assert_eq!(clean_line("  ３号楼 ", 1, 10).unwrap(), "3号楼");
        assert_eq!(clean_line("ＡＢＣ", 1, 10).unwrap(), "ABC");
        assert_eq!(
            clean_prose_line(" 停水，请储水！ ", 1, 10).unwrap(),
            "停水，请储水！"
        );
        assert_eq!(
            clean_prose_line("a\u{200b}b", 1, 10),
            Err(TextError::InvisibleCharacters)
        );
    }

    #[test]
    fn counts_chinese_characters_as_one_each() {
        assert!(clean_line("幸福家园二期东区", 1, 8).is_ok());
        assert_eq!(
            clean_line("幸福家园二期东区九", 1, 8),
            Err(TextError::TooLong { max: 8 })
        );
    }

    #[test]
    fn refuses_control_zero_width_and_bidi_characters() {
        for bad in [
            "a\u{0007}b",
            "王\u{200B}五",
            "abc\u{202E}fed",
            "x\ny",
            "\u{2066}a",
        ] {
            assert_eq!(
                clean_line(bad, 1, 20),
                Err(TextError::InvisibleCharacters),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn refuses_what_unicode_says_draws_nothing() {
        for blank in [
            "\u{3164}",               // Hangul filler: a "blank" nickname
            "\u{115F}\u{1160}",       // Hangul choseong/jungseong fillers
            "\u{FFA0}",               // half-width Hangul filler
            "\u{2800}",               // braille blank
            "老\u{180E}张",           // Mongolian vowel separator
            "老\u{034F}张",           // combining grapheme joiner
            "老张\u{E0041}\u{E0042}", // tag characters smuggling "AB"
            "\u{FE0F}",               // a variation selector alone
            "\u{0301}\u{0301}",       // marks on nothing
            "\u{061C}x",              // Arabic letter mark
        ] {
            assert_eq!(
                clean_line(blank, 1, 20),
                Err(TextError::InvisibleCharacters),
                "{blank:?}"
            );
            assert!(DisplayName::parse(blank).is_err(), "{blank:?}");
        }
    }

    #[test]
    fn keeps_emoji_presentation_and_accents() {
        assert_eq!(
            DisplayName::parse("小明❤\u{FE0F}").unwrap().as_str(),
            "小明❤\u{FE0F}"
        );
        assert_eq!(clean_prose_line("Café", 1, 10).unwrap(), "Café");
        assert_eq!(clean_line("e\u{0301}", 1, 10).unwrap(), "é");
        assert!(has_visible("Ａ"));
        assert!(!has_visible(" \u{3000}\u{200B}"));
    }

    #[test]
    fn refuses_blank_and_huge_input() {
        assert_eq!(clean_line(" \t ", 1, 5), Err(TextError::Empty));
        assert_eq!(
            clean_line(&"长".repeat(100_000), 1, 5),
            Err(TextError::TooLong { max: 5 })
        );
    }

    #[test]
    fn display_names_are_limited() {
        assert!(DisplayName::parse("3号楼老张").is_ok());
        assert!(DisplayName::parse(&"a".repeat(21)).is_err());
    }
}
