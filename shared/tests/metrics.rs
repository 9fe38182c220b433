//! What the tracker counts (`shared::metrics`), read through an in-memory
//! recorder installed on the test's thread: a parcel processed counts once, each
//! provider query once by provider and carrier (a failed one as an error too), each
//! ops alert the check claimed once by rule and severity — and a resolution, a
//! customer notice, a parcel not due or unknown count nothing. The outbox's age is
//! that of the oldest notification free to deliver.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use shared::config::Settings;
use shared::domain::{
    AlertKind, AlertRecord, Phone, Rule, Severity, Shipment, ShipmentId, Status, TrackingEvent,
};
use shared::metrics::Capture;
use shared::outbox::oldest_pending_age;
use shared::ports::{AlertLog, CarrierError, CarrierQuery, CarrierReply, Lease};
use shared::ports::{ShipmentReader, ShipmentWriter};
use shared::registration::register;
use shared::store::memory::MemoryStore;
use shared::tracker::Tracker;

fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

fn scan(h: f64, status: Status) -> TrackingEvent {
    TrackingEvent {
        at: t(h),
        text: format!("【杭州市】快件扫描 {h}"),
        location: None,
        code: None,
        status,
        hub: None,
    }
}

/// A provider whose history the test edits, and which can be made to fail.
#[derive(Default)]
struct Carrier {
    events: Mutex<Vec<TrackingEvent>>,
    down: AtomicBool,
}

impl CarrierQuery for Carrier {
    fn name(&self) -> &str {
        "fake"
    }

    async fn query(&self, _: &Shipment) -> Result<CarrierReply, CarrierError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(CarrierError::Transient("HTTP 502".into()));
        }
        Ok(CarrierReply {
            events: self.events.lock().unwrap().clone(),
            ..CarrierReply::default()
        })
    }
}

/// Runs `work` on a current-thread runtime with `capture` as this thread's
/// recorder, so everything the work counts lands in it.
fn counting<F: Future>(capture: &Capture, work: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    metrics::with_local_recorder(capture, || rt.block_on(work))
}

