//! The rule engine: a pure function of (shipment, configuration, now).
//!
//! Semantics (DESIGN.md, "Rule semantics, precisely"):
//! - a rule fires when its elapsed time is *at least* its threshold; `since` is the
//!   instant its condition began;
//! - findings never suppress each other: every rule whose condition holds is
//!   reported (a parcel can be both `hub_dwell` and `stalled`);
//! - a terminal parcel (delivered, returned, lost) has no time-based findings;
//! - event rules (`delivery_failed`, `exception`, `refused`, `returned`) hold while
//!   the newest trace reports that event; `since` is the first trace of that run.
//!   Their threshold defaults to 0 (immediate) and can be raised per carrier
//!   (`delivery_failed@SF=6`: only if the courier has not retried within 6 hours).
//!
//! Evaluation walks the timeline once and allocates only the findings vector, so
//! it is cheap enough to run on every check (see `benches/rules.rs`).

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{CarrierCode, Rule, Severity, Shipment, Status};
use crate::lane_rules;
use crate::lanes::LaneView;

/// A rule whose condition holds and whose threshold has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// When the condition began.
    pub since: DateTime<Utc>,
}

/// The rule configuration (see [`crate::config`] for the environment variables).
#[derive(Clone, Debug, PartialEq)]
pub struct RuleConfig {
    thresholds: [Duration; Rule::COUNT],
    stalled_critical: Duration,
    enabled: [bool; Rule::COUNT],
    overrides: Vec<(Rule, CarrierCode, Duration)>,
    customer_notice: [bool; Rule::COUNT],
    /// `predicted_late` fires below this probability of delivery by the promise.
    pub predicted_late_probability: PerCarrier,
    /// `slow_lane` fires beyond this quantile of the lane's gaps between scans.
    pub slow_lane_quantile: PerCarrier,
    /// `predicted_late` judges the chance only this long before the promise
    /// (`None`: from registration on).
    pub predicted_late_horizon: Option<Duration>,
}

/// A number with per-carrier exceptions (`0.5,SF=0.3`).
#[derive(Clone, Debug, PartialEq)]
pub struct PerCarrier {
    pub default: f64,
    pub carriers: Vec<(CarrierCode, f64)>,
}

impl PerCarrier {
    pub fn of(default: f64) -> PerCarrier {
        PerCarrier {
            default,
            carriers: Vec::new(),
        }
    }

    /// The value for `carrier` (its exception, else the default).
    pub fn get(&self, carrier: &CarrierCode) -> f64 {
        self.carriers
            .iter()
            .find(|(c, _)| c == carrier)
            .map_or(self.default, |(_, v)| *v)
    }
}

/// `PREDICTED_LATE_PROBABILITY`'s default.
pub const PREDICTED_LATE_PROBABILITY: f64 = 0.5;
/// `PREDICTED_LATE_HORIZON_HOURS`'s default.
pub const PREDICTED_LATE_HORIZON_HOURS: f64 = 36.0;
/// `SLOW_LANE_QUANTILE`'s default.
pub const SLOW_LANE_QUANTILE: f64 = 0.99;

impl Default for RuleConfig {
    fn default() -> Self {
        Self {
            thresholds: Rule::ALL.map(|r| hours(r.default_hours())),
            stalled_critical: hours(96.0),
            enabled: [true; Rule::COUNT],
            overrides: Vec::new(),
            customer_notice: [false; Rule::COUNT],
            predicted_late_probability: PerCarrier::of(PREDICTED_LATE_PROBABILITY),
            slow_lane_quantile: PerCarrier::of(SLOW_LANE_QUANTILE),
            predicted_late_horizon: Some(hours(PREDICTED_LATE_HORIZON_HOURS)),
        }
    }
}

/// Hours (possibly fractional) as a duration, rounded to the second.
pub fn hours(h: f64) -> Duration {
    Duration::seconds((h * 3600.0).round() as i64)
}

impl RuleConfig {
    pub fn set_threshold(&mut self, rule: Rule, d: Duration) {
        self.thresholds[rule.index()] = d;
    }

    pub fn set_stalled_critical(&mut self, d: Duration) {
        self.stalled_critical = d;
    }

    pub fn set_enabled(&mut self, rule: Rule, on: bool) {
        self.enabled[rule.index()] = on;
    }

    pub fn set_override(&mut self, rule: Rule, carrier: CarrierCode, d: Duration) {
        self.overrides
            .retain(|(r, c, _)| !(*r == rule && *c == carrier));
        self.overrides.push((rule, carrier, d));
    }

    pub fn set_customer_notice(&mut self, rule: Rule, on: bool) {
        self.customer_notice[rule.index()] = on;
    }

    pub fn is_enabled(&self, rule: Rule) -> bool {
        self.enabled[rule.index()]
    }

