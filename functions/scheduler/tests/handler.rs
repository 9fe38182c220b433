//! The scheduler's handler on in-memory adapters: the tick's due parcels become
//! TrackBatch events on the bus, and the outbox is delivered to the sink, with
//! the grace period respected; every tick, failed or not, reports the age of the
//! oldest notification still pending (`OutboxOldestAgeSeconds`).

use std::sync::Mutex;

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use sentinel_scheduler::handler::{handle, Config, Deps};
use shared::bus::MemoryBus;
use shared::config::Settings;
use shared::domain::{AlertKind, AlertRecord, Notification, Rule, Severity, Shipment, ShipmentId};
use shared::metrics::Capture;
use shared::ports::{AlertLog, AlertSink, BusError, ShipmentWriter, TrackBus};
use shared::store::memory::MemoryStore;

#[derive(Default)]
struct Recording(Mutex<Vec<Notification>>);

impl AlertSink for Recording {
    async fn publish(&self, n: &[Notification]) -> Vec<Result<(), String>> {
        self.0.lock().unwrap().extend_from_slice(n);
        vec![Ok(()); n.len()]
    }
}

fn id(n: u32) -> ShipmentId {
    ShipmentId::parse("ZTO", &format!("7531234567{n:04}")).unwrap()
}

#[tokio::test]
async fn a_tick_fans_out_due_parcels_and_delivers_the_outbox() {
    let now = Utc::now();
    let store = MemoryStore::new();
    // Three due parcels, one not due yet.
    for (n, due_in) in [(1, -60), (2, -30), (3, -1), (4, 3600)] {
        let mut s = Shipment::new(id(n), now - Duration::hours(1));
        s.next_check_at = Some(now + Duration::seconds(due_in));
        store.put_shipment(&s).await.unwrap();
    }
    // Two pending notifications: one old enough, one still in its tracker's hands.
    let record = |n, age: i64| AlertRecord {
        shipment: id(n),
        rule: Rule::NoTrace,
        since: now - Duration::hours(30),
        kind: AlertKind::Fired,
        seq: 0,
        severity: Severity::Warning,
        at: now - Duration::seconds(age),
        hold_until: None,
    };
    for r in [record(1, 900), record(2, 10)] {
        assert!(store.insert_alert_if_absent(&r).await.unwrap());
    }
    let deps = Deps {
        store,
        bus: MemoryBus::new(),
        sink: Recording::default(),
        settings: Settings::default(),
        config: Config {
            batch_size: 2,
            max_due: 100,
            max_outbox: 100,
            outbox_grace: Duration::seconds(300),
        },
    };
    // EventBridge Scheduler's payload is whatever input it was given.
    let event = LambdaEvent::new(json!({"source": "aws.scheduler"}), Context::default());
    let out = handle(&deps, event).await.unwrap();
    assert_eq!(
        out,
        json!({"due": 3, "events": 2, "outbox_delivered": 1, "outbox_failed": 0})
    );
    let batches = deps.bus.take();
    let sent: Vec<ShipmentId> = batches.into_iter().flat_map(|b| b.shipments).collect();
    assert_eq!(sent, [id(1), id(2), id(3)]);
    let delivered = deps.sink.0.lock().unwrap().clone();
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].record, record(1, 900));
    // The young one is left for its tracker; the delivered one left the outbox.
    let pending = deps.store.pending_alerts(now, 10).await.unwrap();
    assert_eq!(pending, [record(2, 10)]);
}

/// Refuses the notifications of one parcel, takes the rest.
struct Refusing(ShipmentId);

impl AlertSink for Refusing {
    async fn publish(&self, n: &[Notification]) -> Vec<Result<(), String>> {
        n.iter()
            .map(|n| {
                if n.record.shipment == self.0 {
                    Err("topic unreachable".to_string())
                } else {
                    Ok(())
                }
            })
            .collect()
    }
}

/// A bus that refuses every batch.
struct DownBus;

impl TrackBus for DownBus {
    async fn publish(&self, _: &[ShipmentId], _: usize) -> Result<usize, BusError> {
        Err(BusError::Call("bus unreachable".into()))
    }
}

fn pending(n: u32, at: chrono::DateTime<Utc>) -> AlertRecord {
    AlertRecord {
        shipment: id(n),
        rule: Rule::NoTrace,
        since: at - Duration::hours(30),
        kind: AlertKind::Fired,
        seq: 0,
        severity: Severity::Warning,
        at,
        hold_until: None,
    }
}

fn config(max_outbox: usize) -> Config {
    Config {
        batch_size: 25,
        max_due: 100,
        max_outbox,
        outbox_grace: Duration::seconds(300),
    }
}

/// The outbox age the tick reported, in seconds.
fn reported_age(capture: &Capture) -> f64 {
    let gauges = capture.gauges();
    assert_eq!(gauges.len(), 1, "{gauges:?}");
    gauges["OutboxOldestAgeSeconds"]
}

#[tokio::test]
async fn every_tick_reports_the_oldest_pending_notification_refused_or_not_reached() {
    let capture = Capture::new();
    let _local = metrics::set_default_local_recorder(&capture);
    let now = Utc::now();
    let store = MemoryStore::new();
    // Two hours pending, refused again by this tick: handed back, it queues
    // behind the one of an hour, which this tick does not reach (one a tick).
    let refused = pending(1, now - Duration::hours(2));
    let waiting = pending(2, now - Duration::hours(1));
    for r in [&refused, &waiting] {
        store
            .put_shipment(&Shipment::new(r.shipment.clone(), now - Duration::days(2)))
            .await
            .unwrap();
        assert!(store.insert_alert_if_absent(r).await.unwrap());
    }
    let deps = Deps {
        store,
        bus: MemoryBus::new(),
        sink: Refusing(id(1)),
        settings: Settings::default(),
        config: config(1),
    };
    let event = || LambdaEvent::new(json!({}), Context::default());
    let out = handle(&deps, event()).await.unwrap();
    assert_eq!(out["outbox_failed"], 1, "{out}");
    let age = reported_age(&capture);
    assert!((7200.0..7260.0).contains(&age), "{age}");

    // Nothing pending: 0, every tick.
    deps.store.mark_delivered(&refused).await.unwrap();
    deps.store.mark_delivered(&waiting).await.unwrap();
    handle(&deps, event()).await.unwrap();
    assert_eq!(reported_age(&capture), 0.0);
}

#[tokio::test]
async fn a_tick_that_fails_still_reports_the_outbox_age() {
    let capture = Capture::new();
    let _local = metrics::set_default_local_recorder(&capture);
    let now = Utc::now();
    let store = MemoryStore::new();
    assert!(store
        .insert_alert_if_absent(&pending(1, now - Duration::minutes(40)))
        .await
        .unwrap());
    let deps = Deps {
        store,
        bus: DownBus,
        sink: Recording::default(),
        settings: Settings::default(),
        config: config(100),
    };
    let event = LambdaEvent::new(json!({}), Context::default());
    assert!(handle(&deps, event).await.is_err());
    // The bus failed before the outbox was delivered: the notification waits.
    let age = reported_age(&capture);
    assert!((2400.0..2460.0).contains(&age), "{age}");
}
