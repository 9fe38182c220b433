//! Reports: the health of all parcels at a glance, and — for simulated fleets —
//! the detection score against ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::domain::{AlertKind, AlertRecord};
use crate::domain::{Rule, Severity};
use crate::domain::{Shipment, ShipmentId};
use crate::ports::{ListFilter, ShipmentQuery, StoreError, Unreadable};

/// Parcels by status and carrier, active alerts by rule.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HealthSummary {
    pub parcels: u64,
    pub by_status: BTreeMap<String, u64>,
    pub by_carrier: BTreeMap<String, u64>,
    /// Parcels with an active (unresolved) alert, per rule.
    pub active_alerts: BTreeMap<String, u64>,
    /// Parcels with at least one active alert.
    pub parcels_with_alerts: u64,
    /// Parcels whose last carrier query failed.
    pub query_errors: u64,
    /// Stored items that could not be decoded, set aside and skipped (at most
    /// [`UNREADABLE_SHOWN`] named).
    pub unreadable: Vec<Unreadable>,
}

/// How many unreadable items a summary names.
pub const UNREADABLE_SHOWN: usize = 100;

impl HealthSummary {
    pub fn add(&mut self, s: &Shipment) {
        self.parcels += 1;
        *self
            .by_status
            .entry(s.status.as_str().to_string())
            .or_default() += 1;
        *self.by_carrier.entry(s.id.carrier.to_string()).or_default() += 1;
        let mut any = false;
        for r in s.active_rules() {
            *self
                .active_alerts
                .entry(r.as_str().to_string())
                .or_default() += 1;
            any = true;
        }
        self.parcels_with_alerts += u64::from(any);
        self.query_errors += u64::from(s.consecutive_errors > 0);
    }

    /// Pages through every shipment in the store (skipping what cannot be read),
    /// then names what the store has set aside as unreadable.
    pub async fn collect<S: ShipmentQuery>(store: &S) -> Result<Self, StoreError> {
        let mut summary = Self::default();
        let mut cursor: Option<String> = None;
        loop {
            let page = store
                .list_shipments(&ListFilter::default(), cursor.as_deref(), 500)
                .await?;
            page.items.iter().for_each(|s| summary.add(s));
            match page.next {
                Some(next) => cursor = Some(next),
                None => {
                    summary.unreadable = store.unreadable(UNREADABLE_SHOWN).await?;
                    return Ok(summary);
                }
            }
        }
    }
}

/// Alert log records counted by rule and kind.
pub fn alerts_by_rule(records: &[AlertRecord]) -> BTreeMap<Rule, BTreeMap<AlertKind, u64>> {
    let mut out: BTreeMap<Rule, BTreeMap<AlertKind, u64>> = BTreeMap::new();
    for r in records {
        *out.entry(r.rule).or_default().entry(r.kind).or_default() += 1;
    }
    out
}

/// What ground truth says should fire: this rule at this severity on this parcel,
/// first due at `due_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub shipment: ShipmentId,
    pub rule: Rule,
    pub severity: Severity,
    pub due_at: DateTime<Utc>,
    /// False when an alert is allowed but not required (a condition too short for
    /// a scheduled check to be sure to see it).
    pub required: bool,
}

/// One row of the detection score: a rule at a severity.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RuleScore {
    pub expected: u64,
    pub caught: u64,
    pub missed: u64,
    /// Alerts on parcels where ground truth expects no such alert.
    pub false_alerts: u64,
    /// Alerts that came before ground truth says the condition was due.
    pub early: u64,
    pub latency_p50_s: Option<i64>,
    pub latency_max_s: Option<i64>,
}

/// The detection score of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DetectionScore {
    /// Keyed by `rule` (warning) or `rule/critical`.
    pub rules: BTreeMap<String, RuleScore>,
    pub parcels: u64,
    pub healthy_parcels: u64,
    /// Healthy parcels (no expectation at all) that got any alert.
    pub healthy_with_alerts: u64,
    /// The expectations that were missed: (parcel, `rule` or `rule/critical`).
    #[serde(skip)]
    pub missed_list: Vec<(ShipmentId, String)>,
}

