//! Configuration read from the environment: the rule settings
//! (`Settings::from_lookup`), quiet hours, the message language and templates
//! (`Templates::from_lookup`, with the template file).
//!
//! A generated valid environment gives exactly the settings it names; one bad
//! variable among valid ones is an error naming that variable; any values at
//! all give settings or a bounded one-line error. Quiet hours are checked
//! against an independent model of the window.

use std::collections::HashMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use shared::config::{QuietHours, Settings, VARIABLES};
use shared::domain::{CarrierCode, Rule, Status};
use shared::message::{
    Language, Placeholder, Templates, ALERT_TEMPLATE_VARS, CUSTOMER_TEMPLATE_VARS,
    TEMPLATES_FILE_VAR,
};
use shared::schedule::PollPolicy;

use crate::support::{bounded, fuzz, hostile_text, odd_text};

/// A clipped token (80 characters, each escaped in at most 10) and a reason that
/// may list every rule or status name.
const MAX_ERROR: usize = 80 * 10 + 400;

fn lookup(map: HashMap<String, String>) -> impl Fn(&str) -> Option<String> {
    move |k| map.get(k).cloned()
}

/// Tenths of an hour, spelled `12`, `1.5`, ` 0.5 `.
fn tenths_text(t: u32, pad: bool) -> String {
    let s = if t % 10 == 0 {
        format!("{}", t / 10)
    } else {
        format!("{}.{}", t / 10, t % 10)
    };
    if pad {
        format!(" {s} ")
    } else {
        s
    }
}

fn tenths(t: u32) -> Duration {
    Duration::seconds(i64::from(t) * 360)
}

fn cased(s: &str, upper: bool) -> String {
    if upper {
        s.to_ascii_uppercase()
    } else {
        s.to_string()
    }
}

const THRESHOLDS: [(&str, Rule); 6] = [
    ("NO_PICKUP_HOURS", Rule::NoPickup),
    ("STALLED_HOURS", Rule::Stalled),
    ("HUB_DWELL_HOURS", Rule::HubDwell),
    ("OUT_FOR_DELIVERY_HOURS", Rule::OutForDeliveryStuck),
    ("LOCKER_HOURS", Rule::LockerUncollected),
    ("NO_TRACE_HOURS", Rule::NoTrace),
];

/// A valid environment and the settings it must give.
#[derive(Clone, Debug)]
struct Env {
    vars: HashMap<String, String>,
    thresholds: Vec<(Rule, u32)>,
    critical: Option<u32>,
    disabled: Vec<Rule>,
    notice: Vec<Rule>,
    overrides: Vec<(Rule, String, u32)>,
    repeat: Option<u32>,
    quiet: Option<(u32, u32)>,
    poll: Vec<(Status, u32)>,
}

fn rules_list() -> impl Strategy<Value = (Vec<Rule>, String)> {
    proptest::collection::vec(
        (proptest::sample::select(Rule::ALL.to_vec()), any::<bool>()),
        0..5,
    )
    .prop_map(|rs| {
        let text = rs
            .iter()
            .map(|(r, up)| format!(" {} ", cased(r.as_str(), *up)))
            .collect::<Vec<_>>()
            .join(",");
        (rs.into_iter().map(|(r, _)| r).collect(), format!("{text},"))
    })
}