    pub fn notifies_customer(&self, rule: Rule) -> bool {
        self.customer_notice[rule.index()]
    }

    /// The threshold of `rule` for `carrier` (a per-carrier override wins).
    pub fn threshold(&self, rule: Rule, carrier: Option<&CarrierCode>) -> Duration {
        if let Some(c) = carrier {
            if let Some((_, _, d)) = self
                .overrides
                .iter()
                .find(|(r, oc, _)| *r == rule && oc == c)
            {
                return *d;
            }
        }
        self.thresholds[rule.index()]
    }

    /// The escalation threshold of `stalled`: never earlier than its warning threshold.
    pub fn stalled_critical(&self, carrier: Option<&CarrierCode>) -> Duration {
        self.stalled_critical
            .max(self.threshold(Rule::Stalled, carrier))
    }

    pub fn stalled_critical_default(&self) -> Duration {
        self.stalled_critical
    }

    pub fn overrides(&self) -> &[(Rule, CarrierCode, Duration)] {
        &self.overrides
    }
}

/// A rule's condition as it stands: the rule, and when its condition began. Whether
/// its threshold has passed is decided by [`evaluate`]; the scheduler uses the same
/// conditions to know when the next threshold will pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Condition {
    pub rule: Rule,
    pub since: DateTime<Utc>,
}

/// Up to one condition per rule; a fixed array so evaluation does not allocate.
#[derive(Clone, Copy, Debug, Default)]
pub struct Conditions {
    items: [Option<Condition>; Rule::COUNT],
    len: usize,
}

impl Conditions {
    fn push(&mut self, rule: Rule, since: DateTime<Utc>) {
        self.items[self.len] = Some(Condition { rule, since });
        self.len += 1;
    }

    pub fn iter(&self) -> impl Iterator<Item = Condition> + '_ {
        self.items[..self.len].iter().flatten().copied()
    }
}

/// Statuses that continue one condition: a return that arrives back at the sender
/// is still the same `returned` episode; a problem parcel declared lost is still
/// the same `exception`.
fn run_group(s: Status) -> Status {
    match s {
        Status::Returned => Status::Returning,
        Status::Lost => Status::Exception,
        s => s,
    }
}

/// The event rule a trace of status `s` reports, if any.
fn event_rule(s: Status) -> Option<Rule> {
    match s {
        Status::DeliveryFailed => Some(Rule::DeliveryFailed),
        Status::Exception | Status::Lost => Some(Rule::Exception),
        Status::Refused => Some(Rule::Refused),
        Status::Returning | Status::Returned => Some(Rule::Returned),
        _ => None,
    }
}

/// A problem the carrier reported that a later trace has already superseded: the
/// newest such run of traces of each event rule (`since` its first trace, `until`
/// the first trace after it), when it lasted longer than the rule's threshold and the
/// rule is enabled. A poll that comes after the next trace never sees the problem
/// as the newest status, so [`evaluate`] alone would never report it; the alert
/// lifecycle tells it once, as already over ([`crate::lifecycle::reconcile`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PastEvent {
    pub rule: Rule,
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

/// The [`PastEvent`]s of `shipment`, in rule order.
pub fn past_events(shipment: &Shipment, config: &RuleConfig) -> Vec<PastEvent> {
    let mut newest: [Option<PastEvent>; Rule::COUNT] = [None; Rule::COUNT];
    let mut open: Option<(Rule, DateTime<Utc>)> = None;
    let mut group: Option<Status> = None;
    for (e, st) in shipment.timeline.effective_statuses() {
        if group == Some(run_group(st)) {
            continue;
        }
        group = Some(run_group(st));
        if let Some((rule, since)) = open.take() {
            newest[rule.index()] = Some(PastEvent {
                rule,
                since,
                until: e.at,
            });
        }
        open = event_rule(st).map(|r| (r, e.at));
    }
    let carrier = Some(&shipment.id.carrier);
    newest
        .into_iter()
        .flatten()
        .filter(|p| {
            // It held over [since, until): its threshold passed only if it ended later.
            config.is_enabled(p.rule) && p.until - p.since > config.threshold(p.rule, carrier)
        })
        .collect()
}

