//! The fleet benchmark's metrics on a tiny hand-built fleet whose every count is
//! worked out by hand below (default fixed rules, the lane rules off, default poll policy, 5-minute ticks, the
//! baseline every 30 minutes, 3 days from T0).
//!
//! The parcels (times are hours:minutes after T0):
//! - P0 delivered fast: picked up 1:00, delivered 2:00.
//! - P1 wrong number: registered 0:10, never any trace.
//! - P2 lost after pickup: picked up 0:20, nothing after.
//! - P3 refused: picked up 0:30, out for delivery 4:00, refused 5:10, nothing after.
//! - P4 healthy: registered 1:00, picked up 2:00, hub 5:00-7:00, station 20:00,
//!   out for delivery 21:00, delivered 23:00.
//!
//! Sentinel's checks (default poll policy: the first query one pending interval
//! after shipping; intervals pending 6 h, picked up 4 h, in transit 6 h, refused
//! 4 h; a parcel quiet for long — no trace for q hours, or none since shipping —
//! waits at least q/4 h (at most 24 h), except after a reported problem; a rule
//! deadline comes first when sooner; a check runs at the first 5-minute tick at or
//! after its time):
//! - P0: 6:00 (delivered) = 1.
//! - P1: 6:10, 12:10, 18:10, 24:10 (no_pickup and no_trace due: latency 0), then
//!   quiet 30 h → 30:10 plus 7:30 = 37:40, plus 9:22:30 → 47:05, plus 11:43:45 →
//!   58:50, plus 14:40 → past the end = 8; fired at 24:10, repeated at 58:50 (24 h
//!   repeat): 4 alerts.
//! - P2: 6:00, 10:00, 14:00, 18:00, then 22:25 (quiet 17:40 → 4:25), 28:00 (5:31:15
//!   → the next tick), 34:55 (6:55), 43:35 (8:38:45), the stalled deadline 48:20
//!   (latency 0), 60:20 (12 h) = 10; 1 alert.
//! - P3: 6:00 (sees the refusal of 5:10: latency 50 min), every 4 h 10:00-50:00
//!   (11), the stalled deadline 53:10 (latency 0), every 4 h 57:10-69:10 (4) = 17;
//!   refused fires at 6:00, repeats at 30:00 and 57:10, stalled fires at 53:10: 4
//!   alerts.
//! - P4: 7:00 (picked up, hub 5:00-7:00), 13:00, 19:00, 25:00 (delivered) = 4.
//!
//! Total 40 queries; on the delivered parcels (P0, P4) 5, so 2.5 per delivered
//! parcel. Writes: 5 registrations + 40 check puts + 9 alert records + 9 outbox
//! updates = 63.
//!
//! The baseline (runs at 0:00, 0:30, ... 72:00; a parcel joins the first run at
//! or after its registration and leaves when delivered):
//! - P0: 0:00-2:00 = 5 queries; writes: row + 2 changes = 3.
//! - P1: 0:30-72:00 = 144; writes 1.
//! - P2: 0:00-72:00 = 145; stalled at 48:30 (latency 10 min); writes 1 + 1 + 1 = 3.
//! - P3: 145; refused at 5:30 (20 min), stalled at 53:30 (20 min); writes
//!   1 + 3 changes + 2 alerts = 6.
//! - P4: 1:00-23:00 = 45; writes 1 + 6 changes = 7.
//!
//! Total 484 queries, 50 on delivered parcels (25 per delivered), 20 writes, 3
//! alerts (recall 3 of 5: it has no no_pickup or no_trace check).

use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

use sentinel_sim::bench;

use sentinel_sim::bench::{BenchConfig, BenchReport};
use sentinel_sim::{Anomaly, Fleet, LaneClass, ReplyFormat, SimEvent, SimKind, SimParcel, NO_SITE};
use shared::config::Settings;
use shared::domain::Rule;
use shared::domain::ShipmentId;
use shared::schedule::TrackingMode;

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-11-04T00:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

fn at(h: i64, m: i64) -> DateTime<Utc> {
    t0() + Duration::hours(h) + Duration::minutes(m)
}

fn ev(h: i64, m: i64, kind: SimKind) -> SimEvent {
    SimEvent {
        at: at(h, m),
        kind,
        city: 1,
        // Hub 0 for hub scans, station 0 otherwise.
        site: 0,
        next_city: NO_SITE,
        next_site: NO_SITE,
        variant: 0,
    }
}