fn env() -> impl Strategy<Value = Env> {
    let polled: Vec<Status> = Status::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .collect();
    (
        proptest::collection::vec((0usize..6, 0u32..2000, any::<bool>()), 0..4),
        proptest::option::of(0u32..3000),
        proptest::option::of(rules_list()),
        proptest::option::of(rules_list()),
        proptest::collection::vec(
            (
                proptest::sample::select(Rule::ALL.to_vec()),
                "[A-Za-z][A-Za-z0-9]{0,5}",
                0u32..2000,
            ),
            0..4,
        ),
        proptest::option::of(1u32..2000),
        proptest::option::of((0u32..24 * 60, 0u32..24 * 60, 0u8..3)),
        proptest::collection::vec(
            (proptest::sample::select(polled), 1u32..500, any::<bool>()),
            0..4,
        ),
        proptest::collection::vec(proptest::sample::select(VARIABLES.to_vec()), 0..3),
    )
        .prop_map(
            |(thresholds, critical, disabled, notice, overrides, repeat, quiet, poll, blank)| {
                let mut vars = HashMap::new();
                let mut e = Env {
                    vars: HashMap::new(),
                    thresholds: Vec::new(),
                    critical,
                    disabled: Vec::new(),
                    notice: Vec::new(),
                    overrides: Vec::new(),
                    repeat,
                    quiet: None,
                    poll: Vec::new(),
                };
                for (i, t, pad) in thresholds {
                    let (var, rule) = THRESHOLDS[i];
                    vars.insert(var.to_string(), tenths_text(t, pad));
                    e.thresholds.retain(|(r, _)| *r != rule);
                    e.thresholds.push((rule, t));
                }
                if let Some(c) = critical {
                    vars.insert("STALLED_CRITICAL_HOURS".into(), tenths_text(c, false));
                }
                if let Some((rules, text)) = disabled {
                    vars.insert("DISABLED_RULES".into(), text);
                    e.disabled = rules;
                }
                if let Some((rules, text)) = notice {
                    vars.insert("CUSTOMER_NOTICE_RULES".into(), text);
                    e.notice = rules;
                }
                if !overrides.is_empty() {
                    let text = overrides
                        .iter()
                        .map(|(r, c, t)| format!("{}@{c}={}", r.as_str(), tenths_text(*t, false)))
                        .collect::<Vec<_>>()
                        .join(", ");
                    vars.insert("RULE_OVERRIDES".into(), text);
                    e.overrides = overrides;
                }
                if let Some(r) = repeat {
                    vars.insert("ALERT_REPEAT_HOURS".into(), tenths_text(r, true));
                }
                if let Some((start, end, style)) = quiet {
                    let text = match style {
                        0 => format!(
                            "{}:{:02}-{}:{:02}",
                            start / 60,
                            start % 60,
                            end / 60,
                            end % 60
                        ),
                        1 => format!(
                            " {:02}:{:02} - {:02}:{:02} ",
                            start / 60,
                            start % 60,
                            end / 60,
                            end % 60
                        ),
                        _ => "off".into(),
                    };
                    vars.insert("QUIET_HOURS".into(), text);
                    e.quiet = Some(if style == 2 { (0, 0) } else { (start, end) });
                }
                if !poll.is_empty() {
                    let text = poll
                        .iter()
                        .map(|(s, t, up)| {
                            format!("{}={}", cased(s.as_str(), *up), tenths_text(*t, false))
                        })
                        .collect::<Vec<_>>()
                        .join(",");
                    vars.insert("POLL_INTERVALS".into(), text);
                    e.poll = poll.into_iter().map(|(s, t, _)| (s, t)).collect();
                }
                // Empty or blank counts as unset.
                for var in blank {
                    vars.insert(var.to_string(), "  ".into());
                    forget(&mut e, var);
                }
                e.vars = vars;
                e
            },
        )
}

/// What `var` set no longer counts (it was blanked).
fn forget(e: &mut Env, var: &str) {
    if let Some((_, rule)) = THRESHOLDS.iter().find(|(v, _)| *v == var) {
        e.thresholds.retain(|(r, _)| r != rule);
    }
    match var {
        "STALLED_CRITICAL_HOURS" => e.critical = None,
        "DISABLED_RULES" => e.disabled.clear(),
        "CUSTOMER_NOTICE_RULES" => e.notice.clear(),
        "RULE_OVERRIDES" => e.overrides.clear(),
        "ALERT_REPEAT_HOURS" => e.repeat = None,
        "QUIET_HOURS" => e.quiet = None,
        "POLL_INTERVALS" => e.poll.clear(),
        _ => {}
    }
}

/// The instant of minute `m` of a China-local day.
fn local_minute(m: u32) -> DateTime<Utc> {
    (NaiveDate::from_ymd_opt(2024, 5, 1)
        .unwrap_or_default()
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default()
        + Duration::minutes(i64::from(m))
        - Duration::hours(8))
    .and_utc()
}