/// The conditions that hold for `shipment` at `now`, regardless of thresholds and of
/// whether the rule is enabled. `late` holds from `promised_at` even if that is still
/// in the future (its "since" is the deadline), so callers compare `since` with now.
pub fn conditions(shipment: &Shipment) -> Conditions {
    let mut out = Conditions::default();
    let timeline = &shipment.timeline;

    // One pass over the timeline: the current status, the start of the trailing run
    // of events with the same status, the start of the trailing run of hub scans,
    // and whether any pickup (or later) scan exists.
    let mut current: Option<Status> = None;
    let mut run_start: Option<DateTime<Utc>> = None;
    let mut hub_start: Option<(DateTime<Utc>, &str)> = None;
    let mut last_at: Option<DateTime<Utc>> = None;
    let mut picked_up = false;
    for (e, st) in timeline.effective_statuses() {
        if current.map(run_group) != Some(run_group(st)) {
            run_start = Some(e.at);
        }
        current = Some(st);
        hub_start = match (&e.hub, hub_start) {
            (None, _) => None,
            // Consecutive scans at the same hub (or a hub whose name is not given)
            // continue the dwell; a different hub starts a new one.
            (Some(h), Some((t, prev))) if prev == h || prev.is_empty() || h.is_empty() => {
                Some((t, if prev.is_empty() { h.as_str() } else { prev }))
            }
            (Some(h), _) => Some((e.at, h.as_str())),
        };
        last_at = Some(e.at);
        if st != Status::Pending {
            picked_up = true;
        }
    }
    let status = current.unwrap_or(Status::Pending);

    // Event rules hold while the newest trace reports the event.
    if let (Some(since), Some(rule)) = (run_start, event_rule(status)) {
        out.push(rule, since);
    }
    if status.is_terminal() {
        return out;
    }

    if !picked_up {
        out.push(Rule::NoPickup, shipment.started_at());
    }
    if timeline.is_empty() {
        out.push(Rule::NoTrace, shipment.registered_at);
    }
    if let Some(last) = last_at {
        out.push(Rule::Stalled, last);
    }
    if let Some((since, _)) = hub_start {
        out.push(Rule::HubDwell, since);
    }
    if let Some(since) = run_start {
        match status {
            Status::OutForDelivery => out.push(Rule::OutForDeliveryStuck, since),
            Status::AwaitingCollection => out.push(Rule::LockerUncollected, since),
            _ => {}
        }
    }
    if let Some(promised) = shipment.promised_at {
        out.push(Rule::Late, promised);
    }
    out
}

/// The findings for `shipment` at `now`: every enabled rule whose condition holds
/// and whose threshold has passed, in rule order.
pub fn evaluate(shipment: &Shipment, config: &RuleConfig, now: DateTime<Utc>) -> Vec<Finding> {
    let carrier = Some(&shipment.id.carrier);
    let mut findings = Vec::new();
    for c in conditions(shipment).iter() {
        if !config.is_enabled(c.rule) {
            continue;
        }
        let elapsed = now - c.since;
        if elapsed < config.threshold(c.rule, carrier) {
            continue;
        }
        let severity = if c.rule == Rule::Stalled && elapsed >= config.stalled_critical(carrier) {
            Severity::Critical
        } else {
            Severity::Warning
        };
        findings.push(Finding {
            rule: c.rule,
            severity,
            since: c.since,
        });
    }
    findings.sort_by_key(|f| f.rule);
    findings
}

/// The findings of the fixed rules ([`evaluate`]) and, with what the parcel's
/// lane has learned, of the lane rules ([`crate::lane_rules`]), in rule order.
pub fn evaluate_with(
    shipment: &Shipment,
    config: &RuleConfig,
    lanes: Option<&LaneView>,
    now: DateTime<Utc>,
) -> Vec<Finding> {
    let mut findings = evaluate(shipment, config, now);
    if let Some(view) = lanes {
        findings.extend(lane_rules::findings(shipment, config, view, now));
    }
    // A parcel diverted from its recipient needs no lane to be late.
    let diverted = lane_rules::diverted(shipment, config, now);
    findings.extend(lane_rules::due_findings(diverted, now));
    findings.sort_by_key(|f| f.rule);
    findings
}

/// [`next_deadline`], and with a lane view the lane rules' next deadline too.
pub fn next_deadline_with(
    shipment: &Shipment,
    config: &RuleConfig,
    lanes: Option<&LaneView>,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let fixed = next_deadline(shipment, config, now);
    let lane = lanes.and_then(|view| lane_rules::next_deadline(shipment, config, view, now));
    let diverted = lane_rules::diverted(shipment, config, now)
        .map(|c| c.due)
        .filter(|due| *due > now);
    [fixed, lane, diverted].into_iter().flatten().min()
}

/// The next instant after `now` at which a finding would appear or escalate if
/// nothing else happened (no new trace): the earliest pending rule deadline.
pub fn next_deadline(
    shipment: &Shipment,
    config: &RuleConfig,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    let carrier = Some(&shipment.id.carrier);
    let mut next: Option<DateTime<Utc>> = None;
    let mut consider = |t: DateTime<Utc>| {
        if t > now && next.is_none_or(|n| t < n) {
            next = Some(t);
        }
    };
    for c in conditions(shipment).iter() {
        if !config.is_enabled(c.rule) {
            continue;
        }
        consider(c.since + config.threshold(c.rule, carrier));
        if c.rule == Rule::Stalled {
            consider(c.since + config.stalled_critical(carrier));
        }
    }
    next
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
