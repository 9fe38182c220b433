//! The tracker's handler on in-memory adapters, fed a TrackBatch event as
//! EventBridge delivers it (JSON): each parcel is queried, its rules evaluated,
//! and what this invocation claimed is published once.

use std::sync::Mutex;

use chrono::{Duration, Utc};
use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;

use chrono::{DateTime, NaiveDate};
use sentinel_tracker::handler::{handle, Deps, Event};
use shared::budget::BudgetDay;
use shared::config::Settings;
use shared::domain::AlertRecord;
use shared::domain::{Notification, Rule, Shipment, ShipmentId};
use shared::ports::{
    AlertLog, AlertSink, CarrierError, CarrierQuery, CarrierReply, Committed, LaneQuery, Lease,
    QueryBudget, ShipmentReader, ShipmentWriter, StoreError,
};
use shared::schedule::TrackingMode;
use shared::store::memory::MemoryStore;

/// A carrier that knows nothing about any number, and counts the questions.
#[derive(Default)]
struct Silent(Mutex<Vec<ShipmentId>>);

impl CarrierQuery for Silent {
    fn name(&self) -> &str {
        "silent"
    }

    async fn query(&self, s: &Shipment) -> Result<CarrierReply, CarrierError> {
        self.0.lock().unwrap().push(s.id.clone());
        Ok(CarrierReply::default())
    }
}

#[derive(Default)]
struct Recording(Mutex<Vec<Notification>>);

impl AlertSink for Recording {
    async fn publish(&self, n: &[Notification]) -> Vec<Result<(), String>> {
        self.0.lock().unwrap().extend_from_slice(n);
        vec![Ok(()); n.len()]
    }
}

fn event(ids: &[&ShipmentId]) -> LambdaEvent<Event> {
    let shipments: Vec<_> = ids
        .iter()
        .map(|i| json!({"carrier": i.carrier.as_str(), "tracking_number": i.tracking_number.as_str()}))
        .collect();
    let raw = json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "TrackBatch",
        "source": "parcel-sentinel",
        "account": "123456789012",
        "time": "2024-11-07T03:15:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"shipments": shipments}
    });
    LambdaEvent::new(serde_json::from_value(raw).unwrap(), Context::default())
}

#[tokio::test]
async fn a_batch_is_checked_and_its_claims_published_once() {
    let now = Utc::now();
    let store = MemoryStore::new();
    // Registered two days ago, still unknown to the carrier: no_trace and
    // no_pickup are due (findings never suppress each other).
    let old = ShipmentId::parse("ZTO", "75312345678901").unwrap();
    let mut s = Shipment::new(old.clone(), now - Duration::hours(48));
    s.next_check_at = Some(now - Duration::minutes(1));
    store.put_shipment(&s).await.unwrap();
    // Registered an hour ago and not due: skipped.
    let young = ShipmentId::parse("SF", "SF1234567890123").unwrap();
    let mut s = Shipment::new(young.clone(), now - Duration::hours(1));
    s.next_check_at = Some(now + Duration::hours(5));
    store.put_shipment(&s).await.unwrap();

    let deps = deps(store, 4);
    let out = handle(&deps, event(&[&old, &young])).await.unwrap();
    // The silent carrier knows nothing: no_trace, which tells no_pickup with it
    // (ALERT_INHIBIT's default).
    assert_eq!(
        out,
        json!({"parcels": 2, "checked": 1, "queries": 1, "deferred": 0, "query_errors": 0,
               "alerts": 1, "undelivered": 0, "failed": 0})
    );
    {
        let sent = deps.sink.0.lock().unwrap();
        assert_eq!(sent[0].record.rule, Rule::NoTrace);
        assert_eq!(sent[0].silenced[0].rule, Rule::NoPickup);
    }
    assert_eq!(
        deps.provider.0.lock().unwrap().as_slice(),
        std::slice::from_ref(&old)
    );
    let sent = deps.sink.0.lock().unwrap().clone();
    let rules: Vec<Rule> = sent.iter().map(|n| n.record.rule).collect();
    assert_eq!(rules, [Rule::NoTrace]);
    assert!(sent.iter().all(|n| n.record.shipment == old));
    assert!(deps
        .store
        .pending_alerts(now + Duration::hours(1), 10)
        .await
        .unwrap()
        .is_empty());
    let stored = deps.store.get_shipment(&old).await.unwrap().unwrap();
    assert!(stored.alerts.contains_key(&Rule::NoTrace));
    assert!(
        stored.alerts[&Rule::NoPickup].is_active(),
        "kept as a problem"
    );

    // The same event again (EventBridge delivers at least once): nothing is due,
    // nothing is published twice.
    let again = handle(&deps, event(&[&old, &young])).await.unwrap();
    assert_eq!(again["checked"], 0);
    assert_eq!(again["alerts"], 0);
    assert_eq!(deps.sink.0.lock().unwrap().len(), 1);
}

