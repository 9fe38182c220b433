//! The console's reads at fleet scale (`sentinel bench-console`): a synthetic
//! fleet of stored parcels in the shapes a real one has (carriers, statuses,
//! delivered parcels with their transit, open problems in every workflow state),
//! and the timing of the two reads the console makes on every refresh — the
//! health summary ([`HealthSummary::collect`]) and the problem queue
//! ([`shared::problems::queue`]) — with the store calls each makes.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;

use shared::domain::{
    AlertState, Rule, Severity, Shipment, ShipmentId, Status, Timeline, TrackingEvent, Workflow,
};
use shared::ports::ShipmentQuery;
use shared::problems::{queue, QueueFilter};
use shared::report::{percentile, HealthSummary};

use super::metrics::CountingStore;

/// The tag every synthetic parcel carries (a store holding others is refused).
pub const TAG: &str = "bench-console";

const CARRIERS: [&str; 6] = ["SF", "ZTO", "YTO", "YD", "JD", "EMS"];

/// Statuses with their share in ‰ of the fleet (about two weeks of parcels).
const STATUSES: [(Status, u32); 10] = [
    (Status::Delivered, 560),
    (Status::InTransit, 200),
    (Status::PickedUp, 80),
    (Status::ArrivedAtDestinationCity, 40),
    (Status::OutForDelivery, 40),
    (Status::Pending, 30),
    (Status::AwaitingCollection, 25),
    (Status::DeliveryFailed, 10),
    (Status::Exception, 10),
    (Status::Returning, 5),
];

const PROBLEM_RULES: [Rule; 5] = [
    Rule::Stalled,
    Rule::NoTrace,
    Rule::HubDwell,
    Rule::NoPickup,
    Rule::Exception,
];

/// The `i`-th synthetic parcel of the fleet seeded `seed`, registered within the
/// 14 days before `now`: the same parcel for the same arguments.
pub fn parcel(i: u64, seed: u64, now: DateTime<Utc>) -> Shipment {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let carrier = CARRIERS[(i % CARRIERS.len() as u64) as usize];
    let id = ShipmentId::parse(carrier, &format!("BC{i:012}"))
        .unwrap_or_else(|_| unreachable!("BC + 12 digits is a valid number"));
    let registered = now - Duration::minutes(rng.random_range(0..14 * 24 * 60));
    let mut s = Shipment::new(id, registered);
    s.tags = vec![TAG.to_string()];
    if rng.random_bool(0.7) {
        s.promised_at = Some(registered + Duration::hours(72));
    }
    let mut roll = rng.random_range(0..1000);
    let status = STATUSES
        .iter()
        .find(|(_, share)| {
            let hit = roll < *share;
            roll = roll.saturating_sub(*share);
            hit
        })
        .map_or(Status::InTransit, |(st, _)| *st);
    let scan = |at: DateTime<Utc>, status: Status, text: &str| TrackingEvent {
        at,
        text: text.to_string(),
        location: None,
        code: None,
        status,
        hub: None,
    };
    let picked = (registered + Duration::minutes(rng.random_range(60..24 * 60))).min(now);
    let mut events = Vec::new();
    if status != Status::Pending {
        events.push(scan(picked, Status::PickedUp, "快件已揽收"));
    }
    match status {
        Status::Pending | Status::PickedUp => {}
        Status::Delivered => {
            let transit = rng.random_range(18 * 60..110 * 60);
            let at = (picked + Duration::minutes(transit)).min(now);
            events.push(scan(at, Status::Delivered, "已签收"));
        }
        other => {
            let at = (picked + Duration::minutes(rng.random_range(60..60 * 60))).min(now);
            events.push(scan(at, other, "快件运输中"));
        }
    }
    s.timeline = Timeline::from_events(events);
    s.status = s.timeline.current_status();
    s.last_checked_at = Some(now - Duration::minutes(rng.random_range(0..240)));
    if !s.status.is_terminal() {
        s.next_check_at = Some(now + Duration::minutes(rng.random_range(0..240)));
        s.consecutive_errors = u32::from(rng.random_bool(0.005));
    }
    // About 4 % of the parcels in flight have open problems, 1 in 5 of them two.
    if !s.status.is_terminal() && rng.random_bool(0.04) {
        let count = if rng.random_bool(0.2) { 2 } else { 1 };
        for k in 0..count {
            let rule = PROBLEM_RULES[rng.random_range(0..PROBLEM_RULES.len())];
            let since = now - Duration::minutes(rng.random_range(10..72 * 60));
            let by = format!("客服{}", rng.random_range(1..20));
            let at = since + Duration::minutes(5);
            let workflow = match rng.random_range(0..100) {
                0..70 => Workflow::Open,
                70..85 => Workflow::Acknowledged { by, at },
                85..95 => Workflow::Snoozed {
                    by,
                    at,
                    until: now + Duration::minutes(rng.random_range(-600..48 * 60)),
                },
                _ => Workflow::Closed { by, at },
            };
            s.alerts.insert(
                rule,
                AlertState {
                    workflow,
                    ..AlertState::fired(
                        rule,
                        if k == 0 && rng.random_bool(0.2) {
                            Severity::Critical
                        } else {
                            Severity::Warning
                        },
                        since,
                        since,
                    )
                },
            );
        }
    }
    s
}