fn parcel(index: u32, registered: DateTime<Utc>, events: Vec<SimEvent>) -> SimParcel {
    SimParcel {
        index,
        id: ShipmentId::parse("ZTO", &format!("7500000000{index:02}")).unwrap(),
        order_id: format!("SO-TEST-{index}"),
        registered_at: registered,
        shipped_at: registered,
        promised_at: None,
        phone: None,
        anomaly: None,
        told_apart_at: None,
        events,
        format: ReplyFormat::Kdniao8001,
        carrier: 0,
        origin: 0,
        dest: 1,
        lane: LaneClass::CrossCountry,
        courier: 0,
        courier_prefix: 3,
        courier_tail: 1234,
    }
}

fn fleet() -> Arc<Fleet> {
    use SimKind::*;
    Arc::new(Fleet::new(vec![
        parcel(0, at(0, 0), vec![ev(1, 0, PickedUp), ev(2, 0, Delivered)]),
        parcel(1, at(0, 10), vec![]),
        parcel(2, at(0, 0), vec![ev(0, 20, PickedUp)]),
        parcel(
            3,
            at(0, 0),
            vec![
                ev(0, 30, PickedUp),
                ev(4, 0, OutForDelivery),
                ev(5, 10, Refused),
            ],
        ),
        parcel(
            4,
            at(1, 0),
            vec![
                ev(2, 0, PickedUp),
                ev(5, 0, HubArrive),
                ev(7, 0, HubDepart),
                ev(20, 0, StationArrive),
                ev(21, 0, OutForDelivery),
                ev(23, 0, Delivered),
            ],
        ),
    ]))
}

/// The default settings with the lane rules off: the counts below are worked out
/// for the fixed rules (the lane rules read learned statistics, tested in
/// shared/tests/lane_rules.rs and scored by the bench's `"prediction"`).
fn fixed_rules() -> Settings {
    let mut s = Settings::default();
    s.rules.set_enabled(Rule::PredictedLate, false);
    s.rules.set_enabled(Rule::SlowLane, false);
    s
}

async fn run(mode: TrackingMode, wire: bench::Wire) -> BenchReport {
    let config = BenchConfig {
        parcels: 5,
        days: 3,
        mode,
        wire,
        ..BenchConfig::default()
    };
    bench::run_on(fleet(), &config, &fixed_rules(), t0(), Instant::now())
        .await
        .unwrap()
}

fn lat(r: &BenchReport, sentinel: bool, rule: Rule) -> Vec<i64> {
    let side = if sentinel { &r.sentinel } else { &r.baseline };
    side.scores.per_rule[&rule].latencies.clone()
}

