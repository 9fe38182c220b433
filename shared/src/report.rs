//! Reports: the health of all parcels at a glance, and — for simulated fleets —
//! the detection score against ground truth.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, Utc};
use serde::Serialize;

use crate::domain::{AlertKind, AlertRecord};
use crate::domain::{Rule, Severity};
use crate::domain::{Shipment, ShipmentId, Status};
use crate::ports::{ShipmentQuery, StoreError, Unreadable};
use crate::tally::{Scope, Tally};
use crate::time::china;

/// The fleet's health at a glance (`sentinel report`, the console's `GET summary`):
/// parcels by status and carrier, active alerts by rule, the problems by state and
/// severity, the last [`DAYS`] days, and each carrier's delivery figures.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
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
    /// Active alert episodes (problems) by workflow state (`open`, `acknowledged`,
    /// `snoozed`, `closed`) and by severity (`warning`, `critical`).
    pub problems_by_state: BTreeMap<String, u64>,
    pub problems_by_severity: BTreeMap<String, u64>,
    /// The last [`DAYS`] days (China dates), the oldest first, today last.
    pub days: Vec<DayCount>,
    /// Per carrier, from its delivered parcels.
    pub delivery: BTreeMap<String, CarrierDelivery>,
    /// Stored items that could not be decoded, set aside and skipped (at most
    /// [`UNREADABLE_SHOWN`] named).
    pub unreadable: Vec<Unreadable>,
}

/// How many days [`HealthSummary::days`] covers.
pub const DAYS: usize = 14;

/// One China calendar day.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`, China time.
    pub date: String,
    /// Parcels registered that day.
    pub registered: u64,
    /// Parcels delivered that day (the carrier's delivery scan).
    pub delivered: u64,
    /// Alert episodes that fired that day (each parcel's latest episode per rule:
    /// an earlier, resolved episode of the same rule is not kept on the parcel).
    pub alerts: u64,
}

/// One carrier's delivered parcels: how many, how many on time, transit time.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CarrierDelivery {
    pub delivered: u64,
    /// Delivered parcels that had a promised date, and those delivered by it.
    pub promised: u64,
    pub on_time: u64,
    /// `on_time / promised`; absent while no delivered parcel had a promise.
    pub on_time_rate: Option<f64>,
    /// Hours from shipping (else registration) to the delivery scan, nearest-rank
    /// percentiles read from a log-bucket histogram ([`crate::sketch`]: within
    /// ±4.4 %); absent while nothing is delivered.
    pub transit_hours_p50: Option<f64>,
    pub transit_hours_p90: Option<f64>,
}

/// How many unreadable items a summary names.
pub const UNREADABLE_SHOWN: usize = 100;

impl HealthSummary {
    /// An empty summary whose day columns end with `now`'s China date.
    pub fn new(now: DateTime<Utc>) -> Self {
        let today = now.with_timezone(&china()).date_naive();
        let days = (0..DAYS as i64)
            .rev()
            .map(|back| DayCount {
                date: (today - Days::new(back as u64)).to_string(),
                ..DayCount::default()
            })
            .collect();
        Self {
            days,
            ..Self::default()
        }
    }

