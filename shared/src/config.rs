//! Configuration from the environment — a public contract (SAM parameters become
//! these variables). Every variable has a default that works untouched; a bad value
//! stops the program at start with a message naming the variable and the bad token.
//! It never silently falls back. An empty variable counts as unset (SAM passes
//! empty strings for parameters left blank).
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `NO_PICKUP_HOURS` | no pickup scan this long after shipping | 24 |
//! | `STALLED_HOURS` | no new trace this long | 48 |
//! | `STALLED_CRITICAL_HOURS` | ... escalates to critical | 96 |
//! | `HUB_DWELL_HOURS` | last traces at one hub this long | 24 |
//! | `OUT_FOR_DELIVERY_HOURS` | out for delivery, not delivered | 12 |
//! | `LOCKER_HOURS` | waiting in a locker / station | 48 |
//! | `NO_TRACE_HOURS` | registered, the carrier knows nothing | 24 |
//! | `SLOW_LANE_HOURS` | `slow_lane` never before this much silence (a night and a morning's sorting) | 16 |
//! | `DISABLED_RULES` | comma list of rule names | none |
//! | `RULE_OVERRIDES` | `rule@CARRIER=hours,...` | none |
//! | `CUSTOMER_NOTICE_RULES` | rules that also notify the recipient | none |
//! | `ALERT_REPEAT_HOURS` | re-notify an unresolved alert after | 24 |
//! | `QUIET_HOURS` | China local hours when customer notices are held, `21-8`, `21:30-07:45` or `off` | 21-8 |
//! | `PREDICTED_LATE_PROBABILITY` | `predicted_late` below this chance of delivery by the promise; `0.5,SF=0.3` per carrier | 0.5 |
//! | `PREDICTED_LATE_HORIZON_HOURS` | `predicted_late` judges the chance from this long before the promise (an earlier guess knows too little of the parcel's own pace); `off` from registration on | 36 |
//! | `SLOW_LANE_QUANTILE` | `slow_lane` beyond this quantile of the lane's gaps between scans; `0.99,EMS=0.995` | 0.99 |
//! | `POLL_INTERVALS` | poll mode: hours between queries by status, `InTransit=3,OutForDelivery=1` | see [`PollPolicy`] |
//! | `DAILY_QUERY_BUDGET` | poll mode: carrier queries per China day, never exceeded: `500` for the provider in use, or `kdniao=500,kuaidi100=2000` ([`crate::budget`]) | none |

use chrono::{DateTime, Duration, NaiveTime, Timelike, Utc};

use crate::budget::DailyBudget;
use crate::domain::Rule;
use crate::domain::{CarrierCode, Status};
use crate::inhibit::Inhibitions;
use crate::rules::{hours, PerCarrier, RuleConfig};
use crate::schedule::PollPolicy;

/// A configuration error: which variable, which token, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{var}: bad value {:?}: {reason}", crate::clip::clip(.token))]
pub struct ConfigError {
    pub var: &'static str,
    pub token: String,
    pub reason: String,
}

/// Everything the rule engine and the alert lifecycle need.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub rules: RuleConfig,
    /// An unresolved alert is notified again after this long.
    pub alert_repeat: Duration,
    /// When customer notices are held.
    pub quiet_hours: QuietHours,
    /// How often a parcel is queried in poll mode, by status (`POLL_INTERVALS`).
    pub poll: PollPolicy,
    /// Which active alerts keep which others quiet (`ALERT_INHIBIT`).
    pub inhibit: Inhibitions,
    /// Queries per provider and China day (`DAILY_QUERY_BUDGET`; none by default).
    pub budget: DailyBudget,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            rules: RuleConfig::default(),
            alert_repeat: hours(24.0),
            quiet_hours: QuietHours::default(),
            poll: PollPolicy::default(),
            inhibit: Inhibitions::default(),
            budget: DailyBudget::NONE,
        }
    }
}

