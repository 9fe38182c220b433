//! Loading [`Templates`] from the environment: `ALERT_LANGUAGE`, the
//! `ALERT_TEMPLATES_FILE` JSON file, and `ALERT_TEMPLATE_<RULE>` /
//! `CUSTOMER_TEMPLATE_<RULE>`. Every template is checked here, so a bad one is a
//! [`ConfigError`] naming the variable (or the file and its key) at start-up and
//! rendering never fails.

use crate::config::ConfigError;
use crate::domain::{Audience, Rule};

use super::link::{ConsoleUrl, CONSOLE_URL_VAR};
use super::template::{Template, TemplateFault};
use super::{rule_index, Language, Templates};

/// The ops template file variable.
pub const TEMPLATES_FILE_VAR: &str = "ALERT_TEMPLATES_FILE";

/// `ALERT_TEMPLATE_<RULE>`, in [`Rule::ALL`] order.
pub const ALERT_TEMPLATE_VARS: [&str; Rule::COUNT] = [
    "ALERT_TEMPLATE_NO_PICKUP",
    "ALERT_TEMPLATE_STALLED",
    "ALERT_TEMPLATE_HUB_DWELL",
    "ALERT_TEMPLATE_OUT_FOR_DELIVERY_STUCK",
    "ALERT_TEMPLATE_DELIVERY_FAILED",
    "ALERT_TEMPLATE_EXCEPTION",
    "ALERT_TEMPLATE_REFUSED",
    "ALERT_TEMPLATE_RETURNED",
    "ALERT_TEMPLATE_LOCKER_UNCOLLECTED",
    "ALERT_TEMPLATE_LATE",
    "ALERT_TEMPLATE_NO_TRACE",
    "ALERT_TEMPLATE_PREDICTED_LATE",
    "ALERT_TEMPLATE_SLOW_LANE",
];

/// `CUSTOMER_TEMPLATE_<RULE>`, in [`Rule::ALL`] order.
pub const CUSTOMER_TEMPLATE_VARS: [&str; Rule::COUNT] = [
    "CUSTOMER_TEMPLATE_NO_PICKUP",
    "CUSTOMER_TEMPLATE_STALLED",
    "CUSTOMER_TEMPLATE_HUB_DWELL",
    "CUSTOMER_TEMPLATE_OUT_FOR_DELIVERY_STUCK",
    "CUSTOMER_TEMPLATE_DELIVERY_FAILED",
    "CUSTOMER_TEMPLATE_EXCEPTION",
    "CUSTOMER_TEMPLATE_REFUSED",
    "CUSTOMER_TEMPLATE_RETURNED",
    "CUSTOMER_TEMPLATE_LOCKER_UNCOLLECTED",
    "CUSTOMER_TEMPLATE_LATE",
    "CUSTOMER_TEMPLATE_NO_TRACE",
    "CUSTOMER_TEMPLATE_PREDICTED_LATE",
    "CUSTOMER_TEMPLATE_SLOW_LANE",
];

/// A template file larger than this is refused (it is a handful of sentences).
const MAX_TEMPLATES_FILE: u64 = 1 << 20;

fn template_error(var: &'static str, fault: TemplateFault, which: &str) -> ConfigError {
    ConfigError {
        var,
        token: fault.token,
        reason: format!("in template {which}: {}", fault.reason),
    }
}

impl Templates {
    /// Reads the process environment (and the template file it names).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads `ALERT_LANGUAGE`, `ALERT_TEMPLATES_FILE`, `ALERT_TEMPLATE_<RULE>` and
    /// `CUSTOMER_TEMPLATE_<RULE>` through `get`; the file is read from disk. Every
    /// template is checked here, so rendering never fails.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let language = Language::from_lookup(get)?;
        let console = get(CONSOLE_URL_VAR)
            .map(|v| ConsoleUrl::parse(&v))
            .transpose()?;
        let mut t = Self::builtin(language).with_console(console);
        if let Some(path) = get(TEMPLATES_FILE_VAR) {
            let path = path.trim();
            let text = read_templates_file(path)?;
            for (rule, template) in parse_templates_file(path, &text)? {
                t.ops[rule_index(rule)] = template;
            }
        }
        for rule in Rule::ALL {
            let var = ALERT_TEMPLATE_VARS[rule_index(rule)];
            if let Some(v) = get(var) {
                t.ops[rule_index(rule)] =
                    Template::parse(&v, Audience::Ops).map_err(|f| template_error(var, f, var))?;
            }
            let var = CUSTOMER_TEMPLATE_VARS[rule_index(rule)];
            if let Some(v) = get(var) {
                t.customer[rule_index(rule)] = Template::parse(&v, Audience::Customer)
                    .map_err(|f| template_error(var, f, var))?;
            }
        }
        Ok(t)
    }
}

