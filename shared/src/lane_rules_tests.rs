use super::*;
use crate::domain::{AlertState, ShipmentId, Status, TrackingEvent};
use crate::lanes::{LaneKey, LaneStats, Prior, Route};
use crate::sketch::Sketch;
use chrono::TimeZone;

fn t(h: f64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 0, 0, 0).unwrap() + Duration::minutes((h * 60.0) as i64)
}

fn scan(h: f64, status: Status) -> TrackingEvent {
    TrackingEvent {
        at: t(h),
        text: format!("scan at {h}"),
        location: None,
        code: None,
        status,
        hub: None,
    }
}

fn sketch_of_hours(hours: impl IntoIterator<Item = f64>) -> Sketch {
    let mut s = Sketch::default();
    for h in hours {
        s.add(h * 60.0);
    }
    s
}

/// A ZTO lane that has learned: from entering the line haul, delivery 40–80 h
/// later (evenly); 2,000 gaps between line-haul scans, 0.01–20 h (evenly, p99
/// about 19.8 h).
fn lane() -> LaneView {
    let carrier = crate::domain::CarrierCode::parse("ZTO").unwrap();
    let mut stats = LaneStats::default();
    stats.remaining.insert(
        Stage::LineHaul,
        sketch_of_hours((0..200).map(|i| 40.0 + 0.2 * f64::from(i))),
    );
    stats.gaps.insert(
        Stage::LineHaul,
        sketch_of_hours((1..=2000).map(|i| 0.01 * f64::from(i))),
    );
    LaneView {
        levels: vec![(
            LaneKey::Carrier(carrier.clone()),
            std::sync::Arc::new(stats),
        )],
        prior: Prior::of(&carrier, &Route::default()),
    }
}

/// Shipped at 0, picked up at 2, on the line haul from 4, promised at `promise`.
fn parcel(promise: f64) -> Shipment {
    let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t(0.0));
    s.shipped_at = Some(t(0.0));
    s.promised_at = Some(t(promise));
    s.timeline.merge(vec![
        scan(2.0, Status::PickedUp),
        scan(4.0, Status::InTransit),
    ]);
    s.status = Status::InTransit;
    s
}

fn fired(s: &Shipment, c: &RuleConfig, now: f64) -> Option<Finding> {
    findings(s, c, &lane(), t(now))
        .into_iter()
        .find(|f| f.rule == Rule::PredictedLate)
}

fn p_at(s: &Shipment, now: DateTime<Utc>) -> f64 {
    lane()
        .p_delivered_by(s, s.promised_at.unwrap(), now)
        .unwrap()
}

#[test]
fn predicted_late_begins_where_the_probability_fell_below_its_threshold() {
    let s = parcel(74.0);
    // Judged from registration on (the horizon is tested below).
    let mut c = RuleConfig::default();
    c.predicted_late_horizon = None;
    // Soon after the line haul began the promise is likely kept.
    assert!(p_at(&s, t(10.0)) > 0.6, "{}", p_at(&s, t(10.0)));
    assert_eq!(fired(&s, &c, 10.0), None);
    // A long silence moves the estimate out until the promise is unlikely.
    let f = fired(&s, &c, 40.0).expect("predicted_late after a long silence");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.since > t(4.0) && f.since <= t(40.0), "{:?}", f.since);
    assert!(p_at(&s, f.since) < 0.5);
    assert!(p_at(&s, f.since - CROSSING_PRECISION) >= 0.5);
    // The same instant whenever it is looked at.
    assert_eq!(fired(&s, &c, 44.0).map(|f| f.since), Some(f.since));
}