/// The night, in China local time, when no customer is sent a notice: from
/// `start` (inclusive) to `end` (exclusive), across midnight when `start > end`.
/// Equal bounds mean no quiet hours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QuietHours {
    /// Minutes after local midnight.
    start: u32,
    end: u32,
}

impl Default for QuietHours {
    /// 21:00 to 08:00.
    fn default() -> Self {
        Self {
            start: 21 * 60,
            end: 8 * 60,
        }
    }
}

impl QuietHours {
    /// No quiet hours at all.
    pub const OFF: QuietHours = QuietHours { start: 0, end: 0 };

    /// `21-8`, `21:30-7:45`, or `off`/`none`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        const VAR: &str = "QUIET_HOURS";
        let t = raw.trim();
        if t.eq_ignore_ascii_case("off") || t.eq_ignore_ascii_case("none") {
            return Ok(Self::OFF);
        }
        let clock = |p: &str| -> Option<u32> {
            let p = p.trim();
            let (h, m) = p.split_once(':').unwrap_or((p, "0"));
            let all_digits =
                |x: &str| !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit());
            if !all_digits(h) || !all_digits(m) {
                return None;
            }
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            // 24 means midnight at the end of the day.
            (h < 24 && m < 60 || h == 24 && m == 0).then_some((h * 60 + m) % (24 * 60))
        };
        let (a, b) = t.split_once('-').ok_or_else(|| {
            bad(
                VAR,
                raw,
                "expected START-END in local hours, e.g. 21-8 or 21:30-07:45, or off",
            )
        })?;
        match (clock(a), clock(b)) {
            (Some(start), Some(end)) => Ok(Self { start, end }),
            _ => Err(bad(
                VAR,
                raw,
                "expected START-END in local hours, e.g. 21-8 or 21:30-07:45, or off",
            )),
        }
    }

    fn contains(&self, minute: u32) -> bool {
        if self.start <= self.end {
            self.start <= minute && minute < self.end
        } else {
            minute >= self.start || minute < self.end
        }
    }

    /// When a notice decided at `at` may go out: `None` when `at` is outside quiet
    /// hours (at once), else the end of this quiet period.
    pub fn release(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&crate::time::china());
        let minute = local.hour() * 60 + local.minute();
        if !self.contains(minute) {
            return None;
        }
        let end = NaiveTime::from_hms_opt(self.end / 60, self.end % 60, 0)?;
        let mut day = local.date_naive();
        if minute >= self.end {
            day = day.succ_opt()?;
        }
        let release = day
            .and_time(end)
            .and_local_timezone(crate::time::china())
            .single()?;
        Some(release.with_timezone(&Utc))
    }
}

const THRESHOLD_VARS: [(&str, Rule); 7] = [
    ("NO_PICKUP_HOURS", Rule::NoPickup),
    ("STALLED_HOURS", Rule::Stalled),
    ("HUB_DWELL_HOURS", Rule::HubDwell),
    ("OUT_FOR_DELIVERY_HOURS", Rule::OutForDeliveryStuck),
    ("LOCKER_HOURS", Rule::LockerUncollected),
    ("NO_TRACE_HOURS", Rule::NoTrace),
    ("SLOW_LANE_HOURS", Rule::SlowLane),
];

