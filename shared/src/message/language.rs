//! The message language: Chinese (the default) or English, chosen by
//! `ALERT_LANGUAGE`. Every label, built-in text and template set is per language,
//! so this small type is what the rest of the module is keyed on.

use crate::config::ConfigError;

/// The message language variable.
pub const LANGUAGE_VAR: &str = "ALERT_LANGUAGE";

/// The language of messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Language {
    #[default]
    Zh,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Zh => "zh",
            Language::En => "en",
        }
    }

    /// `zh`, `zh-CN`, `zh-Hans`, `en`, `en-US`, `en-GB` (case-insensitive, `_` or `-`).
    pub fn parse(raw: &str) -> Option<Language> {
        let s = raw.trim().to_ascii_lowercase().replace('_', "-");
        match s.as_str() {
            "zh" | "zh-cn" | "zh-hans" | "zh-hans-cn" => Some(Language::Zh),
            "en" | "en-us" | "en-gb" => Some(Language::En),
            _ => None,
        }
    }

    /// Reads `ALERT_LANGUAGE` through `get` (unset or empty: Chinese).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Language, ConfigError> {
        match get(LANGUAGE_VAR).filter(|v| !v.trim().is_empty()) {
            None => Ok(Language::Zh),
            Some(v) => Language::parse(&v).ok_or_else(|| ConfigError {
                var: LANGUAGE_VAR,
                token: v.trim().to_string(),
                reason: "expected zh or en".into(),
            }),
        }
    }

    /// Reads `ALERT_LANGUAGE` from the process environment.
    pub fn from_env() -> Result<Language, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::env;
    use crate::message::Templates;

    #[test]
    fn language_is_parsed_and_a_bad_one_is_an_error() {
        for (v, want) in [
            ("zh", Language::Zh),
            ("zh-CN", Language::Zh),
            ("zh_Hans", Language::Zh),
            ("EN", Language::En),
            ("en-US", Language::En),
        ] {
            assert_eq!(
                Language::from_lookup(env(&[("ALERT_LANGUAGE", v)])),
                Ok(want)
            );
        }
        assert_eq!(Language::from_lookup(env(&[])), Ok(Language::Zh));
        let e = Templates::from_lookup(env(&[("ALERT_LANGUAGE", "fr")])).unwrap_err();
        assert_eq!(e.var, "ALERT_LANGUAGE");
        assert_eq!(e.token, "fr");
        assert!(e
            .to_string()
            .starts_with("ALERT_LANGUAGE: bad value \"fr\""));
    }
}
