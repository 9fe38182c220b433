//! The lane rules through the tracker (poll mode, the in-memory store): a lane
//! learns its gaps from delivered parcels and the schedule wakes a parcel at
//! `slow_lane`'s deadline; a lane that has learned nothing keeps `slow_lane`
//! quiet; `predicted_late` is told once, well before a promise the lane cannot
//! keep, with a `since` that stays put across checks.

use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use shared::config::Settings;
use shared::domain::{AlertKind, Notification, Rule, Shipment, ShipmentId, Status, TrackingEvent};
use shared::lane_rules::{samples_for, GUARD_BUCKETS};
use shared::lanes::{LaneView, Stage};
use shared::places::Place;
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, ShipmentWriter};
use shared::registration::register;
use shared::rules::PerCarrier;
use shared::sketch::PER_DOUBLING;
use shared::store::memory::MemoryStore;
use shared::tracker::Tracker;

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-06T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

fn scan(h: f64, status: Status, text: &str) -> TrackingEvent {
    TrackingEvent::new(t(h), status, text)
}

/// A provider that reports each scan once its time has come.
struct Carrier {
    events: Vec<TrackingEvent>,
    now: Mutex<DateTime<Utc>>,
}

impl CarrierQuery for Carrier {
    fn name(&self) -> &str {
        "fake"
    }

    async fn query(&self, _: &Shipment) -> Result<CarrierReply, CarrierError> {
        let now = *self.now.lock().unwrap();
        Ok(CarrierReply {
            events: self
                .events
                .iter()
                .filter(|e| e.at <= now)
                .cloned()
                .collect(),
            ..CarrierReply::default()
        })
    }
}

/// Registers `shipment`, then runs the scheduler's 5-minute ticks up to `until`
/// hours: every notification claimed, with the tick it came at.
async fn run(
    store: MemoryStore,
    settings: Settings,
    shipment: Shipment,
    events: Vec<TrackingEvent>,
    until: f64,
) -> (MemoryStore, Vec<(DateTime<Utc>, Notification)>) {
    register(&store, &shipment).await.unwrap();
    let carrier = Carrier {
        events,
        now: Mutex::new(t(0.0)),
    };
    let tracker = Tracker::new(&store, &carrier, &settings);
    let mut told = Vec::new();
    let mut now = t(0.0);
    while now <= t(until) {
        *carrier.now.lock().unwrap() = now;
        let outcome = tracker.check(&shipment.id, now).await.unwrap();
        told.extend(outcome.notifications.into_iter().map(|n| (now, n)));
        now += Duration::minutes(5);
    }
    (store, told)
}

fn fired(
    told: &[(DateTime<Utc>, Notification)],
    rule: Rule,
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    told.iter()
        .filter(|(_, n)| n.record.rule == rule && n.record.kind == AlertKind::Fired)
        .map(|(at, n)| (*at, n.record.since))
        .collect()
}

fn parcel(number: &str, origin: &str, destination: &str) -> Shipment {
    let mut s = Shipment::new(ShipmentId::parse("ZTO", number).unwrap(), t(0.0));
    s.shipped_at = Some(t(0.0));
    s.origin = Place::parse(origin);
    s.destination = Place::parse(destination);
    assert!(s.origin.is_some() && s.destination.is_some());
    s
}

/// A store whose Hangzhou lane has learned from `n` ZTO parcels delivered the
/// week before: picked up, three line-haul scans 1.5 to 4 h apart, delivered.
async fn learned(n: u32) -> MemoryStore {
    let store = MemoryStore::new();
    for i in 0..n {
        let start = -150.0 + f64::from(i);
        let mut s = parcel(&format!("7531234560{i:04}"), "杭州", "杭州");
        s.registered_at = t(start);
        s.shipped_at = Some(t(start));
        let gap = 1.5 + 2.5 * f64::from(i % 11) / 10.0;
        s.timeline.merge(vec![
            scan(
                start + 1.0,
                Status::PickedUp,
                "【杭州市】浙江杭州余杭公司 已揽收",
            ),
            scan(
                start + 2.0,
                Status::InTransit,
                "快件离开【杭州转运中心】已发往【杭州滨江】",
            ),
            scan(start + 2.0 + gap, Status::InTransit, "快件到达【杭州滨江】"),
            scan(
                start + 2.0 + 2.0 * gap,
                Status::InTransit,
                "快件离开【杭州滨江】",
            ),
            scan(
                start + 2.0 + 3.0 * gap,
                Status::ArrivedAtDestinationCity,
                "快件已到达【杭州滨江营业部】",
            ),
            scan(
                start + 4.0 + 3.0 * gap,
                Status::OutForDelivery,
                "【杭州市】快递员正在派件",
            ),
            scan(
                start + 6.0 + 3.0 * gap,
                Status::Delivered,
                "已签收，签收人：本人",
            ),
        ]);
        s.status = Status::Delivered;
        s.next_check_at = None;
        store.put_shipment(&s).await.unwrap();
    }
    store
}

