//! The scheduler's handler on in-memory adapters: the tick's due parcels become
//! TrackBatch events on the bus, and the outbox is delivered to the sink, with
//! the grace period respected.

use std::sync::Mutex;

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use sentinel_scheduler::handler::{handle, Config, Deps};
use shared::bus::MemoryBus;
use shared::config::Settings;
use shared::domain::{AlertKind, AlertRecord, Notification, Rule, Severity, Shipment, ShipmentId};
use shared::ports::{AlertLog, AlertSink, ShipmentWriter};
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