/// The model of a quiet window: is minute `m` inside, and when does it end.
fn quiet_release(start: u32, end: u32, m: u32) -> Option<DateTime<Utc>> {
    let inside = if start <= end {
        start <= m && m < end
    } else {
        m >= start || m < end
    };
    inside.then(|| {
        let day = if m >= end { 24 * 60 } else { 0 };
        local_minute(end + day)
    })
}

fn check_quiet(q: &QuietHours, start: u32, end: u32) -> Result<(), TestCaseError> {
    for m in (0..24 * 60)
        .step_by(7)
        .chain([start, end, (end + 1439) % 1440])
    {
        prop_assert_eq!(
            q.release(local_minute(m)),
            quiet_release(start, end, m),
            "minute {} of {}-{}",
            m,
            start,
            end
        );
    }
    Ok(())
}

impl Env {
    fn check(&self, s: &Settings) -> Result<(), TestCaseError> {
        let defaults = Settings::default();
        for rule in Rule::ALL {
            let want = self
                .thresholds
                .iter()
                .find(|(r, _)| *r == rule)
                .map_or(defaults.rules.threshold(rule, None), |(_, t)| tenths(*t));
            prop_assert_eq!(s.rules.threshold(rule, None), want, "{:?}", rule);
            prop_assert_eq!(s.rules.is_enabled(rule), !self.disabled.contains(&rule));
            prop_assert_eq!(s.rules.notifies_customer(rule), self.notice.contains(&rule));
        }
        let critical = self.critical.map_or(Duration::hours(96), tenths);
        prop_assert_eq!(s.rules.stalled_critical_default(), critical);
        for (rule, carrier, _) in &self.overrides {
            let last = self
                .overrides
                .iter()
                .rev()
                .find(|(r, c, _)| r == rule && c.eq_ignore_ascii_case(carrier))
                .map(|(_, _, t)| tenths(*t));
            let code =
                CarrierCode::parse(carrier).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(Some(s.rules.threshold(*rule, Some(&code))), last);
        }
        prop_assert_eq!(
            s.alert_repeat,
            self.repeat.map_or(Duration::hours(24), tenths)
        );
        match self.quiet {
            None => prop_assert_eq!(s.quiet_hours, QuietHours::default()),
            Some((start, end)) => check_quiet(&s.quiet_hours, start, end)?,
        }
        let default_poll = PollPolicy::default();
        for status in Status::ALL {
            let want = self
                .poll
                .iter()
                .rev()
                .find(|(st, _)| *st == status)
                .map_or(default_poll.interval(status), |(_, t)| tenths(*t));
            prop_assert_eq!(s.poll.interval(status), want, "{:?}", status);
        }
        Ok(())
    }

    /// The error a valid-looking environment must give: STALLED_CRITICAL_HOURS
    /// below STALLED_HOURS, or an ALERT_REPEAT_HOURS of 0.
    fn expected_error(&self) -> Option<&'static str> {
        let stalled = self
            .thresholds
            .iter()
            .find(|(r, _)| *r == Rule::Stalled)
            .map_or(480, |(_, t)| *t);
        if self.critical.unwrap_or(960) < stalled {
            return Some("STALLED_CRITICAL_HOURS");
        }
        None
    }
}

#[test]
fn a_valid_environment_gives_the_settings_it_names() {
    fuzz("settings_roundtrip", 384, env(), |e| {
        match (
            Settings::from_lookup(lookup(e.vars.clone())),
            e.expected_error(),
        ) {
            (Ok(s), None) => e.check(&s)?,
            (Err(err), Some(var)) => prop_assert_eq!(err.var, var),
            (r, want) => prop_assert!(false, "{:?} → {:?}, expected error {:?}", e.vars, r, want),
        }
        Ok(())
    });
}

fn bad_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-1".to_string()),
        Just("1e3".to_string()),
        Just("87601".to_string()),
        Just("NaN".to_string()),
        Just("1..2".to_string()),
        Just("stalled@".to_string()),
        Just("flying".to_string()),
        Just("Delivered=1".to_string()),
        Just("InTransit=0.05".to_string()),
        Just("25-8".to_string()),
        Just("21:60-8".to_string()),
        Just("stalled@Z T=1".to_string()),
        hostile_text().prop_filter("not blank", |s| !s.trim().is_empty()),
    ]
}

