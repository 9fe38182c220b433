//! Fault injection: [`FaultyStore`] wraps any store and fails its k-th write,
//! either before the write (nothing is stored: a crash, a throttled or refused
//! call) or after it (the write is stored but the caller hears an error: a crash
//! between the write and its answer). [`a_failed_write_at_every_step_loses_nothing`]
//! runs a stalled parcel's check and delivery with a fault at every write in
//! turn, then lets later runs recover, and checks the promise: every claimed alert
//! is delivered, and at most once more than once per fault.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use shared::budget::BudgetDay;
use shared::config::Settings;
use shared::domain::{
    AlertKind, AlertRecord, Notification, Phone, Rule, Shipment, ShipmentId, Status,
};
use shared::outbox::{deliver, deliver_pending};
use shared::ports::{
    AlertLog, AlertSink, CarrierError, CarrierQuery, CarrierReply, Committed, DueIndex, LaneQuery,
    Lease, ListFilter, Page, QueryBudget, ShipmentQuery, ShipmentReader, ShipmentWriter, Store,
    StoreError, Unreadable,
};
use shared::tracker::{Tracker, DEFAULT_LEASE};

use crate::{event, id, t};

/// Where a [`FaultyStore`] fails its chosen write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The write is refused: nothing is stored.
    Before,
    /// The write is stored, then the caller is told it failed.
    After,
}

/// A store that fails its `fail_at`-th write (1-based; writes are
/// `put_shipment`, `commit_check`, `insert_alert_if_absent`, `take_lease`,
/// `mark_delivered` and the query budget's updates), once. Reads pass through.
pub struct FaultyStore<'a, S> {
    inner: &'a S,
    fault: Fault,
    fail_at: usize,
    writes: AtomicUsize,
    fired: AtomicBool,
}

impl<'a, S: Store> FaultyStore<'a, S> {
    pub fn new(inner: &'a S, fault: Fault, fail_at: usize) -> Self {
        Self {
            inner,
            fault,
            fail_at,
            writes: AtomicUsize::new(0),
            fired: AtomicBool::new(false),
        }
    }

    /// Whether the fault has happened.
    pub fn fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Runs one write through the fault.
    async fn write<T>(
        &self,
        op: &str,
        w: impl std::future::Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n != self.fail_at {
            return w.await;
        }
        self.fired.store(true, Ordering::SeqCst);
        let injected = || StoreError::Backend(format!("injected fault at write {n} ({op})"));
        match self.fault {
            Fault::Before => Err(injected()),
            Fault::After => {
                let _ = w.await;
                Err(injected())
            }
        }
    }
}

impl<S: Store> ShipmentReader for FaultyStore<'_, S> {
    async fn get_shipment(&self, id: &ShipmentId) -> Result<Option<Shipment>, StoreError> {
        self.inner.get_shipment(id).await
    }
}

impl<S: Store> ShipmentWriter for FaultyStore<'_, S> {
    async fn put_shipment(&self, s: &Shipment) -> Result<u64, StoreError> {
        self.write("put_shipment", self.inner.put_shipment(s)).await
    }
}

impl<S: Store> DueIndex for FaultyStore<'_, S> {
    async fn due_shipments(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ShipmentId>, StoreError> {
        self.inner.due_shipments(now, limit).await
    }
}

impl<S: Store> AlertLog for FaultyStore<'_, S> {
    async fn insert_alert_if_absent(&self, r: &AlertRecord) -> Result<bool, StoreError> {
        self.write(
            "insert_alert_if_absent",
            self.inner.insert_alert_if_absent(r),
        )
        .await
    }

    async fn commit_check(
        &self,
        s: &Shipment,
        records: &[AlertRecord],
        lease: &Lease,
    ) -> Result<Committed, StoreError> {
        self.write("commit_check", self.inner.commit_check(s, records, lease))
            .await
    }

    async fn take_lease(
        &self,
        r: &AlertRecord,
        due_by: DateTime<Utc>,
        lease: &Lease,
    ) -> Result<bool, StoreError> {
        self.write("take_lease", self.inner.take_lease(r, due_by, lease))
            .await
    }

    async fn mark_delivered(&self, r: &AlertRecord) -> Result<(), StoreError> {
        self.write("mark_delivered", self.inner.mark_delivered(r))
            .await
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

impl<S: Store> LaneQuery for FaultyStore<'_, S> {
    async fn lane_counts(
        &self,
        lanes: &[String],
        weeks: &[String],
    ) -> Result<shared::tally::Tally, StoreError> {
        self.inner.lane_counts(lanes, weeks).await
    }
}