    /// The summary at `now` of a fleet whose counters are `tally` (the sum of
    /// every stored shipment's [`Tally`], as a store keeps it).
    pub fn from_tally(tally: &Tally, now: DateTime<Utc>) -> Self {
        let mut s = Self::new(now);
        let mut transit: BTreeMap<String, BTreeMap<u32, i64>> = BTreeMap::new();
        let bump = |map: &mut BTreeMap<String, u64>, key: &str, n: u64| {
            *map.entry(key.to_string()).or_default() += n;
        };
        for (key, n) in tally.iter() {
            // A counter below zero (drift) counts as none.
            let Ok(n) = u64::try_from(n) else { continue };
            match Scope::of(key) {
                // Learned transit times are read by lane, not summed here.
                Scope::Lane { .. } => {}
                Scope::Day { date, name } => {
                    let Some(day) = s.days.iter_mut().find(|d| d.date == date) else {
                        continue;
                    };
                    match name {
                        "registered" => day.registered += n,
                        "delivered" => day.delivered += n,
                        "alerts" => day.alerts += n,
                        _ => {}
                    }
                }
                Scope::Fleet(name) => match name.split('|').collect::<Vec<_>>()[..] {
                    ["parcels"] => s.parcels += n,
                    ["errors"] => s.query_errors += n,
                    ["alerting"] => s.parcels_with_alerts += n,
                    ["status", carrier, status] => {
                        bump(&mut s.by_status, status, n);
                        bump(&mut s.by_carrier, carrier, n);
                    }
                    ["active", rule] => bump(&mut s.active_alerts, rule, n),
                    ["severity", severity] => bump(&mut s.problems_by_severity, severity, n),
                    ["state", state] => bump(&mut s.problems_by_state, state, n),
                    ["delivered", carrier] => {
                        s.delivery.entry(carrier.to_string()).or_default().delivered += n
                    }
                    ["promised", carrier] => {
                        s.delivery.entry(carrier.to_string()).or_default().promised += n
                    }
                    ["on_time", carrier] => {
                        s.delivery.entry(carrier.to_string()).or_default().on_time += n
                    }
                    ["transit", carrier, bucket] => {
                        if let Ok(b) = bucket.parse::<u32>() {
                            *transit
                                .entry(carrier.to_string())
                                .or_default()
                                .entry(b)
                                .or_default() += n as i64;
                        }
                    }
                    _ => {}
                },
            }
        }
        // A snooze that has ended (by the clock, with no write) is open again.
        let stored = s.problems_by_state.remove("snoozed").unwrap_or(0);
        let running = u64::try_from(tally.snoozed_at(now))
            .unwrap_or(0)
            .min(stored);
        if stored > running {
            bump(&mut s.problems_by_state, "open", stored - running);
        }
        if running > 0 {
            s.problems_by_state.insert("snoozed".to_string(), running);
        }
        for (carrier, counts) in transit {
            let hours = |q| crate::sketch::quantile(&counts, q).map(|m| (m / 6.0).round() / 10.0);
            let d = s.delivery.entry(carrier).or_default();
            d.transit_hours_p50 = hours(0.5);
            d.transit_hours_p90 = hours(0.9);
        }
        for d in s.delivery.values_mut() {
            d.on_time_rate = (d.promised > 0).then(|| d.on_time as f64 / d.promised as f64);
        }
        s
    }

    /// The summary of the store's fleet at `now`: its counters (a fixed handful
    /// of reads, never a scan; see [`crate::tally`]), and what it has set aside
    /// as unreadable.
    pub async fn collect<S: ShipmentQuery>(
        store: &S,
        now: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let (from, to) = crate::tally::days_read(now);
        let tally = store.tally(from, to).await?;
        let mut summary = Self::from_tally(&tally, now);
        summary.unreadable = store.unreadable(UNREADABLE_SHOWN).await?;
        Ok(summary)
    }
}

