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
        upkeep: (),
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
        upkeep: (),
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
        upkeep: (),
        config: config(100),
    };
    let event = LambdaEvent::new(json!({}), Context::default());
    assert!(handle(&deps, event).await.is_err());
    // The bus failed before the outbox was delivered: the notification waits.
    let age = reported_age(&capture);
    assert!((2400.0..2460.0).contains(&age), "{age}");
}

#[test]
fn the_function_tells_its_tick_from_a_batch_of_the_tables_stream() {
    use sentinel_scheduler::handler::Invocation;
    // The schedule's input (template.yaml, Tick), as EventBridge Scheduler fills it.
    let tick = json!({
        "version": "0", "id": "0d5c3c7e-8b4f-4f0e-9d55-3f1f5d7a9c10",
        "detail-type": "Scheduled Event", "source": "aws.scheduler",
        "account": "123456789012", "time": "2026-12-01T04:00:00Z", "region": "cn-north-1",
        "resources": ["arn:aws-cn:scheduler:cn-north-1:123456789012:schedule/default/tick"],
        "detail": {"attempt": "1"}
    });
    assert!(matches!(Invocation::of(&tick), Ok(Invocation::Tick)));
    assert!(matches!(Invocation::of(&json!({})), Ok(Invocation::Tick)));

    // A batch of the table's stream: a TTL removal.
    let batch = json!({"Records": [{
        "eventID": "7de3041dd0e3f1b6f1f2b7e5e1a3c9d2",
        "eventName": "REMOVE", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "cn-north-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_764_900_000,
            "Keys": {"pk": {"S": "SHIP#ZTO#75312345670001"}, "sk": {"S": "SHIP"}},
            "OldImage": {"pk": {"S": "SHIP#ZTO#75312345670001"}, "sk": {"S": "SHIP"},
                         "tally": {"S": "{\"parcels\":1}"}},
            "SequenceNumber": "4421584500000000017450439091", "SizeBytes": 120,
            "StreamViewType": "OLD_IMAGE"
        },
        "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
        "eventSourceARN": "arn:aws-cn:dynamodb:cn-north-1:123456789012:table/t/stream/2026-12-01T00:00:00.000"
    }]});
    match Invocation::of(&batch) {
        Ok(Invocation::Removals(event)) => {
            assert_eq!(event.records.len(), 1);
            let gone = sentinel_aws::dynamo::stream::removed(&event.records[0])
                .unwrap()
                .unwrap();
            assert_eq!(gone.pk, "SHIP#ZTO#75312345670001");
            assert_eq!(gone.tally.get("parcels"), 1);
        }
        other => panic!("not a stream batch: {other:?}"),
    }

    // Records of another source wired here by mistake are refused, not ticked.
    let sqs = json!({"Records": [{"messageId": "1", "body": "{}", "eventSource": "aws:sqs"}]});
    assert!(Invocation::of(&sqs).is_err());
    // A stream batch that does not parse is an error, not a tick.
    let broken = json!({"Records": [{"eventSource": "aws:dynamodb"}]});
    assert!(Invocation::of(&broken).is_err());
}

/// A store's catching up that answers as told and counts its calls.
struct Catching(Mutex<u32>, Result<serde_json::Value, String>);

impl sentinel_scheduler::handler::Upkeep for Catching {
    async fn upkeep(&self) -> Result<serde_json::Value, shared::ports::StoreError> {
        *self.0.lock().unwrap() += 1;
        self.1.clone().map_err(shared::ports::StoreError::Backend)
    }
}

#[tokio::test]
async fn each_tick_gives_the_store_its_catching_up_which_never_fails_the_tick() {
    let deps = |upkeep| Deps {
        store: MemoryStore::new(),
        bus: MemoryBus::new(),
        sink: Recording::default(),
        settings: Settings::default(),
        upkeep,
        config: config(100),
    };
    let event = || LambdaEvent::new(json!({}), Context::default());
    let going = deps(Catching(
        Mutex::new(0),
        Ok(json!({"counted": 500, "skipped": 0, "done": false})),
    ));
    let out = handle(&going, event()).await.unwrap();
    assert_eq!(
        out["upkeep"],
        json!({"counted": 500, "skipped": 0, "done": false})
    );
    handle(&going, event()).await.unwrap();
    assert_eq!(*going.upkeep.0.lock().unwrap(), 2);

    let failing = deps(Catching(Mutex::new(0), Err("Scan: throttled".into())));
    let out = handle(&failing, event()).await.unwrap();
    assert_eq!(out.get("upkeep"), None, "{out}");
    assert_eq!(out["due"], 0);
    assert_eq!(*failing.upkeep.0.lock().unwrap(), 1);
}