#[tokio::test]
async fn poll_mode_counts_match_the_hand_computed_ones() {
    let r = run(TrackingMode::Poll, bench::Wire::Direct).await;
    assert_eq!((r.delivered, r.events), (2, 12));

    // Sentinel.
    let s = &r.sentinel;
    assert_eq!(s.queries, 40);
    assert_eq!(s.queries_on_delivered, 5);
    assert_eq!(s.checks, 40);
    let st = s.store.unwrap();
    // P1 (no scan at all) holds no_trace and no_pickup: under the default
    // ALERT_INHIBIT (no_trace>no_pickup) one alert and its repeat are claimed, and
    // no_pickup is told within them: 7 records, not 9.
    assert_eq!(
        (st.shipment_puts, st.alert_inserts, st.marks_delivered),
        (45, 7, 7)
    );
    assert_eq!(s.writes, 59);
    assert_eq!(s.raw_alerts, 7);
    // Ticks with notifications: 6:00, 24:10, 30:00, 48:20, 53:10, 57:10, 58:50;
    // each tick's alerts fit one digest.
    assert_eq!(s.messages, 7);
    assert_eq!(s.runs, 72 * 12 + 1);
    let o = &s.scores.overall;
    assert_eq!(
        (o.expected, o.caught, o.alerts, o.true_alerts),
        (5, 5, 5, 5)
    );
    assert_eq!(lat(&r, true, Rule::Refused), vec![50 * 60]);
    assert_eq!(lat(&r, true, Rule::Stalled), vec![0, 0]);
    assert_eq!(lat(&r, true, Rule::NoPickup), vec![0]);
    assert_eq!(lat(&r, true, Rule::NoTrace), vec![0]);
    assert_eq!(o.latency(0.5), Some(0));
    assert_eq!(o.latency(0.95), Some(3000));
    assert_eq!(o.latency_max(), Some(3000));
    assert_eq!(o.recall(), Some(1.0));
    assert_eq!(o.precision(), Some(1.0));

    // The baseline.
    let b = &r.baseline;
    assert_eq!(b.queries, 484);
    assert_eq!(b.queries_on_delivered, 50);
    assert_eq!(b.writes, 20);
    assert_eq!(b.raw_alerts, 3);
    assert_eq!(b.messages, 3);
    assert_eq!(b.runs, 72 * 2 + 1);
    let bo = &b.scores.overall;
    assert_eq!(
        (bo.expected, bo.caught, bo.alerts, bo.true_alerts),
        (5, 3, 3, 3)
    );
    assert_eq!(lat(&r, false, Rule::Stalled), vec![600, 1200]);
    assert_eq!(lat(&r, false, Rule::Refused), vec![1200]);
    assert_eq!(b.scores.per_rule[&Rule::NoPickup].recall(), Some(0.0));
    assert_eq!(b.scores.per_rule[&Rule::NoTrace].recall(), Some(0.0));
    assert_eq!(bo.recall(), Some(0.6));
    // Nearest rank over [600, 1200, 1200]: p50 is the 2nd value.
    assert_eq!(bo.latency(0.5), Some(1200));

    // Per parcel and per delivered parcel, as printed and written to JSON.
    assert_eq!(r.per_parcel(s.queries), 8.0);
    assert_eq!(r.per_parcel(b.queries), 96.8);
    assert_eq!(s.queries_on_delivered as f64 / r.delivered as f64, 2.5);
    assert_eq!(b.queries_on_delivered as f64 / r.delivered as f64, 25.0);
}

/// The JSON wire (rendered Kdniao replies through the real normaliser) sees the
/// same traces, so every count is the same.
#[tokio::test]
async fn the_json_wire_gives_the_same_counts() {
    let d = run(TrackingMode::Poll, bench::Wire::Direct).await;
    let j = run(TrackingMode::Poll, bench::Wire::Json).await;
    for (a, b) in [(&d.sentinel, &j.sentinel), (&d.baseline, &j.baseline)] {
        assert_eq!(
            (a.queries, a.writes, a.raw_alerts, a.messages),
            (b.queries, b.writes, b.raw_alerts, b.messages)
        );
        assert_eq!(a.scores, b.scores);
    }
}

/// Push mode: one subscription per parcel is all the carrier bills; each tick in
/// which a parcel has new traces is one push (P0 2, P2 1, P3 3, P4 6 = 12), and
/// the refusal is seen at its own tick. Besides the pushes, a parcel is looked at
/// only at its rule deadlines (the first one set at registration): P1 at 24:10
/// (no_pickup, no_trace), P2 at 48:20 and P3 at 53:10 (stalled) = 3; each look
/// writes the parcel once, after its registration.
#[tokio::test]
async fn push_mode_counts_subscriptions_and_pushes() {
    let r = run(TrackingMode::Push, bench::Wire::Direct).await;
    let s = &r.sentinel;
    assert_eq!(s.queries, 5);
    assert_eq!(s.queries_on_delivered, 2);
    assert_eq!(s.pushes, 12);
    assert_eq!(s.checks, 15);
    assert_eq!(s.store.unwrap().shipment_puts, 5 + 15);
    assert_eq!(lat(&r, true, Rule::Refused), vec![0]);
    let o = &s.scores.overall;
    assert_eq!(
        (o.expected, o.caught, o.alerts, o.true_alerts),
        (5, 5, 5, 5)
    );
    // The baseline does not depend on Sentinel's mode.
    assert_eq!(r.baseline.queries, 484);
}