impl<S: Store> QueryBudget for FaultyStore<'_, S> {
    async fn take_query(
        &self,
        provider: &str,
        day: NaiveDate,
        cap: u32,
    ) -> Result<bool, StoreError> {
        self.write("take_query", self.inner.take_query(provider, day, cap))
            .await
    }

    async fn defer_query(
        &self,
        provider: &str,
        day: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<BudgetDay, StoreError> {
        self.write("defer_query", self.inner.defer_query(provider, day, now))
            .await
    }

    async fn claim_budget_warning(
        &self,
        provider: &str,
        day: NaiveDate,
    ) -> Result<bool, StoreError> {
        self.write(
            "claim_budget_warning",
            self.inner.claim_budget_warning(provider, day),
        )
        .await
    }

    async fn budget_day(&self, provider: &str, day: NaiveDate) -> Result<BudgetDay, StoreError> {
        self.inner.budget_day(provider, day).await
    }
}

impl<S: Store> ShipmentQuery for FaultyStore<'_, S> {
    async fn list_shipments(
        &self,
        filter: &ListFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.inner.list_shipments(filter, cursor, limit).await
    }

    async fn unreadable(&self, limit: usize) -> Result<Vec<Unreadable>, StoreError> {
        self.inner.unreadable(limit).await
    }

    async fn tally(
        &self,
        from: chrono::NaiveDate,
        to: chrono::NaiveDate,
    ) -> Result<shared::tally::Tally, StoreError> {
        self.inner.tally(from, to).await
    }

    async fn problem_shipments(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Shipment>, StoreError> {
        self.inner.problem_shipments(cursor, limit).await
    }
}

/// A carrier whose parcel was picked up three days before `t(0)` and has not
/// moved since.
struct StuckCarrier;

impl CarrierQuery for StuckCarrier {
    fn name(&self) -> &str {
        "stuck"
    }

    async fn query(&self, shipment: &Shipment) -> Result<CarrierReply, CarrierError> {
        Ok(CarrierReply {
            carrier: Some(shipment.id.carrier.clone()),
            tracking_number: Some(shipment.id.tracking_number.to_string()),
            status: Some(Status::PickedUp),
            events: vec![event(
                -3 * 24 * 60,
                "【杭州市】 快件已揽收",
                Status::PickedUp,
                Some("杭州市"),
                None,
                None,
            )],
            ..CarrierReply::default()
        })
    }
}

/// A sink that takes everything and remembers what it was given.
#[derive(Default)]
struct Recorder(Mutex<Vec<AlertRecord>>);

impl AlertSink for Recorder {
    async fn publish(&self, notifications: &[Notification]) -> Vec<Result<(), String>> {
        let mut got = self.0.lock().unwrap_or_else(|p| p.into_inner());
        got.extend(notifications.iter().map(|n| n.record.clone()));
        vec![Ok(()); notifications.len()]
    }
}