#[tokio::test]
async fn slow_lane_wakes_the_parcel_at_its_lanes_usual_gap_and_stalled_follows() {
    // Within Hangzhou, where line-haul scans come every few hours: a silence of
    // most of a day is unusual long before `stalled`'s 48 h.
    let s = parcel("75312345678901", "杭州", "杭州");
    let events = vec![
        scan(1.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
        scan(
            3.0,
            Status::InTransit,
            "快件离开【杭州转运中心】已发往【杭州滨江】",
        ),
    ];
    let mut settings = Settings::default();
    settings.rules.slow_lane_quantile = PerCarrier::of(0.9);
    settings
        .rules
        .set_threshold(Rule::SlowLane, Duration::hours(1));
    let store = learned(60).await;
    // What the lane learned: its p90 line-haul gap, and the guard of two sketch
    // buckets beyond it.
    let view = LaneView::load(&store, &s, t(0.0)).await.unwrap();
    let (gaps, source) = view
        .learned_gaps(Stage::LineHaul, samples_for(0.9))
        .expect("the city lane has learned its gaps");
    assert_eq!(source.lane.as_deref(), Some("ZTO 杭州→杭州"));
    let usual = gaps.inverse(0.9).unwrap() * (GUARD_BUCKETS / PER_DOUBLING).exp2();
    let limit = Duration::seconds((usual * 60.0) as i64);
    assert!(
        limit > Duration::hours(3) && limit < Duration::hours(6),
        "{limit}"
    );

    let (_, told) = run(store, settings, s.clone(), events, 60.0).await;
    let slow = fired(&told, Rule::SlowLane);
    assert_eq!(slow.len(), 1, "{told:?}");
    let (at, since) = slow[0];
    assert_eq!(since, t(3.0));
    // Told at the first tick after its deadline: the schedule woke the parcel.
    assert!(
        at >= t(3.0) + limit && at < t(3.0) + limit + Duration::minutes(10),
        "{at}"
    );
    // `stalled` still comes at 48 h, on its own.
    let stalled = fired(&told, Rule::Stalled);
    assert_eq!(stalled.len(), 1);
    assert!(stalled[0].0 >= t(51.0) && stalled[0].0 < t(51.2));
}

#[tokio::test]
async fn slow_lane_stays_quiet_on_a_lane_that_has_learned_nothing() {
    let s = parcel("75312345678904", "杭州", "杭州");
    let events = vec![scan(
        1.0,
        Status::PickedUp,
        "【杭州市】浙江杭州余杭公司 已揽收",
    )];
    let (_, told) = run(MemoryStore::new(), Settings::default(), s, events, 30.0).await;
    assert!(fired(&told, Rule::SlowLane).is_empty(), "{told:?}");
}

#[tokio::test]
async fn predicted_late_is_told_once_long_before_a_promise_the_lane_cannot_keep() {
    // Hangzhou to Urumqi takes days; promised within a day and a half.
    let mut s = parcel("75312345678902", "杭州", "乌鲁木齐");
    s.promised_at = Some(t(36.0));
    let events = vec![
        scan(2.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
        scan(
            6.0,
            Status::InTransit,
            "快件离开【杭州转运中心】已发往【乌鲁木齐转运中心】",
        ),
        scan(20.0, Status::InTransit, "快件到达【西安转运中心】"),
    ];
    let (_, told) = run(MemoryStore::new(), Settings::default(), s, events, 40.0).await;
    let predicted = fired(&told, Rule::PredictedLate);
    assert_eq!(
        predicted.len(),
        1,
        "one episode across every check: {told:?}"
    );
    let (at, since) = predicted[0];
    assert!(at <= t(36.0) - Duration::hours(24), "told at {at}");
    assert!(since <= at);
    // No resolution while it stays unlikely, and `late` at the promise.
    assert!(
        !told
            .iter()
            .any(|(_, n)| n.record.rule == Rule::PredictedLate
                && n.record.kind == AlertKind::Resolved)
    );
    let late = fired(&told, Rule::Late);
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].1, t(36.0));
}

#[tokio::test]
async fn a_promise_the_lane_keeps_raises_nothing() {
    let mut s = parcel("75312345678903", "杭州", "杭州");
    s.promised_at = Some(t(72.0));
    let events = vec![
        scan(1.0, Status::PickedUp, "【杭州市】浙江杭州余杭公司 已揽收"),
        scan(
            3.0,
            Status::InTransit,
            "快件离开【杭州转运中心】已发往【杭州滨江】",
        ),
        scan(
            9.0,
            Status::ArrivedAtDestinationCity,
            "快件已到达【杭州滨江营业部】",
        ),
        scan(10.0, Status::OutForDelivery, "【杭州市】快递员正在派件"),
        scan(13.0, Status::Delivered, "已签收，签收人：本人"),
    ];
    let (_, told) = run(MemoryStore::new(), Settings::default(), s, events, 20.0).await;
    assert!(told.is_empty(), "{told:?}");
}