#[test]
fn one_bad_variable_among_valid_ones_is_named() {
    let strategy = (
        env(),
        proptest::sample::select(VARIABLES.to_vec()),
        bad_value(),
    );
    fuzz("settings_one_bad", 512, strategy, |(mut e, var, bad)| {
        e.vars.insert(var.to_string(), bad.clone());
        match Settings::from_lookup(lookup(e.vars.clone())) {
            Ok(_) => {}
            Err(err) => {
                bounded("config error", &err.to_string(), MAX_ERROR)?;
                // The bad variable, or the one checked against it.
                let allowed = [var, "STALLED_CRITICAL_HOURS"];
                prop_assert!(
                    allowed.contains(&err.var),
                    "{} set to {:?}: {}",
                    var,
                    bad,
                    err
                );
            }
        }
        Ok(())
    });
}

#[test]
fn quiet_hours_match_the_model_of_the_window() {
    let strategy = (0u32..=24, 0u32..60, 0u32..=24, 0u32..60, 0u8..3);
    fuzz("quiet_hours", 256, strategy, |(sh, sm, eh, em, style)| {
        let (sm, em) = (if sh == 24 { 0 } else { sm }, if eh == 24 { 0 } else { em });
        let text = match style {
            0 if sm == 0 && em == 0 => format!("{sh}-{eh}"),
            1 => format!("{sh:02}:{sm:02}-{eh:02}:{em:02}"),
            _ => format!(" {sh}:{sm}\t-{eh}:{em} "),
        };
        let q = QuietHours::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check_quiet(&q, (sh * 60 + sm) % 1440, (eh * 60 + em) % 1440)
    });
}

#[test]
fn any_environment_gives_settings_or_a_bounded_error() {
    let value = prop_oneof![bad_value(), "[0-9.]{0,6}", odd_text()];
    let strategy = proptest::collection::hash_map(
        proptest::sample::select(VARIABLES.to_vec()).prop_map(str::to_string),
        value,
        0..6,
    );
    fuzz("settings_hostile", 512, strategy, |vars| {
        let names: Vec<&str> = VARIABLES.to_vec();
        match Settings::from_lookup(lookup(vars)) {
            Ok(s) => {
                prop_assert!(s.alert_repeat > Duration::zero());
                prop_assert!(
                    s.rules.stalled_critical_default() >= s.rules.threshold(Rule::Stalled, None)
                );
            }
            Err(e) => {
                prop_assert!(names.contains(&e.var));
                bounded("config error", &e.to_string(), MAX_ERROR)?;
            }
        }
        Ok(())
    });
}

// ------------------------------------------------------------------ messages

/// A valid template as pieces, in two spellings that must mean the same: braces
/// escaped as `{{`/`}}` or a lone `}`, placeholders as `{name}` or `{ name }`.
fn template(customer: bool) -> impl Strategy<Value = (String, String)> {
    let names: Vec<&'static str> = Placeholder::ALL
        .iter()
        .filter(|p| customer || **p != Placeholder::Shop)
        .map(|p| p.name())
        .collect();
    proptest::collection::vec(
        prop_oneof![
            "[^{}]{0,12}".prop_map(|t| (t.clone(), t)),
            Just(("{{".to_string(), "{{".to_string())),
            Just(("}}".to_string(), "}".to_string())),
            proptest::sample::select(names)
                .prop_map(|n| (format!("{{{n}}}"), format!("{{ {n}\t}}"))),
        ],
        1..8,
    )
    .prop_map(|pieces| {
        // A lone `}` is plain text only where no other `}` touches it.
        let mut b = String::from("x");
        for (i, (_, bi)) in pieces.iter().enumerate() {
            let next = pieces.get(i + 1).map_or("", |(_, n)| n.as_str());
            if bi == "}" && (b.ends_with('}') || next.starts_with('}')) {
                b.push_str("}}");
            } else {
                b.push_str(bi);
            }
        }
        let a: String = pieces.iter().map(|(a, _)| a.as_str()).collect();
        (format!("x{a}"), b)
    })
}