#[test]
fn predicted_late_is_judged_only_from_its_horizon_before_the_promise() {
    let s = parcel(74.0);
    let mut c = RuleConfig::default();
    c.set_enabled(Rule::SlowLane, false);
    c.predicted_late_horizon = None;
    let early = fired(&s, &c, 40.0).expect("unlikely by 40 h").since;
    assert!(early < t(40.0));
    // 30 h before the promise (44 h): quiet at 40 h though the chance is low
    // already, from 44 h on with that instant as `since`, which the scheduler
    // is woken for.
    c.predicted_late_horizon = Some(Duration::hours(30));
    assert!(p_at(&s, t(40.0)) < 0.5);
    assert_eq!(fired(&s, &c, 40.0), None);
    assert_eq!(next_deadline(&s, &c, &lane(), t(40.0)), Some(t(44.0)));
    assert_eq!(fired(&s, &c, 44.0).map(|f| f.since), Some(t(44.0)));
    assert_eq!(fired(&s, &c, 50.0).map(|f| f.since), Some(t(44.0)));
    // A chance that falls only after the horizon opened begins where it fell.
    c.predicted_late_horizon = Some(Duration::hours(60));
    assert_eq!(fired(&s, &c, 40.0).map(|f| f.since), Some(early));
    // A parcel turned back needs no horizon: its chance is none.
    let mut refused = parcel(200.0);
    refused.timeline.merge(vec![scan(30.0, Status::Refused)]);
    let d = crate::rules::evaluate_with(&refused, &RuleConfig::default(), None, t(31.0));
    assert!(d.iter().any(|f| f.rule == Rule::PredictedLate), "{d:?}");
}

#[test]
fn the_next_deadline_is_when_the_probability_will_fall_below() {
    let s = parcel(74.0);
    let mut c = RuleConfig::default();
    c.set_enabled(Rule::SlowLane, false);
    let d = next_deadline(&s, &c, &lane(), t(10.0)).expect("a deadline before the promise");
    assert!(d > t(10.0) && d < t(74.0), "{d:?}");
    let f = findings(&s, &c, &lane(), d);
    assert!(f.iter().any(|f| f.rule == Rule::PredictedLate), "{f:?}");
    let before = findings(&s, &c, &lane(), d - Duration::minutes(10));
    assert!(!before.iter().any(|f| f.rule == Rule::PredictedLate));
    // Its own threshold (how long it must stay unlikely) moves it later.
    let mut waiting = c.clone();
    waiting.set_threshold(Rule::PredictedLate, Duration::hours(3));
    assert_eq!(
        next_deadline(&s, &waiting, &lane(), t(10.0)),
        Some(d + Duration::hours(3))
    );
    // Once past the promise, `late` says it: no new episode.
    assert_eq!(fired(&s, &c, 80.0), None);
}

#[test]
fn a_held_predicted_late_keeps_its_since_and_resolves_only_clearly_above() {
    let mut s = parcel(74.0);
    let c = RuleConfig::default();
    let f = fired(&s, &c, 40.0).unwrap();
    s.alerts.insert(
        Rule::PredictedLate,
        AlertState {
            rule: Rule::PredictedLate,
            severity: f.severity,
            since: f.since,
            fired_at: t(40.0),
            last_notified_at: t(40.0),
            notifications: 1,
            resolved_at: None,
            workflow: Default::default(),
            history: Vec::new(),
        },
    );
    // A scan: the parcel moves again, the chance comes back up.
    s.timeline.merge(vec![scan(41.0, Status::InTransit)]);
    let p = p_at(&s, t(41.5));
    assert!(p > 0.0 && p < 1.0, "{p}");
    let with = |threshold: f64| {
        let mut c = c.clone();
        c.predicted_late_probability = crate::rules::PerCarrier::of(threshold);
        fired(&s, &c, 41.5)
    };
    // Above its threshold but within the hysteresis: still held, same since.
    assert_eq!(with(p - 0.05).map(|f| f.since), Some(f.since));
    // Clearly above: resolved.
    assert_eq!(with(p - 0.15), None);
    // Delivered: nothing holds.
    s.timeline.merge(vec![scan(42.0, Status::Delivered)]);
    assert_eq!(fired(&s, &c, 43.0), None);
}

/// The held `predicted_late` alert of `since`.
fn held(since: DateTime<Utc>) -> AlertState {
    AlertState {
        rule: Rule::PredictedLate,
        severity: Severity::Warning,
        since,
        fired_at: since,
        last_notified_at: since,
        notifications: 1,
        resolved_at: None,
        workflow: Default::default(),
        history: Vec::new(),
    }
}