/// A stalled parcel (picked up three days ago, no scan since; the customer is
/// told of stalls) is checked and its notifications delivered, with the k-th
/// write failing, for every k of that sequence and both kinds of fault. After
/// the fault, later runs (a re-check, outbox passes past the lease) recover.
/// Then: every record in the log was delivered and none is left pending; the
/// shipment's active alert has its record; a record is delivered twice only when
/// the fault struck between a send and its mark (at most once per fault).
pub async fn a_failed_write_at_every_step_loses_nothing<S: Store>(store: &S) {
    let settings =
        Settings::from_lookup(|k| (k == "CUSTOMER_NOTICE_RULES").then(|| "stalled".to_string()))
            .unwrap_or_else(|e| panic!("fixture settings: {e}"));
    let now = t(0);
    let mut tried = 0;
    for (f, fault) in [Fault::Before, Fault::After].into_iter().enumerate() {
        for k in 1..=40usize {
            let parcel = id("ZTO", &format!("7560{f}{k:06}"));
            let mut s = Shipment::new(parcel.clone(), now - Duration::days(3));
            s.phone = Some(Phone::parse("13800138000").unwrap_or_else(|e| panic!("{e}")));
            s.next_check_at = Some(now);
            store
                .put_shipment(&s)
                .await
                .unwrap_or_else(|e| panic!("fixture {parcel}: {e}"));

            let faulty = FaultyStore::new(store, fault, k);
            let sink = Recorder::default();
            run_once(&faulty, &settings, &sink, &parcel, now).await;
            if !faulty.fired() {
                assert!(
                    k > 2,
                    "the sequence has a commit and marks: only {k} writes"
                );
                break;
            }
            tried += 1;
            // Recovery: the same parcel checked again (it is still due if the
            // commit failed before it was stored), then outbox passes once the
            // leases have run out.
            run_once(store, &settings, &sink, &parcel, now).await;
            for pass in 1..=2 {
                let at = now + DEFAULT_LEASE * pass + Duration::seconds(1);
                let lease = Lease::new("outbox", at, DEFAULT_LEASE);
                deliver_pending(store, &sink, &settings, at, &lease, 100)
                    .await
                    .unwrap_or_else(|e| panic!("outbox pass: {e}"));
            }
            verify(store, &sink, &parcel, fault, k).await;
            crate::assert_counted(store, &format!("{fault:?} write {k}")).await;
        }
    }
    assert!(tried >= 4, "faults tried: {tried}");
}

/// One check of `parcel` and the delivery of what it claimed; errors (the
/// injected fault) end the run, as a crash would.
async fn run_once<S: Store>(
    store: &S,
    settings: &Settings,
    sink: &Recorder,
    parcel: &ShipmentId,
    now: DateTime<Utc>,
) {
    let carrier = StuckCarrier;
    let tracker = Tracker::new(store, &carrier, settings);
    let Ok(outcome) = tracker.check(parcel, now).await else {
        return;
    };
    let lease = tracker.lease_at(now);
    let _ = deliver(store, sink, &outcome.notifications, &lease, now).await;
}

async fn verify<S: Store>(store: &S, sink: &Recorder, parcel: &ShipmentId, fault: Fault, k: usize) {
    let case = format!("{fault:?} write {k}");
    let log = store
        .alerts_for(parcel)
        .await
        .unwrap_or_else(|e| panic!("{case}: alerts_for: {e}"));
    let shipment = store
        .get_shipment(parcel)
        .await
        .unwrap_or_else(|e| panic!("{case}: get: {e}"))
        .unwrap_or_else(|| panic!("{case}: the parcel is gone"));
    let active: Vec<Rule> = shipment.active_rules().collect();
    assert!(
        active.contains(&Rule::Stalled),
        "{case}: the stall is found: {active:?}"
    );
    // An alert kept quiet by inhibition (`stalled>slow_lane`: told by nobody
    // yet) has no record; every alert told has its fired record.
    let told = active
        .iter()
        .filter(|r| shipment.alerts.get(r).is_some_and(|a| a.notifications > 0));
    for rule in told {
        assert!(
            log.iter()
                .any(|r| r.rule == *rule && r.kind == AlertKind::Fired),
            "{case}: active {rule:?} has no fired record (the alert was lost): {log:?}"
        );
    }
    assert!(
        log.iter().any(|r| r.kind == AlertKind::Notice),
        "{case}: the customer notice was claimed: {log:?}"
    );
    let far = t(0) + Duration::days(365);
    let left: Vec<AlertRecord> = store
        .pending_alerts(far, 1000)
        .await
        .unwrap_or_else(|e| panic!("{case}: pending: {e}"))
        .into_iter()
        .filter(|r| &r.shipment == parcel)
        .collect();
    assert_eq!(left, vec![], "{case}: nothing is left undelivered");
    let sent = sink.0.lock().unwrap_or_else(|p| p.into_inner());
    let key = |r: &AlertRecord| (r.rule, r.since, r.kind, r.seq);
    let mut times: BTreeMap<_, usize> = BTreeMap::new();
    for r in sent.iter().filter(|r| &r.shipment == parcel) {
        *times.entry(key(r)).or_default() += 1;
    }
    for r in &log {
        assert!(
            times.contains_key(&key(r)),
            "{case}: {r:?} was never delivered"
        );
    }
    let extra: usize = times.values().map(|n| n - 1).sum();
    assert!(
        extra <= 1,
        "{case}: {extra} duplicate deliveries for one fault: {times:?}"
    );
}