/// Every variable this module reads.
pub const VARIABLES: [&str; 19] = [
    "NO_PICKUP_HOURS",
    "STALLED_HOURS",
    "STALLED_CRITICAL_HOURS",
    "HUB_DWELL_HOURS",
    "OUT_FOR_DELIVERY_HOURS",
    "LOCKER_HOURS",
    "NO_TRACE_HOURS",
    "DISABLED_RULES",
    "RULE_OVERRIDES",
    "CUSTOMER_NOTICE_RULES",
    "ALERT_REPEAT_HOURS",
    "QUIET_HOURS",
    "POLL_INTERVALS",
    crate::inhibit::VAR,
    "SLOW_LANE_HOURS",
    "PREDICTED_LATE_PROBABILITY",
    "SLOW_LANE_QUANTILE",
    crate::budget::VAR,
    "PREDICTED_LATE_HORIZON_HOURS",
];

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `get` (tests pass a map).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.trim().is_empty());
        let mut rules = RuleConfig::default();
        for (var, rule) in THRESHOLD_VARS {
            if let Some(v) = get(var) {
                rules.set_threshold(rule, parse_hours(var, &v)?);
            }
        }
        let stalled = rules.threshold(Rule::Stalled, None);
        if let Some(v) = get("STALLED_CRITICAL_HOURS") {
            rules.set_stalled_critical(parse_hours("STALLED_CRITICAL_HOURS", &v)?);
        }
        if rules.stalled_critical_default() < stalled {
            let v = get("STALLED_CRITICAL_HOURS").unwrap_or_else(|| "96".into());
            return Err(ConfigError {
                var: "STALLED_CRITICAL_HOURS",
                token: v.trim().to_string(),
                reason: format!(
                    "must be at least STALLED_HOURS ({})",
                    stalled.num_seconds() as f64 / 3600.0
                ),
            });
        }
        if let Some(v) = get("DISABLED_RULES") {
            for rule in parse_rule_list("DISABLED_RULES", &v)? {
                rules.set_enabled(rule, false);
            }
        }
        if let Some(v) = get("CUSTOMER_NOTICE_RULES") {
            for rule in parse_rule_list("CUSTOMER_NOTICE_RULES", &v)? {
                rules.set_customer_notice(rule, true);
            }
        }
        if let Some(v) = get("RULE_OVERRIDES") {
            for (rule, carrier, d) in parse_overrides(&v)? {
                rules.set_override(rule, carrier, d);
            }
        }
        if let Some(v) = get("PREDICTED_LATE_PROBABILITY") {
            rules.predicted_late_probability = parse_per_carrier(
                "PREDICTED_LATE_PROBABILITY",
                &v,
                rules.predicted_late_probability,
                (0.0, 1.0),
            )?;
        }
        if let Some(v) = get("PREDICTED_LATE_HORIZON_HOURS") {
            const VAR: &str = "PREDICTED_LATE_HORIZON_HOURS";
            rules.predicted_late_horizon = if v.trim().eq_ignore_ascii_case("off") {
                None
            } else {
                let d = parse_hours(VAR, &v)?;
                if d <= Duration::zero() {
                    return Err(bad(VAR, &v, "must be more than 0 (or off)"));
                }
                Some(d)
            };
        }
        if let Some(v) = get("SLOW_LANE_QUANTILE") {
            rules.slow_lane_quantile = parse_per_carrier(
                "SLOW_LANE_QUANTILE",
                &v,
                rules.slow_lane_quantile,
                (0.5, 1.0),
            )?;
        }
        let alert_repeat = match get("ALERT_REPEAT_HOURS") {
            Some(v) => {
                let d = parse_hours("ALERT_REPEAT_HOURS", &v)?;
                if d <= Duration::zero() {
                    return Err(bad("ALERT_REPEAT_HOURS", &v, "must be more than 0"));
                }
                d
            }
            None => hours(24.0),
        };
        let quiet_hours = match get("QUIET_HOURS") {
            Some(v) => QuietHours::parse(&v)?,
            None => QuietHours::default(),
        };
        let mut poll = PollPolicy::default();
        if let Some(v) = get("POLL_INTERVALS") {
            for (status, d) in parse_poll_intervals(&v)? {
                poll.set_interval(status, d);
            }
        }
        let inhibit = match get(crate::inhibit::VAR) {
            Some(v) => Inhibitions::parse(&v)?,
            None => Inhibitions::default(),
        };
        let budget = match get(crate::budget::VAR) {
            Some(v) => DailyBudget::parse(&v)?,
            None => DailyBudget::NONE,
        };
        Ok(Self {
            rules,
            alert_repeat,
            quiet_hours,
            poll,
            inhibit,
            budget,
        })
    }
}

fn bad(var: &'static str, token: &str, reason: &str) -> ConfigError {
    ConfigError {
        var,
        token: token.trim().to_string(),
        reason: reason.to_string(),
    }
}