#[test]
fn a_parcel_turned_back_before_its_promise_is_predicted_late_without_a_lane() {
    let late = |s: &Shipment, c: &RuleConfig, now: f64| {
        crate::rules::evaluate_with(s, c, None, t(now))
            .into_iter()
            .find(|f| f.rule == Rule::PredictedLate)
    };
    let c = RuleConfig::default();
    // Refused at 30 h, promised at 200 h: no chance left, whatever a lane says.
    let mut s = parcel(200.0);
    assert_eq!(late(&s, &c, 20.0), None, "on its way: the lane decides");
    s.timeline.merge(vec![
        scan(29.0, Status::OutForDelivery),
        scan(30.0, Status::Refused),
    ]);
    assert_eq!(late(&s, &c, 30.5).map(|f| f.since), Some(t(30.0)));
    // On its way back it still holds, from the refusal.
    s.timeline.merge(vec![scan(40.0, Status::Returning)]);
    assert_eq!(late(&s, &c, 41.0).map(|f| f.since), Some(t(30.0)));
    // With a lane view the finding is the same one, not two.
    let with_lane: Vec<_> = crate::rules::evaluate_with(&s, &c, Some(&lane()), t(41.0))
        .into_iter()
        .filter(|f| f.rule == Rule::PredictedLate)
        .collect();
    assert_eq!(with_lane.len(), 1);
    assert_eq!(with_lane[0].since, t(30.0));
    // An alert held from before (the lane foretold it) keeps its since.
    let mut foretold = s.clone();
    foretold.alerts.insert(Rule::PredictedLate, held(t(12.0)));
    assert_eq!(late(&foretold, &c, 41.0).map(|f| f.since), Some(t(12.0)));
    // Past the promise no new episode starts (`late` speaks); a held one stays.
    assert_eq!(late(&s, &c, 201.0), None);
    assert_eq!(late(&foretold, &c, 201.0).map(|f| f.since), Some(t(12.0)));
    // Back with the sender: the way has ended, as for `late`.
    let mut back = foretold.clone();
    back.timeline.merge(vec![scan(60.0, Status::Returned)]);
    assert_eq!(late(&back, &c, 61.0), None);
    // Waiting: due once the rule's threshold has passed since the refusal, and
    // the scheduler wakes the parcel then.
    let mut wait = c.clone();
    wait.set_threshold(Rule::PredictedLate, Duration::hours(4));
    assert_eq!(late(&s, &wait, 33.0), None);
    assert_eq!(late(&s, &wait, 34.0).map(|f| f.since), Some(t(30.0)));
    assert_eq!(
        crate::rules::next_deadline_with(&s, &wait, None, t(33.0)),
        Some(t(34.0))
    );
    // A refusal after the promise, a parcel with no promise, a disabled rule:
    // nothing.
    let mut after = parcel(25.0);
    after.timeline.merge(vec![scan(30.0, Status::Refused)]);
    assert_eq!(late(&after, &c, 31.0), None);
    let mut unpromised = s.clone();
    unpromised.promised_at = None;
    assert_eq!(late(&unpromised, &c, 41.0), None);
    let mut off = c.clone();
    off.set_enabled(Rule::PredictedLate, false);
    assert_eq!(late(&s, &off, 41.0), None);
}

