//! Ground truth: which rule should fire for a simulated parcel, and when.
//!
//! This is an independent oracle. It reads the parcel's own [`SimEvent`](crate::fleet::SimEvent)s (never the
//! normaliser or the rule engine) and applies the rule semantics of DESIGN.md:
//! the state between consecutive events is constant, so it walks the intervals
//! `[registered_at, e0)`, `[e_i, e_{i+1})` and `[e_last, horizon]`, and in each one
//! finds the first instant every enabled rule's threshold passes.

use chrono::{DateTime, Utc};

use shared::domain::Status;
use shared::domain::{Rule, Severity};
use shared::rules::RuleConfig;

use super::fleet::{SimKind, SimParcel};

/// A finding the pipeline must produce for a simulated parcel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expectation {
    pub rule: Rule,
    pub severity: Severity,
    /// When the rule's condition began.
    pub since: DateTime<Utc>,
    /// The first instant the finding holds (`since + threshold`, or the start of the
    /// state in which the condition holds if that is later).
    pub due_at: DateTime<Utc>,
    /// False for a condition that held for less than [`MIN_OBSERVABLE`]: an alert
    /// for it is legitimate, but a scheduled system cannot be required to see it.
    pub required: bool,
}

/// Running state of a prefix of the events.
#[derive(Default)]
struct Prefix {
    status: Option<Status>,
    /// First event of the trailing run with the same status.
    run_start: Option<DateTime<Utc>>,
    /// First event of the trailing run of Returning/Returned events.
    return_start: Option<DateTime<Utc>>,
    /// First of the trailing run of HubArrive scans at the same hub, while the last
    /// event is a HubArrive.
    hub_start: Option<DateTime<Utc>>,
    last: Option<(DateTime<Utc>, SimKind, u8, u8)>,
    picked_up: bool,
}

impl Prefix {
    fn push(&mut self, at: DateTime<Utc>, kind: SimKind, city: u8, site: u8) {
        let st = kind.status();
        if self.status != Some(st) {
            self.run_start = Some(at);
        }
        let returning = |s: Option<Status>| matches!(s, Some(Status::Returning | Status::Returned));
        if returning(Some(st)) {
            if !returning(self.status) {
                self.return_start = Some(at);
            }
        } else {
            self.return_start = None;
        }
        self.hub_start = if kind == SimKind::HubArrive {
            match self.last {
                Some((_, SimKind::HubArrive, c, s)) if c == city && s == site => self.hub_start,
                _ => Some(at),
            }
        } else {
            None
        };
        self.status = Some(st);
        self.last = Some((at, kind, city, site));
        if st != Status::Pending {
            self.picked_up = true;
        }
    }
}

/// See [`SimParcel::expected`].
/// A condition that holds for less than one scheduler tick (5 minutes, the default
/// EventBridge schedule) after it becomes due is not expected: no scheduled system
/// can observe it (e.g. a 30 h stall threshold and a next scan 30 h 00 min 45 s later).
pub const MIN_OBSERVABLE: chrono::Duration = chrono::Duration::minutes(5);

pub fn expected(p: &SimParcel, config: &RuleConfig, horizon: DateTime<Utc>) -> Vec<Expectation> {
    let carrier = Some(&p.id.carrier);
    let mut out: Vec<Expectation> = Vec::new();
    let mut prefix = Prefix::default();
    // Conditions due in an earlier interval that had not yet held for
    // MIN_OBSERVABLE when it ended: (rule, severity, since, due).
    let mut pending: Vec<(Rule, Severity, DateTime<Utc>, DateTime<Utc>)> = Vec::new();

    for idx in 0..=p.events.len() {
        let mut seen: Vec<(Rule, Severity, DateTime<Utc>)> = Vec::new();
        if idx > 0 {
            let e = &p.events[idx - 1];
            prefix.push(e.at, e.kind, e.city, e.site);
        }
        let start = match prefix.last {
            Some((at, ..)) => at,
            None => p.registered_at,
        };
        if start > horizon {
            break;
        }
        let end = p.events.get(idx).map(|e| e.at);

        let mut consider = |rule: Rule, severity: Severity, since: DateTime<Utc>| {
            if !config.is_enabled(rule)
                || out
                    .iter()
                    .any(|x| x.rule == rule && x.severity == severity && x.required)
            {
                return;
            }
            let threshold = if severity == Severity::Critical {
                config.stalled_critical(carrier)
            } else {
                config.threshold(rule, carrier)
            };
            // A condition continuing from the previous interval keeps its due time.
            let carried = pending
                .iter()
                .find(|c| (c.0, c.1, c.2) == (rule, severity, since))
                .map(|c| c.3);
            let due = carried.unwrap_or_else(|| (since + threshold).max(start));
            if due > horizon || end.is_some_and(|e| due >= e) {
                return;
            }
            seen.push((rule, severity, since));
            pending.retain(|c| (c.0, c.1, c.2) != (rule, severity, since));
            if end.is_none_or(|e| due + MIN_OBSERVABLE <= e) {
                out.push(Expectation {
                    rule,
                    severity,
                    since,
                    due_at: due,
                    required: true,
                });
            } else {
                pending.push((rule, severity, since, due));
            }
        };

        let status = prefix.status.unwrap_or(Status::Pending);
        if let Some(run) = prefix.run_start {
            match status {
                Status::DeliveryFailed => consider(Rule::DeliveryFailed, Severity::Warning, run),
                Status::Exception => consider(Rule::Exception, Severity::Warning, run),
                Status::Refused => consider(Rule::Refused, Severity::Warning, run),
                Status::Returning | Status::Returned => {
                    let since = prefix.return_start.unwrap_or(run);
                    consider(Rule::Returned, Severity::Warning, since);
                }
                _ => {}
            }
        }
        if !status.is_terminal() {
            if !prefix.picked_up {
                consider(Rule::NoPickup, Severity::Warning, p.shipped_at);
            }
            match prefix.last {
                None => consider(Rule::NoTrace, Severity::Warning, p.registered_at),
                Some((last, ..)) => {
                    consider(Rule::Stalled, Severity::Warning, last);
                    consider(Rule::Stalled, Severity::Critical, last);
                }
            }
            if let Some(since) = prefix.hub_start {
                consider(Rule::HubDwell, Severity::Warning, since);
            }
            if let Some(run) = prefix.run_start {
                match status {
                    Status::OutForDelivery => {
                        consider(Rule::OutForDeliveryStuck, Severity::Warning, run)
                    }
                    Status::AwaitingCollection => {
                        consider(Rule::LockerUncollected, Severity::Warning, run)
                    }
                    _ => {}
                }
            }
            if let Some(promised) = p.promised_at {
                consider(Rule::Late, Severity::Warning, promised);
            }
        }
        // A pending condition that did not continue into this interval ended
        // before it could be observed.
        pending.retain(|c| {
            let continues = seen.contains(&(c.0, c.1, c.2));
            if !continues {
                out.push(Expectation {
                    rule: c.0,
                    severity: c.1,
                    since: c.2,
                    due_at: c.3,
                    required: false,
                });
            }
            continues
        });
    }
    out.sort_by_key(|x| (x.rule, x.severity));
    out
}