/// Hours as a non-negative integer or decimal, at most ten years.
pub fn parse_hours(var: &'static str, raw: &str) -> Result<Duration, ConfigError> {
    let t = raw.trim();
    let plain = !t.is_empty()
        && t.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && t.bytes().filter(|b| *b == b'.').count() <= 1
        && t != ".";
    let h: f64 = match t.parse() {
        Ok(h) if plain => h,
        _ => return Err(bad(var, raw, "expected a number of hours, e.g. 48 or 1.5")),
    };
    if h > 87_600.0 {
        return Err(bad(var, raw, "more than ten years"));
    }
    Ok(hours(h))
}

fn parse_rule_list(var: &'static str, raw: &str) -> Result<Vec<Rule>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| Rule::parse(t).ok_or_else(|| bad(var, t, &unknown_rule())))
        .collect()
}

fn unknown_rule() -> String {
    let names: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
    format!("unknown rule; known rules: {}", names.join(", "))
}

/// `POLL_INTERVALS`: `Status=hours` pairs, e.g. `InTransit=3,OutForDelivery=1`
/// (the statuses of the API's `status` field; terminal ones are never polled).
fn parse_poll_intervals(raw: &str) -> Result<Vec<(Status, Duration)>, ConfigError> {
    const VAR: &str = "POLL_INTERVALS";
    const SHAPE: &str = "expected Status=hours, e.g. InTransit=3,OutForDelivery=1.5";
    let mut out = Vec::new();
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (status, value) = token
            .split_once('=')
            .ok_or_else(|| bad(VAR, token, SHAPE))?;
        let status = Status::parse(status).map_err(|_| {
            let names: Vec<&str> = Status::ALL
                .iter()
                .filter(|s| !s.is_terminal())
                .map(|s| s.as_str())
                .collect();
            bad(
                VAR,
                token,
                &format!("unknown status; known: {}", names.join(", ")),
            )
        })?;
        if status.is_terminal() {
            return Err(bad(VAR, token, "a terminal status is never polled"));
        }
        let d = parse_hours(VAR, value).map_err(|e| bad(VAR, token, &e.reason))?;
        if d < Duration::minutes(5) {
            return Err(bad(
                VAR,
                token,
                "at least 0.1 hours (the scheduler ticks every 5 minutes)",
            ));
        }
        out.push((status, d));
    }
    Ok(out)
}

/// A number strictly between `range`'s bounds, with per-carrier exceptions:
/// `0.5`, `0.5,SF=0.3` or `SF=0.3` (the default kept).
fn parse_per_carrier(
    var: &'static str,
    raw: &str,
    mut out: PerCarrier,
    (lo, hi): (f64, f64),
) -> Result<PerCarrier, ConfigError> {
    let shape = format!("expected a number above {lo} and below {hi}, optionally with per-carrier values, e.g. 0.7,SF=0.8");
    let number = |token: &str, t: &str| -> Result<f64, ConfigError> {
        let t = t.trim();
        let plain = !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        match t.parse::<f64>() {
            Ok(v) if plain && v > lo && v < hi => Ok(v),
            _ => Err(bad(var, token, &shape)),
        }
    };
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        match token.split_once('=') {
            None => out.default = number(token, token)?,
            Some((carrier, v)) => {
                let carrier =
                    CarrierCode::parse(carrier).map_err(|e| bad(var, token, &e.to_string()))?;
                let v = number(token, v)?;
                out.carriers.retain(|(c, _)| *c != carrier);
                out.carriers.push((carrier, v));
            }
        }
    }
    Ok(out)
}

