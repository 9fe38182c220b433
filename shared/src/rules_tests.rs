//! Rule engine tests: every rule, thresholds at the boundary, escalation,
//! per-carrier overrides, disabled rules, terminal parcels, and properties.

use super::*;
use crate::domain::{ShipmentId, Timeline, TrackingEvent};
use proptest::prelude::*;

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + hours(h)
}

fn ev(h: f64, status: Status, text: &str) -> TrackingEvent {
    TrackingEvent {
        at: t(h),
        text: text.to_string(),
        location: None,
        code: None,
        status,
        hub: None,
    }
}

fn hub(h: f64, name: &str) -> TrackingEvent {
    TrackingEvent {
        hub: Some(name.to_string()),
        ..ev(h, Status::InTransit, &format!("快件已到达【{name}】 {h}"))
    }
}

fn parcel(carrier: &str, events: Vec<TrackingEvent>) -> Shipment {
    let mut s = Shipment::new(ShipmentId::parse(carrier, "75312345678").unwrap(), t(0.0));
    s.timeline = Timeline::from_events(events);
    s
}

fn found(s: &Shipment, c: &RuleConfig, now: f64) -> Vec<(Rule, Severity, DateTime<Utc>)> {
    evaluate(s, c, t(now))
        .into_iter()
        .map(|f| (f.rule, f.severity, f.since))
        .collect()
}

fn rules_at(s: &Shipment, c: &RuleConfig, now: f64) -> Vec<Rule> {
    evaluate(s, c, t(now)).into_iter().map(|f| f.rule).collect()
}

fn picked(h: f64) -> TrackingEvent {
    ev(h, Status::PickedUp, "已揽收")
}

const W: Severity = Severity::Warning;
const C: Severity = Severity::Critical;

#[test]
fn rule_names_round_trip() {
    for r in Rule::ALL {
        assert_eq!(Rule::parse(r.as_str()), Some(r));
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            format!("\"{}\"", r.as_str())
        );
    }
    assert_eq!(Rule::parse("STALLED"), Some(Rule::Stalled));
    assert_eq!(Rule::parse("stuck"), None);
}

#[test]
fn no_pickup_and_no_trace_on_an_empty_timeline() {
    let c = RuleConfig::default();
    let s = parcel("ZTO", vec![]);
    assert!(found(&s, &c, 23.99).is_empty());
    assert_eq!(
        found(&s, &c, 24.0),
        [(Rule::NoPickup, W, t(0.0)), (Rule::NoTrace, W, t(0.0))]
    );
}

#[test]
fn no_pickup_counts_from_shipped_at() {
    let c = RuleConfig::default();
    let mut s = parcel("ZTO", vec![ev(1.0, Status::Pending, "已下单，等待揽收")]);
    s.shipped_at = Some(t(5.0));
    assert!(!rules_at(&s, &c, 28.9).contains(&Rule::NoPickup));
    assert_eq!(found(&s, &c, 29.0), [(Rule::NoPickup, W, t(5.0))]);
    // The carrier knows the order, so no_trace does not hold.
    assert!(!rules_at(&s, &c, 100.0).contains(&Rule::NoTrace));
    // A pickup scan ends it.
    s.timeline.merge([picked(20.0)]);
    assert!(!rules_at(&s, &c, 30.0).contains(&Rule::NoPickup));
}

#[test]
fn stalled_warns_then_escalates() {
    let c = RuleConfig::default();
    let s = parcel(
        "ZTO",
        vec![picked(1.0), ev(10.0, Status::InTransit, "离开杭州")],
    );
    assert!(found(&s, &c, 57.99).is_empty());
    assert_eq!(found(&s, &c, 58.0), [(Rule::Stalled, W, t(10.0))]);
    assert_eq!(found(&s, &c, 105.99), [(Rule::Stalled, W, t(10.0))]);
    assert_eq!(found(&s, &c, 106.0), [(Rule::Stalled, C, t(10.0))]);
}

#[test]
fn stalled_override_per_carrier() {
    let mut c = RuleConfig::default();
    c.set_override(
        Rule::Stalled,
        CarrierCode::parse("EMS").unwrap(),
        hours(72.0),
    );
    let events = vec![picked(0.0)];
    let ems = parcel("EMS", events.clone());
    let zto = parcel("ZTO", events);
    assert!(found(&ems, &c, 71.0).is_empty());
    assert_eq!(found(&ems, &c, 72.0), [(Rule::Stalled, W, t(0.0))]);
    assert_eq!(found(&zto, &c, 48.0), [(Rule::Stalled, W, t(0.0))]);
    assert_eq!(found(&ems, &c, 96.0), [(Rule::Stalled, C, t(0.0))]);
}

