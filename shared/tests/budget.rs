//! The daily query budget through the tracker (poll mode, the in-memory store):
//! the provider never sees more queries in a China day than the budget; urgent
//! parcels get queries although routine ones were due first; what is refused is
//! deferred (nothing decided on it), counted, and the day's warning is raised
//! once after an hour short.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use shared::budget::{china_day, next_day_start, DailyBudget};
use shared::config::Settings;
use shared::domain::{AlertKind, Rule, Shipment, ShipmentId, Status, TrackingEvent};
use shared::metrics::Capture;
use shared::ports::{CarrierError, CarrierQuery, CarrierReply, QueryBudget, ShipmentReader};
use shared::registration::register;
use shared::store::memory::MemoryStore;
use shared::tracker::{run_due, Tracker};

/// 09:00 on 2024-05-06 in China, plus `h` hours.
fn t(h: f64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2024-05-06T01:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
        + Duration::seconds((h * 3600.0) as i64)
}

fn scan(h: f64, status: Status) -> TrackingEvent {
    TrackingEvent {
        at: t(h),
        text: format!("{status:?}"),
        location: None,
        code: None,
        status,
        hub: None,
    }
}

/// A provider that knows each parcel's scans and notes every query's time.
#[derive(Default)]
struct Carrier {
    scans: BTreeMap<ShipmentId, Vec<TrackingEvent>>,
    asked: Mutex<Vec<(DateTime<Utc>, ShipmentId)>>,
    now: Mutex<Option<DateTime<Utc>>>,
}

impl Carrier {
    fn queries_on(&self, day: NaiveDate) -> usize {
        let asked = self.asked.lock().unwrap();
        asked.iter().filter(|(at, _)| china_day(*at) == day).count()
    }

    fn asked_about(&self, id: &ShipmentId) -> bool {
        self.asked.lock().unwrap().iter().any(|(_, i)| i == id)
    }
}

impl CarrierQuery for Carrier {
    fn name(&self) -> &str {
        "kdniao"
    }

    async fn query(&self, s: &Shipment) -> Result<CarrierReply, CarrierError> {
        let now = self.now.lock().unwrap().expect("a tick's time");
        self.asked.lock().unwrap().push((now, s.id.clone()));
        Ok(CarrierReply {
            events: self.scans.get(&s.id).cloned().unwrap_or_default(),
            ..CarrierReply::default()
        })
    }
}

fn counting<F: Future>(capture: &Capture, work: F) -> F::Output {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    metrics::with_local_recorder(capture, || rt.block_on(work))
}

fn settings(budget: &str) -> Settings {
    let budget = budget.to_string();
    Settings::from_lookup(move |k| (k == "DAILY_QUERY_BUDGET").then(|| budget.clone())).unwrap()
}

/// A parcel picked up an hour ago and due now, with `scans` on the carrier's side.
async fn due_parcel(
    store: &MemoryStore,
    carrier: &mut Carrier,
    number: String,
    due: DateTime<Utc>,
    scans: Vec<TrackingEvent>,
) -> ShipmentId {
    let id = ShipmentId::parse("ZTO", &number).unwrap();
    let mut s = Shipment::new(id.clone(), t(-1.5));
    s.shipped_at = Some(t(-1.5));
    s.timeline.merge(scans.clone());
    s.next_check_at = Some(due);
    register(store, &s).await.unwrap();
    carrier.scans.insert(id.clone(), scans);
    id
}