impl DetectionScore {
    pub fn missed(&self) -> u64 {
        self.rules.values().map(|r| r.missed).sum()
    }

    pub fn false_alerts(&self) -> u64 {
        self.rules.values().map(|r| r.false_alerts + r.early).sum()
    }

    pub fn expected(&self) -> u64 {
        self.rules.values().map(|r| r.expected).sum()
    }
}

fn key(rule: Rule, severity: Severity) -> String {
    match severity {
        Severity::Warning => rule.as_str().to_string(),
        Severity::Critical => format!("{}/critical", rule.as_str()),
    }
}

fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let idx = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted.get(idx).copied()
}

/// Scores the alert log against ground truth. An expectation is caught when the
/// first alert of that rule (reaching that severity) on that parcel exists; its
/// latency is the time from `due_at` to that alert. Expectations due after
/// `judge_until` are not scored (the run ended before a check could see them) but
/// still make a matching alert legitimate.
pub fn score(
    parcels: &[ShipmentId],
    expected: &[Expected],
    records: &[AlertRecord],
    judge_until: DateTime<Utc>,
) -> DetectionScore {
    // First instant each (parcel, rule, severity) was notified.
    let mut first: HashMap<(&ShipmentId, Rule, Severity), DateTime<Utc>> = HashMap::new();
    for r in records {
        let reached = match r.kind {
            AlertKind::Fired | AlertKind::Escalated => r.severity,
            AlertKind::Repeated | AlertKind::Resolved | AlertKind::Notice => continue,
        };
        let mut note = |sev| {
            first
                .entry((&r.shipment, r.rule, sev))
                .and_modify(|t| *t = (*t).min(r.at))
                .or_insert(r.at);
        };
        note(Severity::Warning);
        if reached == Severity::Critical {
            note(Severity::Critical);
        }
    }
    let mut out = DetectionScore {
        parcels: parcels.len() as u64,
        ..DetectionScore::default()
    };
    let mut latencies: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    let mut wanted: BTreeSet<(&ShipmentId, Rule, Severity)> = BTreeSet::new();
    for e in expected {
        wanted.insert((&e.shipment, e.rule, e.severity));
        if e.due_at > judge_until || !e.required {
            continue;
        }
        let row = out.rules.entry(key(e.rule, e.severity)).or_default();
        row.expected += 1;
        match first.get(&(&e.shipment, e.rule, e.severity)) {
            Some(at) => {
                let lat = (*at - e.due_at).num_seconds();
                if lat < 0 {
                    row.early += 1;
                } else {
                    row.caught += 1;
                    latencies
                        .entry(key(e.rule, e.severity))
                        .or_default()
                        .push(lat);
                }
            }
            None => {
                row.missed += 1;
                out.missed_list
                    .push((e.shipment.clone(), key(e.rule, e.severity)));
            }
        }
    }
    let mut alerted: BTreeSet<&ShipmentId> = BTreeSet::new();
    for (id, rule, sev) in first.keys() {
        alerted.insert(id);
        if !wanted.contains(&(*id, *rule, *sev)) {
            out.rules.entry(key(*rule, *sev)).or_default().false_alerts += 1;
        }
    }
    let with_truth: BTreeSet<&ShipmentId> = expected.iter().map(|e| &e.shipment).collect();
    for id in parcels {
        if !with_truth.contains(id) {
            out.healthy_parcels += 1;
            out.healthy_with_alerts += u64::from(alerted.contains(id));
        }
    }
    for (k, mut v) in latencies {
        v.sort_unstable();
        if let Some(row) = out.rules.get_mut(&k) {
            row.latency_p50_s = percentile(&v, 0.5);
            row.latency_max_s = v.last().copied();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::hours;

    fn t(h: f64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + hours(h)
    }

    fn id(n: &str) -> ShipmentId {
        ShipmentId::parse("ZTO", n).unwrap()
    }

    fn rec(n: &str, rule: Rule, kind: AlertKind, sev: Severity, at: f64) -> AlertRecord {
        AlertRecord {
            shipment: id(n),
            rule,
            since: t(0.0),
            kind,
            seq: 0,
            severity: sev,
            at: t(at),
            hold_until: None,
        }
    }

    #[test]
    fn scores_caught_missed_false_and_latency() {
        let parcels = [id("10001"), id("10002"), id("10003"), id("10004")];
        let expected = [
            Expected {
                shipment: id("10001"),
                rule: Rule::Stalled,
                severity: Severity::Warning,
                due_at: t(48.0),
                required: true,
            },
            Expected {
                shipment: id("10001"),
                rule: Rule::Stalled,
                severity: Severity::Critical,
                due_at: t(96.0),
                required: true,
            },
            Expected {
                shipment: id("10002"),
                rule: Rule::Refused,
                severity: Severity::Warning,
                due_at: t(10.0),
                required: true,
            },
        ];
        let records = [
            rec(
                "10001",
                Rule::Stalled,
                AlertKind::Fired,
                Severity::Warning,
                48.5,
            ),
            rec(
                "10001",
                Rule::Stalled,
                AlertKind::Repeated,
                Severity::Warning,
                72.5,
            ),
            rec(
                "10001",
                Rule::Stalled,
                AlertKind::Escalated,
                Severity::Critical,
                96.0,
            ),
            // 10002's refusal is missed; 10003 (healthy) gets a false alert.
            rec(
                "10003",
                Rule::HubDwell,
                AlertKind::Fired,
                Severity::Warning,
                30.0,
            ),
            rec(
                "10003",
                Rule::HubDwell,
                AlertKind::Resolved,
                Severity::Warning,
                31.0,
            ),
        ];
        let s = score(&parcels, &expected, &records, t(1000.0));
        let stalled = &s.rules["stalled"];
        assert_eq!(
            (stalled.expected, stalled.caught, stalled.missed),
            (1, 1, 0)
        );
        assert_eq!(stalled.latency_p50_s, Some(1800));
        let crit = &s.rules["stalled/critical"];
        assert_eq!((crit.caught, crit.latency_max_s), (1, Some(0)));
        assert_eq!(s.rules["refused"].missed, 1);
        assert_eq!(s.rules["hub_dwell"].false_alerts, 1);
        assert_eq!((s.healthy_parcels, s.healthy_with_alerts), (2, 1));
        assert_eq!((s.missed(), s.false_alerts(), s.expected()), (1, 1, 3));
    }

    #[test]
    fn an_alert_before_it_was_due_is_early_not_caught() {
        let expected = [Expected {
            shipment: id("10001"),
            rule: Rule::Late,
            severity: Severity::Warning,
            due_at: t(10.0),
            required: true,
        }];
        let records = [rec(
            "10001",
            Rule::Late,
            AlertKind::Fired,
            Severity::Warning,
            9.0,
        )];
        let s = score(&[id("10001")], &expected, &records, t(1000.0));
        assert_eq!((s.rules["late"].caught, s.rules["late"].early), (0, 1));
    }

    #[test]
    fn optional_and_late_expectations_are_not_judged_but_excuse_their_alert() {
        let exp = |due, required| Expected {
            shipment: id("10001"),
            rule: Rule::Late,
            severity: Severity::Warning,
            due_at: t(due),
            required,
        };
        let records = [rec(
            "10001",
            Rule::Late,
            AlertKind::Fired,
            Severity::Warning,
            10.0,
        )];
        for expected in [[exp(10.0, false)], [exp(900.0, true)]] {
            let s = score(&[id("10001")], &expected, &records, t(500.0));
            let late = s.rules.get("late").cloned().unwrap_or_default();
            assert_eq!((late.expected, late.missed, late.false_alerts), (0, 0, 0));
        }
        // Without any expectation the same alert is false.
        let s = score(&[id("10001")], &[], &records, t(500.0));
        assert_eq!(s.rules["late"].false_alerts, 1);
        assert_eq!((s.healthy_parcels, s.healthy_with_alerts), (1, 1));
    }
}
