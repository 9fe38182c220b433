use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::fleet::H;
use super::geo::{CARRIERS, CITIES};
use super::render::{event_text, kdniao_action, kuaidi100_code};
use super::*;
use shared::clock::ManualClock;
use shared::domain::{Rule, Severity};
use shared::domain::{ShipmentId, TrackingNumber};
use shared::ports::CarrierQuery;
use shared::rules::RuleConfig;

fn fleet(seed: u64, parcels: usize, share: f64) -> Fleet {
    generate(&FleetConfig {
        parcels,
        seed,
        anomaly_share: share,
        ..FleetConfig::default()
    })
}

fn hours_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / H as f64
}

/// Local (China) time of day in hours.
fn local_hour(t: DateTime<Utc>) -> f64 {
    ((t.timestamp() + 8 * H).rem_euclid(24 * H)) as f64 / H as f64
}

fn far_horizon(p: &SimParcel) -> DateTime<Utc> {
    p.events.last().map(|e| e.at).unwrap_or(p.registered_at) + Duration::days(30)
}

// ---------------------------------------------------------------- generation

#[test]
fn same_seed_same_fleet_and_different_seed_differs() {
    let a = fleet(7, 2000, 0.15);
    let b = fleet(7, 2000, 0.15);
    assert_eq!(a.parcels, b.parcels);
    let c = fleet(8, 2000, 0.15);
    let differing = a
        .parcels
        .iter()
        .zip(&c.parcels)
        .filter(|(x, y)| x != y)
        .count();
    assert!(differing > 1900, "{differing}");
}

#[test]
fn parcel_i_does_not_depend_on_fleet_size() {
    let small = fleet(3, 40, 0.15);
    let big = fleet(3, 600, 0.15);
    assert_eq!(small.parcels[..], big.parcels[..40]);
}

#[test]
fn tracking_numbers_are_valid_unique_and_carrier_shaped() {
    let f = fleet(11, 40_000, 0.15);
    let mut seen = HashSet::new();
    let mut per_carrier: HashMap<&str, usize> = HashMap::new();
    for p in &f.parcels {
        let n = p.id.tracking_number.as_str();
        assert_eq!(TrackingNumber::parse(n).unwrap().as_str(), n);
        assert!(seen.insert(p.id.clone()), "duplicate {}", p.id);
        let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        let code = p.id.carrier.as_str();
        let ok = match code {
            "SF" => n.len() == 15 && n.starts_with("SF") && all_digits(&n[2..]),
            "ZTO" => (12..=15).contains(&n.len()) && n.starts_with('7') && all_digits(n),
            "YTO" => n.len() == 15 && n.starts_with("YT") && all_digits(&n[2..]),
            "YD" => n.len() == 13 && (n.starts_with('4') || n.starts_with('3')) && all_digits(n),
            "JTSD" => n.len() == 15 && n.starts_with("JT") && all_digits(&n[2..]),
            "STO" => {
                (12..=13).contains(&n.len())
                    && (n.starts_with("77") || n.starts_with("88"))
                    && all_digits(n)
            }
            "JD" => n.starts_with("JD") && (15..=17).contains(&n.len()),
            "EMS" => {
                (n.len() == 13 && (n.starts_with('1') || n.starts_with('9')) && all_digits(n))
                    || (n.len() == 13 && n.starts_with('E') && n.ends_with("CN"))
            }
            _ => false,
        };
        assert!(ok, "{code} {n}");
        *per_carrier.entry(code).or_default() += 1;
        assert_eq!(f.get(&p.id).map(|q| q.index), Some(p.index));
    }
    for c in CARRIERS {
        let share = per_carrier[c.code] as f64 / f.len() as f64;
        assert!((share - c.share).abs() < 0.015, "{} {share}", c.code);
    }
    let unknown = ShipmentId::parse("SF", "SF0000000000000").unwrap();
    assert!(f.get(&unknown).is_none());
}

#[test]
fn events_ascending_and_within_clock_windows() {
    for seed in 1..=3 {
        let f = fleet(seed, 4000, 0.3);
        for p in &f.parcels {
            assert!(
                p.events.windows(2).all(|w| w[0].at < w[1].at),
                "{} not strictly ascending",
                p.id
            );
            if let Some(first) = p.events.first() {
                assert!(first.at > p.registered_at, "{}", p.id);
            }
            for e in &p.events {
                let h = local_hour(e.at);
                match e.kind {
                    SimKind::OutForDelivery | SimKind::Redeliver => {
                        assert!((7.5..10.0).contains(&h), "{} {:?} at {h}", p.id, e.kind)
                    }
                    SimKind::Delivered | SimKind::Locker | SimKind::ReturnSigned => {
                        assert!((8.0..20.0).contains(&h), "{} {:?} at {h}", p.id, e.kind)
                    }
                    _ => {}
                }
                assert!((e.city as usize) < CITIES.len());
            }
        }
    }
}