#[test]
fn the_budget_is_never_exceeded_and_urgent_parcels_go_first() {
    let store = MemoryStore::new();
    let mut carrier = Carrier::default();
    let capture = Capture::new();
    counting(&capture, async {
        // 30 routine parcels in transit, due first; then 10 out for delivery.
        let mut routine = Vec::new();
        for i in 0..30 {
            let scans = vec![scan(-1.0, Status::PickedUp), scan(-0.5, Status::InTransit)];
            let due = t(-0.5) + Duration::seconds(i);
            routine.push(
                due_parcel(
                    &store,
                    &mut carrier,
                    format!("7531000000{i:04}"),
                    due,
                    scans,
                )
                .await,
            );
        }
        let mut urgent = Vec::new();
        for i in 0..10 {
            let scans = vec![
                scan(-1.0, Status::PickedUp),
                scan(-0.2, Status::OutForDelivery),
            ];
            let due = t(-0.1) + Duration::seconds(i);
            urgent.push(
                due_parcel(
                    &store,
                    &mut carrier,
                    format!("7532000000{i:04}"),
                    due,
                    scans,
                )
                .await,
            );
        }
        let settings = settings("kdniao=20");
        let tracker = Tracker::new(&store, &carrier, &settings);
        *carrier.now.lock().unwrap() = Some(t(0.0));
        let stats = run_due(&tracker, t(0.0), 100, |_| {}).await.unwrap();
        // At 09:00 routine checks may have taken 7 of 20 (the day's pace, less the
        // reserve); the urgent ones take from the rest.
        assert_eq!(stats.queries, 17, "{stats:?}");
        assert_eq!(stats.deferred, 23);
        assert_eq!(stats.checked, 40);
        assert!(urgent.iter().all(|id| carrier.asked_about(id)));
        assert_eq!(
            routine.iter().filter(|id| carrier.asked_about(id)).count(),
            7
        );
        let day = china_day(t(0.0));
        let count = store.budget_day("kdniao", day).await.unwrap();
        assert_eq!((count.used, count.deferred), (17, 23));
        assert_eq!(count.short_since, Some(t(0.0)));
        assert!(!count.warned, "short for less than an hour");
        // A deferred parcel was rescheduled, not left due.
        let s = store.get_shipment(&routine[29]).await.unwrap().unwrap();
        assert_eq!(s.last_checked_at, None);
        assert!(s.next_check_at.unwrap() > t(0.0));

        // Ticks every 30 minutes to the day's end: never more than 20 queries.
        let mut now = t(0.5);
        while china_day(now) == day {
            *carrier.now.lock().unwrap() = Some(now);
            run_due(&tracker, now, 100, |_| {}).await.unwrap();
            now += Duration::minutes(30);
        }
        assert_eq!(carrier.queries_on(day), 20, "the whole budget, and no more");
        let count = store.budget_day("kdniao", day).await.unwrap();
        assert_eq!(count.used, 20);
        assert!(count.warned, "short for over an hour");
        // The next day has a budget of its own.
        *carrier.now.lock().unwrap() = Some(now + Duration::hours(9));
        let next = run_due(&tracker, now + Duration::hours(9), 100, |_| {})
            .await
            .unwrap();
        assert!(next.queries > 0);
        assert!(carrier.queries_on(china_day(now)) <= 20);
    });
    let counters = capture.counters();
    assert_eq!(counters.get("QueryBudgetShort"), Some(&1));
    assert_eq!(counters.get("QueryBudgetShort{Provider=kdniao}"), Some(&1));
    assert!(counters
        .get("QueriesDeferred{Provider=kdniao}")
        .is_some_and(|n| *n >= 22));
}

#[tokio::test]
async fn a_deferred_check_decides_nothing_and_waits_for_the_next_days_budget() {
    // A budget of 1, already spent: the parcel silent for two days is not told
    // stalled on a silence nobody checked; the next day's query tells it.
    let store = MemoryStore::new();
    let mut carrier = Carrier::default();
    let id = due_parcel(
        &store,
        &mut carrier,
        "75330000000001".into(),
        t(49.0),
        vec![scan(-1.0, Status::PickedUp)],
    )
    .await;
    let settings = settings("1");
    assert!(store
        .take_query("kdniao", china_day(t(49.0)), 1)
        .await
        .unwrap());
    let tracker = Tracker::new(&store, &carrier, &settings);
    *carrier.now.lock().unwrap() = Some(t(49.0));
    let outcome = tracker.check(&id, t(49.0)).await.unwrap();
    assert!(outcome.deferred && !outcome.queried);
    assert!(outcome.notifications.is_empty());
    assert!(carrier.asked.lock().unwrap().is_empty());
    let s = store.get_shipment(&id).await.unwrap().unwrap();
    assert!(s.alerts.is_empty());
    // 49 h after 09:00 is 10:00 two days on; the next budget opens at midnight.
    let midnight = next_day_start(t(49.0));
    assert_eq!(s.next_check_at, Some(midnight));
    assert_eq!(midnight, t(63.0));

    *carrier.now.lock().unwrap() = Some(midnight);
    let outcome = tracker.check(&id, midnight).await.unwrap();
    assert!(outcome.queried && !outcome.deferred);
    let fired: Vec<Rule> = outcome
        .notifications
        .iter()
        .filter(|n| n.record.kind == AlertKind::Fired)
        .map(|n| n.record.rule)
        .collect();
    assert_eq!(fired, [Rule::Stalled]);
}

#[test]
fn no_budget_counts_nothing() {
    assert_eq!(Settings::default().budget, DailyBudget::NONE);
    let store = MemoryStore::new();
    let carrier = Carrier::default();
    counting(&Capture::new(), async {
        let mut carrier = carrier;
        let id = due_parcel(
            &store,
            &mut carrier,
            "75340000000001".into(),
            t(0.0),
            vec![scan(-1.0, Status::PickedUp)],
        )
        .await;
        let settings = Settings::default();
        let tracker = Tracker::new(&store, &carrier, &settings);
        *carrier.now.lock().unwrap() = Some(t(0.0));
        assert!(tracker.check(&id, t(0.0)).await.unwrap().queried);
        let count = store.budget_day("kdniao", china_day(t(0.0))).await.unwrap();
        assert_eq!(count, Default::default());
    });
}