#[test]
fn hub_dwell_starts_at_the_arrival_and_a_departure_ends_it() {
    let c = RuleConfig::default();
    let at_hub = parcel(
        "YTO",
        vec![
            picked(0.0),
            hub(5.0, "杭州转运中心"),
            hub(6.0, "杭州转运中心"),
        ],
    );
    assert!(found(&at_hub, &c, 28.9).is_empty());
    assert_eq!(found(&at_hub, &c, 29.0), [(Rule::HubDwell, W, t(5.0))]);
    // Both hub_dwell and stalled: findings never suppress each other.
    assert_eq!(
        found(&at_hub, &c, 54.0),
        [(Rule::Stalled, W, t(6.0)), (Rule::HubDwell, W, t(5.0))]
    );
    let mut departed = at_hub.clone();
    departed.timeline.merge([ev(
        7.0,
        Status::InTransit,
        "快件离开【杭州转运中心】已发往【上海】",
    )]);
    assert!(!rules_at(&departed, &c, 40.0).contains(&Rule::HubDwell));
    // A new hub starts a new dwell.
    let mut next_hub = at_hub.clone();
    next_hub.timeline.merge([hub(20.0, "上海分拨中心")]);
    assert_eq!(found(&next_hub, &c, 44.0), [(Rule::HubDwell, W, t(20.0))]);
}

#[test]
fn out_for_delivery_stuck() {
    let c = RuleConfig::default();
    let s = parcel(
        "SF",
        vec![
            picked(0.0),
            ev(30.0, Status::OutForDelivery, "派件中"),
            ev(31.0, Status::OutForDelivery, "正在第2次派件"),
        ],
    );
    assert!(found(&s, &c, 41.9).is_empty());
    assert_eq!(
        found(&s, &c, 42.0),
        [(Rule::OutForDeliveryStuck, W, t(30.0))]
    );
}

#[test]
fn locker_uncollected() {
    let c = RuleConfig::default();
    let s = parcel(
        "ZTO",
        vec![
            picked(0.0),
            ev(30.0, Status::AwaitingCollection, "已放入快递柜"),
            ev(50.0, Status::AwaitingCollection, "快件在驿站超时未取"),
        ],
    );
    assert!(found(&s, &c, 77.9).is_empty());
    assert_eq!(found(&s, &c, 78.0), [(Rule::LockerUncollected, W, t(30.0))]);
}

#[test]
fn event_rules_fire_immediately_with_the_first_event_of_the_run() {
    let c = RuleConfig::default();
    for (status, rule) in [
        (Status::DeliveryFailed, Rule::DeliveryFailed),
        (Status::Exception, Rule::Exception),
        (Status::Lost, Rule::Exception),
        (Status::Refused, Rule::Refused),
        (Status::Returning, Rule::Returned),
    ] {
        let s = parcel(
            "ZTO",
            vec![picked(0.0), ev(10.0, status, "a"), ev(11.0, status, "b")],
        );
        assert_eq!(
            found(&s, &c, 11.0).first().map(|f| (f.0, f.2)),
            Some((rule, t(10.0))),
            "{status:?}"
        );
    }
}

#[test]
fn event_rules_clear_when_the_parcel_moves_on() {
    let c = RuleConfig::default();
    let s = parcel(
        "ZTO",
        vec![
            picked(0.0),
            ev(10.0, Status::DeliveryFailed, "派送失败"),
            ev(20.0, Status::OutForDelivery, "重新派送"),
        ],
    );
    assert!(found(&s, &c, 21.0).is_empty());
}

#[test]
fn refusal_then_return_and_sticky_return_leg() {
    let c = RuleConfig::default();
    let mut s = parcel(
        "YD",
        vec![
            picked(0.0),
            ev(30.0, Status::OutForDelivery, "派件中"),
            ev(32.0, Status::Refused, "收件人拒收"),
        ],
    );
    assert_eq!(found(&s, &c, 32.0), [(Rule::Refused, W, t(32.0))]);
    s.timeline.merge([
        ev(34.0, Status::Returning, "快件已退回"),
        hub(40.0, "杭州转运中心"),
    ]);
    // The hub scan on the way back is still part of the return.
    assert_eq!(s.timeline.current_status(), Status::Returning);
    let f = found(&s, &c, 41.0);
    assert!(f.contains(&(Rule::Returned, W, t(34.0))), "{f:?}");
    // A signature on the way back means returned to sender: terminal, still `returned`.
    s.timeline.merge([ev(60.0, Status::Delivered, "已签收")]);
    assert_eq!(s.timeline.current_status(), Status::Returned);
    assert_eq!(found(&s, &c, 500.0), [(Rule::Returned, W, t(34.0))]);
}