fn expected(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

#[test]
fn the_tracker_counts_parcels_queries_errors_and_ops_alerts() {
    let settings = Settings::from_lookup(|k| match k {
        "CUSTOMER_NOTICE_RULES" => Some("stalled".to_string()),
        "QUIET_HOURS" => Some("off".to_string()),
        "STALLED_HOURS" => Some("48".to_string()),
        _ => None,
    })
    .unwrap();
    let store = MemoryStore::new();
    let carrier = Carrier::default();
    let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
    let capture = Capture::new();
    let kinds = counting(&capture, async {
        let mut s = Shipment::new(id.clone(), t(0.0));
        s.phone = Some(Phone::parse("13812345678").unwrap());
        register(&store, &s).await.unwrap();
        let tracker = Tracker::new(&store, &carrier, &settings);
        // Checks the parcel at hour `h` (made due then).
        let check = |h: f64| {
            let (store, tracker, id) = (&store, &tracker, &id);
            async move {
                let mut s = store.get_shipment(id).await.unwrap().unwrap();
                s.next_check_at = Some(t(h));
                store.put_shipment(&s).await.unwrap();
                let o = tracker.check(id, t(h)).await.unwrap();
                assert!(o.processed, "hour {h}");
                o.notifications
                    .iter()
                    .map(|n| (n.record.rule, n.record.kind))
                    .collect::<Vec<_>>()
            }
        };
        let mut kinds = Vec::new();
        carrier
            .events
            .lock()
            .unwrap()
            .push(scan(1.0, Status::PickedUp));
        kinds.extend(check(2.0).await);
        // 48 h without news: an ops alert, and a notice to the recipient.
        kinds.extend(check(49.0).await);
        // The provider fails: an error, the parcel keeps its state.
        carrier.down.store(true, Ordering::SeqCst);
        kinds.extend(check(50.0).await);
        carrier.down.store(false, Ordering::SeqCst);
        // The parcel moves: the alert is resolved.
        carrier
            .events
            .lock()
            .unwrap()
            .push(scan(60.0, Status::InTransit));
        kinds.extend(check(61.0).await);

        // Not due, and unknown: not processed, nothing queried.
        let mut s = store.get_shipment(&id).await.unwrap().unwrap();
        s.next_check_at = Some(t(100.0));
        store.put_shipment(&s).await.unwrap();
        assert!(!tracker.check(&id, t(62.0)).await.unwrap().processed);
        let stranger = ShipmentId::parse("SF", "SF1234567890123").unwrap();
        assert!(!tracker.check(&stranger, t(62.0)).await.unwrap().processed);

        // A push with news: processed, but no provider was queried.
        let pushed = CarrierReply {
            carrier: Some(id.carrier.clone()),
            tracking_number: Some(id.tracking_number.as_str().to_string()),
            events: vec![scan(63.0, Status::InTransit)],
            ..CarrierReply::default()
        };
        let push = Tracker::for_pushes(&store, &settings);
        assert!(push.ingest(&pushed, t(64.0)).await.unwrap().processed);
        kinds
    });
    assert_eq!(
        kinds,
        [
            (Rule::Stalled, AlertKind::Fired),
            (Rule::Stalled, AlertKind::Notice),
            (Rule::Stalled, AlertKind::Resolved),
        ],
        "the checks claimed what this test expects to count"
    );
    assert_eq!(
        capture.counters(),
        expected(&[
            ("ParcelsChecked", 5),
            ("CarrierQueries", 4),
            ("CarrierQueries{Provider=fake,Carrier=ZTO}", 4),
            ("CarrierErrors", 1),
            ("CarrierErrors{Provider=fake,Carrier=ZTO}", 1),
            // The fired alert only: not its notice, not its resolution.
            ("Alerts", 1),
            ("Alerts{Rule=stalled,Severity=warning}", 1),
        ])
    );
    assert!(capture.gauges().is_empty());
}

#[test]
fn the_outbox_age_is_that_of_the_oldest_notification_free_to_deliver() {
    let store = MemoryStore::new();
    let id = ShipmentId::parse("ZTO", "75312345678901").unwrap();
    let record = |at: f64, hold: Option<f64>| AlertRecord {
        shipment: id.clone(),
        rule: Rule::NoTrace,
        since: t(0.0),
        kind: if hold.is_some() {
            AlertKind::Notice
        } else {
            AlertKind::Fired
        },
        seq: at as u32,
        severity: Severity::Warning,
        at: t(at),
        hold_until: hold.map(t),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        assert_eq!(
            oldest_pending_age(&store, t(10.0)).await.unwrap(),
            Duration::zero()
        );
        // A notice held until hour 9 is due since then, not since it was claimed.
        assert!(store
            .insert_alert_if_absent(&record(1.0, Some(9.0)))
            .await
            .unwrap());
        assert_eq!(
            oldest_pending_age(&store, t(10.0)).await.unwrap(),
            Duration::hours(1)
        );
        // One still held counts nothing yet.
        assert_eq!(
            oldest_pending_age(&store, t(8.0)).await.unwrap(),
            Duration::zero()
        );
        // One under a tracker's lease is being delivered: not waiting.
        let leased = record(7.0, None);
        let lease = Lease::new("tracker", t(7.0), Duration::hours(5));
        let mut s = Shipment::new(id.clone(), t(0.0));
        register(&store, &s).await.unwrap();
        s = store.get_shipment(&id).await.unwrap().unwrap();
        store
            .commit_check(&s, std::slice::from_ref(&leased), &lease)
            .await
            .unwrap();
        assert_eq!(
            oldest_pending_age(&store, t(10.0)).await.unwrap(),
            Duration::hours(1)
        );
        // Once its lease is over it is free again, and queues by when it became
        // free: behind the notice, the first in the outbox.
        assert_eq!(
            oldest_pending_age(&store, t(12.0)).await.unwrap(),
            Duration::hours(3)
        );
        store.mark_delivered(&record(1.0, Some(9.0))).await.unwrap();
        assert_eq!(
            oldest_pending_age(&store, t(12.0)).await.unwrap(),
            Duration::hours(5)
        );
        store.mark_delivered(&leased).await.unwrap();
        assert_eq!(
            oldest_pending_age(&store, t(12.0)).await.unwrap(),
            Duration::zero()
        );
    });
}