#[test]
fn slow_lane_fires_past_the_lanes_usual_gap_and_only_before_stalled() {
    let s = parcel(200.0);
    let c = RuleConfig::default();
    let slow = |c: &RuleConfig, now: f64| {
        findings(&s, c, &lane(), t(now))
            .into_iter()
            .find(|f| f.rule == Rule::SlowLane)
    };
    // The lane's p99 gap (about 19.8 h) and two sketch buckets (× 2^(2/8),
    // about 1.19) after the last scan at 4.
    let gaps = lane().gaps(Stage::LineHaul).0;
    let hours_q = |q: f64| gaps.inverse(q).unwrap() / 60.0;
    let (p90, p99) = (hours_q(0.9), hours_q(0.99));
    assert!(p90 > 17.0, "{p90}");
    assert!(p99 > 17.0 && p99 < 21.0 && p90 < p99, "{p90} {p99}");
    let limit = p99 * 2f64.powf(0.25);
    assert!(limit > 23.0 && limit < 25.0, "{limit}");
    assert_eq!(slow(&c, 4.0 + limit - 0.1), None);
    let f = slow(&c, 4.0 + limit + 0.1).expect("slow_lane past the lane's p99 gap");
    assert_eq!(f.since, t(4.0));
    let due = next_deadline(&s, &c, &lane(), t(5.0)).unwrap();
    assert!(
        due > t(4.0 + limit - 0.1) && due <= t(4.0 + limit + 0.1),
        "{due:?}"
    );
    // A looser quantile for this carrier: earlier (but not before the floor).
    let mut loose = c.clone();
    loose
        .slow_lane_quantile
        .carriers
        .push((s.id.carrier.clone(), 0.45));
    assert!(hours_q(0.45) * 2f64.powf(0.25) < 16.0);
    assert_eq!(slow(&loose, 4.0 + 15.9), None);
    assert!(slow(&loose, 4.0 + 16.1).is_some());
    // A stricter one needs more gaps than the lane has seen (three beyond it):
    // quiet, rather than trusting the few longest gaps.
    let mut strict = c.clone();
    strict
        .slow_lane_quantile
        .carriers
        .push((s.id.carrier.clone(), 0.999));
    assert_eq!(samples_for(0.999), 3_000);
    assert_eq!(slow(&strict, 4.0 + 40.0), None);
    // Where `stalled` comes first anyway, slow_lane stays quiet.
    let mut short = c.clone();
    short.set_threshold(Rule::Stalled, Duration::hours(18));
    assert_eq!(slow(&short, 4.0 + 30.0), None);
    // Its floor: never before its own threshold.
    let mut floor = c.clone();
    floor.set_threshold(Rule::SlowLane, Duration::hours(30));
    assert_eq!(slow(&floor, 4.0 + 29.0), None);
    // Disabled: nothing.
    let mut off = c.clone();
    off.set_enabled(Rule::SlowLane, false);
    assert_eq!(slow(&off, 4.0 + 30.0), None);
}

#[test]
fn slow_lane_leaves_a_parcel_back_from_a_reported_problem_to_stalled() {
    let c = RuleConfig::default();
    let slow = |s: &Shipment, now: f64| {
        findings(s, &c, &lane(), t(now))
            .into_iter()
            .any(|f| f.rule == Rule::SlowLane)
    };
    // On the line haul from 4: a problem parcel at 6, handled at 20 (back in
    // transit), then silent.
    let mut s = parcel(200.0);
    s.timeline.merge(vec![scan(6.0, Status::Exception)]);
    assert!(!slow(&s, 6.0 + 30.0), "the problem's own rule speaks");
    s.timeline.merge(vec![scan(20.0, Status::InTransit)]);
    assert_eq!(s.timeline.current_status(), Status::InTransit);
    assert!(!slow(&s, 20.0 + 30.0), "back from a problem in this stage");
    // The same silence without the problem is slow.
    let mut healthy = parcel(200.0);
    healthy.timeline.merge(vec![scan(20.0, Status::InTransit)]);
    assert!(slow(&healthy, 20.0 + 30.0));
    // Once it moves on to the next stage, its lane's rhythm applies again.
    s.timeline
        .merge(vec![scan(50.0, Status::ArrivedAtDestinationCity)]);
    let mut at_destination = lane();
    let stats = std::sync::Arc::make_mut(&mut at_destination.levels[0].1);
    stats.gaps.insert(
        Stage::AtDestination,
        sketch_of_hours((1..=2000).map(|i| 0.005 * f64::from(i))),
    );
    let fires = |s: &Shipment, now: f64| {
        findings(s, &c, &at_destination, t(now))
            .into_iter()
            .any(|f| f.rule == Rule::SlowLane)
    };
    assert!(fires(&s, 50.0 + 20.0));
}

#[test]
fn slow_lane_leaves_parcels_not_picked_up_to_no_pickup() {
    let mut s = Shipment::new(ShipmentId::parse("ZTO", "75312345678901").unwrap(), t(0.0));
    s.shipped_at = Some(t(0.0));
    s.timeline.merge(vec![scan(1.0, Status::Pending)]);
    let f = findings(&s, &RuleConfig::default(), &lane(), t(40.0));
    assert!(!f.iter().any(|f| f.rule == Rule::SlowLane), "{f:?}");
}

#[test]
fn crossing_finds_the_first_low_instant() {
    let at = t(10.0) + Duration::minutes(137);
    let found = crossing(t(10.0), t(20.0), |x| x >= at);
    assert!(found >= at && found - at <= CROSSING_PRECISION, "{found:?}");
}
