//! Throughput against a rate limit: the tracker checking due parcels through the
//! real Kdniao/Kuaidi100 clients against the fake servers answering after 200 ms.
//! It must keep the provider at ≥ 95% of the configured QPS and never above it.
//!
//! `cargo bench -p sentinel-e2e --bench provider_qps` runs the full measurement
//! (10 s per case) and prints a table; `cargo test` runs it briefly as a smoke
//! test (the figures are reported, not asserted: timing belongs here, not in tests).

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use sentinel_carriers::guard::GuardConfig;
use sentinel_carriers::{Kdniao, KdniaoConfig, KdniaoQuery, Kuaidi100, Kuaidi100Config, Provider};
use sentinel_fakes::{
    Event, FakeKdniao, FakeKuaidi100, KdniaoConfig as FakeKdniaoConfig,
    Kuaidi100Config as FakeKuaidi100Config, Parcel, Scenario,
};
use shared::config::Settings;
use shared::domain::{Shipment, ShipmentId};
use shared::registration::register;
use shared::schedule::TrackingMode;
use shared::secret::Secret;
use shared::store::memory::MemoryStore;
use shared::tracker::{run_due, Tracker};

const LATENCY: Duration = Duration::from_millis(200);

fn scenario(n: usize) -> (Scenario, Vec<String>) {
    let numbers: Vec<String> = (0..n).map(|i| format!("YT{:013}", 1_000_000 + i)).collect();
    let s = numbers
        .iter()
        .map(|num| {
            Parcel::new("YTO", num)
                .event(Event::new("2024-05-01 09:12:00", "【杭州市】快件已揽收").codes("1", "1"))
                .event(
                    Event::new("2024-05-01 21:40:00", "快件已到达【杭州转运中心】").codes("2", "0"),
                )
        })
        .collect();
    (s, numbers)
}

struct Measured {
    requests: usize,
    achieved_qps: f64,
    max_in_any_second: usize,
    wall: Duration,
}

fn measure(arrivals: &mut [Instant], wall: Duration) -> Measured {
    arrivals.sort();
    let n = arrivals.len();
    let span = match (arrivals.first(), arrivals.last()) {
        (Some(a), Some(b)) if n > 1 => (*b - *a).as_secs_f64(),
        _ => f64::NAN,
    };
    let mut max = 0;
    let mut j = 0;
    for i in 0..n {
        while j < n && arrivals[j] < arrivals[i] + Duration::from_secs(1) {
            j += 1;
        }
        max = max.max(j - i);
    }
    Measured {
        requests: n,
        // n requests spaced 1/q apart span (n-1)/q seconds.
        achieved_qps: (n.saturating_sub(1)) as f64 / span,
        max_in_any_second: max,
        wall,
    }
}

/// Runs one tick over all parcels; returns the wall time. Every query must
/// succeed (a refusal by the fake would be retried and show as extra requests).
async fn run(provider: &Provider, numbers: &[String], concurrency: usize) -> Duration {
    let store = MemoryStore::new();
    let t0 = Utc.with_ymd_and_hms(2024, 5, 1, 0, 0, 0).unwrap();
    for n in numbers {
        let mut s = Shipment::new(ShipmentId::parse("YTO", n).unwrap(), t0);
        s.next_check_at = Some(t0);
        register(&store, &s).await.unwrap();
    }
    let settings = Settings::default();
    let tracker = Tracker::new(&store, provider, &settings).with(TrackingMode::Poll, concurrency);
    let start = Instant::now();
    let stats = run_due(
        &tracker,
        Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap(),
        1000,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(stats.queries, numbers.len());
    assert_eq!(
        stats.query_errors, 0,
        "the limiter must keep the provider from refusing"
    );
    start.elapsed()
}

fn guard(qps: u32) -> GuardConfig {
    GuardConfig {
        qps: f64::from(qps),
        ..GuardConfig::default()
    }
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let seconds = if full { 10 } else { 1 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "provider    QPS limit  concurrency  queries  refused  achieved QPS  % of limit  max in any 1 s  wall"
    );
    for (name, qps, concurrency) in [
        ("kdniao", 20u32, 16usize),
        ("kdniao", 50, 16),
        ("kuaidi100", 20, 16),
    ] {
        let n = (qps as usize) * seconds;
        let (scenario, numbers) = scenario(n);
        let (provider, arrivals): (Provider, Box<dyn Fn() -> Vec<Instant>>) = if name == "kdniao" {
            let fake = FakeKdniao::start(FakeKdniaoConfig {
                ebusiness_id: "1000000".into(),
                app_key: "bench-key".into(),
                scenario,
            });
            fake.set_latency(LATENCY);
            // The fake refuses anything above the limit: a breach would show up
            // as query errors.
            fake.set_qps_limit(Some(qps));
            let p = Provider::Kdniao(
                Kdniao::new(
                    KdniaoConfig {
                        ebusiness_id: "1000000".into(),
                        api_key: Secret::new("bench-key"),
                        api_url: fake.query_url(),
                        subscribe_url: fake.subscribe_url(),
                        query: KdniaoQuery::ValueAdded,
                    },
                    guard(qps),
                )
                .unwrap(),
            );
            (
                p,
                Box::new(move || fake.requests().iter().map(|r| r.at).collect()),
            )
        } else {
            let fake = FakeKuaidi100::start(FakeKuaidi100Config {
                customer: "BENCH".into(),
                key: "bench-key".into(),
                scenario,
            });
            fake.set_latency(LATENCY);
            fake.set_qps_limit(Some(qps));
            let p = Provider::Kuaidi100(
                Kuaidi100::new(
                    Kuaidi100Config {
                        customer: "BENCH".into(),
                        key: Secret::new("bench-key"),
                        api_url: fake.query_url(),
                        subscribe_url: fake.subscribe_url(),
                        callback_url: None,
                        salt: None,
                    },
                    guard(qps),
                )
                .unwrap(),
            );
            (
                p,
                Box::new(move || fake.requests().iter().map(|r| r.at).collect()),
            )
        };
        let wall = rt.block_on(run(&provider, &numbers, concurrency));
        let m = measure(&mut arrivals(), wall);
        println!(
            "{name:<10}  {qps:>9}  {concurrency:>11}  {n:>7}  {:>7}  {:>12.2}  {:>9.1}%  {:>14}  {:.2} s",
            m.requests - n,
            m.achieved_qps,
            100.0 * m.achieved_qps / f64::from(qps),
            m.max_in_any_second,
            m.wall.as_secs_f64()
        );
    }
}