#[test]
fn healthy_parcels_respect_the_healthy_constraints() {
    let cfg = RuleConfig::default();
    let mut checked = 0;
    for seed in 1..=5 {
        let f = fleet(seed, 3000, 0.15);
        for p in f.parcels.iter().filter(|p| p.anomaly.is_none()) {
            checked += 1;
            let ev = &p.events;
            let last = ev.last().expect("healthy parcels have events");
            assert_eq!(last.kind, SimKind::Delivered, "{}", p.id);
            let pickup = p.picked_up_at().expect("picked up");
            let ph = hours_between(p.shipped_at, pickup);
            assert!((0.5..=12.0).contains(&ph), "{} pickup after {ph}", p.id);
            for w in ev.windows(2) {
                let gap = hours_between(w[0].at, w[1].at);
                assert!(
                    gap < 40.0,
                    "{} gap {gap} {:?}->{:?}",
                    p.id,
                    w[0].kind,
                    w[1].kind
                );
            }
            // Hub dwell: first arrival of a run to the departure.
            let mut arrived: Option<DateTime<Utc>> = None;
            for e in ev {
                match e.kind {
                    SimKind::HubArrive => {
                        arrived.get_or_insert(e.at);
                    }
                    SimKind::HubDepart => {
                        if let Some(a) = arrived.take() {
                            let d = hours_between(a, e.at);
                            assert!(d < 12.0, "{} dwell {d}", p.id);
                        }
                    }
                    _ => arrived = None,
                }
            }
            let ofd = ev
                .iter()
                .position(|e| e.kind == SimKind::OutForDelivery)
                .unwrap();
            let next = &ev[ofd + 1];
            assert!(matches!(next.kind, SimKind::Delivered | SimKind::Locker));
            let d = hours_between(ev[ofd].at, next.at);
            assert!(d < 10.0 && local_hour(next.at) < 21.0, "{} ofd {d}", p.id);
            if next.kind == SimKind::Locker {
                let w = hours_between(next.at, last.at);
                assert!(w < 40.0, "{} locker wait {w}", p.id);
                assert_eq!(last.variant, 1);
            }
            if let Some(promised) = p.promised_at {
                assert!(hours_between(last.at, promised) >= 12.0, "{}", p.id);
            }
            let found = p.expected(&cfg, far_horizon(p));
            assert!(found.is_empty(), "{} {:?}", p.id, found);
        }
    }
    assert!(checked > 12_000, "{checked}");
}

#[test]
fn lane_time_calibration() {
    let f = fleet(2024, 24_000, 0.0);
    let mut times = Vec::new();
    for p in f.parcels.iter().filter(|p| p.lane != LaneClass::SameCity) {
        let t = hours_between(
            p.picked_up_at().unwrap(),
            p.delivered_or_dropped_at().unwrap(),
        );
        times.push(t);
    }
    let n = times.len() as f64;
    let mean = times.iter().sum::<f64>() / n;
    let over72 = times.iter().filter(|&&t| t > 72.0).count() as f64 / n;
    eprintln!(
        "calibration: {} cross-city parcels, mean {mean:.2} h, P(>72 h) {:.2}%",
        times.len(),
        over72 * 100.0
    );
    assert!(times.len() > 20_000);
    assert!((45.0..=62.0).contains(&mean), "mean {mean}");
    assert!((0.08..=0.25).contains(&over72), "over72 {over72}");
}

#[test]
fn anomaly_share_is_close_to_configured_and_every_kind_appears() {
    for share in [0.15, 0.3] {
        let f = fleet(5, 10_000, share);
        let mut kinds = HashSet::new();
        let count = f
            .parcels
            .iter()
            .filter_map(|p| p.anomaly)
            .inspect(|a| {
                kinds.insert(*a);
            })
            .count();
        let got = count as f64 / f.len() as f64;
        assert!((got - share).abs() <= 0.03, "{got} vs {share}");
        assert_eq!(kinds.len(), Anomaly::ALL.len());
    }
    assert!(fleet(5, 500, 0.0)
        .parcels
        .iter()
        .all(|p| p.anomaly.is_none()));
}

/// What tells an anomalous parcel apart from its healthy journey, and when.
#[test]
fn an_anomaly_is_told_apart_where_its_traces_leave_the_healthy_journey() {
    let f = fleet(11, 3_000, 0.5);
    let mut seen = HashSet::new();
    for p in &f.parcels {
        let Some(a) = p.anomaly else {
            assert_eq!(p.told_apart_at, None, "a healthy parcel is its own plan");
            continue;
        };
        seen.insert(a);
        let t = p.told_apart_at.expect("every anomaly changes what is seen");
        let picked_up = p.picked_up_at();
        match a {
            // A promise short of the plan tells from the start.
            Anomaly::Late => assert_eq!(t, p.registered_at),
            // A stall, a stuck hub, a slow line haul: after pickup, when a trace
            // that came late was due, before the journey's end.
            Anomaly::Stall | Anomaly::HubStuck | Anomaly::Slow => {
                assert!(picked_up.is_some_and(|u| t > u), "{a:?}");
                assert!(p.events.last().is_some_and(|e| t < e.at), "{a:?}");
            }
            // Lost: when the next trace was due, after the last there is.
            Anomaly::Lost => assert!(p.events.last().is_some_and(|e| t > e.at)),
            // Trouble at the door: after the parcel went out for delivery.
            Anomaly::Refused | Anomaly::DeliveryFailed | Anomaly::OutForDeliveryStuck => {
                let out = p.events.iter().find(|e| e.kind == SimKind::OutForDelivery);
                assert!(out.is_some_and(|o| t > o.at), "{a:?}");
            }
            _ => assert!(t >= p.registered_at, "{a:?}"),
        }
    }
    assert_eq!(seen.len(), Anomaly::ALL.len());
}