fn parse_overrides(raw: &str) -> Result<Vec<(Rule, CarrierCode, Duration)>, ConfigError> {
    const VAR: &str = "RULE_OVERRIDES";
    let mut out = Vec::new();
    for token in raw.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let (key, value) = token.split_once('=').ok_or_else(|| {
            bad(
                VAR,
                token,
                "expected rule@CARRIER=hours, e.g. stalled@EMS=72",
            )
        })?;
        let (rule, carrier) = key.split_once('@').ok_or_else(|| {
            bad(
                VAR,
                token,
                "expected rule@CARRIER=hours, e.g. stalled@EMS=72",
            )
        })?;
        let rule = Rule::parse(rule).ok_or_else(|| bad(VAR, token, &unknown_rule()))?;
        let carrier = CarrierCode::parse(carrier).map_err(|e| bad(VAR, token, &e.to_string()))?;
        let d = parse_hours(VAR, value).map_err(|e| bad(VAR, token, &e.reason))?;
        out.push((rule, carrier, d));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_design_table() {
        let s = settings(&[]).unwrap();
        let h = |r| s.rules.threshold(r, None);
        assert_eq!(h(Rule::NoPickup), hours(24.0));
        assert_eq!(h(Rule::Stalled), hours(48.0));
        assert_eq!(s.rules.stalled_critical(None), hours(96.0));
        assert_eq!(h(Rule::HubDwell), hours(24.0));
        assert_eq!(h(Rule::OutForDeliveryStuck), hours(12.0));
        assert_eq!(h(Rule::LockerUncollected), hours(48.0));
        assert_eq!(h(Rule::NoTrace), hours(24.0));
        assert_eq!(h(Rule::Late), Duration::zero());
        assert_eq!(s.alert_repeat, hours(24.0));
        assert!(Rule::ALL.iter().all(|r| s.rules.is_enabled(*r)));
        assert!(Rule::ALL.iter().all(|r| !s.rules.notifies_customer(*r)));
    }

    #[test]
    fn poll_intervals_set_the_named_statuses_only() {
        let s = settings(&[("POLL_INTERVALS", " InTransit=3, outfordelivery=0.5 ")]).unwrap();
        assert_eq!(s.poll.interval(Status::InTransit), hours(3.0));
        assert_eq!(s.poll.interval(Status::OutForDelivery), hours(0.5));
        let d = PollPolicy::default();
        assert_eq!(
            s.poll.interval(Status::Pending),
            d.interval(Status::Pending)
        );
        assert_eq!(settings(&[]).unwrap().poll, d);
        assert_eq!(settings(&[("POLL_INTERVALS", " ")]).unwrap().poll, d);
    }

    #[test]
    fn bad_poll_intervals_name_the_variable_and_token() {
        for (raw, token, why) in [
            ("InTransit", "InTransit", "expected Status=hours"),
            ("Flying=3", "Flying=3", "unknown status"),
            ("InTransit=3,Delivered=1", "Delivered=1", "terminal"),
            ("InTransit=-1", "InTransit=-1", "number of hours"),
            ("InTransit=0.05", "InTransit=0.05", "at least 0.1 hours"),
        ] {
            let e = settings(&[("POLL_INTERVALS", raw)]).unwrap_err();
            assert_eq!(
                (e.var, e.token.as_str()),
                ("POLL_INTERVALS", token),
                "{raw}"
            );
            assert!(e.reason.contains(why), "{raw}: {}", e.reason);
        }
    }

    #[test]
    fn hours_accept_integers_and_decimals() {
        let s = settings(&[
            ("STALLED_HOURS", "36"),
            ("HUB_DWELL_HOURS", " 1.5 "),
            ("LOCKER_HOURS", "0"),
            ("NO_TRACE_HOURS", ""),
        ])
        .unwrap();
        assert_eq!(s.rules.threshold(Rule::Stalled, None), hours(36.0));
        assert_eq!(
            s.rules.threshold(Rule::HubDwell, None),
            Duration::minutes(90)
        );
        assert_eq!(
            s.rules.threshold(Rule::LockerUncollected, None),
            Duration::zero()
        );
        assert_eq!(s.rules.threshold(Rule::NoTrace, None), hours(24.0));
    }

    #[test]
    fn bad_hours_name_the_variable_and_token() {
        for bad_value in [
            "abc", "-5", "1e3", "inf", "NaN", "4 8", "1.2.3", ".", "99999999",
        ] {
            let e = settings(&[("STALLED_HOURS", bad_value)]).unwrap_err();
            assert_eq!(e.var, "STALLED_HOURS", "{bad_value}");
            assert_eq!(e.token, bad_value.trim());
            let msg = e.to_string();
            assert!(msg.starts_with("STALLED_HOURS: bad value"), "{msg}");
        }
        let e = settings(&[("ALERT_REPEAT_HOURS", "0")]).unwrap_err();
        assert_eq!(e.var, "ALERT_REPEAT_HOURS");
    }

    #[test]
    fn critical_below_warning_is_an_error() {
        let e = settings(&[("STALLED_HOURS", "120")]).unwrap_err();
        assert_eq!(e.var, "STALLED_CRITICAL_HOURS");
        assert!(e.reason.contains("STALLED_HOURS (120)"), "{e}");
        let ok = settings(&[("STALLED_HOURS", "120"), ("STALLED_CRITICAL_HOURS", "200")]).unwrap();
        assert_eq!(ok.rules.stalled_critical(None), hours(200.0));
    }

    #[test]
    fn rule_lists() {
        let s = settings(&[
            ("DISABLED_RULES", "late, hub_dwell,"),
            ("CUSTOMER_NOTICE_RULES", "Late,stalled"),
        ])
        .unwrap();
        assert!(!s.rules.is_enabled(Rule::Late));
        assert!(!s.rules.is_enabled(Rule::HubDwell));
        assert!(s.rules.is_enabled(Rule::Stalled));
        assert!(s.rules.notifies_customer(Rule::Late));
        assert!(s.rules.notifies_customer(Rule::Stalled));
        assert!(!s.rules.notifies_customer(Rule::Refused));

        let e = settings(&[("DISABLED_RULES", "late,stuck")]).unwrap_err();
        assert_eq!((e.var, e.token.as_str()), ("DISABLED_RULES", "stuck"));
        assert!(e.reason.contains("no_pickup"), "{e}");
        let e = settings(&[("CUSTOMER_NOTICE_RULES", "lat")]).unwrap_err();
        assert_eq!((e.var, e.token.as_str()), ("CUSTOMER_NOTICE_RULES", "lat"));
    }

    #[test]
    fn overrides_are_per_carrier() {
        let s = settings(&[("RULE_OVERRIDES", "stalled@EMS=72, hub_dwell@sf=12")]).unwrap();
        let ems = CarrierCode::parse("EMS").unwrap();
        let sf = CarrierCode::parse("SF").unwrap();
        let zto = CarrierCode::parse("ZTO").unwrap();
        assert_eq!(s.rules.threshold(Rule::Stalled, Some(&ems)), hours(72.0));
        assert_eq!(s.rules.threshold(Rule::Stalled, Some(&zto)), hours(48.0));
        assert_eq!(s.rules.threshold(Rule::HubDwell, Some(&sf)), hours(12.0));
        assert_eq!(s.rules.threshold(Rule::HubDwell, Some(&ems)), hours(24.0));
        // An override above the critical threshold moves critical with it.
        let s = settings(&[("RULE_OVERRIDES", "stalled@EMS=120")]).unwrap();
        assert_eq!(s.rules.stalled_critical(Some(&ems)), hours(120.0));
        assert_eq!(s.rules.stalled_critical(Some(&zto)), hours(96.0));
    }

    #[test]
    fn lane_rule_settings_take_a_default_and_carriers() {
        let s = settings(&[
            ("PREDICTED_LATE_PROBABILITY", "0.7, sf=0.4"),
            ("SLOW_LANE_QUANTILE", "EMS=0.99"),
        ])
        .unwrap();
        let sf = CarrierCode::parse("SF").unwrap();
        let ems = CarrierCode::parse("EMS").unwrap();
        assert_eq!(s.rules.predicted_late_probability.get(&sf), 0.4);
        assert_eq!(s.rules.predicted_late_probability.get(&ems), 0.7);
        assert_eq!(s.rules.slow_lane_quantile.get(&ems), 0.99);
        assert_eq!(s.rules.slow_lane_quantile.get(&sf), 0.99);
        let horizon = |v: &str| {
            settings(&[("PREDICTED_LATE_HORIZON_HOURS", v)])
                .unwrap()
                .rules
                .predicted_late_horizon
        };
        assert_eq!(s.rules.predicted_late_horizon, Some(Duration::hours(36)));
        assert_eq!(horizon("48"), Some(Duration::hours(48)));
        assert_eq!(horizon("Off"), None);
        for (var, v) in [
            ("PREDICTED_LATE_PROBABILITY", "1"),
            ("PREDICTED_LATE_PROBABILITY", "0"),
            ("PREDICTED_LATE_PROBABILITY", "-0.2"),
            ("PREDICTED_LATE_PROBABILITY", "SF=half"),
            ("SLOW_LANE_QUANTILE", "0.3"),
            ("SLOW_LANE_QUANTILE", "S-F=0.9"),
            ("PREDICTED_LATE_HORIZON_HOURS", "0"),
            ("PREDICTED_LATE_HORIZON_HOURS", "-12"),
            ("PREDICTED_LATE_HORIZON_HOURS", "a day"),
        ] {
            let e = settings(&[(var, v)]).unwrap_err();
            assert_eq!(e.var, var, "{v}");
        }
    }

    #[test]
    fn bad_overrides_name_the_token() {
        for (value, token) in [
            ("stalled@EMS", "stalled@EMS"),
            ("stalled=72", "stalled=72"),
            ("stuck@EMS=72", "stuck@EMS=72"),
            ("stalled@E-MS=72", "stalled@E-MS=72"),
            ("stalled@EMS=72,hub_dwell@SF=soon", "hub_dwell@SF=soon"),
        ] {
            let e = settings(&[("RULE_OVERRIDES", value)]).unwrap_err();
            assert_eq!(e.var, "RULE_OVERRIDES");
            assert_eq!(e.token, token, "{value}");
        }
    }

    #[test]
    fn quiet_hours_hold_notices_until_morning() {
        use chrono::TimeZone;
        let cst = |d: u32, h: u32, m: u32| {
            crate::time::china()
                .with_ymd_and_hms(2024, 11, d, h, m, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        let q = QuietHours::default();
        assert_eq!(q.release(cst(5, 20, 59)), None);
        assert_eq!(q.release(cst(5, 21, 0)), Some(cst(6, 8, 0)));
        assert_eq!(q.release(cst(5, 23, 30)), Some(cst(6, 8, 0)));
        assert_eq!(q.release(cst(6, 3, 0)), Some(cst(6, 8, 0)));
        assert_eq!(q.release(cst(6, 7, 59)), Some(cst(6, 8, 0)));
        assert_eq!(q.release(cst(6, 8, 0)), None);
        assert_eq!(q.release(cst(6, 12, 0)), None);

        let day = QuietHours::parse("12:30-14").unwrap();
        assert_eq!(day.release(cst(6, 13, 0)), Some(cst(6, 14, 0)));
        assert_eq!(day.release(cst(6, 14, 0)), None);
        assert_eq!(day.release(cst(6, 12, 29)), None);

        let off = QuietHours::parse("off").unwrap();
        assert_eq!(off.release(cst(6, 3, 0)), None);
        assert_eq!(
            QuietHours::parse("22-22").unwrap().release(cst(6, 22, 0)),
            None
        );
        assert_eq!(QuietHours::parse(" 21 - 8 ").unwrap(), q);
    }

    #[test]
    fn bad_quiet_hours_name_the_variable() {
        for bad in ["21", "25-8", "21-8:60", "nine-8", "21-8-9", "-8", "21:-8"] {
            let e = settings(&[("QUIET_HOURS", bad)]).unwrap_err();
            assert_eq!(e.var, "QUIET_HOURS", "{bad}");
        }
        let s = settings(&[("QUIET_HOURS", "22:30-7")]).unwrap();
        assert_eq!(s.quiet_hours, QuietHours::parse("22:30-07:00").unwrap());
    }
}