#[test]
fn templates_spelled_two_ways_are_the_same_template() {
    let strategy = (
        proptest::sample::select(Rule::ALL.to_vec()),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_flat_map(|(rule, customer, en)| {
            (Just(rule), Just(customer), Just(en), template(customer))
        });
    fuzz(
        "templates_roundtrip",
        256,
        strategy,
        |(rule, customer, en, (a, b))| {
            let i = Rule::ALL.iter().position(|r| *r == rule).unwrap_or(0);
            let var = if customer {
                CUSTOMER_TEMPLATE_VARS[i]
            } else {
                ALERT_TEMPLATE_VARS[i]
            };
            let lang = if en { "en-US" } else { "zh_CN" };
            let read = |src: &str| {
                let map: HashMap<String, String> = [
                    (var.to_string(), src.to_string()),
                    ("ALERT_LANGUAGE".to_string(), lang.to_string()),
                ]
                .into();
                Templates::from_lookup(lookup(map))
            };
            let ta = read(&a).map_err(|e| TestCaseError::fail(format!("{a:?}: {e}")))?;
            let tb = read(&b).map_err(|e| TestCaseError::fail(format!("{b:?}: {e}")))?;
            prop_assert_eq!(&ta, &tb, "{:?} vs {:?}", a, b);
            // A template replaces the built-in one.
            let builtin = Templates::builtin(if en { Language::En } else { Language::Zh });
            prop_assert_ne!(&ta, &builtin);
            // An unknown placeholder or an unclosed brace is an error naming the variable.
            for broken in [format!("{a}{{nope}}"), format!("{a}{{hours")] {
                let e = read(&broken).expect_err("refused");
                prop_assert_eq!(e.var, var);
                bounded("template error", &e.to_string(), MAX_ERROR)?;
            }
            Ok(())
        },
    );
}

/// The template file: any JSON text (or a generated valid one) in it.
fn templates_file() -> impl Strategy<Value = String> {
    let entry = (
        proptest::sample::select(Rule::ALL.to_vec()),
        prop_oneof![
            template(false).prop_map(|(a, _)| serde_json::Value::String(a)),
            hostile_text().prop_map(serde_json::Value::String),
            Just(serde_json::json!(1)),
            Just(serde_json::json!("")),
        ],
        prop_oneof![Just(""), Just(" "), Just("x")],
    )
        .prop_map(|(r, v, junk)| (format!("{}{junk}", r.as_str()), v));
    prop_oneof![
        proptest::collection::vec(entry, 0..4).prop_map(|entries| {
            let m: serde_json::Map<String, serde_json::Value> = entries.into_iter().collect();
            serde_json::Value::Object(m).to_string()
        }),
        hostile_text(),
        Just("[]".to_string()),
    ]
}

#[test]
fn any_message_environment_gives_templates_or_a_bounded_error() {
    let vars: Vec<&'static str> = ALERT_TEMPLATE_VARS
        .iter()
        .chain(CUSTOMER_TEMPLATE_VARS.iter())
        .copied()
        .chain(["ALERT_LANGUAGE"])
        .collect();
    let strategy = (
        proptest::collection::hash_map(
            proptest::sample::select(vars.clone()).prop_map(str::to_string),
            prop_oneof![hostile_text(), template(true).prop_map(|(a, _)| a)],
            0..4,
        ),
        proptest::option::of(templates_file()),
    );
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("templates.json");
    fuzz("templates_hostile", 256, strategy, |(mut map, file)| {
        if let Some(text) = &file {
            std::fs::write(&path, text).map_err(|e| TestCaseError::fail(e.to_string()))?;
            map.insert(
                TEMPLATES_FILE_VAR.to_string(),
                path.to_string_lossy().into_owned(),
            );
        }
        match Templates::from_lookup(lookup(map)) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(
                    vars.contains(&e.var) || e.var == TEMPLATES_FILE_VAR,
                    "{}",
                    e
                );
                bounded("template error", &e.to_string(), MAX_ERROR)?;
            }
        }
        Ok(())
    });
}
