//! Language choice and the one message catalogue (`assets/i18n/app.yml`).
//! Simplified Chinese is the default; English is second.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Lang {
    #[default]
    #[serde(rename = "zh-CN")]
    Zh,
    #[serde(rename = "en")]
    En,
}

impl Lang {
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    pub fn code(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The language's own name, for the switcher.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }

    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code == "zh" || code.starts_with("zh-") || code.starts_with("zh_") {
            Some(Lang::Zh)
        } else if code == "en" || code.starts_with("en-") || code.starts_with("en_") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// Picks the best language from an `Accept-Language` header, honouring q-values.
    pub fn negotiate(accept_language: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in accept_language.split(',') {
            let mut pieces = part.split(';');
            let tag = pieces.next().unwrap_or_default();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if let Some(lang) = Lang::parse(tag) {
                if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                    best = Some((q, lang));
                }
            }
        }
        best.map(|(_, lang)| lang)
    }

    /// The message for `key` in this language.
    pub fn t(self, key: &str) -> Cow<'static, str> {
        let text: Option<Cow<'static, str>> = crate::_rust_i18n_try_translate(self.code(), key);
        text.unwrap_or_else(|| {
            tracing::warn!(key, "message missing from the catalogue");
            Cow::Owned(key.to_owned())
        })
    }

    /// The message for `key` with `%{name}` placeholders filled in.
    pub fn tf(self, key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
        let mut text = self.t(key).into_owned();
        for (name, value) in args {
            text = text.replace(&format!("%{{{name}}}"), &value.to_string());
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_by_quality() {
        assert_eq!(
            Lang::negotiate("en-US,en;q=0.9,zh-CN;q=0.8"),
            Some(Lang::En)
        );
        assert_eq!(
            Lang::negotiate("fr-FR, zh-TW;q=0.5, en;q=0.4"),
            Some(Lang::Zh)
        );
        assert_eq!(Lang::negotiate("fr"), None);
        assert_eq!(Lang::negotiate("en;q=0, zh;q=0.1"), Some(Lang::Zh));
    }

    #[test]
    fn every_catalogue_entry_has_both_languages() {
        let catalogue: serde_yaml_ng::Mapping =
            serde_yaml_ng::from_str(include_str!("../assets/i18n/app.yml"))
                .expect("catalogue parses");
        for (key, value) in catalogue {
            let key = key.as_str().unwrap_or_default().to_owned();
            if key.starts_with('_') {
                continue;
            }
            for lang in Lang::ALL {
                let text = value.get(lang.code()).and_then(|v| v.as_str());
                assert!(
                    text.is_some_and(|t| !t.trim().is_empty()),
                    "{key} has no {} text",
                    lang.code()
                );
            }
        }
    }

    /// Every literal key used in the code must be in the catalogue, so that no
    /// page ever shows a raw key.
    #[test]
    fn every_key_used_in_the_code_is_in_the_catalogue() {
        let catalogue: serde_yaml_ng::Mapping =
            serde_yaml_ng::from_str(include_str!("../assets/i18n/app.yml"))
                .expect("catalogue parses");
        let mut missing = Vec::new();
        for path in source_files(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src"
        ))) {
            let source = std::fs::read_to_string(&path).unwrap();
            for key in literal_keys(&source) {
                if !catalogue.contains_key(key) {
                    missing.push(format!("{}: {key}", path.display()));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from the catalogue:\n{}",
            missing.join("\n")
        );
    }

    fn source_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files.extend(source_files(&path));
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
        files
    }

    /// Finds `.t("key")` and `.tf("key"` calls and quoted `"…"` keys that look like catalogue keys.
    fn literal_keys(source: &str) -> Vec<&str> {
        let mut keys = Vec::new();
        for marker in [".t(\"", ".tf(\"", "key: \"", "_key() -> &'static str"] {
            let mut rest = source;
            while let Some(at) = rest.find(marker) {
                rest = &rest[at + marker.len()..];
                if let Some(end) = rest.find('"') {
                    let key = &rest[..end];
                    if !key.is_empty() && key.contains('.') && !key.contains(' ') {
                        keys.push(key);
                    }
                }
            }
        }
        // Keys returned from message_key() functions: "error.x.y" literals inside match arms.
        let mut rest = source;
        while let Some(at) = rest.find("=> \"") {
            rest = &rest[at + 4..];
            if let Some(end) = rest.find('"') {
                let key = &rest[..end];
                if key.starts_with("error.")
                    || key.starts_with("flash.")
                    || key.starts_with("role.")
                {
                    keys.push(key);
                }
            }
        }
        keys
    }
}