/// The estimates of the fleet above plus P5 (delivered at 400 h, far beyond any
/// estimate made at registration, with an injected stall), judged by hand at two
/// instants: 1:30 (P0, P4 and P5 in flight as registered; P1-P3 never reach
/// their recipient and are not judged) and 3:00 (P0 now stored delivered: done).
#[tokio::test]
async fn estimates_are_judged_per_delivery_and_per_estimate() {
    use sentinel_sim::bench::prediction::Prediction;
    use sentinel_sim::Anomaly;
    use shared::domain::{Shipment, Status, TrackingEvent};
    use shared::lanes::LaneView;
    use shared::ports::{ShipmentReader, ShipmentWriter};
    use shared::store::memory::MemoryStore;

    let mut parcels = fleet().parcels.clone();
    let mut late = parcel(5, at(0, 0), vec![ev(400, 0, SimKind::Delivered)]);
    late.anomaly = Some(Anomaly::Stall);
    parcels.push(late);
    let fleet = Fleet::new(parcels);
    let store = MemoryStore::new();
    for p in &fleet.parcels {
        let mut s = Shipment::new(p.id.clone(), p.registered_at);
        s.shipped_at = Some(p.registered_at);
        store.put_shipment(&s).await.unwrap();
    }
    // What the published figures say of a parcel registered, not picked up.
    let registered = Shipment::new(fleet.parcels[4].id.clone(), at(1, 0));
    let eta = LaneView::prior_only(&registered)
        .eta(&registered, at(3, 0))
        .unwrap();
    assert!(eta.p50 > at(23, 0) && eta.p90 < at(400, 0), "{eta:?}");

    let mut judged = Prediction::default();
    judged.judge(&fleet, &store, at(1, 30)).await;
    let mut p0 = store
        .get_shipment(&fleet.parcels[0].id)
        .await
        .unwrap()
        .unwrap();
    p0.timeline.merge(vec![TrackingEvent {
        at: at(2, 0),
        text: "已签收".into(),
        location: None,
        code: None,
        status: Status::Delivered,
        hub: None,
    }]);
    p0.status = Status::Delivered;
    store.put_shipment(&p0).await.unwrap();
    judged.judge(&fleet, &store, at(3, 0)).await;

    // Estimates: P0 ✓, P4 ✓, P5 ✗ at 1:30; P4 ✓, P5 ✗ at 3:00.
    assert_eq!(
        (judged.instants, judged.judged, judged.from_lanes),
        (2, 5, 0)
    );
    assert_eq!((judged.p90_covered, judged.p50_covered), (3, 3));
    assert_eq!(judged.deliveries(), 3);
    assert_eq!(judged.p90_coverage_per_estimate(), Some(0.6));
    // Each delivery weighs one: (1 + 1 + 0) / 3.
    let per_delivery = judged.p90_coverage().unwrap();
    assert!((per_delivery - 2.0 / 3.0).abs() < 1e-9, "{per_delivery}");
    assert_eq!(judged.p90_coverage_healthy(), Some(1.0));
    assert_eq!(
        judged.p90_coverage_by_anomaly(),
        vec![("none", 2, 1.0), ("stall", 1, 0.0)]
    );
    // P5's two errors of some 350 h pull the mean far above the median.
    let (median, mean) = (
        judged.p50_abs_error_h().unwrap(),
        judged.p50_mean_abs_error_h().unwrap(),
    );
    assert!(mean > 100.0 && median < mean / 2.0, "{median} {mean}");
}

/// A run no longer than the warm-up judges nothing: no figures, not zeros.
#[tokio::test]
async fn a_run_within_the_warm_up_judges_no_estimate() {
    let r = run(TrackingMode::Poll, bench::Wire::Direct).await;
    let p = &r.sentinel.prediction;
    assert_eq!((p.instants, p.judged), (0, 0));
    assert_eq!(p.p90_coverage(), None);
    assert_eq!(p.p50_abs_error_h(), None);
}