/// The in-memory store, except that writing one parcel fails (a throttled or
/// unavailable backend for that item).
struct FailsToWrite {
    inner: MemoryStore,
    poisoned: ShipmentId,
    /// Reading what the lanes learned fails too.
    lanes_down: bool,
    /// Reads of what the lanes learned.
    lane_reads: std::sync::atomic::AtomicUsize,
}

impl LaneQuery for FailsToWrite {
    async fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<shared::tally::Tally, StoreError> {
        self.lane_reads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if self.lanes_down {
            return Err(StoreError::Backend("ProvisionedThroughputExceeded".into()));
        }
        self.inner.lane_counts(lanes, weeks).await
    }
}

impl QueryBudget for FailsToWrite {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        self.inner.take_query(provider, day, cap).await
    }
    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        self.inner.defer_query(provider, day, now).await
    }
    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.inner.claim_budget_warning(provider, day).await
    }
    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        self.inner.budget_day(provider, day).await
    }
}

impl ShipmentReader for FailsToWrite {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        self.inner.get_shipment(id).await
    }
}

impl ShipmentWriter for FailsToWrite {
    async fn put_shipment(&self, s: &Shipment) -> Result<u64, StoreError> {
        if s.id == self.poisoned {
            return Err(StoreError::Backend("ProvisionedThroughputExceeded".into()));
        }
        self.inner.put_shipment(s).await
    }
}

impl AlertLog for FailsToWrite {
    async fn insert_alert_if_absent(&self, r: &AlertRecord) -> Result<bool, StoreError> {
        self.inner.insert_alert_if_absent(r).await
    }
    async fn commit_check(
        &self,
        s: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        if s.id == self.poisoned {
            return Err(StoreError::Backend("ProvisionedThroughputExceeded".into()));
        }
        self.inner.commit_check(s, records, lease).await
    }
    async fn take_lease(
        &self,
        r: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        self.inner.take_lease(r, due_by, lease).await
    }
    async fn mark_delivered(&self, r: &AlertRecord) -> Result<(), StoreError> {
        self.inner.mark_delivered(r).await
    }
    async fn pending_alerts(
        &self,
        due_by: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.inner.pending_alerts(due_by, limit).await
    }
    async fn alerts_for(&self, id: &ShipmentId) -> Result<Vec<AlertRecord>, StoreError> {
        self.inner.alerts_for(id).await
    }
    async fn alerts_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<AlertRecord>, StoreError> {
        self.inner.alerts_between(from, to).await
    }
}

#[tokio::test]
async fn one_failing_parcel_does_not_drop_the_others_claims() {
    let now = Utc::now();
    let ids: Vec<ShipmentId> = (0..5)
        .map(|i| ShipmentId::parse("ZTO", &format!("7531234567890{i}")).unwrap())
        .collect();
    let inner = MemoryStore::new();
    for id in &ids {
        let mut s = Shipment::new(id.clone(), now - Duration::hours(48));
        s.next_check_at = Some(now - Duration::minutes(1));
        inner.put_shipment(&s).await.unwrap();
    }
    let poisoned = ids[0].clone();
    let deps = deps(
        FailsToWrite {
            inner,
            poisoned: poisoned.clone(),
            lanes_down: false,
            lane_reads: Default::default(),
        },
        3,
    );
    let refs: Vec<&ShipmentId> = ids.iter().collect();
    let out = handle(&deps, event(&refs)).await.unwrap();
    assert_eq!(out["checked"], 4, "{out}");
    assert_eq!(out["failed"], 1, "{out}");
    // Every other parcel's claim (no_trace, telling no_pickup with it) was
    // published, and left the outbox.
    assert_eq!(out["alerts"], 4, "{out}");
    let sent = deps.sink.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 4);
    assert!(sent.iter().all(|n| n.record.shipment != poisoned));
    assert!(deps
        .store
        .pending_alerts(now + Duration::hours(1), 100)
        .await
        .unwrap()
        .is_empty());
    // The failed parcel kept its state and is still due.
    let kept = deps.store.get_shipment(&poisoned).await.unwrap().unwrap();
    assert!(kept.alerts.is_empty());
    assert_eq!(kept.next_check_at, Some(now - Duration::minutes(1)));
}