#[test]
fn every_anomaly_produces_its_primary_rules() {
    let cfg = RuleConfig::default();
    let primary = |a: Anomaly| -> Vec<(Rule, Severity)> {
        use Severity::*;
        match a {
            Anomaly::NoPickup => vec![(Rule::NoPickup, Warning)],
            Anomaly::WrongNumber => vec![(Rule::NoTrace, Warning), (Rule::NoPickup, Warning)],
            Anomaly::HubStuck => vec![(Rule::HubDwell, Warning)],
            Anomaly::Stall => vec![(Rule::Stalled, Warning)],
            Anomaly::Lost => vec![(Rule::Stalled, Warning), (Rule::Stalled, Critical)],
            Anomaly::OutForDeliveryStuck => vec![(Rule::OutForDeliveryStuck, Warning)],
            Anomaly::DeliveryFailed => vec![(Rule::DeliveryFailed, Warning)],
            Anomaly::Exception => vec![(Rule::Exception, Warning)],
            Anomaly::Refused => vec![(Rule::Refused, Warning), (Rule::Returned, Warning)],
            Anomaly::Returned => vec![(Rule::Exception, Warning), (Rule::Returned, Warning)],
            Anomaly::LockerUncollected => vec![(Rule::LockerUncollected, Warning)],
            Anomaly::Late | Anomaly::Slow => vec![(Rule::Late, Warning)],
        }
    };
    let mut per_kind: HashMap<Anomaly, usize> = HashMap::new();
    for seed in [1, 2] {
        let f = fleet(seed, 8000, 0.5);
        for p in &f.parcels {
            let Some(a) = p.anomaly else { continue };
            *per_kind.entry(a).or_default() += 1;
            let found = p.expected(&cfg, far_horizon(p));
            for (rule, sev) in primary(a) {
                assert!(
                    found.iter().any(|x| x.rule == rule && x.severity == sev),
                    "{} {a}: missing {rule}/{sev}; got {found:?}; events {:?}",
                    p.id,
                    p.events
                );
            }
            for x in &found {
                assert!(x.due_at >= x.since || x.rule.is_event_rule());
                assert!(x.due_at >= p.registered_at);
            }
        }
    }
    for a in Anomaly::ALL {
        assert!(per_kind.get(&a).copied().unwrap_or(0) > 50, "{a}");
    }
}

#[test]
fn anomaly_shapes() {
    let f = fleet(9, 6000, 0.6);
    for p in &f.parcels {
        let kinds: Vec<SimKind> = p.events.iter().map(|e| e.kind).collect();
        let gap_after = |k: SimKind| {
            let i = kinds.iter().position(|x| *x == k).unwrap();
            hours_between(p.events[i].at, p.events[i + 1].at)
        };
        match p.anomaly {
            Some(Anomaly::NoPickup) => {
                assert_eq!(kinds, [SimKind::Created]);
                let h = hours_between(p.shipped_at, p.events[0].at);
                assert!((0.2..=2.0).contains(&h));
            }
            Some(Anomaly::WrongNumber) => assert!(kinds.is_empty()),
            Some(Anomaly::Lost) => assert_eq!(kinds.last(), Some(&SimKind::HubDepart)),
            Some(Anomaly::OutForDeliveryStuck) => {
                let g = gap_after(SimKind::OutForDelivery);
                assert!((14.0..=30.0).contains(&g), "{g}");
                assert_eq!(kinds.last(), Some(&SimKind::Delivered));
            }
            Some(Anomaly::DeliveryFailed) => {
                assert!((1.0..=6.0).contains(&gap_after(SimKind::OutForDelivery)));
                assert!((14.0..=26.0).contains(&gap_after(SimKind::Failed)));
                assert!((1.0..=5.0).contains(&gap_after(SimKind::Redeliver)));
            }
            Some(Anomaly::Exception) => {
                assert!((12.0..=48.0).contains(&gap_after(SimKind::Exception)));
                assert_eq!(kinds.last(), Some(&SimKind::Delivered));
            }
            Some(Anomaly::Refused) => {
                assert!((1.0..=5.0).contains(&gap_after(SimKind::OutForDelivery)));
                assert!((2.0..=12.0).contains(&gap_after(SimKind::Refused)));
                assert_eq!(kinds.last(), Some(&SimKind::ReturnSigned));
                assert!(kinds.contains(&SimKind::ReturnTransit));
                assert_eq!(p.events.last().unwrap().city, p.origin);
            }
            Some(Anomaly::Returned) => {
                assert!((12.0..=30.0).contains(&gap_after(SimKind::Exception)));
                assert_eq!(kinds.last(), Some(&SimKind::ReturnSigned));
                assert!(!kinds.contains(&SimKind::OutForDelivery));
            }
            Some(Anomaly::LockerUncollected) => {
                let l = kinds.iter().position(|k| *k == SimKind::Locker).unwrap();
                let total = hours_between(p.events[l].at, p.events.last().unwrap().at);
                assert!((50.0..=112.0).contains(&total), "{total}");
                if kinds.contains(&SimKind::LockerOverdue) {
                    assert!((18.0..=24.0).contains(&gap_after(SimKind::Locker)));
                }
            }
            Some(Anomaly::Late) => {
                let last = p.events.last().unwrap().at;
                let promised = p.promised_at.unwrap();
                assert!(promised < last);
                assert!(hours_between(promised, last) <= 30.0);
            }
            Some(Anomaly::Slow) => {
                // Late by up to two days, with no gap the fixed rules would see.
                let last = p.events.last().unwrap().at;
                let promised = p.promised_at.unwrap();
                assert!(promised < last, "{}", p.id);
                assert!(hours_between(promised, last) <= 49.0, "{}", p.id);
                for w in p.events.windows(2) {
                    assert!(hours_between(w[0].at, w[1].at) < 40.0, "{}", p.id);
                }
                assert_eq!(kinds.last(), Some(&SimKind::Delivered));
                let found = p.expected(&RuleConfig::default(), far_horizon(p));
                assert!(
                    found.iter().all(|x| x.rule == Rule::Late),
                    "{}: {found:?}",
                    p.id
                );
            }
            Some(Anomaly::HubStuck) | Some(Anomaly::Stall) | None => {}
        }
        if matches!(p.anomaly, Some(Anomaly::Refused | Anomaly::Returned)) {
            // Return legs stay under the hub-dwell and stall thresholds.
            let rs = kinds
                .iter()
                .position(|k| *k == SimKind::ReturnStart)
                .unwrap();
            for w in p.events[rs..].windows(2) {
                assert!(hours_between(w[0].at, w[1].at) < 24.0);
            }
        }
    }
}