fn read_templates_file(path: &str) -> Result<String, ConfigError> {
    let bad = |reason: String| ConfigError {
        var: TEMPLATES_FILE_VAR,
        token: path.to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    if meta.len() > MAX_TEMPLATES_FILE {
        return Err(bad(format!(
            "larger than {MAX_TEMPLATES_FILE} bytes; expected a small JSON object"
        )));
    }
    std::fs::read_to_string(path).map_err(|e| bad(format!("cannot read: {e}")))
}

/// `{"stalled": "...", ...}` → checked ops templates. Keys are rule names.
fn parse_templates_file(path: &str, text: &str) -> Result<Vec<(Rule, Template)>, ConfigError> {
    let bad = |token: String, reason: String| ConfigError {
        var: TEMPLATES_FILE_VAR,
        token,
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| bad(path.to_string(), format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad(
            path.to_string(),
            "expected a JSON object of rule name to template, e.g. {\"stalled\": \"...\"}".into(),
        ));
    };
    let mut out = Vec::new();
    for (key, v) in map {
        let Some(rule) = Rule::parse(&key) else {
            let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
            return Err(bad(
                key,
                format!("unknown rule in {path}; known rules: {}", names.join(", ")),
            ));
        };
        let Some(src) = v.as_str() else {
            return Err(bad(
                key,
                format!("in {path}: the template must be a string"),
            ));
        };
        if src.trim().is_empty() {
            return Err(bad(key, format!("in {path}: the template is empty")));
        }
        let template = Template::parse(src, Audience::Ops)
            .map_err(|f| template_error(TEMPLATES_FILE_VAR, f, &format!("{key:?} of {path}")))?;
        out.push((rule, template));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AlertKind, Severity};
    use crate::message::fixtures::{env, note, stalled};

    #[test]
    fn template_variable_names_follow_the_rule_names() {
        for rule in Rule::ALL {
            let upper = rule.as_str().to_ascii_uppercase();
            assert_eq!(
                ALERT_TEMPLATE_VARS[rule_index(rule)],
                format!("ALERT_TEMPLATE_{upper}")
            );
            assert_eq!(
                CUSTOMER_TEMPLATE_VARS[rule_index(rule)],
                format!("CUSTOMER_TEMPLATE_{upper}")
            );
        }
    }

    #[test]
    fn empty_variables_count_as_unset() {
        let t = Templates::from_lookup(env(&[
            ("ALERT_LANGUAGE", " "),
            ("ALERT_TEMPLATE_STALLED", ""),
            ("ALERT_TEMPLATES_FILE", ""),
        ]))
        .unwrap();
        assert_eq!(t, Templates::default());
    }

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), contents).unwrap();
        f
    }

    #[test]
    fn template_file_sets_templates_and_the_variable_wins() {
        let f =
            file(r#"{"stalled": "文件：停滞 {hours} 小时", "late": "文件：迟到 {hours} 小时"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let t = Templates::from_lookup(env(&[
            ("ALERT_TEMPLATES_FILE", &path),
            ("ALERT_TEMPLATE_LATE", "变量：迟到 {hours} 小时"),
        ]))
        .unwrap();
        assert_eq!(t.describe(&stalled()), "文件：停滞 97 小时");
        let late = note(Rule::Late, AlertKind::Fired, Severity::Warning);
        assert_eq!(t.describe(&late), "变量：迟到 97 小时");
        // Rules the file does not name keep the built-in wording.
        let failed = note(Rule::DeliveryFailed, AlertKind::Fired, Severity::Warning);
        assert_eq!(
            t.describe(&failed),
            "2024-11-05 14:20 派送失败，尚未重新派送"
        );
    }

    #[test]
    fn template_file_errors_name_the_file_and_key() {
        let f = file(r#"{"stalled": "ok {hours}", "stalld": "typo"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "stalld");
        assert!(e.reason.contains("unknown rule"), "{e}");

        let f = file(r#"{"late": "迟到 {delay}"}"#);
        let path = f.path().to_str().unwrap().to_string();
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "{delay}");
        assert!(e.reason.contains("\"late\""), "names the template: {e}");

        for bad in ["[1, 2]", "not json", r#"{"late": 3}"#, r#"{"late": " "}"#] {
            let f = file(bad);
            let path = f.path().to_str().unwrap().to_string();
            let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", &path)])).unwrap_err();
            assert_eq!(e.var, "ALERT_TEMPLATES_FILE", "{bad}");
        }
        let e = Templates::from_lookup(env(&[("ALERT_TEMPLATES_FILE", "/no/such/file.json")]))
            .unwrap_err();
        assert_eq!(e.var, "ALERT_TEMPLATES_FILE");
        assert_eq!(e.token, "/no/such/file.json");
    }
}