#[tokio::test]
async fn a_failed_lane_read_fails_the_check_and_keeps_the_parcel_due() {
    // The lane rules need what the lanes learned: without it a held
    // `predicted_late` would look resolved, so the check fails and is retried.
    let now = Utc::now();
    let id = ShipmentId::parse("ZTO", "75312345678909").unwrap();
    let inner = MemoryStore::new();
    let mut s = Shipment::new(id.clone(), now - Duration::hours(48));
    s.promised_at = Some(now + Duration::hours(24));
    s.next_check_at = Some(now - Duration::minutes(1));
    inner.put_shipment(&s).await.unwrap();
    let deps = deps(
        FailsToWrite {
            inner,
            poisoned: ShipmentId::parse("ZTO", "75300000000000").unwrap(),
            lanes_down: true,
            lane_reads: Default::default(),
        },
        1,
    );
    let out = handle(&deps, event(&[&id])).await.unwrap();
    assert_eq!(out["failed"], 1, "{out}");
    assert_eq!(out["alerts"], 0, "{out}");
    let kept = deps.store.get_shipment(&id).await.unwrap().unwrap();
    assert_eq!(kept.version, 1, "nothing written");
    assert_eq!(kept.next_check_at, Some(now - Duration::minutes(1)));
}

#[tokio::test]
async fn warm_invocations_share_what_the_lanes_learned() {
    // Parcels with a promise need their lane (predicted_late): the first batch
    // reads it, the next batch in the same container reads nothing again within
    // the hour, a new container reads it afresh.
    let now = Utc::now();
    let inner = MemoryStore::new();
    let ids: Vec<ShipmentId> = (1..=3)
        .map(|i| ShipmentId::parse("ZTO", &format!("7531234567890{i}")).unwrap())
        .collect();
    for id in &ids {
        let mut s = Shipment::new(id.clone(), now - Duration::hours(48));
        s.promised_at = Some(now + Duration::hours(24));
        s.next_check_at = Some(now - Duration::minutes(1));
        inner.put_shipment(&s).await.unwrap();
    }
    let mut deps = deps(
        FailsToWrite {
            inner,
            poisoned: ShipmentId::parse("ZTO", "75300000000000").unwrap(),
            lanes_down: false,
            lane_reads: Default::default(),
        },
        1,
    );
    let reads = |d: &Deps<FailsToWrite, Silent, Recording>| {
        d.store.lane_reads.load(std::sync::atomic::Ordering::SeqCst)
    };
    let out = handle(&deps, event(&[&ids[0]])).await.unwrap();
    assert_eq!(out["checked"], 1, "{out}");
    let first = reads(&deps);
    assert!(first > 0, "the lane was read");
    let out = handle(&deps, event(&[&ids[1]])).await.unwrap();
    assert_eq!(out["checked"], 1, "{out}");
    assert_eq!(reads(&deps), first, "kept from the first invocation");
    deps.lanes = Default::default();
    let out = handle(&deps, event(&[&ids[2]])).await.unwrap();
    assert_eq!(out["checked"], 1, "{out}");
    assert!(reads(&deps) > first, "a cold container reads again");
}

/// The handler's dependencies around `store`: a carrier that knows nothing, a
/// recording sink, the default settings, poll mode, a fresh lane cache.
fn deps<S>(store: S, concurrency: usize) -> Deps<S, Silent, Recording> {
    Deps {
        store,
        provider: Silent::default(),
        sink: Recording::default(),
        settings: Settings::default(),
        mode: TrackingMode::Poll,
        concurrency,
        lanes: Default::default(),
    }
}