#[test]
fn hub_stuck_and_stall_gaps() {
    let f = fleet(4, 8000, 0.6);
    for p in &f.parcels {
        let ev = &p.events;
        match p.anomaly {
            Some(Anomaly::HubStuck) => {
                let mut best: f64 = 0.0;
                let mut arrived = None;
                for e in ev {
                    match e.kind {
                        SimKind::HubArrive => {
                            arrived.get_or_insert(e.at);
                        }
                        SimKind::HubDepart => {
                            if let Some(a) = arrived.take() {
                                best = best.max(hours_between(a, e.at));
                            }
                        }
                        _ => arrived = None,
                    }
                }
                assert!((30.0..=80.0).contains(&best), "{} {best}", p.id);
            }
            Some(Anomaly::Stall) => {
                let longest = ev
                    .windows(2)
                    .map(|w| hours_between(w[0].at, w[1].at))
                    .fold(0.0, f64::max);
                assert!((52.0..=110.0).contains(&longest), "{} {longest}", p.id);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------- oracle

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-04T10:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(h: f64) -> DateTime<Utc> {
    t0() + Duration::seconds((h * H as f64).round() as i64)
}

fn ev(h: f64, kind: SimKind) -> SimEvent {
    ev_at(h, kind, 0, 0)
}

fn ev_at(h: f64, kind: SimKind, city: u8, site: u8) -> SimEvent {
    SimEvent {
        at: at(h),
        kind,
        city,
        site,
        next_city: NO_SITE,
        next_site: NO_SITE,
        variant: 0,
    }
}

fn hand(carrier: &str, events: Vec<SimEvent>, promised: Option<f64>) -> SimParcel {
    let carrier_idx = CARRIERS.iter().position(|c| c.code == carrier).unwrap();
    SimParcel {
        index: 0,
        id: ShipmentId::parse(carrier, "SF1234567890123").unwrap(),
        order_id: "SO1".into(),
        registered_at: t0(),
        shipped_at: t0(),
        promised_at: promised.map(at),
        phone: None,
        anomaly: None,
        told_apart_at: None,
        events,
        format: ReplyFormat::Kdniao8001,
        carrier: carrier_idx as u8,
        origin: 1,
        dest: 0,
        lane: LaneClass::Regional,
        courier: 0,
        courier_prefix: 8,
        courier_tail: 5678,
    }
}

fn x(rule: Rule, severity: Severity, since: f64, due: f64) -> Expectation {
    Expectation {
        rule,
        severity,
        since: at(since),
        due_at: at(due),
        required: true,
    }
}

#[test]
fn oracle_table() {
    use Severity::{Critical as C, Warning as W};
    use SimKind::*;
    let def = RuleConfig::default();
    let mut no_pickup_off = RuleConfig::default();
    no_pickup_off.set_enabled(Rule::NoPickup, false);
    let mut sf_stall = RuleConfig::default();
    sf_stall.set_override(
        Rule::Stalled,
        shared::domain::CarrierCode::parse("SF").unwrap(),
        shared::rules::hours(10.0),
    );
    let mut late5 = RuleConfig::default();
    late5.set_threshold(Rule::Late, shared::rules::hours(5.0));

    type Case = (
        &'static str,
        &'static str,
        Vec<SimEvent>,
        Option<f64>,
        RuleConfig,
        f64,
        Vec<Expectation>,
    );
    let cases: Vec<Case> = vec![
        (
            "nothing known",
            "ZTO",
            vec![],
            None,
            def.clone(),
            30.0,
            vec![
                x(Rule::NoPickup, W, 0.0, 24.0),
                x(Rule::NoTrace, W, 0.0, 24.0),
            ],
        ),
        (
            "horizon before threshold",
            "ZTO",
            vec![],
            None,
            def.clone(),
            23.9,
            vec![],
        ),
        (
            "due exactly at the horizon counts",
            "ZTO",
            vec![],
            None,
            def.clone(),
            24.0,
            vec![
                x(Rule::NoPickup, W, 0.0, 24.0),
                x(Rule::NoTrace, W, 0.0, 24.0),
            ],
        ),
        (
            "disabled rule",
            "ZTO",
            vec![],
            None,
            no_pickup_off,
            30.0,
            vec![x(Rule::NoTrace, W, 0.0, 24.0)],
        ),
        (
            "created only: no_pickup, stall escalates",
            "ZTO",
            vec![ev(1.0, Created)],
            None,
            def.clone(),
            200.0,
            vec![
                x(Rule::NoPickup, W, 0.0, 24.0),
                x(Rule::Stalled, W, 1.0, 49.0),
                x(Rule::Stalled, C, 1.0, 97.0),
            ],
        ),
        (
            "horizon cuts the escalation",
            "ZTO",
            vec![ev(1.0, Created)],
            None,
            def.clone(),
            60.0,
            vec![
                x(Rule::NoPickup, W, 0.0, 24.0),
                x(Rule::Stalled, W, 1.0, 49.0),
            ],
        ),
        (
            "pickup at 23h: no no_pickup",
            "ZTO",
            vec![ev(1.0, Created), ev(23.0, PickedUp), ev(40.0, Delivered)],
            None,
            def.clone(),
            500.0,
            vec![],
        ),
        (
            "pickup at 30h: no_pickup due at 24h",
            "ZTO",
            vec![ev(30.0, PickedUp), ev(40.0, Delivered)],
            None,
            def.clone(),
            500.0,
            vec![
                x(Rule::NoPickup, W, 0.0, 24.0),
                x(Rule::NoTrace, W, 0.0, 24.0),
            ],
        ),
        (
            "hub dwell from the first of the duplicate arrivals",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(2.0, HubArrive),
                ev(2.01, HubArrive),
                ev(30.0, HubDepart),
                ev(40.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::HubDwell, W, 2.0, 26.0)],
        ),
        (
            "hub dwell ending exactly at the threshold does not fire",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(2.0, HubArrive),
                ev(26.0, HubDepart),
                ev(40.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![],
        ),
        (
            "a new hub restarts the dwell",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev_at(2.0, HubArrive, 0, 0),
                ev_at(20.0, HubArrive, 2, 0),
                ev(50.0, HubDepart),
                ev(60.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::HubDwell, W, 20.0, 44.0)],
        ),
        (
            "out for delivery stuck",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(10.0, OutForDelivery),
                ev(23.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::OutForDeliveryStuck, W, 10.0, 22.0)],
        ),
        (
            "failed then redelivered",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(10.0, OutForDelivery),
                ev(12.0, Failed),
                ev(30.0, Redeliver),
                ev(32.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::DeliveryFailed, W, 12.0, 12.0)],
        ),
        (
            "per-carrier override applies to SF",
            "SF",
            vec![
                ev(1.0, PickedUp),
                ev(15.0, HubArrive),
                ev(16.0, HubDepart),
                ev(20.0, Delivered),
            ],
            None,
            sf_stall.clone(),
            500.0,
            vec![x(Rule::Stalled, W, 1.0, 11.0)],
        ),
        (
            "and not to ZTO",
            "ZTO",
            vec![
                ev(1.0, PickedUp),
                ev(15.0, HubArrive),
                ev(16.0, HubDepart),
                ev(20.0, Delivered),
            ],
            None,
            sf_stall,
            500.0,
            vec![],
        ),
        (
            "late while not delivered",
            "ZTO",
            vec![
                ev(1.0, PickedUp),
                ev(20.0, HubArrive),
                ev(21.0, HubDepart),
                ev(40.0, Delivered),
            ],
            Some(30.0),
            def.clone(),
            500.0,
            vec![x(Rule::Late, W, 30.0, 30.0)],
        ),
        (
            "late threshold",
            "ZTO",
            vec![
                ev(1.0, PickedUp),
                ev(20.0, HubArrive),
                ev(21.0, HubDepart),
                ev(40.0, Delivered),
            ],
            Some(30.0),
            late5,
            500.0,
            vec![x(Rule::Late, W, 30.0, 35.0)],
        ),
        (
            "delivered before the promise",
            "ZTO",
            vec![ev(1.0, PickedUp), ev(25.0, Delivered)],
            Some(30.0),
            def.clone(),
            500.0,
            vec![],
        ),
        (
            "promise before registration is due when watched",
            "ZTO",
            vec![ev(1.0, PickedUp), ev(25.0, Delivered)],
            Some(-5.0),
            def.clone(),
            500.0,
            vec![x(Rule::Late, W, -5.0, 0.0)],
        ),
        (
            "refused and returned, first instants only",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(9.0, OutForDelivery),
                ev(10.0, Refused),
                ev(12.0, ReturnStart),
                ev(20.0, ReturnTransit),
                ev(30.0, ReturnSigned),
            ],
            None,
            def.clone(),
            500.0,
            vec![
                x(Rule::Refused, W, 10.0, 10.0),
                x(Rule::Returned, W, 12.0, 12.0),
            ],
        ),
        (
            "returned holds after the terminal signature",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(9.0, Exception),
                ev(12.0, ReturnStart),
                ev(30.0, ReturnSigned),
            ],
            None,
            def.clone(),
            31.0,
            vec![
                x(Rule::Exception, W, 9.0, 9.0),
                x(Rule::Returned, W, 12.0, 12.0),
            ],
        ),
        (
            "locker uncollected",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(9.0, OutForDelivery),
                ev(10.0, Locker),
                ev(30.0, LockerOverdue),
                ev(70.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::LockerUncollected, W, 10.0, 58.0)],
        ),
        (
            "exception then resolved",
            "ZTO",
            vec![
                ev(0.0, PickedUp),
                ev(10.0, Exception),
                ev(20.0, ExceptionResolved),
                ev(30.0, OutForDelivery),
                ev(31.0, Delivered),
            ],
            None,
            def.clone(),
            500.0,
            vec![x(Rule::Exception, W, 10.0, 10.0)],
        ),
        (
            "delivered is terminal",
            "ZTO",
            vec![ev(1.0, PickedUp), ev(5.0, Delivered)],
            Some(6.0),
            def.clone(),
            5000.0,
            vec![],
        ),
        (
            "events after the horizon are unseen",
            "ZTO",
            vec![ev(1.0, PickedUp), ev(100.0, Delivered)],
            None,
            def.clone(),
            60.0,
            vec![x(Rule::Stalled, W, 1.0, 49.0)],
        ),
        (
            "stall and hub dwell both reported",
            "ZTO",
            vec![ev(1.0, PickedUp), ev(2.0, HubArrive)],
            None,
            def.clone(),
            100.0,
            vec![
                x(Rule::Stalled, W, 2.0, 50.0),
                x(Rule::HubDwell, W, 2.0, 26.0),
                x(Rule::Stalled, C, 2.0, 98.0),
            ],
        ),
    ];
    for (name, carrier, events, promised, cfg, horizon, mut want) in cases {
        let p = hand(carrier, events, promised);
        want.sort_by_key(|e| (e.rule, e.severity));
        assert_eq!(p.expected(&cfg, at(horizon)), want, "case: {name}");
    }
}

