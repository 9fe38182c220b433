//! End-to-end tests of Parcel Sentinel on the embedded store live in `tests/`;
//! this library holds what they share: running a simulated fleet through the real
//! scheduler → tracker → rules → alerts loop on a virtual clock.

pub mod runtime_api;

/// A name no other test run uses (tables, queues, buses on the emulator).
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{prefix}-{}-{nanos}", std::process::id())
}

/// A native function binary, next to the calling test's own build directory.
pub fn function_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: build the functions first (`cargo build --workspace --bins`, \
         which ./infra/test.sh does)",
        path.display()
    );
    path
}

/// The SDK configured for the AWS emulator; fails loudly (never skips) when the
/// emulator is not running.
pub async fn emulator() -> aws_config::SdkConfig {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
    assert!(
        endpoint.starts_with("http://127.0.0.1"),
        "this test talks to the AWS emulator: run it through ./infra/test.sh, or \
         `eval \"$(infra/emulator.sh start)\"` first (AWS_ENDPOINT_URL={endpoint:?})"
    );
    sentinel_aws::sdk_config().await
}

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

use sentinel_sim::{FleetConfig, SimCarrier};
use shared::clock::ManualClock;
use shared::config::Settings;
use shared::domain::Notification;
use shared::domain::ShipmentId;
use shared::ports::Store;
use shared::registration::register;
use shared::report::{score, DetectionScore, Expected};
use shared::tracker::{run_due, TickStats, Tracker};

/// What a fleet run produced.
pub struct FleetRun {
    pub fleet: Arc<sentinel_sim::Fleet>,
    pub notifications: Vec<Notification>,
    pub stats: TickStats,
    pub score: DetectionScore,
    pub end: DateTime<Utc>,
}

/// Runs `parcels` simulated parcels over `days` days, ticking every 5 minutes, on
/// `store`, and scores the alert log against the simulator's ground truth
/// (expectations due in the last 12 hours are not judged).
pub async fn run_fleet<S: Store>(
    store: &S,
    settings: &Settings,
    parcels: usize,
    days: i64,
    seed: u64,
) -> FleetRun {
    let start = FleetConfig::default().start;
    let end = start + Duration::days(days);
    let fleet = Arc::new(sentinel_sim::generate(&FleetConfig {
        parcels,
        seed,
        start,
        register_window: Duration::days(days.min(3)),
        ..FleetConfig::default()
    }));
    let clock = Arc::new(ManualClock::new(start));
    let carrier = SimCarrier::new(fleet.clone(), clock.clone());
    let tracker = Tracker::new(store, &carrier, settings);
    let mut arrivals: Vec<&sentinel_sim::SimParcel> = fleet.parcels.iter().collect();
    arrivals.sort_by_key(|p| p.registered_at);
    let mut next = 0;
    let mut notifications = Vec::new();
    let mut stats = TickStats::default();
    let mut now = start;
    while now <= end {
        clock.set(now);
        while let Some(p) = arrivals.get(next).filter(|p| p.registered_at <= now) {
            register(store, &p.shipment()).await.expect("register");
            next += 1;
        }
        let s = run_due(&tracker, now, 128, |n| notifications.extend(n))
            .await
            .expect("tick");
        stats.checked += s.checked;
        stats.queries += s.queries;
        stats.query_errors += s.query_errors;
        stats.writes += s.writes;
        now += Duration::minutes(5);
    }
    let records = store
        .alerts_between(start, end + Duration::minutes(1))
        .await
        .expect("alert log");
    let ids: Vec<ShipmentId> = fleet.parcels.iter().map(|p| p.id.clone()).collect();
    let expected: Vec<Expected> = fleet.expected(&settings.rules, end);
    // Problems kept quiet by inhibition were told within their silencer's messages.
    let told: Vec<_> = records
        .iter()
        .cloned()
        .chain(notifications.iter().flat_map(|n| n.silenced_records()))
        .collect();
    let score = score(&ids, &expected, &told, end - Duration::hours(12));
    FleetRun {
        fleet,
        notifications,
        stats,
        score,
        end,
    }
}