fn past(s: &Shipment, c: &RuleConfig) -> Vec<(Rule, DateTime<Utc>, DateTime<Utc>)> {
    past_events(s, c)
        .into_iter()
        .map(|p| (p.rule, p.since, p.until))
        .collect()
}

#[test]
fn superseded_problems_are_past_events_with_their_span() {
    let c = RuleConfig::default();
    let s = parcel(
        "YD",
        vec![
            picked(0.0),
            ev(30.0, Status::OutForDelivery, "派件中"),
            ev(32.0, Status::Refused, "收件人拒收"),
            ev(32.5, Status::Refused, "收件人拒收，退回"),
            ev(35.0, Status::Returning, "快件已退回"),
        ],
    );
    // The refusal is no longer the newest trace: not a finding, but a past event
    // from its first trace to the return.
    assert!(!rules_at(&s, &c, 36.0).contains(&Rule::Refused));
    assert_eq!(past(&s, &c), [(Rule::Refused, t(32.0), t(35.0))]);
    // The return still holds: a finding, not a past event.
    assert!(rules_at(&s, &c, 36.0).contains(&Rule::Returned));
}

#[test]
fn only_the_newest_run_of_each_event_rule_is_a_past_event() {
    let c = RuleConfig::default();
    let s = parcel(
        "ZTO",
        vec![
            picked(0.0),
            ev(10.0, Status::DeliveryFailed, "派送失败"),
            ev(20.0, Status::OutForDelivery, "重新派送"),
            ev(22.0, Status::DeliveryFailed, "电话无人接听"),
            ev(23.0, Status::Exception, "地址不详"),
            ev(30.0, Status::Delivered, "已签收"),
        ],
    );
    assert_eq!(
        past(&s, &c),
        [
            (Rule::DeliveryFailed, t(22.0), t(23.0)),
            (Rule::Exception, t(23.0), t(30.0)),
        ]
    );
    // A problem that is still the newest trace is not past.
    let now = parcel("ZTO", vec![picked(0.0), ev(5.0, Status::Exception, "破损")]);
    assert!(past(&now, &c).is_empty());
}

#[test]
fn a_past_event_must_have_outlasted_its_threshold_and_be_enabled() {
    let mut c = RuleConfig::default();
    let sf = CarrierCode::parse("SF").unwrap();
    c.set_override(Rule::DeliveryFailed, sf, hours(6.0));
    let retried = |until: f64| {
        parcel(
            "SF",
            vec![
                picked(0.0),
                ev(10.0, Status::DeliveryFailed, "派送失败"),
                ev(until, Status::OutForDelivery, "重新派送"),
            ],
        )
    };
    // Retried within 6 hours: the rule never held. Exactly 6 hours: it never had
    // (the condition ends at the instant it would fire).
    assert!(past(&retried(15.0), &c).is_empty());
    assert!(past(&retried(16.0), &c).is_empty());
    assert_eq!(
        past(&retried(17.0), &c),
        [(Rule::DeliveryFailed, t(10.0), t(17.0))]
    );
    c.set_enabled(Rule::DeliveryFailed, false);
    assert!(past(&retried(17.0), &c).is_empty());
}

#[test]
fn late_fires_at_promised_at_unless_delivered() {
    let c = RuleConfig::default();
    let mut s = parcel(
        "JD",
        vec![picked(0.0), ev(10.0, Status::InTransit, "运输中")],
    );
    s.promised_at = Some(t(30.0));
    assert!(found(&s, &c, 29.9).is_empty());
    assert_eq!(found(&s, &c, 30.0), [(Rule::Late, W, t(30.0))]);
    s.timeline.merge([ev(35.0, Status::Delivered, "已签收")]);
    assert!(found(&s, &c, 40.0).is_empty());
}

#[test]
fn terminal_parcels_have_no_time_based_findings() {
    let c = RuleConfig::default();
    let mut s = parcel(
        "ZTO",
        vec![picked(0.0), ev(20.0, Status::Delivered, "已签收")],
    );
    s.promised_at = Some(t(10.0));
    assert!(found(&s, &c, 1000.0).is_empty());
    let lost = parcel("ZTO", vec![picked(0.0), ev(20.0, Status::Lost, "快件遗失")]);
    assert_eq!(found(&lost, &c, 1000.0), [(Rule::Exception, W, t(20.0))]);
}