// ---------------------------------------------------------------- rendering

fn json(s: &str) -> Value {
    serde_json::from_str(s).expect("valid JSON")
}

fn sample(format: ReplyFormat) -> SimParcel {
    use SimKind::*;
    let mut p = hand(
        "ZTO",
        vec![
            ev_at(0.0, PickedUp, 1, 0),
            ev_at(2.0, HubArrive, 1, 0),
            ev_at(3.0, HubDepart, 1, 0),
            ev_at(20.0, HubArrive, 0, 1),
            ev_at(21.0, StationArrive, 0, 0),
            ev_at(22.0, OutForDelivery, 0, 0),
            SimEvent {
                variant: 3,
                ..ev_at(23.0, Locker, 0, 0)
            },
            SimEvent {
                variant: 1,
                ..ev_at(26.0, Delivered, 0, 0)
            },
        ],
        None,
    );
    p.format = format;
    p
}

#[test]
fn kdniao_8001_reply() {
    let p = sample(ReplyFormat::Kdniao8001);
    let v = json(&p.reply_json(at(22.5)));
    assert_eq!(v["Success"], true);
    assert_eq!(v["ShipperCode"], "ZTO");
    assert_eq!(v["LogisticCode"], p.id.tracking_number.as_str());
    assert_eq!(v["OrderCode"], "SO1");
    assert_eq!(v["State"], "2");
    assert_eq!(v["StateEx"], "202");
    assert_eq!(v["Location"], "上海市");
    let traces = v["Traces"].as_array().unwrap();
    assert_eq!(traces.len(), 6, "only events at or before now");
    let actions: Vec<&str> = traces
        .iter()
        .map(|t| t["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["1", "204", "2", "204", "205", "202"]);
    let times: Vec<&str> = traces
        .iter()
        .map(|t| t["AcceptTime"].as_str().unwrap())
        .collect();
    assert_eq!(times[0], "2024-11-04 10:00:00");
    assert!(times.windows(2).all(|w| w[0] < w[1]), "ascending");
    assert_eq!(traces[1]["AcceptStation"], "快件已到达【杭州转运中心】");
    assert_eq!(
        traces[2]["AcceptStation"],
        "快件离开【杭州转运中心】，已发往【上海市】"
    );
    assert_eq!(
        traces[0]["AcceptStation"],
        "【杭州市】中通快递 杭州西湖营业部 已揽收"
    );
    assert_eq!(
        traces[4]["AcceptStation"],
        "【上海市】快件已到达【上海徐汇营业部】"
    );
    assert_eq!(
        traces[5]["AcceptStation"],
        "【上海市】派件员 张伟（电话138****5678）正在为您派件"
    );

    let done = json(&p.reply_json(at(100.0)));
    assert_eq!(done["State"], "3");
    assert_eq!(done["StateEx"], "311");
    let t = done["Traces"].as_array().unwrap();
    assert_eq!(
        t[6]["AcceptStation"],
        "快件已放入【丰巢智能柜4号柜】，请凭取件码及时取件"
    );
    assert_eq!(t[7]["AcceptStation"], "已签收，签收人凭取件码签收");
}

#[test]
fn kdniao_1002_reply_has_text_only() {
    let p = sample(ReplyFormat::Kdniao1002);
    let v = json(&p.reply_json(at(100.0)));
    assert_eq!(v["State"], "3");
    assert!(v.get("StateEx").is_none());
    let traces = v["Traces"].as_array().unwrap();
    assert_eq!(traces.len(), 8);
    for t in traces {
        assert!(t.get("Action").is_none());
        assert!(t["AcceptStation"].as_str().is_some());
        assert!(t["AcceptTime"].as_str().is_some());
    }
}

#[test]
fn kuaidi100_reply_is_newest_first() {
    let p = sample(ReplyFormat::Kuaidi100);
    let v = json(&p.reply_json(at(23.5)));
    assert_eq!(v["message"], "ok");
    assert_eq!(v["status"], "200");
    assert_eq!(v["com"], "zhongtong");
    assert_eq!(v["nu"], p.id.tracking_number.as_str());
    assert_eq!(v["ischeck"], "0");
    assert_eq!(v["state"], "501");
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 7);
    let codes: Vec<&str> = data
        .iter()
        .map(|d| d["statusCode"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["501", "5", "1001", "1002", "1002", "1002", "103"]);
    let times: Vec<&str> = data.iter().map(|d| d["time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] > w[1]), "descending");
    assert_eq!(data[0]["ftime"], data[0]["time"]);
    assert_eq!(data[0]["location"], "");
    assert_eq!(
        data[0]["context"],
        "快件已放入【丰巢智能柜4号柜】，请凭取件码及时取件"
    );

    let done = json(&p.reply_json(at(26.0)));
    assert_eq!(done["ischeck"], "1");
    assert_eq!(done["state"], "304");
}

#[test]
fn not_found_shapes() {
    let mut p = sample(ReplyFormat::Kdniao8001);
    p.events.clear();
    let v = json(&p.reply_json(at(100.0)));
    assert_eq!(v["Success"], true);
    assert_eq!(v["State"], "0");
    assert_eq!(v["Reason"], "暂无轨迹信息");
    assert_eq!(v["Traces"].as_array().unwrap().len(), 0);

    p.format = ReplyFormat::Kuaidi100;
    let v = json(&p.reply_json(at(100.0)));
    let want = json(
        r#"{"message":"快递公司参数异常：单号不存在或者已经过期","nu":"","ischeck":"0","com":"","status":"201","state":"0","data":[]}"#,
    );
    assert_eq!(v, want);

    // Before the first scan a real parcel looks the same.
    let p = sample(ReplyFormat::Kuaidi100);
    assert_eq!(json(&p.reply_json(at(-1.0))), want);
}

#[test]
fn generated_replies_render_for_every_format_and_kind() {
    let f = fleet(21, 3000, 0.5);
    let mut kinds = HashSet::new();
    let mut formats = HashSet::new();
    for p in &f.parcels {
        formats.insert(p.format);
        let now = far_horizon(p);
        let v = json(&p.reply_json(now));
        let n = match p.format {
            ReplyFormat::Kuaidi100 => v["data"].as_array().unwrap().len(),
            _ => v["Traces"].as_array().unwrap().len(),
        };
        assert_eq!(n, p.events.len());
        for e in &p.events {
            kinds.insert(e.kind);
            let text = event_text(p, e);
            assert!(!text.is_empty());
            match e.kind {
                SimKind::HubArrive => assert!(text.starts_with("快件已到达【")),
                SimKind::HubDepart => {
                    assert!(text.starts_with("快件离开【") && text.contains("，已发往【"))
                }
                SimKind::OutForDelivery => {
                    assert!(text.contains("****") && text.contains("正在为您派件"))
                }
                SimKind::Locker => {
                    assert!(text.contains("丰巢智能柜") || text.contains("菜鸟驿站"))
                }
                _ => {}
            }
            assert!(!kdniao_action(e).is_empty());
            assert!(!kuaidi100_code(e).0.is_empty());
        }
    }
    assert_eq!(formats.len(), 3);
    assert_eq!(kinds.len(), 17, "{kinds:?}");
}

#[test]
fn format_mix() {
    let f = fleet(6, 10_000, 0.15);
    let share = |fmt| f.parcels.iter().filter(|p| p.format == fmt).count() as f64 / 10_000.0;
    assert!((share(ReplyFormat::Kdniao8001) - 0.4).abs() < 0.02);
    assert!((share(ReplyFormat::Kdniao1002) - 0.2).abs() < 0.02);
    assert!((share(ReplyFormat::Kuaidi100) - 0.4).abs() < 0.02);
}

#[test]
fn shipment_view() {
    let f = fleet(1, 10, 0.15);
    let p = &f.parcels[3];
    let s = p.shipment();
    assert_eq!(s.id, p.id);
    assert_eq!(s.order_id.as_deref(), Some(p.order_id.as_str()));
    assert_eq!(s.registered_at, p.registered_at);
    assert_eq!(s.shipped_at, Some(p.shipped_at));
    assert_eq!(s.promised_at, p.promised_at);
    assert_eq!(s.phone, p.phone);
    assert!(s.has_tag("demo"));
    assert!(s.timeline.is_empty());
}

// ---------------------------------------------------------------- carrier

#[tokio::test(flavor = "current_thread")]
async fn sim_carrier_answers_unknown_ids_with_nothing() {
    let f = Arc::new(fleet(1, 20, 0.15));
    let clock = ManualClock::new(t0());
    let carrier = SimCarrier::new(f.clone(), &clock);
    assert_eq!(carrier.name(), "sim");
    let stranger = hand("SF", vec![], None).shipment();
    let stranger = shared::domain::Shipment {
        id: ShipmentId::parse("SF", "SF9999999999999").unwrap(),
        ..stranger
    };
    let reply = carrier.query(&stranger).await.unwrap();
    assert!(reply.knows_nothing());
    // A known parcel goes through the normaliser without a transport error.
    let known = f.parcels[0].shipment();
    clock.set(far_horizon(&f.parcels[0]));
    assert!(!matches!(
        carrier.query(&known).await,
        Err(shared::ports::CarrierError::Transient(_))
    ));
}

/// Cross-check of the oracle against the real normaliser and rule engine: at each
/// expectation's `due_at` the engine reports it (same rule, severity and `since`),
/// one second earlier it does not, and healthy parcels never produce a finding.
#[test]
fn cross_check_with_normaliser_and_rule_engine() {
    use shared::rules::evaluate;
    let cfg = RuleConfig::default();
    let f = fleet(31, 1500, 0.5);
    let mut problems: Vec<String> = Vec::new();
    let mut checked = 0;
    let findings_at = |p: &SimParcel, now: DateTime<Utc>| {
        let mut s = p.shipment();
        let body = p.reply_json(now);
        let reply =
            shared::normalise::parse_reply(&body, Some(p.format.normalise_format())).unwrap();
        s.timeline.merge(reply.events);
        evaluate(&s, &cfg, now)
    };
    for p in &f.parcels {
        let horizon = far_horizon(p);
        let exp = p.expected(&cfg, horizon);
        for x in &exp {
            checked += 1;
            let got = findings_at(p, x.due_at);
            if !got
                .iter()
                .any(|g| g.rule == x.rule && g.severity == x.severity && g.since == x.since)
            {
                problems.push(format!("{} {x:?} missing at due; got {got:?}", p.id));
            }
            // One second before the threshold passes the finding is absent (when
            // the due time was moved later, the condition may already hold earlier
            // for less than MIN_OBSERVABLE; nothing to check then).
            let threshold = match x.severity {
                Severity::Critical => cfg.stalled_critical(Some(&p.id.carrier)),
                Severity::Warning => cfg.threshold(x.rule, Some(&p.id.carrier)),
            };
            let before = if x.due_at == x.since + threshold {
                findings_at(p, x.due_at - Duration::seconds(1))
            } else {
                Vec::new()
            };
            if before
                .iter()
                .any(|g| g.rule == x.rule && g.severity == x.severity)
            {
                problems.push(format!("{} {x:?} already present before due", p.id));
            }
        }
        if p.anomaly.is_none() {
            for e in &p.events {
                for now in [e.at, e.at + Duration::hours(20)] {
                    let got = findings_at(p, now);
                    if !got.is_empty() {
                        problems.push(format!("{} healthy but {got:?}", p.id));
                    }
                }
            }
        }
    }
    eprintln!(
        "cross-check: {checked} expectations, {} problems",
        problems.len()
    );
    assert!(
        problems.is_empty(),
        "{:#?}",
        &problems[..problems.len().min(10)]
    );
}

/// The direct reply (no JSON, used by the fleet benchmark) carries the same events
/// as the real normaliser makes of the rendered reply: same instants, texts,
/// statuses and hub scans, for every format and kind of trace, at every step of
/// every parcel's life.
#[test]
fn direct_reply_matches_the_normalised_json_reply() {
    let f = fleet(7, 1200, 0.5);
    let key = |e: &shared::domain::TrackingEvent| (e.at, e.text.clone(), e.status, e.hub.is_some());
    let mut compared = 0;
    for p in &f.parcels {
        let mut instants: Vec<DateTime<Utc>> = p.events.iter().map(|e| e.at).collect();
        instants.push(p.registered_at);
        for now in instants {
            let json = shared::normalise::parse_reply(
                &p.reply_json(now),
                Some(p.format.normalise_format()),
            )
            .unwrap();
            let direct = p.reply_direct(now);
            let mut a: Vec<_> = json.events.iter().map(key).collect();
            let mut b: Vec<_> = direct.events.iter().map(key).collect();
            a.sort();
            b.sort();
            assert_eq!(a, b, "{} at {now}", p.id);
            assert_eq!(direct.carrier.as_ref(), Some(&p.id.carrier));
            compared += b.len();
        }
    }
    assert!(compared > 10_000, "{compared}");
}
