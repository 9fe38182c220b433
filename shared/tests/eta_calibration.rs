//! The estimated delivery recalibrated by what deliveries taught (issue 17 §2),
//! through the tracker and the in-memory store: a lane learned from 400 fast
//! parcels; then parcels that all take twice as long are delivered through the
//! tracker, each telling (its `eta_pit`) that the lane's estimates came too
//! early; the carrier's calibration learns it, and the next parcel's p90 moves
//! out past what the lane's sketch alone says, and its chance of delivery by a
//! given time comes down.

use chrono::{DateTime, Duration, Utc};

use shared::calibration::{Calibration, MIN_PITS, PER_PARCEL};
use shared::config::Settings;
use shared::domain::{Shipment, ShipmentId, Status, TrackingEvent};
use shared::lanes::{LaneKey, LaneView};
use shared::places::Place;
use shared::ports::{CarrierReply, ShipmentReader, ShipmentWriter};
use shared::registration::register;
use shared::store::memory::MemoryStore;
use shared::tracker::Tracker;

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-02T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

fn scan(h: f64, status: Status, text: &str) -> TrackingEvent {
    TrackingEvent::new(t(h), status, text)
}

/// A Hangzhou → Shanghai parcel's scans, its whole way taking `hours`.
fn journey(start: f64, hours: f64) -> Vec<TrackingEvent> {
    vec![
        scan(
            start + 1.0,
            Status::PickedUp,
            "【杭州市】浙江杭州余杭公司 已揽收",
        ),
        scan(
            start + 0.2 * hours,
            Status::InTransit,
            "快件离开【杭州转运中心】已发往【上海转运中心】",
        ),
        scan(
            start + 0.7 * hours,
            Status::ArrivedAtDestinationCity,
            "快件已到达【上海浦东营业部】",
        ),
        scan(
            start + 0.9 * hours,
            Status::OutForDelivery,
            "【上海市】快递员正在派件",
        ),
        scan(start + hours, Status::Delivered, "已签收，签收人：本人"),
    ]
}

fn parcel(i: u32, start: f64) -> Shipment {
    let mut s = Shipment::new(
        ShipmentId::parse("ZTO", &format!("7531234{i:07}")).unwrap(),
        t(start),
    );
    s.shipped_at = Some(t(start));
    s.origin = Place::parse("杭州");
    s.destination = Place::parse("上海");
    s
}

#[tokio::test]
async fn deliveries_later_than_estimated_move_the_p90_out() {
    let store = MemoryStore::new();
    // The lane learns from 400 parcels delivered in 20 to 26 hours.
    for i in 0..400 {
        let start = -150.0 + f64::from(i) / 10.0;
        let mut s = parcel(i, start);
        s.timeline.merge(journey(start, 20.0 + f64::from(i % 7)));
        s.status = Status::Delivered;
        s.next_check_at = None;
        store.put_shipment(&s).await.unwrap();
    }
    // Then 40 parcels take 50 hours each, delivered through the tracker (push);
    // the lane learns them too, but they are one in eleven of what it knows.
    let settings = Settings::default();
    let tracker = Tracker::for_pushes(&store, &settings);
    let mut pits = Vec::new();
    for i in 0..40 {
        let start = -120.0 + f64::from(i);
        let s = parcel(1000 + i, start);
        register(&store, &s).await.unwrap();
        let reply = CarrierReply {
            carrier: Some(s.id.carrier.clone()),
            tracking_number: Some(s.id.tracking_number.to_string()),
            events: journey(start, 50.0),
            ..CarrierReply::default()
        };
        tracker.ingest(&reply, t(start + 51.0)).await.unwrap();
        let stored = store.get_shipment(&s.id).await.unwrap().unwrap();
        // Each tells how the estimates fared: too early, so the chance given
        // of delivery by the time it came was high.
        assert_eq!(stored.eta_pit.len(), PER_PARCEL as usize, "{i}");
        pits.extend(stored.eta_pit);
    }
    let high = pits.iter().filter(|p| **p >= 90).count();
    assert!(high * 2 >= pits.len(), "{pits:?}");
    // 40 × 12 PITs learned at the carrier level only.
    let newcomer = parcel(5000, 0.0);
    let view = LaneView::load(&store, &newcomer, t(0.0)).await.unwrap();
    let carrier = view
        .levels
        .iter()
        .find(|(k, _)| matches!(k, LaneKey::Carrier(_)))
        .unwrap();
    assert_eq!(carrier.1.calibration.total(), 40 * i64::from(PER_PARCEL));
    assert!(carrier.1.calibration.total() >= MIN_PITS);
    for (key, stats) in &view.levels {
        if !matches!(key, LaneKey::Carrier(_)) {
            assert_eq!(stats.calibration.total(), 0, "{key:?}");
        }
    }
    let (p50, p90) = view.calibrated_levels();
    assert!(p90 > 0.95, "{p90}");
    assert!(p50 > 0.5, "{p50}");

    // The same view without what the deliveries taught.
    let mut raw = view.clone();
    for (_, stats) in raw.levels.iter_mut() {
        std::sync::Arc::make_mut(stats).calibration = Calibration::default();
    }
    assert_eq!(raw.calibrated_levels(), (0.5, 0.9));
    let calibrated = view.eta(&newcomer, t(0.0)).unwrap();
    let nominal = raw.eta(&newcomer, t(0.0)).unwrap();
    assert!(
        calibrated.p90 > nominal.p90 + Duration::hours(12),
        "{} vs {}",
        calibrated.p90,
        nominal.p90
    );
    assert!(calibrated.p50 > nominal.p50);
    let by = nominal.p50;
    let p_cal = view.p_delivered_by(&newcomer, by, t(0.0)).unwrap();
    let p_raw = view.raw_p_delivered_by(&newcomer, by, t(0.0)).unwrap();
    assert!((p_raw - raw.p_delivered_by(&newcomer, by, t(0.0)).unwrap()).abs() < 1e-12);
    assert!(p_cal < p_raw - 0.1, "{p_cal} vs {p_raw}");
}

#[tokio::test]
async fn a_parcel_not_delivered_tells_nothing() {
    let store = MemoryStore::new();
    let settings = Settings::default();
    let tracker = Tracker::for_pushes(&store, &settings);
    let s = parcel(1, 0.0);
    register(&store, &s).await.unwrap();
    let mut events = journey(0.0, 30.0);
    events.pop();
    let reply = CarrierReply {
        carrier: Some(s.id.carrier.clone()),
        tracking_number: Some(s.id.tracking_number.to_string()),
        events,
        ..CarrierReply::default()
    };
    tracker.ingest(&reply, t(29.0)).await.unwrap();
    let stored = store.get_shipment(&s.id).await.unwrap().unwrap();
    assert!(stored.eta_pit.is_empty());
}