#[test]
fn disabled_rules_never_fire() {
    let mut c = RuleConfig::default();
    c.set_enabled(Rule::Stalled, false);
    c.set_enabled(Rule::NoTrace, false);
    let s = parcel("ZTO", vec![]);
    assert_eq!(rules_at(&s, &c, 100.0), [Rule::NoPickup]);
    let moving = parcel("ZTO", vec![picked(0.0)]);
    assert!(found(&moving, &c, 1000.0).is_empty());
}

#[test]
fn event_rule_delay_by_override() {
    let mut c = RuleConfig::default();
    c.set_override(
        Rule::DeliveryFailed,
        CarrierCode::parse("SF").unwrap(),
        hours(6.0),
    );
    let s = parcel(
        "SF",
        vec![picked(0.0), ev(10.0, Status::DeliveryFailed, "派送失败")],
    );
    assert!(found(&s, &c, 15.9).is_empty());
    assert_eq!(found(&s, &c, 16.0), [(Rule::DeliveryFailed, W, t(10.0))]);
}

#[test]
fn next_deadline_is_the_earliest_pending_threshold() {
    let c = RuleConfig::default();
    let mut s = parcel("ZTO", vec![picked(0.0), hub(5.0, "杭州转运中心")]);
    s.promised_at = Some(t(100.0));
    assert_eq!(next_deadline(&s, &c, t(6.0)), Some(t(29.0)));
    assert_eq!(next_deadline(&s, &c, t(29.0)), Some(t(53.0)));
    assert_eq!(next_deadline(&s, &c, t(53.0)), Some(t(100.0)));
    assert_eq!(next_deadline(&s, &c, t(100.0)), Some(t(101.0)));
    assert_eq!(next_deadline(&s, &c, t(101.0)), None);
}

fn arb_status() -> impl Strategy<Value = Status> {
    proptest::sample::select(Status::ALL.to_vec())
}

fn arb_events() -> impl Strategy<Value = Vec<TrackingEvent>> {
    proptest::collection::vec(
        (0u32..200, arb_status(), 0u8..4, proptest::bool::ANY),
        0..12,
    )
    .prop_map(|v| {
        v.into_iter()
            .map(|(h, st, text, at_hub)| TrackingEvent {
                hub: at_hub.then(|| format!("hub{}", text % 2)),
                ..ev(f64::from(h), st, &format!("t{text}"))
            })
            .collect()
    })
}

proptest! {
    /// With no new trace, time only adds findings (or escalates them): a finding at
    /// `now` is still there later, with the same since.
    #[test]
    fn findings_are_monotonic_in_time(events in arb_events(), a in 0u32..400, b in 0u32..400) {
        let c = RuleConfig::default();
        let s = parcel("ZTO", events);
        let (early, late) = (a.min(b), a.max(b));
        let later = evaluate(&s, &c, t(f64::from(late)));
        for f in evaluate(&s, &c, t(f64::from(early))) {
            prop_assert!(later.iter().any(|g| g.rule == f.rule && g.since == f.since && g.severity >= f.severity));
        }
    }

    /// The deadline is exactly when the next finding appears.
    #[test]
    fn next_deadline_predicts_the_next_finding(events in arb_events(), now in 0u32..300) {
        let c = RuleConfig::default();
        let s = parcel("ZTO", events);
        let now = t(f64::from(now));
        let before = evaluate(&s, &c, now);
        if let Some(d) = next_deadline(&s, &c, now) {
            prop_assert!(d > now);
            let just_before = evaluate(&s, &c, d - Duration::seconds(1));
            prop_assert_eq!(&just_before, &before);
            prop_assert_ne!(evaluate(&s, &c, d), before);
        } else {
            prop_assert_eq!(evaluate(&s, &c, now + Duration::days(3650)), before);
        }
    }

    /// Terminal parcels only ever carry event findings.
    #[test]
    fn terminal_means_no_time_findings(events in arb_events(), now in 0u32..1000) {
        let s = parcel("ZTO", events);
        if s.timeline.current_status().is_terminal() {
            for f in evaluate(&s, &RuleConfig::default(), t(f64::from(now))) {
                prop_assert!(f.rule.is_event_rule(), "{:?}", f);
            }
        }
    }
}