/// The lane rules' scores, worked out by hand (no warm-up, judged to 72:00):
/// - L0 promised 30:00, delivered 40:00: late; flagged at 5:00 (24 h ahead);
///   told apart from a healthy journey at 2:00 (a day ahead: knowable).
/// - L1 (`slow`) picked up 10:00, promised 40:00, delivered 50:00: late; flagged
///   at 20:00 (ahead, not 24 h); told apart at 20:00 (not knowable a day ahead).
/// - L2 promised 60:00, delivered 20:00: on time; flagged at 10:00 (a false flag).
/// - L3 picked up 1:00, nothing after: the oracle expects `stalled` (since 1:00,
///   due 49:00); `slow_lane` of that silence at 13:00, `stalled` told at 49:05:
///   a lead of 36 h 5 min. L0's silence after its pickup gets a `slow_lane` at
///   14:00 that never became a stall: a false one.
#[test]
fn lane_rules_are_scored_apart_against_the_fixed_rules_truth() {
    use sentinel_sim::bench::lane_scores;
    use sentinel_sim::bench::metrics::{fleet_truth, EpisodeLog};
    use SimKind::*;
    let promised = |mut p: SimParcel, h: i64| {
        p.promised_at = Some(at(h, 0));
        p
    };
    let fleet = Fleet::new(vec![
        {
            let mut p = promised(
                parcel(0, at(0, 0), vec![ev(1, 0, PickedUp), ev(40, 0, Delivered)]),
                30,
            );
            p.told_apart_at = Some(at(2, 0));
            p
        },
        {
            let mut p = promised(
                parcel(1, at(0, 0), vec![ev(10, 0, PickedUp), ev(50, 0, Delivered)]),
                40,
            );
            p.anomaly = Some(Anomaly::Slow);
            p.told_apart_at = Some(at(20, 0));
            p
        },
        promised(
            parcel(2, at(0, 0), vec![ev(1, 0, PickedUp), ev(20, 0, Delivered)]),
            60,
        ),
        parcel(3, at(0, 0), vec![ev(1, 0, PickedUp)]),
    ]);
    let truth = fleet_truth(&fleet, &Settings::default().rules, at(72, 0));
    let ts = |h: i64, m: i64| at(h, m).timestamp();
    let mut log = EpisodeLog::default();
    log.note(0, Rule::PredictedLate, ts(4, 0), ts(5, 0));
    log.note(1, Rule::PredictedLate, ts(19, 0), ts(20, 0));
    log.note(2, Rule::PredictedLate, ts(9, 0), ts(10, 0));
    log.note(3, Rule::SlowLane, ts(1, 0), ts(13, 0));
    log.note(3, Rule::Stalled, ts(1, 0), ts(49, 5));
    log.note(0, Rule::SlowLane, ts(1, 0), ts(14, 0));
    let s = lane_scores::score(&fleet, &truth, &log, t0(), Duration::zero(), at(72, 0));
    assert_eq!((s.late, s.late_flagged_24h, s.late_flagged), (2, 1, 2));
    assert_eq!((s.flagged, s.flagged_late), (3, 2));
    assert_eq!(s.predicted_late_recall_24h(), Some(0.5));
    assert_eq!(s.predicted_late_precision(), Some(2.0 / 3.0));
    // L0 alone could be told apart a day ahead, and was flagged then.
    assert_eq!((s.late_knowable_24h, s.knowable_flagged_24h), (1, 1));
    assert_eq!(s.predicted_late_knowable_24h(), Some(0.5));
    assert_eq!(s.predicted_late_recall_24h_of_knowable(), Some(1.0));
    // By injected anomaly: L1 is `slow`, the others have none.
    let by = |late, late_flagged_24h, false_flags| lane_scores::LateByAnomaly {
        late,
        late_flagged_24h,
        false_flags,
    };
    assert_eq!(
        s.predicted_late_by_anomaly.into_iter().collect::<Vec<_>>(),
        vec![("none", by(1, 1, 1)), ("slow", by(1, 0, 0))]
    );
    // First flags by lead: L0 26 h and the on-time parcel 51 h ahead, L1 21 h.
    let at_lead = |flagged, late| lane_scores::FlagsAtLead { flagged, late };
    assert_eq!(
        s.flags_by_lead,
        [at_lead(2, 1), at_lead(1, 1), at_lead(0, 0), at_lead(0, 0)]
    );
    assert_eq!((s.stalls, s.stalls_found), (1, 1));
    assert_eq!(s.leads_h, vec![36.0 + 5.0 / 60.0]);
    assert!(s.fast_leads_h.is_empty(), "a cross-country lane");
    assert_eq!((s.slow_alerts, s.slow_true), (2, 1));
    // A warm-up that ends after every flag and promise judges nothing.
    let later = lane_scores::score(&fleet, &truth, &log, t0(), Duration::hours(60), at(72, 0));
    assert_eq!(
        (later.late, later.flagged, later.stalls, later.slow_alerts),
        (0, 0, 0, 0)
    );
}