/// When the carrier scanned the parcel delivered (the first delivery scan of its
/// timeline), if it is delivered.
pub fn delivered_at(s: &Shipment) -> Option<DateTime<Utc>> {
    if s.status != Status::Delivered {
        return None;
    }
    s.timeline
        .effective_statuses()
        .find(|(_, status)| *status == Status::Delivered)
        .map(|(e, _)| e.at)
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

/// Nearest-rank percentile of an ascending slice: the smallest value with at
/// least `p` (0..=1) of the values at or below it.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// Scores the alert log against ground truth. An expectation is caught when the
/// first alert of that rule (reaching that severity) on that parcel exists; its
/// latency is the time from `due_at` to that alert. Expectations due after
/// `judge_until` are not scored (the run ended before a check could see them) but
/// still make a matching alert legitimate. The lane rules (`predicted_late`,
/// `slow_lane`) are predictions the oracle has no truth for: not scored here (the
/// fleet benchmark scores them apart).
pub fn score(
    parcels: &[ShipmentId],
    expected: &[Expected],
    records: &[AlertRecord],
    judge_until: DateTime<Utc>,
) -> DetectionScore {
    // First instant each (parcel, rule, severity) was notified.
    let mut first: HashMap<(&ShipmentId, Rule, Severity), DateTime<Utc>> = HashMap::new();
    for r in records.iter().filter(|r| !r.rule.is_lane_rule()) {
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

    fn scan(at: DateTime<Utc>, status: Status) -> crate::domain::TrackingEvent {
        crate::domain::TrackingEvent {
            at,
            text: format!("{status}"),
            location: None,
            code: None,
            status,
            hub: None,
        }
    }

    fn problem(rule: Rule, severity: Severity, fired: DateTime<Utc>) -> crate::domain::AlertState {
        crate::domain::AlertState::fired(rule, severity, fired, fired)
    }

    #[test]
    fn the_summary_counts_days_problems_and_delivery_per_carrier() {
        // t(0) is 2024-05-01 08:00 in China; "now" is the 3rd, 20:00 China time.
        let now = t(60.0);
        let empty = HealthSummary::new(now);
        assert_eq!(empty.days.len(), DAYS);
        assert_eq!(empty.days[DAYS - 1].date, "2024-05-03");
        assert_eq!(empty.days[0].date, "2024-04-20");

        // Delivered 30 h after shipping, before its promise.
        let mut a = Shipment::new(id("10001"), t(0.0));
        a.promised_at = Some(t(48.0));
        a.timeline = crate::domain::Timeline::from_events([
            scan(t(2.0), Status::PickedUp),
            scan(t(30.0), Status::Delivered),
        ]);
        a.status = Status::Delivered;
        // Delivered 50 h after shipping (the 3rd, 10:00 China time), after its promise.
        let mut b = Shipment::new(id("10002"), t(0.0));
        b.promised_at = Some(t(48.0));
        b.timeline = crate::domain::Timeline::from_events([scan(t(50.0), Status::Delivered)]);
        b.status = Status::Delivered;
        // Two problems: one acknowledged and critical, one resolved (not counted as
        // a problem, but it fired that day).
        let mut c = Shipment::new(ShipmentId::parse("SF", "SF1234567890").unwrap(), t(20.0));
        c.status = Status::InTransit;
        let mut stalled = problem(Rule::Stalled, Severity::Critical, t(40.0));
        stalled.workflow = crate::domain::Workflow::Acknowledged {
            by: "张三".into(),
            at: t(41.0),
        };
        c.alerts.insert(Rule::Stalled, stalled);
        let mut hub = problem(Rule::HubDwell, Severity::Warning, t(10.0));
        hub.resolved_at = Some(t(12.0));
        c.alerts.insert(Rule::HubDwell, hub);
        let summary = HealthSummary::from_tally(&Tally::sum([&a, &b, &c]), now);

        let day = |d: &str| summary.days.iter().find(|x| x.date == d).unwrap().clone();
        assert_eq!(day("2024-05-01").registered, 2);
        assert_eq!(day("2024-05-02").registered, 1);
        assert_eq!(day("2024-05-02").delivered, 1, "a: 2nd, 14:00 China time");
        assert_eq!(day("2024-05-03").delivered, 1, "b: 3rd, 10:00");
        assert_eq!(
            day("2024-05-01").alerts,
            1,
            "hub_dwell fired the 1st, 18:00"
        );
        assert_eq!(day("2024-05-03").alerts, 1, "stalled fired the 3rd, 00:00");
        assert_eq!(
            summary.problems_by_state,
            BTreeMap::from([("acknowledged".to_string(), 1)])
        );
        assert_eq!(
            summary.problems_by_severity,
            BTreeMap::from([("critical".to_string(), 1)])
        );
        assert_eq!(
            summary.active_alerts,
            BTreeMap::from([("stalled".to_string(), 1)])
        );
        let zto = &summary.delivery["ZTO"];
        assert_eq!((zto.delivered, zto.promised, zto.on_time), (2, 2, 1));
        assert_eq!(zto.on_time_rate, Some(0.5));
        // Nearest rank: 30 h and 50 h, read back within the sketch's 4.4 %.
        let near =
            |got: Option<f64>, want: f64| got.is_some_and(|g| (g / want - 1.0).abs() <= 0.045);
        assert!(near(zto.transit_hours_p50, 30.0), "{zto:?}");
        assert!(near(zto.transit_hours_p90, 50.0), "{zto:?}");
        assert!(!summary.delivery.contains_key("SF"), "nothing delivered");
        let json = serde_json::to_value(&summary).unwrap();
        assert!(
            json.get("transit").is_none(),
            "the working set is not shown"
        );
        assert_eq!(json["delivery"]["ZTO"]["on_time_rate"], 0.5);
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<i64> = (1..=20).collect();
        assert_eq!(percentile(&v, 0.5), Some(10));
        assert_eq!(percentile(&v, 0.95), Some(19));
        assert_eq!(percentile(&v, 1.0), Some(20));
        assert_eq!(percentile(&[7], 0.95), Some(7));
        assert_eq!(percentile(&[], 0.5), None);
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