/// One read's timings over the repetitions, in milliseconds, and the store calls
/// one such read makes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ReadFigures {
    pub median_ms: f64,
    pub max_ms: f64,
    /// Store calls per read (`tally` / `problem_shipments` pages / `unreadable`).
    pub store_calls: u64,
}

/// What [`measure`] found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ConsoleFigures {
    pub parcels: u64,
    pub open_problems: u64,
    pub summary: ReadFigures,
    /// The open queue's first page of 50 parcels.
    pub queue_open: ReadFigures,
    /// The open queue of one carrier, first page of 50.
    pub queue_carrier: ReadFigures,
    /// The acknowledged problems, first page of 50 (a state few problems are in).
    pub queue_acknowledged: ReadFigures,
}

async fn timed<S, F, Fut, T>(store: &CountingStore<S>, repeat: usize, mut read: F) -> ReadFigures
where
    S: ShipmentQuery,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut micros = Vec::with_capacity(repeat);
    let before = store.counts().console_reads;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        let _ = read().await;
        micros.push(start.elapsed().as_micros() as i64);
    }
    let calls = store.counts().console_reads - before;
    micros.sort_unstable();
    let ms = |v: Option<i64>| v.map_or(0.0, |us| us as f64 / 1000.0);
    ReadFigures {
        median_ms: ms(percentile(&micros, 0.5)),
        max_ms: ms(micros.last().copied()),
        store_calls: calls / repeat.max(1) as u64,
    }
}

/// Times the console's reads on `store` at `now`, `repeat` times each.
pub async fn measure<S: ShipmentQuery>(
    store: &CountingStore<S>,
    now: DateTime<Utc>,
    repeat: usize,
) -> Result<ConsoleFigures, shared::ports::StoreError> {
    let summary = HealthSummary::collect(store, now).await?;
    let open = || QueueFilter::default().with_state("open");
    let open = open().map_err(|e| shared::ports::StoreError::Backend(e.to_string()))?;
    let mut carrier = open.clone();
    carrier.carrier = shared::domain::CarrierCode::parse("ZTO").ok();
    let acked = QueueFilter::default()
        .with_state("acknowledged")
        .map_err(|e| shared::ports::StoreError::Backend(e.to_string()))?;
    Ok(ConsoleFigures {
        parcels: summary.parcels,
        open_problems: summary.problems_by_state.get("open").copied().unwrap_or(0),
        summary: timed(store, repeat, || HealthSummary::collect(store, now)).await,
        queue_open: timed(store, repeat, || queue(store, &open, now, 50)).await,
        queue_carrier: timed(store, repeat, || queue(store, &carrier, now, 50)).await,
        queue_acknowledged: timed(store, repeat, || queue(store, &acked, now, 50)).await,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parcels_are_reproducible_and_shaped_like_a_fleet() {
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 4, 0, 0).unwrap();
        assert_eq!(parcel(7, 42, now), parcel(7, 42, now));
        let fleet: Vec<Shipment> = (0..5000).map(|i| parcel(i, 42, now)).collect();
        let delivered = fleet
            .iter()
            .filter(|s| s.status == Status::Delivered)
            .count();
        assert!((2500..3100).contains(&delivered), "{delivered}");
        let problems = fleet.iter().filter(|s| !s.alerts.is_empty()).count();
        assert!((40..160).contains(&problems), "{problems}");
        assert!(fleet.iter().all(|s| s.registered_at <= now));
        assert!(fleet
            .iter()
            .filter_map(shared::report::delivered_at)
            .all(|d| d <= now));
    }
}
