//! The tracker under duplicate delivery, racing instances and carrier failures.

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::{DateTime, Duration, Utc};

use sentinel_sqlite::SqliteStore;
use shared::config::Settings;
use shared::domain::AlertKind;
use shared::domain::Rule;
use shared::domain::{Shipment, ShipmentId, Status, TrackingEvent};
use shared::ports::{AlertLog, ShipmentReader};
use shared::ports::{CarrierError, CarrierQuery, CarrierReply};
use shared::registration::register;
use shared::tracker::Tracker;

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

/// A carrier with a fixed history; optionally failing; optionally waiting until
/// `rendezvous` callers are inside `query` at once (to force a race).
struct Scripted {
    events: Vec<TrackingEvent>,
    fail: Option<CarrierError>,
    rendezvous: usize,
    inside: AtomicUsize,
    calls: AtomicUsize,
}

impl Scripted {
    fn new(events: Vec<TrackingEvent>) -> Self {
        Self {
            events,
            fail: None,
            rendezvous: 1,
            inside: AtomicUsize::new(0),
            calls: AtomicUsize::new(0),
        }
    }
}

impl CarrierQuery for Scripted {
    fn name(&self) -> &str {
        "scripted"
    }

    async fn query(&self, _s: &Shipment) -> Result<CarrierReply, CarrierError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inside.fetch_add(1, Ordering::SeqCst);
        while self.inside.load(Ordering::SeqCst) < self.rendezvous {
            tokio::task::yield_now().await;
        }
        match &self.fail {
            Some(e) => Err(e.clone()),
            None => Ok(CarrierReply {
                events: self.events.clone(),
                ..CarrierReply::default()
            }),
        }
    }
}

fn picked_up_at(h: f64) -> Vec<TrackingEvent> {
    vec![TrackingEvent {
        at: t(h),
        text: "【杭州市】快件已揽收".into(),
        location: None,
        code: Some("1".into()),
        status: Status::PickedUp,
        hub: None,
    }]
}

async fn stored(store: &SqliteStore) -> Shipment {
    let id = ShipmentId::parse("ZTO", "75312345678").unwrap();
    store.get_shipment(&id).await.unwrap().unwrap()
}

async fn new_store() -> (tempfile::TempDir, SqliteStore, ShipmentId) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("t.db")).unwrap();
    let id = ShipmentId::parse("ZTO", "75312345678").unwrap();
    register(&store, &Shipment::new(id.clone(), t(0.0)))
        .await
        .unwrap();
    (dir, store, id)
}

#[tokio::test]
async fn a_duplicate_delivery_does_nothing() {
    let (_d, store, id) = new_store().await;
    let carrier = Scripted::new(picked_up_at(1.0));
    let settings = Settings::default();
    let tracker = Tracker::new(&store, &carrier, &settings);
    // Stalled is due at 49 h: force the check then.
    let first = tracker.check(&id, t(49.0)).await.unwrap();
    assert!(first.processed && first.written);
    assert_eq!(first.notifications.len(), 1);
    assert_eq!(first.notifications[0].record.rule, Rule::Stalled);
    let again = tracker.check(&id, t(49.0)).await.unwrap();
    assert!(!again.processed, "not due any more: a retry is a no-op");
    assert!(again.notifications.is_empty());
    assert_eq!(carrier.calls.load(Ordering::SeqCst), 1);
    assert_eq!(store.alerts_for(&id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn racing_trackers_notify_exactly_once() {
    let (_d, store, id) = new_store().await;
    let mut carrier = Scripted::new(picked_up_at(1.0));
    carrier.rendezvous = 2;
    let settings = Settings::default();
    let a = Tracker::new(&store, &carrier, &settings);
    let b = Tracker::new(&store, &carrier, &settings);
    let (ra, rb) = tokio::join!(a.check(&id, t(49.0)), b.check(&id, t(49.0)));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(carrier.calls.load(Ordering::SeqCst), 2, "both queried");
    let notes = ra.notifications.len() + rb.notifications.len();
    assert_eq!(notes, 1, "exactly one notification: {ra:?} {rb:?}");
    assert_eq!(
        u8::from(ra.written) + u8::from(rb.written),
        1,
        "one write won"
    );
    let s = stored(&store).await;
    assert_eq!(s.version, 2, "registered (1) + one check (2)");
    assert_eq!(store.alerts_for(&id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_failing_carrier_keeps_the_last_good_state_and_rules_still_fire() {
    let (_d, store, id) = new_store().await;
    let settings = Settings::default();
    let good = Scripted::new(picked_up_at(1.0));
    Tracker::new(&store, &good, &settings)
        .check(&id, t(2.0))
        .await
        .unwrap();
    let before = stored(&store).await;
    assert_eq!(before.status, Status::PickedUp);

    let mut bad = Scripted::new(vec![]);
    bad.fail = Some(CarrierError::Transient("HTTP 502".into()));
    let tracker = Tracker::new(&store, &bad, &settings);
    let o = tracker
        .check(&id, before.next_check_at.unwrap())
        .await
        .unwrap();
    assert_eq!(
        o.query_error,
        Some(CarrierError::Transient("HTTP 502".into()))
    );
    let after = stored(&store).await;
    assert_eq!(after.timeline, before.timeline, "last good timeline kept");
    assert_eq!(after.consecutive_errors, 1);
    assert_eq!(
        after.last_error.as_deref(),
        Some("transient provider failure: HTTP 502")
    );
    // Retried after the backoff, not dropped.
    let retry = after.next_check_at.expect("still scheduled");
    assert_eq!(retry - before.next_check_at.unwrap(), Duration::minutes(10));

    // Even while the carrier keeps failing, the stall is detected on time.
    // (`slow_lane` would come first on a lane that had learned its gaps.)
    let mut now = retry;
    let mut fired = None;
    let mut slow = None;
    while now <= t(60.0) {
        let o = tracker.check(&id, now).await.unwrap();
        for n in &o.notifications {
            match n.record.rule {
                Rule::SlowLane => slow = Some(now),
                _ => fired = Some((n.record.rule, n.record.kind, now)),
            }
        }
        if fired.is_some() {
            break;
        }
        now = stored(&store).await.next_check_at.unwrap();
    }
    assert_eq!(
        slow, None,
        "nothing learned about the lane: slow_lane is quiet"
    );
    let (rule, kind, at) = fired.expect("stalled fired despite the outage");
    assert_eq!((rule, kind), (Rule::Stalled, AlertKind::Fired));
    assert!(
        at >= t(49.0) && at <= t(49.0) + Duration::minutes(1),
        "{at}"
    );
}
